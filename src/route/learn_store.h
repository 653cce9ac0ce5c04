/* learn_store.h — a route's labels and weights versions in the store
 * (issue #22 item 2): what shadow evaluation learned, and every version
 * retraining produced, with its evaluation.
 *
 * Contract:
 *  - Tables, in the ledger's storage: the same SQLite file (created if
 *    missing), or the same Postgres database (component "routing"
 *    migrations, learn_store_pg.c, applied at open):
 *      route_labels   (id, route, call_id, ts_ms, label, n_buckets,
 *                      features, prompt): one row per label; features is
 *                      the classifier's feature vector (router.h) as a
 *                      blob: u32 n, u32 bucket[n], f32 value[n],
 *                      f32 dense[FG_ROUTER_N_DENSE], native byte order;
 *                      prompt is NULL unless the route stores prompts.
 *      route_versions (route, version, ts_ms, labels, last_label_id,
 *                      held_out, apgr_before, apgr_after, loss_before,
 *                      loss_after, accepted, weights): every fit, accepted
 *                      or not, with its held-out evaluation; weights is
 *                      the .frw file (router.h) of an accepted version.
 *      route_active   (route, version, ts_ms): the version a route runs;
 *                      no row or version 0 = the built-in weights.
 *      route_lock     (route, owner, until_ms): one replica fits a route
 *                      at a time (a lease that expires).
 *      route_spend    (route, day, pico): a route's learning spend per UTC
 *                      day (day = unix ms / 86,400,000), added to by every
 *                      replica that shares the store (learn_shadow.h).
 *  - A lost Postgres connection (a restart, pg_terminate_backend) fails
 *    the call that meets it (-1, or 0 / false / no rows); the next call
 *    reconnects (at most one attempt a second) and carries on.
 *  - A handle is used by one thread at a time; every call blocks on the
 *    database: never call from a worker's event loop. */
#ifndef FRUGAL_LEARN_STORE_H
#define FRUGAL_LEARN_STORE_H

#include "router.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_learn_store;

int fg_learn_store_open(const char *dsn, struct fg_learn_store **out, char *err, size_t errlen);
void fg_learn_store_close(struct fg_learn_store *s);

/* Append one label (0 or 1).  prompt may be NULL.  0, or -1. */
int fg_learn_store_add_label(struct fg_learn_store *s, const char *route, const char *call_id,
                             int64_t ts_ms, int label, uint32_t n_buckets,
                             const struct fg_route_feats *x, const char *prompt);

/* Labels of a route newer than its last fit (accepted or not). */
int64_t fg_learn_store_new_labels(struct fg_learn_store *s, const char *route);
/* All of a route's labels (-1 on an error). */
int64_t fg_learn_store_label_count(struct fg_learn_store *s, const char *route);

/* All of a route's labels for n_buckets, in id order (owned arrays). */
struct fg_learn_labels {
    size_t n;
    int64_t last_id;
    int *label;
    struct fg_route_feats *x; /* bucket/value point into the arrays below */
    uint32_t *buckets;
    float *values;
};
int fg_learn_store_labels(struct fg_learn_store *s, const char *route, uint32_t n_buckets,
                          struct fg_learn_labels *out);
void fg_learn_store_labels_free(struct fg_learn_labels *l);

/* One fit and its evaluation on the held-out labels. */
struct fg_learn_version {
    const char *route;
    int version; /* set by add_version */
    int64_t ts_ms, labels, last_label_id, held_out;
    double apgr_before, apgr_after, loss_before, loss_after;
    bool accepted;
};
/* Record a fit (weights NULL when rejected); an accepted one becomes the
 * route's active version.  0 with v->version set, or -1. */
int fg_learn_store_add_version(struct fg_learn_store *s, struct fg_learn_version *v,
                               const unsigned char *weights, size_t wlen);
/* The active version (0 = built-in) and its weights (malloc'd, NULL for 0). */
int fg_learn_store_active(struct fg_learn_store *s, const char *route, int *version,
                          unsigned char **weights, size_t *wlen);
/* Make an accepted version (or 0, the built-in weights) active: 0, or -1
 * with err when there is no such accepted version. */
int fg_learn_store_set_active(struct fg_learn_store *s, const char *route, int version, char *err,
                              size_t errlen);
/* The version before the active one among the accepted (0 if none). */
int fg_learn_store_previous(struct fg_learn_store *s, const char *route);
/* Every version of a route, oldest first. */
typedef void (*fg_learn_version_cb)(void *arg, const struct fg_learn_version *v, bool active);
int fg_learn_store_history(struct fg_learn_store *s, const char *route, fg_learn_version_cb cb,
                           void *arg);
/* Take (or renew) the route's fitting lease for ttl_ms: true when owner has it. */
bool fg_learn_store_lock(struct fg_learn_store *s, const char *route, const char *owner,
                         int64_t now_ms, int64_t ttl_ms);
void fg_learn_store_unlock(struct fg_learn_store *s, const char *route, const char *owner);
/* Add pico (>= 0) to the route's learning spend on `day` and return the
 * day's total over every replica, or -1. */
int64_t fg_learn_store_add_spend(struct fg_learn_store *s, const char *route, int64_t day,
                                 int64_t pico);

#endif
