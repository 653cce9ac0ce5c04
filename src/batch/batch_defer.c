/* batch_defer.c — see batch_defer.h. */
#include "batch_defer.h"
#include "snap.h"

#include "arena.h"
#include "admit.h"
#include "assert.h"
#include "attrib.h"
#include "batch_budget.h"
#include "json.h"
#include "ledger.h"
#include "metrics.h"
#include "price.h"
#include "redact.h"
#include "usage.h"
#include "batch_remote.h"
#include "batch_store.h"
#include "config.h"
#include "pgdb.h"
#include "call.h"
#include "clock.h"
#include "defer.h"
#include "log.h"
#include "provider.h"
#include "shared.h"
#include "runtime.h"
#include "vec.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct dline;

/* A call waiting for a line, on its own worker. */
struct waiter {
    struct dline *l;      /* a reference */
    struct fg_call *call; /* NULL: the call let go while the answer was on its way */
    struct event_base *base;
};

struct dline {
    atomic_int refs;      /* the thread's and its waiter's */
    struct waiter *w;     /* the call waiting for it, or NULL (under g.mu) */
    bool ended;           /* handed back (under g.mu) */
    struct dline *pnext;  /* g.pending (under g.mu) */
    struct fg_snap *snap; /* the config the call started under (snap.h), pinned */
    int pi;               /* provider index in snap->cfg */
    enum fg_dialect dialect;
    const char *endpoint; /* OpenAI: the lines' url (NULL: chat) */
    char model[128];
    char *body; /* NULL: a line of an earlier process (its hash only) */
    size_t len;
    char body_hash[24];
    bool stored; /* in the store: it ends there once (fg_batch_store_defer_line_end) */
    int64_t idx; /* in its provider batch */
    char model_cfg[128];
    char *answer; /* the 2xx result, or NULL */
    size_t alen;
    struct dline *next;
    /* for the line's own hold and its late record (fg_defer_line_done
     * did not take it): the call's facts, copied */
    const struct fg_model_cfg *mc;
    const struct fg_dialect_ops *ops; /* of the answer */
    char call_id[40], batch_id[128];
    char *key_id, *tags, *model_req;
    int64_t ts_ms;
    struct fg_batch_budget bb;
    int64_t hold, hold_at; /* the line's worst case, reserved at hold_at */
    int64_t hold_until;    /* unix ms: its call's deadline (0: none here) */
};

struct job {
    struct fg_remote r;
    char remote_id[128];
    struct dline **lines; /* by index in the provider batch (NULL: ended before) */
    size_t n;
    bool stored;
    bool seen;  /* claimed again in this scan (a stored job) */
    bool watch; /* another replica polls it: our lines' answers come
                   through the store (fg_batch_store_defer_take) */
    uint64_t next_poll_ns;
    struct job *next;
};

