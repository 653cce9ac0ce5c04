/* share.h — what a call asks and tells a cross-process shared store
 * (shared.h riders and tell; with `redis:`), so that the response cache,
 * prompt-cache sightings and cache affinity are the same on every replica
 * within the call's two round trips (issue #19): one at admission, one at
 * settlement.
 *
 * Contract:
 *  - fg_share_riders() (the admit stage, before its one apply) returns the
 *    riders of this call, or NULL (the in-process backend; nothing to ask):
 *    the response cache's key (when the respcache-key stage keyed the call),
 *    the prefix hashes the encode stage will place breakpoints on (the
 *    client's body scanned, salted per upstream model as pipeline.c's
 *    placement evidence does; only when the body goes upstream in the
 *    caller's dialect), and the affinity keys (the model's name and the
 *    prefix hashes; only for a model with several deployments).  Its
 *    memory (c->share, arena) holds the answer.
 *  - After the admission, the answer is read through fg_share_cached (a
 *    reference to the value the store holds under the key, or NULL),
 *    fg_share_evidence (the sightings, when the hashes the encode stage
 *    scanned are the ones asked) and fg_share_affinity (the deployment that
 *    holds the prefix, -1 none, -2 not asked: pick locally).  Each says
 *    whether it was asked and answered: unanswered (store down, admission
 *    answered in process) means "miss" for the cache and the in-process
 *    fallbacks for sightings and affinity.
 *  - fg_share_store() keeps the value a miss will store (respcache.h
 *    builds it); fg_share_tell() (fg_call_finish) sends it and the
 *    deployment that answered (affinity) without waiting.
 *  - A refused admission records nothing (the store answers riders only
 *    when the apply succeeds); a cache hit records no sighting. */
#ifndef FRUGAL_SHARE_H
#define FRUGAL_SHARE_H

#include "call.h"
#include "shared.h"

#include <stdbool.h>
#include <stdint.h>

struct fg_prefix;

struct fg_share {
    struct fg_shared_riders rd;
    struct fg_shared_rider_answer ans;
    uint64_t seen[FG_SHARED_MAX_SEEN]; /* salted placement hashes asked */
    const void *aff_model;             /* the model whose affinity was asked */
    struct fg_shared_val *store;       /* a value to store at the end, or NULL */
    int64_t store_expires_ms;
};

const struct fg_shared_riders *fg_share_riders(struct fg_call *c);
/* The salt of placement evidence for an upstream model (pipeline.c). */
uint64_t fg_share_salt(const char *upstream_model);
/* Was the cache asked with the admission?  Then *v is the store's value
 * (a reference the caller owns) or NULL (a miss, or no answer). */
bool fg_share_cached(struct fg_call *c, struct fg_shared_val **v);
/* Sightings of p's (salted) hashes from the admission: true when they are
 * the ones asked and answered (p's prev_ms/gap_ms filled). */
bool fg_share_evidence(const struct fg_call *c, struct fg_prefix *p);
int fg_share_affinity(const struct fg_call *c, const void *model);
/* Takes v (a reference) to store under the call's key until expires_ms. */
void fg_share_store(struct fg_call *c, struct fg_shared_val *v, int64_t expires_ms);
void fg_share_tell(struct fg_call *c);
/* Drop what the call still holds (fg_call_finish). */
void fg_share_release(struct fg_call *c);

#endif
