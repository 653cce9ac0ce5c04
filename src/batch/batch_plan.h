/* batch_plan.h — the pipeline's answer to a batch line in plan mode.
 *
 * The batch executor runs each line through the gateway's pipeline
 * in-process as a plan (batch_client.h; fg_call_set_batch_line with
 * plan = true).  After the encode stage the call is answered, through its
 * client, instead of being sent, with the request frugal would have sent:
 *   {"provider": NAME, "batch": "provider"|"local", "dialect": "openai"|
 *    "anthropic", "model": CONFIGURED, "upstream_model": ID, "route": …,
 *    "route_reason": …|null, "forced_tool": NAME|null,
 *    "worst_pico": N|null, "body": {…}}
 * worst_pico is the line's worst case at the model's batch price (admit.h;
 * null when unpriced): what a provider-mode line reserves on its budgets.
 * No ledger record is written for a plan. */
#ifndef FRUGAL_BATCH_PLAN_H
#define FRUGAL_BATCH_PLAN_H

struct fg_call;

/* Reply to the call with its plan; returns 1 (answered). */
int fg_batch_plan_reply(struct fg_call *c);

#endif
