/* test_batch_store.c — the durable batch state and the providers' shapes:
 * files (owner, listing, deletion), batches with their lines through the
 * state machine (pending → planned → submitted → done), a line done exactly
 * once with its ledger record in the same transaction, released jobs,
 * cancel/expiry of the rest, counts; and the rendered OpenAI / Anthropic
 * objects and result lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch_format.h"
#include "batch_mailbox.h"
#include "batch_store.h"
#include "defer_store_cases.h"
#include "ledger.h"

static char dsn[128], path[96];

static int setup(void **state)
{
    snprintf(path, sizeof path, "/tmp/frugal-test-bstore-%d.db", (int)getpid());
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    unlink(path);
    struct fg_batch_store *s = NULL;
    char err[256];
    assert_int_equal(fg_batch_store_open(dsn, &s, err, sizeof err), 0);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    fg_batch_store_close(*state);
    char p[160];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

static int count_cb(void *arg, const struct fg_bfile *f)
{
    (*(int *)arg)++;
    return 0;
}

static void test_files(void **state)
{
    struct fg_batch_store *s = *state;
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
    struct fg_bfile got;
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fg_batch_store_file_get(s, "file-a", &got, &data, &len), 1);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    assert_string_equal(got.owner, "key_a");
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
    assert_int_equal(fg_batch_store_file_delete(s, "file-a"), 0);
    assert_int_equal(fg_batch_store_file_get(s, "file-a", &got, NULL, NULL), 0);

    /* past its expires_at a file is gone for readers at once, then purged */
    struct fg_bfile old = b;
    snprintf(old.id, sizeof old.id, "file-old");
    old.expires_at = 1000; /* 1970 */
    assert_int_equal(fg_batch_store_file_put(s, &old, "zz", 2), 0);
    assert_int_equal(fg_batch_store_file_get(s, "file-old", &got, NULL, NULL), 0);
    n = 0;
    assert_int_equal(fg_batch_store_file_list(s, "key_b", NULL, NULL, true, 100, count_cb, &n), 0);
    assert_int_equal(n, 1); /* file-b only */
    assert_int_equal(fg_batch_store_files_expire(s, (int64_t)time(NULL)), 1);
    assert_int_equal(fg_batch_store_files_expire(s, (int64_t)time(NULL)), 0);
    assert_int_equal(fg_batch_store_file_get(s, "file-b", &got, NULL, NULL), 1); /* 2096 */
}

/* Rows of a table in the test database (its own connection). */
static int rows(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* An upload streamed in chunks: invisible until its commit, read back whole
 * by every reader; aborted or crashed ones leave nothing behind. */
static void test_file_uploads(void **state)
{
    struct fg_batch_store *s = *state;
    struct fg_bfile f = {.created_at = 100, .expires_at = 4000000000LL};
    snprintf(f.id, sizeof f.id, "file-up");
    snprintf(f.owner, sizeof f.owner, "key_a");
    snprintf(f.purpose, sizeof f.purpose, "batch");
    assert_int_equal(fg_batch_store_upload_begin(s, &f), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 0, "hello ", 6), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 1, "streamed ", 9), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 2, "world", 5), 0);
    struct fg_bfile got;
    int n = 0;
    assert_int_equal(fg_batch_store_file_get(s, f.id, &got, NULL, NULL), 0);
    assert_int_equal(fg_batch_store_file_list(s, NULL, NULL, NULL, true, 100, count_cb, &n), 0);
    assert_int_equal(n, 0);
    f.bytes = 20;
    snprintf(f.filename, sizeof f.filename, "in.jsonl");
    assert_int_equal(fg_batch_store_upload_commit(s, &f), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fg_batch_store_file_get(s, f.id, &got, &data, &len), 1);
    assert_int_equal(len, 20);
    assert_string_equal(data, "hello streamed world");
    assert_string_equal(got.filename, "in.jsonl");
    assert_int_equal(got.bytes, 20);
    free(data);
    assert_int_equal(fg_batch_store_file_list(s, NULL, NULL, NULL, true, 100, count_cb, &n), 0);
    assert_int_equal(n, 1);
    /* deleted: gone for readers at once, its chunks swept a few at a time */
    assert_int_equal(fg_batch_store_file_delete(s, f.id), 0);
    assert_int_equal(fg_batch_store_file_get(s, f.id, &got, NULL, NULL), 0);
    assert_int_equal(rows("SELECT count(*) FROM file_chunks"), 3);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 2), 2);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 2), 1);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 2), 0);
    assert_int_equal(rows("SELECT count(*) FROM file_chunks"), 0);

    /* aborted: hidden at once; chunks then the row gone after the sweep */
    snprintf(f.id, sizeof f.id, "file-ab");
    assert_int_equal(fg_batch_store_upload_begin(s, &f), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 0, "part", 4), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 1, "more", 4), 0);
    assert_int_equal(fg_batch_store_upload_abort(s, f.id), 0);
    assert_int_equal(fg_batch_store_upload_commit(s, &f), -1); /* nothing to commit */
    assert_int_equal(fg_batch_store_chunks_sweep(s, 1), 1);
    assert_int_equal(rows("SELECT count(*) FROM files WHERE id = 'file-ab'"), 1);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 1), 1);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 1), 0);
    assert_int_equal(rows("SELECT count(*) FROM file_chunks"), 0);
    assert_int_equal(rows("SELECT count(*) FROM files WHERE id = 'file-ab'"), 0);

    /* its process died mid-upload: swept once its deadline passed */
    snprintf(f.id, sizeof f.id, "file-dead");
    f.expires_at = 1000;
    assert_int_equal(fg_batch_store_upload_begin(s, &f), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 0, "part", 4), 0);
    assert_int_equal(fg_batch_store_files_expire(s, (int64_t)time(NULL)), 1);
    assert_int_equal(fg_batch_store_chunks_sweep(s, 8), 1);
    assert_int_equal(rows("SELECT count(*) FROM file_chunks"), 0);
    assert_int_equal(fg_batch_store_file_get(s, f.id, &got, NULL, NULL), 0);
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

