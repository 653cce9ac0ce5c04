/* test_batch_store_pg.c — the Postgres backend of the batch store
 * (batch_store_pg.c) against a real server: test/pg-run.sh starts one and
 * sets FRUGAL_TEST_PG_DSN (`make unit` runs the *_pg suites through it).
 * Each test works in a database of its own.
 *
 * Covered: files put, read, listed with cursors, deleted and expired; an
 * upload streamed in chunks (binary bytes, NULs included) invisible until
 * its commit and read back whole through ANOTHER handle (another replica);
 * aborted uploads swept; the line state machine (plan, jobs, release, done
 * once, finish the rest) and its counts; durable line holds; batch listing
 * and the active set; a batch created in pieces (hidden until its commit,
 * aborted and stale ones swept); a file read in pieces (chunks, or 1 MiB
 * pieces of content stored whole); a line's ledger rows written in the
 * transaction of its result, once per line across handles; migrations
 * applied once and counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch_store.h"
#include "defer_store_cases.h"
#include "batch_store_pg.h"
#include "ledger.h"
#include "store.h"

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

static void admin_sql(const char *s)
{
    PGconn *c = PQconnectdb(base_dsn());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, s);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", s, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

struct fix {
    char db[32];
    char dsn[512];
    struct fg_batch_store *s;
};

static long long one_number(struct fix *f, const char *q)
{
    PGconn *c = PQconnectdb(f->dsn);
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static int db_setup(void **state)
{
    static int seq;
    struct fix *f = calloc(1, sizeof *f);
    snprintf(f->db, sizeof f->db, "tb%d_%d", (int)getpid(), ++seq);
    char q[128];
    snprintf(q, sizeof q, "CREATE DATABASE %s", f->db);
    admin_sql(q);
    dsn_for(f->db, f->dsn, sizeof f->dsn);
    char err[256];
    if (fg_batch_store_open(f->dsn, &f->s, err, sizeof err) < 0)
        fail_msg("open: %s", err);
    *state = f;
    return 0;
}

static int db_teardown(void **state)
{
    struct fix *f = *state;
    fg_batch_store_close(f->s);
    char q[128];
    snprintf(q, sizeof q, "DROP DATABASE %s WITH (FORCE)", f->db);
    admin_sql(q);
    free(f);
    return 0;
}

static int count_cb(void *arg, const struct fg_bfile *f)
{
    (*(int *)arg)++;
    return 0;
}

static void test_files(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *s = x->s;
    struct fg_bfile a = {.bytes = 5, .created_at = 100, .expires_at = 4000000000LL};
    snprintf(a.id, sizeof a.id, "file-a");
    snprintf(a.owner, sizeof a.owner, "key_a");
    snprintf(a.filename, sizeof a.filename, "in.jsonl");
    snprintf(a.purpose, sizeof a.purpose, "batch");
    assert_int_equal(fg_batch_store_file_put(s, &a, "hello", 5), 0);
    struct fg_bfile b = a;
    snprintf(b.id, sizeof b.id, "file-b");
    snprintf(b.owner, sizeof b.owner, "key_b");
    assert_int_equal(fg_batch_store_file_put(s, &b, "x", 1), 0);
    assert_int_equal(fg_batch_store_file_put(s, &b, "x", 1), -1); /* same id */
    assert_non_null(strstr(fg_batch_store_errmsg(s), "postgres: INSERT file"));
    struct fg_bfile got;
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fg_batch_store_file_get(s, "file-a", &got, &data, &len), 1);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 6); /* NUL-ended */
    assert_string_equal(got.owner, "key_a");
    assert_string_equal(got.filename, "in.jsonl");
    assert_int_equal(got.expires_at, 4000000000LL);
    free(data);
    assert_int_equal(fg_batch_store_file_get(s, "file-zz", &got, NULL, NULL), 0);
    int n = 0;
    assert_int_equal(fg_batch_store_file_list(s, "key_a", NULL, NULL, true, 100, count_cb, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(fg_batch_store_file_list(s, NULL, "batch", NULL, true, 100, count_cb, &n), 0);
    assert_int_equal(n, 2);
    n = 0; /* cursor: after the newest (b) comes only a */
    assert_int_equal(fg_batch_store_file_list(s, NULL, NULL, "file-b", true, 100, count_cb, &n), 0);
    assert_int_equal(n, 1);
    n = 0; /* ascending: after a comes b */
    assert_int_equal(fg_batch_store_file_list(s, NULL, NULL, "file-a", false, 100, count_cb, &n),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(fg_batch_store_file_delete(s, "file-a"), 0);
    assert_int_equal(fg_batch_store_file_get(s, "file-a", &got, NULL, NULL), 0);

    struct fg_bfile old = b;
    snprintf(old.id, sizeof old.id, "file-old");
    old.expires_at = 1000; /* 1970 */
    assert_int_equal(fg_batch_store_file_put(s, &old, "zz", 2), 0);
    assert_int_equal(fg_batch_store_file_get(s, "file-old", &got, NULL, NULL), 0);
    assert_int_equal(fg_batch_store_files_expire(s, (int64_t)time(NULL)), 1);
    assert_int_equal(fg_batch_store_files_expire(s, (int64_t)time(NULL)), 0);
    assert_int_equal(fg_batch_store_file_get(s, "file-b", &got, NULL, NULL), 1);
}

/* An upload streamed in chunks through one handle is invisible until its
 * commit, then read back byte for byte through another (another replica). */
static void test_uploads_across_handles(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *s = x->s, *other = NULL;
    char err[256];
    assert_int_equal(fg_batch_store_open(x->dsn, &other, err, sizeof err), 0);
    struct fg_bfile f = {.created_at = 100, .expires_at = 4000000000LL};
    snprintf(f.id, sizeof f.id, "file-up");
    snprintf(f.owner, sizeof f.owner, "key_a");
    snprintf(f.purpose, sizeof f.purpose, "batch");
    enum { CHUNK = 70000, NCHUNK = 3 };
    unsigned char *buf = malloc(CHUNK * NCHUNK);
    for (size_t i = 0; i < CHUNK * NCHUNK; i++)
        buf[i] = (unsigned char)(i * 7 + i / 251); /* every byte value, NULs too */
    assert_int_equal(fg_batch_store_upload_begin(s, &f), 0);
    for (int i = 0; i < NCHUNK; i++)
        assert_int_equal(fg_batch_store_upload_chunk(s, f.id, i, buf + i * CHUNK, CHUNK), 0);
    struct fg_bfile got;
    int n = 0;
    assert_int_equal(fg_batch_store_file_get(other, f.id, &got, NULL, NULL), 0);
    assert_int_equal(fg_batch_store_file_list(other, NULL, NULL, NULL, true, 100, count_cb, &n), 0);
    assert_int_equal(n, 0);
    f.bytes = CHUNK * NCHUNK;
    snprintf(f.filename, sizeof f.filename, "in.jsonl");
    assert_int_equal(fg_batch_store_upload_commit(s, &f), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fg_batch_store_file_get(other, f.id, &got, &data, &len), 1);
    assert_int_equal(len, CHUNK * NCHUNK);
    assert_memory_equal(data, buf, CHUNK * NCHUNK);
    assert_int_equal(data[len], '\0');
    assert_string_equal(got.filename, "in.jsonl");
    free(data);
    free(buf);
    /* deleted through the other: gone, its chunks swept a few at a time */
    assert_int_equal(fg_batch_store_file_delete(other, f.id), 0);
    assert_int_equal(fg_batch_store_file_get(s, f.id, &got, NULL, NULL), 0);
    assert_int_equal(one_number(x, "SELECT count(*) FROM file_chunks"), 3);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 2), 2);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 2), 1);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 2), 0);

    /* aborted: hidden at once; chunks then the row gone after the sweep */
    snprintf(f.id, sizeof f.id, "file-ab");
    assert_int_equal(fg_batch_store_upload_begin(s, &f), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 0, "part", 4), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 1, "more", 4), 0);
    assert_int_equal(fg_batch_store_upload_abort(s, f.id), 0);
    assert_int_equal(fg_batch_store_upload_commit(s, &f), -1);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 1), 1);
    assert_int_equal(one_number(x, "SELECT count(*) FROM files WHERE id = 'file-ab'"), 1);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 1), 1);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 1), 0);
    assert_int_equal(one_number(x, "SELECT count(*) FROM files WHERE id = 'file-ab'"), 0);
    fg_batch_store_close(other);
}

