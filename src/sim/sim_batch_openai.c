/* sim_batch_openai.c — the simulated OpenAI Batch API (wire spec sections
 * 2.2-2.3), in memory: POST /v1/batches, GET /v1/batches/{id},
 * POST /v1/batches/{id}/cancel, GET /v1/batches (after, limit).
 *
 * Create checks the request (input_file_id of a purpose "batch" file,
 * endpoint "/v1/chat/completions" or "/v1/embeddings", completion_window "24h", metadata) and
 * validates every input line like OpenAI: JSON object, custom_id present
 * and unique, method "POST", url equal to the endpoint, body an object, one
 * model for the whole file, at most 50,000 requests, not empty.  A bad line
 * makes the batch "failed" with errors.data[{code, message, param, line}]
 * (line numbers 1-based); the create reply itself says "validating".
 *
 * Lifecycle (lazy, see sim_batch_internal.h): validating -> in_progress as soon as
 * it is looked at -> completed when the last line is done (finalizing_at =
 * completed_at).  request_counts.completed / failed grow as lines finish
 * (2xx / other statuses); expired and cancelled lines count in neither.
 * "#sim:batch_expire": at created + delay the lines not done expire and
 * the batch is "expired".  Cancel: lines not done are cancelled, status
 * "cancelling", and "cancelled" at the next look.  At the end the output
 * file (purpose batch_output) gets the 2xx lines and the error file the
 * others, input order, each with custom_id; a file with no line is not
 * created (its id stays null).  usage sums the succeeded lines. */
#include "sim_batch_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENDPOINT "/v1/chat/completions"
#define EMBEDDINGS "/v1/embeddings" /* the other endpoint the sim runs */
#define RESPONSES "/v1/responses"
#define MAX_ERRORS 100

enum oa_status {
    OA_VALIDATING,
    OA_FAILED,
    OA_IN_PROGRESS,
    OA_CANCELLING,
    OA_CANCELLED,
    OA_COMPLETED,
    OA_EXPIRED
};

static const char *const status_name[] = {"validating", "failed",    "in_progress", "cancelling",
                                          "cancelled",  "completed", "expired"};

enum line_kind { L_PENDING, L_OK, L_ERROR, L_EXPIRED, L_CANCELLED };

struct oa_line {
    char *custom_id;
    char *body; /* compact JSON of the request body, until the line is decided */
    char *out;  /* its output- or error-file line, once decided */
    enum line_kind kind;
};

struct sim_oa_batch {
    char id[64];
    char input_file_id[64];
    char endpoint[32];                          /* ENDPOINT, EMBEDDINGS or RESPONSES */
    char output_file_id[64], error_file_id[64]; /* "": null */
    char *model;                                /* of the first line, or NULL */
    int responses;                              /* a /v1/responses batch */
    json_t *metadata;                           /* or NULL */
    json_t *errors;                             /* validation errors, or NULL */
    enum oa_status status;
    struct sim_sched sched;
    /* Unix ms; 0: null */
    uint64_t in_progress_ms, finalizing_ms, completed_ms, failed_ms, expired_ms, cancelling_ms,
        cancelled_ms;
    struct oa_line *lines;
    size_t n, next, total; /* next: first line not decided; total survives freeing lines */
    size_t completed, failed;
    uint64_t in_tok, cached_tok, out_tok, reasoning_tok;
    uint64_t bytes; /* held in s->stored */
    struct sim_oa_batch *next_batch;
};

/* ---- lifetime --------------------------------------------------------------------- */

static void free_lines(struct sim_batches *s, struct sim_oa_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->lines[i].custom_id);
        free(b->lines[i].body);
        free(b->lines[i].out);
    }
    free(b->lines);
    b->lines = NULL;
    b->n = 0;
    s->stored -= b->bytes;
    b->bytes = 0;
}

static void batch_free(struct sim_batches *s, struct sim_oa_batch *b)
{
    free_lines(s, b);
    free(b->model);
    json_decref(b->metadata);
    json_decref(b->errors);
    s->objects--;
    free(b);
}

void sim_oa_batches_free(struct sim_batches *s)
{
    while (s->oa) {
        struct sim_oa_batch *b = s->oa;
        s->oa = b->next_batch;
        batch_free(s, b);
    }
}