static struct {
    struct fg_app *app;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dline *queue;   /* newest first, under mu */
    struct dline *pending; /* every line not yet handed back, under mu */
    uint64_t first_ns;     /* when the oldest queued line came */
    bool stop, running;    /* under mu */
    _Atomic bool abort;
    struct job *jobs; /* the thread's */
    /* the thread's: the batch store (NULL: not open yet, or none) */
    struct fg_batch_store *s;
    bool no_store; /* the storage has no batch store: memory only */
    char me[40];   /* this replica, in the jobs' leases */
    uint64_t next_scan_ns;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static const char responses_url[] = "/v1/responses";

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void line_free(struct dline *l)
{
    fg_snap_release(l->snap);
    free(l->body);
    free(l->answer);
    free(l->key_id);
    free(l->tags);
    free(l->model_req);
    free(l);
}

static void unref(struct dline *l)
{
    if (atomic_fetch_sub(&l->refs, 1) == 1)
        line_free(l);
}

/* The line's own hold ends: `cost` is what its late record spent (0 when
 * its call took the answer, whose record pays, or when it had none). */
static void settle(struct dline *l, int64_t cost)
{
    if (l->hold > 0)
        fg_batch_budget_settle(&l->bb, l->hold, l->hold_at, cost, now_ms());
    l->hold = 0;
}

/* A line whose call went on without it (deadline, client gone) answered:
 * the provider bills it, so it is recorded, at the batch price, linked
 * to its call. */
static void record_late(struct dline *l)
{
    struct fg_usage u = {0};
    struct fg_json j = {0};
    if (fg_json_parse(&j, l->answer, l->alen) == 0)
        l->ops->usage(&j, fg_json_get(&j, 0, "usage"), &u);
    fg_json_free(&j);
    const char *prov = l->snap->cfg->providers[l->pi].name;
    const char *mname = l->mc ? l->mc->name : l->model_cfg;
    const char *strs[] = {l->key_id, l->tags, l->model_req, mname,
                          l->model,  prov,    l->call_id,   l->batch_id};
    size_t need = 64;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        need += strs[i] ? strlen(strs[i]) + 1 : 0;
    struct fg_record *r = fg_ledger_record_new(need);
    snprintf(r->id, sizeof r->id, "%.37s-b", l->call_id);
    r->ts_ms = l->ts_ms; /* the period the line was reserved in */
    r->key_id = fg_ledger_record_str(r, l->key_id);
    r->tags = fg_ledger_record_str(r, l->tags);
    r->endpoint = "batch";
    r->model_requested = fg_ledger_record_str(r, l->model_req);
    r->model = fg_ledger_record_str(r, mname);
    r->upstream_model = fg_ledger_record_str(r, l->model);
    r->provider = fg_ledger_record_str(r, prov);
    r->route = "fixed";
    r->cache = "bypass";
    r->batch = true;
    r->status = 200;
    r->linked_id = fg_ledger_record_str(r, l->call_id);
    r->batch_id = fg_ledger_record_str(r, l->batch_id);
    r->tok = u.tok;
    r->reasoning_tokens = u.reasoning;
    struct fg_price p;
    bool priced = l->mc && fg_price_of(l->mc, &p);
    struct fg_attrib_in in = {.price = priced ? &p : NULL,
                              .frontier = priced && p.input >= FG_FRONTIER_INPUT_PRICE,
                              .batch = true,
                              .native_cache = l->ops->cache.automatic};
    fg_attrib(&in, r);
    fg_metrics_observe_money(r);
    fg_info("deferral: %s's batch line answered after its call went on: recorded as %s", l->call_id,
            r->id);
    settle(l, r->cost_pico);
    fg_ledger_submit(r);
}

/* On the waiter's worker. */
static void on_posted(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct waiter *w = arg;
    struct dline *l = w->l;
    if (w->call) {
        settle(l, 0); /* the call's record pays for the answer */
        fg_defer_line_done(w->call, l->answer, l->alen);
    } else if (l->answer)
        record_late(l);
    else
        settle(l, 0);
    free(w);
    unref(l);
}

static void pending_remove(struct dline *l)
{
    for (struct dline **p = &g.pending; *p; p = &(*p)->pnext)
        if (*p == l) {
            *p = l->pnext;
            return;
        }
}

/* A stored line whose batch ended: end it in the store, where one process
 * only can (a replica that took the batch over, or this one).  Lost to
 * another: its answer is not this process's to give or record. */
static void end_stored(struct dline *l)
{
    int won = g.s ? fg_batch_store_defer_line_end(g.s, l->batch_id, l->idx) : -1;
    if (won < 0)
        fg_warn("deferral: ending line %lld of %s in the store: %s (this process records it)",
                (long long)l->idx, l->batch_id, g.s ? fg_batch_store_errmsg(g.s) : "no store");
    if (won == 0) {
        free(l->answer);
        l->answer = NULL;
        l->alen = 0;
    }
}

/* A line of another replica's call (it lost its lease on the batch while
 * its call waits): the answer goes to it through the store. */
static bool handed_over(const struct dline *l)
{
    int rc =
        g.s ? fg_batch_store_defer_answer(g.s, l->batch_id, l->idx, g.me, l->answer, l->alen) : 0;
    if (rc < 0)
        fg_warn("deferral: handing line %lld of %s to its replica: %s", (long long)l->idx,
                l->batch_id, fg_batch_store_errmsg(g.s));
    if (rc > 0)
        fg_info("deferral: %s's batch line handed to the replica holding its call", l->call_id);
    return rc > 0;
}

/* The line ended (answered or not): to the call waiting for it, else
 * recorded when the provider answered it.  `handback` (shutdown, or the
 * batch taken over by another replica): a stored line stays open in the
 * store for whoever polls its batch next, its call goes real time.  Drops
 * the thread's reference. */
static void post(struct dline *l, bool handback)
{
    pthread_mutex_lock(&g.mu);
    struct waiter *w = l->w;
    l->w = NULL;
    l->ended = true;
    pending_remove(l);
    pthread_mutex_unlock(&g.mu);
    if (l->stored && handback) {
        free(l->answer); /* the next poller of the batch records it */
        l->answer = NULL;
        l->alen = 0;
        if (fg_shared_process()->ops->cross_process)
            l->hold = 0; /* shared budgets: whoever ends the line settles it */
    } else if (l->stored && !w && l->answer && handed_over(l)) {
        free(l->answer); /* the replica holding its call answers or records it */
        l->answer = NULL;
        l->alen = 0;
        l->hold = 0; /* and settles it */
    } else if (l->stored)
        end_stored(l);
    struct timeval now = {0, 0};
    if (w && event_base_once(w->base, -1, EV_TIMEOUT, on_posted, w, &now) < 0) {
        fg_error("deferral: a line could not reach its worker (real time at the deadline)");
        pthread_mutex_lock(&g.mu);
        l->w = w; /* its call drops it (and frees w) */
        pthread_mutex_unlock(&g.mu);
        w = NULL;
    }
    if (!w) {
        if (l->answer)
            record_late(l);
        else
            settle(l, 0);
    }
    unref(l);
}

/* s redacted like the call's own record (NULL: ""), malloc'd. */
static char *redacted(const char *s)
{
    if (!s)
        return fg_xstrdup("");
    size_t n = strlen(s), cap = 2 * n + 64;
    char *o = fg_xmalloc(cap);
    size_t need = fg_redact(s, n, o, cap);
    if (need >= cap) {
        free(o);
        o = fg_xmalloc(need + 1);
        fg_redact(s, n, o, need + 1);
    }
    return o;
}

static struct waiter *waiter_new(struct dline *l, struct fg_call *c)
{
    struct waiter *w = fg_xcalloc(1, sizeof *w);
    w->l = l;
    w->call = c;
    w->base = c->w->base;
    return w;
}

/* FNV-1a of the encoded body, as hex: a retry's match for a line whose
 * body this process does not have (an earlier process's). */
static void body_hash(const char *b, size_t n, char *out, size_t cap)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)b[i]) * 1099511628211ull;
    snprintf(out, cap, "%016llx", (unsigned long long)h);
}

