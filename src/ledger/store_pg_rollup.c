/* store_pg_rollup.c — see store_pg_rollup.h.
 *
 * The measures are listed once (name, per-row expression over a calls
 * row, the rules of store_sqlite_rollup.c); the tables, the fold, the
 * write's upserts and the query are generated from that list. */
#include "store_pg_rollup.h"

#include "arena.h"
#include "assert.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct measure {
    const char *name, *expr;
    int since; /* the ledger migration adding it (0: migration 3, the tables) */
} measures[] = {
    {"requests", "1", 0},
    {"errors", "(COALESCE(status, 0) >= 400)::int", 0},
    {"unpriced", "(COALESCE(priced, 0) = 0 AND COALESCE(status, 0) < 400)::int", 0},
    {"cache_hits", "(COALESCE(cache, '') = 'hit')::int", 0},
    {"cost_pico", "COALESCE(cost_pico, 0)", 0},
    {"baseline_pico", "COALESCE(baseline_pico, 0)", 0},
    {"saved_prompt_cache_pico", "COALESCE(saved_prompt_cache_pico, 0)", 0},
    {"saved_response_cache_pico", "COALESCE(saved_response_cache_pico, 0)", 0},
    {"saved_routing_pico", "COALESCE(saved_routing_pico, 0)", 0},
    {"saved_batch_pico", "COALESCE(saved_batch_pico, 0)", 0},
    {"bucket_repeated_pico", "COALESCE(bucket_repeated_pico, 0)", 0},
    {"bucket_repeated_cached_pico", "COALESCE(bucket_repeated_cached_pico, 0)", 0},
    {"bucket_frontier_pico", "COALESCE(bucket_frontier_pico, 0)", 0},
    {"bucket_bloated_pico", "COALESCE(bucket_bloated_pico, 0)", 0},
    {"input_tokens", "COALESCE(input_tokens, 0)", 0},
    {"cache_read_tokens", "COALESCE(cache_read_tokens, 0)", 0},
    {"cache_write_5m_tokens", "COALESCE(cache_write_5m_tokens, 0)", 0},
    {"cache_write_1h_tokens", "COALESCE(cache_write_1h_tokens, 0)", 0},
    {"output_tokens", "COALESCE(output_tokens, 0)", 0},
    {"latency_sum_us", "COALESCE(latency_us, 0)", 0},
    {"saved_flex_pico", "COALESCE(saved_flex_pico, 0)", 7},
};
#define NMEASURES (sizeof measures / sizeof measures[0])
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
#define DIM_EXPRS                                                                                  \
    "COALESCE(key_id, ''), COALESCE(NULLIF(model, ''), NULLIF(model_requested, ''), '(none)'), "   \
    "COALESCE(route, '')"
#define DIMS "minute, key_id, model, route"

static const struct grain {
    const char *table;
    long long ms;
} grains[] = {{"rollup_minute", 60000}, {"rollup_hour", 3600000}, {"rollup_day", 86400000}};
#define NGRAINS (sizeof grains / sizeof grains[0])

