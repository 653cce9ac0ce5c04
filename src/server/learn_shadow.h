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
 *    `sample` (a hash of its id), when the route's learning budget admits
 *    it (below).  Nothing about the client's call
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
 *  - The learning budget (budget_usd_per_day, per UTC day) is a budget
 *    (budget.h) on a shared counter "learn:<route>": a sampled call starts
 *    its evaluation only after holding the route's estimate of what one
 *    costs (the costliest evaluation this process has seen, at least one
 *    pico-USD), checked against spend + every hold; the hold is settled to
 *    the evaluation's real cost when it ends.  With `redis:` the counter
 *    is in Redis, so every replica holds and settles in the same one (one
 *    asynchronous round trip; never blocking the loop).  Without it the
 *    counter is in process, and the training thread (learn_train.h) adds
 *    this process's spend to the store's route_spend row once a second and
 *    charges what the others added (fg_learn_shadow_unsynced/_synced), so
 *    replicas on one store see each other's spend within that second, and
 *    a restart starts from the day's spend so far.  Overrun: an evaluation
 *    costlier than the estimate overshoots by its excess; without Redis,
 *    also what other replicas spent since the last sync.
 *  - Prompts: nothing of the request is kept by this module beyond the
 *    evaluation.
 *  - Threads: the hook and the evaluation run on worker threads; the
 *    per-route counters are atomics.  fg_learn_shadow_free() after the
 *    workers are joined and the training thread stopped (its spend sync
 *    reads this module's state) frees evaluations that never got to run. */
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

/* The training thread's spend sync without a cross-process store: take
 * (and zero) the route's spend not yet in the store; after adding it to
 * the store, report the store's total for `day` (total < 0: the store
 * failed, and `mine` is kept for the next sync). */
int64_t fg_learn_shadow_unsynced(size_t route);
void fg_learn_shadow_synced(size_t route, int64_t day, int64_t total, int64_t mine);

#endif
