/* pipeline.c — see pipeline.h. */
#include "pipeline.h"

#include "assert.h"
#include "defer.h"
#include "embed.h"
#include "admit.h"
#include "log.h"
#include "affinity.h"
#include "failover.h"
#include "meter.h"
#include "upcaps.h"
#include "respcache.h"
#include "respstate.h"
#include "share.h"
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

/* (Every dialect pair is translated today: a safety net for a new one.) */
static int untranslatable(struct fg_call *c, const char *asked, const char *model)
{
    fg_err_set(&c->err, FG_E_INVALID, "model", "model_not_supported",
               "This API cannot be translated to the dialect of '%s'%s%s%s's provider; call it "
               "with /v1/chat/completions or /v1/messages instead.",
               asked, strcmp(asked, model) ? " (its tier '" : "", strcmp(asked, model) ? model : "",
               strcmp(asked, model) ? "')" : "");
    return -1;
}

/* The model, and for a route both its tiers (either may answer), must
 * speak the caller's dialect or one it is translated to (translate.h). */
static bool reaches(const struct fg_call *c, enum fg_dialect wire)
{
    return wire == c->in->dialect || fg_translate_has(c->in->shape, wire);
}

static int untranslated_tier(struct fg_call *c, const char *asked)
{
    const struct fg_config *cfg = c->snap->cfg;
    const struct fg_route_cfg *r = c->rt.cfg;
    const char *tiers[3] = {c->serve.model->name, r ? r->cheap : NULL, r ? r->frontier : NULL};
    for (int i = 0; i < 3; i++) {
        const struct fg_model_cfg *m = tiers[i] ? fg_config_model(cfg, tiers[i]) : NULL;
        if (m && !reaches(c, m->dialect))
            return untranslatable(c, asked, m->name);
    }
    return 0;
}

/* model name → configured model (a route picks its tier) → provider. */
static int stage_resolve(struct fg_call *c)
{
    const struct fg_config *cfg = c->snap->cfg;
    const char *name = c->model_name;
    const struct fg_model_cfg *m = fg_config_model(cfg, name);
    c->rt.route = "fixed";
    if (!m) {
        const struct fg_route_cfg *r = fg_config_route(cfg, name);
        if (!r)
            return not_found(c, name);
        if (c->endpoint == FG_EP_EMBEDDINGS)
            return fg_embed_route_error(c, name);
        const char *target = fg_route_decide(c, r, (size_t)(r - cfg->routes));
        c->rt.cfg = r;
        m = fg_config_model(cfg, target);
        c->rt.baseline = fg_config_model(cfg, r->frontier);
        if (!m)
            return not_found(c, target);
    }
    fg_call_use_model(c, m);
    if (fg_embed_check_model(c) < 0)
        return -1;
    if (untranslated_tier(c, name) < 0)
        return -1;
    if (c->endpoint == FG_EP_RESP_INPUT_TOKENS && c->out != c->in)
        return fg_err_set(&c->err, FG_E_INVALID, "model", "model_not_supported",
                          "input_tokens counting is OpenAI's Responses API's; the model '%s' is "
                          "served without it (an Anthropic or Chat-Completions-only provider).",
                          m->name);
    /* token counting is not translated: the model must speak the caller's dialect */
    if (c->endpoint == FG_EP_COUNT_TOKENS && m->dialect != c->in->dialect)
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
    const struct fg_config *cfg = c->snap->cfg;
    const char *ver = c->rq.anthropic_version, *beta = c->rq.anthropic_beta;
    return fg_arena_printf(&c->arena, "%s|%s|%s", cfg->response_cache.shared ? "" : c->who.key_id,
                           ver ? ver : "", beta ? beta : "");
}

/* Key the call for the response cache (before admission: with a shared
 * store the lookup rides in the admission's round trip, share.h). */
static int stage_cachekey(struct fg_call *c)
{
    const struct fg_config *cfg = c->snap->cfg;
    if (c->endpoint == FG_EP_EMBEDDINGS || c->batch.plan || !fg_respcache_enabled() ||
        c->endpoint == FG_EP_COUNT_TOKENS || c->endpoint == FG_EP_RESP_INPUT_TOKENS ||
        c->rq.cache_bypass || (c->in->cacheable && !c->in->cacheable(&c->body, c->stream)))
        return 0;
    c->cache.keyed = fg_respcache_key(&c->body, c->in->shape, c->model_name, cache_partition(c),
                                      cfg->response_cache.allow_sampling, c->cache.key);
    return 0;
}

