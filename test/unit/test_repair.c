/* Unit tests for structured-output repair.  The schema is a stub: the
 * text parses (jansson) as an object or array, optionally with a required
 * top-level key; a second stub also requires "p" in every element of
 * "items". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repair.h"

struct stub {
    const char *required; /* top-level key, or NULL */
    bool arrays;          /* arrays are valid too */
    bool items_need_p;
    int calls;
};

static bool items_ok(json_t *v)
{
    json_t *items = json_object_get(v, "items"), *it;
    size_t i;
    json_array_foreach(items, i, it) if (!json_object_get(it, "p")) return false;
    return true;
}

static int stub_check(void *arg, const char *text, size_t len)
{
    struct stub *st = arg;
    st->calls++;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    bool ok = v && (json_is_object(v) || (st->arrays && json_is_array(v)));
    if (ok && st->required)
        ok = json_is_object(v) && json_object_get(v, st->required);
    if (ok && st->items_need_p)
        ok = items_ok(v);
    json_decref(v);
    return ok ? 0 : -1;
}

/* Repair s (strlen) and expect `want` (NULL: no repair) of kind k. */
static void expect(const char *s, bool truncated, struct stub *st, const char *want,
                   enum fg_repair_kind k)
{
    size_t n = 99;
    enum fg_repair_kind got = FG_REPAIR_CLOSED;
    char *out = fg_repair(s, strlen(s), truncated, stub_check, st, &n, &got);
    if (!want) {
        if (out)
            fail_msg("repaired %s\n  into %s", s, out);
        assert_int_equal(n, 0);
        assert_int_equal(got, FG_REPAIR_NONE);
        return;
    }
    if (!out)
        fail_msg("no repair for %s", s);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(got, k);
    free(out);
}

static void fences(void **state)
{
    (void)state;
    struct stub st = {.required = "id"};
    expect("```json\n{\"id\":1}\n```", false, &st, "{\"id\":1}", FG_REPAIR_FENCES);
    expect("  ```JSON \r\n  {\"id\": [1, 2]}\r\n```\n", false, &st, "{\"id\": [1, 2]}",
           FG_REPAIR_FENCES);
    expect("```\n{\"id\":\"```\"}\n```", false, &st, "{\"id\":\"```\"}", FG_REPAIR_FENCES);
    /* Two values inside one fence: no guess. */
    expect("```json\n{\"id\":1}\n{\"id\":2}\n```", false, &st, NULL, FG_REPAIR_NONE);
    /* Fence inside prose: the value is found by the prose step. */
    expect("Here you go:\n```json\n{\"id\":1}\n```\nEnjoy.", false, &st, "{\"id\":1}",
           FG_REPAIR_PROSE);
    /* Valid JSON but not for the schema. */
    expect("```json\n{\"x\":1}\n```", false, &st, NULL, FG_REPAIR_NONE);
}

static void prose(void **state)
{
    (void)state;
    struct stub st = {.required = "id"};
    expect("Sure! Here is the result:\n{\"id\": 1}", false, &st, "{\"id\": 1}", FG_REPAIR_PROSE);
    expect("{\"id\": 1}\n\nLet me know if [you] need {anything} else.", false, &st, "{\"id\": 1}",
           FG_REPAIR_PROSE);
    expect("Note [see below]: {\"id\":2} (done)", false, &st, "{\"id\":2}", FG_REPAIR_PROSE);
    expect("{{\"id\":3}", false, &st, "{\"id\":3}", FG_REPAIR_PROSE);
    /* Scanning resumes at a span's error, so a quote opened by prose can
     * swallow the value: no repair rather than a guess. */
    expect("He said \"{\" then {\"id\":4}", false, &st, NULL, FG_REPAIR_NONE);
}

static void two_values_no_repair(void **state)
{
    (void)state;
    struct stub st = {.required = "id"};
    expect("First {\"id\":1} then {\"id\":2}", false, &st, NULL, FG_REPAIR_NONE);
    expect("Step [1]: {\"id\":1}", false, &st, NULL, FG_REPAIR_NONE);
    expect("{\"x\":1} or {\"id\":1}", false, &st, NULL, FG_REPAIR_NONE);
    /* A piece of a malformed document is never extracted. */
    expect("[1, {\"id\":1}, oops]", false, &st, NULL, FG_REPAIR_NONE);
    expect("{\"a\": {\"id\":1} \"b\": 2}", false, &st, NULL, FG_REPAIR_NONE);
    /* A span left open at the end: no guess. */
    expect("{\"id\":1} and then [", false, &st, NULL, FG_REPAIR_NONE);
    expect("no json here", false, &st, NULL, FG_REPAIR_NONE);
    expect("", true, &st, NULL, FG_REPAIR_NONE);
}

