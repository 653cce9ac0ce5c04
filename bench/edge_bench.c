/* edge_bench.c — the HTTP edge (server/edge.c) against libevent's evhttp on
 * the same work: parse a keep-alive POST with an SDK-like head and a small
 * JSON body, answer 200 with a small JSON body.  Not a test.
 *
 * Each server runs alone on its own thread and event loop; a client thread
 * sends one request at a time over loopback TCP (blocking send, read the
 * whole reply, next).  What counts is the server thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) per request: parsing, the reply, the syscalls,
 * libevent — the client's own costs are excluded.  ROUNDS rounds alternate
 * edge and evhttp in one run; the median of each and their ratio are
 * printed.  Usage: build/edge_bench [requests per round, default 20000]. */
#include "edge.h"
#include "edge_limits.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5

static const char body[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
    "\"Say hello to the benchmark.\"}],\"max_tokens\":16}";
static const char answer[] = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{"
                             "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                             "\"Hello.\"},\"finish_reason\":\"stop\"}]}";
static char request[2048];
static size_t request_len;

struct server {
    struct event_base *base;
    int port;
    double cpu_s; /* the server thread's CPU time in the round */
    struct event *stop;
};

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static void *serve(void *arg)
{
    struct server *s = arg;
    double t0 = thread_cpu();
    event_base_dispatch(s->base);
    s->cpu_s = thread_cpu() - t0;
    return NULL;
}

/* ---------------- the edge */

static void edge_request(struct fg_edge_req *r, void *arg)
{
    size_t n = evbuffer_get_length(fg_edge_req_body(r));
    if (n != sizeof body - 1)
        abort();
    fg_edge_resp_header(r, "Content-Type", "application/json");
    fg_edge_reply_ref(r, 200, answer, sizeof answer - 1, NULL, NULL);
}

/* ---------------- evhttp */

static void evhttp_request_cb(struct evhttp_request *req, void *arg)
{
    size_t n = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    if (n != sizeof body - 1)
        abort();
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evbuffer_add_reference(out, answer, sizeof answer - 1, NULL, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", NULL);
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 128) ||
        getsockname(fd, (struct sockaddr *)&sa, &len))
        abort();
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---------------- the client */

static void run_client(int port, int n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa))
        abort();
    char buf[4096];
    for (int i = 0; i < n; i++) {
        if (send(fd, request, request_len, 0) != (ssize_t)request_len)
            abort();
        /* read until the reply's body (it ends the reply) is in */
        size_t got = 0;
        for (;;) {
            ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, 0);
            if (k <= 0)
                abort();
            got += (size_t)k;
            buf[got] = 0;
            char *end = strstr(buf, "\r\n\r\n");
            if (end && got - (size_t)(end + 4 - buf) >= sizeof answer - 1)
                break;
        }
    }
    close(fd);
}

static double round_us(bool edge, int n)
{
    struct server s = {.base = event_base_new()};
    s.stop = event_new(s.base, -1, 0, on_stop, s.base);
    int lfd = listen_any(&s.port);
    struct fg_edge *e = NULL;
    struct fg_edge_limits *lim = NULL;
    struct evhttp *http = NULL;
    if (edge) {
        struct fg_edge_cfg cfg = {.max_header_bytes = 65536,
                                  .max_headers = 100,
                                  .max_body_bytes = 1 << 20,
                                  .header_timeout_ms = 10000,
                                  .body_timeout_ms = 60000,
                                  .idle_timeout_ms = 120000,
                                  .linger_ms = 2000};
        struct fg_edge_hooks hooks = {.request = edge_request};
        lim = fg_edge_limits_new(8192, 512);
        e = fg_edge_new(s.base, &cfg, lim, &hooks);
        fg_edge_listen(e, lfd);
    } else {
        http = evhttp_new(s.base);
        evhttp_set_gencb(http, evhttp_request_cb, NULL);
        evhttp_set_timeout(http, 120);
        evutil_make_socket_nonblocking(lfd);
        evhttp_accept_socket(http, lfd);
    }
    pthread_t th;
    pthread_create(&th, NULL, serve, &s);
    run_client(s.port, n);
    event_active(s.stop, EV_TIMEOUT, 0);
    pthread_join(th, NULL);
    if (e) {
        fg_edge_free(e);
        fg_edge_limits_free(lim);
    } else {
        evhttp_free(http);
    }
    event_free(s.stop);
    event_base_free(s.base);
    return s.cpu_s * 1e6 / n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 20000;
    signal(SIGPIPE, SIG_IGN);
    request_len =
        (size_t)snprintf(request, sizeof request,
                         "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:4000\r\n"
                         "Accept: application/json\r\nContent-Type: application/json\r\n"
                         "User-Agent: OpenAI/JS 4.73.1\r\nX-Stainless-Lang: js\r\n"
                         "X-Stainless-Package-Version: 4.73.1\r\nX-Stainless-Runtime: node\r\n"
                         "Authorization: Bearer fg-0123456789abcdef0123456789abcdef\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         sizeof body - 1, body);
    if (evthread_use_pthreads()) /* the stop event is activated from the client's thread */
        return 1;
    /* EDGE_BENCH_ONLY=edge|evhttp: one of them, once (to count its calls
     * with strace or an allocation counter) */
    const char *only = getenv("EDGE_BENCH_ONLY");
    if (only) {
        printf("%s: %.2f us\n", only, round_us(!strcmp(only, "edge"), n));
        return 0;
    }
    double ed[ROUNDS], ev[ROUNDS];
    round_us(true, n / 10); /* warm both up */
    round_us(false, n / 10);
    for (int i = 0; i < ROUNDS; i++) {
        ed[i] = round_us(true, n);
        ev[i] = round_us(false, n);
    }
    qsort(ed, ROUNDS, sizeof ed[0], cmp);
    qsort(ev, ROUNDS, sizeof ev[0], cmp);
    printf(
        "edge_bench: %d keep-alive requests per round, %d rounds, server thread CPU per request\n",
        n, ROUNDS);
    printf("  edge    median %.2f us  (min %.2f, max %.2f)\n", ed[ROUNDS / 2], ed[0],
           ed[ROUNDS - 1]);
    printf("  evhttp  median %.2f us  (min %.2f, max %.2f)\n", ev[ROUNDS / 2], ev[0],
           ev[ROUNDS - 1]);
    printf("  edge / evhttp = %.2f\n", ed[ROUNDS / 2] / ev[ROUNDS / 2]);
    return 0;
}
