/* dash_api.c — see dash_api.h. */
#include "dash_api.h"

#include "assert.h"
#include "auth.h"
#include "clock.h"
#include "dash_assets.h"
#include "edge.h"
#include "edgeq.h"
#include "err.h"
#include "keys.h"
#include "keystore.h"
#include "ledger.h"
#include "period.h"
#include "readq.h"
#include "reply.h"
#include "report.h"
#include "runtime.h"
#include "spec.h"
#include "store.h"
#include "timeseries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MINUTE_MS 60000LL

static void reply_err(struct fg_edge_req *req, const struct fg_dialect_ops *d,
                      enum fg_err_class cls, const char *param, const char *code, const char *msg)
{
    struct fg_err e;
    fg_err_set(&e, cls, param, code, "%s", msg);
    fg_reply_error(req, d, &e);
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* "90" (seconds), "5m", "1h", "1d" → ms; -1 if not a whole number of
 * minutes between 1 minute and 30 days. */
static int64_t parse_step(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || v > 30LL * 86400)
        return -1;
    int64_t unit = !*end               ? 1000
                   : !strcmp(end, "m") ? MINUTE_MS
                   : !strcmp(end, "h") ? 3600000
                   : !strcmp(end, "d") ? 86400000
                                       : -1;
    if (unit < 0)
        return -1;
    int64_t ms = v * unit;
    return ms % MINUTE_MS || ms > 30 * 86400000LL ? -1 : ms;
}

static int parse_group(const char *g, enum fg_rollup_group *out)
{
    static const struct {
        const char *name;
        enum fg_rollup_group g;
    } groups[] = {{"model", FG_ROLLUP_MODEL}, {"key", FG_ROLLUP_KEY}, {"route", FG_ROLLUP_ROUTE}};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (!strcmp(g, groups[i].name)) {
            *out = groups[i].g;
            return 0;
        }
    return -1;
}

#define TAG_MAX 200

/* One key tag "k=v" (normalised as key tags are: spec.h) into out; -1 if
 * it is not one item with a key and a value, at most TAG_MAX bytes. */
static int parse_tag(const char *s, char out[TAG_MAX + 1])
{
    char buf[TAG_MAX + 1];
    if (strlen(s) > TAG_MAX || fg_spec_tags(s, buf, sizeof buf) < 0 || strchr(buf, ','))
        return -1;
    const char *eq = strchr(buf, '=');
    if (!eq || eq == buf || !eq[1])
        return -1;
    memcpy(out, buf, strlen(buf) + 1);
    return 0;
}

/* The query from the URL; 0, or -1 with a message for the caller (and
 * *param the offending parameter when there is one). */
static int ts_opts(struct fg_edge_req *req, struct fg_rollup_query *q, char tag[TAG_MAX + 1],
                   const char **param, char *err, size_t n)
{
    struct fg_arena *a = fg_edge_req_arena(req);
    const char *query = fg_edgeq_query(req);
    int64_t now = now_ms();
    memset(q, 0, sizeof *q);
    int64_t since = now - 24 * 3600 * 1000LL, until = now + 1;
    const char *v;
    if (query && (v = fg_edgeq_param(a, query, "since")) && fg_clock_parse_since(v, now, &since)) {
        snprintf(err, n, "Invalid 'since': '%.60s' (use 24h, 30m, 7d or an RFC 3339 time).", v);
        return -1;
    }
    if (query && (v = fg_edgeq_param(a, query, "until")) && fg_clock_parse_since(v, now, &until)) {
        snprintf(err, n, "Invalid 'until': '%.60s' (an RFC 3339 time, or 1h for an hour ago).", v);
        return -1;
    }
    if (until <= since) {
        snprintf(err, n, "Invalid window: 'until' must be after 'since'.");
        return -1;
    }
    int64_t step = 0; /* auto */
    if (query && (v = fg_edgeq_param(a, query, "step")) && (step = parse_step(v)) < 0) {
        snprintf(err, n, "Invalid 'step': '%.40s' (a whole number of minutes: 60, 5m, 1h, 1d).", v);
        return -1;
    }
    fg_timeseries_window(since, until, step, q);
    if ((q->until_ms - q->since_ms + q->step_ms - 1) / q->step_ms > FG_TIMESERIES_MAX_POINTS) {
        snprintf(err, n,
                 "Too many points: the window over 'step' is more than %d; use a larger "
                 "step.",
                 FG_TIMESERIES_MAX_POINTS);
        return -1;
    }
    if (query && (v = fg_edgeq_param(a, query, "group")) && parse_group(v, &q->group) < 0) {
        snprintf(err, n, "Invalid 'group': '%.40s' (model, key or route).", v);
        return -1;
    }
    if (query) {
        q->key_id = fg_edgeq_param(a, query, "key");
        q->model = fg_edgeq_param(a, query, "model");
        q->route = fg_edgeq_param(a, query, "route");
    }
    tag[0] = 0;
    if (query && (v = fg_edgeq_param(a, query, "tag")) && parse_tag(v, tag) < 0) {
        *param = "tag";
        snprintf(err, n, "Invalid 'tag': '%.60s' (one key tag, key=value, at most %d characters).",
                 v, TAG_MAX);
        return -1;
    }
    return 0;
}

