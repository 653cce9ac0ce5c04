/* test_jsonsplit.c — the incremental {"requests": [...]} splitter: every
 * split point (one cut, two cuts, byte by byte) of each document gives the
 * same elements and the same verdict as the whole document in one push;
 * a valid document's elements are the array jansson parses from the whole;
 * skeleton errors, other members, a duplicate key and the element bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonsplit.h"

/* What a run saw: each element as "i:bytes\n", and the verdict. */
struct seen {
    char out[4096];
    size_t nout;
    int rc;
    enum fg_jsonsplit_code code;
    size_t n;
};

static int on_elem(void *arg, size_t i, const char *p, size_t n)
{
    struct seen *s = arg;
    int k = snprintf(s->out + s->nout, sizeof s->out - s->nout, "%zu:%.*s\n", i, (int)n, p);
    assert_true(k > 0 && (size_t)k < sizeof s->out - s->nout);
    s->nout += (size_t)k;
    return 0;
}

/* Push text cut at cuts[0..ncuts) (ascending), each piece in a buffer of
 * its exact size (ASan sees any read past it). */
static void run(const char *text, const size_t *cuts, size_t ncuts, size_t max_elem, struct seen *s)
{
    memset(s, 0, sizeof *s);
    struct fg_jsonsplit js;
    fg_jsonsplit_init(&js, "requests", max_elem, on_elem, s);
    size_t at = 0, len = strlen(text);
    int rc = 0;
    for (size_t i = 0; i <= ncuts && !rc; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        char *piece = malloc(to - at ? to - at : 1);
        memcpy(piece, text + at, to - at);
        rc = fg_jsonsplit_push(&js, piece, to - at);
        free(piece);
        at = to;
    }
    s->rc = rc ? rc : fg_jsonsplit_finish(&js);
    s->code = js.code;
    s->n = js.n;
    fg_jsonsplit_free(&js);
}

static void same(const struct seen *a, const struct seen *b, const char *doc)
{
    if (a->rc != b->rc || a->code != b->code || strcmp(a->out, b->out))
        fail_msg("differs when split: %s\nwhole: rc %d code %d\n%s\nsplit: rc %d code %d\n%s", doc,
                 a->rc, a->code, a->out, b->rc, b->code, b->out);
}

/* Every split: one cut anywhere, two cuts anywhere, every byte apart. */
static void every_split(const char *doc, size_t max_elem, struct seen *whole)
{
    size_t len = strlen(doc);
    run(doc, NULL, 0, max_elem, whole);
    struct seen s;
    for (size_t a = 0; a <= len; a++) {
        run(doc, &a, 1, max_elem, &s);
        same(whole, &s, doc);
        for (size_t b = a; b <= len && len < 200; b++) {
            size_t cuts[2] = {a, b};
            run(doc, cuts, 2, max_elem, &s);
            same(whole, &s, doc);
        }
    }
    size_t *all = malloc((len + 1) * sizeof *all);
    for (size_t i = 0; i < len; i++)
        all[i] = i + 1;
    run(doc, all, len ? len - 1 : 0, max_elem, &s);
    same(whole, &s, doc);
    free(all);
}

/* A valid document: its elements are exactly jansson's parse of the whole. */
static void matches_jansson(const char *doc, const struct seen *w)
{
    json_error_t je;
    json_t *v = json_loads(doc, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(v);
    json_t *arr = json_object_get(v, "requests");
    assert_int_equal(json_array_size(arr), w->n);
    const char *p = w->out;
    for (size_t i = 0; i < w->n; i++) {
        const char *colon = strchr(p, ':'), *nl = colon;
        /* the element's span ends at the newline that starts the next "i:" */
        char next[32];
        snprintf(next, sizeof next, "\n%zu:", i + 1);
        nl = i + 1 < w->n ? strstr(colon, next) : colon + strlen(colon) - 1;
        json_t *e = json_loadb(colon + 1, (size_t)(nl - colon - 1),
                               JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        assert_non_null(e);
        assert_true(json_equal(e, json_array_get(arr, i)));
        json_decref(e);
        p = nl + 1;
    }
    json_decref(v);
}

static const char *const valid[] = {
    "{\"requests\":[]}",
    " {\r\n\t\"requests\" : [ ] } \n",
    "{}",
    "{\"requests\":[{\"custom_id\":\"a\",\"params\":{\"model\":\"m\",\"messages\":[{\"role\":"
    "\"user\",\"content\":\"hi ] } [ { , \\\" \\\\\"}]}},{\"custom_id\":\"b\"}]}",
    "{\"requests\":[1, -2.5e3 ,true,false,null,\"s\\\"]\",[[]],{\"a\":{\"b\":[{}]}}]}",
    "{\"requ\\u0065sts\":[{\"k\":\"\\u00e9\\ud83d\\ude00\"}]}",
    "{\"requests\":[{\"x\":\"\\\\\"},{\"y\":\"\\\\\\\"\"}]  }",
};

static void test_valid_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        struct seen w;
        every_split(valid[i], 1 << 20, &w);
        assert_int_equal(w.rc, 0);
        if (strcmp(valid[i], "{}"))
            matches_jansson(valid[i], &w);
    }
}

