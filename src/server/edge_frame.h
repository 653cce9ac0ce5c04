/* edge_frame.h — the framing checks the edge (edge.h) adds to http_parser.
 *
 * Debian's libhttp_parser 2.9.4 is built with HTTP_PARSER_STRICT=0 (probed:
 * a space inside a header name, "Transfer-Encoding : chunked", bare-LF line
 * ends, obs-fold lines, bytes >= 0x80 or a tab in the target, HTTP/0.9 and
 * HTTP/9.9, trailer fields, and chunk data followed by two arbitrary bytes
 * instead of CRLF all pass it).  What it does refuse on its own: duplicate
 * (even equal) and signed Content-Length, Content-Length with
 * Transfer-Encoding, a request Transfer-Encoding whose last coding is not
 * chunked, control bytes in header values, malformed chunk sizes.  These
 * functions refuse the rest; each returns NULL when the bytes are fine, else
 * a static sentence naming the anomaly (used in the 400's message).
 *
 * Contract:
 *  - fg_edge_frame_head_scan() runs over the bytes of one request head, in
 *    order, in as many pieces as they arrive (state in *s, zeroed by
 *    fg_edge_frame_head_init): every line ends in CRLF; no line after the
 *    request line starts with SP or HTAB (obs-fold).  Empty lines before
 *    the request line are allowed (RFC 9112 2.2).
 *  - fg_edge_frame_chunk_scan() runs over a chunked body's bytes (framing
 *    and data), in pieces; *done becomes true after the CRLF that ends the
 *    zero-size chunk, and *used is how many bytes of the piece belong to
 *    the body (the rest is the next request).  Refused: a size that is not
 *    1-15 hex digits, whitespace around it, an extension over
 *    FG_EDGE_FRAME_EXT_MAX bytes or with control bytes, chunk data not
 *    followed by exactly CRLF, bare LF or CR anywhere, trailer fields.
 *  - fg_edge_frame_target(): origin-form ("/" path ["?" query]) or
 *    absolute-form ("http[s]://" authority then origin-form: the authority is
 *    ignored, never used to reach anything), bytes 0x21-0x7E, no '#':
 *    authority-form, asterisk-form and anything else are refused.
 *  - fg_edge_frame_token(): a non-empty RFC 9110 token (header names). */
#ifndef FRUGAL_EDGE_FRAME_H
#define FRUGAL_EDGE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_EDGE_FRAME_EXT_MAX 1024

struct fg_edge_frame_head {
    uint8_t st;     /* at a line start, inside a line, after CR */
    bool in_head;   /* the request line has begun */
    bool line_used; /* the current line has bytes */
};

struct fg_edge_frame_chunk {
    uint8_t st;
    unsigned digits;  /* of the size line */
    unsigned linelen; /* bytes of the size line */
    uint64_t left;    /* data bytes left in this chunk */
};

void fg_edge_frame_head_init(struct fg_edge_frame_head *s);
const char *fg_edge_frame_head_scan(struct fg_edge_frame_head *s, const char *p, size_t n);

void fg_edge_frame_chunk_init(struct fg_edge_frame_chunk *s);
const char *fg_edge_frame_chunk_scan(struct fg_edge_frame_chunk *s, const char *p, size_t n,
                                     size_t *used, bool *done);

const char *fg_edge_frame_target(const char *p, size_t n);
/* Where the origin-form part of a target starts: 0, or past an
 * absolute-form's "http[s]://authority" (n when it has no path). */
size_t fg_edge_frame_origin(const char *p, size_t n);
bool fg_edge_frame_token(const char *p, size_t n);

#endif
