/* timeseries.h — the dashboard's time series, read from the store's
 * per-minute rollups (store.h), never from raw rows.
 *
 * Contract:
 *  - fg_timeseries_build() asks the store's `rollup` op for since_ms <=
 *    minute < until_ms (both minute-aligned: the caller aligns them, the
 *    same way for GET /frugal/spend, so the totals agree exactly) in steps
 *    of step_ms, and builds (jansson, money as in report.h):
 *      since, until (RFC3339), step_s, group (null | model | key | route),
 *      totals  {requests, errors, unpriced_requests, cache_hits, cost_usd,
 *               baseline_usd, saved_usd, saved_by {prompt_cache,
 *               response_cache, routing, batch}, buckets {repeated_context,
 *               repeated_cached, frontier_overuse, bloated_output} (USD),
 *               tokens {input, cache_read, cache_write_5m, cache_write_1h,
 *               output}, latency {le_ms: bucket upper bounds (null = no
 *               bound), counts, mean_ms, p50_ms, p90_ms, p99_ms}}
 *              A percentile is the upper bound of the histogram bucket it
 *              falls in (null: the unbounded bucket, or no calls): never an
 *              average of percentiles.
 *      points  [{t, t_ms, requests, errors, cost_usd, baseline_usd,
 *               saved_usd, saved_by, buckets, by?}] one per step from since,
 *              zero-filled; `by` (only with a group): {value: {requests,
 *              errors, cost_usd, baseline_usd, saved_usd}}
 *      groups  (only with a group) [{key, ...totals' fields}] by cost desc,
 *              then requests desc, then key
 *  - (until - since) / step is at most FG_TIMESERIES_MAX_POINTS.
 *  - 0, or -1 with err (the store has no rollups, a read failure); *out a
 *    new reference owned by the caller.  Not thread-safe per store handle. */
#ifndef FRUGAL_TIMESERIES_H
#define FRUGAL_TIMESERIES_H

#include "store.h"

#include <jansson.h>
#include <stddef.h>

#define FG_TIMESERIES_MAX_POINTS 2000
/* More distinct group values than this fold into "(other)". */
#define FG_TIMESERIES_MAX_GROUPS 200

int fg_timeseries_build(struct fg_store *s, const struct fg_rollup_query *q, json_t **out,
                        char *err, size_t errlen);

#endif
