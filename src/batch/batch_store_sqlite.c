/* batch_store_sqlite.c — the SQLite backend of the batch store
 * (batch_store.h, batch_store_ops.h).  WAL, prepared statements cached per
 * handle (keyed by the SQL text's address: every statement is a string
 * literal of this file). */
#include "batch_store.h"
#include "batch_store_ops.h"

#include "arena.h"
#include "assert.h"
#include "sqlitedb.h"
#include "store_sqlite.h"
#include "vec.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSTMT 80

struct bsq {
    struct fg_batch_store base; /* first: the ops' handle */
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } stmt[NSTMT];
};

static const char *schema =
    "CREATE TABLE IF NOT EXISTS files ("
    " id TEXT PRIMARY KEY, owner TEXT NOT NULL, filename TEXT, purpose TEXT,"
    " bytes INTEGER, created_at INTEGER, expires_at INTEGER, content BLOB,"
    " deleted INTEGER NOT NULL DEFAULT 0);"
    /* an upload's content, streamed in (files.content is NULL then) */
    "CREATE TABLE IF NOT EXISTS file_chunks ("
    " file_id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (file_id, seq));"
    "CREATE TABLE IF NOT EXISTS batches ("
    " id TEXT PRIMARY KEY, owner TEXT NOT NULL, dialect TEXT NOT NULL, endpoint TEXT,"
    " input_file_id TEXT, status TEXT NOT NULL, created_at INTEGER, in_progress_at INTEGER,"
    " finalizing_at INTEGER, completed_at INTEGER, failed_at INTEGER, expired_at INTEGER,"
    " cancelling_at INTEGER, cancelled_at INTEGER, expires_at INTEGER, metadata TEXT,"
    " errors TEXT, tags TEXT, output_file_id TEXT, error_file_id TEXT, total INTEGER,"
    " deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS batch_lines ("
    " batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT, body BLOB,"
    " state TEXT NOT NULL DEFAULT 'pending', job_id TEXT, model TEXT, plan TEXT,"
    " outcome TEXT, status_code INTEGER, result TEXT, request_id TEXT,"
    " in_tokens INTEGER, cached_tokens INTEGER, out_tokens INTEGER,"
    " reasoning_tokens INTEGER, cost_pico INTEGER, hold_pico INTEGER NOT NULL DEFAULT 0,"
    " hold_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (batch_id, idx));"
    "CREATE INDEX IF NOT EXISTS batch_lines_job ON batch_lines(job_id);"
    "CREATE TABLE IF NOT EXISTS batch_jobs ("
    " id TEXT PRIMARY KEY, batch_id TEXT NOT NULL, provider TEXT, dialect TEXT, model TEXT,"
    " remote_id TEXT, remote_file_id TEXT, state TEXT, created_at INTEGER,"
    " next_poll_at INTEGER, polls INTEGER);"
    /* deferred calls' provider batches (batch_defer.h); one process owns a
     * SQLite store, so holder and lease_until are kept only for the shape */
    "CREATE TABLE IF NOT EXISTS defer_jobs ("
    " remote_id TEXT PRIMARY KEY, provider TEXT NOT NULL, dialect TEXT NOT NULL,"
    " endpoint TEXT, model TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'open',"
    " holder TEXT, lease_until INTEGER NOT NULL DEFAULT 0, created_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS defer_lines ("
    " remote_id TEXT NOT NULL, idx INTEGER NOT NULL, call_id TEXT NOT NULL, key_id TEXT,"
    " tags TEXT, model_req TEXT, model TEXT, body_hash TEXT, ts_ms INTEGER,"
    " hold_pico INTEGER NOT NULL DEFAULT 0, hold_at INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL DEFAULT 'open', holder TEXT, hold_until INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (remote_id, idx));"
    "CREATE INDEX IF NOT EXISTS defer_lines_open ON defer_lines(state) WHERE state = 'open';";

/* Columns added after the first release (constant statements; "duplicate
 * column" when already there). */
static const char *const migrations[] = {
    "ALTER TABLE batch_lines ADD COLUMN hold_pico INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE batch_lines ADD COLUMN hold_at INTEGER NOT NULL DEFAULT 0",
};

static int fail(struct bsq *s, const char *what)
{
    snprintf(s->base.err, sizeof s->base.err, "sqlite: %s: %s", what, sqlite3_errmsg(s->db));
    return -1;
}

static sqlite3_stmt *stmt(struct bsq *s, const char *sql)
{
    int i;
    for (i = 0; i < NSTMT && s->stmt[i].sql; i++)
        if (s->stmt[i].sql == sql) {
            sqlite3_reset(s->stmt[i].st);
            sqlite3_clear_bindings(s->stmt[i].st);
            return s->stmt[i].st;
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail(s, "prepare");
        return NULL;
    }
    if (i < NSTMT) {
        s->stmt[i].sql = sql;
        s->stmt[i].st = st;
    }
    return st; /* (cache full cannot happen: fewer statements than slots) */
}

static void sq_close(struct fg_batch_store *base)
{
    struct bsq *s = (struct bsq *)base;
    if (!s)
        return;
    for (int i = 0; i < NSTMT && s->stmt[i].sql; i++)
        sqlite3_finalize(s->stmt[i].st);
    sqlite3_close(s->db);
    free(s);
}

static int sq_open(const char *dsn, struct fg_batch_store **out, char *err, size_t errlen)
{
    FG_ASSERT(strncmp(dsn, "sqlite:", 7) == 0);
    struct bsq *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->base.ops = &fg_batch_store_sqlite;
    if (fg_sqlitedb_open(dsn + 7, schema, FG_SQLITEDB_NO_AUTOCHECKPOINT, &s->db, err, errlen) < 0) {
        sq_close(&s->base);
        return -1;
    }
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++)
        sqlite3_exec(s->db, migrations[i], NULL, NULL, NULL);
    if (fg_store_sqlite_calls_schema(s->db, err, errlen) < 0) {
        sq_close(&s->base);
        return -1;
    }
    *out = &s->base;
    return 0;
}

static void bt(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bt_empty_null(sqlite3_stmt *st, int i, const char *v)
{
    bt(st, i, v && *v ? v : NULL);
}

static void cpy(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", v ? v : "");
}

static char *dup_col(sqlite3_stmt *st, int col, size_t *len)
{
    const void *v = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!v) {
        if (len)
            *len = 0;
        return NULL;
    }
    char *p = malloc((size_t)n + 1);
    if (!p)
        return NULL;
    memcpy(p, v, (size_t)n);
    p[n] = '\0';
    if (len)
        *len = (size_t)n;
    return p;
}

static int done(struct bsq *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(s, what);
}

static int begin(struct bsq *s)
{
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                                 : fail(s, "BEGIN");
}

