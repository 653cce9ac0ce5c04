/* spec.c — the short texts users write for budgets, lists, tags and expiry. */
#include "spec.h"

#include "clock.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int fg_spec_budget(const char *s, int64_t *pico, enum fg_period *p)
{
    if (!s)
        return -1;
    if (*s == '$')
        s++;
    const char *slash = strchr(s, '/');
    enum fg_period per = FG_PERIOD_MONTH;
    if (slash && fg_period_parse(slash + 1, &per) < 0)
        return -1;
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    int64_t whole = 0, frac = 0;
    int nd = 0, nf = 0;
    size_t i = 0;
    for (; i < len && isdigit((unsigned char)s[i]); i++, nd++) {
        whole = whole * 10 + (s[i] - '0');
        if (whole > FG_SPEC_MAX_BUDGET_USD)
            return -1;
    }
    if (i < len && s[i] == '.')
        for (i++; i < len && isdigit((unsigned char)s[i]); i++, nf++) {
            if (nf >= 6)
                return -1;
            frac = frac * 10 + (s[i] - '0');
        }
    if (i != len || (nd == 0 && nf == 0))
        return -1;
    for (int k = nf; k < 6; k++)
        frac *= 10;
    int64_t micro = whole * 1000000 + frac;
    if (micro <= 0 || micro > (int64_t)FG_SPEC_MAX_BUDGET_USD * 1000000)
        return -1;
    *pico = micro * 1000000;
    *p = per;
    return 0;
}

int fg_spec_expires(const char *s, int64_t now_ms, int64_t *ms)
{
    static const char units[] = "smhdw";
    static const int64_t unit_ms[] = {1000, 60000, 3600000, 86400000, 604800000};
    if (!s || !*s)
        return -1;
    if (*s == '+')
        s++;
    size_t nd = strspn(s, "0123456789");
    const char *u = nd && nd < 10 && s[nd] && !s[nd + 1] ? strchr(units, s[nd]) : NULL;
    if (u) {
        *ms = now_ms + strtoll(s, NULL, 10) * unit_ms[u - units];
        return 0;
    }
    return fg_clock_parse_since(s, now_ms, ms);
}

/* Split on commas, trim spaces, call check on each item, join with ",". */
static int norm(const char *s, char *out, size_t n, bool (*check)(const char *, size_t))
{
    size_t o = 0;
    out[0] = '\0';
    while (s && *s) {
        s += strspn(s, " \t,");
        size_t len = strcspn(s, ",");
        size_t t = len;
        while (t && (s[t - 1] == ' ' || s[t - 1] == '\t'))
            t--;
        if (t) {
            if (!check(s, t) || o + t + 2 > n)
                return -1;
            if (o)
                out[o++] = ',';
            memcpy(out + o, s, t);
            o += t;
            out[o] = '\0';
        }
        s += len;
    }
    return 0;
}

bool fg_spec_plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"')
            return false;
    return true;
}

static bool tag_item(const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    return fg_spec_plain(s, n) && eq && eq > s && !memchr(s, ' ', (size_t)(eq - s));
}

int fg_spec_list(const char *s, char *out, size_t n)
{
    return norm(s, out, n, fg_spec_plain);
}

int fg_spec_tags(const char *s, char *out, size_t n)
{
    return norm(s, out, n, tag_item);
}
