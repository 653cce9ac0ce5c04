/* alog.c — see alog.h. */
#include "alog.h"

#include "assert.h"
#include "decimal.h"
#include "linelog.h"
#include "metrics.h"
#include "redact.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

/* Static storage: SIGHUP's handler may touch it at any time (linelog.h). */
static struct fg_linelog g_log;
static _Atomic bool g_on;

/* ---------- the line ---------- */

struct out {
    char *p;
    size_t n, cap;
};

static void raw(struct out *o, const char *s, size_t n)
{
    if (o->n + n < o->cap) /* a line never comes close: see FG_ALOG_LINE_MAX */
        memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void lit(struct out *o, const char *s)
{
    raw(o, s, strlen(s));
}

static void i64(struct out *o, int64_t v)
{
    char d[FG_DECIMAL_MAX + 1];
    raw(o, d, fg_decimal_i64(d, v));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t k = s[0] >= 0xF0 && s[0] <= 0xF4   ? 4
               : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                                              : 0;
    if (!k || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) || /* overlong, surrogate */
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))   /* overlong, > U+10FFFF */
        return 0;
    return k;
}

/* The escaped form of the character at u (k bytes, 0 = an invalid byte)
 * into e; its length. */
static size_t escape_char(const unsigned char *u, size_t k, char *e)
{
    static const char hex[] = "0123456789abcdef";
    unsigned v;
    if (u[0] == '"' || u[0] == '\\') {
        e[0] = '\\';
        e[1] = (char)u[0];
        return 2;
    }
    if (u[0] < 0x20 || u[0] == 0x7F)
        v = u[0];
    else if (!k)
        v = 0xFFFD;
    else if (k == 2 && u[0] == 0xC2 && u[1] < 0xA0)
        v = u[1]; /* a C1 control */
    else {
        memcpy(e, u, k);
        return k;
    }
    char x[6] = {'\\', 'u', hex[v >> 12 & 15], hex[v >> 8 & 15], hex[v >> 4 & 15], hex[v & 15]};
    memcpy(e, x, sizeof x);
    return sizeof x;
}

/* s as a JSON string of at most max bytes between its quotes (whole
 * characters), every control character escaped, invalid UTF-8 as U+FFFD. */
static bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

static void str_n(struct out *o, const char *s, size_t n, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, used = 0;
    raw(o, "\"", 1);
    while (i < n) {
        size_t run = 0; /* printable ASCII needs no escape: copied as one run */
        while (i + run < n && used + run < max && plain(u[i + run]))
            run++;
        raw(o, s + i, run);
        used += run;
        i += run;
        if (i >= n || used >= max)
            break;
        size_t k = u[i] < 0x80 ? 1 : utf8_len(u + i, n - i);
        char e[6];
        size_t en = escape_char(u + i, k, e);
        if (used + en > max)
            break;
        raw(o, e, en);
        used += en;
        i += k ? k : 1;
    }
    raw(o, "\"", 1);
}

/* "name":value pieces; the first member has no comma before it. */
static void key(struct out *o, const char *k)
{
    raw(o, ",\"", 2);
    lit(o, k);
    raw(o, "\":", 2);
}

/* A name frugal or the operator chose (ids, config names): escaped, bounded. */
static void name_or_null(struct out *o, const char *k, const char *s)
{
    key(o, k);
    if (!s)
        lit(o, "null");
    else
        str_n(o, s, strlen(s), FG_ALOG_TEXT_MAX);
}

/* Text the client chose: redacted first (a key pasted as a model name),
 * then as above. */
static void client_text(struct out *o, const char *k, const char *s)
{
    key(o, k);
    if (!s) {
        lit(o, "null");
        return;
    }
    char red[4 * FG_ALOG_TEXT_MAX];
    size_t n = strlen(s);
    /* a key cut at the bound would not be recognised: redact a little more
     * than is kept */
    size_t in = n < 2 * FG_ALOG_TEXT_MAX ? n : 2 * FG_ALOG_TEXT_MAX;
    size_t rn = fg_redact(s, in, red, sizeof red);
    str_n(o, red, rn < sizeof red ? rn : sizeof red - 1, FG_ALOG_TEXT_MAX);
}

static void int_member(struct out *o, const char *k, int64_t v)
{
    key(o, k);
    i64(o, v);
}

static void bool_member(struct out *o, const char *k, bool v)
{
    key(o, k);
    lit(o, v ? "true" : "false");
}

/* Microseconds as milliseconds with 3 decimals ("12.345"). */
static void ms_member(struct out *o, const char *k, int64_t us)
{
    key(o, k);
    if (us < 0)
        us = 0;
    char d[FG_DECIMAL_MAX + 1];
    raw(o, d, fg_decimal_u64(d, (uint64_t)us / 1000));
    raw(o, ".", 1);
    raw(o, d, fg_decimal_u64_pad(d, (uint64_t)us % 1000, 3));
}

static void usd_member(struct out *o, const char *k, int64_t pico)
{
    char b[48];
    key(o, k);
    raw(o, "\"", 1);
    lit(o, fg_price_usd(pico, b, sizeof b));
    raw(o, "\"", 1);
}

