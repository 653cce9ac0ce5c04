/* ledger.h — one record per call, priced exactly, written off the hot path.
 *
 * Contract:
 *  - fg_ledger_start() opens the configured store and starts the writer
 *    thread.  Workers fill a struct fg_record (fg_ledger_record_new) and hand it
 *    to fg_ledger_submit(), which never blocks on the disk: records go to
 *    a bounded in-memory queue; the writer commits everything queued in
 *    one transaction every `group_ms` (default FG_LEDGER_GROUP_MS), timed
 *    from the start of the previous commit, or at once when 1024 records
 *    wait.  After kill -9 at most the records of the last group window and
 *    the commit in progress are lost (README states the measured bound).
 *  - Back-pressure: fg_ledger_full() is true while the queue holds its
 *    limit (200,000 records, or FRUGAL_LEDGER_QUEUE_MAX); admission then
 *    refuses new calls (503, admit.c) instead of losing records.  Records
 *    of calls already admitted still fit (a reserve past the limit); only
 *    past that reserve is a record dropped and counted (fg_ledger_stats).
 *    A store locked by another writer is waited for, not given up on (at
 *    shutdown for 10 s at most); an unreachable one (FG_STORE_DOWN) too,
 *    unless there is a spool (fg_ledger_spool_at).
 *  - Tests place calls at known times: a debug build (FG_DEBUG, the e2e
 *    suite's) stamps every submitted record FRUGAL_LEDGER_TS_SHIFT_MS
 *    (0 to 400 days) in the past; a release build ignores it (a ledger's
 *    times are not an operator's to rewrite).
 *  - fg_ledger_stop() drains the queue (SIGTERM) and closes the store.
 *  - Ownership: a submitted record belongs to the ledger, which frees it
 *    after the write.  A record is one allocation (strings inline).
 * All money is pico-USD (1e-12 USD), see price.h. */
#ifndef FRUGAL_LEDGER_H
#define FRUGAL_LEDGER_H

#include "price.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_record {
    struct fg_record *next; /* queue link */
    char id[40];
    int64_t ts_ms;        /* unix ms at request start */
    const char *key_id;   /* "master" | "anonymous" | virtual key id */
    const char *key_name; /* the virtual key's name, or NULL: for the access log
                             (alog.h) only, not stored */
    const char *tags;     /* normalised "k=v,k=v" or "" */
    const char *endpoint; /* "chat" | "messages" | "count_tokens" | "embeddings" |
                                        "batch" | a passed-through path ("/v1/moderations") */
    const char *model_requested;
    const char *model; /* configured model that served */
    const char *upstream_model;
    const char *provider;
    const char *route; /* fixed|cheap|frontier|escalated|fallback */
    const char *route_reason;
    const char *cache; /* hit|miss|bypass */
    bool stream, batch;
    int status;
    struct fg_tokens tok;
    int64_t reasoning_tokens;
    bool priced;
    int64_t cost_pico, baseline_pico;
    /* savings by technique; they add up to baseline - cost */
    int64_t saved_prompt_cache_pico, saved_response_cache_pico, saved_routing_pico,
        saved_batch_pico, saved_flex_pico;
    /* spend buckets (other = cost - these) */
    int64_t bucket_repeated_pico, bucket_repeated_cached_pico, bucket_frontier_pico,
        bucket_bloated_pico;
    int64_t latency_us, ttfb_us;
    int64_t upstream_us;     /* time in provider transfers (curl's total), 0 if none:
                            for the access log (alog.h) only, not stored */
    char prefix_fp[17];      /* hex fingerprint of the stable prefix, or "" */
    int64_t prefix_tokens;   /* its token estimate */
    int64_t repeated_tokens; /* input tokens repeating a recent prefix */
    const char *error;       /* NULL or text */
    const char *linked_id;   /* escalation/fallback: the call it follows */
    /* cache buster (busters.h) found in this call's stable prefix, or NULL */
    const char *buster_where;              /* "tools" | "system" | "message N" */
    int64_t buster_offset;                 /* byte offset of the changing text in that section */
    const char *buster_sample;             /* the changing text (≤ ~40 chars) */
    int64_t buster_tokens;                 /* prefix tokens no longer reusable */
    int64_t buster_pico;                   /* money lost: tokens × (input − cache read price) */
    const char *cache_miss_reason;         /* Anthropic cache diagnostics, or NULL */
    const char *batch_id;                  /* the client's batch this line belongs to, or NULL */
    int64_t request_bytes, response_bytes; /* passed-through calls (passthru.h); else 0 */
    const char *response_id;               /* the stored Response this call created (its
                                        provider and key_id route later calls to it,
                                        responses_api.h), or NULL */
    /* Conversation state of that Response (call/respstate.h), written into
     * the store's `responses` table beside response_id: */
    const char *upstream_response_id; /* the id the provider gave it, or NULL */
    const char *prev_response_id;     /* the response it continues, or NULL */
    const char *response_data;        /* JSON the store keeps to replay it, or NULL */
    int64_t response_expires_ms;      /* unix ms after which it is gone (0 = never) */
    bool response_forget;             /* not a call: delete response_id from the store */
};

/* Allocate a record with room for `strings` bytes of inline text; copy
 * strings into it with fg_ledger_record_str(). */
struct fg_record *fg_ledger_record_new(size_t strings);
const char *fg_ledger_record_str(struct fg_record *r, const char *s);
void fg_ledger_record_free(struct fg_record *r);
/* A record of its own (one allocation) with r's fields and strings: for
 * records read from a store, whose strings live only as long as the row. */
struct fg_record *fg_ledger_record_copy(const struct fg_record *r);

struct fg_ledger_stats {
    uint64_t queued, written, dropped, write_errors;
    uint64_t depth;                        /* records waiting now */
    uint64_t spooled;                      /* records that went to the spool (written later) */
    uint64_t spool_depth;                  /* records in the spool now */
    uint64_t store_writes, store_write_us; /* the store's write calls and their time */
    bool store_down;                       /* the last write found the store unreachable */
};

#define FG_LEDGER_GROUP_MS 20

struct fg_store;
/* Before fg_ledger_start: records a server store cannot take while it is
 * unreachable go to this append-only file (spool.h) and are written back,
 * in order, when it returns (a spool left by a previous run first); the
 * calls keep flowing meanwhile.  NULL: none (records wait in the queue). */
void fg_ledger_spool_at(const char *path);
/* The spend since since_ms of the store (a struct fg_store *, opened by
 * the caller; store.h fg_store_spend_since) plus the calls still in this
 * process's spool (spoolspend.h), each counted once: what shared budget
 * counters are rebuilt from (keys/keyreg.c, wired by the daemon). */
int fg_ledger_spend_since(void *store, int64_t since_ms,
                          int (*cb)(void *arg, const char *key_id, const char *tags,
                                    int64_t cost_pico),
                          void *arg, char *err, size_t errlen);
int fg_ledger_start(const char *storage, int group_ms, char *err, size_t errlen);
void fg_ledger_submit(struct fg_record *r);
/* Delete stored Response `id` from the store, in order with the records
 * queued before (the writer is the store's only writer). */
void fg_ledger_forget_response(const char *id);
/* The queue is at its limit: refuse new calls (any thread, lock-free). */
bool fg_ledger_full(void);
void fg_ledger_stop(void);
void fg_ledger_get_stats(struct fg_ledger_stats *s);
/* The open store (for read-only queries by the API layer); NULL if none. */
struct fg_store *fg_ledger_store(void);

#endif
