/* fmtcheck.h — a route's format check on a complete cheap answer, the
 * `format` escalation signal (routes[].format with escalate_on: [format]).
 *
 * Contract: a check is either a PCRE2 pattern (UTF, multiline: "^" and "$"
 * match at line starts and ends, so `^#### [0-9]+$` finds a final-answer
 * line after reasoning) searched anywhere in the answer text, or a JSON
 * Schema (structured/schema.h) the answer text, parsed as JSON, must
 * satisfy.  The answer text is the concatenation of the answer's text
 * parts, decoded (the adapter's answer_text).  An answer without text
 * (a tool call only) passes: there is nothing to check.  A compiled check
 * is immutable and used from every worker thread; matching allocates only
 * per check (match data, the decoded text), on the slow path after a
 * complete answer.  Patterns are bounded by PCRE2's default match limit:
 * a pattern that hits it counts as a miss, never a hang. */
#ifndef FRUGAL_FMTCHECK_H
#define FRUGAL_FMTCHECK_H

#include "json.h"
#include "provider.h"

#include <stdbool.h>
#include <stddef.h>

struct fg_fmtcheck;

/* Exactly one of pattern / schema_json (JSON text).  NULL with err
 * ("invalid pattern: ... at offset N" / the schema compiler's message). */
struct fg_fmtcheck *fg_fmtcheck_new(const char *pattern, const char *schema_json, char *err,
                                    size_t errlen);
void fg_fmtcheck_free(struct fg_fmtcheck *f);

/* Does text pass?  On a miss, why (if not NULL) says what was missing. */
bool fg_fmtcheck_text(const struct fg_fmtcheck *f, const char *text, size_t len, char *why,
                      size_t whylen);

/* The same on a complete answer: resp is the answer's index (0 = root) in
 * j, read by the adapter ops of its dialect. */
bool fg_fmtcheck_answer(const struct fg_fmtcheck *f, const struct fg_dialect_ops *ops,
                        const struct fg_json *j, int resp, char *why, size_t whylen);

#endif
