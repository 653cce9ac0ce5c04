/* clock.h — the monotonic clock, and the times users write.
 *
 * Contract: pure functions (but the clock read), no state, callable from any
 * thread.  Times users write are turned into unix milliseconds (UTC). */
#ifndef FRUGAL_CLOCK_H
#define FRUGAL_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds: durations, timers, request ids. */
uint64_t fg_clock_now_ns(void);
/* CLOCK_REALTIME in unix microseconds: times recorded and shared. */
int64_t fg_clock_wall_us(void);

/* Parse "24h", "30m", "7d", "90s" (also "2w") as now_ms minus that span,
 * or an absolute RFC3339 time ("2026-11-26T00:00:00Z", fractional
 * seconds and "+02:00" offsets allowed, also a bare "2026-11-26" = UTC
 * midnight) or unix seconds ("1764115200") into *since_ms.
 * 0 on success; -1 on error (*since_ms untouched). */
int fg_clock_parse_since(const char *s, int64_t now_ms, int64_t *since_ms);

#endif
