/* reqhead.h — a strict reading of an HTTP/1.x request head (request line
 * and header fields) as the client sent it, before libevent's lenient
 * parser has seen it.
 *
 * Contract:
 *  - fg_reqhead_parse(buf, len, h) reads the bytes up to and including the
 *    blank line that ends the head (CRLF or bare LF line ends).  It returns
 *    0 with *h filled, or -1 with h->err naming the framing error; nothing
 *    is allocated and *h points into buf (which must outlive it).
 *  - Framing refused (each would let frugal and a proxy in front of it
 *    disagree about where a request ends): a request line not "METHOD SP
 *    target SP HTTP/1.x"; the CONNECT method; whitespace before a header's
 *    colon or a header name with other non-token bytes; an obs-fold
 *    (continuation) line; Content-Length not plain digits (no sign, no
 *    spaces inside, at most 18 digits); two Content-Length values that
 *    differ; Transfer-Encoding other than exactly "chunked"; both
 *    Transfer-Encoding and Content-Length.
 *  - Values are trimmed of surrounding spaces and tabs; header names match
 *    case-insensitively.  Only the fields the edge needs are kept. */
#ifndef FRUGAL_REQHEAD_H
#define FRUGAL_REQHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_span {
    const char *p;
    size_t n;
};

struct fg_reqhead {
    struct fg_span method, target, path; /* path: target up to '?' */
    bool has_length;                     /* Content-Length given */
    uint64_t length;
    bool chunked;                          /* Transfer-Encoding: chunked */
    struct fg_span authorization, api_key; /* Authorization, x-api-key */
    bool anthropic;                        /* anthropic-version present */
    const char *err;                       /* on -1: what was wrong */
};

int fg_reqhead_parse(const char *buf, size_t len, struct fg_reqhead *h);

/* Whether span s equals the NUL-terminated string lit (case-sensitively). */
bool fg_reqhead_span_is(struct fg_span s, const char *lit);

#endif
