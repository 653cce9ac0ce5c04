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
 *  - Not built: results do not cross replicas; pending lines do not
 *    survive a restart; at shutdown lines are handed back unanswered (not
 *    recorded when the provider finishes them). */
#ifndef FRUGAL_BATCH_DEFER_H
#define FRUGAL_BATCH_DEFER_H

#include <stddef.h>

struct fg_app;

int fg_batch_defer_start(struct fg_app *app, char *err, size_t errlen);
void fg_batch_defer_stop(void);

#endif
