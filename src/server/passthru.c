/* passthru.c — see passthru.h. */
#include "passthru.h"

#include "azure.h"
#include "pipeline.h"

#include "admit.h"
#include "auth.h"
#include "callreq.h"
#include "httpclient.h"
#include "keyreg.h"
#include "keys.h"
#include "meter.h"
#include "multipart.h"
#include "provider.h"
#include "redact.h"
#include "relay.h"
#include "reply.h"
#include "server.h"

#include <ctype.h>
#include <event2/buffer.h>
#include "edge.h"
#include "edgeq.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ANSWER (64u << 20) /* a provider answer larger than this is refused */
#define MAX_PARTS 64
#define MAX_MODEL 200

bool fg_passthru_path(const char *path)
{
    /* /v1/messages... is Anthropic's: never sent to an OpenAI provider */
    return path && !strncmp(path, "/v1/", 4) && path[4] && strncmp(path, "/v1/messages", 12);
}

static bool seg_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '~' || ch == '-' ||
           ch == ':';
}

int fg_passthru_check_path(const char *path, const char *query, const char **why)
{
    *why = NULL;
    if (!path || strncmp(path, "/v1/", 4))
        return *why = "the path must start with /v1/", -1;
    for (const char *s = path + 4;;) {
        size_t n = strcspn(s, "/");
        if (n == 0)
            return *why = "the path has an empty segment (//)", -1;
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return *why = "the path has a '.' or '..' segment", -1;
        for (size_t i = 0; i < n; i++)
            if (!seg_char(s[i]))
                return *why = s[i] == '%' ? "the path is percent-encoded"
                                          : "the path has a character other than letters, "
                                            "digits and . _ ~ : -",
                       -1;
        if (!s[n])
            break;
        s += n + 1;
        if (!*s)
            return *why = "the path ends with '/'", -1;
    }
    for (const char *q = query; q && *q; q++)
        if (*q <= 0x20 || *q >= 0x7f || *q == '#')
            return *why = "the query has a space, a control or a non-ASCII character", -1;
    return 0;
}

/* ---- which model, which provider ----------------------------------------- */

static const char *json_model(struct fg_call *c, const char **bad)
{
    *bad = NULL;
    static const char *const keys[] = {"model", NULL};
    const char *why;
    if (fg_json_check_keys(&c->body, 0, keys, &why)) {
        *bad = "the key 'model' is ambiguous (repeated or escaped)";
        return NULL;
    }
    int m = fg_json_get(&c->body, 0, "model");
    if (fg_json_type(&c->body, m) != FG_J_STR)
        return NULL;
    size_t n = c->body.t[m].end - c->body.t[m].start;
    char *s = fg_arena_alloc(&c->arena, n);
    return fg_json_str(&c->body, m, s, n) > 0 ? s : NULL;
}

static const char *form_model(struct fg_call *c, const char *ctype)
{
    struct fg_mp_part *parts = fg_arena_alloc(&c->arena, MAX_PARTS * sizeof *parts);
    char err[200];
    int n = fg_multipart_parse(ctype, c->raw, c->raw_len, parts, MAX_PARTS, err, sizeof err);
    const struct fg_mp_part *m = n > 0 ? fg_multipart_find(parts, n, "model") : NULL;
    if (!m || m->len == 0 || m->len > MAX_MODEL)
        return NULL;
    return fg_arena_strndup(&c->arena, m->data, m->len);
}

/* The provider for calls that name no configured model. */
static int default_provider(const struct fg_config *cfg)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].type == FG_PROV_OPENAI)
            return (int)i;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].type == FG_PROV_SIM)
            return (int)i;
    return -1;
}

static int fail(struct fg_call *c, enum fg_err_class cls, const char *param, const char *code,
                const char *msg)
{
    fg_err_set(&c->err, cls, param, code, "%s", msg);
    return -1;
}

