/* structured.h — structured output: the schema a call asked for, and its
 * answer checked against it before it reaches the client.
 *
 * Contract:
 *  - fg_structured_request() (a pipeline stage) finds what the client asked
 *    for — OpenAI response_format json_schema / json_object, Anthropic
 *    output_config.format or a forced tool — compiles the schema once
 *    (cached by hash), and, when the client set no output limit and the
 *    schema is bounded, caps the output from it.  A schema frugal cannot
 *    compile is left to the provider (logged), never a client error.
 *  - fg_structured_check() validates a complete answer in the client's
 *    dialect.  An invalid answer is repaired when that is safe (fences or
 *    prose around exactly one JSON value, a truncated object that still
 *    validates once closed; the body is rewritten in place); otherwise it
 *    returns -1 with c->err a 502-class error naming the failing JSON path
 *    and the answer's length.  A refusal or a tool call is not checked.
 *  - fg_structured_check_text() does the same for a stream's accumulated
 *    answer at its end (no repair: the bytes are already with the client).
 * The compiled schema is a cache reference released by fg_structured_release. */
#ifndef FRUGAL_STRUCTURED_H
#define FRUGAL_STRUCTURED_H

#include "call.h"

struct evbuffer;

int fg_structured_request(struct fg_call *c);
int fg_structured_check(struct fg_call *c, struct evbuffer *body);
int fg_structured_check_text(struct fg_call *c, const char *text, size_t len);
void fg_structured_release(struct fg_call *c);

/* For answers that never passed through a call (a provider batch's
 * results): check a complete client-dialect answer against the structured
 * output its request (req, in dialect d; FG_DIALECT_RESPONSES for a
 * Responses API request) asked for, repairing it in place
 * when safe.  0 (valid, repaired, or nothing to check) or -1 with *err a
 * 502-class error naming the failing path. */
int fg_structured_check_answer(const struct fg_config *cfg, enum fg_dialect d, const char *req,
                               size_t req_len, const char *model, struct evbuffer *body,
                               struct fg_err *err);

#endif
