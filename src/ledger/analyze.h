/* analyze.h — `frugal analyze`: the spend map of a request log a user
 * already has, offline (no server, no ledger), plus a projection of what
 * each of frugal's techniques would have saved on it.
 *
 * Input (JSON Lines, the kind of each line auto-detected, any mix of files):
 *  - frugal's log format, one call per line:
 *      {"time": RFC3339 | unix seconds, "provider": "openai" | "anthropic",
 *       "request": {chat.completions | messages body},
 *       "response": {chat.completion | message, with usage},
 *       "deferrable": true (optional), "tags": ... (ignored)}
 *    A missing provider is inferred from the shapes; a missing time falls
 *    back to response.created, then to the previous line's time.  Times:
 *    RFC3339 (no zone = UTC) or unix seconds, integer or fractional (a
 *    number above 1e11 is taken as milliseconds).
 *  - OpenAI Batch input lines {custom_id, method, url, body} and output
 *    lines {id, custom_id, response:{status_code, body}, error}, joined on
 *    custom_id wherever they appear (the CLI's --batch-output FILE is just
 *    one more file); Anthropic Message Batches lines {custom_id, params} /
 *    {custom_id, result:{type, message}} likewise.  Batch calls are priced
 *    at the batch price.  An output line with a non-2xx status or an error
 *    counts as an errored request (not billed); an input line without an
 *    output is reported and counted in batch_missing_output; an output
 *    line without an input is priced without its request.
 *  A line that is not valid JSON, of no known kind, or has no usage is
 *  reported as "FILE:LINE: reason" on opts->diag and counted in
 *  skipped_lines; blank lines are ignored.
 *
 * Spend map (fg_analyze_json; same shape as DESIGN.md / report.h):
 *  since/until come from the log's times; requests include errors;
 *  cost is the provider's bill (a response with service_tier "flex" is
 *  billed at the flex tier's batch price); baseline = the same calls at
 *  real-time price, so saved_usd is only the batch and flex discounts (the
 *  log didn't go through frugal; saved_by.batch, saved_by.flex); buckets come from fg_attrib with repeated tokens per
 *  fg_prefix_seen over a 1 h window at log time; top_prefixes lists stable
 *  prefixes seen by at least two requests.  Extra fields: skipped_lines,
 *  batch_missing_output, batch_unmatched_output, projection.
 *
 * Projection (each technique alone against the actual cost; they overlap
 * and do not add up), each {saved_usd, saved_pct, requests, assumptions}:
 *  prompt_cache      the longest prefix of a call seen within 5 min on the
 *                    same model, at least the provider minimum (OpenAI 1024
 *                    in 128-token steps; Anthropic 512/1024/2048/4096 by
 *                    family), billed as uncached input → cache-read price;
 *                    Anthropic also pays the 1.25x write on the first
 *                    sighting of a prefix that recurs (subtracted).
 *  routing           simple calls (fg_attrib_simple) on a frontier-priced
 *                    model → the cheap model, same tokens.
 *  flex              deferrable calls (or all) to an OpenAI model whose price
 *                    row says flex (config/flex.h) → the batch price
 *                    (the flex tier's).
 *  batch             the other deferrable calls (or all) → the batch price
 *                    (the gateway's rule: a flex model goes flex first).
 *  structured_output calls that asked for JSON/label and got bloat: the
 *                    bloated share of the non-reasoning output removed.
 *
 * Ownership: struct fg_analysis owns its calls (fg_analyze_free); the
 * JSON from fg_analyze_json is a new reference (json_decref).  Uses the
 * process-wide prefix table (fg_prefix_reset at the start of each run):
 * not to be run concurrently with itself or with a serving gateway. */
#ifndef FRUGAL_ANALYZE_H
#define FRUGAL_ANALYZE_H

#include "price.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Dump flags that print the 6-decimal money exactly. */
#define FG_ANALYZE_JSON_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(15))
#define FG_ANALYZE_CACHE_TTL_MS (5 * 60 * 1000)
#define FG_ANALYZE_REPEAT_WINDOW_MS (60 * 60 * 1000)

struct fg_analyze_opts {
    const char *const *files;
    size_t n_files;
    const char *cheap_model; /* NULL: gpt-4o-mini / claude-haiku-4-5 by dialect */
    bool all_deferrable;
    int top_prefixes; /* <= 0: 10 */
    FILE *diag;       /* FILE:LINE messages; NULL = stderr */
};

/* One technique's projection, exact. */
struct fg_projection {
    int64_t saved_pico;
    int64_t requests;     /* calls it would have saved on */
    int64_t tokens;       /* prompt_cache: tokens moved to cache reads;
                                    structured_output: output tokens removed */
    int64_t extra_tokens; /* prompt_cache: tokens written (Anthropic) */
    int64_t extra_pico;   /* prompt_cache: write premium paid (>= 0) */
};

struct fg_analyze_call;

struct fg_analysis {
    int64_t lines, skipped_lines, batch_missing_output, batch_unmatched_output;
    int64_t requests, errors, unpriced_requests;
    bool timed;
    int64_t since_ms, until_ms; /* of the timed calls, when timed */
    struct fg_tokens tok;
    int64_t cost_pico, baseline_pico, saved_batch_pico, saved_flex_pico;
    int64_t bucket_repeated_pico, bucket_repeated_cached_pico, bucket_frontier_pico,
        bucket_bloated_pico;
    struct fg_projection prompt_cache, routing, flex, batch, structured_output;
    /* the calls, in time order (private) */
    struct fg_analyze_call *calls;
    size_t n_calls;
};

/* Read and analyse opts->files.  0 on success (bad lines are skipped and
 * counted); -1 when a file cannot be opened or read (message on diag),
 * or the cheap model is not in the price table.  *a is always
 * initialised; free it with fg_analyze_free. */
int fg_analyze_run(const struct fg_analyze_opts *o, struct fg_analysis *a);
void fg_analyze_free(struct fg_analysis *a);

/* The spend map + projection as JSON. */
json_t *fg_analyze_json(const struct fg_analysis *a, const struct fg_analyze_opts *o);

/* Readable table of a map from fg_analyze_json: period, totals, buckets,
 * by model, top prefixes, projection per technique with assumptions. */
void fg_analyze_print(FILE *f, const json_t *map);

/* `frugal analyze LOG.jsonl... [--json] [--cheap-model M]
 *  [--batch-output FILE] [--all-deferrable] [--top N]`.  argv[0] is the
 * command name ("analyze").  Exit status: 0 ok, 1 a file cannot be read,
 * 2 bad usage. */
int fg_analyze_main(int argc, char **argv);

#endif
