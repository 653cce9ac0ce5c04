/* respstate.h — the conversation state frugal owns for Responses calls.
 *
 * Contract:
 *  - Every Responses call frugal serves gets an id of frugal's own
 *    ("resp_" + 32 hex from the kernel's CSPRNG, fg_respstate_mint), the
 *    same for all its attempts; the client sees it in the body and in every
 *    stream event, never the provider's (or a translator's) id, and
 *    `previous_response_id` echoes come back as the client sent them.
 *  - A Response the client did not send with store: false is remembered:
 *    frugal id → (the provider's id, the provider account, the key that
 *    created it, the response it continues, its expiry) and, with the
 *    config's responses.store, what replays it: the request's own `input`
 *    (as sent) and the final Response object, as the JSON text
 *    {"input":…,"response":…} of at most responses.max_bytes (beyond it
 *    the id is kept and the replay data is not).  It goes into the
 *    in-memory cache (respmap.h) at once and into the store's `responses`
 *    table with the attempt's ledger record (the ledger writer is the
 *    store's only writer; it also prunes expired rows).
 *  - previous_response_id is resolved before the request is measured or
 *    translated (fg_respstate_request, a pipeline stage after resolve):
 *    unknown, expired or another key's → 400 `previous_response_not_found`
 *    naming the param (OpenAI's answer).  When the serving model has a
 *    deployment on the provider account that holds it, that deployment is
 *    pinned (fg_respstate_deployment) and the provider's id is passed on;
 *    otherwise the stored history (each ancestor's input and output items,
 *    oldest first, reasoning and item_reference items dropped: they only
 *    resolve on the account that made them) replaces it in `input`, so a
 *    translator never sees previous_response_id.  An attempt that moves to
 *    another account later (fallback, escalation) expands then
 *    (fg_respstate_encode).  Expansion without stored data (responses.store
 *    false, a response over the cap) is a 400 that says why.
 *  - Reads: the cache first, else the response and all its ancestors in
 *    one query (store.h response_chain) on the worker's own store handle,
 *    put into the cache.  A cached response older than 1 s is confirmed by
 *    the store (response_owner) before the id a request names is used, so
 *    a DELETE through another replica on the same store is honoured; a
 *    store that cannot be read, or records of this process still in the
 *    ledger's spool, leave the cache in charge.  These reads
 *    run on the worker loop (Postgres too: a round trip). */
#ifndef FRUGAL_RESPSTATE_H
#define FRUGAL_RESPSTATE_H

#include "respmap.h"

#include <stdbool.h>
#include <stddef.h>

struct fg_call;
struct fg_worker;
struct fg_sse_event;
struct evbuffer;

#define FG_RESPSTATE_ID_LEN 37 /* "resp_" + 32 hex */

/* A fresh id: out holds FG_RESPSTATE_ID_LEN + 1 bytes. */
void fg_respstate_mint(char *out);
/* The pipeline stage: mint, resolve previous_response_id; 0 or -1 (c->err). */
int fg_respstate_request(struct fg_call *c);
/* The deployment of c's model pinned to the account holding the previous
 * response, or -1. */
int fg_respstate_deployment(const struct fg_call *c);
/* Before an attempt is encoded: expand the history if this attempt's
 * provider account does not hold the previous response; 0 or -1. */
int fg_respstate_encode(struct fg_call *c);
/* A complete Responses answer in c->up.body (indexed in c->up.resp): give
 * it frugal's id and remember it (re-indexes c->up.resp). */
void fg_respstate_answer(struct fg_call *c);
/* A translated Response body in b: the same. */
void fg_respstate_buffer(struct fg_call *c, struct evbuffer *b);
/* Translated stream frames appended to b since `from`: the same, frame by
 * frame (fg_respstate_event). */
void fg_respstate_frames(struct fg_call *c, struct evbuffer *b, size_t from);
/* A stream event as the client will get it: ev itself, or a copy (in the
 * call's arena) with frugal's ids; remembers the final Response. */
const struct fg_sse_event *fg_respstate_event(struct fg_call *c, const struct fg_sse_event *ev);
/* Stored response `id`, not expired: from the cache, else the store (via
 * the worker's read handle; then cached).  out->data is malloc'd or NULL
 * (always NULL without want_data).
 * provider_index is -1 when its provider is no longer configured. */
bool fg_respstate_find(struct fg_worker *w, const char *id, struct fg_respmap_entry *out,
                       bool want_data);
/* Whether key `key_id` may see a response created by `owner` (the master
 * key and an anonymous gateway see all). */
bool fg_respstate_owns(const char *key_id, const char *owner);

#endif
