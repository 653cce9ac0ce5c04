/* batch_defer.c — see batch_defer.h. */
#include "batch_defer.h"

#include "arena.h"
#include "assert.h"
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
#include <time.h>

struct dline {
    atomic_int refs;      /* the thread's and the call's */
    struct fg_call *call; /* on its worker only; NULL once dropped */
    struct event_base *base;
    int pi;
    enum fg_dialect dialect;
    const char *endpoint; /* OpenAI: the lines' url (NULL: chat) */
    char model[128];
    char *body;
    size_t len;
    char *answer; /* the 2xx result, or NULL */
    size_t alen;
    struct dline *next;
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
    struct dline *queue; /* newest first, under mu */
    uint64_t first_ns;   /* when the oldest queued line came */
    bool stop, running;  /* under mu */
    _Atomic bool abort;
    struct job *jobs; /* the thread's */
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void unref(struct dline *l)
{
    if (atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    free(l->body);
    free(l->answer);
    free(l);
}

/* On the call's worker: the thread's reference comes with it. */
static void on_posted(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dline *l = arg;
    struct fg_call *c = l->call;
    if (c) {
        l->call = NULL;
        unref(l); /* the call's: it is done with the line */
        fg_defer_line_done(c, l->answer, l->alen);
    }
    unref(l);
}

/* Hand the line (answered or not) back to its worker. */
static void post(struct dline *l)
{
    struct timeval now = {0, 0};
    if (event_base_once(l->base, -1, EV_TIMEOUT, on_posted, l, &now) < 0) {
        fg_error("deferral: a line could not reach its worker");
        unref(l); /* its call goes real time at its deadline */
    }
}

static void *queue_line(struct fg_call *c)
{
    struct dline *l = fg_xcalloc(1, sizeof *l);
    const char *b = c->enc.body ? c->enc.body : c->raw;
    size_t n = c->enc.body ? c->enc.body_len : c->raw_len;
    l->body = fg_xmalloc(n + 1);
    memcpy(l->body, b, n);
    l->body[n] = 0;
    l->len = n;
    atomic_init(&l->refs, 2);
    l->call = c;
    l->base = c->w->base;
    l->pi = c->serve.provider_index;
    l->dialect = c->out->dialect;
    l->endpoint = c->endpoint == FG_EP_RESPONSES ? "/v1/responses" : NULL;
    snprintf(l->model, sizeof l->model, "%s", c->serve.upstream_model);
    pthread_mutex_lock(&g.mu);
    bool ok = g.running && !g.stop;
    if (ok) {
        if (!g.queue)
            g.first_ns = fg_clock_now_ns();
        l->next = g.queue;
        g.queue = l;
        pthread_cond_signal(&g.cv);
    }
    pthread_mutex_unlock(&g.mu);
    if (!ok) {
        free(l->body);
        free(l);
        return NULL;
    }
    return l;
}

/* On the call's worker. */
static void drop_line(void *line)
{
    struct dline *l = line;
    FG_ASSERT(l->call);
    l->call = NULL;
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
