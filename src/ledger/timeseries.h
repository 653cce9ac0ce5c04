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
 *               response_cache, routing, batch, flex}, buckets {repeated_context,
 *               repeated_cached, frontier_overuse, bloated_output} (USD),
 *               escalations {count, by_reason {empty, refusal, truncated,
 *               invalid_schema, retry, other}} (calls the router escalated,
 *               by the reason it recorded: store.h),
 *               refusals {rate_limit, budget} (calls frugal refused at
 *               admission for a key's rate limit or budget: store.h),
 *               tokens {input, cache_read, cache_write_5m, cache_write_1h,
 *               output}, latency {le_ms: bucket upper bounds (null = no
 *               bound), counts, mean_ms, p50_ms, p90_ms, p99_ms}}
 *              A percentile is the upper bound of the histogram bucket it
 *              falls in (null: the unbounded bucket, or no calls): never an
 *              average of percentiles.
 *      points  [{t, t_ms, requests, errors, cost_usd, baseline_usd,
 *               saved_usd, saved_by, buckets, escalations, refusals, by?}] one per step from since,
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

/* The window and step of a query for since_ms <= ts < until_ms (until >
 * since): step_ms, or when 0 the smallest of 1m, 5m, 15m, 1h, 6h, 1d, 7d
 * giving at most 60 points (1h in minutes, 24h in hours, 7d in 6 hours, 30d
 * in days); the window is then cut at the step's grain (a day for steps of
 * whole days, an hour for hours, else a minute: since floored, until
 * rounded up), so the points are whole rollup buckets (store.h) and GET
 * /frugal/spend over the same window reads the very same calls.  Sets
 * q->since_ms, until_ms and step_ms only. */
void fg_timeseries_window(int64_t since_ms, int64_t until_ms, int64_t step_ms,
                          struct fg_rollup_query *q);

int fg_timeseries_build(struct fg_store *s, const struct fg_rollup_query *q, json_t **out,
                        char *err, size_t errlen);

#endif
