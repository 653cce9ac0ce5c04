/* keys_api.c — see keys_api.h. */
#include "keys_api.h"
#include "snap.h"

#include "auth.h"
#include "keyreg.h"
#include "log.h"
#include "reply.h"
#include "server.h"

#include <event2/buffer.h>
#include "edge.h"
#include "edgeq.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define MAX_BODY 65536

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void fail(struct fg_edge_req *req, const struct fg_dialect_ops *d, enum fg_err_class cls,
                 const char *code, const char *fmt, const char *arg)
{
    struct fg_err e;
    fg_err_set(&e, cls, NULL, code, fmt, arg);
    fg_reply_error(req, d, &e);
}

static void method_not_allowed(struct fg_edge_req *req, const struct fg_dialect_ops *d,
                               const char *path, const char *allow)
{
    char msg[200];
    snprintf(msg, sizeof msg, "Method not allowed: %.100s accepts %s.", path, allow);
    fg_edge_resp_header(req, "Allow", allow);
    fail(req, d, FG_E_METHOD, "method_not_allowed", "%s", msg);
}

/* A string option, or a list/object joined as "a,b" / "k=v,k=v". */
static const char *opt_text(json_t *v, char *buf, size_t n, bool tags)
{
    if (json_is_string(v))
        return json_string_value(v);
    size_t o = 0;
    buf[0] = '\0';
    if (json_is_array(v) && !tags) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (!json_is_string(x))
                return NULL;
            o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s%s", o ? "," : "",
                                  json_string_value(x));
        }
    } else if (json_is_object(v) && tags) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (!json_is_string(x))
                return NULL;
            o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s%s=%s", o ? "," : "", k,
                                  json_string_value(x));
        }
    } else {
        return NULL;
    }
    return o < n ? buf : NULL;
}

static bool opt_int(json_t *v, int64_t *out)
{
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

static void create(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d)
{
    struct evbuffer *in = fg_edge_req_body(req);
    size_t len = evbuffer_get_length(in);
    if (len > MAX_BODY) {
        fail(req, d, FG_E_TOO_LARGE, "request_too_large", "%s", "Key options over 64 KiB.");
        return;
    }
    json_error_t je;
    json_t *b = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &je);
    if (!json_is_object(b)) {
        fail(req, d, FG_E_INVALID, NULL, "%s",
             "Request body must be a JSON object of key "
             "options (name, budget, rpm, tpm, models, tags, expires, allow_unpriced, soft).");
        json_decref(b);
        return;
    }
    static const char *const known[] = {"name",   "budget", "rpm",     "tpm",
                                        "models", "tags",   "expires", "allow_unpriced",
                                        "soft",   NULL};
    const char *k;
    json_t *x;
    json_object_foreach(b, k, x)
    {
        int i = 0;
        while (known[i] && strcmp(known[i], k))
            i++;
        if (!known[i]) {
            fail(req, d, FG_E_INVALID, NULL,
                 "Unknown key option '%.60s' (name, budget, rpm, "
                 "tpm, models, tags, expires, allow_unpriced, soft).",
                 k);
            json_decref(b);
            return;
        }
    }
    char models[1100], tags[600], budget[64], err[300];
    struct fg_key_opts o = {0};
    json_t *bv = json_object_get(b, "budget");
    o.name = json_string_value(json_object_get(b, "name"));
    if (json_is_number(bv)) {
        snprintf(budget, sizeof budget, "%.6f/month", json_number_value(bv));
        o.budget = budget;
    } else if (bv && !json_is_null(bv)) {
        o.budget = json_is_string(bv) ? json_string_value(bv) : "?";
    }
    json_t *mv = json_object_get(b, "models"), *tv = json_object_get(b, "tags");
    json_t *ev = json_object_get(b, "expires");
    o.models = mv && !json_is_null(mv) ? opt_text(mv, models, sizeof models, false) : NULL;
    o.tags = tv && !json_is_null(tv) ? opt_text(tv, tags, sizeof tags, true) : NULL;
    o.expires = ev && !json_is_null(ev) ? (json_is_string(ev) ? json_string_value(ev) : "?") : NULL;
    json_t *uv = json_object_get(b, "allow_unpriced");
    o.allow_unpriced = json_is_true(uv);
    json_t *sv = json_object_get(b, "soft");
    o.soft = json_is_true(sv);
    struct fg_key key;
    char secret[FG_KEY_SECRET_MAX];
    if (uv && !json_is_boolean(uv) && !json_is_null(uv)) {
        fail(req, d, FG_E_INVALID, NULL, "%s", "allow_unpriced must be true or false.");
    } else if (sv && !json_is_boolean(sv) && !json_is_null(sv)) {
        fail(req, d, FG_E_INVALID, "soft", "%s", "soft must be true or false.");
    } else if ((mv && !json_is_null(mv) && !o.models) || (tv && !json_is_null(tv) && !o.tags)) {
        fail(req, d, FG_E_INVALID, NULL, "%s",
             "models must be an array of names (or \"a,b\"), "
             "tags an object of strings (or \"k=v,k=v\").");
    } else if (!opt_int(json_object_get(b, "rpm"), &o.rpm) ||
               !opt_int(json_object_get(b, "tpm"), &o.tpm)) {
        fail(req, d, FG_E_INVALID, NULL, "%s", "rpm and tpm must be whole numbers >= 0.");
    } else if (fg_keys_new(&o, fg_snap_worker(w)->cfg, wall_ms(), &key, secret, err, sizeof err) <
               0) {
        fail(req, d, FG_E_INVALID, NULL, "Invalid key options: %s.", err);
    } else if (fg_keyreg_create(&key, err, sizeof err) < 0) {
        fail(req, d, FG_E_INTERNAL, "storage_error", "Could not store the key: %s", err);
    } else {
        json_t *out = fg_keys_json(&key, key.created_ms);
        json_object_set_new(out, "key", json_string(secret));
        if (!w->app->cfg->server.master_key)
            json_object_set_new(out, "warning",
                                json_string("server.master_key is not set: the gateway is "
                                            "single-tenant and ignores virtual keys until one is "
                                            "configured"));
        fg_info("keys: created %s ('%s')", key.id, key.name);
        fg_reply_json_value(req, 201, out, JSON_COMPACT);
        json_decref(out);
        memset(secret, 0, sizeof secret);
    }
    json_decref(b);
}

