/* test_edge.c — the HTTP edge (src/server/edge.c) driven with raw bytes
 * over socketpairs: framing anomalies, pipelining, 100-continue, chunked
 * bodies, answers at the head, body sinks, deadlines (short configured
 * ones: the loop waits for the edge's own timer, no sleeps with margins),
 * connection caps, streamed and HEAD replies, a peer that goes away, and
 * backpressure.  Replies are read back with http_parser in response mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge.h"
#include "edge_frame.h"
#include "edge_limits.h"

/* ---------------- the app behind the edge */

struct t {
    struct event_base *base;
    struct fg_edge *e;
    struct fg_edge_limits *lim;
    int heads, requests, gones, drained, ends;
    char seen[1024]; /* targets the app got, in order */
    struct evbuffer *sunk;
    struct fg_edge_req *held;
};

static struct t T;

static bool path_is(struct fg_edge_req *r, const char *p)
{
    return fg_reqhead_span_is(fg_edge_req_head(r)->path, p);
}

static void on_gone(struct fg_edge_req *r, void *arg)
{
    T.gones++;
}

static void sink(struct fg_edge_req *r, const char *p, size_t n, void *arg)
{
    evbuffer_add(T.sunk, p, n);
    if (evbuffer_get_length(T.sunk) > 100000) /* the store said no: answer now */
        fg_edge_reply(r, 507, "full", 4);
}

static void on_end(struct fg_edge_req *r, void *arg)
{
    T.ends++;
}

static int head_hook(struct fg_edge_req *r, void *arg)
{
    T.heads++;
    fg_edge_req_on_gone(r, on_gone, NULL);
    fg_edge_req_on_end(r, on_end, NULL);
    if (path_is(r, "/deny")) {
        fg_edge_resp_header(r, "WWW-Authenticate", "Bearer");
        fg_edge_reply(r, 401, "denied", 6);
        return 1;
    }
    if (path_is(r, "/early-stream")) { /* answers at the head, ends later */
        fg_edge_stream_start(r, 403);
        T.held = r;
        return 1;
    }
    if (path_is(r, "/cap"))
        fg_edge_req_set_body_cap(r, 10);
    if (path_is(r, "/sink"))
        fg_edge_req_set_sink(r, sink, NULL);
    return 0;
}

static void on_drained(struct fg_edge_req *r, void *arg)
{
    T.drained++;
    if (arg) /* the relay's way: act from the callback (here: end the stream) */
        assert_int_equal(fg_edge_stream_end(r), 0);
}

static void request_hook(struct fg_edge_req *r, void *arg)
{
    T.requests++;
    const struct fg_reqhead *h = fg_edge_req_head(r);
    assert_int_equal(fg_edge_req_method(r), h->method.p[0] == 'G'   ? FG_EDGE_GET
                                            : h->method.p[0] == 'H' ? FG_EDGE_HEAD
                                                                    : FG_EDGE_POST);
    size_t k = strlen(T.seen);
    snprintf(T.seen + k, sizeof T.seen - k, "%.*s ", (int)h->target.n, h->target.p);
    if (path_is(r, "/hold")) {
        T.held = r;
        return;
    }
    if (path_is(r, "/stream")) {
        fg_edge_resp_header(r, "Content-Type", "text/event-stream");
        fg_edge_stream_start(r, 200);
        fg_edge_stream_write(r, "data: a\n\n", 9);
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, "data: bc\n\n", 10);
        fg_edge_stream_write_buf(r, b);
        evbuffer_free(b);
        fg_edge_stream_end(r);
        return;
    }
    /* echo: method, target, body length and body; per-request state in the arena */
    struct evbuffer *body = fg_edge_req_body(r);
    size_t n = evbuffer_get_length(body);
    char *msg = fg_arena_printf(fg_edge_req_arena(r), "%.*s %.*s %zu:", (int)h->method.n,
                                h->method.p, (int)h->target.n, h->target.p, n);
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, msg, strlen(msg));
    evbuffer_add_buffer(out, body);
    fg_edge_resp_header(r, "Content-Type", "text/plain");
    fg_edge_reply_buf(r, 200, out);
    evbuffer_free(out);
}

/* The gateway answers the edge's own errors in the caller's dialect
 * (wire.c): here the dialect a path tells, or a partial head's
 * anthropic-version, else the default. */
static const char *error_body(struct fg_edge_req *r, int status, const char *code, const char *msg,
                              struct evbuffer *body, void *arg)
{
    if (!arg)
        return NULL; /* off: the edge's default body */
    bool an = fg_edge_req_head_done(r)
                  ? path_is(r, "/v1/messages")
                  : fg_edge_req_header_partial(r, "anthropic-version").p != NULL;
    evbuffer_add_printf(body, "{\"dialect\":\"%s\",\"code\":\"%s\"}", an ? "anthropic" : "openai",
                        code);
    return "application/json";
}

static const struct fg_edge_hooks hooks = {
    .head = head_hook, .request = request_hook, .error_body = error_body};
static const struct fg_edge_hooks dialect_hooks = {
    .head = head_hook, .request = request_hook, .error_body = error_body, .arg = &T};

static struct fg_edge_cfg base_cfg(void)
{
    return (struct fg_edge_cfg){.max_header_bytes = 4096,
                                .max_headers = 20,
                                .max_body_bytes = 1 << 20,
                                .header_timeout_ms = 10000,
                                .body_timeout_ms = 10000,
                                .idle_timeout_ms = 10000,
                                .linger_ms = 50};
}

