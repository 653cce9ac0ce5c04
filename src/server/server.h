/* server.h — the gateway process: worker threads, listeners, shutdown.
 *
 * Contract: fg_server_run() starts `workers` threads, each with its own
 * event_base, evhttp bound to its own SO_REUSEPORT socket on the same
 * address, and its own upstream (curl multi) on that base.  Workers share
 * only the immutable config and app-level handles.  SIGTERM/SIGINT stop
 * accepting, let in-flight calls finish within shutdown_grace_ms, then cut
 * the rest; fg_server_run returns 0 after a clean drain.
 * The app owns: config (borrowed from main), in-process sim, workers. */
#ifndef FRUGAL_SERVER_H
#define FRUGAL_SERVER_H

#include "runtime.h"

int fg_server_run(const struct fg_config *cfg);

#endif
