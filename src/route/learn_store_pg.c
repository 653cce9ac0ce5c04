/* learn_store_pg.c — see learn_store_pg.h. */
#include "learn_store_pg.h"

#include "arena.h"
#include "pgdb.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct fg_pgdb_migration migrations[] = {
    {1, "routing 1: labels, versions, the active version, the fitting lease",
     "CREATE TABLE route_labels (id bigserial PRIMARY KEY, route text NOT NULL,"
     " call_id text NOT NULL, ts_ms bigint NOT NULL, label integer NOT NULL,"
     " n_buckets bigint NOT NULL, features bytea NOT NULL, prompt text);"
     "CREATE INDEX route_labels_route ON route_labels (route, id);"
     "CREATE TABLE route_versions (route text NOT NULL, version integer NOT NULL,"
     " ts_ms bigint NOT NULL, labels bigint NOT NULL, last_label_id bigint NOT NULL,"
     " held_out bigint NOT NULL, apgr_before double precision, apgr_after double precision,"
     " loss_before double precision, loss_after double precision, accepted integer NOT NULL,"
     " weights bytea, PRIMARY KEY (route, version));"
     "CREATE TABLE route_active (route text PRIMARY KEY, version integer NOT NULL,"
     " ts_ms bigint NOT NULL);"
     "CREATE TABLE route_lock (route text PRIMARY KEY, owner text NOT NULL,"
     " until_ms bigint NOT NULL)"},
    {2, "routing 2: each route's learning spend per UTC day, shared by replicas",
     "CREATE TABLE route_spend (route text NOT NULL, day bigint NOT NULL, pico bigint NOT NULL,"
     " PRIMARY KEY (route, day))"},
};
#define NMIG (sizeof migrations / sizeof migrations[0])

