/* learn_train.c — see learn_train.h. */
#include "learn_train.h"

#include "arena.h"
#include "assert.h"
#include "json.h"
#include "learn_point.h"
#include "learn_shadow.h"
#include "learn_store.h"
#include "log.h"
#include "optpoint.h"
#include "route_tool.h"
#include "router.h"
#include "runtime.h"
#include "shared.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HOLD_EVERY 5                      /* every 5th label is held out for the evaluation */
#define MIN_LABELS 10                     /* no fit on fewer labels than this */
#define LAMBDA FG_ROUTE_TOOL_PRIOR_LAMBDA /* L2 towards the prior */
#define LEASE_MS 600000LL                 /* a fit's lease; a crashed replica's expires */

struct qlabel {
    struct qlabel *next;
    size_t route;
    int label;
    enum fg_dialect d;
    char id[40];
    char *body;
    size_t len;
};

struct retired {
    struct retired *next;
    struct fg_router *r;
    struct fg_optpoint *op;
};

/* Per route: what its own labels say (learn_point.h). */
struct own {
    size_t fitted_n; /* labels the running version was fitted on (0: built-in) */
    int64_t labels;  /* label count at the last computation (-1: never) */
    int version;     /* the version it was computed for */
    int verdict;     /* the last verdict logged (-1: none) */
    bool beats_coin; /* ... and whether it beat a coin */
};

