/* affinity.c — see affinity.h. */
#include "affinity.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define SLOTS (1u << 14)
#define PROBE 8

static struct {
    pthread_mutex_t mu;
    uint64_t key[SLOTS];
    int64_t until_ms[SLOTS];
    int8_t dep[SLOTS];
} g_affinity = {.mu = PTHREAD_MUTEX_INITIALIZER};

static atomic_uint g_affinity_turn;

/* Prefixes are keyed per model: the same prompt on two models is two caches. */
static uint64_t key_of(const void *model, uint64_t h)
{
    uint64_t k = h ^ ((uint64_t)(uintptr_t)model * 0x9e3779b97f4a7c15ull);
    return k ? k : 1;
}

static int find(uint64_t k, int64_t now)
{
    uint32_t base = (uint32_t)(k ^ (k >> 32)) & (SLOTS - 1);
    for (uint32_t i = 0; i < PROBE; i++) {
        uint32_t s = (base + i) & (SLOTS - 1);
        if (g_affinity.key[s] == k && g_affinity.until_ms[s] > now)
            return g_affinity.dep[s];
    }
    return -1;
}

static void store(uint64_t k, int dep, int64_t now)
{
    uint32_t base = (uint32_t)(k ^ (k >> 32)) & (SLOTS - 1), victim = base;
    for (uint32_t i = 0; i < PROBE; i++) {
        uint32_t s = (base + i) & (SLOTS - 1);
        if (g_affinity.key[s] == k || g_affinity.until_ms[s] <= now) {
            victim = s;
            break;
        }
        if (g_affinity.until_ms[s] < g_affinity.until_ms[victim])
            victim = s;
    }
    g_affinity.key[victim] = k;
    g_affinity.dep[victim] = (int8_t)dep;
    g_affinity.until_ms[victim] = now + FG_AFFINITY_TTL_MS;
}

static int load_of(const struct fg_affinity_opts *o, int k)
{
    return o && o->load ? atomic_load_explicit(&o->load->inflight[k], memory_order_relaxed) : 0;
}

/* The least-loaded available deployment; ties go in turn (the scan starts
 * one further each time and keeps the first of the lowest count). */
static int least_loaded(const struct fg_affinity_opts *o, int n, uint32_t avail)
{
    unsigned start = atomic_fetch_add(&g_affinity_turn, 1) % (unsigned)n;
    int best = -1, best_load = INT_MAX;
    for (int i = 0; i < n; i++) {
        int k = (int)((start + (unsigned)i) % (unsigned)n), l;
        if ((avail >> k & 1u) && (l = load_of(o, k)) < best_load)
            best = k, best_load = l;
    }
    return best;
}

struct avail {
    int n;
    uint32_t avail;
    int least, margin;
};

static void available(int n_deployments, const struct fg_affinity_opts *o, struct avail *a)
{
    int n =
        n_deployments < FG_AFFINITY_MAX_DEPLOYMENTS ? n_deployments : FG_AFFINITY_MAX_DEPLOYMENTS;
    uint32_t all = n == 32 ? UINT32_MAX : (1u << n) - 1;
    a->n = n;
    a->avail = all & ~(o ? o->open : 0u);
    if (!a->avail)
        a->avail = all; /* every breaker open: none is better than another */
    a->least = INT_MAX;
    for (int k = 0; k < n; k++)
        if ((a->avail >> k & 1u) && load_of(o, k) < a->least)
            a->least = load_of(o, k);
    a->margin = o && o->margin > 0 ? o->margin : 0;
}

/* The deployment holding the prefix (-1: none) if it may serve, else the
 * least loaded. */
static int choose(const struct avail *a, const struct fg_affinity_opts *o, int dep)
{
    if (dep < 0 || dep >= a->n || !(a->avail >> dep & 1u) || load_of(o, dep) - a->least > a->margin)
        dep = least_loaded(o, a->n, a->avail);
    return dep;
}

int fg_affinity_pick(const void *model, int n_deployments, const struct fg_prefix *p,
                     const struct fg_affinity_opts *o, int64_t now_ms)
{
    if (n_deployments <= 1)
        return 0;
    struct avail a;
    available(n_deployments, o, &a);
    int dep = -1;
    pthread_mutex_lock(&g_affinity.mu);
    for (int b = p ? p->n - 1 : -1; b >= 0 && dep < 0; b--)
        dep = find(key_of(model, p->hash[b]), now_ms);
    dep = choose(&a, o, dep);
    for (int b = 0; p && b < p->n; b++)
        store(key_of(model, p->hash[b]), dep, now_ms);
    pthread_mutex_unlock(&g_affinity.mu);
    return dep;
}

int fg_affinity_pick_held(int n_deployments, int held, const struct fg_affinity_opts *o)
{
    if (n_deployments <= 1)
        return 0;
    struct avail a;
    available(n_deployments, o, &a);
    return choose(&a, o, held);
}

void fg_affinity_begin(struct fg_affinity_load *l, int dep, atomic_int **held)
{
    fg_affinity_end(held);
    if (!l || dep < 0 || dep >= FG_AFFINITY_MAX_DEPLOYMENTS)
        return;
    *held = &l->inflight[dep];
    atomic_fetch_add_explicit(*held, 1, memory_order_relaxed);
}

void fg_affinity_end(atomic_int **held)
{
    if (*held)
        atomic_fetch_sub_explicit(*held, 1, memory_order_relaxed);
    *held = NULL;
}

int fg_affinity_inflight(const struct fg_affinity_load *l, int dep)
{
    return dep >= 0 && dep < FG_AFFINITY_MAX_DEPLOYMENTS
               ? atomic_load_explicit(&l->inflight[dep], memory_order_relaxed)
               : 0;
}

void fg_affinity_reset(void)
{
    pthread_mutex_lock(&g_affinity.mu);
    memset(g_affinity.key, 0, sizeof g_affinity.key);
    memset(g_affinity.until_ms, 0, sizeof g_affinity.until_ms);
    pthread_mutex_unlock(&g_affinity.mu);
    atomic_store(&g_affinity_turn, 0);
}
