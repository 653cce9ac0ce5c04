/* test_usage.c — unit tests for usage.c: provider usage objects become
 * token classes, and counts that cannot be billed (negative, absurd,
 * fractional, strings, more cached than prompt) are flagged, never stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "usage.h"

static struct fg_usage parse(const char *text, bool anthropic)
{
    struct fg_json j = {0};
    struct fg_usage u;
    memset(&u, 0, sizeof u);
    assert_int_equal(fg_json_parse(&j, text, strlen(text)), 0);
    if (anthropic)
        fg_usage_anthropic(&j, 0, &u);
    else
        fg_usage_openai(&j, 0, &u);
    fg_json_free(&j);
    return u;
}

static const char *problem(const struct fg_usage *u, int64_t max_in, int64_t max_out)
{
    static char buf[200];
    return fg_usage_problem(u, max_in, max_out, buf, sizeof buf);
}

static void good_usage(void **state)
{
    (void)state;
    struct fg_usage u =
        parse("{\"prompt_tokens\":100,\"completion_tokens\":7,"
              "\"prompt_tokens_details\":{\"cached_tokens\":60,\"cache_write_tokens\":null},"
              "\"completion_tokens_details\":{\"reasoning_tokens\":2}}",
              false);
    assert_null(u.bad);
    assert_true(u.seen);
    assert_int_equal(u.tok.input, 40);
    assert_int_equal(u.tok.cache_read, 60);
    assert_int_equal(u.tok.output, 7);
    assert_null(problem(&u, 0, 0));
    assert_null(problem(&u, 100, 14));
    u = parse("{\"input_tokens\":11,\"output_tokens\":3,\"cache_read_input_tokens\":0}", true);
    assert_null(u.bad);
    assert_int_equal(u.tok.input, 11);
    assert_null(problem(&u, 1000, 100));
}

static void bad_counts(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool an;
        const char *field;
    } cases[] = {
        {"{\"prompt_tokens\":11,\"completion_tokens\":-99999999999}", false, "completion_tokens"},
        {"{\"prompt_tokens\":11,\"completion_tokens\":9223372036854775807}", false,
         "completion_tokens"},
        {"{\"prompt_tokens\":11,\"completion_tokens\":92233720368547758070}", false,
         "completion_tokens"},
        {"{\"prompt_tokens\":11.5,\"completion_tokens\":3}", false, "prompt_tokens"},
        {"{\"prompt_tokens\":1e3,\"completion_tokens\":3}", false, "prompt_tokens"},
        {"{\"prompt_tokens\":\"11\",\"completion_tokens\":3}", false, "prompt_tokens"},
        {"{\"prompt_tokens\":11,\"completion_tokens\":true}", false, "completion_tokens"},
        {"{\"prompt_tokens\":11,\"completion_tokens\":100000001}", false, "completion_tokens"},
        {"{\"prompt_tokens\":11,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":12}}",
         false, "prompt_tokens_details"},
        {"{\"prompt_tokens\":11,\"completion_tokens\":3,\"completion_tokens_details\":{\"reasoning_tokens\":4}}",
         false, "reasoning_tokens"},
        {"{\"input_tokens\":11,\"output_tokens\":-5}", true, "output_tokens"},
        {"{\"input_tokens\":[1],\"output_tokens\":5}", true, "input_tokens"},
        {"{\"input_tokens\":1,\"output_tokens\":5,\"cache_read_input_tokens\":-1}", true,
         "cache_read_input_tokens"},
        {"{\"input_tokens\":1,\"output_tokens\":5,\"cache_creation\":{\"ephemeral_1h_input_tokens\":0.5}}",
         true, "ephemeral_1h_input_tokens"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_usage u = parse(cases[i].json, cases[i].an);
        assert_non_null(u.bad);
        assert_string_equal(u.bad, cases[i].field);
        /* a flagged count is never stored */
        assert_true(u.tok.input >= 0 && u.tok.input <= FG_USAGE_MAX);
        assert_true(u.tok.output >= 0 && u.tok.output <= FG_USAGE_MAX);
        assert_true(u.tok.cache_read >= 0 && u.tok.cache_read <= FG_USAGE_MAX);
        const char *p = problem(&u, 0, 0);
        assert_non_null(p);
        assert_non_null(strstr(p, cases[i].field));
    }
}

static void bounds(void **state)
{
    (void)state;
    struct fg_usage u = parse("{\"prompt_tokens\":5000,\"completion_tokens\":900}", false);
    assert_null(u.bad);
    assert_null(problem(&u, 5000, 900));
    assert_non_null(strstr(problem(&u, 4999, 0), "5000 input tokens"));
    assert_non_null(strstr(problem(&u, 0, 899), "900 output tokens"));
    struct fg_usage none;
    memset(&none, 0, sizeof none);
    assert_string_equal(problem(&none, 0, 0), "no usage reported");
    fg_usage_estimate(&u, 12, 3);
    assert_null(u.bad);
    assert_int_equal(u.tok.input, 12);
    assert_int_equal(u.tok.output, 3);
    assert_int_equal(u.tok.cache_read, 0);
}

static void answer_estimate(void **state)
{
    (void)state;
    struct fg_json j = {0};
    const char *oa =
        "{\"choices\":[{\"message\":{\"content\":\"0123456789012345\"}}],\"usage\":null}";
    assert_int_equal(fg_json_parse(&j, oa, strlen(oa)), 0);
    int64_t n = fg_usage_answer_tokens(&j, FG_DIALECT_OPENAI);
    assert_true(n >= 4 && n < 20);
    const char *none = "{\"id\":\"x\"}";
    assert_int_equal(fg_json_parse(&j, none, strlen(none)), 0);
    assert_int_equal(fg_usage_answer_tokens(&j, FG_DIALECT_ANTHROPIC), 1);
    fg_json_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_usage),
        cmocka_unit_test(bad_counts),
        cmocka_unit_test(bounds),
        cmocka_unit_test(answer_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
