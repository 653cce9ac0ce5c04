/* reqhead.c — see reqhead.h. */
#include "reqhead.h"

#include <string.h>
#include <strings.h>

bool fg_reqhead_span_is(struct fg_span s, const char *lit)
{
    return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

static bool name_is(struct fg_span s, const char *lit)
{
    return s.n == strlen(lit) && !strncasecmp(s.p, lit, s.n);
}

static bool tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static struct fg_span trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (struct fg_span){p, n};
}

static int fail(struct fg_reqhead *h, const char *why)
{
    h->err = why;
    return -1;
}

/* "METHOD SP target SP HTTP/1.x" */
static int request_line(const char *p, size_t n, struct fg_reqhead *h)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p)
        return fail(h, "the request line is not 'METHOD target HTTP/1.x'");
    h->method = (struct fg_span){p, (size_t)(sp1 - p)};
    for (size_t i = 0; i < h->method.n; i++)
        if (!tchar((unsigned char)p[i]))
            return fail(h, "the request method has bytes a method cannot have");
    const char *t = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t || (size_t)(end - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) ||
        (sp2[8] != '0' && sp2[8] != '1'))
        return fail(h, "the request line is not 'METHOD target HTTP/1.x'");
    h->target = (struct fg_span){t, (size_t)(sp2 - t)};
    const char *q = memchr(t, '?', h->target.n);
    h->path = (struct fg_span){t, q ? (size_t)(q - t) : h->target.n};
    if (fg_reqhead_span_is(h->method, "CONNECT"))
        return fail(h, "CONNECT is not supported: frugal is not a proxy");
    return 0;
}

/* Plain decimal digits, no sign or inner space, at most 18 of them. */
static int content_length(struct fg_span v, struct fg_reqhead *h)
{
    if (!v.n || v.n > 18)
        return fail(h, "Content-Length is not a plain decimal number");
    uint64_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return fail(h, "Content-Length is not a plain decimal number");
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (h->has_length && h->length != n)
        return fail(h, "two Content-Length headers disagree");
    h->has_length = true;
    h->length = n;
    return 0;
}

static int field(const char *p, size_t n, struct fg_reqhead *h, bool *te_seen)
{
    if (*p == ' ' || *p == '\t')
        return fail(h, "a header is continued on a folded line (obs-fold)");
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return fail(h, "a header line has no name or no colon");
    struct fg_span name = {p, (size_t)(colon - p)};
    for (size_t i = 0; i < name.n; i++)
        if (!tchar((unsigned char)name.p[i]))
            return fail(h, name.p[i] == ' ' || name.p[i] == '\t'
                               ? "a header name is followed by whitespace before its colon"
                               : "a header name has bytes a name cannot have");
    struct fg_span v = trim(colon + 1, (size_t)(p + n - colon - 1));
    if (name_is(name, "content-length"))
        return content_length(v, h);
    if (name_is(name, "transfer-encoding")) {
        if (*te_seen || v.n != 7 || strncasecmp(v.p, "chunked", 7))
            return fail(h, "Transfer-Encoding other than a single 'chunked'");
        *te_seen = true;
        h->chunked = true;
    } else if (name_is(name, "authorization")) {
        h->authorization = v;
    } else if (name_is(name, "x-api-key")) {
        h->api_key = v;
    } else if (name_is(name, "anthropic-version")) {
        h->anthropic = true;
    }
    return 0;
}

int fg_reqhead_parse(const char *buf, size_t len, struct fg_reqhead *h)
{
    memset(h, 0, sizeof *h);
    bool te_seen = false, first = true;
    size_t at = 0;
    while (at < len) {
        const char *lf = memchr(buf + at, '\n', len - at);
        if (!lf)
            return fail(h, "the request head is cut short");
        size_t n = (size_t)(lf - (buf + at));
        if (n && buf[at + n - 1] == '\r')
            n--;
        const char *line = buf + at;
        at = (size_t)(lf - buf) + 1;
        if (!n) {
            if (first)
                return fail(h, "the request starts with a blank line");
            if (h->chunked && h->has_length)
                return fail(h, "both Transfer-Encoding and Content-Length are given");
            return 0;
        }
        if (memchr(line, '\0', n) || memchr(line, '\r', n))
            return fail(h, "a NUL or a bare CR in the request head");
        int rc = first ? request_line(line, n, h) : field(line, n, h, &te_seen);
        if (rc < 0)
            return -1;
        first = false;
    }
    return fail(h, "the request head is cut short");
}