static void strings_and_escapes(void **state)
{
    (void)state;
    struct stub st = {.required = "id"};
    const char *doc = "{\"id\":\"}}]]\\\\\", \"x\":\"\\\"{[\\\"\", \"u\":\"\\u007b\"}";
    char buf[256];
    snprintf(buf, sizeof buf, "Result: %s -- ok }", doc);
    expect(buf, false, &st, doc, FG_REPAIR_PROSE);
    /* Control characters in strings are not JSON. */
    expect("x {\"id\":\"a\tb\"} y", false, &st, NULL, FG_REPAIR_NONE);
}

static void nested_arrays(void **state)
{
    (void)state;
    struct stub st = {.arrays = true};
    expect("Matrix:\n[[1,[2,[3]]],[],[{\"a\":[-0.5e3,true,null]}]]\nDone.", false, &st,
           "[[1,[2,[3]]],[],[{\"a\":[-0.5e3,true,null]}]]", FG_REPAIR_PROSE);
    expect("bad [[1,2],[3}] end", false, &st, NULL, FG_REPAIR_NONE);
    expect("numbers [01] [1.] [1e] [-] x", false, &st, NULL, FG_REPAIR_NONE);
}

static void already_valid(void **state)
{
    (void)state;
    struct stub st = {.required = "id"};
    expect("{\"id\":1}", true, &st, NULL, FG_REPAIR_NONE);
    assert_int_equal(st.calls, 1);
    assert_null(fg_repair("{\"id\":1}", 8, false, stub_check, &st, NULL, NULL));
}

static void not_truncated_no_closing(void **state)
{
    (void)state;
    struct stub st = {.required = "id"};
    expect("{\"id\":1,\"b\":", false, &st, NULL, FG_REPAIR_NONE);
    expect("{\"id\":1,\"b\":", true, &st, "{\"id\":1}", FG_REPAIR_CLOSED);
}

static void truncated_cases(void **state)
{
    (void)state;
    struct stub st = {.required = "id"};
    expect("{\"a\":1,\"b\":[1,2],\"id\":", true, &st, NULL, FG_REPAIR_NONE);
    expect("{\"a\":1,\"b\":[1,2],\"i", true, &st, NULL, FG_REPAIR_NONE);
    expect("{\"id\":1,\"n\":12", true, &st, "{\"id\":1}", FG_REPAIR_CLOSED);
    expect("{\"id\":1,\"n\":12 ", true, &st, "{\"id\":1,\"n\":12}", FG_REPAIR_CLOSED);
    expect("{\"id\":1,\"t\":tru", true, &st, "{\"id\":1}", FG_REPAIR_CLOSED);
    expect("{\"id\":1,\"t\":true", true, &st, "{\"id\":1,\"t\":true}", FG_REPAIR_CLOSED);
    expect("{\"id\":1,\"t\":[1, [2,", true, &st, "{\"id\":1,\"t\":[1, [2]]}", FG_REPAIR_CLOSED);
    /* An optional partial string is dropped; a required one is closed. */
    expect("{\"id\":1,\"note\":\"hel", true, &st, "{\"id\":1}", FG_REPAIR_CLOSED);
    expect("{\"id\":\"hel", true, &st, "{\"id\":\"hel\"}", FG_REPAIR_CLOSED);
    expect("{\"id\":\"a\\u00", true, &st, "{\"id\":\"a\"}", FG_REPAIR_CLOSED);
    expect("{\"id\":\"a\\", true, &st, "{\"id\":\"a\"}", FG_REPAIR_CLOSED);
    expect("{\"id\":\"a\\ud83d", true, &st, "{\"id\":\"a\"}", FG_REPAIR_CLOSED);
    expect("{\"id\":\"a\\ud83d\\ude00", true, &st, "{\"id\":\"a\\ud83d\\ude00\"}",
           FG_REPAIR_CLOSED);
    expect("{\"id\":\"caf\xc3\xa9 \xe2\x82", true, &st, "{\"id\":\"caf\xc3\xa9 \"}",
           FG_REPAIR_CLOSED);
    /* Inside an unclosed fence, after prose. */
    expect("```json\n{\"id\":1,\"x\":[tr", true, &st, "{\"id\":1}", FG_REPAIR_CLOSED);
    expect("Sure {name}: {\"id\":1,\"x\":", true, &st, "{\"id\":1}", FG_REPAIR_CLOSED);
    /* A complete value before the open one: no guess. */
    expect("[1] {\"id\":1,\"x\":", true, &st, NULL, FG_REPAIR_NONE);
    /* Nothing complete: no empty placeholder. */
    expect("{\"id\":1,\"x\":{\"", true, &st, "{\"id\":1}", FG_REPAIR_CLOSED);
    expect("{\"", true, &st, NULL, FG_REPAIR_NONE);
    /* Syntax error before the end: not a truncation. */
    expect("{\"id\":1 \"x\":", true, &st, NULL, FG_REPAIR_NONE);
}

