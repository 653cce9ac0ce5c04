/* test_rollup_pg.c — the Postgres backend's rollups (store_pg_rollup.c)
 * against a real server (test/pg-run.sh sets FRUGAL_TEST_PG_DSN; each test
 * works in a database of its own): the checks of test_rollup.c (counted
 * once per id, also by a second replica; late rows; latency buckets;
 * groups; totals equal the spend map; hour and day grains), plus a group
 * replayed as the spool does, two writers racing over the same ids, a
 * ledger from before the rollups folded in once by the migration, and the
 * `recent` op. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "report.h"
#include "store_pg.h"
#include "timeseries.h"

struct fix {
    char db[32], dsn[512];
    struct fg_store *s;
};

#include "rollup_cases.h"

static PGconn *admin(void)
{
    PGconn *c = PQconnectdb(getenv("FRUGAL_TEST_PG_DSN"));
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

static void sql_on(const char *dsn, const char *s)
{
    PGconn *c = dsn ? PQconnectdb(dsn) : admin();
    PGresult *r = PQexec(c, s);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", s, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static int setup(void **state)
{
    static int seq;
    struct fix *f = calloc(1, sizeof *f);
    snprintf(f->db, sizeof f->db, "r%d_%d", (int)getpid(), ++seq);
    char q[128];
    snprintf(q, sizeof q, "CREATE DATABASE %s", f->db);
    sql_on(NULL, q);
    /* "postgresql://frugal@/postgres?host=DIR" with the database replaced */
    const char *b = getenv("FRUGAL_TEST_PG_DSN"), *qm = strchr(b, '?'), *sl = strstr(b, "@/");
    if (!qm || !sl)
        return -1;
    snprintf(f->dsn, sizeof f->dsn, "%.*s/%s%s", (int)(sl + 1 - b), b, f->db, qm);
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
    if (f->s)
        fg_store_close(f->s);
    char q[128];
    snprintf(q, sizeof q, "DROP DATABASE %s WITH (FORCE)", f->db);
    sql_on(NULL, q);
    free(f);
    return 0;
}

/* The spool's replay: a group whose COMMIT answer was lost is written
 * again whole, with newer rows after it; only the new rows add. */
static void spool_replay_counts_once(void **state)
{
    struct fix *f = *state;
    struct fg_record *a[] = {rec("p1", T0 + 1, "k1", "m1", "cheap", 1000000, 20),
                             rec("p2", T0 + 2, "k1", "m1", "cheap", 2000000, 20)};
    write_free(f->s, a, 2);
    struct fg_record *b[] = {rec("p1", T0 + 1, "k1", "m1", "cheap", 1000000, 20),
                             rec("p2", T0 + 2, "k1", "m1", "cheap", 2000000, 20),
                             rec("p3", T0 + 3, "k1", "m1", "cheap", 4000000, 20)};
    write_free(f->s, b, 3);
    json_t *ts = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_NONE, NULL);
    json_t *tot = json_object_get(ts, "totals");
    assert_int_equal(geti(tot, "requests"), 3);
    assert_true(getr(tot, "cost_usd", NULL) == 0.000007);
    json_decref(ts);
}

#define RACE_ROWS 400
#define RACE_GROUP 25

struct racer {
    const char *dsn;
    int reverse;
    int rc;
};

/* One replica writing the same RACE_ROWS ids as the other, in groups (one
 * of them in the reverse order of groups). */
static void *race(void *arg)
{
    struct racer *x = arg;
    struct fg_store *s;
    char err[256];
    x->rc = fg_store_open(x->dsn, &s, err, sizeof err);
    for (int g = 0; g < RACE_ROWS / RACE_GROUP && x->rc == 0; g++) {
        int first = (x->reverse ? RACE_ROWS / RACE_GROUP - 1 - g : g) * RACE_GROUP;
        struct fg_record *v[RACE_GROUP];
        char id[16];
        for (int i = 0; i < RACE_GROUP; i++) {
            snprintf(id, sizeof id, "x%d", first + i);
            v[i] = rec(id, T0 + (first + i) * 1000LL, (first + i) % 2 ? "k1" : "k2", "m1", "cheap",
                       1000000LL * (1 + (first + i) % 5), 20);
        }
        x->rc = s->ops->write(s, v, RACE_GROUP, err, sizeof err);
        if (x->rc)
            fprintf(stderr, "race write: %s\n", err);
        for (int i = 0; i < RACE_GROUP; i++)
            fg_ledger_record_free(v[i]);
    }
    if (s)
        fg_store_close(s);
    return NULL;
}

