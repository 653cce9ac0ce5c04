/* batch_store_pg.c — the Postgres backend of the batch store (batch_store.h,
 * batch_store_ops.h): files (their bytes too, content or 1 MiB chunk rows
 * as bytea), batches, lines and provider jobs in one database that every
 * replica shares, so a file uploaded through one replica is read through
 * any other.
 *
 * Schema: numbered migrations (pgdb.h; component "batches") below.  The
 * SQLite backend orders files, batches and jobs by rowid; here a bigserial
 * `seq` column keeps the same order (insertion order).
 *
 * Statements: PQexecParams with every value a parameter (SQL text is
 * constant); numbers travel as text, bytea as binary parameters; bytea
 * columns are read in binary results (single-column queries) or unescaped
 * from text.  A lost connection is reconnected once at the next operation
 * (the operation that saw it fails: its transaction was rolled back).
 *
 * Ledger records: when the ledger is in this same database (storage and
 * batches.storage one DSN, the default), a line's records are inserted
 * into the ledger's `calls` table (store_pg.c's, partitioned by month,
 * with its rollups: fg_store_pg_calls_insert) in the transaction that
 * writes the line's result, as the SQLite backend does: a replica killed
 * after the commit leaves both, before it neither (the line is run again
 * by whoever takes the batch over).  When the ledger is elsewhere
 * (fg_batch_store_calls_elsewhere) the executor hands them to the ledger
 * after the commit (a kill in between loses them). */
#include "batch_store.h"
#include "batch_store_ops.h"

#include "assert.h"
#include "arena.h"
#include "batch_store_pg.h"
#include "pgdb.h"
#include "store_pg.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct fg_pgdb_migration migrations[] = {
    {1, "batches 1: files, chunks, batches, lines, jobs",
     "CREATE TABLE files ("
     " id text PRIMARY KEY, seq bigserial, owner text NOT NULL, filename text, purpose text,"
     " bytes bigint, created_at bigint, expires_at bigint, content bytea,"
     " deleted int NOT NULL DEFAULT 0);"
     "CREATE INDEX files_seq ON files (seq);"
     "CREATE TABLE file_chunks ("
     " file_id text NOT NULL, seq bigint NOT NULL, data bytea NOT NULL,"
     " PRIMARY KEY (file_id, seq));"
     "CREATE TABLE batches ("
     " id text PRIMARY KEY, seq bigserial, owner text NOT NULL, dialect text NOT NULL,"
     " endpoint text, input_file_id text, status text NOT NULL, created_at bigint,"
     " in_progress_at bigint, finalizing_at bigint, completed_at bigint, failed_at bigint,"
     " expired_at bigint, cancelling_at bigint, cancelled_at bigint, expires_at bigint,"
     " metadata text, errors text, tags text, output_file_id text, error_file_id text,"
     " total bigint, deleted int NOT NULL DEFAULT 0);"
     "CREATE INDEX batches_seq ON batches (seq);"
     "CREATE TABLE batch_lines ("
     " batch_id text NOT NULL, idx bigint NOT NULL, custom_id text, body bytea,"
     " state text NOT NULL DEFAULT 'pending', job_id text, model text, plan text,"
     " outcome text, status_code int, result text, request_id text, in_tokens bigint,"
     " cached_tokens bigint, out_tokens bigint, reasoning_tokens bigint, cost_pico bigint,"
     " hold_pico bigint NOT NULL DEFAULT 0, hold_at bigint NOT NULL DEFAULT 0,"
     " PRIMARY KEY (batch_id, idx));"
     "CREATE INDEX batch_lines_job ON batch_lines (job_id);"
     "CREATE TABLE batch_jobs ("
     " id text PRIMARY KEY, seq bigserial, batch_id text NOT NULL, provider text, dialect text,"
     " model text, remote_id text, remote_file_id text, state text, created_at bigint,"
     " next_poll_at bigint, polls int);"
     "CREATE INDEX batch_jobs_batch ON batch_jobs (batch_id, seq);"},
    /* the replica working on a batch, until when (ms, the server's clock) */
    {2, "batches 2: leases",
     "ALTER TABLE batches ADD COLUMN lease_owner text,"
     " ADD COLUMN lease_until bigint NOT NULL DEFAULT 0;"},
    /* batches created in pieces: hidden (deleted = 2) and aborted (3) rows,
     * found by fg_batch_store_batches_sweep without a scan of every batch */
    {3, "batches 3: hidden batches",
     "CREATE INDEX batches_hidden ON batches (expires_at) WHERE deleted IN (2, 3);"},
    /* a local-mode line claimed by the replica running it, until when (ms,
     * the server's clock); claim_owner stays on a done line (who ran it) */
    {4, "batches 4: line claims",
     "ALTER TABLE batch_lines ADD COLUMN claim_owner text,"
     " ADD COLUMN claim_until bigint NOT NULL DEFAULT 0;"
     "CREATE INDEX batch_lines_claimed ON batch_lines (claim_owner) WHERE state = 'planned';"},
    /* deferred calls' provider batches (batch_defer.h): a job held by one
     * replica at a time (holder, lease_until: ms, the server's clock), its
     * lines open until one process answers or records them */
    {5, "batches 5: deferred calls' provider batches",
     "CREATE TABLE defer_jobs ("
     " remote_id text PRIMARY KEY, seq bigserial, provider text NOT NULL, dialect text NOT NULL,"
     " endpoint text, model text NOT NULL, state text NOT NULL DEFAULT 'open', holder text,"
     " lease_until bigint NOT NULL DEFAULT 0, created_at bigint);"
     "CREATE INDEX defer_jobs_open ON defer_jobs (seq) WHERE state = 'open';"
     "CREATE TABLE defer_lines ("
     " remote_id text NOT NULL, idx bigint NOT NULL, call_id text NOT NULL, key_id text,"
     " tags text, model_req text, model text, body_hash text, ts_ms bigint,"
     " hold_pico bigint NOT NULL DEFAULT 0, hold_at bigint NOT NULL DEFAULT 0,"
     " state text NOT NULL DEFAULT 'open', holder text, hold_until bigint NOT NULL DEFAULT 0,"
     " result bytea, PRIMARY KEY (remote_id, idx));"
     "CREATE INDEX defer_lines_open ON defer_lines (state) WHERE state = 'open';"
     "CREATE INDEX defer_lines_answered ON defer_lines (holder) WHERE state = 'answered';"
     /* replicas alive (renewed with their leases): an answer is handed to
      * a line's holder only while it lives */
     "CREATE TABLE defer_replicas (me text PRIMARY KEY, alive_until bigint NOT NULL);"},
};

#define MAXP 16

struct bpg {
    struct fg_batch_store base; /* first: the ops' handle */
    PGconn *c;
};

/* One statement's parameters: text or binary values, numbers printed into
 * num.  Strings are borrowed from the caller for the statement's time. */
struct params {
    const char *v[MAXP];
    int len[MAXP], fmt[MAXP];
    char num[MAXP][24];
    int n;
};

static void p_text(struct params *p, const char *v)
{
    FG_ASSERT(p->n < MAXP);
    p->v[p->n] = v;
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

static void p_text_empty_null(struct params *p, const char *v)
{
    p_text(p, v && *v ? v : NULL);
}

static void p_int(struct params *p, int64_t v)
{
    FG_ASSERT(p->n < MAXP);
    snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, v);
    p_text(p, p->num[p->n]);
}

static void p_bin(struct params *p, const void *v, size_t len)
{
    FG_ASSERT(p->n < MAXP && len <= INT32_MAX);
    p->v[p->n] = v ? v : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n++] = 1;
}

static int fail(struct bpg *s, const PGresult *r, const char *what)
{
    return fg_pgdb_fail(s->c, r, what, s->base.err, sizeof s->base.err);
}

/* The connection was lost by an earlier operation: one reset. */
static int ready(struct bpg *s)
{
    if (!fg_pgdb_lost(s->c))
        return 0;
    PQreset(s->c);
    return PQstatus(s->c) == CONNECTION_OK ? 0 : fail(s, NULL, "reconnecting");
}

/* Run sql; the result when its status is the expected one (caller
 * PQclear()s it), else NULL after fail(). */
static PGresult *run(struct bpg *s, const char *sql, struct params *p, int binary_result,
                     const char *what)
{
    if (ready(s) < 0)
        return NULL;
    PGresult *r = PQexecParams(s->c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
                               p ? p->fmt : NULL, binary_result);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    fail(s, r, what);
    PQclear(r);
    return NULL;
}

