/* test_simbatch.c — unit tests of the simulated provider's Files and Batch
 * APIs (sim_batch_internal.h): the line schedule and batch directives, query and
 * time helpers, and both providers' batch lifecycles driven through
 * sim_batches_handle() with a fake clock, so every timing assertion is
 * exact: progress line by line, completion, validation failure, cancel,
 * expiry, listing, deletion, routing errors.  One loopback test checks the
 * x-sim-fault header on these endpoints through a real fg_sim_start(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "arena.h"
#include "sim.h"
#include "sim_batch_internal.h"
#include "sim_internal.h"

#define T0 1762077600000ULL /* 2025-11-02T10:00:00Z */

/* ---- helpers ---------------------------------------------------------------- */

struct env {
    struct sim_batches *s;
    struct sim_cache *cache;
};

static void env_init(struct env *e)
{
    e->s = sim_batches_new();
    sim_batches_set_base_url(e->s, "http://127.0.0.1:4100");
    e->cache = sim_cache_new();
}

static void env_free(struct env *e)
{
    sim_batches_free(e->s);
    sim_cache_free(e->cache);
}

struct res {
    int status;
    json_t *json; /* NULL when the body is not JSON */
    char *body;   /* malloc'd copy */
    size_t len;
};

static void res_free(struct res *r)
{
    json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static struct res req(struct env *e, enum sim_method m, const char *path, const char *query,
                      const char *ctype, const char *body, uint64_t wall_ms, const char *version,
                      const char *fault)
{
    struct fg_arena a;
    fg_arena_init(&a);
    struct sim_ctx c = {.arena = &a,
                        .cache = e->cache,
                        .now_ms = wall_ms,
                        .created = 1,
                        .id = "00000000000000ab",
                        .anthropic_version = version,
                        .tokens = -1};
    struct sim_http h = {.method = m,
                         .path = path,
                         .query = query,
                         .content_type = ctype,
                         .fault = fault,
                         .body = body ? body : "",
                         .len = body ? strlen(body) : 0,
                         .wall_ms = wall_ms};
    struct sim_reply rep = {0};
    enum sim_dialect d;
    assert_true(sim_batches_owns(path, &d));
    sim_batches_handle(e->s, &c, &h, &rep);
    struct res r = {.status = rep.status};
    r.body = malloc(rep.body_len + 1);
    memcpy(r.body, rep.body, rep.body_len);
    r.body[rep.body_len] = '\0';
    r.len = rep.body_len;
    r.json = json_loadb(rep.body, rep.body_len, 0, NULL);
    fg_arena_free(&a);
    return r;
}

static struct res oa(struct env *e, enum sim_method m, const char *path, const char *body,
                     uint64_t t)
{
    return req(e, m, path, NULL, "application/json", body, t, NULL, NULL);
}

static struct res an(struct env *e, enum sim_method m, const char *path, const char *body,
                     uint64_t t)
{
    return req(e, m, path, NULL, "application/json", body, t, "2023-06-01", NULL);
}

static const char *str(const json_t *v, const char *key)
{
    return json_string_value(json_object_get(v, key));
}

static long long num(const json_t *v, const char *k1, const char *k2)
{
    const json_t *x = json_object_get(v, k1);
    return (long long)json_integer_value(k2 ? json_object_get(x, k2) : x);
}

#define BOUNDARY "sim-test-boundary"
#define MP_CT "multipart/form-data; boundary=" BOUNDARY

/* Upload <content> as <filename> with <purpose>; returns the file id (static). */
static const char *upload(struct env *e, const char *filename, const char *purpose,
                          const char *content, uint64_t t)
{
    static char id[64];
    char *body;
    assert_true(asprintf(&body,
                         "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n"
                         "\r\n%s\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; "
                         "name=\"file\"; filename=\"%s\"\r\nContent-Type: application/jsonl\r\n"
                         "\r\n%s\r\n--" BOUNDARY "--\r\n",
                         purpose, filename, content) > 0);
    struct res r = req(e, SIM_POST, "/v1/files", NULL, MP_CT, body, t, NULL, NULL);
    free(body);
    assert_int_equal(r.status, 200);
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    assert_int_equal(num(r.json, "bytes", NULL), (long long)strlen(content));
    res_free(&r);
    return id;
}

static char *oa_line(const char *custom_id, const char *text)
{
    char *s;
    assert_true(asprintf(&s,
                         "{\"custom_id\":\"%s\",\"method\":\"POST\",\"url\":\"/v1/chat/"
                         "completions\",\"body\":{\"model\":\"gpt-4o-mini\",\"messages\":[{"
                         "\"role\":\"user\",\"content\":\"%s\"}]}}\n",
                         custom_id, text) > 0);
    return s;
}

/* A file of n lines "l0".."l<n-1>"; <first> is the text of line 0. */
static char *oa_file(int n, const char *first)
{
    char *all = strdup("");
    for (int i = 0; i < n; i++) {
        char id[16], *line, *next;
        snprintf(id, sizeof id, "l%d", i);
        line = oa_line(id, i == 0 && first ? first : "hello");
        assert_true(asprintf(&next, "%s%s", all, line) > 0);
        free(all);
        free(line);
        all = next;
    }
    return all;
}

/* Create a batch over <file_id> at <t>; returns its id (static). */
static const char *oa_create(struct env *e, const char *file_id, uint64_t t)
{
    static char id[64];
    char body[256];
    snprintf(body, sizeof body,
             "{\"input_file_id\":\"%s\",\"endpoint\":\"/v1/chat/completions\","
             "\"completion_window\":\"24h\"}",
             file_id);
    struct res r = oa(e, SIM_POST, "/v1/batches", body, t);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "status"), "validating");
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    res_free(&r);
    return id;
}

