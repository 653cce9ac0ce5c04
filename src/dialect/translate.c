/* translate.c — helpers shared by the translators, and error bodies.
 * See translate.h for the contract; requests are in translate_req_*.c,
 * responses in translate_resp.c, streams in translate_stream.c. */
#include "translate_internal.h"

#include "usage.h"
#include "usage_flavour.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- jansson */

json_t *tr_load(const struct fg_json *j, int tok)
{
    if (!j || !j->src || tok < 0 || (uint32_t)tok >= j->n)
        return NULL;
    const struct fg_jtok *t = &j->t[tok];
    /* the indexer already validated the span; jansson decodes it once */
    return json_loadb(j->src + t->start, t->end - t->start, JSON_DECODE_ANY, NULL);
}

const char *tr_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

bool tr_int(const json_t *obj, const char *key, int64_t *v)
{
    json_t *x = json_object_get(obj, key);
    if (json_is_integer(x)) {
        *v = json_integer_value(x);
        return true;
    }
    double d = json_real_value(x); /* 0 when not a real */
    /* range first: casting an out-of-range double is undefined */
    if (json_is_real(x) && d > -9e18 && d < 9e18 && d == (double)(int64_t)d) {
        *v = (int64_t)d;
        return true;
    }
    return false;
}

bool tr_has(const json_t *obj, const char *key)
{
    json_t *x = json_object_get(obj, key);
    return x && !json_is_null(x);
}

void tr_dump_to(const json_t *v, struct evbuffer *out)
{
    char *s = json_dumps(v, TR_DUMP_FLAGS);
    if (s) {
        evbuffer_add(out, s, strlen(s));
        free(s);
    }
}

/* ------------------------------------------------------- warnings, errors */

void tr_warn(struct fg_translate_warnings *w, const char *fmt, ...)
{
    if (!w)
        return;
    char m[sizeof w->msg[0]];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    /* one line per distinct fact: a field on every message warns once */
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->msg[i], m))
            return;
    if (w->n < (int)(sizeof w->msg / sizeof w->msg[0]))
        memcpy(w->msg[w->n++], m, sizeof m);
}

int tr_bad(struct fg_err *e, const char *param, const char *fmt, ...)
{
    char m[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    fg_err_set(e, FG_E_INVALID, param, "untranslatable_field", "%s", m);
    return -1;
}

/* -------------------------------------------------------------------- ids */

static bool id_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

json_t *tr_tool_id(const char *id, const char *fallback)
{
    if (!id || !*id)
        return json_string(fallback);
    size_t n = strlen(id);
    char *s = malloc(3 * n + 1), *p = s;
    if (!s)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
        if (id_char_ok(*c))
            *p++ = (char)*c;
        else
            p += snprintf(p, 4, "_%02x", *c); /* the buffer has 3 bytes per input byte + 1 */
    }
    *p = '\0';
    json_t *r = json_string(s);
    free(s);
    return r;
}

/* ------------------------------------------------------------ stop reasons */

