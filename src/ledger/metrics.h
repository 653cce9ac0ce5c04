/* metrics.h — process-wide counters for GET /metrics (Prometheus text).
 *
 * Contract: fg_metrics_observe() is called once per finished call from any
 * worker thread (lock-free atomics); fg_metrics_render() writes the
 * exposition text, including the ledger's queue depth and drops. */
#ifndef FRUGAL_METRICS_H
#define FRUGAL_METRICS_H

#include "ledger.h"

#include <stdbool.h>

struct evbuffer;

void fg_metrics_observe(const struct fg_record *r, bool upstream_error);
void fg_metrics_render(struct evbuffer *out);

#endif