/* A statement without rows: rows changed (>= 0), or -1. */
static int64_t cmd(struct bpg *s, const char *sql, struct params *p, const char *what)
{
    PGresult *r = run(s, sql, p, 0, what);
    if (!r)
        return -1;
    int64_t n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return n;
}

static int begin(struct bpg *s)
{
    return cmd(s, "BEGIN", NULL, "BEGIN") < 0 ? -1 : 0;
}

static int commit(struct bpg *s)
{
    if (cmd(s, "COMMIT", NULL, "COMMIT") >= 0)
        return 0;
    PQclear(PQexec(s->c, "ROLLBACK"));
    return -1;
}

static int rollback(struct bpg *s)
{
    PQclear(PQexec(s->c, "ROLLBACK"));
    return -1;
}

static const char *val(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int64_t num(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void cpy(char *dst, size_t n, const PGresult *r, int row, int col)
{
    const char *v = val(r, row, col);
    snprintf(dst, n, "%s", v ? v : "");
}

static char *dup_text(const PGresult *r, int row, int col)
{
    const char *v = val(r, row, col);
    return v ? fg_xstrdup(v) : NULL;
}

/* A bytea column of a text result, unescaped into a malloc'd NUL-ended
 * copy (NULL for SQL NULL). */
static char *dup_bytea(const PGresult *r, int row, int col, size_t *len)
{
    if (len)
        *len = 0;
    const char *v = val(r, row, col);
    if (!v)
        return NULL;
    size_t n;
    unsigned char *u = PQunescapeBytea((const unsigned char *)v, &n);
    if (!u)
        return NULL;
    char *p = fg_xcalloc(1, n + 1);
    memcpy(p, u, n);
    PQfreemem(u);
    if (len)
        *len = n;
    return p;
}

/* ---- open / close ---- */

static void pg_close(struct fg_batch_store *base)
{
    struct bpg *s = (struct bpg *)base;
    PQfinish(s->c);
    free(s);
}

static int pg_open(const char *dsn, struct fg_batch_store **out, char *err, size_t errlen)
{
    struct bpg *s = fg_xcalloc(1, sizeof *s);
    s->base.ops = &fg_batch_store_pg;
    int pending;
    if (fg_pgdb_connect(dsn, &s->c, err, errlen) < 0 ||
        fg_pgdb_migrate(s->c, "batches", migrations, sizeof migrations / sizeof migrations[0], true,
                        &pending, err, errlen) < 0) {
        pg_close(&s->base);
        return -1;
    }
    *out = &s->base;
    return 0;
}

int fg_batch_store_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen)
{
    PGconn *c;
    if (fg_pgdb_connect(dsn, &c, err, errlen) < 0)
        return -1;
    int rc = fg_pgdb_migrate(c, "batches", migrations, sizeof migrations / sizeof migrations[0],
                             apply, pending, err, errlen);
    PQfinish(c);
    return rc;
}

/* ---- files ---- */

static int pg_file_put(struct fg_batch_store *base, const struct fg_bfile *f, const void *data,
                       size_t len)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, f->id);
    p_text(&p, f->owner);
    p_text(&p, f->filename);
    p_text(&p, f->purpose);
    p_int(&p, (int64_t)len);
    p_int(&p, f->created_at);
    if (f->expires_at)
        p_int(&p, f->expires_at);
    else
        p_text(&p, NULL);
    p_bin(&p, data, len);
    return cmd(s,
               "INSERT INTO files (id, owner, filename, purpose, bytes, created_at, expires_at,"
               " content) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
               &p, "INSERT file") < 0
               ? -1
               : 0;
}

#define FILE_COLS "id, owner, filename, purpose, bytes, created_at, expires_at"
#define NOW_S "extract(epoch from now())::bigint"

static void read_file_row(const PGresult *r, int row, struct fg_bfile *f)
{
    memset(f, 0, sizeof *f);
    cpy(f->id, sizeof f->id, r, row, 0);
    cpy(f->owner, sizeof f->owner, r, row, 1);
    cpy(f->filename, sizeof f->filename, r, row, 2);
    cpy(f->purpose, sizeof f->purpose, r, row, 3);
    f->bytes = num(r, row, 4);
    f->created_at = num(r, row, 5);
    f->expires_at = num(r, row, 6);
}

/* The file's bytes (content, or its chunks in order) read in binary, into
 * a malloc'd NUL-ended buffer of f->bytes; NULL after fail(). */
static char *read_content(struct bpg *s, const struct fg_bfile *f)
{
    struct params p = {0};
    p_text(&p, f->id);
    PGresult *r = run(s,
                      "SELECT data FROM (SELECT -1::bigint AS seq, content AS data FROM files"
                      " WHERE id = $1 AND content IS NOT NULL UNION ALL"
                      " SELECT seq, data FROM file_chunks WHERE file_id = $1) c ORDER BY seq",
                      &p, 1, "SELECT file content");
    if (!r)
        return NULL;
    char *buf = fg_xcalloc(1, (size_t)f->bytes + 1);
    size_t at = 0;
    bool ok = true;
    for (int i = 0; ok && i < PQntuples(r); i++) {
        size_t n = (size_t)PQgetlength(r, i, 0);
        if (n > (size_t)f->bytes - at)
            ok = false;
        else {
            memcpy(buf + at, PQgetvalue(r, i, 0), n);
            at += n;
        }
    }
    PQclear(r);
    if (!ok || at != (size_t)f->bytes) {
        snprintf(s->base.err, sizeof s->base.err, "file %s: its content is not its %lld bytes",
                 f->id, (long long)f->bytes);
        free(buf);
        return NULL;
    }
    return buf;
}

static int pg_file_get(struct fg_batch_store *base, const char *id, struct fg_bfile *f, char **data,
                       size_t *len)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, id);
    PGresult *r = run(s,
                      "SELECT " FILE_COLS " FROM files WHERE id = $1 AND deleted = 0"
                      " AND (expires_at IS NULL OR expires_at > " NOW_S ")",
                      &p, 0, "SELECT file");
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        read_file_row(r, 0, f);
    PQclear(r);
    if (!found || !data)
        return found;
    if (!(*data = read_content(s, f)))
        return -1;
    *len = (size_t)f->bytes;
    return 1;
}

/* Piece seq of a file (batch_store.h): a chunk row of a streamed upload,
 * or FG_BATCH_STORE_PIECE bytes of content stored whole, cut by
 * substring() on the server so only the piece travels. */
static int pg_file_piece(struct fg_batch_store *base, const char *id, int64_t seq, char **data,
                         size_t *len)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, id);
    PGresult *r = run(s, "SELECT content IS NULL FROM files WHERE id = $1 AND deleted = 0", &p, 0,
                      "SELECT file");
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    bool chunked = found && !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    if (!found || seq < 0)
        return 0;
    struct params q = {0};
    p_text(&q, id);
    if (chunked) {
        p_int(&q, seq);
        r = run(s, "SELECT data FROM file_chunks WHERE file_id = $1 AND seq = $2", &q, 1,
                "SELECT file_chunks");
    } else {
        /* substring() counts from 1 in int4: past its range is past the
         * end of any bytea (1 GB at most) */
        int64_t off = seq * (int64_t)FG_BATCH_STORE_PIECE;
        if (seq > INT32_MAX / (int64_t)FG_BATCH_STORE_PIECE)
            return 0;
        p_int(&q, off + 1);
        p_int(&q, (int64_t)FG_BATCH_STORE_PIECE);
        r = run(s, "SELECT substring(content FROM $2::int FOR $3::int) FROM files WHERE id = $1",
                &q, 1, "SELECT file content");
    }
    if (!r)
        return -1;
    int n = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetlength(r, 0, 0) : 0;
    if (n > 0) {
        *data = fg_xmalloc((size_t)n);
        memcpy(*data, PQgetvalue(r, 0, 0), (size_t)n);
        *len = (size_t)n;
    }
    PQclear(r);
    return n > 0;
}

static int pg_file_delete(struct fg_batch_store *base, const char *id)
{
    struct params p = {0};
    p_text(&p, id);
    return cmd((struct bpg *)base, "UPDATE files SET deleted = 1, content = NULL WHERE id = $1", &p,
               "DELETE file") < 0
               ? -1
               : 0;
}

static int pg_files_expire(struct fg_batch_store *base, int64_t now)
{
    /* deleted = 2: an upload whose process died before it ended */
    struct params p = {0};
    p_int(&p, now);
    return (int)cmd((struct bpg *)base,
                    "UPDATE files SET deleted = 1, content = NULL WHERE deleted IN (0, 2)"
                    " AND expires_at IS NOT NULL AND expires_at <= $1",
                    &p, "UPDATE files expired");
}

