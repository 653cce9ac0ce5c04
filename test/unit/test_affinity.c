/* Unit tests for deployment choice: cache affinity, least-in-flight
 * balancing, circuit breakers, and the shared in-flight counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "affinity.h"

#define T0 1795680000000LL

static struct fg_prefix prefix_of(uint64_t first, uint64_t second)
{
    struct fg_prefix p;
    memset(&p, 0, sizeof p);
    p.n = second ? 2 : 1;
    p.hash[0] = first;
    p.hash[1] = second;
    return p;
}

static void new_prefixes_take_turns(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_prefix a = prefix_of(11, 0), b = prefix_of(22, 0), c = prefix_of(33, 0);
    int da = fg_affinity_pick(&model, 2, &a, NULL, T0);
    int db = fg_affinity_pick(&model, 2, &b, NULL, T0);
    int dc = fg_affinity_pick(&model, 2, &c, NULL, T0);
    assert_int_not_equal(da, db);
    assert_int_equal(dc, da);
}

static void a_prefix_stays_until_its_cache_would_lapse(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_prefix a = prefix_of(11, 0), other = prefix_of(99, 0);
    int first = fg_affinity_pick(&model, 3, &a, NULL, T0);
    for (int i = 1; i <= 5; i++) {
        fg_affinity_pick(&model, 3, &other, NULL, T0 + i); /* advances the turn */
        assert_int_equal(fg_affinity_pick(&model, 3, &a, NULL, T0 + i * 600000LL), first);
    }
    /* an hour after the last use the provider cache is gone: balance again */
    int later = fg_affinity_pick(&model, 3, &a, NULL, T0 + 3000000LL + FG_AFFINITY_TTL_MS + 1);
    assert_in_range(later, 0, 2);
}

/* A conversation that grows keeps its deployment: its earlier prefix is known. */
static void growing_conversation_follows_its_prefix(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_prefix turn1 = prefix_of(500, 0), turn2 = prefix_of(500, 501);
    int d1 = fg_affinity_pick(&model, 4, &turn1, NULL, T0);
    struct fg_prefix x = prefix_of(7, 0);
    fg_affinity_pick(&model, 4, &x, NULL, T0 + 1);
    assert_int_equal(fg_affinity_pick(&model, 4, &turn2, NULL, T0 + 2), d1);
}

static void single_deployment_and_models_apart(void **state)
{
    fg_affinity_reset();
    static int m1, m2;
    struct fg_prefix a = prefix_of(11, 0);
    assert_int_equal(fg_affinity_pick(&m1, 1, &a, NULL, T0), 0);
    int d1 = fg_affinity_pick(&m1, 2, &a, NULL, T0);
    int d2 = fg_affinity_pick(&m2, 2, &a, NULL, T0); /* another model: a new prefix */
    assert_int_not_equal(d1, d2);
    assert_int_equal(fg_affinity_pick(&m1, 2, NULL, NULL, T0) >= 0, 1);
}

/* Loads as given; unlisted deployments idle. */
static struct fg_affinity_opts opts(struct fg_affinity_load *l, const int *inflight, int n,
                                    int margin, uint32_t open)
{
    memset(l, 0, sizeof *l);
    for (int k = 0; k < n; k++)
        atomic_store(&l->inflight[k], inflight[k]);
    return (struct fg_affinity_opts){.load = l, .margin = margin, .open = open};
}

static void new_prefix_goes_to_the_least_loaded(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_affinity_load l;
    struct fg_affinity_opts o = opts(&l, (int[]){3, 1, 2}, 3, 8, 0);
    for (uint64_t h = 1; h <= 6; h++) { /* whatever the turn, the idlest wins */
        struct fg_prefix p = prefix_of(100 + h, 0);
        assert_int_equal(fg_affinity_pick(&model, 3, &p, &o, T0), 1);
    }
    /* a call with no prefix at all is balanced the same way */
    assert_int_equal(fg_affinity_pick(&model, 3, NULL, &o, T0), 1);
    struct fg_prefix empty;
    memset(&empty, 0, sizeof empty);
    assert_int_equal(fg_affinity_pick(&model, 3, &empty, &o, T0), 1);
}

static void ties_on_the_least_load_take_turns(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_affinity_load l;
    struct fg_affinity_opts o = opts(&l, (int[]){0, 5, 0, 1}, 4, 8, 0);
    int seen[4] = {0};
    for (uint64_t h = 1; h <= 8; h++) {
        struct fg_prefix p = prefix_of(200 + h, 0);
        seen[fg_affinity_pick(&model, 4, &p, &o, T0)]++;
    }
    assert_int_equal(seen[1], 0);
    assert_int_equal(seen[3], 0);
    assert_int_equal(seen[0], 4); /* the two idle ones share evenly */
    assert_int_equal(seen[2], 4);
}

/* A known prefix stays unless its deployment is busier than the idlest by
 * more than the margin; then it moves, and lives on its new deployment. */
