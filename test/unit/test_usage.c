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
#include "usage_flavour.h"

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

/* A whole answer or chunk: its counts found as the provider put them
 * (usage_flavour.h) and read. */
static struct fg_usage answer(const char *text, const char **flavour)
{
    struct fg_json j = {0};
    struct fg_usage u;
    memset(&u, 0, sizeof u);
    assert_int_equal(fg_json_parse(&j, text, strlen(text)), 0);
    const struct fg_usage_flavour *f;
    int at = fg_usage_flavour_locate(&j, 0, &f);
    assert_int_equal(at, fg_usage_openai_at(&j, 0));
    *flavour = f ? f->name : NULL;
    if (at >= 0)
        fg_usage_openai(&j, at, &u);
    fg_json_free(&j);
    return u;
}

/* Each provider flavour of section 6 of the providers spec, recognised
 * from its members, mapped to the disjoint classes. */
static void flavours(void **state)
{
    (void)state;
    static const struct {
        const char *json, *flavour;
        int64_t input, cache_read, output, reasoning;
    } cases[] = {
        /* DeepSeek: hit + miss = prompt; no writes ever */
        {"{\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":50,\"total_tokens\":1050,"
         "\"prompt_cache_hit_tokens\":768,\"prompt_cache_miss_tokens\":232,"
         "\"completion_tokens_details\":{\"reasoning_tokens\":20}}}",
         "deepseek", 232, 768, 50, 20},
        /* DeepSeek without prompt_tokens: the parts make it */
        {"{\"usage\":{\"completion_tokens\":5,\"prompt_cache_hit_tokens\":0,"
         "\"prompt_cache_miss_tokens\":12}}",
         "deepseek", 12, 0, 5, 0},
        /* Gemini: thoughts outside completion_tokens, inside total */
        {"{\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":40,\"total_tokens\":400,"
         "\"prompt_tokens_details\":{\"cached_tokens\":200}}}",
         "openai", 100, 200, 100, 60},
        /* Groq's last stream chunk */
        {"{\"choices\":[],\"x_groq\":{\"id\":\"req_1\",\"usage\":{\"prompt_tokens\":90,"
         "\"completion_tokens\":9,\"total_tokens\":99,\"queue_time\":0.01}}}",
         "groq", 90, 0, 9, 0},
        /* llama-server's timings, no usage object */
        {"{\"choices\":[],\"timings\":{\"cache_n\":64,\"prompt_n\":16,\"predicted_n\":8,"
         "\"predicted_ms\":12.5}}",
         "llamacpp", 16, 64, 8, 0},
        /* usage wins over timings when both came */
        {"{\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":8},"
         "\"timings\":{\"cache_n\":64,\"prompt_n\":16,\"predicted_n\":8}}",
         "openai", 80, 0, 8, 0},
        /* a flat cached_tokens (Mistral, Groq's docs) */
        {"{\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":2,\"cached_tokens\":30}}",
         "openai", 20, 30, 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *fl;
        struct fg_usage u = answer(cases[i].json, &fl);
        assert_non_null(fl);
        assert_string_equal(fl, cases[i].flavour);
        assert_null(u.bad);
        assert_true(u.seen);
        assert_int_equal(u.tok.input, cases[i].input);
        assert_int_equal(u.tok.cache_read, cases[i].cache_read);
        assert_int_equal(u.tok.cache_write_5m + u.tok.cache_write_1h, 0);
        assert_int_equal(u.tok.output, cases[i].output);
        assert_int_equal(u.reasoning, cases[i].reasoning);
    }
    /* Ollama and vLLM without include_usage: nothing to read, the meter
     * estimates */
    const char *fl;
    struct fg_usage u = answer("{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}", &fl);
    assert_null(fl);
    assert_false(u.seen);
    /* parts that do not make the whole are not a count */
    u = answer("{\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":1,"
               "\"prompt_cache_hit_tokens\":90,\"prompt_cache_miss_tokens\":90}}",
               &fl);
    assert_string_equal(fl, "deepseek");
    assert_non_null(u.bad);
    assert_string_equal(u.bad, "prompt_cache_hit_tokens");
    u = answer("{\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1,"
               "\"prompt_cache_hit_tokens\":-1,\"prompt_cache_miss_tokens\":11}}",
               &fl);
    assert_non_null(u.bad);
    assert_true(u.tok.cache_read >= 0 && u.tok.input >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_usage),      cmocka_unit_test(bad_counts), cmocka_unit_test(bounds),
        cmocka_unit_test(answer_estimate), cmocka_unit_test(flavours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
