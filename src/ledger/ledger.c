/* ledger.c — see ledger.h.  A mutex-protected singly linked queue and one
 * writer thread that commits in groups. */
#include "ledger.h"

#include "alog.h"

#include "arena.h"
#include "assert.h"
#include "log.h"
#include "spool.h"
#include "spoolspend.h"
#include "store.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 200000 /* default: records waiting before admission refuses calls */
/* Room past the admission limit for the records of calls already admitted
 * (in flight; at most server.max_connections) and of the calls refused
 * while the queue is full: only past this are records dropped. */
#define QUEUE_RESERVE 65536
/* A group this large is committed without waiting for the timer. */
#define FLUSH_COUNT 1024
#define BUSY_RETRY_MS 20   /* the database is locked by another writer: try again */
#define DOWN_RETRY_MS 200  /* the database's server is unreachable: try again */
#define REPLAY_MS 500      /* with a spool: how often an unreachable store is tried */
#define REPLAY_GROUP 1000  /* spooled records written back per transaction */
#define CHECKPOINT_MS 500  /* the checkpointer's period (store.h) */
#define STOP_BUSY_MS 10000 /* at shutdown, how long a locked store is waited for */
#define PRUNE_MS 60000     /* expired stored Responses are deleted this often */

struct rec_alloc {
    struct fg_record r;
    size_t cap, used;
    char text[];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv, ckpt_cv;
    pthread_t thread, ckpt_thread;
    bool running, stopping, ckpt_running;
    struct fg_record *head, *tail;
    struct fg_ledger_stats st;
    struct fg_store *store;
    struct fg_spool *spool; /* the writer's; NULL without one */
    char *spool_path;       /* fg_ledger_spool_at */
    int64_t replay_due;     /* mono ms of the next replay attempt */
    int group_ms;
    size_t queue_max;
    int prune_ms;         /* the writer's prune period (store.h response_prune) */
    int64_t prune_next;   /* mono ms of the next prune (writer thread only) */
    _Atomic size_t depth; /* = st.depth, read without the lock by fg_ledger_full */
    int64_t ts_shift_ms;  /* debug builds: records stamped this far back (ledger.h) */
} g_ledger = {.mu = PTHREAD_MUTEX_INITIALIZER,
              .cv = PTHREAD_COND_INITIALIZER,
              .ckpt_cv = PTHREAD_COND_INITIALIZER,
              .queue_max = QUEUE_MAX};

struct fg_record *fg_ledger_record_new(size_t strings)
{
    struct rec_alloc *a = fg_xcalloc(1, sizeof *a + strings);
    a->cap = strings;
    return &a->r;
}

const char *fg_ledger_record_str(struct fg_record *r, const char *s)
{
    struct rec_alloc *a = (struct rec_alloc *)r;
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    if (a->used + n > a->cap)
        return ""; /* caller sized too small: keep the record valid */
    char *p = a->text + a->used;
    memcpy(p, s, n);
    a->used += n;
    FG_DASSERT(a->used <= a->cap);
    return p;
}

void fg_ledger_record_free(struct fg_record *r)
{
    free(r);
}

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

struct fg_record *fg_ledger_record_copy(const struct fg_record *r)
{
    const char *const *strs[] = {&r->key_id,          &r->tags,          &r->endpoint,
                                 &r->model_requested, &r->model,         &r->upstream_model,
                                 &r->provider,        &r->route,         &r->route_reason,
                                 &r->cache,           &r->error,         &r->linked_id,
                                 &r->buster_where,    &r->buster_sample, &r->cache_miss_reason,
                                 &r->batch_id,        &r->response_id,   &r->key_name};
    size_t need = 0;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        need += slen(*strs[i]);
    struct fg_record *c = fg_ledger_record_new(need);
    *c = *r;
    c->next = NULL;
    /* the same fields of the copy, pointed at its own text */
    const char **dst[] = {&c->key_id,          &c->tags,          &c->endpoint,
                          &c->model_requested, &c->model,         &c->upstream_model,
                          &c->provider,        &c->route,         &c->route_reason,
                          &c->cache,           &c->error,         &c->linked_id,
                          &c->buster_where,    &c->buster_sample, &c->cache_miss_reason,
                          &c->batch_id,        &c->response_id,   &c->key_name};
    _Static_assert(sizeof dst == sizeof strs, "every string field, in both lists");
    for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++)
        *dst[i] = fg_ledger_record_str(c, *strs[i]);
    return c;
}

