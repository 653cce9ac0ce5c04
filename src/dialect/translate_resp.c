/* translate_resp.c — non-streamed responses, both ways.
 * Wire reference: shared/spec/providers.md sections 1.4 and 3.4.
 *
 * The client SDKs declare every key of their response types present
 * (nullable), so a synthesised body carries all of them. */
#include "translate_internal.h"
#include "vec.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int malformed(struct fg_err *e, const char *what)
{
    fg_err_set(e, FG_E_UPSTREAM, NULL, "upstream_malformed",
               "upstream provider returned a malformed response: %s", what);
    return -1;
}

/* A growable string (the answer text can be large). */
struct strb {
    char *s;
    size_t n, cap;
};

static void sb_add(struct strb *b, const char *s)
{
    size_t k = strlen(s);
    FG_VEC_RESERVE(b->s, b->n + k + 1, b->cap);
    memcpy(b->s + b->n, s, k + 1);
    b->n += k;
}

/* ---------------------------------------------------- Anthropic → OpenAI */

struct an_answer {
    struct strb text;
    json_t *calls;   /* OpenAI tool_calls */
    bool forced_hit; /* the forced tool's call became the text */
};

static void an_tool_use(const json_t *blk, const char *forced, struct an_answer *a)
{
    const char *name = tr_str(blk, "name");
    char *args = json_dumps(json_object_get(blk, "input"), TR_DUMP_FLAGS);
    if (forced && name && !strcmp(name, forced) && !a->forced_hit) {
        /* the schema's stand-in tool: its input is the JSON answer */
        sb_add(&a->text, args ? args : "{}");
        a->forced_hit = true;
    } else {
        json_array_append_new(a->calls,
                              json_pack("{s:s, s:s, s:{s:s, s:s}}", "id",
                                        tr_str(blk, "id") ? tr_str(blk, "id") : "", "type",
                                        "function", "function", "name", name ? name : "",
                                        "arguments", args ? args : "{}"));
    }
    free(args);
}

/* thinking, redacted_thinking and server-tool blocks have no OpenAI form */
static void an_blocks(const json_t *content, const char *forced, struct an_answer *a)
{
    size_t k;
    json_t *blk;
    json_array_foreach(content, k, blk)
    {
        const char *ty = tr_str(blk, "type");
        if (ty && !strcmp(ty, "text") && tr_str(blk, "text"))
            sb_add(&a->text, tr_str(blk, "text"));
        else if (ty && !strcmp(ty, "tool_use"))
            an_tool_use(blk, forced, a);
    }
}

static json_t *oa_message(const json_t *resp, struct an_answer *a, const char **finish)
{
    const char *stop = tr_str(resp, "stop_reason");
    json_t *msg = json_pack("{s:s, s:n, s:n, s:[]}", "role", "assistant", "content", "refusal",
                            "annotations");
    *finish = tr_finish_of_stop(stop);
    if (stop && !strcmp(stop, "refusal")) {
        /* OpenAI reports refusals in their own field, content null */
        const char *why = tr_str(json_object_get(resp, "stop_details"), "explanation");
        json_object_set_new(msg, "refusal",
                            json_string(a->text.n ? a->text.s
                                        : why     ? why
                                                  : TR_REFUSAL_DEFAULT));
    } else if (a->text.n || a->forced_hit || !json_array_size(a->calls)) {
        /* null only beside tool calls, as OpenAI does; an empty answer is "" */
        json_object_set_new(msg, "content", json_string(a->text.s ? a->text.s : ""));
    }
    if (json_array_size(a->calls))
        json_object_set(msg, "tool_calls", a->calls);
    if (a->forced_hit && !json_array_size(a->calls) && !strcmp(*finish, "tool_calls"))
        *finish = "stop"; /* the client asked for JSON, and got it */
    return msg;
}

static char *prefixed(const char *prefix, const char *id)
{
    size_t n = strlen(prefix) + strlen(id ? id : "") + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", prefix, id ? id : "");
    return s;
}

int fg_translate_response_an_to_oa_forced(const struct fg_json *resp, const char *client_model,
                                          const char *forced_tool, struct evbuffer *out,
                                          struct fg_err *e)
{
    json_t *r = tr_load(resp, 0);
    const json_t *content = json_object_get(r, "content");
    if (!json_is_object(r) || !json_is_array(content)) {
        json_decref(r);
        return malformed(e, "an Anthropic message needs a content array");
    }
    struct an_answer a = {.calls = json_array()};
    struct tr_usage u = {0};
    const char *finish;
    an_blocks(content, forced_tool, &a);
    tr_usage_from_an(json_object_get(r, "usage"), &u);
    char *id = prefixed("chatcmpl-", tr_str(r, "id"));
    json_t *msg = oa_message(r, &a, &finish);
    json_t *doc = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:o}", "id", id,
                            "object", "chat.completion", "created", (json_int_t)time(NULL), "model",
                            client_model ? client_model : "", "choices", "index", 0, "message", msg,
                            "logprobs", "finish_reason", finish, "usage", tr_usage_oa(&u));
    tr_dump_to(doc, out);
    json_decref(doc);
    free(id);
    free(a.text.s);
    json_decref(a.calls);
    json_decref(r);
    return 0;
}