static struct sim_oa_batch *find(struct sim_batches *s, const char *id)
{
    for (struct sim_oa_batch *b = s->oa; b; b = b->next_batch)
        if (strcmp(b->id, id) == 0)
            return b;
    return NULL;
}

/* ---- the Batch object --------------------------------------------------------------- */

static json_t *ts(uint64_t ms)
{
    return ms ? json_integer((json_int_t)(ms / 1000)) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *batch_json(const struct sim_oa_batch *b)
{
    json_t *v = json_object();
    json_object_set_new(v, "id", json_string(b->id));
    json_object_set_new(v, "object", json_string("batch"));
    json_object_set_new(v, "endpoint", json_string(b->endpoint));
    json_object_set_new(v, "errors", b->errors ? json_incref(b->errors) : json_null());
    json_object_set_new(v, "input_file_id", json_string(b->input_file_id));
    json_object_set_new(v, "completion_window", json_string("24h"));
    json_object_set_new(v, "status", json_string(status_name[b->status]));
    json_object_set_new(v, "output_file_id", str_or_null(b->output_file_id));
    json_object_set_new(v, "error_file_id", str_or_null(b->error_file_id));
    json_object_set_new(v, "created_at", ts(b->sched.created_ms));
    json_object_set_new(v, "in_progress_at", ts(b->in_progress_ms));
    uint64_t expires =
        b->sched.expire ? sim_sched_end_ms(&b->sched) : b->sched.created_ms + 24ULL * 3600 * 1000;
    json_object_set_new(v, "expires_at", ts(expires));
    json_object_set_new(v, "finalizing_at", ts(b->finalizing_ms));
    json_object_set_new(v, "completed_at", ts(b->completed_ms));
    json_object_set_new(v, "failed_at", ts(b->failed_ms));
    json_object_set_new(v, "expired_at", ts(b->expired_ms));
    json_object_set_new(v, "cancelling_at", ts(b->cancelling_ms));
    json_object_set_new(v, "cancelled_at", ts(b->cancelled_ms));
    json_object_set_new(v, "request_counts",
                        json_pack("{s:I,s:I,s:I}", "total", (json_int_t)b->total, "completed",
                                  (json_int_t)b->completed, "failed", (json_int_t)b->failed));
    json_object_set_new(v, "metadata", b->metadata ? json_incref(b->metadata) : json_null());
    if (b->model)
        json_object_set_new(v, "model", json_string(b->model));
    json_object_set_new(v, "usage",
                        json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}", "input_tokens",
                                  (json_int_t)b->in_tok, "input_tokens_details", "cached_tokens",
                                  (json_int_t)b->cached_tok, "output_tokens",
                                  (json_int_t)b->out_tok, "output_tokens_details",
                                  "reasoning_tokens", (json_int_t)b->reasoning_tok, "total_tokens",
                                  (json_int_t)(b->in_tok + b->out_tok)));
    return v;
}

static void reply_batch(struct sim_ctx *c, struct sim_reply *r, const struct sim_oa_batch *b)
{
    json_t *v = batch_json(b);
    sim_reply_json(c->arena, r, 200, v);
    json_decref(v);
}

/* ---- running lines -------------------------------------------------------------------- */

static char *dump(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
}

static json_int_t usage_int(const json_t *u, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(u, k1);
    return json_integer_value(k2 ? json_object_get(v, k2) : v);
}

/* An embeddings line: the real-time handler's answer. */
static void run_embeddings(struct sim_ctx *c, const json_t *body, struct sim_line_answer *out)
{
    struct sim_reply rep = {0};
    sim_openai_embeddings(c, body, &rep);
    out->status = rep.status;
    out->body = rep.body ? json_loadb(rep.body, rep.body_len, 0, NULL) : NULL;
    if (!out->body)
        out->body = json_object();
    out->request_id = fg_arena_printf(c->arena, "req_sim_%s", c->id);
}

