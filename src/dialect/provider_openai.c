/* provider_openai.c — the OpenAI Chat Completions dialect adapter.
 * Wire reference: shared/spec/providers.md section 1. */
#include "provider.h"

#include "translate_internal.h"

#include "arena.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

static const char *valid_roles[] = {"system", "developer", "user", "assistant",
                                    "tool",   "function",  NULL};

static int role_ok(const char *r)
{
    for (int i = 0; valid_roles[i]; i++)
        if (!strcmp(r, valid_roles[i]))
            return 1;
    return 0;
}

static int check_messages(const struct fg_json *j, int msgs, struct fg_err *e)
{
    if (msgs < 0)
        return fg_err_set(e, FG_E_INVALID, "messages", NULL,
                          "Missing required parameter: 'messages'.");
    if (fg_json_type(j, msgs) != FG_J_ARR)
        return fg_err_set(e, FG_E_INVALID, "messages", NULL,
                          "Invalid type for 'messages': expected an array.");
    if (fg_json_child(j, msgs) < 0)
        return fg_err_set(
            e, FG_E_INVALID, "messages", NULL,
            "Invalid 'messages': empty array. Expected an array with minimum length 1.");
    size_t i = 0;
    for (int m = fg_json_child(j, msgs); m >= 0; m = fg_json_sibling(j, msgs, m), i++) {
        char p[48];
        snprintf(p, sizeof p, "messages[%zu]", i);
        if (fg_json_type(j, m) != FG_J_OBJ)
            return fg_err_set(e, FG_E_INVALID, p, NULL,
                              "Invalid type for '%s': expected an object.", p);
        int role = fg_json_get(j, m, "role");
        snprintf(p, sizeof p, "messages[%zu].role", i);
        if (fg_json_type(j, role) != FG_J_STR)
            return fg_err_set(e, FG_E_INVALID, p, NULL, "Missing required parameter: '%s'.", p);
        char r[32];
        fg_json_str(j, role, r, sizeof r);
        if (!role_ok(r))
            return fg_err_set(e, FG_E_INVALID, p, NULL,
                              "Invalid value: '%s'. Supported values are: 'system', "
                              "'developer', 'user', 'assistant', 'tool' and 'function'.",
                              r);
    }
    return 0;
}

static bool is_type(const struct fg_json *j, int v, enum fg_jtype t)
{
    return v < 0 || fg_json_type(j, v) == t || fg_json_type(j, v) == FG_J_NULL;
}

/* Optional fields frugal itself reads must have the right type. */
static int check_types(const struct fg_json *j, struct fg_err *e)
{
    int v = fg_json_get(j, 0, "stream");
    if (!(is_type(j, v, FG_J_TRUE) || fg_json_type(j, v) == FG_J_FALSE))
        return fg_err_set(e, FG_E_INVALID, "stream", NULL,
                          "Invalid type for 'stream': expected a boolean.");
    static const char *ints[] = {"max_tokens", "max_completion_tokens", "n", NULL};
    int64_t x;
    for (int i = 0; ints[i]; i++) {
        v = fg_json_get(j, 0, ints[i]);
        if (v >= 0 && fg_json_type(j, v) != FG_J_NULL && !fg_json_int(j, v, &x))
            return fg_err_set(e, FG_E_INVALID, ints[i], NULL,
                              "Invalid type for '%s': expected an integer.", ints[i]);
    }
    if (!is_type(j, fg_json_get(j, 0, "stream_options"), FG_J_OBJ))
        return fg_err_set(e, FG_E_INVALID, "stream_options", NULL,
                          "Invalid type for 'stream_options': expected an object.");
    if (!is_type(j, fg_json_get(j, 0, "tools"), FG_J_ARR))
        return fg_err_set(e, FG_E_INVALID, "tools", NULL,
                          "Invalid type for 'tools': expected an array.");
    return 0;
}

static int oa_validate(const struct fg_call *c, struct fg_err *e)
{
    const struct fg_json *j = &c->body;
    int model = fg_json_get(j, 0, "model");
    if (model < 0)
        return fg_err_set(e, FG_E_INVALID, "model", NULL, "Missing required parameter: 'model'.");
    if (fg_json_type(j, model) != FG_J_STR)
        return fg_err_set(e, FG_E_INVALID, "model", NULL,
                          "Invalid type for 'model': expected a string.");
    if (check_types(j, e) < 0)
        return -1;
    return check_messages(j, fg_json_get(j, 0, "messages"), e);
}