static struct res oa_get(struct env *e, const char *batch_id, uint64_t t)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/batches/%s", batch_id);
    struct res r = oa(e, SIM_GET, path, NULL, t);
    assert_int_equal(r.status, 200);
    return r;
}

static struct res file_content(struct env *e, const char *file_id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/files/%s/content", file_id);
    struct res r = oa(e, SIM_GET, path, NULL, T0);
    assert_int_equal(r.status, 200);
    return r;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- helpers of sim_batch.c ------------------------------------------------------ */

static void test_schedule(void **state)
{
    struct sim_sched s = {.created_ms = 1000, .delay_ms = 300, .n = 3};
    assert_int_equal(sim_sched_done_ms(&s, 0), 1100);
    assert_int_equal(sim_sched_done_ms(&s, 1), 1200);
    assert_int_equal(sim_sched_done_ms(&s, 2), 1300);
    assert_int_equal(sim_sched_end_ms(&s), 1300);
    assert_false(sim_sched_line_done(&s, 0, 1099));
    assert_true(sim_sched_line_done(&s, 0, 1100));
    assert_true(sim_sched_line_done(&s, 2, 1300));
    s.expire = 1; /* the last line is due exactly at expiry: it expires */
    assert_true(sim_sched_line_done(&s, 1, 5000));
    assert_false(sim_sched_line_done(&s, 2, 5000));
    struct sim_sched one = {.created_ms = 0, .delay_ms = 10, .n = 1, .expire = 1};
    assert_false(sim_sched_line_done(&one, 0, 100));

    struct sim_batch_dir d;
    sim_batch_dir_init(&d, NULL);
    sim_batch_dir_sched(&d, 5, 2, &s);
    assert_int_equal(s.delay_ms, SIM_BATCH_DEFAULT_DELAY_MS);
    assert_false(s.expire);
    sim_batch_dir_init(&d, "batch_delay_ms=50");
    assert_int_equal(d.delay_ms, 50);
    sim_batch_dir_add(&d, "text #sim:batch_delay_ms=700");
    sim_batch_dir_add(&d, "#sim:batch_delay_ms=200 #sim:batch_expire");
    sim_batch_dir_add(&d, NULL);
    sim_batch_dir_sched(&d, 5, 2, &s);
    assert_int_equal(s.delay_ms, 700);
    assert_true(s.expire);
    assert_int_equal(s.created_ms, 5);
    /* the real-time fault parser ignores them, and they do not disturb it */
    struct sim_fault f;
    sim_fault_init(&f);
    sim_fault_parse(&f, "#sim:batch_expire #sim:status=429 #sim:batch_delay_ms=9", 0);
    assert_int_equal(f.status, 429);
    assert_int_equal(f.batch_delay_ms, 9);
    assert_true(f.batch_expire);
}

static void test_helpers(void **state)
{
    struct fg_arena a;
    fg_arena_init(&a);
    assert_string_equal(sim_rfc3339(&a, T0 + 123), "2025-11-02T10:00:00.123000Z");
    assert_string_equal(sim_rfc3339(&a, 0), "1970-01-01T00:00:00.000000Z");
    const char *q = "limit=5&after=file%2Dx&flag&sp=a+b&bad=%zz%4";
    assert_string_equal(sim_query_get(&a, q, "after"), "file-x");
    assert_string_equal(sim_query_get(&a, q, "limit"), "5");
    assert_string_equal(sim_query_get(&a, q, "flag"), "");
    assert_string_equal(sim_query_get(&a, q, "sp"), "a b");
    assert_string_equal(sim_query_get(&a, q, "bad"), "%zz%4");
    assert_null(sim_query_get(&a, q, "lim"));
    assert_null(sim_query_get(&a, NULL, "after"));
    long v = 7;
    assert_int_equal(sim_parse_limit(NULL, 1, 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(sim_parse_limit("10", 1, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(sim_parse_limit("11", 1, 10, &v), -1);
    assert_int_equal(sim_parse_limit("0", 1, 10, &v), -1);
    assert_int_equal(sim_parse_limit("-1", 1, 10, &v), -1);
    assert_int_equal(sim_parse_limit("3x", 1, 10, &v), -1);
    assert_int_equal(sim_parse_limit("", 1, 10, &v), -1);
    char id[64];
    const char *tail;
    assert_int_equal(sim_path_id("/batch_1-x/cancel", id, &tail), 0);
    assert_string_equal(id, "batch_1-x");
    assert_string_equal(tail, "/cancel");
    assert_int_equal(sim_path_id("/abc", id, &tail), 0);
    assert_string_equal(tail, "");
    assert_int_equal(sim_path_id("/", id, &tail), -1);
    assert_int_equal(sim_path_id("/a.b", id, &tail), -1);
    assert_int_equal(sim_path_id("", id, &tail), -1);
    struct sim_batches *s = sim_batches_new();
    char id2[64];
    sim_batch_new_id(s, "file-", id);
    sim_batch_new_id(s, "file-", id2);
    assert_int_equal(strlen(id), 5 + 24);
    assert_string_not_equal(id, id2);
    sim_batches_free(s);
    enum sim_dialect d;
    assert_true(sim_batches_owns("/v1/files", &d) && d == SIM_OPENAI);
    assert_true(sim_batches_owns("/v1/batches/x/cancel", &d) && d == SIM_OPENAI);
    assert_true(sim_batches_owns("/v1/messages/batches/x", &d) && d == SIM_ANTHROPIC);
    assert_false(sim_batches_owns("/v1/filesx", &d));
    assert_false(sim_batches_owns("/v1/messages", &d));
    assert_false(sim_batches_owns("/v1/messages/count_tokens", &d));
    fg_arena_free(&a);
}

/* ---- OpenAI ------------------------------------------------------------------------- */

static void test_openai_progress_and_completion(void **state)
{
    struct env e;
    env_init(&e);
    char *content = oa_file(4, "first #sim:batch_delay_ms=1000");
    /* line 2 fails in the provider's shape */
    char *bad = oa_line("l2", "boom #sim:status=429");
    char *p = strstr(content, "{\"custom_id\":\"l2\"");
    char *line_end = strchr(p, '\n');
    char *patched;
    assert_true(asprintf(&patched, "%.*s%s%s", (int)(p - content), content, bad, line_end + 1) > 0);
    const char *fid = upload(&e, "in.jsonl", "batch", patched, T0);
    const char *bid = oa_create(&e, fid, T0);
    char batch_id[64];
    snprintf(batch_id, sizeof batch_id, "%s", bid);

    /* lines done at +250, +500, +750, +1000 */
    static const struct {
        uint64_t at;
        int completed, failed;
        const char *status;
    } steps[] = {{0, 0, 0, "in_progress"},   {249, 0, 0, "in_progress"}, {250, 1, 0, "in_progress"},
                 {600, 2, 0, "in_progress"}, {750, 2, 1, "in_progress"}, {999, 2, 1, "in_progress"},
                 {1000, 3, 1, "completed"},  {5000, 3, 1, "completed"}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct res r = oa_get(&e, batch_id, T0 + steps[i].at);
        assert_string_equal(str(r.json, "status"), steps[i].status);
        assert_int_equal(num(r.json, "request_counts", "total"), 4);
        assert_int_equal(num(r.json, "request_counts", "completed"), steps[i].completed);
        assert_int_equal(num(r.json, "request_counts", "failed"), steps[i].failed);
        assert_int_equal(num(r.json, "in_progress_at", NULL), T0 / 1000);
        res_free(&r);
    }
    struct res b = oa_get(&e, batch_id, T0 + 6000);
    assert_int_equal(num(b.json, "completed_at", NULL), (T0 + 1000) / 1000);
    assert_int_equal(num(b.json, "finalizing_at", NULL), (T0 + 1000) / 1000);
    assert_int_equal(num(b.json, "expires_at", NULL), T0 / 1000 + 24 * 3600);
    assert_true(json_is_null(json_object_get(b.json, "errors")));
    assert_string_equal(str(b.json, "model"), "gpt-4o-mini");
    long long in = num(b.json, "usage", "input_tokens"),
              out = num(b.json, "usage", "output_tokens");
    assert_true(in > 0 && out > 0);
    assert_int_equal(num(b.json, "usage", "total_tokens"), in + out);

    struct res o = file_content(&e, str(b.json, "output_file_id"));
    assert_int_equal(count_lines(o.body), 3);
    assert_non_null(strstr(o.body, "\"custom_id\":\"l0\""));
    assert_null(strstr(o.body, "\"custom_id\":\"l2\""));
    json_t *first = json_loadb(o.body, strchr(o.body, '\n') - o.body, 0, NULL);
    assert_string_equal(str(first, "custom_id"), "l0");
    assert_true(json_is_null(json_object_get(first, "error")));
    const json_t *resp = json_object_get(first, "response");
    assert_int_equal(num(resp, "status_code", NULL), 200);
    assert_string_equal(str(json_object_get(resp, "body"), "object"), "chat.completion");
    json_decref(first);
    struct res er = file_content(&e, str(b.json, "error_file_id"));
    assert_int_equal(count_lines(er.body), 1);
    json_t *el = json_loads(er.body, JSON_DISABLE_EOF_CHECK, NULL);
    assert_string_equal(str(el, "custom_id"), "l2");
    assert_int_equal(num(json_object_get(el, "response"), "status_code", NULL), 429);
    json_decref(el);

    /* output files are listed with purpose batch_output */
    struct res l =
        req(&e, SIM_GET, "/v1/files", "purpose=batch_output&order=asc", NULL, NULL, T0, NULL, NULL);
    assert_int_equal(l.status, 200);
    assert_int_equal(json_array_size(json_object_get(l.json, "data")), 2);
    assert_string_equal(str(json_array_get(json_object_get(l.json, "data"), 0), "id"),
                        str(b.json, "output_file_id"));
    res_free(&l);

    res_free(&o);
    res_free(&er);
    res_free(&b);
    free(patched);
    free(bad);
    free(content);
    env_free(&e);
}

static void test_openai_validation(void **state)
{
    struct env e;
    env_init(&e);
    char *a = oa_line("a", "x"), *dup = oa_line("a", "y");
    char *content;
    assert_true(asprintf(&content,
                         "%s%s{oops\n\n{\"custom_id\":\"m\",\"method\":\"POST\",\"url\":\"/v1/"
                         "chat/completions\",\"body\":{\"model\":\"gpt-4o\",\"messages\":[]}}\n"
                         "{\"method\":\"POST\"}\n",
                         a, dup) > 0);
    const char *fid = upload(&e, "v.jsonl", "batch", content, T0);
    char bid[64];
    snprintf(bid, sizeof bid, "%s", oa_create(&e, fid, T0));
    struct res r = oa_get(&e, bid, T0 + 1);
    assert_string_equal(str(r.json, "status"), "failed");
    assert_int_equal(num(r.json, "failed_at", NULL), (T0 + 1) / 1000);
    const json_t *data = json_object_get(json_object_get(r.json, "errors"), "data");
    assert_int_equal(json_array_size(data), 4);
    static const struct {
        const char *code;
        int line;
    } want[] = {{"duplicate_custom_id", 2},
                {"invalid_json_line", 3},
                {"model_mismatch", 5}, /* line 4 is blank */
                {"missing_required_parameter", 6}};
    for (size_t i = 0; i < 4; i++) {
        const json_t *err = json_array_get(data, i);
        assert_string_equal(str(err, "code"), want[i].code);
        assert_int_equal(num(err, "line", NULL), want[i].line);
    }
    assert_int_equal(num(r.json, "request_counts", "total"), 0);
    res_free(&r);

    const char *empty = upload(&e, "e.jsonl", "batch", "\n  \n", T0);
    snprintf(bid, sizeof bid, "%s", oa_create(&e, empty, T0));
    r = oa_get(&e, bid, T0);
    assert_string_equal(str(r.json, "status"), "failed");
    const json_t *e0 =
        json_array_get(json_object_get(json_object_get(r.json, "errors"), "data"), 0);
    assert_string_equal(str(e0, "code"), "empty_file");
    assert_true(json_is_null(json_object_get(e0, "line")));
    res_free(&r);

    /* create-time errors */
    static const struct {
        const char *body;
        int status;
        const char *param;
    } bad[] = {
        {"not json", 400, NULL},
        {"{\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}", 400,
         "input_file_id"},
        {"{\"input_file_id\":\"file-x\",\"endpoint\":\"/v1/nope\",\"completion_window\":\"24h\"}",
         400, "endpoint"},
        {"{\"input_file_id\":\"file-x\",\"endpoint\":\"/v1/moderations\",\"completion_window\":"
         "\"24h\"}",
         400, "endpoint"},
        {"{\"input_file_id\":\"file-x\",\"endpoint\":\"/v1/chat/completions\","
         "\"completion_window\":\"1h\"}",
         400, "completion_window"},
        {"{\"input_file_id\":\"file-x\",\"endpoint\":\"/v1/chat/completions\","
         "\"completion_window\":\"24h\",\"metadata\":{\"k\":1}}",
         400, "metadata"},
        {"{\"input_file_id\":\"file-x\",\"endpoint\":\"/v1/chat/completions\","
         "\"completion_window\":\"24h\"}",
         404, "input_file_id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = oa(&e, SIM_POST, "/v1/batches", bad[i].body, T0);
        assert_int_equal(r.status, bad[i].status);
        const json_t *err = json_object_get(r.json, "error");
        assert_string_equal(str(err, "type"), "invalid_request_error");
        if (bad[i].param)
            assert_string_equal(str(err, "param"), bad[i].param);
        res_free(&r);
    }
    /* a file uploaded for another purpose */
    const char *other = upload(&e, "x.jsonl", "user_data", a, T0);
    char body[200];
    snprintf(body, sizeof body,
             "{\"input_file_id\":\"%s\",\"endpoint\":\"/v1/chat/completions\","
             "\"completion_window\":\"24h\"}",
             other);
    r = oa(&e, SIM_POST, "/v1/batches", body, T0);
    assert_int_equal(r.status, 400);
    res_free(&r);
    free(a);
    free(dup);
    free(content);
    env_free(&e);
}

static void test_openai_cancel_and_expire(void **state)
{
    struct env e;
    env_init(&e);
    char *content = oa_file(4, "x #sim:batch_delay_ms=1000");
    const char *fid = upload(&e, "c.jsonl", "batch", content, T0);
    char bid[64];
    snprintf(bid, sizeof bid, "%s", oa_create(&e, fid, T0));
    char path[128];
    snprintf(path, sizeof path, "/v1/batches/%s/cancel", bid);
    struct res r = oa(&e, SIM_POST, path, "", T0 + 600); /* lines 0 and 1 are done */
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "status"), "cancelling");
    assert_int_equal(num(r.json, "request_counts", "completed"), 2);
    assert_true(json_is_null(json_object_get(r.json, "output_file_id")));
    res_free(&r);
    r = oa(&e, SIM_POST, path, "", T0 + 601); /* cancelling again: unchanged */
    assert_string_equal(str(r.json, "status"), "cancelling");
    res_free(&r);
    r = oa_get(&e, bid, T0 + 5000);
    assert_string_equal(str(r.json, "status"), "cancelled");
    assert_int_equal(num(r.json, "cancelled_at", NULL), (T0 + 5000) / 1000);
    assert_int_equal(num(r.json, "request_counts", "completed"), 2);
    struct res o = file_content(&e, str(r.json, "output_file_id"));
    struct res er = file_content(&e, str(r.json, "error_file_id"));
    assert_int_equal(count_lines(o.body), 2);
    assert_int_equal(count_lines(er.body), 2);
    assert_non_null(strstr(er.body, "\"custom_id\":\"l2\",\"response\":null,\"error\":{\"code\":"
                                    "\"batch_cancelled\""));
    res_free(&o);
    res_free(&er);
    res_free(&r);
    r = oa(&e, SIM_POST, path, "", T0 + 6000);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(str(json_object_get(r.json, "error"), "message"), "'cancelled'"));
    res_free(&r);
    free(content);

    /* expiry: 3 lines at +100, +200, +300 of 300; the last one expires */
    content = oa_file(3, "y #sim:batch_delay_ms=300 #sim:batch_expire");
    fid = upload(&e, "x.jsonl", "batch", content, T0);
    snprintf(bid, sizeof bid, "%s", oa_create(&e, fid, T0));
    r = oa_get(&e, bid, T0 + 299);
    assert_string_equal(str(r.json, "status"), "in_progress");
    assert_int_equal(num(r.json, "expires_at", NULL), (T0 + 300) / 1000);
    assert_int_equal(num(r.json, "request_counts", "completed"), 2);
    res_free(&r);
    r = oa_get(&e, bid, T0 + 300);
    assert_string_equal(str(r.json, "status"), "expired");
    assert_int_equal(num(r.json, "expired_at", NULL), (T0 + 300) / 1000);
    assert_true(json_is_null(json_object_get(r.json, "completed_at")));
    er = file_content(&e, str(r.json, "error_file_id"));
    assert_non_null(strstr(er.body, "\"custom_id\":\"l2\""));
    assert_non_null(strstr(er.body, "batch_expired"));
    res_free(&er);
    res_free(&r);
    free(content);

    /* a batch still running when the store is freed: LeakSanitizer checks */
    content = oa_file(3, "z #sim:batch_delay_ms=100000");
    fid = upload(&e, "p.jsonl", "batch", content, T0);
    snprintf(bid, sizeof bid, "%s", oa_create(&e, fid, T0));
    r = oa_get(&e, bid, T0 + 40000);
    assert_int_equal(num(r.json, "request_counts", "completed"), 1);
    res_free(&r);
    free(content);
    env_free(&e);
}

static void test_openai_lists_and_routes(void **state)
{
    struct env e;
    env_init(&e);
    char *line = oa_line("a", "x");
    const char *f1 = upload(&e, "1.jsonl", "batch", line, T0);
    char id1[64], ids[3][64];
    snprintf(id1, sizeof id1, "%s", f1);
    for (int i = 0; i < 3; i++)
        snprintf(ids[i], sizeof ids[i], "%s", oa_create(&e, id1, T0 + (uint64_t)i));
    struct res r = req(&e, SIM_GET, "/v1/batches", "limit=2", NULL, NULL, T0, NULL, NULL);
    const json_t *data = json_object_get(r.json, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(str(json_array_get(data, 0), "id"), ids[2]);
    assert_string_equal(str(r.json, "first_id"), ids[2]);
    assert_string_equal(str(r.json, "last_id"), ids[1]);
    assert_true(json_is_true(json_object_get(r.json, "has_more")));
    res_free(&r);
    char q[128];
    snprintf(q, sizeof q, "after=%s&limit=2", ids[1]);
    r = req(&e, SIM_GET, "/v1/batches", q, NULL, NULL, T0, NULL, NULL);
    data = json_object_get(r.json, "data");
    assert_int_equal(json_array_size(data), 1);
    assert_string_equal(str(json_array_get(data, 0), "id"), ids[0]);
    assert_true(json_is_false(json_object_get(r.json, "has_more")));
    res_free(&r);
    r = req(&e, SIM_GET, "/v1/batches", "limit=101", NULL, NULL, T0, NULL, NULL);
    assert_int_equal(r.status, 400);
    res_free(&r);

    /* files: upload errors, delete, 404, routes */
    static const char *bad_uploads[][2] = {
        {"--" BOUNDARY
         "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--" BOUNDARY "--",
         "'file'"},
        {"--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n"
         "\r\n{}\r\n--" BOUNDARY "--",
         "'purpose'"},
        {"--" BOUNDARY
         "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfun\r\n--" BOUNDARY
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n\r\n{}\r\n--" BOUNDARY
         "--",
         "'fun'"},
        {"--" BOUNDARY
         "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--" BOUNDARY
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n{}\r\n--" BOUNDARY
         "--",
         ".jsonl"},
        {"--" BOUNDARY "\r\nno colon here\r\n\r\n--" BOUNDARY "--", "colon"},
    };
    for (size_t i = 0; i < sizeof bad_uploads / sizeof bad_uploads[0]; i++) {
        r = req(&e, SIM_POST, "/v1/files", NULL, MP_CT, bad_uploads[i][0], T0, NULL, NULL);
        assert_int_equal(r.status, 400);
        const char *msg = str(json_object_get(r.json, "error"), "message");
        if (!strstr(msg, bad_uploads[i][1]))
            fail_msg("upload %zu: \"%s\" lacks \"%s\"", i, msg, bad_uploads[i][1]);
        res_free(&r);
    }
    r = req(&e, SIM_POST, "/v1/files", NULL, "application/json", "{}", T0, NULL, NULL);
    assert_int_equal(r.status, 400);
    res_free(&r);
    /* expires_after */
    const char *exp_body =
        "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nuser_data\r\n"
        "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"expires_after[anchor]\"\r\n\r\n"
        "created_at\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; "
        "name=\"expires_after[seconds]\"\r\n\r\n7200\r\n--" BOUNDARY "\r\nContent-Disposition: "
        "form-data; name=\"file\"; filename=\"n.txt\"\r\n\r\nnotes\r\n--" BOUNDARY "--\r\n";
    r = req(&e, SIM_POST, "/v1/files", NULL, MP_CT, exp_body, T0, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(num(r.json, "expires_at", NULL) - num(r.json, "created_at", NULL), 7200);
    assert_string_equal(str(r.json, "purpose"), "user_data");
    res_free(&r);

    char path[128];
    snprintf(path, sizeof path, "/v1/files/%s", id1);
    r = oa(&e, SIM_DELETE, path, NULL, T0);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "deleted")));
    res_free(&r);
    r = oa(&e, SIM_GET, path, NULL, T0);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(str(json_object_get(r.json, "error"), "message"), "No such File"));
    res_free(&r);
    /* the batches made from it still finish */
    r = oa_get(&e, ids[0], T0 + 1000);
    assert_string_equal(str(r.json, "status"), "completed");
    res_free(&r);

    static const struct {
        enum sim_method m;
        const char *path;
        int status;
    } routes[] = {{SIM_OTHER_METHOD, "/v1/files", 405},   {SIM_GET, "/v1/files/a/b", 404},
                  {SIM_POST, "/v1/files/abc", 405},       {SIM_DELETE, "/v1/batches/b", 405},
                  {SIM_GET, "/v1/batches/b/cancel", 405}, {SIM_GET, "/v1/batches/b/x", 404},
                  {SIM_GET, "/v1/batches/nope", 404},     {SIM_DELETE, "/v1/batches", 405}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        r = oa(&e, routes[i].m, routes[i].path, NULL, T0);
        assert_int_equal(r.status, routes[i].status);
        assert_string_equal(str(json_object_get(r.json, "error"), "type"), "invalid_request_error");
        res_free(&r);
    }
    free(line);
    env_free(&e);
}

/* ---- Anthropic ------------------------------------------------------------------------- */

static char *an_create_body(int n, const char *first)
{
    char *all = strdup("{\"requests\":[");
    for (int i = 0; i < n; i++) {
        char *next;
        assert_true(
            asprintf(&next,
                     "%s%s{\"custom_id\":\"r%d\",\"params\":{\"model\":\"claude-haiku-4-5\","
                     "\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"%s\"}]}}",
                     all, i ? "," : "", i, i == 0 && first ? first : "hi") > 0);
        free(all);
        all = next;
    }
    char *done;
    assert_true(asprintf(&done, "%s]}", all) > 0);
    free(all);
    return done;
}

static const char *an_create(struct env *e, int n, const char *first, uint64_t t)
{
    static char id[64];
    char *body = an_create_body(n, first);
    struct res r = an(e, SIM_POST, "/v1/messages/batches", body, t);
    free(body);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "processing_status"), "in_progress");
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    res_free(&r);
    return id;
}

