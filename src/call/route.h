/* route.h — which tier of a route (virtual model) serves a call.
 *
 * Contract: fg_route_init() loads each route's classifier weights at
 * startup (a route's `weights:` file, else the built-in
 * data/router-weights.frw found next to the binary or via
 * FRUGAL_ROUTER_WEIGHTS); an explicit file that fails to load is a startup
 * error, a missing built-in file leaves routes on their frontier model with
 * a warning.  fg_route_decide() returns the model name to call, with
 * c->route ("cheap"|"frontier") and c->rt.reason set.  Decisions take
 * microseconds and touch no disk.
 *
 * Precedence: the first of these that applies decides, the rest are not
 * consulted.
 *   1. x-frugal-route: frontier|cheap (case-insensitive; any other value is
 *      ignored) — the client's explicit choice, reason FG_ROUTE_FORCED.  It
 *      overrides every rule below, the context-length estimate included: a
 *      forced cheap call that is too long gets the provider's own
 *      context-length error, and forced calls never escalate.
 *   2. the route's operator rules: frontier_for, then cheap_for — a call of
 *      a listed key ("key:ID" or "key:NAME") or charged to a listed tag
 *      ("tag:k=v" in c->who.tags.charged: a virtual key's own tags; the
 *      x-frugal-tags header only for the master key or a gateway without
 *      keys, keyreg.h) goes to that tier.  Unlike the header, these may still escalate.
 *   3. frontier_on_tools and the request offers tools → frontier;
 *   4. frontier_on_images and the request has images → frontier;
 *   5. the body (bytes / 4) is longer than the cheap model's context →
 *      frontier.  Rules 3-5 only ever pick the frontier tier, so among them
 *      the order decides only the reason recorded.
 *   6. cold_start frontier|cheap on a route without labels of its own
 *      (fewer than learn.min_labels gathered by shadow evaluation:
 *      app->learned_ops, route/learn_point.h; and no quality_target with a
 *      non-empty label file): the classifier
 *      decides only inside the weights' confidence bands (coldstart.h,
 *      metadata cold_cheap_below / cold_frontier_at), everything else goes
 *      to the cold-start tier; reasons start "cold start:";
 *   7. the classifier's score against the route's threshold: quality_target's
 *      operating point on the route's OWN labels once it has enough
 *      (app->learned_ops, recomputed by the training thread), else on its
 *      label file (optpoint.h, computed once at startup from `labels:`);
 *      when the labels say all cheap or all frontier the reason says so,
 *      and when the classifier does not beat a coin on them too; else frontier_share's, else
 *      `threshold`, else the weights' recorded share: >= goes frontier;
 *   8. a route without usable weights serves its frontier model.
 *
 * fg_route_init() also compiles each route's format check (fmtcheck.h; a
 * bad pattern or schema is a startup error naming its line) and loads and
 * scores the label file of a route with quality_target (a bad line is a
 * startup error naming FILE:LINE). */
#ifndef FRUGAL_ROUTE_H
#define FRUGAL_ROUTE_H

#include "call.h"

#include <stdbool.h>
#include <stddef.h>

struct fg_app;

/* route_reason of a tier forced by the client; such calls never escalate. */
#define FG_ROUTE_FORCED "forced by x-frugal-route"

struct fg_fmtcheck;

int fg_route_init(struct fg_app *app, char *err, size_t errlen);
/* The built-in weights' path: $FRUGAL_ROUTER_WEIGHTS, or next to the binary
 * (build/frugal -> data/, /usr/local/bin/frugal -> share/frugal/); false
 * when none is readable. */
bool fg_route_builtin_weights(char *out, size_t n);
/* Compile a route's format check (NULL when it has none); -1 with err
 * saying why (for `frugal check` and startup, which add the file line). */
int fg_route_format_compile(const struct fg_route_cfg *r, struct fg_fmtcheck **out, char *err,
                            size_t errlen);
void fg_route_free(struct fg_app *app);
/* x-frugal-route's value (or NULL) as precedence 1 reads it. */
enum fg_route_force fg_route_force_of(const char *header);
/* Does an operator selector ("key:ID_OR_NAME" | "tag:k=v", config.c
 * load_selectors) name this call?  Tags: the charged ones only. */
bool fg_route_selected(const struct fg_call *c, const char *sel);
const char *fg_route_decide(struct fg_call *c, const struct fg_route_cfg *r, size_t index);
/* Is call `id` in a sample of `rate` (0..1) of a route's calls?  A hash of
 * the id, so the decision is made once, when the call is routed (the
 * answer text of a sampled call is kept for shadow evaluation). */
bool fg_route_sampled(const char *id, double rate);

#endif
