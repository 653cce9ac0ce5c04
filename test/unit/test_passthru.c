/* test_passthru.c — unit tests for the path check of passthru.c: plain
 * /v1/ paths pass; traversal, encoded bytes, empty segments, odd
 * characters and bad queries are refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "passthru.h"

static bool ok(const char *path, const char *query)
{
    const char *why = NULL;
    int rc = fg_passthru_check_path(path, query, &why);
    assert_true(rc == 0 ? why == NULL : why != NULL);
    return rc == 0;
}

static void plain_paths_pass(void **state)
{
    assert_true(ok("/v1/moderations", NULL));
    assert_true(ok("/v1/audio/transcriptions", NULL));
    assert_true(ok("/v1/images/generations", "x=1&y=a%20b"));
    assert_true(ok("/v1/vector_stores/vs_abc-1.2~3:x", NULL));
    assert_true(ok("/v1/a..b", NULL)); /* dots inside a segment are a name */
    assert_true(fg_passthru_path("/v1/x"));
    assert_false(fg_passthru_path("/v1/"));
    assert_false(fg_passthru_path("/v2/x"));
    assert_false(fg_passthru_path(NULL));
    assert_false(fg_passthru_path("/v1/messages/nope"));
}

static void traversal_refused(void **state)
{
    const char *bad[] = {"/v1/..",
                         "/v1/../frugal/keys",
                         "/v1/a/../b",
                         "/v1/./a",
                         "/v1/a/.",
                         "/v1/%2e%2e/x",
                         "/v1/a%2fb",
                         "/v1/a%5cb",
                         "/v1/a\\b",
                         "/v1//a",
                         "/v1/a/",
                         "/v1/a b",
                         "/v1/a%00",
                         "/v1/\x01",
                         "/v1/\xc3\xa9",
                         "/v2/a",
                         "/v1",
                         "/frugal/keys",
                         "",
                         "/v1/a?b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ok(bad[i], NULL))
            fail_msg("accepted %s", bad[i]);
    assert_false(ok(NULL, NULL));
}

static void queries_checked(void **state)
{
    assert_false(ok("/v1/a", "x=1 2"));
    assert_false(ok("/v1/a", "x=\r\nHost: evil"));
    assert_false(ok("/v1/a", "x=\x7f"));
    assert_false(ok("/v1/a", "x#frag"));
    assert_true(ok("/v1/a", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_paths_pass),
        cmocka_unit_test(traversal_refused),
        cmocka_unit_test(queries_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
