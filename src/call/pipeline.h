/* pipeline.h — the stages one inference call passes through.
 *
 * Contract: fg_pipeline_run() runs the stages of the table in pipeline.c
 * over one call, in order:
 *   resolve    model name → configured model or route (route.c decides the
 *              tier) → provider and dialect adapters; wrong-kind models
 *              (embeddings vs chat, Responses on Anthropic) refused here
 *   meter      the prompt measured (token estimate, prefix fingerprints)
 *   structured a response schema: validation set up, output cap derived
 *   cachekey   the response cache's key of a cacheable request
 *   admit      allow-list, budgets reserved at the worst case, RPM/TPM (with
 *              a shared store, the cache's lookup, sightings and affinity in
 *              the same round trip: share.h)
 *   respcache  an exact repeat answered from the response cache
 *   deploy     which deployment of the model (affinity, load, breakers)
 *   encode     the upstream body: byte splices of the client's body (prompt
 *              cache markers, model id, schema) or a translation
 * then starts the upstream transfer (relay.h), or, for a batch line's
 * plan, has its client answer with the plan instead (client.h plan).  A stage returns 0
 * to go on, 1 when it answered the call itself (the reply is complete: a
 * cache hit), -1 with c->err filled; fg_pipeline_run returns the same and
 * the caller replies with the error.  No stage writes to the client.
 *
 * A stage may wait (admission's round trip to a shared store, shared.h):
 * it returns FG_PIPELINE_WAIT, fg_pipeline_run returns the same and the
 * caller does nothing more; the stage's own callback later calls
 * fg_pipeline_resume() with what the stage would have returned, on the
 * call's loop, and the remaining stages run — an error is then answered
 * and the call finished there, as the caller would have.  A call that ends
 * while a stage waits (client gone, shutdown) cancels the wait in
 * fg_call_finish (admit.h fg_admit_release). */
#ifndef FRUGAL_PIPELINE_H
#define FRUGAL_PIPELINE_H

#include "call.h"

#define FG_PIPELINE_WAIT 2

int fg_pipeline_run(struct fg_call *c);
void fg_pipeline_resume(struct fg_call *c, int rc);
/* Build the upstream request again after c->serve.model changed (escalation). */
int fg_pipeline_reencode(struct fg_call *c);

#endif
