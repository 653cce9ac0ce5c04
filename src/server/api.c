/* api.c — see api.h. */
#include "api.h"
#include "azure_in.h"

#include "auth.h"
#include "assert.h"
#include "callreq.h"
#include "clock.h"
#include "dash_api.h"
#include "embed.h"
#include "httpclient.h"
#include "keyreg.h"
#include "keys_api.h"
#include "keystore.h"
#include "ledger.h"
#include "passthru.h"
#include "log.h"
#include "report.h"
#include "store.h"
#include "metrics.h"
#include "pipeline.h"
#include "readq.h"
#include "reload.h"
#include "snap.h"
#include "provider.h"
#include "relay.h"
#include "responses_api.h"
#include "reply.h"
#include "server.h"
#include "shared_redis.h"

#include <event2/buffer.h>
#include "edge.h"
#include "edgeq.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/time.h>

/* The endpoint sets higher layers added (api.h): written before the workers
 * start, read-only after. */
static struct {
    const struct fg_api_routes *sets[FG_WORKER_ROUTES];
    int n;
} g_added;

void fg_api_add_routes(const struct fg_api_routes *r)
{
    FG_ASSERT(g_added.n < FG_WORKER_ROUTES);
    g_added.sets[g_added.n++] = r;
}

void fg_api_clear_routes(void)
{
    g_added.n = 0;
}

void fg_api_worker_free(struct fg_worker *w)
{
    for (int i = 0; i < g_added.n; i++) {
        if (w->route_state[i] && g_added.sets[i]->state_free)
            g_added.sets[i]->state_free(w->route_state[i]);
        w->route_state[i] = NULL;
    }
}

/* The index of the first added set that takes path, or -1. */
static int added_set(const char *path)
{
    for (int i = 0; i < g_added.n; i++)
        if (g_added.sets[i]->match(path))
            return i;
    return -1;
}

int fg_api_head(struct fg_edge_req *req, struct fg_worker *w)
{
    const char *path = fg_edgeq_path(req);
    int set = path ? added_set(path) : -1;
    if (set < 0 || !g_added.sets[set]->head)
        return 0;
    return g_added.sets[set]->head(w, &w->route_state[set], req, path);
}

typedef void (*handler_fn)(struct fg_worker *w, struct fg_edge_req *req,
                           const struct fg_dialect_ops *d, const struct fg_principal *p);

static void h_chat(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                   const struct fg_principal *);
static void h_messages(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                       const struct fg_principal *);
static void h_count_tokens(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                           const struct fg_principal *);
static void h_models(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                     const struct fg_principal *);
static void h_embeddings(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                         const struct fg_principal *);
static void h_responses(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                        const struct fg_principal *);
static void h_resp_input_tokens(struct fg_worker *, struct fg_edge_req *,
                                const struct fg_dialect_ops *, const struct fg_principal *);
static void h_healthz(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                      const struct fg_principal *);
static void h_metrics(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                      const struct fg_principal *);
static void h_spend(struct fg_worker *, struct fg_edge_req *, const struct fg_dialect_ops *,
                    const struct fg_principal *);

static const struct route {
    const char *path;
    enum fg_edge_method method;
    int auth; /* requires the master key when one is set */
    handler_fn fn;
} routes[] = {
    {"/v1/chat/completions", FG_EDGE_POST, 1, h_chat},
    {"/v1/messages", FG_EDGE_POST, 1, h_messages},
    {"/v1/messages/count_tokens", FG_EDGE_POST, 1, h_count_tokens},
    {"/v1/models", FG_EDGE_GET, 1, h_models},
    {"/v1/embeddings", FG_EDGE_POST, 1, h_embeddings},
    {"/v1/responses", FG_EDGE_POST, 1, h_responses},
    {"/v1/responses/input_tokens", FG_EDGE_POST, 1, h_resp_input_tokens},
    {"/healthz", FG_EDGE_GET, 0, h_healthz},
    {"/metrics", FG_EDGE_GET, 0, h_metrics},
    {"/frugal/spend", FG_EDGE_GET, 1, h_spend},
    {"/frugal/reload", FG_EDGE_POST, 1, fg_reload_handle}, /* master key: reload.h */
    {"/frugal/spend/timeseries", FG_EDGE_GET, 1, fg_dash_api_timeseries},
    {"/frugal/calls", FG_EDGE_GET, 1, fg_dash_api_calls},
    {"/frugal/spend/batches", FG_EDGE_GET, 1, fg_dash_api_batches},
};

