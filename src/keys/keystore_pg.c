/* keystore_pg.c — the `keys` table in Postgres (keystore.h), so a key
 * created through one replica (admin API or `frugal keys`) is found by
 * every other: by its hash on its first call there (by_hash), and by the
 * reloader's scan.  Migrations: component "keys" (pgdb.h).  A lost
 * connection is reconnected once per operation. */
#include "keystore.h"
#include "keystore_pg.h"

#include "arena.h"
#include "pgdb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct fg_pgdb_migration migrations[] = {
    {1, "keys 1: the keys table",
     "CREATE TABLE keys ("
     " id text PRIMARY KEY, name text NOT NULL, hash text NOT NULL UNIQUE,"
     " hint text, created_ms bigint NOT NULL, expires_ms bigint,"
     " revoked_ms bigint, budget_pico bigint, budget_period text,"
     " rpm bigint, tpm bigint, models text, tags text, allow_unpriced bigint)"},
    {2, "keys 2: soft budgets", "ALTER TABLE keys ADD COLUMN budget_soft bigint"},
};

#define KEY_COLUMNS                                                                                \
    "id, name, hash, hint, created_ms, expires_ms, revoked_ms, budget_pico, budget_period, "       \
    "rpm, tpm, models, tags, allow_unpriced, budget_soft"
#define NKEYCOLS 15

struct pg_keystore {
    struct fg_keystore base;
    PGconn *c;
};

int fg_keystore_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen)
{
    PGconn *c;
    if (fg_pgdb_connect(dsn, &c, err, errlen) < 0)
        return -1;
    int rc = fg_pgdb_migrate(c, "keys", migrations, sizeof migrations / sizeof migrations[0], apply,
                             pending, err, errlen);
    PQfinish(c);
    return rc;
}

static void ks_close(struct fg_keystore *s)
{
    struct pg_keystore *q = (struct pg_keystore *)s;
    if (!q)
        return;
    PQfinish(q->c);
    free(q);
}

static int ks_open(const char *dsn, struct fg_keystore **out, char *err, size_t errlen)
{
    struct pg_keystore *q = fg_xcalloc(1, sizeof *q);
    q->base.ops = &fg_keystore_pg;
    int pending;
    if (fg_pgdb_connect(dsn, &q->c, err, errlen) < 0 ||
        fg_pgdb_migrate(q->c, "keys", migrations, sizeof migrations / sizeof migrations[0], true,
                        &pending, err, errlen) < 0) {
        ks_close(&q->base);
        return -1;
    }
    *out = &q->base;
    return 0;
}

static bool reconnect(struct pg_keystore *q, char *err, size_t errlen)
{
    if (!fg_pgdb_lost(q->c))
        return true;
    PQreset(q->c);
    if (PQstatus(q->c) == CONNECTION_OK)
        return true;
    fg_pgdb_fail(q->c, NULL, "reconnecting", err, errlen);
    return false;
}

