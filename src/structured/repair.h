/* repair.h — safe repairs of a structured-output answer that failed its
 * schema.
 *
 * Contract: fg_repair() only ever removes bytes from the model's text or
 * appends closing punctuation; it never invents a value.  Steps, in order:
 *   fences  the whole answer is one Markdown code fence (``` or ```json,
 *           any one-word language tag) around exactly one JSON value;
 *   prose   exactly one top-level object/array appears among other text
 *           (spans are found by a strict JSON scanner that respects strings
 *           and escapes; a malformed span is skipped past its error, so no
 *           piece of a broken document is ever extracted; two or more
 *           well-formed spans, or one span left open at the end of the text,
 *           mean "don't guess": no repair);
 *   closed  only when `truncated` (the model hit its token limit) and the
 *           text ends inside exactly one object/array: the incomplete
 *           trailing member is dropped (partial key, key without value,
 *           partial number or literal — a number at the very end is always
 *           partial), then the open strings/arrays/objects are closed.
 *           Candidates go from the deepest cut outwards: keep everything
 *           complete in the innermost container; then (for a truncated
 *           string value) keep that string closed, minus any partial escape
 *           or partial UTF-8 sequence; then drop the innermost container
 *           entirely, and so on.  A container is never emitted empty unless
 *           the model closed it itself.  At most FG_REPAIR_MAX_TRIES closings
 *           are tried.
 * Every candidate is accepted only if check() returns 0 for it.  Text
 * that check() already accepts is not repaired (NULL).  Cost is linear in
 * len plus at most 2 + FG_REPAIR_MAX_TRIES check() calls; nesting deeper
 * than FG_REPAIR_MAX_DEPTH is never repaired.  UTF-8 content is copied
 * byte for byte.
 * Thread-safe; no global state. */
#ifndef FRUGAL_REPAIR_H
#define FRUGAL_REPAIR_H

#include <stdbool.h>
#include <stddef.h>

#define FG_REPAIR_MAX_DEPTH 512
#define FG_REPAIR_MAX_TRIES 16

/* Returns 0 when text (len bytes, not NUL-terminated) is valid for the
 * caller's schema, e.g. fg_schema_validate(schema, text, len, &err). */
typedef int (*fg_repair_check)(void *arg, const char *text, size_t len);

enum fg_repair_kind { FG_REPAIR_NONE, FG_REPAIR_FENCES, FG_REPAIR_PROSE, FG_REPAIR_CLOSED };

/* Try to make `text` (len bytes) a valid answer when that is safe (see
 * above).  Returns a malloc'd NUL-terminated text (caller frees) with
 * *out_len and *kind set, or NULL with *out_len = 0 and *kind =
 * FG_REPAIR_NONE when no safe repair exists or the text is already valid.
 * out_len and kind may be NULL. */
char *fg_repair(const char *text, size_t len, bool truncated, fg_repair_check check, void *arg,
                size_t *out_len, enum fg_repair_kind *kind);

/* "fences", "prose", "closed", "none". */
const char *fg_repair_kind_name(enum fg_repair_kind k);

#endif