/* A client's retry of a deferred call whose client left: the same key,
 * provider and encoded body, its line still pending with nobody waiting
 * (under g.mu). */
static struct dline *retry_of(const struct fg_snap *snap, const char *key, int pi, const char *b,
                              size_t n, const char *hash)
{
    for (struct dline *l = g.pending; l; l = l->pnext)
        if (!l->w && !l->ended && l->snap == snap && l->pi == pi && !strcmp(l->key_id, key) &&
            !strcmp(l->body_hash, hash) && (!l->body || (l->len == n && !memcmp(l->body, b, n))))
            return l;
    return NULL;
}

static void *queue_line(struct fg_call *c)
{
    const char *b = c->enc.body ? c->enc.body : c->raw;
    size_t n = c->enc.body ? c->enc.body_len : c->raw_len;
    const char *key = c->who.key_id ? c->who.key_id : "anonymous";
    char hash[24];
    body_hash(b, n, hash, sizeof hash);
    pthread_mutex_lock(&g.mu);
    if (!g.running || g.stop) {
        pthread_mutex_unlock(&g.mu);
        return NULL;
    }
    struct dline *was = retry_of(c->snap, key, c->serve.provider_index, b, n, hash);
    if (was) {
        atomic_fetch_add(&was->refs, 1);
        was->w = waiter_new(was, c);
        struct waiter *w = was->w;
        pthread_mutex_unlock(&g.mu);
        fg_info("deferral: %s is a retry of %s: waits for its batch line", c->id, was->call_id);
        return w;
    }
    pthread_mutex_unlock(&g.mu);
    struct dline *l = fg_xcalloc(1, sizeof *l);
    l->body = fg_xmalloc(n + 1);
    memcpy(l->body, b, n);
    l->body[n] = 0;
    l->len = n;
    memcpy(l->body_hash, hash, sizeof hash);
    atomic_init(&l->refs, 2);
    l->snap = fg_snap_hold(c->snap); /* pi and mc are its: it lives as long as the line */
    l->pi = c->serve.provider_index;
    l->dialect = c->out->dialect;
    /* the upstream body's endpoint: a Responses call translated for a
     * provider without the Responses API is a Chat (or Messages) line */
    l->endpoint = c->endpoint == FG_EP_RESPONSES && c->out->shape == FG_DIALECT_RESPONSES
                      ? responses_url
                      : NULL;
    snprintf(l->model, sizeof l->model, "%s", c->serve.upstream_model);
    l->mc = c->serve.model;
    snprintf(l->model_cfg, sizeof l->model_cfg, "%s", c->serve.model->name);
    l->ops = c->out;
    snprintf(l->call_id, sizeof l->call_id, "%s", c->id);
    l->key_id = fg_xstrdup(key);
    l->tags = redacted(c->who.tags.recorded);
    l->model_req = redacted(c->model_name);
    l->ts_ms = c->meter.acct.ts_ms;
    uint64_t t = fg_clock_now_ns();
    l->hold_until =
        now_ms() + (c->defer.deadline_ns > t ? (int64_t)((c->defer.deadline_ns - t) / 1000000) : 0);
    /* the line holds its own worst case: when the deadline comes first,
     * the call's real-time answer and the line are both billed */
    l->hold_at = now_ms();
    fg_batch_budget_of(l->key_id, l->tags, l->hold_at, &l->bb);
    int64_t worst = c->who.admit ? c->who.admit->worst_pico : 0;
    struct fg_err e = {0};
    bool hopeless;
    if (l->bb.n && worst > 0) {
        if (fg_batch_budget_reserve(&l->bb, worst, l->hold_at, &e, &hopeless) < 0) {
            line_free(l); /* no room for both: real time only */
            return NULL;
        }
        l->hold = worst;
    }
    struct waiter *w = waiter_new(l, c);
    l->w = w;
    pthread_mutex_lock(&g.mu);
    bool ok = g.running && !g.stop;
    if (ok) {
        if (!g.queue)
            g.first_ns = fg_clock_now_ns();
        l->next = g.queue;
        g.queue = l;
        l->pnext = g.pending;
        g.pending = l;
        pthread_cond_signal(&g.cv);
    }
    pthread_mutex_unlock(&g.mu);
    if (!ok) {
        settle(l, 0);
        free(w);
        line_free(l);
        return NULL;
    }
    return w;
}

