/* route_versions.h — `frugal route history ROUTE [--json]` and
 * `frugal route rollback ROUTE [VERSION]`: the weights versions retraining
 * produced for a route (route/learn_store.h), read from the config's
 * storage.
 *
 * Contract (a command, not the daemon):
 *  - history lists every fit, oldest first: version, time, labels, held
 *    out, held-out APGR and log loss before and after, accepted or not,
 *    and which version is active (0 = the built-in weights).
 *  - rollback makes VERSION (an accepted one, or 0 for the built-in
 *    weights; default: the accepted version before the active one) the
 *    route's active version in the store; running daemons load it within
 *    about a second (learn_train.h).
 *  - Exit status: 0, 1 on a store error or an unknown version, 2 on bad
 *    usage. */
#ifndef FRUGAL_ROUTE_VERSIONS_H
#define FRUGAL_ROUTE_VERSIONS_H

#include "config.h"

/* argv[0] = "history" | "rollback", argv[1] = ROUTE, then arguments. */
int fg_route_versions_main(const struct fg_config *cfg, int argc, char **argv);

#endif
