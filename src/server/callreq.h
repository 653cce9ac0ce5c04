/* callreq.h — the HTTP edge of a call: the request headers it needs, read
 * once into the call.
 *
 * Contract (worker thread; strings in the call's arena):
 *  - fg_callreq_read(c, req) fills c->rq (call.h struct fg_call_req) from
 *    req's headers: anthropic-version and -beta, x-frugal-route (parsed by
 *    route.h's rule), x-frugal-cache: bypass, x-frugal-tags (as sent),
 *    x-sim-fault, and every header some provider dialect forwards
 *    upstream (the dialects' forward_headers lists; which of them go
 *    upstream is the serving dialect's choice, made later in relay.c).
 *    It is called where the call is created (api.c, passthru.c), before
 *    any stage runs; afterwards nothing in call/ reads request headers.
 *  - Values are copied, so they outlive the request (a call retrying after
 *    its client left still has them).  Over-long values are cut at
 *    FG_CALLREQ_MAX_VALUE bytes (no header the gateway reads is that long).
 *  - Then it resolves the call's tags (c->who.tags, keyreg.h
 *    fg_keyreg_call_tags) from the caller (c->who.key_id and c->who.vkey, which
 *    must be set: call it after auth) and x-frugal-tags.
 *  - It reads no credentials (auth.h does). */
#ifndef FRUGAL_CALLREQ_H
#define FRUGAL_CALLREQ_H

struct fg_call;
struct fg_edge_req;

#define FG_CALLREQ_MAX_VALUE 4096

void fg_callreq_read(struct fg_call *c, struct fg_edge_req *req);

#endif
