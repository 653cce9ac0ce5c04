/* Unit tests for the operating point from measured quality (optpoint.c),
 * on constructed label sets whose answer is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optpoint.h"

static uint64_t rng_state;
static double rnd(void) /* deterministic uniform in [0, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Reference values from the closed form, computed independently. */
static void wilson_matches_reference(void **st)
{
    (void)st;
    assert_float_equal(fg_optpoint_wilson_lower(95, 100, FG_OPTPOINT_Z), 0.9140862, 1e-6);
    assert_float_equal(fg_optpoint_wilson_lower(10, 10, FG_OPTPOINT_Z), 0.8589313, 1e-6);
    assert_float_equal(fg_optpoint_wilson_lower(380, 400, FG_OPTPOINT_Z), 0.9341021, 1e-6);
    assert_float_equal(fg_optpoint_wilson_lower(0, 5, FG_OPTPOINT_Z), 0, 1e-12);
    assert_float_equal(fg_optpoint_wilson_lower(3, 0, FG_OPTPOINT_Z), 0, 1e-12);
}

static void no_labels_mean_frontier(void **st)
{
    (void)st;
    struct fg_optpoint p;
    fg_optpoint_pick(NULL, 0, 0.95, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_NO_LABELS);
    assert_true(isinf(p.threshold) && p.threshold < 0);
    assert_float_equal(p.frontier_share, 1, 0);
}

/* 990 of 1000 cheap answers are fine: the cheap model alone meets 0.95. */
static void cheap_alone_meets_the_target(void **st)
{
    (void)st;
    enum { N = 1000 };
    static struct fg_optpoint_label l[N];
    rng_state = 7;
    for (int i = 0; i < N; i++)
        l[i] = (struct fg_optpoint_label){rnd(), i % 100 != 0};
    struct fg_optpoint p;
    fg_optpoint_pick(l, N, 0.95, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_ALL_CHEAP);
    assert_true(isinf(p.threshold) && p.threshold > 0);
    assert_int_equal(p.n_frontier, 0);
    assert_float_equal(p.kept, 0.99, 1e-12);
    assert_true(p.kept_lower >= 0.95 && p.kept_lower < 0.99);
    char buf[512];
    assert_non_null(strstr(fg_optpoint_describe(&p, buf, sizeof buf), "route everything cheap"));
}

/* A perfect ranking: the 40 calls that need the frontier score highest.
 * The cheapest passing point sends exactly those 40. */
static void perfect_ranking_sends_only_the_needed(void **st)
{
    (void)st;
    enum { N = 200 };
    static struct fg_optpoint_label l[N];
    for (int i = 0; i < N; i++)
        l[i] = (struct fg_optpoint_label){i < 40 ? 0.6 + i / 1000.0 : 0.4 - i / 1000.0, i >= 40};
    struct fg_optpoint p;
    fg_optpoint_pick(l, N, 0.95, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_THRESHOLD);
    /* 40 needed of 200: the bound at k frontier is wilson(160 + k, 200);
     * the first k with bound >= 0.95 */
    size_t k = 0;
    while (fg_optpoint_wilson_lower(160.0 + (double)k, 200, FG_OPTPOINT_Z) < 0.95)
        k++;
    assert_int_equal(p.n_frontier, k);
    assert_true(p.n_frontier <= 40);
    /* the threshold really sends those k: midpoint between neighbours */
    size_t above = 0;
    for (int i = 0; i < N; i++)
        above += l[i].score >= p.threshold;
    assert_int_equal(above, k);
    assert_float_equal(p.auc, 1, 1e-12);
    assert_true(p.beats_coin);
    assert_true(p.kept > p.random_kept);
}

/* Brute force on random labels with an informative score: the pick is the
 * fewest frontier calls whose lower bound passes, among tie boundaries. */
