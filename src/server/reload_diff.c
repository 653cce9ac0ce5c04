/* reload_diff.c — see reload_diff.h. */
#include "reload_diff.h"

#include "price.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Append to the summary (truncated at n, always terminated). */
static void say(char *sum, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *sum, size_t n, const char *fmt, ...)
{
    size_t used = strlen(sum);
    if (used + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sum + used, n - used, fmt, ap);
    va_end(ap);
}

/* out[key] = names, and "; label a, b" in the summary when not empty. */
static void list(json_t *out, const char *key, json_t *names, const char *label, char *sum,
                 size_t n)
{
    size_t k = json_array_size(names);
    if (k) {
        say(sum, n, "%s%s ", *sum ? "; " : "", label);
        for (size_t i = 0; i < k; i++)
            say(sum, n, "%s%s", i ? ", " : "", json_string_value(json_array_get(names, i)));
    }
    json_object_set_new(out, key, names);
}

static bool same_price(const struct fg_price *a, const struct fg_price *b)
{
    return !memcmp(a, b, sizeof *a);
}

/* The model's effective price and schedule as the meter would see them. */
static bool price_changed(const struct fg_model_cfg *a, const struct fg_model_cfg *b)
{
    struct fg_price pa, pb;
    bool ha = fg_price_of(a, &pa), hb = fg_price_of(b, &pb);
    if (ha != hb || (ha && !same_price(&pa, &pb)) || a->n_schedule != b->n_schedule)
        return true;
    for (size_t i = 0; i < a->n_schedule; i++) {
        const struct fg_price_window *x = &a->schedule[i], *y = &b->schedule[i];
        if (x->from_min != y->from_min || x->to_min != y->to_min || x->days != y->days ||
            !same_price(&x->price, &y->price))
            return true;
    }
    return false;
}

static bool model_changed(const struct fg_model_cfg *a, const struct fg_model_cfg *b)
{
    if (!same_str(a->provider, b->provider) || !same_str(a->model, b->model) ||
        a->dialect != b->dialect || a->max_output_tokens != b->max_output_tokens ||
        a->flex != b->flex || a->n_deployments != b->n_deployments)
        return true;
    for (size_t i = 0; i < a->n_deployments; i++)
        if (!same_str(a->deployments[i].provider, b->deployments[i].provider) ||
            !same_str(a->deployments[i].model, b->deployments[i].model))
            return true;
    return false;
}

static bool provider_changed(const struct fg_provider_cfg *a, const struct fg_provider_cfg *b)
{
    return a->type != b->type || !same_str(a->base_url, b->base_url) ||
           !same_str(a->api_key, b->api_key) || !same_str(a->batch, b->batch) ||
           !same_str(a->anthropic_version, b->anthropic_version) ||
           a->timeout_ms != b->timeout_ms || a->connect_timeout_ms != b->connect_timeout_ms ||
           a->responses != b->responses || a->cost.per_hour_micro != b->cost.per_hour_micro ||
           a->cost.max_concurrency != b->cost.max_concurrency;
}

static bool same_strs(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!same_str(a[i], b[i]))
            return false;
    return true;
}

static bool route_changed(const struct fg_route_cfg *a, const struct fg_route_cfg *b)
{
    return !same_str(a->cheap, b->cheap) || !same_str(a->frontier, b->frontier) ||
           a->threshold != b->threshold || a->frontier_share != b->frontier_share ||
           !same_str(a->weights, b->weights) || a->quality_target != b->quality_target ||
           a->cold_start != b->cold_start || !same_str(a->labels, b->labels) ||
           a->frontier_on_tools != b->frontier_on_tools ||
           a->frontier_on_images != b->frontier_on_images ||
           !same_strs(a->escalate_on, a->n_escalate_on, b->escalate_on, b->n_escalate_on) ||
           !same_str(a->format_pattern, b->format_pattern) ||
           !same_str(a->format_schema, b->format_schema) ||
           !same_strs(a->frontier_for, a->n_frontier_for, b->frontier_for, b->n_frontier_for) ||
           !same_strs(a->cheap_for, a->n_cheap_for, b->cheap_for, b->n_cheap_for) ||
           a->learn.sample != b->learn.sample || !same_str(a->learn.judge, b->learn.judge) ||
           a->learn.budget_micro != b->learn.budget_micro;
}