static int pg_chunks_sweep(struct fg_batch_store *base, int max)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_int(&p, max);
    int64_t n = cmd(s,
                    "DELETE FROM file_chunks WHERE (file_id, seq) IN (SELECT c.file_id, c.seq"
                    " FROM files f JOIN file_chunks c ON c.file_id = f.id"
                    " WHERE f.deleted IN (1, 3) LIMIT $1)",
                    &p, "DELETE file_chunks");
    if (n < 0)
        return -1;
    if (n < max && cmd(s,
                       "DELETE FROM files WHERE deleted = 3 AND NOT EXISTS"
                       " (SELECT 1 FROM file_chunks WHERE file_id = files.id)",
                       NULL, "DELETE aborted uploads") < 0)
        return -1;
    return (int)n;
}

static int pg_upload_begin(struct fg_batch_store *base, const struct fg_bfile *f)
{
    struct params p = {0};
    p_text(&p, f->id);
    p_text(&p, f->owner);
    p_text(&p, f->filename);
    p_text(&p, f->purpose);
    p_int(&p, f->created_at);
    p_int(&p, f->expires_at);
    return cmd((struct bpg *)base,
               "INSERT INTO files (id, owner, filename, purpose, bytes, created_at, expires_at,"
               " content, deleted) VALUES ($1,$2,$3,$4,0,$5,$6,NULL,2)",
               &p, "INSERT upload") < 0
               ? -1
               : 0;
}

static int pg_upload_chunk(struct fg_batch_store *base, const char *id, int64_t seq,
                           const void *data, size_t len)
{
    struct params p = {0};
    p_text(&p, id);
    p_int(&p, seq);
    p_bin(&p, data, len);
    return cmd((struct bpg *)base, "INSERT INTO file_chunks (file_id, seq, data) VALUES ($1,$2,$3)",
               &p, "INSERT file_chunks") < 0
               ? -1
               : 0;
}

static int pg_upload_commit(struct fg_batch_store *base, const struct fg_bfile *f)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, f->filename);
    p_int(&p, f->bytes);
    if (f->expires_at)
        p_int(&p, f->expires_at);
    else
        p_text(&p, NULL);
    p_text(&p, f->id);
    int64_t n = cmd(s,
                    "UPDATE files SET filename = $1, bytes = $2, expires_at = $3, deleted = 0"
                    " WHERE id = $4 AND deleted = 2",
                    &p, "UPDATE upload");
    if (n < 0)
        return -1;
    if (n != 1) {
        snprintf(s->base.err, sizeof s->base.err, "upload %s: its row is gone", f->id);
        return -1;
    }
    return 0;
}

static int pg_upload_abort(struct fg_batch_store *base, const char *id)
{
    /* 3: aborted; the row goes once the sweep has dropped its chunks */
    struct params p = {0};
    p_text(&p, id);
    return cmd((struct bpg *)base, "UPDATE files SET deleted = 3 WHERE id = $1 AND deleted = 2", &p,
               "UPDATE upload aborted") < 0
               ? -1
               : 0;
}

static int pg_file_list(struct fg_batch_store *base, const char *owner, const char *purpose,
                        const char *after, bool desc, int limit, fg_bfile_cb cb, void *arg)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, owner);
    p_text_empty_null(&p, purpose);
    p_text_empty_null(&p, after);
    p_int(&p, limit);
#define FILE_LIST(CMP, ORDER)                                                                      \
    "SELECT " FILE_COLS " FROM files WHERE deleted = 0 AND ($1::text IS NULL OR owner = $1)"       \
    " AND ($2::text IS NULL OR purpose = $2)"                                                      \
    " AND (expires_at IS NULL OR expires_at > " NOW_S ")"                                          \
    " AND ($3::text IS NULL OR seq " CMP " (SELECT seq FROM files WHERE id = $3))"                 \
    " ORDER BY seq " ORDER " LIMIT $4"
    PGresult *r =
        run(s, desc ? FILE_LIST("<", "DESC") : FILE_LIST(">", "ASC"), &p, 0, "SELECT files");
#undef FILE_LIST
    if (!r)
        return -1;
    struct fg_bfile f;
    for (int i = 0; i < PQntuples(r); i++) {
        read_file_row(r, i, &f);
        if (cb(arg, &f))
            break;
    }
    PQclear(r);
    return 0;
}

/* ---- batches ---- */

static int pg_batch_create(struct fg_batch_store *base, const struct fg_batch *b,
                           const struct fg_bline_in *lines, size_t n)
{
    struct bpg *s = (struct bpg *)base;
    if (begin(s) < 0)
        return -1;
    struct params p = {0};
    p_text(&p, b->id);
    p_text(&p, b->owner);
    p_text(&p, b->dialect);
    p_text_empty_null(&p, b->endpoint);
    p_text_empty_null(&p, b->input_file_id);
    p_text(&p, b->status);
    p_int(&p, b->created_at);
    if (b->in_progress_at)
        p_int(&p, b->in_progress_at);
    else
        p_text(&p, NULL);
    p_int(&p, b->expires_at);
    p_text(&p, b->metadata);
    p_text(&p, b->errors);
    p_text(&p, b->tags);
    p_int(&p, (int64_t)n);
    if (b->failed_at)
        p_int(&p, b->failed_at);
    else
        p_text(&p, NULL);
    if (cmd(s,
            "INSERT INTO batches (id, owner, dialect, endpoint, input_file_id, status,"
            " created_at, in_progress_at, expires_at, metadata, errors, tags, total, failed_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
            &p, "INSERT batch") < 0)
        return rollback(s);
    for (size_t i = 0; i < n; i++) {
        struct params q = {0};
        p_text(&q, b->id);
        p_int(&q, (int64_t)i);
        p_text(&q, lines[i].custom_id);
        p_bin(&q, lines[i].body, lines[i].body_len);
        if (cmd(s, "INSERT INTO batch_lines (batch_id, idx, custom_id, body) VALUES ($1,$2,$3,$4)",
                &q, "INSERT line") < 0)
            return rollback(s);
    }
    return commit(s);
}

/* ---- a batch created in pieces (deleted = 2 while hidden, 3 aborted) -- */

static int pg_batch_begin(struct fg_batch_store *base, const struct fg_batch *b)
{
    struct params p = {0};
    p_text(&p, b->id);
    p_text(&p, b->owner);
    p_text(&p, b->dialect);
    p_int(&p, b->created_at);
    p_int(&p, b->expires_at);
    p_text(&p, b->tags);
    p_text_empty_null(&p, b->endpoint);
    p_text_empty_null(&p, b->input_file_id);
    p_text(&p, b->metadata);
    return cmd((struct bpg *)base,
               "INSERT INTO batches (id, owner, dialect, status, created_at, expires_at, tags,"
               " total, endpoint, input_file_id, metadata, deleted)"
               " VALUES ($1,$2,$3,'creating',$4,$5,$6,0,$7,$8,$9,2)",
               &p, "INSERT batch (hidden)") < 0
               ? -1
               : 0;
}

static int pg_batch_add(struct fg_batch_store *base, const char *id, int64_t first,
                        const struct fg_bline_in *lines, size_t n)
{
    struct bpg *s = (struct bpg *)base;
    if (!n)
        return 0;
    if (begin(s) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct params q = {0};
        p_text(&q, id);
        p_int(&q, first + (int64_t)i);
        p_text(&q, lines[i].custom_id);
        p_bin(&q, lines[i].body, lines[i].body_len);
        if (cmd(s, "INSERT INTO batch_lines (batch_id, idx, custom_id, body) VALUES ($1,$2,$3,$4)",
                &q, "INSERT line") < 0)
            return rollback(s);
    }
    return commit(s);
}

static int pg_batch_commit(struct fg_batch_store *base, const struct fg_batch *b)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, b->status);
    if (b->in_progress_at)
        p_int(&p, b->in_progress_at);
    else
        p_text(&p, NULL);
    p_int(&p, b->expires_at);
    p_int(&p, b->total);
    p_text(&p, b->id);
    int64_t n = cmd(s,
                    "UPDATE batches SET status = $1, in_progress_at = $2, expires_at = $3,"
                    " total = $4, deleted = 0 WHERE id = $5 AND deleted = 2",
                    &p, "UPDATE batch (shown)");
    if (n < 0)
        return -1;
    if (n != 1) {
        snprintf(s->base.err, sizeof s->base.err, "batch %s: its row is gone", b->id);
        return -1;
    }
    return 0;
}

