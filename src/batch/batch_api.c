/* batch_api.c — see batch_api.h. */
#include "batch_api.h"

#include "auth.h"
#include "batch_download.h"
#include "batch_exec.h"
#include "batch_format.h"
#include "batch_jsonl.h"
#include "batch_mcreate.h"
#include "batch_store.h"
#include "batch_upload.h"
#include "arena.h"
#include "assert.h"
#include "err.h"
#include "keyreg.h"
#include "log.h"
#include "pgdb.h"
#include "offq.h"
#include "provider.h"
#include "reply.h"
#include "runtime.h"

#include <event2/buffer.h>
#include "edge.h"
#include "edgeq.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The query parameters the handlers read (decoded on the loop). */
static const char *const QP_NAMES[] = {"limit", "order",    "purpose",
                                       "after", "after_id", "before_id"};
#define NQP (sizeof QP_NAMES / sizeof QP_NAMES[0])

/* What the handlers read of the request and the config, taken on the loop
 * (off the loop the request, its arena and app->cfg are not ours). */
struct reqin {
    const char *q[NQP];
    const char *body;
    size_t body_len;
    char *tags; /* POST /v1/batches: call_tags (malloc'd) */
    int window_seconds, max_lines;
    const char *public_url;
};

/* A reply made off the loop, sent on it (job_done). */
struct out {
    bool set, is_err, download;
    struct fg_err err;
    int status;
    json_t *json;
    struct evbuffer *buf; /* Message Batches results (JSONL) */
    char file_id[40];     /* download: GET /v1/files/{id}/content */
    int64_t bytes;
};

struct ctx {
    struct fg_worker *w;     /* NULL off the loop */
    struct fg_edge_req *req; /* NULL off the loop */
    const struct fg_principal *p;
    const struct fg_dialect_ops *d;
    struct fg_batch_store *s;
    enum fg_edge_method method;
    const struct reqin *in;
    struct out *out; /* off the loop: the reply is kept here */
};

static void store_free(void *state);

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
    if (x->out) {
        FG_ASSERT(!x->out->set);
        x->out->set = x->out->is_err = true;
        x->out->err = e;
        return;
    }
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
    if (x->out) {
        FG_ASSERT(!x->out->set);
        x->out->set = true;
        x->out->status = status;
        x->out->json = v;
        return;
    }
    fg_reply_json_value(x->req, status, v, JSON_COMPACT);
    json_decref(v);
}

static const char *query_param(const struct ctx *x, const char *k)
{
    for (size_t i = 0; i < NQP; i++)
        if (!strcmp(QP_NAMES[i], k))
            return x->in->q[i];
    FG_ASSERT(!"a query parameter not in QP_NAMES");
    return NULL;
}

