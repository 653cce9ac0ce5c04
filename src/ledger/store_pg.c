/* store_pg.c — the Postgres backend of the storage interface (store.h).
 *
 * Schema: versioned migrations (pgdb.h; component "ledger") below.  The
 * `calls` table has the SQLite table's columns and is partitioned by month
 * on ts_ms (UTC months, [first ms, first ms of the next month)), so a year
 * of traffic stays fast to query (reports name a time range: the planner
 * skips other months) and cheap to prune (DROP a month's partition).  Its
 * key is (id, ts_ms): Postgres needs the partition column in a unique key,
 * and a record's id and ts_ms never change, so a record written twice (a
 * spool replayed after a write whose COMMIT answer was lost) is kept once
 * by ON CONFLICT DO NOTHING.  Partitions are created when a record needs
 * one, and this month's and the next at open, under an advisory lock (two
 * replicas creating the same month wait for each other).
 *
 * Writes: one transaction per group, multi-row INSERTs of up to ROWS_PER_
 * INSERT rows with every value a parameter (SQL text holds placeholders
 * only); each INSERT also adds the rows it really inserted to the rollups,
 * in the same statement (store_pg_rollup.h, tables of migration 3).  A
 * lost connection is reconnected once per write; when the server still
 * cannot be reached, write returns FG_STORE_DOWN and the ledger spools
 * (ledger.h).  Scans stream rows one at a time (single-row mode), so a
 * report over a big ledger never holds it in memory; a read that finds its
 * connection dropped by the server (a restart) reconnects and runs again.
 *
 * Stored Responses (`responses`, migration 2): the same columns and
 * behaviour as store_sqlite.c (a forget record deletes its row and is no
 * call; an expired row is invisible; prune deletes PRUNE_BATCH rows per
 * statement until none is left, so a backlog never holds one long
 * transaction); response_chain reads a conversation in one recursive CTE. */
#include "store.h"
#include "store_pg.h"
#include "store_pg_rollup.h"

#include "arena.h"
#include "assert.h"
#include "decimal.h"
#include "pgdb.h"
#include "record_cols.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define COLUMNS FG_RECORD_COLUMNS
#define NCOLS FG_RECORD_NCOLS
#define ROWS_PER_INSERT 500 /* 24,000 parameters: under the protocol's 65,535 */
#define KNOWN_MONTHS 64     /* partitions this handle knows exist */
#define PRUNE_BATCH 1000    /* expired responses deleted per statement (short locks) */

static struct fg_pgdb_migration migrations[] = {
    {1, "ledger 1: calls partitioned by month, responses",
     "CREATE TABLE calls ("
     " id text NOT NULL, ts_ms bigint NOT NULL, key_id text, tags text, endpoint text,"
     " model_requested text, model text, upstream_model text, provider text, route text,"
     " route_reason text, cache text, stream bigint, batch bigint, status bigint,"
     " input_tokens bigint, cache_read_tokens bigint, cache_write_5m_tokens bigint,"
     " cache_write_1h_tokens bigint, output_tokens bigint, reasoning_tokens bigint,"
     " priced bigint, cost_pico bigint, baseline_pico bigint,"
     " saved_prompt_cache_pico bigint, saved_response_cache_pico bigint,"
     " saved_routing_pico bigint, saved_batch_pico bigint, bucket_repeated_pico bigint,"
     " bucket_repeated_cached_pico bigint, bucket_frontier_pico bigint,"
     " bucket_bloated_pico bigint, latency_us bigint, ttfb_us bigint, prefix_fp text,"
     " prefix_tokens bigint, repeated_tokens bigint, error text, linked_id text,"
     " buster_where text, buster_offset bigint, buster_sample text, buster_tokens bigint,"
     " buster_pico bigint, cache_miss_reason text, batch_id text, request_bytes bigint,"
     " response_bytes bigint, PRIMARY KEY (id, ts_ms)) PARTITION BY RANGE (ts_ms);"
     "CREATE INDEX calls_ts ON calls (ts_ms);"
     "CREATE TABLE responses (id text PRIMARY KEY, key_id text, provider text, ts_ms bigint);"},
    /* stored Responses as SQLite keeps them (store_sqlite.c): the provider's
     * id, the response continued, the expiry (0: never) and the replay data;
     * the partial index serves the prune (rows that never expire stay out) */
    {2, "ledger 2: stored Responses data",
     "ALTER TABLE responses ADD COLUMN upstream_id text, ADD COLUMN prev_id text,"
     " ADD COLUMN expires_ms bigint, ADD COLUMN data text;"
     "CREATE INDEX responses_expires ON responses (expires_ms) WHERE expires_ms > 0;"},
    /* the dashboard's rollups (store_pg_rollup.h): text built at open */
    {3, "ledger 3: rollup_minute, rollup_hour, rollup_day", NULL},
    /* escalations by reason in the rollups (store.h): built at open */
    {4, "ledger 4: rollup escalations by reason", NULL},
    /* the dashboard's per-batch spend (batch_spend): the rows of batch lines */
    {5, "ledger 5: calls by batch_id",
     "CREATE INDEX IF NOT EXISTS calls_batch ON calls (batch_id) WHERE batch_id IS NOT NULL;"},
    /* refusals by kind in the rollups (store.h): built at open */
    {6, "ledger 6: rollup refusals by kind", NULL},
    /* the flex tier's discount (call/defer.h), apart from batches', in the
     * calls and the rollups (rows before it had none: 0) */
    {7, "ledger 7: saved_flex_pico",
     "ALTER TABLE calls ADD COLUMN IF NOT EXISTS saved_flex_pico bigint;"
     "ALTER TABLE rollup_minute ADD COLUMN IF NOT EXISTS saved_flex_pico bigint NOT NULL DEFAULT 0;"
     "ALTER TABLE rollup_hour ADD COLUMN IF NOT EXISTS saved_flex_pico bigint NOT NULL DEFAULT 0;"
     "ALTER TABLE rollup_day ADD COLUMN IF NOT EXISTS saved_flex_pico bigint NOT NULL DEFAULT 0;"},
};
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