static void run_line(struct sim_batches *s, struct sim_oa_batch *b, size_t i,
                     const struct sim_ctx *parent)
{
    struct oa_line *l = &b->lines[i];
    struct fg_arena a;
    fg_arena_init(&a);
    uint64_t at = sim_sched_done_ms(&b->sched, i);
    uint64_t h = sim_hash(sim_hash(SIM_HASH_INIT, b->id, strlen(b->id)), &i, sizeof i);
    struct sim_ctx c = {
        .arena = &a,
        .cache = parent->cache,
        .responses = parent->responses,
        .now_ms = parent->now_ms,
        .created = (long long)(at / 1000),
        .id = fg_arena_printf(&a, "%016llx", (unsigned long long)h),
        .tokens = -1,
        .credential = parent->credential, /* #sim:echo_auth */
    };
    json_t *body = json_loads(l->body, 0, NULL);
    struct sim_line_answer ans;
    if (!strcmp(b->endpoint, EMBEDDINGS))
        run_embeddings(&c, body, &ans);
    else if (b->responses)
        sim_batch_run_responses_line(&c, body, &ans);
    else
        sim_batch_run_line(&c, SIM_OPENAI, body, &ans);
    json_decref(body);
    char rid[64];
    sim_batch_new_id(s, "batch_req_", rid);
    int ok = ans.status >= 200 && ans.status < 300;
    if (ok) {
        const json_t *u = json_object_get(ans.body, "usage");
        int rs = b->responses; /* Responses usage names its fields differently */
        b->in_tok += (uint64_t)usage_int(u, rs ? "input_tokens" : "prompt_tokens", NULL);
        b->cached_tok += (uint64_t)usage_int(
            u, rs ? "input_tokens_details" : "prompt_tokens_details", "cached_tokens");
        b->out_tok += (uint64_t)usage_int(u, rs ? "output_tokens" : "completion_tokens", NULL);
        b->reasoning_tok += (uint64_t)usage_int(
            u, rs ? "output_tokens_details" : "completion_tokens_details", "reasoning_tokens");
        b->completed++;
    } else {
        b->failed++;
    }
    l->out = dump(json_pack("{s:s,s:s,s:{s:i,s:s,s:o},s:n}", "id", rid, "custom_id", l->custom_id,
                            "response", "status_code", ans.status, "request_id", ans.request_id,
                            "body", ans.body, "error"));
    l->kind = ok ? L_OK : L_ERROR;
    free(l->body);
    l->body = NULL;
    fg_arena_free(&a);
}

/* Lines not decided yet will never run. */
static void abandon(struct sim_batches *s, struct sim_oa_batch *b, enum line_kind kind)
{
    const char *code = kind == L_EXPIRED ? "batch_expired" : "batch_cancelled";
    const char *msg = kind == L_EXPIRED
                          ? "This request could not be executed before the completion window "
                            "expired."
                          : "This request was not executed because the batch was cancelled.";
    for (; b->next < b->n; b->next++) {
        struct oa_line *l = &b->lines[b->next];
        char rid[64];
        sim_batch_new_id(s, "batch_req_", rid);
        l->out = dump(json_pack("{s:s,s:s,s:n,s:{s:s,s:s}}", "id", rid, "custom_id", l->custom_id,
                                "response", "error", "code", code, "message", msg));
        l->kind = kind;
        free(l->body);
        l->body = NULL;
    }
}

/* Write the output and error files, then drop the lines. */
static void write_files(struct sim_batches *s, struct sim_oa_batch *b, uint64_t at_ms)
{
    struct sim_buf out = {0}, err = {0};
    for (size_t i = 0; i < b->n; i++) {
        struct sim_buf *dst = b->lines[i].kind == L_OK ? &out : &err;
        if (!b->lines[i].out)
            continue;
        sim_buf_adds(dst, b->lines[i].out);
        sim_buf_add(dst, "\n", 1);
    }
    long long created = (long long)(at_ms / 1000), expires = created + 30LL * 24 * 3600;
    char name[128];
    if (out.len) {
        snprintf(name, sizeof name, "%s_output.jsonl", b->id);
        struct sim_file *f =
            sim_file_add(s, name, "batch_output", out.p, out.len, created, expires);
        snprintf(b->output_file_id, sizeof b->output_file_id, "%s", sim_file_id(f));
    }
    if (err.len) {
        snprintf(name, sizeof name, "%s_error.jsonl", b->id);
        struct sim_file *f =
            sim_file_add(s, name, "batch_output", err.p, err.len, created, expires);
        snprintf(b->error_file_id, sizeof b->error_file_id, "%s", sim_file_id(f));
    }
    sim_buf_free(&out);
    sim_buf_free(&err);
    free_lines(s, b);
}

