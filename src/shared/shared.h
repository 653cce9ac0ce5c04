/* shared.h — state that several gateway processes will share: the interface
 * (a table of functions per backend, like ledger/store.h).
 *
 * Four primitives, each the smallest thing its users need and each chosen so
 * that a Redis backend (issue #19; a later file shared_redis.c) implements
 * it with one round trip.  The only backend today is in-process
 * (shared_mem.c): thread-safe, shared by every thread of one process.
 *
 * 1. Windowed counters (budgets: keys/budget.c; rate limits:
 *    keys/ratelimit.c).  A counter is a family of cells, one per window
 *    (the caller's key for a span of time: a budget period's start in ms, a
 *    rate limit's second); each cell holds two int64 fields.  The counter's
 *    head is the newest window it has seen (windows only move forward: a
 *    clock that steps back keeps the newest window); its live cells are
 *    those with head - span < window <= head.  counter_apply() takes steps
 *    (up to FG_SHARED_MAX_STEPS, over one or several counters) and is
 *    atomic: every check of every step is made against the live sums first
 *    (check: sum over the live cells of the fields in `fields` + need <=
 *    limit), and only if all pass are the adds made, each to its own cell
 *    (a cell outside the live range takes nothing; fields clamp at zero).
 *    That is reserve-at-worst-case (checks + add the worst case) and
 *    settle-to-exact (no checks; add -held and +real) as one primitive.
 *      Redis: one hash per counter (its `name`), a field per window and
 *      field ("<window>:0", "<window>:1") plus "head"; counter_apply is one
 *      EVALSHA of a Lua script over the steps' hashes (HMGET the live
 *      fields, compare, HINCRBY, clamp, HDEL cells that left the span,
 *      PEXPIRE keep_ms; on a refusal it returns the step, the check and
 *      that counter's live cells); counter_read is HMGET; counter_reset
 *      touches only the in-process ring (the fallback of `local`).
 *    The in-process backend keeps a counter's cells in its owner's memory
 *    (struct fg_shared_counter below: no allocation, as long-lived as the
 *    budget or rate limit it belongs to), a ring indexed by window mod
 *    ncell, under one mutex for all counters.
 *
 * 2. A byte cache with TTL and a size bound (the response cache's storage:
 *    cache/respcache.c).  Keys are 32 bytes (a SHA-256), values immutable
 *    byte strings (struct fg_shared_val, refcounted: a value got outlives
 *    its replacement, eviction and close until released).  get() returns a
 *    live value or NULL (an expired one is dropped); put() replaces, and
 *    evicts expired then least recently used values until the bytes
 *    (values + FG_SHARED_VAL_OVERHEAD each) fit max_bytes; a value above
 *    max_bytes / 8 is refused (put returns false, what was there stays).
 *      Redis: the lookup rides in the admission (riders below: GET in the
 *      admission script), the store is told at the end of the call (tell:
 *      SET key value PXAT expires_ms); the size bound is the server's
 *      maxmemory with allkeys-lru.  The direct ops (cache_get, cache_put)
 *      stay in process.
 *
 * 3. Versions: a named counter that only grows, bumped by whoever changes
 *    what it names (the key registry after a key is created or revoked:
 *    keys/keyreg.c), read by whoever caches it.  A process that sees a new
 *    version re-reads the source of truth (the store).  In-process it only
 *    tells this process's own threads, so keyreg still re-reads on a timer
 *    unless the backend says `cross_process`.
 *      Redis: INCR / GET (and PUBLISH on the same name to wake readers).
 *
 * 4. Sightings (prefix evidence for prompt caching: dialect/prefix.c).  For
 *    each 64-bit hash: when it was last seen before now (0 = never, or
 *    forgotten) and the smoothed gap between sightings (a new gap weighs a
 *    quarter); then records now (never moving backwards).  One call for
 *    all of a request's hashes.  In-process: a fixed table (65,536 slots,
 *    8-way probing, the stalest slot of the probe window replaced).
 *      Redis: in the admission script (riders below: HMGET t g, HSET,
 *      PEXPIRE a few hours: callers use sightings of the last hour, and
 *      the smoothed gap survives a pause of that order); seen() itself
 *      stays in process (the fallback).
 *
 * 5. Marks: "do this once" across processes (budget alerts: keys/alert.c).
 *    mark_once(name, ttl) sets name for ttl_ms unless it is set; only the
 *    caller that set it acts.  In-process: a list under a mutex (marks are
 *    few: a handful per budget and period).
 *      Redis: SET name 1 NX PX ttl; a blocking round trip, never on a
 *      worker thread.
 *
 * Process-wide: fg_shared_process() is the instance the gateway uses (the
 * in-process one unless fg_shared_process_set() chose another at startup,
 * before any thread uses it).  Every function here is thread-safe.  No
 * backend does I/O on the in-process path.
 *
 * A network backend (shared_redis.c, issue #19) never blocks a worker loop:
 *  - each worker thread opens its loop (fg_shared_loop_open, on that
 *    thread, before its loop runs; fg_shared_loop_close after it stopped):
 *    the backend's own connection on that event loop;
 *  - counter_apply_async() is the admission round trip: it answers now
 *    (returns as counter_apply: the in-process backend always does) or
 *    returns FG_SHARED_PENDING and calls `done` on the same loop later, with
 *    a copy of the steps (their win filled); the caller's memory is not
 *    touched after it returns, and fg_shared_op_cancel() (the caller went
 *    away) makes the backend undo an admission that then succeeds;
 *  - counter_apply() with no check in any step (settlement) is sent
 *    without waiting on a worker thread (it always applies: -1); on any
 *    other thread (startup, the key reload thread, batch executor) it is
 *    a blocking round trip;
 *  - options (struct fg_shared_apply_opts): `guard`, a version that must
 *    still be 0 (a key's revocation: FG_SHARED_GUARDED otherwise, checked
 *    in the same atomic step), and `once`, an id after which the same
 *    apply is a no-op (settling twice is harmless);
 *  - a step's `lease` (non-zero) makes its positive adds a lease that
 *    expires after FG_SHARED_LEASE_MS (the backend's lease time, longer
 *    than the longest call): a negative add with the same lease applies
 *    only while the lease is open, and an expired lease is given back by
 *    the next apply on that counter (a replica killed with SIGKILL does not
 *    hold a budget until its period ends);
 *  - the store unreachable: by the backend's policy (budgets.on_store_down)
 *    either FG_SHARED_DOWN (fail closed) or the steps applied to the
 *    counters' in-process cells with `local` set on them; a caller copies
 *    `local` into the steps that later release or settle that hold, which
 *    then stay in process too.
 * Rebuilt counters: seed_claim / seed_done below (keys/keyreg.c).
 * In-process, lease, guard, once and local are ignored (one process: its
 * holds die with it; the call's own hold flags make settlement once). */
