/* batch_store_pg.h — what the Postgres backend of the batch store offers
 * beside its ops (batch_store_ops.h): its schema migrations (component
 * "batches"), for `frugal migrate` (the daemon applies them when it opens
 * the store). */
#ifndef FRUGAL_BATCH_STORE_PG_H
#define FRUGAL_BATCH_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>

/* Apply (apply) or count the batch store's migrations the database at dsn
 * lacks (*pending).  0, or -1 with err. */
int fg_batch_store_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen);

#endif