/* Bring <b> to time <t>. */
static void advance(struct sim_batches *s, struct sim_oa_batch *b, const struct sim_ctx *c,
                    uint64_t t)
{
    if (b->status == OA_VALIDATING) {
        if (b->errors) {
            b->status = OA_FAILED;
            b->failed_ms = t > b->sched.created_ms ? t : b->sched.created_ms;
            return;
        }
        b->status = OA_IN_PROGRESS;
        b->in_progress_ms = b->sched.created_ms;
    }
    if (b->status == OA_CANCELLING) {
        b->status = OA_CANCELLED;
        b->cancelled_ms = t;
        write_files(s, b, t);
        return;
    }
    if (b->status != OA_IN_PROGRESS)
        return;
    while (b->next < b->n && sim_sched_line_done(&b->sched, b->next, t))
        run_line(s, b, b->next++, c);
    if (b->next == b->n) {
        b->status = OA_COMPLETED;
        b->finalizing_ms = b->completed_ms =
            b->n ? sim_sched_done_ms(&b->sched, b->n - 1) : b->sched.created_ms;
        write_files(s, b, b->completed_ms);
    } else if (b->sched.expire && t >= sim_sched_end_ms(&b->sched)) {
        abandon(s, b, L_EXPIRED);
        b->status = OA_EXPIRED;
        b->expired_ms = sim_sched_end_ms(&b->sched);
        write_files(s, b, b->expired_ms);
    }
}

/* ---- create ----------------------------------------------------------------------------- */

static void bad(struct sim_ctx *c, struct sim_reply *r, const char *param, const char *code,
                const char *msg)
{
    sim_openai_error(c, r, 400, "invalid_request_error", param, code, msg);
}

static void add_error(json_t *errors, const char *code, const char *msg, const char *param,
                      size_t line)
{
    if (json_array_size(errors) >= MAX_ERRORS)
        return;
    json_t *e = json_pack("{s:s,s:s,s:s?}", "code", code, "message", msg, "param", param);
    json_object_set_new(e, "line", line ? json_integer((json_int_t)line) : json_null());
    json_array_append_new(errors, e);
}

static const char *a_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a decimal";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Check one input line: an error into <errors>, or (while the file is
 * still valid) the line appended to b->lines. */
static const char *const endpoints[] = {
    "/v1/responses",   "/v1/chat/completions",   "/v1/embeddings",   "/v1/completions",
    "/v1/moderations", "/v1/images/generations", "/v1/images/edits", "/v1/videos"};

/* Azure names batch endpoints and line URLs without /v1
 * ("/chat/completions"): the same endpoint. */
static const char *canon_ep(const char *ep)
{
    if (!ep || !strncmp(ep, "/v1/", 4))
        return ep;
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        if (!strcmp(ep, endpoints[i] + 3))
            return endpoints[i];
    return ep;
}

