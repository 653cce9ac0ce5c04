/* test_rollup.c — the per-minute rollups behind the dashboard (store.h,
 * store_sqlite_rollup.c) and the time series built from them
 * (timeseries.c): counted once per ledger id (a row written twice, by the
 * same writer or by a second replica on the same database, adds once), late
 * rows land in their own minute, databases from before rollups are folded
 * in at open, latency histogram buckets and percentiles from them, and the
 * totals equal the spend map's over the same window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "timeseries.h"

struct fix {
    char path[64], dsn[80];
    struct fg_store *s;
};

#include "rollup_cases.h"

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/frugal_test_rollup_XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    close(fd);
    snprintf(f->dsn, sizeof f->dsn, "sqlite:%s", f->path);
    char err[256];
    if (fg_store_open(f->dsn, &f->s, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    char p[80];
    if (f->s)
        fg_store_close(f->s);
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

/* A database from before rollups: reopened, its rows are folded in once
 * (and a second open does not fold them again). */
static void old_database_folded_once(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("o1", T0, "master", "m1", "cheap", 10, 1),
                             rec("o2", T0 + 1, "master", "m1", "cheap", 10, 3000)};
    write_free(f->s, v, 2);
    /* what the writes counted, to compare with what a fold rebuilds */
    json_t *before = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_MODEL, NULL);
    fg_store_close(f->s);
    f->s = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE rollup_minute; DROP TABLE rollup_hour; "
                                  "DROP TABLE rollup_day",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_int_equal(fg_store_open(f->dsn, &f->s, err, sizeof err), 0);
    struct fg_store *again;
    assert_int_equal(fg_store_open(f->dsn, &again, err, sizeof err), 0);
    fg_store_close(again);
    json_t *after = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_MODEL, NULL);
    assert_true(json_equal(before, after)); /* the SQL fold = the writer's sums */
    json_decref(before);
    json_decref(after);
    struct fg_record *w[] = {rec("o3", T0 + 2, "master", "m1", "cheap", 10, 1)};
    write_free(f->s, w, 1);
    json_t *ts = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_NONE, NULL);
    assert_int_equal(geti(json_object_get(ts, "totals"), "requests"), 3);
    json_decref(ts);
}

/* Rollup tables made before the flex measure (no saved_flex_pico column)
 * gain it at the next open, with 0 for the rows already there; flex calls
 * written after count in the time series' saved_by.flex. */
static void older_tables_gain_the_flex_measure(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("f1", T0, "master", "m1", "fixed", 10, 1)};
    write_free(f->s, v, 1);
    fg_store_close(f->s);
    f->s = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE rollup_minute DROP COLUMN saved_flex_pico;"
                                  "ALTER TABLE rollup_hour DROP COLUMN saved_flex_pico;"
                                  "ALTER TABLE rollup_day DROP COLUMN saved_flex_pico;"
                                  "DELETE FROM rollup_migrations WHERE version = 4",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_int_equal(fg_store_open(f->dsn, &f->s, err, sizeof err), 0);
    struct fg_record *w = rec("f2", T0 + 1, "master", "m1", "fixed", 10, 1);
    w->cost_pico = 10000000; /* 10 micro-USD at flex rates */
    w->baseline_pico = 20000000;
    w->saved_routing_pico = 0;
    w->saved_flex_pico = 10000000; /* the standard tier's 20 less flex's 10 */
    write_free(f->s, &w, 1);
    json_t *ts = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_NONE, NULL);
    json_t *tot = json_object_get(ts, "totals");
    assert_int_equal(geti(tot, "requests"), 2);
    double flex = getr(tot, "saved_by", "flex");
    json_decref(ts);
    assert_true(flex == 10 / 1e6);
}

/* Escalations by reason and refusals by kind (store.h): the writer counts
 * them, and rebuilding the rollups from the calls (migrations 1 to 3)
 * gives the same sums; a provider's 429 is no refusal. */
static void reasons_and_refusals_fold_equals_writer(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("e1", T0, "ka", "m1", "escalated", 10, 1),
                             rec("e2", T0 + 1, "ka", "m1", "escalated", 10, 1),
                             rec("e3", T0 + 2, "kb", "m1", "escalated", 10, 1),
                             rec("r1", T0 + 3, "ka", "m1", "fixed", 0, 1),
                             rec("r2", T0 + 4, "kb", "m1", "fixed", 0, 1),
                             rec("r3", T0 + 5, "kb", "m1", "fixed", 0, 1)};
    v[0]->route_reason =
        fg_ledger_record_str(v[0], "cheap answer empty: escalated to the frontier model");
    v[1]->route_reason =
        fg_ledger_record_str(v[1], "cheap answer invalid_schema: escalated to the frontier model");
    v[2]->route_reason = fg_ledger_record_str(v[2], "something else");
    const char *errs[] = {
        "Rate limit reached for key 'a' (ka): 3 requests per minute. Retry after 5 s.",
        "Budget exceeded: the daily budget of key 'b' (kb) is $1",
        "Rate limit reached for gpt-4o in organization org-1"};
    for (size_t i = 0; i < 3; i++) {
        v[3 + i]->status = 429;
        v[3 + i]->error = fg_ledger_record_str(v[3 + i], errs[i]);
    }
    write_free(f->s, v, 6);
    json_t *before = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_KEY, NULL);
    json_t *t = json_object_get(before, "totals");
    json_t *esc = json_object_get(t, "escalations"), *by = json_object_get(esc, "by_reason");
    assert_int_equal(geti(esc, "count"), 3);
    assert_int_equal(geti(by, "empty"), 1);
    assert_int_equal(geti(by, "invalid_schema"), 1);
    assert_int_equal(geti(by, "other"), 1);
    json_t *rf = json_object_get(t, "refusals");
    assert_int_equal(geti(rf, "rate_limit"), 1);
    assert_int_equal(geti(rf, "budget"), 1);
    fg_store_close(f->s);
    f->s = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE rollup_minute; DROP TABLE rollup_hour; "
                                  "DROP TABLE rollup_day; DROP TABLE rollup_migrations",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_int_equal(fg_store_open(f->dsn, &f->s, err, sizeof err), 0);
    json_t *after = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_KEY, NULL);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROLLUP_CASES(setup, teardown),
        cmocka_unit_test_setup_teardown(old_database_folded_once, setup, teardown),
        cmocka_unit_test_setup_teardown(older_tables_gain_the_flex_measure, setup, teardown),
        cmocka_unit_test_setup_teardown(reasons_and_refusals_fold_equals_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
