/* httpclient.c — see httpclient.h. */
#include "httpclient.h"

#include "call.h"
#include "conn.h"
#include "relay.h"
#include "reply.h"
#include "server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#define CLOSE_WATCH_DELAY_MS 50

struct httpclient {
    struct fg_call *c;
    struct evhttp_request *req;    /* NULL once the peer is gone */
    struct evhttp_request *orphan; /* failed connection's request, ours to free */
    struct event *close_ev;        /* peer hang-up watcher */
    void (*drained)(void *arg);    /* the last chunk's drained callback */
    void *drained_arg;
};

static struct evkeyvalq *out_headers(struct httpclient *x)
{
    return x->req ? evhttp_request_get_output_headers(x->req) : NULL;
}

static void add_header(void *ctx, const char *name, const char *value)
{
    struct evkeyvalq *h = out_headers(ctx);
    if (h)
        evhttp_add_header(h, name, value);
}

static void remove_header(void *ctx, const char *name)
{
    struct evkeyvalq *h = out_headers(ctx);
    if (h)
        evhttp_remove_header(h, name);
}

static const char *find_header(void *ctx, const char *name)
{
    struct evkeyvalq *h = out_headers(ctx);
    return h ? evhttp_find_header(h, name) : NULL;
}

static void clear_headers(void *ctx)
{
    struct evkeyvalq *h = out_headers(ctx);
    if (h)
        evhttp_clear_headers(h);
}

static void send_whole(void *ctx, int status, struct evbuffer *body)
{
    struct httpclient *x = ctx;
    if (!x->req)
        return;
    /* a HEAD answer carries no body, or keep-alive loses sync */
    int head = evhttp_request_get_command(x->req) == EVHTTP_REQ_HEAD;
    evhttp_send_reply(x->req, status, fg_httpstatus_reason(status), head ? NULL : body);
}

static void start(void *ctx, int status)
{
    struct httpclient *x = ctx;
    if (x->req)
        evhttp_send_reply_start(x->req, status, fg_httpstatus_reason(status));
}

static void on_drained(struct evhttp_connection *evcon, void *arg)
{
    struct httpclient *x = arg;
    if (x->drained)
        x->drained(x->drained_arg);
}

static void chunk(void *ctx, struct evbuffer *data, void (*drained)(void *arg), void *arg)
{
    struct httpclient *x = ctx;
    if (!x->req)
        return;
    if (!drained) {
        evhttp_send_reply_chunk(x->req, data);
        return;
    }
    x->drained = drained;
    x->drained_arg = arg;
    evhttp_send_reply_chunk_with_cb(x->req, data, on_drained, x);
}

static size_t backlog(void *ctx)
{
    struct httpclient *x = ctx;
    struct evhttp_connection *evcon = x->req ? evhttp_request_get_connection(x->req) : NULL;
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static void end(void *ctx)
{
    struct httpclient *x = ctx;
    if (x->req)
        evhttp_send_reply_end(x->req);
}

static void release(void *ctx)
{
    struct httpclient *x = ctx;
    if (x->req) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(x->req);
        if (evcon)
            fg_conn_set_closecb(evcon, NULL, NULL);
        x->req = NULL;
    }
    if (x->close_ev)
        event_free(x->close_ev);
    x->close_ev = NULL;
    if (x->orphan)
        evhttp_request_free(x->orphan);
    x->orphan = NULL;
}

static const struct fg_client_ops http_ops = {
    .add_header = add_header,
    .remove_header = remove_header,
    .find_header = find_header,
    .clear_headers = clear_headers,
    .send = send_whole,
    .start = start,
    .chunk = chunk,
    .backlog = backlog,
    .end = end,
    .release = release,
};

/* The client went away (or the connection failed).  Two cases: when the
 * connection failed on its own (EOF, timeout) libevent has already taken
 * our unfinished request off it and left it to us to free; when the
 * connection is being freed (on_peer_closed, shutdown) the request is still
 * on it and libevent frees it after this returns. */
static void on_client_close(struct evhttp_connection *evcon, void *arg)
{
    struct httpclient *x = arg;
    /* ours to free: keep it (and the body bytes in it) until the call ends */
    if (x->req && !evhttp_request_get_connection(x->req))
        x->orphan = x->req;
    x->req = NULL;
    fg_call_client_gone(x->c);
}

/* The peer hung up while we were working: drop the connection; its close
 * callback ends the call. */
static void on_peer_closed(evutil_socket_t fd, short what, void *arg)
{
    struct httpclient *x = arg;
    if (x->req)
        evhttp_connection_free(evhttp_request_get_connection(x->req));
}

static void watch_peer(evutil_socket_t unused, short what, void *arg)
{
    struct httpclient *x = arg;
    if (!x->req)
        return;
    struct evhttp_connection *evcon = evhttp_request_get_connection(x->req);
    if (!evcon)
        return;
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    event_free(x->close_ev);
    x->close_ev = event_new(x->c->w->base, fd, EV_CLOSED, on_peer_closed, x);
    event_add(x->close_ev, NULL);
}

void fg_httpclient_attach(struct fg_call *c, struct evhttp_request *req)
{
    struct httpclient *x = fg_arena_alloc(&c->arena, sizeof *x);
    *x = (struct httpclient){.c = c, .req = req};
    c->client = (struct fg_client){.ops = &http_ops, .ctx = x};
    fg_conn_set_closecb(evhttp_request_get_connection(req), on_client_close, x);
    /* evhttp stops reading while a request is handled, so it would notice a
     * departed client only on its next write.  Calls that outlive a short
     * delay get an EV_CLOSED (EPOLLRDHUP) watcher that notices at once;
     * quick calls don't pay its two epoll_ctl calls. */
    x->close_ev = evtimer_new(c->w->base, watch_peer, x);
    struct timeval tv = {0, CLOSE_WATCH_DELAY_MS * 1000};
    event_add(x->close_ev, &tv);
}

struct evhttp_request *fg_httpclient_req(const struct fg_call *c)
{
    if (c->client.ops != &http_ops || c->client.gone)
        return NULL;
    return ((struct httpclient *)c->client.ctx)->req;
}