/* A model the config doesn't list: priced from the built-in table if it
 * is there (fg_price_of falls back to it), served by the default provider. */
static struct fg_model_cfg *adhoc_model(struct fg_call *c, const char *name, int prov)
{
    struct fg_model_cfg *m = fg_arena_alloc(&c->arena, sizeof *m);
    memset(m, 0, sizeof *m);
    m->name = m->model = (char *)name;
    m->provider = c->snap->cfg->providers[prov].name;
    m->provider_index = prov;
    m->dialect = FG_DIALECT_OPENAI;
    m->price = (struct fg_price){-1, -1, -1, -1, -1, -1, -1};
    return m;
}

static int resolve(struct fg_call *c, const char *model)
{
    const struct fg_config *cfg = c->snap->cfg;
    const struct fg_model_cfg *m = model ? fg_config_model(cfg, model) : NULL;
    if (model && !m && fg_config_route(cfg, model))
        return fail(c, FG_E_INVALID, "model", "model_not_supported",
                    fg_arena_printf(&c->arena,
                                    "The model '%.100s' is a route, which picks "
                                    "between chat models; %s needs a model.",
                                    model, c->pass_path));
    if (m && m->dialect != FG_DIALECT_OPENAI)
        return fail(c, FG_E_INVALID, "model", "model_not_supported",
                    fg_arena_printf(&c->arena,
                                    "The model '%.100s' is served in the Anthropic "
                                    "dialect, which has no %s.",
                                    model, c->pass_path));
    if (!m) {
        int prov = default_provider(cfg);
        if (prov < 0)
            return fail(c, FG_E_NOT_FOUND, NULL, "unknown_url",
                        fg_arena_printf(&c->arena,
                                        "%s is an OpenAI path and no OpenAI provider "
                                        "is configured.",
                                        c->pass_path));
        /* no model: the path stands for it (unpriced, and never in an allow-list) */
        m = adhoc_model(c, model ? model : c->pass_path, prov);
    }
    c->model_name = model ? model : c->pass_path;
    fg_call_use_model(c, m); /* an OpenAI-dialect model: c->out is OpenAI's */
    c->rt.route = "fixed";
    c->cache.status = "bypass";
    return 0;
}

/* ---- the transfer --------------------------------------------------------- */

static bool relayed(const char *name, size_t n)
{
    static const char *const exact[] = {"x-request-id",   "retry-after",          "retry-after-ms",
                                        "x-should-retry", "openai-processing-ms", NULL};
    for (int i = 0; exact[i]; i++)
        if (strlen(exact[i]) == n && !strncasecmp(name, exact[i], n))
            return true;
    return n > 12 && !strncasecmp(name, "x-ratelimit-", 12);
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct fg_call *c = arg;
    size_t len = size * n;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        const char *sp = memchr(buf, ' ', len);
        c->up.status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon || c->up.status < 200 || !fg_client_live(&c->client))
        return len;
    size_t nl = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    bool ctype = nl == 12 && !strncasecmp(buf, "content-type", 12);
    if (!ctype && !relayed(buf, nl))
        return len;
    char name[64], val[512];
    snprintf(name, sizeof name, "%.*s", (int)(nl < 63 ? nl : 63), buf);
    snprintf(val, sizeof val, "%.*s", (int)(end - v), v);
    if (ctype)
        c->pass_ctype = fg_arena_strdup(&c->arena, val);
    else
        fg_client_header(c, name, val);
    return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    struct fg_call *c = arg;
    size_t len = size * n;
    if (!fg_client_live(&c->client))
        return 0; /* client gone: abort */
    if (!c->up.body)
        c->up.body = evbuffer_new();
    if (evbuffer_get_length(c->up.body) + len > MAX_ANSWER) {
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, NULL, "upstream response is larger than %u bytes",
                   MAX_ANSWER);
        return 0;
    }
    evbuffer_add(c->up.body, data, len);
    return len;
}

