/* respstate.c — see respstate.h. */
#include "respstate.h"

#include "snap.h"

#include "call.h"
#include "assert.h"
#include "ledger.h"
#include "log.h"
#include "provider.h"
#include "runtime.h"
#include "sse.h"
#include "store.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* A conversation replayed from the store: at most this many responses and
 * this many bytes of stored data (the request body cap is of the same
 * order). */
#define CHAIN_MAX 1000
#define CHAIN_BYTES (64u << 20)
/* A cached response older than this is confirmed by the store before it is
 * used: another replica on the same store may have deleted it (DELETE
 * /v1/responses/{id} through it).  Well above the ledger's write delay, so
 * this process's own fresh responses never need the store. */
#define RECHECK_MS 1000

void fg_respstate_mint(char *out)
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k > 0)
            got += (size_t)k;
    }
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "resp_", 5);
    for (size_t i = 0; i < sizeof r; i++) {
        out[5 + 2 * i] = hex[r[i] >> 4];
        out[6 + 2 * i] = hex[r[i] & 15];
    }
    out[FG_RESPSTATE_ID_LEN] = '\0';
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool fg_respstate_owns(const char *key_id, const char *owner)
{
    return !strcmp(key_id, "master") || !strcmp(key_id, "anonymous") ||
           (owner && !strcmp(key_id, owner));
}

static void copy_id(char *dst, const char *src)
{
    snprintf(dst, FG_RESPMAP_ID_MAX + 1, "%s", src ? src : "");
}

/* ---- lookup: the cache, then the store --------------------------------- */

/* A store row as the cache keeps it (out->data NULL: the caller's). */
static void entry_of(const struct fg_config *cfg, const char *id, const struct fg_store_response *r,
                     struct fg_respmap_entry *out)
{
    memset(out, 0, sizeof *out);
    copy_id(out->id, id);
    snprintf(out->owner, sizeof out->owner, "%s", r->key_id ? r->key_id : "");
    /* a row from before frugal minted ids (no expiry, no provider id): its
     * id is the provider's */
    copy_id(out->upstream, !r->upstream_id && !r->expires_ms ? id : r->upstream_id);
    copy_id(out->prev, r->prev_id);
    out->expires_ms = r->expires_ms;
    out->provider_index = -1;
    for (size_t i = 0; r->provider && i < cfg->n_providers; i++)
        if (!strcmp(cfg->providers[i].name, r->provider))
            out->provider_index = (int)i;
    out->vouched_ms = mono_ms();
}

struct chain_fill {
    const struct fg_config *cfg;
    const char *head;
    struct fg_respmap_entry *out;
    bool found;
};

/* One row of the conversation read in one query: into the cache (the turns
 * after this one find their ancestors there), the head also into out.  An
 * id the cache already knows keeps its entry (a tombstone for a delete
 * still queued, or this process's own fresher copy). */
static int chain_row(void *arg, const char *id, const struct fg_store_response *r)
{
    struct chain_fill *x = arg;
    struct fg_respmap_entry e;
    bool head = !strcmp(id, x->head);
    if (!head && fg_respmap_get(id, &e, false))
        return 0;
    entry_of(x->cfg, id, r, &e);
    e.data = r->data;
    e.data_len = r->data ? strlen(r->data) : 0;
    fg_respmap_put(&e); /* copies the data */
    if (head) {
        *x->out = e;
        x->out->data = r->data ? fg_xstrdup(r->data) : NULL;
        x->found = true;
    }
    return 0;
}

/* Not in the cache: the store's row, and with it (response_chain) the rows
 * of the whole conversation before it, in one round trip. */
