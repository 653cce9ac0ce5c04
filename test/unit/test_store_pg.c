/* test_store_pg.c — the Postgres backend of the ledger's store (store_pg.c)
 * against a real server: test/pg-run.sh starts one and sets
 * FRUGAL_TEST_PG_DSN (`make unit` runs the *_pg suites through it).  Each
 * test works in a database of its own.
 *
 * Covered: every column round-trips (NULL texts stay NULL); a group written
 * twice is kept once (the spool's replay); records of other months get
 * their partitions and a scan's window picks its months; migrations are
 * applied once, counted by --check, and a newer schema is refused; the
 * ledger's writer thread through fg_ledger_start; spend sums; the owner of
 * stored Responses; error texts and labels never show the password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "ledger.h"
#include "pgdb.h"
#include "store.h"
#include "store_pg.h"
#include "store_response_cases.h"

static const char *base_dsn(void)
{
    return getenv("FRUGAL_TEST_PG_DSN");
}

/* "postgresql://frugal@/postgres?host=DIR" with the database replaced */
static void dsn_for(const char *db, char *out, size_t n)
{
    const char *b = base_dsn(), *q = strchr(b, '?');
    const char *slash = strstr(b, "@/");
    assert_non_null(q);
    assert_non_null(slash);
    snprintf(out, n, "%.*s/%s%s", (int)(slash + 1 - b), b, db, q);
}

