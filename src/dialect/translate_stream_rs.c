/* translate_stream_rs.c — a Chat Completions or Anthropic stream → OpenAI
 * Responses stream events (a Responses client served by a provider
 * without the Responses API).
 * Wire reference: shared/spec/providers-2.md sections 1.5 and 2.3.
 *
 * Events go out in the order the SDK's ResponseStream checks:
 * response.created, response.in_progress, then per output item
 * output_item.added → (content_part.added → output_text.delta… →
 * output_text.done → content_part.done | function_call_arguments.delta… →
 * .done) → output_item.done, and last response.completed / .incomplete
 * (with every item and the usage), or error + response.failed when the
 * upstream stream fails or is cut.  sequence_number counts every event.
 *
 * An Anthropic stream goes through the Chat translator first
 * (translate_stream.c, as requests and answers do): its frames are parsed
 * back into events here.  The answer text is kept (the final event repeats
 * every item in full), so memory grows with the answer, as the Response
 * object does. */
#include "translate_internal.h"

#include "arena.h"
#include "assert.h"
#include "vec.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RS_MAX_EVENT (16u << 20) /* one frame of the inner Chat stream */

enum part_kind { P_NONE, P_TEXT, P_REFUSAL };

/* Text that grows by deltas (amortised O(1) per byte); NUL-terminated. */
struct rs_text {
    char *s;
    size_t len, cap;
};

static void text_add(struct rs_text *t, const char *p)
{
    size_t n = strlen(p);
    FG_VEC_RESERVE(t->s, t->len + n + 1, t->cap);
    memcpy(t->s + t->len, p, n + 1);
    t->len += n;
}

static const char *text_of(const struct rs_text *t)
{
    return t->s ? t->s : "";
}

struct rs_call {
    int64_t chat_index; /* the Chat tool_calls[].index */
    int out_index;
    char *id, *call_id, *name;
    struct rs_text args; /* the arguments so far */
    bool done;
};

struct tr_rs_stream {
    struct fg_translate_stream *inner; /* Anthropic → Chat, or NULL */
    struct fg_sse sse;                 /* the inner stream's frames */
    struct evbuffer *out;              /* where the current event writes */
    char *model, *id;
    json_int_t created;
    int seq;
    bool started, closed;
    json_t *output; /* finished items, in output_index order */
    json_t *echo;   /* request fields every response object repeats, or NULL */
    int n_items;
    /* the open message item (-1: none), its open part */
    int msg_index, part_index;
    enum part_kind part;
    char *msg_id;
    json_t *parts;      /* finished parts of the open message */
    struct rs_text acc; /* the open part's text so far */
    struct rs_call *calls;
    size_t ncalls, calls_cap;
    struct tr_usage u;
    bool usage_seen;
    char finish[32];
};

/* ------------------------------------------------------------- framing */

/* Takes ownership of data; adds type and sequence_number.  A NULL data (a
 * pack that failed) still makes a well-formed event: the sequence stays whole. */
static void emit(struct tr_rs_stream *s, struct evbuffer *out, const char *type, json_t *data)
{
    if (!data)
        data = json_object();
    json_object_set_new(data, "type", json_string(type));
    json_object_set_new(data, "sequence_number", json_integer(s->seq++));
    evbuffer_add_printf(out, "event: %s\ndata: ", type);
    tr_dump_to(data, out);
    evbuffer_add(out, "\n\n", 2);
    json_decref(data);
}

static json_t *response_obj(struct tr_rs_stream *s, const char *status, const char *incomplete,
                            bool with_usage)
{
    json_t *r = tr_rs_response(s->id ? s->id : "resp_0", s->model, s->created, status, incomplete,
                               json_deep_copy(s->output),
                               with_usage && s->usage_seen ? tr_usage_rs(&s->u) : NULL);
    if (s->echo)
        json_object_update(r, s->echo);
    return r;
}

static void start(struct tr_rs_stream *s, const char *upstream_id, struct evbuffer *out)
{
    if (s->started)
        return;
    s->started = true;
    if (!s->id)
        s->id = tr_rs_id("resp_", upstream_id);
    emit(s, out, "response.created",
         json_pack("{s:o}", "response", response_obj(s, "in_progress", NULL, false)));
    emit(s, out, "response.in_progress",
         json_pack("{s:o}", "response", response_obj(s, "in_progress", NULL, false)));
}

/* ------------------------------------------------------------ messages */

static json_t *part_doc(enum part_kind k, const char *text)
{
    if (k == P_REFUSAL)
        return json_pack("{s:s, s:s}", "type", "refusal", "refusal", text);
    return json_pack("{s:s, s:s, s:[], s:[]}", "type", "output_text", "text", text, "annotations",
                     "logprobs");
}

