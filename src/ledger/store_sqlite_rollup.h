/* store_sqlite_rollup.h — the SQLite backend's per-minute rollups (store.h).
 *
 * Contract: fg_store_sqlite_rollup_schema() creates the rollup_minute,
 * rollup_hour and rollup_day tables (one schema; `minute` is the bucket's
 * start) and the calls_rollup_v2 trigger (AFTER INSERT ON calls: the row is
 * added to its minute, hour and day in the inserting transaction, by three
 * upserts), and, the first time, folds in the calls rows already stored (a
 * database from before rollups; older rollup tables are dropped and
 * rebuilt from calls, the source of truth).  Queries read the coarsest
 * grain that since, until and step are all cut at.  It runs in a BEGIN IMMEDIATE transaction so two
 * connections opening at once cannot both fold.  Every writer of calls
 * must insert with ON CONFLICT(id) DO NOTHING: the trigger fires only for
 * rows really inserted, so a row written twice counts once.
 * fg_store_sqlite_rollup_query() is the store op `rollup` for a connection.
 * All SQL is constant text; values are bound. */
#ifndef FRUGAL_STORE_SQLITE_ROLLUP_H
#define FRUGAL_STORE_SQLITE_ROLLUP_H

#include "store.h"

#include <sqlite3.h>
#include <stddef.h>

int fg_store_sqlite_rollup_schema(sqlite3 *db, char *err, size_t errlen);
int fg_store_sqlite_rollup_query(sqlite3 *db, const struct fg_rollup_query *q,
                                 fg_store_rollup_cb cb, void *arg, char *err, size_t errlen);

#endif
