/* Unit tests for the cold-start confidence bands (route/coldstart.c), on
 * constructed out-of-fold label sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "coldstart.h"

/* Domain A: scores 0..0.999; below 0.3 every cheap answer was fine, from
 * 0.8 every call needed the frontier, in between 4 in 5 were fine. */
static void fill_a(struct fg_optpoint_label *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double s = (double)i / (double)n;
        l[i] = (struct fg_optpoint_label){s, s < 0.3 ? true : s >= 0.8 ? false : i % 5 != 0};
    }
}

static void one_clean_domain_gives_both_bands(void **st)
{
    (void)st;
    enum { N = 1000 };
    static struct fg_optpoint_label l[N];
    fill_a(l, N);
    struct fg_coldstart_domain d = {l, N};
    struct fg_coldstart_bands b;
    fg_coldstart_bands(&d, 1, &b);
    /* the cheap band reaches past 0.3 while the 0.90 bound still holds
     * (the rate below c is (300 + 800 (c - 0.3)) / 1000 c >= 0.9 up to
     * c = 0.6, less the interval); the frontier band needs more than half
     * to need the frontier: (200 + 200 (0.8 - c)) / 1000 (1 - c) > 0.5
     * from c = 0.5, plus the interval */
    assert_true(b.cheap_below > 0.3 && b.cheap_below < 0.6);
    assert_true(b.frontier_at > 0.5 && b.frontier_at <= 0.8);
    assert_true(b.cheap_below < b.frontier_at);
    assert_int_equal(fg_coldstart_decide(&b, 0.1), FG_COLDSTART_CHEAP);
    assert_int_equal(fg_coldstart_decide(&b, (b.cheap_below + b.frontier_at) / 2),
                     FG_COLDSTART_UNSURE);
    assert_int_equal(fg_coldstart_decide(&b, 0.95), FG_COLDSTART_FRONTIER);
}

/* A second domain where low scores do NOT mean cheap is fine vetoes the
 * cheap band: confidence must hold in every domain. */
static void a_domain_where_low_scores_fail_vetoes(void **st)
{
    (void)st;
    enum { N = 1000, M = 200 };
    static struct fg_optpoint_label a[N], b[M];
    fill_a(a, N);
    for (size_t i = 0; i < M; i++) /* low scores, cheap answers mostly bad */
        b[i] = (struct fg_optpoint_label){0.05 + (double)i / 2000.0, i % 3 == 0};
    struct fg_coldstart_domain d[] = {{a, N}, {b, M}};
    struct fg_coldstart_bands bands;
    fg_coldstart_bands(d, 2, &bands);
    /* only cuts with fewer than MIN_ROWS of b below survive */
    assert_true(bands.cheap_below <= 0.05 + FG_COLDSTART_MIN_ROWS / 2000.0);
    assert_int_equal(fg_coldstart_decide(&bands, 0.1), FG_COLDSTART_UNSURE);
}

/* Labels that carry no signal: confident nowhere. */
static void a_coin_is_confident_nowhere(void **st)
{
    (void)st;
    enum { N = 2000 };
    static struct fg_optpoint_label l[N];
    uint64_t x = 42;
    for (size_t i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (struct fg_optpoint_label){(double)i / N, (x >> 33) % 10 < 7}; /* 70% ok */
    }
    struct fg_coldstart_domain d = {l, N};
    struct fg_coldstart_bands b;
    fg_coldstart_bands(&d, 1, &b);
    assert_true(isinf(b.frontier_at) && b.frontier_at > 0);
    /* a 70% rate never proves 90%, except in a band too small to count */
    for (size_t i = 0; i < N; i++)
        if (fg_coldstart_decide(&b, l[i].score) == FG_COLDSTART_CHEAP)
            assert_true(i < 60);
}

static void no_domains_no_bands(void **st)
{
    (void)st;
    struct fg_coldstart_bands b;
    fg_coldstart_bands(NULL, 0, &b);
    assert_true(isinf(b.cheap_below) && b.cheap_below < 0);
    assert_true(isinf(b.frontier_at) && b.frontier_at > 0);
    assert_int_equal(fg_coldstart_decide(&b, 0.5), FG_COLDSTART_UNSURE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_clean_domain_gives_both_bands),
        cmocka_unit_test(a_domain_where_low_scores_fail_vetoes),
        cmocka_unit_test(a_coin_is_confident_nowhere),
        cmocka_unit_test(no_domains_no_bands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
