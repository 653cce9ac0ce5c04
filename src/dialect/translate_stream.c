/* translate_stream.c — SSE streams, both ways, one event at a time.
 * Wire reference: shared/spec/providers.md sections 1.5 and 3.5.
 *
 * Nothing of the answer is buffered: each upstream event becomes zero or
 * more client frames at once.  The state kept is what framing needs: ids,
 * which Anthropic block is which OpenAI tool call (and back), the usage
 * seen so far and the stop reason waiting for its frame. */
#include "translate_internal.h"
#include "assert.h"
#include "vec.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum blk_kind { K_SKIP, K_TEXT, K_TOOL, K_FORCED };

struct fg_translate_stream {
    enum fg_dialect from, to;
    struct tr_rs_stream *rs; /* to == FG_DIALECT_RESPONSES: all the work is there */
    char *model, *forced, *id;
    bool include_usage;
    bool started, closed, finish_sent;
    json_int_t created;
    struct tr_usage u;
    char stop[40]; /* pending stop reason, in the client's dialect */
    /* Anthropic → OpenAI: per Anthropic block index, its kind and tool index */
    unsigned char *kind;
    int *tool;
    size_t nblk;
    int n_tools;
    bool any_output, forced_hit;
    /* OpenAI → Anthropic: the open block, and each OpenAI tool index's block */
    int open, open_kind, next_block;
    int *tool_block;
    size_t ntool;
    bool refused;
};

static char *dupcat(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b ? b : "") + 1;
    char *s = malloc(n);
    if (!s)
        abort();
    snprintf(s, n, "%s%s", a, b ? b : "");
    return s;
}

struct fg_translate_stream *fg_translate_stream_new(enum fg_dialect from, enum fg_dialect to,
                                                    const char *client_model, bool include_usage)
{
    if (from == to)
        return NULL;
    struct fg_translate_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->from = from;
    s->to = to;
    if (to == FG_DIALECT_RESPONSES)
        s->rs = tr_rs_stream_new(from, client_model);
    s->model = dupcat(client_model ? client_model : "", "");
    s->include_usage = include_usage;
    s->created = (json_int_t)time(NULL);
    s->open = -1;
    return s;
}

void fg_translate_stream_forced_tool(struct fg_translate_stream *s, const char *name)
{
    free(s->forced);
    s->forced = name ? dupcat(name, "") : NULL;
    if (s->rs)
        tr_rs_stream_forced_tool(s->rs, name);
}

void fg_translate_stream_free(struct fg_translate_stream *s)
{
    if (!s)
        return;
    tr_rs_stream_free(s->rs);
    free(s->model);
    free(s->forced);
    free(s->id);
    free(s->kind);
    free(s->tool);
    free(s->tool_block);
    free(s);
}

void fg_translate_stream_request(struct fg_translate_stream *s, const char *req, size_t len)
{
    if (s->rs)
        tr_rs_stream_echo(s->rs, tr_rs_echo_fields(req, len));
}

bool fg_translate_stream_closed(const struct fg_translate_stream *s)
{
    if (s->rs)
        return tr_rs_stream_closed(s->rs);
    return s->closed;
}

/* Client-dialect error frame; closes the stream. */
static void error_frame(struct fg_translate_stream *s, const struct tr_error *x,
                        enum fg_dialect from, struct evbuffer *out)
{
    json_t *doc = tr_error_doc(from, s->to, x);
    if (s->to == FG_DIALECT_ANTHROPIC)
        tr_sse_an(out, "error", doc);
    else
        tr_sse_oa(out, doc);
    s->closed = true;
}

void fg_translate_stream_fail(struct fg_translate_stream *s, const struct fg_err *e,
                              struct evbuffer *out)
{
    if (s->rs) {
        tr_rs_stream_fail(s->rs, e, out);
        return;
    }
    if (s->closed)
        return;
    struct tr_error x = {.status = e->status ? e->status : 502};
    snprintf(x.msg, sizeof x.msg, "%s", e->msg);
    snprintf(x.param, sizeof x.param, "%s", e->param);
    tr_utf8_trim(x.msg); /* e's own text may have been cut inside a character */
    tr_utf8_trim(x.param);
    if (s->to == FG_DIALECT_OPENAI) /* Anthropic's error_code is the provider's own */
        snprintf(x.code, sizeof x.code, "%s", e->code);
    error_frame(s, &x, s->to, out);
}

