/* test_shared.c — the in-process backend of the shared state (shared.h):
 * counters (checks all-or-none across counters, windows moving forward and
 * expiring, fields clamping at zero, threads racing for a limit while
 * holding and settling), the byte cache (TTL with an injected clock, the
 * size bound and LRU order, refusal above max_bytes / 8, values outliving
 * eviction), versions and sightings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "shared.h"

static struct fg_shared *S(void)
{
    return fg_shared_process();
}

/* ------------------------------------------------------------- counters */

static struct fg_shared_step add_step(struct fg_shared_counter *c, int64_t now_win, int64_t win,
                                      int64_t a0, int64_t a1)
{
    return (struct fg_shared_step){.c = c, .now_win = now_win, .win = win, .add = {a0, a1}};
}

static void read_sums(struct fg_shared_counter *c, int64_t now_win, int64_t *v0, int64_t *v1)
{
    struct fg_shared_window w;
    S()->ops->counter_read(S(), c, now_win, &w);
    *v0 = *v1 = 0;
    for (int i = 0; i < w.n; i++) {
        *v0 += w.cell[i].v[0];
        *v1 += w.cell[i].v[1];
    }
}

static void checks_are_all_or_none(void **state)
{
    struct fg_shared_cell ca[1], cb[1];
    struct fg_shared_counter a, b;
    fg_shared_counter_init(&a, "a", 1, 1000, ca, 1);
    fg_shared_counter_init(&b, "b", 1, 1000, cb, 1);
    struct fg_shared_step st[2] = {add_step(&a, 100, FG_SHARED_NOW, 0, 60),
                                   add_step(&b, 100, FG_SHARED_NOW, 0, 60)};
    st[0].check[0] = (struct fg_shared_check){3, 60, 100};
    st[1].check[0] = (struct fg_shared_check){3, 60, 100};
    assert_int_equal(S()->ops->counter_apply(S(), st, 2, NULL), -1);
    assert_int_equal(st[0].win, 100); /* FG_SHARED_NOW resolved to the head */
    /* b is now nearer its limit than a: the second pair fails on b only */
    st[0] = add_step(&a, 100, FG_SHARED_NOW, 0, 30);
    st[0].check[0] = (struct fg_shared_check){3, 30, 100};
    st[1] = add_step(&b, 100, FG_SHARED_NOW, 0, 50);
    st[1].check[1] = (struct fg_shared_check){3, 50, 100};
    struct fg_shared_denial d;
    assert_int_equal(S()->ops->counter_apply(S(), st, 2, &d), 1);
    assert_int_equal(d.step, 1);
    assert_int_equal(d.check, 1);
    assert_int_equal(d.w.n, 1);
    assert_int_equal(d.w.cell[0].v[1], 60); /* as the check saw it */
    int64_t v0, v1;
    read_sums(&a, 100, &v0, &v1);
    assert_int_equal(v1, 60); /* a took nothing */
    /* a check on one field only; limit 0 means none */
    st[0] = add_step(&a, 100, FG_SHARED_NOW, 40, 0);
    st[0].check[0] = (struct fg_shared_check){1, 40, 40};
    st[0].check[1] = (struct fg_shared_check){2, 1000000, 0};
    assert_int_equal(S()->ops->counter_apply(S(), st, 1, NULL), -1);
    st[0].check[0] = (struct fg_shared_check){1, 1, 40}; /* field 0 is full */
    assert_int_equal(S()->ops->counter_apply(S(), st, 1, NULL), 0);
}