/* Which dialect to answer in before we know the endpoint: Anthropic clients
 * always send anthropic-version; everyone else gets OpenAI's shape. */
static const struct fg_dialect_ops *guess_dialect(struct fg_edge_req *req, const char *path)
{
    struct fg_edge_req *h = req;
    if (fg_edgeq_header(h, "anthropic-version") || (path && !strncmp(path, "/v1/messages", 12)))
        return &fg_provider_anthropic;
    return &fg_provider_openai;
}

static void reply_err(struct fg_edge_req *req, const struct fg_dialect_ops *d,
                      enum fg_err_class cls, const char *param, const char *code, const char *msg)
{
    struct fg_err e;
    fg_err_set(&e, cls, param, code, "%s", msg);
    fg_reply_error(req, d, &e);
}

static void model_by_id(struct fg_worker *w, struct fg_edge_req *req, const struct fg_principal *p,
                        const char *id);
static void inference(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                      const struct fg_principal *p, enum fg_endpoint ep, const char *url_model);

/* Azure-shaped URLs (azure_in.h): the same calls as their /v1 paths. */
static void azure_inbound(struct fg_worker *w, struct fg_edge_req *req, const char *path)
{
    enum fg_endpoint ep;
    char dep[128];
    if (fg_azure_in_map(path, &ep, dep, sizeof dep) < 0) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "Unknown path: %.200s is not an endpoint of this gateway (Azure-shaped paths: "
                 "/openai/deployments/NAME/chat/completions, .../embeddings, /openai/responses).",
                 path);
        reply_err(req, &fg_provider_openai, FG_E_NOT_FOUND, NULL, "unknown_url", msg);
        return;
    }
    if (fg_edge_req_method(req) != FG_EDGE_POST) {
        fg_edge_resp_header(req, "Allow", "POST");
        reply_err(req, &fg_provider_openai, FG_E_METHOD, NULL, "method_not_allowed",
                  "Method not allowed: this path accepts POST only.");
        return;
    }
    struct fg_principal p;
    if (fg_auth_request(w, req, &fg_provider_openai, &p) < 0)
        return;
    const struct fg_dialect_ops *d =
        ep == FG_EP_RESPONSES ? &fg_provider_responses : &fg_provider_openai;
    inference(w, req, d, &p, ep, dep[0] ? dep : NULL);
}

void fg_api_handle(struct fg_edge_req *req, void *arg)
{
    struct fg_worker *w = arg;
    const char *path = fg_edgeq_path(req);
    const struct fg_dialect_ops *d = guess_dialect(req, path);
    enum fg_edge_method method = fg_edge_req_method(req);
    if (path && (!strcmp(path, "/frugal/keys") || !strncmp(path, "/frugal/keys/", 13))) {
        struct fg_principal p;
        if (fg_auth_request(w, req, d, &p) == 0)
            fg_keys_api_handle(w, req, d, &p, path);
        return;
    }
    for (size_t i = 0; path && i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *r = &routes[i];
        if (strcmp(path, r->path) != 0)
            continue;
        /* HEAD is GET without a body (fg_reply_json drops it) */
        if (method != r->method && !(method == FG_EDGE_HEAD && r->method == FG_EDGE_GET)) {
            char msg[160];
            snprintf(msg, sizeof msg, "Method not allowed: %s accepts %s only.", r->path,
                     r->method == FG_EDGE_POST ? "POST" : "GET");
            fg_edge_resp_header(req, "Allow", r->method == FG_EDGE_POST ? "POST" : "GET");
            reply_err(req, d, FG_E_METHOD, NULL, "method_not_allowed", msg);
            return;
        }
        struct fg_principal p;
        if (r->auth) {
            if (fg_auth_request(w, req, d, &p) < 0)
                return;
        } else {
            memset(&p, 0, sizeof p);
        }
        r->fn(w, req, d, &p);
        return;
    }
    if (path && (fg_responses_api_path(path) || !strncmp(path, "/v1/models/", 11))) {
        struct fg_principal p;
        if (fg_auth_request(w, req, d, &p) < 0)
            return;
        if (path[4] == 'm')
            model_by_id(w, req, &p, path + 11);
        else
            fg_responses_api_handle(w, req, &p, path);
        return;
    }
    if (fg_azure_in_path(path)) {
        azure_inbound(w, req, path);
        return;
    }
    if (path && fg_dash_api_ui_path(path)) {
        fg_dash_api_ui(w, req, path); /* the page holds no data: no key */
        return;
    }
    int set = path ? added_set(path) : -1;
    if (set >= 0) {
        struct fg_principal p;
        if (fg_auth_request(w, req, d, &p) == 0)
            g_added.sets[set]->handle(w, &w->route_state[set], req, path, &p);
        return;
    }
    /* every other OpenAI path, metered (an Anthropic client's unknown path
     * is a 404 in its dialect, never sent to an OpenAI provider) */
    if (path && fg_passthru_path(path) && d == &fg_provider_openai) {
        struct fg_principal p;
        if (fg_auth_request(w, req, &fg_provider_openai, &p) == 0)
            fg_passthru_handle(w, req, path, &p);
        return;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "Unknown path: %.200s is not an endpoint of this gateway.",
             path ? path : "?");
    reply_err(req, d, FG_E_NOT_FOUND, NULL, "unknown_url", msg);
}

