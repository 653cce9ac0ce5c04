/* snap.c — see snap.h. */
#include "snap.h"

#include "assert.h"

#include <string.h>

void fg_snap_boot(struct fg_app *app)
{
    struct fg_snap *s = &app->boot;
    atomic_init(&s->refs, 0);
    s->cfg = app->cfg;
    s->prov = app->prov;
    s->routers = app->routers;
    s->optpoints = app->optpoints;
    s->fmtchecks = app->fmtchecks;
    s->loads = app->loads;
    s->boot_route = NULL;
    s->generation = 0;
    s->free_fn = NULL;
    app->snap = fg_snap_hold(s);
    for (int i = 0; i < app->nworkers; i++) {
        app->workers[i].snap = fg_snap_hold(s);
        atomic_init(&app->workers[i].next_snap, NULL);
    }
}

struct fg_snap *fg_snap_hold(struct fg_snap *s)
{
    /* the holder already owns a reference (the worker's, or the app's):
     * the count cannot reach 0 under this increment */
    int was = atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    FG_ASSERT(was >= 0);
    return s;
}

void fg_snap_release(struct fg_snap *s)
{
    if (!s)
        return;
    int was = atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel);
    FG_ASSERT(was > 0);
    if (was == 1 && s->free_fn)
        s->free_fn(s);
}

void fg_snap_publish(struct fg_app *app, struct fg_snap *s)
{
    FG_ASSERT(atomic_load(&s->refs) == 1); /* the app's, from its builder */
    for (int i = 0; i < app->nworkers; i++) {
        struct fg_snap *old = atomic_exchange_explicit(&app->workers[i].next_snap, fg_snap_hold(s),
                                                       memory_order_acq_rel);
        fg_snap_release(old); /* published before and never taken */
    }
    struct fg_snap *prev = app->snap;
    app->snap = s;
    fg_snap_release(prev);
}

struct fg_snap *fg_snap_worker(struct fg_worker *w)
{
    /* a plain load first: the exchange (a write) only when a reload left one */
    if (atomic_load_explicit(&w->next_snap, memory_order_acquire)) {
        struct fg_snap *n = atomic_exchange_explicit(&w->next_snap, NULL, memory_order_acq_rel);
        if (n) {
            fg_snap_release(w->snap);
            w->snap = n;
        }
    }
    FG_DASSERT(w->snap);
    return w->snap;
}

void fg_snap_worker_drop(struct fg_worker *w)
{
    fg_snap_release(atomic_exchange(&w->next_snap, NULL));
    fg_snap_release(w->snap);
    w->snap = NULL;
}

void fg_snap_app_drop(struct fg_app *app)
{
    fg_snap_release(app->snap);
    app->snap = NULL;
}

/* Index of the provider named like from->providers[i] in to, or -1. */
static int same_provider(const struct fg_config *from, const struct fg_config *to, int i)
{
    if (from == to || !from || !to)
        return i;
    if (i < 0 || (size_t)i >= from->n_providers)
        return -1;
    for (size_t k = 0; k < to->n_providers; k++)
        if (!strcmp(to->providers[k].name, from->providers[i].name))
            return (int)k;
    return -1;
}

int fg_snap_provider_to_boot(const struct fg_app *app, const struct fg_snap *s, int i)
{
    return same_provider(s->cfg, app->boot.cfg, i);
}

int fg_snap_provider_from_boot(const struct fg_app *app, const struct fg_snap *s, int i)
{
    return same_provider(app->boot.cfg, s->cfg, i);
}
