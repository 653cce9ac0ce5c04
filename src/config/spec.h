/* spec.h — the short texts users write in the config, on the command line
 * and in the admin API: budgets ("10/month"), lists ("a, b"), tags
 * ("team=x, env=prod") and expiry ("30d", "2026-12-31").
 *
 * Contract: pure functions, no state, callable from any thread; each returns
 * 0 with its outputs set, or -1. */
#ifndef FRUGAL_SPEC_H
#define FRUGAL_SPEC_H

#include "period.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_SPEC_MAX_BUDGET_USD 1000000 /* per period: pico-USD stays in int64 */

/* "10/month", "$0.50/day", "25" (per month): USD with up to 6 decimals,
 * > 0 and <= FG_SPEC_MAX_BUDGET_USD.  0 or -1. */
int fg_spec_budget(const char *s, int64_t *pico, enum fg_period *p);
/* "2026-12-31" (that day's start, UTC), an RFC 3339 time, unix seconds, or
 * a span from now ("30d", "12h", "90s").  0 or -1. */
int fg_spec_expires(const char *s, int64_t now_ms, int64_t *ms);
/* Normalise "a, b,c" → "a,b,c" (no empty items).  0 or -1. */
int fg_spec_list(const char *s, char *out, size_t n);
/* Normalise "k=v, k2=v2" → "k=v,k2=v2"; every item k=v with a non-empty k.
 * 0 or -1. */
int fg_spec_tags(const char *s, char *out, size_t n);
/* n bytes with no control character and no '"' (a name, a list item). */
bool fg_spec_plain(const char *s, size_t n);

#endif
