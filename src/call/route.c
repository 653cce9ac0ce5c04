/* route.c — see route.h. */
#include "route.h"

#include "snap.h"

#include "fmtcheck.h"
#include "keyreg.h"

#include "arena.h"
#include "log.h"
#include "price.h"
#include "provider.h"
#include "coldstart.h"
#include "optpoint.h"
#include "route_labels.h"
#include "router.h"
#include "runtime.h"

#include <libgen.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The built-in weights: $FRUGAL_ROUTER_WEIGHTS, or next to the binary
 * (build/frugal → data/, /usr/local/bin/frugal → share/frugal/). */
bool fg_route_builtin_weights(char *out, size_t n)
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

/* quality_target: score the route's labels with its weights and pick the
 * cheapest operating point that meets the target (optpoint.h).  Without
 * weights the labels cannot be scored: the route serves its frontier model
 * as any route without weights does. */
static int pick_optpoint(struct fg_app *app, size_t i, char *err, size_t errlen)
{
    const struct fg_route_cfg *r = &app->cfg->routes[i];
    if (r->quality_target <= 0 || !r->labels || !app->routers[i])
        return 0;
    char why[512], line[1024];
    struct fg_optpoint_label *l;
    size_t n;
    if (fg_route_labels_load(r->labels, app->routers[i], &l, &n, why, sizeof why) < 0) {
        snprintf(err, errlen, "routes[%zu].labels: %s", i, why);
        return -1;
    }
    fg_optpoint_pick(l, n, r->quality_target, &app->optpoints[i]);
    free(l);
    fg_info("route %s: quality_target %.3f: %s", r->name, r->quality_target,
            fg_optpoint_describe(&app->optpoints[i], line, sizeof line));
    return 0;
}

int fg_route_format_compile(const struct fg_route_cfg *r, struct fg_fmtcheck **out, char *err,
                            size_t errlen)
{
    *out = NULL;
    if (!r->format_pattern && !r->format_schema)
        return 0;
    char why[512];
    *out = fg_fmtcheck_new(r->format_pattern, r->format_schema, why, sizeof why);
    if (!*out) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

int fg_route_init(struct fg_app *app, char *err, size_t errlen)
{
    const struct fg_config *cfg = app->cfg;
    app->routers = fg_xcalloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *app->routers);
    app->optpoints = fg_xcalloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *app->optpoints);
    app->fmtchecks = fg_xcalloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *app->fmtchecks);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        char why[600];
        if (fg_route_format_compile(&cfg->routes[i], &app->fmtchecks[i], why, sizeof why) < 0) {
            snprintf(err, errlen, "routes[%zu].format (line %d): %s", i, cfg->routes[i].format_line,
                     why);
            return -1;
        }
    }
    char path[PATH_MAX], why[256];
    bool have_builtin = fg_route_builtin_weights(path, sizeof path);
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
        if (pick_optpoint(app, i, err, errlen) < 0)
            return -1;
    }
    return 0;
}

