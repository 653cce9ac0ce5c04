/* learn_store.c — see learn_store.h. */
#include "learn_store.h"

#include "arena.h"
#include "assert.h"
#include "learn_store_pg.h"
#include "pgdb.h"
#include "log.h"
#include "sqlitedb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define ND FG_ROUTER_N_DENSE

struct fg_learn_store {
    sqlite3 *db; /* one of the two */
    PGconn *pg;
    int64_t reset_ms; /* the last reconnect attempt (at most one a second) */
};

/* The Postgres connection, reconnected when the server dropped it (a
 * restart, pg_terminate_backend): the call that met the loss failed, the
 * next one after it runs on a new connection.  Attempts are a second apart
 * so that a database that stays down does not stall the caller's thread in
 * a reconnect per call. */
static PGconn *live(struct fg_learn_store *s)
{
    if (!fg_pgdb_lost(s->pg))
        return s->pg;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    if (now - s->reset_ms >= 1000) {
        s->reset_ms = now;
        PQreset(s->pg);
        if (!fg_pgdb_lost(s->pg))
            fg_info("routing store: reconnected to Postgres");
    }
    return s->pg;
}

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS route_labels (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " route TEXT NOT NULL, call_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, label INTEGER NOT NULL,"
    " n_buckets INTEGER NOT NULL, features BLOB NOT NULL, prompt TEXT);"
    "CREATE INDEX IF NOT EXISTS route_labels_route ON route_labels(route, id);"
    "CREATE TABLE IF NOT EXISTS route_versions (route TEXT NOT NULL, version INTEGER NOT NULL,"
    " ts_ms INTEGER NOT NULL, labels INTEGER NOT NULL, last_label_id INTEGER NOT NULL,"
    " held_out INTEGER NOT NULL, apgr_before REAL, apgr_after REAL, loss_before REAL,"
    " loss_after REAL, accepted INTEGER NOT NULL, weights BLOB, PRIMARY KEY (route, version));"
    "CREATE TABLE IF NOT EXISTS route_active (route TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    " ts_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS route_lock (route TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " until_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS route_spend (route TEXT NOT NULL, day INTEGER NOT NULL,"
    " pico INTEGER NOT NULL, PRIMARY KEY (route, day));";

int fg_learn_store_open(const char *dsn, struct fg_learn_store **out, char *err, size_t errlen)
{
    *out = NULL;
    struct fg_learn_store *s = fg_xcalloc(1, sizeof *s);
    if (fg_pgdb_is_dsn(dsn)) {
        if (fg_learn_store_pg_open(dsn, &s->pg, err, errlen) < 0) {
            free(s);
            return -1;
        }
        *out = s;
        return 0;
    }
    if (strncmp(dsn, "sqlite:", 7) != 0) {
        snprintf(err, errlen, "storage: expected sqlite:PATH or postgres://");
        free(s);
        return -1;
    }
    if (fg_sqlitedb_open(dsn + 7, schema, FG_SQLITEDB_NO_AUTOCHECKPOINT, &s->db, err, errlen) < 0) {
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void fg_learn_store_close(struct fg_learn_store *s)
{
    if (!s)
        return;
    if (s->pg)
        PQfinish(s->pg);
    sqlite3_close(s->db);
    free(s);
}

static sqlite3_stmt *prep(struct fg_learn_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

int fg_learn_store_add_label(struct fg_learn_store *s, const char *route, const char *call_id,
                             int64_t ts_ms, int label, uint32_t n_buckets,
                             const struct fg_route_feats *x, const char *prompt)
{
    FG_ASSERT(label == 0 || label == 1);
    size_t len = 4 + (size_t)x->n * 8 + ND * 4;
    unsigned char *blob = fg_xmalloc(len), *p = blob;
    memcpy(p, &x->n, 4);
    p += 4;
    memcpy(p, x->bucket, (size_t)x->n * 4);
    p += (size_t)x->n * 4;
    memcpy(p, x->value, (size_t)x->n * 4);
    p += (size_t)x->n * 4;
    memcpy(p, x->dense, ND * 4);
    if (s->pg) {
        int prc = fg_learn_store_pg_add_label(live(s), route, call_id, ts_ms, label, n_buckets,
                                              blob, len, prompt);
        free(blob);
        return prc;
    }
    sqlite3_stmt *st = prep(s, "INSERT INTO route_labels (route, call_id, ts_ms, label, n_buckets,"
                               " features, prompt) VALUES (?, ?, ?, ?, ?, ?, ?)");
    int rc = -1;
    if (st) {
        sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, call_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, ts_ms);
        sqlite3_bind_int(st, 4, label);
        sqlite3_bind_int64(st, 5, n_buckets);
        sqlite3_bind_blob(st, 6, blob, (int)len, SQLITE_STATIC);
        if (prompt)
            sqlite3_bind_text(st, 7, prompt, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    free(blob);
    return rc;
}

static int64_t one_int(struct fg_learn_store *s, const char *sql, const char *route, int64_t dflt)
{
    sqlite3_stmt *st = prep(s, sql);
    int64_t v = dflt;
    if (st) {
        sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

int64_t fg_learn_store_new_labels(struct fg_learn_store *s, const char *route)
{
    if (s->pg)
        return fg_learn_store_pg_new_labels(live(s), route);
    return one_int(s,
                   "SELECT count(*) FROM route_labels WHERE route = ?1 AND id > coalesce("
                   "(SELECT max(last_label_id) FROM route_versions WHERE route = ?1), 0)",
                   route, 0);
}

int64_t fg_learn_store_label_count(struct fg_learn_store *s, const char *route)
{
    if (s->pg)
        return fg_learn_store_pg_label_count(live(s), route);
    return one_int(s, "SELECT count(*) FROM route_labels WHERE route = ?1", route, -1);
}

void fg_learn_store_labels_free(struct fg_learn_labels *l)
{
    free(l->label);
    free(l->x);
    free(l->buckets);
    free(l->values);
    memset(l, 0, sizeof *l);
}

/* Reading labels: the growing arrays and each row's offset into them. */
struct reader {
    struct fg_learn_labels *out;
    uint32_t n_buckets;
    size_t cap, nnz, ncap;
    size_t *off;
};

/* Append one stored row; a vector not of this build's shape or width is
 * skipped, never misread. */
static void read_row(void *arg, int64_t id, int label, const unsigned char *b, size_t len)
{
    struct reader *rd = arg;
    struct fg_learn_labels *out = rd->out;
    uint32_t n;
    if (!b || len < 4)
        return;
    memcpy(&n, b, 4);
    if (len != 4 + (size_t)n * 8 + ND * 4)
        return;
    const unsigned char *bk = b + 4;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t v;
        memcpy(&v, bk + (size_t)k * 4, 4);
        if (v >= rd->n_buckets)
            return;
    }
    if (out->n == rd->ncap) {
        rd->ncap = rd->ncap ? 2 * rd->ncap : 64;
        out->label = fg_xrealloc(out->label, rd->ncap * sizeof *out->label);
        out->x = fg_xrealloc(out->x, rd->ncap * sizeof *out->x);
        rd->off = fg_xrealloc(rd->off, rd->ncap * sizeof *rd->off);
    }
    if (rd->nnz + n > rd->cap) {
        while (rd->nnz + n > rd->cap)
            rd->cap = rd->cap ? 2 * rd->cap : 1024;
        out->buckets = fg_xrealloc(out->buckets, rd->cap * sizeof *out->buckets);
        out->values = fg_xrealloc(out->values, rd->cap * sizeof *out->values);
    }
    memcpy(out->buckets + rd->nnz, bk, (size_t)n * 4);
    memcpy(out->values + rd->nnz, bk + (size_t)n * 4, (size_t)n * 4);
    struct fg_route_feats *x = &out->x[out->n];
    memset(x, 0, sizeof *x);
    x->n = n;
    memcpy(x->dense, bk + (size_t)n * 8, ND * 4);
    rd->off[out->n] = rd->nnz;
    rd->nnz += n;
    out->label[out->n] = label ? 1 : 0;
    out->last_id = id;
    out->n++;
}

int fg_learn_store_labels(struct fg_learn_store *s, const char *route, uint32_t n_buckets,
                          struct fg_learn_labels *out)
{
    memset(out, 0, sizeof *out);
    struct reader rd = {.out = out, .n_buckets = n_buckets};
    int rc = 0;
    if (s->pg)
        rc = fg_learn_store_pg_labels(live(s), route, n_buckets, read_row, &rd);
    else {
        sqlite3_stmt *st = prep(s, "SELECT id, label, features FROM route_labels WHERE route = ?"
                                   " AND n_buckets = ? ORDER BY id");
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, n_buckets);
        while (sqlite3_step(st) == SQLITE_ROW)
            read_row(&rd, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
                     sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
        sqlite3_finalize(st);
    }
    /* the arrays moved while growing: point the vectors at them last */
    for (size_t i = 0; i < out->n; i++) {
        out->x[i].bucket = out->buckets + rd.off[i];
        out->x[i].value = out->values + rd.off[i];
    }
    free(rd.off);
    return rc;
}

int fg_learn_store_add_version(struct fg_learn_store *s, struct fg_learn_version *v,
                               const unsigned char *weights, size_t wlen)
{
    if (s->pg)
        return fg_learn_store_pg_add_version(live(s), v, weights, wlen);
    int rc = -1;
    sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    v->version = (int)one_int(
        s, "SELECT coalesce(max(version), 0) + 1 FROM route_versions WHERE route = ?", v->route, 1);
    sqlite3_stmt *st = prep(s, "INSERT INTO route_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        goto done;
    sqlite3_bind_text(st, 1, v->route, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, v->version);
    sqlite3_bind_int64(st, 3, v->ts_ms);
    sqlite3_bind_int64(st, 4, v->labels);
    sqlite3_bind_int64(st, 5, v->last_label_id);
    sqlite3_bind_int64(st, 6, v->held_out);
    sqlite3_bind_double(st, 7, v->apgr_before);
    sqlite3_bind_double(st, 8, v->apgr_after);
    sqlite3_bind_double(st, 9, v->loss_before);
    sqlite3_bind_double(st, 10, v->loss_after);
    sqlite3_bind_int(st, 11, v->accepted);
    if (v->accepted && weights)
        sqlite3_bind_blob(st, 12, weights, (int)wlen, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto done;
    if (v->accepted) {
        sqlite3_finalize(st);
        st = prep(s, "INSERT OR REPLACE INTO route_active VALUES (?, ?, ?)");
        if (!st)
            goto done;
        sqlite3_bind_text(st, 1, v->route, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, v->version);
        sqlite3_bind_int64(st, 3, v->ts_ms);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    sqlite3_exec(s->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int fg_learn_store_active(struct fg_learn_store *s, const char *route, int *version,
                          unsigned char **weights, size_t *wlen)
{
    if (s->pg)
        return fg_learn_store_pg_active(live(s), route, version, weights, wlen);
    *version = 0;
    *weights = NULL;
    *wlen = 0;
    sqlite3_stmt *st =
        prep(s, "SELECT a.version, v.weights FROM route_active a JOIN route_versions"
                " v ON v.route = a.route AND v.version = a.version WHERE a.route = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        if (b && n) {
            *version = sqlite3_column_int(st, 0);
            *weights = fg_xmalloc(n);
            memcpy(*weights, b, n);
            *wlen = n;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

int fg_learn_store_set_active(struct fg_learn_store *s, const char *route, int version, char *err,
                              size_t errlen)
{
    if (s->pg)
        return fg_learn_store_pg_set_active(live(s), route, version, err, errlen);
    sqlite3_stmt *st = NULL;
    if (version > 0) {
        st = prep(s, "SELECT 1 FROM route_versions WHERE route = ? AND version = ? AND accepted = 1"
                     " AND weights IS NOT NULL");
        sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, version);
        bool ok = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!ok) {
            snprintf(err, errlen, "route %s has no accepted version %d", route, version);
            return -1;
        }
    }
    st = prep(s, "INSERT OR REPLACE INTO route_active VALUES (?, ?, strftime('%s','now') * 1000)");
    sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    if (rc < 0)
        snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(s->db));
    return rc;
}

int fg_learn_store_previous(struct fg_learn_store *s, const char *route)
{
    if (s->pg)
        return fg_learn_store_pg_previous(live(s), route);
    return (int)one_int(s,
                        "SELECT max(version) FROM route_versions WHERE route = ?1 AND accepted = 1"
                        " AND version < coalesce((SELECT version FROM route_active WHERE route ="
                        " ?1), 0)",
                        route, 0);
}

int fg_learn_store_history(struct fg_learn_store *s, const char *route, fg_learn_version_cb cb,
                           void *arg)
{
    if (s->pg)
        return fg_learn_store_pg_history(live(s), route, cb, arg);
    int active = (int)one_int(s, "SELECT version FROM route_active WHERE route = ?", route, 0);
    sqlite3_stmt *st =
        prep(s, "SELECT version, ts_ms, labels, last_label_id, held_out, apgr_before, apgr_after,"
                " loss_before, loss_after, accepted FROM route_versions WHERE route = ?"
                " ORDER BY version");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct fg_learn_version v = {
            .route = route,
            .version = sqlite3_column_int(st, 0),
            .ts_ms = sqlite3_column_int64(st, 1),
            .labels = sqlite3_column_int64(st, 2),
            .last_label_id = sqlite3_column_int64(st, 3),
            .held_out = sqlite3_column_int64(st, 4),
            .apgr_before = sqlite3_column_double(st, 5),
            .apgr_after = sqlite3_column_double(st, 6),
            .loss_before = sqlite3_column_double(st, 7),
            .loss_after = sqlite3_column_double(st, 8),
            .accepted = sqlite3_column_int(st, 9) != 0,
        };
        cb(arg, &v, v.version == active);
    }
    sqlite3_finalize(st);
    return 0;
}

bool fg_learn_store_lock(struct fg_learn_store *s, const char *route, const char *owner,
                         int64_t now_ms, int64_t ttl_ms)
{
    if (s->pg)
        return fg_learn_store_pg_lock(live(s), route, owner, now_ms, ttl_ms);
    sqlite3_stmt *st = prep(s, "INSERT INTO route_lock VALUES (?1, ?2, ?3 + ?4) ON CONFLICT(route)"
                               " DO UPDATE SET owner = ?2, until_ms = ?3 + ?4"
                               " WHERE route_lock.until_ms < ?3 OR route_lock.owner = ?2");
    if (!st)
        return false;
    sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    sqlite3_bind_int64(st, 4, ttl_ms);
    bool ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(s->db) == 1;
    sqlite3_finalize(st);
    return ok;
}

void fg_learn_store_unlock(struct fg_learn_store *s, const char *route, const char *owner)
{
    if (s->pg) {
        fg_learn_store_pg_unlock(live(s), route, owner);
        return;
    }
    sqlite3_stmt *st = prep(s, "DELETE FROM route_lock WHERE route = ? AND owner = ?");
    if (!st)
        return;
    sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

int64_t fg_learn_store_add_spend(struct fg_learn_store *s, const char *route, int64_t day,
                                 int64_t pico)
{
    FG_ASSERT(pico >= 0);
    if (s->pg)
        return fg_learn_store_pg_add_spend(live(s), route, day, pico);
    sqlite3_stmt *st = prep(s, "INSERT INTO route_spend VALUES (?1, ?2, ?3) ON CONFLICT(route, day)"
                               " DO UPDATE SET pico = pico + ?3 RETURNING pico");
    int64_t total = -1;
    if (st) {
        sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, day);
        sqlite3_bind_int64(st, 3, pico);
        if (sqlite3_step(st) == SQLITE_ROW)
            total = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return total;
}