static int pg_batch_abort(struct fg_batch_store *base, const char *id)
{
    struct params p = {0};
    p_text(&p, id);
    return cmd((struct bpg *)base, "UPDATE batches SET deleted = 3 WHERE id = $1 AND deleted = 2",
               &p, "UPDATE batch aborted") < 0
               ? -1
               : 0;
}

static int pg_batches_sweep(struct fg_batch_store *base, int max, int64_t now)
{
    struct bpg *s = (struct bpg *)base;
    /* hidden rows whose process never ended them: expires_at is then the
     * request's deadline (batch_begin) */
    struct params p = {0};
    p_int(&p, now);
    if (cmd(s, "UPDATE batches SET deleted = 3 WHERE deleted = 2 AND expires_at <= $1", &p,
            "UPDATE stale hidden batches") < 0)
        return -1;
    struct params q = {0};
    p_int(&q, max);
    int64_t n = cmd(s,
                    "DELETE FROM batch_lines WHERE (batch_id, idx) IN (SELECT l.batch_id, l.idx"
                    " FROM batches b JOIN batch_lines l ON l.batch_id = b.id"
                    " WHERE b.deleted = 3 LIMIT $1)",
                    &q, "DELETE aborted batch lines");
    if (n < 0)
        return -1;
    if (n < max && cmd(s,
                       "DELETE FROM batches WHERE deleted = 3 AND NOT EXISTS"
                       " (SELECT 1 FROM batch_lines WHERE batch_id = batches.id)",
                       NULL, "DELETE aborted batches") < 0)
        return -1;
    return (int)n;
}

#define BATCH_COLS                                                                                 \
    "id, owner, dialect, endpoint, input_file_id, status, created_at, in_progress_at,"             \
    " finalizing_at, completed_at, failed_at, expired_at, cancelling_at, cancelled_at,"            \
    " expires_at, metadata, errors, tags, output_file_id, error_file_id, total, deleted"

static void read_batch_row(const PGresult *r, int row, struct fg_batch *b)
{
    memset(b, 0, sizeof *b);
    cpy(b->id, sizeof b->id, r, row, 0);
    cpy(b->owner, sizeof b->owner, r, row, 1);
    cpy(b->dialect, sizeof b->dialect, r, row, 2);
    cpy(b->endpoint, sizeof b->endpoint, r, row, 3);
    cpy(b->input_file_id, sizeof b->input_file_id, r, row, 4);
    cpy(b->status, sizeof b->status, r, row, 5);
    int64_t *ts[] = {&b->created_at,    &b->in_progress_at, &b->finalizing_at,
                     &b->completed_at,  &b->failed_at,      &b->expired_at,
                     &b->cancelling_at, &b->cancelled_at,   &b->expires_at};
    for (int i = 0; i < 9; i++)
        *ts[i] = num(r, row, 6 + i);
    b->metadata = dup_text(r, row, 15);
    b->errors = dup_text(r, row, 16);
    b->tags = dup_text(r, row, 17);
    cpy(b->output_file_id, sizeof b->output_file_id, r, row, 18);
    cpy(b->error_file_id, sizeof b->error_file_id, r, row, 19);
    b->total = num(r, row, 20);
    b->deleted = num(r, row, 21) != 0;
}

static int batch_counts(struct bpg *s, struct fg_batch *b)
{
    struct params p = {0};
    p_text(&p, b->id);
    PGresult *r = run(s,
                      "SELECT outcome, COUNT(*), SUM(in_tokens), SUM(cached_tokens),"
                      " SUM(out_tokens), SUM(reasoning_tokens), SUM(cost_pico) FROM batch_lines"
                      " WHERE batch_id = $1 AND state = 'done' GROUP BY outcome",
                      &p, 0, "SELECT counts");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        enum fg_line_outcome o = fg_batch_store_outcome_parse(val(r, i, 0));
        int64_t k = num(r, i, 1);
        int64_t *slot[] = {&b->n_succeeded, &b->n_errored, &b->n_canceled, &b->n_expired};
        *slot[o] += k;
        b->n_done += k;
        b->in_tokens += num(r, i, 2);
        b->cached_tokens += num(r, i, 3);
        b->out_tokens += num(r, i, 4);
        b->reasoning_tokens += num(r, i, 5);
        b->cost_pico += num(r, i, 6);
    }
    PQclear(r);
    return 0;
}

static int pg_batch_get(struct fg_batch_store *base, const char *id, struct fg_batch *b)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, id);
    PGresult *r = run(s, "SELECT " BATCH_COLS " FROM batches WHERE id = $1", &p, 0, "SELECT batch");
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        read_batch_row(r, 0, b);
    PQclear(r);
    if (found && batch_counts(s, b) < 0) {
        fg_batch_store_batch_clear(b);
        return -1;
    }
    return found;
}

/* Rows first, counts and callbacks after (a callback may use the handle). */
static int batch_rows(struct bpg *s, PGresult *r, fg_batch_cb cb, void *arg)
{
    if (!r)
        return -1;
    int n = PQntuples(r);
    struct fg_batch *v = fg_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++)
        read_batch_row(r, i, &v[i]);
    PQclear(r);
    int ret = 0;
    bool stop = false;
    for (int i = 0; i < n; i++) {
        if (!stop && ret == 0) {
            if (batch_counts(s, &v[i]) < 0)
                ret = -1;
            else
                stop = cb(arg, &v[i]) != 0;
        }
        fg_batch_store_batch_clear(&v[i]);
    }
    free(v);
    return ret;
}

static int pg_batch_list(struct fg_batch_store *base, const char *owner, const char *dialect,
                         const char *after, const char *before, int limit, fg_batch_cb cb,
                         void *arg)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, owner);
    p_text(&p, dialect);
    p_text_empty_null(&p, after);
    p_text_empty_null(&p, before);
    p_int(&p, limit);
    /* newest first: "after" continues towards older ones */
    return batch_rows(s,
                      run(s,
                          "SELECT " BATCH_COLS " FROM batches WHERE deleted = 0"
                          " AND ($1::text IS NULL OR owner = $1) AND dialect = $2"
                          " AND ($3::text IS NULL OR seq < (SELECT seq FROM batches WHERE id = $3))"
                          " AND ($4::text IS NULL OR seq > (SELECT seq FROM batches WHERE id = $4))"
                          " ORDER BY seq DESC LIMIT $5",
                          &p, 0, "SELECT batches"),
                      cb, arg);
}

static int pg_batch_active(struct fg_batch_store *base, fg_batch_cb cb, void *arg)
{
    struct bpg *s = (struct bpg *)base;
    return batch_rows(s,
                      run(s,
                          "SELECT " BATCH_COLS " FROM batches WHERE deleted = 0 AND status IN"
                          " ('validating',"
                          "'in_progress','finalizing','cancelling','expiring') ORDER BY seq",
                          NULL, 0, "SELECT batches"),
                      cb, arg);
}

static int pg_batch_status(struct fg_batch_store *base, const char *id, const char *status,
                           int64_t now)
{
    static const struct {
        const char *status, *sql;
    } upd[] = {
        {"in_progress", "UPDATE batches SET status = $1, in_progress_at = $2 WHERE id = $3"},
        {"finalizing", "UPDATE batches SET status = $1, finalizing_at = $2 WHERE id = $3"},
        {"completed", "UPDATE batches SET status = $1, completed_at = $2 WHERE id = $3"},
        {"failed", "UPDATE batches SET status = $1, failed_at = $2 WHERE id = $3"},
        {"expired", "UPDATE batches SET status = $1, expired_at = $2 WHERE id = $3"},
        {"expiring", "UPDATE batches SET status = $1, expired_at = $2 WHERE id = $3"},
        {"cancelling", "UPDATE batches SET status = $1, cancelling_at = $2 WHERE id = $3"},
        {"cancelled", "UPDATE batches SET status = $1, cancelled_at = $2 WHERE id = $3"},
    };
    struct bpg *s = (struct bpg *)base;
    for (size_t i = 0; i < sizeof upd / sizeof upd[0]; i++) {
        if (strcmp(upd[i].status, status))
            continue;
        struct params p = {0};
        p_text(&p, status);
        p_int(&p, now);
        p_text(&p, id);
        return cmd(s, upd[i].sql, &p, "UPDATE batch") < 0 ? -1 : 0;
    }
    snprintf(s->base.err, sizeof s->base.err, "unknown batch status '%s'", status);
    return -1;
}

static int pg_batch_files(struct fg_batch_store *base, const char *id, const char *output_file_id,
                          const char *error_file_id)
{
    struct params p = {0};
    p_text_empty_null(&p, output_file_id);
    p_text_empty_null(&p, error_file_id);
    p_text(&p, id);
    return cmd((struct bpg *)base,
               "UPDATE batches SET output_file_id = $1, error_file_id = $2 WHERE id = $3", &p,
               "UPDATE batch files") < 0
               ? -1
               : 0;
}

