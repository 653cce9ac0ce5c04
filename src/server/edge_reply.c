/* edge_reply.c — the edge's reply writer (edge.h): status line and headers
 * built once in the request's arena.  A whole reply with nothing queued
 * before it goes out in one sendmsg of the head and the body's own memory;
 * what the socket does not take is queued: copied, referenced
 * (evbuffer_add_reference) or moved (evbuffer_add_buffer).  Queued bytes
 * and streams are written with writev of the queued chains, tried at once. */
#include "edge.h"

#include "assert.h"
#include "decimal.h"
#include "edge_internal.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

const char *edge_date(struct fg_edge *e)
{
    struct timeval tv;
    event_base_gettimeofday_cached(e->base, &tv);
    if (tv.tv_sec != e->date_sec) {
        struct tm tm;
        time_t t = tv.tv_sec;
        gmtime_r(&t, &tm);
        strftime(e->date, sizeof e->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        e->date_sec = tv.tv_sec;
    }
    return e->date;
}

/* ---------------- writing */

int edge_flush(struct fg_edge_conn *c)
{
    struct fg_edge_req *r = &c->req;
    if (c->fd < 0)
        return -1;
    size_t before = evbuffer_get_length(c->out);
    while (evbuffer_get_length(c->out)) {
        int n = evbuffer_write(c->out, c->fd);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n <= 0) {
            edge_conn_gone(c);
            return -1;
        }
    }
    size_t after = evbuffer_get_length(c->out);
    edge_conn_wait_write(c, after > 0);
    edge_conn_timer(c, after > 0);
    if (r->drained_cb && before > r->drained_below && after <= r->drained_below)
        event_active(&c->drained, EV_TIMEOUT, 0); /* from the loop, not inside a write */
    if (!after && r->rs == R_DONE && c->st != C_LINGER && c->st != C_IDLE)
        edge_conn_flushed(c);
    return 0;
}

/* ---------------- the head of a reply */

static bool reserved(const char *name)
{
    return !strcasecmp(name, "content-length") || !strcasecmp(name, "transfer-encoding") ||
           !strcasecmp(name, "connection") || !strcasecmp(name, "date");
}

static bool clean_value(const char *v)
{
    for (; *v; v++)
        if (*v == '\r' || *v == '\n')
            return false;
    return true;
}

void fg_edge_resp_header(struct fg_edge_req *r, const char *name, const char *value)
{
    /* framing is the edge's; a CR or LF would split the reply */
    if (!fg_edge_frame_token(name, strlen(name)) || reserved(name) || !clean_value(value))
        return;
    if (r->nrh == r->caprh) {
        int cap = r->caprh ? r->caprh * 2 : 8;
        struct edge_rhdr *n = fg_arena_alloc(&r->arena, sizeof *n * (size_t)cap);
        if (r->nrh)
            memcpy(n, r->rh, sizeof *n * (size_t)r->nrh);
        r->rh = n;
        r->caprh = cap;
    }
    r->rh[r->nrh++] =
        (struct edge_rhdr){fg_arena_strdup(&r->arena, name), fg_arena_strdup(&r->arena, value)};
}

void fg_edge_resp_header_remove(struct fg_edge_req *r, const char *name)
{
    int k = 0;
    for (int i = 0; i < r->nrh; i++)
        if (strcasecmp(r->rh[i].name, name))
            r->rh[k++] = r->rh[i];
    r->nrh = k;
}

const char *fg_edge_resp_header_find(const struct fg_edge_req *r, const char *name)
{
    for (int i = 0; i < r->nrh; i++)
        if (!strcasecmp(r->rh[i].name, name))
            return r->rh[i].value;
    return NULL;
}

void fg_edge_resp_clear_headers(struct fg_edge_req *r)
{
    r->nrh = 0;
}

static bool no_body_status(int status)
{
    return status < 200 || status == 204 || status == 304;
}

static void put(char **w, const char *s, size_t n)
{
    memcpy(*w, s, n);
    *w += n;
}

#define PUT(w, lit) put(w, lit, sizeof lit - 1)

