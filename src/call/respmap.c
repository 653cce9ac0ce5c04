/* respmap.c — see respmap.h. */
#include "respmap.h"

#include "arena.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS (FG_RESPMAP_MAX * 2)

struct entry {
    char id[FG_RESPMAP_ID_MAX + 1]; /* "" = free slot */
    char owner[48];
    int provider_index;
    int next; /* bucket chain, -1 ends */
};

static struct {
    pthread_mutex_t mu;
    struct entry *e; /* ring, oldest at `head` once full */
    int *bucket;
    int head, used;
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
    if (g_respmap.e)
        return;
    g_respmap.e = fg_xcalloc(FG_RESPMAP_MAX, sizeof *g_respmap.e);
    g_respmap.bucket = fg_xmalloc(BUCKETS * sizeof *g_respmap.bucket);
    for (int i = 0; i < BUCKETS; i++)
        g_respmap.bucket[i] = -1;
}

/* Unlink slot k from its bucket and free it (under the lock). */
static void unlink_slot(int k)
{
    struct entry *x = &g_respmap.e[k];
    int *p = &g_respmap.bucket[hash(x->id, strlen(x->id))];
    while (*p >= 0 && *p != k)
        p = &g_respmap.e[*p].next;
    if (*p == k)
        *p = x->next;
    x->id[0] = '\0';
}

static int find(const char *id, size_t n)
{
    for (int k = g_respmap.bucket[hash(id, n)]; k >= 0; k = g_respmap.e[k].next)
        if (strlen(g_respmap.e[k].id) == n && !memcmp(g_respmap.e[k].id, id, n))
            return k;
    return -1;
}

bool fg_respmap_remember(const char *id, size_t n, const char *owner, int provider_index)
{
    if (!fg_respmap_id_ok(id, n))
        return false;
    pthread_mutex_lock(&g_respmap.mu);
    map_init();
    int k = find(id, n);
    if (k < 0) {
        k = g_respmap.head;
        g_respmap.head = (g_respmap.head + 1) % FG_RESPMAP_MAX;
        if (g_respmap.e[k].id[0])
            unlink_slot(k); /* the oldest goes */
        else
            g_respmap.used++;
        memcpy(g_respmap.e[k].id, id, n);
        g_respmap.e[k].id[n] = '\0';
        uint32_t b = hash(id, n);
        g_respmap.e[k].next = g_respmap.bucket[b];
        g_respmap.bucket[b] = k;
    }
    snprintf(g_respmap.e[k].owner, sizeof g_respmap.e[k].owner, "%s", owner ? owner : "anonymous");
    g_respmap.e[k].provider_index = provider_index;
    pthread_mutex_unlock(&g_respmap.mu);
    return true;
}

int fg_respmap_get(const char *id, char *owner, size_t on)
{
    int prov = -1;
    pthread_mutex_lock(&g_respmap.mu);
    int k = g_respmap.e ? find(id, strlen(id)) : -1;
    if (k >= 0) {
        prov = g_respmap.e[k].provider_index;
        snprintf(owner, on, "%s", g_respmap.e[k].owner);
    }
    pthread_mutex_unlock(&g_respmap.mu);
    return prov;
}

void fg_respmap_forget(const char *id)
{
    pthread_mutex_lock(&g_respmap.mu);
    int k = g_respmap.e ? find(id, strlen(id)) : -1;
    if (k >= 0) {
        unlink_slot(k);
        g_respmap.used--;
    }
    pthread_mutex_unlock(&g_respmap.mu);
}

void fg_respmap_reset(void)
{
    pthread_mutex_lock(&g_respmap.mu);
    free(g_respmap.e);
    free(g_respmap.bucket);
    g_respmap.e = NULL;
    g_respmap.bucket = NULL;
    g_respmap.head = g_respmap.used = 0;
    pthread_mutex_unlock(&g_respmap.mu);
}