static struct {
    struct fg_app *app;
    pthread_t th;
    bool running, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct qlabel *head, *tail;
    size_t queued, dropped;
    int *version;            /* per route: the version running (0 = built-in) */
    struct fg_router **base; /* per route: the built-in weights loaded at start */
    struct retired *retired;
    struct own *own;
    char owner[64];
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static bool learns(const struct fg_route_cfg *r)
{
    return r->learn.judge && !r->weights;
}

/* Run r as route i's weights; the old ones are kept until stop. */
static void retire(struct fg_router *r, struct fg_optpoint *op)
{
    struct retired *t = fg_xcalloc(1, sizeof *t);
    t->r = r;
    t->op = op;
    t->next = g.retired;
    g.retired = t;
}

static void swap_in(size_t i, struct fg_router *r, int version)
{
    struct fg_router *old = __atomic_exchange_n(&g.app->routers[i], r, __ATOMIC_ACQ_REL);
    if (old && old != g.base[i])
        retire(old, NULL);
    g.version[i] = version;
}

struct find_version {
    int version;
    int64_t labels;
};

static void find_cb(void *arg, const struct fg_learn_version *v, bool active)
{
    struct find_version *f = arg;
    if (v->version == f->version)
        f->labels = v->labels;
}

/* How many labels version v was fitted on (0 for the built-in weights). */
static size_t fitted_on(struct fg_learn_store *s, const char *route, int v)
{
    struct find_version f = {v, 0};
    if (v > 0)
        fg_learn_store_history(s, route, find_cb, &f);
    return f.labels > 0 ? (size_t)f.labels : 0;
}

/* Load the store's active version of route i when it is not the one running. */
static void sync_active(struct fg_learn_store *s, size_t i)
{
    const struct fg_route_cfg *rc = &g.app->cfg->routes[i];
    int v;
    unsigned char *w;
    size_t wlen;
    if (fg_learn_store_active(s, rc->name, &v, &w, &wlen) < 0 || v == g.version[i]) {
        free(w);
        return;
    }
    char err[256];
    struct fg_router *r = NULL;
    if (v == 0) /* rolled back to the built-in weights */
        r = g.base[i];
    else
        r = fg_router_parse(w, wlen, rc->name, err, sizeof err);
    free(w);
    if (!r) {
        if (v != 0)
            fg_warn("route %s: stored version %d unusable (%s)", rc->name, v, err);
        g.version[i] = v; /* do not retry every second */
        return;
    }
    swap_in(i, r, v);
    g.own[i].fitted_n = fitted_on(s, rc->name, v);
    fg_info("route %s: running weights version %d", rc->name, v);
}

/* ---- writing labels ------------------------------------------------------- */

static void write_label(struct fg_learn_store *s, struct qlabel *q)
{
    const struct fg_route_cfg *rc = &g.app->cfg->routes[q->route];
    const struct fg_router *cur = __atomic_load_n(&g.app->routers[q->route], __ATOMIC_ACQUIRE);
    uint32_t nb = cur ? cur->n_buckets : 1u << 18;
    struct fg_json j = {.max_depth = 128};
    if (fg_json_parse(&j, q->body, q->len) < 0) {
        fg_json_free(&j);
        return;
    }
    struct fg_route_feats x;
    fg_router_request_features(nb, &j, q->d, &x);
    char *prompt = rc->learn.store_prompts ? q->body : NULL;
    if (fg_learn_store_add_label(s, rc->name, q->id, now_ms(), q->label, nb, &x, prompt) < 0)
        fg_warn("route %s: a label could not be stored", rc->name);
    fg_json_free(&j);
}

/* ---- fitting ---------------------------------------------------------------- */

static double log_loss(const struct fg_router *r, const struct fg_learn_labels *L, bool held)
{
    double s = 0;
    size_t n = 0;
    for (size_t i = 0; i < L->n; i++) {
        if ((i % HOLD_EVERY == HOLD_EVERY - 1) != held)
            continue;
        double p = fg_router_score_feats(r, &L->x[i]), t = 1 - L->label[i];
        p = p < 1e-9 ? 1e-9 : p > 1 - 1e-9 ? 1 - 1e-9 : p;
        s -= t * log(p) + (1 - t) * log(1 - p);
        n++;
    }
    return n ? s / (double)n : NAN;
}

static double apgr(const struct fg_router *r, const struct fg_learn_labels *L)
{
    size_t n = 0, m = L->n / HOLD_EVERY + 1;
    double *sc = fg_xmalloc(m * sizeof *sc), *qw = fg_xmalloc(m * sizeof *qw);
    double *qs = fg_xmalloc(m * sizeof *qs);
    for (size_t i = HOLD_EVERY - 1; i < L->n; i += HOLD_EVERY) {
        sc[n] = fg_router_score_feats(r, &L->x[i]);
        qw[n] = L->label[i];
        qs[n++] = 1;
    }
    struct fg_route_tool_curve c;
    fg_route_tool_curve(n, sc, qw, qs, NULL, &c);
    free(sc);
    free(qw);
    free(qs);
    return c.apgr;
}

/* The new version's threshold table and operating point: its scores on the
 * route's own labels, and the share the labels say needs the frontier. */
static void calibrate(struct fg_router *r, const struct fg_learn_labels *L, const char *route,
                      int64_t labels)
{
    double *sc = fg_xmalloc((L->n ? L->n : 1) * sizeof *sc), worse = 0;
    for (size_t i = 0; i < L->n; i++) {
        sc[i] = fg_router_score_feats(r, &L->x[i]);
        worse += L->label[i] == 0;
    }
    fg_route_tool_thresholds(r, sc, L->n);
    free(sc);
    double share = L->n ? worse / (double)L->n : 0.5;
    share = share < 0.01 ? 0.01 : share > 0.99 ? 0.99 : share;
    char meta[256];
    snprintf(meta, sizeof meta, "trained_on=route %s labels\nlabels=%lld\noperating_share=%.2f\n",
             route, (long long)labels, share);
    fg_router_set_meta(r, meta);
}

static void fit_route(struct fg_learn_store *s, size_t i)
{
    const struct fg_route_cfg *rc = &g.app->cfg->routes[i];
    struct fg_router *cur = __atomic_load_n(&g.app->routers[i], __ATOMIC_ACQUIRE);
    if (!cur)
        return;
    struct fg_learn_labels L;
    if (fg_learn_store_labels(s, rc->name, cur->n_buckets, &L) < 0 || L.n < MIN_LABELS) {
        fg_learn_store_labels_free(&L);
        return;
    }
    /* train on the rows not held out */
    size_t nt = 0;
    struct fg_route_feats *tx = fg_xmalloc(L.n * sizeof *tx);
    int *tl = fg_xmalloc(L.n * sizeof *tl);
    for (size_t k = 0; k < L.n; k++)
        if (k % HOLD_EVERY != HOLD_EVERY - 1) {
            tx[nt] = L.x[k];
            tl[nt++] = L.label[k];
        }
    int64_t t0 = now_ms();
    struct fg_router *cand = fg_route_tool_fit_feats(tx, tl, nt, cur, LAMBDA);
    int64_t fit_ms = now_ms() - t0;
    free(tx);
    free(tl);
    struct fg_learn_version v = {
        .route = rc->name,
        .ts_ms = now_ms(),
        .labels = (int64_t)L.n,
        .last_label_id = L.last_id,
        .held_out = (int64_t)(L.n / HOLD_EVERY),
    };
    v.apgr_before = apgr(cur, &L);
    v.loss_before = log_loss(cur, &L, true);
    if (cand) {
        v.apgr_after = apgr(cand, &L);
        v.loss_after = log_loss(cand, &L, true);
        v.accepted = fg_route_tool_better(v.apgr_after, v.apgr_before, v.loss_after, v.loss_before);
    }
    unsigned char *blob = NULL;
    size_t blen = 0;
    if (v.accepted) {
        calibrate(cand, &L, rc->name, v.labels);
        blob = fg_router_serialize(cand, &blen);
    }
    if (fg_learn_store_add_version(s, &v, blob, blen) < 0) {
        fg_warn("route %s: a fitted version could not be stored", rc->name);
        v.accepted = false;
    }
    fg_info("route %s: fitted version %d on %zu labels in %lld ms: held-out APGR %.3f -> %.3f, "
            "log loss %.3f -> %.3f, %s",
            rc->name, v.version, L.n, (long long)fit_ms, v.apgr_before, v.apgr_after, v.loss_before,
            v.loss_after, v.accepted ? "swapped in" : "kept the running weights");
    if (v.accepted) {
        swap_in(i, cand, v.version);
        g.own[i].fitted_n = L.n;
    } else
        fg_router_free(cand);
    free(blob);
    fg_learn_store_labels_free(&L);
}

/* ---- the route's own operating point ----------------------------------------- */

static void say_point(const struct fg_route_cfg *rc, const struct fg_optpoint *op, bool first)
{
    struct own *o = &g.own[rc - g.app->cfg->routes];
    if (!first && (int)op->verdict == o->verdict && op->beats_coin == o->beats_coin)
        return; /* said already: the threshold moves with every label, the verdict rarely */
    o->verdict = (int)op->verdict;
    o->beats_coin = op->beats_coin;
    char line[1024];
    if (rc->quality_target > 0)
        fg_info("route %s: quality_target %.3f from %zu labels of its own (not fitted on): %s",
                rc->name, rc->quality_target, op->n, fg_optpoint_describe(op, line, sizeof line));
    if (first && rc->cold_start != FG_COLD_CLASSIFIER)
        fg_info("route %s: %d labels of its own: cold_start no longer applies", rc->name,
                rc->learn.min_labels);
}

/* Recompute route i's operating point from its own labels when they or
 * the running version changed, and publish it (an atomic pointer swap). */
static void update_point(struct fg_learn_store *s, size_t i)
{
    const struct fg_route_cfg *rc = &g.app->cfg->routes[i];
    struct own *o = &g.own[i];
    const struct fg_router *cur = __atomic_load_n(&g.app->routers[i], __ATOMIC_ACQUIRE);
    int64_t n = fg_learn_store_label_count(s, rc->name);
    if (!cur || n < 0 || (n == o->labels && g.version[i] == o->version))
        return;
    if (!fg_learn_point_enough((size_t)n, rc->learn.min_labels))
        return;
    struct fg_learn_labels L;
    if (fg_learn_store_labels(s, rc->name, cur->n_buckets, &L) < 0) {
        fg_learn_store_labels_free(&L);
        return;
    }
    o->labels = n;
    o->version = g.version[i];
    struct fg_optpoint *op = fg_xcalloc(1, sizeof *op);
    fg_learn_point(cur, &L, o->fitted_n, HOLD_EVERY, rc->quality_target, op);
    fg_learn_store_labels_free(&L);
    struct fg_optpoint *old = __atomic_exchange_n(&g.app->learned_ops[i], op, __ATOMIC_ACQ_REL);
    say_point(rc, op, !old);
    if (old) /* a call may still be reading it */
        retire(NULL, old);
}

/* ---- the thread ---------------------------------------------------------------- */

/* Without a cross-process counter store, the learning budget is shared
 * through the store's route_spend (learn_shadow.h). */
static void sync_spend(struct fg_learn_store *s, size_t i)
{
    if (fg_shared_process()->ops->cross_process)
        return;
    const char *route = g.app->cfg->routes[i].name;
    int64_t day = now_ms() / 86400000LL, mine = fg_learn_shadow_unsynced(i);
    fg_learn_shadow_synced(i, day, fg_learn_store_add_spend(s, route, day, mine), mine);
}

static void tick(struct fg_learn_store *s)
{
    const struct fg_config *cfg = g.app->cfg;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct fg_route_cfg *rc = &cfg->routes[i];
        if (rc->learn.judge) {
            sync_spend(s, i);
            update_point(s, i);
        }
        if (!learns(rc))
            continue;
        sync_active(s, i);
        if (fg_learn_store_new_labels(s, rc->name) < rc->learn.retrain_every)
            continue;
        if (!fg_learn_store_lock(s, rc->name, g.owner, now_ms(), LEASE_MS))
            continue;      /* another replica is fitting it */
        sync_active(s, i); /* fit on top of the newest version */
        if (fg_learn_store_new_labels(s, rc->name) >= rc->learn.retrain_every)
            fit_route(s, i);
        fg_learn_store_unlock(s, rc->name, g.owner);
    }
}

