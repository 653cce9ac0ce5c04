/* respmap.c — see respmap.h. */
#include "respmap.h"

#include "arena.h"
#include "assert.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS (FG_RESPMAP_MAX * 2)

struct slot {
    struct fg_respmap_entry e; /* e.id "" = free slot */
    int next;                  /* bucket chain, -1 ends */
};

static struct {
    pthread_mutex_t mu;
    struct slot *s; /* ring, oldest at `head` once full */
    int *bucket;
    int head;
    size_t data_bytes; /* sum of the entries' data_len */
} g_respmap = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % BUCKETS;
}

bool fg_respmap_id_ok(const char *id, size_t n)
{
    if (n == 0 || n > FG_RESPMAP_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '-')
            return false;
    return true;
}

static void map_init(void)
{
    if (g_respmap.s)
        return;
    g_respmap.s = fg_xcalloc(FG_RESPMAP_MAX, sizeof *g_respmap.s);
    g_respmap.bucket = fg_xmalloc(BUCKETS * sizeof *g_respmap.bucket);
    for (int i = 0; i < BUCKETS; i++)
        g_respmap.bucket[i] = -1;
}

static void drop_data(struct slot *x)
{
    FG_DASSERT(g_respmap.data_bytes >= x->e.data_len);
    g_respmap.data_bytes -= x->e.data_len;
    free(x->e.data);
    x->e.data = NULL;
    x->e.data_len = 0;
}

/* Unlink slot k from its bucket and free it (under the lock). */
static void unlink_slot(int k)
{
    struct slot *x = &g_respmap.s[k];
    int *p = &g_respmap.bucket[hash(x->e.id, strlen(x->e.id))];
    while (*p >= 0 && *p != k)
        p = &g_respmap.s[*p].next;
    if (*p == k)
        *p = x->next;
    drop_data(x);
    x->e.id[0] = '\0';
}

static int find(const char *id, size_t n)
{
    for (int k = g_respmap.bucket[hash(id, n)]; k >= 0; k = g_respmap.s[k].next)
        if (strlen(g_respmap.s[k].e.id) == n && !memcmp(g_respmap.s[k].e.id, id, n))
            return k;
    return -1;
}

/* Over the data budget: the oldest entries lose their data first (the
 * store still has it), their ids stay (under the lock). */
static void trim_data(int keep)
{
    for (int i = 0; i < FG_RESPMAP_MAX && g_respmap.data_bytes > FG_RESPMAP_DATA_MAX; i++) {
        int k = (g_respmap.head + i) % FG_RESPMAP_MAX;
        if (k != keep && g_respmap.s[k].e.data)
            drop_data(&g_respmap.s[k]);
    }
}

bool fg_respmap_put(const struct fg_respmap_entry *e)
{
    size_t n = strlen(e->id);
    if (!fg_respmap_id_ok(e->id, n))
        return false;
    pthread_mutex_lock(&g_respmap.mu);
    map_init();
    int k = find(e->id, n);
    if (k < 0) {
        k = g_respmap.head;
        g_respmap.head = (g_respmap.head + 1) % FG_RESPMAP_MAX;
        if (g_respmap.s[k].e.id[0])
            unlink_slot(k); /* the oldest goes */
        uint32_t b = hash(e->id, n);
        g_respmap.s[k].next = g_respmap.bucket[b];
        g_respmap.bucket[b] = k;
    } else {
        drop_data(&g_respmap.s[k]);
    }
    struct fg_respmap_entry *x = &g_respmap.s[k].e;
    *x = *e;
    x->data = NULL;
    x->data_len = 0;
    if (e->data && e->data_len <= FG_RESPMAP_DATA_MAX / 4) {
        x->data = fg_xmalloc(e->data_len + 1);
        memcpy(x->data, e->data, e->data_len);
        x->data[e->data_len] = '\0';
        x->data_len = e->data_len;
        g_respmap.data_bytes += e->data_len;
        trim_data(k);
    }
    pthread_mutex_unlock(&g_respmap.mu);
    return true;
}

bool fg_respmap_get(const char *id, struct fg_respmap_entry *out, bool want_data)
{
    pthread_mutex_lock(&g_respmap.mu);
    int k = g_respmap.s ? find(id, strlen(id)) : -1;
    if (k >= 0) {
        *out = g_respmap.s[k].e;
        if (!want_data)
            out->data = NULL; /* the hot path's lookups need the ids only */
        if (out->data) {
            out->data = fg_xmalloc(out->data_len + 1);
            memcpy(out->data, g_respmap.s[k].e.data, out->data_len + 1);
        }
    }
    pthread_mutex_unlock(&g_respmap.mu);
    return k >= 0;
}

void fg_respmap_vouch(const char *id, int64_t now)
{
    pthread_mutex_lock(&g_respmap.mu);
    int k = g_respmap.s ? find(id, strlen(id)) : -1;
    if (k >= 0)
        g_respmap.s[k].e.vouched_ms = now;
    pthread_mutex_unlock(&g_respmap.mu);
}

void fg_respmap_forget(const char *id)
{
    struct fg_respmap_entry e = {.deleted = true, .provider_index = -1};
    snprintf(e.id, sizeof e.id, "%s", id);
    fg_respmap_put(&e);
}

void fg_respmap_reset(void)
{
    pthread_mutex_lock(&g_respmap.mu);
    for (int k = 0; g_respmap.s && k < FG_RESPMAP_MAX; k++)
        free(g_respmap.s[k].e.data);
    free(g_respmap.s);
    free(g_respmap.bucket);
    g_respmap.s = NULL;
    g_respmap.bucket = NULL;
    g_respmap.head = 0;
    g_respmap.data_bytes = 0;
    pthread_mutex_unlock(&g_respmap.mu);
}