/* Usage as the provider reports it: chat-style or input/output names. */
static void read_usage(struct fg_call *c, const char *s, size_t n)
{
    if (!c->pass_ctype || !strstr(c->pass_ctype, "json") || fg_json_parse(&c->up.resp, s, n) < 0)
        return;
    const struct fg_json *j = &c->up.resp;
    int u = fg_json_get(j, 0, "usage");
    if (fg_json_type(j, u) != FG_J_OBJ)
        return;
    fg_usage_openai(j, u, &c->meter.usage);
    int64_t v;
    if (fg_json_int(j, fg_json_get(j, u, "input_tokens"), &v) && v >= 0)
        c->meter.usage.tok.input = v, c->meter.usage.seen = true;
    if (fg_json_int(j, fg_json_get(j, u, "output_tokens"), &v) && v >= 0)
        c->meter.usage.tok.output = v, c->meter.usage.seen = true;
}

static void reply_failure(struct fg_call *c, CURLcode res)
{
    if (c->err.cls == FG_E_NONE) {
        if (res == CURLE_OPERATION_TIMEDOUT)
            fg_err_set(&c->err, FG_E_TIMEOUT, NULL, NULL, "upstream provider '%s' timed out",
                       c->serve.provider->name);
        else
            fg_err_set(&c->err, FG_E_UPSTREAM, NULL, NULL, "upstream provider '%s' failed: %s",
                       c->serve.provider->name, curl_easy_strerror(res));
    }
    c->status = c->err.status;
    fg_client_send_error(c, true);
}

static void on_done(struct fg_xfer *x, CURLcode res)
{
    struct fg_call *c = x->arg;
    fg_upstream_release(c->w->up, x);
    if (!fg_client_live(&c->client)) {
        fg_call_finish(c);
        return;
    }
    if (res == CURLE_OK && c->up.status >= 300 && c->up.status < 400)
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, NULL,
                   "upstream provider '%s' answered with a "
                   "redirect (HTTP %ld); frugal does not follow redirects.",
                   c->serve.provider->name, c->up.status);
    if (res != CURLE_OK || c->err.cls != FG_E_NONE || c->up.status < 200) {
        reply_failure(c, res);
    } else {
        struct evbuffer *b = c->up.body ? c->up.body : (c->up.body = evbuffer_new());
        size_t n = evbuffer_get_length(b), m;
        const char *s = (const char *)evbuffer_pullup(b, -1);
        if (c->up.status >= 400 && n) { /* a provider that echoes a key never hands it on */
            char *r = fg_redact_dup(s, n, &m);
            evbuffer_drain(b, n);
            evbuffer_add(b, r, m);
            free(r);
            n = evbuffer_get_length(b);
            s = (const char *)evbuffer_pullup(b, -1);
        }
        c->status = (int)c->up.status;
        if (c->status < 300)
            read_usage(c, s, n);
        else
            fg_err_set(&c->err, c->status >= 500 ? FG_E_UPSTREAM : FG_E_INVALID, NULL, NULL,
                       "upstream provider '%s' answered HTTP %d", c->serve.provider->name,
                       c->status);
        c->meter.acct.response_bytes = (int64_t)n;
        fg_client_header(c, "Content-Type",
                         c->pass_ctype ? c->pass_ctype : "application/octet-stream");
        fg_client_frugal_headers(c);
        fg_meter_cost_headers(c);
        c->t_first_byte_ns = fg_clock_now_ns();
        c->client.ops->send(c->client.ctx, c->status, b);
    }
    c->state = FG_CALL_DONE;
    fg_call_finish(c);
}

static const char *const forwarded[] = {"content-type", "accept",     "openai-beta",
                                        "traceparent",  "tracestate", NULL};