static PGconn *admin(void)
{
    PGconn *c = PQconnectdb(base_dsn());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

static void sql(PGconn *c, const char *s)
{
    PGresult *r = PQexec(c, s);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", s, PQresultErrorMessage(r));
    PQclear(r);
}

static long long one_number(const char *dsn, const char *q)
{
    PGconn *c = PQconnectdb(dsn);
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

struct fix {
    char db[32];
    char dsn[512];
};

static int db_setup(void **state)
{
    static int seq;
    struct fix *f = calloc(1, sizeof *f);
    snprintf(f->db, sizeof f->db, "t%d_%d", (int)getpid(), ++seq);
    PGconn *c = admin();
    char q[128];
    snprintf(q, sizeof q, "CREATE DATABASE %s", f->db);
    sql(c, q);
    PQfinish(c);
    dsn_for(f->db, f->dsn, sizeof f->dsn);
    *state = f;
    return 0;
}

static int db_teardown(void **state)
{
    struct fix *f = *state;
    PGconn *c = admin();
    char q[128];
    snprintf(q, sizeof q, "DROP DATABASE %s WITH (FORCE)", f->db);
    sql(c, q);
    PQfinish(c);
    free(f);
    return 0;
}

/* 2026-12-07T00:00:00Z and two earlier months */
#define DEC_2026 1796601600000LL
#define JAN_2025 1736121600000LL /* 2025-01-06 */
#define MAR_2025 1741219200000LL /* 2025-03-06 */

static struct fg_record *rec(int i, int64_t ts_ms, int64_t cost)
{
    struct fg_record *r = fg_ledger_record_new(512);
    snprintf(r->id, sizeof r->id, "frg_test_%04d", i);
    r->ts_ms = ts_ms;
    r->key_id = fg_ledger_record_str(r, i % 2 ? "key_a" : "key_b");
    r->tags = fg_ledger_record_str(r, "team=x");
    r->endpoint = fg_ledger_record_str(r, "chat");
    r->model_requested = fg_ledger_record_str(r, "auto");
    r->model = fg_ledger_record_str(r, "gpt-4o-mini");
    r->upstream_model = fg_ledger_record_str(r, "gpt-4o-mini-2024-07-18");
    r->provider = fg_ledger_record_str(r, "openai");
    r->route = fg_ledger_record_str(r, "cheap");
    r->route_reason = NULL; /* NULL stays NULL */
    r->cache = fg_ledger_record_str(r, "miss");
    r->stream = true;
    r->status = 200;
    r->tok = (struct fg_tokens){
        .input = 1000 + i, .cache_read = 2, .cache_write_5m = 3, .cache_write_1h = 4, .output = 5};
    r->reasoning_tokens = 6;
    r->priced = true;
    r->cost_pico = cost;
    r->baseline_pico = cost * 2;
    r->saved_prompt_cache_pico = 7;
    r->saved_routing_pico = cost - 7;
    r->bucket_frontier_pico = 9;
    r->latency_us = 12345;
    r->ttfb_us = 678;
    snprintf(r->prefix_fp, sizeof r->prefix_fp, "0123456789abcdef");
    r->prefix_tokens = 10;
    r->repeated_tokens = 11;
    r->error = i == 2 ? fg_ledger_record_str(r, "upstream said 'no'; \"quoted\"") : NULL;
    r->buster_where = fg_ledger_record_str(r, "system");
    r->buster_offset = 42;
    r->buster_sample = fg_ledger_record_str(r, "2026-12-07 10:11:12");
    r->buster_tokens = 99;
    r->buster_pico = 123456789012345LL; /* wider than 32 bits */
    r->batch_id = NULL;
    r->request_bytes = 1;
    r->response_bytes = 2;
    return r;
}

struct got {
    int n;
    int64_t cost;
    int64_t last_ts;
    int ordered;
    struct fg_record first;
    char first_tags[32], first_err[64];
};

static int on_row(void *arg, const struct fg_record *r)
{
    struct got *g = arg;
    if (g->n == 0) {
        g->first = *r;
        snprintf(g->first_tags, sizeof g->first_tags, "%s", r->tags ? r->tags : "(null)");
        g->first.tags = NULL;
        g->first.route_reason = r->route_reason ? "not null" : NULL;
    }
    if (r->error)
        snprintf(g->first_err, sizeof g->first_err, "%s", r->error);
    g->ordered += r->ts_ms >= g->last_ts;
    g->last_ts = r->ts_ms;
    g->cost += r->cost_pico;
    g->n++;
    return 0;
}

static void scan(struct fg_store *s, int64_t since, int64_t until, struct got *g)
{
    char err[300];
    memset(g, 0, sizeof *g);
    if (s->ops->scan(s, since, until, on_row, g, err, sizeof err) < 0)
        fail_msg("scan: %s", err);
}

static struct fg_store *open_store(const char *dsn)
{
    struct fg_store *s = NULL;
    char err[300];
    if (fg_store_open(dsn, &s, err, sizeof err) < 0)
        fail_msg("open: %s", err);
    assert_ptr_equal(s->ops, &fg_store_pg);
    return s;
}

static void write_n(struct fg_store *s, struct fg_record **v, size_t n)
{
    char err[300];
    int rc = s->ops->write(s, v, n, err, sizeof err);
    if (rc != 0)
        fail_msg("write: %d %s", rc, err);
}

static void every_column_round_trips(void **state)
{
    struct fix *f = *state;
    struct fg_store *s = open_store(f->dsn);
    struct fg_record *v[3];
    for (int i = 0; i < 3; i++)
        v[i] = rec(i, DEC_2026 + i, 1000000);
    write_n(s, v, 3);
    struct got g;
    scan(s, DEC_2026, DEC_2026 + 10, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.ordered, 3);
    const struct fg_record *r = &g.first;
    assert_string_equal(r->id, "frg_test_0000");
    assert_int_equal(r->ts_ms, DEC_2026);
    assert_string_equal(g.first_tags, "team=x");
    assert_null(r->route_reason);
    assert_true(r->stream);
    assert_false(r->batch);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->tok.input, 1000);
    assert_int_equal(r->tok.cache_write_1h, 4);
    assert_int_equal(r->reasoning_tokens, 6);
    assert_true(r->priced);
    assert_int_equal(r->baseline_pico, 2000000);
    assert_int_equal(r->saved_routing_pico, 1000000 - 7);
    assert_int_equal(r->bucket_frontier_pico, 9);
    assert_int_equal(r->ttfb_us, 678);
    assert_string_equal(r->prefix_fp, "0123456789abcdef");
    assert_int_equal(r->repeated_tokens, 11);
    assert_int_equal(r->buster_offset, 42);
    assert_int_equal(r->buster_pico, 123456789012345LL);
    assert_int_equal(r->response_bytes, 2);
    assert_string_equal(g.first_err, "upstream said 'no'; \"quoted\"");
    assert_int_equal(g.cost, 3000000);
    for (int i = 0; i < 3; i++)
        fg_ledger_record_free(v[i]);
    fg_store_close(s);
}

/* The spool's replay: the same records again (a COMMIT whose answer was
 * lost) are kept once. */
static void a_group_written_twice_is_kept_once(void **state)
{
    struct fix *f = *state;
    struct fg_store *s = open_store(f->dsn);
    struct fg_record *v[600]; /* over one INSERT's 500 rows */
    for (int i = 0; i < 600; i++)
        v[i] = rec(i, DEC_2026 + i, 5);
    write_n(s, v, 600);
    write_n(s, v + 100, 500);
    struct got g;
    scan(s, 0, INT64_MAX, &g);
    assert_int_equal(g.n, 600);
    assert_int_equal(g.cost, 3000);
    for (int i = 0; i < 600; i++)
        fg_ledger_record_free(v[i]);
    fg_store_close(s);
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM calls"), 600);
}

static void months_get_partitions(void **state)
{
    struct fix *f = *state;
    struct fg_store *s = open_store(f->dsn);
    struct fg_record *v[3] = {rec(0, MAR_2025, 1), rec(1, JAN_2025, 10), rec(2, DEC_2026, 100)};
    write_n(s, v, 3);
    struct got g;
    scan(s, JAN_2025, MAR_2025, &g); /* until is exclusive */
    assert_int_equal(g.n, 1);
    assert_int_equal(g.cost, 10);
    scan(s, 0, INT64_MAX, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.ordered, 3);
    for (int i = 0; i < 3; i++)
        fg_ledger_record_free(v[i]);
    fg_store_close(s);
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM calls_p202501"), 1);
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM calls_p202503"), 1);
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM calls_p202612"), 1);
    /* only the months needed (and this month and the next, made at open) */
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM pg_tables WHERE tablename = "
                                        "'calls_p202502'"),
                     0);
}

