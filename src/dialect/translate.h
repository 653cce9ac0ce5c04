/* translate.h — translation between the dialects: OpenAI Chat Completions ⇄
 * Anthropic Messages, and OpenAI Responses → either of them (and back).
 *
 * Used only when the chosen model's provider speaks the other dialect (the
 * same-dialect path forwards bytes and never comes here).  This is the slow
 * path: documents are read with jansson (the fg_json index's root span is
 * loaded once) and built with jansson.
 *
 * Contract:
 *  - Requests: the client's body (already validated in its own dialect) →
 *    a malloc'd upstream body (caller frees *out).  A field with no
 *    equivalent is dropped and a line is added to `w` (the caller logs it);
 *    a field whose meaning cannot be kept (n>1, logprobs, audio, a file id,
 *    a replayed thinking block, ...) fails with status 400, e->param naming
 *    the field in the client's spelling and e->msg saying why.  Meaning is
 *    never changed silently.
 *  - Responses: the upstream body (parsed) → the client's dialect, appended
 *    to `out`, with every key the client SDKs declare; usage keeps each
 *    dialect's own meaning (OpenAI prompt_tokens includes cache reads and
 *    writes, Anthropic input_tokens excludes them).  -1 (502, FG_E_UPSTREAM)
 *    when the upstream answer is malformed.
 *  - Errors: any upstream error body (JSON or not) → the client's error
 *    shape; the HTTP status is kept (only a non-error status becomes 502).
 *  - Streams: a translator object per call, fed upstream SSE events in
 *    order; each call writes complete client-dialect SSE frames to `out`
 *    (nothing is buffered beyond small per-call state: ids, block/tool
 *    index maps, usage, the stop reason).  Owned by the caller; free with
 *    fg_translate_stream_free.
 *  - Thread safety: no shared mutable state; one stream object per call.
 */
#ifndef FRUGAL_TRANSLATE_H
#define FRUGAL_TRANSLATE_H

#include "config.h"
#include "err.h"
#include "json.h"
#include "sse.h"

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

struct fg_translate_opts {
    const char *upstream_model; /* model id to put in the upstream body */
    const char *
        anthropic_version; /* version used upstream for an OpenAI client ("2026-10-21" or "2023-06-01") */
    int default_max_tokens; /* Anthropic requires max_tokens: used when the OpenAI body has none */
    bool
        native_structured; /* target model supports output_config.format / response_format json_schema */
};

struct fg_translate_warnings {
    char msg[8][160];
    int n;
};

/* Request bodies (body = the client's request, already parsed/validated in
 * its own dialect by frugal).  On success *out is a malloc'd JSON text for
 * the upstream dialect.  -1 with e filled (status 400, e->param = the
 * field) when meaning can't be kept.  w may be NULL. */
int fg_translate_request_oa_to_an(const struct fg_json *body, const struct fg_translate_opts *o,
                                  char **out, size_t *out_len, struct fg_translate_warnings *w,
                                  struct fg_err *e);
int fg_translate_request_an_to_oa(const struct fg_json *body, const struct fg_translate_opts *o,
                                  char **out, size_t *out_len, struct fg_translate_warnings *w,
                                  struct fg_err *e);

/* A Responses request (shape FG_DIALECT_RESPONSES) → Chat Completions or
 * Anthropic Messages (translate_req_rs.c).  Server state
 * (previous_response_id, conversation, background, prompt, item_reference),
 * built-in tools and file ids fail with 400 naming the field; reasoning
 * items are dropped (they do not cross providers). */
int fg_translate_request_rs_to_oa(const struct fg_json *body, const struct fg_translate_opts *o,
                                  char **out, size_t *out_len, struct fg_translate_warnings *w,
                                  struct fg_err *e);
int fg_translate_request_rs_to_an(const struct fg_json *body, const struct fg_translate_opts *o,
                                  char **out, size_t *out_len, struct fg_translate_warnings *w,
                                  struct fg_err *e);

/* When an OpenAI request asks for response_format json_schema/json_object
 * and the Anthropic target has no native structured output
 * (!o->native_structured), the request is sent with a forced tool.  This
 * writes that tool's name to name and returns true, so the caller can pass
 * it to the *_forced response/stream functions below: the tool call is then
 * shown to the OpenAI client as message content (the JSON text) with
 * finish_reason "stop", as the client asked for JSON, not a tool call. */
bool fg_translate_forced_tool(const struct fg_json *body, const struct fg_translate_opts *o,
                              char *name, size_t n);

/* One entry point per direction: `from` is the dialect the document is in,
 * `to` the one wanted (a request goes client → provider, a response and an
 * error provider → client).  The pairs are a table in translate.c: adding a
 * dialect adds its rows.  fg_translate_has says whether a pair exists; the
 * others fail with 500 (FG_E_INTERNAL) on a pair that does not. */
bool fg_translate_has(enum fg_dialect from, enum fg_dialect to);
int fg_translate_request(enum fg_dialect from, enum fg_dialect to, const struct fg_json *body,
                         const struct fg_translate_opts *o, char **out, size_t *out_len,
                         struct fg_translate_warnings *w, struct fg_err *e);
