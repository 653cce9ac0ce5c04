/* edge.h — frugal's own HTTP/1.1 server edge: connections on accepted
 * sockets, requests parsed strictly with http_parser (Debian's
 * libhttp-parser 2.9.4) plus the checks in edge_frame.h, replies written
 * from evbuffers.  The daemon's workers serve through it (server.c).
 * The call's struct fg_client (call/client.h) maps onto the reply
 * functions below op for op: add/remove/find/clear header →
 * fg_edge_resp_header*, send → fg_edge_reply_buf, start/chunk/end →
 * fg_edge_stream_start/_write_buf/_end with fg_edge_on_drained, backlog →
 * fg_edge_queued, the peer gone → fg_edge_req_on_gone.
 *
 * Contract — connections:
 *  - One struct fg_edge per event loop (worker thread); everything on it
 *    runs on that loop's thread.  struct fg_edge_limits (edge_limits.h) is
 *    shared by the edges of a process: the global and per-address caps.
 *  - fg_edge_accept() adopts a connected socket (made non-blocking).  Over
 *    max_connections the edge first sheds its own oldest idle connection
 *    (accepted with no byte yet, or keep-alive between requests; it gets a
 *    503 with Connection: close); with none to shed, the new connection
 *    gets the 503.  Over max_connections_per_ip → 429 (nothing is shed: the
 *    address can reuse or close its own connections).  A refused connection is read
 *    up to its head (under the header deadline) and answered then, so the
 *    error_body hook can answer in the caller's dialect; with more than
 *    FG_EDGE_REFUSE_BACKLOG refusals pending, nothing waits: what the
 *    socket already holds is read once (a head sent right behind the
 *    connect is refused at its head, in its dialect, as above), else the
 *    answer is written at once (error_body sees the partial head, maybe
 *    none: the default body) and the socket closed right after it.
 *  - Requests are served one at a time per connection, in order: bytes of
 *    a pipelined next request wait (unparsed, at most max_header_bytes of
 *    them are read ahead) until the reply before is fully written.
 *  - Framing anomalies → 400 and close: anything http_parser refuses, what
 *    edge_frame.h refuses, a version other than HTTP/1.0 or 1.1, CONNECT,
 *    HTTP/1.1 without exactly one Host, a second Transfer-Encoding field or
 *    one that is not exactly "chunked", chunked in HTTP/1.0.  Head over
 *    max_header_bytes or max_headers fields → 431 and close.  Expect other
 *    than 100-continue → 417 and close.  "Upgrade" is ignored.
 *  - Deadlines (total, not per read: a trickle does not extend them):
 *    header_timeout_ms from accept or the first byte of a request to the
 *    end of its head (header_timeout_busy_ms for a connection accepted
 *    while over 3/4 of max_connections were open); body_timeout_ms from there to the end of the body;
 *    → closed without an answer (a client trickling bytes is not owed one).  idle_timeout_ms between requests, and while a reply
 *    waits to be written with no progress → silent close.
 *  - A connection the edge answers by itself and closes: the answer is
 *    written, the write side shut, and what the client still sends is read
 *    and dropped for linger_ms or FG_EDGE_LINGER_BYTES, so the client reads
 *    the answer instead of a reset.
 *
 * Contract — requests (struct fg_edge_req, one per connection, pooled
 * with it; its arena is the request's, freed when the request ends):
 *  - hooks.head(r) runs once the head passed every check, before any body
 *    byte is read.  It returns 0 to read the body, after optionally
 *    setting a body cap (default max_body_bytes), a body sink, and a gone
 *    callback; or it answers at once (any fg_edge_reply*) and returns 1
 *    (a body not read → Connection: close).  Only after a 0 does
 *    `Expect: 100-continue` get its 100.  A declared Content-Length over
 *    the cap → 413 before the body; a chunked body over it → 413 when it
 *    crosses it.  Until hooks.request, the edge owns r: if the body fails
 *    (deadline, cap, framing, peer gone) the gone callback runs and the
 *    request ends without the app.
 *  - The body accumulates in fg_edge_req_body() unless a sink was set,
 *    which then gets every body byte in order (nothing kept).  A reply
 *    made while the body is still arriving (e.g. from the sink) ends the
 *    request early; the connection closes after it.
 *  - hooks.request(r) runs when the body is complete; from then the app
 *    owns r until its one terminal call: fg_edge_reply*() or
 *    fg_edge_stream_end().  If the peer goes away first, the gone callback
 *    runs once; r stays valid, further writes are dropped (they return -1),
 *    and the terminal call is still required: it frees r.
 *  - Replies: fg_edge_resp_header() adds a header (copied into the arena);
 *    the edge adds Date, Content-Length (whole replies) or
 *    Transfer-Encoding: chunked (streams; HTTP/1.0: raw bytes then close),
 *    and Connection: close when the connection will close.  HEAD gets the
 *    headers only.  fg_edge_reply_buf and fg_edge_stream_write_buf move the
 *    evbuffer's chains (no copy); fg_edge_reply_ref references memory the
 *    caller keeps until cleanup runs.  Writes are attempted at once
 *    (writev of the queued chains); fg_edge_queued() is what is still
 *    queued; the drained callback runs when a write brings it from above
 *    `below` to at most `below` (the relay's backpressure) — always from
 *    the event loop, never inside the app's own write call, so it may
 *    write, resume an upstream transfer or end the reply. */