static void migrations_apply_once(void **state)
{
    struct fix *f = *state;
    char err[300];
    int pending = -1;
    assert_int_equal(fg_store_pg_migrate(f->dsn, false, &pending, err, sizeof err), 0);
    assert_int_equal(pending, 7);
    /* --check changed nothing */
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM pg_tables WHERE tablename = "
                                        "'frugal_migrations'"),
                     0);
    struct fg_store *a = open_store(f->dsn), *b = open_store(f->dsn);
    fg_store_close(a);
    fg_store_close(b);
    assert_int_equal(fg_store_pg_migrate(f->dsn, false, &pending, err, sizeof err), 0);
    assert_int_equal(pending, 0);
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM frugal_migrations"), 7);

    /* a newer frugal migrated this database: this one must not write to it */
    PGconn *c = PQconnectdb(f->dsn);
    sql(c, "INSERT INTO frugal_migrations VALUES ('ledger', 99, 'from the future', 0)");
    PQfinish(c);
    struct fg_store *s = NULL;
    assert_int_equal(fg_store_open(f->dsn, &s, err, sizeof err), -1);
    assert_null(s);
    assert_non_null(strstr(err, "version 99, newer than this frugal's 7"));
}

struct producer_arg {
    int first, n;
};

static void through_the_ledger_writer(void **state)
{
    struct fix *f = *state;
    char err[300];
    struct fg_ledger_stats before, after;
    fg_ledger_get_stats(&before);
    if (fg_ledger_start(f->dsn, 10, err, sizeof err) < 0)
        fail_msg("ledger start: %s", err);
    for (int i = 0; i < 2500; i++)
        fg_ledger_submit(rec(i, DEC_2026 + i, 3));
    fg_ledger_stop();
    fg_ledger_get_stats(&after);
    assert_int_equal(after.written - before.written, 2500);
    assert_int_equal(after.write_errors - before.write_errors, 0);
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM calls"), 2500);
    assert_int_equal(one_number(f->dsn, "SELECT sum(cost_pico) FROM calls"), 7500);
}

struct spend {
    int64_t a, b;
    int groups;
};

static int on_spend(void *arg, const char *key_id, const char *tags, int64_t cost)
{
    struct spend *x = arg;
    x->groups++;
    if (!strcmp(key_id, "key_a"))
        x->a += cost;
    else if (!strcmp(key_id, "key_b"))
        x->b += cost;
    assert_string_equal(tags, "team=x");
    return 0;
}

