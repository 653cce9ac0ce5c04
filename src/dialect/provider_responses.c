/* provider_responses.c — the OpenAI Responses API dialect adapter.
 * Wire reference: shared/spec/providers-2.md section 1.
 *
 * Same wire dialect as Chat Completions (OpenAI providers, Bearer auth,
 * OpenAI error bodies); what differs is the request shape (input /
 * instructions / max_output_tokens / text.format), the stream (named
 * events with sequence numbers, no [DONE]: the stream ends after
 * response.completed, .incomplete or .failed) and the usage object
 * (usage.c: fg_usage_responses). */
#include "provider.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool opt_type(const struct fg_json *j, int v, enum fg_jtype t)
{
    return v < 0 || fg_json_type(j, v) == t || fg_json_type(j, v) == FG_J_NULL;
}

static int bad_type(struct fg_err *e, const char *key, const char *what)
{
    return fg_err_set(e, FG_E_INVALID, key, NULL, "Invalid type for '%s': expected %s.", key, what);
}

/* The fields frugal reads must have the types it expects; the rest is the
 * provider's to check. */
static int rs_validate(const struct fg_json *j, enum fg_endpoint ep, struct fg_err *e)
{
    (void)ep;
    int model = fg_json_get(j, 0, "model");
    if (model < 0)
        return fg_err_set(e, FG_E_INVALID, "model", NULL, "Missing required parameter: 'model'.");
    if (fg_json_type(j, model) != FG_J_STR)
        return bad_type(e, "model", "a string");
    int v = fg_json_get(j, 0, "stream");
    if (!(opt_type(j, v, FG_J_TRUE) || fg_json_type(j, v) == FG_J_FALSE))
        return bad_type(e, "stream", "a boolean");
    v = fg_json_get(j, 0, "store");
    if (!(opt_type(j, v, FG_J_TRUE) || fg_json_type(j, v) == FG_J_FALSE))
        return bad_type(e, "store", "a boolean");
    v = fg_json_get(j, 0, "input");
    if (!(opt_type(j, v, FG_J_STR) || fg_json_type(j, v) == FG_J_ARR))
        return bad_type(e, "input", "a string or an array of input items");
    if (!opt_type(j, fg_json_get(j, 0, "instructions"), FG_J_STR))
        return bad_type(e, "instructions", "a string");
    if (!opt_type(j, fg_json_get(j, 0, "previous_response_id"), FG_J_STR))
        return bad_type(e, "previous_response_id", "a string");
    if (!opt_type(j, fg_json_get(j, 0, "tools"), FG_J_ARR))
        return bad_type(e, "tools", "an array");
    if (!opt_type(j, fg_json_get(j, 0, "text"), FG_J_OBJ))
        return bad_type(e, "text", "an object");
    v = fg_json_get(j, 0, "max_output_tokens");
    int64_t x;
    if (v >= 0 && fg_json_type(j, v) != FG_J_NULL && (!fg_json_int(j, v, &x) || x < 1))
        return fg_err_set(e, FG_E_INVALID, "max_output_tokens", NULL,
                          "Invalid 'max_output_tokens': expected a positive integer.");
    return 0;
}

/* A mid-stream failure: the Responses `error` event (flat, as documented),
 * which the SDKs raise. */
static void rs_stream_error(const struct fg_err *e, struct evbuffer *out)
{
    json_t *j =
        json_pack("{s:s, s:o, s:s, s:o, s:i}", "type", "error", "code",
                  e->code[0] ? json_string(e->code) : json_null(), "message", e->msg, "param",
                  e->param[0] ? json_string(e->param) : json_null(), "sequence_number", 0);
    char *s = json_dumps(j, JSON_COMPACT);
    evbuffer_add_printf(out, "event: error\ndata: %s\n\n", s ? s : "{}");
    free(s);
    json_decref(j);
}

static bool event_is(const struct fg_sse_event *ev, const char *name)
{
    size_t n = strlen(name);
    return ev->event_len == n && !memcmp(ev->event, name, n);
}

/* The event's type: the `event:` line, or the payload's "type" when a
 * provider omits the line. */
static const char *ev_type(const struct fg_sse_event *ev, char *buf, size_t n)
{
    if (ev->event_len) {
        snprintf(buf, n, "%.*s", (int)ev->event_len, ev->event);
        return buf;
    }
    const char *p = memmem(ev->data, ev->data_len, "\"type\":\"", 8);
    buf[0] = '\0';
    if (p) {
        p += 8;
        const char *q = memchr(p, '"', ev->data_len - (size_t)(p - ev->data));
        if (q)
            snprintf(buf, n, "%.*s", (int)(q - p), p);
    }
    return buf;
}

