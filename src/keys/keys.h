/* keys.h — virtual keys: the secret, its hash, its id and its options.
 *
 * Contract (pure functions, no global state, any thread):
 *  - A virtual key's secret is FG_KEY_PREFIX followed by 43 base62
 *    characters from the OS's CSPRNG (~256 bits).  It exists only in the
 *    answer to `create`; storage keeps its SHA-256 (lowercase hex) and a
 *    short hint (the prefix and 4 characters) for humans.
 *  - A key's id ("key_" + 12 hex, random) is stable and public: the ledger
 *    records it as calls.key_id and files/batches use it as their owner.
 *  - fg_keys_new() validates options (name, budget "USD/period", rpm, tpm,
 *    models allow-list checked against the config's models and routes, tags
 *    "k=v,k=v", expiry) and fills a struct fg_key plus the secret.
 *  - struct fg_key is plain data (fixed buffers), copied freely. */
#ifndef FRUGAL_KEYS_H
#define FRUGAL_KEYS_H

#include "period.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_config;
struct fg_arena;

#define FG_KEY_PREFIX "fk-"
#define FG_KEY_SECRET_CHARS 43 /* after the prefix */
#define FG_KEY_SECRET_MAX 64   /* buffer size for a secret */

struct fg_key {
    char id[20]; /* "key_" + 12 hex */
    char name[101];
    char hash[65]; /* hex SHA-256 of the secret */
    char hint[12]; /* "fk-AbCd" */
    int64_t created_ms;
    int64_t expires_ms; /* when `expires` (0 is the epoch, not "never") */
    bool expires;       /* false = never expires */
    int64_t revoked_ms; /* 0 = active */
    int64_t budget;     /* pico-USD per period, 0 = none */
    enum fg_period budget_period;
    int64_t rpm, tpm;    /* 0 = no limit */
    char models[1024];   /* allow-list "a,b,route"; "" = any model */
    char tags[512];      /* "k=v,k=v"; "" = none */
    bool allow_unpriced; /* with a budget: may call paths frugal cannot
                                price (passthru.h); default refused */
    bool budget_soft;    /* the budget alerts (alert.h) but never refuses */
};

/* Options as given (CLI or admin API); NULL / 0 = not given. */
struct fg_key_opts {
    const char *name, *budget, *models, *tags, *expires;
    int64_t rpm, tpm;
    bool allow_unpriced;
    bool soft; /* a soft budget: needs budget */
};

/* New key from opts: 0 with *k and secret filled, or -1 with err. */
int fg_keys_new(const struct fg_key_opts *o, const struct fg_config *cfg, int64_t now_ms,
                struct fg_key *k, char secret[FG_KEY_SECRET_MAX], char *err, size_t errlen);

/* SHA-256 of the secret, lowercase hex. */
void fg_keys_hash(const char *secret, char out[65]);
/* Has the shape of a virtual key (prefix, length, alphabet). */
bool fg_keys_format_ok(const char *s);

/* Does k's allow-list permit the model or route `name`? */
bool fg_keys_allows(const struct fg_key *k, const char *name);
/* "active" | "revoked" | "expired" at now_ms. */
const char *fg_keys_status(const struct fg_key *k, int64_t now_ms);
/* The key as JSON, without its secret or hash (new reference). */
json_t *fg_keys_json(const struct fg_key *k, int64_t now_ms);

/* The ledger tags of a call: the key's tags, then the client's
 * x-frugal-tags items whose key the key's tags don't set (a key's tags
 * can't be overridden by its caller).  Arena memory; `header` may be NULL. */
const char *fg_keys_tags_merge(struct fg_arena *a, const char *key_tags, const char *header);

/* A call's tags, resolved once when it is created (fg_keyreg_call_tags):
 *  - recorded: what its ledger row and the reports show (fg_keys_tags_merge of
 *    the key's tags and x-frugal-tags; never NULL once resolved);
 *  - charged: the tags trusted to decide for the operator — tag budgets
 *    and routing rules naming a tag (fg_keyreg_charged_tags); NULL: none. */
struct fg_call_tags {
    const char *recorded;
    const char *charged;
};

/* USD with 6 decimals from pico-USD ("12.500000"). */
const char *fg_keys_usd(int64_t pico, char *buf, size_t n);

#endif