static void new_batch(struct fg_batch *b, const char *id, const char *dialect)
{
    memset(b, 0, sizeof *b);
    snprintf(b->id, sizeof b->id, "%s", id);
    snprintf(b->owner, sizeof b->owner, "key_a");
    snprintf(b->dialect, sizeof b->dialect, "%s", dialect);
    snprintf(b->status, sizeof b->status, "in_progress");
    b->created_at = b->in_progress_at = 1000;
    b->expires_at = 1000 + 86400;
}

struct seen {
    int n;
    int64_t idx[8];
    char body[64];
    size_t body_len;
};

static int line_cb(void *arg, struct fg_bline *l)
{
    struct seen *x = arg;
    if (x->n < 8)
        x->idx[x->n] = l->idx;
    if (!x->n && l->body) {
        x->body_len = l->body_len;
        memcpy(x->body, l->body, l->body_len < sizeof x->body ? l->body_len : sizeof x->body);
    }
    x->n++;
    return 0;
}

static void test_lines_state_machine(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *s = x->s;
    fg_batch_store_calls_elsewhere(s);
    struct fg_batch b;
    new_batch(&b, "batch_1", "openai");
    b.metadata = "{\"k\":\"v\"}";
    struct fg_bline_in in[4] = {{"c0", "{\"model\":\"m\"}\0x", 15},
                                {"c1", "{\"model\":\"m\"}", 13},
                                {"c2", "{\"model\":\"m\"}", 13},
                                {"c3", "{\"model\":\"m\"}", 13}};
    assert_int_equal(fg_batch_store_batch_create(s, &b, in, 4), 0);
    assert_int_equal(fg_batch_store_lines_count(s, "batch_1", "pending"), 4);
    assert_int_equal(fg_batch_store_lines_count(s, "batch_1", NULL), 4);
    struct seen all = {0};
    assert_int_equal(fg_batch_store_lines(s, "batch_1", NULL, 0, 1, line_cb, &all), 0);
    assert_int_equal(all.n, 1);
    assert_int_equal(all.body_len, 15); /* bytes as given, NUL included */
    assert_memory_equal(all.body, "{\"model\":\"m\"}\0x", 15);
    assert_int_equal(fg_batch_store_line_plan(s, "batch_1", 0, "m", "{\"batch\":\"provider\"}"), 0);
    assert_int_equal(fg_batch_store_line_plan(s, "batch_1", 1, "m", "{\"batch\":\"local\"}"), 0);
    struct seen loc = {0}, rem = {0};
    assert_int_equal(fg_batch_store_planned(s, "batch_1", true, 0, 10, line_cb, &loc), 0);
    assert_int_equal(fg_batch_store_planned(s, "batch_1", false, 0, 10, line_cb, &rem), 0);
    assert_int_equal(loc.n, 1);
    assert_int_equal(loc.idx[0], 1);
    assert_int_equal(rem.n, 1);
    assert_int_equal(rem.idx[0], 0);

    struct fg_bjob j = {0};
    snprintf(j.id, sizeof j.id, "bjob_1");
    snprintf(j.batch_id, sizeof j.batch_id, "batch_1");
    snprintf(j.state, sizeof j.state, "creating");
    snprintf(j.provider, sizeof j.provider, "sim");
    int64_t idx[2] = {0, 1};
    assert_int_equal(fg_batch_store_job_create(s, &j, idx, 2), 0);
    assert_int_equal(fg_batch_store_lines_count(s, "batch_1", "submitted"), 2);
    struct seen jl = {0};
    assert_int_equal(fg_batch_store_job_lines(s, "bjob_1", line_cb, &jl), 0);
    assert_int_equal(jl.n, 2);
    snprintf(j.remote_id, sizeof j.remote_id, "remote-1");
    snprintf(j.state, sizeof j.state, "submitted");
    j.polls = 3;
    assert_int_equal(fg_batch_store_job_update(s, &j), 0);
    assert_int_equal(one_number(x, "SELECT polls FROM batch_jobs WHERE remote_id = 'remote-1'"), 3);
    assert_int_equal(fg_batch_store_job_release(s, "bjob_1"), 0);
    assert_int_equal(fg_batch_store_lines_count(s, "batch_1", "planned"), 2);

    struct fg_bline_done d = {.idx = 0,
                              .outcome = FG_LINE_SUCCEEDED,
                              .status_code = 200,
                              .result = "{\"ok\":1}",
                              .in_tokens = 10,
                              .out_tokens = 3,
                              .cost_pico = 1234};
    assert_int_equal(fg_batch_store_lines_done(s, "batch_1", &d, 1, NULL, 0), 0);
    struct fg_bline_done d2 = d; /* again: the line keeps its first result */
    d2.outcome = FG_LINE_ERRORED;
    d2.result = "{\"changed\":1}";
    assert_int_equal(fg_batch_store_lines_done(s, "batch_1", &d2, 1, NULL, 0), 0);
    struct fg_batch got;
    assert_int_equal(fg_batch_store_batch_get(s, "batch_1", &got), 1);
    assert_int_equal(got.total, 4);
    assert_int_equal(got.n_done, 1);
    assert_int_equal(got.n_succeeded, 1);
    assert_int_equal(got.in_tokens, 10);
    assert_int_equal(got.cost_pico, 1234);
    assert_string_equal(got.metadata, "{\"k\":\"v\"}");
    assert_null(got.errors);
    fg_batch_store_batch_clear(&got);

    assert_int_equal(fg_batch_store_lines_finish_rest(s, "batch_1", FG_LINE_CANCELED), 3);
    assert_int_equal(fg_batch_store_batch_get(s, "batch_1", &got), 1);
    assert_int_equal(got.n_done, 4);
    assert_int_equal(got.n_canceled, 3);
    fg_batch_store_batch_clear(&got);
    assert_int_equal(fg_batch_store_batch_status(s, "batch_1", "cancelled", 2000), 0);
    assert_int_equal(fg_batch_store_batch_status(s, "batch_1", "bogus", 2000), -1);
    assert_int_equal(fg_batch_store_batch_files(s, "batch_1", "file-out", ""), 0);
    assert_int_equal(fg_batch_store_batch_get(s, "batch_1", &got), 1);
    assert_string_equal(got.status, "cancelled");
    assert_int_equal(got.cancelled_at, 2000);
    assert_string_equal(got.output_file_id, "file-out");
    assert_string_equal(got.error_file_id, "");
    fg_batch_store_batch_clear(&got);
}