static json_t *ids(struct tr_rs_stream *s, const char *item_id, int out_index)
{
    return json_pack("{s:s, s:i}", "item_id", item_id, "output_index", out_index);
}

static void close_part(struct tr_rs_stream *s, struct evbuffer *out)
{
    if (s->part == P_NONE)
        return;
    const char *text = text_of(&s->acc);
    json_t *d = ids(s, s->msg_id, s->msg_index);
    json_object_set_new(d, "content_index", json_integer(s->part_index));
    if (s->part == P_TEXT) {
        json_t *td = json_deep_copy(d);
        json_object_set_new(td, "text", json_string(text));
        json_object_set_new(td, "logprobs", json_array());
        emit(s, out, "response.output_text.done", td);
    } else {
        json_t *rd = json_deep_copy(d);
        json_object_set_new(rd, "refusal", json_string(text));
        emit(s, out, "response.refusal.done", rd);
    }
    json_t *p = part_doc(s->part, text);
    json_object_set(d, "part", p);
    emit(s, out, "response.content_part.done", d);
    json_array_append_new(s->parts, p);
    s->acc.len = 0;
    if (s->acc.s)
        s->acc.s[0] = '\0';
    s->part = P_NONE;
    s->part_index++;
}

static json_t *message_doc(struct tr_rs_stream *s, const char *status, json_t *content)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "message", "id", s->msg_id, "role",
                     "assistant", "status", status, "content", content);
}

static void close_message(struct tr_rs_stream *s, const char *status, struct evbuffer *out)
{
    if (s->msg_index < 0)
        return;
    close_part(s, out);
    json_t *item = message_doc(s, status, json_deep_copy(s->parts));
    emit(s, out, "response.output_item.done",
         json_pack("{s:i, s:O}", "output_index", s->msg_index, "item", item));
    json_array_append_new(s->output, item);
    json_decref(s->parts);
    s->parts = NULL;
    free(s->msg_id);
    s->msg_id = NULL;
    s->msg_index = -1;
}

static void close_calls(struct tr_rs_stream *s, const char *status, struct evbuffer *out);

static void open_part(struct tr_rs_stream *s, enum part_kind k, struct evbuffer *out)
{
    if (s->msg_index < 0) {
        close_calls(s, "completed", out);
        s->msg_index = s->n_items++;
        char idx[24];
        snprintf(idx, sizeof idx, "%d", s->msg_index);
        char *base = tr_rs_id("", s->id + 5); /* the id without "resp_" */
        size_t n = strlen(base) + 32;
        s->msg_id = fg_xmalloc(n);
        snprintf(s->msg_id, n, "msg_%s_%s", base, idx);
        free(base);
        s->parts = json_array();
        s->part_index = 0;
        emit(s, out, "response.output_item.added",
             json_pack("{s:i, s:o}", "output_index", s->msg_index, "item",
                       message_doc(s, "in_progress", json_array())));
    }
    if (s->part == k)
        return;
    close_part(s, out);
    s->part = k;
    json_t *d = ids(s, s->msg_id, s->msg_index);
    json_object_set_new(d, "content_index", json_integer(s->part_index));
    json_object_set_new(d, "part", part_doc(k, ""));
    emit(s, out, "response.content_part.added", d);
}

static void text_delta(struct tr_rs_stream *s, enum part_kind k, const char *delta,
                       struct evbuffer *out)
{
    if (!delta || !*delta)
        return;
    open_part(s, k, out);
    text_add(&s->acc, delta);
    json_t *d = ids(s, s->msg_id, s->msg_index);
    json_object_set_new(d, "content_index", json_integer(s->part_index));
    json_object_set_new(d, "delta", json_string(delta));
    if (k == P_TEXT)
        json_object_set_new(d, "logprobs", json_array());
    emit(s, out, k == P_TEXT ? "response.output_text.delta" : "response.refusal.delta", d);
}

/* ---------------------------------------------------------- tool calls */

static json_t *call_doc(const struct rs_call *c, const char *status)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "function_call", "id", c->id,
                     "call_id", c->call_id, "name", c->name, "arguments", text_of(&c->args),
                     "status", status);
}

static void close_call(struct tr_rs_stream *s, struct rs_call *c, const char *status,
                       struct evbuffer *out)
{
    if (c->done)
        return;
    c->done = true;
    json_t *d = ids(s, c->id, c->out_index);
    json_object_set_new(d, "arguments", json_string(text_of(&c->args)));
    json_object_set_new(d, "name", json_string(c->name));
    emit(s, out, "response.function_call_arguments.done", d);
    json_t *item = call_doc(c, status);
    emit(s, out, "response.output_item.done",
         json_pack("{s:i, s:O}", "output_index", c->out_index, "item", item));
    json_array_append_new(s->output, item);
}