static int commit(struct bsq *s)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    fail(s, "COMMIT");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int rollback(struct bsq *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ---- files ---------------------------------------------------------- */

static int sq_file_put(struct fg_batch_store *base, const struct fg_bfile *f, const void *data,
                       size_t len)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "INSERT INTO files (id, owner, filename, purpose, bytes, created_at, expires_at, content)"
        " VALUES (?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, f->id);
    bt(st, 2, f->owner);
    bt(st, 3, f->filename);
    bt(st, 4, f->purpose);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)len);
    sqlite3_bind_int64(st, 6, f->created_at);
    if (f->expires_at)
        sqlite3_bind_int64(st, 7, f->expires_at);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_blob64(st, 8, data ? data : "", len, SQLITE_STATIC);
    return done(s, st, "INSERT file");
}

static void read_file_row(sqlite3_stmt *st, struct fg_bfile *f)
{
    memset(f, 0, sizeof *f);
    cpy(f->id, sizeof f->id, st, 0);
    cpy(f->owner, sizeof f->owner, st, 1);
    cpy(f->filename, sizeof f->filename, st, 2);
    cpy(f->purpose, sizeof f->purpose, st, 3);
    f->bytes = sqlite3_column_int64(st, 4);
    f->created_at = sqlite3_column_int64(st, 5);
    f->expires_at = sqlite3_column_int64(st, 6);
}

/* The content of a file stored in chunks (bytes in all), malloc'd and
 * NUL-terminated; NULL after fail(). */
static char *read_chunks(struct bsq *s, const char *id, int64_t bytes)
{
    static const char sql[] = "SELECT data FROM file_chunks WHERE file_id = ? ORDER BY seq";
    sqlite3_stmt *st = stmt(s, sql);
    char *p = st && bytes >= 0 ? malloc((size_t)bytes + 1) : NULL;
    if (!p) {
        if (st)
            snprintf(s->base.err, sizeof s->base.err, "out of memory reading file %s", id);
        return NULL;
    }
    bt(st, 1, id);
    size_t at = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (n > (size_t)bytes - at)
            break;
        memcpy(p + at, sqlite3_column_blob(st, 0), n);
        at += n;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE || at != (size_t)bytes) {
        if (rc == SQLITE_DONE || rc == SQLITE_ROW)
            snprintf(s->base.err, sizeof s->base.err, "file %s: its chunks are not its %lld bytes",
                     id, (long long)bytes);
        else
            fail(s, "SELECT file_chunks");
        free(p);
        return NULL;
    }
    p[at] = '\0';
    return p;
}

static int sq_file_get(struct fg_batch_store *base, const char *id, struct fg_bfile *f, char **data,
                       size_t *len)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql_meta[] =
        "SELECT id, owner, filename, purpose, bytes, created_at, expires_at FROM files"
        " WHERE id = ? AND deleted = 0"
        " AND (expires_at IS NULL OR expires_at > CAST(strftime('%s','now') AS INTEGER))";
    static const char sql_all[] =
        "SELECT id, owner, filename, purpose, bytes, created_at, expires_at, content FROM files"
        " WHERE id = ? AND deleted = 0"
        " AND (expires_at IS NULL OR expires_at > CAST(strftime('%s','now') AS INTEGER))";
    sqlite3_stmt *st = stmt(s, data ? sql_all : sql_meta);
    if (!st)
        return -1;
    bt(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : fail(s, "SELECT file");
    }
    read_file_row(st, f);
    bool chunked = data && sqlite3_column_type(st, 7) == SQLITE_NULL && f->bytes > 0;
    if (data && !chunked)
        *data = dup_col(st, 7, len);
    sqlite3_reset(st);
    if (chunked) { /* streamed in (fg_batch_store_upload_*) */
        if (!(*data = read_chunks(s, id, f->bytes)))
            return -1;
        *len = (size_t)f->bytes;
    }
    if (data && !*data) {
        *data = malloc(1);
        if (*data)
            **data = '\0';
        *len = 0;
    }
    return 1;
}

/* Bytes [off, off+n) of a file stored whole (files.content), read through
 * SQLite's incremental blob I/O: the value is never loaded whole. */
static int read_content(struct bsq *s, int64_t rowid, int64_t off, char **data, size_t *len)
{
    sqlite3_blob *b = NULL;
    if (sqlite3_blob_open(s->db, "main", "files", "content", rowid, 0, &b) != SQLITE_OK) {
        sqlite3_blob_close(b);
        return fail(s, "open file content");
    }
    int size = sqlite3_blob_bytes(b);
    if (off >= size) {
        sqlite3_blob_close(b);
        return 0;
    }
    int n =
        size - (int)off < (int)FG_BATCH_STORE_PIECE ? size - (int)off : (int)FG_BATCH_STORE_PIECE;
    char *p = fg_xmalloc((size_t)n);
    if (sqlite3_blob_read(b, p, n, (int)off) != SQLITE_OK) {
        free(p);
        sqlite3_blob_close(b);
        return fail(s, "read file content");
    }
    sqlite3_blob_close(b);
    *data = p;
    *len = (size_t)n;
    return 1;
}

static int sq_file_piece(struct fg_batch_store *base, const char *id, int64_t seq, char **data,
                         size_t *len)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql_meta[] = "SELECT rowid, content IS NULL FROM files"
                                   " WHERE id = ? AND deleted = 0";
    static const char sql_chunk[] = "SELECT data FROM file_chunks WHERE file_id = ? AND seq = ?";
    sqlite3_stmt *st = stmt(s, sql_meta);
    if (!st)
        return -1;
    bt(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : fail(s, "SELECT file");
    }
    int64_t rowid = sqlite3_column_int64(st, 0);
    bool chunked = sqlite3_column_int(st, 1) != 0;
    sqlite3_reset(st);
    if (!chunked)
        return read_content(s, rowid, seq * (int64_t)FG_BATCH_STORE_PIECE, data, len);
    if (!(st = stmt(s, sql_chunk)))
        return -1;
    bt(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *data = dup_col(st, 0, len);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW && *data && *len)
        return 1;
    if (rc == SQLITE_ROW)
        free(*data);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, "SELECT file_chunks");
}

static int sq_file_delete(struct fg_batch_store *base, const char *id)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "UPDATE files SET deleted = 1, content = NULL WHERE id = ?";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, id);
    return done(s, st, "DELETE file"); /* its chunks: fg_batch_store_chunks_sweep */
}

static int sq_files_expire(struct fg_batch_store *base, int64_t now)
{
    struct bsq *s = (struct bsq *)base;
    /* deleted = 2: an upload whose process died before it ended */
    static const char sql[] = "UPDATE files SET deleted = 1, content = NULL WHERE deleted IN (0, 2)"
                              " AND expires_at IS NOT NULL AND expires_at <= ?";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    if (done(s, st, "UPDATE files expired") < 0)
        return -1;
    return sqlite3_changes(s->db);
}

