/* learn_store_pg.h — learn_store.h's tables in Postgres, for
 * learn_store.c only (same functions, same meaning, on a connection).
 * Migrations: component "routing" (pgdb.h), applied at open.  Blobs are
 * bytea; learn_store_pg.c's texts never interpolate data. */
#ifndef FRUGAL_LEARN_STORE_PG_H
#define FRUGAL_LEARN_STORE_PG_H

#include "learn_store.h"

#include <libpq-fe.h>
#include <stdbool.h>

/* `frugal migrate`: apply (apply = true) or count the missing "routing"
 * migrations on a connection of its own.  0, or -1 with err. */
int fg_learn_store_pg_migrate(const char *dsn, bool apply, int *pending, char *err, size_t errlen);
int fg_learn_store_pg_open(const char *dsn, PGconn **out, char *err, size_t errlen);
int fg_learn_store_pg_add_label(PGconn *c, const char *route, const char *call_id, int64_t ts_ms,
                                int label, uint32_t n_buckets, const unsigned char *blob,
                                size_t blen, const char *prompt);
int64_t fg_learn_store_pg_new_labels(PGconn *c, const char *route);
int64_t fg_learn_store_pg_label_count(PGconn *c, const char *route);
/* Each row's (id, label, features) to cb, in id order. */
typedef void (*fg_learn_store_pg_row_cb)(void *arg, int64_t id, int label, const unsigned char *b,
                                         size_t len);
int fg_learn_store_pg_labels(PGconn *c, const char *route, uint32_t n_buckets,
                             fg_learn_store_pg_row_cb cb, void *arg);
int fg_learn_store_pg_add_version(PGconn *c, struct fg_learn_version *v,
                                  const unsigned char *weights, size_t wlen);
int fg_learn_store_pg_active(PGconn *c, const char *route, int *version, unsigned char **weights,
                             size_t *wlen);
int fg_learn_store_pg_set_active(PGconn *c, const char *route, int version, char *err,
                                 size_t errlen);
int fg_learn_store_pg_previous(PGconn *c, const char *route);
int fg_learn_store_pg_history(PGconn *c, const char *route, fg_learn_version_cb cb, void *arg);
bool fg_learn_store_pg_lock(PGconn *c, const char *route, const char *owner, int64_t now_ms,
                            int64_t ttl_ms);
int64_t fg_learn_store_pg_add_spend(PGconn *c, const char *route, int64_t day, int64_t pico);
void fg_learn_store_pg_unlock(PGconn *c, const char *route, const char *owner);

#endif