static bool fallbacks_changed(const struct fg_config *a, const struct fg_config *b)
{
    if (a->n_fallbacks != b->n_fallbacks)
        return true;
    for (size_t i = 0; i < a->n_fallbacks; i++)
        if (!same_str(a->fallbacks[i].model, b->fallbacks[i].model) ||
            !same_strs(a->fallbacks[i].to, a->fallbacks[i].n_to, b->fallbacks[i].to,
                       b->fallbacks[i].n_to))
            return true;
    return false;
}

/* The per-call settings sections (each call reads its snapshot's). */
static json_t *settings_changed(const struct fg_config *a, const struct fg_config *b)
{
    json_t *s = json_array();
    if (a->prompt_caching.auto_breakpoints != b->prompt_caching.auto_breakpoints ||
        a->prompt_caching.ttl_seconds != b->prompt_caching.ttl_seconds ||
        a->prompt_caching.openai_cache_key != b->prompt_caching.openai_cache_key ||
        a->prompt_caching.affinity_margin != b->prompt_caching.affinity_margin)
        json_array_append_new(s, json_string("prompt_caching"));
    if (a->response_cache.shared != b->response_cache.shared ||
        a->response_cache.allow_sampling != b->response_cache.allow_sampling)
        json_array_append_new(s, json_string("response_cache"));
    if (a->responses.store != b->responses.store ||
        a->responses.retention_seconds != b->responses.retention_seconds ||
        a->responses.max_bytes != b->responses.max_bytes)
        json_array_append_new(s, json_string("responses"));
    if (a->structured_output.validate != b->structured_output.validate ||
        a->structured_output.repair != b->structured_output.repair ||
        a->structured_output.retries != b->structured_output.retries ||
        !same_str(a->structured_output.stream, b->structured_output.stream))
        json_array_append_new(s, json_string("structured_output"));
    if (a->deferral.min_deadline_s != b->deferral.min_deadline_s ||
        a->deferral.max_deadline_s != b->deferral.max_deadline_s ||
        !same_strs(a->deferral.defer_for, a->deferral.n_defer_for, b->deferral.defer_for,
                   b->deferral.n_defer_for))
        json_array_append_new(s, json_string("deferral"));
    if (a->server.upstream_retries != b->server.upstream_retries)
        json_array_append_new(s, json_string("server.upstream_retries"));
    if (a->server.stream_idle_timeout_ms != b->server.stream_idle_timeout_ms)
        json_array_append_new(s, json_string("server.stream_idle_timeout_ms"));
    if (fallbacks_changed(a, b))
        json_array_append_new(s, json_string("fallbacks"));
    return s;
}

