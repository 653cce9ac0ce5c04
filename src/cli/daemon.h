/* daemon.h — `frugal serve`: the gateway process, start to stop.
 *
 * Contract: fg_daemon_run() brings up, in order, the ledger, the key
 * registry, the batch budgets outstanding, the caches and routers, the
 * in-process sim (when a simulated provider has no base_url), the HTTP
 * edge's workers (server.h) with the batch endpoints added (batch_api.h),
 * then the batch executor; it serves until SIGTERM/SIGINT and takes
 * everything down in the order written in daemon.c (the one place it is
 * written).  Returns 0 after a clean drain, 1 when startup failed (logged).
 * The config is borrowed; it outlives the call. */
#ifndef FRUGAL_DAEMON_H
#define FRUGAL_DAEMON_H

struct fg_config;

int fg_daemon_run(const struct fg_config *cfg);

#endif
