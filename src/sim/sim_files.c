/* sim_files.c — the simulated OpenAI Files API (wire spec section 2.1), in
 * memory: POST /v1/files (multipart/form-data: file + purpose, optional
 * expires_after[anchor] / expires_after[seconds]), GET /v1/files (after,
 * limit, order, purpose), GET /v1/files/{id}, GET /v1/files/{id}/content
 * (the raw bytes), DELETE /v1/files/{id}.  The batch files also live here:
 * inputs uploaded with purpose "batch" and the outputs the OpenAI batches
 * write (purpose "batch_output").
 *
 * Like the API: a batch upload must be a .jsonl file; purpose "batch"
 * files expire after 30 days unless expires_after says otherwise; an
 * unknown id is a 404 "No such File object". */
#include "sim_batch_internal.h"

#include "multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FORM_PARTS 16
#define BATCH_FILE_TTL_S (30LL * 24 * 3600)

struct sim_file {
    char id[64];
    char filename[256];
    char purpose[32];
    char *data;
    size_t len;
    long long created_at, expires_at; /* expires_at 0: none */
    struct sim_file *next;
};

/* ---- the store --------------------------------------------------------------- */

struct sim_file *sim_file_find(struct sim_batches *s, const char *id)
{
    for (struct sim_file *f = s->files; f; f = f->next)
        if (strcmp(f->id, id) == 0)
            return f;
    return NULL;
}

const char *sim_file_data(const struct sim_file *f, size_t *len)
{
    *len = f->len;
    return f->data;
}

const char *sim_file_purpose(const struct sim_file *f)
{
    return f->purpose;
}

const char *sim_file_id(const struct sim_file *f)
{
    return f->id;
}

struct sim_file *sim_file_add(struct sim_batches *s, const char *filename, const char *purpose,
                              const char *data, size_t len, long long created_at,
                              long long expires_at)
{
    struct sim_file *f = fg_xcalloc(1, sizeof *f);
    sim_batch_new_id(s, "file-", f->id);
    snprintf(f->filename, sizeof f->filename, "%s", filename);
    snprintf(f->purpose, sizeof f->purpose, "%s", purpose);
    f->data = fg_xmalloc(len ? len : 1);
    if (len)
        memcpy(f->data, data, len);
    f->len = len;
    f->created_at = created_at;
    f->expires_at = expires_at;
    f->next = s->files;
    s->files = f;
    s->stored += len;
    s->objects++;
    return f;
}

static void file_free(struct sim_batches *s, struct sim_file *f)
{
    s->stored -= f->len;
    s->objects--;
    free(f->data);
    free(f);
}

void sim_files_free(struct sim_batches *s)
{
    while (s->files) {
        struct sim_file *f = s->files;
        s->files = f->next;
        file_free(s, f);
    }
}

/* ---- shapes ---------------------------------------------------------------------- */

static json_t *file_json(const struct sim_file *f)
{
    json_t *v = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "id", f->id, "object", "file", "bytes",
                          (json_int_t)f->len, "created_at", (json_int_t)f->created_at, "filename",
                          f->filename, "purpose", f->purpose, "status", "processed");
    json_object_set_new(v, "expires_at", f->expires_at ? json_integer(f->expires_at) : json_null());
    json_object_set_new(v, "status_details", json_null());
    return v;
}

static void reply_value(struct sim_ctx *c, struct sim_reply *r, json_t *v)
{
    sim_reply_json(c->arena, r, 200, v);
    json_decref(v);
}

static void no_such_file(struct sim_ctx *c, struct sim_reply *r, const char *id)
{
    sim_openai_error(c, r, 404, "invalid_request_error", "id", NULL,
                     fg_arena_printf(c->arena, "No such File object: %s", id));
}

static void bad(struct sim_ctx *c, struct sim_reply *r, const char *param, const char *code,
                const char *msg)
{
    sim_openai_error(c, r, 400, "invalid_request_error", param, code, msg);
}