static struct curl_slist *headers(struct fg_call *c)
{
    struct fg_edge_req *in = fg_httpclient_req(c);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    for (const char *const *f = forwarded; *f; f++) {
        const char *v = fg_edgeq_header(in, *f);
        if (v && !strpbrk(v, "\r\n"))
            h = fg_provider_header_add(h, *f, v);
    }
    const char *fault = fg_edgeq_header(in, "x-sim-fault");
    if (fault && c->serve.provider->type == FG_PROV_SIM && !strpbrk(fault, "\r\n"))
        h = fg_provider_header_add(h, "x-sim-fault", fault);
    if (!fg_edgeq_header(in, "content-type"))
        h = curl_slist_append(h, "Content-Type:"); /* curl's form default is not ours */
    return fg_azure_auth_header(c->serve.provider, h);
}

static int start(struct fg_call *c, enum fg_edge_method method, const char *query)
{
    struct fg_worker *w = c->w;
    const char *base = c->snap->prov[c->serve.provider_index].openai_base;
    const char *path = c->pass_path + 3; /* without /v1 */
    /* Azure serves audio, images and completions per deployment (azure.h) */
    bool scoped =
        fg_azure_is(c->serve.provider) && c->serve.model && fg_azure_deployment_path(path);
    const char *url = fg_azure_query(
        &c->arena, c->serve.provider,
        scoped ? fg_arena_printf(&c->arena, "%s/deployments/%s%s", base, c->serve.wire_model, path)
               : fg_arena_printf(&c->arena, "%s%s", base, path),
        query);
    CURL *e = fg_upstream_easy(w->up);
    c->up.headers = headers(c);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->up.headers);
    if (method == FG_EDGE_POST) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->enc.body ? c->enc.body : c->raw);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(c->enc.body ? c->enc.body_len : c->raw_len));
    } else if (method == FG_EDGE_DELETE) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->serve.provider->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->serve.provider->timeout_ms);
    c->up.xfer.easy = e;
    c->up.xfer.done = on_done;
    c->up.xfer.arg = c;
    c->state = FG_CALL_UPSTREAM;
    if (fg_upstream_add(w->up, &c->up.xfer) < 0) {
        fg_upstream_release(w->up, &c->up.xfer);
        return fail(c, FG_E_INTERNAL, NULL, NULL, "could not start the upstream transfer");
    }
    return 0;
}

/* ---- the request ---------------------------------------------------------- */

/* What the call needs after admission, which may wait for the shared
 * store (admit.h): the rest of its preparation and its start. */
struct pass_wait {
    bool json;
    const char *model;
    enum fg_edge_method method;
    const char *query;
};

static int start(struct fg_call *c, enum fg_edge_method method, const char *query);

/* After admission: the upstream model id, then the transfer. */
static int finish_prepare(struct fg_call *c)
{
    const struct pass_wait *pw = c->aux;
    if (pw->json && pw->model && strcmp(c->serve.wire_model, pw->model)) {
        fg_call_edit_model(c);
        c->enc.body =
            fg_json_splice(c->raw, c->raw_len, c->enc.edits, c->enc.n_edits, &c->enc.body_len);
    }
    return start(c, pw->method, pw->query);
}

/* Admission answered (at once or later): go on or answer the error. */
static void admitted(struct fg_call *c, int rc)
{
    if (rc == 0 && finish_prepare(c) == 0)
        return;
    c->status = c->err.status;
    fg_client_send_error(c, false);
    fg_call_finish(c);
}