static int idx_cb(void *arg, struct fg_bline *l)
{
    int64_t *acc = arg;
    acc[acc[0] + 1] = l->idx;
    acc[0]++;
    return 0;
}

static int batch_count(void *arg, const struct fg_batch *b)
{
    (*(int *)arg)++;
    return 0;
}

/* A batch created in pieces: hidden from readers and the executor until
 * commit; an aborted one's lines (and then its row) swept a few at a time;
 * a hidden row its process never ended retired after its deadline. */
static void test_batch_in_pieces(void **state)
{
    struct fg_batch_store *s = *state;
    struct fg_batch b;
    new_batch(&b, "msgbatch_p", "anthropic");
    b.expires_at = 4000000000LL;
    struct fg_bline_in l[3] = {{"a", "{}", 2}, {"b", "{\"x\":1}", 7}, {"c", "{}", 2}};
    assert_int_equal(fg_batch_store_batch_begin(s, &b), 0);
    assert_int_equal(fg_batch_store_batch_add(s, b.id, 0, l, 2), 0);
    assert_int_equal(fg_batch_store_batch_add(s, b.id, 2, l + 2, 1), 0);
    struct fg_batch got;
    assert_int_equal(fg_batch_store_batch_get(s, b.id, &got), 1);
    assert_true(got.deleted); /* hidden: the API answers 404 */
    fg_batch_store_batch_clear(&got);
    int n = 0;
    assert_int_equal(
        fg_batch_store_batch_list(s, NULL, "anthropic", NULL, NULL, 10, batch_count, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(fg_batch_store_batch_active(s, batch_count, &n), 0);
    assert_int_equal(n, 0);
    b.total = 3;
    b.expires_at = 1000 + 86400;
    assert_int_equal(fg_batch_store_batch_commit(s, &b), 0);
    assert_int_equal(fg_batch_store_batch_get(s, b.id, &got), 1);
    assert_false(got.deleted);
    assert_string_equal(got.status, "in_progress");
    assert_int_equal(got.total, 3);
    fg_batch_store_batch_clear(&got);
    assert_int_equal(fg_batch_store_batch_active(s, batch_count, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(fg_batch_store_lines_count(s, b.id, "pending"), 3);
    assert_int_equal(fg_batch_store_batches_sweep(s, 10, 2000000000LL), 0); /* shown: kept */

    /* aborted: gone at once for every reader; lines then row swept */
    new_batch(&b, "msgbatch_ab", "anthropic");
    b.expires_at = 4000000000LL;
    assert_int_equal(fg_batch_store_batch_begin(s, &b), 0);
    assert_int_equal(fg_batch_store_batch_add(s, b.id, 0, l, 3), 0);
    assert_int_equal(fg_batch_store_batch_abort(s, b.id), 0);
    assert_int_equal(fg_batch_store_batch_commit(s, &b), -1);
    assert_int_equal(fg_batch_store_batches_sweep(s, 2, 2000000000LL), 2);
    assert_int_equal(rows("SELECT count(*) FROM batches WHERE id = 'msgbatch_ab'"), 1);
    assert_int_equal(fg_batch_store_batches_sweep(s, 2, 2000000000LL), 1);
    assert_int_equal(rows("SELECT count(*) FROM batches WHERE id = 'msgbatch_ab'"), 0);
    assert_int_equal(rows("SELECT count(*) FROM batch_lines WHERE batch_id = 'msgbatch_ab'"), 0);

    /* its process died: retired once its deadline passed */
    new_batch(&b, "msgbatch_dead", "anthropic");
    b.expires_at = 1500;
    assert_int_equal(fg_batch_store_batch_begin(s, &b), 0);
    assert_int_equal(fg_batch_store_batch_add(s, b.id, 0, l, 1), 0);
    assert_int_equal(fg_batch_store_batches_sweep(s, 10, 1000), 0); /* not yet */
    assert_int_equal(fg_batch_store_batches_sweep(s, 10, 2000), 1);
    assert_int_equal(rows("SELECT count(*) FROM batches WHERE id = 'msgbatch_dead'"), 0);
    assert_int_equal(rows("SELECT count(*) FROM batches"), 1);
}

/* A file's content in pieces, either form: a streamed upload's chunks, or
 * 1 MiB pieces of a file stored whole. */
static void test_file_pieces(void **state)
{
    struct fg_batch_store *s = *state;
    struct fg_bfile f = {.created_at = 100, .expires_at = 4000000000LL, .bytes = 9};
    snprintf(f.id, sizeof f.id, "file-ch");
    snprintf(f.owner, sizeof f.owner, "key_a");
    snprintf(f.purpose, sizeof f.purpose, "batch");
    assert_int_equal(fg_batch_store_upload_begin(s, &f), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 0, "abcd", 4), 0);
    assert_int_equal(fg_batch_store_upload_chunk(s, f.id, 1, "efghi", 5), 0);
    char *p = NULL;
    size_t n = 0;
    assert_int_equal(fg_batch_store_file_piece(s, f.id, 0, &p, &n), 0); /* hidden */
    assert_int_equal(fg_batch_store_upload_commit(s, &f), 0);
    assert_int_equal(fg_batch_store_file_piece(s, f.id, 0, &p, &n), 1);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "abcd", 4);
    free(p);
    assert_int_equal(fg_batch_store_file_piece(s, f.id, 1, &p, &n), 1);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "efghi", 5);
    free(p);
    assert_int_equal(fg_batch_store_file_piece(s, f.id, 2, &p, &n), 0);

    size_t big = 2 * FG_BATCH_STORE_PIECE + 10;
    char *content = malloc(big);
    for (size_t i = 0; i < big; i++)
        content[i] = (char)('a' + i % 23);
    snprintf(f.id, sizeof f.id, "file-whole");
    f.bytes = (int64_t)big;
    assert_int_equal(fg_batch_store_file_put(s, &f, content, big), 0);
    size_t at = 0;
    for (int64_t seq = 0;; seq++) {
        int rc = fg_batch_store_file_piece(s, f.id, seq, &p, &n);
        assert_true(rc >= 0);
        if (!rc)
            break;
        assert_true(n <= FG_BATCH_STORE_PIECE && at + n <= big);
        assert_memory_equal(p, content + at, n);
        at += n;
        free(p);
    }
    assert_int_equal(at, big);
    free(content);
    assert_int_equal(fg_batch_store_file_delete(s, f.id), 0);
    assert_int_equal(fg_batch_store_file_piece(s, f.id, 0, &p, &n), 0);
}

static void test_lines_state_machine(void **state)
{
    struct fg_batch_store *s = *state;
    struct fg_batch b;
    new_batch(&b, "batch_1", "openai");
    struct fg_bline_in in[4] = {{"c0", "{\"model\":\"m\"}", 13},
                                {"c1", "{\"model\":\"m\"}", 13},
                                {"c2", "{\"model\":\"m\"}", 13},
                                {"c3", "{\"model\":\"m\"}", 13}};
    assert_int_equal(fg_batch_store_batch_create(s, &b, in, 4), 0);
    assert_int_equal(fg_batch_store_lines_count(s, "batch_1", "pending"), 4);
    assert_int_equal(fg_batch_store_line_plan(s, "batch_1", 0, "m", "{\"batch\":\"provider\"}"), 0);
    assert_int_equal(fg_batch_store_line_plan(s, "batch_1", 1, "m", "{}"), 0);
    assert_int_equal(fg_batch_store_lines_count(s, "batch_1", "planned"), 2);

    /* a job takes the planned lines; releasing it gives them back */
    struct fg_bjob j = {0};
    snprintf(j.id, sizeof j.id, "bjob_1");
    snprintf(j.batch_id, sizeof j.batch_id, "batch_1");
    snprintf(j.state, sizeof j.state, "creating");
    int64_t idx[2] = {0, 1};
    assert_int_equal(fg_batch_store_job_create(s, &j, idx, 2), 0);
    assert_int_equal(fg_batch_store_lines_count(s, "batch_1", "submitted"), 2);
    int64_t acc[8] = {0};
    assert_int_equal(fg_batch_store_job_lines(s, "bjob_1", idx_cb, acc), 0);
    assert_int_equal(acc[0], 2);
    assert_int_equal(fg_batch_store_job_release(s, "bjob_1"), 0);
    assert_int_equal(fg_batch_store_lines_count(s, "batch_1", "planned"), 2);

    /* done once, with its ledger record in the same transaction */
    struct fg_record *r = fg_ledger_record_new(64);
    snprintf(r->id, sizeof r->id, "frb_test0");
    r->ts_ms = 5;
    r->key_id = fg_ledger_record_str(r, "key_a");
    r->batch_id = fg_ledger_record_str(r, "batch_1");
    r->cost_pico = 1234;
    struct fg_bline_done d = {.idx = 0,
                              .outcome = FG_LINE_SUCCEEDED,
                              .status_code = 200,
                              .result = "{\"ok\":1}",
                              .in_tokens = 10,
                              .out_tokens = 3,
                              .cost_pico = 1234};
    assert_int_equal(fg_batch_store_lines_done(s, "batch_1", &d, 1, &r, 1), 0);
    /* again (a crash replay): the line keeps its first result */
    struct fg_bline_done d2 = d;
    d2.outcome = FG_LINE_ERRORED;
    d2.result = "{\"changed\":1}";
    assert_int_equal(fg_batch_store_lines_done(s, "batch_1", &d2, 1, &r, 1), 0);
    fg_ledger_record_free(r);
    struct fg_batch got;
    assert_int_equal(fg_batch_store_batch_get(s, "batch_1", &got), 1);
    assert_int_equal(got.total, 4);
    assert_int_equal(got.n_done, 1);
    assert_int_equal(got.n_succeeded, 1);
    assert_int_equal(got.in_tokens, 10);
    assert_int_equal(got.cost_pico, 1234);
    fg_batch_store_batch_clear(&got);

    /* one calls row for the line, however often it was committed */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT COUNT(*), SUM(cost_pico) FROM calls WHERE batch_id='batch_1'",
                       -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    assert_int_equal(sqlite3_column_int64(st, 1), 1234);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* cancel: the rest end canceled; counts add up */
    assert_int_equal(fg_batch_store_lines_finish_rest(s, "batch_1", FG_LINE_CANCELED), 3);
    assert_int_equal(fg_batch_store_batch_get(s, "batch_1", &got), 1);
    assert_int_equal(got.n_done, 4);
    assert_int_equal(got.n_canceled, 3);
    assert_int_equal(got.n_succeeded, 1);
    fg_batch_store_batch_clear(&got);
    assert_int_equal(fg_batch_store_batch_status(s, "batch_1", "cancelled", 2000), 0);
    assert_int_equal(fg_batch_store_batch_get(s, "batch_1", &got), 1);
    assert_string_equal(got.status, "cancelled");
    assert_int_equal(got.cancelled_at, 2000);
    fg_batch_store_batch_clear(&got);
}

struct holds_seen {
    int n;
    int64_t sum, at;
    char owner[48], tags[64];
};

static int hold_cb(void *arg, const struct fg_bhold *h)
{
    struct holds_seen *x = arg;
    x->n++;
    x->sum += h->hold_pico;
    x->at = h->hold_at;
    snprintf(x->owner, sizeof x->owner, "%s", h->owner);
    snprintf(x->tags, sizeof x->tags, "%s", h->tags ? h->tags : "");
    return 0;
}

static int64_t held_of(struct fg_batch_store *s, const char *batch_id)
{
    struct holds_seen x = {0};
    assert_int_equal(fg_batch_store_holds(s, batch_id, hold_cb, &x), 0);
    return x.sum;
}

/* A line's budget reservation is durable from before it is submitted until
 * the statement that ends it: what a restart holds again. */
static void test_line_holds(void **state)
{
    struct fg_batch_store *s = *state;
    struct fg_batch b;
    new_batch(&b, "batch_h", "openai");
    b.tags = "team=a";
    struct fg_bline_in in[4] = {{"h0", "{}", 2}, {"h1", "{}", 2}, {"h2", "{}", 2}, {"h3", "{}", 2}};
    assert_int_equal(fg_batch_store_batch_create(s, &b, in, 4), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(fg_batch_store_line_plan(s, "batch_h", i, "m", "{\"batch\":\"provider\"}"),
                         0);
    int64_t idx[3] = {0, 1, 2}, amt[3] = {100, 200, 300};
    assert_int_equal(fg_batch_store_planned_held(s, "batch_h"), 0);
    assert_int_equal(fg_batch_store_lines_hold(s, "batch_h", idx, amt, 3, 777000), 0);
    assert_int_equal(fg_batch_store_planned_held(s, "batch_h"), 3);
    struct holds_seen x = {0};
    assert_int_equal(fg_batch_store_holds(s, NULL, hold_cb, &x), 0);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.sum, 600);
    assert_int_equal(x.at, 777000);
    assert_string_equal(x.owner, "key_a");
    assert_string_equal(x.tags, "team=a");
    /* a line is reserved once: holding it again writes nothing */
    assert_int_equal(fg_batch_store_lines_hold(s, "batch_h", idx, amt, 1, 888000), -1);
    assert_int_equal(held_of(s, "batch_h"), 600);

    /* submitted and released (the job never reached the provider): still held */
    struct fg_bjob j = {0};
    snprintf(j.id, sizeof j.id, "bjob_h");
    snprintf(j.batch_id, sizeof j.batch_id, "batch_h");
    snprintf(j.state, sizeof j.state, "creating");
    assert_int_equal(fg_batch_store_job_create(s, &j, idx, 3), 0);
    assert_int_equal(fg_batch_store_planned_held(s, "batch_h"), 0);
    assert_int_equal(held_of(s, "batch_h"), 600);
    assert_int_equal(fg_batch_store_job_release(s, "bjob_h"), 0);
    assert_int_equal(held_of(s, "batch_h"), 600);
    int64_t acc[8] = {0};
    assert_int_equal(fg_batch_store_lines(s, "batch_h", "planned", 0, 10, idx_cb, acc), 0);
    assert_int_equal(acc[0], 4);
    snprintf(j.id, sizeof j.id, "bjob_h2");
    assert_int_equal(fg_batch_store_job_create(s, &j, idx, 3), 0);

    /* ended with its result: the hold goes in the same transaction */
    struct fg_bline_done d = {
        .idx = 0, .outcome = FG_LINE_SUCCEEDED, .status_code = 200, .result = "{}"};
    assert_int_equal(fg_batch_store_lines_done(s, "batch_h", &d, 1, NULL, 0), 0);
    assert_int_equal(held_of(s, "batch_h"), 500);
    /* sent back to run locally: no longer held by the store */
    assert_int_equal(fg_batch_store_line_replan(s, "batch_h", 1, "{\"batch\":\"local\"}", NULL, 0),
                     0);
    assert_int_equal(held_of(s, "batch_h"), 300);
    /* the rest ended (cancel / expiry) */
    assert_int_equal(fg_batch_store_lines_finish_rest(s, "batch_h", FG_LINE_CANCELED), 3);
    assert_int_equal(held_of(s, "batch_h"), 0);
    assert_int_equal(held_of(s, NULL), 0);
}

/* A database from before line holds existed gets the columns. */
static void test_holds_migration(void **state)
{
    (void)state;
    char p[128], d[140];
    snprintf(p, sizeof p, "/tmp/frugal-test-bstore-old-%d.db", (int)getpid());
    snprintf(d, sizeof d, "sqlite:%s", p);
    unlink(p);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "CREATE TABLE batch_lines (batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT,"
            " body BLOB, state TEXT NOT NULL DEFAULT 'pending', job_id TEXT, model TEXT, plan TEXT,"
            " outcome TEXT, status_code INTEGER, result TEXT, request_id TEXT, in_tokens INTEGER,"
            " cached_tokens INTEGER, out_tokens INTEGER, reasoning_tokens INTEGER,"
            " cost_pico INTEGER, PRIMARY KEY (batch_id, idx));"
            "INSERT INTO batch_lines (batch_id, idx, custom_id, body, state) VALUES"
            " ('batch_o', 0, 'o0', '{}', 'submitted');",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct fg_batch_store *s;
    char err[256];
    assert_int_equal(fg_batch_store_open(d, &s, err, sizeof err), 0);
    int64_t acc[4] = {0};
    assert_int_equal(fg_batch_store_lines(s, "batch_o", NULL, 0, 10, idx_cb, acc), 0);
    assert_int_equal(acc[0], 1);
    assert_int_equal(held_of(s, NULL), 0);
    fg_batch_store_close(s);
    unlink(p);
    snprintf(d, sizeof d, "%s-wal", p);
    unlink(d);
    snprintf(d, sizeof d, "%s-shm", p);
    unlink(d);
}

static void test_batch_listing_and_active(void **state)
{
    struct fg_batch_store *s = *state;
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

static json_t *parse_line(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    assert_true(n > 0 && s[n - 1] == '\n');
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    assert_non_null(j);
    return j;
}

static void test_formats(void **state)
{
    struct fg_batch b;
    new_batch(&b, "batch_f", "openai");
    b.total = 3;
    b.n_succeeded = 1;
    b.n_errored = 1;
    b.n_canceled = 1;
    b.n_done = 3;
    json_t *o = fg_batch_format_openai_batch(&b);
    assert_string_equal(json_string_value(json_object_get(o, "object")), "batch");
    json_t *rc = json_object_get(o, "request_counts");
    assert_int_equal(json_integer_value(json_object_get(rc, "total")), 3);
    assert_int_equal(json_integer_value(json_object_get(rc, "completed")), 1);
    assert_int_equal(json_integer_value(json_object_get(rc, "failed")), 2);
    assert_true(json_is_null(json_object_get(o, "output_file_id")));
    assert_true(json_is_null(json_object_get(o, "completed_at")));
    json_decref(o);

    /* Anthropic: counts stay 0 (all processing) until the batch ends */
    json_t *a = fg_batch_format_anthropic_batch(&b, "http://h:1");
    rc = json_object_get(a, "request_counts");
    assert_int_equal(json_integer_value(json_object_get(rc, "processing")), 3);
    assert_int_equal(json_integer_value(json_object_get(rc, "succeeded")), 0);
    assert_true(json_is_null(json_object_get(a, "results_url")));
    assert_string_equal(json_string_value(json_object_get(a, "created_at")),
                        "1970-01-01T00:16:40Z");
    json_decref(a);
    snprintf(b.status, sizeof b.status, "cancelled");
    b.cancelled_at = 2000;
    a = fg_batch_format_anthropic_batch(&b, "http://h:1");
    assert_string_equal(json_string_value(json_object_get(a, "processing_status")), "ended");
    assert_string_equal(json_string_value(json_object_get(a, "results_url")),
                        "http://h:1/v1/messages/batches/batch_f/results");
    rc = json_object_get(a, "request_counts");
    assert_int_equal(json_integer_value(json_object_get(rc, "canceled")), 1);
    json_decref(a);

    struct fg_bline l = {.idx = 7, .outcome = FG_LINE_EXPIRED};
    snprintf(l.custom_id, sizeof l.custom_id, "c7");
    struct evbuffer *buf = evbuffer_new();
    fg_batch_format_openai_line(&l, buf);
    json_t *j = parse_line(buf);
    assert_string_equal(json_string_value(json_object_get(j, "custom_id")), "c7");
    assert_true(json_is_null(json_object_get(j, "response")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "batch_expired");
    json_decref(j);
    l.outcome = FG_LINE_ERRORED;
    l.status_code = 400;
    l.result =
        "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"m\"}}";
    fg_batch_format_anthropic_line(&l, buf);
    j = parse_line(buf);
    json_t *res = json_object_get(j, "result");
    assert_string_equal(json_string_value(json_object_get(res, "type")), "errored");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(res, "error"), "error"), "type")),
                        "invalid_request_error");
    json_decref(j);
    l.result = NULL;
    evbuffer_free(buf);
    b.metadata = NULL;
}

