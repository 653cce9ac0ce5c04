/* Unit tests for the hot-path JSON indexer and splice editor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int parse(struct fg_json *j, const char *s)
{
    return fg_json_parse(j, s, strlen(s));
}

static void valid_documents(void **state)
{
    static const char *ok[] = {
        "{}",
        "[]",
        " { } ",
        "0",
        "-0.5e+10",
        "\"a\\u00e9\\n\"",
        "true",
        "null",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}",
        "[[[]],[{}]]",
        "{\"\":\"\"}",
        "1E5",
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 plain ascii text longer than eight\"",
    };
    struct fg_json j = {0};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = parse(&j, ok[i]);
        if (rc)
            fail_msg("rejected valid %s: %s", ok[i], j.err);
    }
    fg_json_free(&j);
}

static void invalid_documents(void **state)
{
    static const char *bad[] = {
        "",
        " ",
        "{",
        "}",
        "[1,]",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "01",
        "1.",
        "-",
        ".5",
        "1e",
        "\"abc",
        "\"a\\x\"",
        "\"a\\u12g4\"",
        "[1 2]",
        "{\"a\":1,}",
        "nul",
        "{} {}",
        "\"tab\there\"",
        "[1]]",
        "{\"a\":1 \"b\":2}",
        "truex",
        "\"\xff\xfe\"",
        "\"\xc3\"",
        "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
    };
    struct fg_json j = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(&j, bad[i]) == 0)
            fail_msg("accepted invalid %s", bad[i]);
    fg_json_free(&j);
}

/* Agreement with jansson on accept/reject over a corpus of mutations. */
static void agrees_with_jansson(void **state)
{
    const char *base = "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"hi \\\"there\\\"\"}],\"n\":-1.5e3,\"t\":true,\"z\":null}";
    size_t n = strlen(base);
    char buf[256];
    struct fg_json j = {0};
    const char subst[] = "{}[],:\"\\0-e.tx ";
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t k = 0; k < sizeof subst - 1; k++) {
            memcpy(buf, base, n);
            buf[pos] = subst[k];
            json_t *jj = json_loadb(buf, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            int ours = fg_json_parse(&j, buf, n) == 0;
            if (ours != (jj != NULL))
                fail_msg("disagree on %.*s (ours %d)", (int)n, buf, ours);
            json_decref(jj);
        }
    }
    fg_json_free(&j);
}

/* A special byte at every offset of a long string, across the 8- and
 * 16-byte blocks the string scan reads at once: validity agrees with
 * jansson's, and the string token ends where it should. */
static void string_scan_block_edges(void **state)
{
    static const char *const subst[] = {"\\n",  "\\u00e9", "\xc3\xa9", "\xe2\x82\xac",
                                        "\x01", "\x1f",    "\xff",     "\xc3",
                                        "\"",   "\x7f",    "\\"};
    char text[128], buf[256];
    struct fg_json j = {0};
    for (size_t k = 0; k < sizeof subst / sizeof subst[0]; k++)
        for (int pos = 0; pos < 70; pos++) {
            memset(text, 'a', sizeof text);
            size_t sl = strlen(subst[k]);
            memcpy(text + pos, subst[k], sl);
            text[75] = '\0';
            int n = snprintf(buf, sizeof buf, "{\"k\":\"%s\",\"z\":1}", text);
            json_t *jj = json_loadb(buf, (size_t)n, 0, NULL);
            int ours = fg_json_parse(&j, buf, (size_t)n) == 0;
            if (ours != (jj != NULL))
                fail_msg("disagree on %s at %d (ours %d)", subst[k], pos, ours);
            if (ours) {
                int v = fg_json_get(&j, 0, "k");
                assert_true(v > 0);
                char dec[128];
                assert_true(fg_json_str(&j, v, dec, sizeof dec) >= 0);
                assert_string_equal(dec, json_string_value(json_object_get(jj, "k")));
                assert_true(fg_json_get(&j, 0, "z") > 0);
            }
            json_decref(jj);
        }
    fg_json_free(&j);
}

