/* meter.h — what each call used and cost, captured on the way through.
 *
 * Contract (all on the worker thread, no I/O):
 *  - fg_meter_request(): at pipeline time, fingerprints the prompt prefix.
 *  - fg_meter_encode(): at each encode (a fallback or an escalation encodes
 *    again, for its own model), asks an OpenAI stream sent as the client
 *    wrote it for usage (stream_options.include_usage) when the client
 *    didn't, remembering to hide that extra chunk from it.
 *  - fg_meter_response() / fg_meter_event(): read usage (and, for calls
 *    that asked for JSON, the answer text) from a non-streamed body or from
 *    each stream event.  fg_meter_event() returns false for an event the
 *    client must not see (the injected usage chunk).
 *  - fg_meter_price(): prices the call (idempotent); fg_meter_cost_headers
 *    adds x-frugal-cost-usd / x-frugal-saved-usd; fg_meter_cost_comment
 *    writes the same as an SSE comment for streams (the SDKs ignore it).
 *  - fg_meter_submit(): one ledger record per call, whatever its outcome. */
#ifndef FRUGAL_METER_H
#define FRUGAL_METER_H

#include "call.h"
#include "sse.h"

#include <stdbool.h>

struct evbuffer;

int fg_meter_request(struct fg_call *c);
void fg_meter_encode(struct fg_call *c);
void fg_meter_response(struct fg_call *c);
bool fg_meter_event(struct fg_call *c, const struct fg_sse_event *ev);
/* An upstream error body (parsed in c->up.resp) that is the provider's
 * content filter refusing the prompt marks the record (cfilter.h). */
void fg_meter_filtered_error(struct fg_call *c);
void fg_meter_price(struct fg_call *c);
void fg_meter_cost_headers(struct fg_call *c);
void fg_meter_cost_comment(struct fg_call *c, struct evbuffer *out);
/* final: the call's last record (not an attempt followed by another). */
void fg_meter_submit(struct fg_call *c, bool final);

#endif
