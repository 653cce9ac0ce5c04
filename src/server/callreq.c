/* callreq.c — a call's request headers, read once (see callreq.h). */
#include "callreq.h"

#include "assert.h"
#include "call.h"
#include "keyreg.h"
#include "provider.h"
#include "route.h"

#include "edge.h"
#include "edgeq.h"
#include <string.h>
#include <strings.h>

static const char *copy(struct fg_call *c, const char *v)
{
    return v ? fg_arena_strndup(&c->arena, v, strnlen(v, FG_CALLREQ_MAX_VALUE)) : NULL;
}

static bool have_fwd(const struct fg_call_req *r, const char *name)
{
    for (int i = 0; i < r->n_fwd; i++)
        if (!strcasecmp(r->fwd[i].name, name))
            return true;
    return false;
}

/* The union of the dialects' forwardable headers: the serving dialect is
 * not known yet (routing and failover pick it), so keep each one sent. */
static void read_forwarded(struct fg_call *c, struct fg_edge_req *h)
{
    struct fg_call_req *r = &c->rq;
    for (size_t d = 0; fg_provider_at(d); d++)
        for (const char *const *f = fg_provider_at(d)->forward_headers; f && *f; f++) {
            const char *v = fg_edgeq_header(h, *f);
            if (!v || have_fwd(r, *f))
                continue;
            FG_DASSERT(r->n_fwd < FG_CALL_FWD_MAX); /* the lists are short */
            if (r->n_fwd == FG_CALL_FWD_MAX)
                return;
            r->fwd[r->n_fwd].name = *f; /* static: the dialect's list */
            r->fwd[r->n_fwd++].value = copy(c, v);
        }
}

void fg_callreq_read(struct fg_call *c, struct fg_edge_req *req)
{
    struct fg_edge_req *h = req;
    struct fg_call_req *r = &c->rq;
    memset(r, 0, sizeof *r);
    r->anthropic_version = copy(c, fg_edgeq_header(h, "anthropic-version"));
    r->anthropic_beta = copy(c, fg_edgeq_header(h, "anthropic-beta"));
    r->route_force = fg_route_force_of(fg_edgeq_header(h, "x-frugal-route"));
    const char *cache = fg_edgeq_header(h, "x-frugal-cache");
    r->cache_bypass = cache && !strcasecmp(cache, "bypass");
    r->tags_header = copy(c, fg_edgeq_header(h, "x-frugal-tags"));
    r->sim_fault = copy(c, fg_edgeq_header(h, "x-sim-fault"));
    r->defer = copy(c, fg_edgeq_header(h, "x-frugal-defer"));
    read_forwarded(c, h);
    fg_keyreg_call_tags(&c->arena, c->who.vkey, c->who.key_id, r->tags_header, &c->who.tags);
}
