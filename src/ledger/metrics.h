/* metrics.h — process-wide counters for GET /metrics (Prometheus text).
 *
 * Contract: fg_metrics_observe() is called once per finished call from any
 * worker thread (lock-free atomics); fg_metrics_observe_money() once per
 * ledger record that is not a call through a worker (a line a provider's
 * batch ran), so the money counters match the ledger; fg_metrics_render()
 * writes the exposition text, including the ledger's queue depth and drops,
 * then what each higher layer's source adds (fg_metrics_add_source, from
 * the main thread at startup, before the workers start (cli/daemon.c): the
 * batch executor's counters). */
#ifndef FRUGAL_METRICS_H
#define FRUGAL_METRICS_H

#include "ledger.h"

#include <stdbool.h>

struct evbuffer;

void fg_metrics_observe(const struct fg_record *r, bool upstream_error);
/* Tokens and money only (no request count, status or latency). */
void fg_metrics_observe_money(const struct fg_record *r);
void fg_metrics_render(struct evbuffer *out);

#define FG_METRICS_MAX_SOURCES 4
typedef void (*fg_metrics_source)(struct evbuffer *out);
/* A layer above the ledger adds its own counters to every render (once per
 * function; at startup only). */
void fg_metrics_add_source(fg_metrics_source render);
/* A counter's HELP and TYPE lines (for sources). */
void fg_metrics_counter(struct evbuffer *o, const char *name, const char *help);

#endif
