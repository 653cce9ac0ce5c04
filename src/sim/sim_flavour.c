/* sim_flavour.c — the usage shapes of OpenAI-compatible providers, played
 * by the simulated provider's Chat Completions dialect (sim_internal.h:
 * sim_flavour_*).  The flavour is chosen by the upstream model id's
 * prefix, so that a test can point one `type: openai` provider at the sim
 * and get each provider's shape (../shared/spec/providers-2.md section 6):
 *   deepseek-*     usage with prompt_cache_hit_tokens / _miss_tokens beside
 *                  prompt_tokens, no prompt_tokens_details; streams open
 *                  with a ": keep-alive" line
 *   gemini-*       thoughts outside completion_tokens: total_tokens =
 *                  prompt + completion + SIM_FLAVOUR_THOUGHTS
 *   groq-*         streams: the last chunk carries x_groq.usage (no usage
 *                  member, asked or not); bodies: usage + queue_time
 *   llama-server-* no usage member; "timings" {prompt_n, cache_n,
 *                  predicted_n} in the body and the last chunk
 *   vllm-*         no usage at all (a server started without usage
 *                  reporting): frugal counts from the answer or stream
 * Any other model: OpenAI's own shape. */
#include "sim_internal.h"

#include <string.h>

static const struct {
    const char *prefix;
    enum sim_flavour f;
} prefixes[] = {
    {"deepseek-", SIM_FLAVOUR_DEEPSEEK}, {"gemini-", SIM_FLAVOUR_GEMINI},
    {"groq-", SIM_FLAVOUR_GROQ},         {"llama-server-", SIM_FLAVOUR_LLAMACPP},
    {"vllm-", SIM_FLAVOUR_NONE},
};

enum sim_flavour sim_flavour_of(const char *model)
{
    for (size_t i = 0; model && i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(model, prefixes[i].prefix, strlen(prefixes[i].prefix)))
            return prefixes[i].f;
    return SIM_FLAVOUR_OPENAI;
}

static json_t *timings(size_t prompt, size_t cached, size_t completion)
{
    return json_pack("{s:I,s:I,s:I,s:f,s:f}", "cache_n", (json_int_t)cached, "prompt_n",
                     (json_int_t)(prompt - cached), "predicted_n", (json_int_t)completion,
                     "prompt_ms", 1.5, "predicted_ms", 12.25);
}

void sim_flavour_usage(enum sim_flavour f, json_t *obj, json_t *usage, size_t prompt, size_t cached,
                       size_t completion)
{
    switch (f) {
    case SIM_FLAVOUR_DEEPSEEK: /* its cached_tokens "may be absent": absent here */
        json_object_del(usage, "prompt_tokens_details");
        json_object_set_new(usage, "prompt_cache_hit_tokens", json_integer((json_int_t)cached));
        json_object_set_new(usage, "prompt_cache_miss_tokens",
                            json_integer((json_int_t)(prompt - cached)));
        break;
    case SIM_FLAVOUR_GEMINI:
        json_object_set_new(usage, "total_tokens",
                            json_integer((json_int_t)(prompt + completion + SIM_FLAVOUR_THOUGHTS)));
        break;
    case SIM_FLAVOUR_GROQ:
        json_object_set_new(usage, "queue_time", json_real(0.0125));
        if (json_object_get(obj, "choices") && !json_array_size(json_object_get(obj, "choices"))) {
            /* the last chunk: usage under x_groq */
            json_object_set_new(obj, "x_groq",
                                json_pack("{s:s,s:O}", "id", "req_sim", "usage", usage));
            json_decref(usage);
            return;
        }
        break;
    case SIM_FLAVOUR_LLAMACPP:
        json_object_set_new(obj, "timings", timings(prompt, cached, completion));
        json_decref(usage);
        return;
    case SIM_FLAVOUR_NONE: json_decref(usage); return;
    case SIM_FLAVOUR_OPENAI: break;
    }
    json_object_set_new(obj, "usage", usage);
}