static int pg_batch_delete(struct fg_batch_store *base, const char *id)
{
    struct params p = {0};
    p_text(&p, id);
    return cmd((struct bpg *)base, "UPDATE batches SET deleted = 1 WHERE id = $1", &p,
               "DELETE batch") < 0
               ? -1
               : 0;
}

/* ---- lines ---- */

#define LINE_COLS                                                                                  \
    "idx, custom_id, body, state, job_id, model, plan, outcome, status_code, result,"              \
    " request_id, hold_pico, hold_at"

static void read_line_row(const PGresult *r, int row, struct fg_bline *l)
{
    memset(l, 0, sizeof *l);
    l->idx = num(r, row, 0);
    cpy(l->custom_id, sizeof l->custom_id, r, row, 1);
    l->body = dup_bytea(r, row, 2, &l->body_len);
    cpy(l->state, sizeof l->state, r, row, 3);
    cpy(l->job_id, sizeof l->job_id, r, row, 4);
    cpy(l->model, sizeof l->model, r, row, 5);
    l->plan = dup_text(r, row, 6);
    l->outcome = fg_batch_store_outcome_parse(val(r, row, 7));
    l->status_code = (int)num(r, row, 8);
    l->result = dup_text(r, row, 9);
    cpy(l->request_id, sizeof l->request_id, r, row, 10);
    l->hold_pico = num(r, row, 11);
    l->hold_at = num(r, row, 12);
}

static int line_rows(PGresult *r, fg_bline_cb cb, void *arg)
{
    if (!r)
        return -1;
    int n = PQntuples(r);
    struct fg_bline *v = fg_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++)
        read_line_row(r, i, &v[i]);
    PQclear(r);
    bool stop = false;
    for (int i = 0; i < n; i++) {
        if (!stop)
            stop = cb(arg, &v[i]) != 0;
        fg_batch_store_line_clear(&v[i]);
    }
    free(v);
    return 0;
}

static int pg_lines(struct fg_batch_store *base, const char *batch_id, const char *state,
                    int64_t from, int limit, fg_bline_cb cb, void *arg)
{
    struct params p = {0};
    p_text(&p, batch_id);
    p_text(&p, state);
    p_int(&p, from);
    p_int(&p, limit);
    return line_rows(run((struct bpg *)base,
                         "SELECT " LINE_COLS " FROM batch_lines WHERE batch_id = $1"
                         " AND ($2::text IS NULL OR state = $2) AND idx >= $3 ORDER BY idx"
                         " LIMIT $4",
                         &p, 0, "SELECT lines"),
                     cb, arg);
}

static int pg_planned(struct fg_batch_store *base, const char *batch_id, bool local, int64_t from,
                      int limit, fg_bline_cb cb, void *arg)
{
    /* plans are compact JSON written by the pipeline (batch_plan.c) */
    struct params p = {0};
    p_text(&p, batch_id);
    p_int(&p, from);
    p_int(&p, limit);
#define PLANNED(NOT)                                                                               \
    "SELECT " LINE_COLS " FROM batch_lines WHERE batch_id = $1 AND state = 'planned'"              \
    " AND plan " NOT " LIKE '%\"batch\":\"local\"%' AND idx >= $2 ORDER BY idx LIMIT $3"
    return line_rows(
        run((struct bpg *)base, local ? PLANNED("") : PLANNED("NOT"), &p, 0, "SELECT planned"), cb,
        arg);
#undef PLANNED
}

/* Planned local lines from `from` on, not claimed by another replica (or
 * whose claim ran out), claimed for `me`: FOR UPDATE SKIP LOCKED, so two
 * replicas claiming at once take different lines, never wait. */
static int pg_lines_claim(struct fg_batch_store *base, const char *batch_id, const char *me,
                          int64_t from, int limit, int64_t lease_ms, fg_bline_cb cb, void *arg)
{
    struct params p = {0};
    p_text(&p, batch_id);
    p_text(&p, me);
    p_int(&p, from);
    p_int(&p, limit);
    p_int(&p, lease_ms);
    return line_rows(
        run((struct bpg *)base,
            "WITH now AS (SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS ms),"
            " c AS (SELECT idx AS cidx FROM batch_lines, now WHERE batch_id = $1"
            " AND state = 'planned' AND plan LIKE '%\"batch\":\"local\"%' AND idx >= $3"
            " AND (claim_owner IS NULL OR claim_owner = $2 OR claim_until < now.ms)"
            " ORDER BY idx LIMIT $4 FOR UPDATE OF batch_lines SKIP LOCKED),"
            " u AS (UPDATE batch_lines SET claim_owner = $2, claim_until = now.ms + $5"
            " FROM c, now WHERE batch_id = $1 AND idx = c.cidx RETURNING " LINE_COLS ")"
            " SELECT * FROM u ORDER BY idx",
            &p, 0, "UPDATE line claims"),
        cb, arg);
}

static int pg_job_lines(struct fg_batch_store *base, const char *job_id, fg_bline_cb cb, void *arg)
{
    struct params p = {0};
    p_text(&p, job_id);
    return line_rows(run((struct bpg *)base,
                         "SELECT " LINE_COLS " FROM batch_lines WHERE job_id = $1 ORDER BY idx", &p,
                         0, "SELECT job lines"),
                     cb, arg);
}

static int pg_line_plan(struct fg_batch_store *base, const char *batch_id, int64_t idx,
                        const char *model, const char *plan)
{
    struct params p = {0};
    p_text(&p, model);
    p_text(&p, plan);
    p_text(&p, batch_id);
    p_int(&p, idx);
    return cmd((struct bpg *)base,
               "UPDATE batch_lines SET state = 'planned', model = $1, plan = $2"
               " WHERE batch_id = $3 AND idx = $4 AND state = 'pending'",
               &p, "UPDATE line plan") < 0
               ? -1
               : 0;
}

/* Before the transaction: the ledger partitions the records need (their
 * own short transactions), when the records are written here. */
static int recs_prepare(struct bpg *s, struct fg_record *const *recs, size_t nrecs)
{
    if (!nrecs || s->base.calls_elsewhere)
        return 0;
    if (ready(s) < 0)
        return -1;
    return fg_store_pg_calls_partitions(s->c, recs, nrecs, s->base.err, sizeof s->base.err);
}

/* Inside the transaction: the records' calls rows (see the header). */
static int recs_insert(struct bpg *s, struct fg_record *const *recs, size_t nrecs)
{
    if (!nrecs || s->base.calls_elsewhere)
        return 0;
    return fg_store_pg_calls_insert(s->c, recs, nrecs, s->base.err, sizeof s->base.err);
}

/* A test-only fault (FRUGAL_TEST_KILL_AFTER_LINES=1): the process is killed
 * right after a commit of lines that carried ledger records, the window
 * the e2e test pgbatch.test.mjs needs to hit deterministically. */
static void test_kill_point(size_t nrecs)
{
    const char *e = getenv("FRUGAL_TEST_KILL_AFTER_LINES");
    if (nrecs && e && !strcmp(e, "1"))
        raise(SIGKILL);
}

static int pg_lines_done(struct fg_batch_store *base, const char *batch_id,
                         const struct fg_bline_done *d, size_t n, struct fg_record *const *recs,
                         size_t nrecs)
{
    struct bpg *s = (struct bpg *)base;
    if (recs_prepare(s, recs, nrecs) < 0 || begin(s) < 0)
        return -1;
    bool *fresh = fg_xcalloc(n ? n : 1, sizeof *fresh);
    struct fg_record **kept = fg_xcalloc(nrecs ? nrecs : 1, sizeof *kept);
    for (size_t i = 0; i < n; i++) {
        struct params p = {0};
        p_text(&p, fg_batch_store_outcome_name(d[i].outcome));
        if (d[i].status_code)
            p_int(&p, d[i].status_code);
        else
            p_text(&p, NULL);
        p_text(&p, d[i].result);
        p_text_empty_null(&p, d[i].request_id);
        p_int(&p, d[i].in_tokens);
        p_int(&p, d[i].cached_tokens);
        p_int(&p, d[i].out_tokens);
        p_int(&p, d[i].reasoning_tokens);
        p_int(&p, d[i].cost_pico);
        p_text(&p, batch_id);
        p_int(&p, d[i].idx);
        int64_t changed = cmd(s,
                              "UPDATE batch_lines SET state = 'done', outcome = $1,"
                              " status_code = $2, result = $3, request_id = $4, in_tokens = $5,"
                              " cached_tokens = $6, out_tokens = $7, reasoning_tokens = $8,"
                              " cost_pico = $9, plan = NULL, hold_pico = 0"
                              " WHERE batch_id = $10 AND idx = $11 AND state != 'done'",
                              &p, "UPDATE line done");
        if (changed < 0)
            goto bad;
        fresh[i] = changed > 0;
    }
    size_t nk = fg_batch_store_recs_fresh(d, n, fresh, recs, nrecs, kept);
    if (recs_insert(s, kept, nk) < 0)
        goto bad;
    free(fresh);
    free(kept);
    if (commit(s) < 0)
        return -1;
    test_kill_point(nrecs);
    return 0;
bad:
    free(fresh);
    free(kept);
    return rollback(s);
}