/* The query with its strings copied behind it, in one block (readq frees
 * it with free()): the reader must not touch the request's arena. */
struct ts_arg {
    struct fg_rollup_query q;
    char tag[TAG_MAX + 1]; /* a key tag filter, or "" */
    char buf[];
};

static const char *copy_opt(const char *s, char **at)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *dst = memcpy(*at, s, n);
    *at += n;
    return dst;
}

static struct ts_arg *ts_arg_new(const struct fg_rollup_query *q)
{
    size_t n = (q->key_id ? strlen(q->key_id) + 1 : 0) + (q->model ? strlen(q->model) + 1 : 0) +
               (q->route ? strlen(q->route) + 1 : 0);
    struct ts_arg *a = fg_xcalloc(1, sizeof *a + n + 1);
    char *at = a->buf;
    a->q = *q;
    a->q.key_id = copy_opt(q->key_id, &at);
    a->q.model = copy_opt(q->model, &at);
    a->q.route = copy_opt(q->route, &at);
    FG_ASSERT((size_t)(at - a->buf) == n);
    return a;
}

/* Does the key's tag list "k=v,k=v" hold the item tag? */
static bool has_tag(const char *list, const char *tag)
{
    size_t n = strlen(tag);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !memcmp(p, tag, n))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

struct tagged {
    const char *tag;
    json_t *ids;
};

static int add_if_tagged(void *arg, const struct fg_key *k)
{
    struct tagged *t = arg;
    if (has_tag(k->tags, t->tag))
        json_array_append_new(t->ids, json_string(k->id));
    return 0;
}

/* On a reader thread (readq.h).  A key tag filter is the keys carrying the
 * tag now (the key registry's table), read here, then a key_id filter on
 * the rollups (their key dimension): exact at any range and grain. */
static int timeseries_fn(struct fg_readq_handles *h, void *arg, json_t **out, char *err,
                         size_t errlen)
{
    struct ts_arg *a = arg;
    char *ids = NULL;
    if (a->tag[0]) {
        struct fg_keystore *ks = fg_readq_keystore(err, errlen);
        if (!ks)
            return -1;
        struct tagged t = {.tag = a->tag, .ids = json_array()};
        int rc = ks->ops->scan(ks, add_if_tagged, &t, err, errlen);
        ids = rc == 0 ? json_dumps(t.ids, JSON_COMPACT) : NULL;
        json_decref(t.ids);
        if (!ids) {
            if (rc == 0)
                snprintf(err, errlen, "out of memory");
            return -1;
        }
        a->q.key_ids_json = ids;
    }
    int rc = fg_timeseries_build(h->store, &a->q, out, err, errlen);
    a->q.key_ids_json = NULL;
    free(ids);
    if (rc < 0)
        return -1;
    if (a->q.key_id)
        json_object_set_new(*out, "key", json_string(a->q.key_id));
    if (a->tag[0])
        json_object_set_new(*out, "tag", json_string(a->tag));
    return 0;
}

void fg_dash_api_timeseries(struct fg_worker *w, struct fg_edge_req *req,
                            const struct fg_dialect_ops *d, const struct fg_principal *p)
{
    char err[300], tag[TAG_MAX + 1];
    const char *param = NULL;
    struct fg_rollup_query q;
    if (ts_opts(req, &q, tag, &param, err, sizeof err) < 0) {
        reply_err(req, d, FG_E_INVALID, param, NULL, err);
        return;
    }
    if (!p->admin) {
        if (q.key_id && strcmp(q.key_id, p->key_id)) {
            reply_err(req, d, FG_E_PERMISSION, "key", "permission_denied",
                      "A virtual key sees only its own spend: leave out 'key' or pass its own id.");
            return;
        }
        q.key_id = p->key_id; /* the principal outlives the request's reply */
    }
    struct ts_arg *a = ts_arg_new(&q);
    memcpy(a->tag, tag, sizeof a->tag);
    fg_readq_submit(w, req, d, timeseries_fn, a);
}

