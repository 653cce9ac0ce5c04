/* client.h — a call's handle to whoever asked: where its answer goes.
 *
 * Contract:
 *  - struct fg_client is a table of operations (struct fg_client_ops) and
 *    the implementation's context.  The call layer answers only through it:
 *    no file in call/, structured/ or dialect/ knows HTTP.  Implementations:
 *    server/httpclient.h (a request of the HTTP edge) and batch/
 *    batch_client.h (a batch line run in-process by the batch executor,
 *    which captures the answer).  None of the types here is an evhttp type,
 *    so another HTTP edge can implement the same table.
 *  - Headers are added before the status line goes out: send() or start().
 *    A call answers exactly once: send() (the whole reply), or start(),
 *    any number of chunk(), then end().
 *  - The implementation tells the call that its peer went away by calling
 *    fg_call_client_gone() (relay.h); from then on fg_client_live() is
 *    false and nothing may be sent.  release() is called once, by
 *    fg_call_finish(), whether or not the peer went away: the context may
 *    own memory the call borrows (the request body) until then.
 *  - All operations run on the call's worker thread. */
#ifndef FRUGAL_CLIENT_H
#define FRUGAL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct fg_call;
struct fg_record;

struct fg_client_ops {
    /* response headers: add one, remove every `name`, look one up (NULL:
     * not set), remove them all (a failed attempt's relayed headers) */
    void (*add_header)(void *ctx, const char *name, const char *value);
    void (*remove_header)(void *ctx, const char *name);
    const char *(*find_header)(void *ctx, const char *name);
    void (*clear_headers)(void *ctx);
    /* the whole reply: status and body (drained; NULL = none) */
    void (*send)(void *ctx, int status, struct evbuffer *body);
    /* a streamed reply: status line now, the body in chunks */
    void (*start)(void *ctx, int status);
    /* write (drain) data; drained(arg), if not NULL, runs once the peer has
     * taken it — the relay's backpressure, with backlog() */
    void (*chunk)(void *ctx, struct evbuffer *data, void (*drained)(void *arg), void *arg);
    size_t (*backlog)(void *ctx); /* bytes written but not yet taken by the peer */
    void (*end)(void *ctx);
    void (*release)(void *ctx); /* the call is over (see above) */

    /* A call run for a higher layer rather than for a peer (a batch line:
     * batch/batch_client.h sets these; NULL for HTTP).  They are how the
     * call hands over what belongs to its owner, so call/ knows nothing of
     * batches.  Required when fg_call_set_batch_line() is used:
     *  - record_id: the id (at most 40 bytes with NUL) of attempt n's record,
     *    a function of the line and n, so a line run again replaces its
     *    records instead of adding;
     *  - record: takes r (one per attempt; final: the call's last), which
     *    its owner commits with the line's result instead of the ledger;
     *  - plan: plan mode, after the encode stage: answer the call with the
     *    upstream request instead of sending it; returns 1 (answered). */
    void (*record_id)(void *ctx, int attempt, char *out);
    void (*record)(void *ctx, struct fg_record *r, bool final);
    int (*plan)(void *ctx, struct fg_call *c);
};

struct fg_client {
    const struct fg_client_ops *ops; /* NULL: the call has no client */
    void *ctx;
    bool gone; /* the peer went away */
};

static inline bool fg_client_live(const struct fg_client *cl)
{
    return cl->ops && !cl->gone;
}

/* Answers of a call, over its client (nothing happens when the client is
 * gone).  The x-frugal-* headers (request id, model, route, cache) once
 * per attempt: */
void fg_client_frugal_headers(struct fg_call *c);
/* A complete JSON reply (Content-Type application/json; body drained). */
void fg_client_send_json(struct fg_call *c, int status, struct evbuffer *body);
/* c->err in the caller's dialect (c->in's error_body), marked not to be
 * retried when it is permanent; with_headers adds the x-frugal-* headers
 * (every call's error names its ledger record). */
void fg_client_send_error(struct fg_call *c, bool with_headers);
/* One response header, when the client is still there. */
void fg_client_header(struct fg_call *c, const char *name, const char *value);

#endif
