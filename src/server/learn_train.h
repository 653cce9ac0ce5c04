/* learn_train.h — retraining a route on its own labels, in the daemon
 * (issue #22 item 2).
 *
 * Contract:
 *  - fg_learn_train_start() runs one thread (never a worker's loop: every
 *    store access and every fit blocks) when some route has `learn:` and
 *    the store opens (SQLite or Postgres, learn_store.h).  Before it returns, each
 *    learning route that does not pin a `weights:` file runs its active
 *    version from the store (a learned version wins over the built-in
 *    weights after a restart).
 *  - fg_learn_train_label() (any thread, never blocks on the store) queues
 *    a label from shadow evaluation with the sampled request body; the
 *    thread extracts the classifier's features (router.h) from the body
 *    and writes them, and the prompt text only with `learn.store_prompts`.
 *    At most FG_LEARN_TRAIN_QUEUE labels wait; more are dropped (with a
 *    warning).  Labels still queued at fg_learn_train_stop() are written.
 *  - Once a second, per learning route: the active version in the store is
 *    loaded when it differs from the one running (a rollback, or another
 *    replica's fit); when the route has `learn.retrain_every` labels newer
 *    than its last fit and its lease in route_lock is ours, a new version
 *    is fitted on its labels (fg_route_tool_fit_feats, the running weights
 *    as the prior), every 5th label held out.  It is swapped in only when
 *    its held-out APGR is higher than the running weights', or equal (both
 *    undefined: one class only) with a lower held-out log loss.  Every fit
 *    is recorded with its evaluation, accepted or not.
 *  - A route with a `weights:` file is pinned: no label is fitted, no
 *    stored version is loaded.
 *  - Also once a second (and before the first call), per route with
 *    `learn:`: its operating point from its own labels (route/
 *    learn_point.h) is recomputed when the label count or the running
 *    version changed, once it has learn.min_labels, and published in
 *    app->learned_ops[i] (an atomic pointer exchange; replaced points are
 *    kept until stop, like weights; the array is allocated here and freed
 *    at stop, after the workers); the verdict is logged when it changes.
 *    Without a cross-process counter store (no `redis:`) the route's
 *    learning spend is added to the store's route_spend and the other
 *    replicas' charged to its budget (learn_shadow.h), once more when
 *    the thread stops.  Stop it before fg_learn_shadow_free().
 *  - A lost Postgres connection is reconnected by the store on its next
 *    call (learn_store.h): labels and fits carry on.
 *  - The swap is an atomic pointer exchange of app->routers[i]; replaced
 *    weights stay allocated until fg_learn_train_stop() (after the workers
 *    are joined), since a call may still be scoring with them. */
#ifndef FRUGAL_LEARN_TRAIN_H
#define FRUGAL_LEARN_TRAIN_H

#include "config.h"

#include <stddef.h>

#define FG_LEARN_TRAIN_QUEUE 4096

struct fg_app;

void fg_learn_train_start(struct fg_app *app);
void fg_learn_train_label(size_t route, const char *call_id, int label, const char *body,
                          size_t len, enum fg_dialect d);
void fg_learn_train_stop(void);

#endif
