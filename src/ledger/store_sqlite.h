/* store_sqlite.h — pieces of the SQLite backend other SQLite users share.
 *
 * The batch store keeps its jobs in the same database file as the ledger
 * and records a finished batch line's cost in the same transaction as the
 * line's result (exactly once, even across kill -9): it writes `calls`
 * rows through these, on its own connection, inside its own transaction. */
#ifndef FRUGAL_STORE_SQLITE_H
#define FRUGAL_STORE_SQLITE_H

#include "ledger.h"

#include <sqlite3.h>
#include <stddef.h>

/* Create/migrate the calls table (idempotent). */
int fg_store_sqlite_calls_schema(sqlite3 *db, char *err, size_t errlen);
/* Insert the records, a row whose id is stored already kept as it is, and
 * add the inserted ones to the rollups (no BEGIN/COMMIT: the caller's
 * transaction; store_sqlite_rollup.h). */
int fg_store_sqlite_calls_insert(sqlite3 *db, struct fg_record *const *recs, size_t n, char *err,
                                 size_t errlen);

#endif