static int sq_chunks_sweep(struct fg_batch_store *base, int max)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "DELETE FROM file_chunks WHERE rowid IN (SELECT c.rowid FROM files f"
        " JOIN file_chunks c ON c.file_id = f.id WHERE f.deleted IN (1, 3) LIMIT ?)";
    static const char sql_rows[] =
        "DELETE FROM files WHERE deleted = 3"
        " AND NOT EXISTS (SELECT 1 FROM file_chunks WHERE file_id = files.id)";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, max);
    if (done(s, st, "DELETE file_chunks") < 0)
        return -1;
    int n = sqlite3_changes(s->db);
    if (n < max && ((st = stmt(s, sql_rows)) == NULL || done(s, st, "DELETE aborted uploads") < 0))
        return -1;
    return n;
}

/* ---- uploads ---------------------------------------------------------- */

static int sq_upload_begin(struct fg_batch_store *base, const struct fg_bfile *f)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "INSERT INTO files (id, owner, filename, purpose, bytes, created_at, expires_at, content,"
        " deleted) VALUES (?,?,?,?,0,?,?,NULL,2)";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, f->id);
    bt(st, 2, f->owner);
    bt(st, 3, f->filename);
    bt(st, 4, f->purpose);
    sqlite3_bind_int64(st, 5, f->created_at);
    sqlite3_bind_int64(st, 6, f->expires_at);
    return done(s, st, "INSERT upload");
}

static int sq_upload_chunk(struct fg_batch_store *base, const char *id, int64_t seq,
                           const void *data, size_t len)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "INSERT INTO file_chunks (file_id, seq, data) VALUES (?,?,?)";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_blob64(st, 3, len ? data : "", len, SQLITE_STATIC);
    return done(s, st, "INSERT file_chunks");
}

static int sq_upload_commit(struct fg_batch_store *base, const struct fg_bfile *f)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "UPDATE files SET filename = ?, bytes = ?, expires_at = ?,"
                              " deleted = 0 WHERE id = ? AND deleted = 2";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, f->filename);
    sqlite3_bind_int64(st, 2, f->bytes);
    if (f->expires_at)
        sqlite3_bind_int64(st, 3, f->expires_at);
    else
        sqlite3_bind_null(st, 3);
    bt(st, 4, f->id);
    if (done(s, st, "UPDATE upload") < 0)
        return -1;
    if (sqlite3_changes(s->db) != 1) {
        snprintf(s->base.err, sizeof s->base.err, "upload %s: its row is gone", f->id);
        return -1;
    }
    return 0;
}

static int sq_upload_abort(struct fg_batch_store *base, const char *id)
{
    struct bsq *s = (struct bsq *)base;
    /* 3: aborted; the row goes once the sweep has dropped its chunks */
    static const char sql[] = "UPDATE files SET deleted = 3 WHERE id = ? AND deleted = 2";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, id);
    return done(s, st, "UPDATE upload aborted");
}

static int sq_file_list(struct fg_batch_store *base, const char *owner, const char *purpose,
                        const char *after, bool desc, int limit, fg_bfile_cb cb, void *arg)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql_asc[] =
        "SELECT id, owner, filename, purpose, bytes, created_at, expires_at FROM files"
        " WHERE deleted = 0 AND (?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR purpose = ?2)"
        " AND (expires_at IS NULL OR expires_at > CAST(strftime('%s','now') AS INTEGER))"
        " AND (?3 IS NULL OR rowid > (SELECT rowid FROM files WHERE id = ?3))"
        " ORDER BY rowid ASC LIMIT ?4";
    static const char sql_desc[] =
        "SELECT id, owner, filename, purpose, bytes, created_at, expires_at FROM files"
        " WHERE deleted = 0 AND (?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR purpose = ?2)"
        " AND (expires_at IS NULL OR expires_at > CAST(strftime('%s','now') AS INTEGER))"
        " AND (?3 IS NULL OR rowid < (SELECT rowid FROM files WHERE id = ?3))"
        " ORDER BY rowid DESC LIMIT ?4";
    sqlite3_stmt *st = stmt(s, desc ? sql_desc : sql_asc);
    if (!st)
        return -1;
    bt(st, 1, owner);
    bt_empty_null(st, 2, purpose);
    bt_empty_null(st, 3, after);
    sqlite3_bind_int(st, 4, limit);
    int rc;
    struct fg_bfile f;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_file_row(st, &f);
        if (cb(arg, &f))
            break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, "SELECT files");
}

/* Step st to the end, reading each row into a growing array of elem-sized
 * records (rows first, callbacks after: a callback may use the handle, and
 * a statement can't be reset while it is stepped).  0 or -1 (fail()ed). */
typedef void (*row_reader)(sqlite3_stmt *st, void *elem);

static int collect_rows(struct bsq *s, sqlite3_stmt *st, size_t elem, row_reader rd, void **out,
                        size_t *n, const char *what)
{
    size_t cap = 0;
    char *v = NULL;
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = fg_vec_next_cap(cap, cap + 1);
            v = fg_vec_resize(v, cap, elem);
        }
        rd(st, v + (*n)++ * elem);
    }
    sqlite3_reset(st);
    *out = v;
    return rc == SQLITE_DONE ? 0 : fail(s, what);
}

/* ---- batches -------------------------------------------------------- */

static int sq_batch_create(struct fg_batch_store *base, const struct fg_batch *b,
                           const struct fg_bline_in *lines, size_t n)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql_b[] =
        "INSERT INTO batches (id, owner, dialect, endpoint, input_file_id, status, created_at,"
        " in_progress_at, expires_at, metadata, errors, tags, total, failed_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    static const char sql_l[] =
        "INSERT INTO batch_lines (batch_id, idx, custom_id, body) VALUES (?,?,?,?)";
    if (begin(s) < 0)
        return -1;
    sqlite3_stmt *st = stmt(s, sql_b);
    if (!st)
        return rollback(s);
    bt(st, 1, b->id);
    bt(st, 2, b->owner);
    bt(st, 3, b->dialect);
    bt_empty_null(st, 4, b->endpoint);
    bt_empty_null(st, 5, b->input_file_id);
    bt(st, 6, b->status);
    sqlite3_bind_int64(st, 7, b->created_at);
    if (b->in_progress_at)
        sqlite3_bind_int64(st, 8, b->in_progress_at);
    sqlite3_bind_int64(st, 9, b->expires_at);
    bt(st, 10, b->metadata);
    bt(st, 11, b->errors);
    bt(st, 12, b->tags);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)n);
    if (b->failed_at)
        sqlite3_bind_int64(st, 14, b->failed_at);
    if (done(s, st, "INSERT batch") < 0)
        return rollback(s);
    for (size_t i = 0; i < n; i++) {
        st = stmt(s, sql_l);
        if (!st)
            return rollback(s);
        bt(st, 1, b->id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        bt(st, 3, lines[i].custom_id);
        sqlite3_bind_blob64(st, 4, lines[i].body, lines[i].body_len, SQLITE_STATIC);
        if (done(s, st, "INSERT line") < 0)
            return rollback(s);
    }
    return commit(s);
}

/* ---- a batch created in pieces (deleted = 2 while hidden, 3 aborted) -- */

