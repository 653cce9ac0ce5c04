/* The label/version store (learn_store.h) on Postgres: a throwaway
 * database per run on the server FRUGAL_TEST_PG_DSN names (`make unit`
 * runs *_pg suites through test/pg-run.sh); the same checks as on SQLite,
 * and the "routing" migrations applied once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "learn_store.h"
#include "router.h"

#include "learn_store_checks.h"

static const char *base_dsn(void)
{
    return getenv("FRUGAL_TEST_PG_DSN");
}

static void exec_ok(PGconn *c, const char *s)
{
    PGresult *r = PQexec(c, s);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", s, PQresultErrorMessage(r));
    PQclear(r);
}

static void on_postgres(void **state)
{
    const char *b = base_dsn(), *q = strchr(b, '?'), *slash = strstr(b, "@/");
    assert_non_null(q);
    assert_non_null(slash);
    char db[32], dsn[512], sql[96];
    snprintf(db, sizeof db, "learn_%ld", (long)getpid());
    snprintf(dsn, sizeof dsn, "%.*s/%s%s", (int)(slash + 1 - b), b, db, q);
    PGconn *c = PQconnectdb(b);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    exec_ok(c, sql);
    store_checks(dsn);
    store_checks_again(dsn);
    snprintf(sql, sizeof sql, "DROP DATABASE %s", db);
    exec_ok(c, sql);
    PQfinish(c);
}

int main(void)
{
    if (!base_dsn()) {
        fprintf(stderr, "FRUGAL_TEST_PG_DSN not set (run through test/pg-run.sh)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(on_postgres),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fg_router_thread_cleanup();
    fg_json_thread_cleanup();
    return rc;
}