/* Parse ?limit= within [lo, hi]; -1 after replying 400. */
static int limit_param(struct ctx *x, int def, int lo, int hi)
{
    const char *v = query_param(x, "limit");
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

static void file_list(struct ctx *x)
{
    int limit = limit_param(x, 10000, 1, 10000);
    if (limit < 0)
        return;
    const char *order = query_param(x, "order");
    if (order && strcmp(order, "asc") && strcmp(order, "desc")) {
        fail(x, FG_E_INVALID, 0, "order", NULL, "Invalid 'order': asc or desc.");
        return;
    }
    struct list_acc a = {json_array(), 0};
    if (fg_batch_store_file_list(x->s, owner_filter(x), query_param(x, "purpose"),
                                 query_param(x, "after"), !order || !strcmp(order, "desc"),
                                 limit + 1, acc_file, &a) < 0) {
        json_decref(a.data);
        storage_failed(x);
        return;
    }
    reply(x, 200, openai_page(a.data, limit));
}

static void file_one(struct ctx *x, const char *id, const char *rest)
{
    struct fg_bfile f;
    if (!strcmp(rest, "/content")) {
        if (x->method != FG_EDGE_GET) {
            fail(x, FG_E_METHOD, 0, NULL, NULL, "GET only.");
            return;
        }
        if (!load_file(x, id, &f, NULL, NULL))
            return;
        if (x->out) { /* streamed on the loop (job_done) */
            x->out->set = x->out->download = true;
            snprintf(x->out->file_id, sizeof x->out->file_id, "%s", f.id);
            x->out->bytes = f.bytes;
            return;
        }
        fg_batch_download_start(x->req, x->s, f.id, f.bytes); /* in pieces (batch_download.h) */
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
    b->expires_at = b->created_at + x->in->window_seconds;
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

/* POST /v1/batches: the valid lines of the input file, written in groups
 * under the batch's hidden row as the file's pieces pass the checker
 * (batch_store.h fg_batch_store_batch_begin): the file is never held whole. */
#define OA_GROUP_BYTES (1u << 20)
#define OA_GROUP_SLOTS 4096

struct oa_lines {
    struct ctx *x;
    struct fg_batch *b;
    const struct fg_batch_jsonl *lc;
    struct fg_bline_in v[OA_GROUP_SLOTS];
    size_t n, bytes;
    int64_t first;
    bool begun, failed;
};

static void oa_clear(struct oa_lines *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free((char *)o->v[i].custom_id);
        free((char *)o->v[i].body);
    }
    o->n = o->bytes = 0;
}

static int oa_flush(struct oa_lines *o)
{
    if (!o->n || o->failed)
        return o->failed ? -1 : 0;
    if ((!o->begun && fg_batch_store_batch_begin(o->x->s, o->b) < 0) ||
        (o->begun = true, fg_batch_store_batch_add(o->x->s, o->b->id, o->first, o->v, o->n) < 0)) {
        o->failed = true;
        oa_clear(o);
        return -1;
    }
    o->first += (int64_t)o->n;
    oa_clear(o);
    return 0;
}

static void collect_line(void *arg, size_t lineno, json_t *line)
{
    struct oa_lines *o = arg;
    if (o->lc->n_errors || o->failed) /* refused at the end: nothing more to store */
        return;
    char *body = json_dumps(json_object_get(line, "body"), JSON_COMPACT);
    struct fg_bline_in *l = &o->v[o->n++];
    l->custom_id = strdup(json_string_value(json_object_get(line, "custom_id")));
    l->body = body ? body : strdup("{}");
    l->body_len = strlen(l->body);
    o->bytes += l->body_len + 64;
    if (o->bytes >= OA_GROUP_BYTES || o->n == OA_GROUP_SLOTS)
        oa_flush(o);
}

/* Feed the file's pieces to the checker; -1 on a storage error. */
static int oa_read(struct ctx *x, const char *file_id, struct fg_batch_jsonl *lc,
                   struct oa_lines *o)
{
    for (int64_t seq = 0;; seq++) {
        char *p = NULL;
        size_t n = 0;
        int rc = fg_batch_store_file_piece(x->s, file_id, seq, &p, &n);
        if (rc <= 0) {
            fg_batch_jsonl_end(lc);
            return rc;
        }
        fg_batch_jsonl_feed(lc, p, n);
        free(p);
        if (o->failed)
            return -1;
    }
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
    json_error_t je;
    json_t *req = json_loadb(x->in->body ? x->in->body : "", x->in->body_len, 0, &je);
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
    } else if (load_file(x, file_id, &f, NULL, NULL)) {
        struct fg_batch b;
        new_batch(x, &b, "batch_", "openai");
        snprintf(b.endpoint, sizeof b.endpoint, "%s", endpoint);
        snprintf(b.input_file_id, sizeof b.input_file_id, "%s", f.id);
        if (md && json_is_object(md))
            b.metadata = json_dumps(md, JSON_COMPACT);
        b.tags = x->in->tags ? fg_xstrdup(x->in->tags) : NULL;
        int64_t window_end = b.expires_at;
        b.expires_at = b.created_at + 3600; /* a hidden row its process never ended: swept */
        struct fg_batch_jsonl lc;
        struct oa_lines *o = calloc(1, sizeof *o);
        *o = (struct oa_lines){.x = x, .b = &b, .lc = &lc};
        fg_batch_jsonl_init(&lc, (size_t)x->in->max_lines, endpoint, collect_line, o);
        int rc = oa_read(x, f.id, &lc, o);
        if (rc == 0 && !lc.n_errors)
            rc = oa_flush(o);
        if (rc == 0 && !lc.n_errors && !o->begun) /* a file without lines */
            rc = fg_batch_store_batch_begin(x->s, &b), o->begun = rc == 0;
        b.expires_at = window_end;
        b.total = o->first;
        snprintf(b.status, sizeof b.status, "in_progress");
        if (rc < 0 || lc.n_errors || fg_batch_store_batch_commit(x->s, &b) < 0) {
            if (o->begun && fg_batch_store_batch_abort(x->s, b.id) < 0)
                fg_error("batch store: batch %s not aborted (its sweep will): %s", b.id,
                         fg_batch_store_errmsg(x->s));
            fg_batch_exec_wake(); /* its lines: the executor's sweep */
            if (lc.n_errors)
                report_lines(x, &lc, "input_file_id");
            else
                storage_failed(x);
        } else {
            fg_batch_exec_wake();
            fg_info("batch %s created by %s: %lld requests", b.id, b.owner, (long long)b.total);
            reply(x, 200, fg_batch_format_openai_batch(&b));
        }
        oa_clear(o);
        free(o);
        fg_batch_store_batch_clear(&b);
        fg_batch_jsonl_free(&lc);
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
        int limit = limit_param(x, 20, 1, 100);
        if (limit >= 0) {
            struct list_acc a = {json_array(), 0};
            if (fg_batch_store_batch_list(x->s, owner_filter(x), "openai", query_param(x, "after"),
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
    const char *pub = x->in->public_url;
    return pub ? pub : "";
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
    int limit = limit_param(x, 20, 1, 1000);
    if (limit >= 0) {
        struct an_acc a = {json_array(), base_url(x)};
        if (fg_batch_store_batch_list(x->s, owner_filter(x), "anthropic",
                                      query_param(x, "after_id"), query_param(x, "before_id"),
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
    if (x->out) {
        x->out->set = true;
        x->out->buf = out;
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
            fg_batch_mcreate_end(x->w, x->req, x->p); /* streamed since its head */
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
            file_list(x);
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

/* At the head: an upload (POST /v1/files, batch_upload.h) and a Message
 * Batches create (POST /v1/messages/batches, batch_mcreate.h) are streamed
 * to the store as they arrive; every other request is read whole. */
static int head(struct fg_worker *w, void **state, struct fg_edge_req *req, const char *path)
{
    if (fg_edge_req_method(req) != FG_EDGE_POST)
        return 0;
    bool upload = !strcmp(path, "/v1/files") || !strcmp(path, "/v1/files/");
    bool mcreate = !strcmp(path, "/v1/messages/batches") || !strcmp(path, "/v1/messages/batches/");
    if (!upload && !mcreate)
        return 0;
    struct ctx x = {w,    req,          NULL, upload ? &fg_provider_openai : &fg_provider_anthropic,
                    NULL, FG_EDGE_POST, NULL, NULL};
    struct fg_batch_store *s = open_store(&x, (struct fg_batch_store **)state);
    if (!s)
        return 1;
    return upload ? fg_batch_upload_head(w, s, req) : fg_batch_mcreate_head(w, s, req);
}

/* Route one request to its handler (x->s open). */
static void dispatch(struct ctx *x, const char *path)
{
    if (!strncmp(path, "/v1/messages/batches", 20))
        anthropic_batches(x, path + 20);
    else if (!strncmp(path, "/v1/files", 9) && (!path[9] || path[9] == '/'))
        files(x, path + 9);
    else if (!strncmp(path, "/v1/batches", 11) && (!path[11] || path[11] == '/'))
        openai_batches(x, path + 11);
    else
        fail(x, FG_E_NOT_FOUND, 0, NULL, "unknown_url", "Unknown path: %.200s", path);
}

/* On the loop: what the handlers will read of req and the config (strings
 * borrowed from req's arena and body, tags malloc'd: reqin_free). */
static void reqin_fill(struct ctx *x, struct reqin *in, const char *path)
{
    memset(in, 0, sizeof *in);
    const char *qs = fg_edgeq_query(x->req);
    for (size_t i = 0; qs && i < NQP; i++)
        in->q[i] = fg_edgeq_param(fg_edge_req_arena(x->req), qs, QP_NAMES[i]);
    struct evbuffer *b = fg_edge_req_body(x->req);
    in->body_len = b ? evbuffer_get_length(b) : 0;
    in->body = in->body_len ? (const char *)evbuffer_pullup(b, -1) : NULL;
    if (x->method == FG_EDGE_POST && !strncmp(path, "/v1/batches", 11) &&
        (!path[11] || !strcmp(path + 11, "/")))
        in->tags = call_tags(x);
    const struct fg_config *cfg = x->w->app->cfg;
    in->window_seconds = cfg->batches.window_seconds;
    in->max_lines = cfg->batches.max_lines;
    in->public_url = cfg->server.public_url;
}

/* ---- off the loop (a Postgres batch store: offq.h) -------------------------- */

/* A request handled on a pool thread: its own copies of what it reads. */
struct job {
    struct ctx x;
    struct reqin in;
    struct out out;
    struct fg_principal p;
    const struct fg_dialect_ops *d;
    struct fg_batch_store **wstore; /* the worker's handle (a download streams there) */
    char *path, *dsn, *q[NQP], *body;
};

static void job_free(struct job *j)
{
    json_decref(j->out.json);
    if (j->out.buf)
        evbuffer_free(j->out.buf);
    for (size_t i = 0; i < NQP; i++)
        free(j->q[i]);
    free(j->in.tags);
    free((char *)j->in.public_url);
    free(j->path);
    free(j->dsn);
    free(j->body);
    free(j);
}

/* On a pool thread: the handler, its reply kept in j->out. */
static void job_work(void **tstate, void *arg)
{
    struct job *j = arg;
    struct fg_batch_store **s = (struct fg_batch_store **)tstate;
    char err[256];
    if (!*s && fg_batch_store_open(j->dsn, s, err, sizeof err) < 0) {
        fg_error("batch store: %s", err);
        fail(&j->x, FG_E_INTERNAL, 0, NULL, "storage_unavailable",
             "frugal's batch storage is unavailable; see the gateway log.");
        return;
    }
    j->x.s = *s;
    dispatch(&j->x, j->path);
    FG_ASSERT(j->out.set); /* every handler path answers */
}

/* On the loop: send what job_work made. */
static void job_done(struct fg_worker *w, struct fg_edge_req *req, void *arg)
{
    struct job *j = arg;
    struct out *o = &j->out;
    if (o->is_err) {
        fg_reply_error(req, j->d, &o->err);
    } else if (o->buf) {
        fg_edge_resp_header(req, "Content-Type", "application/x-jsonl");
        fg_edge_reply_buf(req, 200, o->buf);
    } else if (o->download) {
        /* the file's pieces are read on the loop, through the worker's handle */
        struct ctx x = {w, req, &j->p, j->d, NULL, FG_EDGE_GET, &j->in, NULL};
        if (open_store(&x, j->wstore))
            fg_batch_download_start(req, *j->wstore, o->file_id, o->bytes);
    } else if (o->json) {
        fg_reply_json_value(req, o->status, o->json, JSON_COMPACT);
    } else {
        struct fg_err e;
        fg_err_set(&e, FG_E_INTERNAL, NULL, "storage_error", "%s", "no answer");
        fg_reply_error(req, j->d, &e);
    }
    job_free(j);
}

static void job_abandon(void *arg)
{
    job_free(arg);
}

static char *dup_or_null(const char *s)
{
    return s ? fg_xstrdup(s) : NULL;
}

static void submit(struct ctx *x, struct fg_batch_store **bstore, const char *path)
{
    struct reqin in;
    reqin_fill(x, &in, path);
    struct job *j = fg_xcalloc(1, sizeof *j);
    j->p = *x->p;
    j->p.vkey = NULL; /* the key registry's: read on the loop only (call_tags) */
    j->d = x->d;
    j->wstore = bstore;
    j->path = fg_xstrdup(path);
    j->dsn = fg_xstrdup(fg_config_batch_storage(x->w->app->cfg));
    for (size_t i = 0; i < NQP; i++)
        j->in.q[i] = j->q[i] = dup_or_null(in.q[i]);
    if (in.body_len) {
        j->body = fg_xmalloc(in.body_len);
        memcpy(j->body, in.body, in.body_len);
    }
    j->in.body = j->body;
    j->in.body_len = in.body_len;
    j->in.tags = in.tags;
    j->in.window_seconds = in.window_seconds;
    j->in.max_lines = in.max_lines;
    j->in.public_url = dup_or_null(in.public_url);
    j->x = (struct ctx){NULL, NULL, &j->p, j->d, NULL, x->method, &j->in, &j->out};
    fg_offq_submit(x->w, x->req, job_work, job_done, job_abandon, j);
}

int fg_batch_api_offloop_start(const struct fg_config *cfg, char *err, size_t errlen)
{
    if (fg_pgdb_is_dsn(fg_config_batch_storage(cfg)) == false)
        return 0;
    return fg_offq_start(2, store_free, err, errlen);
}

/* Handle one request (auth already done); *state is w's batch store. */
static void handle(struct fg_worker *w, void **state, struct fg_edge_req *req, const char *path,
                   const struct fg_principal *p)
{
    struct fg_batch_store **bstore = (struct fg_batch_store **)state;
    bool an = !strncmp(path, "/v1/messages/batches", 20);
    struct ctx x = {w,    req,
                    p,    an ? &fg_provider_anthropic : &fg_provider_openai,
                    NULL, fg_edge_req_method(req),
                    NULL, NULL};
    /* streamed since their heads, on the loop (batch_upload.h, batch_mcreate.h) */
    bool streamed =
        x.method == FG_EDGE_POST &&
        (!strcmp(path, "/v1/files") || !strcmp(path, "/v1/files/") ||
         !strcmp(path, "/v1/messages/batches") || !strcmp(path, "/v1/messages/batches/"));
    if (fg_offq_active() && !streamed) {
        submit(&x, bstore, path);
        return;
    }
    if (!(x.s = open_store(&x, bstore)))
        return;
    struct reqin in;
    reqin_fill(&x, &in, path);
    x.in = &in;
    dispatch(&x, path);
    free(in.tags);
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
