/* sse.h — incremental Server-Sent Events parser.
 *
 * Contract: feed bytes as they arrive; for every complete event (ended by a
 * blank line; LF or CRLF line ends) the callback receives the event name
 * ("" when there is no `event:` line), the data (data: lines joined by
 * '\n'), and the raw bytes of the event including its terminating blank
 * line, so a relay can forward it verbatim.  Comment lines (":") are kept
 * in `raw` only.  The parser owns its buffer (free with fg_sse_free); data
 * passed to the callback is valid only during the call.  Pending bytes are
 * bounded by `max_event` (a larger event is an error: -1). */
#ifndef FRUGAL_SSE_H
#define FRUGAL_SSE_H

#include <stddef.h>

struct fg_sse_event {
    const char *event;
    size_t event_len;
    const char *data;
    size_t data_len;
    const char *raw;
    size_t raw_len;
};

/* return 0 to continue, -1 to stop parsing (fg_sse_feed returns -1) */
typedef int (*fg_sse_cb)(void *arg, const struct fg_sse_event *ev);

struct fg_sse {
    char *buf;
    size_t len, cap; /* unconsumed input */
    char *data;
    size_t dlen, dcap; /* scratch for joined data lines */
    size_t max_event;
    size_t events; /* count of events parsed so far */
};

void fg_sse_init(struct fg_sse *p, size_t max_event);
int fg_sse_feed(struct fg_sse *p, const char *bytes, size_t n, fg_sse_cb cb, void *arg);
/* Bytes received that did not form a complete event (a cut stream). */
size_t fg_sse_pending(const struct fg_sse *p);
void fg_sse_free(struct fg_sse *p);

#endif