/* ---- upload ------------------------------------------------------------------------ */

static int valid_purpose(const char *p)
{
    static const char *const ok[] = {"assistants", "batch",     "fine-tune",
                                     "vision",     "user_data", "evals"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(p, ok[i]) == 0)
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A small text field of the form, NUL-terminated in the arena, or NULL. */
static const char *field(struct sim_ctx *c, const struct fg_mp_part *p, int n, const char *name)
{
    const struct fg_mp_part *f = fg_multipart_find(p, n, name);
    return f ? fg_arena_strndup(c->arena, f->data, f->len) : NULL;
}

/* expires_after[...] into *expires_at; 0 or -1 with the error reply. */
static int expiry(struct sim_ctx *c, struct sim_reply *r, const struct fg_mp_part *p, int n,
                  long long now, const char *purpose, long long *expires_at)
{
    const char *anchor = field(c, p, n, "expires_after[anchor]");
    const char *secs = field(c, p, n, "expires_after[seconds]");
    *expires_at = strcmp(purpose, "batch") == 0 ? now + BATCH_FILE_TTL_S : 0;
    if (!anchor && !secs)
        return 0;
    if (!anchor || strcmp(anchor, "created_at") != 0) {
        bad(c, r, "expires_after.anchor", "invalid_value",
            "Invalid value for 'expires_after.anchor': supported values are: 'created_at'.");
        return -1;
    }
    long v;
    if (!secs || sim_parse_limit(secs, 3600, 2592000, &v) || !secs[0]) {
        bad(c, r, "expires_after.seconds", "invalid_value",
            "Invalid 'expires_after.seconds': expected an integer between 3600 and 2592000.");
        return -1;
    }
    *expires_at = now + v;
    return 0;
}

static void upload(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                   struct sim_reply *r)
{
    struct fg_mp_part parts[MAX_FORM_PARTS];
    char err[200];
    int n = fg_multipart_parse(h->content_type, h->body, h->len, parts, MAX_FORM_PARTS, err,
                               sizeof err);
    if (n < 0) {
        bad(c, r, NULL, NULL, err);
        return;
    }
    const struct fg_mp_part *file = fg_multipart_find(parts, n, "file");
    const char *purpose = field(c, parts, n, "purpose");
    if (!file || !file->has_filename) {
        bad(c, r, "file", "missing_required_parameter", "Missing required parameter: 'file'.");
        return;
    }
    if (!purpose) {
        bad(c, r, "purpose", "missing_required_parameter",
            "Missing required parameter: 'purpose'.");
        return;
    }
    if (!valid_purpose(purpose)) {
        bad(c, r, "purpose", "invalid_value",
            fg_arena_printf(c->arena,
                            "Invalid value: '%.64s'. Supported values are: 'assistants', "
                            "'batch', 'fine-tune', 'vision', 'user_data', and 'evals'.",
                            purpose));
        return;
    }
    if (strcmp(purpose, "batch") == 0 && !ends_with(file->filename, ".jsonl")) {
        bad(c, r, NULL, NULL, "Invalid file format for Batch API. Must be .jsonl");
        return;
    }
    long long now = (long long)(h->wall_ms / 1000), expires_at;
    if (expiry(c, r, parts, n, now, purpose, &expires_at))
        return;
    if (s->stored + file->len > SIM_STORE_MAX_BYTES || s->objects >= SIM_STORE_MAX_OBJECTS) {
        bad(c, r, "file", NULL,
            "The simulated provider's file storage is full (1 GiB or 10,000 files and batches); "
            "delete files first.");
        return;
    }
    struct sim_file *f =
        sim_file_add(s, file->filename, purpose, file->data, file->len, now, expires_at);
    reply_value(c, r, file_json(f));
}

/* ---- list ------------------------------------------------------------------------------- */

static void list(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                 struct sim_reply *r)
{
    const char *after = sim_query_get(c->arena, h->query, "after");
    const char *order = sim_query_get(c->arena, h->query, "order");
    const char *purpose = sim_query_get(c->arena, h->query, "purpose");
    long limit = 10000;
    if (sim_parse_limit(sim_query_get(c->arena, h->query, "limit"), 1, 10000, &limit)) {
        bad(c, r, "limit", "invalid_value",
            "Invalid 'limit': expected an integer between 1 and 10000.");
        return;
    }
    int asc = order && strcmp(order, "asc") == 0;
    if (order && !asc && strcmp(order, "desc") != 0) {
        bad(c, r, "order", "invalid_value",
            "Invalid value for 'order': supported values are: 'asc' and 'desc'.");
        return;
    }
    /* The store is newest first; asc walks it backwards. */
    size_t n = 0;
    for (struct sim_file *f = s->files; f; f = f->next)
        n++;
    struct sim_file **v = fg_arena_alloc(c->arena, (n ? n : 1) * sizeof *v);
    size_t k = 0;
    for (struct sim_file *f = s->files; f; f = f->next)
        if (!purpose || strcmp(f->purpose, purpose) == 0)
            v[k++] = f;
    if (asc)
        for (size_t i = 0; i < k / 2; i++) {
            struct sim_file *t = v[i];
            v[i] = v[k - 1 - i];
            v[k - 1 - i] = t;
        }
    size_t start = 0;
    if (after) {
        start = k; /* an unknown cursor lists nothing */
        for (size_t i = 0; i < k; i++)
            if (strcmp(v[i]->id, after) == 0)
                start = i + 1;
    }
    json_t *data = json_array();
    size_t i = start;
    for (; i < k && (long)(i - start) < limit; i++)
        json_array_append_new(data, file_json(v[i]));
    size_t got = i - start;
    json_t *out = json_pack("{s:s,s:o,s:o,s:o,s:b}", "object", "list", "data", data, "first_id",
                            got ? json_string(v[start]->id) : json_null(), "last_id",
                            got ? json_string(v[i - 1]->id) : json_null(), "has_more", i < k);
    reply_value(c, r, out);
}

/* ---- routes ------------------------------------------------------------------------------ */

void sim_files_handle(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                      const char *rest, struct sim_reply *r)
{
    if (!*rest) {
        if (h->method == SIM_POST)
            upload(s, c, h, r);
        else if (h->method == SIM_GET)
            list(s, c, h, r);
        else
            sim_batch_bad_route(c, SIM_OPENAI, h, 1, r);
        return;
    }
    char id[64];
    const char *tail;
    if (sim_path_id(rest, id, &tail) || (*tail && strcmp(tail, "/content") != 0)) {
        sim_batch_bad_route(c, SIM_OPENAI, h, 0, r);
        return;
    }
    int content = *tail != '\0';
    if (h->method != SIM_GET && !(h->method == SIM_DELETE && !content)) {
        sim_batch_bad_route(c, SIM_OPENAI, h, 1, r);
        return;
    }
    struct sim_file *f = sim_file_find(s, id);
    if (!f) {
        no_such_file(c, r, id);
        return;
    }
    if (content) {
        /* A copy: the reply may be sent after a delay, the file deleted meanwhile. */
        char *copy = fg_arena_alloc(c->arena, f->len + 1);
        memcpy(copy, f->data, f->len);
        copy[f->len] = '\0';
        r->status = 200;
        r->content_type = "application/octet-stream";
        r->body = copy;
        r->body_len = f->len;
        return;
    }
    if (h->method == SIM_DELETE) {
        json_t *v = json_pack("{s:s,s:s,s:b}", "id", f->id, "object", "file", "deleted", 1);
        for (struct sim_file **pp = &s->files; *pp; pp = &(*pp)->next)
            if (*pp == f) {
                *pp = f->next;
                break;
            }
        file_free(s, f);
        reply_value(c, r, v);
        return;
    }
    reply_value(c, r, file_json(f));
}