static void windows_move_forward_and_expire(void **state)
{
    struct fg_shared_cell cells[5];
    struct fg_shared_counter c;
    fg_shared_counter_init(&c, "w", 5, 5000, cells, 5);
    int64_t v0, v1;
    for (int64_t s = 10; s < 13; s++) {
        struct fg_shared_step st = add_step(&c, s, FG_SHARED_NOW, 1, 10);
        S()->ops->counter_apply(S(), &st, 1, NULL);
    }
    read_sums(&c, 12, &v0, &v1);
    assert_int_equal(v0, 3);
    assert_int_equal(v1, 30);
    /* settle into window 10: the real count replaces the held one, clamped */
    struct fg_shared_step st = add_step(&c, 12, 10, 0, -25);
    S()->ops->counter_apply(S(), &st, 1, NULL);
    read_sums(&c, 12, &v0, &v1);
    assert_int_equal(v1, 20);
    /* at 15 window 10 has left the span (11..15): its cell counts nowhere */
    read_sums(&c, 15, &v0, &v1);
    assert_int_equal(v0, 2);
    st = add_step(&c, 15, 10, 5, 5);
    S()->ops->counter_apply(S(), &st, 1, NULL);
    read_sums(&c, 15, &v0, &v1);
    assert_int_equal(v0, 2);
    /* a clock that steps back keeps the newest window */
    read_sums(&c, 3, &v0, &v1);
    assert_int_equal(v0, 2);
    /* the ring slot of window 11 is reused by 16: 11 is gone, 16 starts at zero */
    st = add_step(&c, 16, FG_SHARED_NOW, 1, 0);
    S()->ops->counter_apply(S(), &st, 1, NULL);
    struct fg_shared_window w;
    S()->ops->counter_read(S(), &c, 16, &w);
    assert_int_equal(w.head, 16);
    assert_int_equal(w.n, 2); /* 12 and 16, oldest first */
    assert_int_equal(w.cell[0].win, 12);
    assert_int_equal(w.cell[1].win, 16);
    assert_int_equal(w.cell[1].v[0], 1);
    /* reset forgets everything */
    fg_shared_counter_init(&c, NULL, 5, 5000, cells, 5);
    read_sums(&c, 16, &v0, &v1);
    assert_int_equal(v0 + v1, 0);
    assert_string_equal(c.name, "w"); /* a NULL name keeps the old one */
}

#define THREADS 16
#define ROUNDS 400
#define LIMIT 5000
#define WORST 700
#define REAL 500

static struct fg_shared_cell race_cells[1];
static struct fg_shared_counter race;
static int64_t admitted[THREADS + 1];
static int overshoots;
static pthread_mutex_t overshoot_mu = PTHREAD_MUTEX_INITIALIZER;

/* Reserve the worst case (spent + held + WORST <= LIMIT), look, settle to
 * the real cost: what a budget does, from many threads at once. */
static void *racer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        struct fg_shared_step st = add_step(&race, 1, FG_SHARED_NOW, 0, WORST);
        st.check[0] = (struct fg_shared_check){3, WORST, LIMIT};
        if (S()->ops->counter_apply(S(), &st, 1, NULL) >= 0)
            continue;
        admitted[id]++;
        int64_t v0, v1;
        read_sums(&race, 1, &v0, &v1);
        if (v0 + v1 > LIMIT) {
            pthread_mutex_lock(&overshoot_mu);
            overshoots++;
            pthread_mutex_unlock(&overshoot_mu);
        }
        st = add_step(&race, 1, st.win, REAL, -WORST);
        S()->ops->counter_apply(S(), &st, 1, NULL);
    }
    return NULL;
}

static void threads_never_pass_the_limit(void **state)
{
    fg_shared_counter_init(&race, "race", 1, 1000, race_cells, 1);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    int64_t total = 0, v0, v1;
    for (int i = 0; i < THREADS; i++)
        total += admitted[i];
    assert_true(total <= 9);
    /* whatever the interleaving left unused, one more caller takes now */
    racer((void *)(intptr_t)THREADS);
    total += admitted[THREADS];
    read_sums(&race, 1, &v0, &v1);
    assert_int_equal(overshoots, 0);
    assert_int_equal(v1, 0); /* every hold released */
    assert_int_equal(v0, total * REAL);
    assert_true(v0 <= LIMIT);
    /* admitted until the next worst case no longer fit: 9 x 500 + 700 > 5000 */
    assert_int_equal(total, 9);
}

/* ----------------------------------------------------------------- cache */

static struct fg_shared_val *val(const char *s, size_t n)
{
    void *d;
    struct fg_shared_val *v = fg_shared_val_new(n, &d);
    memset(d, s[0], n);
    return v;
}

static const uint8_t *key(int i)
{
    static uint8_t k[32];
    memset(k, 0, sizeof k);
    memcpy(k, &i, sizeof i); /* the low bytes pick the bucket */
    k[31] = 0x5a;
    return k;
}

static bool put(struct fg_shared_cache *c, int i, size_t n, int64_t expires, int64_t now)
{
    struct fg_shared_val *v = val("x", n);
    bool ok = S()->ops->cache_put(c, key(i), v, expires, now);
    fg_shared_val_release(v);
    return ok;
}

static bool has(struct fg_shared_cache *c, int i, int64_t now)
{
    struct fg_shared_val *v = S()->ops->cache_get(c, key(i), now);
    fg_shared_val_release(v);
    return v != NULL;
}

