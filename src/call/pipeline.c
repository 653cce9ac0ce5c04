/* pipeline.c — see pipeline.h. */
#include "pipeline.h"

#include "embed.h"
#include "admit.h"
#include "log.h"
#include "affinity.h"
#include "failover.h"
#include "meter.h"
#include "respcache.h"
#include "route.h"
#include "schema.h"
#include "structured.h"

#include <event2/buffer.h>
#include <strings.h>
#include "prefix.h"
#include "price.h"
#include "promptcache.h"
#include "translate.h"
#include "provider.h"
#include "relay.h"
#include "runtime.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef int (*fg_stage_fn)(struct fg_call *c);

static int not_found(struct fg_call *c, const char *name)
{
    fg_err_set(&c->err, FG_E_NOT_FOUND, "model", "model_not_found",
               "The model '%s' does not exist or is not configured in frugal "
               "(GET /v1/models lists the models this gateway serves).",
               name);
    return -1;
}

static int responses_refused(struct fg_call *c, const char *asked, const char *model)
{
    fg_err_set(&c->err, FG_E_INVALID, "model", "model_not_supported",
               "The Responses API (/v1/responses) is served for OpenAI-dialect models only; "
               "'%s'%s%s%s is on an Anthropic provider. Call it with /v1/chat/completions or "
               "/v1/messages instead.",
               asked, strcmp(asked, model) ? " (its tier '" : "", strcmp(asked, model) ? model : "",
               strcmp(asked, model) ? "')" : "");
    return -1;
}

/* Responses are not translated (yet): the model, and for a route both its
 * tiers (either may answer), must speak OpenAI's dialect. */
static int responses_on_anthropic(struct fg_call *c, const char *asked)
{
    const struct fg_config *cfg = c->w->app->cfg;
    const struct fg_route_cfg *r = c->route_cfg;
    const char *tiers[3] = {c->model->name, r ? r->cheap : NULL, r ? r->frontier : NULL};
    for (int i = 0; i < 3; i++) {
        const struct fg_model_cfg *m = tiers[i] ? fg_config_model(cfg, tiers[i]) : NULL;
        if (m && m->dialect != FG_DIALECT_OPENAI)
            return responses_refused(c, asked, m->name);
    }
    return 0;
}

/* model name → configured model (a route picks its tier) → provider. */
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
        if (c->endpoint == FG_EP_EMBEDDINGS)
            return fg_embed_route_error(c, name);
        const char *target = fg_route_decide(c, r, (size_t)(r - cfg->routes));
        c->route_cfg = r;
        m = fg_config_model(cfg, target);
        c->baseline_model = fg_config_model(cfg, r->frontier);
        if (!m)
            return not_found(c, target);
    }
    c->model = m;
    c->provider = &cfg->providers[m->provider_index];
    c->provider_index = m->provider_index;
    c->upstream_model = m->model;
    c->out = fg_provider_for(c, m->dialect);
    if (fg_embed_check_model(c) < 0)
        return -1;
    if (c->in == &fg_provider_responses && responses_on_anthropic(c, name) < 0)
        return -1;
    if (c->endpoint == FG_EP_COUNT_TOKENS && m->dialect != FG_DIALECT_ANTHROPIC)
        return fg_err_set(&c->err, FG_E_INVALID, "model", NULL,
                          "count_tokens is an Anthropic endpoint; the model '%s' is served "
                          "in the OpenAI dialect, which has no token counting.",
                          m->name);
    return 0;
}

/* Who may share an answer: everyone (shared) or one client key; the
 * Anthropic version and betas can change an answer's shape. */
static const char *cache_partition(struct fg_call *c)
{
    const struct fg_config *cfg = c->w->app->cfg;
    const char *ver = c->rq.anthropic_version, *beta = c->rq.anthropic_beta;
    return fg_arena_printf(&c->arena, "%s|%s|%s", cfg->response_cache.shared ? "" : c->key_id,
                           ver ? ver : "", beta ? beta : "");
}

/* A Responses answer is a stored object with an id the client may build
 * on (previous_response_id), list, retrieve or delete: a cached copy would
 * hand two callers one id, or an id that was deleted since.  So only
 * stateless calls are cached (store: false, no previous_response_id or
 * conversation, not background), and only non-streamed ones (the cache
 * replays streams in Chat Completions' shape). */
static bool responses_cacheable(const struct fg_call *c)
{
    const struct fg_json *j = &c->body;
    return !c->stream && fg_json_type(j, fg_json_get(j, 0, "store")) == FG_J_FALSE &&
           fg_json_get(j, 0, "previous_response_id") < 0 && fg_json_get(j, 0, "conversation") < 0 &&
           fg_json_type(j, fg_json_get(j, 0, "background")) != FG_J_TRUE;
}

