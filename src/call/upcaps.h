/* upcaps.h — what an upstream provider turned out not to accept, learned
 * from its own refusals, per provider (index into cfg->providers), shared
 * by all workers for the life of the process.
 *
 * frugal adds stream_options.include_usage to OpenAI-dialect streams the
 * client sent without it (meter.h), because most OpenAI-compatible servers
 * report a stream's usage only when asked.  A server that does not know
 * the member (an older vLLM, a strict proxy) refuses the whole request
 * with a 400 naming it; such a provider is then asked without it (its
 * streams' tokens are counted from the text and marked estimated, as for
 * any provider that reports none).  Recognised from what the provider
 * answers, never from its host.
 * Contract:
 *  - fg_upcaps_refuses_stream_usage(): is this answer (status, body) such a
 *    refusal?  A 400 or 422 whose body names stream_options.
 *  - fg_upcaps_no_stream_usage() / fg_upcaps_set_no_stream_usage(): the
 *    learned fact (lock-free reads on the hot path). */
#ifndef FRUGAL_UPCAPS_H
#define FRUGAL_UPCAPS_H

#include <stdbool.h>
#include <stddef.h>

bool fg_upcaps_refuses_stream_usage(long status, const char *body, size_t len);
bool fg_upcaps_no_stream_usage(int provider_index);
void fg_upcaps_set_no_stream_usage(int provider_index);

#endif
