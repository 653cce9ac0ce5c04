/* pgdb.c — one way to open frugal's Postgres database, and its migrations
 * (pgdb.h). */
#include "pgdb.h"

#include "redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* pg_advisory_xact_lock key of the migrations ("frug" in ASCII) */
#define MIGRATE_LOCK "1718777191"

bool fg_pgdb_is_dsn(const char *dsn)
{
    return dsn && (!strncmp(dsn, "postgres://", 11) || !strncmp(dsn, "postgresql://", 13));
}

int fg_pgdb_fail(PGconn *c, const PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *m = r ? PQresultErrorMessage(r) : "";
    if (!m || !*m)
        m = c ? PQerrorMessage(c) : "out of memory";
    char raw[600];
    snprintf(raw, sizeof raw, "postgres: %s: %.*s", what, (int)strcspn(m, "\n"), m);
    fg_redact(raw, strlen(raw), err, errlen);
    return -1;
}

const char *fg_pgdb_dsn_check(const char *dsn)
{
    char *why = NULL;
    PQconninfoOption *o = PQconninfoParse(dsn, &why);
    PQconninfoFree(o);
    PQfreemem(why);
    return o ? NULL
             : "is not a URL libpq accepts (a malformed host or port, or an unknown query "
               "parameter)";
}

/* NOTICEs ("relation … already exists, skipping") are not for people */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int fg_pgdb_connect(const char *dsn, PGconn **out, char *err, size_t errlen)
{
    /* later keywords override earlier ones: the DSN's own settings win */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"5", "frugal", dsn, NULL};
    *out = NULL;
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        fg_pgdb_fail(c, NULL, "connecting", err, errlen);
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    *out = c;
    return 0;
}

const char *fg_pgdb_label(const char *dsn, char *buf, size_t n)
{
    const char *rest = strstr(dsn, "://");
    if (!rest) {
        snprintf(buf, n, "postgres://…");
        return buf;
    }
    size_t scheme = (size_t)(rest - dsn);
    rest += 3;
    size_t auth = strcspn(rest, "/?");
    const char *at = memchr(rest, '@', auth);
    const char *host = at ? at + 1 : rest;
    size_t hl = auth - (size_t)(host - rest);
    const char *db = rest + auth;
    size_t dl = *db == '/' ? strcspn(db, "?") : 0;
    snprintf(buf, n, "%.*s://%.*s%.*s", (int)scheme, dsn, (int)hl, host, (int)dl, db);
    return buf;
}

int fg_pgdb_exec(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    int rc = 0;
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = fg_pgdb_fail(c, r, "executing", err, errlen);
    PQclear(r);
    return rc;
}

bool fg_pgdb_lost(PGconn *c)
{
    return !c || PQstatus(c) == CONNECTION_BAD;
}

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The highest version of component applied, 0 when none (or no table). */
static int applied_version(PGconn *c, const char *component, int *out, char *err, size_t errlen)
{
    *out = 0;
    PGresult *r = PQexec(c, "SELECT to_regclass('frugal_migrations') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fg_pgdb_fail(c, r, "looking for frugal_migrations", err, errlen);
        PQclear(r);
        return -1;
    }
    bool exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!exists)
        return 0;
    const char *p[1] = {component};
    r = PQexecParams(c,
                     "SELECT COALESCE(MAX(version), 0) FROM frugal_migrations WHERE component = $1",
                     1, NULL, p, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        rc = fg_pgdb_fail(c, r, "reading frugal_migrations", err, errlen);
    else
        *out = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return rc;
}

static int record(PGconn *c, const char *component, const struct fg_pgdb_migration *m, char *err,
                  size_t errlen)
{
    char ver[16], at[24];
    snprintf(ver, sizeof ver, "%d", m->version);
    snprintf(at, sizeof at, "%lld", now_ms());
    const char *p[4] = {component, ver, m->name, at};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO frugal_migrations (component, version, name, "
                               "applied_ms) VALUES ($1, $2, $3, $4)",
                               4, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : fg_pgdb_fail(c, r, m->name, err, errlen);
    PQclear(r);
    return rc;
}

static int apply_missing(PGconn *c, const char *component, const struct fg_pgdb_migration *m,
                         size_t n, int have, char *err, size_t errlen)
{
    if (fg_pgdb_exec(c,
                     "CREATE TABLE IF NOT EXISTS frugal_migrations (component text NOT NULL,"
                     " version integer NOT NULL, name text NOT NULL, applied_ms bigint NOT NULL,"
                     " PRIMARY KEY (component, version))",
                     err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (m[i].version <= have)
            continue;
        PGresult *r = PQexec(c, m[i].sql);
        ExecStatusType st = PQresultStatus(r);
        int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK
                     ? 0
                     : fg_pgdb_fail(c, r, m[i].name, err, errlen);
        PQclear(r);
        if (rc < 0 || record(c, component, &m[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

int fg_pgdb_migrate(PGconn *c, const char *component, const struct fg_pgdb_migration *m, size_t n,
                    bool apply, int *pending, char *err, size_t errlen)
{
    int have = 0, latest = n ? m[n - 1].version : 0;
    *pending = 0;
    if (fg_pgdb_exec(c, "BEGIN", err, errlen) < 0)
        return -1;
    /* held to COMMIT: another replica's migration waits for this one */
    if (fg_pgdb_exec(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", err, errlen) < 0 ||
        applied_version(c, component, &have, err, errlen) < 0)
        goto bad;
    if (have > latest) {
        snprintf(err, errlen,
                 "postgres: the database's %s schema is at version %d, newer than this "
                 "frugal's %d: upgrade frugal",
                 component, have, latest);
        goto bad;
    }
    for (size_t i = 0; i < n; i++)
        *pending += m[i].version > have;
    if (apply && *pending && apply_missing(c, component, m, n, have, err, errlen) < 0)
        goto bad;
    return fg_pgdb_exec(c, "COMMIT", err, errlen);
bad:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}
