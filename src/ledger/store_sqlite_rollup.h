/* store_sqlite_rollup.h — the SQLite backend's per-minute rollups (store.h).
 *
 * Contract: fg_store_sqlite_rollup_schema() creates the rollup_minute,
 * rollup_hour and rollup_day tables (one schema; `minute` is the bucket's
 * start) and, the first time, folds in the calls rows already stored (a
 * database from before rollups; rollup tables or triggers of an earlier
 * design are dropped and rebuilt from calls, the source of truth), then
 * applies the numbered rollup migrations not applied yet (table
 * rollup_migrations: version, name, applied_ms; 1 the tables, 2 the
 * escalations by reason, 3 the refusals by kind, store.h), each folding the stored calls rows into
 * what it adds.  It runs in a BEGIN IMMEDIATE transaction so two
 * connections opening at once cannot both fold.
 * fg_store_sqlite_rollup_add() is called by every writer of calls rows,
 * inside the transaction that inserted them, with which rows were really
 * inserted (calls are inserted ON CONFLICT(id) DO NOTHING, sqlite3_changes
 * says): it adds those to the three grains, one upsert per (bucket, key,
 * model, route) group of the write (a trigger per row cost the writer 10x
 * its throughput).  So a row written twice — by two replicas on one
 * database, by a spool replayed late — counts once, and rows and rollups
 * commit or roll back together.
 * fg_store_sqlite_rollup_query() is the store op `rollup` for a connection;
 * it reads the coarsest grain that since, until and step are all cut at.
 * All SQL is built from constant text only (the escalation reasons' and
 * refusal kinds' prefixes are code constants, store.c); values are bound. */
#ifndef FRUGAL_STORE_SQLITE_ROLLUP_H
#define FRUGAL_STORE_SQLITE_ROLLUP_H

#include "store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

int fg_store_sqlite_rollup_schema(sqlite3 *db, char *err, size_t errlen);
int fg_store_sqlite_rollup_add(sqlite3 *db, struct fg_record *const *recs, const bool *inserted,
                               size_t n, char *err, size_t errlen);
int fg_store_sqlite_rollup_query(sqlite3 *db, const struct fg_rollup_query *q,
                                 fg_store_rollup_cb cb, void *arg, char *err, size_t errlen);

#endif
