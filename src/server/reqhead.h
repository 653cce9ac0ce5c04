/* reqhead.h — the fields of an HTTP/1.x request head that the gate
 * (gate.h) and the edge's users read, as the edge (edge.h) parsed them.
 *
 * Contract:
 *  - The edge fills a struct fg_reqhead for every request whose head
 *    passed its framing checks (edge.h lists them); spans point into the
 *    request's own memory and live as long as the request.
 *  - Values are trimmed of surrounding spaces and tabs; names matched
 *    case-insensitively.  Only the fields the gate needs are kept here; the
 *    rest are read through fg_edge_req_header(). */
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
    struct fg_span authorization, api_key; /* Authorization, x-api-key (else Azure's api-key) */
    bool anthropic;                        /* anthropic-version present */
};

/* Whether span s equals the NUL-terminated string lit (case-sensitively). */
bool fg_reqhead_span_is(struct fg_span s, const char *lit);

#endif
