/* edge.c — see edge.h; connections, parsing and deadlines here, the reply
 * writer in edge_reply.c, shared structures in edge_internal.h.
 *
 * Reading: bytes go into the connection's input evbuffer (reserved space +
 * readv: no FIONREAD).  A request head is copied, as it arrives, into a
 * buffer in the request's arena and parsed there, so every span of the head
 * stays put; its bytes are checked by edge_frame.h as well.  http_parser is
 * paused when the head is complete (the body is not touched until the head
 * hook said yes) and when the message is complete (the next request's bytes
 * stay in the input buffer).  Body bytes are parsed straight from the input
 * buffer's chains; a chunked body's framing is checked by edge_frame.h
 * before http_parser sees it. */
#include "edge.h"

#include "assert.h"
#include "edge_internal.h"
#include "edge_limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_CHUNK 16384
#define POOL_MAX 1024
#define HEAD_FIRST 2048

static void conn_process(struct fg_edge_conn *c);
static void conn_close(struct fg_edge_conn *c);

/* ---------------- small helpers */

static bool name_is(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && !strncasecmp(p, lit, n);
}

static struct fg_span span_trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (struct fg_span){p, n};
}

static void timer_arm(struct fg_edge_conn *c, const struct timeval *tv)
{
    event_add(&c->timer, tv);
    c->timer_on = true;
}

static void timer_off(struct fg_edge_conn *c)
{
    if (c->timer_on)
        event_del(&c->timer);
    c->timer_on = false;
}

void edge_conn_timer(struct fg_edge_conn *c, bool on)
{
    if (c->st != C_APP)
        return; /* the head, body and linger deadlines are not write progress */
    if (on)
        timer_arm(c, c->e->tv_idle);
    else
        timer_off(c);
}

static void reading(struct fg_edge_conn *c, bool on)
{
    if (on == c->rd_on || c->fd < 0)
        return;
    if (on)
        event_add(&c->rd, NULL);
    else
        event_del(&c->rd);
    c->rd_on = on;
}

void edge_conn_wait_write(struct fg_edge_conn *c, bool on)
{
    if (on == c->wr_on || c->fd < 0)
        return;
    if (on)
        event_add(&c->wr, NULL);
    else
        event_del(&c->wr);
    c->wr_on = on;
}

static void idle_unlink(struct fg_edge_conn *c)
{
    struct fg_edge *e = c->e;
    if (!c->iprev && e->idle != c)
        return; /* not on the list */
    if (c->iprev)
        c->iprev->inext = c->inext;
    else
        e->idle = c->inext;
    if (c->inext)
        c->inext->iprev = c->iprev;
    else
        e->idle_tail = c->iprev;
    c->iprev = c->inext = NULL;
}

static void idle_push(struct fg_edge_conn *c)
{
    struct fg_edge *e = c->e;
    FG_DASSERT(!c->iprev && e->idle != c);
    c->iprev = e->idle_tail;
    c->inext = NULL;
    if (e->idle_tail)
        e->idle_tail->inext = c;
    else
        e->idle = c;
    e->idle_tail = c;
}

static void note(struct fg_edge *e, const struct fg_edge_note *n)
{
    if (e->hooks.note)
        e->hooks.note(n, e->hooks.arg);
}