static int pg_line_replan(struct fg_batch_store *base, const char *batch_id, int64_t idx,
                          const char *plan, struct fg_record *const *recs, size_t nrecs)
{
    struct bpg *s = (struct bpg *)base;
    struct params p = {0};
    p_text(&p, plan);
    p_text(&p, batch_id);
    p_int(&p, idx);
    if (recs_prepare(s, recs, nrecs) < 0 || begin(s) < 0)
        return -1;
    if (cmd(s,
            "UPDATE batch_lines SET state = 'planned', job_id = NULL, plan = $1,"
            " hold_pico = 0, hold_at = 0 WHERE batch_id = $2 AND idx = $3"
            " AND state = 'submitted'",
            &p, "UPDATE line replan") < 0 ||
        recs_insert(s, recs, nrecs) < 0)
        return rollback(s);
    return commit(s);
}

static int pg_lines_finish_rest(struct fg_batch_store *base, const char *batch_id,
                                enum fg_line_outcome outcome)
{
    struct params p = {0};
    p_text(&p, fg_batch_store_outcome_name(outcome));
    p_text(&p, batch_id);
    return (int)cmd((struct bpg *)base,
                    "UPDATE batch_lines SET state = 'done', outcome = $1, plan = NULL,"
                    " hold_pico = 0 WHERE batch_id = $2 AND state != 'done'",
                    &p, "UPDATE lines rest");
}

/* A one-row, one-number query: the number, or -1. */
static int64_t count(struct bpg *s, const char *sql, struct params *p, const char *what)
{
    PGresult *r = run(s, sql, p, 0, what);
    if (!r)
        return -1;
    int64_t n = PQntuples(r) == 1 ? num(r, 0, 0) : -1;
    PQclear(r);
    return n;
}

static int64_t pg_lines_count(struct fg_batch_store *base, const char *batch_id, const char *state)
{
    struct params p = {0};
    p_text(&p, batch_id);
    p_text(&p, state);
    return count((struct bpg *)base,
                 "SELECT COUNT(*) FROM batch_lines WHERE batch_id = $1"
                 " AND ($2::text IS NULL OR state = $2)",
                 &p, "SELECT line count");
}

static int64_t pg_planned_held(struct fg_batch_store *base, const char *batch_id)
{
    struct params p = {0};
    p_text(&p, batch_id);
    return count((struct bpg *)base,
                 "SELECT COUNT(*) FROM batch_lines WHERE batch_id = $1 AND state = 'planned'"
                 " AND hold_at > 0",
                 &p, "SELECT held lines");
}

static int pg_lines_hold(struct fg_batch_store *base, const char *batch_id, const int64_t *idx,
                         const int64_t *amount, size_t n, int64_t at_ms)
{
    struct bpg *s = (struct bpg *)base;
    if (begin(s) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct params p = {0};
        p_int(&p, amount[i]);
        p_int(&p, at_ms);
        p_text(&p, batch_id);
        p_int(&p, idx[i]);
        int64_t k = cmd(s,
                        "UPDATE batch_lines SET hold_pico = $1, hold_at = $2 WHERE batch_id = $3"
                        " AND idx = $4 AND state = 'planned' AND hold_at = 0",
                        &p, "UPDATE line hold");
        if (k < 0)
            return rollback(s);
        if (k != 1) {
            /* the executor is the only writer of planned lines: a line
             * that moved under it is a bug, and its hold must not be lost */
            snprintf(s->base.err, sizeof s->base.err, "line %lld of %s is no longer planned",
                     (long long)idx[i], batch_id);
            return rollback(s);
        }
    }
    return commit(s);
}

static int pg_holds(struct fg_batch_store *base, const char *batch_id, fg_bhold_cb cb, void *arg)
{
    struct params p = {0};
    p_text(&p, batch_id);
    PGresult *r = run((struct bpg *)base,
                      "SELECT l.batch_id, l.idx, l.hold_pico, l.hold_at, b.owner, b.tags"
                      " FROM batch_lines l JOIN batches b ON b.id = l.batch_id"
                      " WHERE l.state != 'done' AND l.hold_pico > 0"
                      " AND ($1::text IS NULL OR l.batch_id = $1)"
                      " UNION ALL SELECT remote_id, idx, hold_pico, hold_at, key_id, tags"
                      " FROM defer_lines WHERE $1::text IS NULL AND state = 'open'"
                      " AND hold_pico > 0 ORDER BY 1, 2",
                      &p, 0, "SELECT holds");
    if (!r)
        return -1;
    /* the walk owns the result: a callback may use the handle */
    int n = PQntuples(r);
    struct fg_bhold *v = fg_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        cpy(v[i].batch_id, sizeof v[i].batch_id, r, i, 0);
        v[i].idx = num(r, i, 1);
        v[i].hold_pico = num(r, i, 2);
        v[i].hold_at = num(r, i, 3);
        cpy(v[i].owner, sizeof v[i].owner, r, i, 4);
        v[i].tags = dup_text(r, i, 5);
    }
    PQclear(r);
    bool stop = false;
    for (int i = 0; i < n; i++) {
        if (!stop)
            stop = cb(arg, &v[i]) != 0;
        free(v[i].tags);
    }
    free(v);
    return 0;
}

/* ---- jobs ---- */

static int pg_job_create(struct fg_batch_store *base, const struct fg_bjob *j, const int64_t *idx,
                         size_t n)
{
    struct bpg *s = (struct bpg *)base;
    if (begin(s) < 0)
        return -1;
    struct params p = {0};
    p_text(&p, j->id);
    p_text(&p, j->batch_id);
    p_text(&p, j->provider);
    p_text(&p, j->dialect);
    p_text(&p, j->model);
    p_text_empty_null(&p, j->remote_id);
    p_text_empty_null(&p, j->remote_file_id);
    p_text(&p, j->state);
    p_int(&p, j->created_at);
    p_int(&p, j->next_poll_at);
    if (cmd(s,
            "INSERT INTO batch_jobs (id, batch_id, provider, dialect, model, remote_id,"
            " remote_file_id, state, created_at, next_poll_at, polls)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,0)",
            &p, "INSERT job") < 0)
        return rollback(s);
    for (size_t i = 0; i < n; i++) {
        struct params q = {0};
        p_text(&q, j->id);
        p_text(&q, j->batch_id);
        p_int(&q, idx[i]);
        if (cmd(s,
                "UPDATE batch_lines SET state = 'submitted', job_id = $1 WHERE batch_id = $2"
                " AND idx = $3 AND state = 'planned'",
                &q, "UPDATE line job") < 0)
            return rollback(s);
    }
    return commit(s);
}

static int pg_job_update(struct fg_batch_store *base, const struct fg_bjob *j)
{
    struct params p = {0};
    p_text_empty_null(&p, j->remote_id);
    p_text_empty_null(&p, j->remote_file_id);
    p_text(&p, j->state);
    p_int(&p, j->next_poll_at);
    p_int(&p, j->polls);
    p_text(&p, j->id);
    return cmd((struct bpg *)base,
               "UPDATE batch_jobs SET remote_id = $1, remote_file_id = $2, state = $3,"
               " next_poll_at = $4, polls = $5 WHERE id = $6",
               &p, "UPDATE job") < 0
               ? -1
               : 0;
}