static void spend_sums_per_key(void **state)
{
    struct fix *f = *state;
    struct fg_store *s = open_store(f->dsn);
    struct fg_record *v[4];
    for (int i = 0; i < 4; i++)
        v[i] = rec(i, DEC_2026 + i * 1000, (i + 1) * 1000000000000LL); /* $1, $2, $3, $4 */
    write_n(s, v, 4);
    struct spend x = {0};
    char err[300];
    assert_int_equal(s->ops->spend_since(s, DEC_2026 + 1000, on_spend, &x, err, sizeof err), 0);
    assert_int_equal(x.groups, 2);
    assert_int_equal(x.a, 2000000000000LL + 4000000000000LL); /* records 1 and 3 */
    assert_int_equal(x.b, 3000000000000LL);                   /* record 2 (0 is before) */
    for (int i = 0; i < 4; i++)
        fg_ledger_record_free(v[i]);
    fg_store_close(s);
}

static void response_owner_is_kept(void **state)
{
    struct fix *f = *state;
    struct fg_store *s = open_store(f->dsn);
    struct fg_record *r = rec(0, DEC_2026, 1);
    r->response_id = fg_ledger_record_str(r, "resp_abc");
    write_n(s, &r, 1);
    char key[48], prov[48], err[300];
    assert_int_equal(
        s->ops->response_owner(s, "resp_abc", key, sizeof key, prov, sizeof prov, err, sizeof err),
        1);
    assert_string_equal(key, "key_b");
    assert_string_equal(prov, "openai");
    assert_int_equal(
        s->ops->response_owner(s, "resp_nope", key, sizeof key, prov, sizeof prov, err, sizeof err),
        0);
    fg_ledger_record_free(r);
    fg_store_close(s);
}

/* Prune deletes in bounded batches until none is left: more expired rows
 * than one batch all go, and the count is the total. */
static void prune_takes_batches(void **state)
{
    struct fix *f = *state;
    char err[300];
    struct fg_store *st = open_store(f->dsn);
    enum { N = 2500 };
    struct fg_record **v = calloc(N, sizeof *v);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "resp_%04d", i);
        v[i] = response_record(id, NULL, "{}", i < N - 1 ? 100 : 0, DEC_2026);
    }
    write_n(st, v, N);
    assert_int_equal(st->ops->response_prune(st, 1000, err, sizeof err), N - 1);
    assert_int_equal(one_number(f->dsn, "SELECT count(*) FROM responses"), 1);
    for (int i = 0; i < N; i++)
        fg_ledger_record_free(v[i]);
    free(v);
    fg_store_close(st);
}

static void password_never_shown(void **state)
{
    char err[600], label[256];
    const char *dsn = "postgresql://frugal:Sup3rSecretPassw0rd@/nodb?host=/nonexistent-dir";
    struct fg_store *s = NULL;
    assert_int_equal(fg_store_open(dsn, &s, err, sizeof err), -1);
    assert_null(strstr(err, "Sup3rSecretPassw0rd"));
    assert_non_null(strstr(err, "postgres: connecting"));
    assert_string_equal(fg_store_label(dsn, label, sizeof label), "postgresql:///nodb");
    assert_string_equal(fg_store_label("postgres://u:pw@db.example.com:5432/frugal?sslmode=require",
                                       label, sizeof label),
                        "postgres://db.example.com:5432/frugal");
}

static void response_ops_as_sqlite(void **state)
{
    struct fix *f = *state;
    struct fg_store *st = open_store(f->dsn);
    check_response_ops(st, DEC_2026);
    fg_store_close(st);
}

int main(void)
{
    if (!base_dsn()) {
        fprintf(stderr, "test_store_pg: FRUGAL_TEST_PG_DSN is not set: run it through "
                        "test/pg-run.sh run (make unit does)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_column_round_trips, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(a_group_written_twice_is_kept_once, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(months_get_partitions, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(migrations_apply_once, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(through_the_ledger_writer, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(spend_sums_per_key, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(response_owner_is_kept, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(response_ops_as_sqlite, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(prune_takes_batches, db_setup, db_teardown),
        cmocka_unit_test(password_never_shown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
