/* batch_upload.c — see batch_upload.h. */
#include "batch_upload.h"

#include "assert.h"
#include "batch_exec.h"
#include "batch_format.h"
#include "batch_jsonl.h"
#include "batch_store.h"
#include "edge.h"
#include "edgeq.h"
#include "err.h"
#include "gate.h"
#include "log.h"
#include "multipart.h"
#include "provider.h"
#include "reply.h"
#include "runtime.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_PARTS 8

/* A short form field kept as it passes (its first bytes and its length). */
struct field {
    char v[32];
    size_t len;
    bool seen;
};

enum part_kind { P_NONE, P_FILE, P_FIELD, P_SKIP };

struct upload {
    struct fg_worker *w;
    struct fg_batch_store *s;
    struct fg_edge_req *req;
    uint64_t body_len; /* declared Content-Length, 0 when chunked */
    uint64_t body_seen;
    size_t limit; /* batches.max_file_bytes */
    struct fg_principal p;
    enum part_kind cur;
    struct field *field; /* P_FIELD: which */
    struct field purpose, anchor, seconds;
    bool have_file, begun, committed, answered, too_large, store_failed, dropped;
    int mp_rc; /* the parser's sticky result */
    struct fg_bfile f;
    uint64_t file_bytes;
    char *chunk; /* chunk_cap bytes, malloc'd (owned here) */
    size_t nchunk, chunk_cap;
    uint64_t booked; /* against server.max_body_bytes_in_flight (gate.h) */
    int64_t seq;
    struct fg_batch_jsonl lines;
    struct fg_multipart_stream mp;
};

/* The request's terminal reply: the request ends inside it, and u (in its
 * arena) with it, on_end dropping what was stored; u is not touched after. */