/* On the call's worker: the call goes on without the line. */
static void drop_line(void *line)
{
    struct waiter *w = line;
    struct dline *l = w->l;
    FG_ASSERT(w->call);
    pthread_mutex_lock(&g.mu);
    bool mine = l->w == w;
    if (mine)
        l->w = NULL; /* pending still: a retry may wait for it, else recorded */
    pthread_mutex_unlock(&g.mu);
    if (!mine) {
        w->call = NULL; /* the answer is on its way: on_posted frees w */
        return;
    }
    free(w);
    unref(l);
}

static void remote_of(const struct dline *l, struct fg_remote *r)
{
    const struct fg_provider_cfg *p = &l->snap->cfg->providers[l->pi];
    memset(r, 0, sizeof *r);
    r->provider = p;
    r->dialect = l->dialect;
    r->openai_base = l->snap->prov[l->pi].openai_base;
    r->anthropic_base = l->snap->prov[l->pi].anthropic_base;
    r->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : 600000;
    r->endpoint = l->endpoint;
    r->abort = &g.abort;
}

static bool same_group(const struct dline *a, const struct dline *b)
{
    return a->snap == b->snap && a->pi == b->pi && a->dialect == b->dialect &&
           a->endpoint == b->endpoint && !strcmp(a->model, b->model);
}

/* How a job's lines end when it is freed. */
enum job_end {
    JOB_ENDED,   /* the provider batch ended: each line ends (in the store too) */
    JOB_HANDBACK /* shutdown, or taken over: stored lines stay open there */
};

static void job_free(struct job *j, enum job_end how)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->lines[i])
            post(j->lines[i], how == JOB_HANDBACK);
    if (how == JOB_ENDED && j->stored && g.s && fg_batch_store_defer_job_end(g.s, j->remote_id) < 0)
        fg_warn("deferral: ending %s in the store: %s", j->remote_id, fg_batch_store_errmsg(g.s));
    free(j->lines);
    free(j);
}

static uint64_t poll_ns(void)
{
    int ms = g.app->cfg->batches.poll_ms;
    if (ms <= 0 || ms > 1000)
        ms = 1000; /* a held client is waiting: poll often */
    return (uint64_t)ms * 1000000;
}

/* The thread's store handle, opened on first use (a Postgres store
 * unreachable now is tried again at the next tick).  NULL: none now. */
static struct fg_batch_store *store(void)
{
    if (g.s || g.no_store)
        return g.s;
    const char *dsn = fg_config_batch_storage(g.app->cfg);
    char err[300];
    if (!dsn || (strncmp(dsn, "sqlite:", 7) && !fg_pgdb_is_dsn(dsn))) {
        g.no_store = true; /* no batch store: deferral lives in memory */
        return NULL;
    }
    if (fg_batch_store_open(dsn, &g.s, err, sizeof err) < 0) {
        fg_warn("deferral: batch store: %s (trying again)", err);
        g.s = NULL;
    } else if (fg_pgdb_is_dsn(dsn))
        fg_info("deferral: shared store; this replica is %s", g.me);
    return g.s;
}