static void check_line(struct sim_batches *s, struct sim_oa_batch *b, const char *text, size_t len,
                       size_t num, json_t *seen, json_t *errors, struct sim_batch_dir *dir,
                       struct fg_arena *a)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    char msg[256];
    if (!json_is_object(j)) {
        add_error(errors, "invalid_json_line", "This line is not parseable as valid JSON.", NULL,
                  num);
        json_decref(j);
        return;
    }
    static const char *const required[] = {"custom_id", "method", "url", "body"};
    for (size_t k = 0; k < 4; k++) {
        if (!json_object_get(j, required[k])) {
            snprintf(msg, sizeof msg, "Missing required parameter: '%s'.", required[k]);
            add_error(errors, "missing_required_parameter", msg, required[k], num);
            json_decref(j);
            return;
        }
    }
    const char *cid = json_string_value(json_object_get(j, "custom_id"));
    const char *method = json_string_value(json_object_get(j, "method"));
    const char *url = json_string_value(json_object_get(j, "url"));
    const json_t *body = json_object_get(j, "body");
    const char *model = json_string_value(json_object_get(body, "model"));
    if (!cid) {
        snprintf(msg, sizeof msg,
                 "Invalid type for 'custom_id': expected a string, but got %s "
                 "instead.",
                 a_type(json_object_get(j, "custom_id")));
        add_error(errors, "invalid_type", msg, "custom_id", num);
    } else if (json_object_get(seen, cid)) {
        add_error(errors, "duplicate_custom_id",
                  "The custom_id for this request is a duplicate of another request. The "
                  "custom_id parameter must be unique for each request in a batch.",
                  "custom_id", num);
    } else if (!method || strcmp(method, "POST") != 0) {
        add_error(errors, "invalid_method",
                  "The method for this request is not supported. Only 'POST' is supported.",
                  "method", num);
    } else if (!url || strcmp(canon_ep(url), b->endpoint) != 0) {
        add_error(errors, "url_mismatch",
                  "The URL provided for this request does not match the batch endpoint.", "url",
                  num);
    } else if (!json_is_object(body)) {
        snprintf(msg, sizeof msg,
                 "Invalid type for 'body': expected an object, but got %s instead.", a_type(body));
        add_error(errors, "invalid_type", msg, "body", num);
    } else if (model && b->model && strcmp(model, b->model) != 0) {
        snprintf(msg, sizeof msg,
                 "The model '%.64s' of this request does not match the model '%.64s' of the "
                 "other requests in the batch; a batch uses one model.",
                 model, b->model);
        add_error(errors, "model_mismatch", msg, "body.model", num);
    } else {
        json_object_set_new(seen, cid, json_true());
        if (model && !b->model)
            b->model = fg_xstrdup(model);
        if (!json_array_size(errors)) { /* once invalid, lines are only checked */
            struct oa_line *l = &b->lines[b->n++];
            l->custom_id = fg_xstrdup(cid);
            l->body = json_dumps(body, JSON_COMPACT);
            b->bytes += strlen(l->custom_id) + strlen(l->body);
            sim_batch_dir_add(dir, b->responses ? sim_responses_user_text(a, body)
                                                : sim_openai_last_user_text(a, body));
        }
    }
    json_decref(j);
}

/* Validate the input file into b->lines, or b->errors. */
static void load_lines(struct sim_batches *s, struct sim_oa_batch *b, const char *data, size_t len,
                       struct sim_batch_dir *dir, struct fg_arena *a)
{
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += data[i] == '\n';
    b->lines = fg_xcalloc(cap, sizeof *b->lines);
    json_t *seen = json_object(), *errors = json_array();
    size_t count = 0, num = 0;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(data + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - data) : len, e = end;
        num++;
        if (e > off && data[e - 1] == '\r')
            e--;
        size_t k = off;
        while (k < e && (data[k] == ' ' || data[k] == '\t'))
            k++;
        if (k < e) { /* blank lines are skipped */
            if (++count > SIM_OPENAI_MAX_LINES) {
                add_error(errors, "too_many_tasks",
                          "The batch input file has more than 50,000 requests.", NULL, num);
                break;
            }
            check_line(s, b, data + off, e - off, num, seen, errors, dir, a);
        }
        off = end + 1;
    }
    if (!count)
        add_error(errors, "empty_file", "The batch input file is empty.", NULL, 0);
    json_decref(seen);
    if (json_array_size(errors)) {
        b->errors = json_pack("{s:s,s:o}", "object", "list", "data", errors);
        b->bytes = 0; /* never added to s->stored */
        free_lines(s, b);
    } else {
        json_decref(errors);
        s->stored += b->bytes;
    }
    b->total = b->n;
}

static int check_metadata(struct sim_ctx *c, struct sim_reply *r, const json_t *m)
{
    if (!m || json_is_null(m))
        return 0;
    if (!json_is_object(m)) {
        bad(c, r, "metadata", "invalid_type",
            fg_arena_printf(c->arena,
                            "Invalid type for 'metadata': expected an object, but got %s "
                            "instead.",
                            a_type(m)));
        return -1;
    }
    if (json_object_size(m) > 16) {
        bad(c, r, "metadata", "object_above_max_properties",
            "Invalid 'metadata': too many properties. Expected an object with at most 16 "
            "properties.");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        if (strlen(k) > 64 || !json_is_string(v) || strlen(json_string_value(v)) > 512) {
            bad(c, r, "metadata", "invalid_value",
                "Invalid 'metadata': keys are strings of at most 64 characters and values "
                "strings of at most 512 characters.");
            return -1;
        }
    }
    return 0;
}

