/* store_sqlite_rollup.c — see store_sqlite_rollup.h.
 *
 * The measures are listed once (name, per-row expression over a calls
 * row); the table, the trigger's upsert, the first-time fold and the query
 * are all generated from that list at open, from constant text only. */
#include "store_sqlite_rollup.h"

#include "arena.h"
#include "assert.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct measure {
    const char *name, *expr;
} measures[] = {
    {"requests", "1"},
    {"errors", "COALESCE(status, 0) >= 400"},
    {"unpriced", "COALESCE(priced, 0) = 0 AND COALESCE(status, 0) < 400"},
    {"cache_hits", "COALESCE(cache, '') = 'hit'"},
    {"cost_pico", "COALESCE(cost_pico, 0)"},
    {"baseline_pico", "COALESCE(baseline_pico, 0)"},
    {"saved_prompt_cache_pico", "COALESCE(saved_prompt_cache_pico, 0)"},
    {"saved_response_cache_pico", "COALESCE(saved_response_cache_pico, 0)"},
    {"saved_routing_pico", "COALESCE(saved_routing_pico, 0)"},
    {"saved_batch_pico", "COALESCE(saved_batch_pico, 0)"},
    {"bucket_repeated_pico", "COALESCE(bucket_repeated_pico, 0)"},
    {"bucket_repeated_cached_pico", "COALESCE(bucket_repeated_cached_pico, 0)"},
    {"bucket_frontier_pico", "COALESCE(bucket_frontier_pico, 0)"},
    {"bucket_bloated_pico", "COALESCE(bucket_bloated_pico, 0)"},
    {"input_tokens", "COALESCE(input_tokens, 0)"},
    {"cache_read_tokens", "COALESCE(cache_read_tokens, 0)"},
    {"cache_write_5m_tokens", "COALESCE(cache_write_5m_tokens, 0)"},
    {"cache_write_1h_tokens", "COALESCE(cache_write_1h_tokens, 0)"},
    {"output_tokens", "COALESCE(output_tokens, 0)"},
    {"latency_sum_us", "COALESCE(latency_us, 0)"},
    {"saved_flex_pico", "COALESCE(saved_flex_pico, 0)"}, /* rollup migration 4 on older tables */
};
#define NMEASURES (sizeof measures / sizeof measures[0])
/* Value columns: the measures, the latency buckets, then the escalations
 * (rollup migration 2): `escalations` and one column per reason. */
#define NESC (1 + FG_ROLLUP_ESC_REASONS)
/* then the refusals by kind (rollup migration 3) */
#define NREF FG_ROLLUP_REFUSALS
#define NVALUES (NMEASURES + FG_ROLLUP_LAT_BUCKETS + NESC + NREF)

/* The dimensions but time, as expressions over a calls row (store.h). */
#define DIM_EXPRS                                                                                  \
    "COALESCE(key_id, ''), COALESCE(NULLIF(model, ''), NULLIF(model_requested, ''), '(none)'), "   \
    "COALESCE(route, '')"
#define DIMS "minute, key_id, model, route"

/* Three grains of the same sums: the minute is what a window is cut at;
 * hours and days keep long windows cheap (30 days of minutes can be a
 * million rows; of days, a few thousand).  `minute` is the bucket's start. */
static const struct grain {
    const char *table;
    int64_t ms;
} grains[] = {{"rollup_minute", 60000}, {"rollup_hour", 3600000}, {"rollup_day", 86400000}};
#define NGRAINS (sizeof grains / sizeof grains[0])

struct sqlbuf {
    char s[12288];
    size_t n;
};

static void put(struct sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sqlbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    FG_ASSERT(k >= 0 && (size_t)k < sizeof b->s - b->n); /* constant text: sized once */
    b->n += (size_t)k;
}

/* Histogram bucket i as a 0/1 expression over latency_us. */
static void put_lat_expr(struct sqlbuf *b, size_t i)
{
    const char *v = "COALESCE(latency_us, 0)";
    if (i == 0)
        put(b, "%s <= %lld", v, (long long)fg_rollup_lat_le_ms[0] * 1000);
    else if (i + 1 == FG_ROLLUP_LAT_BUCKETS)
        put(b, "%s > %lld", v, (long long)fg_rollup_lat_le_ms[i - 1] * 1000);
    else
        put(b, "(%s > %lld AND %s <= %lld)", v, (long long)fg_rollup_lat_le_ms[i - 1] * 1000, v,
            (long long)fg_rollup_lat_le_ms[i] * 1000);
}

