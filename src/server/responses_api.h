/* responses_api.h — the stored-response endpoints of the Responses API.
 *
 * Contract: POST /v1/responses and /v1/responses/input_tokens are inference
 * calls (api.c, pipeline); this module serves the calls about a response
 * frugal already served, by frugal's id (call/respstate.h):
 *   GET    /v1/responses/{id}              (query: include[], stream, starting_after)
 *   DELETE /v1/responses/{id}
 *   GET    /v1/responses/{id}/input_items  (after, limit, order, include[])
 *   POST   /v1/responses/{id}/cancel
 * The response is found through respstate (its cache, then the store's
 * `responses` table).  Only the key that created it may reach it (an admin
 * reaches all); anyone else, and any id frugal does not know (expired,
 * deleted, created around frugal), gets 404 in OpenAI's shape.
 * GET and input_items answer from frugal's stored copy when there is one
 * (input_items paged with after/limit/order), unless the response is still
 * queued or in progress or the query asks what only the provider has
 * (include[], stream): then, as for cancel and for responses without a
 * copy, the call goes to the provider account that holds it, with the
 * provider's id, and the answer comes back with frugal's ids.  DELETE
 * forgets frugal's copy (cache now, store via the ledger writer) and the
 * provider's.
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
