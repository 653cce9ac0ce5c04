/* usage_flavour.c — see usage_flavour.h. */
#include "usage_flavour.h"

#include "assert.h"

/* Order matters: a row with a marker before the catch-all of its
 * container (spec: ../shared/spec/providers-2.md section 6). */
const struct fg_usage_flavour fg_usage_flavours[] = {
    {.name = "deepseek",
     .container = "usage",
     .marker = "prompt_cache_hit_tokens",
     .prompt = "prompt_tokens",
     .output = "completion_tokens",
     .cached = "prompt_cache_hit_tokens",
     .uncached = "prompt_cache_miss_tokens"},
    {.name = "openai",
     .container = "usage",
     .prompt = "prompt_tokens",
     .output = "completion_tokens",
     .writes = true,
     .output_from_total = true},
    {.name = "groq",
     .container = "x_groq",
     .sub = "usage",
     .prompt = "prompt_tokens",
     .output = "completion_tokens",
     .output_from_total = true},
    {.name = "llamacpp",
     .container = "timings",
     .marker = "predicted_n",
     .output = "predicted_n",
     .cached = "cache_n",
     .uncached = "prompt_n"},
};
const size_t fg_usage_flavours_len = sizeof fg_usage_flavours / sizeof fg_usage_flavours[0];

static bool marked(const struct fg_json *j, int obj, const struct fg_usage_flavour *f)
{
    return fg_json_type(j, obj) == FG_J_OBJ && (!f->marker || fg_json_get(j, obj, f->marker) >= 0);
}

int fg_usage_flavour_locate(const struct fg_json *j, int root, const struct fg_usage_flavour **f)
{
    *f = NULL;
    if (fg_json_type(j, root) != FG_J_OBJ)
        return -1;
    for (size_t i = 0; i < fg_usage_flavours_len; i++) {
        const struct fg_usage_flavour *r = &fg_usage_flavours[i];
        int obj = fg_json_get(j, root, r->container);
        if (r->sub)
            obj = fg_json_get(j, obj, r->sub);
        if (marked(j, obj, r)) {
            *f = r;
            return obj;
        }
    }
    return -1;
}

const struct fg_usage_flavour *fg_usage_flavour_of(const struct fg_json *j, int usage)
{
    const struct fg_usage_flavour *plain = NULL;
    for (size_t i = 0; i < fg_usage_flavours_len; i++) {
        const struct fg_usage_flavour *r = &fg_usage_flavours[i];
        if (r->marker && marked(j, usage, r))
            return r;
        if (!r->marker && !plain)
            plain = r;
    }
    FG_DASSERT(plain);
    return plain;
}