static int sq_batch_begin(struct fg_batch_store *base, const struct fg_batch *b)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "INSERT INTO batches (id, owner, dialect, status, created_at, expires_at, tags, total,"
        " endpoint, input_file_id, metadata, deleted) VALUES (?,?,?,'creating',?,?,?,0,?,?,?,2)";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, b->id);
    bt(st, 2, b->owner);
    bt(st, 3, b->dialect);
    sqlite3_bind_int64(st, 4, b->created_at);
    sqlite3_bind_int64(st, 5, b->expires_at);
    bt(st, 6, b->tags);
    bt_empty_null(st, 7, b->endpoint);
    bt_empty_null(st, 8, b->input_file_id);
    bt(st, 9, b->metadata);
    return done(s, st, "INSERT batch (hidden)");
}

static int sq_batch_add(struct fg_batch_store *base, const char *id, int64_t first,
                        const struct fg_bline_in *lines, size_t n)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "INSERT INTO batch_lines (batch_id, idx, custom_id, body) VALUES (?,?,?,?)";
    if (!n)
        return 0;
    if (begin(s) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(s, sql);
        if (!st)
            return rollback(s);
        bt(st, 1, id);
        sqlite3_bind_int64(st, 2, first + (int64_t)i);
        bt(st, 3, lines[i].custom_id);
        sqlite3_bind_blob64(st, 4, lines[i].body, lines[i].body_len, SQLITE_STATIC);
        if (done(s, st, "INSERT line") < 0)
            return rollback(s);
    }
    return commit(s);
}

static int sq_batch_commit(struct fg_batch_store *base, const struct fg_batch *b)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "UPDATE batches SET status = ?, in_progress_at = ?, expires_at = ?, total = ?,"
        " deleted = 0 WHERE id = ? AND deleted = 2";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, b->status);
    sqlite3_bind_int64(st, 2, b->in_progress_at);
    sqlite3_bind_int64(st, 3, b->expires_at);
    sqlite3_bind_int64(st, 4, b->total);
    bt(st, 5, b->id);
    if (done(s, st, "UPDATE batch (shown)") < 0)
        return -1;
    if (sqlite3_changes(s->db) != 1) {
        snprintf(s->base.err, sizeof s->base.err, "batch %s: its row is gone", b->id);
        return -1;
    }
    return 0;
}

static int sq_batch_abort(struct fg_batch_store *base, const char *id)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "UPDATE batches SET deleted = 3 WHERE id = ? AND deleted = 2";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, id);
    return done(s, st, "UPDATE batch aborted");
}

static int sq_batches_sweep(struct fg_batch_store *base, int max, int64_t now)
{
    struct bsq *s = (struct bsq *)base;
    /* hidden rows whose process never ended them: expires_at is then the
     * request's deadline (batch_begin) */
    static const char sql_stale[] =
        "UPDATE batches SET deleted = 3 WHERE deleted = 2 AND expires_at <= ?";
    static const char sql[] =
        "DELETE FROM batch_lines WHERE rowid IN (SELECT l.rowid FROM batches b"
        " JOIN batch_lines l ON l.batch_id = b.id WHERE b.deleted = 3 LIMIT ?)";
    static const char sql_rows[] =
        "DELETE FROM batches WHERE deleted = 3"
        " AND NOT EXISTS (SELECT 1 FROM batch_lines WHERE batch_id = batches.id)";
    sqlite3_stmt *st = stmt(s, sql_stale);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    if (done(s, st, "UPDATE stale hidden batches") < 0 || !(st = stmt(s, sql)))
        return -1;
    sqlite3_bind_int(st, 1, max);
    if (done(s, st, "DELETE aborted batch lines") < 0)
        return -1;
    int n = sqlite3_changes(s->db);
    if (n < max && ((st = stmt(s, sql_rows)) == NULL || done(s, st, "DELETE aborted batches") < 0))
        return -1;
    return n;
}

#define BATCH_COLS                                                                                 \
    "id, owner, dialect, endpoint, input_file_id, status, created_at, in_progress_at,"             \
    " finalizing_at, completed_at, failed_at, expired_at, cancelling_at, cancelled_at,"            \
    " expires_at, metadata, errors, tags, output_file_id, error_file_id, total, deleted"

static void read_batch_row(sqlite3_stmt *st, struct fg_batch *b)
{
    memset(b, 0, sizeof *b);
    cpy(b->id, sizeof b->id, st, 0);
    cpy(b->owner, sizeof b->owner, st, 1);
    cpy(b->dialect, sizeof b->dialect, st, 2);
    cpy(b->endpoint, sizeof b->endpoint, st, 3);
    cpy(b->input_file_id, sizeof b->input_file_id, st, 4);
    cpy(b->status, sizeof b->status, st, 5);
    int64_t *ts[] = {&b->created_at,    &b->in_progress_at, &b->finalizing_at,
                     &b->completed_at,  &b->failed_at,      &b->expired_at,
                     &b->cancelling_at, &b->cancelled_at,   &b->expires_at};
    for (int i = 0; i < 9; i++)
        *ts[i] = sqlite3_column_int64(st, 6 + i);
    b->metadata = dup_col(st, 15, NULL);
    b->errors = dup_col(st, 16, NULL);
    b->tags = dup_col(st, 17, NULL);
    cpy(b->output_file_id, sizeof b->output_file_id, st, 18);
    cpy(b->error_file_id, sizeof b->error_file_id, st, 19);
    b->total = sqlite3_column_int64(st, 20);
    b->deleted = sqlite3_column_int64(st, 21) != 0;
}

static int batch_counts(struct bsq *s, struct fg_batch *b)
{
    static const char sql[] =
        "SELECT outcome, COUNT(*), SUM(in_tokens), SUM(cached_tokens), SUM(out_tokens),"
        " SUM(reasoning_tokens), SUM(cost_pico) FROM batch_lines"
        " WHERE batch_id = ? AND state = 'done' GROUP BY outcome";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, b->id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        enum fg_line_outcome o =
            fg_batch_store_outcome_parse((const char *)sqlite3_column_text(st, 0));
        int64_t k = sqlite3_column_int64(st, 1);
        int64_t *slot[] = {&b->n_succeeded, &b->n_errored, &b->n_canceled, &b->n_expired};
        *slot[o] += k;
        b->n_done += k;
        b->in_tokens += sqlite3_column_int64(st, 2);
        b->cached_tokens += sqlite3_column_int64(st, 3);
        b->out_tokens += sqlite3_column_int64(st, 4);
        b->reasoning_tokens += sqlite3_column_int64(st, 5);
        b->cost_pico += sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "SELECT counts");
}

static int sq_batch_get(struct fg_batch_store *base, const char *id, struct fg_batch *b)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "SELECT " BATCH_COLS " FROM batches WHERE id = ?";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : fail(s, "SELECT batch");
    }
    read_batch_row(st, b);
    sqlite3_reset(st);
    if (batch_counts(s, b) < 0) {
        fg_batch_store_batch_clear(b);
        return -1;
    }
    return 1;
}

static void read_batch_elem(sqlite3_stmt *st, void *elem)
{
    read_batch_row(st, elem);
}

