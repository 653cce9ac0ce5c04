/* offq.h — requests whose work blocks (a query to a server database) run
 * off the worker loops, on a small pool of threads, and answer back on
 * the loop that owns the request.  readq.h is the ledger's reader (one
 * thread, JSON answers); this is the generic form the batch API uses with
 * a Postgres batch store (batch_api.c), where one request (POST
 * /v1/batches over a 50,000-line file) can take seconds.
 *
 * Contract:
 *  - fg_offq_start() starts nthreads threads; tstate_free (may be NULL) is
 *    called on each thread as it ends with that thread's state slot (what
 *    work stored in *tstate: a per-thread store handle, opened on first
 *    use).  After it, fg_offq_active() is true.
 *  - fg_offq_submit() is called on worker w's loop for request req: the job
 *    counts as in flight on w (w->inflight), so a drain waits for it.  A
 *    pool thread calls work(tstate, arg): it may touch only arg and its
 *    thread's state, never the request or the worker.  Then done(w, req,
 *    arg) runs on w's loop (event_base_once): it replies to req and frees
 *    arg; the job is then over (inflight drops).
 *  - fg_offq_stop() is called after the worker threads are joined and
 *    before their bases are freed (server.c fg_server_join): it stops the
 *    pool (jobs still queued are run, so every arg reaches a done or the
 *    cleanup) and hands the jobs whose done never ran (a grace period cut
 *    them; their requests die with the edge) to abandon(arg), which frees
 *    arg without touching the request.
 *  Jobs are started in order, nthreads at a time. */
#ifndef FRUGAL_OFFQ_H
#define FRUGAL_OFFQ_H

#include "runtime.h"

#include <stdbool.h>
#include <stddef.h>

struct fg_edge_req;

typedef void (*fg_offq_work)(void **tstate, void *arg);
typedef void (*fg_offq_done)(struct fg_worker *w, struct fg_edge_req *req, void *arg);
typedef void (*fg_offq_abandon)(void *arg);

int fg_offq_start(int nthreads, void (*tstate_free)(void *), char *err, size_t errlen);
bool fg_offq_active(void);
void fg_offq_submit(struct fg_worker *w, struct fg_edge_req *req, fg_offq_work work,
                    fg_offq_done done, fg_offq_abandon abandon, void *arg);
void fg_offq_stop(void);

#endif
