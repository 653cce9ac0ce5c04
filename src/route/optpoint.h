/* optpoint.h — a route's operating point from measured quality.
 *
 * Contract: given a route's held-out labels — for each call the
 * classifier's score and whether the cheap answer was no worse than the
 * frontier's (cheap_ok) — fg_optpoint_pick() returns the cheapest
 * operating point whose quality passes a target with confidence:
 *
 *   quality(t) = share of calls whose served answer is no worse than the
 *                frontier's = (calls with score >= t, sent frontier, + the
 *                cheap_ok calls among those with score < t) / n
 *   pick       = the highest threshold t (fewest frontier calls) whose
 *                one-sided 90% Wilson score lower bound on quality(t) is
 *                >= target.  Wilson, not Clopper-Pearson: it is closer to
 *                nominal coverage at these sizes and needs no beta
 *                quantile; FG_OPTPOINT_Z is z for one-sided 90%.
 *
 * Thresholds sit between distinct scores (midpoints), so tied scores are
 * never split.  Verdicts: ALL_CHEAP when the cheap model alone passes
 * (threshold +inf: route everything cheap), THRESHOLD, ALL_FRONTIER when
 * only sending every call to the frontier passes (target too high for the
 * labels there are), NO_LABELS for n == 0.  Separately, `beats_coin` says
 * whether the scores rank the calls that needed the frontier above the
 * others better than chance: the one-sided 90% lower bound of the AUC
 * (Hanley-McNeil standard error) is above 0.5.  When it is false the
 * threshold still meets the target on these labels, but a random router
 * sending the same share would do as well: say so, do not pretend.
 *
 * The API takes plain arrays so any label source (a label file today, the
 * route's shadow-evaluation labels later) can call it; pure, no I/O, no
 * allocation beyond a sorted copy freed before return. */
#ifndef FRUGAL_OPTPOINT_H
#define FRUGAL_OPTPOINT_H

#include <stdbool.h>
#include <stddef.h>

#define FG_OPTPOINT_Z 1.2815515655446004 /* one-sided 90% normal quantile */

struct fg_optpoint_label {
    double score;  /* classifier score: higher = frontier more likely needed */
    bool cheap_ok; /* the cheap answer was no worse than the frontier's */
};

enum fg_optpoint_verdict {
    FG_OPTPOINT_NO_LABELS,
    FG_OPTPOINT_ALL_CHEAP,
    FG_OPTPOINT_THRESHOLD,
    FG_OPTPOINT_ALL_FRONTIER,
};

struct fg_optpoint {
    enum fg_optpoint_verdict verdict;
    double target;         /* requested quality */
    double threshold;      /* score >= threshold goes frontier (+inf / -inf) */
    size_t n, n_frontier;  /* labels; labels the point sends frontier */
    double frontier_share; /* n_frontier / n */
    double kept;           /* quality(threshold) on the labels */
    double kept_lower;     /* its Wilson lower bound */
    double cheap_ok_rate;  /* quality of sending everything cheap */
    double random_kept;    /* quality of a random router at frontier_share */
    double auc, auc_lower; /* "frontier needed" ranked by score; NAN w/o both kinds */
    bool beats_coin;       /* auc_lower > 0.5 */
};

/* Wilson score interval lower bound for k successes in n trials at
 * normal quantile z; 0 when n == 0. */
double fg_optpoint_wilson_lower(double k, double n, double z);

/* Pick the operating point (see the contract).  target in (0, 1]. */
void fg_optpoint_pick(const struct fg_optpoint_label *l, size_t n, double target,
                      struct fg_optpoint *out);

/* One line for logs and reports, e.g. "threshold 0.412: 23.0% frontier,
 * quality 0.968 (90% lower bound 0.955, Wilson) on 400 labels".  Returns out. */
char *fg_optpoint_describe(const struct fg_optpoint *p, char *out, size_t outlen);

#endif
