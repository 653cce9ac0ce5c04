/* test_embed.c — unit tests for embed.c's request checks and estimate:
 * every input shape OpenAI accepts passes, everything else is a 400 naming
 * the field; the estimate counts token ids exactly and text as bytes / 4;
 * embedding models are told apart from chat models. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "embed.h"

static struct fg_call *call_with(const char *body)
{
    struct fg_call *c = calloc(1, sizeof *c);
    assert_int_equal(fg_json_parse(&c->body, body, strlen(body)), 0);
    return c;
}

static void done(struct fg_call *c)
{
    fg_json_free(&c->body);
    free(c);
}

/* 0, or the param the 400 names. */
static const char *check(const char *body)
{
    static char param[64];
    struct fg_call *c = call_with(body);
    struct fg_err e;
    memset(&e, 0, sizeof e);
    int rc = fg_embed_validate(c, &e);
    done(c);
    if (rc == 0)
        return NULL;
    assert_int_equal(e.status, 400);
    snprintf(param, sizeof param, "%s", e.param);
    return param;
}

static void shapes_accepted(void **state)
{
    assert_null(check("{\"model\":\"m\",\"input\":\"hello\"}"));
    assert_null(check("{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\"}"));
    assert_null(check("{\"model\":\"m\",\"input\":[1,2,3],\"dimensions\":256}"));
    assert_null(check("{\"model\":\"m\",\"input\":[[1,2],[3]],\"encoding_format\":\"float\"}"));
    assert_null(check("{\"model\":\"m\",\"input\":\"x\",\"dimensions\":null,\"user\":\"u\"}"));
}

static void shapes_refused(void **state)
{
    assert_string_equal(check("{\"input\":\"x\"}"), "model");
    assert_string_equal(check("{\"model\":5,\"input\":\"x\"}"), "model");
    assert_string_equal(check("{\"model\":\"m\"}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":\"\"}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":[]}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":[\"a\",1]}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":[\"a\",\"\"]}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":[1,-2]}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":[1,2.5]}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":[[1],[]]}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":{\"a\":1}}"), "input");
    assert_string_equal(check("{\"model\":\"m\",\"input\":\"x\",\"encoding_format\":\"hex\"}"),
                        "encoding_format");
    assert_string_equal(check("{\"model\":\"m\",\"input\":\"x\",\"dimensions\":0}"), "dimensions");
    assert_string_equal(check("{\"model\":\"m\",\"input\":\"x\",\"dimensions\":\"8\"}"),
                        "dimensions");
    /* a second "input" could make the provider embed what frugal didn't key */
    assert_string_equal(check("{\"model\":\"m\",\"input\":\"a\",\"input\":\"b\"}"), "input");
    /* 2049 inputs: over OpenAI's limit */
    size_t n = 2049;
    char *big = malloc(n * 4 + 64), *p = big;
    p += sprintf(p, "{\"model\":\"m\",\"input\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\"a\"", i ? "," : "");
    strcpy(p, "]}");
    assert_string_equal(check(big), "input");
    free(big);
}

static void estimate(void **state)
{
    struct fg_json j = {0};
    const char *b = "{\"input\":[\"12345678\",\"123\"]}";
    assert_int_equal(fg_json_parse(&j, b, strlen(b)), 0);
    assert_int_equal(fg_embed_estimate(&j), 2 + 1);
    b = "{\"input\":[[1,2,3],[4]]}";
    assert_int_equal(fg_json_parse(&j, b, strlen(b)), 0);
    assert_int_equal(fg_embed_estimate(&j), 4);
    b = "{\"input\":[7,8,9,10,11]}";
    assert_int_equal(fg_json_parse(&j, b, strlen(b)), 0);
    assert_int_equal(fg_embed_estimate(&j), 5);
    fg_json_free(&j);
}

static void model_kinds(void **state)
{
    struct fg_model_cfg m = {.name = "emb", .model = "text-embedding-3-small"};
    assert_true(fg_embed_model(&m));
    m = (struct fg_model_cfg){.name = "nomic-Embed-text", .model = "x"};
    assert_true(fg_embed_model(&m));
    m = (struct fg_model_cfg){.name = "gpt-4o-mini", .model = "gpt-4o-mini"};
    assert_false(fg_embed_model(&m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shapes_accepted),
        cmocka_unit_test(shapes_refused),
        cmocka_unit_test(estimate),
        cmocka_unit_test(model_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