int fg_translate_response_an_to_oa(const struct fg_json *resp, const char *client_model,
                                   struct evbuffer *out, struct fg_err *e)
{
    return fg_translate_response_an_to_oa_forced(resp, client_model, NULL, out, e);
}

/* ---------------------------------------------------- OpenAI → Anthropic */

/* No "citations" key: the SDKs type it optional, and strict clients
 * (@ai-sdk/anthropic 3.x) reject a null where they expect an array. */
static json_t *text_block(const char *s)
{
    return json_pack("{s:s, s:s}", "type", "text", "text", s);
}

static void oa_text(const json_t *msg, json_t *blocks)
{
    const json_t *c = json_object_get(msg, "content");
    size_t k;
    json_t *part;
    if (json_is_string(c) && json_string_length(c))
        json_array_append_new(blocks, text_block(json_string_value(c)));
    json_array_foreach(c, k, part) /* some compatible servers send parts */
        if (tr_str(part, "text") && *tr_str(part, "text"))
            json_array_append_new(blocks, text_block(tr_str(part, "text")));
}

static int oa_tool_calls(const json_t *msg, json_t *blocks, struct fg_err *e)
{
    size_t k;
    json_t *tc;
    json_array_foreach(json_object_get(msg, "tool_calls"), k, tc)
    {
        const json_t *fn = json_object_get(tc, "function");
        const char *args = tr_str(fn, "arguments");
        json_t *input = args && *args ? json_loads(args, 0, NULL) : json_object();
        if (!json_is_object(input) || !tr_str(fn, "name")) {
            json_decref(input);
            return malformed(e, "a tool call's arguments are not a JSON object, which an "
                                "Anthropic tool_use block requires");
        }
        char fallback[32];
        snprintf(fallback, sizeof fallback, "call_%zu", k);
        json_array_append_new(blocks, json_pack("{s:s, s:o, s:s, s:o, s:{s:s}}", "type", "tool_use",
                                                "id", tr_tool_id(tr_str(tc, "id"), fallback),
                                                "name", tr_str(fn, "name"), "input", input,
                                                "caller", "type", "direct"));
    }
    return 0;
}

static json_t *an_message_doc(const json_t *r, const char *model, json_t *blocks, const char *stop,
                              const struct tr_usage *u)
{
    char *id = prefixed("msg_", tr_str(r, "id"));
    json_t *details = !strcmp(stop, "refusal") ? json_pack("{s:s, s:n, s:n}", "type", "refusal",
                                                           "category", "explanation")
                                               : json_null();
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:n, s:o, s:n, s:n, s:o}", "id", id,
                            "type", "message", "role", "assistant", "model", model, "content",
                            blocks, "stop_reason", stop, "stop_sequence", "stop_details", details,
                            "container", "diagnostics", "usage", tr_usage_an(u));
    free(id);
    return doc;
}

int fg_translate_response_oa_to_an(const struct fg_json *resp, const char *client_model,
                                   struct evbuffer *out, struct fg_err *e)
{
    json_t *r = tr_load(resp, 0);
    const json_t *choice = json_array_get(json_object_get(r, "choices"), 0);
    const json_t *msg = json_object_get(choice, "message");
    if (!json_is_object(msg)) {
        json_decref(r);
        return malformed(e, "an OpenAI chat completion needs choices[0].message");
    }
    json_t *blocks = json_array();
    const char *refusal = tr_str(msg, "refusal");
    if (refusal && *refusal) /* Anthropic states refusals as text */
        json_array_append_new(blocks, text_block(refusal));
    oa_text(msg, blocks);
    if (oa_tool_calls(msg, blocks, e) < 0) {
        json_decref(blocks);
        json_decref(r);
        return -1;
    }
    const char *stop =
        refusal && *refusal ? "refusal" : tr_stop_of_finish(tr_str(choice, "finish_reason"));
    struct tr_usage u = {0};
    tr_usage_from_oa(tr_usage_oa_find(r), &u);
    json_t *doc = an_message_doc(r, client_model ? client_model : "", blocks, stop, &u);
    tr_dump_to(doc, out);
    json_decref(doc);
    json_decref(r);
    return 0;
}
