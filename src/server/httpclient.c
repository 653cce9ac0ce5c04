/* httpclient.c — see httpclient.h. */
#include "httpclient.h"

#include "assert.h"
#include "call.h"
#include "edge.h"
#include "relay.h"

#include <event2/buffer.h>

enum pending { P_NONE, P_SEND, P_END };

struct httpclient {
    struct fg_call *c;
    struct fg_edge_req *r; /* until release */
    enum pending pending;  /* the terminal call release makes */
    bool started;          /* start(): a stream, ended by fg_edge_stream_end */
    int status;
    struct evbuffer *body;      /* send()'s body, kept until release */
    void (*drained)(void *arg); /* the last chunk's drained callback */
    void *drained_arg;
};

static void add_header(void *ctx, const char *name, const char *value)
{
    struct httpclient *x = ctx;
    fg_edge_resp_header(x->r, name, value);
}

static void remove_header(void *ctx, const char *name)
{
    struct httpclient *x = ctx;
    fg_edge_resp_header_remove(x->r, name);
}

static const char *find_header(void *ctx, const char *name)
{
    struct httpclient *x = ctx;
    return fg_edge_resp_header_find(x->r, name);
}

static void clear_headers(void *ctx)
{
    struct httpclient *x = ctx;
    fg_edge_resp_clear_headers(x->r);
}

static void send_whole(void *ctx, int status, struct evbuffer *body)
{
    struct httpclient *x = ctx;
    FG_ASSERT(x->pending == P_NONE && !x->started);
    x->pending = P_SEND;
    x->status = status;
    if (body && evbuffer_get_length(body)) {
        x->body = evbuffer_new();
        FG_ASSERT(x->body);
        evbuffer_add_buffer(x->body, body); /* chains moved, not copied */
    }
}

static void start(void *ctx, int status)
{
    struct httpclient *x = ctx;
    x->started = true;
    fg_edge_stream_start(x->r, status);
}

static void on_drained(struct fg_edge_req *r, void *arg)
{
    struct httpclient *x = arg;
    void (*cb)(void *) = x->drained;
    x->drained = NULL;
    if (cb)
        cb(x->drained_arg);
}

static void chunk(void *ctx, struct evbuffer *data, void (*drained)(void *arg), void *arg)
{
    struct httpclient *x = ctx;
    x->drained = drained;
    x->drained_arg = arg;
    if (drained)
        fg_edge_on_drained(x->r, 0, on_drained, x);
    fg_edge_stream_write_buf(x->r, data);
}

static size_t backlog(void *ctx)
{
    struct httpclient *x = ctx;
    return fg_edge_queued(x->r);
}

static void end(void *ctx)
{
    struct httpclient *x = ctx;
    FG_ASSERT(x->pending == P_NONE);
    x->pending = P_END;
}

static void release(void *ctx)
{
    struct httpclient *x = ctx;
    struct fg_edge_req *r = x->r;
    if (!r)
        return;
    x->r = NULL;
    fg_edge_req_on_gone(r, NULL, NULL);
    if (x->pending == P_END || x->started) {
        fg_edge_stream_end(r); /* a stream cut short ends here too */
    } else if (x->pending == P_SEND) {
        fg_edge_reply_buf(r, x->status, x->body);
    } else {
        /* no answer (a cut call whose peer left, or a bug): the terminal
         * call frees r; a peer still there learns that the call failed */
        static const char msg[] = "{\"error\":{\"type\":\"api_error\",\"message\":\"the call "
                                  "ended without an answer\"}}";
        fg_edge_reply(r, 500, msg, sizeof msg - 1);
    }
    if (x->body)
        evbuffer_free(x->body);
    x->body = NULL;
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

static void on_gone(struct fg_edge_req *r, void *arg)
{
    struct httpclient *x = arg;
    fg_call_client_gone(x->c);
}

void fg_httpclient_attach(struct fg_call *c, struct fg_edge_req *r)
{
    struct httpclient *x = fg_arena_alloc(&c->arena, sizeof *x);
    *x = (struct httpclient){.c = c, .r = r};
    c->client = (struct fg_client){.ops = &http_ops, .ctx = x};
    fg_edge_req_on_gone(r, on_gone, x);
}

struct fg_edge_req *fg_httpclient_req(const struct fg_call *c)
{
    if (c->client.ops != &http_ops)
        return NULL;
    return ((struct httpclient *)c->client.ctx)->r;
}
