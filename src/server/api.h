/* api.h — the HTTP surface: path → handler, body parsing, auth.
 *
 * Contract: fg_api_handle() is the evhttp generic callback of every worker
 * (arg = struct fg_worker *).  Inference endpoints parse the body once,
 * check it in the caller's dialect, authenticate, and hand a struct fg_call
 * to the pipeline; every error is answered in the caller's dialect. */
#ifndef FRUGAL_API_H
#define FRUGAL_API_H

#include <stdbool.h>

struct evhttp_request;
struct fg_call;

void fg_api_handle(struct evhttp_request *req, void *arg);
/* Answer req with an error in the dialect its headers and path suggest,
 * and close the connection after it (connection limits, header size). */
void fg_api_reject(struct evhttp_request *req, int status, const char *code, const char *msg);

/* An inference call whose client is attached (call/client.h) and whose
 * body is in c->raw (c->raw_len; NULL when over server.max_body_bytes):
 * check the body, run the pipeline, answer an error in c->in's dialect.
 * The call is finished here or, once its transfer started, by the relay.
 * The HTTP endpoints and the batch executor's in-process lines share it. */
void fg_api_run_call(struct fg_call *c);

/* Whether path (no query) is an endpoint of the gateway, any method. */
bool fg_api_known_path(const char *path);

#endif