static void affinity_yields_past_the_margin(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_affinity_load l;
    struct fg_prefix a = prefix_of(300, 0);
    struct fg_affinity_opts idle = opts(&l, (int[]){0, 0}, 2, 2, 0);
    int home = fg_affinity_pick(&model, 2, &a, &idle, T0), other = 1 - home;
    int busy[2];
    busy[other] = 1;
    busy[home] = 3; /* 2 beyond the least: within the margin */
    struct fg_affinity_opts o = opts(&l, busy, 2, 2, 0);
    assert_int_equal(fg_affinity_pick(&model, 2, &a, &o, T0 + 1), home);
    busy[home] = 4; /* 3 beyond: past it */
    o = opts(&l, busy, 2, 2, 0);
    assert_int_equal(fg_affinity_pick(&model, 2, &a, &o, T0 + 2), other);
    /* the prefix now lives on the other deployment */
    o = opts(&l, (int[]){0, 0}, 2, 2, 0);
    assert_int_equal(fg_affinity_pick(&model, 2, &a, &o, T0 + 3), other);
    /* margin 0: any excess moves it */
    busy[other] = 1;
    busy[home] = 0;
    o = opts(&l, busy, 2, 0, 0);
    assert_int_equal(fg_affinity_pick(&model, 2, &a, &o, T0 + 4), home);
    /* the default margin keeps it through a backlog of FG_CONFIG_AFFINITY_MARGIN */
    busy[home] = FG_CONFIG_AFFINITY_MARGIN;
    busy[other] = 0;
    o = opts(&l, busy, 2, FG_CONFIG_AFFINITY_MARGIN, 0);
    assert_int_equal(fg_affinity_pick(&model, 2, &a, &o, T0 + 5), home);
}

static void an_open_breaker_is_avoided(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_affinity_load l;
    struct fg_prefix a = prefix_of(400, 0);
    struct fg_affinity_opts o = opts(&l, (int[]){0, 0, 0}, 3, 8, 0);
    int home = fg_affinity_pick(&model, 3, &a, &o, T0);
    /* its breaker opens: the prefix goes elsewhere even to a busier one */
    int busy[3] = {6, 6, 6};
    busy[home] = 0;
    o = opts(&l, busy, 3, 8, 1u << home);
    int moved = fg_affinity_pick(&model, 3, &a, &o, T0 + 1);
    assert_int_not_equal(moved, home);
    /* new prefixes skip it too, although it is the idlest */
    for (uint64_t h = 1; h <= 4; h++) {
        struct fg_prefix p = prefix_of(400 + h, 0);
        assert_int_not_equal(fg_affinity_pick(&model, 3, &p, &o, T0 + 2), home);
    }
    /* every breaker open: none is better, the idlest still wins */
    o = opts(&l, busy, 3, 8, 7u);
    struct fg_prefix fresh = prefix_of(499, 0);
    assert_int_equal(fg_affinity_pick(&model, 3, &fresh, &o, T0 + 3), home);
}

static void begin_and_end_count_once(void **state)
{
    struct fg_affinity_load l;
    memset(&l, 0, sizeof l);
    atomic_int *held = NULL, *other = NULL;
    fg_affinity_begin(&l, 1, &held);
    fg_affinity_begin(&l, 1, &other);
    assert_int_equal(fg_affinity_inflight(&l, 1), 2);
    fg_affinity_end(&held);
    fg_affinity_end(&held); /* a second end of the same attempt: no effect */
    assert_null(held);
    assert_int_equal(fg_affinity_inflight(&l, 1), 1);
    /* a new attempt on another deployment gives up the old count first */
    fg_affinity_begin(&l, 2, &other);
    assert_int_equal(fg_affinity_inflight(&l, 1), 0);
    assert_int_equal(fg_affinity_inflight(&l, 2), 1);
    fg_affinity_end(&other);
    assert_int_equal(fg_affinity_inflight(&l, 2), 0);
    fg_affinity_end(&other);
    assert_int_equal(fg_affinity_inflight(&l, 2), 0);
}

#define THREADS 4
#define ROUNDS 20000
static struct fg_affinity_load shared;

static void *churn(void *arg)
{
    atomic_int *held = NULL;
    for (int i = 0; i < ROUNDS; i++) {
        fg_affinity_begin(&shared, i & 1, &held);
        fg_affinity_end(&held);
    }
    fg_affinity_begin(&shared, 0, &held); /* each thread ends holding one */
    return arg;
}

static void counts_hold_across_threads(void **state)
{
    memset(&shared, 0, sizeof shared);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(fg_affinity_inflight(&shared, 0), THREADS);
    assert_int_equal(fg_affinity_inflight(&shared, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_prefixes_take_turns),
        cmocka_unit_test(a_prefix_stays_until_its_cache_would_lapse),
        cmocka_unit_test(growing_conversation_follows_its_prefix),
        cmocka_unit_test(single_deployment_and_models_apart),
        cmocka_unit_test(new_prefix_goes_to_the_least_loaded),
        cmocka_unit_test(ties_on_the_least_load_take_turns),
        cmocka_unit_test(affinity_yields_past_the_margin),
        cmocka_unit_test(an_open_breaker_is_avoided),
        cmocka_unit_test(begin_and_end_count_once),
        cmocka_unit_test(counts_hold_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
