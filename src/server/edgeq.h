/* edgeq.h — what the gateway's handlers read from an edge request
 * (edge.h) as NUL-terminated strings: header values, the path, the query
 * string and its decoded parameters.
 *
 * Contract (the request's worker thread):
 *  - Every string returned is in the request's arena (fg_edge_req_arena):
 *    it lives until the request's terminal reply; copy what must outlive it.
 *  - fg_edgeq_header(): the first field `name` (case-insensitive), value
 *    trimmed; NULL when absent.
 *  - fg_edgeq_path(): the target up to '?' (as sent, not decoded);
 *    fg_edgeq_query(): what follows '?', or NULL when there is no '?'.
 *  - fg_edgeq_param(): the first `key=value` of an
 *    application/x-www-form-urlencoded query, value decoded ('+' = space,
 *    %XX; a malformed escape stays as sent); NULL when absent.
 *  - fg_edgeq_decode(): %XX decoded (no '+' rule), for a path segment. */
#ifndef FRUGAL_EDGEQ_H
#define FRUGAL_EDGEQ_H

#include <stddef.h>

struct fg_arena;
struct fg_edge_req;

const char *fg_edgeq_header(struct fg_edge_req *r, const char *name);
const char *fg_edgeq_path(struct fg_edge_req *r);
const char *fg_edgeq_query(struct fg_edge_req *r);
const char *fg_edgeq_param(struct fg_arena *a, const char *query, const char *key);
char *fg_edgeq_decode(struct fg_arena *a, const char *s, size_t n, int plus);

#endif