/* Answer an exact repeat from the response cache (returns 1), or key the
 * call so its answer is stored (returns 0). */
static int stage_respcache(struct fg_call *c)
{
    const struct fg_config *cfg = c->w->app->cfg;
    if (c->endpoint == FG_EP_EMBEDDINGS)
        return fg_embed_cache(c); /* per input, not per request */
    c->cache_status = "bypass";
    if (c->batch_plan || !fg_respcache_enabled() || c->endpoint == FG_EP_COUNT_TOKENS ||
        c->endpoint == FG_EP_RESP_INPUT_TOKENS || c->rq.cache_bypass ||
        (c->in == &fg_provider_responses && !responses_cacheable(c)))
        return 0;
    if (!fg_respcache_key(&c->body, fg_provider_call_shape(c), c->model_name, cache_partition(c),
                          cfg->response_cache.allow_sampling, c->cache_key))
        return 0;
    int so = fg_json_get(&c->body, 0, "stream_options");
    c->include_usage =
        fg_json_type(&c->body, fg_json_get(&c->body, so, "include_usage")) == FG_J_TRUE;
    struct fg_respcache_entry *e = fg_respcache_get_for(c->cache_key, c->in->dialect, c->stream,
                                                        c->include_usage, c->acct.ts_ms);
    if (!e) {
        c->cache_status = "miss";
        c->cache_keyed = true;
        if (c->stream)
            c->cache_sse = evbuffer_new();
        return 0;
    }
    c->cache_status = "hit";
    c->usage.tok = *fg_respcache_tokens(e);
    c->usage.seen = true;
    fg_relay_answer_cached(c, e);
    fg_respcache_release(e);
    return 1;
}

#define RETRY_WINDOW_MS (120 * 1000LL)

/* The client asks again for the same conversation soon after a cheap
 * answer: a retry, which the route may send to its frontier model. */
static void retry_escalation(struct fg_call *c)
{
    const struct fg_route_cfg *r = c->route_cfg;
    const struct fg_prefix *p = c->prefix;
    if (!r || strcmp(c->route, "cheap") || !p || p->n == 0 ||
        (c->route_reason && !strcmp(c->route_reason, FG_ROUTE_FORCED)))
        return;
    bool on = false;
    for (size_t i = 0; i < r->n_escalate_on; i++)
        on = on || !strcmp(r->escalate_on[i], "retry");
    int64_t prev = p->prev_ms[p->n - 1];
    const struct fg_model_cfg *m = fg_config_model(c->w->app->cfg, r->frontier);
    if (!on || !m || prev == 0 || c->acct.ts_ms - prev > RETRY_WINDOW_MS)
        return;
    c->route = "escalated";
    c->route_reason = "client retry of the same conversation";
    c->escalated = true;
    c->model = m;
    c->provider_index = m->provider_index;
    c->provider = &c->w->app->cfg->providers[m->provider_index];
    c->upstream_model = m->model;
    c->out = fg_provider_for(c, m->dialect);
}

/* Several deployments: the least-loaded one, or the one holding the
 * prefix's cache (affinity.h); deployments whose breaker is open are
 * avoided. */
static int stage_deploy(struct fg_call *c)
{
    retry_escalation(c);
    const struct fg_model_cfg *m = c->model;
    const struct fg_config *cfg = c->w->app->cfg;
    c->deployment = 0;
    if (m->n_deployments == 0)
        return 0;
    int64_t now = c->acct.ts_ms + (int64_t)((fg_clock_now_ns() - c->t_start_ns) / 1000000);
    struct fg_affinity_opts o = {
        .load = &c->w->app->loads[m - cfg->models],
        .margin = cfg->prompt_caching.affinity_margin,
    };
    for (size_t k = 0; k <= m->n_deployments && k < FG_AFFINITY_MAX_DEPLOYMENTS; k++) {
        int idx = k ? m->deployments[k - 1].provider_index : m->provider_index;
        if (fg_failover_breaker_state(idx, now) == FG_BREAKER_OPEN)
            o.open |= 1u << k;
    }
    int k = fg_affinity_pick(m, 1 + (int)m->n_deployments, c->prefix, &o, c->acct.ts_ms);
    c->deployment = k;
    if (k > 0) {
        const struct fg_deployment *d = &m->deployments[k - 1];
        c->provider_index = d->provider_index;
        c->provider = &cfg->providers[d->provider_index];
        c->upstream_model = d->model;
    }
    return 0;
}

