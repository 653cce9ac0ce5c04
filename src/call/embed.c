/* embed.c — see embed.h. */
#include "embed.h"

#include "azure.h"
#include "assert.h"
#include "meter.h"
#include "price.h"
#include "provider.h"
#include "relay.h"
#include "respcache.h"

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_INPUTS 2048 /* OpenAI's limit per request */
#define MAX_DIMENSIONS 65536
#define MAX_VECTOR 65536 /* floats in one returned vector */

struct fg_embed {
    int n;       /* inputs */
    int *tok;    /* JSON index of each input in c->body */
    bool single; /* "input" is one input, not a list of them */
    bool b64;    /* the client asked for base64 */
    bool keyed;  /* the cache applies: key[] is set */
    uint8_t (*key)[32];
    char **vec; /* a hit's vector (base64), else NULL */
    size_t *vec_len;
    int64_t *ntok; /* a hit's stored token count */
    int *miss;     /* positions of the misses, in order */
    int n_miss;
};

/* ---- request shape ------------------------------------------------------ */

static bool int_array(const struct fg_json *j, int a)
{
    if (fg_json_type(j, a) != FG_J_ARR || fg_json_child(j, a) < 0)
        return false;
    for (int x = fg_json_child(j, a); x >= 0; x = fg_json_sibling(j, a, x)) {
        int64_t v;
        if (!fg_json_int(j, x, &v) || v < 0)
            return false;
    }
    return true;
}

static int bad_input(struct fg_err *e, const char *why)
{
    return fg_err_set(e, FG_E_INVALID, "input", NULL, "Invalid 'input': %s.", why);
}

/* input: "text" | ["text", ...] | [token, ...] | [[token, ...], ...] */
static int check_input(const struct fg_json *j, int in, struct fg_err *e)
{
    if (in < 0)
        return fg_err_set(e, FG_E_INVALID, "input", NULL, "Missing required parameter: 'input'.");
    if (fg_json_type(j, in) == FG_J_STR)
        return j->t[in].end - j->t[in].start > 2 ? 0 : bad_input(e, "an empty string");
    if (fg_json_type(j, in) != FG_J_ARR)
        return bad_input(e, "expected a string, an array of strings, an array of token ids "
                            "or an array of token-id arrays");
    size_t n = fg_json_count(j, in);
    if (n == 0)
        return bad_input(e, "an empty array");
    if (n > MAX_INPUTS)
        return fg_err_set(e, FG_E_INVALID, "input", NULL,
                          "Invalid 'input': %zu inputs, over the limit of %d per request.", n,
                          MAX_INPUTS);
    int first = fg_json_child(j, in);
    if (fg_json_type(j, first) == FG_J_NUM)
        return int_array(j, in) ? 0 : bad_input(e, "a token array must hold non-negative integers");
    for (int x = first; x >= 0; x = fg_json_sibling(j, in, x)) {
        enum fg_jtype t = fg_json_type(j, x);
        if (t != fg_json_type(j, first))
            return bad_input(e, "every element must have the same type (strings, or token arrays)");
        if (t == FG_J_STR && j->t[x].end - j->t[x].start <= 2)
            return bad_input(e, "an empty string in the list");
        if (t != FG_J_STR && !int_array(j, x))
            return bad_input(e, "a list element must be a non-empty string or a non-empty array "
                                "of non-negative integer token ids");
    }
    return 0;
}

int fg_embed_validate(const struct fg_call *c, struct fg_err *e)
{
    const struct fg_json *j = &c->body;
    static const char *const keys[] = {"model", "input", "encoding_format", "dimensions", NULL};
    const char *why, *bad = fg_json_check_keys(j, 0, keys, &why);
    if (bad)
        return fg_err_set(e, FG_E_INVALID, bad, NULL, "Invalid request: the key '%s' %s.", bad,
                          why);
    int model = fg_json_get(j, 0, "model");
    if (fg_json_type(j, model) != FG_J_STR)
        return fg_err_set(e, FG_E_INVALID, "model", NULL,
                          model < 0 ? "Missing required parameter: 'model'."
                                    : "Invalid type for 'model': expected a string.");
    if (check_input(j, fg_json_get(j, 0, "input"), e) < 0)
        return -1;
    int fmt = fg_json_get(j, 0, "encoding_format");
    if (fmt >= 0 && !fg_json_str_eq(j, fmt, "float") && !fg_json_str_eq(j, fmt, "base64"))
        return fg_err_set(e, FG_E_INVALID, "encoding_format", NULL,
                          "Invalid 'encoding_format': expected 'float' or 'base64'.");
    int dim = fg_json_get(j, 0, "dimensions");
    int64_t d;
    if (dim >= 0 && fg_json_type(j, dim) != FG_J_NULL &&
        (!fg_json_int(j, dim, &d) || d < 1 || d > MAX_DIMENSIONS))
        return fg_err_set(e, FG_E_INVALID, "dimensions", NULL,
                          "Invalid 'dimensions': expected an integer from 1 to %d.",
                          MAX_DIMENSIONS);
    return 0;
}

