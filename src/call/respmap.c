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
    char id[FG_RESPMAP_ID_MAX + 1];   /* "" = free slot */
    char owner[48];
    int provider_index;
    int next;                           /* bucket chain, -1 ends */
};

static struct {
    pthread_mutex_t mu;
    struct entry *e;                    /* ring, oldest at `head` once full */
    int *bucket;
    int head, used;
} M = {.mu = PTHREAD_MUTEX_INITIALIZER};

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
    if (M.e)
        return;
    M.e = fg_xcalloc(FG_RESPMAP_MAX, sizeof *M.e);
    M.bucket = fg_xmalloc(BUCKETS * sizeof *M.bucket);
    for (int i = 0; i < BUCKETS; i++)
        M.bucket[i] = -1;
}

/* Unlink slot k from its bucket and free it (under the lock). */
static void unlink_slot(int k)
{
    struct entry *x = &M.e[k];
    int *p = &M.bucket[hash(x->id, strlen(x->id))];
    while (*p >= 0 && *p != k)
        p = &M.e[*p].next;
    if (*p == k)
        *p = x->next;
    x->id[0] = '\0';
}

static int find(const char *id, size_t n)
{
    for (int k = M.bucket[hash(id, n)]; k >= 0; k = M.e[k].next)
        if (strlen(M.e[k].id) == n && !memcmp(M.e[k].id, id, n))
            return k;
    return -1;
}

bool fg_respmap_remember(const char *id, size_t n, const char *owner, int provider_index)
{
    if (!fg_respmap_id_ok(id, n))
        return false;
    pthread_mutex_lock(&M.mu);
    map_init();
    int k = find(id, n);
    if (k < 0) {
        k = M.head;
        M.head = (M.head + 1) % FG_RESPMAP_MAX;
        if (M.e[k].id[0])
            unlink_slot(k);     /* the oldest goes */
        else
            M.used++;
        memcpy(M.e[k].id, id, n);
        M.e[k].id[n] = '\0';
        uint32_t b = hash(id, n);
        M.e[k].next = M.bucket[b];
        M.bucket[b] = k;
    }
    snprintf(M.e[k].owner, sizeof M.e[k].owner, "%s", owner ? owner : "anonymous");
    M.e[k].provider_index = provider_index;
    pthread_mutex_unlock(&M.mu);
    return true;
}

int fg_respmap_get(const char *id, char *owner, size_t on)
{
    int prov = -1;
    pthread_mutex_lock(&M.mu);
    int k = M.e ? find(id, strlen(id)) : -1;
    if (k >= 0) {
        prov = M.e[k].provider_index;
        snprintf(owner, on, "%s", M.e[k].owner);
    }
    pthread_mutex_unlock(&M.mu);
    return prov;
}

void fg_respmap_forget(const char *id)
{
    pthread_mutex_lock(&M.mu);
    int k = M.e ? find(id, strlen(id)) : -1;
    if (k >= 0) {
        unlink_slot(k);
        M.used--;
    }
    pthread_mutex_unlock(&M.mu);
}

void fg_respmap_reset(void)
{
    pthread_mutex_lock(&M.mu);
    free(M.e);
    free(M.bucket);
    M.e = NULL;
    M.bucket = NULL;
    M.head = M.used = 0;
    pthread_mutex_unlock(&M.mu);
}
