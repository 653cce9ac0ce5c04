/* test_snap.c — unit tests for snap.c: how config snapshots are published
 * to the workers and kept alive by the calls pinned to them.  A snapshot is
 * freed exactly when its last reference (app, worker, call) goes, never
 * while a call holds it; a snapshot published twice before a worker took
 * the first one frees the first; the boot snapshot is never freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "snap.h"

static int g_freed;

static void count_free(struct fg_snap *s)
{
    g_freed++;
    free(s);
}

static struct fg_snap *made(const struct fg_config *cfg)
{
    struct fg_snap *s = calloc(1, sizeof *s);
    atomic_init(&s->refs, 1); /* the app's, as reload.c builds it */
    s->cfg = cfg;
    s->free_fn = count_free;
    return s;
}

struct world {
    struct fg_config boot_cfg, cfg1, cfg2;
    struct fg_app app;
    struct fg_worker w[2];
};

static struct world *world_new(void)
{
    struct world *x = calloc(1, sizeof *x);
    x->app.cfg = &x->boot_cfg;
    x->app.workers = x->w;
    x->app.nworkers = 2;
    for (int i = 0; i < 2; i++)
        x->w[i].app = &x->app;
    fg_snap_boot(&x->app);
    g_freed = 0;
    return x;
}

static void world_drop(struct world *x)
{
    for (int i = 0; i < 2; i++)
        fg_snap_worker_drop(&x->w[i]);
    fg_snap_app_drop(&x->app);
}

static void world_free(struct world *x)
{
    world_drop(x);
    free(x);
}

static void boot_is_everyones_and_never_freed(void **state)
{
    (void)state;
    struct world *x = world_new();
    assert_ptr_equal(fg_snap_worker(&x->w[0])->cfg, &x->boot_cfg);
    assert_ptr_equal(x->app.snap, &x->app.boot);
    assert_int_equal(atomic_load(&x->app.boot.refs), 3); /* app + 2 workers */
    world_drop(x);
    assert_int_equal(atomic_load(&x->app.boot.refs), 0);
    assert_int_equal(g_freed, 0);
    free(x);
}

static void a_call_keeps_its_snapshot_to_its_end(void **state)
{
    (void)state;
    struct world *x = world_new();
    /* a call starts on worker 0 under the boot config */
    struct fg_snap *call0 = fg_snap_hold(fg_snap_worker(&x->w[0]));
    struct fg_snap *s1 = made(&x->cfg1);
    fg_snap_publish(&x->app, s1);
    assert_int_equal(atomic_load(&s1->refs), 3); /* app + 2 waiting for their workers */
    /* a call starting after the reload runs on it; the one in flight keeps boot */
    struct fg_snap *call1 = fg_snap_hold(fg_snap_worker(&x->w[0]));
    assert_ptr_equal(call1, s1);
    assert_ptr_equal(call0->cfg, &x->boot_cfg);
    /* another reload while call1 runs: s1 lives on for it */
    struct fg_snap *s2 = made(&x->cfg2);
    fg_snap_publish(&x->app, s2);
    /* worker 1 never took s1: the exchange released it there */
    assert_int_equal(atomic_load(&s1->refs), 2); /* worker 0 + call1 */
    assert_ptr_equal(fg_snap_worker(&x->w[0])->cfg, &x->cfg2);
    assert_int_equal(g_freed, 0);
    fg_snap_release(call1); /* the last reference to s1 */
    assert_int_equal(g_freed, 1);
    assert_ptr_equal(fg_snap_worker(&x->w[1])->cfg, &x->cfg2);
    fg_snap_release(call0);
    world_free(x); /* s2's app and worker references: freed */
    assert_int_equal(g_freed, 2);
}

static void an_idle_worker_frees_what_it_never_took(void **state)
{
    (void)state;
    struct world *x = world_new();
    for (int i = 0; i < 3; i++)
        fg_snap_publish(&x->app, made(&x->cfg1));
    /* the first two: released by the later publishes (app, both workers) */
    assert_int_equal(g_freed, 2);
    world_free(x);
    assert_int_equal(g_freed, 3);
}

static void provider_indexes_cross_snapshots_by_name(void **state)
{
    (void)state;
    struct world *x = world_new();
    struct fg_provider_cfg boot_p[2] = {{.name = "a"}, {.name = "b"}};
    struct fg_provider_cfg new_p[3] = {{.name = "c"}, {.name = "b"}, {.name = "a"}};
    x->boot_cfg.providers = boot_p;
    x->boot_cfg.n_providers = 2;
    x->cfg1.providers = new_p;
    x->cfg1.n_providers = 3;
    struct fg_snap *s = made(&x->cfg1);
    assert_int_equal(fg_snap_provider_to_boot(&x->app, s, 2), 0);
    assert_int_equal(fg_snap_provider_to_boot(&x->app, s, 1), 1);
    assert_int_equal(fg_snap_provider_to_boot(&x->app, s, 0), -1); /* only in the new one */
    assert_int_equal(fg_snap_provider_from_boot(&x->app, s, 0), 2);
    assert_int_equal(fg_snap_provider_from_boot(&x->app, s, -1), -1);
    assert_int_equal(fg_snap_provider_from_boot(&x->app, s, 7), -1);
    assert_int_equal(fg_snap_provider_to_boot(&x->app, &x->app.boot, 1), 1);
    free(s);
    world_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boot_is_everyones_and_never_freed),
        cmocka_unit_test(a_call_keeps_its_snapshot_to_its_end),
        cmocka_unit_test(an_idle_worker_frees_what_it_never_took),
        cmocka_unit_test(provider_indexes_cross_snapshots_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