static uint64_t now_ms(struct fg_edge *e)
{
    struct timeval tv;
    event_base_gettimeofday_cached(e->base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* ---------------- the request's life */

static void req_begin(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    struct evbuffer *body = r->body;
    FG_DASSERT(!r->arena.head); /* the last request ended (req_end) */
    memset(r, 0, sizeof *r);
    r->c = c;
    r->body = body;
    fg_arena_init(&r->arena);
    r->body_cap = c->e->cfg.max_body_bytes;
    http_parser_init(&c->p, HTTP_REQUEST);
    c->p.data = c;
    fg_edge_frame_head_init(&c->fh);
    fg_edge_frame_chunk_init(&c->fc);
}

static void req_end(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    if (r->end_cb) {
        void (*cb)(struct fg_edge_req *, void *) = r->end_cb;
        r->end_cb = NULL;
        cb(r, r->end_arg);
    }
    evbuffer_drain(r->body, evbuffer_get_length(r->body));
    fg_arena_free(&r->arena);
    r->hbuf = NULL;
    r->hdrs = NULL;
    r->rh = NULL;
    r->nh = r->nrh = r->caprh = 0;
    r->head_done = false;
}

/* The edge owned the request (head or body phase) and it failed: tell the
 * app, if it asked to be told. */
static void req_fail_owned(struct fg_edge_req *r)
{
    if (r->gone || !r->head_done)
        return;
    r->gone = true;
    if (r->gone_cb)
        r->gone_cb(r, r->gone_arg);
}

/* ---------------- connections: pool, close, release */

static struct fg_edge_conn *conn_get(struct fg_edge *e)
{
    struct fg_edge_conn *c = e->pool;
    if (c) {
        e->pool = c->next;
        e->npool--;
    } else {
        c = fg_xcalloc(1, sizeof *c);
        c->in = evbuffer_new();
        c->out = evbuffer_new();
        c->req.body = evbuffer_new();
        FG_ASSERT(c->in && c->out && c->req.body);
    }
    struct evbuffer *in = c->in, *out = c->out, *body = c->req.body;
    memset(c, 0, sizeof *c);
    c->in = in;
    c->out = out;
    c->req.body = body;
    c->e = e;
    c->fd = -1;
    c->next = e->all;
    if (e->all)
        e->all->prev = c;
    e->all = c;
    e->open++;
    return c;
}

static void conn_destroy(struct fg_edge_conn *c)
{
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    evbuffer_free(c->req.body);
    free(c);
}

/* Back to the pool: socket closed, request ended, lists left. */
static void conn_release(struct fg_edge_conn *c)
{
    struct fg_edge *e = c->e;
    FG_ASSERT(c->fd < 0 && c->depth == 0);
    /* out first: a referenced body's cleanup may use the request's arena */
    evbuffer_drain(c->out, evbuffer_get_length(c->out));
    req_end(c);
    if (c->refusal)
        e->refusing--;
    if (c->prev)
        c->prev->next = c->next;
    else
        e->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    e->open--;
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    if (e->npool < POOL_MAX) {
        c->next = e->pool;
        e->pool = c;
        e->npool++;
    } else {
        conn_destroy(c);
    }
}

/* Close the socket now; the record goes when nobody up the stack uses it
 * and the app does not hold its request. */
static void conn_shut_fd(struct fg_edge_conn *c)
{
    if (c->fd < 0)
        return;
    reading(c, false);
    edge_conn_wait_write(c, false);
    timer_off(c);
    event_del(&c->resume);
    event_del(&c->drained);
    idle_unlink(c);
    close(c->fd);
    c->fd = -1;
    if (c->counted)
        fg_edge_limits_put(c->e->limits, c->ip);
    c->counted = false;
}

static void conn_close(struct fg_edge_conn *c)
{
    conn_shut_fd(c);
    struct fg_edge_req *r = &c->req;
    if (r->handed && r->rs != R_DONE) {
        c->st = C_DEAD; /* the app still holds r: its terminal call releases */
        return;
    }
    c->closing = true;
    if (c->depth == 0)
        conn_release(c);
}

void edge_conn_enter(struct fg_edge_conn *c)
{
    c->depth++;
}

/* Leave a frame; false when the connection is gone (do not touch c). */
bool edge_conn_leave(struct fg_edge_conn *c)
{
    FG_ASSERT(c->depth > 0);
    if (--c->depth == 0 && c->closing) {
        conn_release(c);
        return false;
    }
    return !c->closing;
}

void edge_conn_ended(struct fg_edge_conn *c)
{
    FG_ASSERT(c->fd < 0 && c->req.rs == R_DONE);
    c->closing = true;
    if (c->depth == 0)
        conn_release(c);
}

void edge_conn_gone(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    if (c->st == C_BODY || c->st == C_HEAD) {
        req_fail_owned(r);
    } else if (c->st == C_APP && r->handed && r->rs != R_DONE && !r->gone) {
        r->gone = true;
        conn_shut_fd(c);
        c->st = C_DEAD;
        if (r->gone_cb)
            r->gone_cb(r, r->gone_arg);
        return;
    }
    conn_close(c);
}

/* ---------------- answers of the edge's own, and lingering */

static void linger_start(struct fg_edge_conn *c)
{
    struct fg_edge *e = c->e;
    c->st = C_LINGER;
    idle_unlink(c);
    if (c->fd < 0)
        return;
    shutdown(c->fd, SHUT_WR);
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    reading(c, true);
    timer_arm(c, e->tv_linger);
}

/* Answer by ourselves and close after (lingering).  The request, if the
 * edge owned it, fails first. */
static void conn_refuse(struct fg_edge_conn *c, int status, const char *code, const char *msg)
{
    struct fg_edge_req *r = &c->req;
    if (status == 400 || status == 431)
        c->e->stats.bad++;
    if (!r->handed)
        req_fail_owned(r); /* the edge owned it (no-op before its head was done) */
    c->close_after = true;
    c->st = C_APP;
    r->rs = R_NONE;
    edge_send_error(r, status, code, msg); /* flushes; edge_conn_flushed lingers */
}

void edge_conn_flushed(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    FG_ASSERT(r->rs == R_DONE && evbuffer_get_length(c->out) == 0);
    timer_off(c);
    if (c->close_after || !r->body_done) {
        linger_start(c);
        return;
    }
    req_end(c);
    c->st = C_IDLE;
    c->fresh = false;
    reading(c, true);
    if (evbuffer_get_length(c->in)) {
        event_active(&c->resume, EV_TIMEOUT, 0); /* a pipelined request: next loop pass */
        return;
    }
    idle_push(c);
    timer_arm(c, c->e->tv_idle);
}

/* ---------------- http_parser callbacks */

static uint32_t head_off(struct fg_edge_req *r, const char *at)
{
    FG_DASSERT(at >= r->hbuf && at <= r->hbuf + r->hcap);
    return (uint32_t)(at - r->hbuf);
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct fg_edge_req *r = &((struct fg_edge_conn *)p->data)->req;
    if (!r->url_len)
        r->url_off = head_off(r, at);
    r->url_len += (uint32_t)n;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct fg_edge_conn *c = p->data;
    struct fg_edge_req *r = &c->req;
    if (r->last_cb != 1) {
        if (r->nh >= c->e->cfg.max_headers)
            return 1; /* → 431 */
        r->hdrs[r->nh++] = (struct edge_hdr){head_off(r, at), 0, 0, 0};
    }
    r->hdrs[r->nh - 1].nl += (uint32_t)n;
    r->last_cb = 1;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct fg_edge_req *r = &((struct fg_edge_conn *)p->data)->req;
    FG_ASSERT(r->nh > 0);
    struct edge_hdr *h = &r->hdrs[r->nh - 1];
    if (r->last_cb != 2)
        h->vo = head_off(r, at);
    h->vl += (uint32_t)n;
    r->last_cb = 2;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    http_parser_pause(p, 1); /* judge the head before any body byte */
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct fg_edge_conn *c = p->data;
    struct fg_edge_req *r = &c->req;
    r->body_n += n;
    if (r->body_n > r->body_cap) {
        r->over_cap = true;
        return 1;
    }
    if (r->sink) {
        r->sink(r, at, n, r->sink_arg);
        if (r->rs != R_NONE || c->fd < 0) {
            r->answered_early = true;
            return 1; /* the app answered (or the peer left): stop */
        }
    } else {
        evbuffer_add(r->body, at, n);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct fg_edge_conn *c = p->data;
    c->req.body_done = true;
    http_parser_pause(p, 1); /* the next request waits for this one's reply */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------------- the head */

/* The fields the edge and the gate need, from the header list. */
static const char *head_fields(struct fg_edge_req *r, int *te, int *host)
{
    struct fg_reqhead *h = &r->h;
    for (int i = 0; i < r->nh; i++) {
        struct edge_hdr *x = &r->hdrs[i];
        const char *n = r->hbuf + x->no;
        if (!fg_edge_frame_token(n, x->nl))
            return "a header name has bytes a name cannot have (or space before the colon)";
        struct fg_span v = span_trim(r->hbuf + x->vo, x->vl);
        if (name_is(n, x->nl, "transfer-encoding")) {
            if (++*te > 1 || !name_is(v.p, v.n, "chunked"))
                return "Transfer-Encoding other than one 'chunked' is not accepted";
        } else if (name_is(n, x->nl, "host")) {
            ++*host;
        } else if (name_is(n, x->nl, "expect")) {
            r->expect100 = name_is(v.p, v.n, "100-continue");
            if (!r->expect100)
                return "";
        } else if (name_is(n, x->nl, "authorization")) {
            h->authorization = v;
        } else if (name_is(n, x->nl, "x-api-key")) {
            h->api_key = v;
        } else if (name_is(n, x->nl, "api-key") && !h->api_key.n) {
            h->api_key = v; /* Azure's (azure_in.h); x-api-key wins, as in auth.c */
        } else if (name_is(n, x->nl, "anthropic-version")) {
            h->anthropic = true;
        }
    }
    return NULL;
}

/* Checks of a complete head beyond http_parser's; NULL = fine, "" = 417. */
static const char *head_check(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    http_parser *p = &c->p;
    if (p->http_major != 1 || p->http_minor > 1)
        return "only HTTP/1.0 and HTTP/1.1 are served";
    if (p->method == HTTP_CONNECT)
        return "CONNECT is not supported: frugal is not a proxy";
    const char *why = fg_edge_frame_target(r->hbuf + r->url_off, r->url_len);
    if (why)
        return why;
    int te = 0, host = 0;
    why = head_fields(r, &te, &host);
    if (why)
        return why;
    if (te && p->http_minor == 0)
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (p->http_minor == 1 && host != 1)
        return "an HTTP/1.1 request needs exactly one Host header";
    return NULL;
}

/* Fill r->h from the parse: method, target, path, length, chunked. */
static void head_fill(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    struct fg_reqhead *h = &r->h;
    const char *m = http_method_str((enum http_method)c->p.method);
    h->method = (struct fg_span){m, strlen(m)};
    size_t o = fg_edge_frame_origin(r->hbuf + r->url_off, r->url_len); /* absolute-form */
    h->target = (struct fg_span){r->hbuf + r->url_off + o, r->url_len - o};
    const char *q = memchr(h->target.p, '?', h->target.n);
    h->path = (struct fg_span){h->target.p, q ? (size_t)(q - h->target.p) : h->target.n};
    h->chunked = (c->p.flags & F_CHUNKED) != 0;
    h->has_length = (c->p.flags & F_CONTENTLENGTH) != 0;
    h->length = h->has_length ? c->p.content_length : 0;
    r->minor = c->p.http_minor;
    r->is_head = c->p.method == HTTP_HEAD;
    r->keepalive = http_should_keep_alive(&c->p) != 0;
    r->head_done = true;
}

static void request_ready(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    timer_off(c);
    c->st = C_APP;
    r->handed = true;
    c->e->stats.requests++;
    c->e->hooks.request(r, c->e->hooks.arg);
}

static bool body_pending(const struct fg_edge_req *r)
{
    return r->h.chunked || (r->h.has_length && r->h.length > 0);
}

/* The head is complete and paused at its last LF (not yet consumed). */
static void head_complete(struct fg_edge_conn *c, size_t lf_at)
{
    struct fg_edge_req *r = &c->req;
    struct fg_edge *e = c->e;
    if (!lf_at || r->hbuf[lf_at - 1] != '\r' || r->hbuf[lf_at] != '\n')
        return conn_refuse(c, 400, "invalid_http_request",
                           "the request head does not end in CRLF CRLF");
    /* http_parser re-reads that LF when resumed: feed it now, so the input
     * buffer holds nothing but body bytes and the next request */
    http_parser_pause(&c->p, 0);
    http_parser_execute(&c->p, &settings, r->hbuf + lf_at, 1);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->p);
    if (err != HPE_OK && err != HPE_PAUSED) /* e.g. a Transfer-Encoding not ending in chunked */
        return conn_refuse(c, 400, "invalid_http_request", http_errno_description(err));
    r->hlen = lf_at + 1;
    evbuffer_drain(c->in, 1);
    const char *why = head_check(c);
    if (why)
        return *why ? conn_refuse(c, 400, "invalid_http_request", why)
                    : conn_refuse(c, 417, "expectation_failed",
                                  "only 'Expect: 100-continue' is understood");
    head_fill(c);
    if (c->refuse_status)
        return conn_refuse(c, c->refuse_status, "too_many_connections",
                           c->refuse_status == 429 ? "too many connections from this address"
                                                   : "the server is at its connection limit");
    /* while the hook runs the connection counts as answering: an answer it
     * writes moves the connection on (next request, or linger) by itself */
    timer_off(c);
    c->st = C_APP;
    r->in_head_hook = true;
    int rc = e->hooks.head ? e->hooks.head(r, e->hooks.arg) : 0;
    r->in_head_hook = false;
    if (c->fd < 0 || c->closing)
        return;
    if (rc || r->rs != R_NONE) {
        FG_ASSERT(r->rs == R_DONE || r->rs == R_STREAM); /* the hook answered */
        return;
    }
    FG_ASSERT(c->st == C_APP);
    if (!body_pending(r)) {
        FG_ASSERT(r->body_done); /* http_parser completed it on the LF */
        return request_ready(c);
    }
    if (r->h.has_length && r->h.length > r->body_cap)
        return conn_refuse(c, 413, "request_too_large",
                           "the declared Content-Length is over this path's limit");
    if (r->expect100 && r->minor == 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        evbuffer_add_reference(c->out, cont, sizeof cont - 1, NULL, NULL);
        if (edge_flush(c) < 0)
            return;
    }
    http_parser_pause(&c->p, 0);
    c->st = C_BODY;
    timer_arm(c, e->tv_body);
}

/* Grow the head buffer (arena) toward max_header_bytes; false = at max. */
static bool head_grow(struct fg_edge_req *r, size_t max)
{
    if (r->hcap >= max)
        return false;
    size_t cap = r->hcap ? r->hcap * 2 : HEAD_FIRST;
    if (cap > max)
        cap = max;
    char *b = fg_arena_alloc(&r->arena, cap);
    if (r->hlen)
        memcpy(b, r->hbuf, r->hlen);
    r->hbuf = b;
    r->hcap = cap;
    return true;
}

static void head_step(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    size_t max = c->e->cfg.max_header_bytes;
    if (!r->hdrs)
        r->hdrs = fg_arena_alloc(&r->arena, sizeof *r->hdrs * (size_t)c->e->cfg.max_headers);
    if (r->hlen == r->hcap && !head_grow(r, max))
        return conn_refuse(c, 431, "request_headers_too_large",
                           "the request line and headers are over the limit");
    size_t avail = evbuffer_get_length(c->in);
    size_t k = r->hcap - r->hlen;
    if (k > avail)
        k = avail;
    char *at = r->hbuf + r->hlen;
    evbuffer_copyout(c->in, at, k);
    /* paused at the head's end, http_parser stops before its last LF, which
     * is then inside the k bytes copied */
    size_t n = http_parser_execute(&c->p, &settings, at, k);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->p);
    const char *why = fg_edge_frame_head_scan(&c->fh, at, n);
    if (err == HPE_CB_header_field || err == HPE_HEADER_OVERFLOW)
        return conn_refuse(c, 431, "request_headers_too_large",
                           "the request has too many header fields or header bytes");
    if (err != HPE_OK && err != HPE_PAUSED)
        return conn_refuse(c, 400, "invalid_http_request", http_errno_description(err));
    if (why)
        return conn_refuse(c, 400, "invalid_http_request", why);
    evbuffer_drain(c->in, n);
    r->hlen += n;
    if (err == HPE_PAUSED)
        return head_complete(c, r->hlen);
}

/* ---------------- the body */

static void body_step(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    struct evbuffer_iovec v;
    if (evbuffer_peek(c->in, -1, NULL, &v, 1) < 1)
        return;
    size_t len = v.iov_len;
    bool done = false;
    if (r->h.chunked) {
        const char *why = fg_edge_frame_chunk_scan(&c->fc, v.iov_base, len, &len, &done);
        if (why)
            return conn_refuse(c, 400, "invalid_http_request", why);
    }
    size_t n = http_parser_execute(&c->p, &settings, v.iov_base, len);
    if (c->fd < 0 || c->closing || c->st != C_BODY)
        return; /* the sink's answer was written and the connection moved on */
    enum http_errno err = HTTP_PARSER_ERRNO(&c->p);
    evbuffer_drain(c->in, n);
    if (err == HPE_CB_body && r->over_cap)
        return conn_refuse(c, 413, "request_too_large", "the body is over this path's limit");
    if (r->answered_early || r->rs != R_NONE) {
        c->st = C_APP; /* answered from the sink: the rest of the body is not read */
        c->close_after = true;
        timer_off(c);
        if (r->rs == R_DONE && !evbuffer_get_length(c->out))
            edge_conn_flushed(c);
        else
            edge_conn_timer(c, evbuffer_get_length(c->out) > 0); /* write progress */
        return;
    }
    if (err != HPE_OK && err != HPE_PAUSED)
        return conn_refuse(c, 400, "invalid_http_request", http_errno_description(err));
    if (r->h.chunked && (n != len || done != r->body_done))
        return conn_refuse(c, 400, "invalid_http_request",
                           "the chunked body's framing is inconsistent");
    if (r->body_done)
        request_ready(c);
}

/* ---------------- events */

static void conn_process(struct fg_edge_conn *c)
{
    while (!c->closing && c->fd >= 0 && evbuffer_get_length(c->in)) {
        if (c->st == C_IDLE) {
            idle_unlink(c);
            if (!c->fresh)
                timer_arm(c, c->e->tv_header); /* from the first byte of this request */
            c->fresh = false;
            req_begin(c);
            c->st = C_HEAD;
        }
        if (c->st == C_HEAD)
            head_step(c);
        else if (c->st == C_BODY)
            body_step(c);
        else
            break;
    }
    /* read ahead of a pipelined request at most one head's worth */
    if (!c->closing && c->fd >= 0 && (c->st == C_APP || c->st == C_DEAD))
        reading(c, evbuffer_get_length(c->in) < c->e->cfg.max_header_bytes);
}

/* Read what the socket has; false when the peer is gone. */
static bool conn_read(struct fg_edge_conn *c, struct evbuffer *into)
{
    struct evbuffer_iovec v[2];
    int nv = evbuffer_reserve_space(into, READ_CHUNK, v, 2);
    FG_ASSERT(nv > 0);
    struct iovec iov[2];
    for (int i = 0; i < nv; i++)
        iov[i] = (struct iovec){v[i].iov_base, v[i].iov_len};
    ssize_t n = readv(c->fd, iov, nv);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        evbuffer_commit_space(into, v, 0);
        return true;
    }
    if (n <= 0) {
        evbuffer_commit_space(into, v, 0);
        return false;
    }
    size_t left = (size_t)n;
    for (int i = 0; i < nv; i++) {
        size_t k = left < v[i].iov_len ? left : v[i].iov_len;
        v[i].iov_len = k;
        left -= k;
    }
    evbuffer_commit_space(into, v, nv);
    return true;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct fg_edge_conn *c = arg;
    edge_conn_enter(c);
    if (c->st == C_LINGER) {
        size_t before = evbuffer_get_length(c->in);
        bool alive = conn_read(c, c->in);
        c->lingered += evbuffer_get_length(c->in) - before;
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
        if (!alive || c->lingered >= FG_EDGE_LINGER_BYTES)
            conn_close(c);
    } else if (!conn_read(c, c->in)) {
        edge_conn_gone(c);
    } else {
        conn_process(c);
    }
    edge_conn_leave(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct fg_edge_conn *c = arg;
    edge_conn_enter(c);
    edge_flush(c);
    edge_conn_leave(c);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct fg_edge_conn *c = arg;
    edge_conn_enter(c);
    conn_process(c);
    edge_conn_leave(c);
}

/* The app's drained callback, run from the loop (edge_flush arms it). */
static void on_drained(evutil_socket_t fd, short what, void *arg)
{
    struct fg_edge_conn *c = arg;
    struct fg_edge_req *r = &c->req;
    edge_conn_enter(c);
    if (c->fd >= 0 && r->drained_cb && r->rs == R_STREAM)
        r->drained_cb(r, r->drained_arg);
    edge_conn_leave(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fg_edge_conn *c = arg;
    c->timer_on = false;
    edge_conn_enter(c);
    switch (c->st) {
    case C_HEAD:
    case C_BODY:
        c->e->stats.timeouts++;
        note(c->e, &(struct fg_edge_note){.kind = FG_EDGE_NOTE_TIMEOUT,
                                          .peer = c->ipstr,
                                          .body = c->st == C_BODY,
                                          .busy = c->busy && c->st == C_HEAD});
        /* a trickle is not owed an answer (nor a linger): close */
        req_fail_owned(&c->req);
        conn_close(c);
        break;
    case C_IDLE:
        if (c->fresh) {
            c->e->stats.timeouts++;
            note(c->e, &(struct fg_edge_note){
                           .kind = FG_EDGE_NOTE_TIMEOUT, .peer = c->ipstr, .busy = c->busy});
        }
        conn_close(c);
        break;
    case C_APP: /* a reply that could not be written for idle_timeout_ms */
        edge_conn_gone(c);
        break;
    default: conn_close(c);
    }
    edge_conn_leave(c);
}

/* ---------------- admission */

static void ip_of(const struct sockaddr *sa, socklen_t len, uint8_t ip[16], char *str, size_t n)
{
    memset(ip, 0, 16);
    snprintf(str, n, "local");
    if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s = (const void *)sa;
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &s->sin_addr, 4);
        inet_ntop(AF_INET, &s->sin_addr, str, (socklen_t)n);
    } else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s = (const void *)sa;
        memcpy(ip, &s->sin6_addr, 16);
        inet_ntop(AF_INET6, &s->sin6_addr, str, (socklen_t)n);
    }
}