static struct res an_at(struct env *e, const char *id, const char *tail, enum sim_method m,
                        uint64_t t)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/messages/batches/%s%s", id, tail);
    return an(e, m, path, NULL, t);
}

static void test_anthropic_lifecycle(void **state)
{
    struct env e;
    env_init(&e);
    char id[64];
    snprintf(id, sizeof id, "%s", an_create(&e, 3, "a #sim:batch_delay_ms=600", T0));
    struct res r = an_at(&e, id, "", SIM_GET, T0 + 599);
    assert_string_equal(str(r.json, "processing_status"), "in_progress");
    assert_int_equal(num(r.json, "request_counts", "processing"), 3);
    assert_int_equal(num(r.json, "request_counts", "succeeded"), 0);
    assert_true(json_is_null(json_object_get(r.json, "results_url")));
    assert_string_equal(str(r.json, "created_at"), "2025-11-02T10:00:00.000000Z");
    assert_string_equal(str(r.json, "expires_at"), "2025-11-03T10:00:00.000000Z");
    res_free(&r);
    r = an_at(&e, id, "/results", SIM_GET, T0 + 599);
    assert_int_equal(r.status, 400);
    res_free(&r);
    r = an_at(&e, id, "", SIM_DELETE, T0 + 599);
    assert_int_equal(r.status, 400);
    res_free(&r);
    r = an_at(&e, id, "", SIM_GET, T0 + 600);
    assert_string_equal(str(r.json, "processing_status"), "ended");
    assert_string_equal(str(r.json, "ended_at"), "2025-11-02T10:00:00.600000Z");
    assert_int_equal(num(r.json, "request_counts", "processing"), 0);
    assert_int_equal(num(r.json, "request_counts", "succeeded"), 3);
    char url[200];
    snprintf(url, sizeof url, "http://127.0.0.1:4100/v1/messages/batches/%s/results", id);
    assert_string_equal(str(r.json, "results_url"), url);
    res_free(&r);
    r = an_at(&e, id, "/results", SIM_GET, T0 + 700);
    assert_int_equal(r.status, 200);
    assert_int_equal(count_lines(r.body), 3);
    json_t *l0 = json_loads(r.body, JSON_DISABLE_EOF_CHECK, NULL);
    assert_string_equal(str(l0, "custom_id"), "r0");
    const json_t *res0 = json_object_get(l0, "result");
    assert_string_equal(str(res0, "type"), "succeeded");
    const json_t *msg = json_object_get(res0, "message");
    assert_string_equal(str(json_object_get(msg, "usage"), "service_tier"), "batch");
    assert_string_equal(str(json_array_get(json_object_get(msg, "content"), 0), "text"),
                        "Simulated reply from claude-haiku-4-5 to: a");
    json_decref(l0);
    res_free(&r);
    r = an_at(&e, id, "/cancel", SIM_POST, T0 + 800);
    assert_int_equal(r.status, 400); /* ended on its own */
    res_free(&r);
    r = an_at(&e, id, "", SIM_DELETE, T0 + 800);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(r.json, "type"), "message_batch_deleted");
    res_free(&r);
    r = an_at(&e, id, "", SIM_GET, T0 + 800);
    assert_int_equal(r.status, 404);
    assert_string_equal(str(json_object_get(r.json, "error"), "type"), "not_found_error");
    res_free(&r);

    /* cancel at +500 of 1000 over 4 lines: r0, r1 done; canceling, then ended */
    snprintf(id, sizeof id, "%s", an_create(&e, 4, "c #sim:batch_delay_ms=1000", T0));
    r = an_at(&e, id, "/cancel", SIM_POST, T0 + 500);
    assert_string_equal(str(r.json, "processing_status"), "canceling");
    assert_string_equal(str(r.json, "cancel_initiated_at"), "2025-11-02T10:00:00.500000Z");
    assert_int_equal(num(r.json, "request_counts", "processing"), 4);
    res_free(&r);
    r = an_at(&e, id, "", SIM_GET, T0 + 501);
    assert_string_equal(str(r.json, "processing_status"), "ended");
    assert_int_equal(num(r.json, "request_counts", "succeeded"), 2);
    assert_int_equal(num(r.json, "request_counts", "canceled"), 2);
    res_free(&r);
    r = an_at(&e, id, "/cancel", SIM_POST, T0 + 502); /* canceled already: unchanged */
    assert_int_equal(r.status, 200);
    res_free(&r);
    r = an_at(&e, id, "/results", SIM_GET, T0 + 502);
    assert_non_null(strstr(r.body, "{\"custom_id\":\"r3\",\"result\":{\"type\":\"canceled\"}}\n"));
    res_free(&r);

    /* expiry and per-line errors */
    snprintf(id, sizeof id, "%s",
             an_create(&e, 2, "#sim:batch_expire #sim:batch_delay_ms=200 #sim:status=529", T0));
    r = an_at(&e, id, "", SIM_GET, T0 + 200);
    assert_string_equal(str(r.json, "processing_status"), "ended");
    assert_string_equal(str(r.json, "expires_at"), "2025-11-02T10:00:00.200000Z");
    assert_int_equal(num(r.json, "request_counts", "errored"), 1);
    assert_int_equal(num(r.json, "request_counts", "expired"), 1);
    res_free(&r);
    r = an_at(&e, id, "/results", SIM_GET, T0 + 300);
    json_t *e0 = json_loads(r.body, JSON_DISABLE_EOF_CHECK, NULL);
    const json_t *err = json_object_get(json_object_get(e0, "result"), "error");
    assert_string_equal(str(err, "type"), "error");
    assert_string_equal(str(json_object_get(err, "error"), "type"), "overloaded_error");
    json_decref(e0);
    assert_non_null(strstr(r.body, "{\"custom_id\":\"r1\",\"result\":{\"type\":\"expired\"}}"));
    res_free(&r);
    env_free(&e);
}