static void navigation(void **state)
{
    struct fg_json j = {0};
    const char *s = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"system\","
                    "\"content\":\"a\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}],"
                    "\"max_tokens\":128,\"nested\":{\"model\":\"inner\"}}";
    assert_int_equal(parse(&j, s), 0);
    int m = fg_json_get(&j, 0, "model");
    assert_true(fg_json_str_eq(&j, m, "gpt-4o"));
    assert_int_equal(fg_json_type(&j, fg_json_get(&j, 0, "stream")), FG_J_TRUE);
    int msgs = fg_json_get(&j, 0, "messages");
    assert_int_equal(fg_json_count(&j, msgs), 2);
    int second = fg_json_at(&j, msgs, 1);
    assert_true(fg_json_str_eq(&j, fg_json_get(&j, second, "role"), "user"));
    assert_int_equal(fg_json_at(&j, msgs, 2), -1);
    int64_t v = 0;
    assert_true(fg_json_int(&j, fg_json_get(&j, 0, "max_tokens"), &v));
    assert_int_equal(v, 128);
    assert_int_equal(fg_json_get(&j, 0, "missing"), -1);
    /* lookup doesn't descend into nested objects */
    int nested = fg_json_get(&j, 0, "nested");
    assert_true(fg_json_str_eq(&j, fg_json_get(&j, nested, "model"), "inner"));
    assert_int_equal(fg_json_count(&j, 0), 5);
    fg_json_free(&j);
}

