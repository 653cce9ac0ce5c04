/* test_learn_point.c — a route's operating point from its own labels: which
 * labels count (those the running weights were not fitted on), "enough",
 * and the verdicts the daemon reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "learn_point.h"

#define N 100

/* N labels; label k scores by its first dense feature (k / N): the ones
 * that needed the frontier (label 0) are the high scorers when `ranked`,
 * every third one otherwise (a ranking no better than chance). */
static void labels(struct fg_learn_labels *L, bool ranked, bool all_ok)
{
    memset(L, 0, sizeof *L);
    L->n = N;
    L->label = calloc(N, sizeof *L->label);
    L->x = calloc(N, sizeof *L->x);
    for (size_t k = 0; k < N; k++) {
        L->x[k].dense[0] = (float)k / N;
        L->label[k] = all_ok ? 1 : ranked ? k < 70 : k % 3 != 0;
    }
}

static struct fg_router *router(void)
{
    struct fg_router *r = fg_router_new(1024);
    assert_non_null(r);
    r->dense[0] = 8; /* the score rises with the dense feature */
    return r;
}

static void enough_is_min_labels(void **state)
{
    (void)state;
    assert_false(fg_learn_point_enough(49, 50));
    assert_true(fg_learn_point_enough(50, 50));
    assert_false(fg_learn_point_enough(0, 0)); /* never without a bar */
}

static void only_labels_the_weights_were_not_fitted_on_count(void **state)
{
    (void)state;
    struct fg_learn_labels L;
    labels(&L, true, false);
    struct fg_router *r = router();
    struct fg_optpoint p;
    fg_learn_point(r, &L, 0, 5, 0.9, &p); /* built-in weights: every label */
    assert_int_equal(p.n, N);
    fg_learn_point(r, &L, 50, 5, 0.9, &p); /* fitted on 50: 10 held out + 50 newer */
    assert_int_equal(p.n, 60);
    fg_learn_point(r, &L, 50, 5, 0, &p); /* no quality_target: counts only */
    assert_int_equal(p.n, 60);
    assert_true(p.target == 0);
    fg_router_free(r);
    free(L.label);
    free(L.x);
}

static void cheap_alone_and_coin_verdicts(void **state)
{
    (void)state;
    struct fg_router *r = router();
    struct fg_learn_labels L;
    struct fg_optpoint p;
    labels(&L, false, true); /* every label: cheap no worse */
    fg_learn_point(r, &L, 0, 5, 0.95, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_ALL_CHEAP);
    free(L.label);
    free(L.x);
    labels(&L, true, false); /* the high scorers needed the frontier */
    fg_learn_point(r, &L, 0, 5, 0.95, &p);
    assert_int_equal(p.verdict, FG_OPTPOINT_THRESHOLD);
    assert_true(p.beats_coin);
    assert_true(p.kept_lower >= 0.95);
    free(L.label);
    free(L.x);
    labels(&L, false, false); /* no ranking: every third needed it */
    fg_learn_point(r, &L, 0, 5, 0.8, &p);
    assert_false(p.beats_coin);
    free(L.label);
    free(L.x);
    fg_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(enough_is_min_labels),
        cmocka_unit_test(only_labels_the_weights_were_not_fitted_on_count),
        cmocka_unit_test(cheap_alone_and_coin_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
