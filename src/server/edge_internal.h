/* edge_internal.h — what edge.c (connections, parsing) and edge_reply.c
 * (the reply writer) share.  Folder-internal: nothing outside src/server/
 * includes it.
 *
 * A connection (struct fg_edge_conn) embeds its one request; both are
 * pooled by the edge.  States: C_IDLE (no request begun: fresh or
 * keep-alive; on the idle list, sheddable), C_HEAD, C_BODY (the edge owns
 * the request), C_APP (handed to hooks.request, or answered, until the
 * reply is written), C_LINGER (an answer of the edge's own is written, the
 * write side shut, reads dropped), C_DEAD (socket closed; the app still
 * holds the request until its terminal call).  `depth` counts the edge's
 * frames on the stack for this connection: a connection that must go while
 * depth > 0 is only marked (`closing`) and released by the outermost frame,
 * so no caller up the stack touches freed memory. */
#ifndef FRUGAL_EDGE_INTERNAL_H
#define FRUGAL_EDGE_INTERNAL_H

#include "edge.h"
#include "edge_frame.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <http_parser.h>

enum edge_cstate { C_IDLE, C_HEAD, C_BODY, C_APP, C_LINGER, C_DEAD };
enum edge_rstate { R_NONE, R_STREAM, R_DONE }; /* the reply */

struct edge_hdr {
    uint32_t no, nl, vo, vl; /* name and value: offsets into hbuf */
};

struct edge_rhdr {
    const char *name, *value; /* in the arena */
};

struct fg_edge_req {
    struct fg_edge_conn *c;
    struct fg_arena arena;
    struct fg_reqhead h;
    bool head_done, body_done, handed, answered_early, gone, is_head, expect100;
    bool keepalive, over_cap, in_head_hook;
    int minor;
    enum edge_rstate rs;
    char *hbuf; /* the head's bytes (arena) */
    size_t hlen, hcap;
    struct edge_hdr *hdrs;
    int nh;
    uint8_t last_cb; /* 1 field, 2 value */
    uint32_t url_off, url_len;
    uint64_t body_cap, body_n;
    struct evbuffer *body;
    void (*sink)(struct fg_edge_req *, const char *, size_t, void *);
    void *sink_arg;
    void (*gone_cb)(struct fg_edge_req *, void *);
    void *gone_arg;
    void (*end_cb)(struct fg_edge_req *, void *);
    void *end_arg;
    void *app; /* fg_edge_req_set_app */
    void (*drained_cb)(struct fg_edge_req *, void *);
    void *drained_arg;
    size_t drained_below;
    struct edge_rhdr *rh;
    int nrh, caprh;
};

struct fg_edge_conn {
    struct fg_edge *e;
    int fd;
    enum edge_cstate st;
    struct event rd, wr, timer, resume, drained; /* drained: the app's callback, deferred */
    bool rd_on, wr_on, timer_on;
    struct evbuffer *in, *out;
    http_parser p;
    struct fg_edge_frame_head fh;
    struct fg_edge_frame_chunk fc;
    bool counted, fresh, close_after, refusal, closing;
    bool busy;          /* accepted over 3/4 of the limit: header_timeout_busy_ms */
    int refuse_status;  /* refused at accept: answered at its head (429 / 503) */
    uint64_t opened_ms; /* accept time, for notes */
    int depth;
    size_t lingered;
    uint8_t ip[16];
    char ipstr[48];
    struct fg_edge_conn *prev, *next;   /* e->all */
    struct fg_edge_conn *iprev, *inext; /* e->idle, oldest first */
    struct fg_edge_req req;
};

struct fg_edge {
    struct event_base *base;
    struct fg_edge_cfg cfg;
    struct fg_edge_limits *limits;
    struct fg_edge_hooks hooks;
    struct fg_edge_conn *all, *idle, *idle_tail, *pool;
    int npool, open, refusing;
    bool draining; /* fg_edge_drain: no new connection, none kept alive */
    struct fg_edge_stats stats;
    const struct timeval *tv_header, *tv_header_busy, *tv_body, *tv_idle,
        *tv_linger; /* common timeouts */
    struct evconnlistener *listener;
    char date[64];
    long date_sec;
};

/* edge_reply.c → edge.c */
void edge_conn_flushed(struct fg_edge_conn *c); /* the reply is out: next request or close */
void edge_conn_gone(struct fg_edge_conn *c);    /* the peer went away */
void edge_conn_wait_write(struct fg_edge_conn *c, bool on);
void edge_conn_ended(struct fg_edge_conn *c);          /* terminal call after the socket closed */
void edge_conn_enter(struct fg_edge_conn *c);          /* a frame of the edge on the stack */
bool edge_conn_leave(struct fg_edge_conn *c);          /* false: c was released */
void edge_conn_timer(struct fg_edge_conn *c, bool on); /* write progress deadline */
/* edge.c → edge_reply.c */
int edge_flush(struct fg_edge_conn *c);
int edge_send_error(struct fg_edge_req *r, int status, const char *code, const char *msg);
const char *edge_date(struct fg_edge *e);

#endif
