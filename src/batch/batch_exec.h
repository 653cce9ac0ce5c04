/* batch_exec.h — the batch executor: runs every unfinished batch to its end.
 *
 * Contract:
 *  - One thread per process (fg_batch_exec_start, after the listeners are
 *    bound: a Postgres batch store it cannot reach then is opened again at
 *    each tick, never a reason to stop a gateway that serves calls).  All its state is in the batch store, so a restart (or kill -9)
 *    resumes every unfinished batch where the store says it is: lines done
 *    are never run again, provider jobs in flight are polled again by id.
 *  - Each line is first planned through the gateway's own pipeline, run
 *    in-process on a worker (batch_client.h: no HTTP; routing,
 *    structured-output and prompt-cache rewriting, translation: the answer
 *    is the upstream request, nothing is sent).
 *    Lines whose provider has `batch: provider` are grouped by provider,
 *    dialect and upstream model into provider batch jobs (batch_remote.h)
 *    once the whole batch is planned, polled with backoff (batches.poll_ms
 *    up to poll_max_ms), and their results translated back to the client's
 *    dialect and priced at the batch price.  Lines of `batch: local`
 *    providers run through the normal pipeline, in-process likewise, at
 *    batches.local_concurrency (and local_rps), priced at the real-time
 *    price, with the pipeline's retries and fallbacks.
 *  - A line's result and its ledger records are committed in one
 *    transaction (batch_store.h): a line is recorded exactly once.
 *  - Cancellation and expiry (batches.window) cancel provider jobs, keep
 *    the results that arrived, and end the other lines as canceled or
 *    expired.  OpenAI batches then get their output and error files.
 *  - fg_batch_exec_wake() may be called from any thread. */
#ifndef FRUGAL_BATCH_EXEC_H
#define FRUGAL_BATCH_EXEC_H

#include <stddef.h>

struct fg_app;

/* Add the executor's counters to GET /metrics: at startup, before the
 * workers start (metrics.h: the sources are read without a lock). */
void fg_batch_exec_add_metrics(void);
int fg_batch_exec_start(struct fg_app *app, char *err, size_t errlen);
/* Stop and join; lines in flight are abandoned (run again after restart). */
void fg_batch_exec_stop(void);
void fg_batch_exec_wake(void);

/* Counters for GET /metrics (read with relaxed atomics, any thread). */
struct fg_batch_stats {
    unsigned long long lines[4]; /* by enum fg_line_outcome */
    unsigned long long jobs_submitted, job_submit_errors, polls, poll_errors;
    unsigned long long batches_active; /* at the executor's last pass */
};
void fg_batch_exec_stats(struct fg_batch_stats *out);

#endif
