/* provider_openai.c — the OpenAI Chat Completions dialect adapter.
 * Wire reference: shared/spec/providers.md section 1. */
#include "provider.h"

#include "translate_internal.h"

#include "arena.h"
#include "azure.h"
#include "replay.h"

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
    /* the JSON path is written only for an error: this loop runs on every
     * call, and two snprintf per message were 1.5% of a call's CPU */
    char p[48];
    for (int m = fg_json_child(j, msgs); m >= 0; m = fg_json_sibling(j, msgs, m), i++) {
        if (fg_json_type(j, m) != FG_J_OBJ) {
            snprintf(p, sizeof p, "messages[%zu]", i);
            return fg_err_set(e, FG_E_INVALID, p, NULL,
                              "Invalid type for '%s': expected an object.", p);
        }
        int role = fg_json_get(j, m, "role");
        if (fg_json_type(j, role) != FG_J_STR) {
            snprintf(p, sizeof p, "messages[%zu].role", i);
            return fg_err_set(e, FG_E_INVALID, p, NULL, "Missing required parameter: '%s'.", p);
        }
        char r[32];
        fg_json_str(j, role, r, sizeof r);
        if (!role_ok(r)) {
            snprintf(p, sizeof p, "messages[%zu].role", i);
            return fg_err_set(e, FG_E_INVALID, p, NULL,
                              "Invalid value: '%s'. Supported values are: 'system', "
                              "'developer', 'user', 'assistant', 'tool' and 'function'.",
                              r);
        }
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

static int oa_validate(const struct fg_json *j, enum fg_endpoint ep, struct fg_err *e)
{
    (void)ep;
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

static void oa_upstream_headers(const struct fg_provider_cfg *p, const char *client_version,
                                struct curl_slist **h)
{
    (void)client_version;
    *h = fg_azure_auth_header(p, *h); /* Azure's api-key, else a bearer token */
}

static bool oa_wants_json(const struct fg_json *b)
{
    int t = fg_json_get(b, fg_json_get(b, 0, "response_format"), "type");
    return fg_json_str_eq(b, t, "json_schema") || fg_json_str_eq(b, t, "json_object");
}

static int oa_requested_schema(const struct fg_json *j, bool *any_object, int *tool)
{
    *tool = -1;
    int rf = fg_json_get(j, 0, "response_format"), t = fg_json_get(j, rf, "type");
    if (fg_json_str_eq(j, t, "json_object"))
        *any_object = true;
    if (!fg_json_str_eq(j, t, "json_schema"))
        return -1;
    int s = fg_json_get(j, fg_json_get(j, rf, "json_schema"), "schema");
    *any_object = s < 0;
    return s;
}

static json_t *oa_answer_slot(json_t *resp, bool tool, const char **key, bool *truncated)
{
    (void)tool;
    json_t *ch = json_array_get(json_object_get(resp, "choices"), 0);
    json_t *msg = json_object_get(ch, "message");
    *truncated = json_is_string(json_object_get(ch, "finish_reason")) &&
                 !strcmp(json_string_value(json_object_get(ch, "finish_reason")), "length");
    *key = "content";
    if (!json_is_null(json_object_get(msg, "refusal")) && json_object_get(msg, "refusal"))
        return NULL;
    return json_is_string(json_object_get(msg, "content")) ? msg : NULL;
}

/* message.content: a string, or (as some logs keep it) an array of text parts */
static void oa_answer_text(const struct fg_json *j, int resp, void (*fn)(void *arg, int str),
                           void *arg)
{
    int ch = fg_json_at(j, fg_json_get(j, resp, "choices"), 0);
    fg_provider_text_parts(j, fg_json_get(j, fg_json_get(j, ch, "message"), "content"), fn, arg);
}

static const char *oa_shortfall(const struct fg_json *j)
{
    int ch = fg_json_at(j, fg_json_get(j, 0, "choices"), 0);
    int fr = fg_json_get(j, ch, "finish_reason"), msg = fg_json_get(j, ch, "message");
    if (fg_json_str_eq(j, fr, "length"))
        return FG_SHORT_TRUNCATED;
    if (fg_json_str_eq(j, fr, "content_filter") ||
        fg_json_type(j, fg_json_get(j, msg, "refusal")) == FG_J_STR)
        return FG_SHORT_REFUSAL;
    int content = fg_json_get(j, msg, "content");
    size_t n = 0;
    if (fg_json_type(j, content) == FG_J_STR)
        fg_json_raw_str(j, content, &n);
    return n == 0 && fg_json_get(j, msg, "tool_calls") < 0 ? FG_SHORT_EMPTY : NULL;
}

/* Most chunks carry "usage":null or nothing: parse only candidates. */
static bool oa_stream_read(const struct fg_sse_event *ev, bool want_text, struct fg_json *j,
                           struct fg_stream_read *r)
{
    /* (usage, Groq's x_groq.usage, llama-server's timings) */
    bool maybe_usage = memmem(ev->data, ev->data_len, "\"usage\"", 7) != NULL ||
                       memmem(ev->data, ev->data_len, "\"timings\"", 9) != NULL;
    if (!maybe_usage && !want_text)
        return false;
    if (fg_json_parse(j, ev->data, ev->data_len) < 0)
        return false;
    int choices = fg_json_get(j, 0, "choices");
    if (want_text) {
        int delta = fg_json_get(j, fg_json_at(j, choices, 0), "delta");
        r->text[0] = fg_json_get(j, delta, "content");
    }
    int usage = fg_usage_openai_at(j, 0);
    if (usage >= 0) {
        r->usage = usage;
        r->usage_only = fg_json_child(j, choices) < 0;
    }
    return true;
}

static void oa_held_look(const struct fg_sse_event *ev, const char **why, bool *content)
{
    if (fg_provider_nonempty_str(ev, "\"refusal\":"))
        *why = FG_SHORT_REFUSAL;
    else if (fg_provider_nonempty_str(ev, "\"content\":") ||
             fg_provider_has_text(ev, "\"tool_calls\":["))
        *content = !*why;
    if (fg_provider_has_text(ev, "\"finish_reason\":\"length\""))
        *why = *why ? *why : FG_SHORT_TRUNCATED;
    if (fg_provider_has_text(ev, "\"finish_reason\":\"content_filter\""))
        *why = FG_SHORT_REFUSAL;
}

json_t *fg_provider_openai_model_entry(const char *id, const char *owner)
{
    return json_pack("{s:s, s:s, s:i, s:s}", "id", id, "object", "model", "created", 0, "owned_by",
                     owner);
}

json_t *fg_provider_openai_model_list(json_t *data)
{
    return json_pack("{s:s, s:o}", "object", "list", "data", data);
}

static const char *const oa_forward[] = {"openai-beta", "traceparent", "tracestate", NULL};

const struct fg_dialect_ops fg_provider_openai = {
    .dialect = FG_DIALECT_OPENAI,
    .shape = FG_DIALECT_OPENAI,
    .name = "openai",
    .title = "OpenAI",
    .req = {.messages = "messages",
            .system_leads = true,
            .n = "n",
            .cache_mark = "prompt_cache_breakpoint",
            .out_limit_add = "max_completion_tokens",
            .stream_buffering = true},
    .cache = {.automatic = true, .granule = 128, .min_tokens = 1024, .batch_off = true},
    .stream_usage_opt_in = true,
    .validate = oa_validate,
    .wants_json = oa_wants_json,
    .requested_schema = oa_requested_schema,
    .answer_slot = oa_answer_slot,
    .error_body = fg_provider_openai_error_body,
    .stream_error = oa_stream_error,
    .classify = oa_classify,
    .path = oa_path,
    .upstream_headers = oa_upstream_headers,
    .forward_headers = oa_forward,
    .request_id_header = "x-request-id",
    .replay = fg_replay_openai,
    .model_entry = fg_provider_openai_model_entry,
    .model_list = fg_provider_openai_model_list,
    .stream_terminator = "data: [DONE]",
    .usage = fg_usage_openai,
    .usage_at = fg_usage_openai_at,
    .answer_text = oa_answer_text,
    .shortfall = oa_shortfall,
    .stream_read = oa_stream_read,
    .held_look = oa_held_look,
};
