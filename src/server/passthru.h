/* passthru.h — every other OpenAI path under /v1/, passed through metered.
 *
 * Contract (worker thread; request data in the call's arena):
 *  - fg_passthru_handle() serves any /v1/ path the API layer has no
 *    explicit handler for (/v1/audio/..., /v1/images/..., /v1/moderations,
 *    ...) from an OpenAI client (no anthropic-version header; never
 *    Anthropic's /v1/messages...), after auth.  The explicit handlers (chat, messages, embeddings,
 *    models, files, batches, /frugal/...) always come first.
 *  - The path must be plain: segments of [A-Za-z0-9._~:-], no "." or ".."
 *    segment, no empty segment, no percent-encoding, no backslash; the
 *    query, if any, printable ASCII without spaces.  Anything else is a 400
 *    (`invalid_path`) and nothing is sent.  The upstream URL is the
 *    provider's configured OpenAI base (…/v1) + the rest of the path, so a
 *    request can only ever reach the configured provider.
 *  - Provider: the one serving the named model — the JSON body's "model",
 *    or the multipart form field "model" (audio and image uploads) — when
 *    that model is configured (a model on an Anthropic-dialect provider or
 *    a route is a 400); otherwise the first `openai` provider, else the
 *    first `sim` one (404 when there is none).  A configured model's
 *    upstream id replaces "model" in a JSON body; nothing else changes.
 *  - Headers: only content-type, accept, openai-beta, traceparent and
 *    tracestate are forwarded (and x-sim-fault to the sim); the client's
 *    credentials are replaced by the provider key; hop-by-hop headers are
 *    never forwarded.  Body limit: server.max_body_bytes (413).
 *  - Metering: one ledger record per call with the path as its endpoint,
 *    the status, request and response bytes and the usage the provider
 *    reports (prompt/completion or input/output tokens).  The call is
 *    priced when the price table (or config) knows the model, else
 *    recorded unpriced.  Admission is the inference calls' (admit.h): the
 *    allow-list (a key with an allow-list may call only paths naming an
 *    allowed model), budgets (worst case: a JSON body's bytes / 4 input tokens at
 *    the input price plus the model's output limit), rate limits.  A call
 *    frugal cannot price — unknown model, or none named — is refused to a
 *    budgeted key (403 `model_unpriced`, saying why) unless the key allows
 *    unpriced calls (keys.h allow_unpriced).
 *  - The provider's answer (any content type) is buffered, up to 64 MiB,
 *    and relayed with its status and content type. */
#ifndef FRUGAL_PASSTHRU_H
#define FRUGAL_PASSTHRU_H

#include <stdbool.h>

struct fg_edge_req;
struct fg_worker;
struct fg_principal;

/* Is path one this layer serves (under /v1/, not Anthropic's /v1/messages...)? */
bool fg_passthru_path(const char *path);
void fg_passthru_handle(struct fg_worker *w, struct fg_edge_req *req, const char *path,
                        const struct fg_principal *p);
/* The path check alone (exposed for tests): 0, or -1 with why set. */
int fg_passthru_check_path(const char *path, const char *query, const char **why);

#endif