/* ---- the inputs --------------------------------------------------------- */

/* Token estimate of one input: token ids exactly, text as bytes / 4. */
static int64_t input_tokens(const struct fg_json *j, int x)
{
    if (fg_json_type(j, x) == FG_J_ARR)
        return (int64_t)fg_json_count(j, x);
    int64_t bytes = (int64_t)(j->t[x].end - j->t[x].start) - 2;
    return bytes > 0 ? (bytes + 3) / 4 : 1;
}

/* The inputs as a list of JSON indices; *single when "input" is one. */
static int list_inputs(const struct fg_json *j, int **out, bool *single, struct fg_arena *a)
{
    int in = fg_json_get(j, 0, "input");
    int first = fg_json_child(j, in);
    *single = fg_json_type(j, in) == FG_J_STR || fg_json_type(j, first) == FG_J_NUM;
    int n = *single ? 1 : (int)fg_json_count(j, in);
    int *v = fg_arena_alloc(a, sizeof *v * (size_t)(n ? n : 1));
    if (*single)
        v[0] = in;
    else
        for (int k = 0, x = first; x >= 0; x = fg_json_sibling(j, in, x))
            v[k++] = x;
    *out = v;
    return n;
}

int64_t fg_embed_estimate(const struct fg_json *body)
{
    int in = fg_json_get(body, 0, "input");
    if (in < 0)
        return 0;
    if (fg_json_type(body, in) == FG_J_STR ||
        fg_json_type(body, fg_json_child(body, in)) == FG_J_NUM)
        return input_tokens(body, in);
    int64_t sum = 0;
    for (int x = fg_json_child(body, in); x >= 0; x = fg_json_sibling(body, in, x))
        sum += input_tokens(body, x);
    return sum;
}

/* ---- models ------------------------------------------------------------- */

static bool has_embed(const char *s)
{
    for (; s && *s; s++)
        if (!strncasecmp(s, "embed", 5))
            return true;
    return false;
}

bool fg_embed_model(const struct fg_model_cfg *m)
{
    return has_embed(m->name) || has_embed(m->model);
}

static int wrong_model(struct fg_call *c, const char *fmt, const char *name, const char *extra)
{
    fg_err_set(&c->err, FG_E_INVALID, "model", "model_not_supported", fmt, name, extra);
    return -1;
}

int fg_embed_route_error(struct fg_call *c, const char *route)
{
    return wrong_model(c,
                       "The model '%s' is a route, which picks between chat models; "
                       "/v1/embeddings needs an embedding model%s.",
                       route, "");
}

int fg_embed_check_model(struct fg_call *c)
{
    const struct fg_model_cfg *m = c->serve.model;
    bool embedding = fg_embed_model(m);
    if (c->endpoint != FG_EP_EMBEDDINGS)
        return embedding && c->endpoint != FG_EP_COUNT_TOKENS
                   ? wrong_model(c,
                                 "The model '%s' is an embedding model; call it with POST "
                                 "/v1/embeddings%s.",
                                 m->name, "")
                   : 0;
    const struct fg_dialect_ops *d = fg_provider_ops(m->dialect);
    if (!d->path(FG_EP_EMBEDDINGS))
        return fg_err_set(&c->err, FG_E_INVALID, "model", "model_not_supported",
                          "The model '%s' is served in the %s dialect (provider '%s'), "
                          "which has no embeddings endpoint.",
                          m->name, d->title, c->serve.provider->name);
    if (!embedding && fg_price_lookup(m->model))
        return wrong_model(c,
                           "The model '%s' is a chat model; /v1/embeddings needs an "
                           "embedding model%s.",
                           m->name, " (such as text-embedding-3-small)");
    return 0;
}

/* ---- cache -------------------------------------------------------------- */