#ifndef FRUGAL_SHARED_H
#define FRUGAL_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_shared;

/* ------------------------------------------------------------- counters */

#define FG_SHARED_MAX_SPAN 60   /* live cells a counter can sum */
#define FG_SHARED_MAX_STEPS 16  /* steps in one counter_apply */
#define FG_SHARED_NOW INT64_MIN /* step.win: the counter's current window */

struct fg_shared_cell {
    int64_t win;  /* window key */
    int64_t v[2]; /* the two fields, >= 0 */
};

/* One counter.  The owner fills name (the backend's key; unique per
 * counter, e.g. "budget:key:<id>") and calls fg_shared_counter_init(). */
struct fg_shared_counter {
    char name[96];
    int64_t span;    /* windows summed, in window-key units (1: the current only) */
    int64_t keep_ms; /* a cell may be forgotten this long after its last write
                      * (>= its window's length x span; Redis PEXPIRE) */
    /* in-process state, under the backend's counter lock */
    int64_t head;
    int ncell; /* ring size: span for a per-second window, 1 for periods */
    struct fg_shared_cell *cell;
};

/* sum(fields of the live cells) + need <= limit; limit <= 0: no check. */
struct fg_shared_check {
    unsigned fields; /* bit i: field i */
    int64_t need, limit;
};

struct fg_shared_step {
    struct fg_shared_counter *c;
    int64_t now_win; /* the window now falls in (moves the head forward) */
    int64_t win;     /* the cell to add to, or FG_SHARED_NOW (then set to the head) */
    int64_t add[2];
    struct fg_shared_check check[2];
    uint64_t lease; /* 0, or this hold's lease (see above) */
    bool local;     /* applied (to be applied) in process memory only */
};

/* counter_apply results besides -1 (applied) and a step index (refused) */
#define FG_SHARED_PENDING (-2) /* counter_apply_async: `done` will say */
#define FG_SHARED_DOWN (-3)    /* the store is unreachable and fails closed */
#define FG_SHARED_GUARDED (-4) /* opts.guard is no longer 0 */

struct fg_shared_riders;

