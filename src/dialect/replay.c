/* replay.c — a complete answer replayed as its dialect's stream (replay.h).
 * Moved out of the response cache: the stream's shape is the dialect's. */
#include "replay.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

/* Append one frame (event name NULL: OpenAI's data-only frame); steals data. */
static void frame(struct evbuffer *out, const char *event, json_t *data)
{
    char *s = json_dumps(data, DUMP_FLAGS);
    if (!s)
        abort(); /* only on OOM: the tree is ours */
    if (event)
        evbuffer_add_printf(out, "event: %s\n", event);
    evbuffer_add(out, "data: ", 6);
    evbuffer_add(out, s, strlen(s));
    evbuffer_add(out, "\n\n", 2);
    free(s);
    json_decref(data);
}

/* A copy of member key of obj, or JSON null. */
static json_t *member_or_null(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v ? json_incref(v) : json_null();
}

static bool nonempty_str(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

/* ------------------------------------------------------------- OpenAI */

struct oa_stream {
    const json_t *resp;
    bool include_usage;
    struct evbuffer *out;
};

static json_t *oa_chunk(const struct oa_stream *s, json_t *choices)
{
    json_t *c = json_pack("{s:o, s:s, s:o, s:o}", "id", member_or_null(s->resp, "id"), "object",
                          "chat.completion.chunk", "created", member_or_null(s->resp, "created"),
                          "model", member_or_null(s->resp, "model"));
    static const char *const echo[] = {"service_tier", "system_fingerprint"};
    for (size_t k = 0; k < 2; k++)
        if (json_object_get(s->resp, echo[k]))
            json_object_set_new(c, echo[k], member_or_null(s->resp, echo[k]));
    json_object_set_new(c, "choices", choices);
    if (s->include_usage) /* with include_usage every chunk says usage: null */
        json_object_set_new(c, "usage", json_null());
    return c;
}

/* One chunk for choice `index` with this delta (stolen). */
static void oa_delta(const struct oa_stream *s, json_t *index, json_t *delta, json_t *logprobs,
                     json_t *finish)
{
    json_t *ch = json_pack("{s:O, s:o, s:o, s:o}", "index", index, "delta", delta, "logprobs",
                           logprobs ? logprobs : json_null(), "finish_reason",
                           finish ? finish : json_null());
    frame(s->out, NULL, oa_chunk(s, json_pack("[o]", ch)));
}

/* A tool call as its opening fragment (arguments/input "") and the rest. */
static void oa_tool_call(const struct oa_stream *s, json_t *index, size_t k, const json_t *tc)
{
    const char *type = json_string_value(json_object_get(tc, "type"));
    bool custom = type && !strcmp(type, "custom");
    const char *field = custom ? "custom" : "function", *arg = custom ? "input" : "arguments";
    const json_t *fn = json_object_get(tc, field);
    json_t *rest = json_object_get(fn, arg);
    oa_delta(s, index,
             json_pack("{s:[{s:I, s:o, s:s, s:{s:o, s:s}}]}", "tool_calls", "index", (json_int_t)k,
                       "id", member_or_null(tc, "id"), "type", field, field, "name",
                       member_or_null(fn, "name"), arg, ""),
             NULL, NULL);
    if (nonempty_str(rest))
        oa_delta(s, index,
                 json_pack("{s:[{s:I, s:{s:O}}]}", "tool_calls", "index", (json_int_t)k, field, arg,
                           rest),
                 NULL, NULL);
}

static void oa_choice(const struct oa_stream *s, const json_t *ch)
{
    json_t *index = json_object_get(ch, "index"), *idx = index ? index : json_integer(0);
    const json_t *msg = json_object_get(ch, "message");
    json_t *content = json_object_get(msg, "content"), *refusal = json_object_get(msg, "refusal");
    json_t *lp = json_object_get(ch, "logprobs"), *tc;
    size_t k;
    /* the role chunk: content "" when there is text, null otherwise (tool calls) */
    oa_delta(s, idx,
             json_pack("{s:s, s:o, s:n}", "role", "assistant", "content",
                       json_is_string(content) ? json_string("") : json_null(), "refusal"),
             NULL, NULL);
    if (nonempty_str(content))
        oa_delta(s, idx, json_pack("{s:O}", "content", content), lp ? json_incref(lp) : NULL, NULL);
    if (nonempty_str(refusal))
        oa_delta(s, idx, json_pack("{s:O}", "refusal", refusal), NULL, NULL);
    json_array_foreach(json_object_get(msg, "tool_calls"), k, tc) oa_tool_call(s, idx, k, tc);
    if (json_is_object(json_object_get(msg, "function_call")))
        oa_delta(s, idx, json_pack("{s:O}", "function_call", json_object_get(msg, "function_call")),
                 NULL, NULL);
    json_t *finish = json_object_get(ch, "finish_reason");
    oa_delta(s, idx, json_object(), NULL, finish ? json_incref(finish) : json_string("stop"));
    if (!index)
        json_decref(idx);
}

static bool oa_valid(const json_t *r)
{
    const json_t *choices = json_object_get(r, "choices"), *ch;
    size_t k;
    if (!json_is_object(r) || !json_is_array(choices))
        return false;
    json_array_foreach(choices, k, ch) if (!json_is_object(ch) || !json_is_object(json_object_get(
                                                                      ch, "message"))) return false;
    return true;
}

static void oa_sse(const json_t *r, bool include_usage, struct evbuffer *out)
{
    struct oa_stream s = {.resp = r, .include_usage = include_usage, .out = out};
    const json_t *ch;
    size_t k;
    json_array_foreach(json_object_get(r, "choices"), k, ch) oa_choice(&s, ch);
    json_t *usage = json_object_get(r, "usage");
    if (include_usage && json_is_object(usage)) {
        json_t *c = oa_chunk(&s, json_array());
        json_object_set(c, "usage", usage);
        frame(out, NULL, c);
    }
    evbuffer_add(out, "data: [DONE]\n\n", 14);
}

/* ---------------------------------------------------------- Anthropic */

/* An Anthropic event: "type" first, then the fields of data (stolen). */
static void an_frame(struct evbuffer *out, const char *type, json_t *data)
{
    json_t *ev = json_pack("{s:s}", "type", type);
    json_object_update(ev, data);
    json_decref(data);
    frame(out, type, ev);
}

static void an_delta(struct evbuffer *out, size_t i, json_t *delta)
{
    an_frame(out, "content_block_delta",
             json_pack("{s:I, s:o}", "index", (json_int_t)i, "delta", delta));
}

/* The block's opening form; deltas are appended to `deltas` (stolen). */
static json_t *an_block_open(const json_t *b, json_t *deltas)
{
    json_t *start = json_copy((json_t *)b);
    const char *type = json_string_value(json_object_get(b, "type"));
    json_t *v, *c;
    size_t k;
    if (!strcmp(type, "text")) {
        if (nonempty_str(v = json_object_get(b, "text")))
            json_array_append_new(deltas, json_pack("{s:s, s:O}", "type", "text_delta", "text", v));
        json_object_set_new(start, "text", json_string(""));
        if (json_is_array(c = json_object_get(b, "citations"))) {
            json_object_set_new(start, "citations", json_array());
            json_array_foreach(c, k, v) json_array_append_new(
                deltas, json_pack("{s:s, s:O}", "type", "citations_delta", "citation", v));
        }
    } else if (!strcmp(type, "thinking")) {
        if (nonempty_str(v = json_object_get(b, "thinking")))
            json_array_append_new(deltas,
                                  json_pack("{s:s, s:O}", "type", "thinking_delta", "thinking", v));
        if (nonempty_str(v = json_object_get(b, "signature")))
            json_array_append_new(
                deltas, json_pack("{s:s, s:O}", "type", "signature_delta", "signature", v));
        json_object_set_new(start, "thinking", json_string(""));
        json_object_set_new(start, "signature", json_string(""));
    } else if (json_is_object(v = json_object_get(b, "input"))) { /* tool_use and kin */
        if (json_object_size(v)) {
            char *s = json_dumps(v, DUMP_FLAGS);
            json_array_append_new(
                deltas, json_pack("{s:s, s:s}", "type", "input_json_delta", "partial_json", s));
            free(s);
        }
        json_object_set_new(start, "input", json_object());
    }
    return start; /* anything else arrives whole in its start */
}

static void an_block(struct evbuffer *out, size_t i, const json_t *b)
{
    json_t *deltas = json_array(), *d;
    size_t k;
    json_t *start = an_block_open(b, deltas);
    an_frame(out, "content_block_start",
             json_pack("{s:I, s:o}", "index", (json_int_t)i, "content_block", start));
    json_array_foreach(deltas, k, d) an_delta(out, i, json_incref(d));
    json_decref(deltas);
    an_frame(out, "content_block_stop", json_pack("{s:I}", "index", (json_int_t)i));
}

static void an_start(struct evbuffer *out, const json_t *r)
{
    json_t *m = json_copy((json_t *)r);
    json_object_set_new(m, "content", json_array());
    static const char *const nulls[] = {"stop_reason", "stop_sequence", "stop_details"};
    for (size_t k = 0; k < 3; k++)
        json_object_set_new(m, nulls[k], json_null());
    an_frame(out, "message_start", json_pack("{s:o}", "message", m));
}

static void an_finish(struct evbuffer *out, const json_t *r)
{
    static const char *const ukeys[] = {
        "input_tokens",  "cache_creation_input_tokens", "cache_read_input_tokens",
        "output_tokens", "output_tokens_details",       "server_tool_use"};
    const json_t *u = json_object_get(r, "usage");
    json_t *usage = json_object();
    for (size_t k = 0; k < sizeof ukeys / sizeof *ukeys; k++)
        if (json_object_get(u, ukeys[k]))
            json_object_set(usage, ukeys[k], json_object_get(u, ukeys[k]));
    json_t *delta = json_pack("{s:o, s:o, s:o}", "stop_reason", member_or_null(r, "stop_reason"),
                              "stop_sequence", member_or_null(r, "stop_sequence"), "stop_details",
                              member_or_null(r, "stop_details"));
    if (json_object_get(r, "container"))
        json_object_set(delta, "container", json_object_get(r, "container"));
    an_frame(out, "message_delta", json_pack("{s:o, s:o}", "delta", delta, "usage", usage));
    an_frame(out, "message_stop", json_object());
}

static bool an_valid(const json_t *r)
{
    const json_t *content = json_object_get(r, "content"), *b;
    const char *type = json_string_value(json_object_get(r, "type"));
    size_t k;
    if (!json_is_object(r) || !type || strcmp(type, "message") || !json_is_array(content))
        return false;
    json_array_foreach(content, k, b) if (!json_is_string(json_object_get(b, "type"))) return false;
    return true;
}

static void an_sse(const json_t *r, struct evbuffer *out)
{
    const json_t *b;
    size_t k;
    an_start(out, r);
    json_array_foreach(json_object_get(r, "content"), k, b) an_block(out, k, b);
    an_finish(out, r);
}

int fg_replay_openai(const json_t *r, bool include_usage, struct evbuffer *out)
{
    if (!oa_valid(r))
        return -1;
    oa_sse(r, include_usage, out);
    return 0;
}

int fg_replay_anthropic(const json_t *r, bool include_usage, struct evbuffer *out)
{
    (void)include_usage; /* Anthropic streams always carry usage */
    if (!an_valid(r))
        return -1;
    an_sse(r, out);
    return 0;
}
