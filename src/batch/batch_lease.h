/* batch_lease.h — the heartbeat of this replica's batch leases
 * (fg_batch_store_claim) in a store several replicas share.
 *
 * Contract:
 *  - The executor claims a batch at the start of each step; a step can
 *    last longer than a lease (planning or running thousands of lines), so
 *    the claim alone would let another replica take a batch that is still
 *    being worked on.  fg_batch_lease_start() starts one thread with its
 *    own store handle that renews every lease `me` holds every lease_ms/4:
 *    a live replica keeps its batches, a dead one (SIGKILL, power) stops
 *    renewing and its batches are taken over lease_ms later.
 *  - fg_batch_lease_stop() (after the executor stopped: nothing is being
 *    worked on) gives the leases up, so the other replicas take over at
 *    once, and joins the thread.
 *  - A store unreachable at start (or later) is opened again at the next
 *    renewal: the gateway already serves calls when this starts.
 *  - Not started for a store one process owns (SQLite): nothing to renew. */
#ifndef FRUGAL_BATCH_LEASE_H
#define FRUGAL_BATCH_LEASE_H

#include <stddef.h>

int fg_batch_lease_start(const char *dsn, const char *me, int lease_ms, char *err, size_t errlen);
void fg_batch_lease_stop(void);

#endif
