/* batch_mcreate.h — POST /v1/messages/batches (Anthropic Message Batches
 * create), streamed: the JSON body is split as it arrives (jsonsplit.h),
 * each element of its `requests` array checked as the whole-body create
 * checked it and written to the batch store in groups; the body is never
 * held whole.
 *
 * Contract (a worker's thread; batch_api.c calls both):
 *  - fg_batch_mcreate_head() runs at the request's head, before any body
 *    byte (api.h's head hook): authenticates (401 in the Anthropic
 *    dialect), books what it may hold, then takes the body (its own sink
 *    and end callback).  Returns as that hook does: 1 answered, 2 taken.
 *    The body's size bound is the gateway's (batches.max_file_bytes for
 *    this path, gate.c: a declared length over it → 413 before the body,
 *    a chunked one when it crosses it).
 *  - While the body streams: each request (requests[i]) is parsed alone
 *    (jansson, duplicate keys refused) and checked in order: an object;
 *    custom_id of 1-64 letters, digits, '_' or '-', unique in the batch;
 *    params a Messages request (model, non-empty messages, no stream).
 *    Valid requests are written to the store in groups
 *    (FG_BATCH_MCREATE_GROUP bytes, one short transaction each) under a
 *    batch row hidden from every reader and the executor.  After the first
 *    invalid request nothing more is written (what was is dropped), but the
 *    rest of the body is still read and split, so the answer is the one the
 *    whole-body create gave: a body that is not JSON (any request's JSON
 *    included) → 400 "Request body must be a JSON object: ..."; no or an
 *    empty requests array → 400; more than batches.max_lines requests →
 *    400 naming the count; else the first invalid request's 400 naming
 *    requests.I[.field].  A member other than `requests` → 400.  One
 *    request over server.max_body_bytes → 413 naming it.
 *  - A body that can no longer become valid (not JSON, a request too large,
 *    another member) is answered at once unless it is complete; the edge
 *    closes the connection after an early answer.  A storage failure →
 *    500 at once.
 *  - fg_batch_mcreate_end() runs in the request hook: the checks of the
 *    complete body, then the batch is committed (shown, status in_progress,
 *    the executor woken) and its message_batch object returned.
 *  - However the request ends (an answer, the peer gone, a deadline, the
 *    worker shutting down) a batch not committed is hidden for good at
 *    once; its lines are deleted by the executor's sweep
 *    (fg_batch_store_batches_sweep), never on a worker's loop.
 *  - Memory per request: the splitter's buffer (one request split across
 *    reads, at most server.max_body_bytes), one parsed request, the group
 *    being filled, and the custom_ids seen (as the whole-body create kept
 *    them).  The first three (never more than the declared length) are
 *    booked against server.max_body_bytes_in_flight at the head (503
 *    server_busy over it) and given back when the request ends. */
#ifndef FRUGAL_BATCH_MCREATE_H
#define FRUGAL_BATCH_MCREATE_H

#include "auth.h"

/* A group of requests written in one transaction: the worker's loop is
 * never held by a write longer than one group's. */
#define FG_BATCH_MCREATE_GROUP (1u << 20)

struct fg_batch_store;
struct fg_edge_req;
struct fg_worker;

int fg_batch_mcreate_head(struct fg_worker *w, struct fg_batch_store *s, struct fg_edge_req *req);
/* The request hook's part; p is the principal fg_api_handle authenticated. */
void fg_batch_mcreate_end(struct fg_worker *w, struct fg_edge_req *req,
                          const struct fg_principal *p);

#endif