/* Shed the oldest idle connection (of address ip, when given) with a 503. */
static bool shed_one(struct fg_edge *e, const uint8_t *ip, const char *by)
{
    struct fg_edge_conn *c = e->idle;
    while (c && ip && memcmp(c->ip, ip, 16))
        c = c->inext;
    if (!c)
        return false;
    e->stats.shed++;
    note(e, &(struct fg_edge_note){.kind = FG_EDGE_NOTE_SHED,
                                   .peer = c->ipstr,
                                   .by = by,
                                   .open_ms = now_ms(e) - c->opened_ms,
                                   .sent_any = !c->fresh});
    edge_conn_enter(c);
    req_begin(c);
    c->st = C_APP;
    c->close_after = true;
    edge_send_error(&c->req, 503, "too_many_connections",
                    "the server is at its connection limit; this idle connection is closed");
    conn_close(c);
    edge_conn_leave(c);
    return true;
}

static int take_slot(struct fg_edge *e, const uint8_t ip[16], const char *by)
{
    int rc = fg_edge_limits_take(e->limits, ip);
    /* only the global cap sheds: an address at its own cap is told 429 (it
     * can reuse or close its connections) rather than losing one */
    while (rc == 1 && shed_one(e, NULL, by))
        rc = fg_edge_limits_take(e->limits, ip);
    return rc;
}

