/* responses_api.c — see responses_api.h. */
#include "responses_api.h"

#include "respmap.h"

#include "auth.h"
#include "call.h"
#include "httpclient.h"
#include "log.h"
#include "provider.h"
#include "redact.h"
#include "relay.h"
#include "reply.h"
#include "server.h"
#include "store.h"

#include <ctype.h>
#include <event2/buffer.h>
#include "edge.h"
#include "edgeq.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- who may reach a response -------------------------------------------- */

/* The provider of `id` if p may see it; -1 otherwise; -2 when the map
 * does not know it. */
static int lookup_mem(const char *id, const struct fg_principal *p)
{
    char owner[48];
    int prov = fg_respmap_get(id, owner, sizeof owner);
    if (prov < 0)
        return -2;
    return fg_auth_principal_owns(p, owner) ? prov : -1;
}

/* Not in memory: the ledger's `responses` table (one indexed read on the
 * worker's own store handle, as GET /frugal/spend reads), remembered again
 * when found. */
static int lookup(struct fg_worker *w, const char *id, const struct fg_principal *p)
{
    int prov = lookup_mem(id, p);
    if (prov != -2)
        return prov;
    char key[64], name[128], err[200];
    const struct fg_config *cfg = w->app->cfg;
    if (!w->store && fg_store_open(cfg->storage, &w->store, err, sizeof err) < 0)
        return -1;
    if (!w->store->ops->response_owner ||
        w->store->ops->response_owner(w->store, id, key, sizeof key, name, sizeof name, err,
                                      sizeof err) != 1)
        return -1;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (!strcmp(cfg->providers[i].name, name)) {
            fg_respmap_remember(id, strlen(id), key, (int)i);
            return fg_auth_principal_owns(p, key) ? (int)i : -1;
        }
    return -1; /* its provider is no longer configured */
}

/* ---- the endpoints ------------------------------------------------------ */

enum op { OP_GET, OP_DELETE, OP_ITEMS, OP_CANCEL };

bool fg_responses_api_path(const char *path)
{
    return !strncmp(path, "/v1/responses/", 14) && strcmp(path, "/v1/responses/input_tokens");
}

static void reply_error(struct fg_edge_req *req, enum fg_err_class cls, const char *param,
                        const char *code, const char *fmt, const char *arg)
{
    struct fg_err e;
    fg_err_set(&e, cls, param, code, fmt, arg);
    fg_reply_error(req, &fg_provider_openai, &e);
}

/* "{id}", "{id}/input_items" or "{id}/cancel" with the method each takes;
 * 0 or -1 after replying. */
static int parse(struct fg_edge_req *req, const char *path, char *id, enum op *op)
{
    const char *rest = path + 14, *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    enum fg_edge_method m = fg_edge_req_method(req);
    if (m == FG_EDGE_HEAD)
        m = FG_EDGE_GET;
    const char *allow;
    if (!slash) {
        *op = m == FG_EDGE_DELETE ? OP_DELETE : OP_GET;
        allow = m == FG_EDGE_GET || m == FG_EDGE_DELETE ? NULL : "GET, DELETE";
    } else if (!strcmp(slash, "/input_items")) {
        *op = OP_ITEMS;
        allow = m == FG_EDGE_GET ? NULL : "GET";
    } else if (!strcmp(slash, "/cancel")) {
        *op = OP_CANCEL;
        allow = m == FG_EDGE_POST ? NULL : "POST";
    } else {
        reply_error(req, FG_E_NOT_FOUND, NULL, "unknown_url",
                    "Unknown path: %.200s is not an endpoint of this gateway.", path);
        return -1;
    }
    if (allow) {
        fg_edge_resp_header(req, "Allow", allow);
        reply_error(req, FG_E_METHOD, NULL, "method_not_allowed",
                    "Method not allowed: this path accepts %s only.", allow);
        return -1;
    }
    if (!fg_respmap_id_ok(rest, n)) {
        char bad[104];
        snprintf(bad, sizeof bad, "%.*s", (int)(n < 100 ? n : 100), rest);
        reply_error(req, FG_E_INVALID, "response_id", "invalid_response_id",
                    "Invalid response id: '%s' (expected up to 96 letters, digits, '_' or '-').",
                    bad);
        return -1;
    }
    memcpy(id, rest, n);
    id[n] = '\0';
    return 0;
}

/* The query is handed on to the provider as sent: only characters a
 * well-formed query uses (no fragment, no spaces, no control bytes). */
static bool query_ok(const char *q)
{
    for (; q && *q; q++)
        if (!isalnum((unsigned char)*q) && !strchr("_-.~%=&[]+,:", *q))
            return false;
    return true;
}