/* ================================================= Anthropic → OpenAI */

static json_t *oa_chunk(struct fg_translate_stream *s, json_t *delta, const char *finish)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:o}]}", "id",
                          s->id ? s->id : "chatcmpl-", "object", "chat.completion.chunk", "created",
                          s->created, "model", s->model, "choices", "index", 0, "delta", delta,
                          "logprobs", "finish_reason", finish ? json_string(finish) : json_null());
    if (s->include_usage) /* with include_usage every chunk says usage: null */
        json_object_set_new(c, "usage", json_null());
    return c;
}

static void oa_start(struct fg_translate_stream *s, struct evbuffer *out)
{
    if (s->started)
        return;
    s->started = true;
    tr_sse_oa(out, oa_chunk(s, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL));
}

static void oa_finish(struct fg_translate_stream *s, const char *finish, struct evbuffer *out)
{
    if (s->finish_sent)
        return;
    s->finish_sent = true;
    tr_sse_oa(out, oa_chunk(s, json_object(), finish));
}

static void oa_close(struct fg_translate_stream *s, struct evbuffer *out)
{
    oa_start(s, out);
    oa_finish(s, "stop", out);
    if (s->include_usage) {
        json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", s->id ? s->id : "", "object",
                              "chat.completion.chunk", "created", s->created, "model", s->model,
                              "choices", "usage", tr_usage_oa(&s->u));
        tr_sse_oa(out, c);
    }
    evbuffer_add(out, "data: [DONE]\n\n", 14);
    s->closed = true;
}

/* Grow the per-block tables to hold index i. */
static int blk_reserve(struct fg_translate_stream *s, size_t i)
{
    if (i < s->nblk)
        return 0;
    if (i > 100000)
        return -1; /* no real message has that many blocks */
    size_t n = i + 8;
    FG_VEC_RESIZE(s->kind, n);
    FG_VEC_RESIZE(s->tool, n);
    memset(s->kind + s->nblk, K_SKIP, n - s->nblk);
    s->nblk = n;
    return 0;
}

static json_t *tool_delta(int index, json_t *fields)
{
    json_object_set_new(fields, "index", json_integer(index));
    return json_pack("{s:[o]}", "tool_calls", fields);
}

static void an_text(struct fg_translate_stream *s, const char *text, struct evbuffer *out)
{
    if (!text || !*text)
        return;
    s->any_output = true;
    tr_sse_oa(out, oa_chunk(s, json_pack("{s:s}", "content", text), NULL));
}

static int an_block_start(struct fg_translate_stream *s, const json_t *d, struct evbuffer *out)
{
    int64_t i;
    const json_t *cb = json_object_get(d, "content_block");
    const char *ty = tr_str(cb, "type");
    if (!tr_int(d, "index", &i) || i < 0 || blk_reserve(s, (size_t)i) < 0 || !ty)
        return -1;
    FG_DASSERT((size_t)i < s->nblk);
    if (!strcmp(ty, "text")) {
        s->kind[i] = K_TEXT;
        an_text(s, tr_str(cb, "text"), out);
    } else if (!strcmp(ty, "tool_use")) {
        const char *name = tr_str(cb, "name");
        if (s->forced && name && !strcmp(name, s->forced) && !s->forced_hit) {
            s->kind[i] = K_FORCED; /* its input streams as the JSON answer */
            s->forced_hit = true;
            return 0;
        }
        s->kind[i] = K_TOOL;
        s->tool[i] = s->n_tools++;
        s->any_output = true;
        json_t *f =
            json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", tr_str(cb, "id") ? tr_str(cb, "id") : "",
                      "type", "function", "function", "name", name ? name : "", "arguments", "");
        tr_sse_oa(out, oa_chunk(s, tool_delta(s->tool[i], f), NULL));
    }
    /* thinking, redacted_thinking, server tools: no OpenAI form */
    return 0;
}