const char *tr_finish_of_stop(const char *r)
{
    if (!r)
        return "stop";
    if (!strcmp(r, "max_tokens") || !strcmp(r, "model_context_window_exceeded"))
        return "length";
    if (!strcmp(r, "tool_use"))
        return "tool_calls";
    if (!strcmp(r, "refusal"))
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

const char *tr_stop_of_finish(const char *f)
{
    if (!f)
        return "end_turn";
    if (!strcmp(f, "length"))
        return "max_tokens";
    if (!strcmp(f, "tool_calls") || !strcmp(f, "function_call"))
        return "tool_use";
    if (!strcmp(f, "content_filter"))
        return "refusal";
    return "end_turn";
}

/* ------------------------------------------------------------------ usage */

/* A count the translated usage carries on: only a plausible token count
 * (usage.h), so the sums below cannot overflow; anything else is left out
 * here and judged (estimated, flagged) by the meter, which reads the
 * provider's own object. */
static void take(const json_t *o, const char *k, int64_t *v)
{
    int64_t x;
    if (tr_int(o, k, &x) && x >= 0 && x <= FG_USAGE_MAX)
        *v = x;
}

void tr_usage_from_an(const json_t *u, struct tr_usage *x)
{
    if (!json_is_object(u))
        return;
    take(u, "input_tokens", &x->input);
    take(u, "cache_read_input_tokens", &x->cache_read);
    take(u, "cache_creation_input_tokens", &x->cache_write);
    take(json_object_get(u, "cache_creation"), "ephemeral_1h_input_tokens", &x->cache_write_1h);
    take(u, "output_tokens", &x->output);
    take(json_object_get(u, "output_tokens_details"), "thinking_tokens", &x->reasoning);
}

void tr_usage_from_oa(const json_t *u, struct tr_usage *x)
{
    if (!json_is_object(u))
        return;
    /* one mapping for every flavour: the meter's (a small object, once
     * per call) */
    char *text = json_dumps(u, JSON_COMPACT);
    struct fg_json j = {0};
    struct fg_usage us;
    memset(&us, 0, sizeof us);
    if (text && fg_json_parse(&j, text, strlen(text)) == 0)
        fg_usage_openai(&j, 0, &us);
    fg_json_free(&j);
    free(text);
    x->input = us.tok.input;
    x->cache_read = us.tok.cache_read;
    x->cache_write = us.tok.cache_write_5m + us.tok.cache_write_1h;
    x->cache_write_1h = us.tok.cache_write_1h;
    x->output = us.tok.output;
    x->reasoning = us.reasoning;
}

const json_t *tr_usage_oa_find(const json_t *root)
{
    for (size_t i = 0; i < fg_usage_flavours_len; i++) {
        const struct fg_usage_flavour *f = &fg_usage_flavours[i];
        const json_t *o = json_object_get(root, f->container);
        if (f->sub)
            o = json_object_get(o, f->sub);
        if (json_is_object(o) && (!f->marker || json_object_get(o, f->marker)))
            return o;
    }
    return NULL;
}

json_t *tr_usage_oa(const struct tr_usage *x)
{
    json_int_t prompt = x->input + x->cache_read + x->cache_write;
    return json_pack("{s:I, s:I, s:I, s:{s:I, s:i, s:I}, s:{s:I, s:i, s:i, s:i}}", "prompt_tokens",
                     prompt, "completion_tokens", (json_int_t)x->output, "total_tokens",
                     prompt + x->output, "prompt_tokens_details", "cached_tokens",
                     (json_int_t)x->cache_read, "audio_tokens", 0, "cache_write_tokens",
                     (json_int_t)x->cache_write, "completion_tokens_details", "reasoning_tokens",
                     (json_int_t)x->reasoning, "audio_tokens", 0, "accepted_prediction_tokens", 0,
                     "rejected_prediction_tokens", 0);
}

json_t *tr_usage_an(const struct tr_usage *x)
{
    return json_pack(
        "{s:I, s:I, s:I, s:{s:I, s:I}, s:I, s:{s:I}, s:n, s:s, s:s, s:n}", "input_tokens",
        (json_int_t)x->input, "cache_creation_input_tokens", (json_int_t)x->cache_write,
        "cache_read_input_tokens", (json_int_t)x->cache_read, "cache_creation",
        "ephemeral_5m_input_tokens", (json_int_t)(x->cache_write - x->cache_write_1h),
        "ephemeral_1h_input_tokens", (json_int_t)x->cache_write_1h, "output_tokens",
        (json_int_t)x->output, "output_tokens_details", "thinking_tokens", (json_int_t)x->reasoning,
        "server_tool_use", "service_tier", "standard", "speed", "standard", "inference_geo");
}

json_t *tr_usage_an_delta(const struct tr_usage *x)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:{s:I}, s:n}", "input_tokens", (json_int_t)x->input,
                     "cache_creation_input_tokens", (json_int_t)x->cache_write,
                     "cache_read_input_tokens", (json_int_t)x->cache_read, "output_tokens",
                     (json_int_t)x->output, "output_tokens_details", "thinking_tokens",
                     (json_int_t)x->reasoning, "server_tool_use");
}

/* ----------------------------------------------------------- error shapes */

