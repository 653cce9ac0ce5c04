/* affinity.c — see affinity.h. */
#include "affinity.h"

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
} A = {.mu = PTHREAD_MUTEX_INITIALIZER};

static atomic_uint next_turn;

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
        if (A.key[s] == k && A.until_ms[s] > now)
            return A.dep[s];
    }
    return -1;
}

static void store(uint64_t k, int dep, int64_t now)
{
    uint32_t base = (uint32_t)(k ^ (k >> 32)) & (SLOTS - 1), victim = base;
    for (uint32_t i = 0; i < PROBE; i++) {
        uint32_t s = (base + i) & (SLOTS - 1);
        if (A.key[s] == k || A.until_ms[s] <= now) {
            victim = s;
            break;
        }
        if (A.until_ms[s] < A.until_ms[victim])
            victim = s;
    }
    A.key[victim] = k;
    A.dep[victim] = (int8_t)dep;
    A.until_ms[victim] = now + FG_AFFINITY_TTL_MS;
}

int fg_affinity_pick(const void *model, int n_deployments, const struct fg_prefix *p,
                     int64_t now_ms)
{
    if (n_deployments <= 1)
        return 0;
    int dep = -1;
    pthread_mutex_lock(&A.mu);
    for (int b = p ? p->n - 1 : -1; b >= 0 && dep < 0; b--)
        dep = find(key_of(model, p->hash[b]), now_ms);
    if (dep < 0 || dep >= n_deployments)
        dep = (int)(atomic_fetch_add(&next_turn, 1) % (unsigned)n_deployments);
    for (int b = 0; p && b < p->n; b++)
        store(key_of(model, p->hash[b]), dep, now_ms);
    pthread_mutex_unlock(&A.mu);
    return dep;
}

void fg_affinity_reset(void)
{
    pthread_mutex_lock(&A.mu);
    memset(A.key, 0, sizeof A.key);
    memset(A.until_ms, 0, sizeof A.until_ms);
    pthread_mutex_unlock(&A.mu);
    atomic_store(&next_turn, 0);
}
