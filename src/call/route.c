/* route.c — see route.h. */
#include "route.h"

#include "keyreg.h"

#include "arena.h"
#include "log.h"
#include "price.h"
#include "provider.h"
#include "router.h"
#include "runtime.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The built-in weights: $FRUGAL_ROUTER_WEIGHTS, or next to the binary
 * (build/frugal → data/, /usr/local/bin/frugal → share/frugal/). */
static bool builtin_weights(char *out, size_t n)
{
    const char *env = getenv("FRUGAL_ROUTER_WEIGHTS");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return true;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return false;
    exe[len] = '\0';
    const char *dir = dirname(exe);
    static const char *const rel[] = {"/../data/router-weights.frw",
                                      "/../share/frugal/router-weights.frw"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(out, n, "%s%s", dir, rel[i]);
        if (access(out, R_OK) == 0)
            return true;
    }
    return false;
}

int fg_route_init(struct fg_app *app, char *err, size_t errlen)
{
    const struct fg_config *cfg = app->cfg;
    app->routers = fg_xcalloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *app->routers);
    char path[PATH_MAX], why[256];
    bool have_builtin = builtin_weights(path, sizeof path);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct fg_route_cfg *r = &cfg->routes[i];
        const char *file = r->weights ? r->weights : have_builtin ? path : NULL;
        if (!file) {
            fg_warn("route %s: no classifier weights found; it serves its frontier model %s",
                    r->name, r->frontier);
            continue;
        }
        app->routers[i] = fg_router_load(file, why, sizeof why);
        if (!app->routers[i] && r->weights) {
            snprintf(err, errlen, "routes[%zu].weights: %s", i, why);
            return -1;
        }
        if (!app->routers[i])
            fg_warn("route %s: built-in weights unusable (%s); it serves its frontier model",
                    r->name, why);
    }
    return 0;
}

void fg_route_free(struct fg_app *app)
{
    for (size_t i = 0; app->routers && i < app->cfg->n_routes; i++)
        fg_router_free(app->routers[i]);
    free(app->routers);
    app->routers = NULL;
}

static bool has_key(const struct fg_json *j, const char *needle)
{
    return memmem(j->src, j->len, needle, strlen(needle)) != NULL;
}

/* Is "k=v" one of the comma-separated items of list? */
static bool tag_in_list(const char *list, const char *kv)
{
    size_t n = strlen(kv);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && p[l - 1] == ' ')
            l--;
        if (l == n && !strncmp(p, kv, n))
            return true;
        p = e ? e + 1 : p + l;
    }
    return false;
}

/* Does a "key:…" / "tag:…" selector match this call? */
static bool selected(struct fg_call *c, const char *sel)
{
    if (!strncmp(sel, "key:", 4))
        return (c->who.key_id && !strcmp(c->who.key_id, sel + 4)) ||
               (c->who.vkey && !strcmp(c->who.vkey->k.name, sel + 4));
    /* the charged tags only: a header a tenant sends must not claim an
     * operator's rule (keyreg.h) */
    return tag_in_list(c->who.tags.charged, sel + 4);
}

static const char *operator_rule(struct fg_call *c, char **sels, size_t n, const char *tier)
{
    for (size_t i = 0; i < n; i++)
        if (selected(c, sels[i])) {
            c->rt.route = tier;
            return fg_arena_printf(&c->arena, "%s tier for %s", tier, sels[i]);
        }
    return NULL;
}

enum fg_route_force fg_route_force_of(const char *h)
{
    if (h && !strcasecmp(h, "frontier"))
        return FG_FORCE_FRONTIER;
    if (h && !strcasecmp(h, "cheap"))
        return FG_FORCE_CHEAP;
    return FG_FORCE_NONE;
}

/* The rules that decide before the classifier does. */
static const char *rule(struct fg_call *c, const struct fg_route_cfg *r)
{
    if (c->rq.route_force == FG_FORCE_FRONTIER)
        return c->rt.route = "frontier", FG_ROUTE_FORCED;
    if (c->rq.route_force == FG_FORCE_CHEAP)
        return c->rt.route = "cheap", FG_ROUTE_FORCED;
    const char *why = operator_rule(c, r->frontier_for, r->n_frontier_for, "frontier");
    if (!why)
        why = operator_rule(c, r->cheap_for, r->n_cheap_for, "cheap");
    if (why)
        return why;
    const struct fg_json *j = &c->body;
    if (r->frontier_on_tools && fg_json_get(j, 0, "tools") >= 0)
        return c->rt.route = "frontier", "request has tools";
    if (r->frontier_on_images && (has_key(j, "\"image_url\"") || has_key(j, "\"type\":\"image\"")))
        return c->rt.route = "frontier", "request has images";
    const struct fg_model_cfg *cheap = fg_config_model(c->w->app->cfg, r->cheap);
    const struct fg_builtin_price *b = cheap ? fg_price_lookup(cheap->model) : NULL;
    if (b && b->max_input_tokens > 0 && (int64_t)(c->raw_len / 4) > b->max_input_tokens)
        return c->rt.route = "frontier", "prompt too long for the cheap model";
    return NULL;
}

/* frontier_share wins, then an explicit threshold, then the operating
 * share recorded in the weights (quality retained >= 96% when trained). */
static double threshold_for(const struct fg_router *rt, const struct fg_route_cfg *r)
{
    if (r->frontier_share >= 0)
        return fg_router_threshold(rt, r->frontier_share);
    if (r->threshold >= 0)
        return r->threshold;
    char buf[32];
    double share = 0.5;
    if (fg_router_meta(rt, "operating_share", buf, sizeof buf))
        share = atof(buf);
    return fg_router_threshold(rt, share);
}

bool fg_route_sampled(const char *id, double rate)
{
    if (rate <= 0)
        return false;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: the id's random part spreads it */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (double)(h % 1000000) < rate * 1000000.0;
}

const char *fg_route_decide(struct fg_call *c, const struct fg_route_cfg *r, size_t index)
{
    /* shadow evaluation (learn_shadow.h) reads the sampled calls' answers */
    c->rt.keep_text = r->learn.judge && fg_route_sampled(c->id, r->learn.sample);
    const char *why = rule(c, r);
    if (why) {
        c->rt.reason = why;
        return strcmp(c->rt.route, "cheap") ? r->frontier : r->cheap;
    }
    /* retraining swaps a route's weights atomically (learn_train.h) */
    const struct fg_router *rt =
        c->w->app->routers ? __atomic_load_n(&c->w->app->routers[index], __ATOMIC_ACQUIRE) : NULL;
    if (!rt) {
        c->rt.route = "frontier";
        c->rt.reason = "no classifier weights";
        return r->frontier;
    }
    double thr = threshold_for(rt, r);
    double score = fg_router_score_request(rt, &c->body, c->in->shape);
    bool frontier = score >= thr;
    c->rt.route = frontier ? "frontier" : "cheap";
    c->rt.reason = fg_arena_printf(&c->arena, "classifier score %.3f %s threshold %.3f", score,
                                   frontier ? ">=" : "<", thr);
    return frontier ? r->frontier : r->cheap;
}
