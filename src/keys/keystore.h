/* keystore.h — where virtual keys are kept: the `keys` table.
 *
 * Contract:
 *  - A backend is a file (keystore_sqlite.c, keystore_pg.c) exporting a struct
 *    fg_keystore_ops; fg_keystore_open() picks it from the storage DSN's
 *    scheme, like the ledger's store (ledger/store.h).  The table lives in
 *    the same database as the ledger's `calls`, through a connection of
 *    its own; a handle is used by one thread at a time (the key registry
 *    locks its own, keyreg.h).
 *  - Columns: id, name, hash, hint, created_ms, expires_ms (NULL: never),
 *    revoked_ms, budget_pico, budget_period, rpm, tpm, models, tags,
 *    allow_unpriced (README documents them).  Only hashes of secrets are
 *    stored.  Writers: `frugal keys`, the admin API (through the registry);
 *    the database serialises them (with Postgres, every replica's).
 *  - Why here and not in the ledger's store: keys/ and ledger/ are peers.
 *    The table's rows are struct fg_key, so the code that reads and writes
 *    them belongs with the keys; the ledger records calls and needs no key
 *    type.  What the two share is wired from above (cli/): the registry's
 *    budgets start from the ledger's spend (keyreg.h struct
 *    fg_keyreg_spend), and reports name key ids through
 *    fg_keystore_names (report.h key_names). */
#ifndef FRUGAL_KEYSTORE_H
#define FRUGAL_KEYSTORE_H

#include "keys.h"

#include <stddef.h>
#include <stdint.h>

struct fg_keystore;

/* Called for each stored key; non-zero stops. */
typedef int (*fg_keystore_key_cb)(void *arg, const struct fg_key *k);

struct fg_keystore_ops {
    const char *scheme;
    int (*open)(const char *dsn, struct fg_keystore **out, char *err, size_t errlen);
    void (*close)(struct fg_keystore *s);
    /* Insert a new key (its id and hash are unique): 0 or -1 with err. */
    int (*put)(struct fg_keystore *s, const struct fg_key *k, char *err, size_t errlen);
    /* Every key, oldest first. */
    int (*scan)(struct fg_keystore *s, fg_keystore_key_cb cb, void *arg, char *err, size_t errlen);
    /* Mark an active key revoked at now_ms: 1 done, 0 no such active key,
     * -1 error. */
    int (*revoke)(struct fg_keystore *s, const char *id, int64_t now_ms, char *err, size_t errlen);
    /* The key whose secret has this SHA-256 hex (an indexed lookup): 1
     * found (*out filled), 0 none, -1 error. */
    int (*by_hash)(struct fg_keystore *s, const char *hash, struct fg_key *out, char *err,
                   size_t errlen);
};

struct fg_keystore {
    const struct fg_keystore_ops *ops;
};

extern const struct fg_keystore_ops fg_keystore_sqlite;
extern const struct fg_keystore_ops fg_keystore_pg;

int fg_keystore_open(const char *dsn, struct fg_keystore **out, char *err, size_t errlen);
void fg_keystore_close(struct fg_keystore *s);

/* Each stored key's id and name, for whoever names key ids (src is a
 * struct fg_keystore *; the shape of report.h's key_names). */
int fg_keystore_names(void *src, int (*cb)(void *arg, const char *id, const char *name), void *arg,
                      char *err, size_t errlen);

#endif