static void key_of(struct fg_call *c, int x, const char *partition, uint8_t out[32])
{
    const struct fg_json *j = &c->body;
    int dim = fg_json_get(j, 0, "dimensions");
    int64_t d = 0;
    fg_json_int(j, dim, &d);
    struct evbuffer *b = evbuffer_new();
    /* NUL-separated fields, the input last: the encoding is prefix-free */
    evbuffer_add_printf(b, "frugal-embed-1%c%s%c%s%c%lld%c", 0, partition, 0, c->model_name, 0,
                        (long long)d, 0);
    if (fg_json_type(j, x) == FG_J_STR) {
        size_t cap = j->t[x].end - j->t[x].start;
        char *s = fg_arena_alloc(&c->arena, cap);
        long n = fg_json_str(j, x, s, cap);
        evbuffer_add(b, "s", 1);
        evbuffer_add(b, s, n > 0 ? (size_t)n : 0);
    } else {
        evbuffer_add(b, "t", 1);
        for (int t = fg_json_child(j, x); t >= 0; t = fg_json_sibling(j, x, t)) {
            int64_t v = 0;
            fg_json_int(j, t, &v);
            evbuffer_add_printf(b, "%lld,", (long long)v);
        }
    }
    size_t n = evbuffer_get_length(b);
    fg_respcache_sha256(evbuffer_pullup(b, -1), n, out);
    evbuffer_free(b);
}

static struct fg_embed *embed_new(struct fg_call *c)
{
    struct fg_embed *e = fg_arena_alloc(&c->arena, sizeof *e);
    memset(e, 0, sizeof *e);
    e->n = list_inputs(&c->body, &e->tok, &e->single, &c->arena);
    size_t n = (size_t)e->n;
    e->key = fg_arena_alloc(&c->arena, sizeof *e->key * n);
    e->vec = fg_arena_alloc(&c->arena, sizeof *e->vec * n);
    e->vec_len = fg_arena_alloc(&c->arena, sizeof *e->vec_len * n);
    e->ntok = fg_arena_alloc(&c->arena, sizeof *e->ntok * n);
    e->miss = fg_arena_alloc(&c->arena, sizeof *e->miss * n);
    memset(e->vec, 0, sizeof *e->vec * n);
    int fmt = fg_json_get(&c->body, 0, "encoding_format");
    e->b64 = fg_json_str_eq(&c->body, fmt, "base64");
    return e;
}

static void add_float_vector(struct evbuffer *out, const char *b64, size_t len)
{
    size_t cap = len / 4 * 3 + 3;
    unsigned char *raw = malloc(cap);
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    if (n > 0) /* DecodeBlock counts the padding's zero bytes */
        n -= (len > 0 && b64[len - 1] == '=') + (len > 1 && b64[len - 2] == '=');
    /* one buffer for the whole vector: per-float evbuffer calls cost more
     * than the formatting; 16 bytes hold ",%.9g" of any float */
    size_t nf = n > 0 ? (size_t)n / 4 : 0;
    char *txt = malloc(nf * 17 + 3), *o = txt;
    *o++ = '[';
    for (size_t i = 0; i < nf; i++) {
        float f;
        memcpy(&f, raw + 4 * i, 4); /* little-endian, as on every host we build for */
        o += snprintf(o, 17, i ? ",%.9g" : "%.9g", (double)f);
    }
    *o++ = ']';
    evbuffer_add(out, txt, (size_t)(o - txt));
    free(txt);
    free(raw);
}

/* The answer: every input's vector in request order. */
static void send_answer(struct fg_call *c, const char *model_json, int64_t tokens,
                        const char *const *miss_json, const size_t *miss_len)
{
    struct fg_embed *e = c->embed;
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "{\"object\":\"list\",\"data\":[");
    for (int i = 0, m = 0; i < e->n; i++) {
        evbuffer_add_printf(
            out, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":", i ? "," : "", i);
        if (!e->vec[i])
            evbuffer_add(out, miss_json[m], miss_len[m]), m++;
        else if (e->b64)
            evbuffer_add_printf(out, "\"%.*s\"", (int)e->vec_len[i], e->vec[i]);
        else
            add_float_vector(out, e->vec[i], e->vec_len[i]);
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add_printf(out,
                        "],\"model\":%s,\"usage\":{\"prompt_tokens\":%lld,"
                        "\"total_tokens\":%lld}}",
                        model_json, (long long)tokens, (long long)tokens);
    c->state = FG_CALL_DONE;
    fg_relay_send_json(c, 200, out);
    evbuffer_free(out);
}