#ifndef FRUGAL_EDGE_H
#define FRUGAL_EDGE_H

#include "arena.h"
#include "reqhead.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FG_EDGE_REFUSE_BACKLOG 64
/* A client still sending a large body must get to read the refusal before
 * our close turns into a reset (which discards what it has not read yet):
 * at loopback speed 4 MB was drained in a few milliseconds, less than a busy
 * client may take to read; dropping bytes costs no memory, and linger_ms
 * still bounds the time (nginx lingers without a byte cap). */
#define FG_EDGE_LINGER_BYTES (32u << 20)

struct event_base;
struct evbuffer;
struct fg_edge;
struct fg_edge_req;
struct fg_edge_limits;

/* What the edge did on its own to a connection, for the app's logs. */
enum fg_edge_note_kind {
    FG_EDGE_NOTE_REFUSED, /* over a cap at accept: status 503 (global) or 429 (per address) */
    FG_EDGE_NOTE_SHED,    /* an idle connection closed (503) to admit `by` */
    FG_EDGE_NOTE_TIMEOUT  /* a request missed its deadline */
};

struct fg_edge_note {
    enum fg_edge_note_kind kind;
    const char *peer; /* the connection's address */
    int status;       /* REFUSED: 503 or 429 */
    const char *by;   /* SHED: the address admitted */
    uint64_t open_ms; /* SHED: how long it was open */
    bool sent_any;    /* SHED: it had sent a request before */
    bool body;        /* TIMEOUT: the body's deadline (else the head's) */
    bool busy;        /* TIMEOUT: the head's deadline was header_timeout_busy_ms */
};

struct fg_edge_hooks {
    int (*head)(struct fg_edge_req *r, void *arg);
    void (*request)(struct fg_edge_req *r, void *arg);
    /* The body of an answer the edge writes itself (400, 408, 413, 417,
     * 429, 431, 503) and its content type; NULL = a small JSON error.
     * r's head may be partly parsed (fg_edge_req_head_done()). */
    const char *(*error_body)(struct fg_edge_req *r, int status, const char *code, const char *msg,
                              struct evbuffer *body, void *arg);
    /* optional: a refusal, shed or timeout happened (for logs) */
    void (*note)(const struct fg_edge_note *n, void *arg);
    void *arg;
};

/* The methods frugal's handlers switch on; anything else is FG_EDGE_OTHER
 * (its name is in fg_edge_req_head(r)->method). */
enum fg_edge_method {
    FG_EDGE_GET,
    FG_EDGE_HEAD,
    FG_EDGE_POST,
    FG_EDGE_PUT,
    FG_EDGE_DELETE,
    FG_EDGE_PATCH,
    FG_EDGE_OPTIONS,
    FG_EDGE_OTHER
};

struct fg_edge_cfg {
    size_t max_header_bytes; /* request line + headers */
    int max_headers;         /* header fields */
    uint64_t max_body_bytes; /* body cap unless the head hook sets one */
    int header_timeout_ms;
    /* instead of header_timeout_ms for a connection accepted while over 3/4
     * of the limits' max are open (0 = the same) */
    int header_timeout_busy_ms;
    int body_timeout_ms;
    int idle_timeout_ms;
    int linger_ms;
};

struct fg_edge_stats {
    uint64_t accepted, refused, shed, timeouts, bad, requests;
};

/* --- the edge */
struct fg_edge *fg_edge_new(struct event_base *base, const struct fg_edge_cfg *cfg,
                            struct fg_edge_limits *limits, const struct fg_edge_hooks *hooks);
