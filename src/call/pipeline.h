/* pipeline.h — the stages one inference call passes through.
 *
 * Contract: fg_pipeline_run() runs each stage over the call in order
 * (resolve the model and provider, then encode the body for the upstream
 * dialect) and starts the upstream transfer.  A stage that fails fills
 * c->err and the pipeline returns -1; the caller replies with the error.
 * Later capabilities (routing, response cache, prompt cache, schema,
 * admission: allow-lists, budgets and rate limits) are stages in the table
 * in pipeline.c.  Returns 1 when a stage answered
 * the call itself (a response-cache hit): the reply is complete. */
#ifndef FRUGAL_PIPELINE_H
#define FRUGAL_PIPELINE_H

#include "call.h"

int fg_pipeline_run(struct fg_call *c);
/* Build the upstream request again after c->model changed (escalation). */
int fg_pipeline_reencode(struct fg_call *c);

#endif
