/* store.h — the storage interface: a table of functions per backend.
 *
 * A backend is a file (store_sqlite.c, store_pg.c) exporting a struct
 * fg_store_ops.  fg_store_open() picks it from the DSN scheme
 * ("sqlite:PATH", "postgres://…" or "postgresql://…").  The ledger writer thread is the only
 * writer; readers (report, GET /frugal/spend) open their own handle, so a
 * backend handle is used by one thread at a time.
 *
 * The `calls` table (one row per struct fg_record, column names = field
 * names; tokens as input_tokens, cache_read_tokens, cache_write_5m_tokens,
 * cache_write_1h_tokens, output_tokens) is documented in README.md.  The
 * `keys` table of the same database is the key registry's (keys/
 * keystore.h: keys/ and ledger/ are peers, and the ledger needs no key
 * type); the ledger offers it the spend that budgets start from
 * (fg_store_spend_since).  The `responses` table (id, key_id, provider,
 * ts_ms, upstream_id, prev_id, expires_ms, data) holds the Responses
 * conversation state (call/respstate.h), written from records with a
 * response_id, deleted by forget records and by response_prune. */
#ifndef FRUGAL_STORE_H
#define FRUGAL_STORE_H

#include "ledger.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_store;
struct fg_store_response;

#define FG_STORE_BUSY (-2)
/* The store's server cannot be reached (nothing written): the ledger keeps
 * the records in its spool and writes them again later (ledger.h). */
#define FG_STORE_DOWN (-3)

/* Called for each record of a scan; return non-zero to stop. */
typedef int (*fg_store_row_cb)(void *arg, const struct fg_record *r);
/* Called for each stored Response of a response_scan; non-zero stops. */
typedef int (*fg_store_response_cb)(void *arg, const char *id, const struct fg_store_response *r);
/* Called for each (key_id, tags) group of a spend sum; non-zero stops. */
typedef int (*fg_store_spend_cb)(void *arg, const char *key_id, const char *tags,
                                 int64_t cost_pico);

/* Per-minute rollups of the calls table (what the dashboard's time series
 * read instead of raw rows).  One rollup row per (minute, key_id, model,
 * route): minute = ts_ms - ts_ms % 60000; key_id and route '' when NULL;
 * model = model, else model_requested, else "(none)" (report.h's rule).
 * Header tags are not a dimension: they are client-supplied and unbounded.
 * Latency is kept as a histogram: lat[i] counts calls with latency_us <=
 * fg_rollup_lat_le_ms[i] * 1000 (and above the previous bound); the last
 * bucket is unbounded (FG_ROLLUP_LAT_INF).
 * A backend keeps them exact and idempotent: a calls row is counted in the
 * same transaction that inserts it, and only when it is inserted (a row
 * whose id is already stored is skipped, not replaced), so replicas
 * writing the same ledger and spooled rows replayed late add up once. */
#define FG_ROLLUP_LAT_BUCKETS 14
#define FG_ROLLUP_LAT_INF INT64_MAX
extern const int64_t fg_rollup_lat_le_ms[FG_ROLLUP_LAT_BUCKETS];

/* Escalations by reason: a calls row with route "escalated" counts in
 * `escalations` and in the reason its route_reason starts with (the texts
 * the router writes: call/relay.c escalate(), call/pipeline.c
 * retry_escalation()); a reason none of these starts is only in the total.
 * The prefixes are matched exactly (substr in SQL, strncmp in C). */
#define FG_ROLLUP_ESC_REASONS 5
struct fg_rollup_esc {
    const char *name;   /* empty | refusal | truncated | invalid_schema | retry */
    const char *prefix; /* of route_reason */
    const char *column; /* the rollup column */
};
extern const struct fg_rollup_esc fg_rollup_esc[FG_ROLLUP_ESC_REASONS];
/* -1: not an escalation; FG_ROLLUP_ESC_REASONS: an escalation of no known
 * reason; else the index into fg_rollup_esc. */
int fg_store_esc_reason(const char *route, const char *route_reason);

/* Refusals frugal made itself at admission (call/admit.c): a calls row with
 * status 429 whose error starts with one of a kind's prefixes.  Only a
 * holder of a valid key is refused so (a request without one is refused
 * at the head: no call, no row).  A provider's own 429 is not one (its
 * text is the provider's). */