static int prepare(struct fg_call *c, const char *ctype)
{
    const struct fg_server_cfg *sc = &c->w->app->cfg->server; /* a restart changes it */
    if (c->raw_len > sc->max_body_bytes)
        return fail(c, FG_E_TOO_LARGE, NULL, "request_too_large",
                    fg_arena_printf(&c->arena,
                                    "Request body is %zu bytes, over the gateway's "
                                    "limit of %zu bytes (server.max_body_bytes).",
                                    c->raw_len, (size_t)sc->max_body_bytes));
    const char *model = NULL, *bad = NULL;
    bool json = ctype && !strncasecmp(ctype, "application/json", 16);
    c->body.max_depth = (uint32_t)sc->max_json_depth;
    if (json && c->raw_len && fg_json_parse(&c->body, c->raw, c->raw_len) == 0 &&
        fg_json_type(&c->body, 0) == FG_J_OBJ) {
        model = json_model(c, &bad);
    } else {
        fg_json_parse(&c->body, "{}", 2); /* admission reads an (empty) object */
        if (ctype && !strncasecmp(ctype, "multipart/form-data", 19))
            model = form_model(c, ctype);
    }
    if (bad)
        return fail(c, FG_E_INVALID, "model", NULL, bad);
    if (model && (strlen(model) > MAX_MODEL || strpbrk(model, "\r\n")))
        return fail(c, FG_E_INVALID, "model", NULL, "Invalid 'model': too long or not one line.");
    if (resolve(c, model) < 0)
        return -1;
    /* a JSON body is text: bytes / 4 as for chat; an upload's bytes are no
     * token count (the model's output limit still bounds the worst case) */
    c->meter.prompt_tokens_est = json ? (int64_t)(c->raw_len / 4) : 0;
    c->meter.acct.request_bytes = (int64_t)c->raw_len;
    struct pass_wait *pw = c->aux;
    pw->json = json;
    pw->model = model;
    return fg_admit_request_then(c, admitted);
}

static void reply_plain(struct fg_edge_req *req, enum fg_err_class cls, const char *code,
                        const char *msg)
{
    struct fg_err e;
    fg_err_set(&e, cls, NULL, code, "%s", msg);
    fg_reply_error(req, &fg_provider_openai, &e);
}

void fg_passthru_handle(struct fg_worker *w, struct fg_edge_req *req, const char *path,
                        const struct fg_principal *p)
{
    enum fg_edge_method method = fg_edge_req_method(req);
    const char *query = fg_edgeq_query(req);
    const char *why;
    if (fg_passthru_check_path(path, query, &why) < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid path '%.120s': %s.", path, why);
        reply_plain(req, FG_E_INVALID, "invalid_path", msg);
        return;
    }
    if (method != FG_EDGE_GET && method != FG_EDGE_POST && method != FG_EDGE_DELETE) {
        fg_edge_resp_header(req, "Allow", "GET, POST, DELETE");
        reply_plain(req, FG_E_METHOD, "method_not_allowed",
                    "Method not allowed: OpenAI paths passed through accept GET, POST and DELETE.");
        return;
    }
    if (w->draining) {
        reply_plain(req, FG_E_UNAVAILABLE, "shutting_down",
                    "frugal is shutting down; retry on another instance.");
        return;
    }
    struct fg_call *c = fg_call_new(w);
    fg_httpclient_attach(c, req);
    c->in = &fg_provider_openai;
    c->endpoint = FG_EP_PASSTHRU;
    c->who.key_id = fg_arena_strdup(&c->arena, p->key_id);
    c->who.vkey = p->vkey;
    c->pass_path = fg_arena_strdup(&c->arena, path);
    fg_callreq_read(c, req);
    struct evbuffer *in = fg_edge_req_body(req);
    c->raw_len = evbuffer_get_length(in);
    c->raw = c->raw_len ? (const char *)evbuffer_pullup(in, -1) : "";
    const char *ctype = fg_edgeq_header(req, "content-type");
    struct pass_wait *pw = fg_arena_alloc(&c->arena, sizeof *pw);
    memset(pw, 0, sizeof *pw);
    pw->method = method;
    pw->query = query ? fg_arena_strdup(&c->arena, query) : NULL; /* may outlive a wait */
    c->aux = pw;
    int rc = prepare(c, ctype);
    if (rc == FG_PIPELINE_WAIT)
        return; /* admitted() goes on */
    admitted(c, rc);
}
