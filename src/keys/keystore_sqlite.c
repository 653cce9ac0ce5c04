/* keystore_sqlite.c — the `keys` table in the embedded SQLite database
 * (keystore.h), on a connection of its own to the ledger's database file,
 * with the ledger's settings (store_sqlite.c: WAL, synchronous=NORMAL, no
 * automatic checkpoints: the ledger's checkpointer copies the WAL back). */
#include "keystore.h"

#include "arena.h"

#include "sqlitedb.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sqlite_keystore {
    struct fg_keystore base;
    sqlite3 *db;
    sqlite3_stmt *ins, *all, *rev, *hash;
};

static const char *schema = "CREATE TABLE IF NOT EXISTS keys ("
                            " id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,"
                            " hint TEXT, created_ms INTEGER NOT NULL, expires_ms INTEGER,"
                            " revoked_ms INTEGER, budget_pico INTEGER, budget_period TEXT,"
                            " rpm INTEGER, tpm INTEGER, models TEXT, tags TEXT,"
                            " allow_unpriced INTEGER, budget_soft INTEGER);";

#define KEY_COLUMNS                                                                                \
    "id, name, hash, hint, created_ms, expires_ms, revoked_ms, budget_pico, budget_period, "       \
    "rpm, tpm, models, tags, allow_unpriced, budget_soft"

/* Columns added after the first release, and one rewrite: whole constant
 * statements (values go through the prepared statements below). */
static void migrate(sqlite3 *db)
{
    /* "duplicate column" when present */
    sqlite3_exec(db, "ALTER TABLE keys ADD COLUMN allow_unpriced INTEGER", NULL, NULL, NULL);
    sqlite3_exec(db, "ALTER TABLE keys ADD COLUMN budget_soft INTEGER", NULL, NULL, NULL);
    /* keys.expires_ms was 0 for "never" until 0 could be a user's expiry
     * (the epoch): now NULL is never.  The marker column makes this run
     * once per database, in one transaction with the rewrite. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return;
    if (sqlite3_exec(db, "ALTER TABLE keys ADD COLUMN never_is_null INTEGER", NULL, NULL, NULL) ==
            SQLITE_OK &&
        sqlite3_exec(db, "UPDATE keys SET expires_ms = NULL WHERE expires_ms = 0", NULL, NULL,
                     NULL) == SQLITE_OK)
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    else
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return -1;
}

static void ks_close(struct fg_keystore *s)
{
    struct sqlite_keystore *q = (struct sqlite_keystore *)s;
    if (!q)
        return;
    sqlite3_finalize(q->ins);
    sqlite3_finalize(q->all);
    sqlite3_finalize(q->rev);
    sqlite3_finalize(q->hash);
    sqlite3_close(q->db);
    free(q);
}

static int ks_open(const char *dsn, struct fg_keystore **out, char *err, size_t errlen)
{
    const char *path = dsn + strlen("sqlite:");
    struct sqlite_keystore *q = fg_xcalloc(1, sizeof *q);
    q->base.ops = &fg_keystore_sqlite;
    if (fg_sqlitedb_open(path, schema, FG_SQLITEDB_NO_AUTOCHECKPOINT, &q->db, err, errlen) < 0)
        goto bad;
    migrate(q->db);
    if (sqlite3_prepare_v2(q->db,
                           "INSERT INTO keys (" KEY_COLUMNS ") VALUES "
                           "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &q->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db, "SELECT " KEY_COLUMNS " FROM keys ORDER BY created_ms, id", -1,
                           &q->all, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db,
                           "UPDATE keys SET revoked_ms = ? WHERE id = ? AND "
                           "(revoked_ms IS NULL OR revoked_ms = 0)",
                           -1, &q->rev, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db, "SELECT " KEY_COLUMNS " FROM keys WHERE hash = ?", -1, &q->hash,
                           NULL) != SQLITE_OK) {
        fail(q->db, "preparing statements", err, errlen);
        goto bad;
    }
    *out = &q->base;
    return 0;
bad:
    ks_close(&q->base);
    return -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int ks_put(struct fg_keystore *s, const struct fg_key *k, char *err, size_t errlen)
{
    struct sqlite_keystore *q = (struct sqlite_keystore *)s;
    sqlite3_stmt *st = q->ins;
    int i = 1;
    bind_text(st, i++, k->id);
    bind_text(st, i++, k->name);
    bind_text(st, i++, k->hash);
    bind_text(st, i++, k->hint);
    sqlite3_bind_int64(st, i++, k->created_ms);
    if (k->expires)
        sqlite3_bind_int64(st, i++, k->expires_ms);
    else
        sqlite3_bind_null(st, i++); /* never (0 would be the epoch) */
    sqlite3_bind_int64(st, i++, k->revoked_ms);
    sqlite3_bind_int64(st, i++, k->budget);
    bind_text(st, i++, k->budget ? fg_period_name(k->budget_period) : NULL);
    sqlite3_bind_int64(st, i++, k->rpm);
    sqlite3_bind_int64(st, i++, k->tpm);
    bind_text(st, i++, k->models);
    bind_text(st, i++, k->tags);
    sqlite3_bind_int(st, i++, k->allow_unpriced);
    sqlite3_bind_int(st, i++, k->budget_soft);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : fail(q->db, "INSERT key", err, errlen);
}

