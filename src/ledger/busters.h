/* busters.h — cache busters: volatile text inside what should be a stable
 * prompt prefix (a timestamp or request id at the top of the system prompt,
 * tools sent in a different order, JSON keys in a different order).
 *
 * Providers cache a prompt prefix byte for byte: one changing byte near the
 * top makes everything after it a cache miss on every call.  The detector
 * remembers, per cache-sharing group (key id + tags + model, built by the
 * caller), the stable-prefix sections of the group's latest request and
 * compares each new request with them.
 *
 * Sections, in prompt order: "tools" (the tools array serialised compactly
 * in the client's order, cache_control markers dropped), "system"
 * (Anthropic: the system string or its text blocks joined by "\n"; OpenAI:
 * the leading system/developer messages' texts joined by "\n"), then
 * "message N" for every other message before the last one, N being its
 * index in the client's messages array (text: the string content, or its
 * parts joined by "\n": text parts as text, other parts as compact JSON, a
 * large non-text part such as an image as "[TYPE HASH]"; OpenAI tool_calls
 * appended as compact JSON).
 *
 * The first section whose text hash differs from the previous request's is
 * examined.  It is a buster when
 *   - its parts are the same multiset in another order (reordered tools, a
 *     tool schema with another key order: parts are compared by a
 *     canonical hash with object keys sorted) → reorder = true, or
 *   - common prefix + common suffix >= 80% of the longer text.
 * (Text hashes are byte-exact, as providers' caches are: key order and
 * tool order count; string escapes and cache_control markers do not.)
 * Not busters: identical prefixes, a first call, a conversation that grew
 * (the previous sections are a prefix of this request's), a section that is
 * entirely new (a different prompt), a change of section layout (tools or
 * system added/removed).
 *
 * offset / sample: the first differing byte, moved back to the start of the
 * word or number run it sits in (so a timestamp "2026-11-26T09:00:05Z"
 * whose seconds changed is reported from its first digit; at most 64
 * bytes back, never inside a multi-byte character).
 *
 * Memory: at most FG_BUSTERS_MAX_GROUPS groups (LRU).  Per section the
 * group keeps its length, text hash and parts hash, and at most 8 KB: the
 * first 5.5 KB and last 2 KB of the text plus up to 64 hashes of equal
 * chunks of the middle (a change in the middle of a section longer than
 * 7.5 KB is located to its chunk, not to the byte).  A group keeps text
 * for at most FG_BUSTERS_GROUP_TEXT bytes of sections and at most
 * FG_BUSTERS_MAX_SECTIONS sections; a change in a section kept without text
 * is not examined.
 * tokens: canonical bytes / 4 (as in prefix.h) of the changed section
 * from the offset on (pro rata), plus every later stable section.
 * Cost: one hash pass over the prefix text (a single unescaped string is
 * not even copied) and a copy of at most 8 KB per section; a changed
 * section also gets a canonical walk.  Thread-safe: one mutex, held only
 * for the group lookup and for the compare-and-swap with the group's
 * latest request. */
#ifndef FRUGAL_BUSTERS_H
#define FRUGAL_BUSTERS_H

#include "config.h"
#include "json.h"

#include <stdbool.h>
#include <stdint.h>

#define FG_BUSTERS_MAX_GROUPS 512
#define FG_BUSTERS_MAX_SECTIONS 64
#define FG_BUSTERS_GROUP_TEXT (32 * 1024)

struct fg_buster {
    char where
        [24]; /* "tools" | "system" | "message 0" … (the section of the stable prefix that changed) */
    int64_t offset;  /* byte offset of the first differing byte within that section's text */
    char sample[64]; /* the current text at that offset (up to ~40 chars, printable, UTF-8 safe) */
    int64_t tokens;  /* estimated tokens of the prefix that is no longer reusable: from this
                            section's offset to the end of the stable prefix (canonical bytes/4) */
    bool reorder;    /* the same set of parts/keys in a different order */
};

/* group = who shares a cache (key id + tags + model, built by the caller).
 * body = the client request's fg_json index (root 0), d = its dialect.
 * Compares the request's stable prefix (tools, system, every message but
 * the last) with the previous request of the same group: true and *out
 * filled when it changed although the first changed section shares most of
 * its text (or holds the same parts reordered).  Remembers this request as
 * the group's latest either way. */
bool fg_busters_check(const char *group, const struct fg_json *body, enum fg_dialect d,
                      struct fg_buster *out);
/* Number of groups remembered (tests). */
int fg_busters_groups(void);
void fg_busters_reset(void);    /* forget everything (tests) */
void fg_busters_shutdown(void); /* free all state */

#endif