/* Counts are read after the rows (batch_counts uses the same handle). */
static int batch_rows(struct bsq *s, sqlite3_stmt *st, fg_batch_cb cb, void *arg)
{
    void *p;
    size_t n;
    int ret =
        collect_rows(s, st, sizeof(struct fg_batch), read_batch_elem, &p, &n, "SELECT batches");
    struct fg_batch *v = p;
    bool stop = false;
    for (size_t i = 0; i < n; i++) {
        if (!stop && ret == 0 && batch_counts(s, &v[i]) == 0)
            stop = cb(arg, &v[i]) != 0;
        fg_batch_store_batch_clear(&v[i]);
    }
    free(v);
    return ret;
}

static int sq_batch_list(struct fg_batch_store *base, const char *owner, const char *dialect,
                         const char *after, const char *before, int limit, fg_batch_cb cb,
                         void *arg)
{
    struct bsq *s = (struct bsq *)base;
    /* newest first: "after" continues towards older ones */
    static const char sql[] =
        "SELECT " BATCH_COLS " FROM batches WHERE deleted = 0"
        " AND (?1 IS NULL OR owner = ?1) AND dialect = ?2"
        " AND (?3 IS NULL OR rowid < (SELECT rowid FROM batches WHERE id = ?3))"
        " AND (?4 IS NULL OR rowid > (SELECT rowid FROM batches WHERE id = ?4))"
        " ORDER BY rowid DESC LIMIT ?5";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, owner);
    bt(st, 2, dialect);
    bt_empty_null(st, 3, after);
    bt_empty_null(st, 4, before);
    sqlite3_bind_int(st, 5, limit);
    return batch_rows(s, st, cb, arg);
}

static int sq_batch_active(struct fg_batch_store *base, fg_batch_cb cb, void *arg)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "SELECT " BATCH_COLS " FROM batches WHERE deleted = 0 AND status IN"
        "('validating','in_progress','finalizing','cancelling','expiring') ORDER BY rowid";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    return batch_rows(s, st, cb, arg);
}

static int sq_batch_status(struct fg_batch_store *base, const char *id, const char *status,
                           int64_t now)
{
    struct bsq *s = (struct bsq *)base;
    static const struct {
        const char *status, *sql;
    } upd[] = {
        {"in_progress", "UPDATE batches SET status = ?1, in_progress_at = ?2 WHERE id = ?3"},
        {"finalizing", "UPDATE batches SET status = ?1, finalizing_at = ?2 WHERE id = ?3"},
        {"completed", "UPDATE batches SET status = ?1, completed_at = ?2 WHERE id = ?3"},
        {"failed", "UPDATE batches SET status = ?1, failed_at = ?2 WHERE id = ?3"},
        {"expired", "UPDATE batches SET status = ?1, expired_at = ?2 WHERE id = ?3"},
        {"expiring", "UPDATE batches SET status = ?1, expired_at = ?2 WHERE id = ?3"},
        {"cancelling", "UPDATE batches SET status = ?1, cancelling_at = ?2 WHERE id = ?3"},
        {"cancelled", "UPDATE batches SET status = ?1, cancelled_at = ?2 WHERE id = ?3"},
    };
    for (size_t i = 0; i < sizeof upd / sizeof upd[0]; i++) {
        if (strcmp(upd[i].status, status))
            continue;
        sqlite3_stmt *st = stmt(s, upd[i].sql);
        if (!st)
            return -1;
        bt(st, 1, status);
        sqlite3_bind_int64(st, 2, now);
        bt(st, 3, id);
        return done(s, st, "UPDATE batch");
    }
    snprintf(s->base.err, sizeof s->base.err, "unknown batch status '%s'", status);
    return -1;
}

static int sq_batch_files(struct fg_batch_store *base, const char *id, const char *output_file_id,
                          const char *error_file_id)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "UPDATE batches SET output_file_id = ?, error_file_id = ? WHERE id = ?";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt_empty_null(st, 1, output_file_id);
    bt_empty_null(st, 2, error_file_id);
    bt(st, 3, id);
    return done(s, st, "UPDATE batch files");
}

static int sq_batch_delete(struct fg_batch_store *base, const char *id)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "UPDATE batches SET deleted = 1 WHERE id = ?";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, id);
    return done(s, st, "DELETE batch");
}

/* ---- lines ---------------------------------------------------------- */

#define LINE_COLS                                                                                  \
    "idx, custom_id, body, state, job_id, model, plan, outcome, status_code, result,"              \
    " request_id, hold_pico, hold_at"

static void read_line_row(sqlite3_stmt *st, struct fg_bline *l)
{
    memset(l, 0, sizeof *l);
    l->idx = sqlite3_column_int64(st, 0);
    cpy(l->custom_id, sizeof l->custom_id, st, 1);
    l->body = dup_col(st, 2, &l->body_len);
    cpy(l->state, sizeof l->state, st, 3);
    cpy(l->job_id, sizeof l->job_id, st, 4);
    cpy(l->model, sizeof l->model, st, 5);
    l->plan = dup_col(st, 6, NULL);
    l->outcome = fg_batch_store_outcome_parse((const char *)sqlite3_column_text(st, 7));
    l->status_code = sqlite3_column_int(st, 8);
    l->result = dup_col(st, 9, NULL);
    cpy(l->request_id, sizeof l->request_id, st, 10);
    l->hold_pico = sqlite3_column_int64(st, 11);
    l->hold_at = sqlite3_column_int64(st, 12);
}

static void read_line_elem(sqlite3_stmt *st, void *elem)
{
    read_line_row(st, elem);
}

static int line_rows(struct bsq *s, sqlite3_stmt *st, fg_bline_cb cb, void *arg)
{
    void *p;
    size_t n;
    int ret = collect_rows(s, st, sizeof(struct fg_bline), read_line_elem, &p, &n, "SELECT lines");
    struct fg_bline *v = p;
    bool stop = false;
    for (size_t i = 0; i < n; i++) {
        if (!stop && ret == 0)
            stop = cb(arg, &v[i]) != 0;
        fg_batch_store_line_clear(&v[i]);
    }
    free(v);
    return ret;
}

static int sq_lines(struct fg_batch_store *base, const char *batch_id, const char *state,
                    int64_t from, int limit, fg_bline_cb cb, void *arg)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "SELECT " LINE_COLS " FROM batch_lines WHERE batch_id = ?1"
                              " AND (?2 IS NULL OR state = ?2) AND idx >= ?3 ORDER BY idx LIMIT ?4";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, batch_id);
    bt(st, 2, state);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int(st, 4, limit);
    return line_rows(s, st, cb, arg);
}

