/* test_redact.c — unit tests for redact.c: every secret shape the
 * contract names is replaced, the text around it is kept byte for byte,
 * look-alikes and placeholders are left alone, JSON stays valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redact.h"

static char *red(const char *in)
{
    static char out[1024];
    fg_redact(in, strlen(in), out, sizeof out);
    return out;
}

#define SAME(s) assert_string_equal(red(s), s)

static void key_shapes(void **state)
{
    assert_string_equal(red("key sk-proj-abcdefGHIJ_123 used"), "key [REDACTED] used");
    assert_string_equal(red("sk-ant-api03-Zx9_yy-01"), "[REDACTED]");
    assert_string_equal(red("(fk-live-0123456789)"), "([REDACTED])");
    assert_string_equal(red("a,sk-abcdef,b"), "a,[REDACTED],b");
    /* too short, or part of a longer word: not a key */
    SAME("sk-abc is short");
    SAME("task-abcdefgh desk-123456789 risk-management");
    SAME("gpt-4o-mini claude-haiku-4-5 frg_0123456789abcdef");
    /* after an escaped line break in JSON text, a key starts a word */
    assert_string_equal(red("\"line\\nsk-abcdefgh\\tBearer qwertyuiop\""),
                        "\"line\\n[REDACTED]\\tBearer [REDACTED]\"");
    SAME("\"\\\\nsk-abcdefgh is a literal backslash then nsk-\"");
}

static void bearer_and_headers(void **state)
{
    assert_string_equal(red("Authorization: Bearer abc.def-ghi_jkl"),
                        "Authorization: Bearer [REDACTED]");
    assert_string_equal(red("authorization=Basic dXNlcjpwYXNzd29yZA=="),
                        "authorization=Basic [REDACTED]");
    assert_string_equal(red("header x-api-key: my-own-master-key, next"),
                        "header x-api-key: [REDACTED], next");
    assert_string_equal(red("X-Goog-Api-Key: AIzaSyA-1234567890"), "X-Goog-Api-Key: [REDACTED]");
    assert_string_equal(red("sent bearer 0123456789 upstream"), "sent bearer [REDACTED] upstream");
    assert_string_equal(red("Tried Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl."),
                        "Tried Bearer [REDACTED].");
    assert_string_equal(red("Proxy-Authorization: Token zzzzzzzz"),
                        "Proxy-Authorization: Token [REDACTED]");
    /* placeholders in messages are not keys */
    SAME("send the frugal key as 'Authorization: Bearer KEY' or 'x-api-key: KEY'.");
    SAME("Missing API key: send it");
    SAME("providers[1].api_key: environment variable OPENAI_KEY is not set");
    SAME("server.master_key: must not be empty");
}

static void query_and_json(void **state)
{
    assert_string_equal(red("GET https://h/v1/models?key=AIzaSECRET&alt=json"),
                        "GET https://h/v1/models?key=[REDACTED]&alt=json");
    assert_string_equal(red("/x?a=1&api_key=s3cr3t#frag"), "/x?a=1&api_key=[REDACTED]#frag");
    assert_string_equal(red("/x?access_token=t&token=u;password=p"),
                        "/x?access_token=[REDACTED]&token=[REDACTED];password=[REDACTED]");
    assert_string_equal(red("{\"api_key\": \"hunter2\", \"model\": \"m\"}"),
                        "{\"api_key\": \"[REDACTED]\", \"model\": \"m\"}");
    assert_string_equal(red("{\"Authorization\":\"Bearer zz9\"}"),
                        "{\"Authorization\":\"Bearer [REDACTED]\"}");
    assert_string_equal(red("master_key=letmein"), "master_key=[REDACTED]");
    assert_string_equal(red("https://user:pa55word@example.com/v1"),
                        "https://user:[REDACTED]@example.com/v1");
    /* a key-named word outside those spellings stays */
    SAME("the key=value pairs; monkey=banana; keyboard");
    SAME("http://127.0.0.1:4000/v1/chat/completions");
    SAME("{\"max_tokens\": 5, \"tokens\": \"many\"}");
}

