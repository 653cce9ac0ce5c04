/* share.c — see share.h. */
#include "share.h"

#include "affinity.h"
#include "assert.h"
#include "prefix.h"
#include "provider.h"
#include "respcache.h"
#include "runtime.h"

#include <string.h>

uint64_t fg_share_salt(const char *upstream_model)
{
    uint64_t salt = 0x84222325cbf29ce4ull;
    for (const char *s = upstream_model; s && *s; s++)
        salt = (salt ^ (unsigned char)*s) * 0x100000001b3ull;
    return salt;
}

/* Will the encode stage place breakpoints on the client's own body?  (A
 * translated body is scanned anew in the provider's dialect: its evidence
 * stays in process.) */
static bool places_on_client_body(const struct fg_call *c)
{
    return c->prefix && c->prefix->n > 0 && c->endpoint != FG_EP_COUNT_TOKENS &&
           c->endpoint != FG_EP_RESP_INPUT_TOKENS && c->endpoint != FG_EP_EMBEDDINGS &&
           c->in == c->out && !c->batch.plan;
}

const struct fg_shared_riders *fg_share_riders(struct fg_call *c)
{
    struct fg_shared *s = fg_shared_process();
    if (!s->ops->cross_process || !s->ops->tell || c->batch.plan)
        return NULL;
    struct fg_share *sh = fg_arena_alloc(&c->arena, sizeof *sh);
    memset(sh, 0, sizeof *sh);
    sh->ans.aff_dep = -1;
    struct fg_shared_riders *rd = &sh->rd;
    rd->answer = &sh->ans;
    if (c->cache.keyed) {
        rd->cache_key = c->cache.key;
        rd->cache_ns = "respcache";
    }
    if (places_on_client_body(c)) {
        const struct fg_prefix *p = c->prefix;
        uint64_t salt = fg_share_salt(c->serve.upstream_model);
        FG_ASSERT(p->n <= FG_SHARED_MAX_SEEN);
        for (int b = 0; b < p->n; b++)
            sh->seen[b] = p->hash[b] ^ salt;
        rd->seen = sh->seen;
        rd->nseen = p->n;
        rd->seen_now_ms = c->meter.acct.ts_ms;
    }
    const struct fg_model_cfg *m = c->serve.model;
    if (m && m->n_deployments > 0 && c->prefix && c->prefix->n > 0 && !c->batch.plan) {
        rd->aff_ns = m->name;
        rd->aff = c->prefix->hash;
        rd->naff = c->prefix->n;
        sh->aff_model = m;
    }
    if (!rd->cache_key && !rd->nseen && !rd->naff)
        return NULL;
    c->share = sh;
    return rd;
}

bool fg_share_cached(struct fg_call *c, struct fg_shared_val **v)
{
    *v = NULL;
    struct fg_share *sh = c->share;
    if (!sh || !sh->rd.cache_key)
        return false;
    *v = sh->ans.cached; /* handed over: the call no longer holds it */
    sh->ans.cached = NULL;
    return true;
}

bool fg_share_evidence(const struct fg_call *c, struct fg_prefix *p)
{
    const struct fg_share *sh = c->share;
    if (!sh || !sh->ans.answered || sh->rd.nseen != p->n || p->n == 0)
        return false;
    if (memcmp(sh->seen, p->hash, (size_t)p->n * sizeof p->hash[0]) != 0)
        return false; /* another upstream model (a deployment's own id) */
    memcpy(p->prev_ms, sh->ans.prev_ms, (size_t)p->n * sizeof p->prev_ms[0]);
    memcpy(p->gap_ms, sh->ans.gap_ms, (size_t)p->n * sizeof p->gap_ms[0]);
    return true;
}

int fg_share_affinity(const struct fg_call *c, const void *model)
{
    const struct fg_share *sh = c->share;
    if (!sh || !sh->ans.answered || !sh->rd.naff || sh->aff_model != model)
        return -2;
    return sh->ans.aff_dep;
}

void fg_share_store(struct fg_call *c, struct fg_shared_val *v, int64_t expires_ms)
{
    struct fg_share *sh = c->share;
    if (!sh) {
        fg_shared_val_release(v);
        return;
    }
    fg_shared_val_release(sh->store);
    sh->store = v;
    sh->store_expires_ms = expires_ms;
}

void fg_share_tell(struct fg_call *c)
{
    struct fg_share *sh = c->share;
    if (!sh)
        return;
    struct fg_shared *s = fg_shared_process();
    struct fg_shared_tell t = {.aff_dep = -1};
    if (sh->store && sh->rd.cache_key) {
        t.cache_ns = sh->rd.cache_ns;
        t.cache_key = sh->rd.cache_key;
        t.val = sh->store;
        t.expires_ms = sh->store_expires_ms;
    }
    /* the deployment that answered now holds the prefix (a provider cache
     * lives about an hour after its last use) */
    const struct fg_model_cfg *m = c->serve.model;
    if (sh->rd.naff && m == sh->aff_model && c->status == 200 && c->cache.status &&
        strcmp(c->cache.status, "hit") != 0) {
        t.aff_ns = sh->rd.aff_ns;
        t.aff = sh->rd.aff;
        t.naff = sh->rd.naff;
        t.aff_dep = c->serve.deployment;
        t.aff_ttl_ms = FG_AFFINITY_TTL_MS;
    }
    if (t.cache_key || t.aff_dep >= 0)
        s->ops->tell(s, &t);
}

void fg_share_release(struct fg_call *c)
{
    struct fg_share *sh = c->share;
    if (!sh)
        return;
    fg_shared_val_release(sh->store);
    fg_shared_val_release(sh->ans.cached);
    sh->store = sh->ans.cached = NULL;
}
