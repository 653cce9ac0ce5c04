/* pipeline.c — see pipeline.h. */
#include "pipeline.h"

#include "log.h"
#include "meter.h"
#include "provider.h"
#include "relay.h"
#include "server.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef int (*fg_stage_fn)(struct fg_call *c);

static int not_found(struct fg_call *c, const char *name)
{
    fg_err_set(&c->err, FG_E_NOT_FOUND, "model",
               "The model '%s' does not exist or is not configured in frugal "
               "(GET /v1/models lists the models this gateway serves).", name);
    snprintf(c->err.code, sizeof c->err.code, "model_not_found");
    return -1;
}

/* model name → configured model → provider; routes serve their frontier
 * model until the router decides per call. */
static int stage_resolve(struct fg_call *c)
{
    const struct fg_config *cfg = c->w->app->cfg;
    const char *name = c->model_name;
    const struct fg_model_cfg *m = fg_config_model(cfg, name);
    c->route = "fixed";
    if (!m) {
        const struct fg_route_cfg *r = fg_config_route(cfg, name);
        if (!r)
            return not_found(c, name);
        m = fg_config_model(cfg, r->frontier);
        c->route = "frontier";
        if (!m)
            return not_found(c, r->frontier);
    }
    c->model = m;
    c->provider = &cfg->providers[m->provider_index];
    /* the simulated provider speaks both dialects */
    enum fg_dialect d = c->provider->type == FG_PROV_SIM ? c->in->dialect : m->dialect;
    if (d != c->in->dialect) {
        fg_err_set(&c->err, FG_E_INVALID, "model",
                   "The model '%s' is served by provider '%s' in the %s dialect; "
                   "calling it through the %s API is not supported yet.",
                   m->name, c->provider->name,
                   d == FG_DIALECT_ANTHROPIC ? "Anthropic" : "OpenAI",
                   c->in->dialect == FG_DIALECT_ANTHROPIC ? "Anthropic" : "OpenAI");
        return -1;
    }
    c->out = fg_dialect_ops(d);
    return 0;
}

static int cmp_edit(const void *a, const void *b)
{
    const struct fg_json_edit *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Rewrite only what changes: the upstream model id replaces the value of
 * "model"; every other byte of the client's body is forwarded as sent. */
static int stage_encode(struct fg_call *c)
{
    if (strcmp(c->model->model, c->model_name) != 0) {
        int m = fg_json_get(&c->body, 0, "model");
        json_t *js = json_string(c->model->model);
        char *q = json_dumps(js, JSON_ENCODE_ANY);
        json_decref(js);
        fg_call_edit(c, c->body.t[m].start, c->body.t[m].end, fg_arena_strdup(&c->arena, q));
        free(q);
    }
    if (c->n_edits > 1)
        qsort(c->edits, c->n_edits, sizeof c->edits[0], cmp_edit);
    if (c->n_edits)
        c->upstream_body = fg_json_splice(c->raw, c->raw_len, c->edits, c->n_edits,
                                          &c->upstream_body_len);
    return 0;
}

static const struct {
    const char *name;
    fg_stage_fn fn;
} stages[] = {
    {"resolve", stage_resolve},
    {"meter", fg_meter_request},
    {"encode", stage_encode},
};

int fg_pipeline_run(struct fg_call *c)
{
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++)
        if (stages[i].fn(c) < 0)
            return -1;
    return fg_relay_start(c);
}
