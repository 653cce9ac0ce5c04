/* report_selfhost.c — see report_selfhost.h. */
#include "report_selfhost.h"

#include "arena.h"
#include "price.h"
#include "report.h"

#include <stdlib.h>
#include <string.h>

struct sh_row {
    const struct fg_provider_cfg *p;
    int index;
    int64_t requests, calls_pico, idle_pico, latency_us;
    struct fg_tokens tok;
};

struct fg_report_selfhost {
    const struct fg_config *cfg;
    struct sh_row *rows;
    size_t n;
};

struct fg_report_selfhost *fg_report_selfhost_new(const struct fg_config *cfg)
{
    size_t n = 0;
    for (size_t i = 0; cfg && i < cfg->n_providers; i++)
        n += cfg->providers[i].cost.per_hour_micro >= 0;
    if (!n)
        return NULL;
    struct fg_report_selfhost *h = fg_xcalloc(1, sizeof *h);
    h->cfg = cfg;
    h->rows = fg_xcalloc(n, sizeof *h->rows);
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].cost.per_hour_micro >= 0) {
            h->rows[h->n].p = &cfg->providers[i];
            h->rows[h->n++].index = (int)i;
        }
    return h;
}

void fg_report_selfhost_add(struct fg_report_selfhost *h, const struct fg_record *r)
{
    for (size_t i = 0; h && r->provider && i < h->n; i++) {
        struct sh_row *w = &h->rows[i];
        if (strcmp(w->p->name, r->provider))
            continue;
        if (r->endpoint && !strcmp(r->endpoint, "idle")) {
            w->idle_pico += r->cost_pico;
            return;
        }
        w->requests++;
        w->calls_pico += r->priced ? r->cost_pico : 0;
        w->latency_us += r->latency_us;
        w->tok.input += r->tok.input;
        w->tok.cache_read += r->tok.cache_read;
        w->tok.cache_write_5m += r->tok.cache_write_5m;
        w->tok.cache_write_1h += r->tok.cache_write_1h;
        w->tok.output += r->tok.output;
        return;
    }
}

/* Does model m run on provider index p (its own or a deployment)? */
static bool serves(const struct fg_model_cfg *m, int p)
{
    if (m->provider_index == p)
        return true;
    for (size_t k = 0; k < m->n_deployments; k++)
        if (m->deployments[k].provider_index == p)
            return true;
    return false;
}

static bool by_token(const struct fg_config *cfg, const struct fg_model_cfg *m)
{
    return m && m->provider_index >= 0 && cfg->providers[m->provider_index].cost.per_hour_micro < 0;
}

/* The cheapest API-priced model of a route that one of p's models serves:
 * these tokens at its price, into *pico; NULL when there is none. */
static const struct fg_model_cfg *cheapest_api(const struct fg_config *cfg, int p,
                                               const struct fg_tokens *t, int64_t *pico)
{
    const struct fg_model_cfg *best = NULL;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct fg_model_cfg *tier[2] = {fg_config_model(cfg, cfg->routes[i].cheap),
                                              fg_config_model(cfg, cfg->routes[i].frontier)};
        if (!(tier[0] && serves(tier[0], p)) && !(tier[1] && serves(tier[1], p)))
            continue;
        for (int k = 0; k < 2; k++) {
            struct fg_price pr;
            if (!by_token(cfg, tier[k]) || !fg_price_of(tier[k], &pr))
                continue;
            int64_t c = fg_price_cost(&pr, t, false);
            if (!best || c < *pico) {
                best = tier[k];
                *pico = c;
            }
        }
    }
    return best;
}

/* num / den with `dec` decimals, as a JSON real (0 when den is 0). */
static json_t *ratio(double num, double den, double scale)
{
    if (den <= 0)
        return json_real(0);
    return json_real((double)(int64_t)(num / den * scale + 0.5) / scale);
}

static json_t *row_json(const struct fg_report_selfhost *h, const struct sh_row *w)
{
    const struct fg_tokens *t = &w->tok;
    int64_t total = w->calls_pico + w->idle_pico;
    double per_hour_pico = (double)w->p->cost.per_hour_micro * 1e6;
    double hours = per_hour_pico > 0 ? (double)total / per_hour_pico : 0;
    int64_t tokens = t->input + t->cache_read + t->cache_write_5m + t->cache_write_1h + t->output;
    json_t *o = json_pack(
        "{ss,so,si,sI,so,so,so,so,so,so,sI,so}", "provider", w->p->name, "per_hour_usd",
        fg_report_usd(w->p->cost.per_hour_micro * 1000000), "max_concurrency",
        w->p->cost.max_concurrency, "requests", (json_int_t)w->requests, "hours",
        ratio((double)total, per_hour_pico, 1e6), "cost_usd", fg_report_usd(total), "calls_usd",
        fg_report_usd(w->calls_pico), "idle_usd", fg_report_usd(w->idle_pico), "busy_share",
        ratio((double)w->calls_pico, (double)total, 1e4), "utilisation",
        ratio((double)w->latency_us / 3.6e9, hours * w->p->cost.max_concurrency, 1e4), "tokens",
        (json_int_t)tokens, "tokens_per_hour", ratio((double)tokens, hours, 1));
    int64_t api_pico = 0;
    const struct fg_model_cfg *m = cheapest_api(h->cfg, w->index, t, &api_pico);
    if (!m || api_pico <= 0 || tokens <= 0) {
        json_object_set_new(o, "api", json_null());
        return o;
    }
    /* per_hour / (api price per token of this mix) */
    json_object_set_new(o, "api",
                        json_pack("{ss,so,so}", "model", m->name, "cost_usd",
                                  fg_report_usd(api_pico), "break_even_tokens_per_hour",
                                  ratio(per_hour_pico * (double)tokens, (double)api_pico, 1)));
    return o;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct sh_row *)a)->p->name, ((const struct sh_row *)b)->p->name);
}

json_t *fg_report_selfhost_json(const struct fg_report_selfhost *h)
{
    json_t *a = json_array();
    qsort(h->rows, h->n, sizeof *h->rows, by_name);
    for (size_t i = 0; i < h->n; i++)
        json_array_append_new(a, row_json(h, &h->rows[i]));
    return a;
}

void fg_report_selfhost_free(struct fg_report_selfhost *h)
{
    if (!h)
        return;
    free(h->rows);
    free(h);
}
