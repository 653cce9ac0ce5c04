/* reply.h — writing responses to the client in its dialect.
 *
 * Contract: every function here takes an edge request (edge.h) that has
 * not been answered yet (never NULL) and makes its terminal reply.  These are the answers of server/ itself (routing,
 * auth, the admin APIs); a call answers through its client (call/client.h,
 * server/httpclient.h). */
#ifndef FRUGAL_REPLY_H
#define FRUGAL_REPLY_H

#include "err.h"
#include "httpstatus.h"

#include <jansson.h>
#include <stddef.h>

struct fg_edge_req;
struct evbuffer;
struct fg_dialect_ops;

/* Send e as a complete JSON error reply in dialect d. */
void fg_reply_error(struct fg_edge_req *req, const struct fg_dialect_ops *d,
                    const struct fg_err *e);
/* Send a complete JSON reply (body is drained). */
void fg_reply_json(struct fg_edge_req *req, int status, struct evbuffer *body);
/* Send v as a complete JSON reply, dumped with jansson flags. */
void fg_reply_json_value(struct fg_edge_req *req, int status, json_t *v, size_t flags);

#endif
