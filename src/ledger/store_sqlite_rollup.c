/* store_sqlite_rollup.c — see store_sqlite_rollup.h.
 *
 * The measures are listed once (name, per-row expression over a calls
 * row); the table, the trigger's upsert, the first-time fold and the query
 * are all generated from that list at open, from constant text only. */
#include "store_sqlite_rollup.h"

#include "arena.h"
#include "assert.h"
#include "rollup_sql.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMEASURES FG_ROLLUP_NMEASURES
/* Value columns: the measures, the latency buckets, then the escalations
 * (rollup migration 2): `escalations` and one column per reason. */
#define NESC (1 + FG_ROLLUP_ESC_REASONS)
/* then the refusals by kind (rollup migration 3) */
#define NREF FG_ROLLUP_REFUSALS
#define NVALUES (NMEASURES + FG_ROLLUP_LAT_BUCKETS + NESC + NREF)

#define DIM_EXPRS FG_ROLLUP_DIM_EXPRS
#define DIMS FG_ROLLUP_DIMS

/* Three grains of the same sums: the minute is what a window is cut at;
 * hours and days keep long windows cheap (30 days of minutes can be a
 * million rows; of days, a few thousand).  `minute` is the bucket's start. */
static const struct grain {
    const char *table;
    int64_t ms;
} grains[] = {{"rollup_minute", 60000}, {"rollup_hour", 3600000}, {"rollup_day", 86400000}};
#define NGRAINS (sizeof grains / sizeof grains[0])

#define put fg_rollup_sql_put
#define SQLBUF(b) FG_ROLLUP_SQL_BUF(b, 12288)

static void put_lat_expr(struct fg_rollup_sql *b, size_t i)
{
    fg_rollup_sql_lat(b, i, FG_ROLLUP_SQLITE);
}

/* The value columns as of rollup migration `version` (1: the tables; 2:
 * and the escalations; 3: and the refusals): what a write and a query use
 * is the last's. */
static void put_value_names_v(struct fg_rollup_sql *b, const char *prefix, const char *suffix,
                              int version)
{
    for (size_t i = 0; i < NMEASURES; i++)
        put(b, ", %s%s%s", prefix, fg_rollup_measures[i].name, suffix);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", %slat%zu%s", prefix, i, suffix);
    if (version >= 2)
        fg_rollup_sql_set_names(b, FG_ROLLUP_SET_ESC, prefix, suffix);
    if (version >= 3)
        fg_rollup_sql_set_names(b, FG_ROLLUP_SET_REF, prefix, suffix);
}

static void put_value_names(struct fg_rollup_sql *b, const char *prefix, const char *suffix)
{
    put_value_names_v(b, prefix, suffix, 3);
}

/* INSERT INTO <grain> … SELECT <one row per calls row> FROM calls
 * WHERE <where> ON CONFLICT … DO UPDATE SET v = v + excluded.v. */
static void put_upsert(struct fg_rollup_sql *b, const struct grain *g, const char *where)
{
    put(b, "INSERT INTO %s (" DIMS, g->table);
    put_value_names_v(b, "", "", 1);
    put(b, ") SELECT ts_ms - ts_ms %% %lld, %s", (long long)g->ms, DIM_EXPRS);
    for (size_t i = 0; i < NMEASURES; i++)
        put(b, ", %s", fg_rollup_measures[i].expr);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++) {
        put(b, ", ");
        put_lat_expr(b, i);
    }
    put(b,
        " FROM calls WHERE %s ON CONFLICT(" DIMS ") DO UPDATE SET requests = requests + "
        "excluded.requests",
        where);
    for (size_t i = 1; i < NMEASURES; i++)
        put(b, ", %s = %s + excluded.%s", fg_rollup_measures[i].name, fg_rollup_measures[i].name,
            fg_rollup_measures[i].name);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", lat%zu = lat%zu + excluded.lat%zu", i, i, i);
}

static int fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "sqlite: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

static int exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(db, what, err, errlen);
}

/* The rollups' schema version: 0 when the tables are missing (or a
 * trigger of an earlier design is there, which would count rows a second
 * time), else the last rollup migration applied (1 when the tables
 * predate the migrations table); -1 on error. */
