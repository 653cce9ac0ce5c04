/* batch_mcreate.c — see batch_mcreate.h. */
#include "batch_mcreate.h"

#include "arena.h"
#include "assert.h"
#include "batch_exec.h"
#include "batch_format.h"
#include "batch_store.h"
#include "edge.h"
#include "edgeq.h"
#include "err.h"
#include "gate.h"
#include "jsonsplit.h"
#include "keyreg.h"
#include "log.h"
#include "provider.h"
#include "reply.h"
#include "runtime.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Requests per group, whatever their size (the group's arrays). */
#define GROUP_SLOTS 4096

struct mcreate {
    struct fg_worker *w;
    struct fg_batch_store *s;
    struct fg_edge_req *req;
    uint64_t body_len; /* declared Content-Length, 0 when chunked */
    uint64_t body_seen;
    size_t max_lines;
    struct fg_principal p;
    struct fg_batch b;
    bool begun, committed, dropped, answered, store_failed;
    bool bad; /* a request failed its checks: param and why say which */
    char param[64], why[160];
    char syn[200];         /* a request that is not JSON (the splitter stopped) */
    json_t *seen;          /* custom_ids; its keys are the group's custom_id strings */
    struct fg_bline_in *v; /* the group: GROUP_SLOTS, malloc'd (owned here) */
    size_t ngroup, group_bytes;
    int64_t first;   /* index of the group's first request */
    uint64_t booked; /* against server.max_body_bytes_in_flight (gate.h) */
    struct fg_jsonsplit js;
};

static const char *const NOT_ARRAY = "requests: must be a non-empty array.";

/* The request's terminal reply: the request ends inside it, and u (in its
 * arena) with it, on_end dropping what was stored; u is not touched after. */