void fg_ledger_submit(struct fg_record *r)
{
    r->next = NULL;
    r->ts_ms -= g_ledger.ts_shift_ms; /* 0 unless a debug build's test set it */
    /* its access log line, formatted as the ledger will have it (outside
     * the lock) and written only if the ledger takes the record */
    char line[FG_ALOG_LINE_MAX];
    size_t line_len = fg_alog_on() ? fg_alog_format(r, line, sizeof line) : 0;
    pthread_mutex_lock(&g_ledger.mu);
    if (!g_ledger.running || g_ledger.st.depth >= g_ledger.queue_max + QUEUE_RESERVE) {
        g_ledger.st.dropped++;
        pthread_mutex_unlock(&g_ledger.mu);
        fg_ledger_record_free(r);
        return;
    }
    FG_ASSERT(!g_ledger.tail == !g_ledger.head && !g_ledger.head == (g_ledger.st.depth == 0));
    if (g_ledger.tail)
        g_ledger.tail->next = r;
    else
        g_ledger.head = r;
    g_ledger.tail = r;
    g_ledger.st.depth++;
    g_ledger.st.queued++;
    atomic_store_explicit(&g_ledger.depth, g_ledger.st.depth, memory_order_relaxed);
    if (g_ledger.st.depth == FLUSH_COUNT)
        pthread_cond_signal(&g_ledger.cv); /* a full group: no need to wait for the timer */
    pthread_mutex_unlock(&g_ledger.mu);
    if (line_len)
        fg_alog_put(line, line_len);
}

bool fg_ledger_full(void)
{
    return atomic_load_explicit(&g_ledger.depth, memory_order_relaxed) >= g_ledger.queue_max;
}

static int64_t mono_ms(void);

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

/* The store's write, timed for the metrics; a write that worked means the
 * store is up. */
static int store_write(struct fg_record **v, size_t n, char *err, size_t errlen)
{
    int64_t t0 = mono_us();
    int rc = g_ledger.store->ops->write(g_ledger.store, v, n, err, errlen);
    pthread_mutex_lock(&g_ledger.mu);
    g_ledger.st.store_writes++;
    g_ledger.st.store_write_us += (uint64_t)(mono_us() - t0);
    if (rc == 0 || rc == FG_STORE_DOWN)
        g_ledger.st.store_down = rc == FG_STORE_DOWN;
    pthread_mutex_unlock(&g_ledger.mu);
    return rc;
}

static int spool_spend_add(void *arg, const struct fg_record *r)
{
    fg_spoolspend_add(r);
    return 0;
}

/* The store is unreachable: the records go to the spool, in order. */
static int spool_append(struct fg_record **v, size_t n, char *err, size_t errlen)
{
    if (!fg_spool_depth(g_ledger.spool))
        fg_warn("ledger: the store is unreachable (%s); records go to the spool until it is back",
                err);
    if (fg_spool_append(g_ledger.spool, v, n, err, errlen) < 0)
        return -1;
    fg_spoolspend_lock(); /* their spend: a rebuild of shared counters adds it */
    for (size_t i = 0; i < n; i++)
        fg_spoolspend_add(v[i]);
    fg_spoolspend_unlock();
    pthread_mutex_lock(&g_ledger.mu);
    g_ledger.st.spooled += n;
    g_ledger.st.spool_depth = fg_spool_depth(g_ledger.spool);
    pthread_mutex_unlock(&g_ledger.mu);
    if (!g_ledger.replay_due)
        g_ledger.replay_due = mono_ms() + REPLAY_MS;
    return 0;
}

/* Write one batch; records are freed whatever happens.  A store locked by
 * another writer (`frugal keys`, a report's migration) is waited for: the
 * records stay queued meanwhile and admission refuses calls once the queue
 * is full, so nothing is lost to a lock.  An unreachable store's records
 * go to the spool when there is one (behind what already waits there, so
 * the store receives them in order), else are waited for like a lock. */