static void truncated_drops_failing_element(void **state)
{
    (void)state;
    struct stub st = {.required = "id", .items_need_p = true};
    expect("{\"id\":1,\"items\":[{\"n\":1,\"p\":2},{\"n\":2,\"p\"", true, &st,
           "{\"id\":1,\"items\":[{\"n\":1,\"p\":2}]}", FG_REPAIR_CLOSED);
}

/* r holds nothing that f does not: same scalars, object keys a subset,
 * arrays a prefix, strings a prefix (a closed truncated string), and no
 * container empty unless it is empty in f. */
static bool is_sub(json_t *r, json_t *f)
{
    if (json_typeof(r) != json_typeof(f))
        return false;
    const char *k;
    json_t *v;
    size_t i;
    switch (json_typeof(r)) {
    case JSON_OBJECT:
        if (!json_object_size(r) && json_object_size(f))
            return false;
        json_object_foreach(r, k, v) if (!json_object_get(f, k) ||
                                         !is_sub(v, json_object_get(f, k))) return false;
        return true;
    case JSON_ARRAY:
        if (json_array_size(r) > json_array_size(f) || (!json_array_size(r) && json_array_size(f)))
            return false;
        json_array_foreach(r, i, v) if (!is_sub(v, json_array_get(f, i))) return false;
        return true;
    case JSON_STRING:
        return json_string_length(r) <= json_string_length(f) &&
               !memcmp(json_string_value(r), json_string_value(f), json_string_length(r));
    default: return json_equal(r, f);
    }
}

static int every_cut(const char *doc, struct stub *st)
{
    size_t len = strlen(doc);
    json_t *full = json_loads(doc, 0, NULL);
    int repaired = 0;
    assert_non_null(full);
    for (size_t i = 0; i < len; i++) {
        size_t n;
        enum fg_repair_kind k;
        assert_null(fg_repair(doc, i, false, stub_check, st, &n, &k));
        char *out = fg_repair(doc, i, true, stub_check, st, &n, &k);
        if (!out)
            continue;
        json_t *r = json_loadb(out, n, 0, NULL);
        if (!r || stub_check(st, out, n) || !is_sub(r, full) || k != FG_REPAIR_CLOSED)
            fail_msg("cut %zu: %.*s\n  repaired into %s", i, (int)i, doc, out);
        if (i == len - 1)
            assert_true(json_equal(r, full));
        repaired++;
        json_decref(r);
        free(out);
    }
    json_decref(full);
    return repaired;
}

