/* batch_api.c — see batch_api.h. */
#include "batch_api.h"

#include "auth.h"
#include "batch_exec.h"
#include "batch_format.h"
#include "batch_jsonl.h"
#include "batch_store.h"
#include "batch_upload.h"
#include "arena.h"
#include "err.h"
#include "keyreg.h"
#include "log.h"
#include "provider.h"
#include "reply.h"
#include "runtime.h"

#include <ctype.h>
#include <event2/buffer.h>
#include "edge.h"
#include "edgeq.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctx {
    struct fg_worker *w;
    struct fg_edge_req *req;
    const struct fg_principal *p;
    const struct fg_dialect_ops *d;
    struct fg_batch_store *s;
    enum fg_edge_method method;
};

/* Whether path belongs to these endpoints. */
static bool is_batch_path(const char *path)
{
    return !strncmp(path, "/v1/files", 9) || !strncmp(path, "/v1/batches", 11) ||
           !strncmp(path, "/v1/messages/batches", 20);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void fail(struct ctx *x, enum fg_err_class cls, int status, const char *param,
                 const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void fail(struct ctx *x, enum fg_err_class cls, int status, const char *param,
                 const char *code, const char *fmt, ...)
{
    struct fg_err e;
    fg_err_set(&e, cls, param, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    if (status)
        e.status = status;
    fg_reply_error(x->req, x->d, &e);
}

static void storage_failed(struct ctx *x)
{
    fg_error("batch store: %s", fg_batch_store_errmsg(x->s));
    fail(x, FG_E_INTERNAL, 0, NULL, "storage_error",
         "frugal could not read or write its batch storage; see the gateway log.");
}

static void not_found(struct ctx *x, const char *what, const char *id)
{
    fail(x, FG_E_NOT_FOUND, 0, NULL, "not_found", "No %s with id '%.80s'.", what, id);
}

static void reply(struct ctx *x, int status, json_t *v)
{
    fg_reply_json_value(x->req, status, v, JSON_COMPACT);
    json_decref(v);
}

/* The request's query string (edgeq.h); parameters decoded on demand. */
struct query {
    struct fg_edge_req *req;
    const char *s; /* NULL: no query */
};

static const char *query_param(const struct query *q, const char *k)
{
    return fg_edgeq_param(fg_edge_req_arena(q->req), q->s, k);
}

/* Parse ?limit= within [lo, hi]; -1 after replying 400. */
static int limit_param(struct ctx *x, struct query *q, int def, int lo, int hi)
{
    const char *v = query_param(q, "limit");
    if (!v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        fail(x, FG_E_INVALID, 0, "limit", NULL, "Invalid 'limit': must be %d to %d.", lo, hi);
        return -1;
    }
    return (int)n;
}

static const char *owner_filter(const struct ctx *x)
{
    return x->p->admin ? NULL : x->p->key_id;
}

static void report_lines(struct ctx *x, const struct fg_batch_jsonl *lc, const char *param)
{
    char msg[400];
    fg_batch_jsonl_report(lc, msg, sizeof msg);
    fail(x, FG_E_INVALID, 0, param, "invalid_batch_file", "%s", msg);
}

/* "/ID/tail" → id (bounded copy) and the tail ("" or "/…"). */
static const char *split_id(const char *rest, char *id, size_t n)
{
    const char *slash = strchr(rest + 1, '/');
    size_t idl = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
    snprintf(id, n, "%.*s", (int)(idl < n ? idl : n - 1), rest + 1);
    return slash ? slash : "";
}

static void parse_query(const struct ctx *x, struct query *q)
{
    q->req = x->req;
    q->s = fg_edgeq_query(x->req);
}

/* ---- files ------------------------------------------------------------ */

/* 1 with f (and data) filled, 0 after replying 404/500. */
static int load_file(struct ctx *x, const char *id, struct fg_bfile *f, char **data, size_t *len)
{
    int rc = fg_batch_store_file_get(x->s, id, f, data, len);
    if (rc < 0) {
        storage_failed(x);
        return 0;
    }
    if (rc == 0 || !fg_auth_principal_owns(x->p, f->owner)) {
        if (rc && data) {
            free(*data);
            *data = NULL;
        }
        not_found(x, "file", id);
        return 0;
    }
    return 1;
}

struct list_acc {
    json_t *data;
    int n;
};

static int acc_file(void *arg, const struct fg_bfile *f)
{
    struct list_acc *a = arg;
    json_array_append_new(a->data, fg_batch_format_file(f));
    a->n++;
    return 0;
}

static json_t *id_of(json_t *arr, size_t i)
{
    json_t *o = json_array_get(arr, i);
    return o ? json_copy(json_object_get(o, "id")) : json_null();
}

/* OpenAI list page; asked for limit+1 rows to know has_more. */
static json_t *openai_page(json_t *data, int limit)
{
    bool more = json_array_size(data) > (size_t)limit;
    if (more)
        json_array_remove(data, (size_t)limit);
    size_t n = json_array_size(data);
    return json_pack("{s:s, s:o, s:o, s:o, s:b}", "object", "list", "data", data, "first_id",
                     n ? id_of(data, 0) : json_null(), "last_id",
                     n ? id_of(data, n - 1) : json_null(), "has_more", more);
}

static void file_list(struct ctx *x, struct query *q)
{
    int limit = limit_param(x, q, 10000, 1, 10000);
    if (limit < 0)
        return;
    const char *order = query_param(q, "order");
    if (order && strcmp(order, "asc") && strcmp(order, "desc")) {
        fail(x, FG_E_INVALID, 0, "order", NULL, "Invalid 'order': asc or desc.");
        return;
    }
    struct list_acc a = {json_array(), 0};
    if (fg_batch_store_file_list(x->s, owner_filter(x), query_param(q, "purpose"),
                                 query_param(q, "after"), !order || !strcmp(order, "desc"),
                                 limit + 1, acc_file, &a) < 0) {
        json_decref(a.data);
        storage_failed(x);
        return;
    }
    reply(x, 200, openai_page(a.data, limit));
}

static void free_content(const void *data, size_t len, void *arg)
{
    free((void *)data);
}

static void file_one(struct ctx *x, const char *id, const char *rest)
{
    struct fg_bfile f;
    if (!strcmp(rest, "/content")) {
        if (x->method != FG_EDGE_GET) {
            fail(x, FG_E_METHOD, 0, NULL, NULL, "GET only.");
            return;
        }
        char *data = NULL;
        size_t len = 0;
        if (!load_file(x, id, &f, &data, &len))
            return;
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_reference(b, data, len, free_content, NULL);
        struct fg_edge_req *oh = x->req;
        fg_edge_resp_header(oh, "Content-Type", "application/octet-stream");
        fg_edge_reply_buf(x->req, 200, b);
        evbuffer_free(b);
        return;
    }
    if (*rest) {
        not_found(x, "endpoint under", id);
        return;
    }
    if (!load_file(x, id, &f, NULL, NULL))
        return;
    if (x->method == FG_EDGE_DELETE) {
        if (fg_batch_store_file_delete(x->s, f.id) < 0) {
            storage_failed(x);
            return;
        }
        fg_batch_exec_wake(); /* its chunks: the executor's sweep (batch_store.h) */
        reply(x, 200, json_pack("{s:s, s:s, s:b}", "id", f.id, "object", "file", "deleted", 1));
        return;
    }
    if (x->method != FG_EDGE_GET) {
        fail(x, FG_E_METHOD, 0, NULL, NULL, "GET or DELETE only.");
        return;
    }
    reply(x, 200, fg_batch_format_file(&f));
}

/* ---- batches (shared) --------------------------------------------------- */

/* 1 with b filled (caller clears), 0 after replying. */
static int load_batch(struct ctx *x, const char *id, const char *dialect, struct fg_batch *b)
{
    int rc = fg_batch_store_batch_get(x->s, id, b);
    if (rc < 0) {
        storage_failed(x);
        return 0;
    }
    if (rc == 0 || b->deleted || strcmp(b->dialect, dialect) ||
        !fg_auth_principal_owns(x->p, b->owner)) {
        if (rc)
            fg_batch_store_batch_clear(b);
        not_found(x, "batch", id);
        return 0;
    }
    return 1;
}

/* The create call's recorded tags (keyreg.h fg_keyreg_call_tags: the key's
 * tags merged with its x-frugal-tags), malloc'd or NULL: every line of the
 * batch carries them in the ledger, and each line's plan call resolves them
 * again by the same rule, so its budgets and routing rules see the charged
 * tags a real-time call of the owner would. */
static char *call_tags(struct ctx *x)
{
    const char *h = fg_edgeq_header(x->req, "x-frugal-tags");
    struct fg_arena a;
    fg_arena_init(&a);
    struct fg_call_tags t;
    fg_keyreg_call_tags(&a, x->p->vkey, x->p->key_id, h, &t);
    char *out = *t.recorded ? strdup(t.recorded) : NULL;
    fg_arena_free(&a);
    return out;
}

static void new_batch(struct ctx *x, struct fg_batch *b, const char *prefix, const char *dialect)
{
    memset(b, 0, sizeof *b);
    fg_batch_store_new_id(prefix, b->id, sizeof b->id);
    snprintf(b->owner, sizeof b->owner, "%s", x->p->key_id);
    snprintf(b->dialect, sizeof b->dialect, "%s", dialect);
    snprintf(b->status, sizeof b->status, "in_progress");
    b->created_at = b->in_progress_at = now_s();
    b->expires_at = b->created_at + x->w->app->cfg->batches.window_seconds;
}

/* Cancel: in-progress batches go to cancelling; the executor ends them. */
static int cancel_batch(struct ctx *x, struct fg_batch *b)
{
    if (!strcmp(b->status, "in_progress") || !strcmp(b->status, "validating")) {
        if (fg_batch_store_batch_status(x->s, b->id, "cancelling", now_s()) < 0) {
            storage_failed(x);
            return -1;
        }
        fg_batch_exec_wake();
        char id[48];
        memcpy(id, b->id, sizeof id);
        fg_batch_store_batch_clear(b);
        if (fg_batch_store_batch_get(x->s, id, b) <= 0) {
            storage_failed(x);
            return -1;
        }
    }
    return 0;
}

/* ---- OpenAI batches ------------------------------------------------------ */

struct oa_lines {
    struct fg_bline_in *v;
    size_t n;
    json_t *keep; /* owns the dumped bodies' json */
};

static void collect_line(void *arg, size_t lineno, json_t *line)
{
    struct oa_lines *o = arg;
    char *body = json_dumps(json_object_get(line, "body"), JSON_COMPACT);
    json_t *cid = json_string(json_string_value(json_object_get(line, "custom_id")));
    json_array_append_new(o->keep, cid);
    json_array_append_new(o->keep, json_string(body ? body : "{}"));
    o->v[o->n].custom_id = json_string_value(cid);
    const char *kept = json_string_value(json_array_get(o->keep, json_array_size(o->keep) - 1));
    o->v[o->n].body = kept;
    o->v[o->n].body_len = strlen(kept);
    o->n++;
    free(body);
}

static const char *check_metadata(json_t *md)
{
    if (!md || json_is_null(md))
        return NULL;
    if (!json_is_object(md))
        return "'metadata' must be an object of string values";
    if (json_object_size(md) > 16)
        return "'metadata' may have at most 16 keys";
    const char *k;
    json_t *v;
    json_object_foreach(md, k, v)
    {
        if (!json_is_string(v) || strlen(k) > 64 || strlen(json_string_value(v)) > 512)
            return "'metadata' values must be strings (keys up to 64, values up to 512 chars)";
    }
    return NULL;
}

static void openai_create(struct ctx *x)
{
    struct evbuffer *in = fg_edge_req_body(x->req);
    size_t len = evbuffer_get_length(in);
    json_error_t je;
    json_t *req = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &je);
    if (!json_is_object(req)) {
        json_decref(req);
        fail(x, FG_E_INVALID, 0, NULL, NULL, "Request body must be a JSON object: %s", je.text);
        return;
    }
    const char *file_id = json_string_value(json_object_get(req, "input_file_id"));
    const char *endpoint = json_string_value(json_object_get(req, "endpoint"));
    const char *window = json_string_value(json_object_get(req, "completion_window"));
    json_t *md = json_object_get(req, "metadata");
    const char *bad_md = check_metadata(md);
    struct fg_bfile f;
    char *data = NULL;
    size_t dlen = 0;
    if (!file_id) {
        fail(x, FG_E_INVALID, 0, "input_file_id", NULL, "Missing 'input_file_id' (a string).");
    } else if (!fg_batch_jsonl_endpoint_ok(endpoint)) {
        fail(x, FG_E_INVALID, 0, "endpoint", NULL,
             "Invalid 'endpoint': frugal runs batches of /v1/chat/completions, /v1/responses "
             "and /v1/embeddings.");
    } else if (!window || strcmp(window, "24h")) {
        fail(x, FG_E_INVALID, 0, "completion_window", NULL,
             "Invalid 'completion_window': only \"24h\" is supported.");
    } else if (bad_md) {
        fail(x, FG_E_INVALID, 0, "metadata", NULL, "Invalid %s.", bad_md);
    } else if (load_file(x, file_id, &f, &data, &dlen)) {
        struct oa_lines o = {calloc((size_t)x->w->app->cfg->batches.max_lines + 1, sizeof *o.v), 0,
                             json_array()};
        struct fg_batch_jsonl lc;
        fg_batch_jsonl_init(&lc, (size_t)x->w->app->cfg->batches.max_lines, endpoint, collect_line,
                            &o);
        fg_batch_jsonl_feed(&lc, data, dlen);
        fg_batch_jsonl_end(&lc);
        struct fg_batch b;
        new_batch(x, &b, "batch_", "openai");
        snprintf(b.endpoint, sizeof b.endpoint, "%s", endpoint);
        snprintf(b.input_file_id, sizeof b.input_file_id, "%s", f.id);
        if (md && json_is_object(md))
            b.metadata = json_dumps(md, JSON_COMPACT);
        b.tags = call_tags(x);
        if (lc.n_errors) {
            report_lines(x, &lc, "input_file_id");
        } else if (!o.v || fg_batch_store_batch_create(x->s, &b, o.v, o.n) < 0) {
            storage_failed(x);
        } else {
            fg_batch_exec_wake();
            fg_info("batch %s created by %s: %zu requests", b.id, b.owner, o.n);
            b.total = (int64_t)o.n;
            reply(x, 200, fg_batch_format_openai_batch(&b));
        }
        fg_batch_store_batch_clear(&b);
        fg_batch_jsonl_free(&lc);
        free(o.v);
        json_decref(o.keep);
        free(data);
    }
    json_decref(req);
}

static int acc_oa_batch(void *arg, const struct fg_batch *b)
{
    struct list_acc *a = arg;
    json_array_append_new(a->data, fg_batch_format_openai_batch(b));
    return 0;
}

static void openai_batches(struct ctx *x, const char *rest)
{
    if (!*rest || !strcmp(rest, "/")) {
        if (x->method == FG_EDGE_POST) {
            openai_create(x);
            return;
        }
        struct query q;
        parse_query(x, &q);
        int limit = limit_param(x, &q, 20, 1, 100);
        if (limit >= 0) {
            struct list_acc a = {json_array(), 0};
            if (fg_batch_store_batch_list(x->s, owner_filter(x), "openai", query_param(&q, "after"),
                                          NULL, limit + 1, acc_oa_batch, &a) < 0) {
                json_decref(a.data);
                storage_failed(x);
            } else {
                reply(x, 200, openai_page(a.data, limit));
            }
        }
        return;
    }
    char id[64];
    const char *tail = split_id(rest, id, sizeof id);
    struct fg_batch b;
    if (!strcmp(tail, "/cancel")) {
        if (x->method != FG_EDGE_POST) {
            fail(x, FG_E_METHOD, 0, NULL, NULL, "POST only.");
            return;
        }
        if (!load_batch(x, id, "openai", &b))
            return;
        if (fg_batch_format_final(b.status)) {
            fail(x, FG_E_INVALID, 409, NULL, "batch_not_cancellable",
                 "Cannot cancel a batch with status '%s'.", b.status);
        } else if (cancel_batch(x, &b) == 0) {
            reply(x, 200, fg_batch_format_openai_batch(&b));
        }
        fg_batch_store_batch_clear(&b);
        return;
    }
    if (*tail) {
        not_found(x, "endpoint under batch", id);
        return;
    }
    if (x->method != FG_EDGE_GET) {
        fail(x, FG_E_METHOD, 0, NULL, NULL, "GET only.");
        return;
    }
    if (!load_batch(x, id, "openai", &b))
        return;
    reply(x, 200, fg_batch_format_openai_batch(&b));
    fg_batch_store_batch_clear(&b);
}

/* ---- Anthropic message batches -------------------------------------------- */

/* The base of the URLs frugal hands out (results_url): server.public_url,
 * else nothing, so the URL is path-relative and the SDK resolves it against
 * the base URL it was configured with.  Never the request's Host header: a
 * client could make frugal hand other clients' SDKs (and their keys) a URL
 * on any host. */
static const char *base_url(const struct ctx *x)
{
    const char *pub = x->w->app->cfg->server.public_url;
    return pub ? pub : "";
}

static bool valid_custom_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static const char *check_params(json_t *p)
{
    if (!json_is_object(p))
        return "must be an object (the Messages request)";
    if (!json_is_string(json_object_get(p, "model")))
        return "needs 'model' (a string)";
    json_t *m = json_object_get(p, "messages");
    if (!json_is_array(m) || json_array_size(m) == 0)
        return "needs 'messages' (a non-empty array)";
    if (json_is_true(json_object_get(p, "stream")))
        return "must not set 'stream' in a batch";
    return NULL;
}

static void anthropic_create(struct ctx *x)
{
    struct evbuffer *in = fg_edge_req_body(x->req);
    size_t len = evbuffer_get_length(in);
    if (len > x->w->app->cfg->batches.max_file_bytes) {
        fail(x, FG_E_TOO_LARGE, 0, NULL, "request_too_large",
             "The batch is %zu bytes, over the limit of %zu bytes (batches.max_file_bytes).", len,
             x->w->app->cfg->batches.max_file_bytes);
        return;
    }
    json_error_t je;
    json_t *req =
        json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &je);
    json_t *reqs = json_object_get(req, "requests");
    size_t n = json_array_size(reqs);
    if (!json_is_object(req)) {
        fail(x, FG_E_INVALID, 0, NULL, NULL, "Request body must be a JSON object: %s", je.text);
        json_decref(req);
        return;
    }
    if (!json_is_array(reqs) || n == 0) {
        fail(x, FG_E_INVALID, 0, "requests", NULL, "requests: must be a non-empty array.");
        json_decref(req);
        return;
    }
    if (n > (size_t)x->w->app->cfg->batches.max_lines) {
        fail(x, FG_E_INVALID, 0, "requests", NULL,
             "requests: %zu requests, over the limit of %d (batches.max_lines).", n,
             x->w->app->cfg->batches.max_lines);
        json_decref(req);
        return;
    }
    struct fg_bline_in *v = calloc(n, sizeof *v);
    char **bodies = calloc(n, sizeof *bodies);
    json_t *seen = json_object();
    char param[64], why[160];
    bool bad = false;
    for (size_t i = 0; i < n && !bad; i++) {
        json_t *r = json_array_get(reqs, i);
        const char *cid = json_string_value(json_object_get(r, "custom_id"));
        const char *perr = check_params(json_object_get(r, "params"));
        bad = true;
        if (!json_is_object(r)) {
            snprintf(param, sizeof param, "requests.%zu", i);
            snprintf(why, sizeof why, "must be an object with custom_id and params");
        } else if (!cid || !valid_custom_id(cid)) {
            snprintf(param, sizeof param, "requests.%zu.custom_id", i);
            snprintf(why, sizeof why, "must be 1-64 characters of letters, digits, '_' or '-'");
        } else if (json_object_get(seen, cid)) {
            snprintf(param, sizeof param, "requests.%zu.custom_id", i);
            snprintf(why, sizeof why, "duplicate custom_id '%s'", cid);
        } else if (perr) {
            snprintf(param, sizeof param, "requests.%zu.params", i);
            snprintf(why, sizeof why, "%s", perr);
        } else {
            bad = false;
            json_object_set_new(seen, cid, json_true());
            bodies[i] = json_dumps(json_object_get(r, "params"), JSON_COMPACT);
            v[i].custom_id = cid;
            v[i].body = bodies[i] ? bodies[i] : "{}";
            v[i].body_len = strlen(v[i].body);
        }
    }
    if (bad) {
        fail(x, FG_E_INVALID, 0, param, NULL, "%s: %s.", param, why);
    } else {
        struct fg_batch b;
        new_batch(x, &b, "msgbatch_", "anthropic");
        b.tags = call_tags(x);
        if (fg_batch_store_batch_create(x->s, &b, v, n) < 0) {
            storage_failed(x);
        } else {
            fg_batch_exec_wake();
            fg_info("batch %s created by %s: %zu requests", b.id, b.owner, n);
            b.total = (int64_t)n;
            reply(x, 200, fg_batch_format_anthropic_batch(&b, base_url(x)));
        }
        fg_batch_store_batch_clear(&b);
    }
    for (size_t i = 0; i < n; i++)
        free(bodies[i]);
    free(bodies);
    free(v);
    json_decref(seen);
    json_decref(req);
}

struct an_acc {
    json_t *data;
    const char *base;
};

static int acc_an_batch(void *arg, const struct fg_batch *b)
{
    struct an_acc *a = arg;
    json_array_append_new(a->data, fg_batch_format_anthropic_batch(b, a->base));
    return 0;
}

static void anthropic_list(struct ctx *x)
{
    struct query q;
    parse_query(x, &q);
    int limit = limit_param(x, &q, 20, 1, 1000);
    if (limit >= 0) {
        struct an_acc a = {json_array(), base_url(x)};
        if (fg_batch_store_batch_list(x->s, owner_filter(x), "anthropic",
                                      query_param(&q, "after_id"), query_param(&q, "before_id"),
                                      limit + 1, acc_an_batch, &a) < 0) {
            json_decref(a.data);
            storage_failed(x);
        } else {
            bool more = json_array_size(a.data) > (size_t)limit;
            if (more)
                json_array_remove(a.data, (size_t)limit);
            size_t n = json_array_size(a.data);
            reply(x, 200,
                  json_pack("{s:o, s:b, s:o, s:o}", "data", a.data, "has_more", more, "first_id",
                            n ? id_of(a.data, 0) : json_null(), "last_id",
                            n ? id_of(a.data, n - 1) : json_null()));
        }
    }
}

static int add_an_line(void *arg, struct fg_bline *l)
{
    fg_batch_format_anthropic_line(l, arg);
    return 0;
}

static void anthropic_results(struct ctx *x, struct fg_batch *b)
{
    if (!fg_batch_format_final(b->status)) {
        fail(x, FG_E_NOT_FOUND, 0, NULL, "not_found",
             "Results of batch '%s' are not available yet: it is still %s.", b->id,
             !strcmp(b->status, "cancelling") ? "canceling" : "in progress");
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (fg_batch_store_lines(x->s, b->id, "done", 0, INT32_MAX, add_an_line, out) < 0) {
        evbuffer_free(out);
        storage_failed(x);
        return;
    }
    fg_edge_resp_header(x->req, "Content-Type", "application/x-jsonl");
    fg_edge_reply_buf(x->req, 200, out);
    evbuffer_free(out);
}

static void anthropic_batches(struct ctx *x, const char *rest)
{
    if (!*rest || !strcmp(rest, "/")) {
        if (x->method == FG_EDGE_POST)
            anthropic_create(x);
        else if (x->method == FG_EDGE_GET)
            anthropic_list(x);
        else
            fail(x, FG_E_METHOD, 0, NULL, NULL, "GET or POST only.");
        return;
    }
    char id[64];
    const char *tail = split_id(rest, id, sizeof id);
    if (*tail && strcmp(tail, "/cancel") && strcmp(tail, "/results")) {
        not_found(x, "endpoint under batch", id);
        return;
    }
    struct fg_batch b;
    if (!load_batch(x, id, "anthropic", &b))
        return;
    const char *base = base_url(x);
    if (!strcmp(tail, "/results")) {
        if (x->method != FG_EDGE_GET)
            fail(x, FG_E_METHOD, 0, NULL, NULL, "GET only.");
        else
            anthropic_results(x, &b);
    } else if (!strcmp(tail, "/cancel")) {
        if (x->method != FG_EDGE_POST)
            fail(x, FG_E_METHOD, 0, NULL, NULL, "POST only.");
        else if (cancel_batch(x, &b) == 0)
            reply(x, 200, fg_batch_format_anthropic_batch(&b, base));
    } else if (x->method == FG_EDGE_DELETE) {
        if (!fg_batch_format_final(b.status))
            fail(x, FG_E_INVALID, 0, NULL, NULL,
                 "Batch '%s' is still processing: cancel it and wait for it to end before "
                 "deleting it.",
                 b.id);
        else if (fg_batch_store_batch_delete(x->s, b.id) < 0)
            storage_failed(x);
        else
            reply(x, 200, json_pack("{s:s, s:s}", "id", b.id, "type", "message_batch_deleted"));
    } else if (x->method == FG_EDGE_GET) {
        reply(x, 200, fg_batch_format_anthropic_batch(&b, base));
    } else {
        fail(x, FG_E_METHOD, 0, NULL, NULL, "GET or DELETE only.");
    }
    fg_batch_store_batch_clear(&b);
}

/* ---- dispatch ------------------------------------------------------------- */

static void files(struct ctx *x, const char *rest)
{
    if (!*rest || !strcmp(rest, "/")) {
        if (x->method == FG_EDGE_POST) {
            fg_batch_upload_end(x->w, x->req, x->p); /* streamed since its head */
        } else if (x->method == FG_EDGE_GET) {
            struct query q;
            parse_query(x, &q);
            file_list(x, &q);
        } else {
            fail(x, FG_E_METHOD, 0, NULL, NULL, "GET or POST only.");
        }
        return;
    }
    char id[64];
    const char *tail = split_id(rest, id, sizeof id);
    file_one(x, id, tail);
}

/* w's batch store, opened at its first request; NULL after a 500. */
static struct fg_batch_store *open_store(struct ctx *x, struct fg_batch_store **bstore)
{
    char err[256];
    if (!*bstore &&
        fg_batch_store_open(fg_config_batch_storage(x->w->app->cfg), bstore, err, sizeof err) < 0) {
        fg_error("batch store: %s", err);
        fail(x, FG_E_INTERNAL, 0, NULL, "storage_unavailable",
             "frugal's batch storage is unavailable; see the gateway log.");
        return NULL;
    }
    return *bstore;
}

/* At the head: an upload (POST /v1/files) is streamed to the store as it
 * arrives (batch_upload.h); every other request is read whole. */
static int head(struct fg_worker *w, void **state, struct fg_edge_req *req, const char *path)
{
    if (fg_edge_req_method(req) != FG_EDGE_POST ||
        (strcmp(path, "/v1/files") && strcmp(path, "/v1/files/")))
        return 0;
    struct ctx x = {w, req, NULL, &fg_provider_openai, NULL, FG_EDGE_POST};
    struct fg_batch_store *s = open_store(&x, (struct fg_batch_store **)state);
    return s ? fg_batch_upload_head(w, s, req) : 1;
}

/* Handle one request (auth already done); *state is w's batch store. */
static void handle(struct fg_worker *w, void **state, struct fg_edge_req *req, const char *path,
                   const struct fg_principal *p)
{
    struct fg_batch_store **bstore = (struct fg_batch_store **)state;
    bool an = !strncmp(path, "/v1/messages/batches", 20);
    struct ctx x = {w,    req,
                    p,    an ? &fg_provider_anthropic : &fg_provider_openai,
                    NULL, fg_edge_req_method(req)};
    if (!(x.s = open_store(&x, bstore)))
        return;
    if (an)
        anthropic_batches(&x, path + 20);
    else if (!strncmp(path, "/v1/files", 9) && (!path[9] || path[9] == '/'))
        files(&x, path + 9);
    else if (!strncmp(path, "/v1/batches", 11) && (!path[11] || path[11] == '/'))
        openai_batches(&x, path + 11);
    else
        fail(&x, FG_E_NOT_FOUND, 0, NULL, "unknown_url", "Unknown path: %.200s", path);
}

static void store_free(void *state)
{
    fg_batch_store_close(state);
}

const struct fg_api_routes fg_batch_api_routes = {
    .match = is_batch_path,
    .handle = handle,
    .state_free = store_free,
    .head = head,
};
