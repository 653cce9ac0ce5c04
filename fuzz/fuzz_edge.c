/* fuzz_edge.c — the HTTP edge (server/edge.c) fed raw bytes over a
 * socketpair, in two writes split where the first byte says, then the
 * client's half-close.  The app behind it answers at the head (/deny),
 * sinks bodies (/sink), streams (/stream) or echoes.
 *
 * Invariants: no crash, leak or sanitizer report; every connection is
 * closed and its slot given back when the client is gone; what the edge
 * wrote is a sequence of well-formed HTTP responses (checked with
 * http_parser in response mode) unless a HEAD was served (its replies have
 * no body to frame). */
#include "edge.h"
#include "edge_limits.h"
#include "fuzz.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <http_parser.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static struct event_base *base;
static struct fg_edge *edge;
static struct fg_edge_limits *lim;
static bool saw_head;
static size_t sunk;

static bool path_is(struct fg_edge_req *r, const char *p)
{
    return fg_reqhead_span_is(fg_edge_req_head(r)->path, p);
}

static void sink(struct fg_edge_req *r, const char *p, size_t n, void *arg)
{
    sunk += n;
    if (sunk > 300)
        fg_edge_reply(r, 507, "full", 4);
}

static int head_hook(struct fg_edge_req *r, void *arg)
{
    saw_head |= fg_reqhead_span_is(fg_edge_req_head(r)->method, "HEAD");
    sunk = 0;
    if (path_is(r, "/deny"))
        return fg_edge_reply(r, 401, "no", 2), 1;
    if (path_is(r, "/sink"))
        fg_edge_req_set_sink(r, sink, NULL);
    fg_edge_req_set_body_cap(r, 1000);
    return 0;
}

static void request_hook(struct fg_edge_req *r, void *arg)
{
    if (path_is(r, "/stream")) {
        fg_edge_resp_header(r, "Content-Type", "text/event-stream");
        fg_edge_stream_start(r, 200);
        fg_edge_stream_write(r, "data: x\n\n", 9);
        fg_edge_stream_end(r);
        return;
    }
    struct fg_span h = fg_edge_req_header(r, "x-echo");
    if (h.n)
        fg_edge_resp_header(r, "X-Echo", fg_arena_strndup(fg_edge_req_arena(r), h.p, h.n));
    fg_edge_reply_buf(r, 200, fg_edge_req_body(r));
}

static const struct fg_edge_hooks hooks = {.head = head_hook, .request = request_hook};

static int r_done(http_parser *p)
{
    return 0;
}

static void check_replies(const char *buf, size_t len)
{
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_message_complete = r_done;
    size_t off = 0;
    while (off < len) {
        size_t k = http_parser_execute(&p, &s, buf + off, len - off);
        FUZZ_CHECK(HTTP_PARSER_ERRNO(&p) == HPE_OK, "malformed reply at %zu: %s\n%.*s", off + k,
                   http_errno_name(HTTP_PARSER_ERRNO(&p)), (int)len, buf);
        off += k;
    }
}

static void init(void)
{
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    lim = fg_edge_limits_new(100, 0);
    struct fg_edge_cfg cfg = {.max_header_bytes = 2048,
                              .max_headers = 16,
                              .max_body_bytes = 1000,
                              .header_timeout_ms = 5000,
                              .body_timeout_ms = 5000,
                              .idle_timeout_ms = 5000,
                              .linger_ms = 5000};
    edge = fg_edge_new(base, &cfg, lim, &hooks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base)
        init();
    if (size > 65536)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
        return 0;
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    saw_head = false;
    fg_edge_accept(edge, sv[0], NULL, 0);
    size_t split = size ? data[0] % (size + 1) : 0;
    static char out[1 << 20];
    size_t got = 0;
    const uint8_t *parts[2] = {data, data + split};
    size_t lens[2] = {split, size - split};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            ssize_t k = write(sv[1], parts[i] + off, lens[i] - off);
            if (k <= 0)
                break; /* the edge closed: the rest is not read */
            off += (size_t)k;
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 10000 && fg_edge_open(edge); i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        ssize_t k = read(sv[1], out + got, sizeof out - got);
        if (k > 0)
            got += (size_t)k;
    }
    ssize_t k;
    while ((k = read(sv[1], out + got, sizeof out - got)) > 0)
        got += (size_t)k;
    FUZZ_CHECK(fg_edge_open(edge) == 0, "a connection outlived its client");
    FUZZ_CHECK(fg_edge_limits_count(lim) == 0, "a slot not given back");
    if (!saw_head)
        check_replies(out, got);
    close(sv[1]);
    return 0;
}
