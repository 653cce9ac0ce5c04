/* upcaps.h — what an upstream provider turned out not to accept, learned
 * from its own refusals, per provider (index into cfg->providers), shared
 * by all workers for the life of the process.
 *
 * frugal adds members of its own to OpenAI-dialect bodies:
 * stream_options.include_usage on streams the client sent without it
 * (meter.h: most OpenAI-compatible servers report a stream's usage only
 * when asked) and prompt_cache_key (promptcache.h: cache routing).  A
 * server that does not know such a member (an older vLLM, Fireworks, a
 * strict proxy) refuses the whole request with a 400 naming it; such a
 * provider is then asked without it, at once and from then on.
 * Recognised from what the provider answers, never from its host.
 * Contract:
 *  - fg_upcaps_refused(): the members among `added` that this answer
 *    (status, body) refuses: a 400 or 422 whose body names them.
 *  - fg_upcaps_lacks() / fg_upcaps_mark(): the learned facts (lock-free
 *    reads on the hot path). */
#ifndef FRUGAL_UPCAPS_H
#define FRUGAL_UPCAPS_H

#include <stdbool.h>
#include <stddef.h>

enum fg_upcap {
    FG_UPCAP_STREAM_USAGE = 1, /* stream_options */
    FG_UPCAP_CACHE_KEY = 2,    /* prompt_cache_key */
};

unsigned fg_upcaps_refused(unsigned added, long status, const char *body, size_t len);
bool fg_upcaps_lacks(int provider_index, enum fg_upcap cap);
void fg_upcaps_mark(int provider_index, unsigned caps);
/* The member's name, for logs. */
const char *fg_upcaps_names(unsigned caps);

#endif
