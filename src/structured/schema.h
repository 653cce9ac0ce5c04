/* schema.h — JSON Schema validation for structured outputs (slow path).
 *
 * Contract:
 * - Keywords enforced: type (string or list; "integer" accepts 1.0),
 *   properties, required, additionalProperties (bool or schema),
 *   patternProperties, minProperties/maxProperties, enum, const, items
 *   (schema, or a draft-4 list + additionalItems), prefixItems,
 *   minItems/maxItems, uniqueItems, minLength/maxLength (Unicode code
 *   points), pattern, minimum/maximum/exclusiveMinimum/exclusiveMaximum
 *   (number, or draft-4 boolean), multipleOf (decimals via a relative
 *   tolerance), anyOf/oneOf/allOf/not, if/then/else, $ref with $defs /
 *   definitions (local only: "#", "#/..." JSON pointers with ~0 ~1 and
 *   %-escapes; siblings of $ref apply too), boolean schemas, and format
 *   for date-time, date, time (RFC 3339, offset required), duration,
 *   email, hostname, ipv4, ipv6, uuid, uri.  Other keywords and formats
 *   are annotations (ignored).  Equality (enum, const, uniqueItems) is
 *   deep and numeric (1 == 1.0).
 * - pattern: PCRE2 in UTF mode, ECMA-262 flavoured (\uXXXX and \u{...},
 *   "$" only at the very end), unanchored unless the pattern anchors itself.
 * - Errors: the first error found, children before their parent's own
 *   keywords (deepest first); for anyOf/oneOf the deepest branch error, or
 *   "matches no anyOf branch (...)" when all branches fail at the value.
 *   Paths look like $.items[2].name, $["odd key"].x.
 * - A compiled schema is immutable and may be used from any thread.
 *   fg_schema_free() and fg_schema_release() both drop one reference; the
 *   schema is freed with its last reference.
 * - Cache: process-wide, thread-safe, keyed by a 64-bit hash of the
 *   canonical text (keys sorted, compact) and confirmed by comparing the
 *   text, at most FG_SCHEMA_CACHE_MAX schemas, least recently used evicted
 *   (an evicted schema lives on while callers hold references).
 * - Documents with integers beyond 64 bits are read as doubles. */
#ifndef FRUGAL_SCHEMA_H
#define FRUGAL_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#define FG_SCHEMA_CACHE_MAX 256

struct fg_schema; /* compiled, immutable, thread-safe to use */

struct fg_schema_error {
    char path[256]; /* "$.items[2].name" */
    char msg[256];  /* "expected integer, got string" */
};

/* Compile schema JSON text; NULL with err on an invalid/unsupported schema
 * (e.g. a remote $ref, an invalid pattern).  The result holds one
 * reference. */
struct fg_schema *fg_schema_compile(const char *text, size_t len, char *err, size_t errlen);
void fg_schema_free(struct fg_schema *s); /* same as fg_schema_release */

/* Process-wide cache: the same schema (canonically) gives the same pointer
 * while cached.  Each successful get must be paired with a release. */
struct fg_schema *fg_schema_get(const char *text, size_t len, char *err, size_t errlen);
void fg_schema_release(struct fg_schema *s);
void fg_schema_cache_shutdown(void); /* drops the cache's references */
size_t fg_schema_cache_size(void);   /* schemas currently cached */

/* Validate a document given as JSON text: 0 valid; -1 invalid (e = first
 * error); -2 not JSON (e->msg says why and where).  e may be NULL. */
int fg_schema_validate(const struct fg_schema *s, const char *doc, size_t len,
                       struct fg_schema_error *e);
/* The same on a parsed jansson value (0 or -1). */
int fg_schema_validate_json(const struct fg_schema *s, const json_t *doc,
                            struct fg_schema_error *e);

/* An estimate of the maximum output tokens of a conforming answer when the
 * schema is bounded (every string has an enum/const/maxLength or a known
 * format, every array a maxItems (or closed prefixItems), no open
 * additionalProperties or patternProperties, every value a type, enum or
 * const, no recursion), else -1: ceil(chars of the longest conforming
 * compact JSON / 3).  Integers without both bounds count 20 chars, numbers
 * 24, strings maxLength + 2 (escapes not counted). */
long fg_schema_max_tokens(const struct fg_schema *s);

/* Schema rewritten for a target provider (a new value; the input is not
 * modified).
 * FG_SCHEMA_OPENAI_STRICT (spec 6.1): keeps type, enum, const, anyOf,
 *   $ref/$defs/definitions, properties, items, description, title, pattern,
 *   format (OpenAI list), multipleOf, minimum, maximum, exclusiveMinimum,
 *   exclusiveMaximum, minItems, maxItems; oneOf becomes anyOf; a
 *   one-element allOf is inlined; every object gets additionalProperties
 *   false and all its properties required, optional ones made nullable
 *   (type union with null, or anyOf [..., {"type":"null"}]); everything
 *   else is dropped.
 * FG_SCHEMA_ANTHROPIC (spec 6.2, like the SDK's transform_schema): keeps
 *   type, enum, const, anyOf (oneOf becomes anyOf), allOf, $ref (alone),
 *   $defs/definitions, description, title, properties, required, items,
 *   format (Anthropic list), minItems 0 or 1; objects get
 *   additionalProperties false; anything else is moved into the
 *   description as "\n\n{minimum: 3, pattern: ^a}".
 * dropped (may be NULL) gets what was stripped or moved, comma-separated,
 * deduplicated ("minLength, oneOf->anyOf, optional->nullable"). */
enum fg_schema_target { FG_SCHEMA_OPENAI_STRICT, FG_SCHEMA_ANTHROPIC };
json_t *fg_schema_for_target(const json_t *schema, enum fg_schema_target t, char *dropped,
                             size_t n);

/* A schema bound to the "json_object" response_format: any JSON object
 * (from the cache: release it). */
struct fg_schema *fg_schema_any_object(void);

#endif
