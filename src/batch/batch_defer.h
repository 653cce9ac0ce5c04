/* batch_defer.h — the collector of deferred calls' provider batch lines
 * (call/defer.h fg_defer_collector).
 *
 * Contract:
 *  - fg_batch_defer_start (before the workers serve) sets the collector
 *    and starts its thread; fg_batch_defer_stop (before the workers
 *    drain) stops it: every line still pending is posted back without an
 *    answer, so its held call starts in real time within the grace period,
 *    and calls deferred from then on are not held.
 *  - A worker queues a call's encoded body (copied) with its provider,
 *    wire dialect, endpoint and upstream model.  The thread collects lines
 *    for `deferral.window_ms` from the first, then submits one provider
 *    batch per (provider, dialect, endpoint, model) with batch_remote.h,
 *    and polls it every `batches.poll_ms` (at most 1 s) until it ends.
 *  - A line's result (its 2xx body, or none: errored, expired, a failed
 *    submit, the batch gone) is posted to the worker of the call waiting
 *    for it with event_base_once; there, fg_defer_line_done answers the
 *    call at the batch price.
 *  - Each line holds its own worst case (the call's) on the key and tag
 *    budgets (batch_budget.h) until it ends: a call whose budgets cannot
 *    hold both is not deferred.  A line that answers after its call went
 *    on (deadline, client gone) is recorded on its own, at the batch
 *    price, id CALL_ID-b, linked to the call; its hold settles to that.
 *  - A retry: a call with the same key, provider and encoded body as a
 *    pending line nobody waits for (its client left) waits for that line.
 *  - A line is shared by the thread and one waiter per waiting call (a
 *    reference each); the waiter's `call` is read and written only on its
 *    worker; which waiter a line has is under the lock.
 *  - Durable (batch_store.h defer_*): a submitted provider batch and its
 *    lines (call id, key, tags, model, body hash, the line's reservation)
 *    go into the batch store, the job leased to this replica
 *    (batches.lease_ms).  The thread scans the store at start and then
 *    every min(lease_ms/4, 1 s), off every event loop: it renews its leases
 *    and adopts the open jobs nobody holds (an earlier process's, a dead
 *    replica's), polls them and records each line that ends with an answer
 *    as the late row above.  A line ends in the store once
 *    (fg_batch_store_defer_line_end): only the process that ends it gives
 *    its answer to a call or records it; its stored reservation is held
 *    again at startup with the batch lines' (fg_batch_budget_restore).
 *  - At stop, held calls go real time (as above) while their lines stay
 *    open in the store and the leases are given up, so the next process
 *    (or another replica at once) records them when the batch ends.
 *  - Several replicas (a Postgres store): the replica holding a client's
 *    connection answers it.  It polls its own batches while it holds
 *    their leases; a job another replica took over (our lease ran out
 *    while we live) is watched instead: when the poller sees a line end
 *    with an answer and the line's holder is alive (it renews its leases)
 *    and its call's deadline has not passed, the answer goes into the
 *    store (fg_batch_store_defer_answer) and the holder takes it at its
 *    next scan (fg_batch_store_defer_take): its call answered at the batch
 *    price, or the line recorded late there.  An answer whose holder died
 *    before taking it is swept and recorded late by any replica
 *    (fg_batch_store_defer_sweep).  A line whose call is past its deadline
 *    leaves the watch (whoever ends it records it).
 *  - Budgets of a stored line: the process that ends it settles the
 *    stored reservation; at stop a shared (Redis) reservation is left for
 *    that process, a process-local one goes with the process.
 *  - Not built: a client's retry that reaches another replica than its
 *    pending line gets a line of its own. */
#ifndef FRUGAL_BATCH_DEFER_H
#define FRUGAL_BATCH_DEFER_H

#include <stddef.h>

struct fg_app;

int fg_batch_defer_start(struct fg_app *app, char *err, size_t errlen);
void fg_batch_defer_stop(void);

#endif
