/* period.h — budget periods: calendar-aligned UTC days and months.
 *
 * Contract: pure functions, no state, callable from any thread.  Times are
 * unix milliseconds (UTC).  A day starts at 00:00:00Z; a month on its first
 * day at 00:00:00Z.  fg_period_start(p, t) <= t < fg_period_next(p, t) for
 * every t (negative times included: division floors). */
#ifndef FRUGAL_PERIOD_H
#define FRUGAL_PERIOD_H

#include <stddef.h>
#include <stdint.h>

enum fg_period { FG_PERIOD_NONE = 0, FG_PERIOD_DAY, FG_PERIOD_MONTH };

/* Start of the period containing t. */
int64_t fg_period_start(enum fg_period p, int64_t t_ms);
/* Start of the period after the one containing t (when a budget resets). */
int64_t fg_period_next(enum fg_period p, int64_t t_ms);
/* "day" | "month" ("" for none). */
const char *fg_period_name(enum fg_period p);
/* "day"/"daily" | "month"/"monthly" → 0 with *p set, else -1. */
int fg_period_parse(const char *s, enum fg_period *p);
/* "2026-12-01T00:00:00Z" (whole seconds, UTC) into buf. */
const char *fg_period_rfc3339(int64_t t_ms, char *buf, size_t n);

#endif
