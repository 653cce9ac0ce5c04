/* store_pg_rollup.c — see store_pg_rollup.h.
 *
 * The measures are listed once (name, per-row expression over a calls
 * row, the rules of store_sqlite_rollup.c); the tables, the fold, the
 * write's upserts and the query are generated from that list. */
#include "store_pg_rollup.h"

#include "arena.h"
#include "assert.h"
#include "rollup_sql.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMEASURES FG_ROLLUP_NMEASURES
/* Then the escalations (ledger migration 4): the total, one per reason. */
#define NESC (1 + FG_ROLLUP_ESC_REASONS)
/* Then the refusals by kind (ledger migration 6). */
#define NREF FG_ROLLUP_REFUSALS

/* The calls columns the measures and dimensions read (RETURNING list). */
#define USED                                                                                         \
    "ts_ms, key_id, model, model_requested, route, status, priced, cache, cost_pico, "               \
    "baseline_pico, saved_prompt_cache_pico, saved_response_cache_pico, saved_routing_pico, "        \
    "saved_batch_pico, bucket_repeated_pico, bucket_repeated_cached_pico, "                          \
    "bucket_frontier_pico, bucket_bloated_pico, input_tokens, cache_read_tokens, "                   \
    "cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, latency_us, route_reason, error, " \
    "saved_flex_pico"
#define DIM_EXPRS FG_ROLLUP_DIM_EXPRS
#define DIMS FG_ROLLUP_DIMS

static const struct grain {
    const char *table;
    long long ms;
} grains[] = {{"rollup_minute", 60000}, {"rollup_hour", 3600000}, {"rollup_day", 86400000}};
#define NGRAINS (sizeof grains / sizeof grains[0])

#define put fg_rollup_sql_put
#define SQLBUF_SIZE 32768

/* Which value columns: as of migration 3 (the tables), of 4 (and the
 * escalations) or of 6 (and the refusals: what a write and a query use). */
enum cols { COLS_3, COLS_4, COLS_6, COLS_7 };

/* Measure i is in the tables as of c (saved_flex_pico: migration 7). */
static bool has_measure(size_t i, enum cols c)
{
    return fg_rollup_measures[i].pg_since == 0 ||
           (fg_rollup_measures[i].pg_since == 7 && c >= COLS_7);
}

static void put_value_names_v(struct fg_rollup_sql *b, const char *prefix, const char *suffix,
                              enum cols c)
{
    for (size_t i = 0; i < NMEASURES; i++)
        if (has_measure(i, c))
            put(b, ", %s%s%s", prefix, fg_rollup_measures[i].name, suffix);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", %slat%zu%s", prefix, i, suffix);
    if (c >= COLS_4)
        fg_rollup_sql_set_names(b, FG_ROLLUP_SET_ESC, prefix, suffix);
    if (c >= COLS_6)
        fg_rollup_sql_set_names(b, FG_ROLLUP_SET_REF, prefix, suffix);
}

static void put_value_names(struct fg_rollup_sql *b, const char *prefix, const char *suffix)
{
    put_value_names_v(b, prefix, suffix, COLS_7);
}

/* INSERT INTO <grain> … SELECT sums FROM <from> GROUP BY dims ORDER BY
 * dims ON CONFLICT … DO UPDATE SET v = <grain>.v + excluded.v, over the
 * columns of c (migration 3's fold: its own only). */
