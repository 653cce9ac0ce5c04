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
 *    when errlen > 0); parts may have been partly filled.
 *
 * Contract — the push API (struct fg_multipart_stream, for uploads streamed to
 * storage as they arrive, never held whole):
 *  - The same framing and part-header rules as fg_multipart_parse: a body
 *    one accepts the other accepts with the same parts and the same data
 *    bytes, however the body is cut into pushes (a delimiter may straddle
 *    any number of them), with one more bound: a part's header block must
 *    fit in FG_MULTIPART_WINDOW bytes (else an error; head_overflow set).
 *    Error messages may differ where a body has several faults.
 *  - Callbacks in body order: part() when a part's headers are complete
 *    (data NULL, len 0), data() with its bytes in pieces (never empty; the
 *    CRLF before the next delimiter is never passed), part_end()
 *    at its closing delimiter.  A callback returning nonzero stops the
 *    stream: push/finish return -2 from then on.
 *  - Memory: the struct itself (about FG_MULTIPART_WINDOW bytes), nothing
 *    allocated; at most a delimiter's length of data is held back between
 *    pushes.  Every input byte is copied once into the window.
 *  - fg_multipart_stream_finish() after the last push: 0 when the close delimiter
 *    was seen; -1 with the error otherwise.  After -1 or -2 the stream
 *    accepts nothing more (sticky). */
#ifndef FRUGAL_MULTIPART_H
#define FRUGAL_MULTIPART_H

#include <stdbool.h>
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

/* ---- push API ---- */
#define FG_MULTIPART_WINDOW (32u << 10)

struct fg_multipart_stream_cbs {
    int (*part)(void *arg, const struct fg_mp_part *p);
    int (*data)(void *arg, const char *p, size_t n);
    int (*part_end)(void *arg);
    void *arg;
};

struct fg_multipart_stream {
    struct fg_multipart_stream_cbs cb;
    char needle[76]; /* "\n--" boundary */
    size_t nlen;
    int state;
    bool fresh;         /* nothing consumed yet: the body may open with the delimiter */
    bool pad;           /* transport padding after a delimiter was consumed */
    bool head_overflow; /* failed: a part's headers were over the window */
    int rc;             /* 0, or the sticky -1 / -2 */
    size_t parts, max_parts;
    size_t have;  /* bytes in win */
    size_t hscan; /* HEADERS: where the next unscanned header line starts */
    struct fg_mp_part part;
    char err[200];
    char win[FG_MULTIPART_WINDOW];
};

/* 0, or -1 with the Content-Type's problem in s->err. */
int fg_multipart_stream_init(struct fg_multipart_stream *s, const char *content_type,
                             size_t max_parts, const struct fg_multipart_stream_cbs *cb);
/* 0, -1 malformed (s->err), -2 stopped by a callback. */
int fg_multipart_stream_push(struct fg_multipart_stream *s, const char *p, size_t n);
/* The body ended: 0 complete, -1 (s->err), -2 stopped before. */
int fg_multipart_stream_finish(struct fg_multipart_stream *s);

#endif