bool fg_api_known_path(const char *path)
{
    enum fg_endpoint ep;
    char dep[128];
    if (!strcmp(path, "/frugal/keys") || !strncmp(path, "/frugal/keys/", 13) ||
        added_set(path) >= 0 || fg_passthru_path(path) || fg_dash_api_ui_path(path) ||
        fg_azure_in_map(path, &ep, dep, sizeof dep) == 0)
        return true;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(path, routes[i].path))
            return true;
    return false;
}

/* An Azure-shaped call whose body names no model (Azure reads it from the
 * URL): the body gets the URL's model as its first member, parsed again
 * (this path only; the copy lives in the call's arena). */
static int model_from_url(struct fg_call *c)
{
    json_t *js = json_string(c->url_model);
    char *q = json_dumps(js, JSON_ENCODE_ANY);
    json_decref(js);
    const char *rest = c->raw + c->body.t[0].start + 1; /* after '{' */
    size_t before = (size_t)(rest - c->raw), after = c->raw_len - before;
    bool empty = fg_json_child(&c->body, 0) < 0;
    char *raw = fg_arena_printf(&c->arena, "%.*s\"model\":%s%s%.*s", (int)before, c->raw, q,
                                empty ? "" : ",", (int)after, rest);
    free(q);
    c->raw = raw;
    c->raw_len = strlen(raw);
    return fg_json_parse(&c->body, c->raw, c->raw_len);
}