static void write_batch(struct fg_record *list, size_t n)
{
    struct fg_record **v = fg_xmalloc(n * sizeof *v);
    size_t k = 0;
    for (struct fg_record *r = list; r; r = r->next) {
        FG_ASSERT(k < n); /* the queue's count matches its list */
        v[k++] = r;
    }
    FG_ASSERT(k == n);
    char err[256];
    int rc;
    bool warned = false, spooled = false;
    int64_t stop_seen = 0;
    if (g_ledger.spool && fg_spool_depth(g_ledger.spool)) {
        snprintf(err, sizeof err, "records wait in the spool");
        rc = FG_STORE_DOWN;
    } else {
        rc = store_write(v, n, err, sizeof err);
    }
    while (rc == FG_STORE_BUSY || rc == FG_STORE_DOWN) {
        if (rc == FG_STORE_DOWN && g_ledger.spool) {
            rc = spool_append(v, n, err, sizeof err);
            spooled = rc == 0;
            break;
        }
        if (!warned)
            fg_warn("ledger: %s; %zu record(s) wait for the store", err, n);
        warned = true;
        pthread_mutex_lock(&g_ledger.mu);
        bool stopping = g_ledger.stopping;
        pthread_mutex_unlock(&g_ledger.mu);
        if (stopping && !stop_seen)
            stop_seen = mono_ms();
        if (stopping && mono_ms() - stop_seen > STOP_BUSY_MS) {
            rc = -1; /* shutting down: a lock held this long is not let go */
            break;
        }
        sleep_ms(rc == FG_STORE_DOWN ? DOWN_RETRY_MS : BUSY_RETRY_MS);
        rc = store_write(v, n, err, sizeof err);
    }
    if (rc < 0)
        fg_error("ledger: %zu record(s) not written: %s", n, err);
    pthread_mutex_lock(&g_ledger.mu);
    if (rc < 0)
        g_ledger.st.write_errors += n;
    else if (!spooled)
        g_ledger.st.written += n;
    pthread_mutex_unlock(&g_ledger.mu);
    for (size_t i = 0; i < n; i++)
        fg_ledger_record_free(v[i]);
    free(v);
}

/* Write one group of spooled records back, oldest first, when a replay is
 * due (now: whatever the time).  1: the spool is empty now (or there is
 * none); 0: more to do later. */
