/* test_reqhead.c — the strict request-head reader (reqhead.c) and the gate
 * that judges a head before its body is read (gate.c): what each framing
 * error is, which fields are kept, and the gate's verdicts by path, key and
 * size.  Each parse runs on an exact-size heap copy so ASan sees any read
 * past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gate.h"
#include "provider.h"
#include "reqhead.h"

static char *copy;

static int parse(const char *s, struct fg_reqhead *h)
{
    free(copy);
    size_t n = strlen(s);
    copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    return fg_reqhead_parse(copy, n, h);
}

static void refused(const char *s, const char *why)
{
    struct fg_reqhead h;
    assert_int_equal(parse(s, &h), -1);
    assert_non_null(strstr(h.err, why));
}

static void test_good_head(void **st)
{
    struct fg_reqhead h;
    assert_int_equal(parse("POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\n"
                           "x-api-key:  fk-abc \r\nAnthropic-Version: 2023-06-01\r\n"
                           "content-length: 0012\r\n\r\n{\"body\":1}",
                           &h),
                     0);
    assert_true(fg_reqhead_span_is(h.method, "POST"));
    assert_true(fg_reqhead_span_is(h.path, "/v1/messages"));
    assert_true(fg_reqhead_span_is(h.target, "/v1/messages?beta=true"));
    assert_true(fg_reqhead_span_is(h.api_key, "fk-abc"));
    assert_true(h.anthropic && h.has_length && !h.chunked);
    assert_int_equal(h.length, 12);
    assert_ptr_equal(fg_gate_dialect(&h), &fg_provider_anthropic);
    /* bare LF line ends, chunked, the same length twice */
    assert_int_equal(parse("POST /v1/files HTTP/1.0\nTransfer-Encoding: Chunked\n\n", &h), 0);
    assert_true(h.chunked && !h.has_length);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", &h),
                     0);
    assert_int_equal(h.length, 7);
}

static void test_framing_refused(void **st)
{
    refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 44\r\n\r\n", "disagree");
    refused("POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", "whitespace before");
    refused("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", "plain decimal");
    refused("POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n", "plain decimal");
    refused("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", "plain decimal");
    refused("POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", "plain decimal");
    refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding");
    refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "Transfer-Encoding");
    refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "both");
    refused("POST / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", "obs-fold");
    refused("CONNECT example.com:443 HTTP/1.1\r\n\r\n", "CONNECT");
    refused("POST / HTTP/2.0\r\n\r\n", "request line");
    refused("POST /\r\n\r\n", "request line");
    refused("\r\nGET / HTTP/1.1\r\n\r\n", "blank line");
    refused("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "colon");
    refused("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", "bare CR");
    refused("GET / HTTP/1.1\r\nHost: x\r\n", "cut short");
    refused("", "cut short");
}

static struct fg_config *cfg_with(const char *yaml)
{
    struct fg_config *c = NULL;
    struct fg_config_errlist errs = {0};
    assert_int_equal(fg_config_load_buffer("t.yaml", yaml, strlen(yaml), &c, &errs), 0);
    fg_config_errlist_free(&errs);
    return c;
}

static void verdict(struct fg_config *c, const char *head, int status, const char *code)
{
    struct fg_reqhead h;
    struct fg_gate_verdict v;
    assert_int_equal(parse(head, &h), 0);
    fg_gate_check(c, &h, &v);
    assert_int_equal(v.status, status);
    if (code)
        assert_string_equal(v.code, code);
}

#define MODELS "providers:\n  - name: sim\n    type: sim\nmodels:\n  - name: m\n    provider: sim\n"

static void test_gate(void **st)
{
    struct fg_config *c = cfg_with("server:\n  master_key: mk-123\n  max_body_bytes: 1MB\n"
                                   "batches:\n  max_file_bytes: 4MB\n" MODELS);
    /* small bodies go on to the API layer, which answers precisely */
    verdict(c, "POST /nope HTTP/1.1\r\nContent-Length: 10\r\n\r\n", 0, NULL);
    /* large ones: path, then key, then size */
    verdict(c, "POST /nope HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n", 404, "unknown_url");
    verdict(c, "POST /v1/files HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 401, "missing_api_key");
    verdict(c,
            "POST /v1/files HTTP/1.1\r\nAuthorization: Bearer nope\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            401, "invalid_api_key");
    verdict(c,
            "POST /v1/files HTTP/1.1\r\nAuthorization: Bearer mk-123\r\n"
            "Content-Length: 3000000\r\n\r\n",
            0, NULL);
    verdict(c,
            "POST /v1/files HTTP/1.1\r\nx-api-key: mk-123\r\n"
            "Content-Length: 5000000\r\n\r\n",
            413, "request_too_large");
    verdict(c,
            "POST /v1/chat/completions HTTP/1.1\r\nx-api-key: mk-123\r\n"
            "Content-Length: 3000000\r\n\r\n",
            413, "request_too_large");
    /* the upload cap is POST /v1/files only */
    verdict(c,
            "PUT /v1/files HTTP/1.1\r\nx-api-key: mk-123\r\n"
            "Content-Length: 3000000\r\n\r\n",
            413, "request_too_large");
    struct fg_reqhead h;
    struct fg_gate_verdict v;
    assert_int_equal(parse("POST /v1/messages/batches HTTP/1.1\r\nx-api-key: mk-123\r\n"
                           "Content-Length: 1\r\n\r\n",
                           &h),
                     0);
    fg_gate_check(c, &h, &v);
    assert_int_equal(v.body_cap, 4u << 20);
    assert_ptr_equal(v.d, &fg_provider_anthropic);
    fg_config_free(c);
    /* an unset in-flight bound follows a larger cap (a set one is checked) */
    c = cfg_with("server:\n  max_body_bytes: 1GB\n" MODELS);
    assert_int_equal(c->server.max_body_bytes_in_flight, 1u << 30);
    fg_config_free(c);
    c = cfg_with(MODELS);
    assert_int_equal(c->server.max_body_bytes_in_flight, 256u << 20);
    fg_config_free(c);
    /* no master key: anyone, only the sizes */
    c = cfg_with("server:\n  max_body_bytes: 1MB\n" MODELS);
    verdict(c, "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 900000\r\n\r\n", 0, NULL);
    verdict(c, "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413, NULL);
    fg_config_free(c);
}

static void test_in_flight(void **st)
{
    assert_true(fg_gate_reserve(60, 100));
    assert_false(fg_gate_reserve(41, 100));
    assert_true(fg_gate_reserve(40, 100));
    assert_int_equal(fg_gate_in_flight(), 100);
    fg_gate_release(100);
    assert_int_equal(fg_gate_in_flight(), 0);
    assert_true(fg_gate_reserve(0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_head),
        cmocka_unit_test(test_framing_refused),
        cmocka_unit_test(test_gate),
        cmocka_unit_test(test_in_flight),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(copy);
    return rc;
}