static int sq_planned(struct fg_batch_store *base, const char *batch_id, bool local, int64_t from,
                      int limit, fg_bline_cb cb, void *arg)
{
    struct bsq *s = (struct bsq *)base;
    /* plans are compact JSON written by the pipeline (batch_plan.c) */
    static const char sql_local[] =
        "SELECT " LINE_COLS " FROM batch_lines WHERE batch_id = ?1 AND state = 'planned'"
        " AND plan LIKE '%\"batch\":\"local\"%' AND idx >= ?2 ORDER BY idx LIMIT ?3";
    static const char sql_remote[] =
        "SELECT " LINE_COLS " FROM batch_lines WHERE batch_id = ?1 AND state = 'planned'"
        " AND plan NOT LIKE '%\"batch\":\"local\"%' AND idx >= ?2 ORDER BY idx LIMIT ?3";
    sqlite3_stmt *st = stmt(s, local ? sql_local : sql_remote);
    if (!st)
        return -1;
    bt(st, 1, batch_id);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int(st, 3, limit);
    return line_rows(s, st, cb, arg);
}

static int sq_job_lines(struct fg_batch_store *base, const char *job_id, fg_bline_cb cb, void *arg)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "SELECT " LINE_COLS " FROM batch_lines WHERE job_id = ? ORDER BY idx";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, job_id);
    return line_rows(s, st, cb, arg);
}

static int sq_line_plan(struct fg_batch_store *base, const char *batch_id, int64_t idx,
                        const char *model, const char *plan)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "UPDATE batch_lines SET state = 'planned', model = ?, plan = ?"
                              " WHERE batch_id = ? AND idx = ? AND state = 'pending'";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, model);
    bt(st, 2, plan);
    bt(st, 3, batch_id);
    sqlite3_bind_int64(st, 4, idx);
    return done(s, st, "UPDATE line plan");
}

static int sq_lines_done(struct fg_batch_store *base, const char *batch_id,
                         const struct fg_bline_done *d, size_t n, struct fg_record *const *recs,
                         size_t nrecs)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "UPDATE batch_lines SET state = 'done', outcome = ?, status_code = ?, result = ?,"
        " request_id = ?, in_tokens = ?, cached_tokens = ?, out_tokens = ?,"
        " reasoning_tokens = ?, cost_pico = ?, plan = NULL, hold_pico = 0"
        " WHERE batch_id = ? AND idx = ? AND state != 'done'";
    if (begin(s) < 0)
        return -1;
    bool *fresh = fg_xcalloc(n ? n : 1, sizeof *fresh);
    struct fg_record **kept = fg_xcalloc(nrecs ? nrecs : 1, sizeof *kept);
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(s, sql);
        if (!st)
            goto bad;
        bt(st, 1, fg_batch_store_outcome_name(d[i].outcome));
        if (d[i].status_code)
            sqlite3_bind_int(st, 2, d[i].status_code);
        bt(st, 3, d[i].result);
        bt_empty_null(st, 4, d[i].request_id);
        sqlite3_bind_int64(st, 5, d[i].in_tokens);
        sqlite3_bind_int64(st, 6, d[i].cached_tokens);
        sqlite3_bind_int64(st, 7, d[i].out_tokens);
        sqlite3_bind_int64(st, 8, d[i].reasoning_tokens);
        sqlite3_bind_int64(st, 9, d[i].cost_pico);
        bt(st, 10, batch_id);
        sqlite3_bind_int64(st, 11, d[i].idx);
        if (done(s, st, "UPDATE line done") < 0)
            goto bad;
        fresh[i] = sqlite3_changes(s->db) > 0;
    }
    char err[256];
    size_t nk = fg_batch_store_recs_fresh(d, n, fresh, recs, nrecs, kept);
    if (nk && !s->base.calls_elsewhere &&
        fg_store_sqlite_calls_insert(s->db, kept, nk, err, sizeof err) < 0) {
        snprintf(s->base.err, sizeof s->base.err, "%s", err);
        goto bad;
    }
    free(fresh);
    free(kept);
    return commit(s);
bad:
    free(fresh);
    free(kept);
    return rollback(s);
}

static int sq_line_replan(struct fg_batch_store *base, const char *batch_id, int64_t idx,
                          const char *plan, struct fg_record *const *recs, size_t nrecs)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "UPDATE batch_lines SET state = 'planned', job_id = NULL, plan = ?, hold_pico = 0,"
        " hold_at = 0 WHERE batch_id = ? AND idx = ? AND state = 'submitted'";
    if (begin(s) < 0)
        return -1;
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return rollback(s);
    bt(st, 1, plan);
    bt(st, 2, batch_id);
    sqlite3_bind_int64(st, 3, idx);
    if (done(s, st, "UPDATE line replan") < 0)
        return rollback(s);
    char err[256];
    if (nrecs && !s->base.calls_elsewhere &&
        fg_store_sqlite_calls_insert(s->db, recs, nrecs, err, sizeof err) < 0) {
        snprintf(s->base.err, sizeof s->base.err, "%s", err);
        return rollback(s);
    }
    return commit(s);
}

static int sq_lines_finish_rest(struct fg_batch_store *base, const char *batch_id,
                                enum fg_line_outcome outcome)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "UPDATE batch_lines SET state = 'done', outcome = ?, plan = NULL, hold_pico = 0"
        " WHERE batch_id = ? AND state != 'done'";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, fg_batch_store_outcome_name(outcome));
    bt(st, 2, batch_id);
    if (done(s, st, "UPDATE lines rest") < 0)
        return -1;
    return sqlite3_changes(s->db);
}

static int64_t sq_lines_count(struct fg_batch_store *base, const char *batch_id, const char *state)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "SELECT COUNT(*) FROM batch_lines WHERE batch_id = ?1 AND (?2 IS NULL OR state = ?2)";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, batch_id);
    bt(st, 2, state);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return n;
}

static int64_t sq_planned_held(struct fg_batch_store *base, const char *batch_id)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "SELECT COUNT(*) FROM batch_lines WHERE batch_id = ? AND state = 'planned'"
        " AND hold_at > 0";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, batch_id);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    return n < 0 ? fail(s, "SELECT held lines") : n;
}

static int sq_lines_hold(struct fg_batch_store *base, const char *batch_id, const int64_t *idx,
                         const int64_t *amount, size_t n, int64_t at_ms)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "UPDATE batch_lines SET hold_pico = ?, hold_at = ? WHERE batch_id = ? AND idx = ?"
        " AND state = 'planned' AND hold_at = 0";
    if (begin(s) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(s, sql);
        if (!st)
            return rollback(s);
        sqlite3_bind_int64(st, 1, amount[i]);
        sqlite3_bind_int64(st, 2, at_ms);
        bt(st, 3, batch_id);
        sqlite3_bind_int64(st, 4, idx[i]);
        if (done(s, st, "UPDATE line hold") < 0)
            return rollback(s);
        if (sqlite3_changes(s->db) != 1) {
            /* the executor is the only writer of planned lines: a line
             * that moved under it is a bug, and its hold must not be lost */
            snprintf(s->base.err, sizeof s->base.err, "line %lld of %s is no longer planned",
                     (long long)idx[i], batch_id);
            return rollback(s);
        }
    }
    return commit(s);
}