static void pick_is_the_cheapest_passing_point(void **st)
{
    (void)st;
    enum { N = 600 };
    static struct fg_optpoint_label l[N];
    rng_state = 99;
    for (int i = 0; i < N; i++) {
        double need = rnd() < 0.25;
        /* scores rounded to 2 decimals: many ties */
        double s = floor((0.5 * need + 0.6 * rnd()) * 100) / 100;
        l[i] = (struct fg_optpoint_label){s, !need};
    }
    struct fg_optpoint p;
    fg_optpoint_pick(l, N, 0.9, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_THRESHOLD);
    assert_true(p.kept_lower >= 0.9);
    /* every larger threshold that is a tie boundary fails the bound */
    for (int i = 0; i < N; i++) {
        double t = l[i].score + 1e-9; /* sends the scores above l[i] */
        if (t <= p.threshold)
            continue;
        double good = 0;
        for (int j = 0; j < N; j++)
            good += l[j].score >= t ? 1 : l[j].cheap_ok;
        assert_true(fg_optpoint_wilson_lower(good, N, FG_OPTPOINT_Z) < 0.9);
    }
    /* the pick itself, recounted */
    double good = 0, front = 0;
    for (int j = 0; j < N; j++) {
        front += l[j].score >= p.threshold;
        good += l[j].score >= p.threshold ? 1 : l[j].cheap_ok;
    }
    assert_float_equal(front, (double)p.n_frontier, 0);
    assert_float_equal(good / N, p.kept, 1e-12);
    assert_true(p.beats_coin);
}

/* Scores unrelated to the labels: a threshold may still meet the target,
 * but the report must say the router does not beat a coin. */
static void a_coin_is_called_a_coin(void **st)
{
    (void)st;
    enum { N = 400 };
    static struct fg_optpoint_label l[N];
    rng_state = 3;
    for (int i = 0; i < N; i++)
        l[i] = (struct fg_optpoint_label){rnd(), rnd() < 0.8};
    struct fg_optpoint p;
    fg_optpoint_pick(l, N, 0.95, &p);
    assert_false(p.beats_coin);
    assert_true(fabs(p.auc - 0.5) < 0.08);
    assert_true(p.verdict == FG_OPTPOINT_THRESHOLD || p.verdict == FG_OPTPOINT_ALL_FRONTIER);
    char buf[512];
    assert_non_null(strstr(fg_optpoint_describe(&p, buf, sizeof buf), "does not beat a coin"));
}

/* One score for everyone: ties are never split, so the only points are
 * all cheap and all frontier. */
static void ties_are_not_split(void **st)
{
    (void)st;
    enum { N = 100 };
    static struct fg_optpoint_label l[N];
    for (int i = 0; i < N; i++)
        l[i] = (struct fg_optpoint_label){0.5, i % 2 == 0};
    struct fg_optpoint p;
    fg_optpoint_pick(l, N, 0.9, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_ALL_FRONTIER);
    assert_int_equal(p.n_frontier, N);
    assert_float_equal(p.auc, 0.5, 1e-12);
    assert_false(p.beats_coin);
}

/* Ten perfect labels cannot prove 0.95 with 90% confidence (the bound of
 * 10/10 is 0.859): everything goes frontier, and the message says why. */
static void too_few_labels_prove_nothing(void **st)
{
    (void)st;
    struct fg_optpoint_label l[10];
    for (int i = 0; i < 10; i++)
        l[i] = (struct fg_optpoint_label){i / 10.0, true};
    struct fg_optpoint p;
    fg_optpoint_pick(l, 10, 0.95, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_ALL_FRONTIER);
    assert_true(isnan(p.auc));
    char buf[512];
    assert_non_null(strstr(fg_optpoint_describe(&p, buf, sizeof buf), "no cheaper point proves"));
    /* the same labels at a target they do prove: all cheap */
    fg_optpoint_pick(l, 10, 0.85, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_ALL_CHEAP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wilson_matches_reference),
        cmocka_unit_test(no_labels_mean_frontier),
        cmocka_unit_test(cheap_alone_meets_the_target),
        cmocka_unit_test(perfect_ranking_sends_only_the_needed),
        cmocka_unit_test(pick_is_the_cheapest_passing_point),
        cmocka_unit_test(a_coin_is_called_a_coin),
        cmocka_unit_test(ties_are_not_split),
        cmocka_unit_test(too_few_labels_prove_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
