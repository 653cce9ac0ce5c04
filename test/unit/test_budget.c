/* test_budget.c — budgets held exactly: reservation and settle arithmetic,
 * all-or-none holds over several budgets, period rollover, 100 threads
 * racing for a budget that fits a few calls; RPM/TPM windows with their
 * retry-after; the worst-case cost formula. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "alert.h"
#include "budget.h"
#include "price.h"
#include "ratelimit.h"

/* 2026-11-26T13:04:00Z; the day ends at DAY_END */
#define T0 1795698240000LL
#define DAY_END 1795737600000LL

static void reserve_and_settle(void **state)
{
    struct fg_budget b;
    struct fg_budget *bs[] = {&b};
    struct fg_budget_hold h1, h2, h3;
    struct fg_budget_view v;
    fg_budget_init(&b, 1000, FG_PERIOD_DAY, 100, T0); /* 100 already spent today */
    assert_int_equal(fg_budget_reserve(bs, 1, 400, T0, &h1, &v), -1);
    assert_int_equal(fg_budget_reserve(bs, 1, 500, T0, &h2, &v), -1); /* 100+400+500 = 1000 */
    assert_int_equal(fg_budget_reserve(bs, 1, 1, T0, &h3, &v), 0);    /* full */
    assert_int_equal(v.limit, 1000);
    assert_int_equal(v.spent, 100);
    assert_int_equal(v.reserved, 900);
    assert_int_equal(v.resets_at, DAY_END);
    /* settle to the real cost: the hold goes, the cost stays */
    fg_budget_settle(&h1, 150, T0, T0 + 5);
    fg_budget_get(&b, T0 + 5, &v);
    assert_int_equal(v.spent, 250);
    assert_int_equal(v.reserved, 500);
    /* settling twice releases nothing more */
    fg_budget_settle(&h1, 0, T0, T0 + 5);
    fg_budget_get(&b, T0 + 5, &v);
    assert_int_equal(v.reserved, 500);
    /* the next attempt of an admitted call holds again, unchecked */
    fg_budget_force(&h1, T0 + 6);
    fg_budget_get(&b, T0 + 6, &v);
    assert_int_equal(v.reserved, 900);
    fg_budget_settle(&h1, 0, T0, T0 + 7); /* it never reached the provider */
    fg_budget_settle(&h2, 500, T0, T0 + 8);
    fg_budget_get(&b, T0 + 8, &v);
    assert_int_equal(v.spent, 750);
    assert_int_equal(v.reserved, 0);
    assert_int_equal(fg_budget_reserve(bs, 1, 250, T0, &h3, &v), -1); /* exactly fits */
    fg_budget_settle(&h3, 250, T0, T0 + 9);
    /* used up: even a free call is refused */
    assert_int_equal(fg_budget_reserve(bs, 1, 0, T0, &h3, &v), 0);
    assert_int_equal(v.spent, 1000);
}

/* A hold kept outside memory (a batch line's, in the batch store): rebuilt
 * to settle it, and held again after a restart only while its period lasts. */
