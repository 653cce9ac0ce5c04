/* price.h — model prices and the one cost formula.
 *
 * Contract: prices are exact integers, micro-USD per 1M tokens; costs are
 * exact integers in pico-USD (1e-12 USD): tokens × micro-USD-per-1M is
 * pico-USD with no division, so sums of per-call costs equal the
 * providers' arithmetic exactly.  Rounding happens only for display.
 * The built-in table (price_table.c, generated from data/prices.json) is
 * read-only; a configured model's own price fields override it field by
 * field.  A model with no input or output price is unpriced, never $0. */
#ifndef FRUGAL_PRICE_H
#define FRUGAL_PRICE_H

#include "config.h"

#include <stdbool.h>
#include <stdint.h>

struct fg_builtin_price {
    const char *model;
    enum fg_dialect provider;
    struct fg_price price;
    int max_input_tokens, max_output_tokens;
    bool supports_prompt_caching, supports_response_schema;
    const struct fg_price_window *schedule; /* time-of-day prices (price_schedule), or NULL */
    size_t n_schedule;
    bool flex; /* served on OpenAI's flex tier at its batch prices (flex.h) */
};

extern const struct fg_builtin_price fg_price_table[];
extern const size_t fg_price_table_len;

/* Token classes, disjoint: `input` is uncached input only; `output`
 * includes reasoning tokens. */
struct fg_tokens {
    int64_t input, cache_read, cache_write_5m, cache_write_1h, output;
};

/* Exact id, then without a date suffix (-2024-07-18 / -20250929). */
const struct fg_builtin_price *fg_price_lookup(const char *model);

/* Effective price of a configured model (config over built-in, looked up by
 * upstream id then name), with the providers' rules filling unlisted
 * fields (Anthropic writes 1.25x/2x input, batch 50%, cache read = input
 * when no discount is listed).  false when unpriced. */
bool fg_price_of(const struct fg_model_cfg *m, struct fg_price *out);
/* fg_price_of at a moment (unix ms, the call's start): the first window
 * of the model's price_schedule (its own, else the built-in row's) that
 * covers it replaces the fields it sets.  false when unpriced. */
bool fg_price_at(const struct fg_model_cfg *m, int64_t unix_ms, struct fg_price *out);
/* Does window w cover unix_ms (UTC)? */
bool fg_price_window_covers(const struct fg_price_window *w, int64_t unix_ms);
/* The same for a bare model id with the given provider dialect. */
bool fg_price_of_id(const char *model, enum fg_dialect d, struct fg_price *out);
/* fg_price_of_id at a moment (unix ms): the built-in row's price_schedule
 * applies (DeepSeek's peak hours). */
bool fg_price_of_id_at(const char *model, enum fg_dialect d, int64_t unix_ms, struct fg_price *out);

/* Cost in pico-USD of t at price p (complete, from fg_price_of*). */
int64_t fg_price_cost(const struct fg_price *p, const struct fg_tokens *t, bool batch);

/* Minimum cacheable prefix (tokens) of an Anthropic model (a model fact,
 * like its price: prompt caching places breakpoints by it and reports
 * count only calls that could have been cached). */
int fg_price_min_cacheable_tokens(const char *model);

/* pico-USD → "0.001234" (USD, 6 decimals, rounded half up) into buf. */
const char *fg_price_usd(int64_t pico, char *buf, size_t n);

#endif