static void test_anthropic_create_errors_and_list(void **state)
{
    struct env e;
    env_init(&e);
    static const char *bad[] = {
        "[]",
        "{}",
        "{\"requests\":{}}",
        "{\"requests\":[]}",
        "{\"requests\":[{\"params\":{}}]}",
        "{\"requests\":[{\"custom_id\":\"has space\",\"params\":{}}]}",
        "{\"requests\":[{\"custom_id\":\"a\",\"params\":{}},{\"custom_id\":\"a\",\"params\":{}}]}",
        "{\"requests\":[{\"custom_id\":\"a\"}]}",
        "{\"requests\":[{\"custom_id\":\"a\",\"params\":[]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct res r = an(&e, SIM_POST, "/v1/messages/batches", bad[i], T0);
        assert_int_equal(r.status, 400);
        assert_string_equal(str(r.json, "type"), "error");
        assert_string_equal(str(json_object_get(r.json, "error"), "type"), "invalid_request_error");
        res_free(&r);
    }
    struct res r = req(&e, SIM_GET, "/v1/messages/batches", NULL, NULL, NULL, T0, NULL, NULL);
    assert_int_equal(r.status, 400); /* no anthropic-version */
    res_free(&r);
    r = an(&e, SIM_DELETE, "/v1/messages/batches", NULL, T0);
    assert_int_equal(r.status, 405);
    res_free(&r);
    r = an(&e, SIM_GET, "/v1/messages/batches/x/other", NULL, T0);
    assert_int_equal(r.status, 404);
    res_free(&r);

    /* params are checked when the line runs: errored results */
    r = an(&e, SIM_POST, "/v1/messages/batches",
           "{\"requests\":[{\"custom_id\":\"nomax\",\"params\":{\"model\":\"m\",\"messages\":[{"
           "\"role\":\"user\",\"content\":\"x\"}]}},{\"custom_id\":\"st\",\"params\":{\"model\":"
           "\"m\",\"max_tokens\":5,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
           "\"x\"}]}}]}",
           T0);
    assert_int_equal(r.status, 200);
    char id[64];
    snprintf(id, sizeof id, "%s", str(r.json, "id"));
    res_free(&r);
    r = an_at(&e, id, "/results", SIM_GET, T0 + 1000);
    assert_int_equal(count_lines(r.body), 2);
    assert_non_null(strstr(r.body, "max_tokens: Field required"));
    assert_non_null(strstr(r.body, "Streaming is not supported"));
    res_free(&r);

    /* list: newest first, after_id to older, before_id to newer */
    char ids[5][64];
    snprintf(ids[0], sizeof ids[0], "%s", id);
    for (int i = 1; i < 5; i++)
        snprintf(ids[i], sizeof ids[i], "%s", an_create(&e, 1, NULL, T0 + (uint64_t)i));
    r = req(&e, SIM_GET, "/v1/messages/batches", "limit=2", NULL, NULL, T0, "2023-06-01", NULL);
    const json_t *data = json_object_get(r.json, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(str(r.json, "first_id"), ids[4]);
    assert_string_equal(str(r.json, "last_id"), ids[3]);
    assert_true(json_is_true(json_object_get(r.json, "has_more")));
    res_free(&r);
    char q[128];
    snprintf(q, sizeof q, "after_id=%s&limit=2", ids[3]);
    r = req(&e, SIM_GET, "/v1/messages/batches", q, NULL, NULL, T0, "2023-06-01", NULL);
    assert_string_equal(str(r.json, "first_id"), ids[2]);
    assert_string_equal(str(r.json, "last_id"), ids[1]);
    assert_true(json_is_true(json_object_get(r.json, "has_more")));
    res_free(&r);
    snprintf(q, sizeof q, "after_id=%s&limit=2", ids[1]);
    r = req(&e, SIM_GET, "/v1/messages/batches", q, NULL, NULL, T0, "2023-06-01", NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    assert_true(json_is_false(json_object_get(r.json, "has_more")));
    res_free(&r);
    snprintf(q, sizeof q, "before_id=%s&limit=2", ids[1]);
    r = req(&e, SIM_GET, "/v1/messages/batches", q, NULL, NULL, T0, "2023-06-01", NULL);
    assert_string_equal(str(r.json, "first_id"), ids[3]);
    assert_string_equal(str(r.json, "last_id"), ids[2]);
    assert_true(json_is_true(json_object_get(r.json, "has_more")));
    res_free(&r);
    snprintf(q, sizeof q, "before_id=%s", ids[3]);
    r = req(&e, SIM_GET, "/v1/messages/batches", q, NULL, NULL, T0, "2023-06-01", NULL);
    assert_string_equal(str(r.json, "first_id"), ids[4]);
    assert_true(json_is_false(json_object_get(r.json, "has_more")));
    res_free(&r);
    r = req(&e, SIM_GET, "/v1/messages/batches", "limit=0", NULL, NULL, T0, "2023-06-01", NULL);
    assert_int_equal(r.status, 400);
    res_free(&r);
    env_free(&e);
}

/* ---- over HTTP ------------------------------------------------------------------------------ */

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    struct sim_buf *b = arg;
    sim_buf_add(b, p, size * n);
    return size * n;
}

static long http_get(const char *url, const char *header, struct sim_buf *out)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hs = curl_slist_append(NULL, header);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    long status = 0;
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    return status;
}

