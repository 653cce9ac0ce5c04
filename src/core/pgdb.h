/* pgdb.h — connecting to frugal's Postgres database the one way every part
 * does, and its versioned schema migrations.
 *
 * Contract:
 *  - fg_pgdb_connect() opens one blocking libpq connection for the DSN
 *    ("postgres://…" or "postgresql://…", as libpq reads it), with a 5 s
 *    connect timeout unless the DSN sets one.  A connection is used by one
 *    thread at a time, and never on a worker's event loop (a round trip
 *    blocks): the ledger's writer and reader threads, the key reloader,
 *    commands.
 *  - Error texts are libpq's, prefixed "postgres: WHAT: " and passed
 *    through fg_redact (redact.h): a DSN's password never reaches a
 *    message.  fg_pgdb_label() is the DSN as it may be shown (scheme,
 *    host and database; no user, no password, no options).
 *  - Migrations: each component (the ledger, the keys, …) keeps its own
 *    numbered, constant migration texts in its source; fg_pgdb_migrate()
 *    applies the ones the database lacks, in order, each with its row in
 *    table frugal_migrations (component, version, name, applied_ms), all
 *    in one transaction under an advisory lock, so replicas starting at
 *    once apply each migration exactly once.  A database whose schema is
 *    newer than this binary's texts is refused (an older frugal must not
 *    write to it). */
#ifndef FRUGAL_PGDB_H
#define FRUGAL_PGDB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct fg_pgdb_migration {
    int version; /* 1, 2, 3, … in order */
    const char *name;
    const char *sql; /* one or more statements; constant text, never built from data */
};

/* Is this DSN one of ours (postgres:// or postgresql://)? */
bool fg_pgdb_is_dsn(const char *dsn);
/* Does libpq accept the DSN's syntax (without connecting)?  NULL, or why
 * not, in words that never echo it (libpq's own message can quote the
 * whole URL, password included). */
const char *fg_pgdb_dsn_check(const char *dsn);
/* 0 with *out connected, or -1 with err (and *out NULL). */
int fg_pgdb_connect(const char *dsn, PGconn **out, char *err, size_t errlen);
/* The DSN without credentials or options, for people: "postgres://HOST/DB". */
const char *fg_pgdb_label(const char *dsn, char *buf, size_t n);
/* Run statements that return no rows: 0, or -1 with err. */
int fg_pgdb_exec(PGconn *c, const char *sql, char *err, size_t errlen);
/* err = "postgres: WHAT: libpq's message" (from r when it has one, else
 * the connection's), redacted; returns -1. */
int fg_pgdb_fail(PGconn *c, const PGresult *r, const char *what, char *err, size_t errlen);
/* Is the connection lost (the server went away)? */
bool fg_pgdb_lost(PGconn *c);

/* Apply (apply = true) or count (apply = false) the migrations of
 * `component` the database lacks.  *pending: how many were missing.  0, or
 * -1 with err. */
int fg_pgdb_migrate(PGconn *c, const char *component, const struct fg_pgdb_migration *m, size_t n,
                    bool apply, int *pending, char *err, size_t errlen);

#endif
