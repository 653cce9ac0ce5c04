/* usage.c — see usage.h. */
#include "usage.h"

static bool get_int(const struct fg_json *j, int obj, const char *key, int64_t *v)
{
    int i = fg_json_get(j, obj, key);
    return i >= 0 && fg_json_int(j, i, v);
}

void fg_usage_openai(const struct fg_json *j, int usage, struct fg_usage *u)
{
    if (fg_json_type(j, usage) != FG_J_OBJ)
        return;
    int64_t prompt = 0, cached = 0, written = 0, out = 0, reasoning = 0;
    get_int(j, usage, "prompt_tokens", &prompt);
    get_int(j, usage, "completion_tokens", &out);
    int pd = fg_json_get(j, usage, "prompt_tokens_details");
    get_int(j, pd, "cached_tokens", &cached);
    get_int(j, pd, "cache_write_tokens", &written);
    get_int(j, fg_json_get(j, usage, "completion_tokens_details"), "reasoning_tokens",
            &reasoning);
    u->tok.input = prompt - cached - written;
    if (u->tok.input < 0)
        u->tok.input = 0;
    u->tok.cache_read = cached;
    u->tok.cache_write_5m = written;
    u->tok.cache_write_1h = 0;
    u->tok.output = out;
    u->reasoning = reasoning;
    u->seen = true;
}

void fg_usage_anthropic(const struct fg_json *j, int usage, struct fg_usage *u)
{
    if (fg_json_type(j, usage) != FG_J_OBJ)
        return;
    int64_t v, w5 = -1, w1 = -1;
    get_int(j, usage, "input_tokens", &u->tok.input);
    get_int(j, usage, "cache_read_input_tokens", &u->tok.cache_read);
    get_int(j, usage, "output_tokens", &u->tok.output);
    get_int(j, fg_json_get(j, usage, "output_tokens_details"), "thinking_tokens", &u->reasoning);
    int cc = fg_json_get(j, usage, "cache_creation");
    if (fg_json_type(j, cc) == FG_J_OBJ) {
        get_int(j, cc, "ephemeral_5m_input_tokens", &w5);
        get_int(j, cc, "ephemeral_1h_input_tokens", &w1);
    }
    if (get_int(j, usage, "cache_creation_input_tokens", &v) && w5 < 0 && w1 < 0 &&
        u->tok.cache_write_5m + u->tok.cache_write_1h != v) {
        /* without a split every write is a 5-minute write; but a stream's
         * message_delta repeats the total without the split message_start
         * gave, and that split stands */
        w5 = v;
        w1 = 0;
    }
    if (w5 >= 0)
        u->tok.cache_write_5m = w5;
    if (w1 >= 0)
        u->tok.cache_write_1h = w1;
    u->seen = true;
}

void fg_usage_responses(const struct fg_json *j, int usage, struct fg_usage *u)
{
    if (fg_json_type(j, usage) != FG_J_OBJ)
        return;
    int64_t in = 0, cached = 0, written = 0, out = 0, reasoning = 0;
    get_int(j, usage, "input_tokens", &in);
    get_int(j, usage, "output_tokens", &out);
    int d = fg_json_get(j, usage, "input_tokens_details");
    get_int(j, d, "cached_tokens", &cached);
    get_int(j, d, "cache_write_tokens", &written);
    get_int(j, fg_json_get(j, usage, "output_tokens_details"), "reasoning_tokens", &reasoning);
    u->tok.input = in - cached - written;
    if (u->tok.input < 0)
        u->tok.input = 0;
    u->tok.cache_read = cached;
    u->tok.cache_write_5m = written;
    u->tok.cache_write_1h = 0;
    u->tok.output = out;
    u->reasoning = reasoning;
    u->seen = true;
}
