/* test_selfhost.c — unit tests for selfhost.c: a server priced by the hour,
 * its money split over the calls in flight and idle time, adding up to the
 * hours exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "selfhost.h"

#define T0 INT64_C(1796601600000000) /* µs */
/* $3.60 an hour = 3,600,000 micro-USD: exactly 1,000 pico-USD a µs (the
 * times below are µs: 1,000,000 pico-USD per 1,000 µs) */
#define RATE INT64_C(3600000)

static void split_and_idle(void **state)
{
    (void)state;
    struct fg_selfhost *s = fg_selfhost_new("gpu", RATE, 4, T0);
    struct fg_selfhost_slot a = {0}, b = {0}, c = {0};
    /* idle 0-100 ms; a alone 100-200; a and b 200-300; b alone 300-350 */
    fg_selfhost_begin(s, &a, T0 + 100000);
    fg_selfhost_begin(s, &b, T0 + 200000);
    assert_int_equal(fg_selfhost_end(s, &a, 10, T0 + 300000), 100 * 1000000LL + 50 * 1000000LL);
    assert_int_equal(fg_selfhost_end(s, &b, 20, T0 + 350000), 50 * 1000000LL + 50 * 1000000LL);
    /* ending twice gives nothing */
    assert_int_equal(fg_selfhost_end(s, &b, 20, T0 + 360000), 0);
    /* three calls over 1 ms of money split 3 ways: 333,334 / 333,333 / 333,333 */
    fg_selfhost_begin(s, &a, T0 + 400000);
    fg_selfhost_begin(s, &b, T0 + 400000);
    fg_selfhost_begin(s, &c, T0 + 400000);
    int64_t ea = fg_selfhost_end(s, &a, 0, T0 + 401000);
    assert_int_equal(ea, 333334); /* the oldest gets the remainder */
    int64_t eb = fg_selfhost_end(s, &b, 0, T0 + 401000),
            ec = fg_selfhost_end(s, &c, 0, T0 + 401000);
    assert_int_equal(eb + ec, 666666);
    struct fg_selfhost_totals t;
    fg_selfhost_totals(s, T0 + 1000000, &t);
    assert_int_equal(t.total_pico, 1000 * 1000000LL);
    assert_int_equal(t.calls_pico, 250 * 1000000LL + 1000000LL);
    assert_int_equal(t.idle_pico, t.total_pico - t.calls_pico); /* idle: 100+50+... */
    assert_int_equal(t.in_flight, 0);
    assert_int_equal(t.window_tokens, 30);
    fg_selfhost_free(s, T0 + 1000000);
}

/* An odd rate: pieces of rounded-down cumulative money still add up. */
static void shares_add_up(void **state)
{
    (void)state;
    const int64_t rate = 2490000; /* $2.49/h */
    struct fg_selfhost *s = fg_selfhost_new("gpu", rate, 64, T0);
    struct fg_selfhost_slot sl[7] = {{0}};
    int64_t sum = 0, t = T0;
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < 7; k++)
            if ((round + k) % 3 == 0 && !sl[k].on)
                fg_selfhost_begin(s, &sl[k], t += 7000);
        for (int k = 0; k < 7; k++)
            if ((round * k) % 5 == 1 && sl[k].on)
                sum += fg_selfhost_end(s, &sl[k], 1, t += 13000);
    }
    for (int k = 0; k < 7; k++)
        sum += fg_selfhost_end(s, &sl[k], 1, t += 3000);
    struct fg_selfhost_totals tt;
    fg_selfhost_totals(s, t + 500000, &tt);
    assert_int_equal(tt.calls_pico, sum);
    assert_int_equal(tt.calls_pico + tt.idle_pico, tt.total_pico);
    /* C(t) = rate × µs / 3600, rounded down */
    assert_int_equal(tt.total_pico, (int64_t)((__int128)rate * (t + 500000 - T0) / 3600));
    assert_true(fg_selfhost_worst(rate, 600000) >= (int64_t)((__int128)rate * 600000000 / 3600));
    fg_selfhost_free(s, t + 500000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_and_idle),
        cmocka_unit_test(shares_add_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
