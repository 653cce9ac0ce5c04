/* sqlitedb.h — opening frugal's SQLite database the one way every part does.
 *
 * Contract: the ledger's store, the key store and the batch store each keep
 * their own connection to the same file; each connection is used by one
 * thread at a time (SQLITE_OPEN_NOMUTEX) and gets the same settings: created
 * if missing, a 5 s busy timeout, WAL with synchronous=NORMAL.  Connections
 * that leave checkpoints to the ledger's checkpointer say so
 * (FG_SQLITEDB_NO_AUTOCHECKPOINT). */
#ifndef FRUGAL_SQLITEDB_H
#define FRUGAL_SQLITEDB_H

#include <sqlite3.h>
#include <stddef.h>

#define FG_SQLITEDB_NO_AUTOCHECKPOINT 1u

/* Open path into *db with the settings above and run schema (may be NULL).
 * 0, or -1 with err ("sqlite: PATH: why") and *db closed and NULL. */
int fg_sqlitedb_open(const char *path, const char *schema, unsigned flags, sqlite3 **db, char *err,
                     size_t errlen);

#endif