struct fg_shared_apply_opts {
    const char *guard; /* a version name that must still be 0, or NULL */
    const char *once;  /* apply once per id (at most 64 bytes), or NULL */
    /* counter_apply_async only: what else this admission asks (below) */
    const struct fg_shared_riders *riders;
};

struct fg_shared_op; /* a pending counter_apply_async */
struct fg_shared_denial;
struct fg_shared_loop;
struct event_base;

/* A pending apply's outcome, on the loop it was started on: r as
 * counter_apply returns it (never PENDING), st the steps as applied (wins
 * filled, `local` set when applied in process), d the denial when r >= 0. */
typedef void (*fg_shared_done_fn)(void *arg, int r, const struct fg_shared_step *st, int n,
                                  const struct fg_shared_denial *d);

/* A counter's live cells, oldest window first. */
struct fg_shared_window {
    int64_t head;
    int n;
    struct fg_shared_cell cell[FG_SHARED_MAX_SPAN];
};

/* Why an apply failed: the step and check, and that step's counter as the
 * check saw it. */
struct fg_shared_denial {
    int step, check;
    struct fg_shared_window w;
};

/* ----------------------------------------------------------------- cache */

struct fg_shared_val; /* refcounted immutable bytes */
struct fg_shared_cache;

#define FG_SHARED_VAL_OVERHEAD 96 /* bytes a value is charged beyond its own */

struct fg_shared_cache_stats {
    uint64_t stores, evictions, entries, bytes;
};

/* --------------------------------------------------------------- riders */

/* What an admission asks a cross-process store besides its counters, in the
 * same round trip (issue #19: at most two round trips per call), answered
 * only when the apply succeeds (a refused, guarded or unseeded admission
 * records no sighting and reads nothing):
 *  - cache_key: the response cache's value under this key (cache 2 above);
 *  - seen[0..nseen): sightings (4 above) of these hashes, recorded at
 *    seen_now_ms unless the cache has a value (a call answered from the
 *    cache sends nothing upstream: no provider cache is warmed);
 *  - aff[0..naff) in namespace aff_ns: the deployment index recorded for
 *    the longest of these prefixes (fg_shared_tell), or -1.
 * The in-process backend ignores riders (its primitives are asked
 * directly); `answer` (caller memory, valid until `done` runs or the op is
 * cancelled) is written just before `done` is called, answered = false
 * when the store could not answer (the caller then asks its in-process
 * fallbacks: the cache misses). */
#define FG_SHARED_MAX_SEEN 64

struct fg_shared_rider_answer {
    bool answered;
    struct fg_shared_val *cached; /* a reference the caller releases, or NULL */
    int64_t prev_ms[FG_SHARED_MAX_SEEN], gap_ms[FG_SHARED_MAX_SEEN];
    int aff_dep; /* -1: no deployment holds any of the prefixes */
};

struct fg_shared_riders {
    const uint8_t *cache_key; /* 32 bytes, or NULL */
    const char *cache_ns;     /* the cache's name (cache_open) */
    const uint64_t *seen;
    int nseen; /* <= FG_SHARED_MAX_SEEN */
    int64_t seen_now_ms;
    const char *aff_ns; /* <= 96 bytes */
    const uint64_t *aff;
    int naff; /* <= FG_SHARED_MAX_SEEN */
    struct fg_shared_rider_answer *answer;
};

/* What a call tells a cross-process store when it ends, sent without
 * waiting (never a round trip a call waits for): a response cache value
 * to store until expires_ms (wall clock; PXAT), and the deployment that
 * now holds a call's prefixes (for aff_ttl_ms). */
struct fg_shared_tell {
    const char *cache_ns;
    const uint8_t *cache_key; /* NULL: no value */
    struct fg_shared_val *val;
    int64_t expires_ms;
    const char *aff_ns;
    const uint64_t *aff;
    int naff, aff_dep;
    int64_t aff_ttl_ms;
};

/* ------------------------------------------------------------- the table */

struct fg_shared_ops {
    const char *scheme;
    bool cross_process; /* do other processes see what this one writes? */