/* However small each, files and batches together stay under a count: the
 * next upload and batch are refused in the dialect's shape; deleting one
 * makes room again. */
static void test_object_cap(void **state)
{
    struct env e;
    env_init(&e);
    char first[64] = "";
    for (int i = 0; i < SIM_STORE_MAX_OBJECTS; i++) {
        const char *id = upload(&e, "a.jsonl", "batch", "x", T0);
        if (!i)
            snprintf(first, sizeof first, "%s", id);
    }
    assert_int_equal(e.s->objects, SIM_STORE_MAX_OBJECTS);
    char *body;
    assert_true(asprintf(&body,
                         "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n"
                         "\r\nbatch\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; "
                         "name=\"file\"; filename=\"b.jsonl\"\r\n\r\nx\r\n--" BOUNDARY
                         "--\r\n") > 0);
    struct res r = req(&e, SIM_POST, "/v1/files", NULL, MP_CT, body, T0, NULL, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "storage is full"));
    res_free(&r);
    r = an(&e, SIM_POST, "/v1/messages/batches",
           "{\"requests\":[{\"custom_id\":\"a\",\"params\":{\"model\":\"claude-haiku-4-5\","
           "\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}]}",
           T0);
    assert_int_equal(r.status, 413);
    res_free(&r);
    char path[96];
    snprintf(path, sizeof path, "/v1/files/%s", first);
    r = oa(&e, SIM_DELETE, path, NULL, T0);
    assert_int_equal(r.status, 200);
    res_free(&r);
    r = req(&e, SIM_POST, "/v1/files", NULL, MP_CT, body, T0, NULL, NULL);
    assert_int_equal(r.status, 200);
    res_free(&r);
    free(body);
    env_free(&e);
}

