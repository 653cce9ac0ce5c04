/* Unit tests for a route's format check (call/fmtcheck.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "fmtcheck.h"
#include "json.h"
#include "provider.h"

static bool text_ok(const struct fg_fmtcheck *f, const char *s)
{
    return fg_fmtcheck_text(f, s, strlen(s), NULL, 0);
}

/* GSM8K style: the final-answer line after reasoning, found only with
 * multiline matching. */
static void pattern_is_multiline(void **st)
{
    (void)st;
    char err[256];
    struct fg_fmtcheck *f = fg_fmtcheck_new("^#### [0-9]+$", NULL, err, sizeof err);
    assert_non_null(f);
    assert_true(text_ok(f, "She sells 16 - 3 - 4 = 9 eggs.\nSo 9 * 2 = 18.\n#### 18"));
    assert_true(text_ok(f, "#### 18\nthat is all"));
    assert_false(text_ok(f, "She sells 9 eggs, so the answer is 18."));
    assert_false(text_ok(f, "The answer: #### 18")); /* not at a line start */
    assert_false(text_ok(f, "#### eighteen"));
    char why[128];
    assert_false(fg_fmtcheck_text(f, "no", 2, why, sizeof why));
    assert_string_equal(why, "the pattern is not found");
    fg_fmtcheck_free(f);
    assert_null(fg_fmtcheck_new("(unclosed", NULL, err, sizeof err));
    assert_non_null(strstr(err, "invalid pattern: missing closing parenthesis at offset 9"));
}

static void schema_needs_conforming_json(void **st)
{
    (void)st;
    char err[256], why[256];
    const char *schema =
        "{\"type\":\"object\",\"required\":[\"answer\"],\"properties\":{\"answer\":{\"type\":"
        "\"integer\"}}}";
    struct fg_fmtcheck *f = fg_fmtcheck_new(NULL, schema, err, sizeof err);
    assert_non_null(f);
    assert_true(text_ok(f, "{\"answer\": 18}"));
    assert_false(fg_fmtcheck_text(f, "{\"answer\": \"18\"}", 16, why, sizeof why));
    assert_non_null(strstr(why, "$.answer"));
    assert_false(fg_fmtcheck_text(f, "The answer is 18.", 17, why, sizeof why));
    assert_non_null(strstr(why, "not JSON"));
    fg_fmtcheck_free(f);
    assert_null(fg_fmtcheck_new(NULL, "{\"$ref\":\"http://x/y\"}", err, sizeof err));
}

/* Through an adapter: the text parts of a complete answer, decoded
 * (escaped newlines become real ones), and a tool call passes. */
static void answers_are_read_by_their_adapter(void **st)
{
    (void)st;
    char err[256];
    struct fg_fmtcheck *f = fg_fmtcheck_new("^#### [0-9]+$", NULL, err, sizeof err);
    const char *oa = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
                     "\"9 * 2 = 18.\\n#### 18\"},\"finish_reason\":\"stop\"}]}";
    const char *oa_miss = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
                          "\"it is 18\"},\"finish_reason\":\"stop\"}]}";
    const char *an = "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"step\"},"
                     "{\"type\":\"text\",\"text\":\"\\n#### 18\"}]}";
    const char *tool =
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
        "\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{"
        "\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}";
    struct {
        const char *body;
        const struct fg_dialect_ops *ops;
        bool want;
    } cases[] = {{oa, &fg_provider_openai, true},
                 {oa_miss, &fg_provider_openai, false},
                 {an, &fg_provider_anthropic, true},
                 {tool, &fg_provider_openai, true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_json j = {0};
        assert_int_equal(fg_json_parse(&j, cases[i].body, strlen(cases[i].body)), 0);
        assert_int_equal(fg_fmtcheck_answer(f, cases[i].ops, &j, 0, NULL, 0), cases[i].want);
        fg_json_free(&j);
    }
    fg_fmtcheck_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pattern_is_multiline),
        cmocka_unit_test(schema_needs_conforming_json),
        cmocka_unit_test(answers_are_read_by_their_adapter),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fg_json_thread_cleanup();
    return rc;
}