/* Parse and check the body (c->raw, c->raw_len); 0 or -1 with c->err set. */
static int parse_body(struct fg_call *c)
{
    size_t limit = c->w->app->cfg->server.max_body_bytes;
    if (c->raw_len > limit) {
        fg_err_set(&c->err, FG_E_TOO_LARGE, NULL, "request_too_large",
                   "Request body is %zu bytes, over the gateway's limit of %zu bytes "
                   "(server.max_body_bytes).",
                   c->raw_len, limit);
        return -1;
    }
    if (c->raw_len == 0)
        return fg_err_set(&c->err, FG_E_INVALID, NULL, NULL,
                          "Request body is empty: expected a JSON object.");
    const struct fg_server_cfg *sc = &c->w->app->cfg->server;
    c->body.max_depth = (uint32_t)sc->max_json_depth;
    c->body.unique_keys = true;
    int parsed = fg_json_parse(&c->body, c->raw, c->raw_len);
    if (parsed == 0 && c->url_model && fg_json_get(&c->body, 0, "model") < 0 &&
        fg_json_type(&c->body, 0) == FG_J_OBJ)
        parsed = model_from_url(c);
    if (parsed < 0) {
        if (c->body.err == fg_json_err_dup) {
            /* providers keep the last of repeated names: frugal must not
             * price or route one reading while the provider runs another */
            fg_err_set(&c->err, FG_E_INVALID, c->body.err_path, "duplicate_key",
                       "Invalid request: the member '%s' appears more than once (member "
                       "names are compared after decoding escapes); send each name once.",
                       c->body.err_path);
            return -1;
        }
        if (c->body.err == fg_json_err_depth) {
            fg_err_set(&c->err, FG_E_INVALID, NULL, "json_too_deep",
                       "Request body nests JSON deeper than %d levels, the gateway's limit "
                       "(server.max_json_depth).",
                       sc->max_json_depth);
            return -1;
        }
        int line = 1, col = 1;
        for (size_t i = 0; i < c->body.err_off && i < c->raw_len; i++, col++)
            if (c->raw[i] == '\n')
                line++, col = 0;
        return fg_err_set(&c->err, FG_E_INVALID, NULL, NULL,
                          "Request body is not valid JSON: %s (line %d, column %d).", c->body.err,
                          line, col);
    }
    if (fg_json_type(&c->body, 0) != FG_J_OBJ)
        return fg_err_set(&c->err, FG_E_INVALID, NULL, NULL, "Request body must be a JSON object.");
    /* duplicate members anywhere were refused by the parse above (json.h) */
    const char *list = c->in->req.messages;
    int li = fg_json_get(&c->body, 0, list);
    size_t nmsg = fg_json_type(&c->body, li) == FG_J_ARR ? fg_json_count(&c->body, li) : 0;
    if (nmsg > (size_t)sc->max_messages) {
        fg_err_set(&c->err, FG_E_INVALID, list, "too_many_messages",
                   "Too many messages: '%s' has %zu, over the gateway's limit of %d "
                   "(server.max_messages).",
                   list, nmsg, sc->max_messages);
        return -1;
    }
    if ((c->endpoint == FG_EP_EMBEDDINGS ? fg_embed_validate(c, &c->err)
                                         : c->in->validate(&c->body, c->endpoint, &c->err)) < 0)
        return -1;
    c->stream = fg_json_type(&c->body, fg_json_get(&c->body, 0, "stream")) == FG_J_TRUE;
    int m = fg_json_get(&c->body, 0, "model");
    size_t ml = c->body.t[m].end - c->body.t[m].start;
    char *name = fg_arena_alloc(&c->arena, ml);
    long nl = fg_json_str(&c->body, m, name, ml);
    for (long i = 0; i < nl; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            /* a NUL would end the name frugal prices while the provider
             * reads the whole string */
            return fg_err_set(&c->err, FG_E_INVALID, "model", NULL,
                              "Invalid 'model': it contains a control character (byte %ld); "
                              "model names are printable text.",
                              i);
    c->model_name = name;
    if (c->url_model) { /* the URL names the model; the body's goes upstream replaced */
        c->body_model = name;
        c->model_name = c->url_model;
    }
    return 0;
}

/* url_model: the model an Azure-shaped URL named (azure_in.h), or NULL. */
static void inference(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                      const struct fg_principal *p, enum fg_endpoint ep, const char *url_model)
{
    if (w->draining) {
        reply_err(req, d, FG_E_UNAVAILABLE, NULL, "shutting_down",
                  "frugal is shutting down; retry on another instance.");
        return;
    }
    struct fg_call *c = fg_call_new(w);
    fg_httpclient_attach(c, req);
    c->in = d;
    c->who.key_id = fg_arena_strndup(&c->arena, p->key_id, strlen(p->key_id));
    c->who.vkey = p->vkey;
    c->endpoint = ep;
    fg_callreq_read(c, req);
    if (url_model)
        c->url_model = fg_arena_strdup(&c->arena, url_model);
    if (d->client_versioned)
        c->client_version = c->rq.anthropic_version;
    struct evbuffer *in = fg_edge_req_body(req);
    c->raw_len = evbuffer_get_length(in);
    if (c->raw_len <= w->app->cfg->server.max_body_bytes) /* else refused unread */
        c->raw = (const char *)evbuffer_pullup(in, -1);
    fg_api_run_call(c);
}

void fg_api_run_call(struct fg_call *c)
{
    int rc = parse_body(c) < 0 ? -1 : fg_pipeline_run(c);
    if (rc == FG_PIPELINE_WAIT)
        return; /* a stage resumes it and answers (pipeline.h) */
    if (rc < 0) {
        c->status = c->err.status;
        fg_client_send_error(c, true);
    }
    if (rc != 0)
        fg_call_finish(c);
}

static void h_chat(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                   const struct fg_principal *p)
{
    inference(w, req, &fg_provider_openai, p, FG_EP_CHAT, NULL);
}

static void h_messages(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                       const struct fg_principal *p)
{
    inference(w, req, &fg_provider_anthropic, p, FG_EP_MESSAGES, NULL);
}

static void h_count_tokens(struct fg_worker *w, struct fg_edge_req *req,
                           const struct fg_dialect_ops *d, const struct fg_principal *p)
{
    inference(w, req, &fg_provider_anthropic, p, FG_EP_COUNT_TOKENS, NULL);
}

static void h_embeddings(struct fg_worker *w, struct fg_edge_req *req,
                         const struct fg_dialect_ops *d, const struct fg_principal *p)
{
    inference(w, req, &fg_provider_openai, p, FG_EP_EMBEDDINGS, NULL);
}

static void h_responses(struct fg_worker *w, struct fg_edge_req *req,
                        const struct fg_dialect_ops *d, const struct fg_principal *p)
{
    inference(w, req, &fg_provider_responses, p, FG_EP_RESPONSES, NULL);
}

static void h_resp_input_tokens(struct fg_worker *w, struct fg_edge_req *req,
                                const struct fg_dialect_ops *d, const struct fg_principal *p)
{
    inference(w, req, &fg_provider_responses, p, FG_EP_RESP_INPUT_TOKENS, NULL);
}

/* OpenAI list shape by default; Anthropic's when the client sent
 * anthropic-version (the Anthropic SDK's models.list()). */
static void h_models(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                     const struct fg_principal *p)
{
    /* the config calls starting now would run on (held by the worker) */
    const struct fg_config *cfg = fg_snap_worker(w)->cfg;
    json_t *data = json_array();
    /* a virtual key sees what its allow-list lets it call */
    const struct fg_key *k = p->vkey ? &p->vkey->k : NULL;
    for (size_t i = 0; i < cfg->n_models; i++)
        if (!k || fg_keys_allows(k, cfg->models[i].name))
            json_array_append_new(
                data, d->model_entry(cfg->models[i].name,
                                     cfg->providers[cfg->models[i].provider_index].name));
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (!k || fg_keys_allows(k, cfg->routes[i].name))
            json_array_append_new(data, d->model_entry(cfg->routes[i].name, "frugal"));
    json_t *out = d->model_list(data);
    fg_reply_json_value(req, 200, out, JSON_COMPACT);
    json_decref(out);
}

static void h_healthz(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                      const struct fg_principal *p)
{
    /* the store's state does not make frugal unhealthy: calls flow while
     * an unreachable store's records are spooled (ledger.h) */
    struct fg_ledger_stats st;
    fg_ledger_get_stats(&st);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b,
                        "{\"status\":\"%s\",\"store\":{\"state\":\"%s\",\"spool\":%llu,"
                        "\"queue\":%llu}",
                        w->draining ? "draining" : "ok", st.store_down ? "unreachable" : "ok",
                        (unsigned long long)st.spool_depth, (unsigned long long)st.depth);
    /* nor does Redis's: budgets.on_store_down says what calls meet then */
    struct fg_shared *redis = fg_shared_redis_of(fg_shared_process());
    if (redis) {
        struct fg_shared_redis_stats rs;
        fg_shared_redis_stats(redis, &rs);
        evbuffer_add_printf(b, ",\"redis\":{\"state\":\"%s\",\"errors\":%llu}",
                            rs.up ? "ok" : "unreachable", (unsigned long long)rs.errors);
    }
    evbuffer_add(b, "}", 1);
    fg_reply_json(req, w->draining ? 503 : 200, b);
    evbuffer_free(b);
}