/* Run a statement with text parameters: the result, or NULL with err. */
static PGresult *run(struct pg_keystore *q, const char *sql, int n, const char *const *p,
                     const char *what, char *err, size_t errlen)
{
    if (!reconnect(q, err, errlen))
        return NULL;
    PGresult *r = PQexecParams(q->c, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    fg_pgdb_fail(q->c, r, what, err, errlen);
    PQclear(r);
    return NULL;
}

static int ks_put(struct fg_keystore *s, const struct fg_key *k, char *err, size_t errlen)
{
    char num[8][24];
    snprintf(num[0], 24, "%" PRId64, k->created_ms);
    snprintf(num[1], 24, "%" PRId64, k->expires_ms);
    snprintf(num[2], 24, "%" PRId64, k->revoked_ms);
    snprintf(num[3], 24, "%" PRId64, k->budget);
    snprintf(num[4], 24, "%" PRId64, k->rpm);
    snprintf(num[5], 24, "%" PRId64, k->tpm);
    snprintf(num[6], 24, "%d", k->allow_unpriced ? 1 : 0);
    snprintf(num[7], 24, "%d", k->budget_soft ? 1 : 0);
    const char *p[NKEYCOLS] = {
        k->id,   k->name, k->hash,
        k->hint, num[0],  k->expires ? num[1] : NULL, /* NULL: never (0 would be the epoch) */
        num[2],  num[3],  k->budget ? fg_period_name(k->budget_period) : NULL,
        num[4],  num[5],  k->models,
        k->tags, num[6],  num[7]};
    PGresult *r = run((struct pg_keystore *)s,
                      "INSERT INTO keys (" KEY_COLUMNS ") VALUES "
                      "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
                      NKEYCOLS, p, "INSERT key", err, errlen);
    PQclear(r);
    return r ? 0 : -1;
}

static const char *val(const PGresult *r, int row, int i)
{
    return PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
}

static int64_t num(const PGresult *r, int row, int i)
{
    return PQgetisnull(r, row, i) ? 0 : strtoll(PQgetvalue(r, row, i), NULL, 10);
}

static void text_into(const PGresult *r, int row, int i, char *dst, size_t n)
{
    const char *t = val(r, row, i);
    snprintf(dst, n, "%s", t ? t : "");
}

static void read_key(const PGresult *r, int row, struct fg_key *k)
{
    memset(k, 0, sizeof *k);
    int i = 0;
    text_into(r, row, i++, k->id, sizeof k->id);
    text_into(r, row, i++, k->name, sizeof k->name);
    text_into(r, row, i++, k->hash, sizeof k->hash);
    text_into(r, row, i++, k->hint, sizeof k->hint);
    k->created_ms = num(r, row, i++);
    k->expires = !PQgetisnull(r, row, i); /* NULL: never */
    k->expires_ms = num(r, row, i++);
    k->revoked_ms = num(r, row, i++);
    k->budget = num(r, row, i++);
    const char *per = val(r, row, i++);
    if (!per || fg_period_parse(per, &k->budget_period) < 0)
        k->budget = 0;
    k->rpm = num(r, row, i++);
    k->tpm = num(r, row, i++);
    text_into(r, row, i++, k->models, sizeof k->models);
    text_into(r, row, i++, k->tags, sizeof k->tags);
    k->allow_unpriced = num(r, row, i++) != 0;
    k->budget_soft = num(r, row, i++) != 0;
}

/* The keys table is small (one row per key a team made): one result. */
static int ks_scan(struct fg_keystore *s, fg_keystore_key_cb cb, void *arg, char *err,
                   size_t errlen)
{
    PGresult *r =
        run((struct pg_keystore *)s, "SELECT " KEY_COLUMNS " FROM keys ORDER BY created_ms, id", 0,
            NULL, "SELECT keys", err, errlen);
    if (!r)
        return -1;
    struct fg_key k;
    for (int row = 0; row < PQntuples(r); row++) {
        read_key(r, row, &k);
        if (cb(arg, &k))
            break;
    }
    PQclear(r);
    return 0;
}

/* Called on a worker loop for a key the registry has not seen (keyreg.c
 * lookup_miss): one indexed query.  A lost connection is not reconnected
 * here (a connect can take connect_timeout): the key reloader's next scan
 * does that, and the key works from then on. */
static int ks_by_hash(struct fg_keystore *s, const char *hash, struct fg_key *out, char *err,
                      size_t errlen)
{
    if (fg_pgdb_lost(((struct pg_keystore *)s)->c)) {
        snprintf(err, errlen, "postgres: the key store is unreachable (reconnecting)");
        return -1;
    }
    const char *p[1] = {hash};
    PGresult *r = run((struct pg_keystore *)s, "SELECT " KEY_COLUMNS " FROM keys WHERE hash = $1",
                      1, p, "SELECT key", err, errlen);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        read_key(r, 0, out);
    PQclear(r);
    return found;
}

static int ks_revoke(struct fg_keystore *s, const char *id, int64_t now_ms, char *err,
                     size_t errlen)
{
    char at[24];
    snprintf(at, sizeof at, "%" PRId64, now_ms);
    const char *p[2] = {at, id};
    PGresult *r = run((struct pg_keystore *)s,
                      "UPDATE keys SET revoked_ms = $1 WHERE id = $2 AND "
                      "(revoked_ms IS NULL OR revoked_ms = 0)",
                      2, p, "UPDATE key", err, errlen);
    if (!r)
        return -1;
    int changed = strtol(PQcmdTuples(r), NULL, 10) > 0;
    PQclear(r);
    return changed;
}

const struct fg_keystore_ops fg_keystore_pg = {
    .scheme = "postgres",
    .open = ks_open,
    .close = ks_close,
    .put = ks_put,
    .scan = ks_scan,
    .revoke = ks_revoke,
    .by_hash = ks_by_hash,
};