static int add_call(void *arg, const struct fg_record *r)
{
    char ts[40];
    const char *model = r->model && r->model[0] ? r->model : r->model_requested;
    /* error: why a call fell short, e.g. "content_filter: …" on an answer
     * the provider's filter cut (status 200) */
    json_t *o = json_pack(
        "{ss,ss,ss?,ss?,ss?,ss?,si,sb,so,so,sI,sI,sI,ss?}", "id", r->id, "ts",
        fg_period_rfc3339(r->ts_ms, ts, sizeof ts), "key_id", r->key_id, "model", model, "route",
        r->route, "cache", r->cache, "status", r->status, "stream", r->stream, "cost_usd",
        fg_report_usd(r->cost_pico), "saved_usd", fg_report_usd(r->baseline_pico - r->cost_pico),
        "latency_ms", (json_int_t)(r->latency_us / 1000), "input_tokens", (json_int_t)r->tok.input,
        "output_tokens", (json_int_t)r->tok.output, "error", r->error);
    if (o)
        json_array_append_new(arg, o);
    return 0;
}

struct calls_arg {
    int limit;
    bool all; /* the master key: every key's calls */
    char key[sizeof((struct fg_principal *)0)->key_id];
};

/* On the reader thread (readq.h). */
static int calls_fn(struct fg_readq_handles *h, void *arg, json_t **out, char *err, size_t errlen)
{
    struct calls_arg *a = arg;
    if (!h->store->ops->recent) {
        snprintf(err, errlen, "This storage backend cannot list recent calls.");
        return -1;
    }
    json_t *list = json_array();
    if (h->store->ops->recent(h->store, a->all ? NULL : a->key, a->limit, add_call, list, err,
                              errlen) < 0) {
        json_decref(list);
        return -1;
    }
    *out = json_pack("{ss,so}", "object", "list", "data", list);
    return 0;
}

void fg_dash_api_calls(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                       const struct fg_principal *p)
{
    char err[300];
    const char *query = fg_edgeq_query(req);
    const char *lim = query ? fg_edgeq_param(fg_edge_req_arena(req), query, "limit") : NULL;
    int limit = 50;
    if (lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (!*lim || *end || v < 1 || v > 200) {
            snprintf(err, sizeof err, "Invalid 'limit': '%.40s' (1 to 200).", lim);
            reply_err(req, d, FG_E_INVALID, "limit", NULL, err);
            return;
        }
        limit = (int)v;
    }
    struct calls_arg *a = fg_xcalloc(1, sizeof *a);
    a->limit = limit;
    a->all = p->admin;
    snprintf(a->key, sizeof a->key, "%s", p->admin ? "" : p->key_id);
    fg_readq_submit(w, req, d, calls_fn, a);
}

#define BATCH_ID_MAX 64

/* The ids copied behind the struct, one block (readq frees it). */
struct batches_arg {
    bool all; /* the master key: every key's batches */
    char key[sizeof((struct fg_principal *)0)->key_id];
    size_t n;
    char ids[FG_STORE_BATCH_IDS_MAX][BATCH_ID_MAX + 1];
};

static int add_batch(void *arg, const struct fg_batch_spend *b)
{
    /* provider: every line went through a provider's batch API (its
     * price); local: frugal ran them as calls; mixed: some of each */
    const char *mode = b->provider_requests == b->requests ? "provider"
                       : b->provider_requests == 0         ? "local"
                                                           : "mixed";
    json_t *o = json_pack("{ss,ss,sI,sI,so,so,so,so,so}", "batch_id", b->batch_id, "mode", mode,
                          "requests", (json_int_t)b->requests, "errors", (json_int_t)b->errors,
                          "cost_usd", fg_report_usd(b->cost_pico), "realtime_usd",
                          fg_report_usd(b->cost_pico + b->saved_batch_pico), "saved_batch_usd",
                          fg_report_usd(b->saved_batch_pico), "baseline_usd",
                          fg_report_usd(b->baseline_pico), "saved_usd",
                          fg_report_usd(b->baseline_pico - b->cost_pico));
    if (o)
        json_array_append_new(arg, o);
    return 0;
}

