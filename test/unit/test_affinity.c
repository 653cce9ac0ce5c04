/* Unit tests for cache affinity across deployments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
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
    int da = fg_affinity_pick(&model, 2, &a, T0);
    int db = fg_affinity_pick(&model, 2, &b, T0);
    int dc = fg_affinity_pick(&model, 2, &c, T0);
    assert_int_not_equal(da, db);
    assert_int_equal(dc, da);
}

static void a_prefix_stays_until_its_cache_would_lapse(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_prefix a = prefix_of(11, 0), other = prefix_of(99, 0);
    int first = fg_affinity_pick(&model, 3, &a, T0);
    for (int i = 1; i <= 5; i++) {
        fg_affinity_pick(&model, 3, &other, T0 + i);   /* advances the turn */
        assert_int_equal(fg_affinity_pick(&model, 3, &a, T0 + i * 600000LL), first);
    }
    /* an hour after the last use the provider cache is gone: balance again */
    int later = fg_affinity_pick(&model, 3, &a, T0 + 3000000LL + FG_AFFINITY_TTL_MS + 1);
    assert_in_range(later, 0, 2);
}

/* A conversation that grows keeps its deployment: its earlier prefix is known. */
static void growing_conversation_follows_its_prefix(void **state)
{
    fg_affinity_reset();
    static int model;
    struct fg_prefix turn1 = prefix_of(500, 0), turn2 = prefix_of(500, 501);
    int d1 = fg_affinity_pick(&model, 4, &turn1, T0);
    struct fg_prefix x = prefix_of(7, 0);
    fg_affinity_pick(&model, 4, &x, T0 + 1);
    assert_int_equal(fg_affinity_pick(&model, 4, &turn2, T0 + 2), d1);
}

static void single_deployment_and_models_apart(void **state)
{
    fg_affinity_reset();
    static int m1, m2;
    struct fg_prefix a = prefix_of(11, 0);
    assert_int_equal(fg_affinity_pick(&m1, 1, &a, T0), 0);
    int d1 = fg_affinity_pick(&m1, 2, &a, T0);
    int d2 = fg_affinity_pick(&m2, 2, &a, T0);   /* another model: a new prefix */
    assert_int_not_equal(d1, d2);
    assert_int_equal(fg_affinity_pick(&m1, 2, NULL, T0) >= 0, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_prefixes_take_turns),
        cmocka_unit_test(a_prefix_stays_until_its_cache_would_lapse),
        cmocka_unit_test(growing_conversation_follows_its_prefix),
        cmocka_unit_test(single_deployment_and_models_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
