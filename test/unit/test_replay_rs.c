/* test_replay_rs.c — unit tests for replay_rs.c: a whole Response becomes
 * the Responses event sequence (numbered from 0, in the SDK's order), ends
 * by its status, and anything that is not a Response is refused untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "replay_rs.h"

/* The events of out as "type,type,..." (checking sequence_number as it goes). */
static char *types_of(struct evbuffer *out)
{
    size_t n = evbuffer_get_length(out);
    char *s = calloc(1, n + 1), *types = calloc(1, n + 1);
    assert_non_null(s);
    assert_non_null(types);
    evbuffer_copyout(out, s, n);
    json_int_t seq = 0;
    for (char *p = strstr(s, "data: "); p; p = strstr(p + 1, "data: ")) {
        char *end = strstr(p, "\n\n");
        assert_non_null(end);
        json_t *d = json_loadb(p + 6, (size_t)(end - p - 6), 0, NULL);
        assert_non_null(d);
        assert_int_equal(json_integer_value(json_object_get(d, "sequence_number")), seq++);
        if (types[0])
            strcat(types, ",");
        strcat(types, json_string_value(json_object_get(d, "type")));
        json_decref(d);
    }
    free(s);
    return types;
}

static void message_and_call(void **state)
{
    (void)state;
    json_t *r = json_loads(
        "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":["
        "{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"status\":\"completed\","
        "\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\",\"annotations\":[]},"
        "{\"type\":\"refusal\",\"refusal\":\"No\"}]},"
        "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"c1\",\"name\":\"f\","
        "\"arguments\":\"{}\",\"status\":\"completed\"}],"
        "\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
        0, NULL);
    struct evbuffer *out = evbuffer_new();
    assert_int_equal(fg_replay_rs(r, out), 0);
    char *t = types_of(out);
    assert_string_equal(
        t, "response.created,response.in_progress,response.output_item.added,"
           "response.content_part.added,response.output_text.delta,response.output_text.done,"
           "response.content_part.done,response.content_part.added,response.refusal.delta,"
           "response.refusal.done,response.content_part.done,response.output_item.done,"
           "response.output_item.added,response.function_call_arguments.delta,"
           "response.function_call_arguments.done,response.output_item.done,"
           "response.completed");
    free(t);
    evbuffer_free(out);
    json_decref(r);
}

static void ends_by_status(void **state)
{
    (void)state;
    const char *st[] = {"incomplete", "failed"},
               *end[] = {"response.incomplete", "response.failed"};
    for (int k = 0; k < 2; k++) {
        json_t *r = json_pack("{s:s,s:s,s:[]}", "object", "response", "status", st[k], "output");
        struct evbuffer *out = evbuffer_new();
        assert_int_equal(fg_replay_rs(r, out), 0);
        char *t = types_of(out);
        assert_non_null(strstr(t, end[k]));
        free(t);
        evbuffer_free(out);
        json_decref(r);
    }
}

static void not_a_response(void **state)
{
    (void)state;
    const char *bad[] = {"{\"object\":\"chat.completion\",\"output\":[]}",
                         "{\"object\":\"response\",\"output\":{}}", "[]", "{}"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        json_t *r = json_loads(bad[k], 0, NULL);
        struct evbuffer *out = evbuffer_new();
        assert_int_equal(fg_replay_rs(r, out), -1);
        assert_int_equal(evbuffer_get_length(out), 0);
        evbuffer_free(out);
        json_decref(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_and_call),
        cmocka_unit_test(ends_by_status),
        cmocka_unit_test(not_a_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