static int cmp_edit(const void *a, const void *b)
{
    const struct fg_json_edit *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static int max_output_tokens(const struct fg_model_cfg *m)
{
    const struct fg_builtin_price *b = fg_price_lookup(m->model);
    if (m->max_output_tokens > 0)
        return m->max_output_tokens;
    return b && b->max_output_tokens > 0 ? b->max_output_tokens : 4096;
}

/* Anthropic's native structured output accepts a subset of JSON Schema:
 * rewrite the translated schema for it (what moved goes into the
 * descriptions, as Anthropic's SDK does) and say so in the log. */
static void schema_for_anthropic(struct fg_call *c)
{
    if (!memmem(c->upstream_body, c->upstream_body_len, "\"output_config\"", 15))
        return;
    json_t *b = json_loadb(c->upstream_body, c->upstream_body_len, 0, NULL);
    json_t *fmt = json_object_get(json_object_get(b, "output_config"), "format");
    json_t *schema = json_object_get(fmt, "schema");
    char dropped[300] = "";
    json_t *fixed =
        schema ? fg_schema_for_target(schema, FG_SCHEMA_ANTHROPIC, dropped, sizeof dropped) : NULL;
    if (fixed && dropped[0]) {
        fg_warn("%s: schema keywords Anthropic rejects moved or dropped: %s", c->id, dropped);
        json_object_set_new(fmt, "schema", fixed);
        char *s = json_dumps(b, JSON_COMPACT | JSON_REAL_PRECISION(15));
        free(c->upstream_body);
        c->upstream_body = s;
        c->upstream_body_len = strlen(s);
    } else {
        json_decref(fixed);
    }
    json_decref(b);
}

/* A buffered structured stream: the translated request must not stream. */
static void unstream_upstream(struct fg_call *c)
{
    json_t *b = json_loadb(c->upstream_body, c->upstream_body_len, 0, NULL);
    if (!b)
        return;
    json_object_set_new(b, "stream", json_false());
    json_object_del(b, "stream_options");
    char *s = json_dumps(b, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(b);
    free(c->upstream_body);
    c->upstream_body = s;
    c->upstream_body_len = strlen(s);
}

/* The caller's dialect differs from the provider's: build the upstream
 * body in the provider's dialect, and a stream translator for the way back. */
static int encode_translated(struct fg_call *c)
{
    const struct fg_builtin_price *b = fg_price_lookup(c->upstream_model);
    struct fg_translate_opts o = {
        .upstream_model = c->upstream_model,
        .anthropic_version = c->provider->anthropic_version,
        .default_max_tokens = max_output_tokens(c->model),
        .native_structured = b ? b->supports_response_schema : false,
    };
    if (c->so_cap > 0 && c->so_cap < o.default_max_tokens)
        o.default_max_tokens = (int)c->so_cap; /* bounded schema, no client limit */
    struct fg_translate_warnings w = {0};
    int rc = c->in->dialect == FG_DIALECT_OPENAI
                 ? fg_translate_request_oa_to_an(&c->body, &o, &c->upstream_body,
                                                 &c->upstream_body_len, &w, &c->err)
                 : fg_translate_request_an_to_oa(&c->body, &o, &c->upstream_body,
                                                 &c->upstream_body_len, &w, &c->err);
    for (int i = 0; i < w.n; i++)
        fg_warn("%s translation to %s: %s", c->id, c->out->name, w.msg[i]);
    if (rc < 0)
        return -1;
    if (c->client_stream)
        unstream_upstream(c);
    if (c->out->dialect == FG_DIALECT_ANTHROPIC)
        schema_for_anthropic(c);
    char tool[80];
    if (fg_translate_forced_tool(&c->body, &o, tool, sizeof tool))
        c->forced_tool = fg_arena_strdup(&c->arena, tool);
    if (c->stream) {
        int so = fg_json_get(&c->body, 0, "stream_options");
        bool usage =
            fg_json_type(&c->body, fg_json_get(&c->body, so, "include_usage")) == FG_J_TRUE;
        c->tr = fg_translate_stream_new(c->out->dialect, c->in->dialect, c->model_name, usage);
        if (c->forced_tool)
            fg_translate_stream_forced_tool(c->tr, c->forced_tool);
    }
    return 0;
}

/* Provider caches are per model: placement evidence is kept per model (the
 * ledger's repeated-context evidence is about content and is not). */
static void placement_evidence(const struct fg_call *c, struct fg_prefix *p)
{
    uint64_t salt = 0x84222325cbf29ce4ull;
    for (const char *s = c->upstream_model; *s; s++)
        salt = (salt ^ (unsigned char)*s) * 0x100000001b3ull;
    for (int b = 0; b < p->n; b++)
        p->hash[b] ^= salt;
    fg_prefix_seen(p, c->acct.ts_ms, 3600 * 1000LL);
    for (int b = 0; b < p->n; b++)
        p->hash[b] ^= salt; /* the cache key and markers use the plain hashes */
}

static struct fg_pc_opts cache_opts(const struct fg_call *c)
{
    const struct fg_config *cfg = c->w->app->cfg;
    return (struct fg_pc_opts){
        .dialect = c->out->dialect,
        .model = c->upstream_model,
        .auto_breakpoints = cfg->prompt_caching.auto_breakpoints,
        .openai_cache_key = cfg->prompt_caching.openai_cache_key,
        .ttl_seconds = cfg->prompt_caching.ttl_seconds,
        .now_ms = c->acct.ts_ms,
    };
}

/* Prompt-cache hints on a translated body: index it, plan, splice anew.
 * Its prefix is scanned in the provider's dialect, a keyspace of its own. */
static void cache_translated(struct fg_call *c)
{
    struct fg_json j = {0};
    struct fg_json_edit e[8];
    struct fg_pc_edits out = {e, 0, 8, &c->arena};
    if (c->endpoint == FG_EP_COUNT_TOKENS ||
        fg_json_parse(&j, c->upstream_body, c->upstream_body_len) < 0)
        goto done;
    struct fg_prefix *p = fg_arena_alloc(&c->arena, sizeof *p);
    fg_prefix_scan(&j, c->out->dialect, p);
    placement_evidence(c, p);
    struct fg_pc_opts o = cache_opts(c);
    fg_promptcache_plan(&j, p, &o, &out);
    if (out.n) {
        qsort(e, out.n, sizeof e[0], cmp_edit);
        size_t n;
        char *body = fg_json_splice(c->upstream_body, c->upstream_body_len, e, out.n, &n);
        free(c->upstream_body);
        c->upstream_body = body;
        c->upstream_body_len = n;
    }
done:
    fg_json_free(&j);
}

/* Rewrite only what changes: the upstream model id replaces the value of
 * "model", prompt-cache hints are spliced in; every other byte of the
 * client's body is forwarded as sent. */
static int stage_encode(struct fg_call *c)
{
    if (c->in == &fg_provider_responses && c->out != c->in)
        return responses_refused(c, c->model_name, c->model->name); /* a fallback */
    if (c->endpoint == FG_EP_EMBEDDINGS)
        fg_embed_encode(c); /* only the cache misses go */
    if (c->in != c->out) {
        if (encode_translated(c) < 0)
            return -1;
        cache_translated(c);
        return 0;
    }
    if (c->prefix && c->endpoint != FG_EP_COUNT_TOKENS) {
        struct fg_pc_edits out = {c->edits + c->n_edits, 0,
                                  sizeof c->edits / sizeof c->edits[0] - c->n_edits, &c->arena};
        struct fg_pc_opts o = cache_opts(c);
        if (c->in == &fg_provider_responses)
            o.auto_breakpoints = false; /* prompt_cache_key only: items are not messages */
        struct fg_prefix *p = fg_arena_alloc(&c->arena, sizeof *p);
        *p = *c->prefix;
        placement_evidence(c, p);
        fg_promptcache_plan(&c->body, p, &o, &out);
        c->n_edits += out.n;
    }
    if (strcmp(c->upstream_model, c->model_name) != 0) {
        fg_call_edit_model(c);
    }
    if (c->n_edits > 1)
        qsort(c->edits, c->n_edits, sizeof c->edits[0], cmp_edit);
    if (c->n_edits)
        c->upstream_body =
            fg_json_splice(c->raw, c->raw_len, c->edits, c->n_edits, &c->upstream_body_len);
    return 0;
}

static const struct {
    const char *name;
    fg_stage_fn fn;
} stages[] = {
    {"resolve", stage_resolve},
    {"meter", fg_meter_request},
    {"structured", fg_structured_request},
    {"admit", fg_admit_request},
    {"respcache", stage_respcache},
    {"deploy", stage_deploy},
    {"encode", stage_encode},
};

int fg_pipeline_reencode(struct fg_call *c)
{
    c->n_edits = 0;
    free(c->upstream_body);
    c->upstream_body = NULL;
    c->upstream_body_len = 0;
    c->forced_tool = NULL;
    fg_translate_stream_free(c->tr); /* nothing was streamed yet: a new translator */
    c->tr = NULL;
    if (stage_deploy(c) < 0 || stage_encode(c) < 0)
        return -1;
    return 0;
}

int fg_pipeline_run(struct fg_call *c)
{
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        int rc = stages[i].fn(c);
        if (rc < 0)
            return -1;
        if (rc > 0)
            return 1; /* answered without the provider */
    }
    if (c->batch_plan)
        return c->client.ops->plan(c->client.ctx, c); /* client.h */
    return fg_relay_start(c);
}