struct proxy {
    enum op op;
    char id[FG_RESPMAP_ID_MAX + 1];
    char ctype[96];
};

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct fg_call *c = arg;
    struct proxy *x = c->aux;
    size_t len = size * n;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        const char *sp = memchr(buf, ' ', len);
        c->up.status = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if (len > 13 && !strncasecmp(buf, "content-type:", 13)) {
        const char *v = buf + 13;
        size_t vl = len - 13;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(x->ctype, sizeof x->ctype, "%.*s", (int)vl, v);
    }
    return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    struct fg_call *c = arg;
    size_t len = size * n;
    if (!fg_client_live(&c->client) || evbuffer_get_length(c->up.body) + len > (64u << 20))
        return 0;
    evbuffer_add(c->up.body, data, len);
    return len;
}

/* c->err in OpenAI's shape, through the call's client (the call has no
 * dialect of its own: it writes no ledger row). */
static void send_error(struct fg_call *c)
{
    struct evbuffer *b = evbuffer_new();
    fg_provider_openai.error_body(&c->err, b);
    fg_client_header(c, "Content-Type", "application/json");
    c->client.ops->send(c->client.ctx, c->err.status, b);
    evbuffer_free(b);
}

static void on_done(struct fg_xfer *xf, CURLcode res)
{
    struct fg_call *c = xf->arg;
    struct proxy *x = c->aux;
    fg_upstream_release(c->w->up, xf);
    if (!fg_client_live(&c->client)) {
        fg_call_finish(c);
        return;
    }
    if (res != CURLE_OK || c->up.status < 200 || c->up.status >= 600) {
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_error",
                   "upstream provider '%s' failed: %s", c->serve.provider->name,
                   res != CURLE_OK ? curl_easy_strerror(res) : "no status");
        send_error(c);
    } else {
        if (x->op == OP_DELETE && c->up.status < 300)
            fg_respmap_forget(x->id);
        size_t n = evbuffer_get_length(c->up.body), m;
        char *r = fg_redact_dup((const char *)evbuffer_pullup(c->up.body, -1), n, &m);
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, r, m);
        free(r);
        fg_client_header(c, "Content-Type", x->ctype[0] ? x->ctype : "application/json");
        fg_client_header(c, "x-frugal-request-id", c->id);
        c->client.ops->send(c->client.ctx, (int)c->up.status, b); /* HEAD: the edge drops it */
        evbuffer_free(b);
    }
    c->state = FG_CALL_DONE;
    fg_call_finish(c);
}

static int start(struct fg_call *c, struct proxy *x, const char *query)
{
    const struct fg_provider_rt *rt = &c->w->app->prov[c->serve.provider_index];
    static const char *const suffix[] = {"", "", "/input_items", "/cancel"};
    const char *url = fg_arena_printf(&c->arena, "%s/responses/%s%s%s%s", rt->openai_base, x->id,
                                      suffix[x->op], query ? "?" : "", query ? query : "");
    CURL *e = fg_upstream_easy(c->w->up);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, rt->headers[fg_provider_responses.dialect][0]);
    if (x->op == OP_CANCEL) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    } else if (x->op == OP_DELETE) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->serve.provider->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->serve.provider->timeout_ms);
    c->up.body = evbuffer_new();
    c->up.xfer.easy = e;
    c->up.xfer.done = on_done;
    c->up.xfer.arg = c;
    c->state = FG_CALL_UPSTREAM;
    if (fg_upstream_add(c->w->up, &c->up.xfer) < 0) {
        fg_upstream_release(c->w->up, &c->up.xfer);
        return -1;
    }
    return 0;
}

void fg_responses_api_handle(struct fg_worker *w, struct fg_edge_req *req,
                             const struct fg_principal *p, const char *path)
{
    struct proxy px = {0};
    if (parse(req, path, px.id, &px.op) < 0)
        return;
    const char *query = fg_edgeq_query(req);
    if (!query_ok(query)) {
        reply_error(req, FG_E_INVALID, NULL, "invalid_query", "Invalid query string: '%.100s'.",
                    query);
        return;
    }
    int prov = lookup(w, px.id, p);
    if (prov < 0 || (size_t)prov >= w->app->cfg->n_providers) {
        reply_error(req, FG_E_NOT_FOUND, "response_id", "response_not_found",
                    "No response with id '%s' was found (frugal routes a stored response to the "
                    "provider that created it; only the key that created it may reach it).",
                    px.id);
        return;
    }
    struct fg_call *c = fg_call_new(w); /* no dialect: no ledger row */
    fg_httpclient_attach(c, req);
    struct proxy *x = fg_arena_alloc(&c->arena, sizeof *x);
    *x = px;
    c->aux = x; /* the call's proxy state */
    fg_call_use_provider(c, prov);
    if (start(c, x, query) < 0) {
        fg_err_set(&c->err, FG_E_INTERNAL, NULL, NULL, "could not start the upstream transfer");
        send_error(c);
        fg_call_finish(c);
    }
}