static void answer(struct upload *u, enum fg_err_class cls, const char *param, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void answer(struct upload *u, enum fg_err_class cls, const char *param, const char *code,
                   const char *fmt, ...)
{
    struct fg_err e;
    fg_err_set(&e, cls, param, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    u->answered = true;
    fg_reply_error(u->req, &fg_provider_openai, &e);
}

static void storage_failed(struct upload *u)
{
    fg_error("batch store: %s", fg_batch_store_errmsg(u->s));
    answer(u, FG_E_INTERNAL, NULL, "storage_error",
           "frugal could not read or write its batch storage; see the gateway log.");
}

/* Drop what was stored (the row and its chunks); stop storing. */
static void drop(struct upload *u)
{
    if (u->begun && !u->committed && !u->dropped) {
        if (fg_batch_store_upload_abort(u->s, u->f.id) < 0)
            fg_error("batch store: upload %s not deleted (files_expire will): %s", u->f.id,
                     fg_batch_store_errmsg(u->s));
        fg_batch_exec_wake(); /* its chunks: the executor's sweep */
    }
    u->dropped = true;
}

static int flush_chunk(struct upload *u)
{
    if (!u->nchunk || u->dropped)
        return 0;
    if (fg_batch_store_upload_chunk(u->s, u->f.id, u->seq, u->chunk, u->nchunk) < 0) {
        u->store_failed = true;
        return -1;
    }
    u->seq++;
    u->nchunk = 0;
    return 0;
}

/* ---- the parser's callbacks (nonzero stops it) */

static int on_part(void *arg, const struct fg_mp_part *p)
{
    struct upload *u = arg;
    u->cur = P_SKIP;
    struct field *fl = !strcmp(p->name, "purpose")                  ? &u->purpose
                       : !strcmp(p->name, "expires_after[anchor]")  ? &u->anchor
                       : !strcmp(p->name, "expires_after[seconds]") ? &u->seconds
                                                                    : NULL;
    if (fl && !fl->seen) {
        fl->seen = true;
        u->field = fl;
        u->cur = P_FIELD;
    } else if (!strcmp(p->name, "file") && !u->have_file) {
        u->have_file = true;
        u->cur = P_FILE;
        snprintf(u->f.filename, sizeof u->f.filename, "%s",
                 p->filename[0] ? p->filename : "upload.jsonl");
        u->chunk = fg_xmalloc(u->chunk_cap);
        if (fg_batch_store_upload_begin(u->s, &u->f) < 0) {
            u->store_failed = true;
            return 1;
        }
        u->begun = true;
    }
    return 0;
}

static int on_data(void *arg, const char *p, size_t n)
{
    struct upload *u = arg;
    if (u->cur == P_FIELD) {
        struct field *fl = u->field;
        if (fl->len < sizeof fl->v - 1) {
            size_t k = sizeof fl->v - 1 - fl->len;
            memcpy(fl->v + fl->len, p, k < n ? k : n);
        }
        fl->len += n;
        return 0;
    }
    if (u->cur != P_FILE)
        return 0;
    u->file_bytes += n;
    if (u->file_bytes > u->limit) {
        u->too_large = true;
        return 1;
    }
    fg_batch_jsonl_feed(&u->lines, p, n);
    if (u->lines.n_errors) /* refused at the end: stop writing now */
        drop(u);
    while (n && !u->dropped) {
        size_t k = u->chunk_cap - u->nchunk;
        if (k > n)
            k = n;
        memcpy(u->chunk + u->nchunk, p, k);
        u->nchunk += k;
        p += k;
        n -= k;
        if (u->nchunk == u->chunk_cap && flush_chunk(u) < 0)
            return 1;
    }
    return 0;
}

static int on_part_end(void *arg)
{
    struct upload *u = arg;
    if (u->cur == P_FILE) {
        fg_batch_jsonl_end(&u->lines);
        if (u->lines.n_errors)
            drop(u);
        if (flush_chunk(u) < 0)
            return 1;
    }
    u->cur = P_NONE;
    return 0;
}

/* ---- the body */

/* Answer what stopped the stream; true when there was such a thing. */
static bool answer_stop(struct upload *u)
{
    if (u->too_large) {
        drop(u);
        answer(u, FG_E_TOO_LARGE, "file", "file_too_large",
               "The file is over the limit of %zu bytes (batches.max_file_bytes); nothing was "
               "stored.",
               u->limit);
    } else if (u->store_failed) {
        drop(u);
        storage_failed(u);
    } else {
        return false;
    }
    return true;
}

static void sink(struct fg_edge_req *r, const char *p, size_t n, void *arg)
{
    struct upload *u = arg;
    u->body_seen += n;
    if (u->mp_rc)
        return; /* failed: the answer waits for the body's end */
    u->mp_rc = fg_multipart_stream_push(&u->mp, p, n);
    if (!u->mp_rc || answer_stop(u))
        return;
    drop(u);
    /* a malformed body is answered now, unless it is complete (then the
     * request hook answers, keeping the connection) */
    if (!u->body_len || u->body_seen < u->body_len)
        answer(u, FG_E_INVALID, "file", NULL, "Invalid multipart body: %s", u->mp.err);
}

static void on_end(struct fg_edge_req *r, void *arg)
{
    struct upload *u = arg;
    drop(u);
    fg_batch_jsonl_free(&u->lines);
    free(u->chunk);
    u->chunk = NULL;
    fg_gate_release(u->booked);
}

/* Book what the upload may hold against server.max_body_bytes_in_flight
 * (its state, one chunk, the longest line it carries; never more than its
 * declared length): false after a 503, as the gateway answers a body over
 * that bound (wire.h). */
static bool book(struct upload *u)
{
    const struct fg_server_cfg *sc = &u->w->app->cfg->server;
    uint64_t line = sc->max_body_bytes, most = u->body_len ? u->body_len : UINT64_MAX;
    u->chunk_cap = most < FG_BATCH_UPLOAD_CHUNK ? (size_t)most : FG_BATCH_UPLOAD_CHUNK;
    uint64_t n = sizeof *u + u->chunk_cap + (line < most ? line : most);
    if (fg_gate_reserve(n, sc->max_body_bytes_in_flight)) {
        u->booked = n;
        return true;
    }
    answer(u, FG_E_UNAVAILABLE, NULL, "server_busy",
           "frugal is receiving as many request bodies as it takes at once "
           "(server.max_body_bytes_in_flight = %zu bytes); retry shortly.",
           sc->max_body_bytes_in_flight);
    return false;
}

int fg_batch_upload_head(struct fg_worker *w, struct fg_batch_store *s, struct fg_edge_req *req)
{
    struct upload *u = fg_arena_alloc(fg_edge_req_arena(req), sizeof *u);
    memset(u, 0, offsetof(struct upload, mp));
    u->w = w;
    u->s = s;
    u->req = req;
    u->limit = w->app->cfg->batches.max_file_bytes;
    const struct fg_reqhead *h = fg_edge_req_head(req);
    u->body_len = h->has_length ? h->length : 0;
    if (fg_auth_request(w, req, &fg_provider_openai, &u->p) < 0)
        return 1;
    if (!book(u))
        return 1;
    fg_edge_req_on_end(req, on_end, u); /* gives the booking back, however it ends */
    const char *ctype = fg_edgeq_header(req, "content-type");
    if (!ctype || strncasecmp(ctype, "multipart/form-data", 19)) {
        answer(u, FG_E_INVALID, "file", NULL,
               "POST /v1/files takes multipart/form-data with fields 'file' and 'purpose'.");
        return 1;
    }
    struct fg_multipart_stream_cbs cb = {on_part, on_data, on_part_end, u};
    if (fg_multipart_stream_init(&u->mp, ctype, MAX_PARTS, &cb) < 0) {
        answer(u, FG_E_INVALID, "file", NULL, "Invalid multipart body: %s", u->mp.err);
        return 1;
    }
    fg_batch_jsonl_init(&u->lines, (size_t)w->app->cfg->batches.max_lines, NULL, NULL, NULL);
    fg_batch_store_new_id("file-", u->f.id, sizeof u->f.id);
    snprintf(u->f.owner, sizeof u->f.owner, "%s", u->p.key_id);
    snprintf(u->f.purpose, sizeof u->f.purpose, "batch");
    u->f.created_at = (int64_t)time(NULL);
    /* a row its process never ended is swept after the body's deadline */
    u->f.expires_at = u->f.created_at + w->app->cfg->server.body_timeout_ms / 1000 + 3600;
    fg_batch_jsonl_max_line(&u->lines, w->app->cfg->server.max_body_bytes);
    fg_edge_req_set_sink(req, sink, u);
    fg_edge_req_set_app(req, u);
    return 2;
}

/* OpenAI's optional expires_after[anchor]=created_at, expires_after[seconds]
 * (3600 to 2592000): 0 with *ttl set (0 = the default), or -1 after a 400. */
static int expires_after(struct upload *u, int64_t *ttl)
{
    *ttl = 0;
    if (!u->anchor.seen && !u->seconds.seen)
        return 0;
    const struct field *secs = &u->seconds, *anchor = &u->anchor;
    char buf[24] = "";
    if (secs->seen && secs->len < sizeof buf)
        memcpy(buf, secs->v, secs->len), buf[secs->len] = '\0';
    char *end = NULL;
    long long v = strtoll(buf, &end, 10);
    bool anchor_ok = !anchor->seen || (anchor->len == 10 && !memcmp(anchor->v, "created_at", 10));
    if (!secs->seen || !*buf || *end || v < 3600 || v > 2592000 || !anchor_ok) {
        answer(u, FG_E_INVALID, "expires_after", NULL,
               "Invalid 'expires_after': anchor must be 'created_at' and seconds 3600 to "
               "2592000.");
        return -1;
    }
    *ttl = v;
    return 0;
}

/* The checks of a complete body, in the order the whole-body upload made
 * them; 0 when the file may be committed, else answered. */
static int check_complete(struct upload *u)
{
    if (!u->mp_rc)
        u->mp_rc = fg_multipart_stream_finish(&u->mp);
    if (u->mp_rc) {
        answer(u, FG_E_INVALID, "file", NULL, "Invalid multipart body: %s", u->mp.err);
        return -1;
    }
    if (!u->have_file) {
        answer(u, FG_E_INVALID, "file", NULL, "Missing the 'file' field.");
        return -1;
    }
    if (!u->purpose.seen) {
        answer(u, FG_E_INVALID, "purpose", NULL, "Missing the 'purpose' field.");
        return -1;
    }
    if (u->purpose.len != 5 || memcmp(u->purpose.v, "batch", 5)) {
        answer(u, FG_E_INVALID, "purpose", NULL,
               "Invalid 'purpose': frugal stores files for batches only (purpose 'batch').");
        return -1;
    }
    if (u->lines.n_errors) {
        char msg[400];
        fg_batch_jsonl_report(&u->lines, msg, sizeof msg);
        answer(u, FG_E_INVALID, "file", "invalid_batch_file", "%s", msg);
        return -1;
    }
    if (u->lines.n_lines == 0) {
        answer(u, FG_E_INVALID, "file", "invalid_batch_file",
               "The batch file has no requests (one JSON request per line).");
        return -1;
    }
    return 0;
}

void fg_batch_upload_end(struct fg_worker *w, struct fg_edge_req *req, const struct fg_principal *p)
{
    struct upload *u = fg_edge_req_app(req);
    FG_ASSERT(!u || (u->req == req && !u->answered));
    if (!u) { /* only the head hook starts an upload (wire.c) */
        struct fg_err e;
        fg_err_set(&e, FG_E_INTERNAL, NULL, "upload_not_streamed", "%s",
                   "frugal did not receive this upload through its head hook.");
        fg_reply_error(req, &fg_provider_openai, &e);
        return;
    }
    int64_t ttl = 0;
    if (check_complete(u) < 0 || expires_after(u, &ttl) < 0)
        return; /* answered: the request ended, u with it (on_end dropped the upload) */
    u->f.bytes = (int64_t)u->file_bytes;
    u->f.expires_at =
        u->f.created_at + (ttl ? ttl : (int64_t)w->app->cfg->batches.retention_days * 86400);
    if (fg_batch_store_upload_commit(u->s, &u->f) < 0) {
        drop(u);
        storage_failed(u);
        return;
    }
    u->committed = true;
    json_t *v = fg_batch_format_file(&u->f);
    fg_reply_json_value(req, 200, v, JSON_COMPACT);
    json_decref(v);
}
