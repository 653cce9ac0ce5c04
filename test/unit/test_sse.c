/* Unit tests for the SSE parser: framing, chunk boundaries, CRLF, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "sse.h"

struct got {
    char names[16][32];
    char data[16][128];
    char raw[16][256];
    int n;
};

static int collect(void *arg, const struct fg_sse_event *ev)
{
    struct got *g = arg;
    snprintf(g->names[g->n], 32, "%.*s", (int)ev->event_len, ev->event);
    snprintf(g->data[g->n], 128, "%.*s", (int)ev->data_len, ev->data);
    snprintf(g->raw[g->n], 256, "%.*s", (int)ev->raw_len, ev->raw);
    g->n++;
    return 0;
}

static const char *anthropic_stream = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
                                      "event: ping\ndata: {\"type\":\"ping\"}\n\n"
                                      ": a comment\n\n"
                                      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void whole_stream(void **state)
{
    struct fg_sse p;
    struct got g = {0};
    fg_sse_init(&p, 1 << 20);
    assert_int_equal(fg_sse_feed(&p, anthropic_stream, strlen(anthropic_stream), collect, &g), 0);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.names[0], "message_start");
    assert_string_equal(g.data[0], "{\"type\":\"message_start\"}");
    assert_string_equal(g.raw[1], "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    assert_string_equal(g.names[2], "");
    assert_string_equal(g.data[2], "");
    assert_string_equal(g.names[3], "message_stop");
    assert_int_equal(fg_sse_pending(&p), 0);
    fg_sse_free(&p);
}

/* Every split point of the input must give the same events. */
static void byte_by_byte_splits(void **state)
{
    size_t n = strlen(anthropic_stream);
    for (size_t cut = 1; cut < n; cut++) {
        struct fg_sse p;
        struct got g = {0};
        fg_sse_init(&p, 1 << 20);
        fg_sse_feed(&p, anthropic_stream, cut, collect, &g);
        fg_sse_feed(&p, anthropic_stream + cut, n - cut, collect, &g);
        assert_int_equal(g.n, 4);
        assert_string_equal(g.names[3], "message_stop");
        assert_string_equal(g.raw[0],
                            "event: message_start\ndata: {\"type\":\"message_start\"}\n\n");
        fg_sse_free(&p);
    }
}

static void crlf_and_multiline_data(void **state)
{
    const char *s = "data: line1\r\ndata: line2\r\n\r\ndata:[DONE]\r\n\r\n";
    struct fg_sse p;
    struct got g = {0};
    fg_sse_init(&p, 1 << 20);
    fg_sse_feed(&p, s, strlen(s), collect, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.data[0], "line1\nline2");
    assert_string_equal(g.data[1], "[DONE]");
    fg_sse_free(&p);
}

static void incomplete_event_is_pending(void **state)
{
    const char *s = "data: {\"a\":1}\n\ndata: {\"partial\":";
    struct fg_sse p;
    struct got g = {0};
    fg_sse_init(&p, 1 << 20);
    fg_sse_feed(&p, s, strlen(s), collect, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(fg_sse_pending(&p), strlen("data: {\"partial\":"));
    fg_sse_free(&p);
}

static void oversized_event_fails(void **state)
{
    char big[300];
    memset(big, 'x', sizeof big);
    struct fg_sse p;
    struct got g = {0};
    fg_sse_init(&p, 128);
    assert_int_equal(fg_sse_feed(&p, big, sizeof big, collect, &g), -1);
    assert_int_equal(g.n, 0);
    fg_sse_free(&p);
}

static int stop_after_first(void *arg, const struct fg_sse_event *ev)
{
    (*(int *)arg)++;
    return -1;
}

static void callback_can_stop(void **state)
{
    struct fg_sse p;
    int calls = 0;
    fg_sse_init(&p, 1 << 20);
    assert_int_equal(
        fg_sse_feed(&p, anthropic_stream, strlen(anthropic_stream), stop_after_first, &calls), -1);
    assert_int_equal(calls, 1);
    fg_sse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_stream),
        cmocka_unit_test(byte_by_byte_splits),
        cmocka_unit_test(crlf_and_multiline_data),
        cmocka_unit_test(incomplete_event_is_pending),
        cmocka_unit_test(oversized_event_fails),
        cmocka_unit_test(callback_can_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