void fg_reload_diff_changes(const struct fg_config *cur, const struct fg_config *next, json_t *out,
                            char *sum, size_t n)
{
    json_t *added = json_array(), *removed = json_array(), *changed = json_array(),
           *prices = json_array();
    for (size_t i = 0; i < next->n_models; i++) {
        const struct fg_model_cfg *m = &next->models[i], *was = fg_config_model(cur, m->name);
        if (!was)
            json_array_append_new(added, json_string(m->name));
        else if (model_changed(was, m))
            json_array_append_new(changed, json_string(m->name));
        if (was && price_changed(was, m))
            json_array_append_new(prices, json_string(m->name));
    }
    for (size_t i = 0; i < cur->n_models; i++)
        if (!fg_config_model(next, cur->models[i].name))
            json_array_append_new(removed, json_string(cur->models[i].name));
    list(out, "models_added", added, "models added", sum, n);
    list(out, "models_removed", removed, "models removed", sum, n);
    list(out, "models_changed", changed, "models changed", sum, n);
    list(out, "prices_changed", prices, "prices changed", sum, n);

    added = json_array(), removed = json_array(), changed = json_array();
    for (size_t i = 0; i < next->n_providers; i++) {
        const struct fg_provider_cfg *p = &next->providers[i],
                                     *was = fg_config_provider(cur, p->name);
        if (!was)
            json_array_append_new(added, json_string(p->name));
        else if (provider_changed(was, p))
            json_array_append_new(changed, json_string(p->name));
    }
    for (size_t i = 0; i < cur->n_providers; i++)
        if (!fg_config_provider(next, cur->providers[i].name))
            json_array_append_new(removed, json_string(cur->providers[i].name));
    list(out, "providers_added", added, "providers added", sum, n);
    list(out, "providers_removed", removed, "providers removed", sum, n);
    list(out, "providers_changed", changed, "providers changed", sum, n);

    added = json_array(), removed = json_array(), changed = json_array();
    for (size_t i = 0; i < next->n_routes; i++) {
        const struct fg_route_cfg *r = &next->routes[i], *was = fg_config_route(cur, r->name);
        if (!was)
            json_array_append_new(added, json_string(r->name));
        else if (route_changed(was, r))
            json_array_append_new(changed, json_string(r->name));
    }
    for (size_t i = 0; i < cur->n_routes; i++)
        if (!fg_config_route(next, cur->routes[i].name))
            json_array_append_new(removed, json_string(cur->routes[i].name));
    list(out, "routes_added", added, "routes added", sum, n);
    list(out, "routes_removed", removed, "routes removed", sum, n);
    list(out, "routes_changed", changed, "routes changed", sum, n);
    list(out, "settings_changed", settings_changed(cur, next), "settings changed", sum, n);
}

/* One setting only a restart applies: named in out (and the summary)
 * when it differs.  running: its value now (NULL for a secret). */
static int restart(json_t *arr, bool differs, const char *key, const char *running,
                   const char *message)
{
    if (!differs)
        return 0;
    json_array_append_new(
        arr, json_pack("{s:s, s:s?, s:s}", "key", key, "running", running, "message", message));
    return 1;
}

#define RUNNING "keeps its running value until frugal restarts"