static void string_decoding(void **state)
{
    struct fg_json j = {0};
    assert_int_equal(parse(&j, "[\"a\\n\\\"b\\u00e9\\ud83d\\ude00\"]"), 0);
    char out[32];
    long n = fg_json_str(&j, 1, out, sizeof out);
    assert_string_equal(out, "a\n\"b\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(n, 10);
    fg_json_free(&j);
}

static void splice_rewrites_only_spans(void **state)
{
    struct fg_json j = {0};
    const char *s = "{ \"zeta\":1.50,\"model\" : \"alias\", \"x\":[1,2] }";
    assert_int_equal(parse(&j, s), 0);
    int m = fg_json_get(&j, 0, "model");
    struct fg_json_edit e[2] = {
        {j.t[0].start + 1, j.t[0].start + 1, "\"first\":0,", 10},
        {j.t[m].start, j.t[m].end, "\"gpt-4o-2024\"", 13},
    };
    size_t n;
    char *out = fg_json_splice(s, strlen(s), e, 2, &n);
    assert_string_equal(out,
                        "{\"first\":0, \"zeta\":1.50,\"model\" : \"gpt-4o-2024\", \"x\":[1,2] }");
    assert_int_equal(n, strlen(out));
    free(out);
    fg_json_free(&j);
}

static void deep_nesting_bounded(void **state)
{
    char *s = malloc(2001);
    memset(s, '[', 1000);
    memset(s + 1000, ']', 1000);
    s[2000] = 0;
    struct fg_json j = {0};
    assert_int_equal(parse(&j, s), -1);
    assert_string_equal(j.err, "nesting too deep");
    free(s);
    fg_json_free(&j);
}

/* The caller's max_depth: at the limit parses, one deeper fails with the
 * depth error (which api.c turns into a 400 naming the limit). */
static void caller_depth_limit(void **state)
{
    struct fg_json j = {0};
    j.max_depth = 3;
    assert_int_equal(parse(&j, "{\"a\":[{\"b\":1}]}"), 0);
    assert_int_equal(parse(&j, "{\"a\":[{\"b\":[1]}]}"), -1);
    assert_ptr_equal(j.err, fg_json_err_depth);
    assert_int_equal(j.err_off, 11);
    /* over the parser's own bound the bound wins */
    j.max_depth = 100000;
    char *s = malloc(1201);
    memset(s, '[', 600);
    memset(s + 600, ']', 600);
    s[1200] = 0;
    assert_int_equal(parse(&j, s), -1);
    assert_ptr_equal(j.err, fg_json_err_depth);
    memset(s, '[', 512);
    memset(s + 512, ']', 512);
    s[1024] = 0;
    assert_int_equal(parse(&j, s), 0);
    free(s);
    fg_json_free(&j);
}

static void ambiguous_keys(void **state)
{
    static const char *const keys[] = {"model", "stream", NULL};
    struct fg_json j = {0};
    const char *why;
    assert_int_equal(parse(&j, "{\"model\":\"a\",\"x\":1,\"model\":\"b\"}"), 0);
    assert_string_equal(fg_json_check_keys(&j, 0, keys, &why), "model");
    assert_string_equal(why, "appears more than once");
    assert_int_equal(parse(&j, "{\"mod\\u0065l\":\"b\"}"), 0);
    assert_string_equal(fg_json_check_keys(&j, 0, keys, &why), "model");
    assert_int_equal(parse(&j, "{\"model\":\"a\",\"nested\":{\"model\":1},\"stream\":true}"), 0);
    assert_null(fg_json_check_keys(&j, 0, keys, &why));
    fg_json_free(&j);
}

/* unique_keys: a repeated member name anywhere, compared decoded, is an
 * error naming its path; distinct names (even similar spellings) are not. */
static void duplicate_members(void **state)
{
    struct fg_json j = {.unique_keys = true};
    const char *bad[][2] = {
        {"{\"n\":1,\"n\":128}", "n"},
        {"{\"n\":1,\"\\u006e\":128}", "n"},
        {"{\"\\u006e\":1,\"n\":128}", "n"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
         "{\"type\":\"text\",\"text\":\"b\",\"te\\u0078t\":\"c\"}]}]}",
         "messages[0].content[1].text"},
        {"{\"a\":{\"b\":[0,[],{\"x\":1,\"x\":2}]}}", "a.b[2].x"},
        {"{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}", "\xf0\x9f\x98\x80"},
        {"{\"k\\n\":1,\"k\\u000a\":2}", "k?"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(&j, bad[i][0]), -1);
        assert_ptr_equal(j.err, fg_json_err_dup);
        assert_string_equal(j.err_path, bad[i][1]);
    }
    /* many members: the sorted path finds the one repeat among 200 */
    char big[8192];
    size_t o = 0;
    big[o++] = '{';
    for (int i = 0; i < 200; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%s\"k%d\":%d", i ? "," : "", i, i);
    size_t before = o;
    o += (size_t)snprintf(big + o, sizeof big - o, ",\"k1\\u0037\":0}"); /* k17 again */
    assert_int_equal(parse(&j, big), -1);
    assert_string_equal(j.err_path, "k17");
    big[before] = '}'; /* without it: fine */
    big[before + 1] = '\0';
    assert_int_equal(parse(&j, big), 0);
    const char *good[] = {
        "{\"n\":1,\"N\":2,\"n \":3,\"nn\":4}",
        "{\"a\":{\"x\":1},\"b\":{\"x\":1},\"x\":[{\"x\":1},{\"x\":2}]}",
        "{\"\\u006e\":1,\"\\u006f\":2}",
        "{}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(parse(&j, good[i]), 0);
    /* off by default: responses and SSE events are read as they come */
    struct fg_json loose = {0};
    assert_int_equal(parse(&loose, "{\"n\":1,\"n\":2}"), 0);
    fg_json_free(&loose);
    fg_json_free(&j);
}

/* json.c's member-name hash (FNV-1a + fmix64), mirrored to build names
 * that crowd one slot of its table and force the sorted fallback. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static void crowded_names_fall_back_to_sorting(void **state)
{
    enum { M = 40 }; /* a table of 128 slots; radix-sorted */
    char names[M][16], doc[2048];
    int n = 0;
    for (int i = 0; n < M; i++) {
        char b[16];
        snprintf(b, sizeof b, "k%d", i);
        if (((name_hash(b) >> 32) & 127) == 7)
            snprintf(names[n++], sizeof names[0], "%s", b);
    }
    struct fg_json j = {.unique_keys = true};
    size_t o = (size_t)snprintf(doc, sizeof doc, "{");
    for (int i = 0; i < M; i++)
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s\"%s\":%d", i ? "," : "", names[i], i);
    snprintf(doc + o, sizeof doc - o, "}");
    assert_int_equal(parse(&j, doc), 0); /* all distinct */
    /* the 12th name again, spelled with an escape, before the end */
    snprintf(doc + o, sizeof doc - o, ",\"\\u%04x%s\":0}", names[11][0], names[11] + 1);
    assert_int_equal(parse(&j, doc), -1);
    assert_ptr_equal(j.err, fg_json_err_dup);
    assert_string_equal(j.err_path, names[11]);
    fg_json_free(&j);
}

