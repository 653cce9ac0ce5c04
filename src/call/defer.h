/* defer.h — calls that may wait: the flex tier (and, by the same rule,
 * provider batches; see below) for a client that set a deadline.
 *
 * Contract:
 *  - A call is deferrable when the client sends `x-frugal-defer: DURATION`
 *    ("30s", "5m", "1h", "1500ms", or whole seconds) or its key / charged
 *    tags match `deferral.defer_for` (then the deadline is max_deadline).
 *    The deadline is counted from the request's start and capped at
 *    `deferral.max_deadline`.  A DURATION that does not parse, is 0 or
 *    overflows is a 400 in the caller's dialect naming the header
 *    (fg_defer_request, a pipeline stage).
 *  - The way (fg_defer_decide, pure), in order: a flex-capable model
 *    (config/flex.h) → flex; else a provider with a batch API and a
 *    deadline of at least `deferral.min_deadline` → batch; else real time.
 *    A "batch" call waits for a provider batch line (below).
 *  - Flex (fg_defer_encode, at the end of the encode stage): an OpenAI
 *    chat or Responses call on a flex-capable model, whose client did not
 *    choose a service_tier itself, not a batch line, before its deadline
 *    and not yet moved to standard, is sent with service_tier "flex".  Its
 *    price is the model's batch price (flex_billed) when the provider's
 *    answer says service_tier "flex" (fg_defer_answer_seen; the first
 *    service_tier an answer names decides; a stream is presumed flex from
 *    its 2xx headers until then, fg_defer_stream_began).
 *  - A flex refusal for capacity (HTTP 429, error.code
 *    "resource_unavailable": not billed; fg_defer_capacity_refusal) is
 *    retried on flex after fg_defer_backoff_ms while that still leaves the
 *    deadline ahead, else at once on the standard tier
 *    (fg_defer_retry_ms < 0).  The client just gets its answer; each
 *    refused attempt is a ledger record (429, no cost) and the provider's
 *    breaker does not count it (capacity is not a failure).
 *  - Response header `x-frugal-defer: flex | batch | realtime` on a deferrable
 *    call (fg_defer_header): how it was served. */
/* Deferral into provider batches (fg_defer_hold, at the end of the
 * pipeline, instead of the transfer): a chat, Messages or Responses call
 * (a chat or Messages stream too: asked whole of the provider, replayed to
 * its client as a stream, fg_defer_unstream) whose way is "batch" and
 * whose provider has
 * `batch: provider` is handed, encoded, to the collector the app set
 * (batch/batch_defer.h, so call/ knows no batch code) and held: no
 * transfer, its budget hold kept.  Its line's 2xx result, posted back to
 * the call's worker (fg_defer_line_done), is its answer at the batch
 * price (saved_by.batch, x-frugal-defer: batch).  A line without a 2xx
 * result, a collector that could not take it, or the deadline coming
 * first: the call starts in real time then (never later than the
 * deadline + one call).  A call that ends (answered, client gone,
 * shutdown) drops its line (fg_defer_end): the collector ignores that
 * line's result. */
#ifndef FRUGAL_DEFER_H
#define FRUGAL_DEFER_H

#include "call.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fg_defer_way { FG_DEFER_REALTIME, FG_DEFER_FLEX, FG_DEFER_BATCH };

/* DURATION → milliseconds (> 0, at most a day).  0 or -1. */
int fg_defer_parse(const char *s, int64_t *ms);
/* The rule above; deadline and min_deadline in ms. */
enum fg_defer_way fg_defer_decide(bool flex_capable, bool provider_batch, int64_t deadline_ms,
                                  int64_t min_deadline_ms);
/* Wait before flex retry n (0-based): 500 ms × 2^n, at most 30 s, up to
 * 25% less by rnd. */
long fg_defer_backoff_ms(int n, uint64_t rnd);
/* An upstream answer that is flex's capacity refusal. */
bool fg_defer_capacity_refusal(long status, const char *body, size_t len);

/* Pipeline stage: judge the header and the rules (0, or -1 with c->err). */
int fg_defer_request(struct fg_call *c);
/* Encode stage: ask for flex on this attempt when the rule says so. */
void fg_defer_encode(struct fg_call *c);
/* Upstream bytes of the answer (a body or stream events): note the tier
 * the provider served, while the attempt asked for flex. */
void fg_defer_answer_seen(struct fg_call *c, const char *s, size_t n);
/* A flex attempt's 2xx stream begins: flex until its events say another
 * tier (its x-frugal-defer header goes out now). */
void fg_defer_stream_began(struct fg_call *c);
/* This attempt was refused by flex for capacity. */
bool fg_defer_refused(const struct fg_call *c);
/* After a refusal: ms to wait before retrying flex, or -1: the deadline
 * is too near, go to the standard tier now. */
long fg_defer_retry_ms(const struct fg_call *c);
/* The app's collector of provider batch lines, set once at startup
 * before the workers run (NULL: none, batch deferral is real time).
 * queue(c) runs on c's worker: it copies what it needs and returns the
 * line's handle, or NULL (real time).  When the line ends the collector
 * calls fg_defer_line_done on c's worker unless drop(line) ran first
 * (on the same worker). */
struct fg_defer_collector {
    void *(*queue)(struct fg_call *c);
    void (*drop)(void *line);
};
void fg_defer_set_collector(const struct fg_defer_collector *col);
/* Start of the encode stage: a stream that would go to a batch line is
 * asked of the provider whole (the line's answer, or a real-time one, is
 * replayed to the client as its dialect's stream, like a buffered
 * structured stream: so.client_stream).  Sets defer.unstreamed; the
 * encode stage then sends the body with stream false and no
 * stream_options (pipeline.c). */
void fg_defer_unstream(struct fg_call *c);
/* End of the pipeline: true when c is now held for its batch line. */
bool fg_defer_hold(struct fg_call *c);
/* On c's worker: its line ended; body/len its 2xx answer, or NULL: no
 * answer from the batch (real time now). */
void fg_defer_line_done(struct fg_call *c, const char *body, size_t len);
/* From fg_call_finish: drop the line and the deadline timer. */
void fg_defer_end(struct fg_call *c);

/* "flex" | "batch" | "realtime" for a deferrable call, else NULL. */
const char *fg_defer_header(const struct fg_call *c);

#endif
