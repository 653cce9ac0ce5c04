/* responses_api.c — see responses_api.h. */
#include "responses_api.h"

#include "azure.h"
#include "respstate.h"

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
#include "ledger.h"

#include <jansson.h>

#include <ctype.h>
#include <event2/buffer.h>
#include "edge.h"
#include "edgeq.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    char id[FG_RESPMAP_ID_MAX + 1];       /* frugal's id, as the client sent it */
    char upstream[FG_RESPMAP_ID_MAX + 1]; /* the provider's */
    char prev[FG_RESPMAP_ID_MAX + 1];     /* the response it continues, "" */
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

static void forget(const char *id)
{
    fg_respmap_forget(id);
    fg_ledger_forget_response(id); /* the store's row, by its only writer */
}

/* The provider's answer about its own id: the client sees frugal's ids
 * (the response's, and the previous one it continues). */
static void ids_back(const struct proxy *x, struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    struct fg_json j = {0};
    if (fg_json_parse(&j, (const char *)evbuffer_pullup(b, -1), n) < 0 ||
        fg_json_type(&j, 0) != FG_J_OBJ) {
        fg_json_free(&j);
        return;
    }
    struct fg_json_edit ed[2];
    size_t ne = 0;
    char *q1 = NULL, *q2 = NULL;
    int id = fg_json_get(&j, 0, "id"), prev = fg_json_get(&j, 0, "previous_response_id");
    if (fg_json_str_eq(&j, id, x->upstream) && asprintf(&q1, "\"%s\"", x->id) > 0)
        ed[ne++] = (struct fg_json_edit){j.t[id].start, j.t[id].end, q1, strlen(q1)};
    if (fg_json_type(&j, prev) == FG_J_STR &&
        asprintf(&q2, x->prev[0] ? "\"%s\"" : "null%s", x->prev) > 0)
        ed[ne++] = (struct fg_json_edit){j.t[prev].start, j.t[prev].end, q2, strlen(q2)};
    if (ne == 2 && ed[0].start > ed[1].start) {
        struct fg_json_edit t = ed[0];
        ed[0] = ed[1];
        ed[1] = t;
    }
    if (ne) {
        size_t m;
        char *out = fg_json_splice(j.src, j.len, ed, ne, &m);
        evbuffer_drain(b, n);
        evbuffer_add(b, out, m);
        free(out);
    }
    free(q1);
    free(q2);
    fg_json_free(&j);
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
        if (x->op == OP_DELETE && (c->up.status < 300 || c->up.status == 404)) {
            forget(x->id); /* frugal's copy goes whatever the provider had */
            c->up.status = 200;
            evbuffer_drain(c->up.body, evbuffer_get_length(c->up.body));
            evbuffer_add_printf(c->up.body,
                                "{\"id\":\"%s\",\"object\":\"response.deleted\",\"deleted\":true}",
                                x->id);
        }
        ids_back(x, c->up.body);
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
    const struct fg_provider_rt *rt = &c->snap->prov[c->serve.provider_index];
    static const char *const suffix[] = {"", "", "/input_items", "/cancel"};
    const char *url = fg_azure_query(&c->arena, c->serve.provider,
                                     fg_arena_printf(&c->arena, "%s/responses/%s%s",
                                                     rt->openai_base, x->upstream, suffix[x->op]),
                                     query);
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

/* ---- answers from frugal's store ---------------------------------------- */

/* The value of query parameter `name` into out ("" when absent). */
static void query_param(const char *q, const char *name, char *out, size_t on)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            snprintf(out, on, "%.*s", (int)(len - nl - 1), p + nl + 1);
            return;
        }
        p = amp ? amp + 1 : NULL;
    }
}

/* A stored input item as the SDK's ResponseItem: a type, an id, content
 * parts (a string content becomes one text part). */
static json_t *input_item(json_t *it, const char *rid, size_t k)
{
    json_t *x = json_is_object(it) ? json_deep_copy(it) : json_object();
    if (!json_object_get(x, "type"))
        json_object_set_new(x, "type", json_string("message"));
    json_t *content = json_object_get(x, "content");
    if (json_is_string(content)) {
        const char *role = json_string_value(json_object_get(x, "role"));
        bool out = role && !strcmp(role, "assistant");
        json_object_set_new(
            x, "content",
            json_pack("[{s:s,s:O}]", "type", out ? "output_text" : "input_text", "text", content));
    }
    if (!json_object_get(x, "id"))
        json_object_set_new(x, "id", json_sprintf("item_%s_%zu", rid + 5, k));
    return x;
}

/* GET …/input_items from the stored input: after, limit (1-100, 20), order
 * (asc|desc, desc) as OpenAI pages it. */