static bool from_store(struct fg_worker *w, const char *id, struct fg_respmap_entry *out)
{
    const struct fg_config *cfg = w->app->cfg;
    char err[256];
    if (!w->store && fg_store_open(cfg->storage, &w->store, err, sizeof err) < 0) {
        fg_warn("responses: cannot open the store: %s", err);
        return false;
    }
    if (w->store->ops->response_chain) {
        struct chain_fill x = {cfg, id, out, false};
        if (w->store->ops->response_chain(w->store, id, now_ms(), CHAIN_MAX, chain_row, &x, err,
                                          sizeof err) < 0)
            fg_warn("responses: %s", err);
        return x.found;
    }
    struct fg_store_response r;
    if (!w->store->ops->response_get)
        return false;
    int rc = w->store->ops->response_get(w->store, id, now_ms(), &r, err, sizeof err);
    if (rc < 0)
        fg_warn("responses: %s", err);
    if (rc != 1)
        return false;
    entry_of(cfg, id, &r, out);
    out->data = r.data; /* taken */
    out->data_len = r.data ? strlen(r.data) : 0;
    r.data = NULL;
    fg_store_response_free(&r);
    fg_respmap_put(out); /* the next turn finds it here */
    return true;
}

/* A cached entry older than RECHECK_MS: does the store still hold it?  Only
 * a definite "no" (another replica deleted it) refuses it, and only while
 * this process's own records are reaching the store: when the store cannot
 * be read, or this ledger's records wait in its spool (the row may be one
 * of them), the cache answers.  A "no" leaves the cache as it is, so a row
 * that arrives later is found again. */
static bool still_stored(struct fg_worker *w, const struct fg_respmap_entry *e)
{
    int64_t now = mono_ms();
    if (now - e->vouched_ms < RECHECK_MS)
        return true;
    struct fg_ledger_stats ls;
    fg_ledger_get_stats(&ls);
    if (ls.store_down || ls.spool_depth > 0)
        return true;
    char err[256];
    if (!w->store && fg_store_open(w->app->cfg->storage, &w->store, err, sizeof err) < 0)
        return true;
    if (!w->store->ops->response_owner)
        return true;
    char owner[48], provider[64];
    int rc = w->store->ops->response_owner(w->store, e->id, owner, sizeof owner, provider,
                                           sizeof provider, err, sizeof err);
    if (rc < 0)
        fg_warn("responses: %s", err);
    if (rc != 0)
        fg_respmap_vouch(e->id, now);
    return rc != 0;
}

static bool find(struct fg_worker *w, const char *id, struct fg_respmap_entry *out, bool want_data,
                 bool recheck)
{
    if (!fg_respmap_id_ok(id, strlen(id)))
        return false;
    if (fg_respmap_get(id, out, want_data)) {
        bool live = !out->deleted && (!out->expires_ms || out->expires_ms > now_ms());
        if (live && (!recheck || still_stored(w, out)))
            return true;
        free(out->data);
        out->data = NULL;
        if (!live && !out->deleted)
            fg_respmap_forget(id); /* expired: the store's prune deletes its row */
        return false;
    }
    if (!from_store(w, id, out))
        return false;
    if (!want_data) {
        free(out->data);
        out->data = NULL;
    }
    return true;
}

bool fg_respstate_find(struct fg_worker *w, const char *id, struct fg_respmap_entry *out,
                       bool want_data)
{
    return find(w, id, out, want_data, true);
}

static const char *quoted(struct fg_call *c, const char *s)
{
    return s ? fg_arena_printf(&c->arena, "\"%s\"", s) : "null";
}

/* ---- previous_response_id ---------------------------------------------- */

static int not_found(struct fg_call *c, const char *id)
{
    return fg_err_set(&c->err, FG_E_INVALID, "previous_response_id", "previous_response_not_found",
                      "Previous response with id '%s' not found.", id);
}

/* The provider speaks Responses itself (no translator): its ids mean
 * something to it. */
static bool passthrough(const struct fg_call *c)
{
    return c->out && c->out->shape == FG_DIALECT_RESPONSES;
}

int fg_respstate_deployment(const struct fg_call *c)
{
    const struct fg_model_cfg *m = c->serve.model;
    if (c->endpoint != FG_EP_RESPONSES || !c->rs.prev || c->rs.expanded || !c->rs.prev_upstream ||
        !m || !passthrough(c) || c->rs.prev_provider < 0)
        return -1;
    if (m->provider_index == c->rs.prev_provider)
        return 0;
    for (size_t k = 0; k < m->n_deployments; k++)
        if (m->deployments[k].provider_index == c->rs.prev_provider)
            return (int)k + 1;
    return -1;
}

