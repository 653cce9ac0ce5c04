/* promptcache.h — provider prompt caching, placed from evidence.
 *
 * Contract: fg_promptcache_plan() looks at the request as it will go
 * upstream (index `j` of the bytes to send, in the provider's dialect, and
 * its prefix scan `p` with sighting evidence from fg_prefix_seen) and adds
 * splice edits (fg_json_edit, ascending, non-overlapping with the caller's)
 * that make repeated prefixes cheap:
 *  - Anthropic: when the client placed no cache_control anywhere, a
 *    breakpoint at the end of tools, of system, and of the longest stable
 *    stretch of the conversation — each only if its cumulative prefix
 *    reaches the model's minimum cacheable length and it was seen before
 *    within an hour (a prefix seen once never pays the write premium; a
 *    recurring one is written on its second sighting).  TTL per prefix:
 *    5m when it recurs within ~4 minutes, else 1h (one 2x write beats a
 *    1.25x rewrite every time the 5m entry lapses); 1h entries always come
 *    before 5m ones; never more than 4 breakpoints.
 *  - OpenAI: prompt_cache_key from the fingerprint of the prompt's first
 *    part when the client set none, so calls sharing a prefix reach the
 *    same cache; on models with explicit breakpoints (gpt-5.6+, gpt-6*),
 *    prompt_cache_breakpoint on the same evidence.
 * Edits point at arena text; no I/O; the caller splices. */
#ifndef FRUGAL_PROMPTCACHE_H
#define FRUGAL_PROMPTCACHE_H

#include "arena.h"
#include "config.h"
#include "json.h"
#include "prefix.h"

#include <stddef.h>
#include <stdint.h>

struct fg_pc_edits {
    struct fg_json_edit *e;
    size_t n, cap;
    struct fg_arena *arena; /* replacement text lives here */
};

struct fg_pc_opts {
    enum fg_dialect dialect; /* of j */
    const char *model;       /* upstream model id */
    bool auto_breakpoints;   /* config prompt_caching.auto_breakpoints */
    bool openai_cache_key;   /* config prompt_caching.openai_cache_key */
    int ttl_seconds;         /* config prompt_caching.ttl: >= 3600 forces 1h */
    int64_t now_ms;
};

/* Returns the number of breakpoints placed (cache key not counted). */
int fg_promptcache_plan(const struct fg_json *j, const struct fg_prefix *p,
                        const struct fg_pc_opts *o, struct fg_pc_edits *out);

/* Did the client place its own cache markers (cache_control in Anthropic
 * bodies, prompt_cache_breakpoint in OpenAI ones)? */
bool fg_promptcache_client_marked(const struct fg_json *j, enum fg_dialect d);

#endif