static void read_hold_elem(sqlite3_stmt *st, void *elem)
{
    struct fg_bhold *h = elem;
    memset(h, 0, sizeof *h);
    cpy(h->batch_id, sizeof h->batch_id, st, 0);
    h->idx = sqlite3_column_int64(st, 1);
    h->hold_pico = sqlite3_column_int64(st, 2);
    h->hold_at = sqlite3_column_int64(st, 3);
    cpy(h->owner, sizeof h->owner, st, 4);
    h->tags = dup_col(st, 5, NULL);
}

static int sq_holds(struct fg_batch_store *base, const char *batch_id, fg_bhold_cb cb, void *arg)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "SELECT l.batch_id, l.idx, l.hold_pico, l.hold_at, b.owner, b.tags"
        " FROM batch_lines l JOIN batches b ON b.id = l.batch_id"
        " WHERE l.state != 'done' AND l.hold_pico > 0 AND (?1 IS NULL OR l.batch_id = ?1)"
        " UNION ALL SELECT remote_id, idx, hold_pico, hold_at, key_id, tags FROM defer_lines"
        " WHERE ?1 IS NULL AND state = 'open' AND hold_pico > 0"
        " ORDER BY 1, 2";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, batch_id);
    void *p;
    size_t n;
    int ret = collect_rows(s, st, sizeof(struct fg_bhold), read_hold_elem, &p, &n, "SELECT holds");
    struct fg_bhold *v = p;
    bool stop = false;
    for (size_t i = 0; i < n; i++) {
        if (!stop && ret == 0)
            stop = cb(arg, &v[i]) != 0;
        free(v[i].tags);
    }
    free(v);
    return ret;
}

/* ---- jobs ------------------------------------------------------------ */

static int sq_job_create(struct fg_batch_store *base, const struct fg_bjob *j, const int64_t *idx,
                         size_t n)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql_j[] =
        "INSERT INTO batch_jobs (id, batch_id, provider, dialect, model, remote_id,"
        " remote_file_id, state, created_at, next_poll_at, polls) VALUES (?,?,?,?,?,?,?,?,?,?,0)";
    static const char sql_l[] =
        "UPDATE batch_lines SET state = 'submitted', job_id = ? WHERE batch_id = ? AND idx = ?"
        " AND state = 'planned'";
    if (begin(s) < 0)
        return -1;
    sqlite3_stmt *st = stmt(s, sql_j);
    if (!st)
        return rollback(s);
    bt(st, 1, j->id);
    bt(st, 2, j->batch_id);
    bt(st, 3, j->provider);
    bt(st, 4, j->dialect);
    bt(st, 5, j->model);
    bt_empty_null(st, 6, j->remote_id);
    bt_empty_null(st, 7, j->remote_file_id);
    bt(st, 8, j->state);
    sqlite3_bind_int64(st, 9, j->created_at);
    sqlite3_bind_int64(st, 10, j->next_poll_at);
    if (done(s, st, "INSERT job") < 0)
        return rollback(s);
    for (size_t i = 0; i < n; i++) {
        st = stmt(s, sql_l);
        if (!st)
            return rollback(s);
        bt(st, 1, j->id);
        bt(st, 2, j->batch_id);
        sqlite3_bind_int64(st, 3, idx[i]);
        if (done(s, st, "UPDATE line job") < 0)
            return rollback(s);
    }
    return commit(s);
}

static int sq_job_update(struct fg_batch_store *base, const struct fg_bjob *j)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "UPDATE batch_jobs SET remote_id = ?, remote_file_id = ?, state = ?, next_poll_at = ?,"
        " polls = ? WHERE id = ?";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt_empty_null(st, 1, j->remote_id);
    bt_empty_null(st, 2, j->remote_file_id);
    bt(st, 3, j->state);
    sqlite3_bind_int64(st, 4, j->next_poll_at);
    sqlite3_bind_int(st, 5, j->polls);
    bt(st, 6, j->id);
    return done(s, st, "UPDATE job");
}

static void read_job_elem(sqlite3_stmt *st, void *elem)
{
    struct fg_bjob *j = elem;
    memset(j, 0, sizeof *j);
    cpy(j->id, sizeof j->id, st, 0);
    cpy(j->batch_id, sizeof j->batch_id, st, 1);
    cpy(j->provider, sizeof j->provider, st, 2);
    cpy(j->dialect, sizeof j->dialect, st, 3);
    cpy(j->model, sizeof j->model, st, 4);
    cpy(j->remote_id, sizeof j->remote_id, st, 5);
    cpy(j->remote_file_id, sizeof j->remote_file_id, st, 6);
    cpy(j->state, sizeof j->state, st, 7);
    j->created_at = sqlite3_column_int64(st, 8);
    j->next_poll_at = sqlite3_column_int64(st, 9);
    j->polls = sqlite3_column_int(st, 10);
}

static int sq_jobs(struct fg_batch_store *base, const char *batch_id, fg_bjob_cb cb, void *arg)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "SELECT id, batch_id, provider, dialect, model, remote_id, remote_file_id, state,"
        " created_at, next_poll_at, polls FROM batch_jobs WHERE batch_id = ? AND state != 'done'"
        " ORDER BY rowid";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, batch_id);
    void *p;
    size_t n;
    int ret = collect_rows(s, st, sizeof(struct fg_bjob), read_job_elem, &p, &n, "SELECT jobs");
    struct fg_bjob *v = p;
    for (size_t i = 0; ret == 0 && i < n; i++)
        if (cb(arg, &v[i]))
            break;
    free(v);
    return ret;
}

static int sq_job_release(struct fg_batch_store *base, const char *job_id)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql_l[] =
        "UPDATE batch_lines SET state = 'planned', job_id = NULL WHERE job_id = ?"
        " AND state = 'submitted'";
    static const char sql_j[] = "UPDATE batch_jobs SET state = 'done' WHERE id = ?";
    if (begin(s) < 0)
        return -1;
    sqlite3_stmt *st = stmt(s, sql_l);
    if (!st)
        return rollback(s);
    bt(st, 1, job_id);
    if (done(s, st, "UPDATE lines release") < 0)
        return rollback(s);
    st = stmt(s, sql_j);
    if (!st)
        return rollback(s);
    bt(st, 1, job_id);
    if (done(s, st, "UPDATE job release") < 0)
        return rollback(s);
    return commit(s);
}

/* ---- deferred calls' provider batches --------------------------------- */