/* A submitted provider batch and its lines go into the store, so that a
 * restarted process or another replica polls it to its end and records
 * the lines nobody took.  Not stored (store down): this process only. */
static void store_job(struct job *j)
{
    if (!store())
        return;
    const struct dline *f = j->lines[0];
    struct fg_djob dj = {0};
    snprintf(dj.remote_id, sizeof dj.remote_id, "%s", j->remote_id);
    snprintf(dj.provider, sizeof dj.provider, "%s", g.app->cfg->providers[f->pi].name);
    snprintf(dj.dialect, sizeof dj.dialect, "%s",
             f->dialect == FG_DIALECT_ANTHROPIC ? "anthropic" : "openai");
    snprintf(dj.endpoint, sizeof dj.endpoint, "%s", f->endpoint ? f->endpoint : "");
    snprintf(dj.model, sizeof dj.model, "%s", f->model);
    struct fg_dline *v = fg_xcalloc(j->n, sizeof *v);
    for (size_t i = 0; i < j->n; i++) {
        const struct dline *l = j->lines[i];
        v[i].idx = l->idx;
        snprintf(v[i].call_id, sizeof v[i].call_id, "%s", l->call_id);
        snprintf(v[i].model, sizeof v[i].model, "%s", l->model_cfg);
        memcpy(v[i].body_hash, l->body_hash, sizeof v[i].body_hash);
        v[i].key_id = l->key_id;
        v[i].tags = l->tags;
        v[i].model_req = l->model_req;
        v[i].ts_ms = l->ts_ms;
        v[i].hold_pico = l->hold;
        v[i].hold_at = l->hold_at;
        v[i].hold_until = l->hold_until;
    }
    int rc = fg_batch_store_defer_add(g.s, &dj, v, j->n, g.me, g.app->cfg->batches.lease_ms);
    free(v);
    if (rc < 0) {
        fg_warn("deferral: provider batch %s not in the store (%s): only this process polls it",
                j->remote_id, fg_batch_store_errmsg(g.s));
        return;
    }
    j->stored = true;
    for (size_t i = 0; i < j->n; i++)
        j->lines[i]->stored = true;
}

/* Submit the lines in `take` (the window's), one provider batch per group. */
static void submit_all(struct dline *take)
{
    while (take) {
        struct job *j = fg_xcalloc(1, sizeof *j);
        struct dline **rest = &take, *first = take;
        size_t cap = 0;
        for (struct dline *l = take; l;) { /* move first's group into j */
            struct dline *nx = l->next;
            if (same_group(first, l)) {
                *rest = nx;
                FG_VEC_RESERVE(j->lines, j->n + 1, cap);
                j->lines[j->n++] = l;
            } else
                rest = &l->next;
            l = nx;
        }
        remote_of(first, &j->r);
        struct fg_batch_remote_req *reqs = fg_xcalloc(j->n, sizeof *reqs);
        for (size_t i = 0; i < j->n; i++)
            reqs[i] = (struct fg_batch_remote_req){(int64_t)i, j->lines[i]->body, j->lines[i]->len};
        char job_id[64], fid[128], err[300];
        snprintf(job_id, sizeof job_id, "defer_%llx",
                 (unsigned long long)fg_clock_now_ns() ^ (unsigned long long)(uintptr_t)j);
        int rc = fg_batch_remote_submit(&j->r, job_id, reqs, j->n, j->remote_id,
                                        sizeof j->remote_id, fid, sizeof fid, err, sizeof err);
        free(reqs);
        if (rc < 0) {
            fg_warn("deferral: provider batch of %zu line(s) not submitted (%s): real time", j->n,
                    err);
            job_free(j, JOB_ENDED);
            continue;
        }
        for (size_t i = 0; i < j->n; i++) {
            snprintf(j->lines[i]->batch_id, sizeof j->lines[i]->batch_id, "%s", j->remote_id);
            j->lines[i]->idx = (int64_t)i;
        }
        store_job(j);
        /* said once the batch is in the store (or could not be put there):
         * from here a process killed polls nothing, another one does */
        fg_info("deferral: %zu line(s) in provider batch %s", j->n, j->remote_id);
        j->next_poll_ns = fg_clock_now_ns() + poll_ns();
        j->next = g.jobs;
        g.jobs = j;
    }
}