static pthread_once_t migrations_once = PTHREAD_ONCE_INIT;

static void fill_migrations(void)
{
    migrations[2].sql = fg_store_pg_rollup_migration();
    migrations[3].sql = fg_store_pg_rollup_migration_esc();
    migrations[5].sql = fg_store_pg_rollup_migration_ref();
}

/* The migrations with every text in place, filled once: handles are
 * opened on several threads (the writer, the readers). */
static const struct fg_pgdb_migration *ledger_migrations(void)
{
    pthread_once(&migrations_once, fill_migrations);
    return migrations;
}

struct pg_store {
    struct fg_store base;
    PGconn *c;
    char *dsn;
    int known[KNOWN_MONTHS]; /* year * 12 + month - 1 of partitions made or seen */
    size_t nknown;
    char sqlstate[6]; /* of the last failed INSERT ("" if none) */
};

/* ---- months and partitions ---- */

static int month_of(int64_t ts_ms)
{
    time_t t = (time_t)(ts_ms / 1000 - (ts_ms % 1000 < 0));
    struct tm tm;
    gmtime_r(&t, &tm);
    return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static int64_t month_start_ms(int month)
{
    struct tm tm = {.tm_year = month / 12 - 1900, .tm_mon = month % 12, .tm_mday = 1};
    return (int64_t)timegm(&tm) * 1000;
}

static bool known(struct pg_store *q, int month)
{
    for (size_t i = 0; i < q->nknown; i++)
        if (q->known[i] == month)
            return true;
    return false;
}

/* CREATE the month's partition (IF NOT EXISTS, its own transaction).  Its
 * name and bounds are computed integers (no text from a record reaches
 * the SQL). */
static int create_month(PGconn *c, int month, char *err, size_t errlen)
{
    FG_ASSERT(month > 0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(1718777192);"
             " CREATE TABLE IF NOT EXISTS calls_p%04d%02d PARTITION OF calls"
             " FOR VALUES FROM (%" PRId64 ") TO (%" PRId64 "); COMMIT",
             month / 12, month % 12 + 1, month_start_ms(month), month_start_ms(month + 1));
    if (fg_pgdb_exec(c, sql, err, errlen) < 0) {
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    return 0;
}

/* The month's partition, if this handle does not know it exists. */
static int ensure_month(struct pg_store *q, int month, char *err, size_t errlen)
{
    if (known(q, month))
        return 0;
    if (create_month(q->c, month, err, errlen) < 0)
        return -1;
    if (q->nknown == KNOWN_MONTHS)
        q->nknown = 0; /* forget (a re-check is one cheap statement) */
    q->known[q->nknown++] = month;
    return 0;
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- open / close ---- */

static void pg_close(struct fg_store *s)
{
    struct pg_store *q = (struct pg_store *)s;
    if (!q)
        return;
    PQfinish(q->c);
    free(q->dsn);
    free(q);
}

int fg_store_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen)
{
    PGconn *c;
    if (fg_pgdb_connect(dsn, &c, err, errlen) < 0)
        return -1;
    int rc =
        fg_pgdb_migrate(c, "ledger", ledger_migrations(), NMIGRATIONS, apply, pending, err, errlen);
    PQfinish(c);
    return rc;
}

static int pg_open(const char *dsn, struct fg_store **out, char *err, size_t errlen)
{
    struct pg_store *q = fg_xcalloc(1, sizeof *q);
    q->base.ops = &fg_store_pg;
    q->dsn = fg_xstrdup(dsn);
    int pending;
    int64_t now = wall_ms();
    if (fg_pgdb_connect(dsn, &q->c, err, errlen) < 0 ||
        fg_pgdb_migrate(q->c, "ledger", ledger_migrations(), NMIGRATIONS, true, &pending, err,
                        errlen) < 0 ||
        ensure_month(q, month_of(now), err, errlen) < 0 ||
        ensure_month(q, month_of(now) + 1, err, errlen) < 0) {
        pg_close(&q->base);
        return -1;
    }
    *out = &q->base;
    return 0;
}

/* The connection is gone (server restarted, network): one reconnect. */
static bool reconnect(struct pg_store *q)
{
    if (!fg_pgdb_lost(q->c))
        return true;
    PQreset(q->c);
    q->nknown = 0; /* the server may have lost what we knew */
    return PQstatus(q->c) == CONNECTION_OK;
}

/* ---- write ---- */

/* Text parameters of one record, in COLUMNS order; numbers are printed
 * into num (NCOLS * 24 bytes). */
static void row_params(const struct fg_record *r, const char **p, char *num)
{
    struct fg_record_col v[NCOLS];
    fg_record_cols(r, v);
    for (int i = 0; i < NCOLS; i++) {
        if (v[i].is_text) {
            p[i] = v[i].text;
        } else {
            num[fg_decimal_i64(num, v[i].num)] = 0;
            p[i] = num;
            num += 24;
        }
    }
}

#define INSERT_TAIL " ON CONFLICT (id, ts_ms) DO NOTHING"

static const char values_head[] = "INSERT INTO calls (" COLUMNS ") VALUES ";

/* "INSERT … VALUES (…),…" for ROWS_PER_INSERT rows, made once per process
 * (every connection's writes share it: the ledger's writer, a Postgres
 * batch store's line transactions); the text for n rows is its first
 * values_end[n] bytes.  Each placeholder "$NNNNN," is at most 7 bytes. */
static char values[sizeof values_head + (size_t)ROWS_PER_INSERT * (NCOLS * 8 + 4)];
static size_t values_end[ROWS_PER_INSERT + 1];
static pthread_once_t values_once = PTHREAD_ONCE_INIT;

/* Placeholders only, numbered without snprintf: one call per placeholder
 * was most of the writer's CPU per record (bench row frugal-pg-redis). */
static void make_values(void)
{
    char *w = values;
    memcpy(w, values_head, sizeof values_head - 1);
    w += sizeof values_head - 1;
    values_end[0] = (size_t)(w - values);
    for (size_t row = 0; row < ROWS_PER_INSERT; row++) {
        if (row)
            *w++ = ',';
        *w++ = '(';
        for (int k = 0; k < NCOLS; k++) {
            if (k)
                *w++ = ',';
            *w++ = '$';
            w += fg_decimal_u64(w, row * NCOLS + (size_t)k + 1);
        }
        *w++ = ')';
        values_end[row + 1] = (size_t)(w - values);
    }
    FG_ASSERT((size_t)(w - values) <= sizeof values);
}

/* "INSERT … VALUES ($1,…,$49),(…) ON CONFLICT DO NOTHING" for n rows. */
static char *insert_sql(size_t n)
{
    FG_ASSERT(n >= 1 && n <= ROWS_PER_INSERT);
    pthread_once(&values_once, make_values);
    size_t len = values_end[n];
    char *sql = fg_xmalloc(len + sizeof INSERT_TAIL);
    memcpy(sql, values, len);
    memcpy(sql + len, INSERT_TAIL, sizeof INSERT_TAIL); /* with its NUL */
    return sql;
}

/* One multi-row INSERT (and its rollups) on connection c; the SQLSTATE of
 * a failure in sqlstate ("" if none). */
static int insert_conn(PGconn *c, struct fg_record *const *recs, size_t n, char *sqlstate,
                       char *err, size_t errlen)
{
    const char **p = fg_xmalloc(n * NCOLS * sizeof *p);
    char *num = fg_xmalloc(n * NCOLS * 24);
    for (size_t k = 0; k < n; k++)
        row_params(recs[k], p + k * NCOLS, num + k * NCOLS * 24);
    char *ins = insert_sql(n), *sql = fg_store_pg_rollup_insert_sql(ins);
    free(ins);
    PGresult *r = PQexecParams(c, sql, (int)(n * NCOLS), NULL, p, NULL, NULL, 0);
    int rc = 0;
    sqlstate[0] = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(sqlstate, 6, "%s", st ? st : "");
        rc = fg_pgdb_fail(c, r, "INSERT", err, errlen);
    }
    PQclear(r);
    free(sql);
    free(num);
    free(p);
    return rc;
}

static int insert_rows(struct pg_store *q, struct fg_record *const *recs, size_t n, char *err,
                       size_t errlen)
{
    return insert_conn(q->c, recs, n, q->sqlstate, err, errlen);
}

int fg_store_pg_calls_partitions(PGconn *c, struct fg_record *const *recs, size_t n, char *err,
                                 size_t errlen)
{
    int done[8];
    size_t nd = 0;
    for (size_t k = 0; k < n; k++) {
        int m = month_of(recs[k]->ts_ms);
        bool seen = false;
        for (size_t i = 0; i < nd && !seen; i++)
            seen = done[i] == m;
        if (seen)
            continue;
        if (create_month(c, m, err, errlen) < 0)
            return -1;
        if (nd < sizeof done / sizeof done[0])
            done[nd++] = m;
    }
    return 0;
}

int fg_store_pg_calls_insert(PGconn *c, struct fg_record *const *recs, size_t n, char *err,
                             size_t errlen)
{
    char sqlstate[6];
    for (size_t k = 0; k < n; k++)
        FG_ASSERT(!recs[k]->response_id && !recs[k]->response_forget); /* calls only */
    for (size_t k = 0; k < n; k += ROWS_PER_INSERT) {
        size_t m = n - k < ROWS_PER_INSERT ? n - k : ROWS_PER_INSERT;
        if (insert_conn(c, recs + k, m, sqlstate, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* The stored Response a call created, replaced when written again; or,
 * for a forget record, its deletion. */
static int write_response(struct pg_store *q, const struct fg_record *rec, char *err, size_t errlen)
{
    PGresult *r;
    if (rec->response_forget) {
        const char *p[1] = {rec->response_id};
        r = PQexecParams(q->c, "DELETE FROM responses WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
    } else {
        char ts[24], exp[24];
        snprintf(ts, sizeof ts, "%" PRId64, rec->ts_ms);
        snprintf(exp, sizeof exp, "%" PRId64, rec->response_expires_ms);
        const char *p[8] = {
            rec->response_id,          rec->key_id,           rec->provider, ts,
            rec->upstream_response_id, rec->prev_response_id, exp,           rec->response_data};
        r = PQexecParams(q->c,
                         "INSERT INTO responses (id, key_id, provider, ts_ms, upstream_id, prev_id,"
                         " expires_ms, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                         " ON CONFLICT (id) DO UPDATE SET key_id = EXCLUDED.key_id,"
                         " provider = EXCLUDED.provider, ts_ms = EXCLUDED.ts_ms,"
                         " upstream_id = EXCLUDED.upstream_id, prev_id = EXCLUDED.prev_id,"
                         " expires_ms = EXCLUDED.expires_ms, data = EXCLUDED.data",
                         8, NULL, p, NULL, NULL, 0);
    }
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK
                 ? 0
                 : fg_pgdb_fail(q->c, r, "writing responses", err, errlen);
    PQclear(r);
    return rc;
}

static int write_all(struct pg_store *q, struct fg_record *const *recs, size_t n, char *err,
                     size_t errlen)
{
    /* the calls of the group (a forget record is no call) */
    struct fg_record **calls = fg_xmalloc((n ? n : 1) * sizeof *calls);
    size_t nc = 0;
    for (size_t k = 0; k < n; k++)
        if (!recs[k]->response_forget)
            calls[nc++] = recs[k];
    for (size_t k = 0; k < nc; k++)
        if (ensure_month(q, month_of(calls[k]->ts_ms), err, errlen) < 0)
            goto out;
    if (fg_pgdb_exec(q->c, "BEGIN", err, errlen) < 0)
        goto out;
    for (size_t k = 0; k < nc; k += ROWS_PER_INSERT) {
        size_t m = nc - k < ROWS_PER_INSERT ? nc - k : ROWS_PER_INSERT;
        if (insert_rows(q, calls + k, m, err, errlen) < 0)
            goto bad;
    }
    /* in record order: a forget after the call that stored it wins */
    for (size_t k = 0; k < n; k++)
        if (recs[k]->response_id && write_response(q, recs[k], err, errlen) < 0)
            goto bad;
    if (fg_pgdb_exec(q->c, "COMMIT", err, errlen) == 0) {
        free(calls);
        return 0;
    }
bad:
    PQclear(PQexec(q->c, "ROLLBACK"));
out:
    free(calls);
    return -1;
}

static int pg_write(struct fg_store *s, struct fg_record *const *recs, size_t n, char *err,
                    size_t errlen)
{
    struct pg_store *q = (struct pg_store *)s;
    if (!reconnect(q)) {
        fg_pgdb_fail(q->c, NULL, "reconnecting", err, errlen);
        return FG_STORE_DOWN;
    }
    q->sqlstate[0] = 0;
    if (write_all(q, recs, n, err, errlen) == 0)
        return 0;
    /* two writers' rollup upserts deadlocked (or a serialization failure):
     * this transaction was rolled back whole; the ledger tries again */
    if (!strcmp(q->sqlstate, "40P01") || !strcmp(q->sqlstate, "40001"))
        return FG_STORE_BUSY;
    /* lost mid-write: the transaction is rolled back by the server (or was
     * committed, its answer lost: a replay is then kept once, ON CONFLICT) */
    if (fg_pgdb_lost(q->c))
        return reconnect(q) && write_all(q, recs, n, err, errlen) == 0 ? 0 : FG_STORE_DOWN;
    return -1;
}

/* ---- reads ---- */

static const char *val(const PGresult *r, int i)
{
    return PQgetisnull(r, 0, i) ? NULL : PQgetvalue(r, 0, i);
}

static int64_t num(const PGresult *r, int i)
{
    return PQgetisnull(r, 0, i) ? 0 : strtoll(PQgetvalue(r, 0, i), NULL, 10);
}

/* One row of a single-row-mode result; strings point into r. */
static void read_row(const PGresult *res, struct fg_record *r)
{
    int i = 0;
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", val(res, i) ? val(res, i) : "");
    i++;
    r->ts_ms = num(res, i++);
    const char **texts[] = {&r->key_id,       &r->tags,           &r->endpoint, &r->model_requested,
                            &r->model,        &r->upstream_model, &r->provider, &r->route,
                            &r->route_reason, &r->cache};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        *texts[k] = val(res, i++);
    r->stream = num(res, i++) != 0;
    r->batch = num(res, i++) != 0;
    r->status = (int)num(res, i++);
    int64_t *ints[] = {&r->tok.input,          &r->tok.cache_read, &r->tok.cache_write_5m,
                       &r->tok.cache_write_1h, &r->tok.output,     &r->reasoning_tokens};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
        *ints[k] = num(res, i++);
    r->priced = num(res, i++) != 0;
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
        *money[k] = num(res, i++);
    snprintf(r->prefix_fp, sizeof r->prefix_fp, "%s", val(res, i) ? val(res, i) : "");
    i++;
    r->prefix_tokens = num(res, i++);
    r->repeated_tokens = num(res, i++);
    r->error = val(res, i++);
    r->linked_id = val(res, i++);
    r->buster_where = val(res, i++);
    r->buster_offset = num(res, i++);
    r->buster_sample = val(res, i++);
    r->buster_tokens = num(res, i++);
    r->buster_pico = num(res, i++);
    r->cache_miss_reason = val(res, i++);
    r->batch_id = val(res, i++);
    r->request_bytes = num(res, i++);
    r->response_bytes = num(res, i++);
    r->saved_flex_pico = num(res, i++);
    FG_DASSERT(i == NCOLS);
}

typedef int (*row_fn)(void *arg, const PGresult *r);

/* Run a query in single-row mode, handing each row to fn (non-zero stops:
 * the rest is read and dropped).  *rows counts the rows handed over. */
static int stream_once(struct pg_store *q, const char *sql, int np, const char *const *p, row_fn fn,
                       void *arg, long *rows, char *err, size_t errlen)
{
    if (!reconnect(q))
        return fg_pgdb_fail(q->c, NULL, "reconnecting", err, errlen);
    if (!PQsendQueryParams(q->c, sql, np, NULL, p, NULL, NULL, 0) || !PQsetSingleRowMode(q->c))
        return fg_pgdb_fail(q->c, NULL, "SELECT", err, errlen);
    int rc = 0;
    bool stop = false;
    PGresult *r;
    while ((r = PQgetResult(q->c))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && !stop) {
            ++*rows;
            stop = fn(arg, r) != 0;
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
            rc = fg_pgdb_fail(q->c, r, "SELECT", err, errlen);
        }
        PQclear(r);
    }
    return rc;
}

/* A connection the server dropped since the last query (a restart) only
 * shows when the next one fails: then reconnect and run it again, unless
 * rows were already handed over (a read has no side effect). */
static int stream_rows(struct pg_store *q, const char *sql, int np, const char *const *p, row_fn fn,
                       void *arg, char *err, size_t errlen)
{
    long rows = 0;
    int rc = stream_once(q, sql, np, p, fn, arg, &rows, err, errlen);
    if (rc < 0 && rows == 0 && fg_pgdb_lost(q->c))
        rc = stream_once(q, sql, np, p, fn, arg, &rows, err, errlen);
    return rc;
}

struct scan_ctx {
    fg_store_row_cb cb;
    void *arg;
};

static int scan_row(void *arg, const PGresult *r)
{
    struct scan_ctx *x = arg;
    struct fg_record rec;
    read_row(r, &rec);
    return x->cb(x->arg, &rec);
}

static int pg_scan(struct fg_store *s, int64_t since_ms, int64_t until_ms, fg_store_row_cb cb,
                   void *arg, char *err, size_t errlen)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, since_ms);
    snprintf(b, sizeof b, "%" PRId64, until_ms);
    const char *p[2] = {a, b};
    struct scan_ctx x = {cb, arg};
    return stream_rows((struct pg_store *)s,
                       "SELECT " COLUMNS " FROM calls WHERE ts_ms >= $1 AND ts_ms < $2"
                       " ORDER BY ts_ms",
                       2, p, scan_row, &x, err, errlen);
}

struct spend_ctx {
    fg_store_spend_cb cb;
    void *arg;
};

static int spend_row(void *arg, const PGresult *r)
{
    struct spend_ctx *x = arg;
    return x->cb(x->arg, val(r, 0), val(r, 1), num(r, 2));
}

static int pg_spend_since(struct fg_store *s, int64_t since_ms, fg_store_spend_cb cb, void *arg,
                          char *err, size_t errlen)
{
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, since_ms);
    const char *p[1] = {a};
    struct spend_ctx x = {cb, arg};
    return stream_rows((struct pg_store *)s,
                       "SELECT key_id, tags, SUM(cost_pico)::bigint FROM calls WHERE ts_ms >= $1"
                       " GROUP BY key_id, tags",
                       1, p, spend_row, &x, err, errlen);
}

struct batch_ctx {
    fg_store_batch_cb cb;
    void *arg;
};

static int batch_row(void *arg, const PGresult *r)
{
    struct batch_ctx *x = arg;
    struct fg_batch_spend b = {.batch_id = val(r, 0),
                               .requests = num(r, 1),
                               .errors = num(r, 2),
                               .cost_pico = num(r, 3),
                               .baseline_pico = num(r, 4),
                               .saved_batch_pico = num(r, 5),
                               .provider_requests = num(r, 6)};
    return x->cb(x->arg, &b);
}

static int pg_batch_spend(struct fg_store *s, const char *key_id, const char *const *ids, size_t n,
                          fg_store_batch_cb cb, void *arg, char *err, size_t errlen)
{
    FG_ASSERT(n >= 1 && n <= FG_STORE_BATCH_IDS_MAX);
    /* constant text: one parameter per id ($2…) */
    char sql[720 + 12 * FG_STORE_BATCH_IDS_MAX];
    int k =
        snprintf(sql, sizeof sql,
                 "SELECT batch_id, count(*), SUM((COALESCE(status, 0) >= 400)::int)::bigint,"
                 " SUM(COALESCE(cost_pico, 0))::bigint, SUM(COALESCE(baseline_pico, 0))::bigint,"
                 " SUM(COALESCE(saved_batch_pico, 0))::bigint,"
                 " SUM((COALESCE(batch, 0) != 0)::int)::bigint FROM calls WHERE batch_id IS NOT"
                 " NULL AND ($1::text IS NULL OR key_id = $1::text) AND batch_id IN ($2::text");
    for (size_t i = 1; i < n; i++)
        k += snprintf(sql + k, sizeof sql - (size_t)k, ", $%zu::text", i + 2);
    k += snprintf(sql + k, sizeof sql - (size_t)k, ") GROUP BY batch_id ORDER BY batch_id");
    FG_ASSERT(k > 0 && (size_t)k < sizeof sql);
    const char *p[1 + FG_STORE_BATCH_IDS_MAX];
    p[0] = key_id;
    for (size_t i = 0; i < n; i++)
        p[i + 1] = ids[i];
    struct batch_ctx x = {cb, arg};
    return stream_rows((struct pg_store *)s, sql, (int)n + 1, p, batch_row, &x, err, errlen);
}

static int pg_response_owner(struct fg_store *s, const char *id, char *key_id, size_t kn,
                             char *provider, size_t pn, char *err, size_t errlen)
{
    struct pg_store *q = (struct pg_store *)s;
    if (!reconnect(q))
        return fg_pgdb_fail(q->c, NULL, "reconnecting", err, errlen);
    const char *p[1] = {id};
    PGresult *r = PQexecParams(q->c, "SELECT key_id, provider FROM responses WHERE id = $1", 1,
                               NULL, p, NULL, NULL, 0);
    int found;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        found = fg_pgdb_fail(q->c, r, "reading responses", err, errlen);
    } else if ((found = PQntuples(r) > 0)) {
        snprintf(key_id, kn, "%s", val(r, 0) ? val(r, 0) : "");
        snprintf(provider, pn, "%s", val(r, 1) ? val(r, 1) : "");
    }
    PQclear(r);
    return found;
}

static char *dup_val(const PGresult *r, int i)
{
    return val(r, i) ? fg_xstrdup(val(r, i)) : NULL;
}

static int pg_response_get(struct fg_store *s, const char *id, int64_t now_ms,
                           struct fg_store_response *out, char *err, size_t errlen)
{
    struct pg_store *q = (struct pg_store *)s;
    memset(out, 0, sizeof *out);
    if (!reconnect(q))
        return fg_pgdb_fail(q->c, NULL, "reconnecting", err, errlen);
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    const char *p[2] = {id, now};
    PGresult *r = PQexecParams(q->c,
                               "SELECT key_id, provider, upstream_id, prev_id, data, ts_ms,"
                               " expires_ms FROM responses WHERE id = $1 AND (expires_ms IS NULL"
                               " OR expires_ms = 0 OR expires_ms > $2)",
                               2, NULL, p, NULL, NULL, 0);
    int found;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        found = fg_pgdb_fail(q->c, r, "reading responses", err, errlen);
    } else if ((found = PQntuples(r) > 0)) {
        out->key_id = dup_val(r, 0);
        out->provider = dup_val(r, 1);
        out->upstream_id = dup_val(r, 2);
        out->prev_id = dup_val(r, 3);
        out->data = dup_val(r, 4);
        out->ts_ms = num(r, 5);
        out->expires_ms = num(r, 6);
    }
    PQclear(r);
    return found;
}