static int sq_defer_add(struct fg_batch_store *base, const struct fg_djob *j,
                        const struct fg_dline *l, size_t n, const char *me, int64_t lease_ms)
{
    (void)lease_ms; /* one process: no lease to run out */
    struct bsq *s = (struct bsq *)base;
    static const char sql_j[] =
        "INSERT INTO defer_jobs (remote_id, provider, dialect, endpoint, model, holder,"
        " created_at) VALUES (?,?,?,?,?,?,strftime('%s','now'))";
    static const char sql_l[] =
        "INSERT INTO defer_lines (remote_id, idx, call_id, key_id, tags, model_req, model,"
        " body_hash, ts_ms, hold_pico, hold_at, holder, hold_until)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (begin(s) < 0)
        return -1;
    sqlite3_stmt *st = stmt(s, sql_j);
    if (!st)
        return rollback(s);
    bt(st, 1, j->remote_id);
    bt(st, 2, j->provider);
    bt(st, 3, j->dialect);
    bt(st, 4, j->endpoint);
    bt(st, 5, j->model);
    bt(st, 6, me);
    if (done(s, st, "INSERT defer job") < 0)
        return rollback(s);
    for (size_t i = 0; i < n; i++) {
        if (!(st = stmt(s, sql_l)))
            return rollback(s);
        bt(st, 1, j->remote_id);
        sqlite3_bind_int64(st, 2, l[i].idx);
        bt(st, 3, l[i].call_id);
        bt(st, 4, l[i].key_id);
        bt(st, 5, l[i].tags);
        bt(st, 6, l[i].model_req);
        bt(st, 7, l[i].model);
        bt(st, 8, l[i].body_hash);
        sqlite3_bind_int64(st, 9, l[i].ts_ms);
        sqlite3_bind_int64(st, 10, l[i].hold_pico);
        sqlite3_bind_int64(st, 11, l[i].hold_at);
        bt(st, 12, me);
        sqlite3_bind_int64(st, 13, l[i].hold_until);
        if (done(s, st, "INSERT defer line") < 0)
            return rollback(s);
    }
    return commit(s);
}

static void read_djob_elem(sqlite3_stmt *st, void *elem)
{
    struct fg_djob *j = elem;
    cpy(j->remote_id, sizeof j->remote_id, st, 0);
    cpy(j->provider, sizeof j->provider, st, 1);
    cpy(j->dialect, sizeof j->dialect, st, 2);
    cpy(j->endpoint, sizeof j->endpoint, st, 3);
    cpy(j->model, sizeof j->model, st, 4);
}

static int sq_defer_claim(struct fg_batch_store *base, const char *me, int64_t lease_ms,
                          fg_djob_cb cb, void *arg)
{
    (void)me;
    (void)lease_ms; /* one process owns the store: every open job is its */
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "SELECT remote_id, provider, dialect, endpoint, model FROM defer_jobs"
                              " WHERE state = 'open' ORDER BY rowid";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    void *p;
    size_t n;
    int ret =
        collect_rows(s, st, sizeof(struct fg_djob), read_djob_elem, &p, &n, "SELECT defer jobs");
    struct fg_djob *v = p;
    for (size_t i = 0; i < n && ret == 0; i++)
        if (cb(arg, &v[i]) != 0)
            break;
    free(v);
    return ret;
}

static void read_dline_elem(sqlite3_stmt *st, void *elem)
{
    struct fg_dline *l = elem;
    l->idx = sqlite3_column_int64(st, 0);
    cpy(l->call_id, sizeof l->call_id, st, 1);
    l->key_id = dup_col(st, 2, NULL);
    l->tags = dup_col(st, 3, NULL);
    l->model_req = dup_col(st, 4, NULL);
    cpy(l->model, sizeof l->model, st, 5);
    cpy(l->body_hash, sizeof l->body_hash, st, 6);
    l->ts_ms = sqlite3_column_int64(st, 7);
    l->hold_pico = sqlite3_column_int64(st, 8);
    l->hold_at = sqlite3_column_int64(st, 9);
}

static int sq_defer_lines(struct fg_batch_store *base, const char *remote_id, fg_dline_cb cb,
                          void *arg)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] =
        "SELECT idx, call_id, key_id, tags, model_req, model, body_hash, ts_ms, hold_pico,"
        " hold_at FROM defer_lines WHERE remote_id = ? AND state = 'open' ORDER BY idx";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, remote_id);
    void *p;
    size_t n;
    int ret =
        collect_rows(s, st, sizeof(struct fg_dline), read_dline_elem, &p, &n, "SELECT defer lines");
    struct fg_dline *v = p;
    bool stop = false;
    for (size_t i = 0; i < n; i++) {
        if (!stop && ret == 0)
            stop = cb(arg, &v[i]) != 0;
        free((char *)v[i].key_id);
        free((char *)v[i].tags);
        free((char *)v[i].model_req);
    }
    free(v);
    return ret;
}

static int sq_defer_line_end(struct fg_batch_store *base, const char *remote_id, int64_t idx)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "UPDATE defer_lines SET state = 'done', hold_pico = 0"
                              " WHERE remote_id = ? AND idx = ? AND state = 'open'";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, remote_id);
    sqlite3_bind_int64(st, 2, idx);
    if (done(s, st, "UPDATE defer line") < 0)
        return -1;
    return sqlite3_changes(s->db) > 0;
}

static int sq_defer_job_end(struct fg_batch_store *base, const char *remote_id)
{
    struct bsq *s = (struct bsq *)base;
    static const char sql[] = "UPDATE defer_jobs SET state = 'done' WHERE remote_id = ?";
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return -1;
    bt(st, 1, remote_id);
    return done(s, st, "UPDATE defer job");
}

static int sq_defer_release(struct fg_batch_store *base, const char *me)
{
    (void)base;
    (void)me; /* no leases in a store one process owns */
    return 0;
}

const struct fg_batch_store_ops fg_batch_store_sqlite = {
    .scheme = "sqlite:",
    .open = sq_open,
    .close = sq_close,
    .file_put = sq_file_put,
    .file_get = sq_file_get,
    .file_piece = sq_file_piece,
    .file_delete = sq_file_delete,
    .files_expire = sq_files_expire,
    .chunks_sweep = sq_chunks_sweep,
    .upload_begin = sq_upload_begin,
    .upload_chunk = sq_upload_chunk,
    .upload_commit = sq_upload_commit,
    .upload_abort = sq_upload_abort,
    .file_list = sq_file_list,
    .batch_create = sq_batch_create,
    .batch_begin = sq_batch_begin,
    .batch_add = sq_batch_add,
    .batch_commit = sq_batch_commit,
    .batch_abort = sq_batch_abort,
    .batches_sweep = sq_batches_sweep,
    .batch_get = sq_batch_get,
    .batch_list = sq_batch_list,
    .batch_active = sq_batch_active,
    .batch_status = sq_batch_status,
    .batch_files = sq_batch_files,
    .batch_delete = sq_batch_delete,
    .lines = sq_lines,
    .planned = sq_planned,
    .job_lines = sq_job_lines,
    .line_plan = sq_line_plan,
    .lines_done = sq_lines_done,
    .line_replan = sq_line_replan,
    .lines_finish_rest = sq_lines_finish_rest,
    .lines_count = sq_lines_count,
    .planned_held = sq_planned_held,
    .lines_hold = sq_lines_hold,
    .holds = sq_holds,
    .job_create = sq_job_create,
    .job_update = sq_job_update,
    .jobs = sq_jobs,
    .job_release = sq_job_release,
    .defer_add = sq_defer_add,
    .defer_claim = sq_defer_claim,
    .defer_lines = sq_defer_lines,
    .defer_line_end = sq_defer_line_end,
    .defer_job_end = sq_defer_job_end,
    .defer_release = sq_defer_release,
};
