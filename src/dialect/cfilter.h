/* cfilter.h — a provider's content filter in its answers (Azure OpenAI
 * always reports it; OpenAI's own API can end an answer the same way).
 *
 * Contract:
 *  - A filtered answer is a real outcome, not an empty success: the client
 *    gets it exactly as the provider sent it, and the call's ledger record
 *    says so (its error text starts with FG_CFILTER_TAG, meter.c).
 *  - Three places show it: a complete answer (a choice's finish_reason, or
 *    a Response's incomplete_details.reason, is "content_filter"), a stream
 *    event carrying that finish_reason or reason, and an error body whose
 *    code is "content_filter" (Azure refusing the prompt with a 400).
 *  - Readers only: they read a parsed body or an event's bytes, never
 *    allocate, and are thread-safe.  The event check is a byte scan (it runs
 *    on every OpenAI-dialect event) that parses nothing. */
#ifndef FRUGAL_CFILTER_H
#define FRUGAL_CFILTER_H

#include "json.h"
#include "sse.h"

#include <stdbool.h>

#define FG_CFILTER_TAG "content_filter"

/* The complete answer at the root of j was cut by the content filter. */
bool fg_cfilter_answer(const struct fg_json *j);
/* The stream event ends an answer the filter cut. */
bool fg_cfilter_event(const struct fg_sse_event *ev);
/* The error body at the root of j is the filter refusing the prompt. */
bool fg_cfilter_error(const struct fg_json *j);

#endif
