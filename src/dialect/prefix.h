/* prefix.h — prompt prefix fingerprints: where repeated context is.
 *
 * A chain hash over tools → system → each message, each part serialised
 * canonically (object keys sorted, string escapes decoded, cache_control /
 * prompt_cache_breakpoint markers ignored), so equal content always hashes
 * equal whatever its spelling or breakpoints.  Each link is a boundary
 * with the cumulative token estimate (canonical bytes / 4) up to it.
 *
 * fg_prefix_scan() computes the boundaries of a request body (either
 * dialect).  The "stable prefix" is everything before the last message.
 * fg_prefix_seen() consults and updates the sightings of the process's
 * shared state (shared.h: in-process a table of recently seen boundaries,
 * thread-safe): it returns the token estimate of the longest boundary of
 * this call that was seen within window_ms. */
#ifndef FRUGAL_PREFIX_H
#define FRUGAL_PREFIX_H

#include "config.h"
#include "json.h"

#include <stdint.h>

#define FG_PREFIX_MAX_BOUNDARIES 64 /* later messages extend the last one */

enum fg_prefix_part { FG_PART_TOOLS, FG_PART_SYSTEM, FG_PART_MESSAGE };

struct fg_prefix {
    int n; /* boundaries */
    uint64_t hash[FG_PREFIX_MAX_BOUNDARIES];
    int64_t tokens[FG_PREFIX_MAX_BOUNDARIES];
    /* what ends at each boundary, and its token in the scanned body */
    uint8_t part[FG_PREFIX_MAX_BOUNDARIES];
    int tok[FG_PREFIX_MAX_BOUNDARIES];
    /* evidence filled by fg_prefix_seen: when each boundary was last seen
     * before this call (0 = never) and the smoothed gap between sightings */
    int64_t prev_ms[FG_PREFIX_MAX_BOUNDARIES];
    int64_t gap_ms[FG_PREFIX_MAX_BOUNDARIES];
    int stable;           /* 1 when there is a stable prefix */
    uint64_t stable_hash; /* everything before the last message */
    int64_t stable_tokens;
    int64_t total_tokens; /* estimate for the whole prompt */
};

void fg_prefix_scan(const struct fg_json *body, enum fg_dialect d, struct fg_prefix *p);
/* Hex of the stable prefix hash into out[17], or "" when there is none. */
void fg_prefix_fingerprint(const struct fg_prefix *p, char out[17]);
int64_t fg_prefix_seen(struct fg_prefix *p, int64_t now_ms, int64_t window_ms);
/* The canonical hash of one JSON value (keys sorted, escapes decoded,
 * cache markers ignored), from `seed`; *bytes gets its canonical size. */
uint64_t fg_prefix_canon_hash(const struct fg_json *j, int i, uint64_t seed, int64_t *bytes);

/* Forget everything (tests). */
void fg_prefix_reset(void);

#endif