/* The entry that answers this client: the admission's answer when the
 * cache was asked there, else the cache itself. */
static struct fg_respcache_entry *cache_lookup(struct fg_call *c)
{
    struct fg_shared_val *v;
    if (!fg_share_cached(c, &v))
        return fg_respcache_get_for(c->cache.key, c->in->dialect, c->stream, c->include_usage,
                                    c->meter.acct.ts_ms);
    struct fg_respcache_entry *e = fg_respcache_entry_of(v, c->meter.acct.ts_ms);
    if (e && !fg_respcache_can_answer(e, c->in->dialect, c->stream, c->include_usage)) {
        c->cache.old = e; /* completed with this answer's form when it is stored */
        e = NULL;
    }
    fg_respcache_count(e != NULL);
    return e;
}

/* Answer an exact repeat from the response cache (returns 1), or leave the
 * call keyed so its answer is stored (returns 0). */
static int stage_respcache(struct fg_call *c)
{
    if (c->endpoint == FG_EP_EMBEDDINGS)
        return fg_embed_cache(c); /* per input, not per request */
    c->cache.status = "bypass";
    if (!c->cache.keyed)
        return 0;
    int so = fg_json_get(&c->body, 0, "stream_options");
    c->include_usage =
        fg_json_type(&c->body, fg_json_get(&c->body, so, "include_usage")) == FG_J_TRUE;
    struct fg_respcache_entry *e = cache_lookup(c);
    if (!e) {
        c->cache.status = "miss";
        if (c->stream)
            c->cache.sse = evbuffer_new();
        return 0;
    }
    c->cache.keyed = false; /* answered: nothing to store */
    c->cache.status = "hit";
    c->meter.usage.tok = *fg_respcache_tokens(e);
    c->meter.usage.seen = true;
    fg_relay_answer_cached(c, e);
    fg_respcache_release(e);
    return 1;
}

#define RETRY_WINDOW_MS (120 * 1000LL)

/* The client asks again for the same conversation soon after a cheap
 * answer: a retry, which the route may send to its frontier model. */
static void retry_escalation(struct fg_call *c)
{
    const struct fg_route_cfg *r = c->rt.cfg;
    const struct fg_prefix *p = c->prefix;
    if (!r || strcmp(c->rt.route, "cheap") || !p || p->n == 0 ||
        (c->rt.reason && !strcmp(c->rt.reason, FG_ROUTE_FORCED)))
        return;
    bool on = false;
    for (size_t i = 0; i < r->n_escalate_on; i++)
        on = on || !strcmp(r->escalate_on[i], "retry");
    int64_t prev = p->prev_ms[p->n - 1];
    const struct fg_model_cfg *m = fg_config_model(c->snap->cfg, r->frontier);
    if (!on || !m || prev == 0 || c->meter.acct.ts_ms - prev > RETRY_WINDOW_MS)
        return;
    c->rt.route = "escalated";
    c->rt.reason = "client retry of the same conversation";
    c->rt.escalated = true;
    fg_call_use_model(c, m);
}

/* Several deployments: the least-loaded one, or the one holding the
 * prefix's cache (affinity.h); deployments whose breaker is open are
 * avoided. */
