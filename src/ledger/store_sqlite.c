/* store_sqlite.c — the embedded SQLite backend of the storage interface.
 *
 * WAL journal with synchronous=NORMAL: a committed transaction survives a
 * killed process (the WAL is in the OS before COMMIT returns); only an OS
 * crash can lose the last commits (FULL would fsync every commit and add
 * nothing against kill -9).  One prepared INSERT, bound per row; a row
 * whose id is stored already is skipped (ON CONFLICT DO NOTHING), and the
 * rollups (store_sqlite_rollup.h) count each inserted row in its
 * minute, hour and day inside the same transaction.
 *
 * No automatic checkpoints on this handle: SQLite runs them inside the
 * COMMIT that crosses 1,000 WAL pages, with two fsyncs, and on this
 * machine that held the ledger's writer 60-120 ms at a time, records piling
 * up behind it (what a kill -9 then loses).  sq_checkpoint() copies the WAL
 * back from the ledger's checkpointer thread instead, on a connection of
 * its own, PASSIVE: it never waits for or blocks the writer. */
#include "record_cols.h"
#include "store.h"
#include "store_sqlite.h"
#include "store_sqlite_rollup.h"

#include "arena.h"
#include "assert.h"

#include "sqlitedb.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sqlite_store {
    struct fg_store base;
    sqlite3 *db;
    sqlite3 *ckpt; /* the checkpointer thread's own handle, opened lazily */
    char *path;
    sqlite3_stmt *ins, *scan;
    sqlite3_stmt *spend;
    sqlite3_stmt *rs_ins, *rs_get; /* the responses table (response_owner) */
    sqlite3_stmt *rs_row, *rs_del, *rs_prune;
};

/* Column order of the INSERT and of SELECT *; keep in step with bind_row
 * and read_row. */
#define COLUMNS FG_RECORD_COLUMNS
#define NCOLS FG_RECORD_NCOLS

static const char *schema =
    "CREATE TABLE IF NOT EXISTS calls ("
    " id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, key_id TEXT, tags TEXT, endpoint TEXT,"
    " model_requested TEXT, model TEXT, upstream_model TEXT, provider TEXT, route TEXT,"
    " route_reason TEXT, cache TEXT, stream INTEGER, batch INTEGER, status INTEGER,"
    " input_tokens INTEGER, cache_read_tokens INTEGER, cache_write_5m_tokens INTEGER,"
    " cache_write_1h_tokens INTEGER, output_tokens INTEGER, reasoning_tokens INTEGER,"
    " priced INTEGER, cost_pico INTEGER, baseline_pico INTEGER,"
    " saved_prompt_cache_pico INTEGER, saved_response_cache_pico INTEGER,"
    " saved_routing_pico INTEGER, saved_batch_pico INTEGER, bucket_repeated_pico INTEGER,"
    " bucket_repeated_cached_pico INTEGER, bucket_frontier_pico INTEGER,"
    " bucket_bloated_pico INTEGER, latency_us INTEGER, ttfb_us INTEGER, prefix_fp TEXT,"
    " prefix_tokens INTEGER, repeated_tokens INTEGER, error TEXT, linked_id TEXT,"
    " buster_where TEXT, buster_offset INTEGER, buster_sample TEXT, buster_tokens INTEGER,"
    " buster_pico INTEGER, cache_miss_reason TEXT, batch_id TEXT, request_bytes INTEGER,"
    " response_bytes INTEGER, saved_flex_pico INTEGER);"
    "CREATE INDEX IF NOT EXISTS calls_ts ON calls(ts_ms);";

/* Columns added after the first release: ALTER older databases in place.
 * Whole constant statements: no SQL here is ever built from data (values
 * go through the prepared statements below). */
static const char *const migrations[] = {
    "ALTER TABLE calls ADD COLUMN buster_where TEXT",
    "ALTER TABLE calls ADD COLUMN buster_offset INTEGER",
    "ALTER TABLE calls ADD COLUMN buster_sample TEXT",
    "ALTER TABLE calls ADD COLUMN buster_tokens INTEGER",
    "ALTER TABLE calls ADD COLUMN buster_pico INTEGER",
    "ALTER TABLE calls ADD COLUMN cache_miss_reason TEXT",
    "ALTER TABLE calls ADD COLUMN batch_id TEXT",
    "ALTER TABLE calls ADD COLUMN request_bytes INTEGER",
    "ALTER TABLE calls ADD COLUMN response_bytes INTEGER",
    "ALTER TABLE calls ADD COLUMN saved_flex_pico INTEGER",
    "ALTER TABLE responses ADD COLUMN upstream_id TEXT",
    "ALTER TABLE responses ADD COLUMN prev_id TEXT",
    "ALTER TABLE responses ADD COLUMN expires_ms INTEGER",
    "ALTER TABLE responses ADD COLUMN data TEXT",
};

