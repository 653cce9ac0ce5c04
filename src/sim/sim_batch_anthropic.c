/* sim_batch_anthropic.c — the simulated Anthropic Message Batches API (wire
 * spec section 5), in memory: POST /v1/messages/batches,
 * GET /v1/messages/batches/{id}, GET .../{id}/results (JSONL, once ended),
 * POST .../{id}/cancel, GET /v1/messages/batches (after_id, before_id,
 * limit), DELETE /v1/messages/batches/{id} (once ended).  Every endpoint
 * wants an anthropic-version header, like the API.
 *
 * Create checks the envelope synchronously (requests: 1-100,000 items, each
 * {custom_id matching ^[a-zA-Z0-9_-]{1,64}$, unique; params an object});
 * the params themselves are validated when the line runs, so a bad request
 * becomes an "errored" result, as the API does it.  max_tokens 0 is refused
 * inside batches.  A succeeded message carries usage.service_tier "batch".
 *
 * Lifecycle (lazy, see sim_batch_internal.h): in_progress -> ended when the last line
 * is done.  request_counts keep every request in "processing" until the
 * batch ends.  "#sim:batch_expire": lines not done at created + delay get
 * result "expired".  Cancel: lines not done get "canceled",
 * processing_status "canceling", then "ended" at the next look.
 * Timestamps are RFC 3339; results_url is absolute (the sim's base URL) and
 * null until the batch ended. */
#include "sim_batch_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum an_status { AN_IN_PROGRESS, AN_CANCELING, AN_ENDED };
static const char *const status_name[] = {"in_progress", "canceling", "ended"};

enum an_kind { A_PENDING, A_SUCCEEDED, A_ERRORED, A_CANCELED, A_EXPIRED, A_NKINDS };

struct an_line {
    char *custom_id;
    char *params; /* compact JSON, until the line is decided */
    char *out;    /* its results line, once decided */
    enum an_kind kind;
};

struct sim_an_batch {
    char id[64];
    char *version; /* anthropic-version of the create request */
    struct sim_sched sched;
    enum an_status status;
    uint64_t ended_ms, cancel_ms; /* 0: null */
    struct an_line *lines;
    size_t n, next;
    size_t counts[A_NKINDS];
    uint64_t bytes; /* held in s->stored */
    struct sim_an_batch *next_batch;
};

/* ---- lifetime ------------------------------------------------------------------- */

static void batch_free(struct sim_batches *s, struct sim_an_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->lines[i].custom_id);
        free(b->lines[i].params);
        free(b->lines[i].out);
    }
    free(b->lines);
    free(b->version);
    s->stored -= b->bytes;
    s->objects--;
    free(b);
}

void sim_an_batches_free(struct sim_batches *s)
{
    while (s->an) {
        struct sim_an_batch *b = s->an;
        s->an = b->next_batch;
        batch_free(s, b);
    }
}

static struct sim_an_batch *find(struct sim_batches *s, const char *id)
{
    for (struct sim_an_batch *b = s->an; b; b = b->next_batch)
        if (strcmp(b->id, id) == 0)
            return b;
    return NULL;
}

/* ---- errors and the MessageBatch object -------------------------------------------- */

static void invalid(struct sim_ctx *c, struct sim_reply *r, const char *msg)
{
    sim_anthropic_error(c, r, 400, "invalid_request_error", msg);
}

static json_t *ts(struct fg_arena *a, uint64_t ms)
{
    return ms ? json_string(sim_rfc3339(a, ms)) : json_null();
}