static int an_block_delta(struct fg_translate_stream *s, const json_t *d, struct evbuffer *out)
{
    int64_t i;
    const json_t *delta = json_object_get(d, "delta");
    if (!tr_int(d, "index", &i) || i < 0 || !json_is_object(delta))
        return -1;
    enum blk_kind k = (size_t)i < s->nblk ? (enum blk_kind)s->kind[i] : K_SKIP;
    const char *text = tr_str(delta, "text"), *pj = tr_str(delta, "partial_json");
    if (k == K_TEXT)
        an_text(s, text, out);
    else if (k == K_FORCED)
        an_text(s, pj, out);
    else if (k == K_TOOL && pj && *pj)
        tr_sse_oa(
            out,
            oa_chunk(s, tool_delta(s->tool[i], json_pack("{s:{s:s}}", "function", "arguments", pj)),
                     NULL));
    return 0;
}

static void an_message_delta(struct fg_translate_stream *s, const json_t *d, struct evbuffer *out)
{
    const json_t *delta = json_object_get(d, "delta");
    const char *stop = tr_str(delta, "stop_reason");
    tr_usage_from_an(json_object_get(d, "usage"), &s->u);
    if (!stop)
        return;
    const char *finish = tr_finish_of_stop(stop);
    if (!strcmp(stop, "refusal") && !s->any_output) {
        /* say something in OpenAI's refusal field rather than nothing */
        const char *why = tr_str(json_object_get(delta, "stop_details"), "explanation");
        tr_sse_oa(out,
                  oa_chunk(s, json_pack("{s:s}", "refusal", why ? why : TR_REFUSAL_DEFAULT), NULL));
    }
    if (s->forced_hit && s->n_tools == 0 && !strcmp(finish, "tool_calls"))
        finish = "stop"; /* the client asked for JSON, and got it */
    oa_finish(s, finish, out);
}

static void an_message_start(struct fg_translate_stream *s, const json_t *d, struct evbuffer *out)
{
    const json_t *m = json_object_get(d, "message");
    free(s->id);
    s->id = dupcat("chatcmpl-", tr_str(m, "id"));
    tr_usage_from_an(json_object_get(m, "usage"), &s->u);
    oa_start(s, out);
}

static int an_event(struct fg_translate_stream *s, const char *name, const json_t *d,
                    struct evbuffer *out)
{
    if (!strcmp(name, "message_start")) {
        an_message_start(s, d, out);
        return 0;
    }
    if (!strcmp(name, "error")) {
        struct tr_error x = {0};
        tr_error_read(FG_DIALECT_ANTHROPIC, d, &x);
        x.status = tr_status_of_type(FG_DIALECT_ANTHROPIC, x.type);
        error_frame(s, &x, FG_DIALECT_ANTHROPIC, out);
        return 0;
    }
    oa_start(s, out); /* a stream missing message_start still gets its role chunk */
    if (!strcmp(name, "content_block_start"))
        return an_block_start(s, d, out);
    if (!strcmp(name, "content_block_delta"))
        return an_block_delta(s, d, out);
    if (!strcmp(name, "message_delta"))
        an_message_delta(s, d, out);
    else if (!strcmp(name, "message_stop"))
        oa_close(s, out);
    return 0; /* content_block_stop, ping, unknown names */
}

static int from_anthropic(struct fg_translate_stream *s, const struct fg_sse_event *ev,
                          struct evbuffer *out)
{
    if (!ev->data_len)
        return 0; /* the SDK drops events without data too */
    json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (!json_is_object(d)) {
        json_decref(d);
        return -1;
    }
    char name[64];
    if (ev->event_len)
        snprintf(name, sizeof name, "%.*s", (int)ev->event_len, ev->event);
    else
        snprintf(name, sizeof name, "%s", tr_str(d, "type") ? tr_str(d, "type") : "");
    int r = an_event(s, name, d, out);
    json_decref(d);
    return r;
}

