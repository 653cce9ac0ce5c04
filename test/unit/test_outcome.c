/* Unit tests for outcome.c: how a call ends, one row per rule and per
 * precedence between rules (outcome.h lists them in order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "outcome.h"

#include <stdio.h>
#include <string.h>

/* Rows start from a typical case and override the fields they are about
 * (a later designated initializer wins, C11 6.7.9); fields a row does not
 * name are zero. */
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define ALL_ON                                                                                     \
    (FG_OUTCOME_ON_INVALID_SCHEMA | FG_OUTCOME_ON_TRUNCATED | FG_OUTCOME_ON_REFUSAL |              \
     FG_OUTCOME_ON_EMPTY)

/* A cheap-tier call on a route that escalates on everything. */
#define CHEAP(...)                                                                                 \
    {                                                                                              \
        .frontier = "frontier", .cheap = true, .escalate_on = ALL_ON, .cut_is_shortfall = true,    \
        __VA_ARGS__                                                                                \
    }

/* A failed transfer attempt: 429, retry budget 2, 500 ms backoff. */
#define FAILED(...)                                                                                \
    {                                                                                              \
        .point = FG_OUTCOME_TRANSFER_ENDED, .transfer_ok = true, .retriable = true,                \
        .retries_allowed = 2, .delay_ms = 500, .max_wait_ms = 10000, .breaker_allows = true,       \
        .fallback = "backup", __VA_ARGS__                                                          \
    }

#define HELD(...)                                                                                  \
    {                                                                                              \
        .point = FG_OUTCOME_HELD_ENDED, .transfer_ok = true, .stream_ended = true,                 \
        .route = CHEAP(), __VA_ARGS__                                                              \
    }

#define ANSWER(...)                                                                                \
    {                                                                                              \
        .point = FG_OUTCOME_ANSWER_CHECKED, .transfer_ok = true, .so_retries = 1,                  \
        .route = CHEAP(), __VA_ARGS__                                                              \
    }

struct row {
    const char *name;
    struct fg_outcome_facts f;
    enum fg_outcome_kind kind;
    long delay_ms;
    const char *model, *trigger;
};

