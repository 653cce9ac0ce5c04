/* route_report.h — `frugal route report ROUTE [--since 30d] [--json]`:
 * what a route's shadow evaluation (server/learn_shadow.h) has learned and
 * cost, read back from the ledger (SQLite or Postgres, the config's
 * storage).
 *
 * Contract (read only; a command, not the daemon):
 *  - The route's calls are the records with model_requested = ROUTE that
 *    are not learning calls; its learning calls are the records with route
 *    "routing_eval" and tags "route=ROUTE"; a label is the "label 0|1"
 *    written in the last judge record's route_reason, joined to the sampled
 *    call by linked_id.
 *  - Reported: calls and share per tier (cheap, frontier, escalated,
 *    fallback); labels gathered (1 = cheap no worse, 0 = frontier better,
 *    none = evaluations that ended without a label: a failed step or no
 *    readable verdict); the cheap-no-worse rate among labelled calls with its 90%
 *    Wilson interval; quality kept at the route's operating point =
 *    1 - share_cheap x (1 - cheap-no-worse rate of cheap-routed labels),
 *    the frontier answer counting as full quality; APGR of the classifier
 *    scores the labelled calls had (route_reason "classifier score S"),
 *    with a 90% bootstrap interval (500 resamples, fixed seed), when both
 *    labels are present; learning calls and their cost (USD), and that
 *    cost as a share of the route's own; the learning cost since 00:00Z
 *    (today_usd) next to learn.budget_usd_per_day; the calls whose
 *    route_reason starts "cold start:"; and, from the routing store,
 *    route_report_point.h's own labels, cold start and operating point.
 *  - Exit status: 0, 1 on a store error, 2 on bad usage. */
#ifndef FRUGAL_ROUTE_REPORT_H
#define FRUGAL_ROUTE_REPORT_H

#include "config.h"

/* argv[0] = "report", argv[1] = ROUTE, then options (-c already read). */
int fg_route_report_main(const struct fg_config *cfg, int argc, char **argv);

#endif
