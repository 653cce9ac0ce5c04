/* Unit tests for failover: what is retried, how long to wait, and the
 * circuit breaker's transitions (time injected). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "failover.h"

#define T0 1795680000000LL

static void retriable_classes(void **state)
{
    assert_true(fg_failover_retriable(429, CURLE_OK));
    assert_true(fg_failover_retriable(503, CURLE_OK));
    assert_true(fg_failover_retriable(529, CURLE_OK));
    assert_true(fg_failover_retriable(408, CURLE_OK));
    assert_false(fg_failover_retriable(501, CURLE_OK));
    assert_false(fg_failover_retriable(400, CURLE_OK)); /* context length: the request's fault */
    assert_false(fg_failover_retriable(404, CURLE_OK));
    assert_false(fg_failover_retriable(200, CURLE_OK));
    assert_true(fg_failover_retriable(0, CURLE_COULDNT_CONNECT));
    assert_true(fg_failover_retriable(0, CURLE_OPERATION_TIMEDOUT));
    assert_true(fg_failover_retriable(0, CURLE_RECV_ERROR));
    assert_false(fg_failover_retriable(0, CURLE_WRITE_ERROR));
}

static void delays_honour_retry_after(void **state)
{
    assert_int_equal(fg_failover_delay_ms(0, "7", NULL, 0, T0), 7000);
    assert_int_equal(fg_failover_delay_ms(0, "0.5", NULL, 0, T0), 500);
    assert_int_equal(fg_failover_delay_ms(0, "7", "120", 0, T0), 120); /* -ms wins */
    /* an HTTP date 3 s ahead of now */
    assert_int_equal(
        fg_failover_delay_ms(0, "Thu, 26 Nov 2026 00:00:03 GMT", NULL, 0, 1795651200000LL), 3000);
    /* no header: 250 ms x 2^n, plus at most 25% jitter */
    for (int n = 0; n < 4; n++)
        for (uint64_t rnd = 0; rnd < 1000; rnd += 97) {
            long d = fg_failover_delay_ms(n, NULL, NULL, rnd, T0);
            assert_in_range(d, 250L << n, (250L << n) + (250L << n) / 4);
        }
    assert_int_equal(fg_failover_delay_ms(1, "soon", NULL, 0, T0), 500); /* unreadable: backoff */
}

static void breaker_transitions(void **state)
{
    fg_failover_breaker_reset();
    int p = 3;
    for (int i = 0; i < FG_BREAKER_FAILURES - 1; i++)
        fg_failover_breaker_record(p, false, T0);
    assert_int_equal(fg_failover_breaker_state(p, T0), FG_BREAKER_CLOSED);
    fg_failover_breaker_record(p, false, T0);
    assert_int_equal(fg_failover_breaker_state(p, T0), FG_BREAKER_OPEN);
    assert_false(fg_failover_breaker_allows(p, T0 + 1000));
    /* after the open period: one trial goes through, a second waits */
    int64_t later = T0 + FG_BREAKER_OPEN_MS;
    assert_int_equal(fg_failover_breaker_state(p, later), FG_BREAKER_HALF_OPEN);
    assert_true(fg_failover_breaker_allows(p, later));
    assert_false(fg_failover_breaker_allows(p, later));
    /* the trial fails: open again */
    fg_failover_breaker_record(p, false, later);
    assert_int_equal(fg_failover_breaker_state(p, later + 1), FG_BREAKER_OPEN);
    /* next trial succeeds: closed */
    int64_t again = later + FG_BREAKER_OPEN_MS;
    assert_true(fg_failover_breaker_allows(p, again));
    fg_failover_breaker_record(p, true, again);
    assert_int_equal(fg_failover_breaker_state(p, again), FG_BREAKER_CLOSED);
    assert_true(fg_failover_breaker_allows(p, again));
    /* a success in between resets the count */
    for (int i = 0; i < FG_BREAKER_FAILURES - 1; i++)
        fg_failover_breaker_record(p, false, again);
    fg_failover_breaker_record(p, true, again);
    fg_failover_breaker_record(p, false, again);
    assert_int_equal(fg_failover_breaker_state(p, again), FG_BREAKER_CLOSED);
    /* other providers are independent */
    assert_int_equal(fg_failover_breaker_state(4, T0), FG_BREAKER_CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retriable_classes),
        cmocka_unit_test(delays_honour_retry_after),
        cmocka_unit_test(breaker_transitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