static void start_with(struct fg_edge_cfg cfg, int max_conns, int per_ip,
                       const struct fg_edge_hooks *h)
{
    memset(&T, 0, sizeof T);
    T.base = event_base_new();
    T.lim = fg_edge_limits_new(max_conns, per_ip);
    T.e = fg_edge_new(T.base, &cfg, T.lim, h);
    T.sunk = evbuffer_new();
}

static void start(struct fg_edge_cfg cfg, int max_conns, int per_ip)
{
    start_with(cfg, max_conns, per_ip, &hooks);
}

static int teardown(void **st)
{
    fg_edge_free(T.e);
    assert_int_equal(T.ends, T.heads); /* every request the hook saw ended once */
    assert_int_equal(fg_edge_limits_count(T.lim), 0);
    fg_edge_limits_free(T.lim);
    event_base_free(T.base);
    evbuffer_free(T.sunk);
    fg_arena_thread_cleanup();
    return 0;
}

static int setup(void **st)
{
    start(base_cfg(), 100, 0);
    return 0;
}

/* ---------------- a client */

static int client_from(const char *ip)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    fg_edge_accept(T.e, sv[0], (struct sockaddr *)&sa, sizeof sa);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    return sv[1];
}

/* A client whose request is in the socket before the edge accepts it (a
 * client that sends with its connect, the edge's loop busy meanwhile). */
static int client_sent(const char *ip, const char *req)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], req, strlen(req)), (ssize_t)strlen(req));
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    fg_edge_accept(T.e, sv[0], (struct sockaddr *)&sa, sizeof sa);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    return sv[1];
}

static int client(void)
{
    return client_from("10.0.0.1");
}

static void pump(void)
{
    event_base_loop(T.base, EVLOOP_NONBLOCK);
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EAGAIN) {
            pump();
            continue;
        }
        assert_true(k > 0);
        p += k, n -= (size_t)k;
    }
    pump();
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* What came back, parsed. */
struct resp {
    int status;
    char headers[1024];
    char body[4096];
    size_t blen;
};

struct reader {
    struct resp r[8];
    int n;
    bool skip_body; /* a HEAD's reply */
};

static int r_begin(http_parser *p)
{
    struct reader *x = p->data;
    memset(&x->r[x->n], 0, sizeof x->r[0]);
    return 0;
}

static int r_field(http_parser *p, const char *at, size_t n)
{
    struct reader *x = p->data;
    char *h = x->r[x->n].headers;
    strncat(h, at, n < 100 ? n : 100);
    strcat(h, "|");
    return 0;
}

static int r_hdone(http_parser *p)
{
    struct reader *x = p->data;
    x->r[x->n].status = p->status_code;
    return x->skip_body ? 1 : 0;
}

static int r_body(http_parser *p, const char *at, size_t n)
{
    struct reader *x = p->data;
    struct resp *r = &x->r[x->n];
    size_t k = n < sizeof r->body - 1 - r->blen ? n : sizeof r->body - 1 - r->blen;
    memcpy(r->body + r->blen, at, k);
    r->blen += k;
    return 0;
}

static int r_done(http_parser *p)
{
    struct reader *x = p->data;
    if (x->n < 7)
        x->n++;
    return 0;
}

/* Parse everything received so far (eof: the connection closed). */
static void parse_all(const char *buf, size_t len, bool eof, struct reader *x)
{
    http_parser_settings s = {.on_message_begin = r_begin,
                              .on_header_field = r_field,
                              .on_header_value = r_field,
                              .on_headers_complete = r_hdone,
                              .on_body = r_body,
                              .on_message_complete = r_done};
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    bool skip = x->skip_body;
    memset(x, 0, sizeof *x);
    x->skip_body = skip;
    p.data = x;
    size_t off = 0;
    while (off < len) {
        size_t k = http_parser_execute(&p, &s, buf + off, len - off);
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK || k == 0)
            break;
        off += k;
    }
    if (eof)
        http_parser_execute(&p, &s, NULL, 0);
}

struct got {
    char raw[65536];
    size_t len;
    bool eof;
    struct reader rd;
};

/* Read until `want` replies are complete or the edge closed the connection
 * (want 0: until the close).  The bound only stops a hang. */
static void collect(int fd, int want, struct got *g)
{
    for (int i = 0; i < 3000; i++) {
        pump();
        ssize_t k = read(fd, g->raw + g->len, sizeof g->raw - 1 - g->len);
        if (k > 0)
            g->len += (size_t)k;
        if (k == 0)
            g->eof = true;
        g->raw[g->len] = 0;
        parse_all(g->raw, g->len, g->eof, &g->rd);
        if (g->eof || (want && g->rd.n >= want))
            return;
        if (k < 0) {
            struct pollfd pf = {fd, POLLIN, 0};
            poll(&pf, 1, 5);
        }
    }
    fail_msg("no answer: %d replies, %zu bytes", g->rd.n, g->len);
}

static struct got *exchange(int fd, const char *req, int want)
{
    static struct got g;
    memset(&g, 0, sizeof g);
    send_str(fd, req);
    collect(fd, want, &g);
    return &g;
}

/* ---------------- tests */

