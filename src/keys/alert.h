/* alert.h — budget alerts: one webhook POST when a budget's spend in a
 * period crosses a threshold (config `alerts: {webhook, at}`).
 *
 * Contract:
 *  - fg_alert_start() (daemon startup, after the key registry) starts one
 *    thread when the config names a webhook; fg_alert_stop() (after the
 *    workers stopped) joins it.  Without a webhook every function here is
 *    a no-op costing one atomic load.
 *  - The request path only tells: fg_alert_touch(b) after a cost was added
 *    to budget b (budget.c: settle, charge) and fg_alert_refused(b) when a
 *    call was refused on b (admit.c, budget.c).  Each puts b on a queue
 *    (a short mutex, once until the thread takes it) and never does I/O.
 *  - The thread reads each queued budget (budget.h fg_budget_get: with
 *    Redis a blocking round trip, on this thread only; at most one pass
 *    every FG_ALERT_PASS_MS, and not at all once every threshold of the
 *    budget's current period was marked) and, for each
 *    threshold t of `at` with spent >= t x limit — and for t = 1.0 also
 *    when a call was refused on it (a budget held exactly may stop just
 *    under its limit) — claims the mark "alert:<budget>:<period start>:<t>"
 *    in the shared store (shared.h mark_once: SET NX with Redis, so once
 *    across replicas).  Only the claimer sends.  A budget is read again
 *    once a moment later: a settlement sent to Redis without waiting may
 *    land after the first read.
 *  - Sending: one POST of a small JSON body (fg_alert_body) to the
 *    operator's webhook with libcurl on this thread; a non-2xx answer or a
 *    transport error is retried with doubling backoff (FG_ALERT_TRIES
 *    tries in all, then logged as given up).  No secret is in the body
 *    (key id and name only, never a key's secret or hash), and no client
 *    can choose the URL.
 *  - Marks live a period plus a day.  With the in-process store they die
 *    with the process: a restart may send a period's alert again.
 * Money is pico-USD. */
#ifndef FRUGAL_ALERT_H
#define FRUGAL_ALERT_H

#include "budget.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_config;

#define FG_ALERT_TRIES 8        /* POST attempts per alert */
#define FG_ALERT_BACKOFF_MS 250 /* before the second try; doubles, at most ... */
#define FG_ALERT_BACKOFF_MAX_MS 30000
#define FG_ALERT_RECHECK_MS 300 /* a queued budget is read again after this */
#define FG_ALERT_PASS_MS 100    /* the thread reads queued budgets at most this often */

int fg_alert_start(const struct fg_config *cfg, char *err, size_t errlen);
void fg_alert_stop(void);

/* A cost was added to b (any thread, no I/O). */
void fg_alert_touch(struct fg_budget *b);
/* A call was refused on b (any thread, no I/O). */
void fg_alert_refused(struct fg_budget *b);

/* One threshold crossed: what the thread sends. */
struct fg_alert_event {
    const struct fg_budget *b;
    struct fg_budget_view v;
    double at;    /* the threshold, a fraction of the limit */
    bool refused; /* fired by a refused call (spend may be under the limit) */
    int64_t when_ms;
};

typedef void (*fg_alert_emit_fn)(void *arg, const struct fg_alert_event *e);

/* The scan of one budget at now_ms against thresholds at[0..n_at)
 * (ascending): emit once per threshold newly crossed whose mark this call
 * claimed.  Returns -1 when the shared store could not answer (nothing
 * lost: b is to be scanned again), else the number emitted.  (Used by the
 * thread; unit tests call it directly.) */
int fg_alert_scan(struct fg_budget *b, const double *at, int n_at, bool refused, int64_t now_ms,
                  fg_alert_emit_fn emit, void *arg);
/* The JSON body for e (malloc'd, the caller frees). */
char *fg_alert_body(const struct fg_alert_event *e);

#endif
