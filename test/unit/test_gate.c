/* test_gate.c — the gate that judges a request head before its body is
 * read (gate.c), on heads parsed by the real edge (edge.c, over a
 * socketpair; its framing checks are test_edge.c's): the fields the gate
 * reads, its verdicts by path, key and size, and the in-flight budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "edge.h"
#include "edge_limits.h"
#include "gate.h"
#include "provider.h"

/* What the head hook saw: the gate's verdict and the fields it read. */
static struct {
    const struct fg_config *cfg;
    struct fg_gate_verdict v;
    int heads;
    char method[16], path[128], target[128], api_key[64];
    bool anthropic, has_length, chunked;
    uint64_t length;
    const struct fg_dialect_ops *d;
} S;

static void copy_span(char *out, size_t n, struct fg_span s)
{
    snprintf(out, n, "%.*s", (int)s.n, s.p);
}

static int head_hook(struct fg_edge_req *r, void *arg)
{
    const struct fg_reqhead *h = fg_edge_req_head(r);
    S.heads++;
    copy_span(S.method, sizeof S.method, h->method);
    copy_span(S.path, sizeof S.path, h->path);
    copy_span(S.target, sizeof S.target, h->target);
    copy_span(S.api_key, sizeof S.api_key, h->api_key);
    S.anthropic = h->anthropic;
    S.has_length = h->has_length;
    S.chunked = h->chunked;
    S.length = h->length;
    S.d = fg_gate_dialect(h);
    if (S.cfg)
        fg_gate_check(S.cfg, h, &S.v);
    fg_edge_reply(r, 204, NULL, 0); /* answered at the head: the body is never read */
    return 1;
}

static void request_hook(struct fg_edge_req *r, void *arg)
{
    fail_msg("the gate's tests answer every request at its head");
}

/* Run head (a request's head, any body after it) through a real edge. */
static void run_head(const struct fg_config *cfg, const char *head)
{
    struct event_base *base = event_base_new();
    struct fg_edge_limits *lim = fg_edge_limits_new(10, 0);
    struct fg_edge_cfg ec = {.max_header_bytes = 8192,
                             .max_headers = 50,
                             .max_body_bytes = 1 << 30,
                             .header_timeout_ms = 10000,
                             .body_timeout_ms = 10000,
                             .idle_timeout_ms = 10000,
                             .linger_ms = 10};
    struct fg_edge_hooks hooks = {.head = head_hook, .request = request_hook};
    struct fg_edge *e = fg_edge_new(base, &ec, lim, &hooks);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fg_edge_accept(e, sv[0], NULL, 0);
    int heads = S.heads;
    memset(&S.v, 0, sizeof S.v);
    S.cfg = cfg;
    assert_int_equal(write(sv[1], head, strlen(head)), (ssize_t)strlen(head));
    for (int i = 0; i < 100 && S.heads == heads; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(S.heads, heads + 1);
    close(sv[1]);
    for (int i = 0; i < 100 && fg_edge_open(e); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    fg_edge_free(e);
    fg_edge_limits_free(lim);
    event_base_free(base);
    fg_arena_thread_cleanup();
}

static void judge(const struct fg_config *cfg, const char *head, struct fg_gate_verdict *v)
{
    run_head(cfg, head);
    *v = S.v;
}

static void test_head_fields(void **st)
{
    run_head(NULL, "POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\n"
                   "x-api-key:  fk-abc \r\nAnthropic-Version: 2023-06-01\r\n"
                   "content-length: 0012\r\n\r\n{\"body\":1}");
    assert_string_equal(S.method, "POST");
    assert_string_equal(S.path, "/v1/messages");
    assert_string_equal(S.target, "/v1/messages?beta=true");
    assert_string_equal(S.api_key, "fk-abc");
    assert_true(S.anthropic && S.has_length && !S.chunked);
    assert_int_equal(S.length, 12);
    assert_ptr_equal(S.d, &fg_provider_anthropic);
    run_head(NULL, "POST /v1/files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_true(S.chunked && !S.has_length);
    assert_ptr_equal(S.d, &fg_provider_openai);
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
    struct fg_gate_verdict v;
    judge(c, head, &v);
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
    verdict(c, "POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", 0, NULL);
    /* large ones: path, then key, then size */
    verdict(c, "POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n", 404,
            "unknown_url");
    verdict(c, "POST /v1/files HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", 401,
            "missing_api_key");
    verdict(c,
            "POST /v1/files HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer nope\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            401, "invalid_api_key");
    verdict(c,
            "POST /v1/files HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer mk-123\r\n"
            "Content-Length: 3000000\r\n\r\n",
            0, NULL);
    verdict(c,
            "POST /v1/files HTTP/1.1\r\nHost: a\r\nx-api-key: mk-123\r\n"
            "Content-Length: 5000000\r\n\r\n",
            413, "request_too_large");
    verdict(c,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nx-api-key: mk-123\r\n"
            "Content-Length: 3000000\r\n\r\n",
            413, "request_too_large");
    /* the upload cap is POST /v1/files only */
    verdict(c,
            "PUT /v1/files HTTP/1.1\r\nHost: a\r\nx-api-key: mk-123\r\n"
            "Content-Length: 3000000\r\n\r\n",
            413, "request_too_large");
    struct fg_gate_verdict v;
    judge(c,
          "POST /v1/messages/batches HTTP/1.1\r\nHost: a\r\nx-api-key: mk-123\r\n"
          "Content-Length: 1\r\n\r\n",
          &v);
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
    verdict(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 900000\r\n\r\n", 0,
            NULL);
    verdict(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
            413, NULL);
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
        cmocka_unit_test(test_head_fields),
        cmocka_unit_test(test_gate),
        cmocka_unit_test(test_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