static void one(struct fg_edge_req *req, const struct fg_dialect_ops *d, const char *id,
                bool revoke)
{
    char err[300];
    int64_t now = wall_ms();
    struct fg_vkey *v;
    /* the id, or the key itself (people revoke the key they hold) */
    bool secret = fg_keys_format_ok(id);
    if (secret ? fg_keyreg_auth(id, now, &v) == FG_KEY_UNKNOWN
               : fg_keyreg_by_id(id, now, &v) == FG_KEY_UNKNOWN) {
        if (secret)
            fail(req, d, FG_E_NOT_FOUND, "key_not_found", "%s",
                 "No virtual key matches the key given.");
        else
            fail(req, d, FG_E_NOT_FOUND, "key_not_found", "No virtual key with id '%.60s'.", id);
        return;
    }
    id = v->k.id;
    if (revoke) {
        if (fg_keyreg_revoke(id, now, err, sizeof err) < 0) {
            fail(req, d, FG_E_INTERNAL, "storage_error", "Could not revoke the key: %s", err);
            return;
        }
        fg_info("keys: revoked %s", id);
    }
    json_t *out = fg_keyreg_key_json(v, now);
    fg_reply_json_value(req, 200, out, JSON_COMPACT);
    json_decref(out);
}

void fg_keys_api_handle(struct fg_worker *w, struct fg_edge_req *req,
                        const struct fg_dialect_ops *d, const struct fg_principal *p,
                        const char *path)
{
    enum fg_edge_method m = fg_edge_req_method(req);
    if (!p->admin) {
        fail(req, d, FG_E_PERMISSION, "permission_denied", "%s",
             "The key admin API needs the master key; a virtual key cannot list, create or "
             "revoke keys.");
        return;
    }
    if (!strcmp(path, "/frugal/keys") || !strcmp(path, "/frugal/keys/")) {
        if (m == FG_EDGE_POST) {
            create(w, req, d);
        } else if (m == FG_EDGE_GET || m == FG_EDGE_HEAD) {
            json_t *out =
                json_pack("{s:s, s:o}", "object", "list", "data", fg_keyreg_list_json(wall_ms()));
            fg_reply_json_value(req, 200, out, JSON_COMPACT);
            json_decref(out);
        } else {
            method_not_allowed(req, d, path, "GET, POST");
        }
        return;
    }
    char id[64];
    const char *rest = path + strlen("/frugal/keys/");
    size_t n = strcspn(rest, "/");
    const char *tail = rest + n;
    if (n == 0 || n >= sizeof id || (*tail && strcmp(tail, "/revoke"))) {
        fail(req, d, FG_E_NOT_FOUND, "unknown_url", "Unknown path: %.200s.", path);
        return;
    }
    snprintf(id, sizeof id, "%.*s", (int)n, rest);
    if (!strcmp(tail, "/revoke")) {
        if (m == FG_EDGE_POST)
            one(req, d, id, true);
        else
            method_not_allowed(req, d, path, "POST");
    } else if (m == FG_EDGE_GET || m == FG_EDGE_HEAD) {
        one(req, d, id, false);
    } else if (m == FG_EDGE_DELETE) {
        one(req, d, id, true);
    } else {
        method_not_allowed(req, d, path, "GET, DELETE");
    }
}