#define FG_ROLLUP_REFUSALS 2
struct fg_rollup_refusal {
    const char *name;      /* rate_limit | budget */
    const char *prefix[2]; /* of error; NULL when fewer */
    const char *column;
};
extern const struct fg_rollup_refusal fg_rollup_refusal[FG_ROLLUP_REFUSALS];
/* The index into fg_rollup_refusal, or -1: not a refusal. */
int fg_store_refusal_kind(int64_t status, const char *error);

enum fg_rollup_group { FG_ROLLUP_NONE, FG_ROLLUP_MODEL, FG_ROLLUP_KEY, FG_ROLLUP_ROUTE };

/* A backend may keep coarser rollups too (SQLite: hours and days) and read
 * them when since, until and step are all cut at that grain. */
struct fg_rollup_query {
    int64_t since_ms, until_ms; /* minute-aligned by the caller; since <= minute < until */
    int64_t step_ms;            /* a multiple of 60000; points start at since + k * step */
    const char *key_id;         /* NULL: every key */
    const char *model;          /* NULL: every model */
    const char *route;          /* NULL: every route */
    /* NULL: every key; else a JSON array of key ids (strings), the keys a
     * key-tag filter resolved to: key_id must be one of them */
    const char *key_ids_json;
    enum fg_rollup_group group; /* which dimension each row carries */
};

struct fg_rollup_row {
    int64_t t_ms;      /* the point: since + k * step */
    const char *group; /* the group's value (NULL when group is NONE) */
    int64_t requests, errors, unpriced, cache_hits;
    int64_t cost_pico, baseline_pico;
    int64_t saved_pico[5];  /* prompt_cache, response_cache, routing, batch, flex */
    int64_t bucket_pico[4]; /* repeated, repeated_cached, frontier, bloated */
    int64_t tokens[5];      /* input, cache_read, cache_write_5m, cache_write_1h, output */
    int64_t latency_sum_us;
    int64_t lat[FG_ROLLUP_LAT_BUCKETS];
    int64_t escalations, esc[FG_ROLLUP_ESC_REASONS]; /* fg_rollup_esc's order */
    int64_t refused[FG_ROLLUP_REFUSALS];             /* fg_rollup_refusal's order */
};
/* What a client's batch cost (batch_spend): the sums over the calls rows
 * carrying its id (batch_exec.c writes one per line). */
#define FG_STORE_BATCH_IDS_MAX 100
struct fg_batch_spend {
    const char *batch_id;
    int64_t requests, errors, cost_pico, baseline_pico, saved_batch_pico;
    int64_t provider_requests; /* rows sent through a provider's batch API (batch = 1) */
};
typedef int (*fg_store_batch_cb)(void *arg, const struct fg_batch_spend *b);

/* Called for each (point, group) row, ordered by t_ms; non-zero stops. */
typedef int (*fg_store_rollup_cb)(void *arg, const struct fg_rollup_row *r);

struct fg_store_ops {
    const char *scheme;
    int (*open)(const char *dsn, struct fg_store **out, char *err, size_t errlen);
    /* Write n records in one transaction; 0, or -1 with err, or
     * FG_STORE_BUSY with err when another writer holds the database's
     * lock (nothing written: try again later), or FG_STORE_DOWN with err.
     * Writing a record again (same id and ts_ms) keeps one row. */
    int (*write)(struct fg_store *s, struct fg_record *const *recs, size_t n, char *err,
                 size_t errlen);
    /* Records with since_ms <= ts_ms < until_ms, oldest first. */
    int (*scan)(struct fg_store *s, int64_t since_ms, int64_t until_ms, fg_store_row_cb cb,
                void *arg, char *err, size_t errlen);
    void (*close)(struct fg_store *s);
    /* Housekeeping the backend keeps off the writer (SQLite: copy the WAL
     * back into the database).  Called by the ledger's checkpointer thread,
     * never concurrently with itself, while the writer may be writing: it
     * must use a connection of its own.  NULL when there is none. */
    void (*checkpoint)(struct fg_store *s);
    /* SUM(cost_pico) of calls with ts_ms >= since_ms, per (key_id, tags). */
    int (*spend_since)(struct fg_store *s, int64_t since_ms, fg_store_spend_cb cb, void *arg,
                       char *err, size_t errlen);
    /* The key and provider of the call that created stored Response `id`
     * (records with response_id, written by `write` into the `responses`
     * table): 1 found, 0 unknown, -1 error.  NULL: the backend keeps none. */
    int (*response_owner)(struct fg_store *s, const char *id, char *key_id, size_t kn,
                          char *provider, size_t pn, char *err, size_t errlen);
    /* The whole row of stored Response `id` (see struct fg_store_response)
     * if it has not expired at now_ms: 1 found (strings malloc'd, free with
     * fg_store_response_free), 0 unknown or expired, -1 error.  NULL: the
     * backend keeps none. */
    int (*response_get)(struct fg_store *s, const char *id, int64_t now_ms,
                        struct fg_store_response *out, char *err, size_t errlen);
    /* The conversation ending at stored Response `id`: its row, then the
     * row of the response it continues, and so on (at most max rows, each
     * not expired at now_ms; the chain stops at a missing or expired one),
     * to cb newest first, in ONE query (a recursive CTE): a cold
     * conversation costs one round trip, not one per turn.  The number of
     * rows, or -1 with err.  NULL: use response_get. */
    int (*response_chain)(struct fg_store *s, const char *id, int64_t now_ms, int max,
                          fg_store_response_cb cb, void *arg, char *err, size_t errlen);
    /* Delete the responses that expired before now_ms (the writer's
     * connection, called by the ledger writer between groups); the number
     * deleted, or -1. */
    int (*response_prune)(struct fg_store *s, int64_t now_ms, char *err, size_t errlen);

