/* provider_anthropic.c — the Anthropic Messages dialect adapter.
 * Wire reference: shared/spec/providers.md sections 0 and 3.
 *
 * Auth upstream follows the client's API version: 2023-06-01 clients (SDK
 * 0.x) pair with `x-api-key`, 2026-10-21 and later (SDK 1.x) with
 * `Authorization: Bearer`. */
#include "provider.h"

#include "translate_internal.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#define BEARER_SINCE "2026-10-21"

static int an_check_messages(const struct fg_json *j, struct fg_err *e)
{
    int v = fg_json_get(j, 0, "messages");
    if (v < 0)
        return fg_err_set(e, FG_E_INVALID, "messages", NULL, "messages: Field required");
    if (fg_json_type(j, v) != FG_J_ARR)
        return fg_err_set(e, FG_E_INVALID, "messages", NULL,
                          "messages: Input should be a valid list");
    size_t i = 0;
    for (int m = fg_json_child(j, v); m >= 0; m = fg_json_sibling(j, v, m), i++) {
        int role = fg_json_get(j, m, "role");
        char p[48];
        snprintf(p, sizeof p, "messages.%zu.role", i);
        if (fg_json_type(j, role) != FG_J_STR)
            return fg_err_set(e, FG_E_INVALID, p, NULL, "%s: Field required", p);
        if (!fg_json_str_eq(j, role, "user") && !fg_json_str_eq(j, role, "assistant") &&
            !fg_json_str_eq(j, role, "system"))
            return fg_err_set(e, FG_E_INVALID, p, NULL, "%s: Input should be 'user' or 'assistant'",
                              p);
        if (fg_json_get(j, m, "content") < 0) {
            snprintf(p, sizeof p, "messages.%zu.content", i);
            return fg_err_set(e, FG_E_INVALID, p, NULL, "%s: Field required", p);
        }
    }
    return 0;
}

static int an_validate(const struct fg_call *c, struct fg_err *e)
{
    const struct fg_json *j = &c->body;
    int v = fg_json_get(j, 0, "model");
    if (v < 0)
        return fg_err_set(e, FG_E_INVALID, "model", NULL, "model: Field required");
    if (fg_json_type(j, v) != FG_J_STR)
        return fg_err_set(e, FG_E_INVALID, "model", NULL, "model: Input should be a valid string");
    if (c->endpoint == FG_EP_MESSAGES) {
        int64_t mt;
        v = fg_json_get(j, 0, "max_tokens");
        if (v < 0)
            return fg_err_set(e, FG_E_INVALID, "max_tokens", NULL, "max_tokens: Field required");
        if (!fg_json_int(j, v, &mt) || mt < 0)
            return fg_err_set(e, FG_E_INVALID, "max_tokens", NULL,
                              "max_tokens: Input should be a valid non-negative integer");
        v = fg_json_get(j, 0, "stream");
        if (v >= 0 && fg_json_type(j, v) != FG_J_TRUE && fg_json_type(j, v) != FG_J_FALSE)
            return fg_err_set(e, FG_E_INVALID, "stream", NULL,
                              "stream: Input should be a valid boolean");
    }
    return an_check_messages(j, e);
}

static const char *an_type(const struct fg_err *e)
{
    switch (e->cls) {
    case FG_E_AUTH: return "authentication_error";
    case FG_E_PERMISSION: return "permission_error";
    case FG_E_NOT_FOUND: return "not_found_error";
    case FG_E_TOO_LARGE: return "request_too_large";
    case FG_E_RATE_LIMIT: return "rate_limit_error";
    case FG_E_TIMEOUT: return "timeout_error";
    case FG_E_UNAVAILABLE: return "overloaded_error";
    case FG_E_INTERNAL:
    case FG_E_UPSTREAM: return "api_error";
    default: return "invalid_request_error";
    }
}

static json_t *an_error_json(const struct fg_err *e)
{
    return json_pack("{s:s, s:{s:s, s:s}, s:n}", "type", "error", "error", "type", an_type(e),
                     "message", e->msg, "request_id");
}

static void an_error_body(const struct fg_err *e, struct evbuffer *out)
{
    json_t *j = an_error_json(e);
    tr_dump_to(j, out);
    json_decref(j);
}

static void an_stream_error(const struct fg_err *e, struct evbuffer *out)
{
    evbuffer_add_printf(out, "event: error\ndata: ");
    an_error_body(e, out);
    evbuffer_add(out, "\n\n", 2);
}

static int name_is(const struct fg_sse_event *ev, const char *s)
{
    size_t n = strlen(s);
    return ev->event_len == n && !memcmp(ev->event, s, n);
}

static enum fg_sse_kind an_classify(const struct fg_sse_event *ev, struct fg_json *scratch)
{
    /* the SDK drops events with no event: line or empty data */
    if (ev->event_len == 0 || ev->data_len == 0)
        return FG_SSE_SKIP;
    if (name_is(ev, "message_stop"))
        return FG_SSE_END;
    if (name_is(ev, "error"))
        return FG_SSE_ERROR;
    return FG_SSE_DATA;
}

static const char *an_path(enum fg_endpoint ep)
{
    return ep == FG_EP_COUNT_TOKENS ? "/v1/messages/count_tokens" : "/v1/messages";
}

static void an_upstream_headers(const struct fg_call *c, struct curl_slist **h)
{
    const char *ver = c->client_version ? c->client_version : c->provider->anthropic_version;
    *h = fg_provider_header_add(*h, "anthropic-version", ver);
    const char *key = c->provider->api_key;
    if (!key)
        return;
    if (strcmp(ver, BEARER_SINCE) >= 0) {
        char auth[512];
        snprintf(auth, sizeof auth, "Bearer %s", key);
        *h = fg_provider_header_add(*h, "Authorization", auth);
    } else {
        *h = fg_provider_header_add(*h, "x-api-key", key);
    }
}

static const char *const an_forward[] = {"anthropic-beta",
                                         "anthropic-user-profile-id",
                                         "anthropic-workspace-id",
                                         "traceparent",
                                         "tracestate",
                                         NULL};

const struct fg_dialect_ops fg_provider_anthropic = {
    .dialect = FG_DIALECT_ANTHROPIC,
    .name = "anthropic",
    .validate = an_validate,
    .error_body = an_error_body,
    .stream_error = an_stream_error,
    .classify = an_classify,
    .path = an_path,
    .upstream_headers = an_upstream_headers,
    .forward_headers = an_forward,
};