static const char *esc_name(size_t i)
{
    return i == 0 ? "escalations" : fg_rollup_esc[i - 1].column;
}

/* Escalation column i (0: all, else reason i - 1) as a 0/1 expression. */
static void put_esc_expr(struct sqlbuf *b, size_t i)
{
    put(b, "(COALESCE(route, '') = 'escalated'");
    if (i > 0) {
        const char *p = fg_rollup_esc[i - 1].prefix;
        FG_ASSERT(!strchr(p, '\''));
        put(b, " AND substr(COALESCE(route_reason, ''), 1, %zu) = '%s'", strlen(p), p);
    }
    put(b, ")");
}

static void put_esc_names(struct sqlbuf *b, const char *prefix, const char *suffix)
{
    for (size_t i = 0; i < NESC; i++)
        put(b, ", %s%s%s", prefix, esc_name(i), suffix);
}

/* A code constant as an SQL string literal: quotes doubled (no
 * backslashes, which a server without standard strings would read). */
static void put_literal(struct sqlbuf *b, const char *s)
{
    FG_ASSERT(!strchr(s, '\\'));
    put(b, "'");
    for (const char *q; (q = strchr(s, '\'')); s = q + 1)
        put(b, "%.*s''", (int)(q - s), s);
    put(b, "%s'", s);
}

/* Refusal kind i as a 0/1 expression (store.h). */
static void put_ref_expr(struct sqlbuf *b, size_t i)
{
    const struct fg_rollup_refusal *k = &fg_rollup_refusal[i];
    put(b, "(COALESCE(status, 0) = 429 AND (");
    for (size_t j = 0; j < 2 && k->prefix[j]; j++) {
        put(b, "%ssubstr(COALESCE(error, ''), 1, %zu) = ", j ? " OR " : "", strlen(k->prefix[j]));
        put_literal(b, k->prefix[j]);
    }
    put(b, "))");
}

static void put_ref_names(struct sqlbuf *b, const char *prefix, const char *suffix)
{
    for (size_t i = 0; i < NREF; i++)
        put(b, ", %s%s%s", prefix, fg_rollup_refusal[i].column, suffix);
}

/* The value columns as of rollup migration `version` (1: the tables; 2:
 * and the escalations; 3: and the refusals): what a write and a query use
 * is the last's. */
static void put_value_names_v(struct sqlbuf *b, const char *prefix, const char *suffix, int version)
{
    for (size_t i = 0; i < NMEASURES; i++)
        put(b, ", %s%s%s", prefix, measures[i].name, suffix);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", %slat%zu%s", prefix, i, suffix);
    if (version >= 2)
        put_esc_names(b, prefix, suffix);
    if (version >= 3)
        put_ref_names(b, prefix, suffix);
}

static void put_value_names(struct sqlbuf *b, const char *prefix, const char *suffix)
{
    put_value_names_v(b, prefix, suffix, 3);
}

/* INSERT INTO <grain> … SELECT <one row per calls row> FROM calls
 * WHERE <where> ON CONFLICT … DO UPDATE SET v = v + excluded.v. */
static void put_upsert(struct sqlbuf *b, const struct grain *g, const char *where)
{
    put(b, "INSERT INTO %s (" DIMS, g->table);
    put_value_names_v(b, "", "", 1);
    put(b, ") SELECT ts_ms - ts_ms %% %lld, %s", (long long)g->ms, DIM_EXPRS);
    for (size_t i = 0; i < NMEASURES; i++)
        put(b, ", %s", measures[i].expr);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++) {
        put(b, ", ");
        put_lat_expr(b, i);
    }
    put(b,
        " FROM calls WHERE %s ON CONFLICT(" DIMS ") DO UPDATE SET requests = requests + "
        "excluded.requests",
        where);
    for (size_t i = 1; i < NMEASURES; i++)
        put(b, ", %s = %s + excluded.%s", measures[i].name, measures[i].name, measures[i].name);
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
    struct sqlbuf b = {.n = 0};
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

/* Rollup migration 2: escalations by reason (store.h) — the columns, then
 * the escalated calls rows already stored folded into them. */