static int replay_some(bool now)
{
    if (!g_ledger.spool || !fg_spool_depth(g_ledger.spool))
        return 1;
    if (!now && mono_ms() < g_ledger.replay_due)
        return 0;
    struct fg_record *v[REPLAY_GROUP];
    char err[256];
    long n = fg_spool_read(g_ledger.spool, v, REPLAY_GROUP, err, sizeof err);
    if (err[0])
        fg_error("ledger: %s", err);
    if (n <= 0)
        return !fg_spool_depth(g_ledger.spool);
    /* written and out of the spool's spend in one step for a reader of
     * both (fg_ledger_spend_since) */
    fg_spoolspend_lock();
    int rc = store_write(v, (size_t)n, err, sizeof err);
    for (long i = 0; rc == 0 && i < n; i++)
        fg_spoolspend_sub(v[i]);
    fg_spoolspend_unlock();
    for (long i = 0; i < n; i++)
        fg_ledger_record_free(v[i]);
    if (rc == 0) {
        fg_spool_consume(g_ledger.spool);
        g_ledger.replay_due = 0;
    } else {
        /* unreachable, locked, or refused: the records stay in the spool */
        if (rc == -1)
            fg_error("ledger: replaying the spool: %s (tried again later)", err);
        g_ledger.replay_due = mono_ms() + REPLAY_MS;
    }
    uint64_t depth = fg_spool_depth(g_ledger.spool);
    pthread_mutex_lock(&g_ledger.mu);
    if (rc == 0)
        g_ledger.st.written += (uint64_t)n;
    g_ledger.st.spool_depth = depth;
    pthread_mutex_unlock(&g_ledger.mu);
    if (rc == 0 && !depth)
        fg_info("ledger: the store is back; every spooled record is written");
    return !depth;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_at(struct timespec *ts, int64_t mono_deadline)
{
    int64_t ms = mono_deadline - mono_ms();
    if (ms < 0)
        ms = 0;
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    ts->tv_sec += ms / 1000 + ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

void fg_ledger_forget_response(const char *id)
{
    struct fg_record *r = fg_ledger_record_new(strlen(id) + 1);
    r->response_forget = true;
    r->response_id = fg_ledger_record_str(r, id);
    fg_ledger_submit(r);
}

/* Stored Responses past their expiry go, once per prune_ms, on the
 * writer's own connection (called unlocked, from the writer thread). */
static void maybe_prune(void)
{
    g_ledger.prune_next = mono_ms() + g_ledger.prune_ms; /* first: the writer's loop tests it */
    if (!g_ledger.store->ops->response_prune)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char err[256];
    int n = g_ledger.store->ops->response_prune(
        g_ledger.store, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, err, sizeof err);
    if (n < 0)
        fg_warn("ledger: %s", err);
    else if (n > 0)
        fg_info("ledger: %d expired stored response(s) deleted", n);
}

/* Commit whatever is queued once per group_ms, counted from the start of
 * the previous commit (a slow commit does not add a whole period on top),
 * or at once when FLUSH_COUNT records wait.  So a record waits at most
 * group_ms plus the commit ahead of it before its own commit starts. */
static void *writer_main(void *arg)
{
    int64_t due = mono_ms() + g_ledger.group_ms;
    pthread_mutex_lock(&g_ledger.mu);
    for (;;) {
        bool stop = g_ledger.stopping;
        if (!stop && mono_ms() >= g_ledger.prune_next) {
            pthread_mutex_unlock(&g_ledger.mu);
            maybe_prune();
            pthread_mutex_lock(&g_ledger.mu);
            continue;
        }
        if (!stop && (!g_ledger.head || (mono_ms() < due && g_ledger.st.depth < FLUSH_COUNT))) {
            struct timespec ts;
            deadline_at(&ts, g_ledger.head ? due : mono_ms() + g_ledger.group_ms);
            pthread_cond_timedwait(&g_ledger.cv, &g_ledger.mu, &ts);
            if (!g_ledger.head)
                due = mono_ms() + g_ledger.group_ms; /* idle: the next record starts a period */
            if (g_ledger.st.spool_depth) {           /* idle: time to write the spool back */
                pthread_mutex_unlock(&g_ledger.mu);
                replay_some(false);
                pthread_mutex_lock(&g_ledger.mu);
            }
            continue;
        }
        struct fg_record *list = g_ledger.head;
        size_t n = g_ledger.st.depth;
        FG_ASSERT(!list == (n == 0) && !g_ledger.tail == !list);

        g_ledger.head = g_ledger.tail = NULL;
        g_ledger.st.depth = 0;
        atomic_store_explicit(&g_ledger.depth, 0, memory_order_relaxed);
        pthread_mutex_unlock(&g_ledger.mu);
        due = mono_ms() + g_ledger.group_ms;
        if (list)
            write_batch(list, n);
        /* at stop, what the store does not take now stays in the spool
         * for the next start */
        replay_some(stop && !list);
        if (stop && !list)
            return NULL;
        pthread_mutex_lock(&g_ledger.mu);
    }
}

/* Backend housekeeping off the writer's path (store.h checkpoint). */
static void *checkpointer_main(void *arg)
{
    pthread_mutex_lock(&g_ledger.mu);
    while (!g_ledger.stopping) {
        struct timespec ts;
        deadline_at(&ts, mono_ms() + CHECKPOINT_MS);
        pthread_cond_timedwait(&g_ledger.ckpt_cv, &g_ledger.mu, &ts);
        if (g_ledger.stopping)
            break;
        pthread_mutex_unlock(&g_ledger.mu);
        g_ledger.store->ops->checkpoint(g_ledger.store);
        pthread_mutex_lock(&g_ledger.mu);
    }
    pthread_mutex_unlock(&g_ledger.mu);
    return NULL;
}

int fg_ledger_start(const char *storage, int group_ms, char *err, size_t errlen)
{
    if (fg_store_open(storage, &g_ledger.store, err, errlen) < 0)
        return -1;
    g_ledger.group_ms = group_ms > 0 ? group_ms : FG_LEDGER_GROUP_MS;
    /* a test (and an operator who would rather refuse calls early) can make
     * the queue small: FRUGAL_LEDGER_QUEUE_MAX (README) */
    const char *qm = getenv("FRUGAL_LEDGER_QUEUE_MAX");
    long long v = qm ? strtoll(qm, NULL, 10) : 0;
    g_ledger.queue_max = v > 0 && v <= 10000000 ? (size_t)v : QUEUE_MAX;
    /* FRUGAL_RESPONSES_PRUNE_MS: a test sees expired rows go without a
     * minute's wait */
    const char *pm = getenv("FRUGAL_RESPONSES_PRUNE_MS");
    long long p = pm ? strtoll(pm, NULL, 10) : 0;
    g_ledger.prune_ms = p > 0 && p <= 86400000 ? (int)p : PRUNE_MS;
    g_ledger.prune_next = 0;
    g_ledger.ts_shift_ms = 0;
#ifdef FG_DEBUG
    const char *sh = getenv("FRUGAL_LEDGER_TS_SHIFT_MS");
    long long shift = sh ? strtoll(sh, NULL, 10) : 0;
    if (shift > 0 && shift <= 400 * 86400000LL) {
        g_ledger.ts_shift_ms = shift;
        fg_warn("ledger: records stamped %lld ms in the past (FRUGAL_LEDGER_TS_SHIFT_MS, a test)",
                shift);
    }
#endif

    if (g_ledger.spool_path) {
        if (fg_spool_open(g_ledger.spool_path, &g_ledger.spool, err, errlen) < 0) {
            fg_store_close(g_ledger.store);
            g_ledger.store = NULL;
            return -1;
        }
        g_ledger.st.spool_depth = fg_spool_depth(g_ledger.spool);
        g_ledger.replay_due = 0; /* what a previous run left: written first */
        fg_spoolspend_lock();
        if (fg_spool_scan(g_ledger.spool, spool_spend_add, NULL) < 0)
            fg_warn("ledger: the spool has a damaged record: what follows it is not counted "
                    "in a rebuild of shared budgets (it is cut at the replay)");
        fg_spoolspend_unlock();
        if (g_ledger.st.spool_depth)
            fg_info("ledger: %llu record(s) in the spool from a previous run are written first",
                    (unsigned long long)g_ledger.st.spool_depth);
    }
    g_ledger.stopping = false;
    g_ledger.running = true;
    if (pthread_create(&g_ledger.thread, NULL, writer_main, NULL) != 0) {
        snprintf(err, errlen, "ledger: cannot start the writer thread: %s", strerror(errno));
        fg_store_close(g_ledger.store);
        g_ledger.store = NULL;
        g_ledger.running = false;
        return -1;
    }
    /* without it the WAL still gets copied back when the store closes */
    g_ledger.ckpt_running =
        g_ledger.store->ops->checkpoint &&
        pthread_create(&g_ledger.ckpt_thread, NULL, checkpointer_main, NULL) == 0;
    return 0;
}

void fg_ledger_stop(void)
{
    if (!g_ledger.running)
        return;
    pthread_mutex_lock(&g_ledger.mu);
    g_ledger.stopping = true;
    pthread_cond_signal(&g_ledger.cv);
    pthread_cond_signal(&g_ledger.ckpt_cv);
    pthread_mutex_unlock(&g_ledger.mu);
    pthread_join(g_ledger.thread, NULL);
    if (g_ledger.ckpt_running)
        pthread_join(g_ledger.ckpt_thread, NULL);
    g_ledger.ckpt_running = false;
    pthread_mutex_lock(&g_ledger.mu);
    g_ledger.running = false;
    pthread_mutex_unlock(&g_ledger.mu);
    fg_store_close(g_ledger.store);
    g_ledger.store = NULL;
    if (g_ledger.spool && fg_spool_depth(g_ledger.spool))
        fg_warn("ledger: %llu record(s) stay in the spool %s for the next start",
                (unsigned long long)fg_spool_depth(g_ledger.spool), g_ledger.spool_path);
    fg_spool_close(g_ledger.spool);
    g_ledger.spool = NULL;
    fg_spoolspend_reset();
}

int fg_ledger_spend_since(void *store, int64_t since_ms, fg_store_spend_cb cb, void *arg, char *err,
                          size_t errlen)
{
    /* the spool cannot be written back meanwhile (replay_some): each of
     * its records is in the store's answer or in its own, once */
    fg_spoolspend_lock();
    int rc = fg_store_spend_since(store, since_ms, cb, arg, err, errlen);
    if (rc == 0)
        rc = fg_spoolspend_since(since_ms, cb, arg) ? -1 : 0;
    fg_spoolspend_unlock();
    return rc;
}

void fg_ledger_spool_at(const char *path)
{
    FG_ASSERT(!g_ledger.running);
    free(g_ledger.spool_path);
    g_ledger.spool_path = path ? fg_xstrdup(path) : NULL;
}

void fg_ledger_get_stats(struct fg_ledger_stats *s)
{
    pthread_mutex_lock(&g_ledger.mu);
    *s = g_ledger.st;
    pthread_mutex_unlock(&g_ledger.mu);
}

struct fg_store *fg_ledger_store(void)
{
    return g_ledger.store;
}