/* The items of a stored `input` (a string is one user message). */
static void add_input(json_t *items, json_t *in)
{
    if (json_is_string(in)) {
        json_array_append_new(items, json_pack("{s:s,s:O}", "role", "user", "content", in));
        return;
    }
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        const char *t = json_string_value(json_object_get(it, "type"));
        if (t && (!strcmp(t, "reasoning") || !strcmp(t, "item_reference")))
            continue; /* they resolve only on the account that made them */
        json_array_append(items, it);
    }
}

/* A stored answer's output items as input for another account: without
 * reasoning items and without the provider's item ids. */
static void add_output(json_t *items, json_t *resp)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(resp, "output"), i, it)
    {
        const char *t = json_string_value(json_object_get(it, "type"));
        if (!t || !strcmp(t, "reasoning"))
            continue;
        json_t *x = json_deep_copy(it);
        json_object_del(x, "id");
        if (!strcmp(t, "message"))
            json_object_del(x, "status");
        json_array_append_new(items, x);
    }
}

static int no_history(struct fg_call *c, const char *id, const char *why)
{
    char msg[240];
    snprintf(msg, sizeof msg, "%s", why);
    return fg_err_set(
        &c->err, FG_E_INVALID, "previous_response_id", "previous_response_not_replayable",
        "This turn goes to provider account '%s', which does not hold the previous "
        "response '%s'; frugal would replay the conversation from its own copy, but %s",
        c->serve.provider ? c->serve.provider->name : "?", id, msg);
}

/* The stored turns of the conversation ending at c->rs.prev, oldest
 * first, into items; 0 or -1 (c->err). */
static int history(struct fg_call *c, json_t *items)
{
    json_t *turns = json_array();
    char id[FG_RESPMAP_ID_MAX + 1];
    copy_id(id, c->rs.prev);
    size_t bytes = 0;
    int rc = 0;
    for (int depth = 0; id[0]; depth++) {
        struct fg_respmap_entry e;
        if (depth >= CHAIN_MAX) {
            rc = no_history(c, c->rs.prev, "the conversation is longer than 1000 responses.");
            break;
        }
        /* the head was confirmed by fg_respstate_request: its ancestors
         * come from the cache as they are (no store round trip per turn) */
        if (!find(c->w, id, &e, true, depth == 0)) {
            rc = no_history(c, c->rs.prev, "an earlier response of it is no longer stored.");
            break;
        }
        json_t *d = e.data ? json_loadb(e.data, e.data_len, 0, NULL) : NULL;
        bytes += e.data_len;
        free(e.data);
        if (!d) {
            rc = no_history(c, c->rs.prev,
                            c->snap->cfg->responses.store
                                ? "frugal kept no copy of it (larger than responses.max_bytes)."
                                : "responses.store is false in frugal's config.");
            break;
        }
        if (bytes > CHAIN_BYTES) {
            json_decref(d);
            rc = no_history(c, c->rs.prev, "the conversation is larger than 64 MiB.");
            break;
        }
        json_array_insert_new(turns, 0, d);
        copy_id(id, e.prev);
    }
    size_t i;
    json_t *d;
    json_array_foreach(turns, i, d)
    {
        if (rc < 0)
            break;
        add_input(items, json_object_get(d, "input"));
        add_output(items, json_object_get(d, "response"));
    }
    json_decref(turns);
    return rc;
}

/* Replace previous_response_id by the stored history in the request body:
 * c->raw becomes an arena copy, c->body its index. */