static void conn_events(struct fg_edge_conn *c)
{
    struct event_base *b = c->e->base;
    event_assign(&c->rd, b, c->fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->wr, b, c->fd, EV_WRITE | EV_PERSIST, on_write, c);
    evtimer_assign(&c->timer, b, on_timer, c);
    event_assign(&c->resume, b, -1, 0, on_resume, c);
    event_assign(&c->drained, b, -1, 0, on_drained, c);
}

int fg_edge_accept(struct fg_edge *e, int fd, const struct sockaddr *peer, socklen_t len)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on non-TCP: fine */
    struct fg_edge_conn *c = conn_get(e);
    c->fd = fd;
    ip_of(peer, len, c->ip, c->ipstr, sizeof c->ipstr);
    conn_events(c);
    req_begin(c);
    c->opened_ms = now_ms(e);
    int rc = take_slot(e, c->ip, c->ipstr);
    c->busy = fg_edge_limits_busy(e->limits); /* counting this one */
    edge_conn_enter(c);
    if (rc) {
        e->stats.refused++;
        c->refusal = true;
        e->refusing++;
        bool per_ip = rc == 2;
        note(e, &(struct fg_edge_note){
                    .kind = FG_EDGE_NOTE_REFUSED, .peer = c->ipstr, .status = per_ip ? 429 : 503});
        if (e->refusing <= FG_EDGE_REFUSE_BACKLOG) {
            /* answered at its head, in the caller's dialect (head_complete) */
            c->refuse_status = per_ip ? 429 : 503;
            c->fresh = true;
            c->st = C_IDLE;
            reading(c, true);
            timer_arm(c, e->tv_header);
            edge_conn_leave(c);
            return 1;
        }
        /* Over the backlog nothing waits for a head; one already in the
         * socket (sent right behind the connect while this loop was busy,
         * as in a flood) is read now, once, and refused in its dialect at
         * its head like the others; with none, or part of one, the answer
         * goes at once with what that part tells (error_body). */
        c->refuse_status = per_ip ? 429 : 503;
        c->fresh = true;
        c->st = C_IDLE;
        if (conn_read(c, c->in))
            conn_process(c);
        if (c->fd >= 0 && !c->closing && c->req.rs == R_NONE) {
            c->st = C_APP;
            c->close_after = true;
            edge_send_error(&c->req, c->refuse_status, "too_many_connections",
                            per_ip ? "too many connections from this address"
                                   : "the server is at its connection limit");
            conn_close(c);
        }
        edge_conn_leave(c);
        return 1;
    }
    e->stats.accepted++;
    c->counted = true;
    c->fresh = true;
    c->st = C_IDLE;
    idle_push(c);
    reading(c, true);
    timer_arm(c, c->busy ? e->tv_header_busy : e->tv_header);
    edge_conn_leave(c);
    return 0;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    fg_edge_accept(arg, fd, sa, (socklen_t)len);
}

