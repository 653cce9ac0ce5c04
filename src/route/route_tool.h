/* route_tool.h — `frugal route train|eval`: fit the routing classifier's
 * weights on labelled data and print its quality/cost curve.
 *
 *   frugal route train --data routing_train.jsonl --out router-weights.frw
 *                      [--sources a,b] [--exclude-nc] [--buckets N]
 *                      [--lambda L] [--target gain|binary] [--balance A]
 *   frugal route eval  --weights W.frw --data routing_heldout.jsonl [--json]
 *   frugal route eval  [--weights W.frw] --labels LABELS.jsonl
 *                      [--quality-target 0.95] [--json]
 *
 * Data: JSON lines with prompt, source, score_type, weak_score,
 * strong_score and fold (shared/data/routing/README.md).  Quality per row
 * is normalised to [0, 1]: 0/1 correctness as is, judge scores / 10,
 * pairwise rows p_weak for the weak model and 1 - p_weak for the strong.
 *
 * train: 4-fold cross-validation on the file's own `fold` field (folds are
 * per prompt, so no prompt is on both sides) picks the L2 strength and the
 * source balancing from a small grid, by pooled out-of-fold APGR plus the
 * mean of the per-source out-of-fold APGRs; the final weights are
 * fitted on every selected row; the threshold table is the quantiles of the
 * out-of-fold scores; the operating share recorded in the file is the
 * smallest multiple of 5% at which cross-validated quality retained is
 * >= 95.5%.  Deterministic: the same data gives the same file, byte for byte.
 * --exclude-nc drops the sources whose data is non-commercial
 * (alpacaeval, mapcoder_xcodeeval): shipped weights must use it.
 *
 * eval (ROUTING.md section 4): per source and pooled over the in-distribution
 * sources (those the weights were trained on, from the file's metadata):
 * n, Q_weak, Q_strong, APGR (trapezoid over c = 0, 0.01, .., 1) with a
 * bootstrap 95% interval (1,000 resamples of the rows), CPT(50%), CPT(80%),
 * AUC for "strong needed" = strong_score > weak_score, and quality retained
 * Q(c)/Q_strong at c = 20/30/40/50%; random and oracle rows for each; then
 * the operating points reached with the file's threshold table.
 *
 * eval --labels: a route's own held-out labels (route_labels.h) and the
 * operating point a quality target gives on them (optpoint.h): the
 * threshold, frontier share, quality with its one-sided 90% Wilson lower
 * bound, whether cheap alone meets the target, whether the ranking beats
 * a coin. */
#ifndef FRUGAL_ROUTE_TOOL_H
#define FRUGAL_ROUTE_TOOL_H

#include "router.h"

#include <stdbool.h>
#include <stddef.h>

/* argv[0] is "route" (or anything), argv[1] the verb.  Returns the exit
 * status: 0, 1 on errors, 2 on bad usage. */
int fg_route_tool_main(int argc, char **argv);

#define FG_CURVE_POINTS 101

/* The quality/cost curve of a scorer on rows (score, quality if routed to
 * the weak model, quality if routed to the strong model, row weight).
 * Rows are sent to the strong model in descending score order.  Ties are
 * resolved in expectation over random orders (the limit of ROUTING.md's
 * averaging over shuffles) and the share c·n is met exactly by taking a
 * fraction of the boundary row, so a constant scorer gives PGR(c) = c and
 * APGR = 0.5 exactly. */
struct fg_route_tool_curve {
    double n;                    /* total weight */
    double q_weak, q_strong;     /* all-weak, all-strong quality */
    double q[FG_CURVE_POINTS];   /* Q(c), c = k / 100 */
    double pgr[FG_CURVE_POINTS]; /* (Q - Q_weak) / (Q_strong - Q_weak) */
    double apgr;                 /* NAN when Q_strong == Q_weak */
    int cpt50, cpt80;            /* percent; -1 if never reached */
    double auc;                  /* NAN without both labels */
};

/* w may be NULL (every row weight 1). */
void fg_route_tool_curve(size_t n, const double *score, const double *q_weak,
                         const double *q_strong, const double *w, struct fg_route_tool_curve *out);

/* Training, exposed for tests. */
enum fg_route_target {
    FG_TARGET_GAIN,   /* soft label (1 + q_strong - q_weak) / 2 */
    FG_TARGET_BINARY, /* 1 when q_strong > q_weak */
};

struct fg_route_example {
    const char *text;
    size_t len;
    double q_weak, q_strong; /* normalised quality */
    int source;              /* index, for source balancing */
};

struct fg_route_fit_opts {
    uint32_t n_buckets;
    double lambda; /* L2 strength (per mean loss) */
    enum fg_route_target target;
    double balance; /* row weight ∝ n_source^-balance */
    int max_iter;   /* L-BFGS iterations */
};

/* Fit a router on the examples (deterministic); thresholds are left at
 * fg_router_new's defaults.  NULL on bad options. */
struct fg_router *fg_route_tool_fit(const struct fg_route_example *ex, size_t n,
                                    const struct fg_route_fit_opts *o);
/* Fill r's threshold table from scores of representative traffic:
 * threshold[k] = the midpoint between the (k% of n)-th and next highest
 * score, +inf at 0%, -inf at 100%. */
void fg_route_tool_thresholds(struct fg_router *r, const double *scores, size_t n);

/* The prior strength of the daemon's retraining (learn_train.c) and of
 * `route train --prior`: L2 towards the prior's weights, in units of the
 * mean log loss (bench/routing.mjs re-tunes it by cross-validation within
 * the train folds; README "Routing" has the evidence). */
#define FG_ROUTE_TOOL_PRIOR_LAMBDA 3.0

/* Fit a route on its own labels (label 1 = the cheap answer was no worse,
 * 0 = the frontier's was better) with `prior` (the weights it runs now) as
 * the starting point: L2 with strength lambda pulls the weights towards
 * the prior's, not towards zero (the fit learns a correction added to the
 * prior's logit); the intercept is not pulled (the route's base rate is
 * its own).  x[i] are feature vectors for prior->n_buckets.
 * Thresholds and metadata are left at fg_router_new's; NULL on bad input. */
struct fg_router *fg_route_tool_fit_feats(const struct fg_route_feats *x, const int *label,
                                          size_t n, const struct fg_router *prior, double lambda);

/* The swap rule for a refitted route: the candidate is better when its
 * held-out APGR is higher; when the APGRs tie (or both are undefined: the
 * held-out labels have one class only), when its held-out log loss is
 * lower.  Anything not comparable (NaN on one side) keeps the running one. */
bool fg_route_tool_better(double apgr_new, double apgr_old, double loss_new, double loss_old);

#endif