static void put_upsert(struct fg_rollup_sql *b, const struct grain *g, const char *from,
                       enum cols c)
{
    bool esc = c >= COLS_4, ref = c >= COLS_6;
    put(b, "INSERT INTO %s (" DIMS, g->table);
    put_value_names_v(b, "", "", c);
    put(b, ") SELECT ts_ms - ts_ms %% %lld, %s", g->ms, DIM_EXPRS);
    for (size_t i = 0; i < NMEASURES; i++)
        if (has_measure(i, c)) {
            put(b, ", SUM(");
            fg_rollup_sql_measure(b, i, FG_ROLLUP_PG);
            put(b, ")::bigint");
        }
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++) {
        put(b, ", SUM(");
        fg_rollup_sql_lat(b, i, FG_ROLLUP_PG);
        put(b, ")::bigint");
    }
    for (size_t i = 0; esc && i < NESC; i++) {
        put(b, ", SUM(");
        fg_rollup_sql_set_expr(b, FG_ROLLUP_SET_ESC, i, FG_ROLLUP_PG);
        put(b, ")::bigint");
    }
    for (size_t i = 0; ref && i < NREF; i++) {
        put(b, ", SUM(");
        fg_rollup_sql_set_expr(b, FG_ROLLUP_SET_REF, i, FG_ROLLUP_PG);
        put(b, ")::bigint");
    }
    put(b, " FROM %s GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 ON CONFLICT (" DIMS ") DO UPDATE SET ",
        from);
    for (size_t i = 0; i < NMEASURES; i++)
        if (has_measure(i, c))
            put(b, "%s%s = %s.%s + excluded.%s", i ? ", " : "", fg_rollup_measures[i].name,
                g->table, fg_rollup_measures[i].name, fg_rollup_measures[i].name);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", lat%zu = %s.lat%zu + excluded.lat%zu", i, g->table, i, i);
    if (esc)
        fg_rollup_sql_set_sums(b, FG_ROLLUP_SET_ESC, g->table);
    if (ref)
        fg_rollup_sql_set_sums(b, FG_ROLLUP_SET_REF, g->table);
}

static char migration_text[SQLBUF_SIZE], esc_text[SQLBUF_SIZE], ref_text[SQLBUF_SIZE],
    suffix_text[SQLBUF_SIZE];
static struct fg_rollup_sql migration = {migration_text, SQLBUF_SIZE, 0},
                            migration_esc = {esc_text, SQLBUF_SIZE, 0},
                            migration_ref = {ref_text, SQLBUF_SIZE, 0},
                            suffix = {suffix_text, SQLBUF_SIZE, 0};
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A ledger migration adding a counted set: the columns, then (no calls row
 * committing meanwhile) the stored rows folded in. */
static void add_set(struct fg_rollup_sql *b, enum fg_rollup_set set)
{
    for (size_t i = 0; i < NGRAINS; i++)
        fg_rollup_sql_add_set(b, set, grains[i].table, FG_ROLLUP_PG);
    put(b, "LOCK TABLE calls IN SHARE MODE;");
    for (size_t i = 0; i < NGRAINS; i++)
        fg_rollup_sql_fold_set(b, set, grains[i].table, grains[i].ms, FG_ROLLUP_PG);
}

static void build(void)
{
    struct fg_rollup_sql *b = &migration;
    for (size_t i = 0; i < NGRAINS; i++) {
        put(b,
            "CREATE TABLE %s (minute bigint NOT NULL, key_id text NOT NULL,"
            " model text NOT NULL, route text NOT NULL",
            grains[i].table);
        put_value_names_v(b, "", " bigint NOT NULL DEFAULT 0", COLS_3);
        put(b, ", PRIMARY KEY (" DIMS "));");
    }
    /* no calls row may commit between the fold and this transaction's end */
    put(b, "LOCK TABLE calls IN SHARE MODE;");
    for (size_t i = 0; i < NGRAINS; i++) {
        put_upsert(b, &grains[i], "calls", COLS_3);
        put(b, ";");
    }
    /* migrations 4 and 6: the escalation and refusal columns, rows folded in */
    add_set(&migration_esc, FG_ROLLUP_SET_ESC);
    add_set(&migration_ref, FG_ROLLUP_SET_REF);
    /* ") RETURNING …), r0 AS (upsert), r1 AS (upsert) upsert" */
    b = &suffix;
    put(b, " RETURNING " USED ")");
    for (size_t i = 0; i < NGRAINS; i++) {
        put(b, i + 1 < NGRAINS ? ", r%zu AS (" : " ", i);
        put_upsert(b, &grains[i], "ins", COLS_7);
        if (i + 1 < NGRAINS)
            put(b, ")");
    }
}

const char *fg_store_pg_rollup_migration(void)
{
    pthread_once(&once, build);
    return migration.s;
}

const char *fg_store_pg_rollup_migration_esc(void)
{
    pthread_once(&once, build);
    return migration_esc.s;
}

const char *fg_store_pg_rollup_migration_ref(void)
{
    pthread_once(&once, build);
    return migration_ref.s;
}

