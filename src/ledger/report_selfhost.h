/* report_selfhost.h — the spend map's "self_hosted" section: for each
 * provider priced by the hour (providers[].cost), what its hours cost, how
 * busy it was, and where it breaks even against the cheapest API model
 * serving the same route.
 *
 * Contract: fed every ledger record of the window (fg_report_selfhost_add);
 * the records of a self-hosted provider are its calls (their shares) and
 * its idle records (endpoint "idle", call/selfhost.h).  Per provider:
 *   {provider, per_hour_usd, max_concurrency, requests, hours (calls + idle
 *    money / per_hour, 6 decimals), cost_usd, calls_usd, idle_usd,
 *    busy_share (calls' share of the money = share of the time with a call
 *    in flight, 4 decimals), utilisation (average calls in flight /
 *    max_concurrency: their summed latency / (hours × max_concurrency)),
 *    tokens, tokens_per_hour,
 *    api: null, or {model (the cheapest API-priced model of a route one of
 *    this provider's models serves), cost_usd (these tokens at its price),
 *    break_even_tokens_per_hour (per_hour / its price per token of this
 *    mix: above it the server is the cheaper)}}
 * sorted by provider name.  No provider with cost: NULL (no section).
 * Ownership: fg_report_selfhost_new's result is the caller's
 * (fg_report_selfhost_free); cfg is borrowed and must outlive it. */
#ifndef FRUGAL_REPORT_SELFHOST_H
#define FRUGAL_REPORT_SELFHOST_H

#include "config.h"
#include "ledger.h"

#include <jansson.h>

struct fg_report_selfhost;

struct fg_report_selfhost *fg_report_selfhost_new(const struct fg_config *cfg);
void fg_report_selfhost_add(struct fg_report_selfhost *h, const struct fg_record *r);
/* A new reference (a JSON array). */
json_t *fg_report_selfhost_json(const struct fg_report_selfhost *h);
void fg_report_selfhost_free(struct fg_report_selfhost *h);

#endif