static void hold_kept_elsewhere(void **state)
{
    struct fg_budget key, tag;
    struct fg_budget *bs[] = {&key, &tag};
    struct fg_budget_hold h, again;
    struct fg_budget_view v;
    fg_budget_init(&key, 1000, FG_PERIOD_DAY, 0, T0);
    fg_budget_init(&tag, 5000, FG_PERIOD_MONTH, 0, T0);
    assert_int_equal(fg_budget_reserve(bs, 2, 300, T0, &h, &v), -1);
    /* the line settles from what the store kept: amount and time */
    fg_budget_hold_of(bs, 2, 300, T0, &again);
    assert_true(again.held);
    fg_budget_settle(&again, 120, T0, T0 + 10);
    fg_budget_get(&key, T0 + 10, &v);
    assert_int_equal(v.reserved, 0);
    assert_int_equal(v.spent, 120);
    fg_budget_get(&tag, T0 + 10, &v);
    assert_int_equal(v.reserved, 0);
    assert_int_equal(v.spent, 120);

    /* a restart: budgets start from the ledger's spend, holds come back */
    fg_budget_init(&key, 1000, FG_PERIOD_DAY, 120, T0 + 20);
    fg_budget_init(&tag, 5000, FG_PERIOD_MONTH, 120, T0 + 20);
    fg_budget_hold_of(bs, 2, 800, T0 + 5, &again);
    fg_budget_rehold(&again, T0 + 20);
    fg_budget_get(&key, T0 + 20, &v);
    assert_int_equal(v.reserved, 800);
    /* unchecked, but a call still cannot pass the limit */
    assert_int_equal(fg_budget_reserve(bs, 2, 81, T0 + 20, &h, &v), 0);
    fg_budget_settle(&again, 0, T0 + 5, T0 + 30); /* ended without cost */
    fg_budget_get(&key, T0 + 30, &v);
    assert_int_equal(v.reserved, 0);
    assert_int_equal(v.spent, 120);

    /* held yesterday: today's counters know nothing of it (its cost, dated
     * yesterday, counts in neither the counters nor today's ledger sum) */
    fg_budget_hold_of(bs, 2, 800, T0 - 86400000LL, &again);
    fg_budget_rehold(&again, T0 + 40);
    fg_budget_get(&key, T0 + 40, &v);
    assert_int_equal(v.reserved, 0);
    fg_budget_get(&tag, T0 + 40, &v);
    assert_int_equal(v.reserved, 800); /* the monthly tag budget: same period */
    fg_budget_settle(&again, 500, T0 - 86400000LL, T0 + 50);
    fg_budget_get(&key, T0 + 50, &v);
    assert_int_equal(v.spent, 120);
    fg_budget_get(&tag, T0 + 50, &v);
    assert_int_equal(v.reserved, 0);
    assert_int_equal(v.spent, 620);
    /* nothing held: settling adds the cost only */
    fg_budget_hold_of(bs, 2, 0, T0 + 60, &again);
    assert_false(again.held);
    fg_budget_settle(&again, 10, T0 + 60, T0 + 60);
    fg_budget_get(&key, T0 + 60, &v);
    assert_int_equal(v.spent, 130);
    assert_int_equal(v.reserved, 0);
}

static void all_or_none(void **state)
{
    struct fg_budget key, tag;
    struct fg_budget *bs[] = {&key, &tag};
    struct fg_budget_hold h;
    struct fg_budget_view v;
    fg_budget_init(&key, 1000, FG_PERIOD_MONTH, 0, T0);
    fg_budget_init(&tag, 300, FG_PERIOD_DAY, 0, T0);
    assert_int_equal(fg_budget_reserve(bs, 2, 200, T0, &h, &v), -1);
    struct fg_budget_hold h2;
    /* fits the key, not the tag: refused, with the tag named, nothing held */
    assert_int_equal(fg_budget_reserve(bs, 2, 200, T0, &h2, &v), 1);
    assert_int_equal(v.limit, 300);
    fg_budget_get(&key, T0, &v);
    assert_int_equal(v.reserved, 200);
    fg_budget_settle(&h, 120, T0, T0);
    fg_budget_get(&key, T0, &v);
    assert_int_equal(v.spent, 120);
    fg_budget_get(&tag, T0, &v);
    assert_int_equal(v.spent, 120);
    assert_int_equal(v.reserved, 0);
}

static void periods_roll(void **state)
{
    struct fg_budget b;
    struct fg_budget *bs[] = {&b};
    struct fg_budget_hold h, h2;
    struct fg_budget_view v;
    fg_budget_init(&b, 1000, FG_PERIOD_DAY, 900, T0);
    assert_int_equal(fg_budget_reserve(bs, 1, 100, T0, &h, &v), -1);
    assert_int_equal(fg_budget_reserve(bs, 1, 1, DAY_END - 1, &h2, &v), 0);
    assert_int_equal(v.resets_at, DAY_END);
    /* midnight UTC: a fresh day, whatever was spent or held yesterday */
    assert_int_equal(fg_budget_reserve(bs, 1, 1000, DAY_END, &h2, &v), -1);
    /* yesterday's call ends today: it releases nothing of today's holds and
     * its cost belongs to yesterday (its start), like the ledger says */
    fg_budget_settle(&h, 100, T0, DAY_END + 10);
    fg_budget_get(&b, DAY_END + 10, &v);
    assert_int_equal(v.spent, 0);
    assert_int_equal(v.reserved, 1000);
    assert_int_equal(v.period_start, DAY_END);
    fg_budget_settle(&h2, 999, DAY_END, DAY_END + 20);
    fg_budget_get(&b, DAY_END + 20, &v);
    assert_int_equal(v.spent, 999);
    assert_int_equal(v.reserved, 0);
    /* a cost charged outside admission counts in its own period only */
    fg_budget_charge(&b, 5, DAY_END + 1, DAY_END + 30);
    fg_budget_charge(&b, 7, T0, DAY_END + 30);
    fg_budget_get(&b, DAY_END + 30, &v);
    assert_int_equal(v.spent, 1004);
}

