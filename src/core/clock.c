/* clock.c — the monotonic clock and the times users write. */
#include "clock.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t fg_clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Exactly n digits at *p into *out. */
static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* One character of `set` at *p. */
static bool take_char(const char **p, const char *set)
{
    if (!**p || !strchr(set, **p))
        return false;
    (*p)++;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* "YYYY-MM-DD" → days since the epoch. */
static bool parse_date(const char **p, int64_t *days)
{
    int y, m, d;
    if (!take_digits(p, 4, &y) || !take_char(p, "-") || !take_digits(p, 2, &m) ||
        !take_char(p, "-") || !take_digits(p, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

/* "HH:MM:SS[.fraction]" → ms into the day (fraction kept to the ms). */
static bool parse_clock(const char **p, int64_t *ms)
{
    int h, mi, sec, frac = 0, n = 0;
    if (!take_digits(p, 2, &h) || !take_char(p, ":") || !take_digits(p, 2, &mi) ||
        !take_char(p, ":") || !take_digits(p, 2, &sec) || h > 23 || mi > 59 || sec > 60)
        return false;
    if (take_char(p, ".")) {
        for (; **p >= '0' && **p <= '9'; (*p)++, n++)
            if (n < 3)
                frac = frac * 10 + (**p - '0');
        if (!n)
            return false;
        for (; n < 3; n++)
            frac *= 10;
    }
    *ms = ((int64_t)(h * 60 + mi) * 60 + sec) * 1000 + frac;
    return true;
}

/* "Z", "+HH:MM", "-HH:MM" or nothing (UTC) → offset east of UTC in ms. */
static bool parse_zone(const char **p, int64_t *off)
{
    *off = 0;
    if (!**p || take_char(p, "Zz"))
        return true;
    int sign = **p == '-' ? -1 : 1, h, m;
    if (!take_char(p, "+-") || !take_digits(p, 2, &h) || !take_char(p, ":") ||
        !take_digits(p, 2, &m) || h > 23 || m > 59)
        return false;
    *off = sign * (int64_t)(h * 60 + m) * 60000;
    return true;
}

static bool parse_rfc3339(const char *s, int64_t *ms)
{
    int64_t days, clock = 0, off = 0;
    if (!parse_date(&s, &days))
        return false;
    if (*s && (!take_char(&s, "Tt ") || !parse_clock(&s, &clock) || !parse_zone(&s, &off)))
        return false;
    if (*s)
        return false;
    *ms = days * 86400000 + clock - off;
    return true;
}

/* "24h"-style span back from now, or all digits = unix seconds. */
static bool parse_span(const char *s, int64_t now, int64_t *out)
{
    static const char units[] = "smhdw";
    static const int64_t unit_ms[] = {1000, 60000, 3600000, 86400000, 604800000};
    size_t nd = strspn(s, "0123456789");
    if (!nd || nd > 15)
        return false;
    int64_t v = strtoll(s, NULL, 10);
    const char *u = s + nd;
    if (!*u) {
        *out = v * 1000;
        return true;
    }
    const char *k = u[1] ? NULL : strchr(units, *u);
    if (!k || v > INT64_MAX / unit_ms[k - units])
        return false;
    *out = now - v * unit_ms[k - units];
    return true;
}

int fg_clock_parse_since(const char *s, int64_t now, int64_t *since_ms)
{
    int64_t v;
    if (!s || !*s)
        return -1;
    if (!parse_span(s, now, &v) && !parse_rfc3339(s, &v))
        return -1;
    *since_ms = v;
    return 0;
}

int64_t fg_clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