/* Two replicas writing the same ids at the same time: every id counted
 * once, and neither write fails (no deadlock between the upserts). */
static void two_writers_race_over_the_same_ids(void **state)
{
    struct fix *f = *state;
    struct racer a = {f->dsn, 0, -1}, b = {f->dsn, 1, -1};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    json_t *ts = series(f->s, T0, T0 + 10 * MIN, MIN, FG_ROLLUP_KEY, NULL);
    json_t *tot = json_object_get(ts, "totals");
    assert_int_equal(geti(tot, "requests"), RACE_ROWS);
    int64_t cost = 0;
    for (int i = 0; i < RACE_ROWS; i++)
        cost += 1 + i % 5; /* micro-dollars */
    assert_true(getr(tot, "cost_usd", NULL) == (double)cost / 1e6);
    json_decref(ts);
}

/* A ledger from before the rollups (schema version 1 with rows): opening
 * it runs migration 3, which folds the rows in once, whatever the number
 * of replicas opening; later writes add to it. */
static void old_ledger_folded_once(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("o1", T0, "master", "m1", "cheap", 10, 1),
                             rec("o2", T0 + 1, "master", "m1", "cheap", 10, 3000)};
    write_free(f->s, v, 2);
    json_t *before = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_MODEL, NULL);
    fg_store_close(f->s);
    f->s = NULL;
    sql_on(f->dsn, "DROP TABLE rollup_minute; DROP TABLE rollup_hour; DROP TABLE rollup_day;"
                   "DELETE FROM frugal_migrations WHERE component = 'ledger' AND version >= 3");
    char err[256];
    struct fg_store *again;
    assert_int_equal(fg_store_open(f->dsn, &f->s, err, sizeof err), 0);
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

/* A ledger from before migration 4 (rollups without escalation reasons)
 * gains them at open: the escalated rows already stored are folded in, and
 * a row written after counts on top. */
static void escalations_folded_by_migration_4(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("e1", T0, "master", "m1", "escalated", 10, 1),
                             rec("e2", T0 + 1, "master", "m1", "escalated", 10, 1),
                             rec("e3", T0 + 2, "master", "m1", "escalated", 10, 1),
                             rec("c1", T0 + 3, "master", "m1", "cheap", 10, 1)};
    v[0]->route_reason =
        fg_ledger_record_str(v[0], "cheap answer empty: escalated to the frontier model");
    v[1]->route_reason =
        fg_ledger_record_str(v[1], "cheap answer refusal: escalated to the frontier model");
    v[2]->route_reason = fg_ledger_record_str(v[2], "client retry of the same conversation");
    write_free(f->s, v, 4);
    json_t *before = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_ROUTE, NULL);
    json_t *esc = json_object_get(json_object_get(before, "totals"), "escalations");
    assert_int_equal(geti(esc, "count"), 3);
    json_t *by = json_object_get(esc, "by_reason");
    assert_int_equal(geti(by, "empty"), 1);
    assert_int_equal(geti(by, "refusal"), 1);
    assert_int_equal(geti(by, "retry"), 1);
    assert_int_equal(geti(by, "truncated"), 0);
    assert_int_equal(geti(by, "other"), 0);
    fg_store_close(f->s);
    f->s = NULL;
    static const char *const tables[] = {"rollup_minute", "rollup_hour", "rollup_day"};
    for (size_t i = 0; i < 3; i++) {
        char q[400];
        snprintf(q, sizeof q,
                 "ALTER TABLE %s DROP COLUMN escalations, DROP COLUMN esc_empty, DROP COLUMN "
                 "esc_refusal, DROP COLUMN esc_truncated, DROP COLUMN esc_invalid_schema, DROP "
                 "COLUMN esc_retry, DROP COLUMN refused_rate_limit, DROP COLUMN refused_budget",
                 tables[i]);
        sql_on(f->dsn, q);
    }
    sql_on(f->dsn, "DELETE FROM frugal_migrations WHERE component = 'ledger' AND version >= 4");
    char err[256];
    assert_int_equal(fg_store_open(f->dsn, &f->s, err, sizeof err), 0);
    json_t *after = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_ROUTE, NULL);
    assert_true(json_equal(before, after)); /* the migration's fold = the writer's sums */
    json_decref(before);
    json_decref(after);
    struct fg_record *w[] = {rec("e4", T0 + 4, "master", "m1", "escalated", 10, 1)};
    w[0]->route_reason =
        fg_ledger_record_str(w[0], "cheap answer truncated: escalated to the frontier model");
    write_free(f->s, w, 1);
    json_t *ts = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_NONE, NULL);
    esc = json_object_get(json_object_get(ts, "totals"), "escalations");
    assert_int_equal(geti(esc, "count"), 4);
    assert_int_equal(geti(json_object_get(esc, "by_reason"), "truncated"), 1);
    json_decref(ts);
}

