/* affinity.h — which deployment of a model serves a call.
 *
 * Contract: for a model with n deployments (0 = the model's own provider,
 * k = deployments[k-1]), fg_affinity_pick() returns
 *  - the deployment that last served the longest prefix this call shares
 *    with earlier calls, for as long as a provider cache can live (1 h since
 *    that prefix was last sent) — cache affinity — unless that deployment's
 *    circuit breaker is open (bit k of o->open) or it has more than
 *    o->margin calls in flight beyond the least-loaded available deployment;
 *  - otherwise (a new prefix, a call with no prefix, or affinity yielding)
 *    the available deployment with the fewest calls in flight, ties broken
 *    in turn (round-robin).  When every deployment's breaker is open, all
 *    count as available.
 * It then records every prefix of this call as living on the chosen
 * deployment.  Thread-safe, bounded memory (a fixed table; stale entries
 * are overwritten).
 *
 * In-flight counts are atomics in a struct fg_affinity_load per model,
 * shared by all worker threads: fg_affinity_begin() counts an attempt when
 * it is sent upstream to a deployment and remembers the counter in *held;
 * fg_affinity_end() uncounts it when that attempt ends, whichever way
 * (answer, error, client gone, retry or move elsewhere) — it is idempotent,
 * so every exit path may call it and the count drops exactly once. */
#ifndef FRUGAL_AFFINITY_H
#define FRUGAL_AFFINITY_H

#include "config.h"
#include "prefix.h"

#include <stdatomic.h>
#include <stdint.h>

#define FG_AFFINITY_TTL_MS (3600 * 1000LL)
/* A model's own provider plus its deployments (config.h, which checks). */
#define FG_AFFINITY_MAX_DEPLOYMENTS FG_CONFIG_MAX_DEPLOYMENTS

/* Calls in flight on each deployment of one model (zero-initialised). */
struct fg_affinity_load {
    atomic_int inflight[FG_AFFINITY_MAX_DEPLOYMENTS];
};

struct fg_affinity_opts {
    struct fg_affinity_load *load; /* NULL: no counts (all deployments idle) */
    uint32_t open;                 /* bit k: deployment k's circuit breaker is open */
    int margin;                    /* see above; < 0 means 0 */
};

int fg_affinity_pick(const void *model, int n_deployments, const struct fg_prefix *p,
                     const struct fg_affinity_opts *o, int64_t now_ms);

/* The same choice when a shared store says which deployment holds the
 * prefix (held, -1: none; call/share.h), without the in-process table: the
 * deployment that answers is recorded in the store at the end of the call. */
int fg_affinity_pick_held(int n_deployments, int held, const struct fg_affinity_opts *o);

void fg_affinity_begin(struct fg_affinity_load *l, int dep, atomic_int **held);
void fg_affinity_end(atomic_int **held);
int fg_affinity_inflight(const struct fg_affinity_load *l, int dep);

/* Forget every prefix and restart the turns (tests). */
void fg_affinity_reset(void);

#endif
