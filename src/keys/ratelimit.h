/* ratelimit.h — requests and tokens per minute, with the same reservation
 * logic as budgets.
 *
 * Contract:
 *  - A struct fg_ratelimit counts a key's requests and tokens in a sliding
 *    60-second window of one-second slots: a shared counter (shared.h) with
 *    one window per second, span 60, fields requests and tokens; each
 *    operation is one atomic counter_apply.  Its owner (the key registry)
 *    keeps it alive for the process; every access goes through this module,
 *    so it is safe from any thread.  In-process no I/O.
 *  - fg_ratelimit_admit() counts one request and holds the call's worst-case
 *    tokens (prompt estimate + max output) in the current second's slot,
 *    or refuses with how many seconds until enough of the window expires
 *    for it to fit (retry-after, >= 1).  A call whose worst case exceeds the
 *    TPM limit on its own never fits: `never` is set.
 *  - fg_ratelimit_settle() replaces the held tokens with the real ones in the
 *    slot they were counted in (nothing once that slot left the window),
 *    once; fg_ratelimit_force() holds tokens again for the next attempt of an
 *    admitted call (no request counted, no check).
 *  - rpm / tpm of 0 mean no limit on that dimension. */
#ifndef FRUGAL_RATELIMIT_H
#define FRUGAL_RATELIMIT_H

#include "shared.h"

#include <stdbool.h>
#include <stdint.h>

#define FG_RATE_WINDOW_S 60

struct fg_ratelimit {
    int64_t rpm, tpm;
    /* requests (field 0) and tokens (field 1) per second (the window); the
     * owner may name ctr (ctr.name) for a cross-process backend */
    struct fg_shared_counter ctr;
    struct fg_shared_cell cell[FG_RATE_WINDOW_S]; /* in-process: the ring */
};

struct fg_ratelimit_hold {
    struct fg_ratelimit *r;
    int64_t sec, tokens;
    bool held;
    bool local; /* counted in process memory (the store was down: `local`) */
};

struct fg_ratelimit_denial {
    bool tokens; /* TPM (else RPM) */
    bool never;  /* the call alone exceeds the TPM limit */
    int64_t limit, used, need;
    int retry_after_s;
};

void fg_ratelimit_init(struct fg_ratelimit *r, int64_t rpm, int64_t tpm);
/* 0 when admitted (h filled), -1 with *d filled. */
int fg_ratelimit_admit(struct fg_ratelimit *r, int64_t tokens, int64_t now_ms,
                       struct fg_ratelimit_hold *h, struct fg_ratelimit_denial *d);
/* The same admission in two halves, for an asynchronous apply (shared.h):
 * its one step, then the hold it made (st as applied) or the denial. */
void fg_ratelimit_admit_step(struct fg_ratelimit *r, int64_t tokens, int64_t now_ms,
                             struct fg_shared_step *st);
void fg_ratelimit_admitted(struct fg_ratelimit *r, const struct fg_shared_step *st,
                           struct fg_ratelimit_hold *h);
void fg_ratelimit_denied(struct fg_ratelimit *r, int64_t tokens, int64_t now_ms,
                         const struct fg_shared_denial *den, struct fg_ratelimit_denial *d);
void fg_ratelimit_settle(struct fg_ratelimit_hold *h, int64_t tokens, int64_t now_ms);
void fg_ratelimit_force(struct fg_ratelimit_hold *h, int64_t tokens, int64_t now_ms);
/* Requests and tokens in the window now. */
void fg_ratelimit_usage(struct fg_ratelimit *r, int64_t now_ms, int64_t *req, int64_t *tok);

#endif