static int check_string(struct sim_ctx *c, struct sim_reply *r, const json_t *b, const char *key)
{
    const json_t *v = json_object_get(b, key);
    if (!v) {
        bad(c, r, key, "missing_required_parameter",
            fg_arena_printf(c->arena, "Missing required parameter: '%s'.", key));
        return -1;
    }
    if (!json_is_string(v)) {
        bad(c, r, key, "invalid_type",
            fg_arena_printf(c->arena,
                            "Invalid type for '%s': expected a string, but got %s instead.", key,
                            a_type(v)));
        return -1;
    }
    return 0;
}

static int check_request(struct sim_ctx *c, struct sim_reply *r, const json_t *b)
{
    if (!json_is_object(b)) {
        bad(c, r, NULL, NULL,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)");
        return -1;
    }
    if (check_string(c, r, b, "input_file_id") || check_string(c, r, b, "endpoint") ||
        check_string(c, r, b, "completion_window"))
        return -1;
    const char *ep = canon_ep(json_string_value(json_object_get(b, "endpoint")));
    int known = 0;
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        known |= strcmp(ep, endpoints[i]) == 0;
    if (!known) {
        bad(c, r, "endpoint", "invalid_value",
            fg_arena_printf(c->arena,
                            "Invalid value: '%.64s'. Supported values are: '/v1/responses', "
                            "'/v1/chat/completions', '/v1/embeddings', '/v1/completions', "
                            "'/v1/moderations', '/v1/images/generations', '/v1/images/edits', "
                            "and '/v1/videos'.",
                            ep));
        return -1;
    }
    if (strcmp(ep, ENDPOINT) != 0 && strcmp(ep, EMBEDDINGS) != 0 && strcmp(ep, RESPONSES) != 0) {
        bad(c, r, "endpoint", "invalid_value",
            "The simulated provider runs only '/v1/chat/completions', '/v1/responses' and "
            "'/v1/embeddings' "
            "batches.");
        return -1;
    }
    const char *win = json_string_value(json_object_get(b, "completion_window"));
    if (strcmp(win, "24h") != 0) {
        bad(c, r, "completion_window", "invalid_value",
            fg_arena_printf(c->arena, "Invalid value: '%.32s'. Supported values are: '24h'.", win));
        return -1;
    }
    return check_metadata(c, r, json_object_get(b, "metadata"));
}

static void create(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                   struct sim_reply *r)
{
    json_t *b = json_loadb(h->body, h->len, 0, NULL);
    if (check_request(c, r, b)) {
        json_decref(b);
        return;
    }
    const char *fid = json_string_value(json_object_get(b, "input_file_id"));
    struct sim_file *f = sim_file_find(s, fid);
    if (!f) {
        sim_openai_error(c, r, 404, "invalid_request_error", "input_file_id", NULL,
                         fg_arena_printf(c->arena, "No such File object: %.64s", fid));
    } else if (strcmp(sim_file_purpose(f), "batch") != 0) {
        bad(c, r, "input_file_id", "invalid_value",
            fg_arena_printf(c->arena,
                            "The input file %s has purpose '%s'; batches need a file uploaded "
                            "with purpose 'batch'.",
                            sim_file_id(f), sim_file_purpose(f)));
    } else {
        size_t len;
        const char *data = sim_file_data(f, &len);
        if (s->stored + len > SIM_STORE_MAX_BYTES || s->objects >= SIM_STORE_MAX_OBJECTS) {
            bad(c, r, NULL, NULL,
                "The simulated provider's storage is full (1 GiB or 10,000 files and batches); "
                "delete files first.");
            json_decref(b);
            return;
        }
        struct sim_oa_batch *nb = fg_xcalloc(1, sizeof *nb);
        const char *ep = canon_ep(json_string_value(json_object_get(b, "endpoint")));
        nb->responses = !strcmp(ep, RESPONSES);
        sim_batch_new_id(s, "batch_", nb->id);
        snprintf(nb->input_file_id, sizeof nb->input_file_id, "%s", sim_file_id(f));
        snprintf(nb->endpoint, sizeof nb->endpoint, "%s", ep);
        const json_t *md = json_object_get(b, "metadata");
        nb->metadata = json_is_object(md) ? json_deep_copy(md) : NULL;
        struct sim_batch_dir dir;
        sim_batch_dir_init(&dir, h->fault);
        load_lines(s, nb, data, len, &dir, c->arena);
        sim_batch_dir_sched(&dir, h->wall_ms, nb->n, &nb->sched);
        nb->status = OA_VALIDATING;
        nb->next_batch = s->oa;
        s->oa = nb;
        s->objects++;
        reply_batch(c, r, nb);
    }
    json_decref(b);
}

