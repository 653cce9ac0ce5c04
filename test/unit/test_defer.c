/* test_defer.c — deferral's pure parts (call/defer.h, config/flex.h): the
 * x-frugal-defer DURATION, the way a deferrable call is served, the flex
 * backoff, what counts as flex's capacity refusal, the built-in flex list,
 * and a flex call's price and saving (ledger/attrib.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "attrib.h"
#include "defer.h"
#include "flex.h"
#include "price.h"

static void duration_ok(void **state)
{
    static const struct {
        const char *s;
        int64_t ms;
    } rows[] = {
        {"30s", 30000}, {"5m", 300000},    {"1h", 3600000}, {"1500ms", 1500},    {"90", 90000},
        {"1ms", 1},     {"24h", 86400000}, {"007s", 7000},  {"86400", 86400000},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(fg_defer_parse(rows[i].s, &ms), 0);
        assert_int_equal(ms, rows[i].ms);
    }
}

static void duration_bad(void **state)
{
    static const char *const rows[] = {
        "",
        "0",
        "0s",
        "s",
        "5 m",
        " 5m",
        "5m ",
        "-3s",
        "+3s",
        "1.5s",
        "5M",
        "5d",
        "5mm",
        "ms",
        "25h",
        "86401",
        "99999999999999999999",
        "1e3",
        "5min",
        "0x10",
        "9223372036854775807ms",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = 42;
        assert_int_equal(fg_defer_parse(rows[i], &ms), -1);
        assert_int_equal(ms, 42); /* untouched */
    }
    int64_t ms = 0;
    assert_int_equal(fg_defer_parse(NULL, &ms), -1);
}

static void decision_rule(void **state)
{
    const int64_t min = 60000;
    /* flex first, whatever the deadline */
    assert_int_equal(fg_defer_decide(true, true, 1000, min), FG_DEFER_FLEX);
    assert_int_equal(fg_defer_decide(true, false, 1000, min), FG_DEFER_FLEX);
    /* else a batch when the deadline is at least min_deadline */
    assert_int_equal(fg_defer_decide(false, true, min, min), FG_DEFER_BATCH);
    assert_int_equal(fg_defer_decide(false, true, min + 1, min), FG_DEFER_BATCH);
    assert_int_equal(fg_defer_decide(false, true, min - 1, min), FG_DEFER_REALTIME);
    /* else real time */
    assert_int_equal(fg_defer_decide(false, false, 10 * min, min), FG_DEFER_REALTIME);
}

static void backoff(void **state)
{
    long prev = 0;
    for (int n = 0; n < 40; n++) {
        long hi = fg_defer_backoff_ms(n, 0); /* no jitter */
        long lo = fg_defer_backoff_ms(n, UINT64_MAX);
        assert_true(hi >= prev && hi <= 30000);
        assert_true(lo <= hi && lo >= hi - hi / 4);
        prev = hi;
    }
    assert_int_equal(fg_defer_backoff_ms(0, 0), 500);
    assert_int_equal(fg_defer_backoff_ms(1, 0), 1000);
    assert_int_equal(fg_defer_backoff_ms(39, 0), 30000);
}

static void capacity_refusal(void **state)
{
    const char *busy =
        "{\"error\":{\"message\":\"Resource Unavailable\",\"type\":"
        "\"invalid_request_error\",\"param\":null,\"code\":\"resource_unavailable\"}}";
    const char *rate = "{\"error\":{\"message\":\"slow down\",\"type\":\"requests\",\"param\":null,"
                       "\"code\":\"rate_limit_exceeded\"}}";
    assert_true(fg_defer_capacity_refusal(429, busy, strlen(busy)));
    assert_false(fg_defer_capacity_refusal(503, busy, strlen(busy)));
    assert_false(fg_defer_capacity_refusal(429, rate, strlen(rate)));
    assert_false(fg_defer_capacity_refusal(429, "not json", 8));
    assert_false(fg_defer_capacity_refusal(429, "{\"code\":\"resource_unavailable\"}", 31));
    assert_false(fg_defer_capacity_refusal(429, NULL, 0));
}