int fg_edge_listen(struct fg_edge *e, int listen_fd)
{
    FG_ASSERT(!e->listener);
    evutil_make_socket_nonblocking(listen_fd);
    e->listener = evconnlistener_new(e->base, on_accept, e, LEV_OPT_CLOSE_ON_FREE, -1, listen_fd);
    return e->listener ? 0 : -1;
}

/* ---------------- the edge */

static const struct timeval *common_tv(struct event_base *b, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return event_base_init_common_timeout(b, &tv);
}

struct fg_edge *fg_edge_new(struct event_base *base, const struct fg_edge_cfg *cfg,
                            struct fg_edge_limits *limits, const struct fg_edge_hooks *hooks)
{
    FG_ASSERT(cfg->max_headers > 0 && cfg->max_header_bytes > 0 && hooks->request);
    struct fg_edge *e = fg_xcalloc(1, sizeof *e);
    e->base = base;
    e->cfg = *cfg;
    e->limits = limits;
    e->hooks = *hooks;
    e->tv_header = common_tv(base, cfg->header_timeout_ms);
    e->tv_header_busy =
        common_tv(base, cfg->header_timeout_busy_ms > 0 ? cfg->header_timeout_busy_ms
                                                        : cfg->header_timeout_ms);
    e->tv_body = common_tv(base, cfg->body_timeout_ms);
    e->tv_idle = common_tv(base, cfg->idle_timeout_ms);
    e->tv_linger = common_tv(base, cfg->linger_ms);
    return e;
}

