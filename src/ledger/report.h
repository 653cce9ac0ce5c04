/* report.h — the spend map: where the money went, read back from the ledger.
 *
 * Contract:
 *  - fg_report_spend() scans the store for since_ms <= ts_ms < until_ms and
 *    builds DESIGN.md's spend map (jansson).  Money is summed exactly in
 *    pico-USD and converted once at the end: a USD value is the pico sum
 *    rounded half away from zero to micro-USD, as a JSON real with at most
 *    6 decimals.  Dump it with FG_REPORT_JSON_FLAGS (jansson's default 17
 *    significant digits would print 8.641976 as 8.6419759999999997).
 *  - Shape (fields may be added, none renamed):
 *      since, until            RFC3339 UTC ("2026-11-26T00:00:00Z")
 *      requests                records in the window (errors included)
 *      errors                  records with status >= 400
 *      unpriced_requests       records with priced = 0 and status < 400;
 *                              they add 0 to every sum, never "$0 spend"
 *      cost_usd, baseline_usd, saved_usd (= baseline - cost),
 *      saved_pct               100 * saved / baseline, 1 decimal, 0 if no baseline
 *      saved_by                {prompt_cache, response_cache, routing, batch, flex} USD
 *      tokens                  {input, cache_read, cache_write_5m, cache_write_1h, output}
 *      buckets                 {repeated_context (+ cached_usd, uncached_usd),
 *                               frontier_overuse, bloated_output, other}, each
 *                              {cost_usd, share}; other = cost - the three;
 *                              share = bucket / cost, 4 decimals, 0 if no cost
 *      by_model                [{model, requests, cost_usd, baseline_usd, saved_usd,
 *                                tokens}] by cost desc (then requests desc, name)
 *      top_prefixes            records grouped by prefix_fp (empty skipped):
 *                              [{fingerprint, tokens (max prefix_tokens), requests,
 *                                cache_hit_rate, cost_usd}] by requests*tokens desc,
 *                              at most top_prefixes; cache_hit_rate = share of
 *                              the prefix's requests with cache_read > 0, 3 dec.
 *      prompt_cache            {hit_rate: share of the calls with a stable prefix
 *                               (prefix_fp) long enough to be cached (eligible_calls:
 *                               uncached input >= the model's minimum, OpenAI 1024,
 *                               Anthropic promptcache.h, or any cache read/write)
 *                               that read from the provider's cache
 *                               (cache_read > 0), 3 decimals; too_short_calls: the
 *                               others with a prefix, not counted; read_tokens,
 *                               written_tokens (5m + 1h) of all calls;
 *                               written_never_read_tokens: the cache writes of
 *                               prefixes (prefix_fp) with no cache read at all in
 *                               the window; written_never_read_usd: an estimate of
 *                               what those writes cost — the record keeps only its
 *                               total, so it is their tokens x the built-in cache
 *                               write price of upstream_model (else model), with
 *                               Anthropic rules for claude-* ids or providers
 *                               named *anthropic*, 0 for models not in the table}
 *      cache_busters           records with buster_where grouped by (model, where,
 *                              offset): [{where, offset, sample (of the latest
 *                              record), model, calls, tokens (sum of
 *                              buster_tokens), cost_usd (sum of buster_pico),
 *                              cost_usd_per_day: a window >= 24 h: its average
 *                              day (sum x 86,400,000 / window); shorter: scaled to
 *                              24 h only when the buster's calls span at least
 *                              half the window, else null (a burst is no daily
 *                              rate); per_day_basis says which, advice}] by cost
 *                              desc (then calls,
 *                              tokens, key), at most FG_REPORT_TOP_BUSTERS
 *      cache_miss_reasons      {reason: calls} of records with a cache_miss_reason
 *                              (Anthropic diagnostics), by calls desc then name
 *      self_hosted             only with o->cfg naming providers priced by the
 *                              hour, and no o->key_id: report_selfhost.h
 *      unpriced_models         distinct models of the unpriced requests, sorted
 *      by (only when o->by)    {dimension, calls (all the calls), note (bucket,
 *                               technique, tag: why rows' requests can add up to
 *                               more than the calls), rows: [{key, requests,
 *                               cost_usd, baseline_usd, saved_usd}]}:
 *        model | key | tag     calls grouped by model / key_id (key rows add the
 *                              key's "name" from the keys table) / each "k=v" of
 *                              tags (a call with two tags counts in both rows;
 *                              no model, key or tag → "(none)"); by cost desc
 *        bucket                one row per bucket in the order above: requests =
 *                              calls with a non-zero amount in it, cost_usd =
 *                              the bucket's amount, share as in buckets;
 *                              baseline_usd / saved_usd null (a bucket is a share
 *                              of calls' cost, it has no baseline)
 *        technique             one row per technique (saved_by order): requests =
 *                              calls it saved on, cost_usd / baseline_usd of
 *                              those calls, saved_usd = the technique's savings
 *    A model is r->model, else r->model_requested, else "(none)".
 *  - Ownership: *out is a new reference owned by the caller (json_decref).
 *    The store handle is only read; the caller opens and closes it.
 *  - Not thread-safe per store handle (see store.h); no global state. */
