/* snap.h — config snapshots: how a reload reaches the workers without a
 * lock on the hot path, and how a call keeps its config to its end.
 *
 * Contract:
 *  - A struct fg_snap (runtime.h) is immutable once published.  Its
 *    references: the app's current one (app->snap, the reloader's), one per
 *    worker (w->snap, or waiting in w->next_snap), one per call pinned to
 *    it.  At refs 0 free_fn frees it (a reloaded snapshot: its config and
 *    what was derived from it); the boot snapshot has no free_fn (the app
 *    owns its parts).
 *  - fg_snap_boot() makes app->boot from the app's fields and gives a
 *    reference to app->snap and to every worker (before they start).
 *  - fg_snap_publish() is the reloader's (one thread at a time: the caller
 *    serialises reloads): s arrives with one reference, the app's; each
 *    worker gets one through its next_snap (an atomic exchange: a snapshot
 *    published earlier and never taken is released there); the previous
 *    current one loses the app's reference.
 *  - fg_snap_worker() runs on w's own thread: it takes w->next_snap if a
 *    reload published one (an atomic exchange; the old one loses the
 *    worker's reference) and returns w->snap.  Calls and requests that
 *    read the config start with it; they pin with fg_snap_hold() and end
 *    with fg_snap_release() (any thread).
 *  - fg_snap_worker_drop() releases a worker's references (worker_free). */
#ifndef FRUGAL_SNAP_H
#define FRUGAL_SNAP_H

#include "runtime.h"

void fg_snap_boot(struct fg_app *app);
void fg_snap_publish(struct fg_app *app, struct fg_snap *s);
struct fg_snap *fg_snap_worker(struct fg_worker *w);
struct fg_snap *fg_snap_hold(struct fg_snap *s);
void fg_snap_release(struct fg_snap *s);
void fg_snap_worker_drop(struct fg_worker *w);
/* The boot config's index of route i of s (the same route: name, tiers
 * and weights), or -1. */
static inline int fg_snap_boot_route(const struct fg_snap *s, size_t i)
{
    return s->boot_route ? s->boot_route[i] : (int)i;
}
/* Provider indexes kept across snapshots (the stored-response map,
 * respmap.h) are the boot config's: index i of s to the boot config's
 * provider of the same name, and back; -1 when it has none. */
int fg_snap_provider_to_boot(const struct fg_app *app, const struct fg_snap *s, int i);
int fg_snap_provider_from_boot(const struct fg_app *app, const struct fg_snap *s, int i);
/* Releases app->snap (after every worker dropped its own). */
void fg_snap_app_drop(struct fg_app *app);

#endif
