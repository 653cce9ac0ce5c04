/* structured.c — see structured.h. */
#include "structured.h"

#include "log.h"
#include "provider.h"
#include "relay.h"
#include "repair.h"
#include "schema.h"
#include "runtime.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* The schema's JSON text span inside the client body, or -1. */
static int requested_schema(struct fg_call *c, bool *any_object)
{
    const struct fg_json *j = &c->body;
    *any_object = false;
    if (c->in == &fg_provider_responses) {
        /* text.format is flat: {type: json_schema, name, schema, strict} */
        int fmt = fg_json_get(j, fg_json_get(j, 0, "text"), "format"),
            t = fg_json_get(j, fmt, "type");
        if (fg_json_str_eq(j, t, "json_object"))
            *any_object = true;
        if (!fg_json_str_eq(j, t, "json_schema"))
            return -1;
        int s = fg_json_get(j, fmt, "schema");
        *any_object = s < 0;
        return s;
    }
    if (c->in->dialect == FG_DIALECT_OPENAI) {
        int rf = fg_json_get(j, 0, "response_format"), t = fg_json_get(j, rf, "type");
        if (fg_json_str_eq(j, t, "json_object"))
            *any_object = true;
        if (!fg_json_str_eq(j, t, "json_schema"))
            return -1;
        int s = fg_json_get(j, fg_json_get(j, rf, "json_schema"), "schema");
        *any_object = s < 0;
        return s;
    }
    int fmt = fg_json_get(j, fg_json_get(j, 0, "output_config"), "format");
    if (fg_json_str_eq(j, fg_json_get(j, fmt, "type"), "json_schema"))
        return fg_json_get(j, fmt, "schema");
    /* a forced tool: its input is the answer */
    int tc = fg_json_get(j, 0, "tool_choice"), name = fg_json_get(j, tc, "name");
    if (!fg_json_str_eq(j, fg_json_get(j, tc, "type"), "tool") || name < 0)
        return -1;
    int tools = fg_json_get(j, 0, "tools");
    for (int t = fg_json_child(j, tools); t >= 0; t = fg_json_sibling(j, tools, t)) {
        size_t a, b;
        const char *x = fg_json_raw_str(j, fg_json_get(j, t, "name"), &a);
        const char *y = fg_json_raw_str(j, name, &b);
        if (fg_json_type(j, fg_json_get(j, t, "name")) == FG_J_STR && a == b && !memcmp(x, y, a)) {
            fg_json_str(j, name, c->so_tool, sizeof c->so_tool);
            return fg_json_get(j, t, "input_schema");
        }
    }
    return -1;
}

/* No output limit from the client and a bounded schema: cap from it. */
static void cap_output(struct fg_call *c)
{
    const struct fg_json *j = &c->body;
    long max = fg_schema_max_tokens(c->so_schema);
    /* not on Responses: max_output_tokens also bounds reasoning, which a
     * schema says nothing about */
    if (max <= 0 || c->in != &fg_provider_openai || fg_json_get(j, 0, "max_tokens") >= 0 ||
        fg_json_get(j, 0, "max_completion_tokens") >= 0)
        return;
    c->so_cap = max + max / 4 + 32; /* margin: estimates, whitespace */
    if (c->in == c->out)
        fg_call_edit(c, j->t[0].start + 1, j->t[0].start + 1,
                     fg_arena_printf(&c->arena, "\"max_completion_tokens\":%ld,", c->so_cap));
}

/* structured_output.stream: buffer — ask the provider for the whole answer,
 * check it, then stream the checked answer to the client.  Here: the
 * upstream request stops streaming (a translated body is fixed in encode). */
