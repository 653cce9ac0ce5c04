/* affinity.h — which deployment of a model serves a call.
 *
 * Contract: for a model with several deployments, fg_affinity_pick()
 * returns the deployment (0 = the model's own provider, k = deployments[k-1])
 * that last served the longest prefix this call shares with earlier calls,
 * for as long as a provider cache can live (1 h since that prefix was last
 * sent); a prefix seen nowhere gets the next deployment in turn (load
 * balancing applies to new prefixes only).  It then records every prefix of
 * this call as living on the chosen deployment.  Thread-safe, bounded
 * memory (a fixed table; stale entries are overwritten). */
#ifndef FRUGAL_AFFINITY_H
#define FRUGAL_AFFINITY_H

#include "prefix.h"

#include <stdint.h>

#define FG_AFFINITY_TTL_MS (3600 * 1000LL)

int fg_affinity_pick(const void *model, int n_deployments, const struct fg_prefix *p,
                     int64_t now_ms);
void fg_affinity_reset(void);

#endif