static int pg_jobs(struct fg_batch_store *base, const char *batch_id, fg_bjob_cb cb, void *arg)
{
    struct params p = {0};
    p_text(&p, batch_id);
    PGresult *r = run((struct bpg *)base,
                      "SELECT id, batch_id, provider, dialect, model, remote_id, remote_file_id,"
                      " state, created_at, next_poll_at, polls FROM batch_jobs"
                      " WHERE batch_id = $1 AND state != 'done' ORDER BY seq",
                      &p, 0, "SELECT jobs");
    if (!r)
        return -1;
    int n = PQntuples(r);
    struct fg_bjob *v = fg_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        struct fg_bjob *j = &v[i];
        cpy(j->id, sizeof j->id, r, i, 0);
        cpy(j->batch_id, sizeof j->batch_id, r, i, 1);
        cpy(j->provider, sizeof j->provider, r, i, 2);
        cpy(j->dialect, sizeof j->dialect, r, i, 3);
        cpy(j->model, sizeof j->model, r, i, 4);
        cpy(j->remote_id, sizeof j->remote_id, r, i, 5);
        cpy(j->remote_file_id, sizeof j->remote_file_id, r, i, 6);
        cpy(j->state, sizeof j->state, r, i, 7);
        j->created_at = num(r, i, 8);
        j->next_poll_at = num(r, i, 9);
        j->polls = (int)num(r, i, 10);
    }
    PQclear(r);
    for (int i = 0; i < n; i++)
        if (cb(arg, &v[i]))
            break;
    free(v);
    return 0;
}

static int pg_job_release(struct fg_batch_store *base, const char *job_id)
{
    struct bpg *s = (struct bpg *)base;
    if (begin(s) < 0)
        return -1;
    struct params p = {0};
    p_text(&p, job_id);
    if (cmd(s,
            "UPDATE batch_lines SET state = 'planned', job_id = NULL WHERE job_id = $1"
            " AND state = 'submitted'",
            &p, "UPDATE lines release") < 0 ||
        cmd(s, "UPDATE batch_jobs SET state = 'done' WHERE id = $1", &p, "UPDATE job release") < 0)
        return rollback(s);
    return commit(s);
}

/* ---- claims ---- */

/* One UPDATE: the row lock orders racing replicas, and the second one
 * re-reads the row the first committed (READ COMMITTED), so at most one of
 * them finds the lease free.  The server's clock decides expiry, so the
 * replicas' clocks need not agree. */
static int pg_claim(struct fg_batch_store *base, const char *batch_id, const char *me,
                    int64_t lease_ms)
{
    struct params p = {0};
    p_text(&p, batch_id);
    p_text(&p, me);
    p_int(&p, lease_ms);
    int64_t n = cmd((struct bpg *)base,
                    "UPDATE batches SET lease_owner = $2,"
                    " lease_until = (extract(epoch from clock_timestamp()) * 1000)::bigint + $3"
                    " WHERE id = $1 AND (lease_owner = $2 OR lease_owner IS NULL OR lease_until"
                    " < (extract(epoch from clock_timestamp()) * 1000)::bigint)",
                    &p, "UPDATE batch lease");
    return n < 0 ? -1 : n > 0;
}

static int pg_claims_renew(struct fg_batch_store *base, const char *me, int64_t lease_ms)
{
    struct params p = {0};
    p_text(&p, me);
    p_int(&p, lease_ms);
    int64_t n = cmd((struct bpg *)base,
                    "UPDATE batches SET lease_until ="
                    " (extract(epoch from clock_timestamp()) * 1000)::bigint + $2"
                    " WHERE lease_owner = $1 AND lease_until > 0",
                    &p, "UPDATE batch leases");
    if (n < 0)
        return -1;
    /* the lines this replica is running (0: given up, taken at once) */
    int64_t m = cmd((struct bpg *)base,
                    "UPDATE batch_lines SET claim_until ="
                    " (extract(epoch from clock_timestamp()) * 1000)::bigint + $2"
                    " WHERE claim_owner = $1 AND state = 'planned'",
                    &p, "UPDATE line claims");
    return m < 0 ? -1 : (int)(n + m);
}

/* ---- deferred calls' provider batches ---- */

#define PG_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

static int pg_defer_add(struct fg_batch_store *base, const struct fg_djob *j,
                        const struct fg_dline *l, size_t n, const char *me, int64_t lease_ms)
{
    struct bpg *s = (struct bpg *)base;
    if (begin(s) < 0)
        return -1;
    struct params p = {0};
    p_text(&p, j->remote_id);
    p_text(&p, j->provider);
    p_text(&p, j->dialect);
    p_text(&p, j->endpoint);
    p_text(&p, j->model);
    p_text(&p, me);
    p_int(&p, lease_ms);
    if (cmd(s,
            "INSERT INTO defer_jobs (remote_id, provider, dialect, endpoint, model, holder,"
            " lease_until, created_at) VALUES ($1,$2,$3,$4,$5,$6," PG_NOW_MS " + $7,"
            " extract(epoch from now())::bigint)",
            &p, "INSERT defer job") < 0)
        return rollback(s);
    for (size_t i = 0; i < n; i++) {
        struct params q = {0};
        p_text(&q, j->remote_id);
        p_int(&q, l[i].idx);
        p_text(&q, l[i].call_id);
        p_text(&q, l[i].key_id);
        p_text(&q, l[i].tags);
        p_text(&q, l[i].model_req);
        p_text(&q, l[i].model);
        p_text(&q, l[i].body_hash);
        p_int(&q, l[i].ts_ms);
        p_int(&q, l[i].hold_pico);
        p_int(&q, l[i].hold_at);
        p_text(&q, me);
        p_int(&q, l[i].hold_until);
        if (cmd(s,
                "INSERT INTO defer_lines (remote_id, idx, call_id, key_id, tags, model_req,"
                " model, body_hash, ts_ms, hold_pico, hold_at, holder, hold_until)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
                &q, "INSERT defer line") < 0)
            return rollback(s);
    }
    return commit(s);
}

static int pg_defer_claim(struct fg_batch_store *base, const char *me, int64_t lease_ms,
                          fg_djob_cb cb, void *arg)
{
    struct params p = {0};
    p_text(&p, me);
    p_int(&p, lease_ms);
    if (cmd((struct bpg *)base,
            "INSERT INTO defer_replicas (me, alive_until) VALUES ($1, " PG_NOW_MS " + $2)"
            " ON CONFLICT (me) DO UPDATE SET alive_until = EXCLUDED.alive_until",
            &p, "UPSERT replica") < 0)
        return -1;
    PGresult *r = run(
        (struct bpg *)base,
        "UPDATE defer_jobs SET holder = $1, lease_until = " PG_NOW_MS " + $2"
        " WHERE state = 'open' AND (holder = $1 OR holder IS NULL OR lease_until < " PG_NOW_MS ")"
        " RETURNING remote_id, provider, dialect, endpoint, model, seq",
        &p, 0, "UPDATE defer leases");
    if (!r)
        return -1;
    int n = PQntuples(r);
    struct fg_djob *v = fg_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        cpy(v[i].remote_id, sizeof v[i].remote_id, r, i, 0);
        cpy(v[i].provider, sizeof v[i].provider, r, i, 1);
        cpy(v[i].dialect, sizeof v[i].dialect, r, i, 2);
        cpy(v[i].endpoint, sizeof v[i].endpoint, r, i, 3);
        cpy(v[i].model, sizeof v[i].model, r, i, 4);
    }
    PQclear(r);
    for (int i = 0; i < n; i++)
        if (cb(arg, &v[i]) != 0)
            break;
    free(v);
    return 0;
}

static int pg_defer_lines(struct fg_batch_store *base, const char *remote_id, fg_dline_cb cb,
                          void *arg)
{
    struct params p = {0};
    p_text(&p, remote_id);
    PGresult *r = run((struct bpg *)base,
                      "SELECT idx, call_id, key_id, tags, model_req, model, body_hash, ts_ms,"
                      " hold_pico, hold_at FROM defer_lines WHERE remote_id = $1"
                      " AND state = 'open' ORDER BY idx",
                      &p, 0, "SELECT defer lines");
    if (!r)
        return -1;
    int n = PQntuples(r);
    struct fg_dline *v = fg_xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) {
        v[i].idx = num(r, i, 0);
        cpy(v[i].call_id, sizeof v[i].call_id, r, i, 1);
        v[i].key_id = dup_text(r, i, 2);
        v[i].tags = dup_text(r, i, 3);
        v[i].model_req = dup_text(r, i, 4);
        cpy(v[i].model, sizeof v[i].model, r, i, 5);
        cpy(v[i].body_hash, sizeof v[i].body_hash, r, i, 6);
        v[i].ts_ms = num(r, i, 7);
        v[i].hold_pico = num(r, i, 8);
        v[i].hold_at = num(r, i, 9);
    }
    PQclear(r);
    bool stop = false;
    for (int i = 0; i < n; i++) {
        if (!stop)
            stop = cb(arg, &v[i]) != 0;
        free((char *)v[i].key_id);
        free((char *)v[i].tags);
        free((char *)v[i].model_req);
    }
    free(v);
    return 0;
}

