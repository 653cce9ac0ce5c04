/* test_batch_jsonl.c — the JSONL line checker of batch input files, fed in
 * pieces: every split point of a small file gives the same lines and the
 * same errors as the whole file at once; errors name their lines; a line
 * over the max_line bound is an error and is never carried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch_jsonl.h"

#define L(id, extra)                                                                               \
    "{\"custom_id\":\"" id "\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{"    \
    "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" extra "}}"

/* What a run saw: the valid lines' numbers and the report. */
struct seen {
    char lines[256];
    char report[600];
    size_t n_lines;
    int n_errors;
};

static void on_line(void *arg, size_t lineno, json_t *line)
{
    struct seen *s = arg;
    size_t k = strlen(s->lines);
    snprintf(s->lines + k, sizeof s->lines - k, "%zu:%s ", lineno,
             json_string_value(json_object_get(line, "custom_id")));
}

/* Feed text cut at cuts[0..n) (ascending); max_line as given. */
static void run(const char *text, const size_t *cuts, size_t n, size_t max_line, struct seen *s)
{
    memset(s, 0, sizeof *s);
    struct fg_batch_jsonl j;
    fg_batch_jsonl_init(&j, 10, NULL, on_line, s);
    fg_batch_jsonl_max_line(&j, max_line);
    size_t at = 0, len = strlen(text);
    for (size_t i = 0; i <= n; i++) {
        size_t to = i < n ? cuts[i] : len;
        char *piece = malloc(to - at ? to - at : 1); /* exact size: ASan sees overreads */
        memcpy(piece, text + at, to - at);
        fg_batch_jsonl_feed(&j, piece, to - at);
        free(piece);
        at = to;
    }
    fg_batch_jsonl_end(&j);
    s->n_lines = j.n_lines;
    s->n_errors = j.n_errors;
    if (j.n_errors)
        fg_batch_jsonl_report(&j, s->report, sizeof s->report);
    fg_batch_jsonl_free(&j);
}

/* The whole text once, then every single and (short texts) every pair of
 * split points: all agree. */
static void agree(const char *text, size_t max_line, struct seen *whole)
{
    run(text, NULL, 0, max_line, whole);
    size_t len = strlen(text);
    struct seen s;
    for (size_t i = 0; i <= len; i++) {
        for (size_t k = i; k <= len; k += len > 150 ? len : 1) {
            size_t cuts[2] = {i, k};
            run(text, cuts, 2, max_line, &s);
            assert_string_equal(s.lines, whole->lines);
            assert_string_equal(s.report, whole->report);
            assert_int_equal(s.n_lines, whole->n_lines);
        }
    }
}

static void test_valid_lines(void **state)
{
    struct seen s;
    agree(L("a", "") "\n" L("b", "") "\r\n\n  \n" L("c", ""), 0, &s);
    assert_string_equal(s.lines, "1:a 2:b 5:c ");
    assert_int_equal(s.n_errors, 0);
    assert_int_equal(s.n_lines, 3);
    agree(L("a", "") "\n", 0, &s); /* a final LF adds no line */
    assert_string_equal(s.lines, "1:a ");
    agree("", 0, &s);
    assert_int_equal(s.n_lines, 0);
}

static void test_errors_name_lines(void **state)
{
    struct seen s;
    agree(L("a", "") "\n{not json\n" L("a", "") "\n" L("b", ",\"stream\":true") "\n[1]\n", 0, &s);
    assert_string_equal(s.lines, "1:a ");
    assert_int_equal(s.n_errors, 4);
    assert_non_null(strstr(s.report, "The batch file has 4 invalid lines: line 2: not valid JSON"));
    assert_non_null(strstr(s.report, "line 3: duplicate custom_id \"a\""));
    assert_non_null(strstr(s.report, "line 4: \"body.stream\" must not be true in a batch"));
    assert_non_null(strstr(s.report, "line 5: must be a JSON object"));
}

static void test_max_lines(void **state)
{
    struct seen s;
    char text[4096] = "";
    for (int i = 0; i < 12; i++) {
        char id[8];
        snprintf(id, sizeof id, "r%d", i);
        size_t k = strlen(text);
        snprintf(text + k, sizeof text - k,
                 "{\"custom_id\":\"%s\",\"method\":\"POST\",\"url\":\"/v1/embeddings\","
                 "\"body\":{\"model\":\"m\",\"input\":\"x\"}}\n",
                 id);
    }
    run(text, NULL, 0, 0, &s);
    assert_int_equal(s.n_errors, 1);
    assert_non_null(strstr(s.report, "line 11: more than 10 requests in one file"));
}

static void test_long_line_not_kept(void **state)
{
    struct seen s;
    /* line 2: 300 bytes of junk; the JSON lines are ~120 */
    char text[1024];
    char longl[301];
    memset(longl, 'x', 300);
    longl[300] = '\0';
    snprintf(text, sizeof text, "%s\n%s\n%s", L("a", ""), longl, L("b", ""));
    agree(text, 400, &s); /* under the bound: an ordinary bad line */
    assert_string_equal(s.lines, "1:a 3:b ");
    assert_non_null(strstr(s.report, "has 1 invalid line: line 2: not valid JSON"));
    agree(text, 250, &s); /* over it: named, skipped to its LF, line 3 still read */
    assert_string_equal(s.lines, "1:a 3:b ");
    assert_non_null(strstr(s.report, "has 1 invalid line: line 2: longer than 250 bytes"));
    snprintf(text, sizeof text, "%s\n%s", longl, longl); /* the last one without LF */
    agree(text, 250, &s);
    assert_int_equal(s.n_errors, 2);
    assert_non_null(strstr(s.report, "line 1: longer than 250 bytes"));
    assert_non_null(strstr(s.report, "line 2: longer than 250 bytes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_lines),
        cmocka_unit_test(test_errors_name_lines),
        cmocka_unit_test(test_max_lines),
        cmocka_unit_test(test_long_line_not_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
