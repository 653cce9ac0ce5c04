/* provider.h — dialect adapters behind one interface.
 *
 * A dialect is a wire format (OpenAI Chat Completions, Anthropic Messages,
 * OpenAI Responses).  Each adapter is one file (provider_<name>.c) holding
 * one table of the functions and facts below; everything outside
 * src/dialect that varies by dialect asks the table instead of branching
 * on FG_DIALECT_*: adding a dialect is adding a file and a table entry
 * (fg_provider_ops), plus its translation pairs (translate.h) if it is to
 * be translated.
 *
 * Contract:
 *  - Adapters are stateless and thread-safe: every function reads its
 *    arguments (a parsed body, an SSE event) and fills caller-owned
 *    results; what one returns or appends (a jansson value, evbuffer
 *    bytes, a curl header list) is the caller's.  Readers of answers and
 *    events never allocate; those that parse reuse the caller's scratch
 *    index.  Indexes into a fg_json are -1 when absent.
 *  - The dialect layer knows nothing about calls or HTTP replies: the ops
 *    take the pieces they need (a body, an endpoint, a provider's config),
 *    never struct fg_call.
 *  - `dialect` is the WIRE dialect (what a provider speaks; Responses is
 *    OpenAI's); `shape` is the REQUEST BODY shape (FG_DIALECT_RESPONSES for
 *    the Responses API), the key of fg_provider_ops and what the modules
 *    that read bodies are given. */
#ifndef FRUGAL_PROVIDER_H
#define FRUGAL_PROVIDER_H

#include "config.h"
#include "endpoint.h"
#include "err.h"
#include "json.h"
#include "sse.h"
#include "usage.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>

struct evbuffer;

enum fg_sse_kind { FG_SSE_DATA, FG_SSE_END, FG_SSE_ERROR, FG_SSE_SKIP };

/* Why an answer falls short (a string the ledger and logs show). */
#define FG_SHORT_TRUNCATED "truncated"
#define FG_SHORT_REFUSAL "refusal"
#define FG_SHORT_EMPTY "empty"

/* What one upstream stream event carries for the meter (stream_read). */
struct fg_stream_read {
    int usage;       /* a usage object in the scratch index (for ->usage), or -1 */
    int text[2];     /* answer text strings in the scratch index, or -1 */
    bool usage_only; /* a chunk that carries only usage (OpenAI's `choices: []`) */
};

/* Where a request body keeps things (top-level keys; NULL: not in this
 * dialect).  For the modules that read or edit bodies (router, prefix,
 * busters, admission, prompt cache, server limits). */
struct fg_dialect_shape {
    const char *messages;   /* the conversation (array; Responses: or a string) */
    bool items;             /* it is typed items, not messages: frugal places no
                               cache breakpoints in it and reads no sections of it */
    const char *system;     /* a top-level system prompt; NULL: it is a message */
    bool system_leads;      /* leading system/developer messages are the system prompt */
    const char *n;          /* how many answers are asked for */
    const char *cache_mark; /* the client's own prompt-cache mark on a block */
    /* an optional output limit frugal may add from a bounded schema; NULL:
     * none (required already, or it would also bound reasoning) */
    const char *out_limit_add;
    /* where a streamed answer can be checked only as a whole: the response
     * cache's replay, which buffering relies on, speaks this dialect */
    bool stream_buffering;
};

/* How this dialect's providers cache prompt prefixes (attribution, the
 * ledger analysis, the prompt-cache stage). */
struct fg_dialect_cache {
    bool automatic; /* prefixes are cached without marks (no write premium) */
    int granule;    /* cached prefix lengths are multiples of this many tokens */
    int min_tokens; /* shortest cacheable prefix; 0: it depends on the model */
    bool batch_off; /* no cache discount is projected on batch calls */
};

struct fg_dialect_ops {
    enum fg_dialect dialect; /* wire dialect */
    enum fg_dialect shape;   /* request body shape (the fg_provider_ops key) */
    const char *name;        /* in data: config, batch records */
    const char *title;       /* in messages to people */
    struct fg_dialect_shape req;
    struct fg_dialect_cache cache;
    /* The client names the API version it speaks (anthropic-version), and
     * the provider is called with that version. */
    bool client_versioned;
    /* Streams carry usage only when the request asks for it
     * (stream_options.include_usage): the meter asks on the client's behalf. */
    bool stream_usage_opt_in;
    /* Check the parsed request body for endpoint ep has what this dialect
     * requires; fills e (status 400, param naming the field) and returns -1. */
    int (*validate)(const struct fg_json *body, enum fg_endpoint ep, struct fg_err *e);
    /* Does the request ask for a JSON answer (a schema or JSON mode)? */
    bool (*wants_json)(const struct fg_json *body);
    /* The JSON schema the request asks its answer to follow (an index in
     * body), or -1; *any_object: a JSON answer without a schema; *tool: the
     * forced tool whose input is the answer (its name string), or -1. */
    int (*requested_schema)(const struct fg_json *body, bool *any_object, int *tool);
    /* Where the answer is in a complete response of this dialect: the
     * object holding it under *key, or NULL when there is nothing to check
     * (a refusal, tool calls, no content); *truncated: cut by the output
     * limit.  tool: the answer is a forced tool's input. */
    json_t *(*answer_slot)(json_t *resp, bool tool, const char **key, bool *truncated);
    /* May the answer to this request be shared through the response cache
     * (stream: the client streams)?  NULL: always. */
    bool (*cacheable)(const struct fg_json *body, bool stream);
    /* Append this dialect's JSON error body for e to out. */
    void (*error_body)(const struct fg_err *e, struct evbuffer *out);
    /* Append an SSE error event for e (mid-stream failure) to out. */
    void (*stream_error)(const struct fg_err *e, struct evbuffer *out);
    /* What an upstream SSE event means for the relay. */
    enum fg_sse_kind (*classify)(const struct fg_sse_event *ev, struct fg_json *scratch);
    /* Path of an endpoint, appended to the provider's base for this
     * dialect; NULL: the dialect has no such endpoint. */
    const char *(*path)(enum fg_endpoint ep);
    /* Upstream auth + dialect headers (provider key; Anthropic's version:
     * the client's `client_version` if it sent one, else the provider's);
     * the client's credentials are never copied. */
    void (*upstream_headers)(const struct fg_provider_cfg *p, const char *client_version,
                             struct curl_slist **h);
    /* Client request headers relayed upstream unchanged (lower-case names,
     * NULL-terminated). */
    const char *const *forward_headers;
    /* The header this dialect's SDK reads the provider's request id from. */
    const char *request_id_header;
    /* The event that ends an upstream stream is itself an answer event
     * (it carries the usage), not a bare terminator. */
    bool end_event_has_data;
    /* A complete answer (parsed) as this dialect's stream (replay.h); -1:
     * not an answer of this dialect.  NULL: never replayed. */
    int (*replay)(const json_t *resp, bool include_usage, struct evbuffer *out);
    /* GET /v1/models in this dialect: one entry (id served by owner), and
     * the list around the entries (takes the reference to data). */
    json_t *(*model_entry)(const char *id, const char *owner);
    json_t *(*model_list)(json_t *data);
    /* The line that ends a stream in this dialect (the cost comment goes
     * before it); NULL: no terminator line, the stream just ends. */
    const char *stream_terminator;