/* A soft budget counts like any other but never refuses. */
static void soft_never_refuses(void **state)
{
    struct fg_budget hard, soft;
    struct fg_budget *bs[] = {&soft, &hard};
    struct fg_budget_hold h;
    struct fg_budget_view v;
    fg_budget_init(&hard, 10000, FG_PERIOD_DAY, 0, T0);
    fg_budget_init(&soft, 1000, FG_PERIOD_DAY, 0, T0);
    soft.soft = true;
    for (int i = 0; i < 3; i++) { /* 3 x 600 held on a soft 1000 */
        assert_int_equal(fg_budget_reserve(bs, 2, 600, T0, &h, &v), -1);
        fg_budget_settle(&h, 600, T0, T0 + 1);
    }
    fg_budget_get(&soft, T0 + 2, &v);
    assert_int_equal(v.spent, 1800);
    /* the hard one beside it still refuses, and names itself */
    assert_int_equal(fg_budget_reserve(bs, 2, 9000, T0, &h, &v), 1);
    assert_int_equal(v.limit, 10000);
}

struct seen {
    int n;
    double at[8];
    bool refused[8];
    int64_t spent[8], period[8];
};

static void note(void *arg, const struct fg_alert_event *e)
{
    struct seen *s = arg;
    assert_true(s->n < 8);
    s->at[s->n] = e->at;
    s->refused[s->n] = e->refused;
    s->spent[s->n] = e->v.spent;
    s->period[s->n++] = e->v.period_start;
    char *body = fg_alert_body(e);
    assert_non_null(strstr(body, "\"budget\":\"key\""));
    assert_non_null(strstr(body, "\"id\":\"key_0123\""));
    free(body);
}

/* Thresholds fire once each per period: by spend, the 1.0 one also by a
 * refusal, and all again in the next period. */
static void alert_thresholds_per_period(void **state)
{
    static const double at[] = {0.5, 0.8, 1.0};
    struct fg_budget b;
    snprintf(b.ctr.name, sizeof b.ctr.name, "budget:key:key_0123");
    fg_budget_init(&b, 1000, FG_PERIOD_DAY, 0, T0);
    b.kind = "key";
    b.id = "key_0123";
    b.name = "team";
    struct seen s = {0};
    fg_budget_charge(&b, 499, T0, T0);
    assert_int_equal(fg_alert_scan(&b, at, 3, false, T0, note, &s), 0);
    fg_budget_charge(&b, 301, T0, T0); /* 800: 50% and 80% at once */
    assert_int_equal(fg_alert_scan(&b, at, 3, false, T0, note, &s), 2);
    assert_true(s.at[0] == 0.5 && s.at[1] == 0.8);
    assert_int_equal(s.spent[1], 800);
    assert_int_equal(fg_alert_scan(&b, at, 3, false, T0 + 5, note, &s), 0); /* once */
    /* a refused call at 80%: the 100% alert, flagged as a refusal */
    assert_int_equal(fg_alert_scan(&b, at, 3, true, T0 + 6, note, &s), 1);
    assert_true(s.at[2] == 1.0 && s.refused[2]);
    fg_budget_charge(&b, 500, T0, T0 + 7); /* 130%: nothing new */
    assert_int_equal(fg_alert_scan(&b, at, 3, true, T0 + 7, note, &s), 0);
    /* the marks are the store's, not this budget's: a second process with
     * the same budget (another replica) sends nothing either */
    struct fg_budget twin = b;
    twin.alert.done = 0;
    assert_int_equal(fg_alert_scan(&twin, at, 3, true, T0 + 8, note, &s), 0);
    /* the next day: a new period, every threshold again */
    fg_budget_charge(&b, 1000, DAY_END + 1, DAY_END + 1);
    assert_int_equal(fg_alert_scan(&b, at, 3, false, DAY_END + 2, note, &s), 3);
    assert_int_equal(s.n, 6);
    for (int i = 3; i < 6; i++)
        assert_int_equal(s.period[i], DAY_END);
}

