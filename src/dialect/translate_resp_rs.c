/* translate_resp_rs.c — a Chat completion or an Anthropic message → an
 * OpenAI Responses `Response` object (a Responses client served by a
 * Chat-Completions-only provider or an Anthropic model).
 * Wire reference: shared/spec/providers-2.md sections 1.4 and 2.2.
 *
 * Anthropic → Responses goes through Chat (translate_resp.c), as requests
 * do (translate_req_rs.c): refusals, forced tools standing in for a schema
 * and usage are already mapped there, once.
 *
 * The Response's id is "resp_" + the upstream's id (its "chatcmpl-" prefix
 * taken off): the one place frugal's conversation state rewrites to the id
 * it mints.  Fields that echo the request are sent with their defaults
 * (the SDK types require the keys), then filled from the request by
 * fg_translate_rs_echo, which the caller applies (the pair functions
 * only see the answer). */
#include "translate_internal.h"

#include "arena.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int malformed(struct fg_err *e, const char *what)
{
    return fg_err_set(e, FG_E_UPSTREAM, NULL, "upstream_malformed",
                      "upstream provider returned an answer frugal could not read: %s", what);
}

json_t *tr_usage_rs(const struct tr_usage *x)
{
    json_int_t in = x->input + x->cache_read + x->cache_write;
    return json_pack("{s:I, s:{s:I, s:I}, s:I, s:{s:I}, s:I}", "input_tokens", in,
                     "input_tokens_details", "cached_tokens", (json_int_t)x->cache_read,
                     "cache_write_tokens", (json_int_t)x->cache_write, "output_tokens",
                     (json_int_t)x->output, "output_tokens_details", "reasoning_tokens",
                     (json_int_t)x->reasoning, "total_tokens", in + x->output);
}

char *tr_rs_id(const char *prefix, const char *upstream_id)
{
    const char *id = upstream_id && *upstream_id ? upstream_id : "0";
    if (!strncmp(id, "chatcmpl-", 9) && id[9])
        id += 9;
    size_t n = strlen(prefix) + strlen(id) + 1;
    char *s = fg_xmalloc(n);
    snprintf(s, n, "%s%s", prefix, id);
    return s;
}

json_t *tr_rs_response(const char *id, const char *model, json_int_t created, const char *status,
                       const char *incomplete, json_t *output, json_t *usage)
{
    json_t *r = json_pack(
        "{s:s, s:s, s:I, s:s, s:n, s:s, s:o, s:n, s:o, s:n, s:n, s:{}, s:b, s:n, s:n, s:s, s:[],"
        " s:n, s:b, s:n, s:n, s:s, s:{s:n, s:n}, s:{s:{s:s}, s:s}, s:s, s:n}",
        "id", id, "object", "response", "created_at", created, "status", status, "error", "model",
        model ? model : "", "output", output, "incomplete_details", "usage",
        usage ? usage : json_null(), "instructions", "access_programs", "metadata",
        "parallel_tool_calls", 1, "temperature", "top_p", "tool_choice", "auto", "tools",
        "previous_response_id", "background", 0, "max_output_tokens", "max_tool_calls",
        "truncation", "disabled", "reasoning", "effort", "summary", "text", "format", "type",
        "text", "verbosity", "medium", "service_tier", "default", "user");
    if (incomplete)
        json_object_set_new(r, "incomplete_details", json_pack("{s:s}", "reason", incomplete));
    json_object_set_new(r, "completed_at",
                        strcmp(status, "completed") ? json_null() : json_integer(created));
    return r;
}

/* The request fields a Response repeats (SDK Response type), when sent. */
json_t *tr_rs_echo_fields(const char *req, size_t len)
{
    static const char *const keys[] = {"instructions",
                                       "tools",
                                       "tool_choice",
                                       "metadata",
                                       "temperature",
                                       "top_p",
                                       "parallel_tool_calls",
                                       "max_output_tokens",
                                       "max_tool_calls",
                                       "text",
                                       "reasoning",
                                       "store",
                                       "user",
                                       "safety_identifier",
                                       "prompt_cache_key",
                                       "truncation",
                                       "background",
                                       NULL};
    json_t *in = req && len ? json_loadb(req, len, 0, NULL) : NULL, *echo = json_object();
    for (int i = 0; json_is_object(in) && keys[i]; i++) {
        json_t *v = json_object_get(in, keys[i]);
        if (v && !json_is_null(v))
            json_object_set(echo, keys[i], v);
    }
    json_decref(in);
    return echo;
}