static void builtin_list(void **state)
{
    /* the price rows decide (data/prices.json "flex"): dated snapshots
     * count as their row; a model with no row is not flex, whatever its
     * name looks like */
    static const char *const yes[] = {
        "o3",           "o3-2025-04-16", "o4-mini", "o4-mini-2025-04-16",
        "gpt-5",        "gpt-5-mini",    "gpt-5.4", "gpt-5.5-2026-04-23",
        "gpt-5.4-nano", "gpt-5.6-sol"};
    static const char *const no[] = {"gpt-4o-mini",
                                     "gpt-4.1",
                                     "o3-mini",
                                     "o3-pro",
                                     "gpt-5-pro",
                                     "gpt-5-chat-latest",
                                     "gpt-5.4-pro",
                                     "gpt-5-codex",
                                     "ft:gpt-5-mini",
                                     "o4-mini-deep-research",
                                     "gpt-50",
                                     "o30",
                                     "gpt-6-astra", /* no price row: not flex */
                                     "gpt-5.9-mini",
                                     "claude-sonnet-4-6",
                                     ""};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(fg_flex_builtin(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(fg_flex_builtin(no[i]));
    /* every flex row is an OpenAI row with a batch price to bill at */
    size_t n = 0;
    for (size_t i = 0; i < fg_price_table_len; i++) {
        const struct fg_builtin_price *b = &fg_price_table[i];
        assert_int_equal(fg_flex_builtin(b->model), b->flex);
        if (!b->flex)
            continue;
        n++;
        struct fg_price p;
        assert_int_equal(b->provider, FG_DIALECT_OPENAI);
        assert_true(fg_price_of_id(b->model, FG_DIALECT_OPENAI, &p));
        assert_true(p.batch_input >= 0 && p.batch_output >= 0);
    }
    assert_true(n >= 10);
    assert_false(fg_flex_builtin(NULL));

    struct fg_model_cfg m = {.name = "mine", .model = "gpt-4o-mini", .dialect = FG_DIALECT_OPENAI};
    assert_false(fg_flex_capable(&m));
    m.flex = 1; /* config says yes */
    assert_true(fg_flex_capable(&m));
    m.model = "gpt-5-mini";
    m.flex = -1; /* config says no */
    assert_false(fg_flex_capable(&m));
    m.flex = 0;
    assert_true(fg_flex_capable(&m));
    m.dialect = FG_DIALECT_ANTHROPIC; /* only OpenAI serves flex */
    m.flex = 1;
    assert_false(fg_flex_capable(&m));
}

/* A flex call costs the batch rates (cache reads halved too) and the
 * difference to the standard tier is saved_by.flex, nothing else. */
static void flex_price(void **state)
{
    struct fg_price p = {.input = 250000,
                         .output = 2000000,
                         .cache_read = 25000,
                         .cache_write_5m = 250000,
                         .cache_write_1h = 250000,
                         .batch_input = 125000,
                         .batch_output = 1000000};
    struct fg_record r = {.tok = {.input = 1000, .cache_read = 2048, .output = 500}};
    struct fg_attrib_in in = {.price = &p, .flex = true, .native_cache = true};
    fg_attrib(&in, &r);
    int64_t standard = 1000 * p.input + 2048 * p.cache_read + 500 * p.output;
    int64_t flex = 1000 * p.batch_input + 2048 * p.cache_read / 2 + 500 * p.batch_output;
    assert_int_equal(r.cost_pico, flex);
    assert_int_equal(r.saved_flex_pico, standard - flex);
    assert_int_equal(r.saved_batch_pico, 0);
    assert_int_equal(r.baseline_pico, standard);
    assert_int_equal(r.saved_prompt_cache_pico + r.saved_routing_pico + r.saved_batch_pico +
                         r.saved_response_cache_pico + r.saved_flex_pico,
                     r.baseline_pico - r.cost_pico);

    struct fg_record s = {.tok = r.tok};
    in.flex = false;
    fg_attrib(&in, &s);
    assert_int_equal(s.cost_pico, standard);
    assert_int_equal(s.saved_flex_pico, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(duration_ok),      cmocka_unit_test(duration_bad),
        cmocka_unit_test(decision_rule),    cmocka_unit_test(backoff),
        cmocka_unit_test(capacity_refusal), cmocka_unit_test(builtin_list),
        cmocka_unit_test(flex_price),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
