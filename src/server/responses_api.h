/* responses_api.h — the stored-response endpoints of the Responses API.
 *
 * Contract: POST /v1/responses and /v1/responses/input_tokens are inference
 * calls (api.c, pipeline); this module serves the calls about a response a
 * provider already holds:
 *   GET    /v1/responses/{id}              (query passed on: include[], stream, starting_after)
 *   DELETE /v1/responses/{id}
 *   GET    /v1/responses/{id}/input_items  (after, limit, order, include[])
 *   POST   /v1/responses/{id}/cancel
 * Each goes to the provider (deployment) that created the response, which
 * the call path recorded (respmap.h) when the create call answered.  Only the
 * key that created a response may reach it (an admin reaches all); anyone
 * else, and any id frugal does not know, gets 404 in OpenAI's shape.
 *
 * Who created what is in the id map (respmap.h); behind it the
 * ledger keeps every create call's response id with its key and provider
 * (the store's `responses` table), read when the map does not know an id
 * (after a restart, or once evicted).  A response created around frugal
 * gets 404.
 * These calls are not inference: they write no ledger row and spend no
 * budget.  Transfers run on the worker's loop, as a struct fg_call with
 * no dialect (so a client that leaves, or a shutdown, ends them). */
#ifndef FRUGAL_RESPONSES_API_H
#define FRUGAL_RESPONSES_API_H

#include <stdbool.h>
#include <stddef.h>

struct fg_worker;
struct fg_edge_req;
struct fg_principal;

/* Is this path one of the stored-response endpoints above? */
bool fg_responses_api_path(const char *path);
void fg_responses_api_handle(struct fg_worker *w, struct fg_edge_req *req,
                             const struct fg_principal *p, const char *path);

#endif