static json_t *batch_json(const struct sim_batches *s, struct fg_arena *a,
                          const struct sim_an_batch *b)
{
    int ended = b->status == AN_ENDED;
    json_t *counts = json_pack("{s:I,s:I,s:I,s:I,s:I}", "processing",
                               (json_int_t)(ended ? b->counts[A_PENDING] : b->n), "succeeded",
                               (json_int_t)(ended ? b->counts[A_SUCCEEDED] : 0), "errored",
                               (json_int_t)(ended ? b->counts[A_ERRORED] : 0), "canceled",
                               (json_int_t)(ended ? b->counts[A_CANCELED] : 0), "expired",
                               (json_int_t)(ended ? b->counts[A_EXPIRED] : 0));
    uint64_t expires =
        b->sched.expire ? sim_sched_end_ms(&b->sched) : b->sched.created_ms + 24ULL * 3600 * 1000;
    json_t *v = json_object();
    json_object_set_new(v, "id", json_string(b->id));
    json_object_set_new(v, "type", json_string("message_batch"));
    json_object_set_new(v, "processing_status", json_string(status_name[b->status]));
    json_object_set_new(v, "request_counts", counts);
    json_object_set_new(v, "ended_at", ts(a, b->ended_ms));
    json_object_set_new(v, "created_at", ts(a, b->sched.created_ms));
    json_object_set_new(v, "expires_at", ts(a, expires));
    json_object_set_new(v, "archived_at", json_null());
    json_object_set_new(v, "cancel_initiated_at", ts(a, b->cancel_ms));
    json_object_set_new(v, "results_url",
                        ended ? json_string(fg_arena_printf(a, "%s/v1/messages/batches/%s/results",
                                                            s->base_url, b->id))
                              : json_null());
    return v;
}

static void reply_value(struct sim_ctx *c, struct sim_reply *r, json_t *v)
{
    sim_reply_json(c->arena, r, 200, v);
    json_decref(v);
}

/* ---- running lines ------------------------------------------------------------------ */

static void decide(struct sim_an_batch *b, struct an_line *l, enum an_kind kind, json_t *result)
{
    json_t *v = json_pack("{s:s,s:o}", "custom_id", l->custom_id, "result", result);
    l->out = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    l->kind = kind;
    b->counts[kind]++;
    free(l->params);
    l->params = NULL;
}

static void run_line(struct sim_an_batch *b, size_t i, const struct sim_ctx *parent)
{
    struct an_line *l = &b->lines[i];
    struct fg_arena a;
    fg_arena_init(&a);
    uint64_t at = sim_sched_done_ms(&b->sched, i);
    uint64_t h = sim_hash(sim_hash(SIM_HASH_INIT, b->id, strlen(b->id)), &i, sizeof i);
    struct sim_ctx c = {
        .arena = &a,
        .cache = parent->cache,
        .now_ms = parent->now_ms,
        .created = (long long)(at / 1000),
        .id = fg_arena_printf(&a, "%016llx", (unsigned long long)h),
        .anthropic_version = b->version,
        .tokens = -1,
        .credential = parent->credential, /* #sim:echo_auth */
    };
    json_t *params = json_loads(l->params, 0, NULL);
    struct sim_line_answer ans;
    const json_t *mt = json_object_get(params, "max_tokens");
    if (json_is_integer(mt) && json_integer_value(mt) == 0) {
        /* allowed in real time (cache pre-warming), not in a batch */
        ans.status = 400;
        ans.body = json_pack(
            "{s:s,s:{s:s,s:s},s:n}", "type", "error", "error", "type", "invalid_request_error",
            "message", "max_tokens: Input should be greater than or equal to 1", "request_id");
    } else {
        sim_batch_run_line(&c, SIM_ANTHROPIC, params, &ans);
    }
    json_decref(params);
    if (ans.status == 200) {
        json_object_set_new(json_object_get(ans.body, "usage"), "service_tier",
                            json_string("batch"));
        decide(b, l, A_SUCCEEDED, json_pack("{s:s,s:o}", "type", "succeeded", "message", ans.body));
    } else {
        decide(b, l, A_ERRORED, json_pack("{s:s,s:o}", "type", "errored", "error", ans.body));
    }
    fg_arena_free(&a);
}