/* forced_tool: from fg_translate_forced_tool, or NULL. */
int fg_translate_response(enum fg_dialect from, enum fg_dialect to, const struct fg_json *resp,
                          const char *client_model, const char *forced_tool, struct evbuffer *out,
                          struct fg_err *e);

/* The pair functions behind the table (also called by the unit tests and
 * the fuzz target). */
/* Non-streamed responses: upstream body (parsed) → client-dialect body
 * appended to out.  `client_model` is the model name the client asked for
 * (echoed in the response's model field).  -1 on a malformed upstream
 * answer (e: 502). */
int fg_translate_response_an_to_oa(const struct fg_json *resp, const char *client_model,
                                   struct evbuffer *out, struct fg_err *e);
int fg_translate_response_oa_to_an(const struct fg_json *resp, const char *client_model,
                                   struct evbuffer *out, struct fg_err *e);
/* As fg_translate_response_an_to_oa; forced_tool (may be NULL) from fg_translate_forced_tool. */
int fg_translate_response_an_to_oa_forced(const struct fg_json *resp, const char *client_model,
                                          const char *forced_tool, struct evbuffer *out,
                                          struct fg_err *e);

/* A Chat completion / an Anthropic message → a Responses `Response` object
 * (translate_resp_rs.c); its id is "resp_" + the upstream's id. */
int fg_translate_response_oa_to_rs(const struct fg_json *resp, const char *client_model,
                                   struct evbuffer *out, struct fg_err *e);
int fg_translate_response_an_to_rs(const struct fg_json *resp, const char *client_model,
                                   const char *forced_tool, struct evbuffer *out, struct fg_err *e);

/* A translated Response (a JSON object in body) gets the fields of the
 * client's Responses request `req` it repeats (instructions, tools,
 * tool_choice, metadata, sampling, text, reasoning, ...), as OpenAI's do;
 * the pair functions above only know the answer. */
void fg_translate_rs_echo(const char *req, size_t req_len, struct evbuffer *body);

/* Error bodies: an upstream error (status + body bytes, maybe not JSON) →
 * client-dialect error body appended to out; returns the status to send
 * (the upstream's, or 502 when it was not an error status). */
int fg_translate_error(enum fg_dialect from, enum fg_dialect to, int status, const char *body,
                       size_t len, struct evbuffer *out);

/* Streams: a stateful translator fed upstream SSE events in order, writing
 * client-dialect SSE frames to out as each event arrives.  Frames have the
 * exact framing of the client dialect: Anthropic "event: NAME\ndata: JSON\n\n",
 * OpenAI "data: JSON\n\n" and a final "data: [DONE]\n\n".
 * include_usage: the OpenAI client asked for stream_options.include_usage
 * (only then is the final usage chunk sent to it).  from == to is not
 * supported (returns NULL).  from and to are body shapes: to ==
 * FG_DIALECT_RESPONSES gives Responses events ("event: TYPE\ndata: JSON",
 * sequence_number on each, no terminator line; a failure is an `error`
 * event then response.failed). */
struct fg_translate_stream;
struct fg_translate_stream *fg_translate_stream_new(enum fg_dialect from, enum fg_dialect to,
                                                    const char *client_model, bool include_usage);
/* From Anthropic only: name from fg_translate_forced_tool (see there). */
void fg_translate_stream_forced_tool(struct fg_translate_stream *s, const char *name);
/* To a Responses client only: the client's request (raw JSON), whose
 * fields the response objects in the events repeat (fg_translate_rs_echo). */
void fg_translate_stream_request(struct fg_translate_stream *s, const char *req, size_t len);
/* Returns 0, or -1 if the event is malformed (then the caller ends the
 * stream with an error event, e.g. fg_translate_stream_fail).  Events after the
 * stream closed (terminator or error relayed) are ignored. */
int fg_translate_stream_event(struct fg_translate_stream *s, const struct fg_sse_event *ev,
                              struct evbuffer *out);
/* Upstream stream ended (done = a proper terminator was seen); emit
 * whatever the client dialect needs to close (OpenAI: final chunk if not
 * sent, the usage chunk if include_usage, "data: [DONE]"; Anthropic:
 * message_delta/message_stop if not sent).  done == false (a cut stream)
 * emits the client dialect's error event instead of a normal ending, so a
 * truncated answer never looks complete.  Nothing is emitted once the
 * stream has closed (including after fg_translate_stream_fail). */
void fg_translate_stream_end(struct fg_translate_stream *s, bool done, struct evbuffer *out);
/* Close the stream with e as the client dialect's error event (a transfer
 * failure the caller detected: timeout, reset, malformed event).  No-op
 * when the stream has already closed. */
void fg_translate_stream_fail(struct fg_translate_stream *s, const struct fg_err *e,
                              struct evbuffer *out);
/* True once the client's stream is closed (terminator or error sent). */
bool fg_translate_stream_closed(const struct fg_translate_stream *s);
void fg_translate_stream_free(struct fg_translate_stream *s);

#endif
