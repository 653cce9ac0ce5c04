/* reply.c — see reply.h. */
#include "reply.h"

#include "provider.h"

#include <event2/buffer.h>
#include "edge.h"
#include "edgeq.h"
#include <stdlib.h>
#include <string.h>

void fg_reply_json(struct fg_edge_req *req, int status, struct evbuffer *body)
{
    struct fg_edge_req *h = req;
    fg_edge_resp_header_remove(h, "Content-Type");
    fg_edge_resp_header(h, "Content-Type", "application/json");
    /* a HEAD answer carries no body, or keep-alive loses sync */
    int head = fg_edge_req_method(req) == FG_EDGE_HEAD;
    fg_edge_reply_buf(req, status, head ? NULL : body);
}

void fg_reply_error(struct fg_edge_req *req, const struct fg_dialect_ops *d, const struct fg_err *e)
{
    struct evbuffer *b = evbuffer_new();
    d->error_body(e, b);
    /* our own permanent errors must not be retried by the SDKs */
    if (e->status < 500 && e->status != 429 && e->status != 408)
        fg_edge_resp_header(req, "x-should-retry", "false");
    fg_reply_json(req, e->status, b);
    evbuffer_free(b);
}

void fg_reply_json_value(struct fg_edge_req *req, int status, json_t *v, size_t flags)
{
    char *s = json_dumps(v, flags);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, s, strlen(s));
    fg_reply_json(req, status, b);
    evbuffer_free(b);
    free(s);
}
