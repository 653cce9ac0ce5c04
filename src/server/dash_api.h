/* dash_api.h — the spend dashboard's endpoints: GET /frugal/spend/timeseries
 * (the time series, from the store's per-minute rollups: ledger/
 * timeseries.h) and the page itself (GET /frugal/ui and its assets, GET /
 * redirecting to it: dash_assets.h, embedded at build time).
 *
 * Contract:
 *  - The time series takes since (default 24h), until (default now), step
 *    (60, 5m, 1h…, a multiple of a minute; default: the smallest of 1m, 5m,
 *    15m, 1h, 6h, 1d, 7d giving at most 60 points), group (model | key |
 *    route), key, model, route, tag (one key tag k=v: the calls of the
 *    keys carrying it now, read from the key registry on the reader and
 *    applied to the rollups' key dimension, so at any range; the answer
 *    then has "tag"; a bad one is a 400 naming 'tag').  since is floored and until rounded up to
 *    the step's grain (a whole day for steps of days, an hour for hours,
 *    else a minute); the answer's since/until are that window, which GET
 *    /frugal/spend?since=…&until=… reads to the same totals.  A virtual key
 *    sees only its own calls (key = another id → 403), like /frugal/spend.
 *  - The page needs no key (it holds no data); every asset carries a strict
 *    Content-Security-Policy (no inline script or style, connect-src
 *    'self'), nosniff, no-referrer and DENY framing.
 *  - The handlers check the request on the worker's loop; the ledger read
 *    runs on the reader thread (readq.h), as /frugal/spend's does, with
 *    the query's strings copied into the job. */
#ifndef FRUGAL_DASH_API_H
#define FRUGAL_DASH_API_H

#include <stdbool.h>

struct fg_edge_req;
struct fg_worker;
struct fg_principal;
struct fg_dialect_ops;

void fg_dash_api_timeseries(struct fg_worker *w, struct fg_edge_req *req,
                            const struct fg_dialect_ops *d, const struct fg_principal *p);
/* GET /frugal/calls?limit=N (1..200, default 50): the latest calls (the
 * live view), newest first, {object: "list", data: [{id, ts, key_id,
 * model, route, cache, status, stream, cost_usd, saved_usd, latency_ms,
 * input_tokens, output_tokens}]}; a virtual key gets its own only. */
void fg_dash_api_calls(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                       const struct fg_principal *p);
/* GET /frugal/spend/batches?ids=ID,ID,… (1 to FG_STORE_BATCH_IDS_MAX batch
 * ids): what each batch's lines cost, from the ledger rows carrying its id
 * (the store's batch_spend: an index, never a scan), {object: "list",
 * data: [{batch_id, mode (provider: every line through a provider's batch
 * API; local: run by frugal as calls; mixed), requests, errors, cost_usd,
 * realtime_usd (the same
 * lines at real-time prices: cost + the batch discount), saved_batch_usd,
 * baseline_usd, saved_usd (every technique)}]}, batches with no rows left
 * out; a virtual key's answer counts only its own calls (another key's
 * batch is absent, not refused: ids are not secrets, spend is). */
void fg_dash_api_batches(struct fg_worker *w, struct fg_edge_req *req,
                         const struct fg_dialect_ops *d, const struct fg_principal *p);
/* path is "/", "/frugal/ui" or under "/frugal/ui/". */
bool fg_dash_api_ui_path(const char *path);
void fg_dash_api_ui(struct fg_worker *w, struct fg_edge_req *req, const char *path);

#endif