static void h_metrics(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                      const struct fg_principal *p)
{
    struct evbuffer *b = evbuffer_new();
    fg_metrics_render(b);
    fg_edge_resp_header(req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    int head = fg_edge_req_method(req) == FG_EDGE_HEAD;
    fg_edge_reply_buf(req, 200, head ? NULL : b);
    evbuffer_free(b);
}

/* GET /frugal/spend?since=24h[&until=T]&by=model&top=10[&key=ID]: the spend map
 * for since <= ts < until (until defaults to now, this ms included).
 * Read on the reader thread (readq.h), never on this loop, whatever the
 * storage.  A virtual key sees only its own calls; an
 * admin sees everyone's, or one key's with ?key=ID (copied to key, n >= 48). */
static int spend_opts(struct fg_edge_req *req, struct fg_report_opts *o, char *key, char *err,
                      size_t n)
{
    const char *query = fg_edgeq_query(req);
    struct fg_arena *a = fg_edge_req_arena(req);
    memset(o, 0, sizeof *o);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    o->until_ms = now + 1; /* the window's end is exclusive: include this ms */
    o->since_ms = now - 24 * 3600 * 1000LL;
    if (!query)
        return 0;
    const char *since = fg_edgeq_param(a, query, "since"), *by = fg_edgeq_param(a, query, "by");
    const char *top = fg_edgeq_param(a, query, "top"), *until = fg_edgeq_param(a, query, "until");
    const char *k = fg_edgeq_param(a, query, "key");
    int rc = 0;
    if (k) {
        snprintf(key, 48, "%s", k);
        o->key_id = key;
    }
    static const char *const dims[] = {"model", "bucket", "technique", "key", "tag", NULL};
    if (since && fg_clock_parse_since(since, now, &o->since_ms) < 0) {
        snprintf(err, n, "Invalid 'since': '%.60s' (use 24h, 30m, 7d or an RFC 3339 time).", since);
        rc = -1;
    } else if (until && fg_clock_parse_since(until, now, &o->until_ms) < 0) {
        snprintf(err, n, "Invalid 'until': '%.60s' (an RFC 3339 time, or 1h for an hour ago).",
                 until);
        rc = -1;
    } else if (by && !fg_report_by_valid(by)) {
        snprintf(err, n, "Invalid 'by': '%.40s' (model, bucket, technique, key or tag).", by);
        rc = -1;
    }
    /* o->by must outlive q: point at our own constant */
    for (int i = 0; by && rc == 0 && dims[i]; i++)
        if (!strcmp(by, dims[i]))
            o->by = dims[i];
    if (top) {
        /* not a number, or out of range: the default (report.h) */
        char *end;
        long v = strtol(top, &end, 10);
        o->top_prefixes = *top && !*end && v > 0 && v <= 1000 ? (int)v : 0;
    }
    return rc;
}

static void h_spend(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                    const struct fg_principal *p)
{
    char err[300], key[48];
    struct fg_report_opts o;
    if (spend_opts(req, &o, key, err, sizeof err) < 0) {
        reply_err(req, d, FG_E_INVALID, NULL, NULL, err);
        return;
    }
    if (!p->admin) {
        if (o.key_id && strcmp(o.key_id, p->key_id)) {
            reply_err(req, d, FG_E_PERMISSION, "key", "permission_denied",
                      "A virtual key sees only its own spend: leave out 'key' or pass its own id.");
            return;
        }
        o.key_id = p->key_id;
    }
    o.cfg = w->app->cfg;           /* (lives as long as the workers) */
    fg_readq_spend(w, req, d, &o); /* never read on this loop (readq.h) */
}

/* GET /v1/models/{id}: one configured model or route, in the Anthropic
 * shape when the caller looks like an Anthropic client (anthropic-version
 * or x-api-key), else OpenAI's; 404 in that dialect when unknown or not
 * on the key's allow-list. */
static void model_by_id(struct fg_worker *w, struct fg_edge_req *req, const struct fg_principal *p,
                        const char *id)
{
    const struct fg_config *cfg = fg_snap_worker(w)->cfg; /* as h_models */
    struct fg_edge_req *h = req;
    int an = fg_edgeq_header(h, "anthropic-version") || fg_edgeq_header(h, "x-api-key");
    const struct fg_dialect_ops *d = an ? &fg_provider_anthropic : &fg_provider_openai;
    if (fg_edge_req_method(req) != FG_EDGE_GET && fg_edge_req_method(req) != FG_EDGE_HEAD) {
        fg_edge_resp_header(req, "Allow", "GET");
        reply_err(req, d, FG_E_METHOD, NULL, "method_not_allowed",
                  "Method not allowed: /v1/models/{id} accepts GET only.");
        return;
    }
    char *name = fg_edgeq_decode(fg_edge_req_arena(req), id, strlen(id), 0);
    const struct fg_model_cfg *m = name ? fg_config_model(cfg, name) : NULL;
    const struct fg_route_cfg *r = name && !m ? fg_config_route(cfg, name) : NULL;
    const struct fg_key *k = p->vkey ? &p->vkey->k : NULL;
    if ((!m && !r) || (k && !fg_keys_allows(k, name))) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "The model '%.200s' does not exist or is not configured in "
                 "frugal (GET /v1/models lists the models this gateway serves).",
                 name ? name : id);
        reply_err(req, d, FG_E_NOT_FOUND, "model", "model_not_found", msg);
        return;
    }
    json_t *out = d->model_entry(name, m ? cfg->providers[m->provider_index].name : "frugal");
    fg_reply_json_value(req, 200, out, JSON_COMPACT);
    json_decref(out);
}