void fg_edge_free(struct fg_edge *e)
{
    if (!e)
        return;
    if (e->listener)
        evconnlistener_free(e->listener);
    while (e->all) {
        struct fg_edge_conn *c = e->all;
        FG_ASSERT(c->depth == 0);
        conn_shut_fd(c);
        c->req.handed = false; /* the app ended every request (contract) */
        c->closing = true;
        conn_release(c);
    }
    while (e->pool) {
        struct fg_edge_conn *c = e->pool;
        e->pool = c->next;
        conn_destroy(c);
    }
    free(e);
}

void fg_edge_drain(struct fg_edge *e)
{
    e->draining = true;
    if (e->listener)
        evconnlistener_free(e->listener);
    e->listener = NULL;
    /* idle ones (fresh or between requests) go silently, as at idle_timeout */
    while (e->idle)
        conn_close(e->idle);
}

int fg_edge_open(const struct fg_edge *e)
{
    return e->open;
}

struct fg_edge_stats fg_edge_stats(const struct fg_edge *e)
{
    return e->stats;
}

/* ---------------- the request's accessors */

const struct fg_reqhead *fg_edge_req_head(const struct fg_edge_req *r)
{
    return &r->h;
}

enum fg_edge_method fg_edge_req_method(const struct fg_edge_req *r)
{
    if (!r->head_done)
        return FG_EDGE_OTHER;
    switch (r->c->p.method) {
    case HTTP_GET: return FG_EDGE_GET;
    case HTTP_HEAD: return FG_EDGE_HEAD;
    case HTTP_POST: return FG_EDGE_POST;
    case HTTP_PUT: return FG_EDGE_PUT;
    case HTTP_DELETE: return FG_EDGE_DELETE;
    case HTTP_PATCH: return FG_EDGE_PATCH;
    case HTTP_OPTIONS: return FG_EDGE_OPTIONS;
    default: return FG_EDGE_OTHER;
    }
}