/* Is there a schema object of this name?  (A read: CREATE … IF NOT EXISTS
 * of one that exists still takes the write lock, and every reader's open
 * would then wait for the ledger writer, and it for them.) */
static bool have_object(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    bool have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return have;
}

static void migrate(sqlite3 *db)
{
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++)
        sqlite3_exec(db, migrations[i], NULL, NULL, NULL); /* "duplicate column" when present */
    /* the dashboard's per-batch spend (batch_spend): the rows of batch lines */
    if (!have_object(db, "calls_batch"))
        sqlite3_exec(db,
                     "CREATE INDEX IF NOT EXISTS calls_batch ON calls(batch_id) WHERE batch_id IS "
                     "NOT NULL",
                     NULL, NULL, NULL);
}

static int fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return -1;
}

static int prepare_insert(sqlite3 *db, sqlite3_stmt **st);

/* Stored Responses: which key created each, on which provider, its id
 * there, the response it continues, when it expires (0: never) and what
 * replays it (call/respstate.h).  An older database gains the last four
 * columns by migrate(). */
static int prepare_responses(struct sqlite_store *q)
{
    if (sqlite3_exec(q->db,
                     "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY,"
                     " key_id TEXT, provider TEXT, ts_ms INTEGER, upstream_id TEXT, prev_id TEXT,"
                     " expires_ms INTEGER, data TEXT)",
                     NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    migrate(q->db);
    return sqlite3_exec(q->db,
                        "CREATE INDEX IF NOT EXISTS responses_expires ON responses(expires_ms)",
                        NULL, NULL, NULL) == SQLITE_OK &&
                   sqlite3_prepare_v2(q->db,
                                      "INSERT OR REPLACE INTO responses (id, key_id, provider, "
                                      "ts_ms, upstream_id, prev_id, expires_ms, data) "
                                      "VALUES (?,?,?,?,?,?,?,?)",
                                      -1, &q->rs_ins, NULL) == SQLITE_OK &&
                   sqlite3_prepare_v2(q->db, "SELECT key_id, provider FROM responses WHERE id = ?",
                                      -1, &q->rs_get, NULL) == SQLITE_OK &&
                   sqlite3_prepare_v2(q->db,
                                      "SELECT key_id, provider, upstream_id, prev_id, data, "
                                      "ts_ms, expires_ms FROM responses WHERE id = ? AND "
                                      "(expires_ms IS NULL OR expires_ms = 0 OR expires_ms > ?)",
                                      -1, &q->rs_row, NULL) == SQLITE_OK &&
                   sqlite3_prepare_v2(q->db, "DELETE FROM responses WHERE id = ?", -1, &q->rs_del,
                                      NULL) == SQLITE_OK &&
                   sqlite3_prepare_v2(q->db,
                                      "DELETE FROM responses WHERE expires_ms > 0 AND "
                                      "expires_ms <= ?",
                                      -1, &q->rs_prune, NULL) == SQLITE_OK
               ? 0
               : -1;
}

static void sq_close(struct fg_store *s)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    if (!q)
        return;
    sqlite3_finalize(q->ins);
    sqlite3_finalize(q->scan);
    sqlite3_finalize(q->spend);
    sqlite3_close(q->ckpt);
    sqlite3_finalize(q->rs_ins);
    sqlite3_finalize(q->rs_get);
    sqlite3_finalize(q->rs_row);
    sqlite3_finalize(q->rs_del);
    sqlite3_finalize(q->rs_prune);
    sqlite3_close(q->db);
    free(q->path);
    free(q);
}

static int sq_open(const char *dsn, struct fg_store **out, char *err, size_t errlen)
{
    const char *path = dsn + strlen("sqlite:");
    struct sqlite_store *q = fg_xcalloc(1, sizeof *q);
    q->base.ops = &fg_store_sqlite;
    q->path = fg_xstrdup(path);
    if (fg_sqlitedb_open(path, schema, FG_SQLITEDB_NO_AUTOCHECKPOINT, &q->db, err, errlen) < 0)
        goto bad;
    migrate(q->db);
    if (fg_store_sqlite_rollup_schema(q->db, err, errlen) < 0)
        goto bad;
    if (prepare_responses(q) < 0 || prepare_insert(q->db, &q->ins) < 0 ||
        sqlite3_prepare_v2(q->db,
                           "SELECT " COLUMNS " FROM calls WHERE ts_ms >= ? AND ts_ms < ?"
                           " ORDER BY ts_ms",
                           -1, &q->scan, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db,
                           "SELECT key_id, tags, SUM(cost_pico) FROM calls WHERE "
                           "ts_ms >= ? GROUP BY key_id, tags",
                           -1, &q->spend, NULL) != SQLITE_OK) {
        fail(q->db, "preparing statements", err, errlen);
        goto bad;
    }
    *out = &q->base;
    return 0;
bad:
    sq_close(&q->base);
    return -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_row(sqlite3_stmt *st, const struct fg_record *r)
{
    struct fg_record_col v[NCOLS];
    fg_record_cols(r, v);
    for (int i = 0; i < NCOLS; i++) {
        if (v[i].is_text)
            bind_text(st, i + 1, v[i].text);
        else
            sqlite3_bind_int64(st, i + 1, v[i].num);
    }
}

static int prepare_insert(sqlite3 *db, sqlite3_stmt **st)
{
    char sql[2048];
    int n = snprintf(sql, sizeof sql, "INSERT INTO calls (" COLUMNS ") VALUES (?");
    for (int k = 1; k < NCOLS; k++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ",?");
    /* a row already stored (a replica wrote it too, a spool replayed it) is
     * kept, not replaced: the rollups count each id once */
    snprintf(sql + n, sizeof sql - (size_t)n, ") ON CONFLICT(id) DO NOTHING");
    return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? 0 : -1;
}

int fg_store_sqlite_calls_insert(sqlite3 *db, struct fg_record *const *recs, size_t n, char *err,
                                 size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (prepare_insert(db, &st) < 0)
        return fail(db, "preparing the calls INSERT", err, errlen);
    bool *inserted = fg_xcalloc(n ? n : 1, sizeof *inserted);
    int ret = 0;
    for (size_t k = 0; k < n && ret == 0; k++) {
        bind_row(st, recs[k]);
        int rc = sqlite3_step(st);
        inserted[k] = rc == SQLITE_DONE && sqlite3_changes(db) == 1;
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            ret = fail(db, "INSERT", err, errlen);
    }
    sqlite3_finalize(st);
    if (ret == 0)
        ret = fg_store_sqlite_rollup_add(db, recs, inserted, n, err, errlen);
    free(inserted);
    return ret;
}

int fg_store_sqlite_calls_schema(sqlite3 *db, char *err, size_t errlen)
{
    if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, "creating the schema", err, errlen);
    migrate(db);
    return fg_store_sqlite_rollup_schema(db, err, errlen);
}

static int write_response(struct sqlite_store *q, const struct fg_record *r)
{
    sqlite3_stmt *st = r->response_forget ? q->rs_del : q->rs_ins;
    sqlite3_bind_text(st, 1, r->response_id, -1, SQLITE_STATIC);
    if (!r->response_forget) {
        sqlite3_bind_text(st, 2, r->key_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->provider, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, r->ts_ms);
        sqlite3_bind_text(st, 5, r->upstream_response_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, r->prev_response_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, r->response_expires_ms);
        sqlite3_bind_text(st, 8, r->response_data, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_write(struct fg_store *s, struct fg_record *const *recs, size_t n, char *err,
                    size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    int brc = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (brc == SQLITE_BUSY || brc == SQLITE_LOCKED) {
        fail(q->db, "BEGIN", err, errlen);
        return FG_STORE_BUSY;
    }
    if (brc != SQLITE_OK)
        return fail(q->db, "BEGIN", err, errlen);
    bool *inserted = fg_xcalloc(n ? n : 1, sizeof *inserted);
    int rc = SQLITE_DONE;
    for (size_t k = 0; k < n && rc == SQLITE_DONE; k++) {
        if (!recs[k]->response_forget) { /* a forget is no call */
            bind_row(q->ins, recs[k]);
            rc = sqlite3_step(q->ins);
            inserted[k] = rc == SQLITE_DONE && sqlite3_changes(q->db) == 1;
            sqlite3_reset(q->ins);
        }
        if (rc == SQLITE_DONE && recs[k]->response_id)
            rc = write_response(q, recs[k]);
    }
    /* the rows' rollups in the same transaction (store_sqlite_rollup.h) */
    int ret = rc == SQLITE_DONE ? fg_store_sqlite_rollup_add(q->db, recs, inserted, n, err, errlen)
                                : fail(q->db, "INSERT", err, errlen);
    free(inserted);
    if (ret < 0) {
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return fail(q->db, "COMMIT", err, errlen);
    return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static void read_row(sqlite3_stmt *st, struct fg_record *r)
{
    int i = 0;
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", col_text(st, i++) ? col_text(st, i - 1) : "");
    r->ts_ms = sqlite3_column_int64(st, i++);
    const char **texts[] = {&r->key_id,       &r->tags,           &r->endpoint, &r->model_requested,
                            &r->model,        &r->upstream_model, &r->provider, &r->route,
                            &r->route_reason, &r->cache};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        *texts[k] = col_text(st, i++);
    r->stream = sqlite3_column_int64(st, i++);
    r->batch = sqlite3_column_int64(st, i++);
    r->status = (int)sqlite3_column_int64(st, i++);
    int64_t *ints[] = {&r->tok.input,          &r->tok.cache_read, &r->tok.cache_write_5m,
                       &r->tok.cache_write_1h, &r->tok.output,     &r->reasoning_tokens};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
        *ints[k] = sqlite3_column_int64(st, i++);
    r->priced = sqlite3_column_int64(st, i++);
    int64_t *money[] = {&r->cost_pico,
                        &r->baseline_pico,
                        &r->saved_prompt_cache_pico,
                        &r->saved_response_cache_pico,
                        &r->saved_routing_pico,
                        &r->saved_batch_pico,
                        &r->bucket_repeated_pico,
                        &r->bucket_repeated_cached_pico,
                        &r->bucket_frontier_pico,
                        &r->bucket_bloated_pico,
                        &r->latency_us,
                        &r->ttfb_us};
    for (size_t k = 0; k < sizeof money / sizeof money[0]; k++)
        *money[k] = sqlite3_column_int64(st, i++);
    snprintf(r->prefix_fp, sizeof r->prefix_fp, "%s", col_text(st, i) ? col_text(st, i) : "");
    i++;
    r->prefix_tokens = sqlite3_column_int64(st, i++);
    r->repeated_tokens = sqlite3_column_int64(st, i++);
    r->error = col_text(st, i++);
    r->linked_id = col_text(st, i++);
    r->buster_where = col_text(st, i++);
    r->buster_offset = sqlite3_column_int64(st, i++);
    r->buster_sample = col_text(st, i++);
    r->buster_tokens = sqlite3_column_int64(st, i++);
    r->buster_pico = sqlite3_column_int64(st, i++);
    r->cache_miss_reason = col_text(st, i++);
    r->batch_id = col_text(st, i++);
    r->request_bytes = sqlite3_column_int64(st, i++);
    r->response_bytes = sqlite3_column_int64(st, i++);
    r->saved_flex_pico = sqlite3_column_int64(st, i++);
}

static int sq_scan(struct fg_store *s, int64_t since_ms, int64_t until_ms, fg_store_row_cb cb,
                   void *arg, char *err, size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    sqlite3_bind_int64(q->scan, 1, since_ms);
    sqlite3_bind_int64(q->scan, 2, until_ms);
    int rc;
    struct fg_record r;
    while ((rc = sqlite3_step(q->scan)) == SQLITE_ROW) {
        read_row(q->scan, &r);
        if (cb(arg, &r))
            break;
    }
    sqlite3_reset(q->scan);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(q->db, "SELECT", err, errlen);
    return 0;
}

static int sq_spend_since(struct fg_store *s, int64_t since_ms, fg_store_spend_cb cb, void *arg,
                          char *err, size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    sqlite3_stmt *st = q->spend;
    sqlite3_bind_int64(st, 1, since_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cb(arg, col_text(st, 0), col_text(st, 1), sqlite3_column_int64(st, 2)))
            break;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(q->db, "SELECT spend", err, errlen);
    return 0;
}

static void sq_checkpoint(struct fg_store *s)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    if (!q->ckpt) {
        if (sqlite3_open_v2(q->path, &q->ckpt, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK) {
            sqlite3_close(q->ckpt);
            q->ckpt = NULL;
            return; /* tried again next time */
        }
        sqlite3_exec(q->ckpt, "PRAGMA wal_autocheckpoint=0;", NULL, NULL, NULL);
    }
    sqlite3_wal_checkpoint_v2(q->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static int sq_response_owner(struct fg_store *s, const char *id, char *key_id, size_t kn,
                             char *provider, size_t pn, char *err, size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    sqlite3_stmt *st = q->rs_get;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        snprintf(key_id, kn, "%s", col_text(st, 0) ? col_text(st, 0) : "");
        snprintf(provider, pn, "%s", col_text(st, 1) ? col_text(st, 1) : "");
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = fail(q->db, "reading responses", err, errlen);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return found;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    return col_text(st, i) ? fg_xstrdup(col_text(st, i)) : NULL;
}

static int sq_response_get(struct fg_store *s, const char *id, int64_t now_ms,
                           struct fg_store_response *out, char *err, size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    sqlite3_stmt *st = q->rs_row;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int rc = sqlite3_step(st), found = 0;
    memset(out, 0, sizeof *out);
    if (rc == SQLITE_ROW) {
        out->key_id = col_dup(st, 0);
        out->provider = col_dup(st, 1);
        out->upstream_id = col_dup(st, 2);
        out->prev_id = col_dup(st, 3);
        out->data = col_dup(st, 4);
        out->ts_ms = sqlite3_column_int64(st, 5);
        out->expires_ms = sqlite3_column_int64(st, 6);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = fail(q->db, "reading responses", err, errlen);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return found;
}

static int sq_response_prune(struct fg_store *s, int64_t now_ms, char *err, size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    sqlite3_bind_int64(q->rs_prune, 1, now_ms);
    int rc = sqlite3_step(q->rs_prune);
    sqlite3_reset(q->rs_prune);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return 0; /* another writer: the next prune deletes them */
    if (rc != SQLITE_DONE)
        return fail(q->db, "pruning responses", err, errlen);
    return sqlite3_changes(q->db);
}

static int sq_recent(struct fg_store *s, const char *key_id, int limit, fg_store_row_cb cb,
                     void *arg, char *err, size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT " COLUMNS " FROM calls WHERE (?1 IS NULL OR key_id = ?1)"
                           " ORDER BY ts_ms DESC, id DESC LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(q->db, "preparing the recent calls query", err, errlen);
    if (key_id)
        sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    int rc;
    struct fg_record r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_row(st, &r);
        if (cb(arg, &r))
            break;
    }
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(q->db, "SELECT recent", err, errlen);
    sqlite3_finalize(st);
    return ret;
}

static int sq_batch_spend(struct fg_store *s, const char *key_id, const char *const *ids, size_t n,
                          fg_store_batch_cb cb, void *arg, char *err, size_t errlen)
{
    FG_ASSERT(n >= 1 && n <= FG_STORE_BATCH_IDS_MAX);
    struct sqlite_store *q = (struct sqlite_store *)s;
    /* constant text: one placeholder per id */
    char sql[640 + 2 * FG_STORE_BATCH_IDS_MAX];
    int k = snprintf(sql, sizeof sql,
                     "SELECT batch_id, count(*), SUM(COALESCE(status, 0) >= 400),"
                     " SUM(COALESCE(cost_pico, 0)), SUM(COALESCE(baseline_pico, 0)),"
                     " SUM(COALESCE(saved_batch_pico, 0)), SUM(COALESCE(batch, 0) != 0)"
                     " FROM calls WHERE batch_id IS NOT NULL"
                     " AND (?1 IS NULL OR key_id = ?1) AND batch_id IN (?");
    for (size_t i = 1; i < n; i++)
        k += snprintf(sql + k, sizeof sql - (size_t)k, ",?");
    k += snprintf(sql + k, sizeof sql - (size_t)k, ") GROUP BY batch_id ORDER BY batch_id");
    FG_ASSERT(k > 0 && (size_t)k < sizeof sql);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(q->db, "preparing the batch spend query", err, errlen);
    if (key_id)
        sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    for (size_t i = 0; i < n; i++)
        sqlite3_bind_text(st, (int)i + 2, ids[i], -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct fg_batch_spend b = {.batch_id = (const char *)sqlite3_column_text(st, 0),
                                   .requests = sqlite3_column_int64(st, 1),
                                   .errors = sqlite3_column_int64(st, 2),
                                   .cost_pico = sqlite3_column_int64(st, 3),
                                   .baseline_pico = sqlite3_column_int64(st, 4),
                                   .saved_batch_pico = sqlite3_column_int64(st, 5),
                                   .provider_requests = sqlite3_column_int64(st, 6)};
        if (cb(arg, &b))
            break;
    }
    int ret =
        rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(q->db, "SELECT batch spend", err, errlen);
    sqlite3_finalize(st);
    return ret;
}

static int sq_rollup(struct fg_store *s, const struct fg_rollup_query *q, fg_store_rollup_cb cb,
                     void *arg, char *err, size_t errlen)
{
    return fg_store_sqlite_rollup_query(((struct sqlite_store *)s)->db, q, cb, arg, err, errlen);
}

static int sq_response_scan(struct fg_store *s, int64_t now_ms, fg_store_response_cb cb, void *arg,
                            char *err, size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT id, key_id, provider, upstream_id, prev_id, data, ts_ms,"
                           " expires_ms FROM responses WHERE expires_ms IS NULL OR expires_ms = 0"
                           " OR expires_ms > ? ORDER BY ts_ms",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(q->db, "reading responses", err, errlen);
    sqlite3_bind_int64(st, 1, now_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* the strings are sqlite's, valid until the next step */
        struct fg_store_response r = {
            .key_id = (char *)col_text(st, 1),
            .provider = (char *)col_text(st, 2),
            .upstream_id = (char *)col_text(st, 3),
            .prev_id = (char *)col_text(st, 4),
            .data = (char *)col_text(st, 5),
            .ts_ms = sqlite3_column_int64(st, 6),
            .expires_ms = sqlite3_column_int64(st, 7),
        };
        if (col_text(st, 0) && cb(arg, col_text(st, 0), &r) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    int out = rc == SQLITE_DONE ? 0 : fail(q->db, "reading responses", err, errlen);
    sqlite3_finalize(st);
    return out;
}

/* store.h response_chain: one recursive query (prepared per call: a cold
 * conversation is rare next to the cache's hits). */
static int sq_response_chain(struct fg_store *s, const char *id, int64_t now_ms, int max,
                             fg_store_response_cb cb, void *arg, char *err, size_t errlen)
{
    struct sqlite_store *q = (struct sqlite_store *)s;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            q->db,
            "WITH RECURSIVE chain AS (SELECT id, key_id, provider, upstream_id, prev_id, data,"
            " ts_ms, expires_ms, 1 AS depth FROM responses WHERE id = ?1 AND (expires_ms IS NULL OR"
            " expires_ms = 0 OR expires_ms > ?2) UNION ALL SELECT r.id, r.key_id, r.provider,"
            " r.upstream_id, r.prev_id, r.data, r.ts_ms, r.expires_ms, c.depth + 1 FROM responses r"
            " JOIN chain c ON r.id = c.prev_id WHERE c.depth < ?3 AND (r.expires_ms IS NULL OR"
            " r.expires_ms = 0 OR r.expires_ms > ?2)) SELECT id, key_id, provider, upstream_id,"
            " prev_id, data, ts_ms, expires_ms FROM chain ORDER BY depth",
            -1, &st, NULL) != SQLITE_OK)
        return fail(q->db, "reading responses", err, errlen);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int(st, 3, max);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct fg_store_response r = {
            .key_id = (char *)col_text(st, 1),
            .provider = (char *)col_text(st, 2),
            .upstream_id = (char *)col_text(st, 3),
            .prev_id = (char *)col_text(st, 4),
            .data = (char *)col_text(st, 5),
            .ts_ms = sqlite3_column_int64(st, 6),
            .expires_ms = sqlite3_column_int64(st, 7),
        };
        n++;
        if (col_text(st, 0) && cb(arg, col_text(st, 0), &r) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    int out = rc == SQLITE_DONE ? n : fail(q->db, "reading responses", err, errlen);
    sqlite3_finalize(st);
    return out;
}

const struct fg_store_ops fg_store_sqlite = {
    .scheme = "sqlite:",
    .open = sq_open,
    .write = sq_write,
    .scan = sq_scan,
    .close = sq_close,
    .spend_since = sq_spend_since,
    .checkpoint = sq_checkpoint,
    .response_owner = sq_response_owner,
    .response_get = sq_response_get,
    .response_prune = sq_response_prune,
    .rollup = sq_rollup,
    .batch_spend = sq_batch_spend,
    .recent = sq_recent,
    .response_scan = sq_response_scan,
    .response_chain = sq_response_chain,
};