static void abandon(struct sim_an_batch *b, enum an_kind kind)
{
    for (; b->next < b->n; b->next++)
        decide(b, &b->lines[b->next], kind,
               json_pack("{s:s}", "type", kind == A_EXPIRED ? "expired" : "canceled"));
}

static void advance(struct sim_an_batch *b, const struct sim_ctx *c, uint64_t t)
{
    if (b->status == AN_ENDED)
        return;
    if (b->status == AN_CANCELING) {
        b->status = AN_ENDED;
        b->ended_ms = t;
        return;
    }
    while (b->next < b->n && sim_sched_line_done(&b->sched, b->next, t))
        run_line(b, b->next++, c);
    if (b->next == b->n) {
        b->status = AN_ENDED;
        b->ended_ms = sim_sched_done_ms(&b->sched, b->n - 1);
    } else if (b->sched.expire && t >= sim_sched_end_ms(&b->sched)) {
        abandon(b, A_EXPIRED);
        b->status = AN_ENDED;
        b->ended_ms = sim_sched_end_ms(&b->sched);
    }
}

/* ---- create ---------------------------------------------------------------------------- */

static int valid_custom_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

/* The envelope; 0, or -1 with the error reply. */
static int check_requests(struct sim_ctx *c, struct sim_reply *r, const json_t *body)
{
    if (!json_is_object(body)) {
        invalid(c, r,
                "There was an error parsing the body of your request: expected a JSON "
                "object.");
        return -1;
    }
    const json_t *reqs = json_object_get(body, "requests");
    if (!reqs) {
        invalid(c, r, "requests: Field required");
        return -1;
    }
    if (!json_is_array(reqs)) {
        invalid(c, r, "requests: Input should be a valid list");
        return -1;
    }
    size_t n = json_array_size(reqs);
    if (n < 1 || n > SIM_ANTHROPIC_MAX_REQUESTS) {
        invalid(c, r,
                fg_arena_printf(c->arena,
                                "requests: List should have at least 1 and at most %d "
                                "items after validation, not %zu",
                                SIM_ANTHROPIC_MAX_REQUESTS, n));
        return -1;
    }
    json_t *seen = json_object();
    size_t i;
    json_t *q;
    int rc = 0;
    json_array_foreach(reqs, i, q)
    {
        const json_t *cid = json_object_get(q, "custom_id");
        const json_t *params = json_object_get(q, "params");
        const char *msg = NULL;
        if (!json_is_object(q))
            msg = fg_arena_printf(c->arena, "requests.%zu: Input should be a valid dictionary", i);
        else if (!cid)
            msg = fg_arena_printf(c->arena, "requests.%zu.custom_id: Field required", i);
        else if (!json_is_string(cid) || !valid_custom_id(json_string_value(cid)))
            msg = fg_arena_printf(c->arena,
                                  "requests.%zu.custom_id: String should match pattern "
                                  "'^[a-zA-Z0-9_-]{1,64}$'",
                                  i);
        else if (json_object_get(seen, json_string_value(cid)))
            msg = fg_arena_printf(c->arena,
                                  "requests: custom_id values must be unique within a batch; "
                                  "'%s' appears more than once",
                                  json_string_value(cid));
        else if (!params)
            msg = fg_arena_printf(c->arena, "requests.%zu.params: Field required", i);
        else if (!json_is_object(params))
            msg = fg_arena_printf(c->arena,
                                  "requests.%zu.params: Input should be a valid dictionary", i);
        if (msg) {
            invalid(c, r, msg);
            rc = -1;
            break;
        }
        json_object_set_new(seen, json_string_value(cid), json_true());
    }
    json_decref(seen);
    return rc;
}