int fg_reload_diff_restart(const struct fg_config *boot, const struct fg_config *next, json_t *out,
                           char *sum, size_t n)
{
    json_t *a = json_array();
    const struct fg_server_cfg *b = &boot->server, *x = &next->server;
    int k = 0;
    k += restart(a, !same_str(b->listen, x->listen), "server.listen", b->listen,
                 "a new listener address needs a restart: frugal keeps listening on the "
                 "running address");
    k += restart(a, b->workers != x->workers, "server.workers", NULL, RUNNING);
    k += restart(a, !same_str(b->master_key, x->master_key), "server.master_key", NULL,
                 "the running master key stays until frugal restarts");
    bool limits =
        b->max_body_bytes != x->max_body_bytes || b->client_timeout_ms != x->client_timeout_ms ||
        b->shutdown_grace_ms != x->shutdown_grace_ms ||
        b->max_header_bytes != x->max_header_bytes ||
        b->max_header_fields != x->max_header_fields || b->max_json_depth != x->max_json_depth ||
        b->max_messages != x->max_messages || b->max_connections != x->max_connections ||
        b->max_connections_per_ip != x->max_connections_per_ip ||
        b->header_timeout_ms != x->header_timeout_ms || b->body_timeout_ms != x->body_timeout_ms ||
        b->header_timeout_busy_ms != x->header_timeout_busy_ms ||
        b->max_body_bytes_in_flight != x->max_body_bytes_in_flight;
    k += restart(a, limits, "server (limits and timeouts)", NULL, RUNNING);
    k += restart(a, !same_str(b->log_level, x->log_level), "server.log_level", b->log_level,
                 RUNNING);
    k += restart(a, !same_str(b->public_url, x->public_url), "server.public_url", b->public_url,
                 RUNNING);
    k += restart(a, !same_str(boot->storage, next->storage), "storage", NULL, RUNNING);
    k += restart(a, !same_str(boot->spool, next->spool), "spool", boot->spool, RUNNING);
    k += restart(a, !same_str(boot->redis, next->redis), "redis", NULL, RUNNING);
    k += restart(a,
                 !same_str(boot->budgets.on_store_down, next->budgets.on_store_down) ||
                     boot->budgets.lease_seconds != next->budgets.lease_seconds,
                 "budgets", NULL, RUNNING);
    bool tags = boot->n_tag_budgets != next->n_tag_budgets;
    for (size_t i = 0; !tags && i < boot->n_tag_budgets; i++)
        tags = !same_str(boot->tag_budgets[i].tag, next->tag_budgets[i].tag) ||
               boot->tag_budgets[i].limit_pico != next->tag_budgets[i].limit_pico ||
               boot->tag_budgets[i].period != next->tag_budgets[i].period;
    for (size_t i = 0; !tags && i < boot->n_tag_budgets; i++)
        tags = boot->tag_budgets[i].soft != next->tag_budgets[i].soft;
    k += restart(a, tags, "tag_budgets", NULL, RUNNING);
    bool alerts = !same_str(boot->alerts.webhook, next->alerts.webhook) ||
                  boot->alerts.n_at != next->alerts.n_at;
    for (int i = 0; !alerts && i < boot->alerts.n_at; i++)
        alerts = boot->alerts.at[i] != next->alerts.at[i];
    k += restart(a, alerts, "alerts", NULL, RUNNING);
    k += restart(a,
                 boot->gateway_budget.limit_pico != next->gateway_budget.limit_pico ||
                     boot->gateway_budget.period != next->gateway_budget.period ||
                     boot->gateway_budget.soft != next->gateway_budget.soft,
                 "gateway_budget", NULL, RUNNING);
    k += restart(a,
                 boot->response_cache.enabled != next->response_cache.enabled ||
                     boot->response_cache.ttl_seconds != next->response_cache.ttl_seconds ||
                     boot->response_cache.max_bytes != next->response_cache.max_bytes,
                 "response_cache (enabled, ttl_seconds, max_bytes)", NULL, RUNNING);
    k += restart(a,
                 memcmp(&boot->batches, &next->batches, sizeof boot->batches) != 0 &&
                     (boot->batches.window_seconds != next->batches.window_seconds ||
                      boot->batches.poll_ms != next->batches.poll_ms ||
                      boot->batches.poll_max_ms != next->batches.poll_max_ms ||
                      boot->batches.local_concurrency != next->batches.local_concurrency ||
                      boot->batches.local_rps != next->batches.local_rps ||
                      boot->batches.max_file_bytes != next->batches.max_file_bytes ||
                      boot->batches.max_lines != next->batches.max_lines ||
                      boot->batches.retention_days != next->batches.retention_days ||
                      !same_str(boot->batches.storage, next->batches.storage) ||
                      boot->batches.lease_ms != next->batches.lease_ms),
                 "batches", NULL, RUNNING);
    k += restart(a, boot->deferral.window_ms != next->deferral.window_ms, "deferral.window_ms",
                 NULL, RUNNING);
    k += restart(a, !same_str(boot->log.access, next->log.access), "log.access", boot->log.access,
                 "the access log keeps its file until frugal restarts (SIGHUP reopens it)");
    if (k) {
        say(sum, n, "%srestart needed for ", *sum ? "; " : "");
        for (size_t i = 0; i < json_array_size(a); i++)
            say(sum, n, "%s%s", i ? ", " : "",
                json_string_value(json_object_get(json_array_get(a, i), "key")));
        if (!same_str(b->listen, x->listen))
            say(sum, n, " (still listening on %s)", b->listen);
    }
    json_object_set_new(out, "restart_needed", a);
    return k;
}