struct sqlbuf {
    char s[32768];
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

static void put_lat_expr(struct sqlbuf *b, size_t i)
{
    const char *v = "COALESCE(latency_us, 0)";
    if (i == 0)
        put(b, "(%s <= %lld)::int", v, (long long)fg_rollup_lat_le_ms[0] * 1000);
    else if (i + 1 == FG_ROLLUP_LAT_BUCKETS)
        put(b, "(%s > %lld)::int", v, (long long)fg_rollup_lat_le_ms[i - 1] * 1000);
    else
        put(b, "(%s > %lld AND %s <= %lld)::int", v, (long long)fg_rollup_lat_le_ms[i - 1] * 1000,
            v, (long long)fg_rollup_lat_le_ms[i] * 1000);
}

static const char *esc_name(size_t i)
{
    return i == 0 ? "escalations" : fg_rollup_esc[i - 1].column;
}

/* Escalation column i (0: all, else reason i - 1) as a 0/1 expression
 * (store.h; the same rule as store_sqlite_rollup.c). */
static void put_esc_expr(struct sqlbuf *b, size_t i)
{
    put(b, "(COALESCE(route, '') = 'escalated'");
    if (i > 0) {
        const char *p = fg_rollup_esc[i - 1].prefix;
        FG_ASSERT(!strchr(p, '\''));
        put(b, " AND substr(COALESCE(route_reason, ''), 1, %zu) = '%s'", strlen(p), p);
    }
    put(b, ")::int");
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

/* Refusal kind i as a 0/1 expression (store.h; store_sqlite_rollup.c's
 * rule). */
static void put_ref_expr(struct sqlbuf *b, size_t i)
{
    const struct fg_rollup_refusal *k = &fg_rollup_refusal[i];
    put(b, "(COALESCE(status, 0) = 429 AND (");
    for (size_t j = 0; j < 2 && k->prefix[j]; j++) {
        put(b, "%ssubstr(COALESCE(error, ''), 1, %zu) = ", j ? " OR " : "", strlen(k->prefix[j]));
        put_literal(b, k->prefix[j]);
    }
    put(b, "))::int");
}

static void put_ref_names(struct sqlbuf *b, const char *prefix, const char *suffix)
{
    for (size_t i = 0; i < NREF; i++)
        put(b, ", %s%s%s", prefix, fg_rollup_refusal[i].column, suffix);
}

/* Which value columns: as of migration 3 (the tables), of 4 (and the
 * escalations) or of 6 (and the refusals: what a write and a query use). */
enum cols { COLS_3, COLS_4, COLS_6, COLS_7 };

/* Measure i is in the tables as of c (saved_flex_pico: migration 7). */
static bool has_measure(size_t i, enum cols c)
{
    return measures[i].since == 0 || (measures[i].since == 7 && c >= COLS_7);
}

static void put_value_names_v(struct sqlbuf *b, const char *prefix, const char *suffix, enum cols c)
{
    for (size_t i = 0; i < NMEASURES; i++)
        if (has_measure(i, c))
            put(b, ", %s%s%s", prefix, measures[i].name, suffix);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", %slat%zu%s", prefix, i, suffix);
    if (c >= COLS_4)
        put_esc_names(b, prefix, suffix);
    if (c >= COLS_6)
        put_ref_names(b, prefix, suffix);
}

static void put_value_names(struct sqlbuf *b, const char *prefix, const char *suffix)
{
    put_value_names_v(b, prefix, suffix, COLS_7);
}

/* INSERT INTO <grain> … SELECT sums FROM <from> GROUP BY dims ORDER BY
 * dims ON CONFLICT … DO UPDATE SET v = <grain>.v + excluded.v, over the
 * columns of c (migration 3's fold: its own only). */
static void put_upsert(struct sqlbuf *b, const struct grain *g, const char *from, enum cols c)
{
    bool esc = c >= COLS_4, ref = c >= COLS_6;
    put(b, "INSERT INTO %s (" DIMS, g->table);
    put_value_names_v(b, "", "", c);
    put(b, ") SELECT ts_ms - ts_ms %% %lld, %s", g->ms, DIM_EXPRS);
    for (size_t i = 0; i < NMEASURES; i++)
        if (has_measure(i, c))
            put(b, ", SUM(%s)::bigint", measures[i].expr);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++) {
        put(b, ", SUM(");
        put_lat_expr(b, i);
        put(b, ")::bigint");
    }
    for (size_t i = 0; esc && i < NESC; i++) {
        put(b, ", SUM(");
        put_esc_expr(b, i);
        put(b, ")::bigint");
    }
    for (size_t i = 0; ref && i < NREF; i++) {
        put(b, ", SUM(");
        put_ref_expr(b, i);
        put(b, ")::bigint");
    }
    put(b, " FROM %s GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 ON CONFLICT (" DIMS ") DO UPDATE SET ",
        from);
    for (size_t i = 0; i < NMEASURES; i++)
        if (has_measure(i, c))
            put(b, "%s%s = %s.%s + excluded.%s", i ? ", " : "", measures[i].name, g->table,
                measures[i].name, measures[i].name);
    for (size_t i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        put(b, ", lat%zu = %s.lat%zu + excluded.lat%zu", i, g->table, i, i);
    for (size_t i = 0; esc && i < NESC; i++)
        put(b, ", %s = %s.%s + excluded.%s", esc_name(i), g->table, esc_name(i), esc_name(i));
    for (size_t i = 0; ref && i < NREF; i++)
        put(b, ", %s = %s.%s + excluded.%s", fg_rollup_refusal[i].column, g->table,
            fg_rollup_refusal[i].column, fg_rollup_refusal[i].column);
}

static struct sqlbuf migration, migration_esc, migration_ref, suffix;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    struct sqlbuf *b = &migration;
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
    /* migration 4: the escalation columns, the escalated rows folded in */
    b = &migration_esc;
    for (size_t i = 0; i < NGRAINS; i++) {
        put(b, "ALTER TABLE %s", grains[i].table);
        for (size_t k = 0; k < NESC; k++)
            put(b, "%s ADD COLUMN %s bigint NOT NULL DEFAULT 0", k ? "," : "", esc_name(k));
        put(b, ";");
    }
    put(b, "LOCK TABLE calls IN SHARE MODE;");
    for (size_t i = 0; i < NGRAINS; i++) {
        put(b, "INSERT INTO %s (" DIMS, grains[i].table);
        put_esc_names(b, "", "");
        put(b, ") SELECT ts_ms - ts_ms %% %lld, %s", grains[i].ms, DIM_EXPRS);
        for (size_t k = 0; k < NESC; k++) {
            put(b, ", SUM(");
            put_esc_expr(b, k);
            put(b, ")::bigint");
        }
        put(b, " FROM calls WHERE COALESCE(route, '') = 'escalated' GROUP BY 1, 2, 3, 4 ORDER BY "
               "1, 2, 3, 4 ON CONFLICT (" DIMS ") DO UPDATE SET ");
        for (size_t k = 0; k < NESC; k++)
            put(b, "%s%s = excluded.%s", k ? ", " : "", esc_name(k), esc_name(k));
        put(b, ";");
    }
    /* migration 6: the refusal columns, the refused rows folded in */
    b = &migration_ref;
    for (size_t i = 0; i < NGRAINS; i++) {
        put(b, "ALTER TABLE %s", grains[i].table);
        for (size_t k = 0; k < NREF; k++)
            put(b, "%s ADD COLUMN %s bigint NOT NULL DEFAULT 0", k ? "," : "",
                fg_rollup_refusal[k].column);
        put(b, ";");
    }
    put(b, "LOCK TABLE calls IN SHARE MODE;");
    for (size_t i = 0; i < NGRAINS; i++) {
        put(b, "INSERT INTO %s (" DIMS, grains[i].table);
        put_ref_names(b, "", "");
        put(b, ") SELECT ts_ms - ts_ms %% %lld, %s", grains[i].ms, DIM_EXPRS);
        for (size_t k = 0; k < NREF; k++) {
            put(b, ", SUM(");
            put_ref_expr(b, k);
            put(b, ")::bigint");
        }
        put(b, " FROM calls WHERE COALESCE(status, 0) = 429 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, "
               "3, 4 ON CONFLICT (" DIMS ") DO UPDATE SET ");
        for (size_t k = 0; k < NREF; k++)
            put(b, "%s%s = excluded.%s", k ? ", " : "", fg_rollup_refusal[k].column,
                fg_rollup_refusal[k].column);
        put(b, ";");
    }
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
static struct sqlbuf queries[NGRAINS][sizeof group_cols / sizeof group_cols[0]];
static pthread_once_t qonce = PTHREAD_ONCE_INIT;

static void build_queries(void)
{
    for (size_t gi = 0; gi < NGRAINS; gi++)
        for (size_t k = 0; k < sizeof group_cols / sizeof group_cols[0]; k++) {
            struct sqlbuf *b = &queries[gi][k];
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
    FG_ASSERT((unsigned)q->group < sizeof group_cols / sizeof group_cols[0]);
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
