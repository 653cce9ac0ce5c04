/* selfhost.h — a provider priced by the hour (providers[].cost:
 * {per_hour_usd, max_concurrency}: one's own vLLM, llama.cpp or Ollama
 * server), its hours shared out over the calls it served.
 *
 * Contract: the provider's hours run from fg_selfhost_new to
 * fg_selfhost_free (times: unix microseconds, so that calls a few
 * microseconds long still get their share).  Money is cumulative,
 * C(t) = per_hour × (t − start) in pico-USD rounded down, and every piece below is a difference of C, so
 * the pieces add up to C exactly:
 *  - between two events (a call starting or ending on the provider) the
 *    interval's money is split equally among the calls in flight (the
 *    remainder pico-USD, fewer than their number, to the oldest first);
 *  - with no call in flight the interval is idle time.  Idle is not put on
 *    whichever call comes next: it is written to the ledger as a record of
 *    its own (endpoint "idle", key "idle", the provider, model "(idle)")
 *    when the next call starts and at stop.
 * So a call pays for the time the server spent on it, shared with the
 * calls it ran beside, and the spend map shows idle time as idle; the
 * records of a run (calls and idle) add up to its hours.  A call's share
 * is at most per_hour × its own duration (admission reserves that for its
 * timeout).  Tokens pushed are kept for utilisation: a rolling window of
 * the last FG_SELFHOST_WINDOW_S seconds (fg_selfhost_window).
 * With several replicas each bills the hours it runs: configure `cost` on
 * one of them, or divide per_hour_usd among them.
 *
 * Threads: one mutex per provider; begin/end from any worker.  A slot is
 * owned by its call (its arena) and linked while the call is in flight. */
#ifndef FRUGAL_SELFHOST_H
#define FRUGAL_SELFHOST_H

#include <stdbool.h>
#include <stdint.h>

#define FG_SELFHOST_WINDOW_S 60

struct fg_selfhost;

struct fg_selfhost_slot {
    struct fg_selfhost_slot *prev, *next;
    int64_t pico; /* this call's share so far */
    bool on;      /* linked: in flight */
};

/* per_hour_micro: micro-USD per hour (> 0 or 0); now_us: unix µs. */
struct fg_selfhost *fg_selfhost_new(const char *provider, int64_t per_hour_micro,
                                    int max_concurrency, int64_t now_us);
/* Writes the idle tail to the ledger, logs the run's total, frees s. */
void fg_selfhost_free(struct fg_selfhost *s, int64_t now_us);
void fg_selfhost_begin(struct fg_selfhost *s, struct fg_selfhost_slot *slot, int64_t now_us);
/* The call's share in pico-USD (0 when the slot is not in flight); tokens
 * it pushed go into the rolling window. */
int64_t fg_selfhost_end(struct fg_selfhost *s, struct fg_selfhost_slot *slot, int64_t tokens,
                        int64_t now_us);
/* Most pico-USD a call lasting ms can be charged. */
int64_t fg_selfhost_worst(int64_t per_hour_micro, int64_t ms);

struct fg_selfhost_totals {
    int64_t total_pico, calls_pico, idle_pico; /* since start; total = calls + idle + in flight */
    int64_t window_tokens;                     /* tokens of calls ended in the window */
    int in_flight;
};
void fg_selfhost_totals(struct fg_selfhost *s, int64_t now_us, struct fg_selfhost_totals *t);

#endif