static void test_get_keepalive(void **st)
{
    int fd = client();
    struct got *g = exchange(fd, "GET /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g->rd.r[0].status, 200);
    assert_string_equal(g->rd.r[0].body, "GET /x?y=1 0:");
    assert_null(strstr(g->rd.r[0].headers, "Connection"));
    assert_non_null(strstr(g->rd.r[0].headers, "Date|"));
    g = exchange(fd, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 1);
    assert_string_equal(g->rd.r[0].body, "POST /p 3:abc");
    assert_false(g->eof);
    assert_int_equal(fg_edge_open(T.e), 1);
    close(fd);
    for (int i = 0; i < 100 && fg_edge_open(T.e); i++)
        pump();
    assert_int_equal(fg_edge_open(T.e), 0);
}

static void test_pipelined_in_order(void **st)
{
    int fd = client();
    struct got *g = exchange(fd,
                             "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                             "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
                             "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "1\r\nx\r\n0\r\n\r\n"
                             "GET /d HTTP/1.1\r\nHost: a\r\n\r\n",
                             4);
    assert_int_equal(g->rd.n, 4);
    assert_string_equal(g->rd.r[0].body, "GET /a 0:");
    assert_string_equal(g->rd.r[1].body, "POST /b 2:hi");
    assert_string_equal(g->rd.r[2].body, "POST /c 1:x");
    assert_string_equal(g->rd.r[3].body, "GET /d 0:");
    assert_string_equal(T.seen, "/a /b /c /d ");
    close(fd);
}

/* The request after a held one is not parsed until the reply is out. */
static void test_pipelined_waits(void **st)
{
    int fd = client();
    send_str(fd, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    for (int i = 0; i < 20; i++)
        pump();
    assert_int_equal(T.requests, 1);
    assert_int_equal(T.heads, 1);
    assert_non_null(T.held);
    fg_edge_reply(T.held, 200, "held", 4);
    static struct got g;
    memset(&g, 0, sizeof g);
    collect(fd, 2, &g);
    assert_string_equal(g.rd.r[0].body, "held");
    assert_string_equal(g.rd.r[1].body, "GET /next 0:");
    close(fd);
}

static void test_pipeline_bad_middle(void **st)
{
    int fd = client();
    struct got *g = exchange(fd,
                             "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                             "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx"
                             "GET /c HTTP/1.1\r\nHost: a\r\n\r\n",
                             0);
    assert_true(g->eof);
    assert_int_equal(g->rd.n, 2);
    assert_int_equal(g->rd.r[0].status, 200);
    assert_int_equal(g->rd.r[1].status, 400);
    assert_non_null(strstr(g->rd.r[1].headers, "Connection|close|"));
    assert_string_equal(T.seen, "/a ");
    close(fd);
}

/* Each is answered 400 and closed; `heads` is how many times the head hook
 * may have run (body framing is judged after the head). */
static const struct {
    const char *name, *req;
    int heads;
} bad[] = {
    {"duplicate equal CL",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 0},
    {"differing CL",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 0},
    {"signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", 0},
    {"negative CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nx", 0},
    {"CL with a space inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\nx", 0},
    {"CL and TE",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     0},
    {"TE and CL",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n",
     0},
    {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 0},
    {"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 0},
    {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 0},
    {"bare LF at the end", "GET / HTTP/1.1\r\nHost: a\r\n\n", 0},
    {"CR without LF", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 0},
    {"space before colon",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 0},
    {"space in a name", "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 0},
    {"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 0},
    {"TE gzip, chunked",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 0},
    {"TE twice",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     0},
    {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0},
    {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 0},
    {"absolute-form without a path", "GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"absolute-form, other scheme", "GET ftp://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"empty Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 0},
    {"a line without a colon", "GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n", 0},
    {"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"target with a tab", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"target with a high byte", "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"target with a fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0},
    {"HTTP/0.9", "GET /\r\n\r\n", 0},
    {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 0},
    {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0},
    {"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"control byte in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 0},
    {"chunk data then junk",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxYZ0\r\n\r\n", 1},
    {"chunk size with a space",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n", 1},
    {"chunk line bare LF",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", 1},
    {"last chunk bare LF",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\n", 1},
    {"trailer field",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX: y\r\n\r\n",
     1},
    {"chunk size 0x",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\nx\r\n0\r\n\r\n", 1},
    {"chunk size too long",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 1},
    {"chunk extension control byte",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a\x01\r\nx\r\n0\r\n\r\n",
     1},
};

static void test_framing_anomalies(void **st)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int heads = T.heads;
        int fd = client();
        struct got *g = exchange(fd, bad[i].req, 0);
        if (g->rd.n != 1 || g->rd.r[0].status != 400 || !g->eof)
            fail_msg("%s: %d replies, first %d, eof %d", bad[i].name, g->rd.n, g->rd.r[0].status,
                     g->eof);
        assert_non_null(strstr(g->rd.r[0].headers, "Connection|close|"));
        assert_non_null(strstr(g->rd.r[0].body, "invalid_http_request"));
        if (T.heads - heads != bad[i].heads)
            fail_msg("%s: head hook ran %d times", bad[i].name, T.heads - heads);
        close(fd);
    }
    assert_int_equal(T.requests, 0);
    assert_int_equal(fg_edge_stats(T.e).bad, sizeof bad / sizeof bad[0]);
}

/* What http_parser alone lets through (Debian builds it non-strict): the
 * reason edge_frame.c exists.  If this starts failing, the library got
 * stricter and the edge's checks are belt and braces. */
static void test_parser_is_lenient(void **st)
{
    const char *s =
        "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\nX: a\r\n b\n\r\n1\r\nxYZ0\r\n\r\n";
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    http_parser_settings set;
    http_parser_settings_init(&set);
    size_t n = http_parser_execute(&p, &set, s, strlen(s));
    assert_int_equal(n, strlen(s));
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_OK);
}

static void test_well_formed_edges(void **st)
{
    int fd = client();
    /* leading empty line, chunk extension, leading zeros, Upgrade ignored */
    struct got *g = exchange(fd,
                             "\r\nPOST /e HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: "
                             "Upgrade\r\nTransfer-Encoding: Chunked\r\n\r\n"
                             "002;ext=1\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
                             1);
    assert_int_equal(g->rd.r[0].status, 200);
    assert_string_equal(g->rd.r[0].body, "POST /e 3:abc");
    /* absolute-form: served as its path; the authority is not the app's */
    g = exchange(fd, "GET http://other.example/abs?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n", 1);
    assert_int_equal(g->rd.r[0].status, 200);
    assert_string_equal(g->rd.r[0].body, "GET /abs?q=1 0:");
    close(fd);
}

static void test_headers_too_large(void **st)
{
    int fd = client();
    char big[6000];
    memset(big, 'a', sizeof big);
    snprintf(big, 40, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    big[strlen(big)] = 'a';
    memcpy(big + sizeof big - 5, "\r\n\r\n", 5);
    struct got *g = exchange(fd, big, 0);
    assert_int_equal(g->rd.r[0].status, 431);
    assert_true(g->eof);
    close(fd);

    char many[2048] = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 25; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "X-%d: v\r\n", i);
    strcat(many, "\r\n");
    fd = client();
    g = exchange(fd, many, 0);
    assert_int_equal(g->rd.r[0].status, 431);
    assert_true(g->eof);
    close(fd);
    assert_int_equal(T.heads, 0);
}

static void test_expect_continue(void **st)
{
    int fd = client();
    send_str(fd,
             "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    char buf[64] = {0};
    ssize_t k = -1;
    for (int i = 0; i < 1000 && k <= 0; i++) {
        pump();
        k = read(fd, buf, sizeof buf - 1);
        if (k <= 0)
            poll(&(struct pollfd){fd, POLLIN, 0}, 1, 5);
    }
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(T.heads, 1);
    assert_int_equal(T.requests, 0);
    struct got *g = exchange(fd, "abc", 1);
    assert_string_equal(g->rd.r[0].body, "POST /e 3:abc");
    close(fd);

    /* refused at the head: no 100, the answer, and the body is never read */
    fd = client();
    g = exchange(fd,
                 "POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\nExpect: "
                 "100-continue\r\n\r\n",
                 1);
    assert_int_equal(g->rd.r[0].status, 401);
    assert_null(strstr(g->raw, "100 Continue"));
    assert_non_null(strstr(g->rd.r[0].headers, "Connection|close|"));
    close(fd);

    fd = client();
    g = exchange(fd, "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 200-ok\r\n\r\n",
                 0);
    assert_int_equal(g->rd.r[0].status, 417);
    close(fd);
}

/* 401 before the body: the client has sent only the head of a 100 MB body. */
static void test_answer_at_head(void **st)
{
    int fd = client();
    struct got *g = exchange(
        fd, "POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\npartial", 1);
    assert_int_equal(g->rd.r[0].status, 401);
    assert_string_equal(g->rd.r[0].body, "denied");
    assert_non_null(strstr(g->rd.r[0].headers, "WWW-Authenticate|Bearer|"));
    assert_non_null(strstr(g->rd.r[0].headers, "Connection|close|"));
    assert_int_equal(T.requests, 0);
    /* the client keeps sending; the edge drops it and closes */
    char junk[8192];
    memset(junk, 'j', sizeof junk);
    for (int i = 0; i < 4; i++)
        send_all(fd, junk, sizeof junk);
    collect(fd, 0, g);
    assert_true(g->eof);
    close(fd);

    /* no body pending: the connection stays */
    fd = client();
    g = exchange(fd, "GET /deny HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g->rd.r[0].status, 401);
    assert_null(strstr(g->rd.r[0].headers, "Connection"));
    g = exchange(fd, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g->rd.r[0].status, 200);
    close(fd);
}

/* A stream started at the head with a body pending: the body is never read,
 * the stream ends when the app says, then the connection closes. */
static void test_head_hook_streams(void **st)
{
    int fd = client();
    send_str(fd, "POST /early-stream HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    assert_non_null(T.held);
    send_str(fd, "12345GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(fg_edge_stream_write(T.held, "no", 2), 0);
    assert_int_equal(fg_edge_stream_end(T.held), 0);
    static struct got g;
    memset(&g, 0, sizeof g);
    collect(fd, 0, &g);
    assert_true(g.eof);
    assert_int_equal(g.rd.n, 1);
    assert_int_equal(g.rd.r[0].status, 403);
    assert_string_equal(g.rd.r[0].body, "no");
    assert_non_null(strstr(g.rd.r[0].headers, "Connection|close|"));
    assert_int_equal(T.requests, 0);
    close(fd);
}

static void test_body_caps(void **st)
{
    int fd = client();
    struct got *g = exchange(fd, "POST /cap HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 1);
    assert_int_equal(g->rd.r[0].status, 413);
    assert_int_equal(T.heads, 1);
    assert_int_equal(T.gones, 1); /* the app learns its request failed */
    close(fd);

    fd = client();
    g = exchange(fd,
                 "POST /cap HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\n12345\r\n5\r\n67890\r\n1\r\nx\r\n",
                 1);
    assert_int_equal(g->rd.r[0].status, 413);
    assert_int_equal(T.gones, 2);
    assert_int_equal(T.requests, 0);
    close(fd);

    fd = client();
    g = exchange(fd, "POST /cap HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n1234567890", 1);
    assert_int_equal(g->rd.r[0].status, 200);
    close(fd);
}

static void test_chunked_in_pieces(void **st)
{
    int fd = client();
    const char *parts[] = {"POST /c HTTP/1.1\r\nHo",
                           "st: a\r\nTransfer-Encoding: chunked\r",
                           "\n\r\n1",
                           "0\r\n0123456789",
                           "abcdef\r",
                           "\n3;x=\"y\"\r\nxyz\r\n0",
                           "\r\n\r",
                           "\n"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        send_str(fd, parts[i]);
    static struct got g;
    memset(&g, 0, sizeof g);
    collect(fd, 1, &g);
    assert_string_equal(g.rd.r[0].body, "POST /c 19:0123456789abcdefxyz");
    close(fd);
}

static void test_sink(void **st)
{
    int fd = client();
    struct got *g = exchange(fd,
                             "POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                             1);
    assert_string_equal(g->rd.r[0].body, "POST /sink 0:"); /* nothing kept */
    assert_int_equal(evbuffer_get_length(T.sunk), 5);
    assert_memory_equal(evbuffer_pullup(T.sunk, -1), "abcde", 5);
    close(fd);

    /* the sink answers while the body still arrives: 507, then the close */
    evbuffer_drain(T.sunk, evbuffer_get_length(T.sunk));
    fd = client();
    send_str(fd, "POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
    static char chunk[65536];
    memset(chunk, 's', sizeof chunk);
    for (int i = 0; i < 3; i++)
        send_all(fd, chunk, sizeof chunk);
    static struct got g2;
    memset(&g2, 0, sizeof g2);
    collect(fd, 0, &g2);
    assert_int_equal(g2.rd.r[0].status, 507);
    assert_non_null(strstr(g2.rd.r[0].headers, "Connection|close|"));
    assert_int_equal(T.requests, 1);
    close(fd);
}

static void test_header_timeout(void **st)
{
    struct fg_edge_cfg cfg = base_cfg();
    cfg.header_timeout_ms = 30;
    cfg.body_timeout_ms = 30;
    teardown(st);
    start(cfg, 100, 0);
    int fd = client();
    struct got *g = exchange(fd, "GET / HTTP/1.1\r\nHo", 0); /* and nothing more */
    assert_int_equal(g->rd.n, 0);                            /* closed, no answer */
    assert_true(g->eof);
    close(fd);

    fd = client();
    g = exchange(fd, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n123", 0);
    assert_int_equal(g->rd.n, 0);
    assert_true(g->eof);
    assert_int_equal(T.gones, 1);
    close(fd);

    fd = client(); /* accepted and silent */
    g = exchange(fd, "", 0);
    assert_true(g->eof);
    close(fd);
    assert_int_equal(fg_edge_stats(T.e).timeouts, 3);
    assert_int_equal(T.requests, 0);
}

/* Slowloris: a byte at a time does not move the deadline. */
static void test_trickle_does_not_extend(void **st)
{
    struct fg_edge_cfg cfg = base_cfg();
    cfg.header_timeout_ms = 40;
    teardown(st);
    start(cfg, 100, 0);
    int fd = client();
    static struct got g;
    memset(&g, 0, sizeof g);
    const char *s =
        "GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t i = 0; s[i] && !g.eof; i++) {
        if (write(fd, s + i, 1) != 1)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        poll(&pf, 1, 5); /* ~5 ms a byte: 50 bytes take past the 40 ms deadline */
        pump();
        ssize_t k = read(fd, g.raw + g.len, sizeof g.raw - 1 - g.len);
        if (k > 0)
            g.len += (size_t)k;
        if (k == 0)
            g.eof = true;
    }
    collect(fd, 0, &g);
    assert_true(g.eof);
    assert_int_equal(g.rd.n, 0);
    assert_int_equal(fg_edge_stats(T.e).timeouts, 1);
    close(fd);
}

/* A connection accepted while over 3/4 of the cap are open gets the busy
 * header deadline; one accepted before keeps the long one. */
static void test_busy_header_deadline(void **st)
{
    struct fg_edge_cfg cfg = base_cfg();
    cfg.header_timeout_busy_ms = 30;
    teardown(st);
    start(cfg, 4, 0);
    int calm = client(); /* 1 open: the 10 s deadline */
    int more[2] = {client(), client()};
    int busy = client(); /* 4th: accepted with 3 open, over 3/4 of 4 */
    send_str(calm, "GET / HTTP/1.1\r\nHo");
    struct got *g = exchange(busy, "GET / HTTP/1.1\r\nHo", 0);
    assert_true(g->eof);
    assert_int_equal(g->rd.n, 0);
    assert_int_equal(fg_edge_stats(T.e).timeouts, 1);
    g = exchange(calm, "st: a\r\n\r\n", 1); /* still in time */
    assert_int_equal(g->rd.r[0].status, 200);
    close(calm), close(busy), close(more[0]), close(more[1]);
}

/* Thousands of idle connections at the cap: an honest call still gets in
 * (the oldest idle one is shed) and answered. */
static void test_many_idle(void **st)
{
    enum { N = 3000 };
    teardown(st);
    start(base_cfg(), N, 0);
    static int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = client();
    assert_int_equal(fg_edge_open(T.e), N);
    int honest = client();
    struct got *g =
        exchange(honest, "POST /h HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok", 1);
    assert_string_equal(g->rd.r[0].body, "POST /h 2:ok");
    assert_int_equal(fg_edge_stats(T.e).shed, 1);
    assert_int_equal(fg_edge_limits_count(T.lim), N);
    close(honest);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    for (int i = 0; i < 1000 && fg_edge_open(T.e); i++)
        pump();
    assert_int_equal(fg_edge_open(T.e), 0);
}

static void test_idle_keepalive_closes(void **st)
{
    struct fg_edge_cfg cfg = base_cfg();
    cfg.idle_timeout_ms = 30;
    teardown(st);
    start(cfg, 100, 0);
    int fd = client();
    struct got *g = exchange(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g->rd.r[0].status, 200);
    collect(fd, 0, g);
    assert_true(g->eof);
    assert_int_equal(g->rd.n, 1); /* closed silently */
    close(fd);
}

static void test_global_cap_sheds_idle(void **st)
{
    teardown(st);
    start(base_cfg(), 2, 0);
    int idle = client();
    int busy = client();
    send_str(busy, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_non_null(T.held);
    int third = client(); /* the idle one makes room */
    static struct got g;
    memset(&g, 0, sizeof g);
    collect(idle, 0, &g);
    assert_int_equal(g.rd.r[0].status, 503);
    assert_int_equal(fg_edge_stats(T.e).shed, 1);
    assert_int_equal(fg_edge_stats(T.e).accepted, 3);
    struct fg_edge_req *held = T.held;
    send_str(third, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    int fourth = client(); /* nothing idle left: refused with a 503, at its head */
    assert_int_equal(fg_edge_stats(T.e).refused, 1);
    send_str(fourth, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    memset(&g, 0, sizeof g);
    collect(fourth, 0, &g);
    assert_int_equal(g.rd.r[0].status, 503);
    assert_non_null(strstr(g.rd.r[0].body, "too_many_connections"));
    assert_int_equal(fg_edge_stats(T.e).refused, 1);
    fg_edge_reply(held, 200, "", 0);
    fg_edge_reply(T.held, 200, "", 0);
    close(idle), close(busy), close(third), close(fourth);
    for (int i = 0; i < 100 && fg_edge_open(T.e); i++)
        pump();
}

static void test_per_ip_cap(void **st)
{
    teardown(st);
    start(base_cfg(), 100, 1);
    int a = client_from("10.0.0.7");
    send_str(a, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    int b = client_from("10.0.0.7");
    send_str(b, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); /* answered at its head */
    static struct got g;
    memset(&g, 0, sizeof g);
    collect(b, 0, &g);
    assert_int_equal(g.rd.r[0].status, 429);
    assert_int_equal(T.heads, 1); /* the hook never saw the refused request */
    int c = client_from("10.0.0.8");
    struct got *g2 = exchange(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g2->rd.r[0].status, 200);
    /* an idle connection of the same address is not shed: the new one is refused */
    int d = client_from("10.0.0.8");
    g2 = exchange(d, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g2->rd.r[0].status, 429);
    g2 = exchange(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g2->rd.r[0].status, 200);
    assert_int_equal(fg_edge_stats(T.e).shed, 0);
    fg_edge_reply(T.held, 200, "", 0);
    close(a), close(b), close(c), close(d);
}

/* More than FG_EDGE_REFUSE_BACKLOG refusals waiting for their heads: a
 * new one is not kept waiting, but a head already in its socket is read
 * at once and answered in its dialect; with nothing there, or only part
 * of a head, it gets what that part tells (anthropic-version) or the
 * default at once. */
static void test_refusal_backlog_dialect(void **st)
{
    teardown(st);
    start_with(base_cfg(), 100, 1, &dialect_hooks);
    int a = client_from("10.0.0.7");
    send_str(a, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    int waiting[FG_EDGE_REFUSE_BACKLOG];
    for (int i = 0; i < FG_EDGE_REFUSE_BACKLOG; i++)
        waiting[i] = client_from("10.0.0.7"); /* refused, waiting for a head */
    static struct got g;
    int an = client_sent("10.0.0.7", "POST /v1/messages HTTP/1.1\r\nHost: a\r\n"
                                     "Content-Length: 2\r\n\r\n{}");
    memset(&g, 0, sizeof g);
    collect(an, 0, &g);
    assert_int_equal(g.rd.r[0].status, 429);
    assert_string_equal(g.rd.r[0].body,
                        "{\"dialect\":\"anthropic\",\"code\":\"too_many_connections\"}");
    int oa = client_sent("10.0.0.7", "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n\r\n");
    memset(&g, 0, sizeof g);
    collect(oa, 0, &g);
    assert_int_equal(g.rd.r[0].status, 429);
    assert_non_null(strstr(g.rd.r[0].body, "\"dialect\":\"openai\""));
    int part = client_sent("10.0.0.7", "POST /x HTTP/1.1\r\nanthropic-version: 2023-06-01\r\n");
    memset(&g, 0, sizeof g);
    collect(part, 0, &g);
    assert_int_equal(g.rd.r[0].status, 429);
    assert_non_null(strstr(g.rd.r[0].body, "\"dialect\":\"anthropic\""));
    int none = client_from("10.0.0.7"); /* nothing sent: answered at once */
    memset(&g, 0, sizeof g);
    collect(none, 0, &g);
    assert_int_equal(g.rd.r[0].status, 429);
    assert_non_null(strstr(g.rd.r[0].body, "\"dialect\":\"openai\""));
    assert_int_equal(T.heads, 1); /* the app's hook saw none of them */
    for (int i = 0; i < FG_EDGE_REFUSE_BACKLOG; i++)
        close(waiting[i]);
    fg_edge_reply(T.held, 200, "", 0);
    close(a), close(an), close(oa), close(part), close(none);
    for (int i = 0; i < 200 && fg_edge_open(T.e); i++)
        pump();
}

/* Graceful drain: idle connections close at once (no answer), a busy one
 * gets its reply with Connection: close, then closes. */
static void test_drain(void **st)
{
    int idle = client();
    int kept = client();
    struct got *g = exchange(kept, "GET /k HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g->rd.r[0].status, 200); /* now idle between requests */
    int busy = client();
    send_str(busy, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_non_null(T.held);
    fg_edge_drain(T.e);
    pump();
    static struct got d;
    memset(&d, 0, sizeof d);
    collect(idle, 0, &d);
    assert_true(d.eof);
    assert_int_equal(d.rd.n, 0);
    memset(&d, 0, sizeof d);
    collect(kept, 0, &d);
    assert_true(d.eof);
    assert_int_equal(d.rd.n, 0);
    assert_int_equal(fg_edge_open(T.e), 1);
    assert_int_equal(fg_edge_reply(T.held, 200, "done", 4), 0);
    memset(&d, 0, sizeof d);
    collect(busy, 1, &d);
    assert_int_equal(d.rd.r[0].status, 200);
    assert_non_null(strstr(d.rd.r[0].headers, "Connection|close|"));
    close(idle), close(kept), close(busy);
    for (int i = 0; i < 100 && fg_edge_open(T.e); i++)
        pump();
    assert_int_equal(fg_edge_open(T.e), 0);
}

static void test_stream_and_head(void **st)
{
    int fd = client();
    struct got *g = exchange(fd, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_int_equal(g->rd.r[0].status, 200);
    assert_string_equal(g->rd.r[0].body, "data: a\n\ndata: bc\n\n");
    assert_non_null(strstr(g->rd.r[0].headers, "Transfer-Encoding|chunked|"));
    assert_non_null(strstr(g->raw, "\r\n9\r\ndata: a\n\n\r\n"));
    g->rd.skip_body = true;
    memset(g, 0, sizeof *g);
    g->rd.skip_body = true;
    send_str(fd, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n");
    collect(fd, 1, g);
    assert_non_null(strstr(g->rd.r[0].headers, "Content-Length|10|"));
    assert_null(strstr(g->raw, "HEAD /h"));
    g = exchange(fd, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_string_equal(g->rd.r[0].body, "GET /after 0:");
    close(fd);

    /* HTTP/1.0: the stream is raw bytes ended by the close */
    fd = client();
    g = exchange(fd, "GET /stream HTTP/1.0\r\n\r\n", 0);
    assert_true(g->eof);
    assert_non_null(strstr(g->raw, "\r\n\r\ndata: a\n\ndata: bc\n\n"));
    assert_non_null(strstr(g->rd.r[0].headers, "Connection|close|"));
    close(fd);
}

static void test_connection_close_and_http10(void **st)
{
    int fd = client();
    struct got *g = exchange(fd, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0);
    assert_int_equal(g->rd.r[0].status, 200);
    assert_non_null(strstr(g->rd.r[0].headers, "Connection|close|"));
    assert_true(g->eof);
    close(fd);

    fd = client();
    g = exchange(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1);
    assert_non_null(strstr(g->rd.r[0].headers, "Connection|keep-alive|"));
    assert_false(g->eof);
    g = exchange(fd, "GET / HTTP/1.0\r\n\r\n", 0);
    assert_true(g->eof);
    close(fd);
}

static void test_peer_gone(void **st)
{
    int fd = client();
    send_str(fd, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_non_null(T.held);
    close(fd);
    for (int i = 0; i < 50 && !T.gones; i++)
        pump();
    assert_int_equal(T.gones, 1);
    assert_true(fg_edge_req_gone(T.held));
    assert_int_equal(fg_edge_open(T.e), 1); /* held until the app's terminal call */
    assert_int_equal(fg_edge_limits_count(T.lim), 0);
    assert_int_equal(fg_edge_stream_start(T.held, 200), -1);
    assert_int_equal(fg_edge_stream_write(T.held, "x", 1), -1);
    assert_int_equal(fg_edge_stream_end(T.held), -1);
    assert_int_equal(fg_edge_open(T.e), 0);
}

static void test_backpressure(void **st)
{
    int fd = client();
    send_str(fd, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    struct fg_edge_req *r = T.held;
    assert_int_equal(fg_edge_stream_start(r, 200), 0);
    fg_edge_on_drained(r, 0, on_drained, NULL);
    static char big[1 << 20];
    memset(big, 'z', sizeof big);
    assert_int_equal(fg_edge_stream_write(r, big, sizeof big), 0);
    assert_true(fg_edge_queued(r) > 0); /* the client reads nothing yet */
    assert_int_equal(T.drained, 0);
    size_t got = 0;
    char buf[65536];
    for (int i = 0; i < 2000 && !T.drained; i++) {
        pump();
        ssize_t k = read(fd, buf, sizeof buf);
        if (k > 0)
            got += (size_t)k;
    }
    assert_int_equal(T.drained, 1);
    assert_int_equal(fg_edge_queued(r), 0);
    assert_true(got > 0); /* the client's reads are what drained it */

    /* a write the socket takes at once: the callback runs from the loop
     * afterwards, not inside fg_edge_stream_write */
    fg_edge_on_drained(r, 0, on_drained, &T);
    static char mid[1000];
    memset(mid, 'm', sizeof mid);
    assert_int_equal(fg_edge_stream_write(r, mid, sizeof mid), 0);
    assert_int_equal(T.drained, 1);
    for (int i = 0; i < 20 && T.drained == 1; i++)
        pump();
    assert_int_equal(T.drained, 2); /* and it ended the stream */
    static char tail[65536];
    size_t n = 0;
    for (int i = 0; i < 2000 && (n < 5 || memcmp(tail + n - 5, "0\r\n\r\n", 5)); i++) {
        pump();
        ssize_t k = read(fd, tail + n, sizeof tail - n);
        if (k > 0)
            n += (size_t)k;
    }
    assert_true(n >= 5 && !memcmp(tail + n - 5, "0\r\n\r\n", 5)); /* the last chunk */
    close(fd);
}

static void test_response_headers(void **st)
{
    int fd = client();
    send_str(fd, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    struct fg_edge_req *r = T.held;
    fg_edge_resp_header(r, "X-A", "1");
    fg_edge_resp_header(r, "X-B", "2");
    fg_edge_resp_header(r, "x-a", "3");
    fg_edge_resp_header(r, "X-Split", "a\r\nInjected: yes"); /* dropped: would split */
    fg_edge_resp_header(r, "Content-Length", "99");          /* framing is the edge's */
    assert_string_equal(fg_edge_resp_header_find(r, "x-b"), "2");
    fg_edge_resp_header_remove(r, "X-A");
    assert_null(fg_edge_resp_header_find(r, "x-a"));
    assert_null(fg_edge_resp_header_find(r, "x-split"));
    fg_edge_reply(r, 200, "ok", 2);
    static struct got g;
    memset(&g, 0, sizeof g);
    collect(fd, 1, &g);
    assert_string_equal(g.rd.r[0].body, "ok");
    assert_null(strstr(g.raw, "X-A"));
    assert_null(strstr(g.raw, "Injected"));
    assert_non_null(strstr(g.raw, "\r\nX-B: 2\r\n"));
    assert_non_null(strstr(g.raw, "\r\nContent-Length: 2\r\n"));
    close(fd);
}

static int cleanups;

static void count_cleanup(const void *p, size_t n, void *arg)
{
    assert_ptr_equal(arg, &cleanups);
    assert_int_equal(n, 1 << 20);
    cleanups++;
}

/* Whole replies larger than the socket takes: the first write goes out
 * directly, the rest is queued (copied, referenced, or moved) and arrives
 * intact; a referenced body's cleanup runs once, after it was written. */
static void test_large_whole_replies(void **st)
{
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    int fd = client();
    for (int round = 0; round < 3; round++) {
        T.held = NULL;
        send_str(fd, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_non_null(T.held);
        if (round == 0) {
            assert_int_equal(
                fg_edge_reply_ref(T.held, 200, big, sizeof big, count_cleanup, &cleanups), 0);
            assert_int_equal(cleanups, 0); /* the client has not read it yet */
        } else if (round == 1) {
            assert_int_equal(fg_edge_reply(T.held, 200, big, sizeof big), 0);
        } else {
            struct evbuffer *b = evbuffer_new();
            evbuffer_add(b, big, sizeof big);
            assert_int_equal(fg_edge_reply_buf(T.held, 200, b), 0);
            assert_int_equal(evbuffer_get_length(b), 0);
            evbuffer_free(b);
        }
        /* read the head, then exactly the body */
        static char got[(1 << 20) + 4096];
        size_t n = 0, need = 0;
        for (int i = 0; i < 5000 && (!need || n < need); i++) {
            pump();
            ssize_t k = read(fd, got + n, sizeof got - n);
            if (k > 0)
                n += (size_t)k;
            char *end = need ? NULL : memmem(got, n, "\r\n\r\n", 4);
            if (end)
                need = (size_t)(end + 4 - got) + sizeof big;
        }
        assert_true(need && n == need);
        assert_memory_equal(got + need - sizeof big, big, sizeof big);
    }
    assert_int_equal(cleanups, 1);
    struct got *g = exchange(fd, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_string_equal(g->rd.r[0].body, "GET /after 0:");
    close(fd);
}

static void test_frame_units(void **st)
{
    struct fg_edge_frame_chunk c;
    size_t used;
    bool done;
    fg_edge_frame_chunk_init(&c);
    const char *s = "3\r\nabc\r\n0\r\n\r\nGET";
    assert_null(fg_edge_frame_chunk_scan(&c, s, strlen(s), &used, &done));
    assert_true(done);
    assert_int_equal(used, strlen(s) - 3);
    assert_true(fg_edge_frame_token("X-Ok", 4));
    assert_false(fg_edge_frame_token("X Ok", 4));
    assert_false(fg_edge_frame_token("", 0));
    assert_null(fg_edge_frame_target("/v1/chat?x=1", 12));
    assert_non_null(fg_edge_frame_target("//evil", 6));
    /* absolute-form: the authority is skipped, the path judged */
    assert_null(fg_edge_frame_target("http://x.example/v1?a", 21));
    assert_int_equal(fg_edge_frame_origin("http://x.example/v1?a", 21), 16);
    assert_int_equal(fg_edge_frame_origin("/v1", 3), 0);
    assert_non_null(fg_edge_frame_target("https://x.example", 17));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_keepalive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_bad_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_framing_anomalies, setup, teardown),
        cmocka_unit_test(test_parser_is_lenient),
        cmocka_unit_test_setup_teardown(test_well_formed_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_at_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_hook_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_in_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trickle_does_not_extend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_header_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_keepalive_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_global_cap_sheds_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_ip_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_backlog_dialect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_and_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_close_and_http10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_whole_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_headers, setup, teardown),
        cmocka_unit_test(test_frame_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
