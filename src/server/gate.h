/* gate.h — what a request may do at its head, before its body is read.
 *
 * Contract:
 *  - fg_gate_check() judges a strictly parsed request head (reqhead.h):
 *    v->status 0 lets it through with v->body_cap, the most body bytes its
 *    path takes (batches.max_file_bytes + 64 KiB for POST /v1/files,
 *    batches.max_file_bytes for POST /v1/messages/batches, else
 *    server.max_body_bytes); otherwise v holds the answer (status, code,
 *    message) in v->d, the caller's dialect.
 *  - A body that may be large (chunked, or declared over FG_GATE_SMALL_BODY)
 *    is only read for a known path and, when server.master_key is set, a
 *    caller with the master key or an active virtual key (keyreg.h): else
 *    404 / 401 here.  Smaller
 *    bodies go on to the API layer, whose answers are the precise ones.
 *  - Then a declared Content-Length over the path's cap → 413.
 *  - Bytes in flight (conn.c books a body's Content-Length at its head, a
 *    chunked body's bytes as they arrive): fg_gate_reserve() books n against
 *    server.max_body_bytes_in_flight (all workers together); false = over,
 *    nothing booked.  fg_gate_release() gives them back.  Thread-safe.
 *  - fg_gate_trim(freed) is called after a body of `freed` bytes was freed:
 *    once FG_GATE_TRIM_BYTES were freed since the last trim it hands free
 *    heap back to the system (malloc_trim; glibc keeps it otherwise). */
#ifndef FRUGAL_GATE_H
#define FRUGAL_GATE_H

#include "config.h"
#include "reqhead.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_GATE_SMALL_BODY (64u << 10)
#define FG_GATE_TRIM_BYTES (8u << 20) /* a body this large is trimmed after */

struct fg_dialect_ops;

struct fg_gate_verdict {
    int status; /* 0 = read the body */
    const char *code;
    char msg[300];
    const struct fg_dialect_ops *d; /* the caller's dialect */
    uint64_t body_cap;
};

void fg_gate_check(const struct fg_config *cfg, const struct fg_reqhead *h,
                   struct fg_gate_verdict *v);
/* The dialect to answer a head in (also for framing errors). */
const struct fg_dialect_ops *fg_gate_dialect(const struct fg_reqhead *h);

bool fg_gate_reserve(uint64_t n, uint64_t limit);
void fg_gate_release(uint64_t n);
uint64_t fg_gate_in_flight(void);
void fg_gate_trim(uint64_t freed);

#endif
