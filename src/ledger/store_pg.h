/* store_pg.h — what the Postgres backend of the storage interface offers
 * beside its struct fg_store_ops (store.h): its schema migrations, for
 * `frugal migrate` (the daemon applies them when it opens the store); and
 * the `calls` rows of a Postgres batch store in the ledger's own database
 * (batch_store_pg.c), which records a finished batch line's cost in the
 * same transaction as the line's result (exactly once, even across kill
 * -9): on its own connection, inside its own transaction. */
#ifndef FRUGAL_STORE_PG_H
#define FRUGAL_STORE_PG_H

#include "ledger.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Apply (apply) or count the ledger's migrations the database at dsn lacks
 * (*pending).  0, or -1 with err. */
int fg_store_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen);

/* Create the months' partitions the records need (each its own short
 * transaction: call it BEFORE the caller's BEGIN).  0, or -1 with err. */
int fg_store_pg_calls_partitions(PGconn *c, struct fg_record *const *recs, size_t n, char *err,
                                 size_t errlen);
/* Insert call records (no Responses ops), a row whose (id, ts_ms) is stored
 * already kept as it is, and add the inserted ones to the rollups (no
 * BEGIN/COMMIT: the caller's transaction).  0, or -1 with err. */
int fg_store_pg_calls_insert(PGconn *c, struct fg_record *const *recs, size_t n, char *err,
                             size_t errlen);

#endif