    /* --- reading answers and events (called on the provider's adapter) --- */
    /* Parse the usage object at index `usage` of j into u (usage.h). */
    void (*usage)(const struct fg_json *j, int usage, struct fg_usage *u);
    /* The usage object of the answer or chunk at index root of j, or -1;
     * NULL: its "usage" member (fg_provider_usage_at). */
    int (*usage_at)(const struct fg_json *j, int root);
    /* Call fn with each text string (an index in j) of the complete answer
     * at index resp of j (0: j is the answer), in order. */
    void (*answer_text)(const struct fg_json *j, int resp, void (*fn)(void *arg, int str),
                        void *arg);
    /* Why a complete answer falls short: FG_SHORT_*, or NULL when it is a
     * real answer (content or a tool call). */
    const char *(*shortfall)(const struct fg_json *resp);
    /* Parse a stream event into scratch when it may carry usage, or answer
     * text (want_text); false (scratch untouched or unusable) when there is
     * nothing to read in it. */
    bool (*stream_read)(const struct fg_sse_event *ev, bool want_text, struct fg_json *scratch,
                        struct fg_stream_read *r);
    /* A held stream (not yet relayed): does this event show the answer
     * starting (*content = true, unless *why is set already), a refusal or
     * a cut (*why = FG_SHORT_*)?  Cheap: a byte scan, no parse. */
    void (*held_look)(const struct fg_sse_event *ev, const char **why, bool *content);
};

extern const struct fg_dialect_ops fg_provider_openai;
extern const struct fg_dialect_ops fg_provider_anthropic;
/* OpenAI's Responses API (provider_responses.c): wire dialect OpenAI, its
 * own request shape, events and usage object. */
extern const struct fg_dialect_ops fg_provider_responses;

/* The adapter of a body shape (FG_DIALECT_RESPONSES: the Responses one). */
const struct fg_dialect_ops *fg_provider_ops(enum fg_dialect shape);
/* d's usage object of the answer at index root of j (ops.usage_at), or -1. */
int fg_provider_usage_at(const struct fg_dialect_ops *d, const struct fg_json *j, int root);
/* The i-th adapter of the table (from 0), NULL past the last: for what
 * applies to every dialect. */
const struct fg_dialect_ops *fg_provider_at(size_t i);
/* The adapter of a wire dialect by its name in data (config, batch
 * records): "anthropic", else OpenAI's. */
const struct fg_dialect_ops *fg_provider_named(const char *name);
/* The adapter that talks to a provider of wire dialect `wire` for a call
 * whose client speaks `in`: a Responses call stays a Responses call on an
 * OpenAI provider that serves the Responses API (responses_api); on one
 * that does not (Chat Completions only) it is translated to Chat. */
const struct fg_dialect_ops *fg_provider_for(const struct fg_dialect_ops *in, enum fg_dialect wire,
                                             bool responses_api);
/* OpenAI's error "type" for a class, and its error body (shared by the
 * Chat Completions and Responses adapters). */
const char *fg_provider_openai_error_type(enum fg_err_class cls);
void fg_provider_openai_error_body(const struct fg_err *e, struct evbuffer *out);
json_t *fg_provider_openai_model_entry(const char *id, const char *owner);
json_t *fg_provider_openai_model_list(json_t *data);

/* Shared helpers for adapters. */
struct curl_slist *fg_provider_header_add(struct curl_slist *h, const char *name,
                                          const char *value);
/* The text of a content value: itself if a string, else its parts that
 * are strings or text parts (type absent, "text" or "output_text"). */
void fg_provider_text_parts(const struct fg_json *j, int content, void (*fn)(void *arg, int str),
                            void *arg);
/* Byte scans of an event's data for held_look: does it contain s / a
 * non-empty string value after key (e.g. "\"content\":")? */
bool fg_provider_has_text(const struct fg_sse_event *ev, const char *s);
bool fg_provider_nonempty_str(const struct fg_sse_event *ev, const char *key);

#endif