void fg_route_free(struct fg_app *app)
{
    for (size_t i = 0; app->routers && i < app->cfg->n_routes; i++)
        fg_router_free(app->routers[i]);
    free(app->routers);
    app->routers = NULL;
    free(app->optpoints);
    app->optpoints = NULL;
    for (size_t i = 0; app->fmtchecks && i < app->cfg->n_routes; i++)
        fg_fmtcheck_free(app->fmtchecks[i]);
    free(app->fmtchecks);
    app->fmtchecks = NULL;
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
bool fg_route_selected(const struct fg_call *c, const char *sel)
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
        if (fg_route_selected(c, sels[i])) {
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
    const struct fg_model_cfg *cheap = fg_config_model(c->snap->cfg, r->cheap);
    const struct fg_builtin_price *b = cheap ? fg_price_lookup(cheap->model) : NULL;
    if (b && b->max_input_tokens > 0 && (int64_t)(c->raw_len / 4) > b->max_input_tokens)
        return c->rt.route = "frontier", "prompt too long for the cheap model";
    return NULL;
}

/* frontier_share wins, then an explicit threshold (config forbids either
 * with quality_target), then quality_target's point on the route's labels,
 * then the operating share recorded in the weights (quality retained >= 96%
 * when trained). */
static double threshold_for(const struct fg_router *rt, const struct fg_route_cfg *r,
                            const struct fg_optpoint *op)
{
    if (op && op->target > 0)
        return op->threshold;
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

/* The weights' cold-start bands (coldstart.h, recorded by `frugal route
 * train`); weights without them are confident nowhere. */
static struct fg_coldstart_bands cold_bands(const struct fg_router *rt)
{
    struct fg_coldstart_bands b = {-INFINITY, INFINITY};
    char buf[48];
    if (fg_router_meta(rt, "cold_cheap_below", buf, sizeof buf))
        b.cheap_below = strtod(buf, NULL);
    if (fg_router_meta(rt, "cold_frontier_at", buf, sizeof buf))
        b.frontier_at = strtod(buf, NULL);
    return b;
}

/* cold_start frontier|cheap on a route without labels of its own: the
 * generic weights decide only inside their confidence bands, the rest goes
 * to the route's cold-start tier.  Reasons start "cold start:" (the spend
 * map counts them). */
static const char *cold_decide(struct fg_call *c, const struct fg_route_cfg *r,
                               const struct fg_router *rt, double score)
{
    struct fg_coldstart_bands b = cold_bands(rt);
    enum fg_coldstart_tier t = fg_coldstart_decide(&b, score);
    if (t == FG_COLDSTART_UNSURE) {
        bool front = r->cold_start == FG_COLD_FRONTIER;
        c->rt.route = front ? "frontier" : "cheap";
        c->rt.reason = fg_arena_printf(&c->arena,
                                       "cold start: classifier score %.3f not confident (cheap "
                                       "below %.3f, frontier from %.3f): %s tier",
                                       score, b.cheap_below, b.frontier_at, c->rt.route);
        return front ? r->frontier : r->cheap;
    }
    bool front = t == FG_COLDSTART_FRONTIER;
    c->rt.route = front ? "frontier" : "cheap";
    c->rt.reason =
        fg_arena_printf(&c->arena, "cold start: classifier confident, score %.3f %s %.3f", score,
                        front ? ">=" : "<", front ? b.frontier_at : b.cheap_below);
    return front ? r->frontier : r->cheap;
}

/* The route's weights: the boot config's router (which retraining swaps
 * atomically, learn_train.h) when the call's snapshot keeps the boot
 * route, else the snapshot's own. */
static const struct fg_router *route_router(const struct fg_call *c, size_t index)
{
    const struct fg_snap *s = c->snap;
    struct fg_router **rs = s->routers;
    size_t i = index;
    if (s->boot_route && s->boot_route[index] >= 0) {
        rs = c->w->app->boot.routers;
        i = (size_t)s->boot_route[index];
    }
    return rs ? __atomic_load_n(&rs[i], __ATOMIC_ACQUIRE) : NULL;
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
    const struct fg_router *rt = route_router(c, index);
    if (!rt) {
        c->rt.route = "frontier";
        c->rt.reason = "no classifier weights";
        return r->frontier;
    }
    const struct fg_optpoint *op = c->snap->optpoints ? &c->snap->optpoints[index] : NULL;
    /* the route's own labels, once it has enough, win over a label file
     * and end its cold start (learned per boot route: snap.h) */
    int bi = fg_snap_boot_route(c->snap, index);
    const struct fg_optpoint *own =
        bi >= 0 && c->w->app->learned_ops
            ? __atomic_load_n(&c->w->app->learned_ops[bi], __ATOMIC_ACQUIRE)
            : NULL;
    if (own && own->target > 0)
        op = own;
    double score = fg_router_score_request(rt, &c->body, c->in->shape);
    if (r->cold_start != FG_COLD_CLASSIFIER && !own && !(op && op->target > 0 && op->n > 0))
        return cold_decide(c, r, rt, score);
    double thr = threshold_for(rt, r, op);
    bool frontier = score >= thr;
    c->rt.route = frontier ? "frontier" : "cheap";
    if (op && op->target > 0 && op->verdict != FG_OPTPOINT_THRESHOLD)
        /* the labels decided for the whole route: say so, not a score */
        c->rt.reason =
            fg_arena_printf(&c->arena, "quality_target %.3f: %s on %zu %slabels", op->target,
                            op->verdict == FG_OPTPOINT_ALL_CHEAP ? "the cheap model alone meets it"
                                                                 : "no cheaper point proves it",
                            op->n, op == own ? "own " : "");
    else
        c->rt.reason = fg_arena_printf(
            &c->arena, "classifier score %.3f %s threshold %.3f%s%s", score, frontier ? ">=" : "<",
            thr,
            op && op->target > 0
                ? (op == own ? " (quality_target, own labels)" : " (quality_target)")
                : "",
            op && op->target > 0 && !op->beats_coin ? "; no better than a coin on its labels" : "");
    return frontier ? r->frontier : r->cheap;
}
