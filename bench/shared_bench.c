/* shared_bench.c — the per-call cost of the state src/shared/ holds (a
 * call's budget reserve + settle on a key and a tag budget, its rate-limit
 * admit + settle, the response cache's get miss/hit and put, the prefix
 * sightings of a 6-boundary prompt).  Uses only the public APIs of
 * keys/budget.h, keys/ratelimit.h, cache/respcache.h and dialect/prefix.h,
 * so the same file builds against the tree before src/shared/ existed, for
 * a before/after comparison.  Prints ns per operation; not a test. */
#include "budget.h"
#include "config.h"
#include "prefix.h"
#include "ratelimit.h"
#include "respcache.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define T0 1795698240000LL

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static struct fg_budget key_budget, tag_budget;
static struct fg_ratelimit rate;
static volatile int64_t sink;

static void budget_call(int i)
{
    struct fg_budget *bs[] = {&key_budget, &tag_budget};
    struct fg_budget_hold h;
    struct fg_budget_view v;
    int64_t now = T0 + i / 1000;
    if (fg_budget_reserve(bs, 2, 5000, now, &h, &v) < 0)
        fg_budget_settle(&h, 1, now, now);
}

static void rate_call(int i)
{
    struct fg_ratelimit_hold h;
    struct fg_ratelimit_denial d;
    int64_t now = T0 + i; /* one call per ms: every second a new slot */
    if (fg_ratelimit_admit(&rate, 700, now, &h, &d) == 0)
        fg_ratelimit_settle(&h, 500, now);
}

static uint8_t keys[1024][32];
static const char answer[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{"
    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello "
    "there, this is a short cached answer.\"},\"finish_reason\":\"stop\"}]}";

static void cache_put(int i)
{
    struct fg_tokens t = {.input = 10, .output = 5};
    fg_respcache_put_model(keys[i & 1023], false, answer, sizeof answer - 1, &t, "gpt-4o-mini", T0);
}

static void cache_hit(int i)
{
    struct fg_respcache_entry *e =
        fg_respcache_get_for(keys[i & 1023], FG_DIALECT_OPENAI, false, false, T0 + 1);
    size_t n;
    sink += fg_respcache_json(e, &n) != NULL;
    fg_respcache_release(e);
}

static void cache_miss(int i)
{
    uint8_t k[32];
    memcpy(k, keys[i & 1023], 32);
    k[31] ^= 0xff;
    sink += fg_respcache_get_for(k, FG_DIALECT_OPENAI, false, false, T0 + 1) != NULL;
}

static struct fg_prefix pfx;

static void prefix_call(int i)
{
    sink += fg_prefix_seen(&pfx, T0 + i, 3600 * 1000LL);
}

/* Best of 15 batches: the machine is shared, the minimum is the cost. */
static void bench(const char *what, void (*fn)(int), int iters)
{
    double best = 1e18;
    for (int b = 0; b < 15; b++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++)
            fn(b * iters + i);
        double dt = (now_ns() - t0) / iters;
        best = dt < best ? dt : best;
    }
    printf("%-44s %8.1f ns\n", what, best);
}

int main(void)
{
    fg_budget_init(&key_budget, (int64_t)1 << 60, FG_PERIOD_DAY, 0, T0);
    fg_budget_init(&tag_budget, (int64_t)1 << 60, FG_PERIOD_MONTH, 0, T0);
    fg_ratelimit_init(&rate, 1000000, 1000000000);
    struct fg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.response_cache.enabled = true;
    cfg.response_cache.ttl_seconds = 3600;
    fg_respcache_init(&cfg);
    for (int i = 0; i < 1024; i++)
        fg_respcache_sha256(&i, sizeof i, keys[i]);
    pfx.n = 6;
    for (int b = 0; b < 6; b++) {
        pfx.hash[b] = 0x9e3779b97f4a7c15ULL * (uint64_t)(b + 1);
        pfx.tokens[b] = 1000 * (b + 1);
    }
    bench("budget reserve+settle (key + tag budget)", budget_call, 200000);
    bench("rate limit admit+settle", rate_call, 200000);
    bench("response cache put (200 B answer)", cache_put, 100000);
    bench("response cache get, hit", cache_hit, 200000);
    bench("response cache get, miss", cache_miss, 200000);
    bench("prefix sightings, 6 boundaries", prefix_call, 200000);
    fg_respcache_shutdown();
    return sink == 42;
}
