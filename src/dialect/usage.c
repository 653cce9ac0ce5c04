/* usage.c — see usage.h. */
#include "usage.h"

#include "assert.h"
#include "usage_flavour.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A token count member: absent or null leaves *v alone; anything but an
 * integer in [0, FG_USAGE_MAX] marks the usage bad and is not stored. */
static bool get_int(const struct fg_json *j, int obj, const char *key, int64_t *v,
                    struct fg_usage *u)
{
    int i = fg_json_get(j, obj, key);
    if (i < 0 || fg_json_type(j, i) == FG_J_NULL)
        return false;
    int64_t x;
    if (!fg_json_int(j, i, &x) || x < 0 || x > FG_USAGE_MAX) {
        if (!u->bad)
            u->bad = key;
        return false;
    }
    *v = x;
    return true;
}

/* OpenAI's two usage shapes (Chat Completions, Responses) differ only in
 * their names: the input count includes cached and written tokens, which
 * its details object lists; the output count includes reasoning. */
struct oa_names {
    const char *in, *out, *in_details, *out_details;
};

static void openai_shaped(const struct fg_json *j, int usage, const struct oa_names *nm,
                          struct fg_usage *u)
{
    if (fg_json_type(j, usage) != FG_J_OBJ)
        return;
    int64_t in = 0, cached = 0, written = 0, out = 0, reasoning = 0;
    get_int(j, usage, nm->in, &in, u);
    get_int(j, usage, nm->out, &out, u);
    int d = fg_json_get(j, usage, nm->in_details);
    get_int(j, d, "cached_tokens", &cached, u);
    get_int(j, d, "cache_write_tokens", &written, u);
    get_int(j, fg_json_get(j, usage, nm->out_details), "reasoning_tokens", &reasoning, u);
    /* more cached than input is not a count */
    if (cached + written > in && !u->bad)
        u->bad = nm->in_details;
    if (reasoning > out && !u->bad)
        u->bad = "reasoning_tokens";
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

/* Chat Completions usage in any of the providers' flavours (the table in
 * usage_flavour.c says which members carry what). */
static void flavoured(const struct fg_json *j, int usage, const struct fg_usage_flavour *f,
                      struct fg_usage *u)
{
    if (fg_json_type(j, usage) != FG_J_OBJ)
        return;
    int64_t prompt = -1, cached = 0, uncached = -1, written = 0, out = 0, reasoning = 0, total = -1;
    int d = fg_json_get(j, usage, "prompt_tokens_details");
    bool both = f->prompt && get_int(j, usage, f->prompt, &prompt, u);
    both &= get_int(j, usage, f->output, &out, u);
    get_int(j, usage, f->cached ? f->cached : "cached_tokens", &cached, u);
    if (!f->cached)
        get_int(j, d, "cached_tokens", &cached, u);
    if (f->writes)
        get_int(j, d, "cache_write_tokens", &written, u);
    if (f->uncached)
        get_int(j, usage, f->uncached, &uncached, u);
    get_int(j, fg_json_get(j, usage, "completion_tokens_details"), "reasoning_tokens", &reasoning,
            u);
    /* (a total beside counts of other names says nothing of output) */
    if (f->output_from_total && both)
        get_int(j, usage, "total_tokens", &total, u);
    if (prompt < 0)
        prompt = uncached >= 0 ? uncached + cached : 0;
    if (uncached < 0)
        uncached = prompt - cached - written;
    /* the parts must make the whole: more cached than input is not a count */
    if ((cached + written > prompt || cached + uncached + written != prompt) && !u->bad)
        u->bad = f->cached ? f->cached : "prompt_tokens_details";
    if (total > prompt + out) { /* output left out of completion_tokens (thoughts) */
        reasoning += total - prompt - out;
        out = total - prompt;
    }
    if (reasoning > out) { /* (and never stored past the output) */
        if (!u->bad)
            u->bad = "reasoning_tokens";
        reasoning = out;
    }
    u->tok.input = uncached > 0 ? uncached : 0;
    u->tok.cache_read = cached;
    u->tok.cache_write_5m = written;
    u->tok.cache_write_1h = 0;
    u->tok.output = out;
    u->reasoning = reasoning;
    u->seen = true;
}

void fg_usage_openai(const struct fg_json *j, int usage, struct fg_usage *u)
{
    flavoured(j, usage, fg_usage_flavour_of(j, usage), u);
}

int fg_usage_openai_at(const struct fg_json *j, int root)
{
    const struct fg_usage_flavour *f;
    return fg_usage_flavour_locate(j, root, &f);
}

void fg_usage_anthropic(const struct fg_json *j, int usage, struct fg_usage *u)
{
    if (fg_json_type(j, usage) != FG_J_OBJ)
        return;
    int64_t v, w5 = -1, w1 = -1;
    get_int(j, usage, "input_tokens", &u->tok.input, u);
    get_int(j, usage, "cache_read_input_tokens", &u->tok.cache_read, u);
    get_int(j, usage, "output_tokens", &u->tok.output, u);
    get_int(j, fg_json_get(j, usage, "output_tokens_details"), "thinking_tokens", &u->reasoning, u);
    int cc = fg_json_get(j, usage, "cache_creation");
    if (fg_json_type(j, cc) == FG_J_OBJ) {
        get_int(j, cc, "ephemeral_5m_input_tokens", &w5, u);
        get_int(j, cc, "ephemeral_1h_input_tokens", &w1, u);
    }
    if (get_int(j, usage, "cache_creation_input_tokens", &v, u) && w5 < 0 && w1 < 0 &&
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

const char *fg_usage_problem(const struct fg_usage *u, int64_t max_in, int64_t max_out, char *buf,
                             size_t n)
{
    if (u->bad) {
        snprintf(buf, n,
                 "usage field '%s' is not a token count (a non-negative integer up to "
                 "%lld)",
                 u->bad, (long long)FG_USAGE_MAX);
        return buf;
    }
    if (!u->seen) {
        snprintf(buf, n, "no usage reported");
        return buf;
    }
    /* every field is ≤ FG_USAGE_MAX, so these sums cannot overflow */
    const struct fg_tokens *t = &u->tok;
    /* the readers refuse (u->bad) a negative count, so none reach here */
    FG_DASSERT(t->input >= 0 && t->cache_read >= 0 && t->cache_write_5m >= 0 &&
               t->cache_write_1h >= 0 && t->output >= 0);
    int64_t in = t->input + t->cache_read + t->cache_write_5m + t->cache_write_1h;

    int64_t in_cap = max_in > 0 && max_in < FG_USAGE_MAX ? max_in : FG_USAGE_MAX;
    int64_t out_cap = max_out > 0 && max_out < FG_USAGE_MAX ? max_out : FG_USAGE_MAX;
    if (in > in_cap) {
        snprintf(buf, n,
                 "usage reports %" PRId64 " input tokens, over this call's bound of %" PRId64, in,
                 in_cap);
        return buf;
    }
    if (t->output > out_cap) {
        snprintf(buf, n,
                 "usage reports %" PRId64 " output tokens, over this call's bound of %" PRId64,
                 t->output, out_cap);
        return buf;
    }
    return NULL;
}

void fg_usage_estimate(struct fg_usage *u, int64_t input, int64_t output)
{
    memset(&u->tok, 0, sizeof u->tok);
    u->tok.input = input > 0 ? input : 0;
    u->tok.output = output > 0 ? output : 0;
    u->reasoning = 0;
    u->bad = NULL;
}

int64_t fg_usage_answer_tokens(const struct fg_json *j, enum fg_dialect d)
{
    int a = fg_json_get(j, 0,
                        d == FG_DIALECT_OPENAI      ? "choices"
                        : d == FG_DIALECT_RESPONSES ? "output"
                                                    : "content");
    if (a < 0)
        return 1;
    int64_t bytes = (int64_t)j->t[a].end - (int64_t)j->t[a].start;
    return bytes / 4 + 1;
}

void fg_usage_responses(const struct fg_json *j, int usage, struct fg_usage *u)
{
    static const struct oa_names resp = {"input_tokens", "output_tokens", "input_tokens_details",
                                         "output_tokens_details"};
    openai_shaped(j, usage, &resp, u);
}
