/* test_attrib.c — request features read from the last user turn: its head
 * and tail are kept across any number of text parts of any length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "attrib.h"
#include "json.h"

static void features(const char *doc, enum fg_dialect d, bool *simple, bool *structured)
{
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, doc, strlen(doc)), 0);
    fg_attrib_features(&j, d, simple, structured);
    fg_json_free(&j);
}

/* A user turn as text parts: parts[i] repeated reps[i] times each. */
static char *parts_doc(const char *const *parts, const int *reps, int n)
{
    size_t cap = 1 << 16, o = 0;
    char *s = malloc(cap);
    o += (size_t)snprintf(s + o, cap - o, "{\"messages\":[{\"role\":\"user\",\"content\":[");
    for (int i = 0; i < n; i++) {
        o += (size_t)snprintf(s + o, cap - o, "%s{\"type\":\"text\",\"text\":\"", i ? "," : "");
        for (int r = 0; r < reps[i]; r++)
            o += (size_t)snprintf(s + o, cap - o, "%s", parts[i]);
        o += (size_t)snprintf(s + o, cap - o, "\"}");
    }
    snprintf(s + o, cap - o, "]}]}");
    return s;
}

/* The shape that wrote past the buffer: a first part of >= 640 bytes,
 * then a second part.  The second part's end is still seen. */
static void long_first_part_then_another(void **state)
{
    for (int first = 380; first <= 2000; first += 65) {
        const char *parts[] = {"a", "please answer with only the label"};
        int reps[] = {first, 1};
        char *doc = parts_doc(parts, reps, 2);
        bool simple, structured;
        features(doc, FG_DIALECT_OPENAI, &simple, &structured);
        assert_true(structured);
        assert_int_equal(simple, first + 33 < 600);
        free(doc);
    }
}

/* Many parts: the head is the first 384 bytes, the tail the last 256
 * bytes across parts, whatever their sizes. */
static void many_parts(void **state)
{
    const char *parts[] = {"Please answer step by step. ", "x", "y", "z", "w",
                           "and respond with json"};
    int reps[] = {1, 700, 3, 250, 1, 1};
    char *doc = parts_doc(parts, reps, 6);
    bool simple, structured;
    features(doc, FG_DIALECT_ANTHROPIC, &simple, &structured);
    assert_false(simple);    /* long, and "step by step" in the head */
    assert_true(structured); /* the ask at the very end */
    free(doc);
    /* a keyword split across two parts' boundary is still found in the tail */
    const char *split[] = {"q", "only js", "on"};
    int r2[] = {900, 1, 1};
    doc = parts_doc(split, r2, 3);
    features(doc, FG_DIALECT_OPENAI, &simple, &structured);
    assert_true(structured);
    free(doc);
    /* a keyword only in the middle (neither head nor tail) is not seen */
    const char *mid[] = {"q", "answer with only", "r"};
    int r3[] = {500, 1, 500};
    doc = parts_doc(mid, r3, 3);
    features(doc, FG_DIALECT_OPENAI, &simple, &structured);
    assert_false(structured);
    free(doc);
}

/* Every keyword is found at every offset of a short text, whatever its
 * case, including at the very start and end; one changed byte is not a
 * match.  (Guards the one-pass matcher that replaced a memmem per word.) */
static void every_keyword_at_every_offset(void **state)
{
    static const char *const hard[] = {"def ",
                                       "function ",
                                       "class ",
                                       "#include",
                                       "prove",
                                       "derive",
                                       "analy",
                                       "design",
                                       "implement",
                                       "refactor",
                                       "debug",
                                       "optimi",
                                       "theorem",
                                       "integral",
                                       "equation",
                                       "algorithm",
                                       "step by step",
                                       "explain why",
                                       "compare and contrast"};
    static const char *const asks[] = {"only json",      "json only",       "respond with json",
                                       "one word",       "single word",     "only the label",
                                       "just the label", "answer with only"};
    char doc[1024], text[256];
    bool simple, structured;
    for (size_t w = 0; w < sizeof hard / sizeof hard[0]; w++)
        for (int off = 0; off <= 40; off += 1) {
            size_t n = strlen(hard[w]);
            memset(text, 'q', (size_t)off);
            for (size_t i = 0; i < n; i++) /* upper-case every other letter */
                text[off + (int)i] = i % 2 && hard[w][i] >= 'a' && hard[w][i] <= 'z'
                                         ? (char)(hard[w][i] - 32)
                                         : hard[w][i];
            text[off + (int)n] = '\0';
            snprintf(doc, sizeof doc, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                     text);
            features(doc, FG_DIALECT_OPENAI, &simple, &structured);
            assert_false(simple);
            text[off + (int)n - 2] ^= 0x01; /* near miss: not the keyword */
            snprintf(doc, sizeof doc, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                     text);
            features(doc, FG_DIALECT_OPENAI, &simple, &structured);
            assert_true(simple);
        }
    for (size_t w = 0; w < sizeof asks / sizeof asks[0]; w++)
        for (int off = 0; off <= 40; off++) {
            size_t n = strlen(asks[w]);
            memset(text, 'q', (size_t)off);
            for (size_t i = 0; i < n; i++)
                text[off + (int)i] = i % 3 == 0 && asks[w][i] >= 'a' && asks[w][i] <= 'z'
                                         ? (char)(asks[w][i] - 32)
                                         : asks[w][i];
            text[off + (int)n] = '\0';
            snprintf(doc, sizeof doc, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                     text);
            features(doc, FG_DIALECT_OPENAI, &simple, &structured);
            assert_true(structured);
            text[off] ^= 0x01;
            snprintf(doc, sizeof doc, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                     text);
            features(doc, FG_DIALECT_OPENAI, &simple, &structured);
            assert_false(structured);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_first_part_then_another),
        cmocka_unit_test(many_parts),
        cmocka_unit_test(every_keyword_at_every_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