static void close_calls(struct tr_rs_stream *s, const char *status, struct evbuffer *out)
{
    for (size_t i = 0; i < s->ncalls; i++)
        close_call(s, &s->calls[i], status, out);
}

static struct rs_call *call_of(struct tr_rs_stream *s, int64_t idx)
{
    for (size_t i = 0; i < s->ncalls; i++)
        if (s->calls[i].chat_index == idx)
            return &s->calls[i];
    return NULL;
}

static int open_call(struct tr_rs_stream *s, int64_t idx, const json_t *tc, struct evbuffer *out)
{
    const char *id = tr_str(tc, "id"), *name = tr_str(json_object_get(tc, "function"), "name");
    if (!id || !*id || !name)
        return -1; /* a call's first delta names it */
    /* other calls stay open: a provider may interleave their arguments */
    close_message(s, "completed", out);
    FG_VEC_RESERVE(s->calls, s->ncalls + 1, s->calls_cap);
    struct rs_call *c = &s->calls[s->ncalls++];
    *c = (struct rs_call){.chat_index = idx,
                          .out_index = s->n_items++,
                          .call_id = fg_xstrdup(id),
                          .name = fg_xstrdup(name)};
    c->id = tr_rs_id("fc_", id);
    emit(s, out, "response.output_item.added",
         json_pack("{s:i, s:o}", "output_index", c->out_index, "item", call_doc(c, "in_progress")));
    return 0;
}

static int tool_delta(struct tr_rs_stream *s, const json_t *tc, struct evbuffer *out)
{
    int64_t idx = 0;
    tr_int(tc, "index", &idx);
    struct rs_call *c = call_of(s, idx);
    if ((!c || c->done) && open_call(s, idx, tc, out) < 0)
        return -1;
    c = call_of(s, idx);
    const char *piece = tr_str(json_object_get(tc, "function"), "arguments");
    if (!piece || !*piece || c->done)
        return 0;
    text_add(&c->args, piece);
    json_t *d = ids(s, c->id, c->out_index);
    json_object_set_new(d, "delta", json_string(piece));
    emit(s, out, "response.function_call_arguments.delta", d);
    return 0;
}

/* ------------------------------------------------------------- the end */

static void finish(struct tr_rs_stream *s, struct evbuffer *out)
{
    start(s, NULL, out);
    const char *incomplete = tr_rs_incomplete(s->finish[0] ? s->finish : NULL);
    const char *item_status = incomplete ? "incomplete" : "completed";
    close_message(s, item_status, out);
    close_calls(s, item_status, out);
    const char *status = incomplete ? "incomplete" : "completed";
    emit(s, out, incomplete ? "response.incomplete" : "response.completed",
         json_pack("{s:o}", "response", response_obj(s, status, incomplete, true)));
    s->closed = true;
}

static void fail(struct tr_rs_stream *s, struct tr_error *x, struct evbuffer *out)
{
    tr_utf8_trim(x->msg);
    tr_utf8_trim(x->code);
    tr_utf8_trim(x->param);
    start(s, NULL, out);
    const char *code = x->code[0]         ? x->code
                       : x->status == 429 ? "rate_limit_exceeded"
                                          : "server_error";
    emit(s, out, "error",
         json_pack("{s:s, s:s, s:o}", "code", code, "message", x->msg, "param",
                   x->param[0] ? json_string(x->param) : json_null()));
    json_t *r = response_obj(s, "failed", NULL, true);
    json_object_set_new(r, "error", json_pack("{s:s, s:s}", "code", code, "message", x->msg));
    emit(s, out, "response.failed", json_pack("{s:o}", "response", r));
    s->closed = true;
}

/* ------------------------------------------------------- Chat events */

static int choice(struct tr_rs_stream *s, const json_t *ch, struct evbuffer *out)
{
    const json_t *delta = json_object_get(ch, "delta");
    text_delta(s, P_TEXT, tr_str(delta, "content"), out);
    text_delta(s, P_REFUSAL, tr_str(delta, "refusal"), out);
    size_t k;
    json_t *tc;
    json_array_foreach(json_object_get(delta, "tool_calls"), k,
                       tc) if (tool_delta(s, tc, out) < 0) return -1;
    const char *f = tr_str(ch, "finish_reason");
    if (f)
        snprintf(s->finish, sizeof s->finish, "%s", f);
    return 0;
}

