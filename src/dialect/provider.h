/* provider.h — dialect adapters behind one interface.
 *
 * A dialect is a wire format (OpenAI Chat Completions, Anthropic Messages,
 * OpenAI Responses).  Each adapter is a table of functions below.  Not yet
 * everything that varies by dialect is behind it: usage extraction,
 * shortfall detection, held-stream inspection and answer text still branch
 * on FG_DIALECT_* in call/, ledger/ and batch/ (the architecture issue's
 * "complete dialect interface"; docs/internals.md).  Adapters are
 * stateless and thread-safe. */
#ifndef FRUGAL_PROVIDER_H
#define FRUGAL_PROVIDER_H

#include "call.h"
#include "err.h"
#include "sse.h"

#include <curl/curl.h>
#include <jansson.h>

struct evbuffer;
struct evkeyvalq;

enum fg_sse_kind { FG_SSE_DATA, FG_SSE_END, FG_SSE_ERROR, FG_SSE_SKIP };

struct fg_dialect_ops {
    enum fg_dialect dialect;
    const char *name;
    /* Check the parsed request body has what this dialect requires;
     * fills e (status 400, param naming the field) and returns -1. */
    int (*validate)(const struct fg_call *c, struct fg_err *e);
    /* Append this dialect's JSON error body for e to out. */
    void (*error_body)(const struct fg_err *e, struct evbuffer *out);
    /* Append an SSE error event for e (mid-stream failure) to out. */
    void (*stream_error)(const struct fg_err *e, struct evbuffer *out);
    /* What an upstream SSE event means for the relay. */
    enum fg_sse_kind (*classify)(const struct fg_sse_event *ev, struct fg_json *scratch);
    /* Path of an endpoint, appended to the provider's base for this dialect. */
    const char *(*path)(enum fg_endpoint ep);
    /* Upstream auth + dialect headers (provider key, version); the client's
     * credentials are never copied. */
    void (*upstream_headers)(const struct fg_call *c, struct curl_slist **h);
    /* Client request headers relayed upstream unchanged (lower-case names,
     * NULL-terminated). */
    const char *const *forward_headers;
};

extern const struct fg_dialect_ops fg_provider_openai;
extern const struct fg_dialect_ops fg_provider_anthropic;
/* OpenAI's Responses API (provider_responses.c): wire dialect OpenAI, its
 * own request shape, events and usage object. */
extern const struct fg_dialect_ops fg_provider_responses;

const struct fg_dialect_ops *fg_provider_ops(enum fg_dialect d);
/* The adapter that talks to a provider of wire dialect `wire` for this
 * call: a Responses call stays a Responses call on an OpenAI provider. */
const struct fg_dialect_ops *fg_provider_for(const struct fg_call *c, enum fg_dialect wire);
/* The shape of the call's request body (FG_DIALECT_RESPONSES for the
 * Responses API), for the modules that read bodies. */
enum fg_dialect fg_provider_call_shape(const struct fg_call *c);
/* OpenAI's error "type" for a class, and its error body (shared by the
 * Chat Completions and Responses adapters). */
const char *fg_provider_openai_error_type(enum fg_err_class cls);
void fg_provider_openai_error_body(const struct fg_err *e, struct evbuffer *out);

/* Shared helpers for adapters. */
struct curl_slist *fg_provider_header_add(struct curl_slist *h, const char *name,
                                          const char *value);

#endif