static void answer(struct mcreate *u, enum fg_err_class cls, const char *param, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void answer(struct mcreate *u, enum fg_err_class cls, const char *param, const char *code,
                   const char *fmt, ...)
{
    struct fg_err e;
    fg_err_set(&e, cls, param, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    u->answered = true;
    fg_reply_error(u->req, &fg_provider_anthropic, &e);
}

static void storage_failed(struct mcreate *u)
{
    fg_error("batch store: %s", fg_batch_store_errmsg(u->s));
    answer(u, FG_E_INTERNAL, NULL, "storage_error",
           "frugal could not read or write its batch storage; see the gateway log.");
}

static void group_clear(struct mcreate *u)
{
    for (size_t i = 0; i < u->ngroup; i++)
        free((char *)u->v[i].body);
    u->ngroup = u->group_bytes = 0;
}

/* Drop what was stored (the hidden row and its lines); stop storing. */
static void drop(struct mcreate *u)
{
    if (u->begun && !u->committed && !u->dropped) {
        if (fg_batch_store_batch_abort(u->s, u->b.id) < 0)
            fg_error("batch store: batch %s not aborted (its sweep will): %s", u->b.id,
                     fg_batch_store_errmsg(u->s));
        fg_batch_exec_wake(); /* its lines: the executor's sweep */
    }
    group_clear(u);
    u->dropped = true;
}

static int flush_group(struct mcreate *u)
{
    if (!u->ngroup || u->dropped)
        return 0;
    if (!u->begun) {
        if (fg_batch_store_batch_begin(u->s, &u->b) < 0)
            goto failed;
        u->begun = true;
    }
    if (fg_batch_store_batch_add(u->s, u->b.id, u->first, u->v, u->ngroup) < 0)
        goto failed;
    u->first += (int64_t)u->ngroup;
    group_clear(u);
    return 0;
failed:
    u->store_failed = true;
    return -1;
}

/* ---- one request */

static bool valid_custom_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static const char *check_params(json_t *p)
{
    if (!json_is_object(p))
        return "must be an object (the Messages request)";
    if (!json_is_string(json_object_get(p, "model")))
        return "needs 'model' (a string)";
    json_t *m = json_object_get(p, "messages");
    if (!json_is_array(m) || json_array_size(m) == 0)
        return "needs 'messages' (a non-empty array)";
    if (json_is_true(json_object_get(p, "stream")))
        return "must not set 'stream' in a batch";
    return NULL;
}

/* The whole-body create's checks of requests[i]; false with param and why. */
static bool check_request(struct mcreate *u, size_t i, json_t *r)
{
    const char *cid = json_string_value(json_object_get(r, "custom_id"));
    const char *perr = check_params(json_object_get(r, "params"));
    if (!json_is_object(r)) {
        snprintf(u->param, sizeof u->param, "requests.%zu", i);
        snprintf(u->why, sizeof u->why, "must be an object with custom_id and params");
    } else if (!cid || !valid_custom_id(cid)) {
        snprintf(u->param, sizeof u->param, "requests.%zu.custom_id", i);
        snprintf(u->why, sizeof u->why, "must be 1-64 characters of letters, digits, '_' or '-'");
    } else if (json_object_get(u->seen, cid)) {
        snprintf(u->param, sizeof u->param, "requests.%zu.custom_id", i);
        snprintf(u->why, sizeof u->why, "duplicate custom_id '%s'", cid);
    } else if (perr) {
        snprintf(u->param, sizeof u->param, "requests.%zu.params", i);
        snprintf(u->why, sizeof u->why, "%s", perr);
    } else {
        return true;
    }
    return false;
}

/* Add a valid request to the group (custom_id kept as a key of seen). */
static int add_request(struct mcreate *u, json_t *r)
{
    const char *cid = json_string_value(json_object_get(r, "custom_id"));
    json_object_set_new(u->seen, cid, json_true());
    if (u->dropped) /* another request failed: only the checks go on */
        return 0;
    if (!u->v)
        u->v = fg_xmalloc(GROUP_SLOTS * sizeof *u->v);
    char *body = json_dumps(json_object_get(r, "params"), JSON_COMPACT);
    struct fg_bline_in *l = &u->v[u->ngroup++];
    l->custom_id = json_object_iter_key(json_object_iter_at(u->seen, cid));
    l->body = body ? body : strdup("{}");
    l->body_len = strlen(l->body);
    u->group_bytes += l->body_len + 64;
    if (u->group_bytes >= FG_BATCH_MCREATE_GROUP || u->ngroup == GROUP_SLOTS)
        return flush_group(u);
    return 0;
}

/* The splitter's consumer: nonzero stops it (a request that is not JSON,
 * or a storage failure). */
static int on_request(void *arg, size_t i, const char *p, size_t n)
{
    struct mcreate *u = arg;
    json_error_t je;
    json_t *r = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!r) {
        snprintf(u->syn, sizeof u->syn, "requests.%zu: %s", i, je.text);
        return 1;
    }
    int rc = 0;
    if (i >= u->max_lines) { /* counted to the end; answered then */
        drop(u);
    } else if (!u->bad && !check_request(u, i, r)) {
        u->bad = true;
        drop(u);
    } else if (!u->bad) {
        rc = add_request(u, r);
    }
    json_decref(r);
    return rc;
}

/* ---- the body */

/* Answer the splitter's error. */
static void answer_split(struct mcreate *u)
{
    const struct fg_jsonsplit *js = &u->js;
    size_t max = u->w->app->cfg->server.max_body_bytes;
    switch (js->code) {
    case FG_JSONSPLIT_E_NOT_ARRAY:
        answer(u, FG_E_INVALID, "requests", NULL, "%s", NOT_ARRAY);
        break;
    case FG_JSONSPLIT_E_BIG:
        answer(u, FG_E_TOO_LARGE, "requests", "request_too_large",
               "requests.%zu: over the limit of %zu bytes for one request "
               "(server.max_body_bytes); nothing was stored.",
               js->n, max);
        break;
    case FG_JSONSPLIT_E_MEMBER:
        answer(u, FG_E_INVALID, NULL, NULL,
               "Request body must be a JSON object with only 'requests': %s.", js->err);
        break;
    case FG_JSONSPLIT_E_STOPPED:
        if (u->store_failed) {
            storage_failed(u);
            break;
        }
        answer(u, FG_E_INVALID, NULL, NULL, "Request body must be a JSON object: %s", u->syn);
        break;
    default:
        answer(u, FG_E_INVALID, NULL, NULL, "Request body must be a JSON object: %s", js->err);
        break;
    }
}

static void sink(struct fg_edge_req *r, const char *p, size_t n, void *arg)
{
    struct mcreate *u = arg;
    (void)r;
    u->body_seen += n;
    if (u->js.code != FG_JSONSPLIT_OK)
        return; /* failed: the answer waits for the body's end */
    if (fg_jsonsplit_push(&u->js, p, n) == 0)
        return;
    drop(u);
    /* answered now, unless the body is complete (then the request hook
     * answers, keeping the connection) */
    if (u->store_failed || !u->body_len || u->body_seen < u->body_len)
        answer_split(u);
}

static void on_end(struct fg_edge_req *r, void *arg)
{
    struct mcreate *u = arg;
    (void)r;
    drop(u);
    free(u->v);
    u->v = NULL;
    json_decref(u->seen);
    u->seen = NULL;
    fg_jsonsplit_free(&u->js);
    fg_batch_store_batch_clear(&u->b);
    fg_gate_release(u->booked);
}

/* Book what the request may hold against server.max_body_bytes_in_flight
 * (its state, the splitter's buffer and one parsed request, each at most
 * server.max_body_bytes, and the group; never more than twice its
 * declared length): false after a 503, as the gateway answers a body over
 * that bound (wire.h). */
static bool book(struct mcreate *u)
{
    const struct fg_server_cfg *sc = &u->w->app->cfg->server;
    uint64_t hold = (uint64_t)FG_BATCH_MCREATE_GROUP + 2 * (uint64_t)sc->max_body_bytes;
    if (u->body_len && hold > 2 * u->body_len)
        hold = 2 * u->body_len;
    uint64_t n = sizeof *u + hold;
    if (fg_gate_reserve(n, sc->max_body_bytes_in_flight)) {
        u->booked = n;
        return true;
    }
    answer(u, FG_E_UNAVAILABLE, NULL, "server_busy",
           "frugal is receiving as many request bodies as it takes at once "
           "(server.max_body_bytes_in_flight = %zu bytes); retry shortly.",
           sc->max_body_bytes_in_flight);
    return false;
}

/* The creating call's recorded tags, as batch_api.c records them for an
 * OpenAI batch (keyreg.h fg_keyreg_call_tags); malloc'd or NULL. */
static char *call_tags(struct mcreate *u)
{
    const char *h = fg_edgeq_header(u->req, "x-frugal-tags");
    struct fg_arena a;
    fg_arena_init(&a);
    struct fg_call_tags t;
    fg_keyreg_call_tags(&a, u->p.vkey, u->p.key_id, h, &t);
    char *out = *t.recorded ? strdup(t.recorded) : NULL;
    fg_arena_free(&a);
    return out;
}

int fg_batch_mcreate_head(struct fg_worker *w, struct fg_batch_store *s, struct fg_edge_req *req)
{
    struct mcreate *u = fg_arena_alloc(fg_edge_req_arena(req), sizeof *u);
    memset(u, 0, sizeof *u);
    u->w = w;
    u->s = s;
    u->req = req;
    u->max_lines = (size_t)w->app->cfg->batches.max_lines;
    const struct fg_reqhead *h = fg_edge_req_head(req);
    u->body_len = h->has_length ? h->length : 0;
    if (fg_auth_request(w, req, &fg_provider_anthropic, &u->p) < 0)
        return 1;
    if (!book(u))
        return 1;
    fg_edge_req_on_end(req, on_end, u); /* gives the booking back, however it ends */
    u->seen = json_object();
    fg_jsonsplit_init(&u->js, "requests", w->app->cfg->server.max_body_bytes, on_request, u);
    struct fg_batch *b = &u->b;
    fg_batch_store_new_id("msgbatch_", b->id, sizeof b->id);
    snprintf(b->owner, sizeof b->owner, "%s", u->p.key_id);
    snprintf(b->dialect, sizeof b->dialect, "anthropic");
    b->created_at = (int64_t)time(NULL);
    /* a hidden row its process never ended is swept after the body's deadline */
    b->expires_at = b->created_at + w->app->cfg->server.body_timeout_ms / 1000 + 3600;
    b->tags = call_tags(u);
    fg_edge_req_set_sink(req, sink, u);
    fg_edge_req_set_app(req, u);
    return 2;
}

/* The checks of the complete body, in the whole-body create's order; 0
 * when the batch may be committed, else answered. */
static int check_complete(struct mcreate *u)
{
    if (u->js.code == FG_JSONSPLIT_OK && fg_jsonsplit_finish(&u->js) < 0)
        drop(u);
    if (u->js.code != FG_JSONSPLIT_OK) {
        answer_split(u);
        return -1;
    }
    if (!u->js.seen_key || u->js.n == 0) {
        answer(u, FG_E_INVALID, "requests", NULL, "%s", NOT_ARRAY);
        return -1;
    }
    if (u->js.n > u->max_lines) {
        answer(u, FG_E_INVALID, "requests", NULL,
               "requests: %zu requests, over the limit of %zu (batches.max_lines).", u->js.n,
               u->max_lines);
        return -1;
    }
    if (u->bad) {
        answer(u, FG_E_INVALID, u->param, NULL, "%s: %s.", u->param, u->why);
        return -1;
    }
    if (flush_group(u) < 0) {
        drop(u);
        storage_failed(u);
        return -1;
    }
    return 0;
}

void fg_batch_mcreate_end(struct fg_worker *w, struct fg_edge_req *req,
                          const struct fg_principal *p)
{
    struct mcreate *u = fg_edge_req_app(req);
    (void)p;
    FG_ASSERT(!u || (u->req == req && !u->answered));
    if (!u) { /* only the head hook starts a create (wire.c) */
        struct fg_err e;
        fg_err_set(&e, FG_E_INTERNAL, NULL, "create_not_streamed", "%s",
                   "frugal did not receive this batch through its head hook.");
        fg_reply_error(req, &fg_provider_anthropic, &e);
        return;
    }
    if (check_complete(u) < 0)
        return; /* answered: the request ended, u with it (on_end dropped the batch) */
    struct fg_batch *b = &u->b;
    FG_ASSERT(u->begun && u->first == (int64_t)u->js.n);
    snprintf(b->status, sizeof b->status, "in_progress");
    b->in_progress_at = b->created_at;
    b->expires_at = b->created_at + w->app->cfg->batches.window_seconds;
    b->total = (int64_t)u->js.n;
    if (fg_batch_store_batch_commit(u->s, b) < 0) {
        drop(u);
        storage_failed(u);
        return;
    }
    u->committed = true;
    fg_batch_exec_wake();
    fg_info("batch %s created by %s: %zu requests", b->id, b->owner, u->js.n);
    const char *pub = w->app->cfg->server.public_url;
    json_t *v = fg_batch_format_anthropic_batch(b, pub ? pub : "");
    fg_reply_json_value(req, 200, v, JSON_COMPACT);
    json_decref(v);
}
