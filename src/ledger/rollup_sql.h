/* rollup_sql.h — the SQL text both rollup backends generate alike.
 *
 * store_sqlite_rollup.c and store_pg_rollup.c keep the same rollups
 * (store.h) from the same calls columns; what they generate from the lists
 * below differs only in how a dialect turns a 0/1 condition into an
 * integer and sums it.  Everything written here is constant text from
 * code (no caller data), built once per process into a fixed buffer: a
 * buffer too small is a programming error (asserted), not a runtime one.
 *
 * Counted sets: the escalations (the total, then one column per reason)
 * and the refusals by kind, each a list of 0/1 columns over a calls row
 * with the filter a migration adding them folds the stored rows by. */
#ifndef FG_ROLLUP_SQL_H
#define FG_ROLLUP_SQL_H

#include <stdbool.h>
#include <stddef.h>

/* The dimensions but time, as expressions over a calls row (store.h). */
#define FG_ROLLUP_DIM_EXPRS                                                                        \
    "COALESCE(key_id, ''), COALESCE(NULLIF(model, ''), NULLIF(model_requested, ''), '(none)'), "   \
    "COALESCE(route, '')"
#define FG_ROLLUP_DIMS "minute, key_id, model, route"

enum fg_rollup_dialect { FG_ROLLUP_SQLITE, FG_ROLLUP_PG };

struct fg_rollup_sql {
    char *s; /* caller's buffer, NUL-terminated after every put */
    size_t cap, n;
};
/* A buffer on the stack: FG_ROLLUP_SQL_BUF(b, 12288); then put(&b, …). */
#define FG_ROLLUP_SQL_BUF(name, size)                                                              \
    char name##_text[size];                                                                        \
    struct fg_rollup_sql name = {name##_text, sizeof name##_text, 0}

void fg_rollup_sql_put(struct fg_rollup_sql *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A code constant as an SQL string literal: quotes doubled (no
 * backslashes, which a server without standard strings would read). */
void fg_rollup_sql_literal(struct fg_rollup_sql *b, const char *s);

/* The measures: a sum per rollup row of expr over its calls rows; a flag's
 * expr is a condition, counted as 0/1.  pg_since: the Postgres ledger
 * migration adding it (0: the tables'); SQLite tables have them all. */
struct fg_rollup_measure {
    const char *name, *expr;
    bool flag;
    int pg_since;
};
#define FG_ROLLUP_NMEASURES 21
extern const struct fg_rollup_measure fg_rollup_measures[FG_ROLLUP_NMEASURES];
/* Measure i's per-row value as an integer expression. */
void fg_rollup_sql_measure(struct fg_rollup_sql *b, size_t i, enum fg_rollup_dialect d);
/* Latency bucket i (store.h) as a 0/1 integer expression. */
void fg_rollup_sql_lat(struct fg_rollup_sql *b, size_t i, enum fg_rollup_dialect d);

enum fg_rollup_set { FG_ROLLUP_SET_ESC, FG_ROLLUP_SET_REF };
size_t fg_rollup_sql_set_len(enum fg_rollup_set set);
const char *fg_rollup_sql_set_column(enum fg_rollup_set set, size_t i);
/* Column i of the set as a 0/1 integer expression over a calls row. */
void fg_rollup_sql_set_expr(struct fg_rollup_sql *b, enum fg_rollup_set set, size_t i,
                            enum fg_rollup_dialect d);
/* ", <prefix><column><suffix>" for each column of the set. */
void fg_rollup_sql_set_names(struct fg_rollup_sql *b, enum fg_rollup_set set, const char *prefix,
                             const char *suffix);
/* ", c = <table>.c + excluded.c" for each column c of the set (an
 * upsert's update list; table NULL: unqualified). */
void fg_rollup_sql_set_sums(struct fg_rollup_sql *b, enum fg_rollup_set set, const char *table);
/* The statements adding the set's columns (0 by default) to a table. */
void fg_rollup_sql_add_set(struct fg_rollup_sql *b, enum fg_rollup_set set, const char *table,
                           enum fg_rollup_dialect d);
/* The statement folding the stored calls rows the set counts into one
 * grain's table (a migration adding the set's columns): INSERT … SELECT
 * sums … FROM calls WHERE <the set's filter> … ON CONFLICT … DO UPDATE. */
void fg_rollup_sql_fold_set(struct fg_rollup_sql *b, enum fg_rollup_set set, const char *table,
                            long long grain_ms, enum fg_rollup_dialect d);

#endif