static const struct row rows[] = {
    /* TRANSFER_ENDED */
    {"429 with retries left: retry after the delay", FAILED(), FG_OUTCOME_RETRY_AFTER, 500},
    {"connection failure with retries left: retry", FAILED(.transfer_ok = false, .retries_used = 1),
     FG_OUTCOME_RETRY_AFTER, 500},
    {"retries exhausted: the fallback", FAILED(.retries_used = 2), FG_OUTCOME_USE_MODEL, 0,
     "backup", NULL},
    {"retry-after beyond the max wait: the fallback", FAILED(.delay_ms = 10001),
     FG_OUTCOME_USE_MODEL, 0, "backup", NULL},
    {"retry-after exactly the max wait: still a retry", FAILED(.delay_ms = 10000),
     FG_OUTCOME_RETRY_AFTER, 10000},
    {"breaker open: the fallback", FAILED(.breaker_allows = false), FG_OUTCOME_USE_MODEL, 0,
     "backup", NULL},
    {"no retries configured: the fallback", FAILED(.retries_allowed = 0), FG_OUTCOME_USE_MODEL, 0,
     "backup", NULL},
    {"exhausted, no fallback, an HTTP answer: passed through",
     FAILED(.retries_used = 2, .fallback = NULL), FG_OUTCOME_DONE},
    {"exhausted, no fallback, the transfer failed: the error",
     FAILED(.retries_used = 2, .fallback = NULL, .transfer_ok = false), FG_OUTCOME_FAIL},
    {"non-retriable 400: passed through, never a fallback",
     FAILED(.retriable = false, .breaker_allows = false), FG_OUTCOME_DONE},
    {"non-retriable transfer failure: the error", FAILED(.retriable = false, .transfer_ok = false),
     FG_OUTCOME_FAIL},
    {"a 200: done (checked next)",
     {.point = FG_OUTCOME_TRANSFER_ENDED, .transfer_ok = true},
     FG_OUTCOME_DONE},
    /* HELD_ENDED */
    {"held stream ended empty: escalate", HELD(), FG_OUTCOME_USE_MODEL, 0, "frontier", "empty"},
    {"held stream refused before content: escalate", HELD(.held_why = "refusal"),
     FG_OUTCOME_USE_MODEL, 0, "frontier", "refusal"},
    {"held stream cut by frugal's cap: escalate", HELD(.held_why = "truncated"),
     FG_OUTCOME_USE_MODEL, 0, "frontier", "truncated"},
    {"held stream cut at the client's max_tokens: released",
     HELD(.held_why = "truncated", .route = CHEAP(.cut_is_shortfall = false)),
     FG_OUTCOME_RELEASE_HELD},
    {"held stream with content: released", HELD(.held_content = true), FG_OUTCOME_RELEASE_HELD},
    {"held stream that failed: released (it ends with its error)", HELD(.transfer_ok = false),
     FG_OUTCOME_RELEASE_HELD},
    {"held stream without its terminator: released", HELD(.stream_ended = false),
     FG_OUTCOME_RELEASE_HELD},
    {"held stream with an error event: released", HELD(.stream_error_seen = true),
     FG_OUTCOME_RELEASE_HELD},
    {"held empty, route escalates only on refusal: released",
     HELD(.route = CHEAP(.escalate_on = FG_OUTCOME_ON_REFUSAL)), FG_OUTCOME_RELEASE_HELD},
    {"held empty, already escalated: released", HELD(.route = CHEAP(.escalated = true)),
     FG_OUTCOME_RELEASE_HELD},
    /* ANSWER_CHECKED */
    {"a good answer: done", ANSWER(), FG_OUTCOME_DONE},
    {"an empty answer: escalate", ANSWER(.shortfall = "empty"), FG_OUTCOME_USE_MODEL, 0, "frontier",
     "empty"},
    {"a refusal: escalate", ANSWER(.shortfall = "refusal"), FG_OUTCOME_USE_MODEL, 0, "frontier",
     "refusal"},
    {"cut by frugal's cap: escalate", ANSWER(.shortfall = "truncated"), FG_OUTCOME_USE_MODEL, 0,
     "frontier", "truncated"},
    {"cut at the client's own max_tokens: done, not escalated",
     ANSWER(.shortfall = "truncated", .route = CHEAP(.cut_is_shortfall = false)), FG_OUTCOME_DONE},
    {"a shortfall the route does not escalate on: done",
     ANSWER(.shortfall = "empty", .route = CHEAP(.escalate_on = FG_OUTCOME_ON_TRUNCATED)),
     FG_OUTCOME_DONE},
    {"already escalated: no second escalation",
     ANSWER(.shortfall = "empty", .route = CHEAP(.escalated = true)), FG_OUTCOME_DONE},
    {"forced route: never escalates",
     ANSWER(.shortfall = "refusal", .route = CHEAP(.forced = true)), FG_OUTCOME_DONE},
    {"frontier tier: never escalates", ANSWER(.shortfall = "empty", .route = CHEAP(.cheap = false)),
     FG_OUTCOME_DONE},
    {"no route: never escalates", ANSWER(.shortfall = "empty", .route = {0}), FG_OUTCOME_DONE},
    {"schema failed, retries left: retry on the same model", ANSWER(.schema_failed = true),
     FG_OUTCOME_RETRY_SAME},
    {"schema failed, retries spent, route escalates: escalate",
     ANSWER(.schema_failed = true, .so_attempts = 1), FG_OUTCOME_USE_MODEL, 0, "frontier",
     "invalid_schema"},
    {"schema failed, retries spent, no invalid_schema trigger: fail",
     ANSWER(.schema_failed = true, .so_attempts = 1,
            .route = CHEAP(.escalate_on = FG_OUTCOME_ON_EMPTY)),
     FG_OUTCOME_FAIL},
    {"schema failed, retries spent, already escalated: fail",
     ANSWER(.schema_failed = true, .so_attempts = 1, .route = CHEAP(.escalated = true)),
     FG_OUTCOME_FAIL},
    {"schema failed, no retries configured, no route: fail",
     ANSWER(.schema_failed = true, .so_retries = 0, .route = {0}), FG_OUTCOME_FAIL},
    {"shortfall escalation comes before the schema retry",
     ANSWER(.schema_failed = true, .shortfall = "empty"), FG_OUTCOME_USE_MODEL, 0, "frontier",
     "empty"},
    {"a shortfall not escalated leaves the schema retry",
     ANSWER(.schema_failed = true, .shortfall = "empty", .route = CHEAP(.forced = true)),
     FG_OUTCOME_RETRY_SAME},
};