static enum fg_sse_kind rs_classify(const struct fg_sse_event *ev, struct fg_json *scratch)
{
    (void)scratch;
    if (ev->data_len == 0)
        return FG_SSE_SKIP;
    char t[64];
    ev_type(ev, t, sizeof t);
    if (!strcmp(t, "error") || event_is(ev, "error"))
        return FG_SSE_ERROR;
    if (!strcmp(t, "response.completed") || !strcmp(t, "response.incomplete") ||
        !strcmp(t, "response.failed"))
        return FG_SSE_END;
    return FG_SSE_DATA;
}

static const char *rs_path(enum fg_endpoint ep)
{
    return fg_provider_openai.path(ep);
}

static void rs_upstream_headers(const struct fg_provider_cfg *p, const char *client_version,
                                struct curl_slist **h)
{
    fg_provider_openai.upstream_headers(p, client_version, h);
}

/* A Responses answer is a stored object with an id the client may build
 * on (previous_response_id), list, retrieve or delete: a cached copy would
 * hand two callers one id, or an id that was deleted since.  So only
 * stateless calls are cached (store: false, no previous_response_id or
 * conversation, not background), and only non-streamed ones (the cache
 * replays streams in Chat Completions' shape). */
static bool rs_cacheable(const struct fg_json *j, bool stream)
{
    return !stream && fg_json_type(j, fg_json_get(j, 0, "store")) == FG_J_FALSE &&
           fg_json_get(j, 0, "previous_response_id") < 0 && fg_json_get(j, 0, "conversation") < 0 &&
           fg_json_type(j, fg_json_get(j, 0, "background")) != FG_J_TRUE;
}

/* text.format is flat: {type: json_schema, name, schema, strict} */
static int rs_requested_schema(const struct fg_json *j, bool *any_object, int *tool)
{
    *tool = -1;
    int fmt = fg_json_get(j, fg_json_get(j, 0, "text"), "format"), t = fg_json_get(j, fmt, "type");
    if (fg_json_str_eq(j, t, "json_object"))
        *any_object = true;
    if (!fg_json_str_eq(j, t, "json_schema"))
        return -1;
    int s = fg_json_get(j, fmt, "schema");
    *any_object = s < 0;
    return s;
}

static json_t *rs_answer_slot(json_t *resp, bool tool, const char **key, bool *truncated)
{
    (void)tool;
    const char *reason =
        json_string_value(json_object_get(json_object_get(resp, "incomplete_details"), "reason"));
    *truncated = reason && !strcmp(reason, "max_output_tokens");
    *key = "text";
    size_t i, k;
    json_t *item, *part;
    json_array_foreach(json_object_get(resp, "output"), i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        if (!type || strcmp(type, "message"))
            continue;
        json_array_foreach(json_object_get(item, "content"), k, part)
        {
            const char *pt = json_string_value(json_object_get(part, "type"));
            if (pt && !strcmp(pt, "refusal"))
                return NULL;
            if (pt && !strcmp(pt, "output_text") && json_is_string(json_object_get(part, "text")))
                return part;
        }
    }
    return NULL;
}

static bool rs_wants_json(const struct fg_json *b)
{
    int t = fg_json_get(b, fg_json_get(b, fg_json_get(b, 0, "text"), "format"), "type");
    return fg_json_str_eq(b, t, "json_schema") || fg_json_str_eq(b, t, "json_object");
}

/* The output_text parts of a Response's output items. */
static void rs_answer_text(const struct fg_json *j, int resp, void (*fn)(void *arg, int str),
                           void *arg)
{
    int output = fg_json_get(j, resp, "output");
    for (int it = fg_json_child(j, output); it >= 0; it = fg_json_sibling(j, output, it)) {
        int content = fg_json_get(j, it, "content");
        for (int p = fg_json_child(j, content); p >= 0; p = fg_json_sibling(j, content, p))
            if (fg_json_str_eq(j, fg_json_get(j, p, "type"), "output_text"))
                fn(arg, fg_json_get(j, p, "text"));
    }
}

