/* multipart.c — multipart/form-data parsing (contract in multipart.h).
 *
 * Every scan is bounded by an explicit end pointer: header lines and data
 * live inside the body, which is not NUL-terminated, so no str* function
 * ever runs on them.  Parameter values are decoded into a fixed buffer and
 * then copied into the part's fixed fields with a length check. */
#include "multipart.h"

#include "assert.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_BOUNDARY 70
#define MAX_VALUE 1024      /* decoded parameter value */
#define MAX_HEADER_LINES 64 /* per part */

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- header-value lexing (RFC 7230 tokens and quoted-strings) ------------ */

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static int ieq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* A parameter "; name=value" (value a token or a quoted-string).
 * 1: one parsed, *pp advanced; 0: end of the value; -1: malformed;
 * -2: value longer than MAX_VALUE - 1 bytes. */
struct param {
    const char *name;
    size_t name_len;
    char value[MAX_VALUE];
    size_t value_len;
};

static int next_param(const char **pp, const char *end, struct param *out)
{
    const char *p = skip_ws(*pp, end);
    if (p == end)
        return 0;
    if (*p != ';')
        return -1;
    p = skip_ws(p + 1, end);
    if (p == end) { /* a trailing ';' is common and harmless */
        *pp = p;
        return 0;
    }
    out->name = p;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    out->name_len = (size_t)(p - out->name);
    p = skip_ws(p, end);
    if (!out->name_len || p == end || *p != '=')
        return -1;
    p = skip_ws(p + 1, end);
    size_t n = 0;
    if (p < end && *p == '"') {
        for (p++;; p++) {
            if (p == end)
                return -1; /* unterminated quoted-string */
            unsigned char c = (unsigned char)*p;
            if (c == '"')
                break;
            if (c == '\\') {
                if (++p == end)
                    return -1;
                c = (unsigned char)*p;
            }
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return -1;
            if (n + 1 >= MAX_VALUE)
                return -2;
            out->value[n++] = (char)c;
        }
        p++;
    } else {
        const char *v = p;
        while (p < end && is_tchar((unsigned char)*p))
            p++;
        if (p == v)
            return -1;
        if ((size_t)(p - v) >= MAX_VALUE)
            return -2;
        n = (size_t)(p - v);
        memcpy(out->value, v, n);
    }
    out->value[n] = '\0';
    out->value_len = n;
    *pp = p;
    return 1;
}

/* ---- Content-Type: multipart/form-data; boundary=... ---------------------- */

static int boundary_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("'()+_,-./:=? ", c));
}

static int get_boundary(const char *ct, char *b, size_t *blen, char *err, size_t errlen)
{
    static const char mt[] = "multipart/form-data";
    if (!ct) {
        fail(err, errlen, "The request has no Content-Type; expected multipart/form-data.");
        return -1;
    }
    const char *end = ct + strlen(ct);
    const char *p = skip_ws(ct, end);
    size_t n = sizeof mt - 1;
    if ((size_t)(end - p) < n || strncasecmp(p, mt, n) != 0 ||
        (p + n < end && p[n] != ';' && p[n] != ' ' && p[n] != '\t')) {
        fail(err, errlen, "The Content-Type is not multipart/form-data.");
        return -1;
    }
    p += n;
    struct param prm;
    int found = 0, rc;
    while ((rc = next_param(&p, end, &prm)) == 1) {
        if (!ieq(prm.name, prm.name_len, "boundary"))
            continue;
        if (found++) {
            fail(err, errlen, "The Content-Type has more than one boundary parameter.");
            return -1;
        }
        if (prm.value_len < 1 || prm.value_len > MAX_BOUNDARY ||
            prm.value[prm.value_len - 1] == ' ') {
            fail(err, errlen,
                 "The multipart boundary must be 1 to 70 characters long and "
                 "must not end with a space.");
            return -1;
        }
        for (size_t i = 0; i < prm.value_len; i++) {
            if (!boundary_char((unsigned char)prm.value[i])) {
                fail(err, errlen,
                     "The multipart boundary contains a character RFC 2046 "
                     "does not allow.");
                return -1;
            }
        }
        memcpy(b, prm.value, prm.value_len + 1);
        *blen = prm.value_len;
    }
    if (rc < 0) {
        fail(err, errlen, "The Content-Type parameters are malformed.");
        return -1;
    }
    if (!found) {
        fail(err, errlen, "The multipart/form-data Content-Type has no boundary parameter.");
        return -1;
    }
    return 0;
}