static int chat_event(struct tr_rs_stream *s, const struct fg_sse_event *ev, struct evbuffer *out)
{
    if (s->closed || !ev->data_len)
        return 0;
    if (ev->data_len == 6 && !memcmp(ev->data, "[DONE]", 6)) {
        finish(s, out);
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
        fail(s, &x, out);
    } else {
        start(s, tr_str(d, "id"), out);
        size_t k;
        json_t *ch;
        json_array_foreach(json_object_get(d, "choices"), k,
                           ch) if (r == 0 && !json_integer_value(json_object_get(ch, "index"))) r =
            choice(s, ch, out);
        if (tr_usage_oa_find(d)) {
            tr_usage_from_oa(tr_usage_oa_find(d), &s->u);
            s->usage_seen = true;
        }
    }
    json_decref(d);
    return r;
}

/* ------------------------------------------------ the inner Anthropic */

static int inner_cb(void *arg, const struct fg_sse_event *ev)
{
    struct tr_rs_stream *s = arg;
    return chat_event(s, ev, s->out);
}

/* What the inner translator wrote to tmp, through to the Responses side. */
static int pump(struct tr_rs_stream *s, struct evbuffer *tmp, struct evbuffer *out)
{
    size_t n = evbuffer_get_length(tmp);
    s->out = out;
    int r = n ? fg_sse_feed(&s->sse, (const char *)evbuffer_pullup(tmp, -1), n, inner_cb, s) : 0;
    evbuffer_drain(tmp, n);
    return r;
}

/* --------------------------------------------------------------- API */

struct tr_rs_stream *tr_rs_stream_new(enum fg_dialect from, const char *client_model)
{
    struct tr_rs_stream *s = fg_xcalloc(1, sizeof *s);
    s->model = fg_xstrdup(client_model ? client_model : "");
    s->created = (json_int_t)time(NULL);
    s->output = json_array();
    s->msg_index = -1;
    if (from == FG_DIALECT_ANTHROPIC) {
        s->inner =
            fg_translate_stream_new(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, client_model, true);
        fg_sse_init(&s->sse, RS_MAX_EVENT);
    }
    return s;
}

void tr_rs_stream_forced_tool(struct tr_rs_stream *s, const char *name)
{
    if (s->inner)
        fg_translate_stream_forced_tool(s->inner, name);
}

void tr_rs_stream_echo(struct tr_rs_stream *s, json_t *echo)
{
    json_decref(s->echo);
    s->echo = echo;
}

int tr_rs_stream_event(struct tr_rs_stream *s, const struct fg_sse_event *ev, struct evbuffer *out)
{
    if (s->closed)
        return 0;
    if (!s->inner)
        return chat_event(s, ev, out);
    struct evbuffer *tmp = evbuffer_new();
    int r = fg_translate_stream_event(s->inner, ev, tmp);
    if (pump(s, tmp, out) < 0)
        r = -1;
    evbuffer_free(tmp);
    return r;
}

void tr_rs_stream_end(struct tr_rs_stream *s, bool done, struct evbuffer *out)
{
    if (s->closed)
        return;
    if (s->inner) {
        struct evbuffer *tmp = evbuffer_new();
        fg_translate_stream_end(s->inner, done, tmp);
        pump(s, tmp, out);
        evbuffer_free(tmp);
    }
    if (s->closed)
        return;
    if (done) {
        finish(s, out);
        return;
    }
    struct tr_error x = {.status = 502};
    snprintf(x.code, sizeof x.code, "upstream_reset");
    snprintf(x.msg, sizeof x.msg, "upstream provider ended the stream before it was complete");
    fail(s, &x, out);
}

void tr_rs_stream_fail(struct tr_rs_stream *s, const struct fg_err *e, struct evbuffer *out)
{
    if (s->closed)
        return;
    struct tr_error x = {.status = e->status ? e->status : 502};
    snprintf(x.msg, sizeof x.msg, "%s", e->msg);
    snprintf(x.param, sizeof x.param, "%s", e->param);
    snprintf(x.code, sizeof x.code, "%s", e->code);
    fail(s, &x, out);
}

bool tr_rs_stream_closed(const struct tr_rs_stream *s)
{
    return s->closed;
}

void tr_rs_stream_free(struct tr_rs_stream *s)
{
    if (!s)
        return;
    fg_translate_stream_free(s->inner);
    if (s->inner)
        fg_sse_free(&s->sse);
    for (size_t i = 0; i < s->ncalls; i++) {
        free(s->calls[i].id);
        free(s->calls[i].call_id);
        free(s->calls[i].name);
        free(s->calls[i].args.s);
    }
    free(s->calls);
    free(s->model);
    free(s->id);
    free(s->msg_id);
    json_decref(s->output);
    json_decref(s->echo);
    json_decref(s->parts);
    free(s->acc.s);
    free(s);
}
