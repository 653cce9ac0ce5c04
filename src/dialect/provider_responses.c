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
static int rs_validate(const struct fg_call *c, struct fg_err *e)
{
    const struct fg_json *j = &c->body;
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

static void rs_upstream_headers(const struct fg_call *c, struct curl_slist **h)
{
    fg_provider_openai.upstream_headers(c, h);
}

static const char *const rs_forward[] = {"openai-beta", "traceparent", "tracestate", NULL};

const struct fg_dialect_ops fg_provider_responses = {
    .dialect = FG_DIALECT_OPENAI,
    .name = "openai-responses",
    .validate = rs_validate,
    .error_body = fg_provider_openai_error_body,
    .stream_error = rs_stream_error,
    .classify = rs_classify,
    .path = rs_path,
    .upstream_headers = rs_upstream_headers,
    .forward_headers = rs_forward,
};