/* ---- 100 threads race for a budget that fits 4 worst cases ---- */

#define RACERS 100
#define WORST 1000
#define REAL 900

static struct fg_budget race_budget;
static int admitted;
static pthread_mutex_t admitted_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start_line;

static void *racer(void *arg)
{
    struct fg_budget *bs[] = {&race_budget};
    struct fg_budget_hold h;
    struct fg_budget_view v;
    pthread_barrier_wait(&start_line);
    /* each thread tries several calls one after another */
    for (int i = 0; i < 20; i++) {
        if (fg_budget_reserve(bs, 1, WORST, T0, &h, &v) >= 0)
            continue;
        pthread_mutex_lock(&admitted_mu);
        admitted++;
        pthread_mutex_unlock(&admitted_mu);
        fg_budget_settle(&h, REAL, T0, T0 + 1);
    }
    return NULL;
}

static void hundred_threads_never_overshoot(void **state)
{
    const int64_t limit = 4 * WORST + 500;
    fg_budget_init(&race_budget, limit, FG_PERIOD_MONTH, 0, T0);
    pthread_barrier_init(&start_line, NULL, RACERS);
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++)
        pthread_create(&t[i], NULL, racer, NULL);
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
    struct fg_budget_view v;
    fg_budget_get(&race_budget, T0 + 2, &v);
    /* calls that cost no more than they reserved never pass the limit:
     * four fit at once, and a fifth never does (4 x 900 + 1000 > 4500),
     * however the threads interleave */
    assert_int_equal(v.reserved, 0);
    assert_true(v.spent <= limit);
    assert_int_equal(v.spent, (int64_t)admitted * REAL);
    assert_int_equal(admitted, 4);
    assert_true(limit - v.spent < WORST);
}

/* ---- rate limits ---- */

static void rpm_with_retry_after(void **state)
{
    struct fg_ratelimit r;
    struct fg_ratelimit_hold h;
    struct fg_ratelimit_denial d;
    fg_ratelimit_init(&r, 3, 0);
    assert_int_equal(fg_ratelimit_admit(&r, 10, T0, &h, &d), 0);         /* second 0 */
    assert_int_equal(fg_ratelimit_admit(&r, 10, T0 + 20000, &h, &d), 0); /* second 20 */
    assert_int_equal(fg_ratelimit_admit(&r, 10, T0 + 20500, &h, &d), 0);
    assert_int_equal(fg_ratelimit_admit(&r, 10, T0 + 30000, &h, &d), -1);
    assert_false(d.tokens);
    assert_int_equal(d.limit, 3);
    assert_int_equal(d.used, 3);
    /* the oldest request leaves the window at T0 + 60 s: 30 s from now */
    assert_int_equal(d.retry_after_s, 30);
    assert_int_equal(fg_ratelimit_admit(&r, 10, T0 + 59999, &h, &d), -1);
    assert_int_equal(d.retry_after_s, 1);
    assert_int_equal(fg_ratelimit_admit(&r, 10, T0 + 60000, &h, &d), 0);
    int64_t req, tok;
    fg_ratelimit_usage(&r, T0 + 60000, &req, &tok);
    assert_int_equal(req, 3);
}