static void table(void **state)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *r = &rows[i];
        struct fg_outcome d = fg_outcome_decide(&r->f);
        char what[160];
        snprintf(what, sizeof what, "row %zu: %s", i, r->name);
        if (d.kind != r->kind)
            fail_msg("%s: kind %d, expected %d", what, d.kind, r->kind);
        if (r->kind == FG_OUTCOME_RETRY_AFTER && d.delay_ms != r->delay_ms)
            fail_msg("%s: delay %ld, expected %ld", what, d.delay_ms, r->delay_ms);
        if (r->kind == FG_OUTCOME_USE_MODEL) {
            if (!d.model || strcmp(d.model, r->model))
                fail_msg("%s: model %s, expected %s", what, d.model ? d.model : "NULL", r->model);
            if ((d.trigger == NULL) != (r->trigger == NULL) ||
                (d.trigger && strcmp(d.trigger, r->trigger)))
                fail_msg("%s: trigger %s", what, d.trigger ? d.trigger : "NULL");
        }
    }
}

/* The lazy facts' guard: the breaker is asked only when a retry is due. */
static void retry_due(void **state)
{
    struct fg_outcome_facts f = FAILED();
    assert_true(fg_outcome_retry_due(&f));
    f.retries_used = 2;
    assert_false(fg_outcome_retry_due(&f));
    f.retries_used = 0, f.delay_ms = 20000;
    assert_false(fg_outcome_retry_due(&f));
    f.delay_ms = 0, f.retriable = false;
    assert_false(fg_outcome_retry_due(&f));
}

/* Holding a stream back is worth it exactly when an ending could escalate. */
static void may_hold(void **state)
{
    struct fg_outcome_route r = CHEAP();
    assert_true(fg_outcome_may_hold(&r));
    r.escalate_on = FG_OUTCOME_ON_INVALID_SCHEMA; /* a stream's schema is checked at its end */
    assert_false(fg_outcome_may_hold(&r));
    r.escalate_on = FG_OUTCOME_ON_TRUNCATED;
    assert_true(fg_outcome_may_hold(&r));
    r.cut_is_shortfall = false;
    assert_false(fg_outcome_may_hold(&r));
    struct fg_outcome_route forced = CHEAP(.forced = true), none = {0};
    assert_false(fg_outcome_may_hold(&forced));
    assert_false(fg_outcome_may_hold(&none));
}

static void triggers(void **state)
{
    assert_int_equal(fg_outcome_trigger("invalid_schema"), FG_OUTCOME_ON_INVALID_SCHEMA);
    assert_int_equal(fg_outcome_trigger("empty"), FG_OUTCOME_ON_EMPTY);
    assert_int_equal(fg_outcome_trigger("retry"), 0); /* routing, not an ending */
    assert_int_equal(fg_outcome_trigger(NULL), 0);
    struct fg_outcome_route r = CHEAP();
    assert_false(fg_outcome_may_escalate(&r, "retry"));
    assert_false(fg_outcome_may_escalate(&r, "bogus"));
    r.frontier = NULL;
    assert_false(fg_outcome_may_escalate(&r, "empty"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table),
        cmocka_unit_test(retry_due),
        cmocka_unit_test(may_hold),
        cmocka_unit_test(triggers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