static int pg_defer_line_end(struct fg_batch_store *base, const char *remote_id, int64_t idx)
{
    struct params p = {0};
    p_text(&p, remote_id);
    p_int(&p, idx);
    int64_t n = cmd((struct bpg *)base,
                    "UPDATE defer_lines SET state = 'done', hold_pico = 0"
                    " WHERE remote_id = $1 AND idx = $2 AND state = 'open'",
                    &p, "UPDATE defer line");
    return n < 0 ? -1 : n > 0;
}

static int pg_defer_job_end(struct fg_batch_store *base, const char *remote_id)
{
    struct params p = {0};
    p_text(&p, remote_id);
    return cmd((struct bpg *)base, "UPDATE defer_jobs SET state = 'done' WHERE remote_id = $1", &p,
               "UPDATE defer job") < 0
               ? -1
               : 0;
}

static int pg_defer_release(struct fg_batch_store *base, const char *me)
{
    struct params p = {0};
    p_text(&p, me);
    if (cmd((struct bpg *)base,
            "UPDATE defer_lines SET hold_until = 0 WHERE holder = $1 AND state = 'open'", &p,
            "UPDATE defer lines release") < 0)
        return -1;
    /* gone; and forget replicas dead for a day (killed, never released) */
    if (cmd((struct bpg *)base,
            "DELETE FROM defer_replicas WHERE me = $1 OR alive_until < " PG_NOW_MS " - 86400000",
            &p, "DELETE replica") < 0)
        return -1;
    return cmd((struct bpg *)base,
               "UPDATE defer_jobs SET lease_until = 0 WHERE holder = $1 AND state = 'open'", &p,
               "UPDATE defer release") < 0
               ? -1
               : 0;
}

static int pg_defer_answer(struct fg_batch_store *base, const char *remote_id, int64_t idx,
                           const char *me, const char *answer, size_t len)
{
    struct params p = {0};
    p_text(&p, remote_id);
    p_int(&p, idx);
    p_text(&p, me);
    p_bin(&p, answer, len);
    int64_t n = cmd((struct bpg *)base,
                    "UPDATE defer_lines SET state = 'answered', result = $4"
                    " WHERE remote_id = $1 AND idx = $2 AND state = 'open' AND holder IS NOT NULL"
                    " AND holder != $3 AND hold_until > " PG_NOW_MS
                    " AND EXISTS (SELECT 1 FROM defer_replicas r WHERE r.me = defer_lines.holder"
                    " AND r.alive_until > " PG_NOW_MS ")",
                    &p, "UPDATE defer answer");
    return n < 0 ? -1 : n > 0;
}

/* bytea column col of a text-format result, unescaped (malloc'd; NULL for
 * NULL), its length in *len. */
static char *bytea_of(const PGresult *r, int row, int col, size_t *len)
{
    *len = 0;
    if (PQgetisnull(r, row, col))
        return NULL;
    size_t n = 0;
    unsigned char *u = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (!u)
        return NULL;
    char *out = fg_xmalloc(n + 1);
    memcpy(out, u, n);
    out[n] = 0;
    PQfreemem(u);
    *len = n;
    return out;
}

static int pg_defer_take(struct fg_batch_store *base, const char *remote_id, const char *me,
                         fg_dtake_cb cb, void *arg)
{
    struct params p = {0};
    p_text(&p, remote_id);
    p_text(&p, me);
    PGresult *r = run((struct bpg *)base,
                      "WITH t AS (SELECT idx, result FROM defer_lines WHERE remote_id = $1"
                      " AND holder = $2 AND state = 'answered' FOR UPDATE)"
                      " UPDATE defer_lines l SET state = 'done', hold_pico = 0, result = NULL"
                      " FROM t WHERE l.remote_id = $1 AND l.idx = t.idx RETURNING t.idx, t.result",
                      &p, 0, "UPDATE defer take");
    if (!r)
        return -1;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        size_t len;
        char *a = bytea_of(r, i, 1, &len);
        if (a)
            cb(arg, num(r, i, 0), a, len);
        free(a);
    }
    PQclear(r);
    return 0;
}

static int pg_defer_sweep(struct fg_batch_store *base, fg_dsweep_cb cb, void *arg)
{
    PGresult *r = run((struct bpg *)base,
                      "WITH t AS (SELECT remote_id, idx, result FROM defer_lines"
                      " WHERE state = 'answered' AND (hold_until < " PG_NOW_MS
                      " OR NOT EXISTS (SELECT 1 FROM defer_replicas r WHERE r.me = holder"
                      " AND r.alive_until > " PG_NOW_MS ")) FOR UPDATE)"
                      " UPDATE defer_lines l SET state = 'done', hold_pico = 0, result = NULL"
                      " FROM t, defer_jobs j WHERE l.remote_id = t.remote_id AND l.idx = t.idx"
                      " AND j.remote_id = t.remote_id RETURNING j.remote_id, j.provider,"
                      " j.dialect, j.endpoint, j.model, l.idx, l.call_id, l.key_id, l.tags,"
                      " l.model_req, l.model, l.body_hash, l.ts_ms, l.hold_pico, l.hold_at,"
                      " t.result",
                      NULL, 0, "UPDATE defer sweep");
    if (!r)
        return -1;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        struct fg_djob j = {0};
        struct fg_dline l = {0};
        cpy(j.remote_id, sizeof j.remote_id, r, i, 0);
        cpy(j.provider, sizeof j.provider, r, i, 1);
        cpy(j.dialect, sizeof j.dialect, r, i, 2);
        cpy(j.endpoint, sizeof j.endpoint, r, i, 3);
        cpy(j.model, sizeof j.model, r, i, 4);
        l.idx = num(r, i, 5);
        cpy(l.call_id, sizeof l.call_id, r, i, 6);
        l.key_id = val(r, i, 7);
        l.tags = val(r, i, 8);
        l.model_req = val(r, i, 9);
        cpy(l.model, sizeof l.model, r, i, 10);
        cpy(l.body_hash, sizeof l.body_hash, r, i, 11);
        l.ts_ms = num(r, i, 12);
        l.hold_pico = num(r, i, 13);
        l.hold_at = num(r, i, 14);
        size_t len;
        char *a = bytea_of(r, i, 15, &len);
        if (a)
            cb(arg, &j, &l, a, len);
        free(a);
    }
    PQclear(r);
    return 0;
}

const struct fg_batch_store_ops fg_batch_store_pg = {
    .scheme = "postgres",
    .open = pg_open,
    .close = pg_close,
    .file_put = pg_file_put,
    .file_get = pg_file_get,
    .file_piece = pg_file_piece,
    .file_delete = pg_file_delete,
    .files_expire = pg_files_expire,
    .chunks_sweep = pg_chunks_sweep,
    .upload_begin = pg_upload_begin,
    .upload_chunk = pg_upload_chunk,
    .upload_commit = pg_upload_commit,
    .upload_abort = pg_upload_abort,
    .file_list = pg_file_list,
    .batch_create = pg_batch_create,
    .batch_begin = pg_batch_begin,
    .batch_add = pg_batch_add,
    .batch_commit = pg_batch_commit,
    .batch_abort = pg_batch_abort,
    .batches_sweep = pg_batches_sweep,
    .batch_get = pg_batch_get,
    .batch_list = pg_batch_list,
    .batch_active = pg_batch_active,
    .batch_status = pg_batch_status,
    .batch_files = pg_batch_files,
    .batch_delete = pg_batch_delete,
    .lines = pg_lines,
    .planned = pg_planned,
    .job_lines = pg_job_lines,
    .line_plan = pg_line_plan,
    .lines_done = pg_lines_done,
    .line_replan = pg_line_replan,
    .lines_finish_rest = pg_lines_finish_rest,
    .lines_count = pg_lines_count,
    .planned_held = pg_planned_held,
    .lines_hold = pg_lines_hold,
    .holds = pg_holds,
    .job_create = pg_job_create,
    .job_update = pg_job_update,
    .jobs = pg_jobs,
    .job_release = pg_job_release,
    .claim = pg_claim,
    .lines_claim = pg_lines_claim,
    .claims_renew = pg_claims_renew,
    .defer_add = pg_defer_add,
    .defer_claim = pg_defer_claim,
    .defer_lines = pg_defer_lines,
    .defer_line_end = pg_defer_line_end,
    .defer_job_end = pg_defer_job_end,
    .defer_release = pg_defer_release,
    .defer_answer = pg_defer_answer,
    .defer_take = pg_defer_take,
    .defer_sweep = pg_defer_sweep,
};