static const struct {
    const char *doc;
    enum fg_jsonsplit_code code;
} invalid[] = {
    {"", FG_JSONSPLIT_E_SYNTAX},
    {"[]", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[{}]", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[{},]}", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[{}}]}", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[{]]}", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[{} {}]}", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[1 2]}", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[]} x", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[]}{}", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[\"abc", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[12", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\" [", FG_JSONSPLIT_E_SYNTAX},
    {"{\"req\nuests\":[]}", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[],}", FG_JSONSPLIT_E_SYNTAX},
    {"{\"requests\":[],\"requests\":[]}", FG_JSONSPLIT_E_DUPLICATE},
    {"{\"model\":\"x\",\"requests\":[]}", FG_JSONSPLIT_E_MEMBER},
    {"{\"requests\":[],\"x\":1}", FG_JSONSPLIT_E_MEMBER},
    {"{\"requestsX\":[]}", FG_JSONSPLIT_E_MEMBER},
    {"{\"requests\":{}}", FG_JSONSPLIT_E_NOT_ARRAY},
    {"{\"requests\":null}", FG_JSONSPLIT_E_NOT_ARRAY},
    {"{\"requests\":[{\"a\":\"0123456789\"},{\"a\":\"0123456789012345678901234567890\"}]}",
     FG_JSONSPLIT_E_BIG},
};

static void test_invalid_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        struct seen w;
        every_split(invalid[i].doc, 32, &w);
        if (w.rc != -1 || w.code != invalid[i].code)
            fail_msg("%s: rc %d code %d, wanted code %d", invalid[i].doc, w.rc, w.code,
                     invalid[i].code);
    }
}

/* An element over the bound is refused as it crosses it, its bytes not
 * kept: pushing a long element in small pieces fails before its end. */
static void test_big_element_refused_early(void **state)
{
    (void)state;
    struct seen s;
    memset(&s, 0, sizeof s);
    struct fg_jsonsplit js;
    fg_jsonsplit_init(&js, "requests", 1000, on_elem, &s);
    assert_int_equal(fg_jsonsplit_push(&js, "{\"requests\":[{\"a\":\"", 19), 0);
    char x[100];
    memset(x, 'x', sizeof x);
    int rc = 0;
    size_t pushed = 0;
    while (!rc && pushed < 100000) {
        rc = fg_jsonsplit_push(&js, x, sizeof x);
        pushed += sizeof x;
    }
    assert_int_equal(rc, -1);
    assert_int_equal(js.code, FG_JSONSPLIT_E_BIG);
    assert_true(pushed <= 1100);
    assert_true(js.capbuf <= 1000);
    fg_jsonsplit_free(&js);
}

/* Nesting inside an element is bounded as jansson bounds the whole. */
static void test_depth(void **state)
{
    (void)state;
    size_t d = FG_JSONSPLIT_MAX_DEPTH + 1;
    char *doc = malloc(2 * d + 32);
    size_t k = (size_t)snprintf(doc, 2 * d + 32, "{\"requests\":[");
    for (size_t i = 0; i < d; i++)
        doc[k++] = '[';
    for (size_t i = 0; i < d; i++)
        doc[k++] = ']';
    memcpy(doc + k, "]}", 3);
    struct seen s;
    run(doc, NULL, 0, 1 << 20, &s);
    assert_int_equal(s.rc, -1);
    assert_int_equal(s.code, FG_JSONSPLIT_E_SYNTAX);
    json_error_t je;
    json_t *v = json_loads(doc, 0, &je);
    assert_null(v); /* jansson refuses it too */
    free(doc);
}

/* An element over max_elem that turns invalid further on (too deep, or a
 * bad byte) is refused the same way however it is cut: the size is what
 * it meets first, whole or in pieces (fuzz_jsonsplit found a body refused
 * as too deep whole and as too big in pieces). */
static void test_big_then_bad_same_verdict(void **state)
{
    (void)state;
    char deep[FG_JSONSPLIT_MAX_DEPTH + 2];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = 0;
    const char *const tails[] = {deep, "]"};
    for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
        char doc[4200];
        snprintf(doc, sizeof doc, "{\"requests\":[1,{\"a\":\"%s\",\"b\":%s",
                 "0123456789012345678901234567890123456789", tails[t]);
        struct seen whole;
        every_split(doc, 24, &whole);
        assert_int_equal(whole.rc, -1);
        assert_int_equal(whole.code, FG_JSONSPLIT_E_BIG);
    }
    /* too deep before it is too big: a syntax error, however cut */
    char doc[4200];
    snprintf(doc, sizeof doc, "{\"requests\":[%s\"long enough to be over the bound\"]]}", deep);
    struct seen whole;
    every_split(doc, FG_JSONSPLIT_MAX_DEPTH + 8, &whole);
    assert_int_equal(whole.code, FG_JSONSPLIT_E_SYNTAX);
}

static int stop_at_two(void *arg, size_t i, const char *p, size_t n)
{
    (void)arg, (void)p, (void)n;
    return i == 1;
}

static void test_consumer_stops(void **state)
{
    (void)state;
    struct fg_jsonsplit js;
    fg_jsonsplit_init(&js, "requests", 100, stop_at_two, NULL);
    const char *doc = "{\"requests\":[1,2,3]}";
    assert_int_equal(fg_jsonsplit_push(&js, doc, strlen(doc)), -1);
    assert_int_equal(js.code, FG_JSONSPLIT_E_STOPPED);
    assert_int_equal(js.n, 1);
    assert_int_equal(fg_jsonsplit_finish(&js), -1);
    fg_jsonsplit_free(&js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_every_split),
        cmocka_unit_test(test_invalid_every_split),
        cmocka_unit_test(test_big_element_refused_early),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_big_then_bad_same_verdict),
        cmocka_unit_test(test_consumer_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