static void tpm_reserves_then_settles(void **state)
{
    struct fg_ratelimit r;
    struct fg_ratelimit_hold a, b, c;
    struct fg_ratelimit_denial d;
    fg_ratelimit_init(&r, 0, 1000);
    assert_int_equal(fg_ratelimit_admit(&r, 600, T0, &a, &d), 0);
    assert_int_equal(fg_ratelimit_admit(&r, 600, T0 + 1000, &b, &d), -1); /* 600 held */
    assert_true(d.tokens);
    assert_false(d.never);
    assert_int_equal(d.used, 600);
    assert_int_equal(d.need, 600);
    assert_int_equal(d.retry_after_s, 59);
    /* the call used 150 tokens, not 600: room again */
    fg_ratelimit_settle(&a, 150, T0 + 1500);
    assert_int_equal(fg_ratelimit_admit(&r, 600, T0 + 2000, &b, &d), 0);
    int64_t req, tok;
    fg_ratelimit_usage(&r, T0 + 2000, &req, &tok);
    assert_int_equal(tok, 750);
    /* a retry holds again without a request */
    fg_ratelimit_settle(&b, 100, T0 + 2500);
    fg_ratelimit_force(&b, 600, T0 + 3000);
    fg_ratelimit_usage(&r, T0 + 3000, &req, &tok);
    assert_int_equal(req, 2);
    assert_int_equal(tok, 850);
    fg_ratelimit_settle(&b, 50, T0 + 3500);
    fg_ratelimit_usage(&r, T0 + 3500, &req, &tok);
    assert_int_equal(tok, 300);
    /* more than the limit alone never fits */
    assert_int_equal(fg_ratelimit_admit(&r, 1001, T0 + 4000, &c, &d), -1);
    assert_true(d.never);
    /* a settle after the slot left the window changes nothing */
    fg_ratelimit_settle(&a, 5000, T0 + 120000);
    fg_ratelimit_usage(&r, T0 + 120000, &req, &tok);
    assert_int_equal(tok, 0);
}

static void worst_case_formula(void **state)
{
    /* gpt-4o-mini: input 0.15, output 0.60 (micro-USD per 1M = pico per token) */
    struct fg_price p = {.input = 150000,
                         .output = 600000,
                         .cache_read = 75000,
                         .cache_write_5m = -1,
                         .cache_write_1h = -1};
    assert_int_equal(fg_admit_worst_cost(&p, 100, 50), 100 * 150000 + 50 * 600000);
    /* Anthropic: a 1h cache write (2x input) is the dearest input class */
    struct fg_price a = {.input = 1000000,
                         .output = 5000000,
                         .cache_read = 100000,
                         .cache_write_5m = 1250000,
                         .cache_write_1h = 2000000};
    assert_int_equal(fg_admit_worst_cost(&a, 10, 1), 10 * 2000000 + 5000000);
    /* absurd counts saturate instead of wrapping into a small or negative cost */
    int64_t huge = fg_admit_worst_cost(&a, INT64_MAX / 2, INT64_MAX / 2);
    assert_true(huge > 0);
    assert_true(huge >= fg_admit_worst_cost(&a, 1000000, 1000000));
    /* batch price: the listed batch input/output, cache writes at half
     * rounded up; never below what a provider batch charges */
    a.batch_input = 500000;
    a.batch_output = 2500000;
    a.cache_write_5m = 1250001; /* odd: halving must not round the worst case down */
    struct fg_price b;
    fg_admit_batch_price(&a, &b);
    assert_int_equal(b.input, 500000);
    assert_int_equal(b.output, 2500000);
    assert_int_equal(b.cache_write_5m, 625001);
    assert_int_equal(b.cache_write_1h, 1000000);
    assert_int_equal(fg_admit_worst_cost(&b, 10, 1), 10 * 1000000 + 2500000);
    const struct fg_tokens splits[] = {{.input = 10, .output = 1},
                                       {.cache_write_5m = 7, .input = 3, .output = 1},
                                       {.cache_write_1h = 9, .cache_read = 1, .output = 1},
                                       {.cache_write_5m = 1}};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++)
        assert_true(fg_price_cost(&a, &splits[i], true) <= fg_admit_worst_cost(&b, 10, 1));
    assert_int_equal(fg_admit_prompt_margin(0), 64);
    assert_int_equal(fg_admit_prompt_margin(400), 564);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reserve_and_settle),
        cmocka_unit_test(all_or_none),
        cmocka_unit_test(hold_kept_elsewhere),
        cmocka_unit_test(periods_roll),
        cmocka_unit_test(soft_never_refuses),
        cmocka_unit_test(alert_thresholds_per_period),
        cmocka_unit_test(hundred_threads_never_overshoot),
        cmocka_unit_test(rpm_with_retry_after),
        cmocka_unit_test(tpm_reserves_then_settles),
        cmocka_unit_test(worst_case_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
