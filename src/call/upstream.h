/* upstream.h — libcurl multi_socket driven by a worker's libevent loop.
 *
 * Contract: one struct fg_upstream per worker thread, owned by the worker.
 * Transfers are plain CURL easy handles the caller configured; the caller
 * sets CURLOPT_PRIVATE to a struct fg_xfer whose `done` callback runs on
 * the worker loop when the transfer finishes (never from inside
 * fg_upstream_add).  The multi handle keeps a keep-alive connection cache,
 * so calls to the same provider reuse connections.  No call blocks. */
#ifndef FRUGAL_UPSTREAM_H
#define FRUGAL_UPSTREAM_H

#include <curl/curl.h>
#include <event2/event.h>
#include <stdint.h>

struct fg_upstream;

struct fg_xfer {
    CURL *easy;
    void (*done)(struct fg_xfer *x, CURLcode result);
    void *arg;
    int64_t total_us; /* the finished transfers' time (curl's total), added
                         up before each `done`; the owner resets it */
};

struct fg_upstream *fg_upstream_new(struct event_base *base);
void fg_upstream_free(struct fg_upstream *u); /* after all transfers removed */

/* Borrow a reset easy handle from the worker's pool (or a new one),
 * confined: redirects never followed, http and https only. */
CURL *fg_upstream_easy(struct fg_upstream *u);
/* Start x->easy; 0 or -1.  x must outlive the transfer. */
int fg_upstream_add(struct fg_upstream *u, struct fg_xfer *x);
/* Stop a transfer early (client gone, shutdown) and return its handle to
 * the pool; `done` is not called.  Safe to call only outside curl
 * callbacks (use a deferred event from inside them). */
void fg_upstream_cancel(struct fg_upstream *u, struct fg_xfer *x);
/* Return a finished transfer's handle to the pool (call from `done`). */
void fg_upstream_release(struct fg_upstream *u, struct fg_xfer *x);

#endif