static void text_into(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const char *t = col_text(st, i);
    snprintf(dst, n, "%s", t ? t : "");
}

/* The current row of a KEY_COLUMNS select. */
static void read_key(sqlite3_stmt *st, struct fg_key *k)
{
    memset(k, 0, sizeof *k);
    int i = 0;
    text_into(st, i++, k->id, sizeof k->id);
    text_into(st, i++, k->name, sizeof k->name);
    text_into(st, i++, k->hash, sizeof k->hash);
    text_into(st, i++, k->hint, sizeof k->hint);
    k->created_ms = sqlite3_column_int64(st, i++);
    k->expires = sqlite3_column_type(st, i) != SQLITE_NULL; /* NULL: never */
    k->expires_ms = sqlite3_column_int64(st, i++);
    k->revoked_ms = sqlite3_column_int64(st, i++);
    k->budget = sqlite3_column_int64(st, i++);
    const char *per = col_text(st, i++);
    if (!per || fg_period_parse(per, &k->budget_period) < 0)
        k->budget = 0;
    k->rpm = sqlite3_column_int64(st, i++);
    k->tpm = sqlite3_column_int64(st, i++);
    text_into(st, i++, k->models, sizeof k->models);
    text_into(st, i++, k->tags, sizeof k->tags);
    k->allow_unpriced = sqlite3_column_int(st, i++) != 0;
    k->budget_soft = sqlite3_column_int(st, i++) != 0;
}

static int ks_scan(struct fg_keystore *s, fg_keystore_key_cb cb, void *arg, char *err,
                   size_t errlen)
{
    struct sqlite_keystore *q = (struct sqlite_keystore *)s;
    sqlite3_stmt *st = q->all;
    int rc;
    struct fg_key k;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_key(st, &k);
        if (cb(arg, &k))
            break;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(q->db, "SELECT keys", err, errlen);
    return 0;
}

static int ks_by_hash(struct fg_keystore *s, const char *hash, struct fg_key *out, char *err,
                      size_t errlen)
{
    struct sqlite_keystore *q = (struct sqlite_keystore *)s;
    sqlite3_stmt *st = q->hash;
    bind_text(st, 1, hash);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_key(st, out);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(q->db, "SELECT key", err, errlen);
    return rc == SQLITE_ROW;
}

static int ks_revoke(struct fg_keystore *s, const char *id, int64_t now_ms, char *err,
                     size_t errlen)
{
    struct sqlite_keystore *q = (struct sqlite_keystore *)s;
    sqlite3_stmt *st = q->rev;
    sqlite3_bind_int64(st, 1, now_ms);
    bind_text(st, 2, id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return fail(q->db, "UPDATE key", err, errlen);
    return sqlite3_changes(q->db) > 0 ? 1 : 0;
}

const struct fg_keystore_ops fg_keystore_sqlite = {
    .scheme = "sqlite:",
    .open = ks_open,
    .close = ks_close,
    .put = ks_put,
    .scan = ks_scan,
    .revoke = ks_revoke,
    .by_hash = ks_by_hash,
};
