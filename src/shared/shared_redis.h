/* shared_redis.h — the Redis backend of shared.h (issue #19): budgets, rate
 * limits, revocations, the response cache, prompt-cache sightings and cache
 * affinity shared by every gateway process that names the same Redis.
 *
 * Contract:
 *  - fg_shared_redis_open() parses `redis://[:password@]host[:port][/db]`
 *    (the URL and its password never reach a log line: messages name
 *    host:port only) and returns an instance to hand to
 *    fg_shared_process_set() before any worker starts.  Redis need not be
 *    up: calls then meet the store-down policy until it is.
 *  - Counters (budgets, rate limits) live in Redis: counter_apply and
 *    counter_apply_async are one EVALSHA of one Lua script each (advance
 *    the head, drop cells that left the span, give back expired leases,
 *    check, add, record or close leases, the guard and the once marker;
 *    the script is APPLY_LUA in shared_redis.c); counter_read is one more script (admin
 *    reads).  Keys: "frugal:c:<counter>" (a hash: "h" the head, "<win>:<f>"
 *    the cells), "frugal:lz:<counter>" / "frugal:la:<counter>" (the leases:
 *    expiry and what each holds), "frugal:v:<version>", "frugal:once:<id>".
 *  - Versions: INCR / GET "frugal:v:<name>" (blocking; the key registry's
 *    reload thread and admin calls); cross_process is true, so the registry
 *    re-reads its table only when the version moved.
 *  - Each worker loop has its own asynchronous connection (hiredis with its
 *    libevent adapter; loop_open/loop_close on that thread): a worker never
 *    blocks on Redis.  Reconnects back off from 100 ms to 2 s; a command
 *    with no reply within FG_REDIS_TIMEOUT_MS drops the connection (its
 *    calls meet the store-down policy).  Every other thread shares one
 *    blocking connection (mutex, FG_REDIS_TIMEOUT_MS timeouts).
 *  - A settlement that closes a lease is marked once by that lease id
 *    ("frugal:once:<lease>", kept 10 minutes): sent again (its reply was
 *    lost with the connection, or there was no connection), it counts once;
 *    such settlements wait in a per-loop list for the next connection
 *    (at most 100,000 per loop; one sent 5 minutes ago whose reply was
 *    lost is not sent again), the rest are lost.
 *  - Store down (no connection, an error reply): `fail_local` false (the
 *    default, budgets.on_store_down: fail_closed) answers FG_SHARED_DOWN to
 *    a checked apply; true applies it to the counters' in-process cells and
 *    marks the steps `local` (a warning when it starts and when Redis is
 *    back).  An unchecked apply that cannot be sent and is not marked once
 *    is lost from Redis (counted in fg_shared_redis_stats).
 *  - Riders (shared.h): an admission's script also answers the response
 *    cache's GET ("frugal:rc:<cache>:<sha256 hex>"), the sightings of its
 *    hashes ("frugal:s:<hash>": a hash of t, the last sighting, and g, the
 *    smoothed gap; recorded unless the cache had a value; PEXPIRE 4 h)
 *    and the affinity of its prefixes ("frugal:af:<model>:<hash>": the
 *    deployment of the longest one held), only when its apply succeeds.
 *    tell() is one more script (TELL_LUA) sent on the worker's connection
 *    without waiting: SET of the cache's value with PXAT its expiry, SET PX
 *    of the affinity keys; off a worker loop, or with no connection, it is
 *    dropped (the cache then misses).  The direct cache ops (cache_get,
 *    cache_put: embeddings' per-input cache) and seen() stay the
 *    in-process backend's: the fallbacks when a rider is not answered.
 *  - fg_shared_redis_close() after every loop closed. */
#ifndef FRUGAL_SHARED_REDIS_H
#define FRUGAL_SHARED_REDIS_H

#include "shared.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_REDIS_TIMEOUT_MS 2000

struct fg_shared_redis_opts {
    bool fail_local;  /* budgets.on_store_down: local */
    int64_t lease_ms; /* a budget hold's lease, > the longest call */
};

/* 0, or -1 with err (a malformed URL). */
int fg_shared_redis_open(const char *url, const struct fg_shared_redis_opts *o,
                         struct fg_shared **out, char *err, size_t errlen);
void fg_shared_redis_close(struct fg_shared *s);
/* Is url a redis:// URL this backend can parse?  NULL, or what is wrong. */
const char *fg_shared_redis_check_url(const char *url);

/* Round-trip latency buckets (seconds, upper bounds; +Inf is rt_count). */
#define FG_REDIS_RT_BUCKETS 8
extern const double fg_redis_rt_bounds[FG_REDIS_RT_BUCKETS];

struct fg_shared_redis_stats {
    uint64_t errors;       /* failed round trips (no connection, error reply, timeout) */
    uint64_t lost_settles; /* unchecked applies that could not be sent */
    uint64_t local_applies;
    bool up; /* no failure since the last success */
    /* every reply's wait from its send, admission scripts, settlements and
     * the blocking connection's commands alike: count, sum, and per bucket
     * (NOT cumulative: rt_bucket[b] counts waits in (bound[b-1], bound[b]]) */
    uint64_t rt_count;
    double rt_sum_s;
    uint64_t rt_bucket[FG_REDIS_RT_BUCKETS];
};
void fg_shared_redis_stats(struct fg_shared *s, struct fg_shared_redis_stats *st);
/* s when it is a Redis instance (fg_shared_redis_open), else NULL: lets
 * /healthz and /metrics ask the process's instance. */
struct fg_shared *fg_shared_redis_of(struct fg_shared *s);

#endif