void fg_translate_rs_echo(const char *req, size_t req_len, struct evbuffer *body)
{
    size_t n = evbuffer_get_length(body);
    json_t *r = json_loadb((const char *)evbuffer_pullup(body, -1), n, 0, NULL);
    if (!json_is_object(r)) {
        json_decref(r);
        return;
    }
    json_t *echo = tr_rs_echo_fields(req, req_len);
    json_object_update(r, echo);
    json_decref(echo);
    char *s = json_dumps(r, TR_DUMP_FLAGS);
    json_decref(r);
    if (!s)
        return;
    evbuffer_drain(body, n);
    evbuffer_add(body, s, strlen(s));
    free(s);
}

const char *tr_rs_incomplete(const char *finish)
{
    if (finish && !strcmp(finish, "length"))
        return "max_output_tokens";
    if (finish && !strcmp(finish, "content_filter"))
        return "content_filter";
    return NULL;
}

/* The assistant message item: output_text, or a refusal part. */
static json_t *message_item(const char *base, const json_t *msg, const char *status)
{
    const char *text = tr_str(msg, "content"), *refusal = tr_str(msg, "refusal");
    if (!refusal && (!text || !*text))
        return NULL;
    json_t *part = refusal ? json_pack("{s:s, s:s}", "type", "refusal", "refusal", refusal)
                           : json_pack("{s:s, s:s, s:[], s:[]}", "type", "output_text", "text",
                                       text, "annotations", "logprobs");
    char *id = tr_rs_id("msg_", base);
    json_t *it = json_pack("{s:s, s:s, s:s, s:s, s:[o]}", "type", "message", "id", id, "role",
                           "assistant", "status", status, "content", part);
    free(id);
    return it;
}

static int call_items(const json_t *msg, json_t *output, struct fg_err *e)
{
    size_t k;
    json_t *tc;
    json_array_foreach(json_object_get(msg, "tool_calls"), k, tc)
    {
        const json_t *fn = json_object_get(tc, "function");
        const char *id = tr_str(tc, "id"), *name = tr_str(fn, "name");
        const char *args = tr_str(fn, "arguments");
        if (!id || !name)
            return malformed(e, "a tool call without id or name");
        char *fid = tr_rs_id("fc_", id);
        json_array_append_new(output,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "function_call",
                                        "id", fid, "call_id", id, "name", name, "arguments",
                                        args ? args : "", "status", "completed"));
        free(fid);
    }
    return 0;
}

int fg_translate_response_oa_to_rs(const struct fg_json *resp, const char *client_model,
                                   struct evbuffer *out, struct fg_err *e)
{
    json_t *r = tr_load(resp, 0);
    const json_t *ch = json_array_get(json_object_get(r, "choices"), 0);
    const json_t *msg = json_object_get(ch, "message");
    if (!json_is_object(r) || !json_is_object(msg)) {
        json_decref(r);
        return malformed(e, "a chat completion needs choices[0].message");
    }
    const char *finish = tr_str(ch, "finish_reason"), *incomplete = tr_rs_incomplete(finish);
    const char *status = incomplete ? "incomplete" : "completed";
    json_t *output = json_array();
    json_t *m = message_item(tr_str(r, "id"), msg, status);
    if (m)
        json_array_append_new(output, m);
    if (call_items(msg, output, e) < 0) {
        json_decref(output);
        json_decref(r);
        return -1;
    }
    struct tr_usage u = {0};
    tr_usage_from_oa(tr_usage_oa_find(r), &u);
    int64_t created = 0;
    if (!tr_int(r, "created", &created) || created <= 0)
        created = (int64_t)time(NULL);
    char *id = tr_rs_id("resp_", tr_str(r, "id"));
    json_t *doc = tr_rs_response(id, client_model, (json_int_t)created, status, incomplete, output,
                                 tr_usage_oa_find(r) ? tr_usage_rs(&u) : NULL);
    tr_dump_to(doc, out);
    json_decref(doc);
    free(id);
    json_decref(r);
    return 0;
}

int fg_translate_response_an_to_rs(const struct fg_json *resp, const char *client_model,
                                   const char *forced_tool, struct evbuffer *out, struct fg_err *e)
{
    struct evbuffer *chat = evbuffer_new();
    struct fg_json j = {0};
    int r = fg_translate_response_an_to_oa_forced(resp, client_model, forced_tool, chat, e);
    if (r == 0) {
        size_t n = evbuffer_get_length(chat);
        const char *s = (const char *)evbuffer_pullup(chat, -1);
        r = fg_json_parse(&j, s, n) < 0 ? malformed(e, "translation")
                                        : fg_translate_response_oa_to_rs(&j, client_model, out, e);
    }
    fg_json_free(&j);
    evbuffer_free(chat);
    return r;
}