/* Expired rows go PRUNE_BATCH at a time, each batch its own statement (and
 * transaction), so a big backlog never holds long locks or one huge
 * transaction; rows that never expire (0) stay. */
static int pg_response_prune(struct fg_store *s, int64_t now_ms, char *err, size_t errlen)
{
    struct pg_store *q = (struct pg_store *)s;
    if (!reconnect(q))
        return fg_pgdb_fail(q->c, NULL, "reconnecting", err, errlen);
    char now[24], lim[16];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(lim, sizeof lim, "%d", PRUNE_BATCH);
    const char *p[2] = {now, lim};
    int total = 0;
    for (;;) {
        PGresult *r = PQexecParams(q->c,
                                   "DELETE FROM responses WHERE id IN (SELECT id FROM responses"
                                   " WHERE expires_ms > 0 AND expires_ms <= $1 LIMIT $2)",
                                   2, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fg_pgdb_fail(q->c, r, "pruning responses", err, errlen);
            PQclear(r);
            return -1;
        }
        int n = (int)strtol(PQcmdTuples(r), NULL, 10); /* libpq's digits */
        PQclear(r);
        FG_ASSERT(n >= 0 && n <= PRUNE_BATCH);
        total += n;
        if (n < PRUNE_BATCH)
            return total;
    }
}