static void test_http_faults(void **state)
{
    struct fg_sim *sim;
    char base[128], url[200];
    assert_int_equal(fg_sim_start("127.0.0.1:0", NULL, &sim, base, sizeof base), 0);
    struct sim_buf b = {0};
    snprintf(url, sizeof url, "%s/v1/batches", base);
    assert_int_equal(http_get(url, "x-sim-fault: status=503", &b), 503);
    assert_non_null(strstr(b.p, "\"server_error\""));
    sim_buf_free(&b);
    assert_int_equal(http_get(url, "x-other: 1", &b), 200);
    assert_non_null(strstr(b.p, "\"object\":\"list\""));
    sim_buf_free(&b);
    snprintf(url, sizeof url, "%s/v1/messages/batches", base);
    assert_int_equal(http_get(url, "x-sim-fault: status=529", &b), 529);
    assert_non_null(strstr(b.p, "\"overloaded_error\""));
    sim_buf_free(&b);
    assert_int_equal(http_get(url, "anthropic-version: 2023-06-01", &b), 200);
    assert_non_null(strstr(b.p, "\"has_more\":false"));
    sim_buf_free(&b);
    snprintf(url, sizeof url, "%s/v1/filesystem", base);
    assert_int_equal(http_get(url, "x-other: 1", &b), 404);
    sim_buf_free(&b);
    fg_sim_stop(sim);
}

static int setup(void **state)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_openai_progress_and_completion),
        cmocka_unit_test(test_openai_validation),
        cmocka_unit_test(test_openai_cancel_and_expire),
        cmocka_unit_test(test_openai_lists_and_routes),
        cmocka_unit_test(test_anthropic_lifecycle),
        cmocka_unit_test(test_anthropic_create_errors_and_list),
        cmocka_unit_test(test_object_cap),
        cmocka_unit_test(test_http_faults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
