/* batch_client.h — batch lines run in-process, through the gateway's own
 * pipeline, with a client (call/client.h) that captures the answer.
 *
 * Contract:
 *  - The batch executor plans (plan = true: the pipeline's stages, answered
 *    with the upstream request they built, batch_plan.h) and runs a batch's
 *    lines as calls of the gateway: each line is posted to a worker's event
 *    loop, which creates the call, attaches this client and hands it to
 *    fg_api_run_call() like an HTTP request's.  No HTTP is involved: no
 *    listener, loopback socket, request or credentials, so nothing from
 *    outside can pose as a batch line.
 *  - The caller is the batch's owner (auth.h fg_auth_owner: a revoked or
 *    expired virtual key gets its 401 in the batch's dialect, as an HTTP
 *    call would); the batch's tags are the call's x-frugal-tags.
 *  - A line's result is ready when its call has ended (fg_call_finish): its
 *    ledger records are in the batch mailbox by then (batch_mailbox.h).
 *  - Threads: fg_batch_client_* are called by one thread (the executor's).
 *    A line runs on a worker thread, so every stage of the pipeline runs
 *    where it runs for HTTP calls: the shared objects (config, routers,
 *    loads, response cache, budgets, key registry) are used only by worker
 *    threads, as before.  Lines are not planned on the executor's thread
 *    because a call belongs to a worker (c->w: its upstream, request ids,
 *    live-call list, timers are single-threaded state).  Posting uses
 *    event_base_once, safe from another thread because the server enables
 *    evthread_use_pthreads; results come back under a mutex.
 *  - fg_batch_client_free() abandons lines still running: their answers
 *    are dropped when their calls end (their worker frees them).  It first
 *    waits (bounded) until every posted line was taken up by its worker, so
 *    that none is left behind in an event loop that is about to stop. */
#ifndef FRUGAL_BATCH_CLIENT_H
#define FRUGAL_BATCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct fg_app;
struct fg_batch;
struct fg_batch_client;

struct fg_batch_client_result {
    void *tag;           /* as given to fg_batch_client_start */
    int status;          /* the call's answer; 0: it ended unanswered (stopping) */
    char request_id[48]; /* its x-frugal-request-id, or "" */
    char *body;          /* the answer (NUL-terminated, caller frees), or NULL */
    size_t len;
};

struct fg_batch_client *fg_batch_client_new(struct fg_app *app, const struct fg_batch *b,
                                            bool plan);
/* Post line ("BATCH_ID/INDEX") with its request body (both copied). */
void fg_batch_client_start(struct fg_batch_client *bc, const char *line, const char *body,
                           size_t len, void *tag);
/* Wait up to wait_ms for a line to end: true with *out filled. */
bool fg_batch_client_wait(struct fg_batch_client *bc, int wait_ms,
                          struct fg_batch_client_result *out);
void fg_batch_client_free(struct fg_batch_client *bc);

#endif