static void *train_main(void *arg)
{
    struct fg_learn_store *s = arg;
    pthread_mutex_lock(&g.mu);
    while (!g.stop) {
        while (g.head) {
            struct qlabel *q = g.head;
            g.head = q->next;
            if (!g.head)
                g.tail = NULL;
            g.queued--;
            pthread_mutex_unlock(&g.mu);
            write_label(s, q);
            free(q->body);
            free(q);
            pthread_mutex_lock(&g.mu);
        }
        pthread_mutex_unlock(&g.mu);
        tick(s);
        pthread_mutex_lock(&g.mu);
        if (g.stop || g.head)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&g.cv, &g.mu, &ts);
    }
    /* labels queued before the stop are still written: they cost money */
    while (g.head) {
        struct qlabel *q = g.head;
        g.head = q->next;
        g.queued--;
        pthread_mutex_unlock(&g.mu);
        write_label(s, q);
        free(q->body);
        free(q);
        pthread_mutex_lock(&g.mu);
    }
    g.tail = NULL;
    pthread_mutex_unlock(&g.mu);
    /* the last second's learning spend, for the other replicas and the
     * next start */
    for (size_t i = 0; i < g.app->cfg->n_routes; i++)
        if (g.app->cfg->routes[i].learn.judge)
            sync_spend(s, i);
    fg_router_thread_cleanup();
    fg_json_thread_cleanup();
    fg_learn_store_close(s);
    return NULL;
}