static void test_record_ids(void **state)
{
    char a[24], b[24], c[24];
    fg_batch_mailbox_record_id("batch_1/0", 0, a);
    fg_batch_mailbox_record_id("batch_1/0", 0, b);
    fg_batch_mailbox_record_id("batch_1/0", 1, c);
    assert_string_equal(a, b); /* the same line and attempt: the same id */
    assert_string_not_equal(a, c);
    fg_batch_mailbox_record_id("batch_1/1", 0, c);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 20);
    assert_memory_equal(a, "frb_", 4);
}

/* ---- deferred calls' provider batches ---- */

/* A deferred provider batch: its open lines read back (what a restarted
 * process adopts), each ended once, their holds among the store's until
 * then; an ended job is no longer handed out. */
static void test_defer_jobs(void **state)
{
    struct fg_batch_store *s = *state;
    struct fg_djob j;
    struct fg_dline l[2];
    new_djob(&j, "batch_rd1");
    new_dlines(l, 2, 0);
    assert_int_equal(fg_batch_store_defer_add(s, &j, l, 2, "defer_a", 20000), 0);
    assert_int_equal(fg_batch_store_defer_add(s, &j, l, 2, "defer_a", 20000), -1); /* once */
    struct djobs_seen js = {0};
    assert_int_equal(fg_batch_store_defer_claim(s, "defer_b", 20000, djob_cb, &js), 0);
    assert_int_equal(js.n, 1); /* one process owns the store: every open job */
    assert_string_equal(js.last.remote_id, "batch_rd1");
    assert_string_equal(js.last.provider, "sim");
    assert_string_equal(js.last.dialect, "openai");
    assert_string_equal(js.last.model, "gpt-4o-mini");
    struct dlines_seen ls = {0};
    assert_int_equal(fg_batch_store_defer_lines(s, "batch_rd1", dline_cb, &ls), 0);
    assert_int_equal(ls.n, 2);
    assert_string_equal(ls.call[1], "frg_call1");
    assert_string_equal(ls.key[0], "key_d");
    assert_string_equal(ls.tags[0], "team=d");
    assert_string_equal(ls.hash[1], "00000000000000a1");
    assert_int_equal(ls.hold[1], 200);
    struct holds_seen h = {0};
    assert_int_equal(fg_batch_store_holds(s, NULL, hold_cb, &h), 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.sum, 300);
    assert_string_equal(h.owner, "key_d");
    assert_int_equal(held_of(s, "batch_rd1"), 0); /* one batch's: batch lines only */
    /* ended once: the second caller knows another one answers or records it */
    assert_int_equal(fg_batch_store_defer_line_end(s, "batch_rd1", 0), 1);
    assert_int_equal(fg_batch_store_defer_line_end(s, "batch_rd1", 0), 0);
    assert_int_equal(fg_batch_store_defer_line_end(s, "batch_rd1", 7), 0);
    memset(&ls, 0, sizeof ls);
    assert_int_equal(fg_batch_store_defer_lines(s, "batch_rd1", dline_cb, &ls), 0);
    assert_int_equal(ls.n, 1);
    memset(&h, 0, sizeof h);
    assert_int_equal(fg_batch_store_holds(s, NULL, hold_cb, &h), 0);
    assert_int_equal(h.sum, 200);
    /* no other holder to hand an answer to in a store one process owns */
    assert_int_equal(fg_batch_store_defer_answer(s, "batch_rd1", 1, "defer_b", "{}", 2), 0);
    assert_int_equal(fg_batch_store_defer_job_end(s, "batch_rd1"), 0);
    memset(&js, 0, sizeof js);
    assert_int_equal(fg_batch_store_defer_claim(s, "defer_b", 20000, djob_cb, &js), 0);
    assert_int_equal(js.n, 0);
    assert_int_equal(fg_batch_store_defer_release(s, "defer_a"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_uploads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_in_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lines_state_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_listing_and_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_jobs, setup, teardown),
        cmocka_unit_test(test_holds_migration),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_record_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