/* Every request handed to hooks.request must have ended. */
void fg_edge_free(struct fg_edge *e);
/* 0 admitted, 1 refused (answered, closing), -1 not adopted (fd closed). */
int fg_edge_accept(struct fg_edge *e, int fd, const struct sockaddr *peer, socklen_t len);
/* Accept on a listening socket (non-blocking, owned by the edge from now). */
int fg_edge_listen(struct fg_edge *e, int listen_fd);
/* Graceful drain: stop accepting (the listener is closed), close every
 * idle connection now, and close each busy one after its reply (sent with
 * Connection: close).  Requests in progress go on. */
void fg_edge_drain(struct fg_edge *e);
int fg_edge_open(const struct fg_edge *e); /* this edge's connections, lingering ones too */
struct fg_edge_stats fg_edge_stats(const struct fg_edge *e);

/* --- a request */
const struct fg_reqhead *fg_edge_req_head(const struct fg_edge_req *r);
enum fg_edge_method fg_edge_req_method(const struct fg_edge_req *r);
bool fg_edge_req_head_done(const struct fg_edge_req *r);
/* First field named `name` (case-insensitive), value trimmed; {NULL, 0} if absent. */
struct fg_span fg_edge_req_header(const struct fg_edge_req *r, const char *name);
/* The same on a head not complete or refused (error_body: the caller's
 * dialect for a 431): the fields read so far, the last maybe cut short. */
struct fg_span fg_edge_req_header_partial(const struct fg_edge_req *r, const char *name);
size_t fg_edge_req_nheaders(const struct fg_edge_req *r);
void fg_edge_req_header_at(const struct fg_edge_req *r, size_t i, struct fg_span *name,
                           struct fg_span *value);
int fg_edge_req_minor(const struct fg_edge_req *r); /* HTTP/1.x */
bool fg_edge_req_keepalive(const struct fg_edge_req *r);
struct evbuffer *fg_edge_req_body(struct fg_edge_req *r);
struct fg_arena *fg_edge_req_arena(struct fg_edge_req *r);
const char *fg_edge_req_peer(const struct fg_edge_req *r); /* address, for logs */
void fg_edge_req_set_body_cap(struct fg_edge_req *r, uint64_t cap);
void fg_edge_req_set_sink(struct fg_edge_req *r,
                          void (*sink)(struct fg_edge_req *, const char *, size_t, void *),
                          void *arg);
void fg_edge_req_on_gone(struct fg_edge_req *r, void (*cb)(struct fg_edge_req *, void *),
                         void *arg);
/* cb runs once when r ends, however it ends (its terminal reply written
 * or dropped, a failure while the edge owned it, the connection freed),
 * just before its arena and body are freed: e.g. to give back a budget
 * booked at the head.  It must not reply. */
void fg_edge_req_on_end(struct fg_edge_req *r, void (*cb)(struct fg_edge_req *, void *), void *arg);
bool fg_edge_req_gone(const struct fg_edge_req *r);
/* The app's pointer for this request, NULL at its start: e.g. state its
 * head hook set up (a streamed upload) for its request hook to find. */
void fg_edge_req_set_app(struct fg_edge_req *r, void *p);
void *fg_edge_req_app(const struct fg_edge_req *r);

/* --- its reply (each returns 0, or -1 when the peer is gone: dropped) */
void fg_edge_resp_header(struct fg_edge_req *r, const char *name, const char *value);
void fg_edge_resp_header_remove(struct fg_edge_req *r, const char *name); /* every `name` */
const char *fg_edge_resp_header_find(const struct fg_edge_req *r, const char *name); /* or NULL */
void fg_edge_resp_clear_headers(struct fg_edge_req *r);
int fg_edge_reply(struct fg_edge_req *r, int status, const void *body, size_t len);
int fg_edge_reply_buf(struct fg_edge_req *r, int status, struct evbuffer *body);
int fg_edge_reply_ref(struct fg_edge_req *r, int status, const void *body, size_t len,
                      void (*cleanup)(const void *, size_t, void *), void *arg);
int fg_edge_stream_start(struct fg_edge_req *r, int status);
int fg_edge_stream_write(struct fg_edge_req *r, const void *p, size_t n);
int fg_edge_stream_write_buf(struct fg_edge_req *r, struct evbuffer *b);
int fg_edge_stream_end(struct fg_edge_req *r);
size_t fg_edge_queued(const struct fg_edge_req *r);
void fg_edge_on_drained(struct fg_edge_req *r, size_t below,
                        void (*cb)(struct fg_edge_req *, void *), void *arg);

#endif
