/* admit.h — admission of an inference call: what its key may call, and
 * whether its budgets and rate limits have room for it.
 *
 * Contract (worker thread; counters in memory (keyreg.h) or, with Redis,
 * one asynchronous round trip that never blocks the loop, shared.h):
 *  - fg_admit_request() is a pipeline stage, run once the model or route
 *    is resolved and the prompt measured (meter.h) and before anything is
 *    answered or sent upstream.  In order: the key's allow-list (403
 *    `model_not_allowed` naming the model; a route named in the list
 *    permits that route), then the budgets — the key's, the tag budgets
 *    of the tags it is charged for (fg_keyreg_charged_tags: a virtual
 *    key's own tags, never a header's) and the gateway's (gateway_budget,
 *    every caller) — all reserved at once for the call's worst case (429
 *    `budget_exceeded` naming the budget, its spend and when it resets,
 *    with retry-after and x-should-retry: false; the refusal is told to
 *    alert.h); a soft budget is held and counted but never refuses (nor
 *    makes a call model_unpriced); then the key's RPM/TPM (429 `rate_limit_exceeded` with
 *    retry-after).  A budget applies only to priced models (403
 *    `model_unpriced` otherwise), unless the key was created with
 *    allow_unpriced: then an unpriced call passes its budgets holding
 *    nothing (it is recorded unpriced).  Embeddings hold no output.
 *  - A batch line's plan (c->batch.plan) is checked like a call (allow-
 *    list, priced model) but holds no budget and spends no RPM/TPM: a
 *    provider-mode line is reserved when it is submitted (batch_budget.h),
 *    a local-mode line when it runs.
 *  - Worst case: the prompt estimate (plus a margin for the estimator)
 *    at the model's dearest input-class price (input or cache write) plus
 *    max output tokens (the request's max_completion_tokens / max_tokens
 *    × n, else a schema-derived cap, else the model's output limit) at its
 *    output price; for a route the dearest of its cheap and frontier
 *    models.  TPM holds prompt estimate + max output tokens.
 *  - Budgets, the rate limit and (with a cross-process store) the key's
 *    revocation version are one atomic apply, all or none.  When the store
 *    answers later fg_admit_request returns FG_PIPELINE_WAIT and resumes
 *    the pipeline itself (pipeline.h); a call that ends first cancels it
 *    (fg_admit_release).  Store unreachable and failing closed: 503
 *    `budget_store_unavailable` for a call held to a budget or rate limit;
 *    a key revoked elsewhere: 401 `key_revoked`.
 *  - The hold lives in c->admit (arena).  Every attempt's ledger record
 *    settles it with that attempt's real cost and tokens
 *    (fg_admit_settle, from meter.c); fg_admit_next_attempt holds the
 *    worst case again for a retry, escalation or fallback; fg_admit_release
 *    (call end) frees whatever is still held.  Each hold is released
 *    exactly once, whichever way the call ends. */
#ifndef FRUGAL_ADMIT_H
#define FRUGAL_ADMIT_H

#include "budget.h"
#include "call.h"
#include "ratelimit.h"

struct fg_admit {
    struct fg_budget_hold budget;
    struct fg_ratelimit_hold rate;
    int64_t worst_pico; /* per attempt */
    int64_t worst_tokens;
};

/* The pipeline stage: FG_PIPELINE_WAIT resumes with fg_pipeline_resume. */
int fg_admit_request(struct fg_call *c);
/* The same outside the pipeline (passthrough): when it returns
 * FG_PIPELINE_WAIT, then(c, rc) is called later on the call's loop with
 * what it would have returned (0 or -1), unless the call ended first. */
typedef void (*fg_admit_then_fn)(struct fg_call *c, int rc);
int fg_admit_request_then(struct fg_call *c, fg_admit_then_fn then);
void fg_admit_settle(struct fg_call *c, const struct fg_record *r);
void fg_admit_next_attempt(struct fg_call *c);
void fg_admit_release(struct fg_call *c);

/* The worst-case cost (pico-USD) and tokens of a call with prompt estimate
 * `prompt_tokens` and output cap `max_out` on a model priced p. */
int64_t fg_admit_worst_cost(const struct fg_price *p, int64_t prompt_tokens, int64_t max_out);
/* The output cap call c asked for (max_completion_tokens / max_tokens × n,
 * see the worst case above), or 0; *n gets the number of choices.  Reads
 * the request body: call at pipeline time (meter.c keeps both to bound
 * the usage the provider reports). */
int64_t fg_admit_asked_output(const struct fg_call *c, int64_t *n);
/* The prompt estimate with the estimator's margin. */
int64_t fg_admit_prompt_margin(int64_t prompt_tokens);
/* Price p as a provider batch charges it, per token class, for the worst
 * case (each class at least what fg_price_cost(…, batch) charges). */
void fg_admit_batch_price(const struct fg_price *p, struct fg_price *out);
/* The worst case of call c (resolved, measured) on the model it settled on,
 * at that model's batch price: what a provider-batch line reserves.  -1
 * when the model is unpriced. */
int64_t fg_admit_worst_batch(const struct fg_call *c);
/* The 429 message (and code budget_exceeded) for a `what` ("call",
 * "request") of worst case `worst` that does not fit budget b of `whose`;
 * `extra` (or NULL) follows the worst case, saying what made it large. */
void fg_admit_budget_message(struct fg_err *e, const char *whose, const struct fg_budget_view *b,
                             int64_t worst, const char *what, const char *extra);

#endif