static int version(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT CASE WHEN NOT (SELECT count(*) FROM sqlite_master WHERE "
                           "type = 'table' AND name = 'rollup_day') OR (SELECT count(*) FROM "
                           "sqlite_master WHERE type = 'trigger' AND name LIKE 'calls_rollup%') "
                           "THEN 0 WHEN NOT (SELECT count(*) FROM sqlite_master WHERE type = "
                           "'table' AND name = 'rollup_migrations') THEN 1 ELSE -1 END",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st), v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -2;
    sqlite3_finalize(st);
    if (v != -1)
        return v < 0 ? -1 : v;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(max(version), 1) FROM rollup_migrations", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(st);
    v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

/* Rollup migration 1: the tables from scratch, then every stored calls row
 * folded in (the calls table is the truth the rollups are rebuilt from). */
static int create(sqlite3 *db, char *err, size_t errlen)
{
    SQLBUF(b);
    static const char *const old_triggers[] = {"DROP TRIGGER IF EXISTS calls_rollup",
                                               "DROP TRIGGER IF EXISTS calls_rollup_v2"};
    for (size_t i = 0; i < sizeof old_triggers / sizeof old_triggers[0]; i++)
        if (exec(db, old_triggers[i], "dropping an older rollup trigger", err, errlen) < 0)
            return -1;
    if (exec(db, "DROP TABLE IF EXISTS rollup_migrations", "dropping the rollup migrations", err,
             errlen) < 0)
        return -1;
    for (size_t i = 0; i < NGRAINS; i++) {
        b.n = 0;
        put(&b, "DROP TABLE IF EXISTS %s", grains[i].table);
        if (exec(db, b.s, "dropping an older rollup table", err, errlen) < 0)
            return -1;
        b.n = 0;
        put(&b,
            "CREATE TABLE %s (minute INTEGER NOT NULL, key_id TEXT NOT NULL,"
            " model TEXT NOT NULL, route TEXT NOT NULL",
            grains[i].table);
        put_value_names_v(&b, "", " INTEGER NOT NULL DEFAULT 0", 1);
        put(&b, ", PRIMARY KEY (" DIMS ")) WITHOUT ROWID");
        if (exec(db, b.s, "creating a rollup table", err, errlen) < 0)
            return -1;
    }
    for (size_t i = 0; i < NGRAINS; i++) {
        b.n = 0;
        put_upsert(&b, &grains[i], "true");
        if (exec(db, b.s, "folding calls into the rollups", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* A migration adding a counted set (rollup_sql.h) to every grain: the
 * columns, then the calls rows already stored folded into them. */
static int add_set(sqlite3 *db, enum fg_rollup_set set, char *err, size_t errlen)
{
    SQLBUF(b);
    for (size_t g = 0; g < NGRAINS; g++) {
        b.n = 0;
        fg_rollup_sql_add_set(&b, set, grains[g].table, FG_ROLLUP_SQLITE);
        fg_rollup_sql_fold_set(&b, set, grains[g].table, (long long)grains[g].ms, FG_ROLLUP_SQLITE);
        if (exec(db, b.s, "adding a counted set to the rollups", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Rollup migration 2: escalations by reason (store.h). */
static int add_escalations(sqlite3 *db, char *err, size_t errlen)
{
    return add_set(db, FG_ROLLUP_SET_ESC, err, errlen);
}

/* Rollup migration 3: refusals by kind (store.h). */
static int add_refusals(sqlite3 *db, char *err, size_t errlen)
{
    return add_set(db, FG_ROLLUP_SET_REF, err, errlen);
}

/* Rollup migration 4: the flex tier's discount, a column of 0s on tables
 * made before it (their rows predate flex).  Tables made by migration 1
 * since have it already: "duplicate column" is what they answer. */
static int add_flex(sqlite3 *db, char *err, size_t errlen)
{
    SQLBUF(b);
    for (size_t g = 0; g < NGRAINS; g++) {
        b.n = 0;
        put(&b, "ALTER TABLE %s ADD COLUMN saved_flex_pico INTEGER NOT NULL DEFAULT 0",
            grains[g].table);
        if (sqlite3_exec(db, b.s, NULL, NULL, NULL) != SQLITE_OK &&
            !strstr(sqlite3_errmsg(db), "duplicate column"))
            return fail(db, "adding the flex column", err, errlen);
    }
    return 0;
}

/* The rollup migrations, numbered; never edit an applied one: add the
 * next.  Each runs once, in the transaction that records it. */
static const struct migration {
    int version;
    const char *name;
    int (*run)(sqlite3 *db, char *err, size_t errlen);
} migrations[] = {
    {1, "rollup 1: rollup_minute, rollup_hour, rollup_day", create},
    {2, "rollup 2: escalations by reason", add_escalations},
    {3, "rollup 3: refusals by kind", add_refusals},
    {4, "rollup 4: saved_flex_pico", add_flex},
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int record(sqlite3 *db, const struct migration *m, char *err, size_t errlen)
{
    if (exec(db,
             "CREATE TABLE IF NOT EXISTS rollup_migrations (version INTEGER PRIMARY KEY,"
             " name TEXT NOT NULL, applied_ms INTEGER NOT NULL)",
             "creating the rollup migrations table", err, errlen) < 0)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO rollup_migrations VALUES (?, ?, "
                           "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(db, "recording a rollup migration", err, errlen);
    sqlite3_bind_int(st, 1, m->version);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(db, "recording a rollup migration", err, errlen);
}

/* From version `have` to the last, each recorded as it is applied (tables
 * of before the migrations table get version 1 recorded first). */
static int apply(sqlite3 *db, int have, char *err, size_t errlen)
{
    if (have >= 1 && record(db, &migrations[0], err, errlen) < 0)
        return -1;
    for (int i = have; i < NMIGRATIONS; i++) {
        FG_ASSERT(migrations[i].version == i + 1);
        if (migrations[i].run(db, err, errlen) < 0 || record(db, &migrations[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

int fg_store_sqlite_rollup_schema(sqlite3 *db, char *err, size_t errlen)
{
    int have = version(db);
    if (have == NMIGRATIONS)
        return 0;
    if (exec(db, "BEGIN IMMEDIATE", "BEGIN", err, errlen) < 0)
        return -1;
    have = version(db); /* another connection may have won the race */
    int rc = have < 0              ? fail(db, "reading the schema", err, errlen)
             : have >= NMIGRATIONS ? 0
                                   : apply(db, have, err, errlen);
    if (rc < 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return exec(db, "COMMIT", "COMMIT", err, errlen);
}

/* ---- rows inserted by a write, added in C (store_sqlite_rollup.h) ---- */

/* One calls row's contribution, in the order of the rollup's value columns
 * (measures, then the latency buckets): the same rules as the measures'
 * SQL expressions, which fold old rows in. */
static void row_values(const struct fg_record *r, int64_t v[NVALUES])
{
    size_t i = 0;
    v[i++] = 1;
    v[i++] = r->status >= 400;
    v[i++] = !r->priced && r->status < 400;
    v[i++] = r->cache && !strcmp(r->cache, "hit");
    v[i++] = r->cost_pico;
    v[i++] = r->baseline_pico;
    v[i++] = r->saved_prompt_cache_pico;
    v[i++] = r->saved_response_cache_pico;
    v[i++] = r->saved_routing_pico;
    v[i++] = r->saved_batch_pico;
    v[i++] = r->bucket_repeated_pico;
    v[i++] = r->bucket_repeated_cached_pico;
    v[i++] = r->bucket_frontier_pico;
    v[i++] = r->bucket_bloated_pico;
    v[i++] = r->tok.input;
    v[i++] = r->tok.cache_read;
    v[i++] = r->tok.cache_write_5m;
    v[i++] = r->tok.cache_write_1h;
    v[i++] = r->tok.output;
    v[i++] = r->latency_us;
    v[i++] = r->saved_flex_pico;
    FG_DASSERT(i == NMEASURES);
    size_t b = 0;
    while (b + 1 < FG_ROLLUP_LAT_BUCKETS && r->latency_us > fg_rollup_lat_le_ms[b] * 1000)
        b++;
    for (size_t k = 0; k < FG_ROLLUP_LAT_BUCKETS; k++)
        v[i + k] = k == b;
    i += FG_ROLLUP_LAT_BUCKETS;
    int e = fg_store_esc_reason(r->route, r->route_reason);
    v[i++] = e >= 0;
    for (int k = 0; k < FG_ROLLUP_ESC_REASONS; k++)
        v[i++] = e == k;
    int ref = fg_store_refusal_kind(r->status, r->error);
    for (int k = 0; k < NREF; k++)
        v[i++] = ref == k;
    FG_DASSERT(i == NVALUES);
}

struct item {
    int64_t bucket;
    const char *key, *model, *route;
    const struct fg_record *r;
};

static int item_cmp(const void *x, const void *y)
{
    const struct item *a = x, *b = y;
    if (a->bucket != b->bucket)
        return a->bucket < b->bucket ? -1 : 1;
    int c = strcmp(a->key, b->key);
    if (!c)
        c = strcmp(a->model, b->model);
    return c ? c : strcmp(a->route, b->route);
}

static bool same_group(const struct item *a, const struct item *b)
{
    return a->bucket == b->bucket && !strcmp(a->key, b->key) && !strcmp(a->model, b->model) &&
           !strcmp(a->route, b->route);
}

/* INSERT INTO <grain> (dims, values) VALUES (?…) ON CONFLICT … += excluded. */
static void put_values_upsert(struct fg_rollup_sql *b, const struct grain *g)
{
    put(b, "INSERT INTO %s (" DIMS, g->table);
    put_value_names(b, "", "");
    put(b, ") VALUES (?, ?, ?, ?");
    for (size_t i = 0; i < NVALUES; i++)
        put(b, ", ?");
    put(b, ") ON CONFLICT(" DIMS ") DO UPDATE SET requests = requests + excluded.requests");
    for (size_t i = 1; i < NMEASURES; i++)
        put(b, ", %s = %s + excluded.%s", fg_rollup_measures[i].name, fg_rollup_measures[i].name,
            fg_rollup_measures[i].name);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", lat%zu = lat%zu + excluded.lat%zu", i, i, i);
    fg_rollup_sql_set_sums(b, FG_ROLLUP_SET_ESC, NULL);
    fg_rollup_sql_set_sums(b, FG_ROLLUP_SET_REF, NULL);
}

/* Sort one grain's items and upsert each group's sums once. */
static int add_grain(sqlite3 *db, const struct grain *g, struct item *it, size_t n, char *err,
                     size_t errlen)
{
    qsort(it, n, sizeof *it, item_cmp);
    SQLBUF(b);
    put_values_upsert(&b, g);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, b.s, -1, &st, NULL) != SQLITE_OK)
        return fail(db, "preparing the rollup upsert", err, errlen);
    int rc = SQLITE_DONE;
    for (size_t i = 0; i < n && rc == SQLITE_DONE;) {
        int64_t sum[NVALUES] = {0}, one[NVALUES];
        size_t j = i;
        for (; j < n && same_group(&it[i], &it[j]); j++) {
            row_values(it[j].r, one);
            for (size_t k = 0; k < NVALUES; k++)
                sum[k] += one[k];
        }
        sqlite3_bind_int64(st, 1, it[i].bucket);
        sqlite3_bind_text(st, 2, it[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, it[i].model, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, it[i].route, -1, SQLITE_STATIC);
        for (size_t k = 0; k < NVALUES; k++)
            sqlite3_bind_int64(st, (int)k + 5, sum[k]);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        i = j;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(db, "upserting a rollup", err, errlen);
}

int fg_store_sqlite_rollup_add(sqlite3 *db, struct fg_record *const *recs, const bool *inserted,
                               size_t n, char *err, size_t errlen)
{
    struct item *it = fg_xcalloc(n ? n : 1, sizeof *it);
    int rc = 0;
    for (size_t g = 0; g < NGRAINS && rc == 0; g++) {
        size_t m = 0;
        for (size_t k = 0; k < n; k++) {
            const struct fg_record *r = recs[k];
            if (!inserted[k])
                continue; /* already stored: counted when it was */
            const char *model = r->model && r->model[0]                       ? r->model
                                : r->model_requested && r->model_requested[0] ? r->model_requested
                                                                              : "(none)";
            it[m++] = (struct item){.bucket = r->ts_ms - r->ts_ms % grains[g].ms,
                                    .key = r->key_id ? r->key_id : "",
                                    .model = model,
                                    .route = r->route ? r->route : "",
                                    .r = r};
        }
        if (m)
            rc = add_grain(db, &grains[g], it, m, err, errlen);
    }
    free(it);
    return rc;
}

static const char *const group_cols[] = {
    [FG_ROLLUP_NONE] = "NULL",
    [FG_ROLLUP_MODEL] = "model",
    [FG_ROLLUP_KEY] = "key_id",
    [FG_ROLLUP_ROUTE] = "route",
};

static void read_row(sqlite3_stmt *st, struct fg_rollup_row *r)
{
    memset(r, 0, sizeof *r);
    r->t_ms = sqlite3_column_int64(st, 0);
    r->group = (const char *)sqlite3_column_text(st, 1);
    int64_t v[NVALUES];
    for (size_t i = 0; i < NVALUES; i++)
        v[i] = sqlite3_column_int64(st, (int)i + 2);
    /* the order of `measures` */
    size_t i = 0;
    r->requests = v[i++];
    r->errors = v[i++];
    r->unpriced = v[i++];
    r->cache_hits = v[i++];
    r->cost_pico = v[i++];
    r->baseline_pico = v[i++];
    for (int k = 0; k < 4; k++)
        r->saved_pico[k] = v[i++];
    for (int k = 0; k < 4; k++)
        r->bucket_pico[k] = v[i++];
    for (int k = 0; k < 5; k++)
        r->tokens[k] = v[i++];
    r->latency_sum_us = v[i++];
    r->saved_pico[4] = v[i++]; /* flex */
    FG_DASSERT(i == NMEASURES);
    for (int k = 0; k < FG_ROLLUP_LAT_BUCKETS; k++)
        r->lat[k] = v[i++];
    r->escalations = v[i++];
    for (int k = 0; k < FG_ROLLUP_ESC_REASONS; k++)
        r->esc[k] = v[i++];
    for (int k = 0; k < NREF; k++)
        r->refused[k] = v[i++];
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int fg_store_sqlite_rollup_query(sqlite3 *db, const struct fg_rollup_query *q,
                                 fg_store_rollup_cb cb, void *arg, char *err, size_t errlen)
{
    FG_ASSERT(q->step_ms >= 60000 && q->step_ms % 60000 == 0);
    FG_ASSERT((unsigned)q->group < sizeof group_cols / sizeof group_cols[0]);
    /* the coarsest grain the window and the step are cut at */
    const struct grain *gr = &grains[0];
    for (size_t i = 1; i < NGRAINS; i++)
        if (q->step_ms % grains[i].ms == 0 && q->since_ms % grains[i].ms == 0 &&
            q->until_ms % grains[i].ms == 0)
            gr = &grains[i];
    SQLBUF(b);
    const char *g = group_cols[q->group];
    put(&b, "SELECT (minute - ?1) / ?3 * ?3 + ?1 AS t, %s AS g", g);
    put_value_names(&b, "SUM(", ")");
    put(&b, " FROM %s WHERE", gr->table);
    put(&b, " minute >= ?1 AND minute < ?2 AND (?4 IS NULL OR "
            "key_id = ?4) AND (?5 IS NULL OR model = ?5) AND (?6 IS NULL OR route = ?6) "
            "AND (?7 IS NULL OR key_id IN (SELECT value FROM json_each(?7))) "
            "GROUP BY t, g ORDER BY t, g");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, b.s, -1, &st, NULL) != SQLITE_OK)
        return fail(db, "preparing the rollup query", err, errlen);
    sqlite3_bind_int64(st, 1, q->since_ms);
    sqlite3_bind_int64(st, 2, q->until_ms);
    sqlite3_bind_int64(st, 3, q->step_ms);
    bind_opt(st, 4, q->key_id);
    bind_opt(st, 5, q->model);
    bind_opt(st, 6, q->route);
    bind_opt(st, 7, q->key_ids_json);
    int rc;
    struct fg_rollup_row r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_row(st, &r);
        if (cb(arg, &r))
            break;
    }
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(db, "SELECT rollup", err, errlen);
    sqlite3_finalize(st);
    return ret;
}
