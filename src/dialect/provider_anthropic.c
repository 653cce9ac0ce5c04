/* provider_anthropic.c — the Anthropic Messages dialect adapter.
 * Wire reference: shared/spec/providers.md sections 0 and 3.
 *
 * Auth upstream follows the client's API version: 2023-06-01 clients (SDK
 * 0.x) pair with `x-api-key`, 2026-10-21 and later (SDK 1.x) with
 * `Authorization: Bearer`. */
#include "provider.h"

#include "translate_internal.h"
#include "replay.h"

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
        int content = fg_json_get(j, m, "content");
        snprintf(p, sizeof p, "messages.%zu.content", i);
        if (content < 0)
            return fg_err_set(e, FG_E_INVALID, p, NULL, "%s: Field required", p);
        /* a string or a list of blocks: anything else (an object) would be
         * translated to nothing for an OpenAI model (fuzz_translate) */
        if (fg_json_type(j, content) != FG_J_STR && fg_json_type(j, content) != FG_J_ARR)
            return fg_err_set(e, FG_E_INVALID, p, NULL,
                              "%s: Input should be a valid string or a valid list", p);
    }
    return 0;
}

static int an_validate(const struct fg_json *j, enum fg_endpoint ep, struct fg_err *e)
{
    int v = fg_json_get(j, 0, "model");
    if (v < 0)
        return fg_err_set(e, FG_E_INVALID, "model", NULL, "model: Field required");
    if (fg_json_type(j, v) != FG_J_STR)
        return fg_err_set(e, FG_E_INVALID, "model", NULL, "model: Input should be a valid string");
    if (ep == FG_EP_MESSAGES) {
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
    if (ep == FG_EP_EMBEDDINGS)
        return NULL; /* Anthropic has no embeddings */
    return ep == FG_EP_COUNT_TOKENS ? "/v1/messages/count_tokens" : "/v1/messages";
}

static void an_upstream_headers(const struct fg_provider_cfg *p, const char *client_version,
                                struct curl_slist **h)
{
    const char *ver = client_version ? client_version : p->anthropic_version;
    *h = fg_provider_header_add(*h, "anthropic-version", ver);
    const char *key = p->api_key;
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

static bool an_wants_json(const struct fg_json *b)
{
    return fg_json_get(b, fg_json_get(b, 0, "output_config"), "format") >= 0;
}

/* output_config.format's schema, or a forced tool: its input is the answer */
static int an_requested_schema(const struct fg_json *j, bool *any_object, int *tool)
{
    *any_object = false;
    *tool = -1;
    int fmt = fg_json_get(j, fg_json_get(j, 0, "output_config"), "format");
    if (fg_json_str_eq(j, fg_json_get(j, fmt, "type"), "json_schema"))
        return fg_json_get(j, fmt, "schema");
    int tc = fg_json_get(j, 0, "tool_choice"), name = fg_json_get(j, tc, "name");
    if (!fg_json_str_eq(j, fg_json_get(j, tc, "type"), "tool") || name < 0)
        return -1;
    int tools = fg_json_get(j, 0, "tools");
    for (int t = fg_json_child(j, tools); t >= 0; t = fg_json_sibling(j, tools, t)) {
        size_t a, b;
        const char *x = fg_json_raw_str(j, fg_json_get(j, t, "name"), &a);
        const char *y = fg_json_raw_str(j, name, &b);
        if (fg_json_type(j, fg_json_get(j, t, "name")) == FG_J_STR && a == b && !memcmp(x, y, a)) {
            *tool = name;
            return fg_json_get(j, t, "input_schema");
        }
    }
    return -1;
}

static json_t *an_answer_slot(json_t *resp, bool tool, const char **key, bool *truncated)
{
    const char *sr = json_string_value(json_object_get(resp, "stop_reason"));
    *truncated = sr && !strcmp(sr, "max_tokens");
    if (sr && !strcmp(sr, "refusal"))
        return NULL;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(resp, "content"), i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (tool && type && !strcmp(type, "tool_use")) {
            *key = "input";
            return b;
        }
        if (!tool && type && !strcmp(type, "text")) {
            *key = "text";
            return b;
        }
    }
    return NULL;
}

/* the text blocks' text (a forced tool's answer is its input, not text) */
static void an_answer_text(const struct fg_json *j, int resp, void (*fn)(void *arg, int str),
                           void *arg)
{
    fg_provider_text_parts(j, fg_json_get(j, resp, "content"), fn, arg);
}

static const char *an_shortfall(const struct fg_json *j)
{
    int sr = fg_json_get(j, 0, "stop_reason");
    if (fg_json_str_eq(j, sr, "max_tokens"))
        return FG_SHORT_TRUNCATED;
    if (fg_json_str_eq(j, sr, "refusal"))
        return FG_SHORT_REFUSAL;
    int content = fg_json_get(j, 0, "content");
    for (int b = fg_json_child(j, content); b >= 0; b = fg_json_sibling(j, content, b)) {
        size_t n = 0;
        int t = fg_json_get(j, b, "text");
        if (fg_json_type(j, t) == FG_J_STR)
            fg_json_raw_str(j, t, &n);
        if (n > 0 || fg_json_str_eq(j, fg_json_get(j, b, "type"), "tool_use"))
            return NULL;
    }
    return FG_SHORT_EMPTY;
}

/* message_start carries the input side of usage, message_delta the
 * cumulative output; text arrives in content_block_delta. */
static bool an_stream_read(const struct fg_sse_event *ev, bool want_text, struct fg_json *j,
                           struct fg_stream_read *r)
{
    bool start = name_is(ev, "message_start"), delta = name_is(ev, "message_delta");
    bool text = want_text && name_is(ev, "content_block_delta");
    if (!start && !delta && !text)
        return false;
    if (fg_json_parse(j, ev->data, ev->data_len) < 0)
        return false;
    if (start) {
        r->usage = fg_json_get(j, fg_json_get(j, 0, "message"), "usage");
    } else if (delta) {
        r->usage = fg_json_get(j, 0, "usage");
    } else {
        int d = fg_json_get(j, 0, "delta");
        r->text[0] = fg_json_get(j, d, "text");
        r->text[1] = fg_json_get(j, d, "partial_json"); /* a forced tool's answer */
    }
    return true;
}

static void an_held_look(const struct fg_sse_event *ev, const char **why, bool *content)
{
    if (fg_provider_nonempty_str(ev, "\"text\":") ||
        fg_provider_nonempty_str(ev, "\"partial_json\":") ||
        fg_provider_has_text(ev, "\"type\":\"tool_use\""))
        *content = !*why;
    if (fg_provider_has_text(ev, "\"stop_reason\":\"refusal\""))
        *why = FG_SHORT_REFUSAL;
    else if (fg_provider_has_text(ev, "\"stop_reason\":\"max_tokens\"") && !*why)
        *why = FG_SHORT_TRUNCATED;
}

static json_t *an_model_entry(const char *id, const char *owner)
{
    (void)owner;
    return json_pack("{s:s, s:s, s:s, s:s}", "type", "model", "id", id, "display_name", id,
                     "created_at", "2026-01-01T00:00:00Z");
}

static json_t *an_model_list(json_t *data)
{
    size_t n = json_array_size(data);
    return json_pack(
        "{s:o, s:b, s:o, s:o}", "data", data, "has_more", 0, "first_id",
        n ? json_copy(json_object_get(json_array_get(data, 0), "id")) : json_null(), "last_id",
        n ? json_copy(json_object_get(json_array_get(data, n - 1), "id")) : json_null());
}

static const char *const an_forward[] = {"anthropic-beta",
                                         "anthropic-user-profile-id",
                                         "anthropic-workspace-id",
                                         "traceparent",
                                         "tracestate",
                                         NULL};

const struct fg_dialect_ops fg_provider_anthropic = {
    .dialect = FG_DIALECT_ANTHROPIC,
    .shape = FG_DIALECT_ANTHROPIC,
    .name = "anthropic",
    .title = "Anthropic",
    .req = {.messages = "messages",
            .system = "system",
            .cache_mark = "cache_control",
            .stream_buffering = true},
    /* explicit breakpoints, writes cost a premium, minimum by model family */
    .cache = {.automatic = false, .granule = 1, .min_tokens = 0},
    .client_versioned = true,
    .validate = an_validate,
    .wants_json = an_wants_json,
    .requested_schema = an_requested_schema,
    .answer_slot = an_answer_slot,
    .error_body = an_error_body,
    .stream_error = an_stream_error,
    .classify = an_classify,
    .path = an_path,
    .upstream_headers = an_upstream_headers,
    .forward_headers = an_forward,
    .request_id_header = "request-id",
    .replay = fg_replay_anthropic,
    .model_entry = an_model_entry,
    .model_list = an_model_list,
    .stream_terminator = "event: message_stop",
    .usage = fg_usage_anthropic,
    .answer_text = an_answer_text,
    .shortfall = an_shortfall,
    .stream_read = an_stream_read,
    .held_look = an_held_look,
};
