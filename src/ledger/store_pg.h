/* store_pg.h — what the Postgres backend of the storage interface offers
 * beside its struct fg_store_ops (store.h): its schema migrations, for
 * `frugal migrate` (the daemon applies them when it opens the store). */
#ifndef FRUGAL_STORE_PG_H
#define FRUGAL_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>

/* Apply (apply) or count the ledger's migrations the database at dsn lacks
 * (*pending).  0, or -1 with err. */
int fg_store_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen);

#endif