/* ================================================= OpenAI → Anthropic */

static void an_start(struct fg_translate_stream *s, const char *chunk_id, struct evbuffer *out)
{
    if (s->started)
        return;
    s->started = true;
    free(s->id);
    s->id = dupcat("msg_", chunk_id);
    /* input counts are unknown until the usage chunk: 0 now, the real
     * numbers in message_delta (the SDK merges its usage fields) */
    struct tr_usage zero = {0};
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:[], s:n, s:n, s:n, s:n, s:n, s:o}", "id", s->id,
                            "type", "message", "role", "assistant", "model", s->model, "content",
                            "stop_reason", "stop_sequence", "stop_details", "container",
                            "diagnostics", "usage", tr_usage_an(&zero));
    tr_sse_an(out, "message_start",
              json_pack("{s:s, s:o}", "type", "message_start", "message", msg));
}

static void an_close_block(struct fg_translate_stream *s, struct evbuffer *out)
{
    if (s->open < 0)
        return;
    tr_sse_an(out, "content_block_stop",
              json_pack("{s:s, s:i}", "type", "content_block_stop", "index", s->open));
    s->open = -1;
}

static void an_open_block(struct fg_translate_stream *s, int kind, json_t *block,
                          struct evbuffer *out)
{
    an_close_block(s, out);
    s->open = s->next_block++;
    s->open_kind = kind;
    tr_sse_an(out, "content_block_start",
              json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", s->open,
                        "content_block", block));
}

static void an_delta(struct evbuffer *out, int index, json_t *delta)
{
    tr_sse_an(out, "content_block_delta",
              json_pack("{s:s, s:i, s:o}", "type", "content_block_delta", "index", index, "delta",
                        delta));
}

static void oa_text(struct fg_translate_stream *s, const char *text, struct evbuffer *out)
{
    if (!text || !*text)
        return;
    if (s->open < 0 || s->open_kind != K_TEXT)
        an_open_block(s, K_TEXT, json_pack("{s:s, s:s}", "type", "text", "text", ""),
                      out); /* no citations: null */
    an_delta(out, s->open, json_pack("{s:s, s:s}", "type", "text_delta", "text", text));
}

/* The Anthropic block of OpenAI tool index idx, or -1. */
static int *tool_slot(struct fg_translate_stream *s, int64_t idx)
{
    if (idx < 0 || idx > 10000)
        return NULL;
    if ((size_t)idx >= s->ntool) {
        size_t n = (size_t)idx + 4;
        FG_VEC_RESIZE(s->tool_block, n);
        for (size_t k = s->ntool; k < n; k++)
            s->tool_block[k] = -1;
        s->ntool = n;
    }
    FG_DASSERT((size_t)idx < s->ntool);
    return &s->tool_block[idx];
}

static int oa_tool_call(struct fg_translate_stream *s, const json_t *tc, struct evbuffer *out)
{
    int64_t idx = 0;
    tr_int(tc, "index", &idx);
    int *slot = tool_slot(s, idx);
    if (!slot)
        return -1;
    const json_t *fn = json_object_get(tc, "function");
    if (*slot < 0) {
        char fallback[32];
        snprintf(fallback, sizeof fallback, "call_%d", (int)idx);
        const char *name = tr_str(fn, "name");
        an_open_block(s, K_TOOL,
                      json_pack("{s:s, s:o, s:s, s:{}, s:{s:s}}", "type", "tool_use", "id",
                                tr_tool_id(tr_str(tc, "id"), fallback), "name", name ? name : "",
                                "input", "caller", "type", "direct"),
                      out);
        *slot = s->open;
    }
    const char *args = tr_str(fn, "arguments");
    if (args && *args) /* an interleaved call still lands on its own block */
        an_delta(out, *slot,
                 json_pack("{s:s, s:s}", "type", "input_json_delta", "partial_json", args));
    return 0;
}

