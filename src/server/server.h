/* server.h — the gateway's HTTP edge: worker threads, their listeners and
 * event loops, and their drain.
 *
 * Contract: each worker has its own event_base, an HTTP edge (edge.h, with
 * wire.h's hooks) accepting on its own SO_REUSEPORT socket on the same
 * address, and its own upstream (curl multi) on that base.  One
 * struct fg_edge_limits (server.max_connections, max_connections_per_ip)
 * is shared by every worker's edge.  Workers share only the immutable config and
 * app-level handles.  The process around them (ledger, key registry, sim,
 * batch executor, signals, shutdown order) is the daemon's
 * (cli/daemon.h), which calls, in order:
 *   fg_server_init            the app and its (not yet started) workers
 *   fg_server_providers_init  per-provider URLs and request headers; a
 *                             simulated provider without base_url uses
 *                             app->sim_base (the daemon starts the sim first)
 *   fg_server_start           each worker's loop, listener and thread; prints
 *                             the "frugal listening on" line
 *   fg_server_wait_signal     SIGINT / SIGTERM / SIGHUP (blocked in every thread)
 *   fg_server_drain           stop accepting, close idle connections (busy
 *                             ones close after their reply); in-flight calls finish within
 *                             server.shutdown_grace_ms, then are cut (each
 *                             with an error its client sees)
 *   fg_server_join            wait for the worker threads and free them
 *   fg_server_free            what fg_server_init and providers_init made
 * Higher layers add endpoints before fg_server_start (api.h
 * fg_api_add_routes).  The app is the caller's; the server owns the
 * workers and provider runtime facts it makes in it. */
#ifndef FRUGAL_SERVER_H
#define FRUGAL_SERVER_H

#include "runtime.h"

#include <stdbool.h>

/* app is zeroed here.  Blocks SIGINT/SIGTERM in the calling thread (the
 * workers inherit the mask), ignores SIGPIPE, makes libevent thread-aware,
 * bounds the heap, sets the connection limits. */
void fg_server_init(struct fg_app *app, const struct fg_config *cfg);
/* Also builds a reloaded snapshot's (reload.c: a temporary app whose boot
 * names the running boot config; a self-hosted provider with the same name
 * and cost there borrows its hours object, selfhost_borrowed). */
int fg_server_providers_init(struct fg_app *app);
/* What providers_init made (app->prov, app->loads for app->cfg); also for
 * a reloaded snapshot's (reload.c), through an app holding its parts. */
void fg_server_providers_free(struct fg_app *app);
/* 0, or -1 (logged) with the workers started so far in app->nstarted. */
int fg_server_start(struct fg_app *app);
/* SIGINT, SIGTERM or SIGHUP (a reload: the daemon waits again after it). */
int fg_server_wait_signal(void);
/* From the daemon's thread: every worker stops accepting and drains. */
void fg_server_drain(struct fg_app *app);
/* Join the started workers (cut: a failed start, their loops are broken
 * first rather than drained) and free every worker. */
void fg_server_join(struct fg_app *app, bool cut);
void fg_server_free(struct fg_app *app);

#endif
