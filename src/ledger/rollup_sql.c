/* rollup_sql.c — see rollup_sql.h. */
#include "rollup_sql.h"

#include "assert.h"
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const struct fg_rollup_measure fg_rollup_measures[FG_ROLLUP_NMEASURES] = {
    {"requests", "1", false, 0},
    {"errors", "COALESCE(status, 0) >= 400", true, 0},
    {"unpriced", "COALESCE(priced, 0) = 0 AND COALESCE(status, 0) < 400", true, 0},
    {"cache_hits", "COALESCE(cache, '') = 'hit'", true, 0},
    {"cost_pico", "COALESCE(cost_pico, 0)", false, 0},
    {"baseline_pico", "COALESCE(baseline_pico, 0)", false, 0},
    {"saved_prompt_cache_pico", "COALESCE(saved_prompt_cache_pico, 0)", false, 0},
    {"saved_response_cache_pico", "COALESCE(saved_response_cache_pico, 0)", false, 0},
    {"saved_routing_pico", "COALESCE(saved_routing_pico, 0)", false, 0},
    {"saved_batch_pico", "COALESCE(saved_batch_pico, 0)", false, 0},
    {"bucket_repeated_pico", "COALESCE(bucket_repeated_pico, 0)", false, 0},
    {"bucket_repeated_cached_pico", "COALESCE(bucket_repeated_cached_pico, 0)", false, 0},
    {"bucket_frontier_pico", "COALESCE(bucket_frontier_pico, 0)", false, 0},
    {"bucket_bloated_pico", "COALESCE(bucket_bloated_pico, 0)", false, 0},
    {"input_tokens", "COALESCE(input_tokens, 0)", false, 0},
    {"cache_read_tokens", "COALESCE(cache_read_tokens, 0)", false, 0},
    {"cache_write_5m_tokens", "COALESCE(cache_write_5m_tokens, 0)", false, 0},
    {"cache_write_1h_tokens", "COALESCE(cache_write_1h_tokens, 0)", false, 0},
    {"output_tokens", "COALESCE(output_tokens, 0)", false, 0},
    {"latency_sum_us", "COALESCE(latency_us, 0)", false, 0},
    {"saved_flex_pico", "COALESCE(saved_flex_pico, 0)", false, 7},
};

void fg_rollup_sql_put(struct fg_rollup_sql *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    FG_ASSERT(k >= 0 && (size_t)k < b->cap - b->n); /* constant text: sized once */
    b->n += (size_t)k;
}

#define put fg_rollup_sql_put

void fg_rollup_sql_literal(struct fg_rollup_sql *b, const char *s)
{
    FG_ASSERT(!strchr(s, '\\'));
    put(b, "'");
    for (const char *q; (q = strchr(s, '\'')); s = q + 1)
        put(b, "%.*s''", (int)(q - s), s);
    put(b, "%s'", s);
}

/* A condition as an integer: SQLite's comparisons are 0/1 already. */
static void put_flag_end(struct fg_rollup_sql *b, enum fg_rollup_dialect d)
{
    put(b, d == FG_ROLLUP_PG ? ")::int" : ")");
}

void fg_rollup_sql_measure(struct fg_rollup_sql *b, size_t i, enum fg_rollup_dialect d)
{
    FG_ASSERT(i < FG_ROLLUP_NMEASURES);
    const struct fg_rollup_measure *m = &fg_rollup_measures[i];
    FG_ASSERT(m->name); /* the list fills the array */
    if (!m->flag || d == FG_ROLLUP_SQLITE) {
        put(b, "%s", m->expr);
        return;
    }
    put(b, "(%s", m->expr);
    put_flag_end(b, d);
}

void fg_rollup_sql_lat(struct fg_rollup_sql *b, size_t i, enum fg_rollup_dialect d)
{
    FG_ASSERT(i < FG_ROLLUP_LAT_BUCKETS);
    const char *v = "COALESCE(latency_us, 0)";
    put(b, "(");
    if (i == 0)
        put(b, "%s <= %lld", v, (long long)fg_rollup_lat_le_ms[0] * 1000);
    else if (i + 1 == FG_ROLLUP_LAT_BUCKETS)
        put(b, "%s > %lld", v, (long long)fg_rollup_lat_le_ms[i - 1] * 1000);
    else
        put(b, "%s > %lld AND %s <= %lld", v, (long long)fg_rollup_lat_le_ms[i - 1] * 1000, v,
            (long long)fg_rollup_lat_le_ms[i] * 1000);
    put_flag_end(b, d);
}

size_t fg_rollup_sql_set_len(enum fg_rollup_set set)
{
    return set == FG_ROLLUP_SET_ESC ? 1 + FG_ROLLUP_ESC_REASONS : FG_ROLLUP_REFUSALS;
}