int fg_learn_store_pg_open(const char *dsn, PGconn **out, char *err, size_t errlen)
{
    int pending;
    if (fg_pgdb_connect(dsn, out, err, errlen) < 0)
        return -1;
    if (fg_pgdb_migrate(*out, "routing", migrations, NMIG, true, &pending, err, errlen) < 0) {
        PQfinish(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int fg_learn_store_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen)
{
    PGconn *c;
    if (fg_pgdb_connect(dsn, &c, err, errlen) < 0)
        return -1;
    int rc = fg_pgdb_migrate(c, "routing", migrations, NMIG, apply, pending, err, errlen);
    PQfinish(c);
    return rc;
}

static int64_t num(const char *t)
{
    return strtoll(t, NULL, 10);
}

/* Run sql with text parameters (a NULL value is SQL NULL; blobs pass
 * through lens/fmts as binary). */
static PGresult *run(PGconn *c, const char *sql, int n, const char *const *v, const int *lens,
                     const int *fmts)
{
    return PQexecParams(c, sql, n, NULL, v, lens, fmts, 0);
}

static bool ok(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* The first column of the first row as a number, or dflt. */
static int64_t one(PGconn *c, const char *sql, int n, const char *const *v, int64_t dflt)
{
    PGresult *r = run(c, sql, n, v, NULL, NULL);
    int64_t x = dflt;
    if (ok(r) && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        x = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return x;
}

int fg_learn_store_pg_add_label(PGconn *c, const char *route, const char *call_id, int64_t ts_ms,
                                int label, uint32_t n_buckets, const unsigned char *blob,
                                size_t blen, const char *prompt)
{
    char ts[24], lb[4], nb[16];
    snprintf(ts, sizeof ts, "%" PRId64, ts_ms);
    snprintf(lb, sizeof lb, "%d", label);
    snprintf(nb, sizeof nb, "%" PRIu32, n_buckets);
    const char *v[] = {route, call_id, ts, lb, nb, (const char *)blob, prompt};
    int lens[] = {0, 0, 0, 0, 0, (int)blen, 0}, fmts[] = {0, 0, 0, 0, 0, 1, 0};
    PGresult *r = run(c,
                      "INSERT INTO route_labels (route, call_id, ts_ms, label, n_buckets,"
                      " features, prompt) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                      7, v, lens, fmts);
    int rc = ok(r) ? 0 : -1;
    PQclear(r);
    return rc;
}

int64_t fg_learn_store_pg_new_labels(PGconn *c, const char *route)
{
    const char *v[] = {route};
    return one(c,
               "SELECT count(*) FROM route_labels WHERE route = $1 AND id > coalesce("
               "(SELECT max(last_label_id) FROM route_versions WHERE route = $1), 0)",
               1, v, 0);
}

int64_t fg_learn_store_pg_label_count(PGconn *c, const char *route)
{
    const char *v[] = {route};
    return one(c, "SELECT count(*) FROM route_labels WHERE route = $1", 1, v, -1);
}

int fg_learn_store_pg_labels(PGconn *c, const char *route, uint32_t n_buckets,
                             fg_learn_store_pg_row_cb cb, void *arg)
{
    char nb[16];
    snprintf(nb, sizeof nb, "%" PRIu32, n_buckets);
    const char *v[] = {route, nb};
    PGresult *r = run(c,
                      "SELECT id, label, features FROM route_labels WHERE route = $1 AND"
                      " n_buckets = $2 ORDER BY id",
                      2, v, NULL, NULL);
    if (!ok(r)) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        size_t len = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 2), &len);
        if (b)
            cb(arg, strtoll(PQgetvalue(r, i, 0), NULL, 10), (int)num(PQgetvalue(r, i, 1)), b, len);
        PQfreemem(b);
    }
    PQclear(r);
    return 0;
}

static void dbl(char *out, size_t n, double x)
{
    if (isnan(x))
        snprintf(out, n, "NaN");
    else
        snprintf(out, n, "%.17g", x);
}

int fg_learn_store_pg_add_version(PGconn *c, struct fg_learn_version *v,
                                  const unsigned char *weights, size_t wlen)
{
    char ts[24], labels[24], last[24], held[24], ab[32], aa[32], lb[32], la[32], acc[4];
    snprintf(ts, sizeof ts, "%" PRId64, v->ts_ms);
    snprintf(labels, sizeof labels, "%" PRId64, v->labels);
    snprintf(last, sizeof last, "%" PRId64, v->last_label_id);
    snprintf(held, sizeof held, "%" PRId64, v->held_out);
    dbl(ab, sizeof ab, v->apgr_before);
    dbl(aa, sizeof aa, v->apgr_after);
    dbl(lb, sizeof lb, v->loss_before);
    dbl(la, sizeof la, v->loss_after);
    snprintf(acc, sizeof acc, "%d", v->accepted ? 1 : 0);
    bool w = v->accepted && weights;
    const char *p[] = {
        v->route, ts, labels, last, held, ab, aa, lb, la, acc, w ? (const char *)weights : NULL};
    int lens[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, w ? (int)wlen : 0};
    int fmts[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    /* the number and the row in one statement, under a per-route advisory
     * lock: two replicas never take the same version number */
    PGresult *r = run(c, "BEGIN", 0, NULL, NULL, NULL);
    bool good = ok(r);
    PQclear(r);
    const char *lk[] = {v->route};
    if (good) {
        r = run(c, "SELECT pg_advisory_xact_lock(hashtext('frugal route ' || $1))", 1, lk, NULL,
                NULL);
        good = ok(r);
        PQclear(r);
    }
    if (good) {
        r = run(c,
                "INSERT INTO route_versions SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4,"
                " $5, $6, $7, $8, $9, $10, $11 FROM route_versions WHERE route = $1"
                " RETURNING version",
                11, p, lens, fmts);
        good = ok(r) && PQntuples(r) == 1;
        if (good)
            v->version = (int)num(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (good && v->accepted) {
        char ver[16];
        snprintf(ver, sizeof ver, "%d", v->version);
        const char *a[] = {v->route, ver, ts};
        r = run(c,
                "INSERT INTO route_active VALUES ($1, $2, $3) ON CONFLICT (route) DO UPDATE"
                " SET version = $2, ts_ms = $3",
                3, a, NULL, NULL);
        good = ok(r);
        PQclear(r);
    }
    r = run(c, good ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, NULL);
    good = good && ok(r);
    PQclear(r);
    return good ? 0 : -1;
}

int fg_learn_store_pg_active(PGconn *c, const char *route, int *version, unsigned char **weights,
                             size_t *wlen)
{
    *version = 0;
    *weights = NULL;
    *wlen = 0;
    const char *v[] = {route};
    PGresult *r = run(c,
                      "SELECT a.version, v.weights FROM route_active a JOIN route_versions v"
                      " ON v.route = a.route AND v.version = a.version WHERE a.route = $1",
                      1, v, NULL, NULL);
    if (!ok(r)) {
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 1)) {
        size_t n = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1), &n);
        if (b && n) {
            *version = (int)num(PQgetvalue(r, 0, 0));
            *weights = fg_xmalloc(n);
            memcpy(*weights, b, n);
            *wlen = n;
        }
        PQfreemem(b);
    }
    PQclear(r);
    return 0;
}

int fg_learn_store_pg_set_active(PGconn *c, const char *route, int version, char *err,
                                 size_t errlen)
{
    char ver[16];
    snprintf(ver, sizeof ver, "%d", version);
    const char *v[] = {route, ver};
    if (version > 0 && one(c,
                           "SELECT count(*) FROM route_versions WHERE route = $1 AND version = $2"
                           " AND accepted = 1 AND weights IS NOT NULL",
                           2, v, 0) != 1) {
        snprintf(err, errlen, "route %s has no accepted version %d", route, version);
        return -1;
    }
    PGresult *r = run(c,
                      "INSERT INTO route_active VALUES ($1, $2, (extract(epoch from now()) *"
                      " 1000)::bigint) ON CONFLICT (route) DO UPDATE SET version = $2,"
                      " ts_ms = excluded.ts_ms",
                      2, v, NULL, NULL);
    int rc = ok(r) ? 0 : fg_pgdb_fail(c, r, "route_active", err, errlen);
    PQclear(r);
    return rc;
}

int fg_learn_store_pg_previous(PGconn *c, const char *route)
{
    const char *v[] = {route};
    return (int)one(c,
                    "SELECT max(version) FROM route_versions WHERE route = $1 AND accepted = 1"
                    " AND version < coalesce((SELECT version FROM route_active WHERE route = $1),"
                    " 0)",
                    1, v, 0);
}

int fg_learn_store_pg_history(PGconn *c, const char *route, fg_learn_version_cb cb, void *arg)
{
    const char *v[] = {route};
    int active = (int)one(c, "SELECT version FROM route_active WHERE route = $1", 1, v, 0);
    PGresult *r = run(c,
                      "SELECT version, ts_ms, labels, last_label_id, held_out, apgr_before,"
                      " apgr_after, loss_before, loss_after, accepted FROM route_versions"
                      " WHERE route = $1 ORDER BY version",
                      1, v, NULL, NULL);
    if (!ok(r)) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct fg_learn_version x = {
            .route = route,
            .version = (int)num(PQgetvalue(r, i, 0)),
            .ts_ms = strtoll(PQgetvalue(r, i, 1), NULL, 10),
            .labels = strtoll(PQgetvalue(r, i, 2), NULL, 10),
            .last_label_id = strtoll(PQgetvalue(r, i, 3), NULL, 10),
            .held_out = strtoll(PQgetvalue(r, i, 4), NULL, 10),
            .apgr_before = strtod(PQgetvalue(r, i, 5), NULL),
            .apgr_after = strtod(PQgetvalue(r, i, 6), NULL),
            .loss_before = strtod(PQgetvalue(r, i, 7), NULL),
            .loss_after = strtod(PQgetvalue(r, i, 8), NULL),
            .accepted = (int)num(PQgetvalue(r, i, 9)) != 0,
        };
        cb(arg, &x, x.version == active);
    }
    PQclear(r);
    return 0;
}

bool fg_learn_store_pg_lock(PGconn *c, const char *route, const char *owner, int64_t now_ms,
                            int64_t ttl_ms)
{
    char now[24], until[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(until, sizeof until, "%" PRId64, now_ms + ttl_ms);
    const char *v[] = {route, owner, now, until};
    PGresult *r = run(c,
                      "INSERT INTO route_lock VALUES ($1, $2, $4) ON CONFLICT (route) DO UPDATE"
                      " SET owner = $2, until_ms = $4 WHERE route_lock.until_ms < $3"
                      " OR route_lock.owner = $2",
                      4, v, NULL, NULL);
    bool got = ok(r) && !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    return got;
}

void fg_learn_store_pg_unlock(PGconn *c, const char *route, const char *owner)
{
    const char *v[] = {route, owner};
    PQclear(run(c, "DELETE FROM route_lock WHERE route = $1 AND owner = $2", 2, v, NULL, NULL));
}

int64_t fg_learn_store_pg_add_spend(PGconn *c, const char *route, int64_t day, int64_t pico)
{
    char d[24], p[24];
    snprintf(d, sizeof d, "%" PRId64, day);
    snprintf(p, sizeof p, "%" PRId64, pico);
    const char *v[] = {route, d, p};
    return one(c,
               "INSERT INTO route_spend VALUES ($1, $2, $3) ON CONFLICT (route, day)"
               " DO UPDATE SET pico = route_spend.pico + $3 RETURNING pico",
               3, v, -1);
}