/* One query for the whole conversation (store.h response_chain); the
 * depth bound also guards against a cycle no writer makes. */
#define CHAIN_SQL                                                                                  \
    "WITH RECURSIVE chain AS (SELECT id, key_id, provider, upstream_id, prev_id, data,"            \
    " ts_ms, expires_ms, 1 AS depth FROM responses WHERE id = $1 AND (expires_ms IS NULL OR"       \
    " expires_ms = 0 OR expires_ms > $2) UNION ALL SELECT r.id, r.key_id, r.provider,"             \
    " r.upstream_id, r.prev_id, r.data, r.ts_ms, r.expires_ms, c.depth + 1 FROM responses r"       \
    " JOIN chain c ON r.id = c.prev_id WHERE c.depth < $3 AND (r.expires_ms IS NULL OR"            \
    " r.expires_ms = 0 OR r.expires_ms > $2)) SELECT id, key_id, provider, upstream_id,"           \
    " prev_id, data, ts_ms, expires_ms FROM chain ORDER BY depth"

struct chain_ctx {
    fg_store_response_cb cb;
    void *arg;
    int n;
};

static int chain_row(void *arg, const PGresult *r)
{
    struct chain_ctx *x = arg;
    /* the strings are libpq's, valid during the call */
    struct fg_store_response row = {
        .key_id = (char *)val(r, 1),
        .provider = (char *)val(r, 2),
        .upstream_id = (char *)val(r, 3),
        .prev_id = (char *)val(r, 4),
        .data = (char *)val(r, 5),
        .ts_ms = num(r, 6),
        .expires_ms = num(r, 7),
    };
    x->n++;
    return val(r, 0) ? x->cb(x->arg, val(r, 0), &row) : 0;
}

