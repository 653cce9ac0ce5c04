/* test_decimal.c — decimal.h writes what snprintf("%llu") / "%0*llu" would,
 * and fg_price_usd (built on it) what its former snprintf wrote, including
 * truncation into a short buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "decimal.h"
#include "price.h"

/* Values around every power of ten, the extremes, and pseudo-random ones. */
static uint64_t value(int k)
{
    static uint64_t x = 88172645463325252ull;
    if (k < 20 * 3) {
        uint64_t p = 1;
        for (int i = 0; i < k / 3; i++)
            p *= 10;
        return p + (uint64_t)(k % 3) - 1; /* 10^i - 1, 10^i, 10^i + 1 */
    }
    if (k == 60)
        return UINT64_MAX;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x >> (k % 64);
}

static void matches_snprintf(void **state)
{
    char want[64], got[FG_DECIMAL_MAX + 1];
    for (int k = 0; k < 5000; k++) {
        uint64_t v = value(k);
        snprintf(want, sizeof want, "%llu", (unsigned long long)v);
        size_t n = fg_decimal_u64(got, v);
        got[n] = '\0';
        assert_string_equal(got, want);
        for (int w = 0; w <= FG_DECIMAL_MAX; w += 3) {
            snprintf(want, sizeof want, "%0*llu", w, (unsigned long long)v);
            n = fg_decimal_u64_pad(got, v, (size_t)w);
            got[n] = '\0';
            assert_string_equal(got, want);
        }
    }
}

/* Signed: both signs, 0 and the extremes (INT64_MIN has no positive). */
static void i64_matches_snprintf(void **state)
{
    char want[64], got[FG_DECIMAL_I64_MAX + 1];
    for (int k = 0; k < 5000; k++) {
        uint64_t u = value(k);
        int64_t vs[] = {(int64_t)(u >> 1), -(int64_t)(u >> 1), 0, INT64_MAX, INT64_MIN, -1};
        for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            snprintf(want, sizeof want, "%lld", (long long)vs[i]);
            size_t n = fg_decimal_i64(got, vs[i]);
            assert_true(n <= FG_DECIMAL_I64_MAX);
            got[n] = '\0';
            assert_string_equal(got, want);
        }
    }
}

/* The former fg_price_usd, kept here as the oracle. */
static void old_usd(int64_t pico, char *buf, size_t n)
{
    int neg = pico < 0;
    uint64_t a = neg ? (uint64_t)(-(pico + 1)) + 1 : (uint64_t)pico;
    uint64_t micro = (a + 500000) / 1000000;
    snprintf(buf, n, "%s%llu.%06llu", neg && micro ? "-" : "",
             (unsigned long long)(micro / 1000000), (unsigned long long)(micro % 1000000));
}

static void price_usd_as_before(void **state)
{
    char want[64], got[64];
    static const int64_t fixed[] = {0,       1,         499999,    500000,     -499999, -500000,
                                    -500001, INT64_MIN, INT64_MAX, 1234567890, -1};
    for (int k = 0; k < 3000; k++) {
        int64_t p = k < (int)(sizeof fixed / sizeof fixed[0]) ? fixed[k] : (int64_t)value(k);
        for (size_t n = 1; n <= 40; n += 3) {
            memset(want, 'x', sizeof want);
            memset(got, 'x', sizeof got);
            old_usd(p, want, n);
            fg_price_usd(p, got, n);
            assert_memory_equal(got, want, sizeof got);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_snprintf),
        cmocka_unit_test(i64_matches_snprintf),
        cmocka_unit_test(price_usd_as_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