void fg_learn_train_start(struct fg_app *app)
{
    const struct fg_config *cfg = app->cfg;
    bool any = false;
    for (size_t i = 0; i < cfg->n_routes; i++)
        any = any || cfg->routes[i].learn.judge;
    if (!any)
        return;
    struct fg_learn_store *s;
    char err[256];
    if (fg_learn_store_open(cfg->storage, &s, err, sizeof err) < 0) {
        fg_warn("routing: labels are not stored and routes are not retrained: %s", err);
        return;
    }
    g.app = app;
    g.version = fg_xcalloc(cfg->n_routes, sizeof *g.version);
    g.base = fg_xcalloc(cfg->n_routes, sizeof *g.base);
    g.own = fg_xcalloc(cfg->n_routes, sizeof *g.own);
    app->learned_ops = fg_xcalloc(cfg->n_routes, sizeof *app->learned_ops);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        g.base[i] = app->routers[i];
        g.own[i].labels = -1;
        g.own[i].verdict = -1;
    }
    char host[32] = "";
    gethostname(host, sizeof host - 1);
    snprintf(g.owner, sizeof g.owner, "%s:%ld:%lld", host, (long)getpid(), (long long)now_ms());
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (learns(&cfg->routes[i]))
            sync_active(s, i); /* before the first call: a learned version wins */
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (cfg->routes[i].learn.judge) {
            update_point(s, i); /* and so do its own labels */
            sync_spend(s, i);   /* and the day's learning spend so far */
        }
    g.stop = false;
    if (pthread_create(&g.th, NULL, train_main, s) != 0) {
        fg_warn("routing: cannot start the retraining thread");
        fg_learn_store_close(s);
        return;
    }
    g.running = true;
}