static void create(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                   struct sim_reply *r)
{
    json_t *body = json_loadb(h->body, h->len, 0, NULL);
    if (check_requests(c, r, body)) {
        json_decref(body);
        return;
    }
    if (s->stored + h->len > SIM_STORE_MAX_BYTES || s->objects >= SIM_STORE_MAX_OBJECTS) {
        sim_anthropic_error(c, r, 413, "request_too_large",
                            "The simulated provider's storage is full (1 GiB or 10,000 batches "
                            "and files); delete ended batches first.");
        json_decref(body);
        return;
    }
    const json_t *reqs = json_object_get(body, "requests");
    struct sim_an_batch *b = fg_xcalloc(1, sizeof *b);
    sim_batch_new_id(s, "msgbatch_01", b->id);
    b->version = fg_xstrdup(c->anthropic_version);
    b->n = json_array_size(reqs);
    b->lines = fg_xcalloc(b->n, sizeof *b->lines);
    struct sim_batch_dir dir;
    sim_batch_dir_init(&dir, h->fault);
    for (size_t i = 0; i < b->n; i++) {
        const json_t *q = json_array_get(reqs, i);
        const json_t *params = json_object_get(q, "params");
        struct an_line *l = &b->lines[i];
        l->custom_id = fg_xstrdup(json_string_value(json_object_get(q, "custom_id")));
        l->params = json_dumps(params, JSON_COMPACT);
        b->bytes += strlen(l->custom_id) + strlen(l->params);
        sim_batch_dir_add(&dir, sim_anthropic_last_user_text(c->arena, params));
    }
    s->stored += b->bytes;
    sim_batch_dir_sched(&dir, h->wall_ms, b->n, &b->sched);
    b->status = AN_IN_PROGRESS;
    b->next_batch = s->an;
    s->an = b;
    s->objects++;
    reply_value(c, r, batch_json(s, c->arena, b));
    json_decref(body);
}

/* ---- the other endpoints ------------------------------------------------------------------ */

static void list(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                 struct sim_reply *r)
{
    const char *after = sim_query_get(c->arena, h->query, "after_id");
    const char *before = sim_query_get(c->arena, h->query, "before_id");
    long limit = 20;
    if (sim_parse_limit(sim_query_get(c->arena, h->query, "limit"), 1, 1000, &limit)) {
        invalid(c, r, "limit: Input should be an integer between 1 and 1000");
        return;
    }
    if (after && before) {
        invalid(c, r, "Only one of after_id and before_id may be given.");
        return;
    }
    size_t k = 0;
    for (struct sim_an_batch *b = s->an; b; b = b->next_batch)
        k++;
    struct sim_an_batch **v = fg_arena_alloc(c->arena, (k ? k : 1) * sizeof *v);
    k = 0;
    for (struct sim_an_batch *b = s->an; b; b = b->next_batch)
        v[k++] = b;
    /* newest first; after_id pages towards older batches, before_id towards newer */
    const char *cursor = after ? after : before;
    size_t at = k; /* an unknown cursor lists nothing */
    for (size_t i = 0; cursor && i < k; i++)
        if (strcmp(v[i]->id, cursor) == 0)
            at = i;
    size_t from = 0, to = k < (size_t)limit ? k : (size_t)limit;
    int more = k > (size_t)limit;
    if (after) {
        from = at < k ? at + 1 : k;
        to = from + (size_t)limit < k ? from + (size_t)limit : k;
        more = to < k;
    } else if (before) {
        to = at < k ? at : 0;
        from = to > (size_t)limit ? to - (size_t)limit : 0;
        more = from > 0;
    }
    json_t *data = json_array();
    for (size_t i = from; i < to; i++) {
        advance(v[i], c, h->wall_ms);
        json_array_append_new(data, batch_json(s, c->arena, v[i]));
    }
    json_t *out = json_pack("{s:o,s:b,s:o,s:o}", "data", data, "has_more", more, "first_id",
                            to > from ? json_string(v[from]->id) : json_null(), "last_id",
                            to > from ? json_string(v[to - 1]->id) : json_null());
    reply_value(c, r, out);
}

