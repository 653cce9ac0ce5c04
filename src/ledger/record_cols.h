/* record_cols.h — a ledger record as the calls table's columns.
 *
 * Both stores (store_sqlite.c, store_pg.c) insert a record as the same 49
 * columns in the same order; the order lives here once, with the values a
 * record gives each.  Adding a column: add it to FG_RECORD_COLUMNS and to
 * fg_record_cols() in the same place (an assertion counts them), and give
 * each store's schema a migration.  Reading rows back (SELECT *) is each
 * store's own, in this order. */
#ifndef FG_RECORD_COLS_H
#define FG_RECORD_COLS_H

#include "ledger.h"

#include <stdbool.h>
#include <stdint.h>

#define FG_RECORD_COLUMNS                                                                          \
    "id, ts_ms, key_id, tags, endpoint, model_requested, model, upstream_model, provider, "        \
    "route, route_reason, cache, stream, batch, status, input_tokens, cache_read_tokens, "         \
    "cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, priced, "      \
    "cost_pico, baseline_pico, saved_prompt_cache_pico, saved_response_cache_pico, "               \
    "saved_routing_pico, saved_batch_pico, bucket_repeated_pico, "                                 \
    "bucket_repeated_cached_pico, bucket_frontier_pico, bucket_bloated_pico, latency_us, "         \
    "ttfb_us, prefix_fp, prefix_tokens, repeated_tokens, error, linked_id, buster_where, "         \
    "buster_offset, buster_sample, buster_tokens, buster_pico, cache_miss_reason, batch_id, "      \
    "request_bytes, response_bytes, saved_flex_pico"
#define FG_RECORD_NCOLS 49

/* One column's value: text (NULL: SQL NULL; points into the record) or an
 * integer. */
struct fg_record_col {
    bool is_text;
    const char *text;
    int64_t num;
};

/* The record's values in FG_RECORD_COLUMNS order. */
void fg_record_cols(const struct fg_record *r, struct fg_record_col v[FG_RECORD_NCOLS]);

#endif
