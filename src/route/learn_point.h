/* learn_point.h — a route's operating point from its OWN labels (issue
 * #22: quality_target and cold_start fed by what shadow evaluation
 * learned, not only by a label file).
 *
 * Contract:
 *  - A route has "enough" labels of its own once it has at least
 *    learn.min_labels of them (config.h; default 50, retrain_every's
 *    default: the first fit and the end of cold start come together; the
 *    Wilson bound keeps few labels from proving much).  From then on cold_start no longer
 *    applies, and quality_target's threshold comes from these labels.
 *  - fg_learn_point() scores the labels the running weights were NOT fitted
 *    on — every label for the built-in weights (fitted_n == 0); for a
 *    version fitted on the first fitted_n labels, its held-out slice (every
 *    hold_every-th of those) and every label after them — and picks the
 *    operating point with fg_optpoint_pick (optpoint.h: the cheapest point
 *    whose one-sided 90% Wilson lower bound meets the target; ALL_CHEAP when
 *    the cheap model alone meets it; beats_coin false when the ranking is no
 *    better than a coin).  target <= 0 (no quality_target): out->target 0,
 *    only the counts are filled.
 *  - Pure: no I/O, no state; the caller owns every array. */
#ifndef FRUGAL_LEARN_POINT_H
#define FRUGAL_LEARN_POINT_H

#include "learn_store.h"
#include "optpoint.h"
#include "router.h"

#include <stdbool.h>
#include <stddef.h>

/* Has the route enough labels of its own (n of them, min_labels required)? */
bool fg_learn_point_enough(size_t n, int min_labels);

/* The operating point on the labels r was not fitted on (see above). */
void fg_learn_point(const struct fg_router *r, const struct fg_learn_labels *L, size_t fitted_n,
                    size_t hold_every, double target, struct fg_optpoint *out);

#endif
