/* test_alog.c — the access log: a ledger record's line (alog.c) is one
 * line of valid JSON with the record's numbers, client text in it is
 * redacted, bounded and escaped, records that are not calls have none; and
 * the line file (linelog.c) keeps every line whole across a logrotate-style
 * rename + reopen while threads write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alog.h"
#include "linelog.h"
#include "redact.h"

static struct fg_record base(void)
{
    struct fg_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "%s", "req_0123456789abcdef");
    r.ts_ms = 1796626150123; /* 2026-12-07T06:49:10.123Z */
    r.key_id = "key_a1b2c3d4e5f6";
    r.key_name = "team-a";
    r.tags = "team=a";
    r.endpoint = "chat";
    r.model_requested = "auto";
    r.model = "gpt-4o-mini";
    r.provider = "openai";
    r.route = "cheap";
    r.cache = "miss";
    r.stream = true;
    r.status = 200;
    r.tok = (struct fg_tokens){.input = 1200, .cache_read = 1024, .output = 77};
    r.reasoning_tokens = 5;
    r.priced = true;
    r.cost_pico = 123456789;
    r.baseline_pico = 223456789;
    r.latency_us = 12345;
    r.ttfb_us = 999;
    r.upstream_us = 11000;
    r.error = "the prompt said SECRET-PROMPT-TEXT";
    r.route_reason = "rule x";
    return r;
}

