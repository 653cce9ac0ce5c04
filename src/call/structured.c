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
    int tool = -1;
    int s = c->in->requested_schema(j, any_object, &tool);
    if (tool >= 0)
        fg_json_str(j, tool, c->so.tool, sizeof c->so.tool);
    return s;
}

/* No output limit from the client and a bounded schema: cap from it. */
static void cap_output(struct fg_call *c)
{
    const struct fg_json *j = &c->body;
    long max = fg_schema_max_tokens(c->so.schema);
    /* not on Responses: max_output_tokens also bounds reasoning, which a
     * schema says nothing about */
    const char *add = c->in->req.out_limit_add;
    if (max <= 0 || !add || fg_json_get(j, 0, "max_tokens") >= 0 || fg_json_get(j, 0, add) >= 0)
        return;
    c->so.cap = max + max / 4 + 32; /* margin: estimates, whitespace */
    /* for a body sent as is (a translated one is capped in encode) */
    fg_call_edit(c, j->t[0].start + 1, j->t[0].start + 1,
                 fg_arena_printf(&c->arena, "\"%s\":%ld,", add, c->so.cap));
}

/* structured_output.stream: buffer — ask the provider for the whole answer,
 * check it, then stream the checked answer to the client.  Here: the
 * upstream request stops streaming (its body is fixed in encode). */
static void buffer_stream(struct fg_call *c)
{
    const struct fg_json *j = &c->body;
    int so = fg_json_get(j, 0, "stream_options");
    c->include_usage = fg_json_type(j, fg_json_get(j, so, "include_usage")) == FG_J_TRUE;
    c->so.client_stream = true;
    c->stream = false;
    /* the encode stage rewrites the upstream body whole (stream false, no
     * stream_options): splices here would overlap the meter's into
     * stream_options */
}

int fg_structured_request(struct fg_call *c)
{
    const struct fg_config *cfg = c->snap->cfg;
    bool any;
    if (!cfg->structured_output.validate || c->endpoint == FG_EP_COUNT_TOKENS ||
        c->endpoint == FG_EP_RESP_INPUT_TOKENS)
        return 0;
    int s = requested_schema(c, &any);
    char err[200];
    if (s >= 0) {
        const struct fg_jtok *t = &c->body.t[s];
        c->so.schema = fg_schema_get(c->body.src + t->start, t->end - t->start, err, sizeof err);
        if (!c->so.schema)
            fg_warn("%s: requested schema not checked by frugal: %s", c->id, err);
    } else if (any) {
        c->so.schema = fg_schema_any_object();
        c->so.owned = true;
    }
    if (!c->so.schema)
        return 0;
    c->so.wanted = true; /* keep the answer text */
    cap_output(c);
    const char *mode = cfg->structured_output.stream;
    /* (a Responses stream is checked as it ends: the cache's replay that
     * buffering relies on speaks Chat Completions) */
    if (c->stream && mode && !strcmp(mode, "buffer") && c->in->req.stream_buffering)
        buffer_stream(c);
    return 0;
}

void fg_structured_release(struct fg_call *c)
{
    if (!c->so.schema)
        return;
    if (c->so.owned)
        fg_schema_free(c->so.schema);
    else
        fg_schema_release(c->so.schema);
    c->so.schema = NULL;
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
               e->path, e->msg, len,
               c->serve.upstream_model ? c->serve.upstream_model : "the model",
               c->so.attempts ? ", after a retry" : "");
    return -1;
}

int fg_structured_check_text(struct fg_call *c, const char *text, size_t len)
{
    struct fg_schema_error e;
    if (!c->so.schema || fg_schema_validate(c->so.schema, text, len, &e) == 0)
        return 0;
    return fail(c, &e, len);
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
    json_t *slot = c->in->answer_slot(resp, c->so.tool[0] != 0, &key, &truncated);
    if (!slot)
        return 0;
    size_t len;
    char *text = answer_text(slot, key, &len);
    struct fg_schema_error e;
    int rc = 0;
    if (text && fg_schema_validate(c->so.schema, text, len, &e) != 0) {
        size_t n;
        enum fg_repair_kind kind;
        char *fixed = c->snap->cfg->structured_output.repair
                          ? fg_repair(text, len, truncated, check_cb, c->so.schema, &n, &kind)
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
    if (!c->so.schema)
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
    struct fg_snap snap = {.cfg = cfg};
    struct fg_call c;
    memset(&c, 0, sizeof c);
    c.w = &w;
    c.snap = &snap;
    c.in = c.out = fg_provider_ops(d);
    c.serve.upstream_model = model;
    snprintf(c.id, sizeof c.id, "batch");
    int rc = 0;
    bool any;
    char e[200];
    if (fg_json_parse(&c.body, req, req_len) == 0) {
        int s = requested_schema(&c, &any);
        if (s >= 0) {
            const struct fg_jtok *t = &c.body.t[s];
            c.so.schema = fg_schema_get(c.body.src + t->start, t->end - t->start, e, sizeof e);
        } else if (any) {
            c.so.schema = fg_schema_any_object();
            c.so.owned = true;
        }
        rc = fg_structured_check(&c, body);
        fg_structured_release(&c);
    }
    fg_json_free(&c.body);
    *err = c.err;
    return rc;
}