static int expand(struct fg_call *c)
{
    if (!c->snap->cfg->responses.store)
        return no_history(c, c->rs.prev, "responses.store is false in frugal's config.");
    json_t *body = json_loadb(c->raw, c->raw_len, 0, NULL);
    json_t *items = json_array();
    int rc = body ? history(c, items) : -1;
    if (!body)
        fg_err_set(&c->err, FG_E_INVALID, NULL, NULL, "the request body is not JSON");
    char *s = NULL;
    if (rc == 0) {
        json_t *in = json_object_get(body, "input");
        if (in)
            add_input(items, in);
        json_object_set(body, "input", items);
        json_object_del(body, "previous_response_id");
        s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    }
    json_decref(items);
    json_decref(body);
    if (rc < 0)
        return -1;
    if (!s)
        return fg_err_set(&c->err, FG_E_INTERNAL, NULL, NULL, "could not build the request");
    size_t n = strlen(s);
    char *raw = fg_arena_alloc(&c->arena, n + 1);
    memcpy(raw, s, n + 1);
    free(s);
    c->raw = raw;
    c->raw_len = n;
    if (fg_json_parse(&c->body, raw, n) < 0)
        return fg_err_set(&c->err, FG_E_INTERNAL, NULL, NULL, "could not index the request");
    c->rs.expanded = true;
    fg_info("%s: previous_response_id %s replayed from frugal's store for provider '%s'", c->id,
            c->rs.prev, c->serve.provider ? c->serve.provider->name : "?");
    return 0;
}

int fg_respstate_request(struct fg_call *c)
{
    if (c->endpoint != FG_EP_RESPONSES)
        return 0;
    struct fg_call_rstate *s = &c->rs;
    if (!s->id[0])
        fg_respstate_mint(s->id);
    s->prev_provider = -1;
    const struct fg_json *b = &c->body;
    s->stored = fg_json_type(b, fg_json_get(b, 0, "store")) != FG_J_FALSE;
    int in = fg_json_get(b, 0, "input");
    if (in >= 0) { /* the client's bytes outlive the call's use of them */
        s->input = c->raw + b->t[in].start;
        s->input_len = b->t[in].end - b->t[in].start;
    }
    int p = fg_json_get(b, 0, "previous_response_id");
    if (p < 0 || fg_json_type(b, p) == FG_J_NULL)
        return 0;
    char id[FG_RESPMAP_ID_MAX + 2];
    long n = fg_json_str(b, p, id, sizeof id);
    if (n <= 0 || (size_t)n > FG_RESPMAP_ID_MAX || !fg_respmap_id_ok(id, (size_t)n))
        return fg_err_set(&c->err, FG_E_INVALID, "previous_response_id", "invalid_value",
                          "Invalid 'previous_response_id': expected a response id of up to 96 "
                          "letters, digits, '_' or '-'.");
    struct fg_respmap_entry e;
    if (!fg_respstate_find(c->w, id, &e, false))
        return not_found(c, id);
    if (!fg_respstate_owns(c->who.key_id, e.owner))
        return not_found(c, id); /* another key's: as if it did not exist */
    s->prev = fg_arena_strdup(&c->arena, id);
    s->prev_upstream = e.upstream[0] ? fg_arena_strdup(&c->arena, e.upstream) : NULL;
    /* the map keeps the boot config's provider indexes (snap.h) */
    s->prev_provider = fg_snap_provider_from_boot(c->w->app, c->snap, e.provider_index);
    if (fg_respstate_deployment(c) >= 0)
        return 0; /* the deploy stage pins it: the provider's id goes on */
    return expand(c);
}

int fg_respstate_encode(struct fg_call *c)
{
    if (c->endpoint != FG_EP_RESPONSES || !c->rs.prev || c->rs.expanded)
        return 0;
    if (c->serve.provider_index == c->rs.prev_provider && passthrough(c) && c->rs.prev_upstream) {
        /* the account holding it: its own id goes on, spliced in */
        int p = fg_json_get(&c->body, 0, "previous_response_id");
        FG_ASSERT(p >= 0);
        fg_call_edit(c, c->body.t[p].start, c->body.t[p].end, quoted(c, c->rs.prev_upstream));
        return 0;
    }
    c->prefix = NULL; /* its spans were of the body being replaced */
    return expand(c);
}

/* ---- answers: frugal's id, remembered ---------------------------------- */

/* Splice frugal's ids into the Response object `obj` of document j (its
 * source) and note the provider's id; a malloc'd copy of the document. */