    /* The rollups (above) summed per point and group, matching q.  0, or
     * -1 with err.  NULL: the backend keeps none (the API says so). */
    int (*rollup)(struct fg_store *s, const struct fg_rollup_query *q, fg_store_rollup_cb cb,
                  void *arg, char *err, size_t errlen);
    /* The latest `limit` records (of key_id, or of every key when NULL),
     * newest first (ts_ms, then id, descending).  0, or -1 with err.  NULL:
     * the backend cannot (the dashboard's live view says so). */
    int (*recent)(struct fg_store *s, const char *key_id, int limit, fg_store_row_cb cb, void *arg,
                  char *err, size_t errlen);

    /* Per batch of ids (1 to FG_STORE_BATCH_IDS_MAX ids), the sums of its
     * calls rows of key_id (NULL: of every key), to cb; a batch without
     * rows is left out.  Reads an index on batch_id (never a scan of the
     * calls).  0, or -1 with err.  NULL: the backend cannot. */
    int (*batch_spend)(struct fg_store *s, const char *key_id, const char *const *ids, size_t n,
                       fg_store_batch_cb cb, void *arg, char *err, size_t errlen);

    /* Every stored Response not expired at now_ms, to cb (strings valid
     * during the call): `frugal migrate --copy-from` reads a SQLite store
     * so.  0, or -1 with err.  NULL: the backend cannot be copied from. */
    int (*response_scan)(struct fg_store *s, int64_t now_ms, fg_store_response_cb cb, void *arg,
                         char *err, size_t errlen);
    /* Add stored Response `id` as copied from another store; a row already
     * there is kept (copying twice changes nothing).  1 added, 0 kept, -1
     * error.  NULL: the backend cannot be copied into. */
    int (*response_put)(struct fg_store *s, const char *id, const struct fg_store_response *r,
                        char *err, size_t errlen);
};

/* A row of the `responses` table: who created a stored Response, where it
 * lives upstream and what replays it (call/respstate.h). */
struct fg_store_response {
    char *key_id, *provider, *upstream_id, *prev_id, *data; /* NULL when absent */
    int64_t ts_ms, expires_ms;
};
void fg_store_response_free(struct fg_store_response *r);

struct fg_store {
    const struct fg_store_ops *ops;
};

extern const struct fg_store_ops fg_store_sqlite;
extern const struct fg_store_ops fg_store_pg;

int fg_store_open(const char *dsn, struct fg_store **out, char *err, size_t errlen);
/* For commands that only read: does the DSN name an embedded database file
 * that does not exist (opening would create an empty one)?  Its path goes
 * to `path`. */
bool fg_store_missing(const char *dsn, char *path, size_t n);
/* The DSN as it may be shown to people: a sqlite: path as is, another
 * scheme without what follows it (a server DSN can carry a password). */
const char *fg_store_label(const char *dsn, char *buf, size_t n);
void fg_store_close(struct fg_store *s);
/* s->ops->spend_since with s as a void * (src): the shape of keyreg.h's
 * struct fg_keyreg_spend, which the daemon wires to a store handle. */
int fg_store_spend_since(void *src, int64_t since_ms, fg_store_spend_cb cb, void *arg, char *err,
                         size_t errlen);

#endif