static void results(struct sim_ctx *c, struct sim_an_batch *b, struct sim_reply *r)
{
    if (b->status != AN_ENDED) {
        invalid(c, r,
                fg_arena_printf(c->arena,
                                "Message batch %s has not ended yet; its results are "
                                "available once processing_status is 'ended'.",
                                b->id));
        return;
    }
    struct sim_buf buf = {0};
    for (size_t i = 0; i < b->n; i++) {
        sim_buf_adds(&buf, b->lines[i].out);
        sim_buf_add(&buf, "\n", 1);
    }
    r->status = 200;
    r->content_type = "application/x-jsonl";
    r->body = fg_arena_strndup(c->arena, buf.p ? buf.p : "", buf.len);
    r->body_len = buf.len;
    sim_buf_free(&buf);
}

static void cancel(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                   struct sim_an_batch *b, struct sim_reply *r)
{
    advance(b, c, h->wall_ms);
    if (b->status == AN_IN_PROGRESS) {
        abandon(b, A_CANCELED);
        b->status = AN_CANCELING;
        b->cancel_ms = h->wall_ms;
    } else if (b->status == AN_ENDED && !b->cancel_ms) {
        invalid(c, r,
                fg_arena_printf(c->arena,
                                "Message batch %s has already ended and cannot be "
                                "canceled.",
                                b->id));
        return;
    }
    reply_value(c, r, batch_json(s, c->arena, b));
}

static void delete_batch(struct sim_batches *s, struct sim_ctx *c, struct sim_an_batch *b,
                         struct sim_reply *r)
{
    if (b->status != AN_ENDED) {
        invalid(c, r,
                fg_arena_printf(c->arena,
                                "Message batch %s is still processing; cancel it and wait "
                                "until it has ended before deleting it.",
                                b->id));
        return;
    }
    json_t *v = json_pack("{s:s,s:s}", "id", b->id, "type", "message_batch_deleted");
    for (struct sim_an_batch **pp = &s->an; *pp; pp = &(*pp)->next_batch)
        if (*pp == b) {
            *pp = b->next_batch;
            break;
        }
    batch_free(s, b);
    reply_value(c, r, v);
}

void sim_an_batches_handle(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                           const char *rest, struct sim_reply *r)
{
    char id[64];
    const char *tail = "";
    int known = !*rest || (sim_path_id(rest, id, &tail) == 0 &&
                           (!*tail || !strcmp(tail, "/results") || !strcmp(tail, "/cancel")));
    if (!known) {
        sim_batch_bad_route(c, SIM_ANTHROPIC, h, 0, r);
        return;
    }
    int ok;
    if (!*rest)
        ok = h->method == SIM_POST || h->method == SIM_GET;
    else if (!*tail)
        ok = h->method == SIM_GET || h->method == SIM_DELETE;
    else
        ok = h->method == (!strcmp(tail, "/cancel") ? SIM_POST : SIM_GET);
    if (!ok) {
        sim_batch_bad_route(c, SIM_ANTHROPIC, h, 1, r);
        return;
    }
    if (!c->anthropic_version) {
        invalid(c, r, "anthropic-version: header is required");
        return;
    }
    if (!*rest) {
        if (h->method == SIM_POST)
            create(s, c, h, r);
        else
            list(s, c, h, r);
        return;
    }
    struct sim_an_batch *b = find(s, id);
    if (!b) {
        sim_anthropic_error(c, r, 404, "not_found_error",
                            fg_arena_printf(c->arena, "Message batch %s not found.", id));
        return;
    }
    if (!strcmp(tail, "/cancel")) {
        cancel(s, c, h, b, r);
        return;
    }
    advance(b, c, h->wall_ms);
    if (!strcmp(tail, "/results"))
        results(c, b, r);
    else if (h->method == SIM_DELETE)
        delete_batch(s, c, b, r);
    else
        reply_value(c, r, batch_json(s, c->arena, b));
}
