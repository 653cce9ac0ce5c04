/* failover.h — when a provider fails: retry, back off, fall back, and keep
 * a failing provider out for a while.
 *
 * Contract:
 *  - fg_failover_retriable(): 408, 409, 429 and 5xx (but 501) answers and
 *    connection failures, timeouts and resets are worth another try; any
 *    other 4xx (a context-length error included) is the request's fault.
 *  - fg_failover_delay_ms(): the wait before retry n (0-based): the
 *    provider's retry-after-ms / retry-after (seconds or HTTP date) when
 *    given, else 250 ms × 2^n with up to 25% jitter (from `rnd`).
 *  - Circuit breakers per provider (index into cfg->providers), shared by
 *    all workers: FG_BREAKER_FAILURES consecutive failures open it for
 *    FG_BREAKER_OPEN_MS; then one trial call is let through (half-open):
 *    success closes it, failure opens it again. */
#ifndef FRUGAL_FAILOVER_H
#define FRUGAL_FAILOVER_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#define FG_BREAKER_FAILURES 5
#define FG_BREAKER_OPEN_MS 30000
#define FG_FAILOVER_MAX_PROVIDERS 64
#define FG_FAILOVER_MAX_WAIT_MS 10000 /* a longer retry-after moves on to a fallback */

enum fg_failover_breaker_state { FG_BREAKER_CLOSED, FG_BREAKER_OPEN, FG_BREAKER_HALF_OPEN };

bool fg_failover_retriable(long status, CURLcode res);
long fg_failover_delay_ms(int attempt, const char *retry_after, const char *retry_after_ms,
                          uint64_t rnd, int64_t now_ms);

/* May a call go to provider idx now?  (Half-open lets one trial through.) */
bool fg_failover_breaker_allows(int idx, int64_t now_ms);
void fg_failover_breaker_record(int idx, bool ok, int64_t now_ms);
enum fg_failover_breaker_state fg_failover_breaker_state(int idx, int64_t now_ms);
void fg_failover_breaker_reset(void);

/* The next configured fallback of model `origin` (fallbacks: in config)
 * after position *pos whose provider's breaker lets calls through;
 * advances *pos.  NULL when none is left. */
struct fg_config;
struct fg_model_cfg;
const struct fg_model_cfg *fg_failover_next(const struct fg_config *cfg, const char *origin,
                                            int *pos, int64_t now_ms);

#endif