static void on_result(void *arg, const struct fg_batch_remote_result *r)
{
    struct job *j = arg;
    if (r->idx < 0 || (size_t)r->idx >= j->n)
        return;
    struct dline *l = j->lines[r->idx];
    if (!l || l->answer || strcmp(r->kind, "succeeded") || r->status < 200 || r->status >= 300 ||
        !r->body)
        return; /* no answer from the batch: its call goes real time */
    l->answer = fg_xmalloc(r->len + 1);
    memcpy(l->answer, r->body, r->len);
    l->answer[r->len] = 0;
    l->alen = r->len;
}

/* Poll the jobs due; the ended ones post their lines. */
static void poll_jobs(void)
{
    uint64_t now = fg_clock_now_ns();
    for (struct job **pj = &g.jobs; *pj;) {
        struct job *j = *pj;
        if (j->watch || j->next_poll_ns > now) {
            pj = &j->next;
            continue;
        }
        enum fg_batch_remote_state st = FG_REMOTE_RUNNING;
        char err[300];
        if (fg_batch_remote_poll(&j->r, j->remote_id, &st, on_result, j, err, sizeof err) < 0) {
            fg_warn("deferral: polling %s: %s", j->remote_id, err);
            st = FG_REMOTE_RUNNING;
        }
        if (st == FG_REMOTE_RUNNING) {
            j->next_poll_ns = fg_clock_now_ns() + poll_ns();
            pj = &j->next;
            continue;
        }
        *pj = j->next;
        job_free(j, JOB_ENDED);
    }
}

struct adopt_ctx {
    struct job *j;
    const struct fg_djob *dj;
    int pi;
    size_t cap;
};

static struct job *job_known(const char *remote_id)
{
    for (struct job *j = g.jobs; j; j = j->next)
        if (!strcmp(j->remote_id, remote_id))
            return j;
    return NULL;
}

static int provider_named(const char *name)
{
    for (size_t i = 0; i < g.app->cfg->n_providers; i++)
        if (!strcmp(g.app->cfg->providers[i].name, name))
            return (int)i;
    return -1;
}

/* An open line of an adopted batch: nobody waits for it (but a client's
 * retry may); when its batch ends it is recorded late, at the batch
 * price, and its stored reservation settles. */
static int adopt_line(void *arg, const struct fg_dline *sl)
{
    struct adopt_ctx *x = arg;
    struct job *j = x->j;
    if (sl->idx < 0 || sl->idx > 1000000)
        return 0; /* not a line this code wrote */
    size_t at = (size_t)sl->idx;
    if (at >= j->n) {
        FG_VEC_RESERVE(j->lines, at + 1, x->cap);
        memset(j->lines + j->n, 0, (at + 1 - j->n) * sizeof *j->lines);
        j->n = at + 1;
    }
    struct dline *l = fg_xcalloc(1, sizeof *l);
    atomic_init(&l->refs, 1); /* the thread's */
    l->pi = x->pi;
    /* a line an earlier process left: the boot config's (pi and mc are) */
    l->snap = fg_snap_hold(&g.app->boot);
    l->dialect = !strcmp(x->dj->dialect, "anthropic") ? FG_DIALECT_ANTHROPIC : FG_DIALECT_OPENAI;
    l->endpoint = !strcmp(x->dj->endpoint, responses_url) ? responses_url : NULL;
    snprintf(l->model, sizeof l->model, "%s", x->dj->model);
    snprintf(l->model_cfg, sizeof l->model_cfg, "%s", sl->model);
    l->mc = fg_config_model(g.app->cfg, sl->model);
    l->ops = l->endpoint ? &fg_provider_responses : fg_provider_named(x->dj->dialect);
    snprintf(l->call_id, sizeof l->call_id, "%s", sl->call_id);
    snprintf(l->batch_id, sizeof l->batch_id, "%s", x->dj->remote_id);
    memcpy(l->body_hash, sl->body_hash, sizeof l->body_hash);
    l->key_id = fg_xstrdup(sl->key_id ? sl->key_id : "anonymous");
    l->tags = fg_xstrdup(sl->tags ? sl->tags : "");
    l->model_req = fg_xstrdup(sl->model_req ? sl->model_req : "");
    l->ts_ms = sl->ts_ms;
    l->hold = sl->hold_pico;
    l->hold_at = sl->hold_at;
    fg_batch_budget_of(l->key_id, l->tags, l->hold_at, &l->bb);
    l->stored = true;
    l->idx = sl->idx;
    j->lines[at] = l;
    return 0;
}

/* A stored job this replica holds now: known, or one that an earlier
 * process (or a replica that died) left open, adopted and polled. */
