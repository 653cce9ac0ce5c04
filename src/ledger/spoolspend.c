/* spoolspend.c — see spoolspend.h.  A small array: a spool holds what an
 * outage left, and its keys, tags and days are few. */
#include "spoolspend.h"

#include "arena.h"
#include "assert.h"
#include "period.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ent {
    char *key_id, *tags;
    int64_t day; /* the UTC day's start, ms */
    int64_t cost;
    uint64_t n; /* records: the entry goes with its last one */
};

static struct {
    pthread_mutex_t mu;
    struct ent *e;
    size_t n, cap;
} g_ss = {.mu = PTHREAD_MUTEX_INITIALIZER};

void fg_spoolspend_lock(void)
{
    pthread_mutex_lock(&g_ss.mu);
}

void fg_spoolspend_unlock(void)
{
    pthread_mutex_unlock(&g_ss.mu);
}

static bool counts(const struct fg_record *r)
{
    return !r->response_forget; /* a forget record is no call: no row in calls */
}

static struct ent *find(const struct fg_record *r, bool make)
{
    const char *k = r->key_id ? r->key_id : "", *t = r->tags ? r->tags : "";
    int64_t day = fg_period_start(FG_PERIOD_DAY, r->ts_ms);
    for (size_t i = 0; i < g_ss.n; i++)
        if (g_ss.e[i].day == day && !strcmp(g_ss.e[i].key_id, k) && !strcmp(g_ss.e[i].tags, t))
            return &g_ss.e[i];
    if (!make)
        return NULL;
    if (g_ss.n == g_ss.cap) {
        g_ss.cap = g_ss.cap ? 2 * g_ss.cap : 16;
        g_ss.e = fg_xrealloc(g_ss.e, g_ss.cap * sizeof *g_ss.e);
    }
    struct ent *e = &g_ss.e[g_ss.n++];
    *e = (struct ent){fg_xstrdup(k), fg_xstrdup(t), day, 0, 0};
    return e;
}

void fg_spoolspend_add(const struct fg_record *r)
{
    if (!counts(r))
        return;
    struct ent *e = find(r, true);
    e->cost += r->cost_pico;
    e->n++;
}

void fg_spoolspend_sub(const struct fg_record *r)
{
    struct ent *e = counts(r) ? find(r, false) : NULL;
    if (!e)
        return; /* (a spool a previous run left is summed at open: never here) */
    FG_ASSERT(e->n > 0);
    e->cost -= r->cost_pico;
    if (--e->n == 0) {
        free(e->key_id);
        free(e->tags);
        *e = g_ss.e[--g_ss.n];
    }
}

int fg_spoolspend_since(int64_t since_ms,
                        int (*cb)(void *arg, const char *key_id, const char *tags, int64_t cost),
                        void *arg)
{
    for (size_t i = 0; i < g_ss.n; i++) {
        const struct ent *e = &g_ss.e[i];
        if (e->day < since_ms || e->cost == 0)
            continue;
        int rc = cb(arg, e->key_id, e->tags, e->cost);
        if (rc)
            return rc;
    }
    return 0;
}

void fg_spoolspend_reset(void)
{
    pthread_mutex_lock(&g_ss.mu);
    for (size_t i = 0; i < g_ss.n; i++) {
        free(g_ss.e[i].key_id);
        free(g_ss.e[i].tags);
    }
    free(g_ss.e);
    g_ss.e = NULL;
    g_ss.n = g_ss.cap = 0;
    pthread_mutex_unlock(&g_ss.mu);
}
