/* ledger.c — see ledger.h.  A mutex-protected singly linked queue and one
 * writer thread that commits in groups. */
#include "ledger.h"

#include "arena.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 200000   /* records held in memory before dropping */

struct rec_alloc {
    struct fg_record r;
    size_t cap, used;
    char text[];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stopping;
    struct fg_record *head, *tail;
    struct fg_ledger_stats st;
    struct fg_store *store;
    int group_ms;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

struct fg_record *fg_record_new(size_t strings)
{
    struct rec_alloc *a = fg_xcalloc(1, sizeof *a + strings);
    a->cap = strings;
    return &a->r;
}

const char *fg_record_str(struct fg_record *r, const char *s)
{
    struct rec_alloc *a = (struct rec_alloc *)r;
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    if (a->used + n > a->cap)
        return "";         /* caller sized too small: keep the record valid */
    char *p = a->text + a->used;
    memcpy(p, s, n);
    a->used += n;
    return p;
}

void fg_record_free(struct fg_record *r)
{
    free(r);
}

void fg_ledger_submit(struct fg_record *r)
{
    r->next = NULL;
    pthread_mutex_lock(&L.mu);
    if (!L.running || L.st.depth >= QUEUE_MAX) {
        L.st.dropped++;
        pthread_mutex_unlock(&L.mu);
        fg_record_free(r);
        return;
    }
    if (L.tail)
        L.tail->next = r;
    else
        L.head = r;
    L.tail = r;
    L.st.depth++;
    L.st.queued++;
    pthread_mutex_unlock(&L.mu);
}

/* Write one batch; records are freed whatever happens. */
static void write_batch(struct fg_record *list, size_t n)
{
    struct fg_record **v = fg_xmalloc(n * sizeof *v);
    size_t k = 0;
    for (struct fg_record *r = list; r; r = r->next)
        v[k++] = r;
    char err[256];
    int rc = L.store->ops->write(L.store, v, n, err, sizeof err);
    if (rc < 0)
        fg_error("ledger: %zu record(s) not written: %s", n, err);
    pthread_mutex_lock(&L.mu);
    if (rc < 0)
        L.st.write_errors += n;
    else
        L.st.written += n;
    pthread_mutex_unlock(&L.mu);
    for (size_t i = 0; i < n; i++)
        fg_record_free(v[i]);
    free(v);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

/* Every group_ms: take the whole queue, commit it in one transaction. */
static void *writer_main(void *arg)
{
    pthread_mutex_lock(&L.mu);
    for (;;) {
        bool stop = L.stopping;
        if (!L.head && !stop) {
            struct timespec ts;
            deadline_in(&ts, L.group_ms);
            pthread_cond_timedwait(&L.cv, &L.mu, &ts);
            continue;
        }
        struct fg_record *list = L.head;
        size_t n = L.st.depth;
        L.head = L.tail = NULL;
        L.st.depth = 0;
        pthread_mutex_unlock(&L.mu);
        if (list)
            write_batch(list, n);
        if (stop && !list)
            return NULL;
        if (!stop) {
            /* let the next group gather */
            struct timespec d = {0, (long)L.group_ms * 1000000L};
            nanosleep(&d, NULL);
        }
        pthread_mutex_lock(&L.mu);
    }
}

int fg_ledger_start(const char *storage, int group_ms, char *err, size_t errlen)
{
    if (fg_store_open(storage, &L.store, err, errlen) < 0)
        return -1;
    L.group_ms = group_ms > 0 ? group_ms : 50;
    L.stopping = false;
    L.running = true;
    if (pthread_create(&L.thread, NULL, writer_main, NULL) != 0) {
        snprintf(err, errlen, "ledger: cannot start the writer thread: %s", strerror(errno));
        fg_store_close(L.store);
        L.store = NULL;
        L.running = false;
        return -1;
    }
    return 0;
}

void fg_ledger_stop(void)
{
    if (!L.running)
        return;
    pthread_mutex_lock(&L.mu);
    L.stopping = true;
    pthread_cond_signal(&L.cv);
    pthread_mutex_unlock(&L.mu);
    pthread_join(L.thread, NULL);
    pthread_mutex_lock(&L.mu);
    L.running = false;
    pthread_mutex_unlock(&L.mu);
    fg_store_close(L.store);
    L.store = NULL;
}

void fg_ledger_get_stats(struct fg_ledger_stats *s)
{
    pthread_mutex_lock(&L.mu);
    *s = L.st;
    pthread_mutex_unlock(&L.mu);
}

struct fg_store *fg_ledger_store(void)
{
    return L.store;
}