/* ---- Content-Disposition ---------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* RFC 5987 ext-value "charset'lang'pct-encoded" into out (outlen bytes,
 * NUL-terminated).  0, -1 malformed, -2 too long. */
static int decode_ext(const char *v, size_t n, char *out, size_t outlen)
{
    const char *end = v + n;
    const char *q1 = memchr(v, '\'', n);
    const char *q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(end - q1 - 1)) : NULL;
    if (!q2)
        return -1;
    int latin1;
    if (ieq(v, (size_t)(q1 - v), "utf-8"))
        latin1 = 0;
    else if (ieq(v, (size_t)(q1 - v), "iso-8859-1"))
        latin1 = 1;
    else
        return -1;
    size_t o = 0;
    for (const char *p = q2 + 1; p < end; p++) {
        unsigned c = (unsigned char)*p;
        if (c == '%') {
            if (end - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
                return -1;
            c = (unsigned)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        }
        if (c == 0)
            return -1;
        if (latin1 && c >= 0x80) {
            if (o + 3 > outlen)
                return -2;
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            if (o + 2 > outlen)
                return -2;
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return 0;
}

static int copy_field(char *dst, size_t dstlen, const char *src, size_t n)
{
    if (n >= dstlen)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

static int disposition(const char *p, const char *end, struct fg_mp_part *part, int idx, char *err,
                       size_t errlen)
{
    const char *t = p;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (!ieq(t, (size_t)(p - t), "form-data")) {
        fail(err, errlen, "Part %d has a Content-Disposition that is not form-data.", idx);
        return -1;
    }
    struct param prm;
    int rc, seen_name = 0, seen_fn = 0, seen_ext = 0;
    char ext[sizeof part->filename];
    while ((rc = next_param(&p, end, &prm)) == 1) {
        int *seen = NULL;
        if (ieq(prm.name, prm.name_len, "name"))
            seen = &seen_name;
        else if (ieq(prm.name, prm.name_len, "filename"))
            seen = &seen_fn;
        else if (ieq(prm.name, prm.name_len, "filename*"))
            seen = &seen_ext;
        if (!seen)
            continue; /* unknown parameters are ignored */
        if ((*seen)++) {
            fail(err, errlen, "Part %d repeats the Content-Disposition parameter '%.*s'.", idx,
                 (int)prm.name_len, prm.name);
            return -1;
        }
        if (seen == &seen_name) {
            if (copy_field(part->name, sizeof part->name, prm.value, prm.value_len)) {
                fail(err, errlen, "Part %d has a field name longer than %zu bytes.", idx,
                     sizeof part->name - 1);
                return -1;
            }
        } else if (seen == &seen_fn) {
            if (copy_field(part->filename, sizeof part->filename, prm.value, prm.value_len)) {
                fail(err, errlen, "Part %d has a filename longer than %zu bytes.", idx,
                     sizeof part->filename - 1);
                return -1;
            }
        } else {
            int x = decode_ext(prm.value, prm.value_len, ext, sizeof ext);
            if (x == -2) {
                fail(err, errlen, "Part %d has a filename longer than %zu bytes.", idx,
                     sizeof part->filename - 1);
                return -1;
            }
            if (x) {
                fail(err, errlen, "Part %d has a malformed filename* parameter.", idx);
                return -1;
            }
        }
    }
    if (rc == -2) {
        fail(err, errlen, "Part %d has a Content-Disposition parameter longer than %d bytes.", idx,
             MAX_VALUE - 1);
        return -1;
    }
    if (rc < 0) {
        fail(err, errlen, "Part %d has a malformed Content-Disposition header.", idx);
        return -1;
    }
    if (!seen_name) {
        fail(err, errlen, "Part %d has no name in its Content-Disposition.", idx);
        return -1;
    }
    if (seen_ext && !seen_fn)
        memcpy(part->filename, ext, strlen(ext) + 1);
    part->has_filename = seen_fn || seen_ext;
    return 0;
}

/* ---- part headers ------------------------------------------------------------- */

static const char *trim_end(const char *s, const char *e)
{
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return e;
}

/* Headers from *pp up to and including the blank line. */
static int part_headers(const char *body, size_t len, size_t *pp, struct fg_mp_part *part, int idx,
                        char *err, size_t errlen)
{
    const char *end = body + len;
    size_t p = *pp;
    int seen_cd = 0, seen_ct = 0;
    for (int lines = 0;; lines++) {
        const char *ls = body + p;
        const char *nl = memchr(ls, '\n', (size_t)(end - ls));
        if (!nl) {
            fail(err, errlen, "The headers of part %d are not terminated by a blank line.", idx);
            return -1;
        }
        const char *le = nl > ls && nl[-1] == '\r' ? nl - 1 : nl;
        p = (size_t)(nl + 1 - body);
        if (le == ls)
            break;
        if (lines >= MAX_HEADER_LINES) {
            fail(err, errlen, "Part %d has more than %d header lines.", idx, MAX_HEADER_LINES);
            return -1;
        }
        if (*ls == ' ' || *ls == '\t') {
            fail(err, errlen, "Part %d has a folded header line, which RFC 7578 forbids.", idx);
            return -1;
        }
        const char *colon = memchr(ls, ':', (size_t)(le - ls));
        if (!colon || colon == ls) {
            fail(err, errlen, "Part %d has a header line without a name and a colon.", idx);
            return -1;
        }
        const char *ne = trim_end(ls, colon);
        const char *v = skip_ws(colon + 1, le), *ve = trim_end(v, le);
        if (ieq(ls, (size_t)(ne - ls), "content-disposition")) {
            if (seen_cd++) {
                fail(err, errlen, "Part %d has more than one Content-Disposition header.", idx);
                return -1;
            }
            if (disposition(v, ve, part, idx, err, errlen))
                return -1;
        } else if (ieq(ls, (size_t)(ne - ls), "content-type")) {
            if (seen_ct++) {
                fail(err, errlen, "Part %d has more than one Content-Type header.", idx);
                return -1;
            }
            if (copy_field(part->ctype, sizeof part->ctype, v, (size_t)(ve - v))) {
                fail(err, errlen, "Part %d has a Content-Type longer than %zu bytes.", idx,
                     sizeof part->ctype - 1);
                return -1;
            }
        }
    }
    if (!seen_cd) {
        fail(err, errlen, "Part %d has no Content-Disposition header.", idx);
        return -1;
    }
    *pp = p;
    return 0;
}

/* ---- framing -------------------------------------------------------------------- */

/* What follows the delimiter that ends at <p>: 1 close delimiter, 0 a part
 * follows (*pp moved past the line break), -1 error. */
static int after_delimiter(const char *body, size_t len, size_t *pp, char *err, size_t errlen)
{
    size_t p = *pp;
    if (len - p >= 2 && body[p] == '-' && body[p + 1] == '-')
        return 1;
    while (p < len && (body[p] == ' ' || body[p] == '\t'))
        p++;
    if (p < len && body[p] == '\r')
        p++;
    if (p < len && body[p] == '\n') {
        *pp = p + 1;
        return 0;
    }
    if (p >= len)
        fail(err, errlen, "The multipart body ends without its close delimiter.");
    else
        fail(err, errlen, "A multipart boundary delimiter is followed by unexpected bytes.");
    return -1;
}

int fg_multipart_parse(const char *content_type, const char *body, size_t len,
                       struct fg_mp_part *parts, size_t max_parts, char *err, size_t errlen)
{
    char needle[MAX_BOUNDARY + 4]; /* "\n--" boundary */
    size_t blen = 0;
    if (err && errlen)
        err[0] = '\0';
    if (get_boundary(content_type, needle + 3, &blen, err, errlen))
        return -1;
    memcpy(needle, "\n--", 3);
    size_t nlen = blen + 3, dlen = blen + 2; /* delimiter "--" boundary */
    if (!body)
        len = 0;

    /* The first delimiter opens the body or a line after the preamble. */
    size_t pos;
    if (len >= dlen && memcmp(body, needle + 1, dlen) == 0) {
        pos = dlen;
    } else {
        const char *hit = len ? memmem(body, len, needle, nlen) : NULL;
        if (!hit) {
            fail(err, errlen, "The body contains no multipart boundary delimiter.");
            return -1;
        }
        pos = (size_t)(hit - body) + nlen;
    }
    size_t n = 0;
    for (;;) {
        int rc = after_delimiter(body, len, &pos, err, errlen);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return (int)n; /* the epilogue is ignored */
        if (n >= max_parts) {
            fail(err, errlen, "The form has too many parts (at most %zu are accepted).", max_parts);
            return -1;
        }
        struct fg_mp_part *part = &parts[n];
        memset(part, 0, sizeof *part);
        if (part_headers(body, len, &pos, part, (int)n + 1, err, errlen))
            return -1;
        /* The data runs to the line break before the next delimiter. */
        const char *hit = memmem(body + pos, len - pos, needle, nlen);
        if (!hit) {
            fail(err, errlen, "Part %zu is not terminated by a boundary delimiter.", n + 1);
            return -1;
        }
        size_t lf = (size_t)(hit - body);
        size_t data_end = lf > pos && body[lf - 1] == '\r' ? lf - 1 : lf;
        part->data = body + pos;
        part->len = data_end - pos;
        n++;
        pos = lf + nlen;
    }
}

const struct fg_mp_part *fg_multipart_find(const struct fg_mp_part *p, int n, const char *name)
{
    for (int i = 0; p && name && i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return &p[i];
    return NULL;
}

/* ---- push API ------------------------------------------------------------------ */

enum { S_PREAMBLE, S_AFTER, S_HEADERS, S_DATA, S_DONE };
enum { MORE, NEED }; /* a step's outcome: go on, or wait for bytes */

static int st_fail(struct fg_multipart_stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int st_fail(struct fg_multipart_stream *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    s->rc = -1;
    return -1;
}

int fg_multipart_stream_init(struct fg_multipart_stream *s, const char *content_type,
                             size_t max_parts, const struct fg_multipart_stream_cbs *cb)
{
    memset(s, 0, offsetof(struct fg_multipart_stream, win));
    s->cb = *cb;
    s->max_parts = max_parts;
    s->fresh = true;
    size_t blen = 0;
    if (get_boundary(content_type, s->needle + 3, &blen, s->err, sizeof s->err)) {
        s->rc = -1;
        return -1;
    }
    memcpy(s->needle, "\n--", 3);
    s->nlen = blen + 3;
    return 0;
}

/* Each step looks at the window (w, n), may consume *used bytes from its
 * front, and returns MORE, NEED or -1 / -2 (s->rc set). */
static int step_preamble(struct fg_multipart_stream *s, const char *w, size_t n, bool final,
                         size_t *used)
{
    size_t dlen = s->nlen - 1; /* "--" boundary, without the line break */
    if (s->fresh) {
        if (n < dlen && !final && !memcmp(w, s->needle + 1, n))
            return NEED;
        s->fresh = false;
        if (n >= dlen && !memcmp(w, s->needle + 1, dlen)) {
            *used = dlen;
            s->state = S_AFTER;
            return MORE;
        }
    }
    const char *hit = n ? memmem(w, n, s->needle, s->nlen) : NULL;
    if (hit) {
        *used = (size_t)(hit - w) + s->nlen;
        s->state = S_AFTER;
        return MORE;
    }
    if (final)
        return st_fail(s, "The body contains no multipart boundary delimiter.");
    *used = n > s->nlen - 1 ? n - (s->nlen - 1) : 0; /* a delimiter's start may be at the end */
    return NEED;
}

static int step_after(struct fg_multipart_stream *s, const char *w, size_t n, bool final,
                      size_t *used)
{
    if (!s->pad) {
        if (n < 2 && !final && (n == 0 || w[0] == '-'))
            return NEED;
        if (n >= 2 && w[0] == '-' && w[1] == '-') {
            s->state = S_DONE; /* the epilogue is ignored */
            return MORE;
        }
    }
    size_t i = 0;
    while (i < n && (w[i] == ' ' || w[i] == '\t'))
        i++;
    size_t j = i < n && w[i] == '\r' ? i + 1 : i;
    if (j == n) {
        if (final)
            return st_fail(s, "The multipart body ends without its close delimiter.");
        *used = i; /* the padding; a CR waits for what follows it */
        s->pad = s->pad || i > 0;
        return NEED;
    }
    if (w[j] != '\n')
        return st_fail(s, "A multipart boundary delimiter is followed by unexpected bytes.");
    *used = j + 1;
    s->pad = false;
    if (s->parts >= s->max_parts)
        return st_fail(s, "The form has too many parts (at most %zu are accepted).", s->max_parts);
    memset(&s->part, 0, sizeof s->part);
    s->hscan = 0;
    s->state = S_HEADERS;
    return MORE;
}

static int step_headers(struct fg_multipart_stream *s, const char *w, size_t n, bool final,
                        size_t *used)
{
    int idx = (int)s->parts + 1;
    for (;;) {
        const char *ls = w + s->hscan;
        const char *nl = memchr(ls, '\n', n - s->hscan);
        if (!nl) {
            if (final)
                return st_fail(s, "The headers of part %d are not terminated by a blank line.",
                               idx);
            if (n == FG_MULTIPART_WINDOW) {
                s->head_overflow = true;
                return st_fail(s, "The headers of part %d are over %u bytes.", idx,
                               FG_MULTIPART_WINDOW);
            }
            return NEED;
        }
        s->hscan = (size_t)(nl + 1 - w);
        if (nl == ls || (nl == ls + 1 && *ls == '\r'))
            break; /* the blank line */
    }
    size_t p = 0;
    if (part_headers(w, s->hscan, &p, &s->part, idx, s->err, sizeof s->err)) {
        s->rc = -1;
        return -1;
    }
    FG_ASSERT(p == s->hscan);
    *used = p;
    s->state = S_DATA;
    if (s->cb.part && s->cb.part(s->cb.arg, &s->part))
        return s->rc = -2;
    return MORE;
}

static int step_data(struct fg_multipart_stream *s, const char *w, size_t n, bool final,
                     size_t *used)
{
    const char *hit = n ? memmem(w, n, s->needle, s->nlen) : NULL;
    if (!hit) {
        if (final)
            return st_fail(s, "Part %zu is not terminated by a boundary delimiter.", s->parts + 1);
        /* hold back what may start a delimiter, and the CR before it */
        if (n <= s->nlen)
            return NEED;
        *used = n - s->nlen;
        if (s->cb.data && s->cb.data(s->cb.arg, w, *used))
            return s->rc = -2;
        return NEED;
    }
    /* the window starts at the part's data or at held-back data bytes, so a
     * CR before the delimiter's LF is the part's (never the header's) */
    size_t lf = (size_t)(hit - w);
    size_t end = lf > 0 && w[lf - 1] == '\r' ? lf - 1 : lf;
    *used = lf + s->nlen;
    if (end && s->cb.data && s->cb.data(s->cb.arg, w, end))
        return s->rc = -2;
    s->parts++;
    s->state = S_AFTER;
    if (s->cb.part_end && s->cb.part_end(s->cb.arg))
        return s->rc = -2;
    return MORE;
}

static int process(struct fg_multipart_stream *s, bool final)
{
    for (;;) {
        size_t used = 0;
        int r;
        switch (s->state) {
        case S_PREAMBLE: r = step_preamble(s, s->win, s->have, final, &used); break;
        case S_AFTER: r = step_after(s, s->win, s->have, final, &used); break;
        case S_HEADERS: r = step_headers(s, s->win, s->have, final, &used); break;
        case S_DATA: r = step_data(s, s->win, s->have, final, &used); break;
        default: used = s->have, r = NEED; break; /* S_DONE: the epilogue */
        }
        if (r < 0)
            return r;
        FG_ASSERT(used <= s->have);
        if (used) {
            memmove(s->win, s->win + used, s->have - used);
            s->have -= used;
        }
        if (r == NEED)
            return 0;
    }
}

int fg_multipart_stream_push(struct fg_multipart_stream *s, const char *p, size_t n)
{
    while (!s->rc && n) {
        size_t k = FG_MULTIPART_WINDOW - s->have;
        if (k > n)
            k = n;
        memcpy(s->win + s->have, p, k);
        s->have += k;
        p += k;
        n -= k;
        if (process(s, false) < 0)
            break;
        FG_ASSERT(s->have < FG_MULTIPART_WINDOW); /* every state makes room */
    }
    return s->rc;
}

int fg_multipart_stream_finish(struct fg_multipart_stream *s)
{
    if (!s->rc && process(s, true) == 0 && s->state != S_DONE)
        st_fail(s, "The multipart body ends without its close delimiter.");
    return s->rc;
}