/* ---- the other endpoints ------------------------------------------------------------------- */

static void cancel(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                   struct sim_oa_batch *b, struct sim_reply *r)
{
    if (b->status == OA_VALIDATING || b->status == OA_IN_PROGRESS)
        advance(s, b, c, h->wall_ms);
    if (b->status == OA_IN_PROGRESS) {
        abandon(s, b, L_CANCELLED);
        b->status = OA_CANCELLING;
        b->cancelling_ms = h->wall_ms;
    } else if (b->status != OA_CANCELLING) {
        bad(c, r, NULL, NULL,
            fg_arena_printf(c->arena, "Cannot cancel a batch with status '%s'.",
                            status_name[b->status]));
        return;
    }
    reply_batch(c, r, b);
}

static void list(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                 struct sim_reply *r)
{
    const char *after = sim_query_get(c->arena, h->query, "after");
    long limit = 20;
    if (sim_parse_limit(sim_query_get(c->arena, h->query, "limit"), 1, 100, &limit)) {
        bad(c, r, "limit", "invalid_value",
            "Invalid 'limit': expected an integer between 1 and 100.");
        return;
    }
    struct sim_oa_batch *b = s->oa;
    if (after) {
        while (b && strcmp(b->id, after) != 0)
            b = b->next_batch;
        b = b ? b->next_batch : NULL; /* an unknown cursor lists nothing */
    }
    json_t *data = json_array();
    const char *first = NULL, *last = NULL;
    for (; b && (long)json_array_size(data) < limit; b = b->next_batch) {
        advance(s, b, c, h->wall_ms);
        json_array_append_new(data, batch_json(b));
        first = first ? first : b->id;
        last = b->id;
    }
    json_t *out =
        json_pack("{s:s,s:o,s:o,s:o,s:b}", "object", "list", "data", data, "first_id",
                  str_or_null(first), "last_id", str_or_null(last), "has_more", b != NULL);
    sim_reply_json(c->arena, r, 200, out);
    json_decref(out);
}

void sim_oa_batches_handle(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                           const char *rest, struct sim_reply *r)
{
    if (!*rest) {
        if (h->method == SIM_POST)
            create(s, c, h, r);
        else if (h->method == SIM_GET)
            list(s, c, h, r);
        else
            sim_batch_bad_route(c, SIM_OPENAI, h, 1, r);
        return;
    }
    char id[64];
    const char *tail;
    if (sim_path_id(rest, id, &tail) || (*tail && strcmp(tail, "/cancel") != 0)) {
        sim_batch_bad_route(c, SIM_OPENAI, h, 0, r);
        return;
    }
    int is_cancel = *tail != '\0';
    if (h->method != (is_cancel ? SIM_POST : SIM_GET)) {
        sim_batch_bad_route(c, SIM_OPENAI, h, 1, r);
        return;
    }
    struct sim_oa_batch *b = find(s, id);
    if (!b) {
        sim_openai_error(c, r, 404, "invalid_request_error", "batch_id", NULL,
                         fg_arena_printf(c->arena, "No such Batch object: %s", id));
        return;
    }
    if (is_cancel) {
        cancel(s, c, h, b, r);
        return;
    }
    advance(s, b, c, h->wall_ms);
    reply_batch(c, r, b);
}