struct holds_seen {
    int n;
    int64_t sum;
    char tags[64];
};

static int hold_cb(void *arg, const struct fg_bhold *h)
{
    struct holds_seen *x = arg;
    x->n++;
    x->sum += h->hold_pico;
    snprintf(x->tags, sizeof x->tags, "%s", h->tags ? h->tags : "");
    return 0;
}

static int64_t held_of(struct fg_batch_store *s, const char *batch_id)
{
    struct holds_seen x = {0};
    assert_int_equal(fg_batch_store_holds(s, batch_id, hold_cb, &x), 0);
    return x.sum;
}

static void test_line_holds(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *s = x->s;
    fg_batch_store_calls_elsewhere(s);
    struct fg_batch b;
    new_batch(&b, "batch_h", "openai");
    b.tags = "team=a";
    struct fg_bline_in in[4] = {{"h0", "{}", 2}, {"h1", "{}", 2}, {"h2", "{}", 2}, {"h3", "{}", 2}};
    assert_int_equal(fg_batch_store_batch_create(s, &b, in, 4), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(fg_batch_store_line_plan(s, "batch_h", i, "m", "{\"batch\":\"provider\"}"),
                         0);
    int64_t idx[3] = {0, 1, 2}, amt[3] = {100, 200, 300};
    assert_int_equal(fg_batch_store_lines_hold(s, "batch_h", idx, amt, 3, 777000), 0);
    assert_int_equal(fg_batch_store_planned_held(s, "batch_h"), 3);
    struct holds_seen hs = {0};
    assert_int_equal(fg_batch_store_holds(s, NULL, hold_cb, &hs), 0);
    assert_int_equal(hs.n, 3);
    assert_string_equal(hs.tags, "team=a");
    /* held once: holding again writes nothing */
    assert_int_equal(fg_batch_store_lines_hold(s, "batch_h", idx, amt, 1, 888000), -1);
    assert_int_equal(held_of(s, "batch_h"), 600);
    struct fg_bjob j = {0};
    snprintf(j.id, sizeof j.id, "bjob_h");
    snprintf(j.batch_id, sizeof j.batch_id, "batch_h");
    snprintf(j.state, sizeof j.state, "creating");
    assert_int_equal(fg_batch_store_job_create(s, &j, idx, 3), 0);
    struct fg_bline_done d = {
        .idx = 0, .outcome = FG_LINE_SUCCEEDED, .status_code = 200, .result = "{}"};
    assert_int_equal(fg_batch_store_lines_done(s, "batch_h", &d, 1, NULL, 0), 0);
    assert_int_equal(held_of(s, "batch_h"), 500);
    assert_int_equal(fg_batch_store_line_replan(s, "batch_h", 1, "{\"batch\":\"local\"}", NULL, 0),
                     0);
    assert_int_equal(held_of(s, "batch_h"), 300);
    assert_int_equal(fg_batch_store_lines_finish_rest(s, "batch_h", FG_LINE_CANCELED), 3);
    assert_int_equal(held_of(s, NULL), 0);
}

static int batch_count(void *arg, const struct fg_batch *b)
{
    (*(int *)arg)++;
    return 0;
}

static void test_batch_listing_and_active(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *s = x->s;
    struct fg_bline_in one = {"x", "{}", 2};
    const char *ids[] = {"batch_a", "batch_b", "msgbatch_c"};
    for (int i = 0; i < 3; i++) {
        struct fg_batch b;
        new_batch(&b, ids[i], i == 2 ? "anthropic" : "openai");
        if (i == 1)
            snprintf(b.owner, sizeof b.owner, "key_b");
        assert_int_equal(fg_batch_store_batch_create(s, &b, &one, 1), 0);
    }
    int n = 0;
    assert_int_equal(fg_batch_store_batch_list(s, NULL, "openai", NULL, NULL, 10, batch_count, &n),
                     0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(
        fg_batch_store_batch_list(s, "key_a", "openai", NULL, NULL, 10, batch_count, &n), 0);
    assert_int_equal(n, 1);
    n = 0; /* newest first: after batch_b comes batch_a */
    assert_int_equal(
        fg_batch_store_batch_list(s, NULL, "openai", "batch_b", NULL, 10, batch_count, &n), 0);
    assert_int_equal(n, 1);
    n = 0; /* before batch_a: batch_b */
    assert_int_equal(
        fg_batch_store_batch_list(s, NULL, "openai", NULL, "batch_a", 10, batch_count, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(fg_batch_store_batch_active(s, batch_count, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(fg_batch_store_batch_status(s, "batch_a", "completed", 5), 0);
    n = 0;
    assert_int_equal(fg_batch_store_batch_active(s, batch_count, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(fg_batch_store_batch_delete(s, "msgbatch_c"), 0);
    n = 0;
    assert_int_equal(
        fg_batch_store_batch_list(s, NULL, "anthropic", NULL, NULL, 10, batch_count, &n), 0);
    assert_int_equal(n, 0);
}

/* A batch created in pieces (mirrors test_batch_store.c's): hidden from
 * readers and the executor until commit, and from ANOTHER handle (another
 * replica) too; an aborted one's lines (and then its row) swept a few at
 * a time; a hidden row its process never ended retired after its
 * deadline. */
static void test_batch_in_pieces(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *s = x->s, *other = NULL;
    char err[256];
    assert_int_equal(fg_batch_store_open(x->dsn, &other, err, sizeof err), 0);
    struct fg_batch b;
    new_batch(&b, "msgbatch_p", "anthropic");
    b.expires_at = 4000000000LL;
    struct fg_bline_in l[3] = {{"a", "{}", 2}, {"b", "{\"x\":1}", 7}, {"c", "{}", 2}};
    assert_int_equal(fg_batch_store_batch_begin(s, &b), 0);
    assert_int_equal(fg_batch_store_batch_add(s, b.id, 0, l, 2), 0);
    assert_int_equal(fg_batch_store_batch_add(s, b.id, 2, l + 2, 1), 0);
    struct fg_batch got;
    assert_int_equal(fg_batch_store_batch_get(other, b.id, &got), 1);
    assert_true(got.deleted); /* hidden: the API answers 404 */
    fg_batch_store_batch_clear(&got);
    int n = 0;
    assert_int_equal(
        fg_batch_store_batch_list(other, NULL, "anthropic", NULL, NULL, 10, batch_count, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(fg_batch_store_batch_active(other, batch_count, &n), 0);
    assert_int_equal(n, 0);
    b.total = 3;
    b.expires_at = 1000 + 86400;
    assert_int_equal(fg_batch_store_batch_commit(s, &b), 0);
    assert_int_equal(fg_batch_store_batch_get(other, b.id, &got), 1);
    assert_false(got.deleted);
    assert_string_equal(got.status, "in_progress");
    assert_int_equal(got.total, 3);
    assert_int_equal(got.expires_at, 1000 + 86400);
    fg_batch_store_batch_clear(&got);
    assert_int_equal(fg_batch_store_batch_active(other, batch_count, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(fg_batch_store_lines_count(other, b.id, "pending"), 3);
    assert_int_equal(fg_batch_store_batches_sweep(s, 10, 2000000000LL), 0); /* shown: kept */

    /* aborted: gone at once for every reader; lines then row swept */
    new_batch(&b, "msgbatch_ab", "anthropic");
    b.expires_at = 4000000000LL;
    assert_int_equal(fg_batch_store_batch_begin(s, &b), 0);
    assert_int_equal(fg_batch_store_batch_add(s, b.id, 0, l, 3), 0);
    assert_int_equal(fg_batch_store_batch_abort(s, b.id), 0);
    assert_int_equal(fg_batch_store_batch_commit(s, &b), -1);
    assert_int_equal(fg_batch_store_batches_sweep(other, 2, 2000000000LL), 2);
    assert_int_equal(one_number(x, "SELECT count(*) FROM batches WHERE id = 'msgbatch_ab'"), 1);
    assert_int_equal(fg_batch_store_batches_sweep(other, 2, 2000000000LL), 1);
    assert_int_equal(one_number(x, "SELECT count(*) FROM batches WHERE id = 'msgbatch_ab'"), 0);
    assert_int_equal(
        one_number(x, "SELECT count(*) FROM batch_lines WHERE batch_id = 'msgbatch_ab'"), 0);

    /* its process died: retired once its deadline passed */
    new_batch(&b, "msgbatch_dead", "anthropic");
    b.expires_at = 1500;
    assert_int_equal(fg_batch_store_batch_begin(s, &b), 0);
    assert_int_equal(fg_batch_store_batch_add(s, b.id, 0, l, 1), 0);
    assert_int_equal(fg_batch_store_batches_sweep(other, 10, 1000), 0); /* not yet */
    assert_int_equal(fg_batch_store_batches_sweep(other, 10, 2000), 1);
    assert_int_equal(one_number(x, "SELECT count(*) FROM batches WHERE id = 'msgbatch_dead'"), 0);
    assert_int_equal(one_number(x, "SELECT count(*) FROM batches"), 1);
    fg_batch_store_close(other);
}

/* A file's content in pieces, either form (mirrors test_batch_store.c's):
 * a streamed upload's chunks (NUL bytes included), or 1 MiB pieces of a
 * file stored whole, read through another handle. */
static void test_file_pieces(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *s = x->s, *other = NULL;
    char err[256];
    assert_int_equal(fg_batch_store_open(x->dsn, &other, err, sizeof err), 0);
    struct fg_bfile f = {.created_at = 100, .expires_at = 4000000000LL, .bytes = 9};
    snprintf(f.id, sizeof f.id, "file-ch");
    snprintf(f.owner, sizeof f.owner, "key_a");
    snprintf(f.purpose, sizeof f.purpose, "batch");
    assert_int_equal(fg_batch_store_upload_begin(s, &f), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 0, "ab\0d", 4), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 1, "efghi", 5), 0);
    char *p = NULL;
    size_t n = 0;
    assert_int_equal(fg_batch_store_file_piece(other, f.id, 0, &p, &n), 0); /* hidden */
    assert_int_equal(fg_batch_store_upload_commit(s, &f), 0);
    assert_int_equal(fg_batch_store_file_piece(other, f.id, 0, &p, &n), 1);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "ab\0d", 4);
    free(p);
    assert_int_equal(fg_batch_store_file_piece(other, f.id, 1, &p, &n), 1);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "efghi", 5);
    free(p);
    assert_int_equal(fg_batch_store_file_piece(other, f.id, 2, &p, &n), 0);
    assert_int_equal(fg_batch_store_file_piece(other, "file-none", 0, &p, &n), 0);

    size_t big = 2 * FG_BATCH_STORE_PIECE + 10;
    char *content = malloc(big);
    for (size_t i = 0; i < big; i++)
        content[i] = (char)(i % 251); /* NULs and high bytes too */
    snprintf(f.id, sizeof f.id, "file-whole");
    f.bytes = (int64_t)big;
    assert_int_equal(fg_batch_store_file_put(s, &f, content, big), 0);
    size_t at = 0;
    int pieces = 0;
    for (int64_t seq = 0;; seq++) {
        int rc = fg_batch_store_file_piece(other, f.id, seq, &p, &n);
        assert_true(rc >= 0);
        if (!rc)
            break;
        assert_true(n <= FG_BATCH_STORE_PIECE && at + n <= big);
        assert_memory_equal(p, content + at, n);
        at += n;
        pieces++;
        free(p);
    }
    assert_int_equal(at, big);
    assert_int_equal(pieces, 3);
    free(content);
    assert_int_equal(fg_batch_store_file_delete(s, f.id), 0);
    assert_int_equal(fg_batch_store_file_piece(other, f.id, 0, &p, &n), 0);
    fg_batch_store_close(other);
}

static void exec_sql(struct fix *f, const char *q)
{
    PGconn *c = PQconnectdb(f->dsn);
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* One replica works on a batch at a time: its claim holds the others off
 * while renewed; once it runs out (a dead replica), another takes over,
 * and the first, back, is refused. */
static void test_claims(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *a = x->s, *b = NULL;
    char err[256];
    assert_int_equal(fg_batch_store_open(x->dsn, &b, err, sizeof err), 0);
    struct fg_batch bt;
    struct fg_bline_in one = {"x", "{}", 2};
    new_batch(&bt, "batch_l", "openai");
    assert_int_equal(fg_batch_store_batch_create(a, &bt, &one, 1), 0);
    assert_int_equal(fg_batch_store_claim(a, "batch_l", "replica_a", 60000), 1);
    assert_int_equal(fg_batch_store_claim(b, "batch_l", "replica_b", 60000), 0);
    assert_int_equal(fg_batch_store_claim(a, "batch_l", "replica_a", 60000), 1); /* renewed */
    assert_int_equal(fg_batch_store_claim(b, "batch_l", "replica_b", 60000), 0);
    /* replica_a stops renewing: its lease runs out (set in the past here) */
    exec_sql(x, "UPDATE batches SET lease_until = lease_until - 120000 WHERE id = 'batch_l'");
    assert_int_equal(fg_batch_store_claim(b, "batch_l", "replica_b", 60000), 1);
    assert_int_equal(fg_batch_store_claim(a, "batch_l", "replica_a", 60000), 0);
    assert_int_equal(fg_batch_store_claim(a, "batch_unknown", "replica_a", 60000), 0);
    fg_batch_store_close(b);
}

/* Local lines claimed by two replicas at once: disjoint sets, in idx
 * order; a claim renewed by its owner holds, one run out is taken over;
 * provider-mode lines are never claimed here. */
static void test_line_claims(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *a = x->s, *b = NULL;
    char err[256];
    assert_int_equal(fg_batch_store_open(x->dsn, &b, err, sizeof err), 0);
    struct fg_batch bt;
    struct fg_bline_in in[6] = {{"c0", "{}", 2}, {"c1", "{}", 2}, {"c2", "{}", 2},
                                {"c3", "{}", 2}, {"c4", "{}", 2}, {"c5", "{}", 2}};
    new_batch(&bt, "batch_c", "openai");
    assert_int_equal(fg_batch_store_batch_create(a, &bt, in, 6), 0);
    for (int64_t i = 0; i < 5; i++)
        assert_int_equal(
            fg_batch_store_line_plan(a, "batch_c", i, "m", "{\"batch\":\"local\",\"model\":\"m\"}"),
            0);
    assert_int_equal(fg_batch_store_line_plan(a, "batch_c", 5, "m", "{\"batch\":\"provider\"}"), 0);
    struct seen sa = {0}, sb = {0}, sa2 = {0}, sb2 = {0};
    assert_int_equal(
        fg_batch_store_lines_claim(a, "batch_c", "replica_a", 0, 2, 60000, line_cb, &sa), 0);
    assert_int_equal(
        fg_batch_store_lines_claim(b, "batch_c", "replica_b", 0, 10, 60000, line_cb, &sb), 0);
    assert_int_equal(sa.n, 2);
    assert_int_equal(sa.idx[0], 0);
    assert_int_equal(sa.idx[1], 1);
    assert_int_equal(sb.n, 3); /* 2, 3, 4: not a's, not the provider line */
    assert_int_equal(sb.idx[0], 2);
    assert_int_equal(sb.idx[2], 4);
    /* a renews its claims; b's run out (b died): a takes b's lines over */
    assert_int_equal(fg_batch_store_claims_renew(a, "replica_a", 60000), 2);
    exec_sql(x, "UPDATE batch_lines SET claim_until = claim_until - 120000"
                " WHERE claim_owner = 'replica_b'");
    assert_int_equal(
        fg_batch_store_lines_claim(b, "batch_c", "replica_c", 0, 10, 60000, line_cb, &sb2), 0);
    assert_int_equal(sb2.n, 3);
    assert_int_equal(sb2.idx[0], 2);
    assert_int_equal(
        fg_batch_store_lines_claim(a, "batch_c", "replica_a", 0, 10, 60000, line_cb, &sa2), 0);
    assert_int_equal(sa2.n, 2); /* its own again (from 0), nothing of replica_c's */
    /* a done line is claimed by no one, and keeps who ran it */
    struct fg_bline_done d = {
        .idx = 0, .outcome = FG_LINE_SUCCEEDED, .status_code = 200, .result = "{}"};
    assert_int_equal(fg_batch_store_lines_done(a, "batch_c", &d, 1, NULL, 0), 0);
    struct seen sa3 = {0};
    assert_int_equal(
        fg_batch_store_lines_claim(a, "batch_c", "replica_a", 0, 10, 60000, line_cb, &sa3), 0);
    assert_int_equal(sa3.n, 1);
    assert_int_equal(one_number(x, "SELECT count(*) FROM batch_lines WHERE batch_id = 'batch_c'"
                                   " AND state = 'done' AND claim_owner = 'replica_a'"),
                     1);
    fg_batch_store_close(b);
}

/* A call record of a batch line, as the executor makes one. */
static struct fg_record *line_record(const char *id, int64_t ts_ms, const char *batch_id)
{
    struct fg_record *r = fg_ledger_record_new(256);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->ts_ms = ts_ms;
    r->key_id = "k1";
    r->tags = "";
    r->endpoint = "batch";
    r->model_requested = r->model = r->upstream_model = "m";
    r->provider = "sim";
    r->route = "fixed";
    r->cache = "bypass";
    r->batch = true;
    r->status = 200;
    r->cost_pico = 1000;
    r->batch_id = fg_ledger_record_str(r, batch_id);
    return r;
}

/* The ledger in the same database: a line's calls rows are written in the
 * transaction of its result (rollups too), and a second run of a line that
 * another handle (replica) stored first records nothing: one row per line. */
static void test_line_records_in_txn(void **state)
{
    struct fix *x = *state;
    char err[256];
    struct fg_store *ledger = NULL;
    if (fg_store_open(x->dsn, &ledger, err, sizeof err) < 0) /* the ledger's migrations */
        fail_msg("ledger open: %s", err);
    fg_store_close(ledger);
    struct fg_batch b;
    new_batch(&b, "batch_r", "openai");
    struct fg_bline_in in[2] = {{"c0", "{}", 2}, {"c1", "{}", 2}};
    assert_int_equal(fg_batch_store_batch_create(x->s, &b, in, 2), 0);
    int64_t now = (int64_t)time(NULL) * 1000;
    struct fg_record *r0 = line_record("frb_first", now, "batch_r");
    struct fg_bline_done d = {.idx = 0,
                              .outcome = FG_LINE_SUCCEEDED,
                              .status_code = 200,
                              .result = "{}",
                              .cost_pico = 1000,
                              .rec_first = 0,
                              .nrec = 1};
    assert_int_equal(fg_batch_store_lines_done(x->s, "batch_r", &d, 1, &r0, 1), 0);
    assert_int_equal(one_number(x, "SELECT count(*) FROM calls WHERE batch_id = 'batch_r'"), 1);
    /* another replica ran line 0 too (its lease ran out mid-run) and
     * commits later: other record ids and times; line 1 is new */
    struct fg_batch_store *other = NULL;
    if (fg_batch_store_open(x->dsn, &other, err, sizeof err) < 0)
        fail_msg("open: %s", err);
    struct fg_record *r1[2] = {line_record("frb_second", now + 5, "batch_r"),
                               line_record("frb_line1", now + 6, "batch_r")};
    struct fg_bline_done d2[2] = {d, d};
    d2[1].idx = 1;
    d2[1].rec_first = 1;
    assert_int_equal(fg_batch_store_lines_done(other, "batch_r", d2, 2, r1, 2), 0);
    assert_int_equal(one_number(x, "SELECT count(*) FROM calls WHERE batch_id = 'batch_r'"), 2);
    assert_int_equal(one_number(x, "SELECT count(*) FROM calls WHERE id = 'frb_second'"), 0);
    assert_int_equal(one_number(x, "SELECT count(*) FROM batch_lines WHERE batch_id = 'batch_r'"
                                   " AND state = 'done'"),
                     2);
    fg_batch_store_close(other);
    fg_ledger_record_free(r0);
    fg_ledger_record_free(r1[0]);
    fg_ledger_record_free(r1[1]);
}

/* Opening applied the migrations once; counting finds none pending. */
static void test_migrations(void **state)
{
    struct fix *x = *state;
    int pending = -1;
    char err[256];
    assert_int_equal(fg_batch_store_pg_migrate(x->dsn, false, &pending, err, sizeof err), 0);
    assert_int_equal(pending, 0);
    assert_int_equal(
        one_number(x, "SELECT count(*) FROM frugal_migrations WHERE component = 'batches'"), 5);
    struct fg_batch_store *again = NULL;
    assert_int_equal(fg_batch_store_open(x->dsn, &again, err, sizeof err), 0);
    fg_batch_store_close(again);
    assert_int_equal(
        one_number(x, "SELECT count(*) FROM frugal_migrations WHERE component = 'batches'"), 5);
}

/* ---- deferred calls' provider batches ---- */

struct dtaken {
    int n;
    int64_t idx;
    char answer[64];
};

static int dtake_cb(void *arg, int64_t idx, const char *a, size_t len)
{
    struct dtaken *x = arg;
    x->n++;
    x->idx = idx;
    snprintf(x->answer, sizeof x->answer, "%.*s", (int)len, a);
    return 0;
}

static int dsweep_cb(void *arg, const struct fg_djob *j, const struct fg_dline *l, const char *a,
                     size_t len)
{
    struct dtaken *x = arg;
    x->n++;
    x->idx = l->idx;
    snprintf(x->answer, sizeof x->answer, "%s %s %s %.*s", j->remote_id, l->call_id,
             l->key_id ? l->key_id : "", (int)len, a);
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Two replicas share deferred provider batches: the submitter's lease
 * keeps the other off until it runs out; the one that polls then hands
 * an answer to the line's live holder through the store (taken once), or
 * ends it itself; an answer left for a holder that died is swept once. */
static void test_defer_jobs(void **state)
{
    struct fix *x = *state;
    struct fg_batch_store *a = x->s, *b = NULL;
    char err[256];
    assert_int_equal(fg_batch_store_open(x->dsn, &b, err, sizeof err), 0);
    struct fg_djob j;
    struct fg_dline l[2];
    new_djob(&j, "batch_pd1");
    new_dlines(l, 2, wall_ms() + 600000);
    struct djobs_seen js = {0};
    assert_int_equal(fg_batch_store_defer_claim(a, "defer_a", 60000, djob_cb, &js), 0);
    assert_int_equal(js.n, 0);
    assert_int_equal(fg_batch_store_defer_add(a, &j, l, 2, "defer_a", 60000), 0);
    assert_int_equal(fg_batch_store_defer_claim(b, "defer_b", 60000, djob_cb, &js), 0);
    assert_int_equal(js.n, 0); /* defer_a holds it */
    assert_int_equal(fg_batch_store_defer_claim(a, "defer_a", 60000, djob_cb, &js), 0);
    assert_int_equal(js.n, 1); /* renewed */
    struct holds_seen h = {0};
    assert_int_equal(fg_batch_store_holds(b, NULL, hold_cb, &h), 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.sum, 300);
    /* defer_a stops renewing the job: defer_b takes it over */
    exec_sql(x, "UPDATE defer_jobs SET lease_until = 0");
    memset(&js, 0, sizeof js);
    assert_int_equal(fg_batch_store_defer_claim(b, "defer_b", 60000, djob_cb, &js), 0);
    assert_int_equal(js.n, 1);
    assert_string_equal(js.last.remote_id, "batch_pd1");
    memset(&js, 0, sizeof js);
    assert_int_equal(fg_batch_store_defer_claim(a, "defer_a", 60000, djob_cb, &js), 0);
    assert_int_equal(js.n, 0);
    struct dlines_seen ls = {0};
    assert_int_equal(fg_batch_store_defer_lines(b, "batch_pd1", dline_cb, &ls), 0);
    assert_int_equal(ls.n, 2);
    assert_string_equal(ls.call[0], "frg_call0");
    assert_string_equal(ls.tags[1], "team=d");
    /* line 0's holder (defer_a) lives: the answer goes to it */
    assert_int_equal(fg_batch_store_defer_answer(b, "batch_pd1", 0, "defer_b", "{\"a\":0}", 7), 1);
    assert_int_equal(fg_batch_store_defer_answer(b, "batch_pd1", 0, "defer_b", "{}", 2), 0);
    /* not to itself */
    assert_int_equal(fg_batch_store_defer_answer(a, "batch_pd1", 1, "defer_a", "{}", 2), 0);
    struct dtaken t = {0};
    assert_int_equal(fg_batch_store_defer_take(b, "batch_pd1", "defer_b", dtake_cb, &t), 0);
    assert_int_equal(t.n, 0); /* not defer_b's */
    assert_int_equal(fg_batch_store_defer_take(a, "batch_pd1", "defer_a", dtake_cb, &t), 0);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.idx, 0);
    assert_string_equal(t.answer, "{\"a\":0}");
    assert_int_equal(fg_batch_store_defer_take(a, "batch_pd1", "defer_a", dtake_cb, &t), 0);
    assert_int_equal(t.n, 1); /* taken once */
    assert_int_equal(fg_batch_store_defer_line_end(b, "batch_pd1", 0), 0);
    assert_int_equal(fg_batch_store_defer_line_end(b, "batch_pd1", 1), 1);
    assert_int_equal(fg_batch_store_defer_line_end(a, "batch_pd1", 1), 0);
    assert_int_equal(one_number(x, "SELECT count(*) FROM defer_lines WHERE state != 'done'"), 0);
    assert_int_equal(
        one_number(x, "SELECT count(*) FROM defer_lines WHERE hold_pico > 0 OR result IS NOT NULL"),
        0);

    /* a holder that dies after its answer was put in the store */
    struct fg_batch_store *d = NULL;
    assert_int_equal(fg_batch_store_open(x->dsn, &d, err, sizeof err), 0);
    assert_int_equal(fg_batch_store_defer_claim(d, "defer_d", 60000, djob_cb, &js), 0);
    new_djob(&j, "batch_pd2");
    assert_int_equal(fg_batch_store_defer_add(d, &j, l, 1, "defer_d", 60000), 0);
    assert_int_equal(fg_batch_store_defer_answer(b, "batch_pd2", 0, "defer_b", "{}", 2), 1);
    memset(&t, 0, sizeof t);
    assert_int_equal(fg_batch_store_defer_sweep(b, dsweep_cb, &t), 0);
    assert_int_equal(t.n, 0); /* alive: its to take */
    exec_sql(x, "UPDATE defer_replicas SET alive_until = 0 WHERE me = 'defer_d'");
    assert_int_equal(fg_batch_store_defer_sweep(b, dsweep_cb, &t), 0);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.answer, "batch_pd2 frg_call0 key_d {}");
    assert_int_equal(fg_batch_store_defer_sweep(b, dsweep_cb, &t), 0);
    assert_int_equal(t.n, 1); /* once */
    /* a dead holder gets no answer: the poller ends and records it */
    exec_sql(x, "UPDATE defer_lines SET state = 'open' WHERE remote_id = 'batch_pd2'");
    assert_int_equal(fg_batch_store_defer_answer(b, "batch_pd2", 0, "defer_b", "{}", 2), 0);
    assert_int_equal(fg_batch_store_defer_release(a, "defer_a"), 0);
    assert_int_equal(one_number(x, "SELECT count(*) FROM defer_replicas WHERE me = 'defer_a'"), 0);
    fg_batch_store_close(d);
    fg_batch_store_close(b);
}

int main(void)
{
    if (!base_dsn()) {
        fprintf(stderr, "test_batch_store_pg: FRUGAL_TEST_PG_DSN unset (run via test/pg-run.sh)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_files, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_uploads_across_handles, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_batch_in_pieces, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_file_pieces, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_lines_state_machine, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_line_holds, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_batch_listing_and_active, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_claims, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_line_records_in_txn, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_line_claims, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_migrations, db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(test_defer_jobs, db_setup, db_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