static const char *quoted(struct fg_call *c, const char *s)
{
    json_t *v = json_string(s);
    char *q = json_dumps(v, JSON_ENCODE_ANY);
    const char *r = fg_arena_strdup(&c->arena, q ? q : "\"\"");
    free(q);
    json_decref(v);
    return r;
}

int fg_embed_cache(struct fg_call *c)
{
    const struct fg_config *cfg = fg_relay_config(c);
    struct fg_embed *e = c->embed = embed_new(c);
    c->cache.status = "bypass";
    e->n_miss = 0;
    e->keyed = !c->batch.plan && fg_respcache_enabled() && !c->rq.cache_bypass;
    const char *partition = cfg->response_cache.shared ? "" : c->who.key_id;
    int64_t hit_tokens = 0;
    for (int i = 0; i < e->n; i++) {
        struct fg_respcache_entry *h = NULL;
        if (e->keyed) {
            key_of(c, e->tok[i], partition, e->key[i]);
            h = fg_respcache_get(e->key[i], c->meter.acct.ts_ms);
        }
        size_t len = 0;
        const char *v = h ? fg_respcache_json(h, &len) : NULL;
        if (v && len) {
            e->vec[i] = fg_arena_strndup(&c->arena, v, len);
            e->vec_len[i] = len;
            e->ntok[i] = fg_respcache_tokens(h)->input;
            hit_tokens += e->ntok[i];
        } else {
            e->miss[e->n_miss++] = i;
        }
        if (h)
            fg_respcache_release(h);
    }
    if (!e->keyed)
        return 0;
    c->cache.status = e->n_miss ? "miss" : "hit";
    c->cache.hit_tokens = hit_tokens;
    if (e->n_miss < e->n) {
        char hits[32];
        snprintf(hits, sizeof hits, "%d/%d", e->n - e->n_miss, e->n);
        fg_client_header(c, "x-frugal-cache-hits", hits);
    }
    if (e->n_miss)
        return 0;
    c->meter.usage.tok.input = hit_tokens;
    c->meter.usage.seen = true;
    send_answer(c, quoted(c, c->serve.upstream_model), hit_tokens, NULL, NULL);
    return 1;
}

/* ---- upstream ----------------------------------------------------------- */

void fg_embed_encode(struct fg_call *c)
{
    struct fg_embed *e = c->embed;
    if (!e || e->n_miss == e->n)
        return; /* every input goes: the body as sent */
    FG_ASSERT(!e->single && e->n_miss > 0);
    const struct fg_json *j = &c->body;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "[", 1);
    for (int k = 0; k < e->n_miss; k++) {
        int x = e->tok[e->miss[k]];
        if (k)
            evbuffer_add(b, ",", 1);
        evbuffer_add(b, c->raw + j->t[x].start, j->t[x].end - j->t[x].start);
    }
    evbuffer_add(b, "]", 1);
    size_t n = evbuffer_get_length(b);
    char *s = fg_arena_strndup(&c->arena, (const char *)evbuffer_pullup(b, -1), n);
    evbuffer_free(b);
    int in = fg_json_get(j, 0, "input");
    fg_call_edit(c, j->t[in].start, j->t[in].end, s);
}

const char *fg_embed_url(struct fg_call *c)
{
    if (fg_azure_is(c->serve.provider))
        return fg_azure_url(&c->arena, c->serve.provider, c->serve.wire_model, FG_EP_EMBEDDINGS);
    return fg_arena_printf(&c->arena, "%s/embeddings", fg_relay_openai_base(c));
}

/* The vector of one upstream data item as base64 of float32 (arena), or
 * NULL when it is neither a float array nor a base64 string. */
static char *as_base64(struct fg_call *c, const struct fg_json *j, int v, size_t *len)
{
    if (fg_json_type(j, v) == FG_J_STR) {
        size_t cap = j->t[v].end - j->t[v].start;
        char *s = fg_arena_alloc(&c->arena, cap);
        long n = fg_json_str(j, v, s, cap);
        *len = n > 0 ? (size_t)n : 0;
        return n > 0 ? s : NULL;
    }
    size_t n = fg_json_count(j, v);
    if (fg_json_type(j, v) != FG_J_ARR || n == 0 || n > MAX_VECTOR)
        return NULL;
    float *f = malloc(n * sizeof *f);
    size_t k = 0;
    for (int x = fg_json_child(j, v); x >= 0; x = fg_json_sibling(j, v, x)) {
        if (fg_json_type(j, x) != FG_J_NUM)
            break;
        char num[64];
        snprintf(num, sizeof num, "%.*s", (int)(j->t[x].end - j->t[x].start),
                 j->src + j->t[x].start);
        f[k++] = strtof(num, NULL);
    }
    char *out = NULL;
    if (k == n) {
        out = fg_arena_alloc(&c->arena, 4 * ((n * 4 + 2) / 3) + 1);
        *len =
            (size_t)EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)f, (int)(n * 4));
    }
    free(f);
    return out;
}