static const struct {
    int status;
    const char *an, *oa;
} err_types[] = {
    {400, "invalid_request_error", "invalid_request_error"},
    {401, "authentication_error", "invalid_request_error"},
    {402, "billing_error", "insufficient_quota"},
    {403, "permission_error", "permission_error"},
    {404, "not_found_error", "invalid_request_error"},
    {409, "conflict_error", "invalid_request_error"},
    {413, "request_too_large", "invalid_request_error"},
    {429, "rate_limit_error", "rate_limit_error"},
    {500, "api_error", "server_error"},
    {504, "timeout_error", "server_error"},
    {529, "overloaded_error", "server_error"},
};
#define N_ERR_TYPES (sizeof err_types / sizeof err_types[0])

static const char *type_of_status(enum fg_dialect to, int status)
{
    for (size_t i = 0; i < N_ERR_TYPES; i++)
        if (err_types[i].status == status)
            return to == FG_DIALECT_ANTHROPIC ? err_types[i].an : err_types[i].oa;
    if (status == 503) /* OpenAI's "overloaded / slow down" */
        return to == FG_DIALECT_ANTHROPIC ? "overloaded_error" : "server_error";
    if (status >= 500)
        return to == FG_DIALECT_ANTHROPIC ? "api_error" : "server_error";
    return "invalid_request_error";
}

int tr_status_of_type(enum fg_dialect d, const char *type)
{
    if (!type)
        return 500;
    for (size_t i = 0; i < N_ERR_TYPES; i++)
        if (!strcmp(type, d == FG_DIALECT_ANTHROPIC ? err_types[i].an : err_types[i].oa))
            return err_types[i].status;
    /* OpenAI's rate-limit errors use the limit's name as type */
    if (d == FG_DIALECT_OPENAI && (!strcmp(type, "requests") || !strcmp(type, "tokens")))
        return 429;
    return 500;
}

void tr_utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--; /* continuation bytes */
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < want)
        s[i - 1] = '\0';
}

/* A provider's string into a fixed buffer: cut at a whole character, so
 * the error document built from it is valid JSON. */
static void copy_str(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "");
    tr_utf8_trim(dst);
}

void tr_error_read(enum fg_dialect from, const json_t *root, struct tr_error *x)
{
    const json_t *err = json_object_get(root, "error");
    if (json_is_string(err)) { /* seen from OpenAI-compatible servers */
        copy_str(x->msg, sizeof x->msg, json_string_value(err));
        return;
    }
    copy_str(x->type, sizeof x->type, tr_str(err, "type"));
    copy_str(x->msg, sizeof x->msg, tr_str(err, "message"));
    if (from == FG_DIALECT_OPENAI) {
        copy_str(x->code, sizeof x->code, tr_str(err, "code"));
        copy_str(x->param, sizeof x->param, tr_str(err, "param"));
    } else {
        copy_str(x->code, sizeof x->code, tr_str(json_object_get(err, "details"), "error_code"));
    }
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *tr_error_doc(enum fg_dialect from, enum fg_dialect to, const struct tr_error *x)
{
    /* same dialect keeps the provider's own type; else the status decides */
    const char *type = from == to && x->type[0] ? x->type : type_of_status(to, x->status);
    if (to == FG_DIALECT_OPENAI) {
        /* the Anthropic type (or its error_code) is the closest "code" */
        const char *code = x->code[0] ? x->code : from != to ? x->type : "";
        return json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", x->msg, "type", type,
                         "param", str_or_null(x->param), "code", str_or_null(code));
    }
    json_t *err = json_pack("{s:s, s:s}", "type", type, "message", x->msg);
    if (x->code[0])
        json_object_set_new(err, "details", json_pack("{s:s}", "error_code", x->code));
    return json_pack("{s:s, s:o, s:n}", "type", "error", "error", err, "request_id");
}

/* A body that is not a provider error document: say what came back. */
static void describe_raw(struct tr_error *x, const char *body, size_t len)
{
    char snip[201];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof snip - 1; i++)
        snip[n++] = body[i] >= 0x20 && body[i] < 0x7f ? body[i] : ' ';
    snip[n] = '\0';
    snprintf(x->msg, sizeof x->msg, "upstream provider returned HTTP %d%s%s", x->status,
             n ? ": " : "", snip);
}

