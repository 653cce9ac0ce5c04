/* log.c — see log.h. */
#include "log.h"

#include "assert.h"
#include "redact.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum fg_log_level g_level = FG_LOG_INFO;

void fg_log_set_level(enum fg_log_level lvl)
{
    g_level = lvl;
}

enum fg_log_level fg_log_level_from_str(const char *s)
{
    if (!s)
        return FG_LOG_INFO;
    if (!strcasecmp(s, "debug"))
        return FG_LOG_DEBUG;
    if (!strcasecmp(s, "warn"))
        return FG_LOG_WARN;
    if (!strcasecmp(s, "error"))
        return FG_LOG_ERROR;
    return FG_LOG_INFO;
}

void fg_log(enum fg_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < g_level)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[lvl]);
    /* formatted in full first, so a key cut at the line's end is still
     * recognised, then redacted into the line (redact.h) */
    char raw[2048];
    va_list ap;
    va_start(ap, fmt);
    int rn = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t rl = rn < 0 ? 0 : (size_t)rn < sizeof raw ? (size_t)rn : sizeof raw - 1;
    char red[2048];
    size_t dl = fg_redact(raw, rl, red, sizeof red);
    if (dl >= sizeof red)
        dl = sizeof red - 1;
    /* after redaction (a key split by an escape would not be recognised):
     * client text cannot start a line of its own or drive the terminal */
    fg_log_escape(red, dl, line + n, sizeof line - (size_t)n - 1);
    /* one fwrite per line keeps lines whole across threads */
    size_t len = strlen(line);
    line[len] = '\n';
    fwrite(line, 1, len + 1, stderr);
}

/* U+0080..U+009F (C1 controls, CSI among them) encoded as UTF-8. */
static bool c1_control(const unsigned char *p, size_t left)
{
    return left >= 2 && p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;
}

size_t fg_log_escape(const char *in, size_t n, char *out, size_t cap)
{
    FG_ASSERT(cap > 0);
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        char esc[8];
        size_t el = 0;
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            esc[0] = '\\';
            esc[1] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't';
            el = 2;
        } else if (ch < 0x20 || ch == 0x7f) {
            el = (size_t)snprintf(esc, sizeof esc, "\\x%c%c", hex[ch >> 4], hex[ch & 15]);
        } else if (c1_control(s + i, n - i)) {
            ch = s[++i]; /* the code point is the second byte */
            el = (size_t)snprintf(esc, sizeof esc, "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
        } else {
            esc[0] = (char)ch;
            el = 1;
        }
        if (o + el >= cap)
            break; /* never half an escape */
        memcpy(out + o, esc, el);
        o += el;
    }
    out[o] = '\0';
    return o;
}

const char *fg_log_redact(const char *secret, char *out, size_t outlen)
{
    size_t n = secret ? strlen(secret) : 0;
    if (n < 12)
        snprintf(out, outlen, "***");
    else
        snprintf(out, outlen, "%.3s…%s", secret, secret + n - 4);
    return out;
}