static void buffer_stream(struct fg_call *c)
{
    const struct fg_json *j = &c->body;
    int so = fg_json_get(j, 0, "stream_options");
    c->include_usage = fg_json_type(j, fg_json_get(j, so, "include_usage")) == FG_J_TRUE;
    c->client_stream = true;
    c->stream = false;
    if (c->in != c->out)
        return;
    int s = fg_json_get(j, 0, "stream");
    fg_call_edit(c, j->t[s].start, j->t[s].end, "false");
    uint32_t a, b;
    if (fg_json_member_span(j, 0, "stream_options", &a, &b))
        fg_call_edit(c, a, b, "");
}

int fg_structured_request(struct fg_call *c)
{
    const struct fg_config *cfg = c->w->app->cfg;
    bool any;
    if (!cfg->structured_output.validate || c->endpoint == FG_EP_COUNT_TOKENS ||
        c->endpoint == FG_EP_RESP_INPUT_TOKENS)
        return 0;
    int s = requested_schema(c, &any);
    char err[200];
    if (s >= 0) {
        const struct fg_jtok *t = &c->body.t[s];
        c->so_schema = fg_schema_get(c->body.src + t->start, t->end - t->start, err, sizeof err);
        if (!c->so_schema)
            fg_warn("%s: requested schema not checked by frugal: %s", c->id, err);
    } else if (any) {
        c->so_schema = fg_schema_any_object();
        c->so_owned = true;
    }
    if (!c->so_schema)
        return 0;
    c->wants_structured = true; /* keep the answer text */
    cap_output(c);
    const char *mode = cfg->structured_output.stream;
    /* (a Responses stream is checked as it ends: the cache's replay that
     * buffering relies on speaks Chat Completions) */
    if (c->stream && mode && !strcmp(mode, "buffer") && c->in != &fg_provider_responses)
        buffer_stream(c);
    return 0;
}

void fg_structured_release(struct fg_call *c)
{
    if (!c->so_schema)
        return;
    if (c->so_owned)
        fg_schema_free(c->so_schema);
    else
        fg_schema_release(c->so_schema);
    c->so_schema = NULL;
}

static int check_cb(void *arg, const char *text, size_t len)
{
    struct fg_schema_error e;
    return fg_schema_validate(arg, text, len, &e) == 0 ? 0 : -1;
}

static int fail(struct fg_call *c, const struct fg_schema_error *e, size_t len)
{
    fg_err_set(&c->err, FG_E_UPSTREAM, e->path, "invalid_structured_output",
               "The model's answer does not match the requested schema at %s: %s "
               "(answer of %zu bytes from %s%s).",
               e->path, e->msg, len, c->upstream_model ? c->upstream_model : "the model",
               c->so_attempts ? ", after a retry" : "");
    return -1;
}

int fg_structured_check_text(struct fg_call *c, const char *text, size_t len)
{
    struct fg_schema_error e;
    if (!c->so_schema || fg_schema_validate(c->so_schema, text, len, &e) == 0)
        return 0;
    return fail(c, &e, len);
}

/* Where the answer is in a client-dialect response; NULL when there is
 * nothing to check (a refusal, tool calls, no content). */
static json_t *responses_slot(json_t *resp, const char **key, bool *truncated)
{
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

static json_t *answer_slot(struct fg_call *c, json_t *resp, const char **key, bool *truncated)
{
    if (c->in == &fg_provider_responses)
        return responses_slot(resp, key, truncated);
    if (c->in->dialect == FG_DIALECT_OPENAI) {
        json_t *ch = json_array_get(json_object_get(resp, "choices"), 0);
        json_t *msg = json_object_get(ch, "message");
        *truncated = json_is_string(json_object_get(ch, "finish_reason")) &&
                     !strcmp(json_string_value(json_object_get(ch, "finish_reason")), "length");
        *key = "content";
        if (!json_is_null(json_object_get(msg, "refusal")) && json_object_get(msg, "refusal"))
            return NULL;
        return json_is_string(json_object_get(msg, "content")) ? msg : NULL;
    }
    const char *sr = json_string_value(json_object_get(resp, "stop_reason"));
    *truncated = sr && !strcmp(sr, "max_tokens");
    if (sr && !strcmp(sr, "refusal"))
        return NULL;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(resp, "content"), i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (c->so_tool[0] && type && !strcmp(type, "tool_use")) {
            *key = "input";
            return b;
        }
        if (!c->so_tool[0] && type && !strcmp(type, "text")) {
            *key = "text";
            return b;
        }
    }
    return NULL;
}