static const char *rs_shortfall(const struct fg_json *j)
{
    int why = fg_json_get(j, fg_json_get(j, 0, "incomplete_details"), "reason");
    if (fg_json_str_eq(j, why, "max_output_tokens"))
        return FG_SHORT_TRUNCATED;
    if (fg_json_str_eq(j, why, "content_filter"))
        return FG_SHORT_REFUSAL;
    int out = fg_json_get(j, 0, "output");
    for (int it = fg_json_child(j, out); it >= 0; it = fg_json_sibling(j, out, it)) {
        if (fg_json_str_eq(j, fg_json_get(j, it, "type"), "function_call"))
            return NULL;
        int content = fg_json_get(j, it, "content");
        for (int p = fg_json_child(j, content); p >= 0; p = fg_json_sibling(j, content, p)) {
            if (fg_json_str_eq(j, fg_json_get(j, p, "type"), "refusal"))
                return FG_SHORT_REFUSAL;
            size_t n = 0;
            int t = fg_json_get(j, p, "text");
            if (fg_json_type(j, t) == FG_J_STR)
                fg_json_raw_str(j, t, &n);
            if (n > 0)
                return NULL;
        }
    }
    return FG_SHORT_EMPTY;
}

/* An event's type: its `event:` line, or (a provider that sends none) the
 * payload's leading "type". */
static bool rs_event_is(const struct fg_sse_event *ev, const char *type)
{
    if (ev->event_len)
        return event_is(ev, type);
    char pat[96];
    int n = snprintf(pat, sizeof pat, "\"type\":\"%s\"", type);
    return n > 0 && (size_t)n < sizeof pat && memmem(ev->data, ev->data_len, pat, (size_t)n);
}

/* Usage arrives once, in the terminal event's response; a structured
 * answer's text in the output_text deltas. */
static bool rs_stream_read(const struct fg_sse_event *ev, bool want_text, struct fg_json *j,
                           struct fg_stream_read *r)
{
    bool text = want_text && rs_event_is(ev, "response.output_text.delta");
    bool end = rs_event_is(ev, "response.completed") || rs_event_is(ev, "response.incomplete") ||
               rs_event_is(ev, "response.failed");
    if (!text && !end)
        return false;
    if (fg_json_parse(j, ev->data, ev->data_len) < 0)
        return false;
    if (text)
        r->text[0] = fg_json_get(j, 0, "delta");
    else
        r->usage = fg_json_get(j, fg_json_get(j, 0, "response"), "usage");
    return true;
}

static void rs_held_look(const struct fg_sse_event *ev, const char **why, bool *content)
{
    if (fg_provider_has_text(ev, "\"type\":\"response.refusal.delta\""))
        *why = FG_SHORT_REFUSAL;
    else if ((fg_provider_has_text(ev, "\"type\":\"response.output_text.delta\"") &&
              fg_provider_nonempty_str(ev, "\"delta\":")) ||
             (fg_provider_has_text(ev, "\"type\":\"response.output_item.added\"") &&
              fg_provider_has_text(ev, "\"type\":\"function_call\"")))
        *content = !*why;
    if (fg_provider_has_text(ev, "\"reason\":\"max_output_tokens\""))
        *why = *why ? *why : FG_SHORT_TRUNCATED;
}

static const char *const rs_forward[] = {"openai-beta", "traceparent", "tracestate", NULL};

/* Same wire dialect as Chat Completions; the facts kept equal to Chat
 * Completions' (n, cache_mark) are those the modules always applied to
 * every OpenAI-wire body. */
const struct fg_dialect_ops fg_provider_responses = {
    .dialect = FG_DIALECT_OPENAI,
    .shape = FG_DIALECT_RESPONSES,
    .name = "openai-responses",
    .title = "OpenAI Responses",
    .req = {.messages = "input",
            .items = true,
            .system = "instructions",
            .n = "n",
            .cache_mark = "prompt_cache_breakpoint"},
    .cache = {.automatic = true, .granule = 128, .min_tokens = 1024, .batch_off = true},
    .validate = rs_validate,
    .wants_json = rs_wants_json,
    .requested_schema = rs_requested_schema,
    .answer_slot = rs_answer_slot,
    .cacheable = rs_cacheable,
    .error_body = fg_provider_openai_error_body,
    .stream_error = rs_stream_error,
    .classify = rs_classify,
    .path = rs_path,
    .upstream_headers = rs_upstream_headers,
    .forward_headers = rs_forward,
    .request_id_header = "x-request-id",
    /* no replay: a streamed Responses call is never answered from the
     * cache (cacheable) */
    .replay = NULL,
    .model_entry = fg_provider_openai_model_entry,
    .model_list = fg_provider_openai_model_list,
    /* a Responses stream ends after response.completed: no terminator line */
    .stream_terminator = NULL,
    .end_event_has_data = true, /* response.completed carries the Response */
    .usage = fg_usage_responses,
    .answer_text = rs_answer_text,
    .shortfall = rs_shortfall,
    .stream_read = rs_stream_read,
    .held_look = rs_held_look,
};
