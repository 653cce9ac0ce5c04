/* test_respstate.c — the in-memory cache of stored Responses (respmap.c):
 * entries copied in and out, tombstones that hide a deleted id, the data
 * budget that drops the oldest copies first (ids kept), ids refused; and
 * from respstate.c: frugal's minted ids, and frugal's id spliced over the
 * provider's (or a translator's) in stream frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "call.h"
#include "provider.h"
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

/* Translated frames (as a translator appends them): every Response object
 * gets frugal's id, the echo of previous_response_id the client's, other
 * frames and the bytes before `from` are untouched. */
static void frames_get_frugal_ids(void **state)
{
    (void)state;
    struct fg_call c;
    memset(&c, 0, sizeof c);
    fg_arena_init(&c.arena);
    c.endpoint = FG_EP_RESPONSES;
    c.out = &fg_provider_openai; /* a translated call */
    c.rs.stored = false;         /* nothing to remember: no app needed */
    snprintf(c.rs.id, sizeof c.rs.id, "resp_0123456789abcdef0123456789abcdef");
    c.rs.prev = "resp_prevprevprevprevprevprevprevprev";
    struct evbuffer *b = evbuffer_new();
    const char *head = "event: keep\ndata: {\"id\":\"resp_tr_1\"}\n\n";
    evbuffer_add(b, head, strlen(head));
    size_t from = evbuffer_get_length(b);
    const char *tail =
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"
        "\"response\":{\"id\":\"resp_tr_1\",\"previous_response_id\":null,\"status\":"
        "\"in_progress\"}}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
        "\"delta\":\"the \\\"response\\\" word\"}\n\n"
        ": a comment\n\n"
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_tr_1\","
        "\"status\":\"completed\"}}\n\n";
    evbuffer_add(b, tail, strlen(tail));
    fg_respstate_frames(&c, b, from);
    size_t n = evbuffer_get_length(b);
    char *out = calloc(1, n + 1);
    evbuffer_remove(b, out, n);
    const char *want =
        "event: keep\ndata: {\"id\":\"resp_tr_1\"}\n\n"
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"
        "\"response\":{\"id\":\"resp_0123456789abcdef0123456789abcdef\",\"previous_response_id\":"
        "\"resp_prevprevprevprevprevprevprevprev\",\"status\":\"in_progress\"}}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
        "\"delta\":\"the \\\"response\\\" word\"}\n\n"
        ": a comment\n\n"
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":"
        "\"resp_0123456789abcdef0123456789abcdef\",\"status\":\"completed\"}}\n\n";
    assert_string_equal(out, want);
    assert_string_equal(c.rs.upstream, "resp_tr_1"); /* noted, not shown */
    free(out);
    evbuffer_free(b);
    fg_json_free(&c.up.resp);
    fg_arena_free(&c.arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_forget),
        cmocka_unit_test(data_budget),
        cmocka_unit_test(minted_ids),
        cmocka_unit_test(frames_get_frugal_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