static void truncated_every_cut(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"id\": 42, \"name\": \"caf\\u00e9 \\\"{[\\\" ok\", \"tags\": [\"a\", \"b\\\\\", "
        "\"c}\"], \"nested\": {\"x\": [1, [2, 3.5e2], {\"y\": null}], \"z\": true, "
        "\"w\": false}, \"neg\": -0.25, \"empty\": {}, \"list\": [], "
        "\"utf\": \"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\", \"e\": \"\\ud83d\\ude00x\", "
        "\"end\": \"fin\"}";
    struct stub st = {.required = "id"};
    int n = every_cut(doc, &st);
    assert_true(n > 100);
    struct stub any = {0};
    assert_true(every_cut(doc, &any) >= n);
    /* "id" last: only a cut inside or after its value can be repaired. */
    static const char late[] = "{\"a\": [1, {\"b\": \"x\"}], \"id\": \"abcdef\"}";
    assert_true(every_cut(late, &st) > 0);
    struct stub arr = {.arrays = true};
    assert_true(every_cut("[[1, 2], {\"k\": [true, \"v\"]}, [], \"s\", -1e-3, \"z\"]", &arr) > 10);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char *repeat(const char *head, const char *unit, size_t total, const char *tail)
{
    size_t h = strlen(head), u = strlen(unit), t = strlen(tail), n = h;
    char *s = malloc(total + h + t + u + 1);
    memcpy(s, head, h);
    while (n + u <= h + total) {
        memcpy(s + n, unit, u);
        n += u;
    }
    memcpy(s + n, tail, t + 1);
    return s;
}

/* Repair a big input; returns the repaired length (0: none). */
static size_t big(const char *s, bool truncated, struct stub *st, enum fg_repair_kind want)
{
    size_t n = 0;
    enum fg_repair_kind k;
    st->calls = 0;
    double t0 = now();
    char *out = fg_repair(s, strlen(s), truncated, stub_check, st, &n, &k);
    double dt = now() - t0;
    if (dt > 3.0)
        fail_msg("%.2f s for %zu bytes", dt, strlen(s));
    assert_true(st->calls <= 2 + FG_REPAIR_MAX_TRIES);
    assert_int_equal(k, want);
    free(out);
    return n;
}

static void huge_inputs(void **state)
{
    (void)state;
    const size_t mb = 1 << 20;
    struct stub arr = {.arrays = true}, id = {.required = "id"};
    char *s = repeat("Here:\n[", "{\"id\":1},", mb, "{\"id\":1}]\nbye");
    assert_int_equal(big(s, false, &arr, FG_REPAIR_PROSE), strlen(s) - 10);
    free(s);
    const char *units[] = {"[", "{", "[{", "x[", "{\"a\":", "\"", "[1,{\"id\":1},x]", "\\"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        s = repeat("", units[i], mb, "");
        assert_int_equal(big(s, true, &arr, FG_REPAIR_NONE), 0);
        assert_int_equal(big(s, false, &arr, FG_REPAIR_NONE), 0);
        free(s);
    }
    s = repeat("{\"id\":1,\"a\":[", "12,", mb, "12");
    size_t n = big(s, true, &id, FG_REPAIR_CLOSED);
    assert_int_equal(n, strlen(s) - 3 + 2);
    free(s);
    s = repeat("{\"id\":\"", "\\\"\xc3\xa9", mb, "\xc3");
    assert_int_equal(big(s, true, &id, FG_REPAIR_CLOSED), strlen(s) - 1 + 2);
    free(s);
    char head[512];
    memset(head, '[', 400);
    head[400] = '\0';
    s = repeat(head, "1,", mb, "");
    assert_int_equal(big(s, true, &arr, FG_REPAIR_CLOSED), strlen(s) - 1 + 400);
    free(s);
}

static void utf8_untouched(void **state)
{
    (void)state;
    struct stub st = {.required = "id"};
    const char *doc = "{\"id\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe2\x9c\x93 "
                      "\xf0\x9f\x98\x80\", \"\xc3\xa9\":\"\xc3\xa9\"}";
    char buf[256];
    snprintf(buf, sizeof buf, "\xe2\x80\x9cVoil\xc3\xa0\xe2\x80\x9d: %s \xf0\x9f\x98\x80", doc);
    expect(buf, false, &st, doc, FG_REPAIR_PROSE);
    snprintf(buf, sizeof buf, "```json\n%s\n```", doc);
    expect(buf, false, &st, doc, FG_REPAIR_FENCES);
}

static void kind_names(void **state)
{
    (void)state;
    assert_string_equal(fg_repair_kind_name(FG_REPAIR_NONE), "none");
    assert_string_equal(fg_repair_kind_name(FG_REPAIR_FENCES), "fences");
    assert_string_equal(fg_repair_kind_name(FG_REPAIR_PROSE), "prose");
    assert_string_equal(fg_repair_kind_name(FG_REPAIR_CLOSED), "closed");
    assert_null(fg_repair(NULL, 0, true, stub_check, NULL, NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fences),
        cmocka_unit_test(prose),
        cmocka_unit_test(two_values_no_repair),
        cmocka_unit_test(strings_and_escapes),
        cmocka_unit_test(nested_arrays),
        cmocka_unit_test(already_valid),
        cmocka_unit_test(not_truncated_no_closing),
        cmocka_unit_test(truncated_cases),
        cmocka_unit_test(truncated_drops_failing_element),
        cmocka_unit_test(truncated_every_cut),
        cmocka_unit_test(huge_inputs),
        cmocka_unit_test(utf8_untouched),
        cmocka_unit_test(kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
