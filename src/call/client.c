/* client.c — see client.h: a call's answers over its client. */
#include "client.h"

#include "call.h"
#include "defer.h"
#include "provider.h"

#include <event2/buffer.h>

void fg_client_header(struct fg_call *c, const char *name, const char *value)
{
    if (fg_client_live(&c->client))
        c->client.ops->add_header(c->client.ctx, name, value);
}

void fg_client_frugal_headers(struct fg_call *c)
{
    struct fg_client *cl = &c->client;
    if (!fg_client_live(cl) || cl->ops->find_header(cl->ctx, "x-frugal-request-id"))
        return; /* gone, or added already on this attempt */
    cl->ops->add_header(cl->ctx, "x-frugal-request-id", c->id);
    if (c->serve.model)
        cl->ops->add_header(cl->ctx, "x-frugal-model", c->serve.model->name);
    cl->ops->add_header(cl->ctx, "x-frugal-route", c->rt.route ? c->rt.route : "fixed");
    cl->ops->add_header(cl->ctx, "x-frugal-cache", c->cache.status ? c->cache.status : "bypass");
    const char *defer = fg_defer_header(c);
    if (defer)
        cl->ops->add_header(cl->ctx, "x-frugal-defer", defer);
}

void fg_client_send_json(struct fg_call *c, int status, struct evbuffer *body)
{
    struct fg_client *cl = &c->client;
    if (!fg_client_live(cl))
        return;
    cl->ops->remove_header(cl->ctx, "Content-Type");
    cl->ops->add_header(cl->ctx, "Content-Type", "application/json");
    cl->ops->send(cl->ctx, status, body);
}

void fg_client_send_error(struct fg_call *c, bool with_headers)
{
    const struct fg_err *e = &c->err;
    if (!fg_client_live(&c->client))
        return;
    if (with_headers)
        fg_client_frugal_headers(c);
    struct evbuffer *b = evbuffer_new();
    c->in->error_body(e, b);
    /* our own permanent errors must not be retried by the SDKs */
    if (e->status < 500 && e->status != 429 && e->status != 408)
        fg_client_header(c, "x-should-retry", "false");
    fg_client_send_json(c, e->status, b);
    evbuffer_free(b);
}
