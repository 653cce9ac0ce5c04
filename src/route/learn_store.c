/* learn_store.c — see learn_store.h. */
#include "learn_store.h"

#include "arena.h"
#include "assert.h"
#include "sqlitedb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ND FG_ROUTER_N_DENSE

struct fg_learn_store {
    sqlite3 *db;
};

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
    " until_ms INTEGER NOT NULL);";

int fg_learn_store_open(const char *dsn, struct fg_learn_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (strncmp(dsn, "sqlite:", 7) != 0) {
        snprintf(err, errlen,
                 "route learning stores labels in SQLite storage only (not yet Postgres)");
        return -1;
    }
    struct fg_learn_store *s = fg_xcalloc(1, sizeof *s);
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
    return one_int(s,
                   "SELECT count(*) FROM route_labels WHERE route = ?1 AND id > coalesce("
                   "(SELECT max(last_label_id) FROM route_versions WHERE route = ?1), 0)",
                   route, 0);
}

void fg_learn_store_labels_free(struct fg_learn_labels *l)
{
    free(l->label);
    free(l->x);
    free(l->buckets);
    free(l->values);
    memset(l, 0, sizeof *l);
}

int fg_learn_store_labels(struct fg_learn_store *s, const char *route, uint32_t n_buckets,
                          struct fg_learn_labels *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = prep(s, "SELECT id, label, features FROM route_labels WHERE route = ? AND"
                               " n_buckets = ? ORDER BY id");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, n_buckets);
    size_t cap = 0, nnz = 0, ncap = 0;
    size_t *off = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *b = sqlite3_column_blob(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        uint32_t n;
        if (!b || len < 4)
            continue;
        memcpy(&n, b, 4);
        if (len != 4 + (size_t)n * 8 + ND * 4)
            continue; /* not this build's vector: skipped, never misread */
        if (out->n == ncap) {
            ncap = ncap ? 2 * ncap : 64;
            out->label = fg_xrealloc(out->label, ncap * sizeof *out->label);
            out->x = fg_xrealloc(out->x, ncap * sizeof *out->x);
            off = fg_xrealloc(off, ncap * sizeof *off);
        }
        if (nnz + n > cap) {
            while (nnz + n > cap)
                cap = cap ? 2 * cap : 1024;
            out->buckets = fg_xrealloc(out->buckets, cap * sizeof *out->buckets);
            out->values = fg_xrealloc(out->values, cap * sizeof *out->values);
        }
        memcpy(out->buckets + nnz, b + 4, (size_t)n * 4);
        memcpy(out->values + nnz, b + 4 + (size_t)n * 4, (size_t)n * 4);
        struct fg_route_feats *x = &out->x[out->n];
        x->n = n;
        memcpy(x->dense, b + 4 + (size_t)n * 8, ND * 4);
        off[out->n] = nnz;
        nnz += n;
        bool bad = false;
        for (uint32_t k = 0; k < n; k++)
            bad = bad || out->buckets[off[out->n] + k] >= n_buckets;
        if (bad) {
            nnz -= n;
            continue;
        }
        out->label[out->n] = sqlite3_column_int(st, 1) ? 1 : 0;
        out->last_id = sqlite3_column_int64(st, 0);
        out->n++;
    }
    sqlite3_finalize(st);
    /* the arrays moved while growing: point the vectors at them last */
    for (size_t i = 0; i < out->n; i++) {
        out->x[i].bucket = out->buckets + off[i];
        out->x[i].value = out->values + off[i];
    }
    free(off);
    return 0;
}

int fg_learn_store_add_version(struct fg_learn_store *s, struct fg_learn_version *v,
                               const unsigned char *weights, size_t wlen)
{
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
    return (int)one_int(s,
                        "SELECT max(version) FROM route_versions WHERE route = ?1 AND accepted = 1"
                        " AND version < coalesce((SELECT version FROM route_active WHERE route ="
                        " ?1), 0)",
                        route, 0);
}

int fg_learn_store_history(struct fg_learn_store *s, const char *route, fg_learn_version_cb cb,
                           void *arg)
{
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
    sqlite3_stmt *st = prep(s, "DELETE FROM route_lock WHERE route = ? AND owner = ?");
    if (!st)
        return;
    sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_finalize(st);
}