static int stage_deploy(struct fg_call *c)
{
    retry_escalation(c);
    const struct fg_model_cfg *m = c->serve.model;
    const struct fg_config *cfg = c->snap->cfg;
    if (m->n_deployments == 0)
        return 0; /* fg_call_use_model chose deployment 0 */
    int pin = fg_respstate_deployment(c);
    if (pin >= 0) { /* the account holding previous_response_id */
        fg_call_use_deployment(c, pin);
        return 0;
    }
    int64_t now = c->meter.acct.ts_ms + (int64_t)((fg_clock_now_ns() - c->t_start_ns) / 1000000);
    struct fg_affinity_opts o = {
        .load = &c->snap->loads[m - cfg->models],
        .margin = cfg->prompt_caching.affinity_margin,
    };
    for (size_t k = 0; k <= m->n_deployments && k < FG_AFFINITY_MAX_DEPLOYMENTS; k++) {
        int idx = k ? m->deployments[k - 1].provider_index : m->provider_index;
        if (fg_failover_breaker_state(idx, now) == FG_BREAKER_OPEN)
            o.open |= 1u << k;
    }
    /* with a shared store the deployment holding the prefix came with the
     * admission, and the one that answers is recorded at the end (share.h) */
    int held = fg_share_affinity(c, m);
    int k = held == -2
                ? fg_affinity_pick(m, 1 + (int)m->n_deployments, c->prefix, &o, c->meter.acct.ts_ms)
                : fg_affinity_pick_held(1 + (int)m->n_deployments, held, &o);
    fg_call_use_deployment(c, k);
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
    if (!memmem(c->enc.body, c->enc.body_len, "\"output_config\"", 15))
        return;
    json_t *b = json_loadb(c->enc.body, c->enc.body_len, 0, NULL);
    json_t *fmt = json_object_get(json_object_get(b, "output_config"), "format");
    json_t *schema = json_object_get(fmt, "schema");
    char dropped[300] = "";
    json_t *fixed =
        schema ? fg_schema_for_target(schema, FG_SCHEMA_ANTHROPIC, dropped, sizeof dropped) : NULL;
    if (fixed && dropped[0]) {
        fg_warn("%s: schema keywords Anthropic rejects moved or dropped: %s", c->id, dropped);
        json_object_set_new(fmt, "schema", fixed);
        char *s = json_dumps(b, JSON_COMPACT | JSON_REAL_PRECISION(15));
        free(c->enc.body);
        c->enc.body = s;
        c->enc.body_len = strlen(s);
    } else {
        json_decref(fixed);
    }
    json_decref(b);
}

/* A buffered stream (structured, or deferred to a batch): the upstream
 * request must not stream, and OpenAI takes stream_options only with a
 * stream.  The encoded body (else the client's) is rewritten whole: this
 * runs after every splice, the meter's added stream_options included. */
