/* sqlitedb.c — one way to open frugal's SQLite database (sqlitedb.h). */
#include "sqlitedb.h"

#include <stdio.h>

int fg_sqlitedb_open(const char *path, const char *schema, unsigned flags, sqlite3 **db, char *err,
                     size_t errlen)
{
    const char *what = path;
    *db = NULL;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        goto bad;
    sqlite3_busy_timeout(*db, 5000);
    what = "settings";
    if (sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        ((flags & FG_SQLITEDB_NO_AUTOCHECKPOINT) &&
         sqlite3_exec(*db, "PRAGMA wal_autocheckpoint=0;", NULL, NULL, NULL) != SQLITE_OK))
        goto bad;
    what = "creating the schema";
    if (schema && sqlite3_exec(*db, schema, NULL, NULL, NULL) != SQLITE_OK)
        goto bad;
    return 0;
bad:
    snprintf(err, errlen, "sqlite: %s: %s", what, *db ? sqlite3_errmsg(*db) : "out of memory");
    sqlite3_close(*db);
    *db = NULL;
    return -1;
}