/* The answer as JSON text (malloc'd). */
static char *answer_text(json_t *slot, const char *key, size_t *len)
{
    json_t *v = json_object_get(slot, key);
    char *s = json_is_string(v) ? strdup(json_string_value(v))
                                : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    *len = s ? strlen(s) : 0;
    return s;
}

static void replace_answer(json_t *slot, const char *key, const char *fixed, size_t n)
{
    if (!strcmp(key, "input"))
        json_object_set_new(slot, key, json_loadb(fixed, n, 0, NULL));
    else
        json_object_set_new(slot, key, json_stringn(fixed, n));
}

static int check_json(struct fg_call *c, json_t *resp, bool *changed)
{
    const char *key = NULL;
    bool truncated = false;
    json_t *slot = answer_slot(c, resp, &key, &truncated);
    if (!slot)
        return 0;
    size_t len;
    char *text = answer_text(slot, key, &len);
    struct fg_schema_error e;
    int rc = 0;
    if (text && fg_schema_validate(c->so_schema, text, len, &e) != 0) {
        size_t n;
        enum fg_repair_kind kind;
        char *fixed = c->w->app->cfg->structured_output.repair
                          ? fg_repair(text, len, truncated, check_cb, c->so_schema, &n, &kind)
                          : NULL;
        if (fixed) {
            fg_info("%s: structured answer repaired (%s)", c->id, fg_repair_kind_name(kind));
            replace_answer(slot, key, fixed, n);
            *changed = true;
            free(fixed);
        } else {
            rc = fail(c, &e, len);
        }
    }
    free(text);
    return rc;
}

int fg_structured_check(struct fg_call *c, struct evbuffer *body)
{
    if (!c->so_schema)
        return 0;
    size_t n = evbuffer_get_length(body);
    json_t *resp = json_loadb((const char *)evbuffer_pullup(body, -1), n, 0, NULL);
    if (!resp)
        return 0; /* not ours to judge: the relay already checked it is JSON */
    bool changed = false;
    int rc = check_json(c, resp, &changed);
    if (rc == 0 && changed) {
        char *s = json_dumps(resp, JSON_COMPACT | JSON_REAL_PRECISION(15));
        evbuffer_drain(body, n);
        evbuffer_add(body, s, strlen(s));
        free(s);
    }
    json_decref(resp);
    return rc;
}

int fg_structured_check_answer(const struct fg_config *cfg, enum fg_dialect d, const char *req,
                               size_t req_len, const char *model, struct evbuffer *body,
                               struct fg_err *err)
{
    if (!cfg->structured_output.validate)
        return 0;
    /* a call of our own, holding only what the checks read */
    struct fg_app app = {.cfg = cfg};
    struct fg_worker w = {.app = &app};
    struct fg_call c;
    memset(&c, 0, sizeof c);
    c.w = &w;
    c.in = c.out = d == FG_DIALECT_RESPONSES ? &fg_provider_responses : fg_provider_ops(d);
    c.upstream_model = model;
    snprintf(c.id, sizeof c.id, "batch");
    int rc = 0;
    bool any;
    char e[200];
    if (fg_json_parse(&c.body, req, req_len) == 0) {
        int s = requested_schema(&c, &any);
        if (s >= 0) {
            const struct fg_jtok *t = &c.body.t[s];
            c.so_schema = fg_schema_get(c.body.src + t->start, t->end - t->start, e, sizeof e);
        } else if (any) {
            c.so_schema = fg_schema_any_object();
            c.so_owned = true;
        }
        rc = fg_structured_check(&c, body);
        fg_structured_release(&c);
    }
    fg_json_free(&c.body);
    *err = c.err;
    return rc;
}