static int pg_response_chain(struct fg_store *s, const char *id, int64_t now_ms, int max,
                             fg_store_response_cb cb, void *arg, char *err, size_t errlen)
{
    char now[24], lim[16];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(lim, sizeof lim, "%d", max);
    const char *p[3] = {id, now, lim};
    struct chain_ctx x = {cb, arg, 0};
    int rc = stream_rows((struct pg_store *)s, CHAIN_SQL, 3, p, chain_row, &x, err, errlen);
    return rc < 0 ? -1 : x.n;
}

static int pg_response_put(struct fg_store *s, const char *id, const struct fg_store_response *row,
                           char *err, size_t errlen)
{
    struct pg_store *q = (struct pg_store *)s;
    if (!reconnect(q))
        return fg_pgdb_fail(q->c, NULL, "reconnecting", err, errlen);
    char ts[24], exp[24];
    snprintf(ts, sizeof ts, "%" PRId64, row->ts_ms);
    snprintf(exp, sizeof exp, "%" PRId64, row->expires_ms);
    const char *p[8] = {id,           row->key_id, row->provider, ts, row->upstream_id,
                        row->prev_id, exp,         row->data};
    PGresult *r = PQexecParams(q->c,
                               "INSERT INTO responses (id, key_id, provider, ts_ms, upstream_id,"
                               " prev_id, expires_ms, data) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                               " $8) ON CONFLICT (id) DO NOTHING",
                               8, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK
                 ? strtol(PQcmdTuples(r), NULL, 10) > 0
                 : fg_pgdb_fail(q->c, r, "copying responses", err, errlen);
    PQclear(r);
    return rc;
}