static int adopt(void *arg, const struct fg_djob *dj)
{
    (void)arg;
    struct job *known = job_known(dj->remote_id);
    if (known) {
        known->seen = true;
        if (known->watch) { /* ours again: poll it ourselves */
            known->watch = false;
            known->next_poll_ns = fg_clock_now_ns();
        }
        return 0;
    }
    int pi = provider_named(dj->provider);
    if (pi < 0) {
        fg_warn("deferral: provider batch %s is at provider '%s', not in the config: not polled",
                dj->remote_id, dj->provider);
        return 0;
    }
    struct job *j = fg_xcalloc(1, sizeof *j);
    snprintf(j->remote_id, sizeof j->remote_id, "%s", dj->remote_id);
    struct adopt_ctx x = {j, dj, pi, 0};
    if (fg_batch_store_defer_lines(g.s, dj->remote_id, adopt_line, &x) < 0) {
        fg_warn("deferral: reading the lines of %s: %s", dj->remote_id, fg_batch_store_errmsg(g.s));
        j->stored = false; /* nothing ends in the store: it is read again later */
        job_free(j, JOB_HANDBACK);
        return 0;
    }
    j->stored = j->seen = true;
    struct dline *first = NULL;
    size_t open = 0;
    pthread_mutex_lock(&g.mu);
    for (size_t i = 0; i < j->n; i++)
        if (j->lines[i]) {
            first = first ? first : j->lines[i];
            open++;
            j->lines[i]->pnext = g.pending; /* a client's retry may wait for it */
            g.pending = j->lines[i];
        }
    pthread_mutex_unlock(&g.mu);
    if (!first) { /* every line ended already */
        job_free(j, JOB_ENDED);
        return 0;
    }
    remote_of(first, &j->r);
    fg_info("deferral: polling provider batch %s that no live process holds (%zu open "
            "line(s))",
            j->remote_id, open);
    j->next_poll_ns = fg_clock_now_ns();
    j->next = g.jobs;
    g.jobs = j;
    return 0;
}

/* An answer another replica put in the store for one of our lines. */
static int taken(void *arg, int64_t idx, const char *answer, size_t len)
{
    struct job *j = arg;
    if (idx < 0 || (size_t)idx >= j->n || !j->lines[idx])
        return 0; /* not in memory: ended here already */
    struct dline *l = j->lines[idx];
    j->lines[idx] = NULL;
    free(l->answer);
    l->answer = fg_xmalloc(len + 1);
    memcpy(l->answer, answer, len);
    l->answer[len] = 0;
    l->alen = len;
    l->stored = false; /* ended in the store by the take */
    fg_info("deferral: %s's batch line answered through the store", l->call_id);
    post(l, false);
    return 0;
}

/* A job another replica polls: take our lines' answers; a line whose call
 * is past its deadline leaves (whoever ends it records it).  True when
 * none is left. */
static bool watch(struct job *j)
{
    if (fg_batch_store_defer_take(g.s, j->remote_id, g.me, taken, j) < 0)
        fg_warn("deferral: batch store: %s", fg_batch_store_errmsg(g.s));
    int64_t now = now_ms();
    bool left = false;
    for (size_t i = 0; i < j->n; i++) {
        struct dline *l = j->lines[i];
        if (l && l->hold_until + 1000 < now) {
            j->lines[i] = NULL;
            post(l, true);
        } else if (l)
            left = true;
    }
    return !left;
}

/* An answer that waited in the store for a replica that died before it
 * took it: recorded late here. */
static int swept(void *arg, const struct fg_djob *dj, const struct fg_dline *sl, const char *answer,
                 size_t len)
{
    (void)arg;
    int pi = provider_named(dj->provider);
    if (pi < 0)
        return 0;
    struct job *j = fg_xcalloc(1, sizeof *j);
    struct adopt_ctx x = {j, dj, pi, 0};
    adopt_line(&x, sl);
    struct dline *l = j->lines[sl->idx];
    l->answer = fg_xmalloc(len + 1);
    memcpy(l->answer, answer, len);
    l->answer[len] = 0;
    l->alen = len;
    l->stored = false; /* ended in the store by the sweep */
    post(l, false);
    free(j->lines);
    free(j);
    return 0;
}

/* Every scan (a few a lease): renew this replica's leases and adopt the
 * open jobs nobody holds; a stored job of ours that another replica took
 * over (our lease ran out) is handed back: its calls go real time. */
