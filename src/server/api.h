/* api.h — the HTTP surface: path → handler, body parsing, auth.
 *
 * Contract: fg_api_handle() gets every complete request of a worker's edge
 * (edge.h, through wire.h's request hook; arg = struct fg_worker *); it or
 * the call it starts makes the request's one terminal reply.  Inference endpoints parse the body once,
 * check it in the caller's dialect, authenticate, and hand a struct fg_call
 * to the pipeline; every error is answered in the caller's dialect. */
#ifndef FRUGAL_API_H
#define FRUGAL_API_H

#include <stdbool.h>

struct fg_edge_req;
struct fg_call;
struct fg_worker;
struct fg_principal;

void fg_api_handle(struct fg_edge_req *req, void *arg);
/* An inference call whose client is attached (call/client.h) and whose
 * body is in c->raw (c->raw_len; NULL when over server.max_body_bytes):
 * check the body, run the pipeline, answer an error in c->in's dialect.
 * The call is finished here or, once its transfer started, by the relay.
 * The HTTP endpoints and the batch executor's in-process lines share it. */
void fg_api_run_call(struct fg_call *c);

/* Whether path (no query) is an endpoint of the gateway, any method. */
bool fg_api_known_path(const char *path);

/* Endpoints a higher layer adds (batch/batch_api.h: files and batches), so
 * that server/ knows none of them.  A set is added at startup, before the
 * workers start (fg_server_start), and the table is read-only from then on
 * (any worker thread reads it without a lock).  A path no built-in endpoint
 * takes goes to the first set whose match() accepts it, after
 * authentication (auth.h, in the path's dialect); before the OpenAI
 * pass-through. */
struct fg_api_routes {
    bool (*match)(const char *path);
    /* *state is the set's slot in this worker (NULL at first), kept across
     * requests (e.g. a store handle): the set's own business, freed by
     * state_free (may be NULL) when the worker is. */
    void (*handle)(struct fg_worker *w, void **state, struct fg_edge_req *req, const char *path,
                   const struct fg_principal *p);
    void (*state_free)(void *state);
    /* Optional: runs at the request's head, once the gate let it through
     * (wire.h), before any body byte, with the worker's slot as handle()
     * gets it.  0: the body is read and booked as usual; 1: answered (any
     * fg_edge_reply*); 2: the set takes the body itself (its own sink and
     * fg_edge_req_on_end; nothing is booked against
     * server.max_body_bytes_in_flight, the set bounds what it holds). */
    int (*head)(struct fg_worker *w, void **state, struct fg_edge_req *req, const char *path);
};

/* The head hook of the added set that takes req's path (0 when none has
 * one); wire.c calls it from the edge's head hook. */
int fg_api_head(struct fg_edge_req *req, struct fg_worker *w);

/* Add a set (at most FG_WORKER_ROUTES, runtime.h); the set is borrowed. */
void fg_api_add_routes(const struct fg_api_routes *r);
/* Forget every set (after the workers are freed). */
void fg_api_clear_routes(void);
/* Free w's per-set state (server.c, when it frees a worker). */
void fg_api_worker_free(struct fg_worker *w);

#endif
