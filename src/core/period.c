/* period.c — see period.h. */
#include "period.h"

#include "assert.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Howard Hinnant's civil calendar algorithms (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int64_t fg_period_start(enum fg_period p, int64_t t_ms)
{
    int64_t days = floor_div(t_ms, DAY_MS);
    if (p != FG_PERIOD_MONTH)
        return days * DAY_MS;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    FG_DASSERT(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    int64_t start = days_from_civil(y, m, 1) * DAY_MS;
    FG_DASSERT(start <= t_ms && t_ms - start < 31 * DAY_MS);
    return start;
}

int64_t fg_period_next(enum fg_period p, int64_t t_ms)
{
    int64_t days = floor_div(t_ms, DAY_MS);
    if (p != FG_PERIOD_MONTH)
        return (days + 1) * DAY_MS;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    return (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) * DAY_MS;
}

const char *fg_period_name(enum fg_period p)
{
    return p == FG_PERIOD_DAY ? "day" : p == FG_PERIOD_MONTH ? "month" : "";
}

int fg_period_parse(const char *s, enum fg_period *p)
{
    if (!s)
        return -1;
    if (!strcmp(s, "day") || !strcmp(s, "daily") || !strcmp(s, "d"))
        *p = FG_PERIOD_DAY;
    else if (!strcmp(s, "month") || !strcmp(s, "monthly") || !strcmp(s, "mo"))
        *p = FG_PERIOD_MONTH;
    else
        return -1;
    return 0;
}

const char *fg_period_rfc3339(int64_t t_ms, char *buf, size_t n)
{
    int64_t days = floor_div(t_ms, DAY_MS), y;
    int64_t ms = t_ms - days * DAY_MS;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t s = ms / 1000;
    snprintf(buf, n, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(s / 3600),
             (int)(s / 60 % 60), (int)(s % 60));
    return buf;
}