char *fg_store_pg_rollup_insert_sql(const char *insert)
{
    pthread_once(&once, build);
    size_t n = strlen(insert), cap = n + suffix.n + 32;
    char *s = fg_xmalloc(cap);
    int k = snprintf(s, cap, "WITH ins AS (%s%s", insert, suffix.s);
    FG_ASSERT(k > 0 && (size_t)k < cap);
    return s;
}

static const char *const group_cols[] = {
    [FG_ROLLUP_NONE] = "NULL::text",
    [FG_ROLLUP_MODEL] = "model",
    [FG_ROLLUP_KEY] = "key_id",
    [FG_ROLLUP_ROUTE] = "route",
};

/* One text per (grain, group): built once, read by any thread after. */
#define NGROUPS (sizeof group_cols / sizeof group_cols[0])
static char query_text[NGRAINS][NGROUPS][4096];
static struct fg_rollup_sql queries[NGRAINS][NGROUPS];
static pthread_once_t qonce = PTHREAD_ONCE_INIT;

static void build_queries(void)
{
    for (size_t gi = 0; gi < NGRAINS; gi++)
        for (size_t k = 0; k < NGROUPS; k++) {
            struct fg_rollup_sql *b = &queries[gi][k];
            *b = (struct fg_rollup_sql){query_text[gi][k], sizeof query_text[gi][k], 0};
            put(b,
                "SELECT (minute - $1::bigint) / $3::bigint * $3::bigint + $1::bigint AS t, "
                "%s AS g",
                group_cols[k]);
            put_value_names(b, "SUM(", ")::bigint");
            put(b,
                " FROM %s WHERE minute >= $1::bigint AND minute < $2::bigint AND ($4::text IS "
                "NULL OR key_id = $4::text) AND ($5::text IS NULL OR model = $5::text) AND "
                "($6::text IS NULL OR route = $6::text) AND ($7::text IS NULL OR key_id IN "
                "(SELECT json_array_elements_text($7::json))) GROUP BY t, g ORDER BY t, g",
                grains[gi].table);
        }
}

const char *fg_store_pg_rollup_query_sql(const struct fg_rollup_query *q)
{
    FG_ASSERT(q->step_ms >= 60000 && q->step_ms % 60000 == 0);
    FG_ASSERT((unsigned)q->group < NGROUPS);
    pthread_once(&qonce, build_queries);
    size_t gi = 0;
    for (size_t i = 1; i < NGRAINS; i++)
        if (q->step_ms % grains[i].ms == 0 && q->since_ms % grains[i].ms == 0 &&
            q->until_ms % grains[i].ms == 0)
            gi = i;
    return queries[gi][q->group].s;
}

static int64_t num(const PGresult *r, int i)
{
    return PQgetisnull(r, 0, i) ? 0 : strtoll(PQgetvalue(r, 0, i), NULL, 10);
}

void fg_store_pg_rollup_read(const PGresult *res, struct fg_rollup_row *r)
{
    memset(r, 0, sizeof *r);
    r->t_ms = num(res, 0);
    r->group = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
    int c = 2; /* the order of `measures`, then the buckets */
    r->requests = num(res, c++);
    r->errors = num(res, c++);
    r->unpriced = num(res, c++);
    r->cache_hits = num(res, c++);
    r->cost_pico = num(res, c++);
    r->baseline_pico = num(res, c++);
    for (int k = 0; k < 4; k++)
        r->saved_pico[k] = num(res, c++);
    for (int k = 0; k < 4; k++)
        r->bucket_pico[k] = num(res, c++);
    for (int k = 0; k < 5; k++)
        r->tokens[k] = num(res, c++);
    r->latency_sum_us = num(res, c++);
    r->saved_pico[4] = num(res, c++); /* flex */
    FG_DASSERT(c == 2 + (int)NMEASURES);
    for (int k = 0; k < FG_ROLLUP_LAT_BUCKETS; k++)
        r->lat[k] = num(res, c++);
    r->escalations = num(res, c++);
    for (int k = 0; k < FG_ROLLUP_ESC_REASONS; k++)
        r->esc[k] = num(res, c++);
    for (int k = 0; k < NREF; k++)
        r->refused[k] = num(res, c++);
}