/* Status line and headers, built in the arena; len < 0: a chunked stream. */
static size_t build_head(struct fg_edge_req *r, int status, int64_t len, char **out)
{
    struct fg_edge_conn *c = r->c;
    bool stream = len < 0;
    if (!r->keepalive || !r->body_done || (stream && r->minor == 0) || c->e->draining)
        c->close_after = true;
    const char *reason = http_status_str((enum http_status)status);
    const char *date = edge_date(c->e);
    size_t need = 128 + strlen(reason) + strlen(date);
    for (int i = 0; i < r->nrh; i++)
        need += strlen(r->rh[i].name) + strlen(r->rh[i].value) + 4;
    char *buf = fg_arena_alloc(&r->arena, need), *w = buf;
    PUT(&w, "HTTP/1.1 ");
    w += fg_decimal_u64_pad(w, (uint64_t)(status % 1000), 3);
    *w++ = ' ';
    put(&w, reason, strlen(reason));
    PUT(&w, "\r\nDate: ");
    put(&w, date, strlen(date));
    PUT(&w, "\r\n");
    for (int i = 0; i < r->nrh; i++) {
        put(&w, r->rh[i].name, strlen(r->rh[i].name));
        PUT(&w, ": ");
        put(&w, r->rh[i].value, strlen(r->rh[i].value));
        PUT(&w, "\r\n");
    }
    if (stream && r->minor == 1)
        PUT(&w, "Transfer-Encoding: chunked\r\n");
    else if (!stream && !no_body_status(status)) {
        FG_ASSERT(len >= 0);
        PUT(&w, "Content-Length: ");
        w += fg_decimal_u64(w, (uint64_t)len);
        PUT(&w, "\r\n");
    }
    if (c->close_after)
        PUT(&w, "Connection: close\r\n");
    else if (r->minor == 0)
        PUT(&w, "Connection: keep-alive\r\n");
    PUT(&w, "\r\n");
    FG_ASSERT((size_t)(w - buf) <= need);
    *out = buf;
    return (size_t)(w - buf);
}

static void write_head(struct fg_edge_req *r, int status, int64_t len)
{
    char *h;
    size_t n = build_head(r, status, len, &h);
    evbuffer_add(r->c->out, h, n);
}

/* A whole reply's first write, straight from the arena and the body's
 * memory when nothing is queued before it (the common case: no evbuffer
 * chain is allocated).  Returns the bytes written; the caller queues the
 * rest.  A failed write writes nothing here: the queued rest meets the
 * error in edge_flush. */
static size_t write_direct(struct fg_edge_conn *c, const char *head, size_t hn,
                           const struct evbuffer_iovec *body, int nb)
{
    if (evbuffer_get_length(c->out) || c->fd < 0)
        return 0;
    struct iovec iov[9] = {{(void *)head, hn}};
    int n = 1;
    for (int i = 0; i < nb && n < 9; i++)
        if (body[i].iov_len)
            iov[n++] = (struct iovec){body[i].iov_base, body[i].iov_len};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    return k > 0 ? (size_t)k : 0;
}

/* The caller's cleanup, for a referenced body queued from an offset. */
struct ref_rest {
    const void *body;
    size_t len;
    void (*cleanup)(const void *, size_t, void *);
    void *arg;
};

static void ref_rest_done(const void *data, size_t len, void *extra)
{
    struct ref_rest *x = extra;
    x->cleanup(x->body, x->len, x->arg);
}

/* Common start of a reply; false when the peer is gone (r then ends if
 * this was the terminal call). */
static bool reply_begin(struct fg_edge_req *r, bool terminal)
{
    FG_ASSERT(r->rs == R_NONE);
    if (r->c->fd >= 0)
        return true; /* (an edge-owned request that failed is still answered) */
    if (terminal) {
        r->rs = R_DONE;
        edge_conn_ended(r->c);
    } else {
        r->rs = R_STREAM;
        r->handed = true;
    }
    return false;
}

/* Write what is queued; the terminal call's flush may release c. */
static int reply_flush(struct fg_edge_req *r)
{
    struct fg_edge_conn *c = r->c;
    edge_conn_enter(c);
    int rc = edge_flush(c);
    edge_conn_leave(c);
    return rc;
}

/* A whole reply of len body bytes at body (copied, or referenced until
 * cleanup when cleanup is set). */
static int reply_mem(struct fg_edge_req *r, int status, const void *body, size_t len,
                     void (*cleanup)(const void *, size_t, void *), void *arg)
{
    if (!reply_begin(r, true)) {
        if (cleanup)
            cleanup(body, len, arg);
        return -1;
    }
    struct fg_edge_conn *c = r->c;
    bool none = no_body_status(status);
    char *h;
    size_t hn = build_head(r, status, none ? 0 : (int64_t)len, &h);
    size_t bn = !r->is_head && !none ? len : 0;
    struct evbuffer_iovec v = {(void *)body, bn};
    size_t done = write_direct(c, h, hn, &v, 1);
    if (done < hn)
        evbuffer_add(c->out, h + done, hn - done);
    size_t bdone = done > hn ? done - hn : 0;
    const char *rest = (const char *)body + bdone;
    if (bdone < bn && !cleanup) {
        evbuffer_add(c->out, rest, bn - bdone);
    } else if (bdone < bn) {
        struct ref_rest *x = fg_arena_alloc(&r->arena, sizeof *x);
        *x = (struct ref_rest){body, len, cleanup, arg};
        evbuffer_add_reference(c->out, rest, bn - bdone, ref_rest_done, x);
    } else if (cleanup) {
        cleanup(body, len, arg); /* written (or not to be sent) */
    }
    r->rs = R_DONE;
    return reply_flush(r);
}