static void scan_store(void)
{
    uint64_t now = fg_clock_now_ns();
    int lease = g.app->cfg->batches.lease_ms;
    if (now < g.next_scan_ns)
        return;
    /* before the store is opened: a store down is tried again next scan */
    g.next_scan_ns = now + (uint64_t)(lease / 4 < 1000 ? lease / 4 : 1000) * 1000000;
    if (!store())
        return;
    for (struct job *j = g.jobs; j; j = j->next)
        j->seen = false;
    if (fg_batch_store_defer_claim(g.s, g.me, lease, adopt, NULL) < 0) {
        fg_warn("deferral: batch store: %s", fg_batch_store_errmsg(g.s));
        return;
    }
    for (struct job **pj = &g.jobs; *pj;) {
        struct job *j = *pj;
        if (j->stored && !j->seen && !j->watch) {
            fg_warn("deferral: provider batch %s was taken over by another replica: its "
                    "answers to our calls come through the store",
                    j->remote_id);
            j->watch = true;
        }
        if (j->watch && watch(j)) {
            *pj = j->next;
            job_free(j, JOB_HANDBACK);
            continue;
        }
        pj = &j->next;
    }
    if (fg_batch_store_defer_sweep(g.s, swept, NULL) < 0)
        fg_warn("deferral: batch store: %s", fg_batch_store_errmsg(g.s));
}

static void deadline_in(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ns / 1000000000);
    ts->tv_nsec += (long)(ns % 1000000000);
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void *run(void *arg)
{
    (void)arg;
    uint64_t window = (uint64_t)g.app->cfg->deferral.window_ms * 1000000;
    pthread_mutex_lock(&g.mu);
    while (!g.stop) {
        uint64_t now = fg_clock_now_ns(), wait = poll_ns();
        struct dline *take = NULL;
        if (g.queue && now >= g.first_ns + window) {
            take = g.queue;
            g.queue = NULL;
        } else if (g.queue && g.first_ns + window - now < wait)
            wait = g.first_ns + window - now;
        pthread_mutex_unlock(&g.mu);
        submit_all(take);
        scan_store();
        if (g.jobs)
            poll_jobs();
        pthread_mutex_lock(&g.mu);
        if (g.stop)
            break;
        for (struct job *j = g.jobs; j; j = j->next) {
            if (j->watch)
                continue; /* the store scan looks at it */
            uint64_t t = fg_clock_now_ns();
            uint64_t d = j->next_poll_ns > t ? j->next_poll_ns - t : 0;
            if (d < wait)
                wait = d;
        }
        if (!g.no_store) { /* the next scan of the store */
            uint64_t t = fg_clock_now_ns();
            uint64_t d = g.next_scan_ns > t ? g.next_scan_ns - t : 0;
            if (d < wait)
                wait = d;
        } else if (!g.queue && !g.jobs) {
            pthread_cond_wait(&g.cv, &g.mu);
            continue;
        }
        struct timespec ts;
        deadline_in(&ts, wait + 1000000);
        pthread_cond_timedwait(&g.cv, &g.mu, &ts);
    }
    /* stopping: every held call goes real time now */
    struct dline *q = g.queue;
    g.queue = NULL;
    pthread_mutex_unlock(&g.mu);
    while (q) {
        struct dline *nx = q->next;
        post(q, false);
        q = nx;
    }
    while (g.jobs) {
        struct job *j = g.jobs;
        g.jobs = j->next;
        job_free(j, JOB_HANDBACK); /* the next process (or replica) polls them */
    }
    if (g.s && fg_batch_store_defer_release(g.s, g.me) < 0)
        fg_warn("deferral: giving up the leases: %s", fg_batch_store_errmsg(g.s));
    fg_batch_store_close(g.s);
    g.s = NULL;
    fg_json_thread_cleanup(); /* late records' usage was read here */
    return NULL;
}

int fg_batch_defer_start(struct fg_app *app, char *err, size_t errlen)
{
    g.app = app;
    g.stop = false;
    g.no_store = false;
    g.next_scan_ns = 0;
    fg_batch_store_new_id("defer_", g.me, sizeof g.me);
    atomic_store(&g.abort, false);
    static const struct fg_defer_collector col = {queue_line, drop_line};
    fg_defer_set_collector(&col);
    pthread_mutex_lock(&g.mu);
    g.running = pthread_create(&g.th, NULL, run, NULL) == 0;
    bool ok = g.running;
    pthread_mutex_unlock(&g.mu);
    if (!ok) {
        snprintf(err, errlen, "deferral: cannot start its thread");
        return -1;
    }
    return 0;
}

void fg_batch_defer_stop(void)
{
    pthread_mutex_lock(&g.mu);
    bool was = g.running;
    g.stop = true;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    if (!was)
        return;
    atomic_store(&g.abort, true);
    pthread_join(g.th, NULL);
    pthread_mutex_lock(&g.mu);
    g.running = false;
    pthread_mutex_unlock(&g.mu);
}