static json_t *parse_line(const char *line, size_t n)
{
    assert_true(n > 0);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1)); /* one line */
    for (size_t i = 0; i < n - 1; i++)      /* no raw control byte */
        assert_true((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
    json_error_t e;
    json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        fail_msg("not JSON: %s: %s", e.text, line);
    return j;
}

static const char *s_of(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

static json_int_t i_of(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void a_call_is_one_json_line(void **state)
{
    (void)state;
    struct fg_record r = base();
    char line[FG_ALOG_LINE_MAX];
    size_t n = fg_alog_format(&r, line, sizeof line);
    json_t *j = parse_line(line, n);
    assert_string_equal(s_of(j, "ts"), "2026-12-07T06:49:10.123Z");
    assert_string_equal(s_of(j, "id"), "req_0123456789abcdef");
    assert_string_equal(s_of(j, "key_id"), "key_a1b2c3d4e5f6");
    assert_string_equal(s_of(j, "key_name"), "team-a");
    assert_string_equal(s_of(j, "endpoint"), "chat");
    assert_string_equal(s_of(j, "model_requested"), "auto");
    assert_string_equal(s_of(j, "model"), "gpt-4o-mini");
    assert_string_equal(s_of(j, "provider"), "openai");
    assert_string_equal(s_of(j, "route"), "cheap");
    assert_string_equal(s_of(j, "cache"), "miss");
    assert_true(json_is_true(json_object_get(j, "stream")));
    assert_true(json_is_null(json_object_get(j, "batch_id")));
    assert_int_equal(i_of(j, "status"), 200);
    json_t *t = json_object_get(j, "tokens");
    assert_int_equal(i_of(t, "input"), 1200);
    assert_int_equal(i_of(t, "cache_read"), 1024);
    assert_int_equal(i_of(t, "cache_write_5m"), 0);
    assert_int_equal(i_of(t, "output"), 77);
    assert_int_equal(i_of(t, "reasoning"), 5);
    assert_int_equal(i_of(j, "cost_pico"), 123456789);
    assert_int_equal(i_of(j, "saved_pico"), 100000000);
    assert_string_equal(s_of(j, "cost_usd"), "0.000123");
    assert_string_equal(s_of(j, "saved_usd"), "0.000100");
    assert_true(json_is_real(json_object_get(j, "latency_ms")));
    assert_float_equal(json_real_value(json_object_get(j, "latency_ms")), 12.345, 1e-9);
    assert_float_equal(json_real_value(json_object_get(j, "ttfb_ms")), 0.999, 1e-9);
    assert_float_equal(json_real_value(json_object_get(j, "upstream_ms")), 11.0, 1e-9);
    /* never the error text (a provider's may quote the prompt), tags or
     * the route rule */
    assert_null(strstr(line, "SECRET-PROMPT-TEXT"));
    assert_null(json_object_get(j, "error"));
    assert_null(strstr(line, "rule x"));
    json_decref(j);
}

static void unpriced_and_cache_hit(void **state)
{
    (void)state;
    struct fg_record r = base();
    r.priced = false;
    r.cache = "hit";
    r.upstream_us = 0;
    r.ttfb_us = 0;
    r.key_name = NULL;
    r.batch_id = "batch_abc";
    char line[FG_ALOG_LINE_MAX];
    json_t *j = parse_line(line, fg_alog_format(&r, line, sizeof line));
    assert_true(json_is_null(json_object_get(j, "cost_pico")));
    assert_true(json_is_null(json_object_get(j, "cost_usd")));
    assert_true(json_is_false(json_object_get(j, "priced")));
    assert_true(json_is_null(json_object_get(j, "upstream_ms")));
    assert_true(json_is_null(json_object_get(j, "ttfb_ms")));
    assert_true(json_is_null(json_object_get(j, "key_name")));
    assert_string_equal(s_of(j, "batch_id"), "batch_abc");
    json_decref(j);
}

static void not_a_call_has_no_line(void **state)
{
    (void)state;
    char line[FG_ALOG_LINE_MAX];
    struct fg_record r = base();
    r.endpoint = "idle";
    assert_int_equal(fg_alog_format(&r, line, sizeof line), 0);
    r = base();
    r.response_forget = true;
    assert_int_equal(fg_alog_format(&r, line, sizeof line), 0);
}

/* A model name is the client's text: a key pasted into it is redacted,
 * control characters (C0, DEL, C1) and bad UTF-8 are escaped, it is cut. */
static void client_text_is_redacted_bounded_escaped(void **state)
{
    (void)state;
    char model[1200];
    int k = snprintf(model, sizeof model,
                     "m\"\\\n\r\x1b[31m\x7f\xc2\x9b\xff\xc3\xa9 fk-AAAAAAAAAAAAAAAAAAAAAAAA ");
    memset(model + k, 'x', sizeof model - 1 - (size_t)k);
    model[sizeof model - 1] = '\0';
    struct fg_record r = base();
    r.model_requested = model;
    r.endpoint = "/v1/moderations?api_key=sk-BBBBBBBBBBBBBBBB";
    char line[FG_ALOG_LINE_MAX];
    json_t *j = parse_line(line, fg_alog_format(&r, line, sizeof line));
    const char *m = s_of(j, "model_requested");
    assert_non_null(m);
    static const char want[] = "m\"\\\n\r\x1b[31m\x7f\xc2\x9b\xef\xbf\xbd\xc3\xa9 [REDACTED] x";
    assert_memory_equal(m, want, sizeof want - 1);
    assert_null(strstr(line, "fk-AAAA"));
    assert_null(strstr(line, "sk-BBBB"));
    /* bounded: at most FG_ALOG_TEXT_MAX bytes of escaped text */
    const char *raw = strstr(line, "\"model_requested\":\"") + 19;
    assert_true(strchr(raw, '"') - raw <= FG_ALOG_TEXT_MAX);
    assert_non_null(strstr(line, "\\u001b[31m\\u007f\\u009b\\ufffd"));
    json_decref(j);
}

/* Every text field at its worst (all control bytes) still fits the line. */
static void worst_case_fits(void **state)
{
    (void)state;
    char bad[2000];
    memset(bad, 1, sizeof bad - 1);
    bad[sizeof bad - 1] = '\0';
    struct fg_record r = base();
    memset(r.id, 1, sizeof r.id - 1);
    r.key_id = r.key_name = r.endpoint = r.model_requested = r.model = r.provider = r.route =
        r.cache = r.batch_id = r.linked_id = bad;
    r.tok = (struct fg_tokens){INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    r.reasoning_tokens = r.cost_pico = r.latency_us = r.ttfb_us = r.upstream_us = INT64_MAX;
    r.baseline_pico = 0;
    r.cost_pico = INT64_MAX / 2;
    r.status = -1;
    char line[FG_ALOG_LINE_MAX];
    size_t n = fg_alog_format(&r, line, sizeof line);
    assert_true(n < sizeof line);
    json_decref(parse_line(line, n));
    /* every escape counts against the bound: 21 whole "\u0001" at most */
    const char *v = strstr(line, "\"model_requested\":\"") + 19;
    assert_int_equal(strchr(v, '"') - v, 21 * 6);
}

/* ---------- the line file ---------- */

#define THREADS 4
#define PER_THREAD 3000
#define AFTER 100 /* lines put once the reopen was asked for: "thread" THREADS */

static struct fg_linelog g_ll;

static void put_line(int t, int i)
{
    char line[128];
    int n = snprintf(line, sizeof line, "{\"t\":%d,\"i\":%d,\"pad\":\"%040d\"}\n", t, i, i);
    while (!fg_linelog_put(&g_ll, line, (size_t)n))
        usleep(100); /* the queue is full: the test wants every line */
}

static void *putter(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++)
        put_line(t, i);
    return NULL;
}

/* Every line of file path, each parsed and whole; marks seen[t][i]. */
static size_t read_lines(const char *path, unsigned char seen[THREADS + 1][PER_THREAD], int only_t)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[256];
    size_t n = 0;
    while (fgets(buf, sizeof buf, f)) {
        int t, i;
        assert_int_equal(sscanf(buf, "{\"t\":%d,\"i\":%d,", &t, &i), 2);
        assert_non_null(strstr(buf, "\"}\n")); /* whole */
        assert_true(t >= 0 && t <= THREADS && i >= 0 && i < PER_THREAD);
        assert_int_equal(seen[t][i], 0);
        seen[t][i] = 1;
        if (t == only_t)
            n++;
        else if (only_t < 0)
            n++;
    }
    fclose(f);
    return n;
}

static void rename_then_reopen_loses_nothing(void **state)
{
    (void)state;
    char dir[] = "/tmp/alogXXXXXX", path[64], rotated[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/access.log", dir);
    snprintf(rotated, sizeof rotated, "%s/access.log.1", dir);
    char err[200];
    assert_int_equal(fg_linelog_open(&g_ll, path, err, sizeof err), 0);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, putter, (void *)(intptr_t)t);
    /* logrotate: rename while lines flow (once some are written), then ask
     * for the reopen */
    struct stat st;
    while (stat(path, &st) == 0 && st.st_size == 0)
        usleep(100);
    assert_int_equal(rename(path, rotated), 0);
    fg_linelog_reopen(&g_ll);
    for (int i = 0; i < AFTER; i++) /* after the reopen was asked: the new file's */
        put_line(THREADS, i);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    fg_linelog_close(&g_ll);
    static unsigned char seen[THREADS + 1][PER_THREAD];
    size_t old = read_lines(rotated, seen, -1), now = read_lines(path, seen, -1);
    assert_true(old > 0);
    assert_int_equal(old + now, THREADS * PER_THREAD + AFTER);
    memset(seen, 0, sizeof seen);
    assert_int_equal(read_lines(path, seen, THREADS), AFTER);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}

static void open_fails_clearly(void **state)
{
    (void)state;
    char err[200];
    assert_int_equal(fg_linelog_open(&g_ll, "/nonexistent-dir/x/access.log", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x/access.log"));
    fg_linelog_reopen(&g_ll); /* closed: a no-op, as from a signal handler */
    assert_int_equal(fg_alog_open("off", err, sizeof err), 0);
    assert_false(fg_alog_on());
    fg_alog_reopen();
    fg_alog_close();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_call_is_one_json_line),
        cmocka_unit_test(unpriced_and_cache_hit),
        cmocka_unit_test(not_a_call_has_no_line),
        cmocka_unit_test(client_text_is_redacted_bounded_escaped),
        cmocka_unit_test(worst_case_fits),
        cmocka_unit_test(rename_then_reopen_loses_nothing),
        cmocka_unit_test(open_fails_clearly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