static void registered_secrets(void **state)
{
    fg_redact_add_secret("provider-secret-0001");
    fg_redact_add_secret("abc"); /* too short to register */
    assert_string_equal(red("upstream said provider-secret-0001 is bad"),
                        "upstream said [REDACTED] is bad");
    assert_string_equal(red("xprovider-secret-0001y"), "x[REDACTED]y");
    /* a URL's user name is text like any other; a header-like user name does
     * not hide the password's end (both found by fuzz_redact) */
    assert_string_equal(red("h://Authorization:pass\xf1word@host"),
                        "h://Authorization:[REDACTED]@host");
    assert_string_equal(red("s://Authorization:i/Authorization:iASTER_@k"),
                        "s://Authorization:[REDACTED]@k");
    assert_string_equal(red("https://provider-secret-0001:pw@h/"),
                        "https://[REDACTED]:[REDACTED]@h/");
    /* a key glued to a registered one is a key of its own (found by fuzz_redact) */
    assert_string_equal(red("provider-secret-0001sk-abcdefghij"), "[REDACTED][REDACTED]");
    /* a line cut inside the key: the stub goes too (8 bytes and more) */
    assert_string_equal(red("cut: provider-se"), "cut: [REDACTED]");
    SAME("cut: provide");
    SAME("abc abc");
    fg_redact_clear();
    SAME("provider-secret-0001");
}

/* snprintf-like: the needed length is returned whatever the capacity. */
static void bounds(void **state)
{
    const char *in = "Bearer 0123456789 tail";
    size_t need = fg_redact(in, strlen(in), NULL, 0);
    assert_int_equal(need, strlen("Bearer [REDACTED] tail"));
    char small[10];
    assert_int_equal(fg_redact(in, strlen(in), small, sizeof small), need);
    assert_string_equal(small, "Bearer [R");
    size_t n;
    char *d = fg_redact_dup(in, strlen(in), &n);
    assert_int_equal(n, need);
    assert_string_equal(d, "Bearer [REDACTED] tail");
    free(d);
    /* embedded NUL and bytes past n are not read */
    assert_int_equal(fg_redact("sk-abcdefgh", 3, small, sizeof small), 3);
    assert_string_equal(small, "sk-");
}

/* Redacting JSON text leaves it valid JSON with the same structure. */
static void json_stays_valid(void **state)
{
    const char *docs[] = {
        "{\"error\":{\"message\":\"Incorrect API key provided: sk-proj-abcdefghijkl.\","
        "\"type\":\"invalid_request_error\"}}",
        "{\"m\":\"Bearer abcdefgh\\\"quoted\\\" and x-api-key: zzzzzzzzzz\"}",
        "{\"u\":\"https://a:b@c/?key=k\\u0041&x=1\",\"api_key\":\"k\\\\\"}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t n;
        char *r = fg_redact_dup(docs[i], strlen(docs[i]), &n);
        json_error_t e;
        json_t *j = json_loadb(r, n, 0, &e);
        if (!j)
            print_message("not JSON after redaction: %s (%s)\n", r, e.text);
        assert_non_null(j);
        assert_non_null(strstr(r, FG_REDACTED));
        json_decref(j);
        free(r);
    }
}

/* Error messages are built through fg_err_set: redacted there. */
static void error_messages(void **state)
{
    struct fg_err e;
    fg_err_set(&e, FG_E_NOT_FOUND, "model=sk-ant-abcdefgh", NULL, "Unknown model '%s' (key %s).",
               "sk-ant-abcdefghijkl", "Bearer zzzzzzzz");
    assert_string_equal(e.msg, "Unknown model '[REDACTED]' (key Bearer [REDACTED]).");
    assert_string_equal(e.param, "model=[REDACTED]");
    assert_int_equal(e.status, 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_shapes),     cmocka_unit_test(bearer_and_headers),
        cmocka_unit_test(query_and_json), cmocka_unit_test(registered_secrets),
        cmocka_unit_test(bounds),         cmocka_unit_test(json_stays_valid),
        cmocka_unit_test(error_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