static int oa_choice(struct fg_translate_stream *s, const json_t *ch, struct evbuffer *out)
{
    const json_t *delta = json_object_get(ch, "delta");
    const char *refusal = tr_str(delta, "refusal");
    size_t k;
    json_t *tc;
    oa_text(s, tr_str(delta, "content"), out);
    if (refusal && *refusal) {
        s->refused = true; /* Anthropic states refusals as text */
        oa_text(s, refusal, out);
    }
    json_array_foreach(json_object_get(delta, "tool_calls"), k,
                       tc) if (oa_tool_call(s, tc, out) < 0) return -1;
    const char *finish = tr_str(ch, "finish_reason");
    if (finish) {
        snprintf(s->stop, sizeof s->stop, "%s", tr_stop_of_finish(finish));
        an_close_block(s, out);
    }
    return 0;
}

static void an_finish(struct fg_translate_stream *s, struct evbuffer *out)
{
    an_start(s, "", out);
    an_close_block(s, out);
    const char *stop = s->refused ? "refusal" : s->stop[0] ? s->stop : "end_turn";
    json_t *details = !strcmp(stop, "refusal") ? json_pack("{s:s, s:n, s:n}", "type", "refusal",
                                                           "category", "explanation")
                                               : json_null();
    tr_sse_an(out, "message_delta",
              json_pack("{s:s, s:{s:s, s:n, s:o, s:n}, s:o}", "type", "message_delta", "delta",
                        "stop_reason", stop, "stop_sequence", "stop_details", details, "container",
                        "usage", tr_usage_an_delta(&s->u)));
    tr_sse_an(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
    s->closed = true;
}

static int from_openai(struct fg_translate_stream *s, const struct fg_sse_event *ev,
                       struct evbuffer *out)
{
    if (!ev->data_len)
        return 0;
    if (ev->data_len == 6 && !memcmp(ev->data, "[DONE]", 6)) {
        an_finish(s, out);
        return 0;
    }
    json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (!json_is_object(d)) {
        json_decref(d);
        return -1;
    }
    int r = 0;
    if (tr_has(d, "error")) {
        struct tr_error x = {0};
        tr_error_read(FG_DIALECT_OPENAI, d, &x);
        x.status = tr_status_of_type(FG_DIALECT_OPENAI, x.type);
        error_frame(s, &x, FG_DIALECT_OPENAI, out);
    } else {
        an_start(s, tr_str(d, "id"), out);
        size_t k;
        json_t *ch;
        json_array_foreach(json_object_get(d, "choices"), k,
                           ch) if (r == 0 && !json_integer_value(json_object_get(ch, "index"))) r =
            oa_choice(s, ch, out); /* frugal asks for one choice */
        if (r == 0 && tr_usage_oa_find(d)) {
            /* the usage chunk is the last before [DONE]: close the message */
            tr_usage_from_oa(tr_usage_oa_find(d), &s->u);
            an_finish(s, out);
        }
    }
    json_decref(d);
    return r;
}

/* ======================================================== both ways */

int fg_translate_stream_event(struct fg_translate_stream *s, const struct fg_sse_event *ev,
                              struct evbuffer *out)
{
    if (s->rs)
        return tr_rs_stream_event(s->rs, ev, out);
    if (s->closed)
        return 0;
    return s->from == FG_DIALECT_ANTHROPIC ? from_anthropic(s, ev, out) : from_openai(s, ev, out);
}

void fg_translate_stream_end(struct fg_translate_stream *s, bool done, struct evbuffer *out)
{
    if (s->rs) {
        tr_rs_stream_end(s->rs, done, out);
        return;
    }
    if (s->closed)
        return;
    if (!done) {
        /* a cut stream must not look like a complete answer */
        struct fg_err e = {.status = 502};
        snprintf(e.code, sizeof e.code, "upstream_reset");
        snprintf(e.msg, sizeof e.msg, "upstream provider ended the stream before it was complete");
        fg_translate_stream_fail(s, &e, out);
        return;
    }
    if (s->to == FG_DIALECT_OPENAI)
        oa_close(s, out);
    else
        an_finish(s, out);
}
