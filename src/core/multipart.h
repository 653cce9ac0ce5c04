/* multipart.h — a strict, bounded multipart/form-data parser (RFC 7578,
 * framing from RFC 2046 section 5.1.1), for uploads such as POST /v1/files.
 *
 * Contract:
 *  - Input is the request's Content-Type header value and the whole body
 *    (len bytes, not NUL-terminated).  Nothing outside [body, body+len) is
 *    ever read, and nothing is allocated: parts point into the body.
 *  - The Content-Type must be multipart/form-data with a boundary parameter
 *    (token or quoted-string, 1-70 characters).
 *  - Framing: a preamble before the first delimiter and an epilogue after the
 *    close delimiter are ignored.  Lines end with CRLF; a bare LF is
 *    tolerated everywhere (the LF, or CRLF, before a delimiter belongs to the
 *    delimiter, never to the part's data).  Transport padding (spaces and
 *    tabs) after a delimiter is allowed.  A delimiter followed by anything
 *    else, or a body without the close delimiter, is an error.
 *  - Each part needs a "Content-Disposition: form-data" header with a name
 *    parameter; filename is optional (quoted-string with backslash escapes,
 *    or a token); filename* (RFC 5987, UTF-8 or ISO-8859-1, percent-encoded)
 *    is accepted and used only when filename is absent.  Parameter names are
 *    case-insensitive; a parameter must not repeat.  Content-Type of a part is
 *    recorded verbatim (trimmed); other part headers are ignored.  Header
 *    lines that start with whitespace (obsolete folding) are refused.
 *  - Values that do not fit their field (name 63 bytes, filename 255, ctype
 *    127) are errors, not truncations.  A percent-encoded filename as sent
 *    by WHATWG FormData ("%22" for a quote) is kept as sent.
 *  - On error: -1 and a one-sentence message in err (always NUL-terminated
 *    when errlen > 0); parts may have been partly filled. */
#ifndef FRUGAL_MULTIPART_H
#define FRUGAL_MULTIPART_H

#include <stddef.h>

struct fg_mp_part {
    char name[64];      /* form field name */
    char filename[256]; /* "" when the part has no filename */
    char ctype[128];    /* part Content-Type or "" */
    const char *data;   /* points into the body buffer */
    size_t len;
    int has_filename; /* a filename (or filename*) parameter was present,
                           possibly empty */
};

/* Parse body (len bytes) given the request's Content-Type header value.
 * Fills up to max_parts parts; returns the number of parts, or -1 with a
 * one-sentence error in err naming what is wrong (missing boundary, part
 * without Content-Disposition, unterminated body, too many parts...). Never
 * reads outside [body, body+len). */
int fg_multipart_parse(const char *content_type, const char *body, size_t len,
                       struct fg_mp_part *parts, size_t max_parts, char *err, size_t errlen);

/* The first part named <name> among the <n> parts, or NULL. */
const struct fg_mp_part *fg_multipart_find(const struct fg_mp_part *p, int n, const char *name);

#endif
