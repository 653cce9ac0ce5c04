/* edge_limits.c — see edge_limits.h. */
#include "edge_limits.h"

#include "arena.h"
#include "assert.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

struct ipent {
    uint8_t ip[16];
    int n;
    struct ipent *next;
};

struct fg_edge_limits {
    int max, per_ip;
    atomic_int count;
    pthread_mutex_t mu;
    struct ipent *tab[BUCKETS];
};

struct fg_edge_limits *fg_edge_limits_new(int max, int per_ip)
{
    struct fg_edge_limits *l = fg_xcalloc(1, sizeof *l);
    l->max = max;
    l->per_ip = per_ip;
    atomic_init(&l->count, 0);
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void fg_edge_limits_free(struct fg_edge_limits *l)
{
    if (!l)
        return;
    for (int i = 0; i < BUCKETS; i++)
        while (l->tab[i]) {
            struct ipent *e = l->tab[i];
            l->tab[i] = e->next;
            free(e);
        }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static unsigned bucket(const uint8_t ip[16])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 16777619u;
    return h % BUCKETS;
}

/* The entry for ip, made when make; under l->mu. */
static struct ipent **find(struct fg_edge_limits *l, const uint8_t ip[16])
{
    struct ipent **pp = &l->tab[bucket(ip)];
    while (*pp && memcmp((*pp)->ip, ip, 16))
        pp = &(*pp)->next;
    return pp;
}

int fg_edge_limits_take(struct fg_edge_limits *l, const uint8_t ip[16])
{
    int n = atomic_fetch_add(&l->count, 1);
    if (l->max > 0 && n >= l->max) {
        atomic_fetch_sub(&l->count, 1);
        return 1;
    }
    if (l->per_ip <= 0)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    struct ipent **pp = find(l, ip);
    if (!*pp) {
        *pp = fg_xcalloc(1, sizeof **pp);
        memcpy((*pp)->ip, ip, 16);
    }
    if ((*pp)->n >= l->per_ip)
        rc = 2;
    else
        (*pp)->n++;
    pthread_mutex_unlock(&l->mu);
    if (rc)
        atomic_fetch_sub(&l->count, 1);
    return rc;
}

void fg_edge_limits_put(struct fg_edge_limits *l, const uint8_t ip[16])
{
    int was = atomic_fetch_sub(&l->count, 1);
    FG_ASSERT(was > 0);
    if (l->per_ip <= 0)
        return;
    pthread_mutex_lock(&l->mu);
    struct ipent **pp = find(l, ip);
    FG_ASSERT(*pp && (*pp)->n > 0);
    if (--(*pp)->n == 0) {
        struct ipent *e = *pp;
        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&l->mu);
}

int fg_edge_limits_count(struct fg_edge_limits *l)
{
    return atomic_load(&l->count);
}

bool fg_edge_limits_busy(struct fg_edge_limits *l)
{
    return l->max > 0 && atomic_load(&l->count) > l->max / 4 * 3;
}
