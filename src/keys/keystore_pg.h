/* keystore_pg.h — what the Postgres key store offers beside its struct
 * fg_keystore_ops (keystore.h): its schema migrations, for `frugal
 * migrate` (opening the store applies them too). */
#ifndef FRUGAL_KEYSTORE_PG_H
#define FRUGAL_KEYSTORE_PG_H

#include <stdbool.h>
#include <stddef.h>

/* Apply (apply) or count the keys table's migrations the database at dsn
 * lacks (*pending).  0, or -1 with err. */
int fg_keystore_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen);

#endif