/* Refusals (store.h): frugal's own 429s by kind, not a provider's; a
 * ledger from before migration 6 gains them at open, stored rows folded. */
static void refusals_folded_by_migration_6(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("r1", T0, "k1", "m1", "fixed", 10, 1),
                             rec("r2", T0 + 1, "k1", "m1", "fixed", 10, 1),
                             rec("r3", T0 + 2, "k2", "m1", "fixed", 10, 1),
                             rec("r4", T0 + 3, "k2", "m1", "fixed", 10, 1)};
    const char *errs[] = {"Rate limit reached for key 'a' (k1): 3 requests per minute.",
                          "Rate limit: this call may use up to 9 tokens",
                          "Budget exceeded: the daily budget of key 'b' is $1",
                          "Rate limit reached for gpt-4o in organization org-1"}; /* a provider's */
    for (size_t i = 0; i < 4; i++) {
        v[i]->status = 429;
        v[i]->error = fg_ledger_record_str(v[i], errs[i]);
    }
    write_free(f->s, v, 4);
    json_t *before = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_KEY, NULL);
    json_t *rf = json_object_get(json_object_get(before, "totals"), "refusals");
    assert_int_equal(geti(rf, "rate_limit"), 2);
    assert_int_equal(geti(rf, "budget"), 1);
    fg_store_close(f->s);
    f->s = NULL;
    static const char *const tables[] = {"rollup_minute", "rollup_hour", "rollup_day"};
    for (size_t i = 0; i < 3; i++) {
        char q[200];
        snprintf(q, sizeof q,
                 "ALTER TABLE %s DROP COLUMN refused_rate_limit, DROP COLUMN refused_budget",
                 tables[i]);
        sql_on(f->dsn, q);
    }
    sql_on(f->dsn, "DELETE FROM frugal_migrations WHERE component = 'ledger' AND version >= 6");
    char err[256];
    assert_int_equal(fg_store_open(f->dsn, &f->s, err, sizeof err), 0);
    json_t *after = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_KEY, NULL);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
}

struct seen {
    int n;
    char ids[8][16];
};

static int on_recent(void *arg, const struct fg_record *r)
{
    struct seen *s = arg;
    if (s->n < 8)
        snprintf(s->ids[s->n], sizeof s->ids[0], "%s", r->id);
    s->n++;
    return 0;
}

/* `recent`: newest first (ts, then id), limited, one key or all. */
static void recent_newest_first(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {
        rec("a", T0 + 5, "k1", "m1", "cheap", 1, 1), rec("b", T0 + 9, "k2", "m1", "cheap", 1, 1),
        rec("c", T0 + 9, "k1", "m1", "cheap", 1, 1), rec("d", T0 + 1, "k1", "m1", "cheap", 1, 1)};
    write_free(f->s, v, 4);
    char err[256];
    struct seen s = {0};
    assert_int_equal(f->s->ops->recent(f->s, NULL, 3, on_recent, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[0], "c");
    assert_string_equal(s.ids[1], "b");
    assert_string_equal(s.ids[2], "a");
    memset(&s, 0, sizeof s);
    assert_int_equal(f->s->ops->recent(f->s, "k1", 10, on_recent, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[0], "c");
    assert_string_equal(s.ids[2], "d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ROLLUP_CASES(setup, teardown),
        cmocka_unit_test_setup_teardown(spool_replay_counts_once, setup, teardown),
        cmocka_unit_test_setup_teardown(two_writers_race_over_the_same_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(old_ledger_folded_once, setup, teardown),
        cmocka_unit_test_setup_teardown(escalations_folded_by_migration_4, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_folded_by_migration_6, setup, teardown),
        cmocka_unit_test_setup_teardown(recent_newest_first, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
