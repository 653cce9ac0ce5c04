/* reply.h — writing responses to the client in its dialect.
 *
 * Contract: every function here takes a live evhttp_request (never NULL) and
 * completes or continues its reply; none of them frees the call. */
#ifndef FRUGAL_REPLY_H
#define FRUGAL_REPLY_H

#include "call.h"
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
/* Append v, compact, to out. */
void fg_reply_dump_json(json_t *v, struct evbuffer *out);
/* Add the x-frugal-* headers for a call to its output headers (once: a
 * second call on the same attempt adds nothing). */
void fg_reply_frugal_headers(const struct fg_call *c);
/* Answer c->err in the call's dialect, with the x-frugal-* headers: every
 * call's error names its ledger record (x-frugal-request-id). */
void fg_reply_call_error(struct fg_call *c);

#endif
