/* relay.h — moving one call's bytes: client → provider → client.
 *
 * Contract: fg_relay_start() sends c's (possibly rewritten) body to the
 * provider through the worker's upstream and arranges for the answer to be
 * relayed: a non-streaming reply is buffered, checked and sent whole; a
 * stream is relayed event by event as it arrives, with the framing of the
 * caller's dialect, and a cut or failed stream ends with an error event.
 * Upstream failures become 502/504 errors in the caller's dialect; upstream
 * 4xx pass through as the provider said them.  The call is finished
 * (fg_call_finish) when the reply is complete or the client is gone.
 * Returns -1 with c->err set if the transfer could not start. */
#ifndef FRUGAL_RELAY_H
#define FRUGAL_RELAY_H

#include "call.h"

#include <curl/curl.h>
#include <stdbool.h>

int fg_relay_start(struct fg_call *c);
/* Content-Type, no Expect, and Accept for streams; caller owns the list. */
struct curl_slist *fg_relay_base_headers(bool stream);

/* For call-layer code that answers a call itself (embed.c): a complete
 * JSON reply with frugal's headers and the cost headers; the error in
 * c->err in the caller's dialect; the worker's config; the OpenAI URL
 * prefix (…/v1) of the call's provider. */
void fg_relay_send_json(struct fg_call *c, int status, struct evbuffer *body);
void fg_relay_send_error(struct fg_call *c);
const struct fg_config *fg_relay_config(const struct fg_call *c);
const char *fg_relay_openai_base(const struct fg_call *c);

/* Answer c from a response-cache entry (complete reply, headers included). */
struct fg_respcache_entry;
void fg_relay_answer_cached(struct fg_call *c, const struct fg_respcache_entry *e);

/* End c now (the worker is stopping): a reply not yet started gets e in
 * the caller's dialect; a running stream ends with the dialect's error
 * event for e.  Then the call is finished. */
void fg_relay_cut(struct fg_call *c, const struct fg_err *e);

/* Lifecycle, in call.c.  A new call has no client yet: its creator
 * attaches one (c->client, client.h) before any stage runs. */
struct fg_call *fg_call_new(struct fg_worker *w);
/* The client's implementation: its peer went away.  The call ends now, or
 * (inside a curl callback) when its transfer is aborted. */
void fg_call_client_gone(struct fg_call *c);
/* Detach from the client, cancel upstream, free everything. */
void fg_call_finish(struct fg_call *c);
/* Queue a splice of the client body: replace [start, end) with text
 * (arena or static memory).  Edits must be added in ascending order. */
void fg_call_edit(struct fg_call *c, uint32_t start, uint32_t end, const char *text);
/* An edit giving the body's "model" the upstream id (c->upstream_model). */
void fg_call_edit_model(struct fg_call *c);
/* Start the call over as a new, linked attempt: the finished attempt is
 * recorded in the ledger, transfer state is reset, a new id is assigned. */
void fg_call_next_attempt(struct fg_call *c);
/* Mark the call as a batch line ("BATCH_ID/INDEX", from the executor),
 * after its client is attached: record ids, records and the plan go
 * through the client's record_id / record / plan (client.h); plan=true
 * answers with the planned upstream request instead of sending it. */
void fg_call_set_batch_line(struct fg_call *c, const char *line, bool plan);
/* Cancel every live call of a worker (forced shutdown). */
void fg_call_abort_all(struct fg_worker *w);

#endif