/* Lookups read names and string values decoded, as the provider will. */
static void escaped_spellings(void **state)
{
    struct fg_json j = {0};
    assert_int_equal(parse(&j, "{\"\\u006e\":128,\"mod\\u0065l\":\"gpt\",\"r\":\"\\u0075ser\"}"),
                     0);
    int64_t v = 0;
    assert_true(fg_json_int(&j, fg_json_get(&j, 0, "n"), &v));
    assert_int_equal(v, 128);
    assert_true(fg_json_str_eq(&j, fg_json_get(&j, 0, "model"), "gpt"));
    assert_true(fg_json_str_eq(&j, fg_json_get(&j, 0, "r"), "user"));
    assert_false(fg_json_str_eq(&j, fg_json_get(&j, 0, "r"), "users"));
    assert_int_equal(fg_json_get(&j, 0, "mode"), -1);
    assert_int_equal(fg_json_get(&j, 0, "u006e"), -1);
    fg_json_free(&j);
}

static void member_removal(void **state)
{
    struct fg_json j = {0};
    const char *cases[][3] = {
        {"{\"a\":1, \"stream_options\":{\"x\":[1]} ,\"b\":2}", "stream_options",
         "{\"a\":1, \"b\":2}"},
        {"{\"a\":1,\"s\":true}", "s", "{\"a\":1}"},
        {"{\"s\":true}", "s", "{}"},
        {"{ \"s\" : true , \"a\":1}", "s", "{  \"a\":1}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(parse(&j, cases[i][0]), 0);
        uint32_t a, b;
        assert_true(fg_json_member_span(&j, 0, cases[i][1], &a, &b));
        struct fg_json_edit e = {a, b, "", 0};
        size_t n;
        char *out = fg_json_splice(cases[i][0], strlen(cases[i][0]), &e, 1, &n);
        assert_string_equal(out, cases[i][2]);
        free(out);
    }
    assert_false(fg_json_member_span(&j, 0, "missing", &(uint32_t){0}, &(uint32_t){0}));
    fg_json_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_documents),
        cmocka_unit_test(invalid_documents),
        cmocka_unit_test(agrees_with_jansson),
        cmocka_unit_test(string_scan_block_edges),
        cmocka_unit_test(navigation),
        cmocka_unit_test(string_decoding),
        cmocka_unit_test(splice_rewrites_only_spans),
        cmocka_unit_test(deep_nesting_bounded),
        cmocka_unit_test(ambiguous_keys),
        cmocka_unit_test(member_removal),
        cmocka_unit_test(duplicate_members),
        cmocka_unit_test(escaped_spellings),
        cmocka_unit_test(crowded_names_fall_back_to_sorting),
        cmocka_unit_test(caller_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
