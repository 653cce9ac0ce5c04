/* pipeline.h — the stages one inference call passes through.
 *
 * Contract: fg_pipeline_run() runs the stages of the table in pipeline.c
 * over one call, in order:
 *   resolve    model name → configured model or route (route.c decides the
 *              tier) → provider and dialect adapters; wrong-kind models
 *              (embeddings vs chat, Responses on Anthropic) refused here
 *   meter      the prompt measured (token estimate, prefix fingerprints)
 *   structured a response schema: validation set up, output cap derived
 *   admit      allow-list, budgets reserved at the worst case, RPM/TPM
 *   respcache  an exact repeat answered from the response cache
 *   deploy     which deployment of the model (affinity, load, breakers)
 *   encode     the upstream body: byte splices of the client's body (prompt
 *              cache markers, model id, schema) or a translation
 * then starts the upstream transfer (relay.h), or, for a batch line's
 * plan, has its client answer with the plan instead (client.h plan).  A stage returns 0
 * to go on, 1 when it answered the call itself (the reply is complete: a
 * cache hit), -1 with c->err filled; fg_pipeline_run returns the same and
 * the caller replies with the error.  No stage writes to the client. */
#ifndef FRUGAL_PIPELINE_H
#define FRUGAL_PIPELINE_H

#include "call.h"

int fg_pipeline_run(struct fg_call *c);
/* Build the upstream request again after c->serve.model changed (escalation). */
int fg_pipeline_reencode(struct fg_call *c);

#endif
