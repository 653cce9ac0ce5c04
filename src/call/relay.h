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
/* A held deferred call's provider batch line answered (defer.h): the
 * line's 2xx response body, in the provider's dialect, is the upstream
 * answer, finished as a buffered transfer's (translated, metered,
 * answered); the call ends unless a retry or escalation starts. */
void fg_relay_answer_line(struct fg_call *c, const char *body, size_t len);
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

#endif
