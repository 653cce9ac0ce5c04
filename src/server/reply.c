/* reply.c — see reply.h. */
#include "reply.h"

#include "provider.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

void fg_reply_json(struct evhttp_request *req, int status, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", "application/json");
    /* a HEAD answer carries no body, or keep-alive loses sync */
    int head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
    evhttp_send_reply(req, status, fg_httpstatus_reason(status), head ? NULL : body);
}

void fg_reply_error(struct evhttp_request *req, const struct fg_dialect_ops *d,
                    const struct fg_err *e)
{
    struct evbuffer *b = evbuffer_new();
    d->error_body(e, b);
    /* our own permanent errors must not be retried by the SDKs */
    if (e->status < 500 && e->status != 429 && e->status != 408)
        evhttp_add_header(evhttp_request_get_output_headers(req), "x-should-retry", "false");
    fg_reply_json(req, e->status, b);
    evbuffer_free(b);
}

void fg_reply_json_value(struct evhttp_request *req, int status, json_t *v, size_t flags)
{
    char *s = json_dumps(v, flags);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, s, strlen(s));
    fg_reply_json(req, status, b);
    evbuffer_free(b);
    free(s);
}