#ifndef FRUGAL_REPORT_H
#define FRUGAL_REPORT_H

#include "report_selfhost.h"
#include "store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Dump flags that print the spend map's 6-decimal money exactly. */
#define FG_REPORT_JSON_FLAGS JSON_REAL_PRECISION(15)

#define FG_REPORT_TOP_PREFIXES 10
#define FG_REPORT_TOP_BUSTERS 10

struct fg_report_opts {
    int64_t since_ms;   /* inclusive */
    int64_t until_ms;   /* exclusive; <= 0 means now */
    const char *by;     /* NULL | "model" | "bucket" | "technique" | "key" | "tag" */
    int top_prefixes;   /* <= 0 means FG_REPORT_TOP_PREFIXES */
    const char *key_id; /* NULL: every caller; else only calls.key_id = this
                                (the spend map then has "key": key_id) */
    /* --by key: who gives the ledger's key ids their names (keys/
     * keystore.h fg_keystore_names; keys/ is a peer of the ledger, so the
     * caller wires it): cb once per known key; 0, or -1 with err.  NULL:
     * rows show ids only. */
    int (*key_names)(void *src, int (*cb)(void *arg, const char *id, const char *name), void *arg,
                     char *err, size_t errlen);
    void *key_names_src;
    /* the config (may be NULL): its providers priced by the hour get a
     * "self_hosted" section (report_selfhost.h) */
    const struct fg_config *cfg;
};

/* pico-USD as the spend map's USD value (rounding above); a new reference. */
json_t *fg_report_usd(int64_t pico);

/* True if by is NULL or a dimension fg_report_spend accepts. */
int fg_report_by_valid(const char *by);

/* Build the spend map JSON from the store.  0, or -1 with err filled
 * (bad o->by, scan failure) and *out = NULL. */
int fg_report_spend(struct fg_store *s, const struct fg_report_opts *o, json_t **out, char *err,
                    size_t errlen);

/* Render the spend map as a readable table (what `frugal report` prints
 * by default): a header with the period and totals, then "Where the money
 * goes", "Saved by technique", "By model", "Top repeated prefixes",
 * "Prompt cache", "Cache busters", "Cache miss reasons" (if any),
 * "Self-hosted: PROVIDER" (providers priced by the hour),
 * "Unpriced models" (if any) and the `by` table when `spend` has one. */
void fg_report_print(FILE *f, const json_t *spend, const char *by);

/* `frugal report [-c FILE] [--since 24h] [--by DIM] [--key ID] [--json] [--top N]`.
 * argv[0] is the command name ("report"), options follow; "-c FILE" /
 * "--config FILE" are accepted and ignored (the caller loaded the config
 * and passes its storage DSN; NULL means "sqlite:frugal.db").  Prints the
 * table, or with --json the spend map (indent 2, trailing newline), to
 * stdout.  Returns the exit status: 0 ok, 1 store failure, 2 bad usage.
 * names/names_src: as key_names above (may be NULL). */
int fg_report_main(const char *storage_dsn, const struct fg_config *cfg, int argc, char **argv,
                   int (*names)(void *src, int (*cb)(void *arg, const char *id, const char *name),
                                void *arg, char *err, size_t errlen),
                   void *names_src);

#endif
