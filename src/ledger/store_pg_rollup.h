/* store_pg_rollup.h — the Postgres backend's per-minute rollups (store.h).
 *
 * Contract: the same three grains as SQLite (rollup_minute, rollup_hour,
 * rollup_day; `minute` is the bucket's start) and the same measures.
 * fg_store_pg_rollup_migration() is the text of the ledger's migration 3:
 * it creates the tables and folds in the calls rows already stored, after
 * LOCK TABLE calls (no row can be written between the fold and the
 * migration's commit); pgdb.c runs it once, under its advisory lock, in
 * the migration's transaction, so two replicas opening at once fold once.
 * fg_store_pg_rollup_insert_sql() wraps the calls INSERT (… ON CONFLICT
 * DO NOTHING) in one statement: `WITH ins AS (INSERT … RETURNING …)` feeds
 * one upsert per grain, summed per (bucket, key, model, route) and ordered
 * by it (two writers lock rollup rows in the same order: no deadlock).
 * Only rows really inserted come back from RETURNING, so a row written
 * twice — by two replicas, by a spool replayed late — counts once, and the
 * rows and their sums commit or roll back together.
 * fg_store_pg_rollup_query_sql() is the store op `rollup`'s SELECT for a
 * query (the coarsest grain since, until and step are cut at; parameters
 * $1 since, $2 until, $3 step, $4 key, $5 model, $6 route, $7 the key ids
 * as a JSON array, all text);
 * fg_store_pg_rollup_read() fills a row from one result row of it.
 * Every text is built from constant tables once (pthread_once), never
 * from data. */
#ifndef FRUGAL_STORE_PG_ROLLUP_H
#define FRUGAL_STORE_PG_ROLLUP_H

#include "store.h"

#include <libpq-fe.h>

const char *fg_store_pg_rollup_migration(void);
/* Migration 4: the escalation columns (store.h), the rows already stored
 * folded in, after LOCK TABLE calls like migration 3. */
const char *fg_store_pg_rollup_migration_esc(void);
/* Migration 6: the refusal columns (store.h), likewise. */
const char *fg_store_pg_rollup_migration_ref(void);
/* malloc'd: the statement for `insert` ("INSERT INTO calls … DO NOTHING"). */
char *fg_store_pg_rollup_insert_sql(const char *insert);
const char *fg_store_pg_rollup_query_sql(const struct fg_rollup_query *q);
void fg_store_pg_rollup_read(const PGresult *res, struct fg_rollup_row *r);

#endif
