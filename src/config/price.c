/* price.c — see price.h. */
#include "price.h"

#include "assert.h"
#include "decimal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_model(const void *key, const void *elem)
{
    return strcmp(key, ((const struct fg_builtin_price *)elem)->model);
}

static const struct fg_builtin_price *find(const char *model)
{
    return bsearch(model, fg_price_table, fg_price_table_len, sizeof fg_price_table[0], cmp_model);
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Length of model without a trailing -YYYY-MM-DD or -YYYYMMDD, or 0. */
static size_t undated_len(const char *m)
{
    size_t n = strlen(m);
    const char *t;
    if (n > 11 && *(t = m + n - 11) == '-' && digits(t + 1, 4) && t[5] == '-' && digits(t + 6, 2) &&
        t[8] == '-' && digits(t + 9, 2))
        return n - 11;
    if (n > 9 && *(t = m + n - 9) == '-' && digits(t + 1, 8))
        return n - 9;
    return 0;
}

const struct fg_builtin_price *fg_price_lookup(const char *model)
{
    if (!model)
        return NULL;
    const struct fg_builtin_price *p = find(model);
    size_t n;
    if (!p && (n = undated_len(model)) > 0 && n < 128) {
        char base[128];
        memcpy(base, model, n);
        base[n] = '\0';
        p = find(base);
    }
    return p;
}

static void merge(struct fg_price *dst, const struct fg_price *over)
{
    int64_t *d = &dst->input;
    const int64_t *o = &over->input;
    for (int i = 0; i < 7; i++)
        if (o[i] >= 0)
            d[i] = o[i];
}

/* Fill what the provider's rules imply for unlisted fields. */
static bool complete(struct fg_price *p, enum fg_dialect d)
{
    if (p->input < 0 || p->output < 0)
        return false;
    if (p->cache_read < 0)
        p->cache_read = p->input;
    if (p->cache_write_5m < 0)
        p->cache_write_5m = d == FG_DIALECT_ANTHROPIC ? p->input * 5 / 4 : p->input;
    if (p->cache_write_1h < 0)
        p->cache_write_1h = d == FG_DIALECT_ANTHROPIC ? p->input * 2 : p->cache_write_5m;
    if (p->batch_input < 0)
        p->batch_input = p->input / 2;
    if (p->batch_output < 0)
        p->batch_output = p->output / 2;
    return true;
}

static const struct fg_price unset = {-1, -1, -1, -1, -1, -1, -1};

bool fg_price_window_covers(const struct fg_price_window *w, int64_t unix_ms)
{
    FG_DASSERT(w->from_min >= 0 && w->from_min < 1440 && w->to_min > 0 && w->to_min <= 1440);
    int64_t min = unix_ms / 60000; /* minutes since the epoch (a Thursday) */
    if (unix_ms < 0)
        return false;
    int m = (int)(min % 1440);
    int day = (int)((min / 1440 + 4) % 7); /* 0 = Sunday */
    int yesterday = (day + 6) % 7;
    if (w->from_min < w->to_min)
        return m >= w->from_min && m < w->to_min && (w->days >> day & 1u);
    /* past midnight: the part after it belongs to the day the window began */
    return (m >= w->from_min && (w->days >> day & 1u)) ||
           (m < w->to_min && (w->days >> yesterday & 1u));
}

bool fg_price_of_id(const char *model, enum fg_dialect d, struct fg_price *out)
{
    const struct fg_builtin_price *b = fg_price_lookup(model);
    *out = b ? b->price : unset;
    return complete(out, d);
}

bool fg_price_of_id_at(const char *model, enum fg_dialect d, int64_t unix_ms, struct fg_price *out)
{
    const struct fg_builtin_price *b = fg_price_lookup(model);
    *out = b ? b->price : unset;
    for (size_t i = 0; b && i < b->n_schedule; i++)
        if (fg_price_window_covers(&b->schedule[i], unix_ms)) {
            merge(out, &b->schedule[i].price);
            break;
        }
    return complete(out, d);
}

bool fg_price_of(const struct fg_model_cfg *m, struct fg_price *out)
{
    const struct fg_builtin_price *b = fg_price_lookup(m->model);
    if (!b)
        b = fg_price_lookup(m->name);
    *out = b ? b->price : unset;
    merge(out, &m->price);
    return complete(out, m->dialect);
}

bool fg_price_at(const struct fg_model_cfg *m, int64_t unix_ms, struct fg_price *out)
{
    const struct fg_builtin_price *b = fg_price_lookup(m->model);
    if (!b)
        b = fg_price_lookup(m->name);
    *out = b ? b->price : unset;
    merge(out, &m->price);
    /* a configured schedule replaces the built-in one: a config that sets
     * its own prices knows its own hours */
    const struct fg_price_window *w = m->n_schedule ? m->schedule : b ? b->schedule : NULL;
    size_t n = m->n_schedule ? m->n_schedule : b ? b->n_schedule : 0;
    for (size_t i = 0; i < n; i++)
        if (fg_price_window_covers(&w[i], unix_ms)) {
            merge(out, &w[i].price);
            break;
        }
    return complete(out, m->dialect);
}

int64_t fg_price_cost(const struct fg_price *p, const struct fg_tokens *t, bool batch)
{
    if (!batch)
        return t->input * p->input + t->cache_read * p->cache_read +
               t->cache_write_5m * p->cache_write_5m + t->cache_write_1h * p->cache_write_1h +
               t->output * p->output;
    /* batch: listed batch prices for input/output, half price for cache
     * reads and writes (Anthropic: "50% on all usage") */
    return t->input * p->batch_input + t->output * p->batch_output +
           (t->cache_read * p->cache_read + t->cache_write_5m * p->cache_write_5m +
            t->cache_write_1h * p->cache_write_1h) /
               2;
}

const char *fg_price_usd(int64_t pico, char *buf, size_t n)
{
    /* 6 decimals of USD = micro-USD = pico / 1e6, rounded half away from 0;
     * written by hand: this runs twice per call and snprintf cost 1.4k
     * instructions each (README, Performance) */
    int neg = pico < 0;
    uint64_t a = neg ? (uint64_t)(-(pico + 1)) + 1 : (uint64_t)pico;
    uint64_t micro = (a + 500000) / 1000000;
    char tmp[2 + 2 * FG_DECIMAL_MAX];
    size_t k = 0;
    if (neg && micro)
        tmp[k++] = '-';
    k += fg_decimal_u64(tmp + k, micro / 1000000);
    tmp[k++] = '.';
    k += fg_decimal_u64_pad(tmp + k, micro % 1000000, 6);
    FG_DASSERT(k <= sizeof tmp);
    if (n) { /* snprintf's truncation, as before */
        size_t c = k < n - 1 ? k : n - 1;
        memcpy(buf, tmp, c);
        buf[c] = '\0';
    }
    return buf;
}

/* Anthropic's minimum cacheable prefix by model family (spec section 4);
 * most specific names first. */
static const struct {
    const char *part;
    int min;
} minimums[] = {
    {"opus-4-8", 1024}, {"opus-4-7", 2048},  {"opus-4-6", 4096},  {"opus-4-5", 4096},
    {"opus-4-1", 1024}, {"haiku-4-5", 4096}, {"3-5-haiku", 2048}, {"3-haiku", 2048},
    {"haiku-3", 2048},  {"opus-5", 512},     {"fable", 512},      {"mythos-5", 512},
    {"mythos", 2048},   {"sonnet", 1024},    {"opus-4", 1024},
};

int fg_price_min_cacheable_tokens(const char *model)
{
    for (size_t i = 0; model && i < sizeof minimums / sizeof minimums[0]; i++)
        if (strstr(model, minimums[i].part))
            return minimums[i].min;
    return 1024;
}
