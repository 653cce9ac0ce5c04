/* conn.h — client connections: how many, from where, and how long a
 * request may take to arrive.
 *
 * Contract:
 *  - fg_conn_global_init() once before the workers start (raises the soft
 *    RLIMIT_NOFILE toward what server.max_connections needs, sizes the
 *    process-wide tables); fg_conn_global_free() after they stopped.
 *  - Per worker: fg_conn_table_new(); evhttp_set_bevcb(http, fg_conn_table_bevcb,
 *    conns); the request callback calls fg_conn_table_request(conns, req) first:
 *    0 = handle the request, 1 = already answered.  fg_conn_table_free() after
 *    evhttp_free() and before event_base_free().
 *  - Every request's head is read strictly (reqhead.h) and judged
 *    (gate.h) before its body is read: framing errors → 400
 *    invalid_http_request; the gate's 404 / 401 / 413; bytes in flight over
 *    server.max_body_bytes_in_flight → 503 server_busy (a Content-Length is
 *    booked at the head, chunked bytes as they arrive; given back when the
 *    answer is out or the connection closes).  Those answers are ours, in
 *    the caller's dialect, with Connection: close; the connection then
 *    drains (LINGER_MS, LINGER_BYTES) and closes, and nothing after the
 *    head is parsed as a request.  A pipelined request is judged once the
 *    one before it is answered.
 *  - server.max_connections (all workers together) and
 *    server.max_connections_per_ip (0 = no cap): over max_connections the
 *    worker first sheds its oldest unused connection (nothing sent yet, or
 *    idle between requests), answering it 503, to admit the new one.  A
 *    connection that cannot be admitted is read up to its head, under the
 *    deadlines below, and answered 503 (global) or 429 (per address) in
 *    the caller's dialect, code too_many_connections.  When more than
 *    FG_CONN_REFUSE_BACKLOG connections of a worker wait for such an
 *    answer, further ones are answered 503 at once, before their request.
 *  - server.header_timeout_ms: from accept (or, on a keep-alive connection,
 *    the first byte of the next request) to the end of the request headers
 *    (server.header_timeout_busy_ms instead for a connection accepted with
 *    over 3/4 of max_connections open);
 *    server.body_timeout_ms: from there to the end of the body.  A request
 *    that misses its deadline has its connection closed without an answer
 *    (a client trickling bytes is not owed one).  Between requests,
 *    server.client_timeout_ms (evhttp's idle timeout) applies.
 *  - server.max_header_bytes: request line plus headers over it → 431 in
 *    the caller's dialect (code request_headers_too_large), connection
 *    closed, as soon as the head passes it.  libevent's own limit is set to
 *    twice that plus 8 KiB as a backstop.
 *  - fg_conn_set_closecb() is what the rest of frugal uses instead of
 *    evhttp_connection_set_closecb(): this module holds each server
 *    connection's close callback and runs the caller's first.
 *  - libevent 2.1 facts relied on: evhttp builds a server connection on
 *    the bufferevent fg_conn_table_bevcb returns and sets that bufferevent's
 *    callback argument to the evhttp_connection; evhttp calls the close
 *    callback exactly once, before the socket is closed; evbuffer
 *    callbacks on the input buffer run as bytes are added, before the
 *    bufferevent's read callback; evhttp resets the bufferevent's callbacks
 *    only when it starts reading a request (evhttp_start_read_), and its
 *    deferred read calls whatever read callback is set then;
 *    evhttp_connection_set_max_body_size applies to the body read next;
 *    evhttp_request_set_on_complete_cb runs when the answer is flushed,
 *    before the next request is set up.
 *  - Threads: tables shared by the workers are atomics or under a mutex;
 *    a struct fg_conn_table belongs to its worker's thread. */
#ifndef FRUGAL_CONN_H
#define FRUGAL_CONN_H

#include "config.h"

#define FG_CONN_REFUSE_BACKLOG 64

struct event_base;
struct bufferevent;
struct evhttp_request;
struct evhttp_connection;
struct fg_conn_table;

void fg_conn_global_init(const struct fg_server_cfg *cfg);
void fg_conn_global_free(void);

/* cfg (the whole config: the gate needs keys and batches' caps) outlives set. */
struct fg_conn_table *fg_conn_table_new(struct event_base *base, const struct fg_config *cfg);
void fg_conn_table_free(struct fg_conn_table *set);
/* evhttp_set_bevcb callback; arg is the worker's struct fg_conn_table. */
struct bufferevent *fg_conn_table_bevcb(struct event_base *base, void *arg);
int fg_conn_table_request(struct fg_conn_table *set, struct evhttp_request *req);

void fg_conn_set_closecb(struct evhttp_connection *evcon,
                         void (*cb)(struct evhttp_connection *, void *), void *arg);

/* Open client connections counted now (all workers). */
int fg_conn_count(void);

#endif