static void unstream_upstream(struct fg_call *c)
{
    json_t *b = c->enc.body ? json_loadb(c->enc.body, c->enc.body_len, 0, NULL)
                            : json_loadb(c->raw, c->raw_len, 0, NULL);
    if (!b)
        return;
    json_object_set_new(b, "stream", json_false());
    json_object_del(b, "stream_options");
    char *s = json_dumps(b, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(b);
    free(c->enc.body);
    c->enc.body = s;
    c->enc.body_len = strlen(s);
}

/* The caller's dialect differs from the provider's: build the upstream
 * body in the provider's dialect, and a stream translator for the way back. */
static int encode_translated(struct fg_call *c)
{
    const struct fg_builtin_price *b = fg_price_lookup(c->serve.upstream_model);
    struct fg_translate_opts o = {
        .upstream_model = c->serve.wire_model,
        .anthropic_version = c->serve.provider->anthropic_version,
        .default_max_tokens = max_output_tokens(c->serve.model),
        .native_structured = b ? b->supports_response_schema : false,
    };
    if (c->so.cap > 0 && c->so.cap < o.default_max_tokens)
        o.default_max_tokens = (int)c->so.cap; /* bounded schema, no client limit */
    struct fg_translate_warnings w = {0};
    int rc = fg_translate_request(c->in->shape, c->out->shape, &c->body, &o, &c->enc.body,
                                  &c->enc.body_len, &w, &c->err);
    for (int i = 0; i < w.n; i++)
        fg_warn("%s translation to %s: %s", c->id, c->out->name, w.msg[i]);
    if (rc < 0)
        return -1;
    if (c->so.client_stream)
        unstream_upstream(c);
    schema_for_anthropic(c); /* a no-op unless the body has Anthropic's output_config */
    char tool[80];
    /* a schema sent as a forced tool: only Anthropic models lack a native form */
    if (c->out->dialect == FG_DIALECT_ANTHROPIC &&
        fg_translate_forced_tool(&c->body, &o, tool, sizeof tool))
        c->so.forced_tool = fg_arena_strdup(&c->arena, tool);
    if (c->stream) {
        int so = fg_json_get(&c->body, 0, "stream_options");
        bool usage =
            fg_json_type(&c->body, fg_json_get(&c->body, so, "include_usage")) == FG_J_TRUE;
        c->enc.tr = fg_translate_stream_new(c->out->shape, c->in->shape, c->model_name, usage);
        if (c->so.forced_tool)
            fg_translate_stream_forced_tool(c->enc.tr, c->so.forced_tool);
        if (c->in->shape == FG_DIALECT_RESPONSES)
            fg_translate_stream_request(c->enc.tr, c->raw, c->raw_len);
    }
    return 0;
}

/* Provider caches are per model: placement evidence is kept per model (the
 * ledger's repeated-context evidence is about content and is not). */
static void placement_evidence(const struct fg_call *c, struct fg_prefix *p)
{
    uint64_t salt = fg_share_salt(c->serve.upstream_model);
    for (int b = 0; b < p->n; b++)
        p->hash[b] ^= salt;
    /* the shared store's sightings came with the admission (share.h) */
    if (!fg_share_evidence(c, p))
        fg_prefix_seen(p, c->meter.acct.ts_ms, 3600 * 1000LL);
    for (int b = 0; b < p->n; b++)
        p->hash[b] ^= salt; /* the cache key and markers use the plain hashes */
}

static struct fg_pc_opts cache_opts(const struct fg_call *c)
{
    const struct fg_config *cfg = c->snap->cfg;
    return (struct fg_pc_opts){
        .dialect = c->out->dialect,
        .model = c->serve.upstream_model,
        .auto_breakpoints = cfg->prompt_caching.auto_breakpoints,
        .openai_cache_key = cfg->prompt_caching.openai_cache_key &&
                            !fg_upcaps_lacks(c->serve.provider_index, FG_UPCAP_CACHE_KEY),
        .ttl_seconds = cfg->prompt_caching.ttl_seconds,
        .now_ms = c->meter.acct.ts_ms,
    };
}

/* Prompt-cache hints on a translated body: index it, plan, splice anew.
 * Its prefix is scanned in the provider's dialect, a keyspace of its own. */
static void cache_translated(struct fg_call *c)
{
    struct fg_json j = {0};
    struct fg_json_edit e[8];
    struct fg_pc_edits out = {e, 0, 8, &c->arena};
    if (c->endpoint == FG_EP_COUNT_TOKENS || fg_json_parse(&j, c->enc.body, c->enc.body_len) < 0)
        goto done;
    struct fg_prefix *p = fg_arena_alloc(&c->arena, sizeof *p);
    fg_prefix_scan(&j, c->out->dialect, p);
    placement_evidence(c, p);
    struct fg_pc_opts o = cache_opts(c);
    fg_promptcache_plan(&j, p, &o, &out);
    if (out.n) {
        qsort(e, out.n, sizeof e[0], cmp_edit);
        size_t n;
        char *body = fg_json_splice(c->enc.body, c->enc.body_len, e, out.n, &n);
        free(c->enc.body);
        c->enc.body = body;
        c->enc.body_len = n;
    }
done:
    fg_json_free(&j);
}

/* Rewrite only what changes: the upstream model id replaces the value of
 * "model", prompt-cache hints are spliced in; every other byte of the
 * client's body is forwarded as sent. */
static int stage_encode(struct fg_call *c)
{
    if (!c->enc.encoded) {
        _Static_assert(sizeof c->enc.req_edits == sizeof c->enc.edits, "same capacity");
        memcpy(c->enc.req_edits, c->enc.edits, c->enc.n_edits * sizeof c->enc.edits[0]);
        c->enc.n_req_edits = c->enc.n_edits;
        c->enc.encoded = true;
    }
    if (c->out != c->in && !reaches(c, c->out->dialect))
        return untranslatable(c, c->model_name, c->serve.model->name); /* a fallback */
    if (fg_respstate_encode(c) < 0)
        return -1;
    fg_defer_unstream(c); /* before the body is built */
    fg_meter_encode(c); /* per model (its dialect decides), once a held stream stopped streaming */
    if (c->endpoint == FG_EP_EMBEDDINGS)
        fg_embed_encode(c); /* only the cache misses go */
    if (c->in != c->out) {
        if (encode_translated(c) < 0)
            return -1;
        cache_translated(c);
        fg_defer_encode(c);
        return 0;
    }
    if (c->prefix && c->endpoint != FG_EP_COUNT_TOKENS) {
        struct fg_pc_edits out = {c->enc.edits + c->enc.n_edits, 0,
                                  sizeof c->enc.edits / sizeof c->enc.edits[0] - c->enc.n_edits,
                                  &c->arena};
        struct fg_pc_opts o = cache_opts(c);
        if (c->in->req.items)
            o.auto_breakpoints = false; /* prompt_cache_key only: items are not messages */
        struct fg_prefix *p = fg_arena_alloc(&c->arena, sizeof *p);
        *p = *c->prefix;
        placement_evidence(c, p);
        fg_promptcache_plan(&c->body, p, &o, &out);
        c->enc.n_edits += out.n;
    }
    if (strcmp(c->serve.wire_model, c->body_model ? c->body_model : c->model_name) != 0) {
        fg_call_edit_model(c);
    }
    fg_defer_encode(c);
    if (c->enc.n_edits > 1)
        qsort(c->enc.edits, c->enc.n_edits, sizeof c->enc.edits[0], cmp_edit);
    if (c->enc.n_edits)
        c->enc.body =
            fg_json_splice(c->raw, c->raw_len, c->enc.edits, c->enc.n_edits, &c->enc.body_len);
    if (c->so.client_stream)
        unstream_upstream(c); /* buffered: structured, or a deferred stream's line */
    return 0;
}

static const struct {
    const char *name;
    fg_stage_fn fn;
} stages[] = {
    {"resolve", stage_resolve},
    {"defer", fg_defer_request},
    {"respstate", fg_respstate_request}, /* before the prompt is measured */
    {"meter", fg_meter_request},
    {"structured", fg_structured_request},
    {"cachekey", stage_cachekey},
    {"admit", fg_admit_request},
    {"respcache", stage_respcache},
    {"deploy", stage_deploy},
    {"encode", stage_encode},
};

int fg_pipeline_reencode(struct fg_call *c)
{
    FG_ASSERT(c->enc.encoded);
    memcpy(c->enc.edits, c->enc.req_edits, c->enc.n_req_edits * sizeof c->enc.edits[0]);
    c->enc.n_edits = c->enc.n_req_edits;
    free(c->enc.body);
    c->enc.body = NULL;
    c->enc.body_len = 0;
    c->so.forced_tool = NULL;
    fg_translate_stream_free(c->enc.tr); /* nothing was streamed yet: a new translator */
    c->enc.tr = NULL;
    if (stage_deploy(c) < 0 || stage_encode(c) < 0)
        return -1;
    return 0;
}

/* The stages from `from` on, then the transfer. */
static int run_from(struct fg_call *c, size_t from)
{
    for (size_t i = from; i < sizeof stages / sizeof stages[0]; i++) {
        c->stage = (int)i;
        int rc = stages[i].fn(c);
        if (rc < 0)
            return -1;
        if (rc == FG_PIPELINE_WAIT)
            return rc; /* the stage resumes the call (fg_pipeline_resume) */
        if (rc > 0)
            return 1; /* answered without the provider */
    }
    /* a provider batch of /v1/responses lines goes to that provider's
     * Responses batch endpoint, which a Chat-only provider lacks (local
     * batches run each line as a call: translated like any) */
    const char *mode = c->serve.provider->batch;
    if (c->batch.plan && c->in->shape == FG_DIALECT_RESPONSES && c->out->shape != c->in->shape &&
        c->out->dialect == c->in->dialect && !(mode && !strcmp(mode, "local")))
        return fg_err_set(&c->err, FG_E_INVALID, "model", "model_not_supported",
                          "The model '%s' is on provider '%s' (responses: false), whose batch API "
                          "takes no /v1/responses lines; set batch: local on that provider, or "
                          "send these lines in a /v1/chat/completions batch.",
                          c->serve.model->name, c->serve.provider->name);
    if (c->batch.plan)
        return c->client.ops->plan(c->client.ctx, c); /* client.h */
    if (fg_defer_hold(c))
        return FG_PIPELINE_WAIT; /* its provider batch line, or real time at the deadline */
    return fg_relay_start(c);
}

int fg_pipeline_run(struct fg_call *c)
{
    return run_from(c, 0);
}

void fg_pipeline_resume(struct fg_call *c, int rc)
{
    FG_ASSERT(c->stage >= 0 && (size_t)c->stage < sizeof stages / sizeof stages[0]);
    if (rc == 0)
        rc = run_from(c, (size_t)c->stage + 1);
    if (rc == FG_PIPELINE_WAIT)
        return;
    /* as the caller of fg_pipeline_run does (server/api.c fg_api_run_call) */
    if (rc < 0) {
        c->status = c->err.status;
        fg_client_send_error(c, true);
    }
    if (rc != 0)
        fg_call_finish(c);
}