static void reply_items(struct fg_edge_req *req, const char *id, json_t *data, const char *query)
{
    char after[128], lim[16], order[8];
    query_param(query, "after", after, sizeof after);
    query_param(query, "limit", lim, sizeof lim);
    query_param(query, "order", order, sizeof order);
    long limit = lim[0] ? strtol(lim, NULL, 10) : 20;
    if (limit < 1 || limit > 100) {
        reply_error(req, FG_E_INVALID, "limit", "invalid_value",
                    "Invalid 'limit': %s (expected an integer from 1 to 100).", lim);
        return;
    }
    if (order[0] && strcmp(order, "asc") && strcmp(order, "desc")) {
        reply_error(req, FG_E_INVALID, "order", "invalid_value",
                    "Invalid 'order': '%s' (expected 'asc' or 'desc').", order);
        return;
    }
    json_t *in = json_object_get(data, "input"), *all = json_array();
    if (json_is_string(in)) { /* input_item copies it: this one is ours to free */
        json_t *msg = json_pack("{s:s,s:O}", "role", "user", "content", in);
        json_array_append_new(all, input_item(msg, id, 0));
        json_decref(msg);
    }
    size_t i;
    json_t *it;
    json_array_foreach(json_is_array(in) ? in : NULL, i, it)
        json_array_append_new(all, input_item(it, id, i));
    size_t n = json_array_size(all);
    bool asc = !strcmp(order, "asc");
    json_t *page = json_array();
    bool started = !after[0], more = false;
    for (size_t k = 0; k < n && !more; k++) {
        json_t *x = json_array_get(all, asc ? k : n - 1 - k);
        if (!started) /* the page starts after the cursor's item */
            started = !strcmp(json_string_value(json_object_get(x, "id")), after);
        else if (json_array_size(page) == (size_t)limit)
            more = true;
        else
            json_array_append(page, x);
    }
    size_t m = json_array_size(page);
    json_t *list = json_pack("{s:s,s:O,s:b}", "object", "list", "data", page, "has_more", more);
    json_object_set_new(list, "first_id",
                        m ? json_incref(json_object_get(json_array_get(page, 0), "id"))
                          : json_null());
    json_object_set_new(list, "last_id",
                        m ? json_incref(json_object_get(json_array_get(page, m - 1), "id"))
                          : json_null());
    fg_reply_json_value(req, 200, list, JSON_COMPACT);
    json_decref(list);
    json_decref(page);
    json_decref(all);
}

/* Answer from frugal's copy when it has one: 1 answered, 0 not. */
static int from_store(struct fg_edge_req *req, const struct fg_respmap_entry *e, enum op op,
                      const char *query)
{
    json_t *d = e->data ? json_loadb(e->data, e->data_len, 0, NULL) : NULL;
    json_t *resp = json_object_get(d, "response");
    const char *st = json_string_value(json_object_get(resp, "status"));
    /* a response still running, or a query only the provider can answer */
    bool live = !st || !strcmp(st, "queued") || !strcmp(st, "in_progress");
    bool provider_only = query && (strstr(query, "include") || strstr(query, "stream"));
    int done = 0;
    if (d && op == OP_ITEMS) {
        reply_items(req, e->id, d, query);
        done = 1;
    } else if (d && op == OP_GET && !(live && e->upstream[0]) &&
               !(provider_only && e->upstream[0])) {
        fg_reply_json_value(req, 200, resp, JSON_COMPACT);
        done = 1;
    }
    json_decref(d);
    return done;
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
    struct fg_respmap_entry e;
    if (!fg_respstate_find(w, px.id, &e, px.op == OP_GET || px.op == OP_ITEMS)) {
        e.data = NULL;
        e.owner[0] = '\0';
        e.provider_index = -2;
    }
    if (e.provider_index == -2 || !fg_auth_principal_owns(p, e.owner)) {
        free(e.data);
        reply_error(req, FG_E_NOT_FOUND, "response_id", "response_not_found",
                    "No response with id '%s' was found (frugal answers for the responses it "
                    "served; only the key that created one may reach it).",
                    px.id);
        return;
    }
    int prov = e.upstream[0] ? e.provider_index : -1;
    if (px.op != OP_CANCEL && from_store(req, &e, px.op, query)) {
        free(e.data);
        return;
    }
    free(e.data);
    if (prov < 0 || (size_t)prov >= w->app->cfg->n_providers) {
        if (px.op == OP_DELETE) { /* frugal's copy is all there is */
            forget(px.id);
            struct evbuffer *b = evbuffer_new();
            evbuffer_add_printf(
                b, "{\"id\":\"%s\",\"object\":\"response.deleted\",\"deleted\":true}", px.id);
            fg_reply_json(req, 200, b);
            evbuffer_free(b);
            return;
        }
        reply_error(req, px.op == OP_CANCEL ? FG_E_INVALID : FG_E_NOT_FOUND, "response_id",
                    px.op == OP_CANCEL ? "invalid_request" : "response_not_found",
                    px.op == OP_CANCEL ? "Response '%s' cannot be cancelled: only background "
                                         "responses can be cancelled."
                                       : "Response '%s' is no longer available: frugal kept no "
                                         "copy and no provider holds it.",
                    px.id);
        return;
    }
    snprintf(px.upstream, sizeof px.upstream, "%s", e.upstream);
    snprintf(px.prev, sizeof px.prev, "%s", e.prev);
    struct fg_call *c = fg_call_new(w); /* no dialect: no ledger row */
    fg_call_use_snap(c, &w->app->boot); /* the map's provider indexes are the boot config's */
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
