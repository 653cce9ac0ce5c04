/* embed.h — POST /v1/embeddings: checks, a response cache per input, the
 * upstream body carrying only the misses, and the reassembled answer.
 *
 * Contract (worker thread; request data in the call's arena):
 *  - An embeddings request is an ordinary struct fg_call with endpoint
 *    FG_EP_EMBEDDINGS: it passes resolve, meter, admit (worst case: the
 *    input token estimate at the model's input price, no output), deploy,
 *    retries, and gets one ledger record, like a chat call.
 *    This file supplies only what differs; the pipeline and relay call it.
 *    Retries and a model's deployments apply; model fallbacks don't (another
 *    model's vectors are not interchangeable).
 *  - Models: an embeddings call to a route, to a model on an Anthropic
 *    provider, or to a known chat model is a 400 naming the model; a chat
 *    or messages call to an embedding model likewise.  A model is an
 *    embedding model when its name or upstream id contains "embed"; a
 *    model the price table knows otherwise is a chat model; any other
 *    model (an OpenAI-compatible provider's own) may be called either way.
 *  - Cache (response_cache on, no `x-frugal-cache: bypass`, not a batch
 *    plan): one entry per input, keyed by (partition as for chat answers,
 *    requested model, dimensions, the input: its decoded text or its token
 *    ids) — not by the encoding or the request as a whole.  An entry holds
 *    the vector as OpenAI's base64 encoding (little-endian float32) and the
 *    input's token count.  All inputs hit: answered without the provider
 *    (x-frugal-cache: hit, cost 0, saved_by.response_cache = the whole
 *    call).  Some hit: only the misses go upstream, in request order; the
 *    call costs what the provider charged for them, its baseline is what
 *    the whole request would have cost, and the difference is
 *    saved_by.response_cache (x-frugal-cache: miss, x-frugal-cache-hits:
 *    H/N).
 *  - Answer: data in the request's index order, each vector in the
 *    requested encoding (a miss exactly as the provider sent it; a hit as
 *    stored, printed as float32 for encoding_format float).  usage
 *    (prompt_tokens = total_tokens) is what the provider would have
 *    reported for the whole request: its count for the misses plus the
 *    stored counts of the hits.  A stored count is exact for token-array
 *    inputs and for inputs sent alone; inputs sent together share the
 *    provider's total in proportion to their size. */
#ifndef FRUGAL_EMBED_H
#define FRUGAL_EMBED_H

#include "call.h"

#include <stdbool.h>

struct evbuffer;

/* The request body's shape (model, input, encoding_format, dimensions);
 * fills e (400, param naming the field) and returns -1. */
int fg_embed_validate(const struct fg_call *c, struct fg_err *e);
/* Input token estimate of the whole request (token arrays exactly,
 * text as bytes / 4). */
int64_t fg_embed_estimate(const struct fg_json *body);
/* Is m an embedding model (see the contract)? */
bool fg_embed_model(const struct fg_model_cfg *m);
/* After resolve: does the endpoint suit the model?  0, or -1 with c->err. */
int fg_embed_check_model(struct fg_call *c);
/* The 400 for an embeddings call naming a route. */
int fg_embed_route_error(struct fg_call *c, const char *route);
/* Pipeline stage in place of the whole-answer cache: 1 when every input
 * was answered from the cache (the reply is sent), else 0. */
int fg_embed_cache(struct fg_call *c);
/* Encode: queue the splice that leaves only the misses in "input". */
void fg_embed_encode(struct fg_call *c);
/* The provider URL for this call (arena). */
const char *fg_embed_url(struct fg_call *c);
/* A 2xx upstream answer in c->resp (body b): meter, store the misses,
 * reply to the client. */
void fg_embed_reply(struct fg_call *c, struct evbuffer *b);

#endif