static int malformed(struct fg_call *c, const char *why)
{
    fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_malformed",
               "upstream provider '%s' returned a malformed embeddings response (%s)",
               c->serve.provider->name, why);
    fg_relay_send_error(c);
    return -1;
}

/* The provider's data items by their index among the misses. */
static int upstream_items(struct fg_call *c, int *item)
{
    const struct fg_json *j = &c->up.resp;
    struct fg_embed *e = c->embed;
    int data = fg_json_get(j, 0, "data");
    if (fg_json_type(j, data) != FG_J_ARR || (int)fg_json_count(j, data) != e->n_miss)
        return malformed(c, "'data' does not hold one item per input");
    for (int k = 0; k < e->n_miss; k++)
        item[k] = -1;
    int pos = 0;
    for (int x = fg_json_child(j, data); x >= 0; x = fg_json_sibling(j, data, x), pos++) {
        int64_t idx = pos;
        int ix = fg_json_get(j, x, "index");
        if (ix >= 0 && !fg_json_int(j, ix, &idx))
            return malformed(c, "an 'index' is not an integer");
        if (idx < 0 || idx >= e->n_miss || item[idx] >= 0)
            return malformed(c, "an 'index' is out of range or repeated");
        if (fg_json_get(j, x, "embedding") < 0)
            return malformed(c, "an item has no 'embedding'");
        item[idx] = x;
    }
    return 0;
}

/* Split the provider's token count among the misses (see embed.h). */
static void split_tokens(struct fg_call *c, int64_t total, int64_t *out)
{
    struct fg_embed *e = c->embed;
    int64_t est = 0, given = 0;
    for (int k = 0; k < e->n_miss; k++)
        est += input_tokens(&c->body, e->tok[e->miss[k]]);
    for (int k = 0; k < e->n_miss; k++) {
        int64_t mine = input_tokens(&c->body, e->tok[e->miss[k]]);
        out[k] = k == e->n_miss - 1 ? total - given
                 : est              ? (int64_t)((__int128)total * mine / est)
                                    : 0;
        given += out[k];
    }
}

void fg_embed_reply(struct fg_call *c, struct evbuffer *b)
{
    struct fg_embed *e = c->embed;
    fg_meter_response(c);
    FG_ASSERT(e && e->n_miss > 0);
    const struct fg_json *j = &c->up.resp;
    int *item = fg_arena_alloc(&c->arena, sizeof *item * (size_t)e->n_miss);
    if (upstream_items(c, item) < 0)
        return;
    int64_t total = c->meter.usage.tok.input + c->meter.usage.tok.cache_read;
    int64_t *share = fg_arena_alloc(&c->arena, sizeof *share * (size_t)e->n_miss);
    split_tokens(c, total, share);
    const char **miss_json = fg_arena_alloc(&c->arena, sizeof *miss_json * (size_t)e->n_miss);
    size_t *miss_len = fg_arena_alloc(&c->arena, sizeof *miss_len * (size_t)e->n_miss);
    for (int k = 0; k < e->n_miss; k++) {
        int v = fg_json_get(j, item[k], "embedding");
        miss_json[k] = j->src + j->t[v].start;
        miss_len[k] = j->t[v].end - j->t[v].start;
        size_t len = 0;
        char *b64 = e->keyed ? as_base64(c, j, v, &len) : NULL;
        struct fg_tokens t = {.input = share[k]};
        if (b64 && len)
            fg_respcache_put(e->key[e->miss[k]], false, b64, len, &t, c->meter.acct.ts_ms);
    }
    if (e->n_miss == e->n) { /* nothing from the cache: the provider's answer as sent */
        c->state = FG_CALL_DONE;
        fg_relay_send_json(c, c->status, b);
        return;
    }
    int m = fg_json_get(j, 0, "model");
    const char *model =
        fg_json_type(j, m) == FG_J_STR
            ? fg_arena_strndup(&c->arena, j->src + j->t[m].start, j->t[m].end - j->t[m].start)
            : quoted(c, c->serve.upstream_model);
    send_answer(c, model, total + c->cache.hit_tokens, miss_json, miss_len);
}