void fg_learn_train_label(size_t route, const char *call_id, int label, const char *body,
                          size_t len, enum fg_dialect d)
{
    if (!g.running || (label != 0 && label != 1))
        return;
    FG_ASSERT(route < g.app->cfg->n_routes);
    pthread_mutex_lock(&g.mu);
    if (g.queued >= FG_LEARN_TRAIN_QUEUE) {
        size_t n = ++g.dropped;
        pthread_mutex_unlock(&g.mu);
        if (!(n & (n - 1))) /* 1, 2, 4, ...: said, not flooded */
            fg_warn("routing: the label queue is full; %zu labels dropped so far", n);
        return;
    }
    pthread_mutex_unlock(&g.mu);
    struct qlabel *q = fg_xcalloc(1, sizeof *q);
    q->route = route;
    q->label = label;
    q->d = d;
    snprintf(q->id, sizeof q->id, "%s", call_id);
    q->body = fg_xmalloc(len + 1);
    memcpy(q->body, body, len);
    q->body[len] = '\0';
    q->len = len;
    pthread_mutex_lock(&g.mu);
    if (g.tail)
        g.tail->next = q;
    else
        g.head = q;
    g.tail = q;
    g.queued++;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

void fg_learn_train_stop(void)
{
    if (g.running) {
        pthread_mutex_lock(&g.mu);
        g.stop = true;
        pthread_cond_signal(&g.cv);
        pthread_mutex_unlock(&g.mu);
        pthread_join(g.th, NULL);
        g.running = false;
    }
    while (g.head) {
        struct qlabel *q = g.head;
        g.head = q->next;
        free(q->body);
        free(q);
    }
    g.tail = NULL;
    g.queued = 0;
    while (g.retired) {
        struct retired *t = g.retired;
        g.retired = t->next;
        if (t->r)
            fg_router_free(t->r);
        free(t->op);
        free(t);
    }
    if (g.app && g.app->learned_ops) {
        for (size_t i = 0; i < g.app->cfg->n_routes; i++)
            free(g.app->learned_ops[i]);
        free(g.app->learned_ops);
        g.app->learned_ops = NULL;
    }
    free(g.own);
    g.own = NULL;
    for (size_t i = 0; g.base && i < g.app->cfg->n_routes; i++)
        if (g.base[i] != g.app->routers[i]) /* fg_route_free frees the running one */
            fg_router_free(g.base[i]);
    free(g.base);
    g.base = NULL;
    free(g.version);
    g.version = NULL;
}
