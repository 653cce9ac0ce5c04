/* test_respmap.c — the in-memory cache of stored Responses (respmap.c):
 * entries copied in and out, tombstones that hide a deleted id, the data
 * budget that drops the oldest copies first (ids kept), ids refused, and
 * frugal's minted ids (respstate.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "respmap.h"
#include "respstate.h"

static struct fg_respmap_entry entry(const char *id, const char *data, size_t n)
{
    struct fg_respmap_entry e = {.provider_index = 2, .expires_ms = 99};
    snprintf(e.id, sizeof e.id, "%s", id);
    snprintf(e.owner, sizeof e.owner, "key_a");
    snprintf(e.upstream, sizeof e.upstream, "resp_up_%s", id);
    e.data = (char *)data;
    e.data_len = n;
    return e;
}

static void put_get_forget(void **state)
{
    (void)state;
    struct fg_respmap_entry e = entry("resp_1", "{\"input\":1}", 11), got;
    assert_true(fg_respmap_put(&e));
    assert_true(fg_respmap_get("resp_1", &got, true));
    assert_string_equal(got.owner, "key_a");
    assert_string_equal(got.upstream, "resp_up_resp_1");
    assert_int_equal(got.provider_index, 2);
    assert_int_equal(got.expires_ms, 99);
    assert_false(got.deleted);
    assert_non_null(got.data);
    assert_ptr_not_equal(got.data, e.data); /* a copy the caller frees */
    assert_string_equal(got.data, "{\"input\":1}");
    free(got.data);
    assert_true(fg_respmap_get("resp_1", &got, false)); /* ids only */
    assert_null(got.data);
    assert_int_equal(got.data_len, 11);
    assert_false(fg_respmap_get("resp_2", &got, true));
    fg_respmap_forget("resp_1");
    assert_true(fg_respmap_get("resp_1", &got, true)); /* a tombstone */
    assert_true(got.deleted);
    assert_null(got.data);
    struct fg_respmap_entry bad = entry("resp bad", NULL, 0);
    assert_false(fg_respmap_put(&bad));
    assert_false(fg_respmap_id_ok("", 0));
    fg_respmap_reset();
}

/* Over FG_RESPMAP_DATA_MAX the oldest entries lose their copies first. */
static void data_budget(void **state)
{
    (void)state;
    size_t n = FG_RESPMAP_DATA_MAX / 5;
    char *big = malloc(n);
    memset(big, 'x', n);
    char id[32];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "resp_big_%d", i);
        struct fg_respmap_entry e = entry(id, big, n);
        assert_true(fg_respmap_put(&e));
    }
    struct fg_respmap_entry got;
    int kept = 0;
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "resp_big_%d", i);
        assert_true(fg_respmap_get(id, &got, true)); /* every id stays */
        kept += got.data != NULL;
        if (i == 0)
            assert_null(got.data); /* the oldest copy went first */
        if (i == 5)
            assert_non_null(got.data);
        free(got.data);
    }
    assert_int_equal(kept, 5);
    free(big);
    fg_respmap_reset();
}

static void minted_ids(void **state)
{
    (void)state;
    char a[FG_RESPSTATE_ID_LEN + 1], b[FG_RESPSTATE_ID_LEN + 1];
    fg_respstate_mint(a);
    fg_respstate_mint(b);
    assert_int_equal(strlen(a), FG_RESPSTATE_ID_LEN);
    assert_memory_equal(a, "resp_", 5);
    assert_true(strspn(a + 5, "0123456789abcdef") == 32);
    assert_string_not_equal(a, b);
    assert_true(fg_respmap_id_ok(a, strlen(a)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_forget),
        cmocka_unit_test(data_budget),
        cmocka_unit_test(minted_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
