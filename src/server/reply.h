/* reply.h — writing responses to the client in its dialect.
 *
 * Contract: every function here takes a live evhttp_request (never NULL) and
 * completes its reply.  These are the answers of server/ itself (routing,
 * auth, the admin APIs); a call answers through its client (call/client.h,
 * server/httpclient.h). */
#ifndef FRUGAL_REPLY_H
#define FRUGAL_REPLY_H

#include "err.h"
#include "httpstatus.h"

#include <jansson.h>
#include <stddef.h>

struct evhttp_request;
struct evbuffer;
struct fg_dialect_ops;

/* Send e as a complete JSON error reply in dialect d. */
void fg_reply_error(struct evhttp_request *req, const struct fg_dialect_ops *d,
                    const struct fg_err *e);
/* Send a complete JSON reply (body is drained). */
void fg_reply_json(struct evhttp_request *req, int status, struct evbuffer *body);
/* Send v as a complete JSON reply, dumped with jansson flags. */
void fg_reply_json_value(struct evhttp_request *req, int status, json_t *v, size_t flags);

#endif