/* On a reader thread (readq.h). */
static int batches_fn(struct fg_readq_handles *h, void *arg, json_t **out, char *err, size_t errlen)
{
    struct batches_arg *a = arg;
    if (!h->store->ops->batch_spend) {
        snprintf(err, errlen, "This storage backend cannot sum a batch's calls.");
        return -1;
    }
    const char *ids[FG_STORE_BATCH_IDS_MAX];
    for (size_t i = 0; i < a->n; i++)
        ids[i] = a->ids[i];
    json_t *list = json_array();
    if (h->store->ops->batch_spend(h->store, a->all ? NULL : a->key, ids, a->n, add_batch, list,
                                   err, errlen) < 0) {
        json_decref(list);
        return -1;
    }
    *out = json_pack("{ss,so}", "object", "list", "data", list);
    return 0;
}

/* "id,id,…" into a: 0, or -1 (not 1 to FG_STORE_BATCH_IDS_MAX ids of 1 to
 * BATCH_ID_MAX letters, digits, '_' or '-'). */
static int parse_ids(const char *s, struct batches_arg *a)
{
    a->n = 0;
    for (const char *p = s;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > BATCH_ID_MAX || a->n == FG_STORE_BATCH_IDS_MAX)
            return -1;
        for (size_t i = 0; i < len; i++)
            if (!(p[i] >= 'a' && p[i] <= 'z') && !(p[i] >= 'A' && p[i] <= 'Z') &&
                !(p[i] >= '0' && p[i] <= '9') && p[i] != '_' && p[i] != '-')
                return -1;
        memcpy(a->ids[a->n], p, len);
        a->ids[a->n++][len] = 0;
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

void fg_dash_api_batches(struct fg_worker *w, struct fg_edge_req *req,
                         const struct fg_dialect_ops *d, const struct fg_principal *p)
{
    const char *query = fg_edgeq_query(req);
    const char *ids = query ? fg_edgeq_param(fg_edge_req_arena(req), query, "ids") : NULL;
    struct batches_arg *a = fg_xcalloc(1, sizeof *a);
    if (!ids || parse_ids(ids, a) < 0) {
        free(a);
        char err[200];
        snprintf(err, sizeof err,
                 "Invalid 'ids': 1 to %d batch ids separated by commas (letters, digits, '_', "
                 "'-'; at most %d characters each).",
                 FG_STORE_BATCH_IDS_MAX, BATCH_ID_MAX);
        reply_err(req, d, FG_E_INVALID, "ids", NULL, err);
        return;
    }
    a->all = p->admin;
    snprintf(a->key, sizeof a->key, "%s", p->admin ? "" : p->key_id);
    fg_readq_submit(w, req, d, batches_fn, a);
}

bool fg_dash_api_ui_path(const char *path)
{
    return !strcmp(path, "/") || !strcmp(path, "/frugal/ui") || !strncmp(path, "/frugal/ui/", 11);
}

/* Every page answer: the page runs only its own files and talks only to
 * this gateway; nothing inline, no framing, no referrer. */
static void security_headers(struct fg_edge_req *req)
{
    fg_edge_resp_header(req, "Content-Security-Policy",
                        "default-src 'none'; script-src 'self'; style-src 'self'; "
                        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                        "form-action 'none'; frame-ancestors 'none'");
    fg_edge_resp_header(req, "X-Content-Type-Options", "nosniff");
    fg_edge_resp_header(req, "Referrer-Policy", "no-referrer");
    fg_edge_resp_header(req, "X-Frame-Options", "DENY");
    fg_edge_resp_header(req, "Cache-Control", "no-cache");
}

void fg_dash_api_ui(struct fg_worker *w, struct fg_edge_req *req, const char *path)
{
    enum fg_edge_method m = fg_edge_req_method(req);
    security_headers(req);
    if (m != FG_EDGE_GET && m != FG_EDGE_HEAD) {
        fg_edge_resp_header(req, "Allow", "GET");
        fg_edge_reply(req, 405, NULL, 0);
        return;
    }
    if (!strcmp(path, "/") || !strcmp(path, "/frugal/ui")) {
        fg_edge_resp_header(req, "Location", "/frugal/ui/");
        fg_edge_reply(req, 302, NULL, 0);
        return;
    }
    const char *name = path + strlen("/frugal/ui/");
    if (!*name)
        name = "index.html";
    for (size_t i = 0; i < fg_dash_assets_count; i++) {
        const struct fg_dash_asset *a = &fg_dash_assets[i];
        if (strcmp(a->name, name))
            continue;
        fg_edge_resp_header(req, "Content-Type", a->type);
        fg_edge_reply(req, 200, a->data, a->len); /* HEAD: the edge sends no body */
        return;
    }
    fg_edge_resp_header(req, "Content-Type", "text/plain; charset=utf-8");
    static const char nf[] = "Not found: the dashboard has no such file.\n";
    fg_edge_reply(req, 404, nf, sizeof nf - 1);
}