static void time_member(struct out *o, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char d[FG_DECIMAL_MAX + 1];
    lit(o, "{\"ts\":\"");
    raw(o, d, fg_decimal_u64_pad(d, (uint64_t)tm.tm_year + 1900, 4));
    const int parts[] = {tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
    const char seps[] = "--T::";
    for (size_t i = 0; i < 5; i++) {
        raw(o, seps + i, 1);
        raw(o, d, fg_decimal_u64_pad(d, (uint64_t)parts[i], 2));
    }
    raw(o, ".", 1);
    raw(o, d, fg_decimal_u64_pad(d, (uint64_t)(ms % 1000), 3));
    raw(o, "Z\"", 2);
}

static bool is_call(const struct fg_record *r)
{
    return !r->response_forget && !(r->endpoint && !strcmp(r->endpoint, "idle"));
}

static void tokens(struct out *o, const struct fg_record *r)
{
    key(o, "tokens");
    lit(o, "{\"input\":");
    i64(o, r->tok.input);
    lit(o, ",\"cache_read\":");
    i64(o, r->tok.cache_read);
    lit(o, ",\"cache_write_5m\":");
    i64(o, r->tok.cache_write_5m);
    lit(o, ",\"cache_write_1h\":");
    i64(o, r->tok.cache_write_1h);
    lit(o, ",\"output\":");
    i64(o, r->tok.output);
    lit(o, ",\"reasoning\":");
    i64(o, r->reasoning_tokens);
    lit(o, "}");
}

static void money(struct out *o, const struct fg_record *r)
{
    bool_member(o, "priced", r->priced);
    if (!r->priced) {
        lit(o, ",\"cost_pico\":null,\"saved_pico\":null,\"cost_usd\":null,\"saved_usd\":null");
        return;
    }
    int_member(o, "cost_pico", r->cost_pico);
    int_member(o, "saved_pico", r->baseline_pico - r->cost_pico);
    usd_member(o, "cost_usd", r->cost_pico);
    usd_member(o, "saved_usd", r->baseline_pico - r->cost_pico);
}

size_t fg_alog_format(const struct fg_record *r, char *out, size_t cap)
{
    FG_DASSERT(cap > 0);
    if (!is_call(r))
        return 0;
    struct out o = {.p = out, .cap = cap};
    time_member(&o, r->ts_ms);
    name_or_null(&o, "id", r->id);
    name_or_null(&o, "key_id", r->key_id);
    name_or_null(&o, "key_name", r->key_name);
    client_text(&o, "endpoint", r->endpoint); /* a passed-through call's path */
    client_text(&o, "model_requested", r->model_requested);
    name_or_null(&o, "model", r->model);
    name_or_null(&o, "provider", r->provider);
    name_or_null(&o, "route", r->route);
    name_or_null(&o, "cache", r->cache);
    bool_member(&o, "stream", r->stream);
    name_or_null(&o, "batch_id", r->batch_id);
    name_or_null(&o, "linked_id", r->linked_id);
    int_member(&o, "status", r->status);
    tokens(&o, r);
    money(&o, r);
    ms_member(&o, "latency_ms", r->latency_us);
    if (r->ttfb_us > 0)
        ms_member(&o, "ttfb_ms", r->ttfb_us);
    else
        lit(&o, ",\"ttfb_ms\":null");
    if (r->upstream_us > 0) /* a cache hit asked no provider */
        ms_member(&o, "upstream_ms", r->upstream_us);
    else
        lit(&o, ",\"upstream_ms\":null");
    raw(&o, "}\n", 2);
    FG_ASSERT(o.n < cap); /* every field is bounded: the line always fits */
    out[o.n] = '\0';
    return o.n;
}

/* ---------- the file ---------- */

int fg_alog_open(const char *spec, char *err, size_t errlen)
{
    if (!spec || !strcmp(spec, "off"))
        return 0;
    if (fg_linelog_open(&g_log, strcmp(spec, "stdout") ? spec : NULL, err, errlen) < 0)
        return -1;
    atomic_store(&g_on, true);
    return 0;
}

bool fg_alog_on(void)
{
    return atomic_load_explicit(&g_on, memory_order_relaxed);
}

void fg_alog_record(const struct fg_record *r)
{
    if (!fg_alog_on())
        return;
    char line[FG_ALOG_LINE_MAX];
    size_t n = fg_alog_format(r, line, sizeof line);
    if (n)
        fg_linelog_put(&g_log, line, n);
}

void fg_alog_put(const char *line, size_t n)
{
    if (fg_alog_on())
        fg_linelog_put(&g_log, line, n);
}

void fg_alog_reopen(void)
{
    fg_linelog_reopen(&g_log); /* a no-op while closed */
}

void fg_alog_close(void)
{
    atomic_store(&g_on, false);
    fg_linelog_close(&g_log);
}

void fg_alog_metrics(struct evbuffer *o)
{
    struct fg_linelog_stats st;
    fg_linelog_stats(&g_log, &st); /* zeros while off */
    fg_metrics_counter(o, "frugal_access_log_lines_total", "Access log lines written.");
    evbuffer_add_printf(o, "frugal_access_log_lines_total %llu\n", (unsigned long long)st.written);
    fg_metrics_counter(
        o, "frugal_access_log_dropped_total",
        "Access log lines dropped: the queue was full (the file could not keep up).");
    evbuffer_add_printf(o, "frugal_access_log_dropped_total %llu\n",
                        (unsigned long long)st.dropped);
    fg_metrics_counter(o, "frugal_access_log_write_errors_total",
                       "Access log lines lost to a failed write.");
    evbuffer_add_printf(o, "frugal_access_log_write_errors_total %llu\n",
                        (unsigned long long)st.failed);
}
