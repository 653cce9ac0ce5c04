/* runtime.h — what a call runs on: the process's shared handles (struct
 * fg_app) and the worker thread whose event loop carries it (struct
 * fg_worker).
 *
 * Contract: server/ creates the app and its workers (server.h: threads,
 * listeners, shutdown) and owns them; call/ and the layers above read them.
 * Workers share only immutable config snapshots (struct fg_snap, snap.h)
 * and the app-level handles, each of which says how it may be shared;
 * everything in a worker belongs to its own thread. */
#ifndef FRUGAL_RUNTIME_H
#define FRUGAL_RUNTIME_H

#include "clock.h"
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct fg_call;
struct curl_slist;
struct fg_sim;
struct fg_store;
struct fg_keystore;
struct fg_router;
struct fg_affinity_load;
struct event_base;
struct event;
struct fg_edge;
struct fg_edge_limits;
struct fg_shared_loop;

/* Endpoint sets a worker keeps state for (server/api.h fg_api_add_routes). */
#define FG_WORKER_ROUTES 4

/* Per-provider runtime facts derived from a config (at startup, and for
 * each reloaded config: snap.h). */
struct fg_provider_rt {
    char *openai_base;    /* URL prefix for OpenAI-dialect paths (…/v1) */
    char *anthropic_base; /* URL prefix for Anthropic paths (no /v1) */
    /* Upstream request headers built once per wire dialect, plain and
     * streaming (content type, no Expect, the provider's key and, for
     * Anthropic, its version); calls that forward client headers or send
     * their own API version build their own list. */
    struct curl_slist *headers[2][2];
    char *url[2][8];              /* full URL per wire dialect and endpoint (fg_endpoint) */
    struct fg_selfhost *selfhost; /* priced by the hour (selfhost.h), or NULL */
    /* selfhost is the boot snapshot's (the same provider and cost after a
     * reload: one server's hours are billed once), not freed with this one */
    bool selfhost_borrowed;
};

/* A config and everything derived from it that calls read: an immutable
 * snapshot (call/snap.h).  Each call pins the snapshot current when it
 * starts and releases it when it ends; a reload (server/reload.h)
 * publishes a new one to every worker.  The boot snapshot is the app's
 * own fields (app->cfg, prov, ...): the app owns them, refs never free it. */
struct fg_snap {
    atomic_int refs;
    const struct fg_config *cfg;
    struct fg_provider_rt *prov;    /* parallel to cfg->providers */
    struct fg_router **routers;     /* per route (see fg_app) */
    struct fg_optpoint *optpoints;  /* per route */
    struct fg_fmtcheck **fmtchecks; /* per route */
    struct fg_affinity_load *loads; /* parallel to cfg->models */
    /* per route: index of the same route (name, weights, tiers) in the boot
     * config, whose router the learning loop retrains (learn_train.h), or
     * -1; NULL in the boot snapshot (every route is its own) */
    int *boot_route;
    uint64_t generation;                /* 0 = boot, then 1, 2, ... per reload */
    void (*free_fn)(struct fg_snap *s); /* at refs 0; NULL: owned elsewhere */
};

struct fg_app {
    /* the config the daemon started with (the boot snapshot's): what the
     * process-wide parts (listeners, edge limits, storage, batches, the
     * learning loop) run on; calls read their own snapshot (c->snap) */
    const struct fg_config *cfg;
    struct fg_provider_rt *prov;   /* parallel to cfg->providers */
    struct fg_sim *sim;            /* in-process sim, if any provider needs it */
    struct fg_router **routers;    /* per route: classifier weights, or NULL */
    struct fg_optpoint *optpoints; /* per route: quality_target's operating
                                       point (route/optpoint.h); target 0 = none */
    /* per route, set by a higher layer (server/learn_train.h) while it
     * runs, else NULL: the operating point from the route's OWN labels
     * (route/learn_point.h), NULL until it has enough; replaced by an
     * atomic pointer exchange, never modified in place */
    struct fg_optpoint **learned_ops;
    struct fg_fmtcheck **fmtchecks; /* per route: its format check, or NULL */
    struct fg_affinity_load *loads; /* parallel to cfg->models: calls in flight
                                         per deployment (affinity.h) */
    char sim_base[64];
    struct fg_worker *workers;
    int nworkers;
    int nstarted; /* worker threads started (server.h) */
    atomic_bool stopping;
    int listen_port;                    /* actual port after bind */
    struct fg_edge_limits *edge_limits; /* connection caps, all workers (server.c) */
    /* set by a higher layer before the workers start, or NULL: sees every
     * call as it ends, answered and before its record is written
     * (server/learn_shadow.h: shadow evaluation of routed calls) */
    void (*call_done)(struct fg_call *c);
    struct fg_snap boot;  /* wraps cfg, prov, routers, ... (snap.h fg_snap_boot) */
    struct fg_snap *snap; /* the current snapshot (one reference), the reloader's */
};

struct fg_worker {
    struct fg_app *app;
    int index;
    pthread_t thread;
    struct event_base *base;
    struct fg_edge *edge; /* the HTTP edge (server/edge.h) on this worker's loop */
    int fd;               /* listening socket (the edge owns it once listening) */
    struct fg_upstream *up;
    struct fg_shared_loop *shared;       /* the shared store's link on this loop (shared.h),
                                      opened and closed on the worker's thread */
    struct fg_store *store;              /* read handle for /frugal/spend, lazily opened */
    struct fg_keystore *keystore;        /* key names for /frugal/spend?by=key, likewise */
    void *route_state[FG_WORKER_ROUTES]; /* per added endpoint set (api.h),
                                            owned by that set */
    uint64_t last_warn_ns, quiet;        /* rate limit of the edge's notes (server.c) */
    struct fg_snap *snap;                /* what calls started here pin (one reference) */
    _Atomic(struct fg_snap *) next_snap; /* published by a reload, not yet taken (one
                                            reference); the worker swaps it in */
    struct fg_call *calls;               /* live calls */
    int inflight;
    uint64_t next_id;
    struct event *stop_ev; /* activated from the signal thread */
    struct event *grace_ev;
    bool draining;
    /* set by the server: a call on this worker ended (finishes a drain) */
    void (*on_call_ended)(struct fg_worker *w);
};

#endif