static char *rewrite(struct fg_call *c, const struct fg_json *j, int obj, size_t *out_len)
{
    struct fg_json_edit ed[2];
    size_t ne = 0;
    int id = fg_json_get(j, obj, "id");
    if (fg_json_type(j, id) == FG_J_STR) {
        size_t n;
        const char *s = fg_json_raw_str(j, id, &n);
        if (!c->rs.upstream && strncmp(s, c->rs.id, n))
            c->rs.upstream = fg_arena_strndup(&c->arena, s, n);
        const char *q = quoted(c, c->rs.id);
        ed[ne++] = (struct fg_json_edit){j->t[id].start, j->t[id].end, q, strlen(q)};
    }
    int prev = fg_json_get(j, obj, "previous_response_id");
    if (prev >= 0) {
        const char *q = quoted(c, c->rs.prev);
        ed[ne++] = (struct fg_json_edit){j->t[prev].start, j->t[prev].end, q, strlen(q)};
    }
    if (ne == 2 && ed[0].start > ed[1].start) {
        struct fg_json_edit t = ed[0];
        ed[0] = ed[1];
        ed[1] = t;
    }
    return fg_json_splice(j->src, j->len, ed, ne, out_len);
}

/* The Response object `resp` (n bytes, frugal's ids) is this attempt's
 * answer: remember it (final: with its replay data). */
static void remember(struct fg_call *c, const char *resp, size_t n, bool final)
{
    struct fg_call_rstate *s = &c->rs;
    if (!s->stored)
        return; /* store: false: the client keeps its own state */
    const struct fg_config *cfg = c->snap->cfg;
    s->expires_ms = cfg->responses.retention_seconds > 0
                        ? now_ms() + (int64_t)cfg->responses.retention_seconds * 1000
                        : 0;
    s->data = NULL;
    if (final && cfg->responses.store) {
        const char *in = s->input ? s->input : "null";
        size_t in_len = s->input ? s->input_len : 4, len = in_len + n + 24;
        if (len <= cfg->responses.max_bytes)
            s->data = fg_arena_printf(&c->arena, "{\"input\":%.*s,\"response\":%.*s}", (int)in_len,
                                      in, (int)n, resp);
        else
            fg_warn("%s: response %s is %zu bytes, over responses.max_bytes: its id is kept, "
                    "its conversation cannot be replayed on another account",
                    c->id, s->id, len);
    }
    struct fg_respmap_entry e = {
        .provider_index = fg_snap_provider_to_boot(c->w->app, c->snap, c->serve.provider_index),
        .expires_ms = s->expires_ms,
        .vouched_ms = mono_ms(),
        .data = (char *)s->data,
        .data_len = s->data ? strlen(s->data) : 0};
    copy_id(e.id, s->id);
    snprintf(e.owner, sizeof e.owner, "%s", c->who.key_id ? c->who.key_id : "anonymous");
    copy_id(e.upstream, passthrough(c) ? s->upstream : NULL);
    copy_id(e.prev, s->prev);
    fg_respmap_put(&e);
    c->response_id = fg_arena_strdup(&c->arena, s->id); /* and the ledger keeps it */
    if (!passthrough(c))
        s->upstream = NULL; /* a translator's id: nowhere to pass it */
}

static bool terminal(const struct fg_json *j, int obj)
{
    int st = fg_json_get(j, obj, "status");
    return !fg_json_str_eq(j, st, "queued") && !fg_json_str_eq(j, st, "in_progress");
}

void fg_respstate_answer(struct fg_call *c)
{
    struct fg_json *j = &c->up.resp;
    if (c->endpoint != FG_EP_RESPONSES || !c->rs.id[0] || fg_json_type(j, 0) != FG_J_OBJ)
        return;
    size_t n;
    bool fin = terminal(j, 0);
    char *out = rewrite(c, j, 0, &n);
    remember(c, out, n, fin);
    struct evbuffer *b = c->up.body;
    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add(b, out, n);
    free(out);
    if (fg_json_parse(j, (const char *)evbuffer_pullup(b, -1), n) < 0)
        fg_warn("%s: a rewritten Response is not JSON", c->id); /* cannot be: splices of strings */
}

