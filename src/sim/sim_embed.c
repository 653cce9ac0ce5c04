/* sim_embed.c — the simulated provider's POST /v1/embeddings and
 * POST /v1/moderations (OpenAI shapes), so the built-in defaults demo them
 * without keys.
 *
 * Embeddings: one deterministic unit vector per input, seeded by the model
 * and the input (text or token ids), of the model's size (1536; 3072 for
 * *-large) or `dimensions`; `encoding_format` float (JSON numbers) or
 * base64 (little-endian float32, as OpenAI sends it).  usage counts
 * ceil(bytes / 4) per text input (sim_tokens) and one per token id.
 * Moderations: one result per input, flagged when the text contains
 * "#sim:flag". */
#include "sim_internal.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MAX_DIMS 8192

static int embed_error(struct sim_ctx *c, struct sim_reply *r, const char *param, const char *msg)
{
    sim_openai_error(c, r, 400, "invalid_request_error", param, NULL, msg);
    return -1;
}

static long model_dims(const char *model)
{
    return strstr(model, "large") ? 3072 : 1536;
}

/* The vector of one input into v (n floats), unit length. */
static void vector(const char *model, const void *p, size_t len, float *v, long n)
{
    uint64_t s = sim_hash(sim_hash(SIM_HASH_INIT, model, strlen(model) + 1), p, len);
    double norm = 0;
    for (long i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17; /* xorshift64 */
        v[i] = (float)((double)(s >> 11) / (double)(1ULL << 53) * 2.0 - 1.0);
        norm += (double)v[i] * v[i];
    }
    norm = sqrt(norm);
    for (long i = 0; i < n && norm > 0; i++)
        v[i] = (float)(v[i] / norm);
}

static json_t *encode(struct sim_ctx *c, const float *v, long n, int b64)
{
    if (b64) {
        size_t bytes = (size_t)n * 4;
        char *out = fg_arena_alloc(c->arena, 4 * ((bytes + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)v, (int)bytes);
        return json_string(out);
    }
    json_t *a = json_array();
    for (long i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

/* One input: its bytes for the seed and its token count; -1 if invalid. */
static long input_bytes(struct sim_ctx *c, const json_t *in, const void **p, size_t *len)
{
    if (json_is_string(in)) {
        *p = json_string_value(in);
        *len = json_string_length(in);
        return *len ? (long)sim_tokens(*len) : -1;
    }
    size_t n = json_array_size(in);
    if (!json_is_array(in) || n == 0)
        return -1;
    long long *ids = fg_arena_alloc(c->arena, n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        if (!json_is_integer(json_array_get(in, i)))
            return -1;
        ids[i] = json_integer_value(json_array_get(in, i));
    }
    *p = ids;
    *len = n * sizeof *ids;
    return (long)n;
}

void sim_openai_embeddings(struct sim_ctx *c, const json_t *body, struct sim_reply *r)
{
    const char *model = json_string_value(json_object_get(body, "model"));
    const json_t *input = json_object_get(body, "input");
    const char *fmt = json_string_value(json_object_get(body, "encoding_format"));
    const json_t *dims = json_object_get(body, "dimensions");
    if (!model) {
        embed_error(c, r, "model", "you must provide a model parameter");
        return;
    }
    long n = model_dims(model);
    if (dims && !json_is_null(dims)) {
        if (!json_is_integer(dims) || json_integer_value(dims) < 1 ||
            json_integer_value(dims) > SIM_MAX_DIMS) {
            embed_error(c, r, "dimensions", "dimensions must be an integer from 1 to 8192");
            return;
        }
        n = (long)json_integer_value(dims);
    }
    if (fmt && strcmp(fmt, "float") && strcmp(fmt, "base64")) {
        embed_error(c, r, "encoding_format", "encoding_format must be float or base64");
        return;
    }
    /* one input (a string or one token array) or a list of them */
    int single = json_is_string(input) ||
                 (json_is_array(input) && json_is_integer(json_array_get(input, 0)));
    size_t count = single ? 1 : json_array_size(input);
    if (!input || count == 0) {
        embed_error(c, r, "input", "'input' must be a non-empty string or array");
        return;
    }
    json_t *data = json_array();
    float *v = malloc((size_t)n * sizeof *v);
    long tokens = 0;
    for (size_t i = 0; i < count; i++) {
        const json_t *in = single ? input : json_array_get(input, i);
        const void *p;
        size_t len;
        long t = input_bytes(c, in, &p, &len);
        if (t < 0) {
            free(v);
            json_decref(data);
            embed_error(c, r, "input", "every input must be a non-empty string or token array");
            return;
        }
        tokens += t;
        vector(model, p, len, v, n);
        json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index",
                                              (json_int_t)i, "embedding",
                                              encode(c, v, n, fmt && !strcmp(fmt, "base64"))));
    }
    free(v);
    json_t *out =
        json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model", model,
                  "usage", "prompt_tokens", (json_int_t)tokens, "total_tokens", (json_int_t)tokens);
    sim_reply_json(c->arena, r, 200, out);
    sim_reply_header(r, "x-request-id", fg_arena_printf(c->arena, "req_sim_%s", c->id));
    json_decref(out);
}

static json_t *moderation_result(const char *text)
{
    static const char *const cats[] = {"harassment", "hate", "self-harm", "sexual", "violence"};
    int flagged = text && strstr(text, "#sim:flag") != NULL;
    json_t *cat = json_object(), *score = json_object();
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++) {
        json_object_set_new(cat, cats[i], json_boolean(flagged && i == 4));
        json_object_set_new(score, cats[i], json_real(flagged && i == 4 ? 0.97 : 0.0001));
    }
    return json_pack("{s:b,s:o,s:o}", "flagged", flagged, "categories", cat, "category_scores",
                     score);
}

void sim_openai_moderations(struct sim_ctx *c, const json_t *body, struct sim_reply *r)
{
    const json_t *input = json_object_get(body, "input");
    const char *model = json_string_value(json_object_get(body, "model"));
    if (!json_is_string(input) && !json_is_array(input)) {
        embed_error(c, r, "input", "'input' must be a string or an array");
        return;
    }
    json_t *results = json_array();
    if (json_is_string(input))
        json_array_append_new(results, moderation_result(json_string_value(input)));
    for (size_t i = 0; json_is_array(input) && i < json_array_size(input); i++) {
        const json_t *x = json_array_get(input, i);
        const char *text = json_string_value(x);
        if (!text) /* a multimodal part: its text, if any */
            text = json_string_value(json_object_get(x, "text"));
        json_array_append_new(results, moderation_result(text));
    }
    json_t *out = json_pack("{s:s,s:s,s:o}", "id", fg_arena_printf(c->arena, "modr-sim-%s", c->id),
                            "model", model ? model : "omni-moderation-latest", "results", results);
    sim_reply_json(c->arena, r, 200, out);
    sim_reply_header(r, "x-request-id", fg_arena_printf(c->arena, "req_sim_%s", c->id));
    json_decref(out);
}