    /* counters: 0 = init (the ring from c->cell/ncell), forgets all windows */
    void (*counter_reset)(struct fg_shared *s, struct fg_shared_counter *c);
    /* -1 when every step applied, else the first step whose check failed
     * (nothing applied; *d filled when d != NULL) */
    int (*counter_apply)(struct fg_shared *s, struct fg_shared_step *st, int n,
                         struct fg_shared_denial *d);
    /* counter_apply with options (NULL: none); the caller's memory is not
     * touched after it returns when it returns FG_SHARED_PENDING */
    int (*counter_apply_async)(struct fg_shared *s, struct fg_shared_step *st, int n,
                               const struct fg_shared_apply_opts *o, struct fg_shared_denial *d,
                               fg_shared_done_fn done, void *arg, struct fg_shared_op **op);
    /* the caller of a pending apply went away: `done` is not called, an
     * apply that succeeds is undone */
    void (*op_cancel)(struct fg_shared_op *op);
    /* a worker thread's loop (NULL ops: nothing to do); see above */
    struct fg_shared_loop *(*loop_open)(struct fg_shared *s, struct event_base *base);
    void (*loop_close)(struct fg_shared_loop *l);
    /* the live cells as of now_win (moves the head forward) */
    void (*counter_read)(struct fg_shared *s, struct fg_shared_counter *c, int64_t now_win,
                         struct fg_shared_window *w);

    /* cache: open one (its own namespace and bound), close drops it */
    struct fg_shared_cache *(*cache_open)(struct fg_shared *s, const char *name, size_t max_bytes);
    void (*cache_close)(struct fg_shared_cache *c);
    /* a new reference, or NULL */
    struct fg_shared_val *(*cache_get)(struct fg_shared_cache *c, const uint8_t key[32],
                                       int64_t now_ms);
    /* takes a reference of v (the caller keeps its own); false: refused */
    bool (*cache_put)(struct fg_shared_cache *c, const uint8_t key[32], struct fg_shared_val *v,
                      int64_t expires_ms, int64_t now_ms);
    void (*cache_stats)(struct fg_shared_cache *c, struct fg_shared_cache_stats *st);

    /* versions */
    uint64_t (*version_bump)(struct fg_shared *s, const char *name);
    uint64_t (*version_get)(struct fg_shared *s, const char *name);

    /* sightings of hashes h[0..n): prev_ms[i], gap_ms[i] filled, now recorded */
    void (*seen)(struct fg_shared *s, const uint64_t *h, int n, int64_t now_ms, int64_t *prev_ms,
                 int64_t *gap_ms);
    void (*seen_reset)(struct fg_shared *s);
    /* A cross-process backend's end-of-call writes (fg_shared_tell); NULL
     * in process (its cache_put and the affinity table are written
     * directly).  On a worker thread never waits; elsewhere dropped. */
    void (*tell)(struct fg_shared *s, const struct fg_shared_tell *t);

    /* A cross-process store that can lose its counters (Redis restarted
     * without persistence) refuses checked applies (FG_SHARED_DOWN) until
     * they are rebuilt from the ledger.  seed_claim: 1 = they need
     * rebuilding and this caller has the job (rebuild with unchecked
     * applies, then seed_done), 0 = nothing to do, -1 = another process is
     * rebuilding or the store is unreachable (ask again later).  NULL in
     * process (its counters start from the ledger with the process). */
    int (*seed_claim)(struct fg_shared *s);
    /* marks (5 above): 1 set now (act), 0 already set, -1 the store is
     * unreachable (ask again later).  name <= 200 bytes. */
    int (*mark_once)(struct fg_shared *s, const char *name, int64_t ttl_ms, int64_t now_ms);
    void (*seed_done)(struct fg_shared *s, bool ok); /* false: give the claim back */
};

struct fg_shared {
    const struct fg_shared_ops *ops;
};

extern const struct fg_shared_ops fg_shared_mem_ops;

/* The process's instance (in-process by default). */
struct fg_shared *fg_shared_process(void);
void fg_shared_process_set(struct fg_shared *s);

/* A worker thread's loop on the process's instance (on that thread). */
struct fg_shared_loop *fg_shared_loop_open(struct event_base *base);
void fg_shared_loop_close(struct fg_shared_loop *l);
/* A lease id unique across processes (random 64 bits, never 0). */
uint64_t fg_shared_lease_new(void);

/* Set up c (name: NULL keeps c->name; span, keep_ms, ring) and reset it on
 * the process's instance (a cross-process backend resets only the
 * in-process cells: what other processes counted stays). */
void fg_shared_counter_init(struct fg_shared_counter *c, const char *name, int64_t span,
                            int64_t keep_ms, struct fg_shared_cell *cells, int ncell);

/* Values: a new one of n bytes (written through *data before it is put),
 * the bytes, another reference, and release (NULL is fine). */
struct fg_shared_val *fg_shared_val_new(size_t n, void **data);
const void *fg_shared_val_data(const struct fg_shared_val *v, size_t *n);
struct fg_shared_val *fg_shared_val_ref(struct fg_shared_val *v);
void fg_shared_val_release(struct fg_shared_val *v);

#endif
