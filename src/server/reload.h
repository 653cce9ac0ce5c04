/* reload.h — reloading the config file without dropping a call: SIGHUP
 * and POST /frugal/reload.
 *
 * Contract:
 *  - fg_reload_start() is the daemon's, after the boot snapshot exists
 *    (snap.h fg_snap_boot) and before the workers start: it keeps the app
 *    and the in-process sim's secret (a reloaded simulated provider
 *    without base_url gets it, as at startup) and starts the thread that
 *    runs POST /frugal/reload off the worker loops.
 *  - A reload re-reads the file the daemon started with (app->cfg->path;
 *    the built-in defaults have none: refused).  Every error is refused
 *    with the lines `frugal check` prints ("FILE:LINE: KEY: message"),
 *    and the running config stays.  A valid file becomes a new snapshot
 *    (its providers' URLs and headers, routes' weights, format checks,
 *    prices): calls that start after it run on it, calls in flight finish
 *    on the one they started under (snap.h), and each call is metered and
 *    priced by its own.  Settings read once by the process-wide parts
 *    (listener address, workers, storage, Redis, edge limits, master key,
 *    batches, key budgets from tag_budgets, the response cache's size)
 *    keep their running values: each one that changed is named in
 *    restart_needed (log and reply).  One log line says what changed.
 *    Reloads run one at a time (a mutex: never on a worker loop).
 *  - fg_reload_signal() runs one on the calling thread (the daemon's, on
 *    SIGHUP).
 *  - fg_reload_handle() is POST /frugal/reload's handler on worker w's
 *    loop: the master key only (403 otherwise); the reload runs on the
 *    reload thread (the job counts in w->inflight), the reply comes back
 *    on w's loop: 200 {"object":"frugal.reload","reloaded":true,...} or
 *    400 with "reloaded":false, "errors":[...] and an OpenAI-shaped error.
 *  - fg_reload_stop() is the daemon's, before the drain: queued reloads
 *    run and answer, later POSTs get 503. */
#ifndef FRUGAL_RELOAD_H
#define FRUGAL_RELOAD_H

#include "auth.h"
#include "provider.h"
#include "runtime.h"

struct fg_edge_req;

int fg_reload_start(struct fg_app *app, const char *sim_key, char *err, size_t errlen);
void fg_reload_signal(void);
void fg_reload_handle(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                      const struct fg_principal *p);
void fg_reload_stop(void);

#endif