void fg_respstate_buffer(struct fg_call *c, struct evbuffer *b)
{
    if (c->endpoint != FG_EP_RESPONSES || !c->rs.id[0])
        return;
    size_t len = evbuffer_get_length(b);
    struct fg_json j = {0};
    if (fg_json_parse(&j, (const char *)evbuffer_pullup(b, -1), len) == 0 &&
        fg_json_type(&j, 0) == FG_J_OBJ) {
        size_t n;
        bool fin = terminal(&j, 0);
        char *out = rewrite(c, &j, 0, &n);
        remember(c, out, n, fin);
        evbuffer_drain(b, len);
        evbuffer_add(b, out, n);
        free(out);
    }
    fg_json_free(&j);
}

const struct fg_sse_event *fg_respstate_event(struct fg_call *c, const struct fg_sse_event *ev)
{
    if (c->endpoint != FG_EP_RESPONSES || !c->rs.id[0] || !ev->data_len ||
        !memmem(ev->data, ev->data_len, "\"response\"", 10))
        return ev;
    struct fg_json *j = &c->up.resp; /* stream scratch: classify parses it again */
    if (fg_json_parse(j, ev->data, ev->data_len) < 0)
        return ev;
    int obj = fg_json_get(j, 0, "response");
    if (fg_json_type(j, obj) != FG_J_OBJ)
        return ev;
    uint32_t start = j->t[obj].start, end = j->t[obj].end;
    bool fin = terminal(j, obj);
    size_t n;
    char *d = rewrite(c, j, obj, &n);
    size_t obj_len = end - start + n - ev->data_len; /* edits lie inside the object */
    remember(c, d + start, obj_len, fin);
    struct fg_sse_event *x = fg_arena_alloc(&c->arena, sizeof *x);
    char *raw = fg_arena_printf(&c->arena, "%s%.*s%sdata: %.*s\n\n", ev->event_len ? "event: " : "",
                                (int)ev->event_len, ev->event ? ev->event : "",
                                ev->event_len ? "\n" : "", (int)n, d);
    free(d);
    *x = *ev;
    x->raw = raw;
    x->raw_len = strlen(raw);
    x->data = raw + x->raw_len - 2 - n;
    x->data_len = n;
    if (ev->event_len)
        x->event = raw + 7;
    return x;
}

/* The value of line `name` ("data: ") in frame [p, e), or NULL. */
static const char *field(const char *p, const char *e, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *l = p; l < e;) {
        const char *eol = memchr(l, '\n', (size_t)(e - l));
        if (!eol)
            eol = e;
        if ((size_t)(eol - l) >= nl && !memcmp(l, name, nl)) {
            *len = (size_t)(eol - l) - nl;
            return l + nl;
        }
        l = eol + 1;
    }
    return NULL;
}

void fg_respstate_frames(struct fg_call *c, struct evbuffer *b, size_t from)
{
    size_t total = evbuffer_get_length(b);
    if (c->endpoint != FG_EP_RESPONSES || !c->rs.id[0] || total <= from)
        return;
    const char *all = (const char *)evbuffer_pullup(b, -1);
    struct evbuffer *nb = evbuffer_new();
    evbuffer_add(nb, all, from);
    for (const char *p = all + from, *end = all + total; p < end;) {
        const char *e = memmem(p, (size_t)(end - p), "\n\n", 2);
        e = e ? e + 2 : end;
        struct fg_sse_event ev = {.raw = p, .raw_len = (size_t)(e - p)};
        ev.data = field(p, e, "data: ", &ev.data_len);
        ev.event = field(p, e, "event: ", &ev.event_len);
        const struct fg_sse_event *x = ev.data ? fg_respstate_event(c, &ev) : &ev;
        evbuffer_add(nb, x->raw, x->raw_len);
        p = e;
    }
    evbuffer_drain(b, total);
    evbuffer_add_buffer(b, nb);
    evbuffer_free(nb);
}
