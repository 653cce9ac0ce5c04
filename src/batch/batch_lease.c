/* batch_lease.c — see batch_lease.h. */
#include "batch_lease.h"

#include "arena.h"
#include "batch_store.h"
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_t thread;
    bool running, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fg_batch_store *s; /* NULL while the store cannot be reached */
    char *dsn;
    bool open_failed; /* logged once per outage */
    char me[64];
    int lease_ms;
} g_batch_lease = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Wait up to ms or until stopped; true when stopped. */
static bool wait_stop(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&g_batch_lease.mu);
    if (!g_batch_lease.stop)
        pthread_cond_timedwait(&g_batch_lease.cv, &g_batch_lease.mu, &ts);
    bool stop = g_batch_lease.stop;
    pthread_mutex_unlock(&g_batch_lease.mu);
    return stop;
}

/* The thread's handle, opened again when missing (a store unreachable at
 * start: the leases it would renew cannot be taken either). */
static bool lease_store(void)
{
    if (g_batch_lease.s)
        return true;
    char err[256];
    bool ok = fg_batch_store_open(g_batch_lease.dsn, &g_batch_lease.s, err, sizeof err) == 0;
    if (!ok && !g_batch_lease.open_failed)
        fg_error("batch leases: %s (trying again)", err);
    g_batch_lease.open_failed = !ok;
    return ok;
}

static void *lease_main(void *arg)
{
    (void)arg;
    while (!wait_stop(g_batch_lease.lease_ms / 4))
        if (lease_store() && fg_batch_store_claims_renew(g_batch_lease.s, g_batch_lease.me,
                                                         g_batch_lease.lease_ms) < 0)
            fg_error("batch leases: %s", fg_batch_store_errmsg(g_batch_lease.s));
    return NULL;
}

int fg_batch_lease_start(const char *dsn, const char *me, int lease_ms, char *err, size_t errlen)
{
    if (!strncmp(dsn, "sqlite:", 7))
        return 0;
    free(g_batch_lease.dsn);
    g_batch_lease.dsn = fg_xstrdup(dsn);
    g_batch_lease.open_failed = false;
    lease_store(); /* else at the first renewal */
    snprintf(g_batch_lease.me, sizeof g_batch_lease.me, "%s", me);
    g_batch_lease.lease_ms = lease_ms;
    g_batch_lease.stop = false;
    if (pthread_create(&g_batch_lease.thread, NULL, lease_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the batch lease thread");
        fg_batch_store_close(g_batch_lease.s);
        g_batch_lease.s = NULL;
        free(g_batch_lease.dsn);
        g_batch_lease.dsn = NULL;
        return -1;
    }
    g_batch_lease.running = true;
    return 0;
}

void fg_batch_lease_stop(void)
{
    if (!g_batch_lease.running)
        return;
    pthread_mutex_lock(&g_batch_lease.mu);
    g_batch_lease.stop = true;
    pthread_cond_signal(&g_batch_lease.cv);
    pthread_mutex_unlock(&g_batch_lease.mu);
    pthread_join(g_batch_lease.thread, NULL);
    g_batch_lease.running = false;
    if (g_batch_lease.s && fg_batch_store_claims_renew(g_batch_lease.s, g_batch_lease.me, 0) < 0)
        fg_error("batch leases: giving them up: %s", fg_batch_store_errmsg(g_batch_lease.s));
    fg_batch_store_close(g_batch_lease.s);
    g_batch_lease.s = NULL;
    free(g_batch_lease.dsn);
    g_batch_lease.dsn = NULL;
}