const char *fg_provider_openai_error_type(enum fg_err_class cls)
{
    switch (cls) {
    case FG_E_AUTH: return "invalid_request_error";
    case FG_E_PERMISSION: return "permission_error";
    case FG_E_RATE_LIMIT: return "rate_limit_error";
    case FG_E_INTERNAL:
    case FG_E_UPSTREAM:
    case FG_E_UNAVAILABLE:
    case FG_E_TIMEOUT: return "server_error";
    default: return "invalid_request_error";
    }
}

static json_t *oa_error_json(const struct fg_err *e)
{
    return json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", e->msg, "type",
                     fg_provider_openai_error_type(e->cls), "param",
                     e->param[0] ? json_string(e->param) : json_null(), "code",
                     e->code[0] ? json_string(e->code) : json_null());
}

void fg_provider_openai_error_body(const struct fg_err *e, struct evbuffer *out)
{
    json_t *j = oa_error_json(e);
    tr_dump_to(j, out);
    json_decref(j);
}

static void oa_stream_error(const struct fg_err *e, struct evbuffer *out)
{
    evbuffer_add(out, "data: ", 6);
    fg_provider_openai_error_body(e, out);
    evbuffer_add(out, "\n\n", 2);
}

static enum fg_sse_kind oa_classify(const struct fg_sse_event *ev, struct fg_json *scratch)
{
    if (ev->data_len == 0)
        return FG_SSE_SKIP;
    if (ev->data_len == 6 && !memcmp(ev->data, "[DONE]", 6))
        return FG_SSE_END;
    /* the SDKs raise on any chunk with a top-level `error` */
    if (memmem(ev->data, ev->data_len, "\"error\"", 7) &&
        fg_json_parse(scratch, ev->data, ev->data_len) == 0) {
        enum fg_jtype t = fg_json_type(scratch, fg_json_get(scratch, 0, "error"));
        if (t == FG_J_OBJ || t == FG_J_TRUE || t == FG_J_STR)
            return FG_SSE_ERROR;
    }
    return FG_SSE_DATA;
}

static const char *oa_path(enum fg_endpoint ep)
{
    switch (ep) {
    case FG_EP_RESPONSES: return "/responses";
    case FG_EP_RESP_INPUT_TOKENS: return "/responses/input_tokens";
    default: return "/chat/completions";
    }
}

static void oa_upstream_headers(const struct fg_call *c, struct curl_slist **h)
{
    if (c->provider->api_key) {
        char auth[512];
        snprintf(auth, sizeof auth, "Bearer %s", c->provider->api_key);
        *h = fg_provider_header_add(*h, "Authorization", auth);
    }
}

static const char *const oa_forward[] = {"openai-beta", "traceparent", "tracestate", NULL};

const struct fg_dialect_ops fg_provider_openai = {
    .dialect = FG_DIALECT_OPENAI,
    .name = "openai",
    .validate = oa_validate,
    .error_body = fg_provider_openai_error_body,
    .stream_error = oa_stream_error,
    .classify = oa_classify,
    .path = oa_path,
    .upstream_headers = oa_upstream_headers,
    .forward_headers = oa_forward,
};

const struct fg_dialect_ops *fg_provider_ops(enum fg_dialect d)
{
    return d == FG_DIALECT_ANTHROPIC ? &fg_provider_anthropic : &fg_provider_openai;
}

const struct fg_dialect_ops *fg_provider_for(const struct fg_call *c, enum fg_dialect wire)
{
    if (c->in == &fg_provider_responses && wire == FG_DIALECT_OPENAI)
        return &fg_provider_responses;
    return fg_provider_ops(wire);
}

enum fg_dialect fg_provider_call_shape(const struct fg_call *c)
{
    return c->in == &fg_provider_responses ? FG_DIALECT_RESPONSES : c->in->dialect;
}

struct curl_slist *fg_provider_header_add(struct curl_slist *h, const char *name, const char *value)
{
    char line[1024];
    snprintf(line, sizeof line, "%s: %s", name, value);
    return curl_slist_append(h, line);
}
