/* learn_shadow.h — shadow evaluation of a route's calls (issue #22, part B):
 * the labels a route learns from, gathered from its own traffic.
 *
 * Contract:
 *  - Opt-in per route (`routes[].learn: {sample, judge, budget_usd_per_day}`,
 *    config.h).  fg_learn_shadow_init() installs a hook
 *    (runtime.h app->call_done) that sees every call as it ends, after the
 *    client has its whole answer: a routed call that succeeded (status 200,
 *    not streamed, chat / messages / responses, tier cheap or frontier as
 *    the route picked it, not a batch line) is sampled with probability
 *    `sample` (a hash of its id), while the route's learning spend today
 *    (UTC) is below budget_usd_per_day.  Nothing about the client's call
 *    changes: its answer went out before the hook runs, and the evaluation
 *    starts on the worker's loop only after the call has ended.
 *  - A sampled call is evaluated by three in-process calls of the gateway
 *    (the pipeline with a client that captures the answer, no HTTP), one
 *    after the other on the same worker:
 *      1. shadow: the same request body to the tier the route did not use;
 *      2. judge, the cheap answer as "A" (order 1);
 *      3. judge, the cheap answer as "B" (order 2);
 *    and the label is learn_label.h's (cheap no worse in both orders).  A
 *    failed step ends the evaluation without a label (its spend counts).
 *    A request with a JSON schema (the structured stage compiled one) is
 *    checked instead of judged: after step 1, label 1 when the cheap
 *    answer satisfies the schema or neither does, else 0 (no judge calls).
 *  - Ledger: each of those calls has its own record with route
 *    "routing_eval", key_id "routing_eval" (never the caller's key, so no
 *    caller's budget pays for learning), tags "route=NAME", linked_id the
 *    sampled call's id, and route_reason saying what it was ("shadow
 *    frontier for <id>", "judge, cheap as A: tie", "judge, cheap as B: B;
 *    label 0 (frontier better)", "shadow frontier for <id>; schema: cheap
 *    valid, frontier valid; label 1 (cheap no worse)").  Their cost is in cost_usd and the spend
 *    map like any call's, and counts against the route's learning budget.
 *    A budget can be overrun by at most the evaluations already started
 *    when it was reached.  The budget is per process (not yet shared by
 *    replicas).
 *  - Prompts: nothing of the request is kept by this module beyond the
 *    evaluation.
 *  - Threads: the hook and the evaluation run on worker threads; the
 *    per-route counters are atomics.  fg_learn_shadow_free() after the
 *    workers are joined frees evaluations that never got to run. */
#ifndef FRUGAL_LEARN_SHADOW_H
#define FRUGAL_LEARN_SHADOW_H

#include <stddef.h>
#include <stdint.h>

struct fg_app;

/* Per route, since start (for `frugal route report` and tests). */
struct fg_learn_shadow_stats {
    uint64_t sampled;      /* evaluations started */
    uint64_t labels_ok;    /* label 1: cheap no worse */
    uint64_t labels_worse; /* label 0: frontier better */
    uint64_t unlabelled;   /* ended without a label (a failed step, no verdict) */
    uint64_t over_budget;  /* calls not sampled because the budget was spent */
    int64_t spent_pico;    /* learning spend today (UTC) */
};

/* Install the hook when some route has `learn:`; no-op otherwise. */
void fg_learn_shadow_init(struct fg_app *app);
void fg_learn_shadow_stats(size_t route, struct fg_learn_shadow_stats *out);
void fg_learn_shadow_free(void);

#endif