static int add_escalations(sqlite3 *db, char *err, size_t errlen)
{
    struct sqlbuf b;
    for (size_t g = 0; g < NGRAINS; g++) {
        for (size_t i = 0; i < NESC; i++) {
            b.n = 0;
            put(&b, "ALTER TABLE %s ADD COLUMN %s INTEGER NOT NULL DEFAULT 0", grains[g].table,
                esc_name(i));
            if (exec(db, b.s, "adding an escalation column", err, errlen) < 0)
                return -1;
        }
        b.n = 0;
        put(&b, "INSERT INTO %s (" DIMS, grains[g].table);
        put_esc_names(&b, "", "");
        put(&b, ") SELECT ts_ms - ts_ms %% %lld, %s", (long long)grains[g].ms, DIM_EXPRS);
        for (size_t i = 0; i < NESC; i++) {
            put(&b, ", SUM(");
            put_esc_expr(&b, i);
            put(&b, ")");
        }
        put(&b, " FROM calls WHERE COALESCE(route, '') = 'escalated' GROUP BY 1, 2, 3, 4"
                " ON CONFLICT(" DIMS ") DO UPDATE SET ");
        for (size_t i = 0; i < NESC; i++)
            put(&b, "%s%s = excluded.%s", i ? ", " : "", esc_name(i), esc_name(i));
        if (exec(db, b.s, "folding escalations into the rollups", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Rollup migration 3: refusals by kind (store.h) — the columns, then the
 * refused calls rows already stored folded into them. */
static int add_refusals(sqlite3 *db, char *err, size_t errlen)
{
    struct sqlbuf b;
    for (size_t g = 0; g < NGRAINS; g++) {
        for (size_t i = 0; i < NREF; i++) {
            b.n = 0;
            put(&b, "ALTER TABLE %s ADD COLUMN %s INTEGER NOT NULL DEFAULT 0", grains[g].table,
                fg_rollup_refusal[i].column);
            if (exec(db, b.s, "adding a refusal column", err, errlen) < 0)
                return -1;
        }
        b.n = 0;
        put(&b, "INSERT INTO %s (" DIMS, grains[g].table);
        put_ref_names(&b, "", "");
        put(&b, ") SELECT ts_ms - ts_ms %% %lld, %s", (long long)grains[g].ms, DIM_EXPRS);
        for (size_t i = 0; i < NREF; i++) {
            put(&b, ", SUM(");
            put_ref_expr(&b, i);
            put(&b, ")");
        }
        put(&b, " FROM calls WHERE COALESCE(status, 0) = 429 GROUP BY 1, 2, 3, 4"
                " ON CONFLICT(" DIMS ") DO UPDATE SET ");
        for (size_t i = 0; i < NREF; i++)
            put(&b, "%s%s = excluded.%s", i ? ", " : "", fg_rollup_refusal[i].column,
                fg_rollup_refusal[i].column);
        if (exec(db, b.s, "folding refusals into the rollups", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Rollup migration 4: the flex tier's discount, a column of 0s on tables
 * made before it (their rows predate flex).  Tables made by migration 1
 * since have it already: "duplicate column" is what they answer. */
static int add_flex(sqlite3 *db, char *err, size_t errlen)
{
    struct sqlbuf b;
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
static void put_values_upsert(struct sqlbuf *b, const struct grain *g)
{
    put(b, "INSERT INTO %s (" DIMS, g->table);
    put_value_names(b, "", "");
    put(b, ") VALUES (?, ?, ?, ?");
    for (size_t i = 0; i < NVALUES; i++)
        put(b, ", ?");
    put(b, ") ON CONFLICT(" DIMS ") DO UPDATE SET requests = requests + excluded.requests");
    for (size_t i = 1; i < NMEASURES; i++)
        put(b, ", %s = %s + excluded.%s", measures[i].name, measures[i].name, measures[i].name);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", lat%zu = lat%zu + excluded.lat%zu", i, i, i);
    for (size_t i = 0; i < NESC; i++)
        put(b, ", %s = %s + excluded.%s", esc_name(i), esc_name(i), esc_name(i));
    for (size_t i = 0; i < NREF; i++)
        put(b, ", %s = %s + excluded.%s", fg_rollup_refusal[i].column, fg_rollup_refusal[i].column,
            fg_rollup_refusal[i].column);
}

/* Sort one grain's items and upsert each group's sums once. */
static int add_grain(sqlite3 *db, const struct grain *g, struct item *it, size_t n, char *err,
                     size_t errlen)
{
    qsort(it, n, sizeof *it, item_cmp);
    struct sqlbuf b = {.n = 0};
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
    struct sqlbuf b = {.n = 0};
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