bool fg_edge_req_head_done(const struct fg_edge_req *r)
{
    return r->head_done;
}

size_t fg_edge_req_nheaders(const struct fg_edge_req *r)
{
    return r->head_done ? (size_t)r->nh : 0;
}

void fg_edge_req_header_at(const struct fg_edge_req *r, size_t i, struct fg_span *name,
                           struct fg_span *value)
{
    FG_ASSERT(i < fg_edge_req_nheaders(r));
    const struct edge_hdr *x = &r->hdrs[i];
    *name = (struct fg_span){r->hbuf + x->no, x->nl};
    *value = span_trim(r->hbuf + x->vo, x->vl);
}

/* The lookups below run ~18 times per call (auth, dialect, forwarded
 * headers): the name's length is taken once, not once per header. */
static bool name_is_n(const char *p, size_t n, const char *lit, size_t litn)
{
    return n == litn && !strncasecmp(p, lit, n);
}

struct fg_span fg_edge_req_header(const struct fg_edge_req *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < fg_edge_req_nheaders(r); i++) {
        const struct edge_hdr *x = &r->hdrs[i];
        if (name_is_n(r->hbuf + x->no, x->nl, name, nl))
            return span_trim(r->hbuf + x->vo, x->vl);
    }
    return (struct fg_span){NULL, 0};
}