static void cache_ttl_with_injected_clock(void **state)
{
    struct fg_shared_cache *c = S()->ops->cache_open(S(), "t", 1 << 20);
    assert_true(put(c, 1, 10, 11000, 1000));
    assert_true(has(c, 1, 1000));
    assert_true(has(c, 1, 10999));
    assert_false(has(c, 1, 11000)); /* expired at expires_ms, and dropped */
    struct fg_shared_cache_stats st;
    S()->ops->cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.stores, 1);
    /* expired entries go first when a put needs room, and aren't evictions */
    assert_true(put(c, 2, 10, 5000, 1000));
    assert_true(put(c, 3, 10, 99999, 6000));
    S()->ops->cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.evictions, 0);
    S()->ops->cache_close(c);
}

static void cache_size_bound_and_lru(void **state)
{
    const size_t max = 8 * (FG_SHARED_VAL_OVERHEAD + 1000);
    struct fg_shared_cache *c = S()->ops->cache_open(S(), "b", max);
    /* a value above max_bytes / 8 is refused; what was there stays */
    assert_true(put(c, 1, 1000, 1 << 30, 0));
    assert_false(put(c, 1, 1001, 1 << 30, 0));
    struct fg_shared_val *v = S()->ops->cache_get(c, key(1), 0);
    size_t n;
    fg_shared_val_data(v, &n);
    assert_int_equal(n, 1000);
    /* eight fit exactly; a ninth evicts the least recently used (2, not 1:
     * 1 was just read) */
    for (int i = 2; i <= 8; i++)
        assert_true(put(c, i, 1000, 1 << 30, i));
    struct fg_shared_cache_stats st;
    S()->ops->cache_stats(c, &st);
    assert_int_equal(st.entries, 8);
    assert_int_equal(st.bytes, max);
    assert_int_equal(st.evictions, 0);
    assert_true(has(c, 1, 9));
    assert_true(put(c, 9, 1000, 1 << 30, 9));
    assert_false(has(c, 2, 9));
    assert_true(has(c, 1, 9));
    S()->ops->cache_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_true(st.bytes <= max);
    /* many more: the bound holds, the replaced and evicted values a caller
     * still holds stay readable until released */
    for (int i = 10; i < 200; i++)
        assert_true(put(c, i, 100 + (size_t)i, 1 << 30, i));
    S()->ops->cache_stats(c, &st);
    assert_true(st.bytes <= max);
    assert_true(has(c, 199, 200));
    assert_false(has(c, 1, 200));
    const unsigned char *d = fg_shared_val_data(v, &n);
    assert_int_equal(n, 1000);
    assert_int_equal(d[999], 'x');
    S()->ops->cache_close(c);
    assert_int_equal(d[0], 'x'); /* even past close */
    fg_shared_val_release(v);
}

/* -------------------------------------------------- versions, sightings */

static void versions_only_grow(void **state)
{
    uint64_t a = S()->ops->version_get(S(), "test-a");
    assert_int_equal(S()->ops->version_bump(S(), "test-a"), a + 1);
    assert_int_equal(S()->ops->version_bump(S(), "test-a"), a + 2);
    assert_int_equal(S()->ops->version_get(S(), "test-a"), a + 2);
    assert_int_equal(S()->ops->version_get(S(), "test-b"), 0);
}

static void sightings(void **state)
{
    S()->ops->seen_reset(S());
    uint64_t h[2] = {0x1234567890abcdefULL, 42};
    int64_t prev[2], gap[2];
    S()->ops->seen(S(), h, 2, 1000, prev, gap);
    assert_int_equal(prev[0], 0);
    assert_int_equal(prev[1], 0);
    S()->ops->seen(S(), h, 1, 5000, prev, gap);
    assert_int_equal(prev[0], 1000);
    assert_int_equal(gap[0], 4000);
    S()->ops->seen(S(), h, 1, 13000, prev, gap);
    assert_int_equal(prev[0], 5000);
    assert_int_equal(gap[0], (3 * 4000 + 8000) / 4); /* a new gap weighs a quarter */
    S()->ops->seen(S(), h, 1, 12000, prev, gap);     /* earlier: never moves back */
    assert_int_equal(prev[0], 12000);
    S()->ops->seen(S(), h, 1, 14000, prev, gap);
    assert_int_equal(prev[0], 13000);
    S()->ops->seen_reset(S());
    S()->ops->seen(S(), h, 2, 15000, prev, gap);
    assert_int_equal(prev[0], 0);
    assert_int_equal(prev[1], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checks_are_all_or_none),
        cmocka_unit_test(windows_move_forward_and_expire),
        cmocka_unit_test(threads_never_pass_the_limit),
        cmocka_unit_test(cache_ttl_with_injected_clock),
        cmocka_unit_test(cache_size_bound_and_lru),
        cmocka_unit_test(versions_only_grow),
        cmocka_unit_test(sightings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
