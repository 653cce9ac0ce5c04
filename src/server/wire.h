/* wire.h — the gateway's hooks on its HTTP edge (edge.h): what each worker's
 * fg_edge does at a request's head, with its body, with its own error
 * answers and with its notes.
 *
 * Contract (each worker's thread; arg = struct fg_worker *):
 *  - fg_wire_hooks(w) fills the hooks server.c gives fg_edge_new.
 *  - At the head (before any body byte): a method the gateway does not
 *    know → 405; the gate's verdict (gate.h: 404 / 401 / 413 before the
 *    body of a large request) answered in the caller's dialect; else the
 *    path's body cap is set and the body's bytes are booked against
 *    server.max_body_bytes_in_flight (all workers): a Content-Length at
 *    the head, a chunked body's bytes as they arrive (a sink that keeps
 *    them in the request's body); over it → 503 server_busy.  What was
 *    booked is given back when the request ends, however it ends
 *    (fg_edge_req_on_end); a large body freed then is counted for
 *    fg_gate_trim.
 *  - The complete request goes to fg_api_handle (api.h).
 *  - The edge's own answers (400, 408, 413, 417, 429, 431, 503) are
 *    bodies in the dialect the head suggests (OpenAI's without a head),
 *    messages naming the config key.
 *  - Its notes (refusals, sheds, timeouts) become warnings, at most one
 *    per FG_WIRE_WARN_EVERY_MS per worker (the rest are counted and the
 *    count is logged with the next). */
#ifndef FRUGAL_WIRE_H
#define FRUGAL_WIRE_H

#include "edge.h"

#define FG_WIRE_WARN_EVERY_MS 1000

struct fg_worker;

struct fg_edge_hooks fg_wire_hooks(struct fg_worker *w);

#endif