struct rollup_ctx {
    fg_store_rollup_cb cb;
    void *arg;
};

static int rollup_row(void *arg, const PGresult *r)
{
    struct rollup_ctx *x = arg;
    struct fg_rollup_row row;
    fg_store_pg_rollup_read(r, &row);
    return x->cb(x->arg, &row);
}

static int pg_rollup(struct fg_store *s, const struct fg_rollup_query *q, fg_store_rollup_cb cb,
                     void *arg, char *err, size_t errlen)
{
    char a[24], b[24], st[24];
    snprintf(a, sizeof a, "%" PRId64, q->since_ms);
    snprintf(b, sizeof b, "%" PRId64, q->until_ms);
    snprintf(st, sizeof st, "%" PRId64, q->step_ms);
    const char *p[7] = {a, b, st, q->key_id, q->model, q->route, q->key_ids_json};
    struct rollup_ctx x = {cb, arg};
    return stream_rows((struct pg_store *)s, fg_store_pg_rollup_query_sql(q), 7, p, rollup_row, &x,
                       err, errlen);
}

static int pg_recent(struct fg_store *s, const char *key_id, int limit, fg_store_row_cb cb,
                     void *arg, char *err, size_t errlen)
{
    char n[24];
    snprintf(n, sizeof n, "%d", limit);
    const char *p[2] = {key_id, n};
    struct scan_ctx x = {cb, arg};
    return stream_rows((struct pg_store *)s,
                       "SELECT " COLUMNS " FROM calls WHERE ($1::text IS NULL OR key_id = $1::text)"
                       " ORDER BY ts_ms DESC, id DESC LIMIT $2::bigint",
                       2, p, scan_row, &x, err, errlen);
}

const struct fg_store_ops fg_store_pg = {
    .scheme = "postgres",
    .open = pg_open,
    .write = pg_write,
    .scan = pg_scan,
    .close = pg_close,
    .spend_since = pg_spend_since,
    .checkpoint = NULL,
    .response_owner = pg_response_owner,
    .response_get = pg_response_get,
    .response_prune = pg_response_prune,
    .response_put = pg_response_put,
    .response_chain = pg_response_chain,

    .rollup = pg_rollup,
    .recent = pg_recent,
    .batch_spend = pg_batch_spend,
};
