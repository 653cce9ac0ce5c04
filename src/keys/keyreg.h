/* keyreg.h — the daemon's registry of virtual keys and tag budgets.
 *
 * Contract:
 *  - One registry per process, shared by every worker thread.
 *    fg_keyreg_start() loads the `keys` table (keystore.h) and the config's
 *    tag budgets, initialises each budget from the ledger's spend (the cost
 *    of calls since its period started, so a restart doesn't reset a
 *    budget; handed in by the caller: the ledger is a peer of keys/, so
 *    the daemon wires it, struct fg_keyreg_spend), and starts a
 *    thread that re-reads the table every FG_KEYREG_RELOAD_MS: keys created
 *    or revoked by `frugal keys` apply within seconds.  An unknown key of
 *    the right shape is looked up in storage by its hash at once (so a key
 *    made by `frugal keys create` works on its very first call); a hash
 *    found missing is remembered (FG_KEYREG_MISSING_SLOTS, direct-mapped),
 *    so repeating a wrong key does not touch storage again.  fg_keyreg_stop() (after
 *    the workers stopped) joins the thread and frees everything.
 *  - Entries are never freed while the registry runs: a struct fg_vkey
 *    pointer (held by a principal or a call) stays valid until
 *    fg_keyreg_stop().  Its key data is immutable except the revocation
 *    time (atomic); its budget and rate counters are only touched through
 *    budget.h / ratelimit.h, which lock.  Lookups take a read lock; the
 *    budget check on the request path never touches the disk.
 *  - fg_keyreg_create() / fg_keyreg_revoke() (admin API) write the table
 *    through the registry's own key store handle (under a mutex), apply at
 *    once in memory, and bump the shared version FG_KEYREG_VERSION
 *    (shared.h).  The reload thread re-reads the table when that version
 *    moved — with the in-process backend, which cannot hear other
 *    processes such as `frugal keys`, on every tick.
 *  - The gateway budget (config gateway_budget) counts every call's cost,
 *    whoever made it; it lives with the tag budgets.
 *  - Counter names for a cross-process backend: "budget:key:<id>",
 *    "rate:<id>", "budget:tag:<k=v>", "budget:gateway". */
#ifndef FRUGAL_KEYREG_H
#define FRUGAL_KEYREG_H

#include "budget.h"
#include "keys.h"
#include "ratelimit.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

struct fg_config;

#define FG_KEYREG_RELOAD_MS 2000
#define FG_KEYREG_MISSING_SLOTS 4096
#define FG_KEYREG_VERSION "keys" /* shared.h version bumped on key changes */

struct fg_vkey {
    struct fg_key k;            /* as stored; k.revoked_ms is not kept current */
    _Atomic int64_t revoked_ms; /* 0 = active */
    struct fg_budget budget;    /* when k.budget > 0 */
    struct fg_ratelimit rate;   /* when k.rpm or k.tpm */
    struct fg_vkey *next_hash, *next_id;
};

/* A budget on every call carrying a tag (config `tag_budgets`). */
struct fg_tag_budget {
    const char *tag; /* "k=v" (the config's string) */
    struct fg_budget budget;
};

enum fg_key_state { FG_KEY_OK, FG_KEY_UNKNOWN, FG_KEY_REVOKED, FG_KEY_EXPIRED };

/* The ledger's spend since since_ms: cb once per (key_id, tags) with the
 * SUM of its calls' cost_pico; 0, or -1 with err (ledger/store.h
 * fg_store_spend_since has this shape). */
struct fg_keyreg_spend {
    int (*since)(void *src, int64_t since_ms,
                 int (*cb)(void *arg, const char *key_id, const char *tags, int64_t cost_pico),
                 void *arg, char *err, size_t errlen);
    void *src; /* used by fg_keyreg_start and then the reload thread, until fg_keyreg_stop */
    /* the ledger holds every replica's calls (a server store): a
     * cross-process backend that lost its counters is rebuilt from it */
    bool shared;
};

int fg_keyreg_start(const struct fg_config *cfg, const struct fg_keyreg_spend *spend, char *err,
                    size_t errlen);
void fg_keyreg_stop(void);

/* The key whose secret this is (and its state at now_ms); *out is set for
 * REVOKED / EXPIRED too. */
enum fg_key_state fg_keyreg_auth(const char *secret, int64_t now_ms, struct fg_vkey **out);
/* The same by key id (a batch owner's key). */
enum fg_key_state fg_keyreg_by_id(const char *id, int64_t now_ms, struct fg_vkey **out);
/* A copy of v's key with its current revocation time. */
void fg_keyreg_vkey_get(const struct fg_vkey *v, struct fg_key *out);

/* Store k (a new key) and add it.  0 or -1 with err. */
int fg_keyreg_create(const struct fg_key *k, char *err, size_t errlen);
/* Revoke the key with this id: 1 revoked, 0 no such active key, -1 error. */
int fg_keyreg_revoke(const char *id, int64_t now_ms, char *err, size_t errlen);

/* The key as JSON (keys.h) plus its live usage: "usage": {"budget":
 * {limit_usd, spent_usd, reserved_usd, period, resets_at} | null,
 * "requests_last_minute", "tokens_last_minute"}.  New reference. */
json_t *fg_keyreg_key_json(struct fg_vkey *v, int64_t now_ms);
/* Every key, oldest first (array, new reference). */
json_t *fg_keyreg_list_json(int64_t now_ms);

/* The gateway's budget (config gateway_budget), or NULL. */
struct fg_budget *fg_keyreg_gateway_budget(void);
/* The tag budgets matching any "k=v" item of tags, at most max. */
int fg_keyreg_tag_budgets(const char *tags, struct fg_tag_budget **out, int max);
/* The tags whose budgets a call is charged to: a virtual key's own tags
 * only (any caller can send x-frugal-tags, so a header tag is recorded for
 * reports but never spends a tag budget); the call's tags (the header) for
 * the master key and for a gateway without keys ("master" / "anonymous");
 * none for any other caller.  v: the call's virtual key or NULL. */
const char *fg_keyreg_charged_tags(const struct fg_vkey *v, const char *key_id,
                                   const char *call_tags);
/* The one resolution of a call's tags (keys.h struct fg_call_tags) from its
 * caller (v: virtual key or NULL; key_id as auth.h names it) and the
 * x-frugal-tags header it sent (or NULL): recorded = the key's tags merged
 * with the header's (the key's value wins for a name it sets), charged =
 * fg_keyreg_charged_tags of those.  Every consumer — admission, routing
 * rules, the ledger, a batch's lines — reads this result; nothing else
 * parses x-frugal-tags.  Strings in a. */
void fg_keyreg_call_tags(struct fg_arena *a, const struct fg_vkey *v, const char *key_id,
                         const char *header, struct fg_call_tags *out);

#endif
