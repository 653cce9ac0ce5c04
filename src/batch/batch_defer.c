/* batch_defer.c — see batch_defer.h. */
#include "batch_defer.h"

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
#include "call.h"
#include "clock.h"
#include "defer.h"
#include "log.h"
#include "provider.h"
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
    atomic_int refs;     /* the thread's and its waiter's */
    struct waiter *w;    /* the call waiting for it, or NULL (under g.mu) */
    bool ended;          /* handed back (under g.mu) */
    struct dline *pnext; /* g.pending (under g.mu) */
    int pi;
    enum fg_dialect dialect;
    const char *endpoint; /* OpenAI: the lines' url (NULL: chat) */
    char model[128];
    char *body;
    size_t len;
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
};

struct job {
    struct fg_remote r;
    char remote_id[128];
    struct dline **lines;
    size_t n;
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
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void line_free(struct dline *l)
{
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
    const char *prov = g.app->cfg->providers[l->pi].name;
    const char *strs[] = {l->key_id, l->tags, l->model_req, l->mc->name,
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
    r->model = fg_ledger_record_str(r, l->mc->name);
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
    bool priced = fg_price_of(l->mc, &p);
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

/* The line ended (answered or not): to the call waiting for it, else
 * recorded when the provider answered it.  Drops the thread's reference. */
static void post(struct dline *l)
{
    pthread_mutex_lock(&g.mu);
    struct waiter *w = l->w;
    l->w = NULL;
    l->ended = true;
    pending_remove(l);
    pthread_mutex_unlock(&g.mu);
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

/* A client's retry of a deferred call whose client left: the same key,
 * provider and encoded body, its line still pending with nobody waiting
 * (under g.mu). */
static struct dline *retry_of(const char *key, int pi, const char *b, size_t n)
{
    for (struct dline *l = g.pending; l; l = l->pnext)
        if (!l->w && !l->ended && l->pi == pi && l->len == n && !strcmp(l->key_id, key) &&
            !memcmp(l->body, b, n))
            return l;
    return NULL;
}

static void *queue_line(struct fg_call *c)
{
    const char *b = c->enc.body ? c->enc.body : c->raw;
    size_t n = c->enc.body ? c->enc.body_len : c->raw_len;
    const char *key = c->who.key_id ? c->who.key_id : "anonymous";
    pthread_mutex_lock(&g.mu);
    if (!g.running || g.stop) {
        pthread_mutex_unlock(&g.mu);
        return NULL;
    }
    struct dline *was = retry_of(key, c->serve.provider_index, b, n);
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
    atomic_init(&l->refs, 2);
    l->pi = c->serve.provider_index;
    l->dialect = c->out->dialect;
    /* the upstream body's endpoint: a Responses call translated for a
     * provider without the Responses API is a Chat (or Messages) line */
    l->endpoint = c->endpoint == FG_EP_RESPONSES && c->out->shape == FG_DIALECT_RESPONSES
                      ? "/v1/responses"
                      : NULL;
    snprintf(l->model, sizeof l->model, "%s", c->serve.upstream_model);
    l->mc = c->serve.model;
    l->ops = c->out;
    snprintf(l->call_id, sizeof l->call_id, "%s", c->id);
    l->key_id = fg_xstrdup(key);
    l->tags = redacted(c->who.tags.recorded);
    l->model_req = redacted(c->model_name);
    l->ts_ms = c->meter.acct.ts_ms;
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
    const struct fg_provider_cfg *p = &g.app->cfg->providers[l->pi];
    memset(r, 0, sizeof *r);
    r->provider = p;
    r->dialect = l->dialect;
    r->openai_base = g.app->prov[l->pi].openai_base;
    r->anthropic_base = g.app->prov[l->pi].anthropic_base;
    r->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : 600000;
    r->endpoint = l->endpoint;
    r->abort = &g.abort;
}

static bool same_group(const struct dline *a, const struct dline *b)
{
    return a->pi == b->pi && a->dialect == b->dialect && a->endpoint == b->endpoint &&
           !strcmp(a->model, b->model);
}

static void job_free(struct job *j, bool post_all)
{
    for (size_t i = 0; i < j->n; i++)
        if (post_all)
            post(j->lines[i]);
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
            job_free(j, true);
            continue;
        }
        fg_info("deferral: %zu line(s) in provider batch %s", j->n, j->remote_id);
        for (size_t i = 0; i < j->n; i++)
            snprintf(j->lines[i]->batch_id, sizeof j->lines[i]->batch_id, "%s", j->remote_id);
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
    if (l->answer || strcmp(r->kind, "succeeded") || r->status < 200 || r->status >= 300 ||
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
        if (j->next_poll_ns > now) {
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
        job_free(j, true);
    }
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
        if (take || g.jobs) {
            pthread_mutex_unlock(&g.mu);
            submit_all(take);
            poll_jobs();
            pthread_mutex_lock(&g.mu);
            if (g.stop)
                break;
        }
        for (struct job *j = g.jobs; j; j = j->next) {
            uint64_t t = fg_clock_now_ns();
            uint64_t d = j->next_poll_ns > t ? j->next_poll_ns - t : 0;
            if (d < wait)
                wait = d;
        }
        if (!g.queue && !g.jobs) {
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
        post(q);
        q = nx;
    }
    while (g.jobs) {
        struct job *j = g.jobs;
        g.jobs = j->next;
        job_free(j, true);
    }
    fg_json_thread_cleanup(); /* late records' usage was read here */
    return NULL;
}

int fg_batch_defer_start(struct fg_app *app, char *err, size_t errlen)
{
    g.app = app;
    g.stop = false;
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