struct fg_span fg_edge_req_header_partial(const struct fg_edge_req *r, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; r->hbuf && i < r->nh; i++) {
        const struct edge_hdr *x = &r->hdrs[i];
        if (name_is_n(r->hbuf + x->no, x->nl, name, nl))
            return span_trim(r->hbuf + x->vo, x->vl);
    }
    return (struct fg_span){NULL, 0};
}

int fg_edge_req_minor(const struct fg_edge_req *r)
{
    return r->minor;
}

bool fg_edge_req_keepalive(const struct fg_edge_req *r)
{
    return r->keepalive;
}

struct evbuffer *fg_edge_req_body(struct fg_edge_req *r)
{
    return r->body;
}

struct fg_arena *fg_edge_req_arena(struct fg_edge_req *r)
{
    return &r->arena;
}

const char *fg_edge_req_peer(const struct fg_edge_req *r)
{
    return r->c->ipstr;
}

void fg_edge_req_set_body_cap(struct fg_edge_req *r, uint64_t cap)
{
    FG_ASSERT(r->in_head_hook);
    r->body_cap = cap;
}

void fg_edge_req_set_sink(struct fg_edge_req *r,
                          void (*sink)(struct fg_edge_req *, const char *, size_t, void *),
                          void *arg)
{
    FG_ASSERT(r->in_head_hook);
    r->sink = sink;
    r->sink_arg = arg;
}

void fg_edge_req_on_gone(struct fg_edge_req *r, void (*cb)(struct fg_edge_req *, void *), void *arg)
{
    r->gone_cb = cb;
    r->gone_arg = arg;
}

void fg_edge_req_on_end(struct fg_edge_req *r, void (*cb)(struct fg_edge_req *, void *), void *arg)
{
    r->end_cb = cb;
    r->end_arg = arg;
}

void fg_edge_req_set_app(struct fg_edge_req *r, void *p)
{
    r->app = p;
}

void *fg_edge_req_app(const struct fg_edge_req *r)
{
    return r->app;
}

bool fg_edge_req_gone(const struct fg_edge_req *r)
{
    return r->gone;
}