int fg_edge_reply(struct fg_edge_req *r, int status, const void *body, size_t len)
{
    return reply_mem(r, status, body, len, NULL, NULL);
}

int fg_edge_reply_ref(struct fg_edge_req *r, int status, const void *body, size_t len,
                      void (*cleanup)(const void *, size_t, void *), void *arg)
{
    return reply_mem(r, status, body, len, cleanup, arg);
}

int fg_edge_reply_buf(struct fg_edge_req *r, int status, struct evbuffer *body)
{
    size_t len = body ? evbuffer_get_length(body) : 0;
    if (!reply_begin(r, true)) {
        if (body)
            evbuffer_drain(body, len);
        return -1;
    }
    struct fg_edge_conn *c = r->c;
    bool none = no_body_status(status);
    char *h;
    size_t hn = build_head(r, status, none ? 0 : (int64_t)len, &h);
    bool send = !r->is_head && !none && len;
    struct evbuffer_iovec v[8];
    int nv = send ? evbuffer_peek(body, -1, NULL, v, 8) : 0;
    size_t done = write_direct(c, h, hn, v, nv < 8 ? nv : 8);
    if (done < hn)
        evbuffer_add(c->out, h + done, hn - done);
    if (send) {
        evbuffer_drain(body, done > hn ? done - hn : 0);
        evbuffer_add_buffer(c->out, body); /* the rest: chains moved, not copied */
    } else if (body) {
        evbuffer_drain(body, len);
    }
    r->rs = R_DONE;
    return reply_flush(r);
}

int fg_edge_stream_start(struct fg_edge_req *r, int status)
{
    if (!reply_begin(r, false))
        return -1;
    r->handed = true; /* the app ends it with fg_edge_stream_end */
    write_head(r, status, -1);
    r->rs = R_STREAM;
    return reply_flush(r);
}

static int stream_ok(struct fg_edge_req *r)
{
    FG_ASSERT(r->rs == R_STREAM);
    return r->c->fd >= 0 ? 0 : -1;
}

int fg_edge_stream_write(struct fg_edge_req *r, const void *p, size_t n)
{
    if (stream_ok(r) < 0)
        return -1;
    if (!n || r->is_head)
        return 0; /* an empty chunk would end the stream */
    struct evbuffer *out = r->c->out;
    if (r->minor == 1) {
        char hx[24];
        int k = snprintf(hx, sizeof hx, "%zx\r\n", n);
        evbuffer_add(out, hx, (size_t)k);
    }
    evbuffer_add(out, p, n);
    if (r->minor == 1)
        evbuffer_add(out, "\r\n", 2);
    return reply_flush(r);
}

int fg_edge_stream_write_buf(struct fg_edge_req *r, struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    if (stream_ok(r) < 0 || !n || r->is_head) {
        evbuffer_drain(b, n);
        return stream_ok(r);
    }
    struct evbuffer *out = r->c->out;
    if (r->minor == 1) {
        char hx[24];
        int k = snprintf(hx, sizeof hx, "%zx\r\n", n);
        evbuffer_add(out, hx, (size_t)k);
    }
    evbuffer_add_buffer(out, b);
    if (r->minor == 1)
        evbuffer_add(out, "\r\n", 2);
    return reply_flush(r);
}

int fg_edge_stream_end(struct fg_edge_req *r)
{
    FG_ASSERT(r->rs == R_STREAM);
    r->rs = R_DONE;
    if (r->c->fd < 0) {
        edge_conn_ended(r->c);
        return -1;
    }
    if (r->minor == 1 && !r->is_head)
        evbuffer_add(r->c->out, "0\r\n\r\n", 5);
    return reply_flush(r);
}

size_t fg_edge_queued(const struct fg_edge_req *r)
{
    return r->c->fd >= 0 ? evbuffer_get_length(r->c->out) : 0;
}

void fg_edge_on_drained(struct fg_edge_req *r, size_t below,
                        void (*cb)(struct fg_edge_req *, void *), void *arg)
{
    r->drained_cb = cb;
    r->drained_below = below;
    r->drained_arg = arg;
}

/* ---------------- answers of the edge's own */

int edge_send_error(struct fg_edge_req *r, int status, const char *code, const char *msg)
{
    struct fg_edge *e = r->c->e;
    struct evbuffer *b = evbuffer_new();
    FG_ASSERT(b);
    const char *ctype = NULL;
    if (e->hooks.error_body)
        ctype = e->hooks.error_body(r, status, code, msg, b, e->hooks.arg);
    if (!ctype) {
        evbuffer_drain(b, evbuffer_get_length(b));
        evbuffer_add_printf(b, "{\"error\":{\"type\":\"%s\",\"message\":\"%s\"}}", code, msg);
        ctype = "application/json";
    }
    r->nrh = 0;
    fg_edge_resp_header(r, "Content-Type", ctype);
    r->c->close_after = true;
    int rc = fg_edge_reply_buf(r, status, b);
    evbuffer_free(b);
    return rc;
}
