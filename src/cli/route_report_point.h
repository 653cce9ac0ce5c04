/* route_report_point.h — the part of `frugal route report` that reads the
 * routing store (route/learn_store.h) rather than the ledger: the route's
 * own labels, whether cold_start still applies, and its operating point as
 * the daemon sets it.
 *
 * Contract (read only; a command, not the daemon):
 *  - "own_labels": labels stored for the route, learn.min_labels, and
 *    whether they are enough (route/learn_point.h); "cold_start": the
 *    configured tier and whether it still applies (not `classifier`, and
 *    not enough own labels).
 *  - "operating_point": the weights the route runs (the store's active
 *    version, else the `weights:` file, else the built-in weights) and how
 *    the threshold is set — source "own labels" (quality_target, enough own
 *    labels: fg_learn_point on the labels that version was not fitted on,
 *    exactly as the training thread computes it), "label file"
 *    (quality_target with `labels:`), or "weights" (frontier_share,
 *    threshold or the weights' recorded share) — with the verdict,
 *    threshold, frontier share, quality kept and its 90% lower bound, the
 *    AUC and whether the classifier beats a coin, and one line saying it.
 *  - A store that cannot be opened or read gives {"error": "..."} in place
 *    of these, never a failed report. */
#ifndef FRUGAL_ROUTE_REPORT_POINT_H
#define FRUGAL_ROUTE_REPORT_POINT_H

#include "config.h"

#include <jansson.h>

/* Adds "own_labels", "cold_start" and "operating_point" to j. */
void fg_route_report_point(const struct fg_config *cfg, const struct fg_route_cfg *r, json_t *j);
/* Their text lines, from what fg_route_report_point added. */
void fg_route_report_point_print(const json_t *j);

#endif
