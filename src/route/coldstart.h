/* coldstart.h — where generic weights may decide for a route that has no
 * labels of its own (routes[].cold_start: frontier | cheap).
 *
 * Contract: from labelled rows of several domains, scored by the generic
 * classifier out of fold (cross-validation on the TRAIN file: never rows it
 * was fitted on, never the held-out file), fg_coldstart_bands() finds two
 * score bands where the classifier is confident in every domain:
 *
 *   cheap_below  the highest cut c such that, in every domain with at
 *                least FG_COLDSTART_MIN_ROWS rows scoring below c, the
 *                one-sided 90% Wilson lower bound of the share of those rows
 *                whose cheap answer sufficed is >= FG_COLDSTART_CHEAP_CONF,
 *                and at least one domain has that many rows there;
 *                -inf when no cut qualifies (never confident of cheap);
 *   frontier_at  the lowest cut c such that, likewise for the rows scoring
 *                >= c, the lower bound of the share that needed the
 *                frontier is >= FG_COLDSTART_FRONTIER_CONF; +inf when none.
 *
 * The bars differ on purpose: a cold-start `frontier` route protects
 * quality, so the classifier may send a call cheap only where the cheap
 * answer is very likely enough (0.90); a cold-start `cheap` route protects
 * cost, so it pays for the frontier where it is more likely needed than
 * not (0.50).  A domain with fewer rows in a band than FG_COLDSTART_MIN_ROWS
 * neither confirms nor vetoes it.  cheap_below <= frontier_at always.
 *
 * fg_coldstart_decide(): score < cheap_below → cheap, score >= frontier_at
 * → frontier, otherwise unsure (the route's cold-start tier decides).
 * Pure functions on plain arrays, so the retraining loop can call them on
 * any label source. */
#ifndef FRUGAL_COLDSTART_H
#define FRUGAL_COLDSTART_H

#include "optpoint.h"

#include <stddef.h>

#define FG_COLDSTART_CHEAP_CONF 0.90
#define FG_COLDSTART_FRONTIER_CONF 0.50
#define FG_COLDSTART_MIN_ROWS 20

struct fg_coldstart_domain {
    const struct fg_optpoint_label *l; /* out-of-fold scores and labels */
    size_t n;
};

struct fg_coldstart_bands {
    double cheap_below; /* -inf: never confident of cheap */
    double frontier_at; /* +inf: never confident of frontier */
};

enum fg_coldstart_tier {
    FG_COLDSTART_CHEAP,
    FG_COLDSTART_FRONTIER,
    FG_COLDSTART_UNSURE,
};

void fg_coldstart_bands(const struct fg_coldstart_domain *d, size_t nd,
                        struct fg_coldstart_bands *out);
enum fg_coldstart_tier fg_coldstart_decide(const struct fg_coldstart_bands *b, double score);

#endif
