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
 *    submit, the batch gone) is posted to the worker of its call with
 *    event_base_once; there, fg_defer_line_done answers the call unless
 *    the call dropped the line first (deadline, client gone, ended).
 *  - A line is shared by the thread and its call (a reference each); the
 *    call's side (`call`) is read and written only on its worker.
 *  - Not built: a line whose call went real time is not recorded when it
 *    finishes (the provider may bill it); results do not cross replicas. */
#ifndef FRUGAL_BATCH_DEFER_H
#define FRUGAL_BATCH_DEFER_H

#include <stddef.h>

struct fg_app;

int fg_batch_defer_start(struct fg_app *app, char *err, size_t errlen);
void fg_batch_defer_stop(void);

#endif