int fg_translate_error(enum fg_dialect from, enum fg_dialect to, int status, const char *body,
                       size_t len, struct evbuffer *out)
{
    struct tr_error x = {.status = status >= 400 && status <= 599 ? status : 502};
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (root)
        tr_error_read(from, root, &x);
    if (!x.msg[0])
        describe_raw(&x, body ? body : "", body ? len : 0);
    json_decref(root);
    json_t *doc = tr_error_doc(from, to, &x);
    tr_dump_to(doc, out);
    json_decref(doc);
    return x.status;
}

/* ---------------------------------------------------------------- framing */

void tr_sse_an(struct evbuffer *out, const char *name, json_t *data)
{
    evbuffer_add_printf(out, "event: %s\ndata: ", name);
    tr_dump_to(data, out);
    evbuffer_add(out, "\n\n", 2);
    json_decref(data);
}

void tr_sse_oa(struct evbuffer *out, json_t *data)
{
    evbuffer_add(out, "data: ", 6);
    tr_dump_to(data, out);
    evbuffer_add(out, "\n\n", 2);
    json_decref(data);
}

static int oa_to_an_response(const struct fg_json *resp, const char *client_model,
                             const char *forced_tool, struct evbuffer *out, struct fg_err *e)
{
    (void)forced_tool; /* forced tools exist only on the way to Anthropic */
    return fg_translate_response_oa_to_an(resp, client_model, out, e);
}

static int oa_to_rs_response(const struct fg_json *resp, const char *client_model,
                             const char *forced_tool, struct evbuffer *out, struct fg_err *e)
{
    (void)forced_tool; /* forced tools exist only on the way to Anthropic */
    return fg_translate_response_oa_to_rs(resp, client_model, out, e);
}

/* The translated pairs, by the request's direction (client → provider);
 * a row's response function goes back (provider → client). */
static const struct tr_pair {
    enum fg_dialect from, to;
    int (*request)(const struct fg_json *body, const struct fg_translate_opts *o, char **out,
                   size_t *out_len, struct fg_translate_warnings *w, struct fg_err *e);
    int (*response)(const struct fg_json *resp, const char *client_model, const char *forced_tool,
                    struct evbuffer *out, struct fg_err *e);
} pairs[] = {
    {FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, fg_translate_request_oa_to_an,
     fg_translate_response_an_to_oa_forced},
    {FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, fg_translate_request_an_to_oa, oa_to_an_response},
    /* Responses (a body shape on OpenAI's wire) to providers without it */
    {FG_DIALECT_RESPONSES, FG_DIALECT_ANTHROPIC, fg_translate_request_rs_to_an,
     fg_translate_response_an_to_rs},
    {FG_DIALECT_RESPONSES, FG_DIALECT_OPENAI, fg_translate_request_rs_to_oa, oa_to_rs_response},
};

static const struct tr_pair *pair_of(enum fg_dialect from, enum fg_dialect to)
{
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i].from == from && pairs[i].to == to)
            return &pairs[i];
    return NULL;
}

bool fg_translate_has(enum fg_dialect from, enum fg_dialect to)
{
    return pair_of(from, to) != NULL;
}

static int no_pair(enum fg_dialect from, enum fg_dialect to, struct fg_err *e)
{
    return fg_err_set(e, FG_E_INTERNAL, NULL, NULL,
                      "frugal cannot translate between these dialects (%d to %d)", (int)from,
                      (int)to);
}

int fg_translate_request(enum fg_dialect from, enum fg_dialect to, const struct fg_json *body,
                         const struct fg_translate_opts *o, char **out, size_t *out_len,
                         struct fg_translate_warnings *w, struct fg_err *e)
{
    const struct tr_pair *p = pair_of(from, to);
    return p ? p->request(body, o, out, out_len, w, e) : no_pair(from, to, e);
}

int fg_translate_response(enum fg_dialect from, enum fg_dialect to, const struct fg_json *resp,
                          const char *client_model, const char *forced_tool, struct evbuffer *out,
                          struct fg_err *e)
{
    /* a response goes back along a request row: the row is (to, from) */
    const struct tr_pair *p = pair_of(to, from);
    return p ? p->response(resp, client_model, forced_tool, out, e) : no_pair(from, to, e);
}