const char *fg_rollup_sql_set_column(enum fg_rollup_set set, size_t i)
{
    FG_ASSERT(i < fg_rollup_sql_set_len(set));
    if (set == FG_ROLLUP_SET_REF)
        return fg_rollup_refusal[i].column;
    return i == 0 ? "escalations" : fg_rollup_esc[i - 1].column;
}

/* The filter every column of the set implies (store.h's rules). */
static const char *set_filter(enum fg_rollup_set set)
{
    return set == FG_ROLLUP_SET_ESC ? "COALESCE(route, '') = 'escalated'"
                                    : "COALESCE(status, 0) = 429";
}

void fg_rollup_sql_set_expr(struct fg_rollup_sql *b, enum fg_rollup_set set, size_t i,
                            enum fg_rollup_dialect d)
{
    FG_ASSERT(i < fg_rollup_sql_set_len(set));
    put(b, "(%s", set_filter(set));
    if (set == FG_ROLLUP_SET_ESC && i > 0) {
        const char *p = fg_rollup_esc[i - 1].prefix;
        put(b, " AND substr(COALESCE(route_reason, ''), 1, %zu) = ", strlen(p));
        fg_rollup_sql_literal(b, p);
    } else if (set == FG_ROLLUP_SET_REF) {
        const struct fg_rollup_refusal *k = &fg_rollup_refusal[i];
        put(b, " AND (");
        for (size_t j = 0; j < 2 && k->prefix[j]; j++) {
            put(b, "%ssubstr(COALESCE(error, ''), 1, %zu) = ", j ? " OR " : "",
                strlen(k->prefix[j]));
            fg_rollup_sql_literal(b, k->prefix[j]);
        }
        put(b, ")");
    }
    put_flag_end(b, d);
}

void fg_rollup_sql_set_names(struct fg_rollup_sql *b, enum fg_rollup_set set, const char *prefix,
                             const char *suffix)
{
    for (size_t i = 0; i < fg_rollup_sql_set_len(set); i++)
        put(b, ", %s%s%s", prefix, fg_rollup_sql_set_column(set, i), suffix);
}

void fg_rollup_sql_set_sums(struct fg_rollup_sql *b, enum fg_rollup_set set, const char *table)
{
    for (size_t i = 0; i < fg_rollup_sql_set_len(set); i++) {
        const char *col = fg_rollup_sql_set_column(set, i);
        put(b, ", %s = %s%s%s + excluded.%s", col, table ? table : "", table ? "." : "", col, col);
    }
}

void fg_rollup_sql_add_set(struct fg_rollup_sql *b, enum fg_rollup_set set, const char *table,
                           enum fg_rollup_dialect d)
{
    size_t n = fg_rollup_sql_set_len(set);
    if (d == FG_ROLLUP_PG) { /* one statement: the columns appear together */
        put(b, "ALTER TABLE %s", table);
        for (size_t k = 0; k < n; k++)
            put(b, "%s ADD COLUMN %s bigint NOT NULL DEFAULT 0", k ? "," : "",
                fg_rollup_sql_set_column(set, k));
        put(b, ";");
        return;
    }
    for (size_t k = 0; k < n; k++) /* SQLite adds one column per statement */
        put(b, "ALTER TABLE %s ADD COLUMN %s INTEGER NOT NULL DEFAULT 0;", table,
            fg_rollup_sql_set_column(set, k));
}

void fg_rollup_sql_fold_set(struct fg_rollup_sql *b, enum fg_rollup_set set, const char *table,
                            long long grain_ms, enum fg_rollup_dialect d)
{
    size_t n = fg_rollup_sql_set_len(set);
    const char *sum_end = d == FG_ROLLUP_PG ? ")::bigint" : ")";
    put(b, "INSERT INTO %s (" FG_ROLLUP_DIMS, table);
    fg_rollup_sql_set_names(b, set, "", "");
    put(b, ") SELECT ts_ms - ts_ms %% %lld, %s", grain_ms, FG_ROLLUP_DIM_EXPRS);
    for (size_t k = 0; k < n; k++) {
        put(b, ", SUM(");
        fg_rollup_sql_set_expr(b, set, k, d);
        put(b, "%s", sum_end);
    }
    /* Postgres: rows in key order, so concurrent folds lock alike */
    put(b,
        " FROM calls WHERE %s GROUP BY 1, 2, 3, 4%s ON CONFLICT (" FG_ROLLUP_DIMS
        ") DO UPDATE SET ",
        set_filter(set), d == FG_ROLLUP_PG ? " ORDER BY 1, 2, 3, 4" : "");
    for (size_t k = 0; k < n; k++)
        put(b, "%s%s = excluded.%s", k ? ", " : "", fg_rollup_sql_set_column(set, k),
            fg_rollup_sql_set_column(set, k));
    put(b, ";");
}
