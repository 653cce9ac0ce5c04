/* conn.c — see conn.h.
 *
 * Each server connection gets a record when evhttp asks for its
 * bufferevent (fg_conn_table_bevcb).  The record is completed right after the
 * accept callback returns, before any byte of the connection is read: an
 * event activated in bevcb runs in the same loop pass, when evhttp has
 * finished setting the connection up.  It then knows the socket, the peer
 * and the evhttp_connection, counts the connection, and arms the header
 * deadline.  An evbuffer callback on the input buffer follows the bytes of
 * each request as they are read, before evhttp parses them: its first byte
 * (on a keep-alive connection) starts the clock; its head is copied up to
 * the blank line and judged there (reqhead.h, gate.h), before a byte of
 * the body is kept.  A request refused there is answered by us, raw on the
 * bufferevent, whose callbacks we take over from evhttp for good; the
 * connection then drains and closes.  The request callback stops the
 * clock.  The record goes when evhttp closes the connection (its close
 * callback). */
#include "conn.h"

#include "api.h"
#include "arena.h"
#include "assert.h"
#include "gate.h"
#include "log.h"
#include "provider.h"
#include "reply.h"
#include "reqhead.h"
#include "server.h"
#include "vec.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define IP_BUCKETS 1024
#define FD_TABLE_MAX (1 << 21)
#define WARN_EVERY_NS 1000000000ull /* at most one limit warning a second per worker */
#define LINGER_MS 2000              /* after our own refusal: drain, then close */
#define LINGER_BYTES (4u << 20)     /* …or once this much was drained */

/* PH_HEADERS: the head is copied as it comes (c->head) and judged at its
 * blank line (reqhead.h, gate.h).  PH_BUSY: handed to the API, answer
 * pending; bytes of a pipelined next request wait in the input buffer and
 * are judged once the answer is out (on_req_complete).  PH_IDLE:
 * keep-alive, between requests.  PH_REJECT: we answered by ourselves and
 * drain until the close. */
enum phase { PH_SETUP, PH_HEADERS, PH_BODY, PH_BUSY, PH_IDLE, PH_REJECT };

struct fg_conn {
    struct fg_conn_table *set;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* once set up */
    struct evbuffer_cb_entry *watch; /* on the input buffer */
    struct event *timer;             /* set-up, then the deadline */
    struct event *retake;            /* see on_req_complete */
    int fd;
    enum phase phase;
    int nl;          /* header end scan: 0 in a line, 1 after LF, 2 after LF CR */
    int deadline_ms; /* the deadline armed for this phase */
    bool ip_counted, refused;
    bool place_freed; /* answered by us: no longer counted */
    bool sent_any;    /* any byte ever received */
    int refuse_status;
    char *head; /* PH_HEADERS: the head so far */
    size_t head_len, head_cap;
    uint64_t reserved;              /* body bytes booked in flight (gate.h) */
    bool chunked;                   /* PH_BODY: booked as its bytes come */
    const struct fg_dialect_ops *d; /* PH_BODY: the caller's dialect */
    size_t drained;                 /* PH_REJECT: bytes dropped */
    uint64_t opened_ns;
    uint8_t ip[16];
    char ipstr[INET6_ADDRSTRLEN];
    void (*user_cb)(struct evhttp_connection *, void *);
    void *user_arg;
    struct fg_conn *prev, *next;
};

struct fg_conn_table {
    struct event_base *base;
    const struct fg_config *full;
    const struct fg_server_cfg *cfg;
    struct fg_conn *list;
    struct event *trim_ev; /* after a large body was freed */
    uint64_t to_trim;
    int refusing; /* connections waiting for a refusal */
    uint64_t last_warn_ns;
    unsigned long quiet; /* warnings held back since the last one */
};

/* ---------------- process-wide: counts, per-address table, fd → record */

struct ipent {
    uint8_t ip[16];
    int n;
    struct ipent *next;
};

static atomic_int g_count;
static pthread_mutex_t g_ip_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ipent *g_ip[IP_BUCKETS];
static _Atomic(struct fg_conn *) *g_by_fd;
static int g_by_fd_cap;

int fg_conn_count(void)
{
    return atomic_load(&g_count);
}

void fg_conn_global_init(const struct fg_server_cfg *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->max_connections * 2 + 256; /* clients + upstreams + files */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < want)
            fg_warn("server.max_connections %d wants about %lu file descriptors and the limit "
                    "is %lu (ulimit -n): connections may fail before the cap refuses them",
                    cfg->max_connections, (unsigned long)want, (unsigned long)rl.rlim_cur);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        rl.rlim_cur = 65536;
    g_by_fd_cap = rl.rlim_cur > FD_TABLE_MAX ? FD_TABLE_MAX : (int)rl.rlim_cur;
    g_by_fd = fg_xcalloc((size_t)g_by_fd_cap, sizeof *g_by_fd);
    atomic_store(&g_count, 0);
}

void fg_conn_global_free(void)
{
    free((void *)g_by_fd);
    g_by_fd = NULL;
    g_by_fd_cap = 0;
    pthread_mutex_lock(&g_ip_mu);
    for (int b = 0; b < IP_BUCKETS; b++) {
        while (g_ip[b]) {
            struct ipent *e = g_ip[b];
            g_ip[b] = e->next;
            free(e);
        }
    }
    pthread_mutex_unlock(&g_ip_mu);
}

static unsigned ip_hash(const uint8_t *ip)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 16777619u;
    return h % IP_BUCKETS;
}

/* Adds d (+1 or -1) to the address's count; returns the new count. */
static int ip_add(const uint8_t *ip, int d)
{
    pthread_mutex_lock(&g_ip_mu);
    struct ipent **pp = &g_ip[ip_hash(ip)], *e;
    while ((e = *pp) && memcmp(e->ip, ip, 16))
        pp = &e->next;
    if (!e && d > 0) {
        e = fg_xcalloc(1, sizeof *e);
        memcpy(e->ip, ip, 16);
        *pp = e;
    }
    int n = 0;
    if (e) {
        n = e->n += d;
        if (n <= 0) {
            *pp = e->next;
            free(e);
        }
    }
    pthread_mutex_unlock(&g_ip_mu);
    return n;
}

/* ---------------- one connection */

static void warn_limited(struct fg_conn_table *set, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn_limited(struct fg_conn_table *set, const char *fmt, ...)
{
    uint64_t now = fg_clock_now_ns();
    if (set->last_warn_ns && now - set->last_warn_ns < WARN_EVERY_NS) {
        set->quiet++;
        return;
    }
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (set->quiet)
        fg_warn("%s (%lu more limit messages held back since the last)", msg, set->quiet);
    else
        fg_warn("%s", msg);
    set->last_warn_ns = now;
    set->quiet = 0;
}

static void arm(struct fg_conn *c, int ms)
{
    c->deadline_ms = ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(c->timer, &tv);
}

/* Give back the body bytes booked for the request in flight; a large body
 * is freed by evhttp right after, so the heap is trimmed a loop turn later. */
static void unbook(struct fg_conn *c)
{
    if (!c->reserved)
        return;
    fg_gate_release(c->reserved);
    if (c->reserved >= FG_GATE_TRIM_BYTES) {
        c->set->to_trim += c->reserved;
        event_active(c->set->trim_ev, EV_TIMEOUT, 1);
    }
    c->reserved = 0;
}

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
    struct fg_conn_table *set = arg;
    fg_gate_trim(set->to_trim);
    set->to_trim = 0;
}

/* The connection stops counting against the limits (it is closing). */
static void free_place(struct fg_conn *c)
{
    if (c->place_freed)
        return;
    c->place_freed = true;
    int was = atomic_fetch_sub(&g_count, 1);
    FG_ASSERT(was > 0); /* each connection's place is freed once */
    (void)was;
    if (c->ip_counted)
        ip_add(c->ip, -1);
    c->ip_counted = false;
    if (c->refused) {
        FG_ASSERT(c->set->refusing > 0);
        c->set->refusing--;
    }
    c->refused = false;
}

/* Forget the record: the connection is going (or never became one).
 * bev_alive: c->bev may still be used (we hold a reference, or evhttp has
 * not freed it yet). */
static void release(struct fg_conn *c, bool bev_alive)
{
    struct fg_conn_table *set = c->set;
    if (c->watch && bev_alive)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    if (c->evcon) {
        free_place(c);
        if (c->fd >= 0 && c->fd < g_by_fd_cap)
            atomic_store(&g_by_fd[c->fd], NULL);
    }
    unbook(c);
    free(c->head);
    if (c->prev)
        c->prev->next = c->next;
    else
        set->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    event_free(c->timer);
    if (c->retake)
        event_free(c->retake);
    free(c);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct fg_conn *c = arg;
    if (c->user_cb)
        c->user_cb(evcon, c->user_arg);
    release(c, true);
}

/* ---------------- our own answers: written raw, then a lingering close */

static void close_now(struct fg_conn *c)
{
    evhttp_connection_free(c->evcon); /* frees c (on_close) */
}

static void linger_read(struct bufferevent *bev, void *arg)
{
    struct fg_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    c->drained += evbuffer_get_length(in);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (c->drained > LINGER_BYTES)
        close_now(c);
}

/* The answer is out: no more from us; the client's EOF (or the linger
 * deadline) ends it. */
static void linger_write(struct bufferevent *bev, void *arg)
{
    struct fg_conn *c = arg;
    shutdown(c->fd, SHUT_WR);
}

static void linger_event(struct bufferevent *bev, short what, void *arg)
{
    close_now(arg);
}

/* Answer in dialect d by ourselves and close: the request's body (if any)
 * is never buffered, and nothing after the head is parsed as a request.
 * evhttp's callbacks on the bufferevent are replaced by ours for good. */
static void reject(struct fg_conn *c, const struct fg_dialect_ops *d, int status, const char *code,
                   const char *msg, bool head_only)
{
    struct fg_err e;
    enum fg_err_class cls = status == 401                    ? FG_E_AUTH
                            : status == 404                  ? FG_E_NOT_FOUND
                            : status == 413 || status == 431 ? FG_E_TOO_LARGE
                            : status == 429                  ? FG_E_RATE_LIMIT
                            : status == 503                  ? FG_E_UNAVAILABLE
                                                             : FG_E_INVALID;
    fg_err_set(&e, cls, NULL, code, "%s", msg);
    e.status = status;
    struct evbuffer *body = evbuffer_new();
    d->error_body(&e, body);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                        status, fg_httpstatus_reason(status), evbuffer_get_length(body),
                        status < 500 && status != 429 ? "x-should-retry: false\r\n" : "");
    if (!head_only)
        evbuffer_add_buffer(out, body);
    evbuffer_free(body);
    c->phase = PH_REJECT;
    free_place(c); /* draining it holds a descriptor, not a place */
    free(c->head);
    c->head = NULL;
    c->head_len = c->head_cap = 0;
    unbook(c);
    bufferevent_setcb(c->bev, linger_read, linger_write, linger_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    arm(c, LINGER_MS);
}

/* Which dialect a head cut short speaks (for a 431 before its end). */
static const struct fg_dialect_ops *guess_partial(const char *p, size_t n)
{
    static const char want[] = "\nanthropic-version:";
    for (size_t i = 0; i + sizeof want - 1 <= n; i++)
        if (!strncasecmp(p + i, want, sizeof want - 1))
            return &fg_provider_anthropic;
    const char *sp = memchr(p, ' ', n);
    if (sp && (size_t)(p + n - sp) > 13 && !memcmp(sp + 1, "/v1/messages", 12))
        return &fg_provider_anthropic;
    return &fg_provider_openai;
}

static void refused_msg(const struct fg_conn *c, char *msg, size_t n)
{
    const struct fg_server_cfg *cfg = c->set->cfg;
    if (c->refuse_status == 503)
        snprintf(msg, n,
                 "frugal is at its connection limit (server.max_connections = %d); "
                 "retry shortly.",
                 cfg->max_connections);
    else
        snprintf(msg, n,
                 "Too many connections from your address "
                 "(server.max_connections_per_ip = %d); reuse or close connections.",
                 cfg->max_connections_per_ip);
}

/* Book n more body bytes in flight; false after refusing the request. */
static bool book(struct fg_conn *c, uint64_t n, bool head_only)
{
    const struct fg_server_cfg *cfg = c->set->cfg;
    if (fg_gate_reserve(n, cfg->max_body_bytes_in_flight)) {
        c->reserved += n;
        return true;
    }
    warn_limited(c->set,
                 "client %s: request body refused: %llu bytes of request bodies in "
                 "flight, %llu more would pass server.max_body_bytes_in_flight (%zu)",
                 c->ipstr, (unsigned long long)fg_gate_in_flight(), (unsigned long long)n,
                 cfg->max_body_bytes_in_flight);
    char msg[300];
    snprintf(msg, sizeof msg,
             "frugal is receiving as many request bodies as it takes at "
             "once (server.max_body_bytes_in_flight = %zu bytes); retry shortly.",
             cfg->max_body_bytes_in_flight);
    reject(c, c->d, 503, "server_busy", msg, head_only);
    return false;
}

/* The head is complete: judge it before a byte of the body is kept. */
static void head_done(struct fg_conn *c)
{
    const struct fg_server_cfg *cfg = c->set->cfg;
    struct fg_reqhead h;
    char msg[400];
    c->phase = PH_BODY;
    arm(c, cfg->body_timeout_ms);
    if (fg_reqhead_parse(c->head, c->head_len, &h) < 0) {
        warn_limited(c->set, "client %s: malformed request refused: %s", c->ipstr, h.err);
        snprintf(msg, sizeof msg, "Malformed HTTP request: %s; the connection is closed.", h.err);
        reject(c, fg_gate_dialect(&h), 400, "invalid_http_request", msg, false);
        return;
    }
    bool head_only = fg_reqhead_span_is(h.method, "HEAD");
    if (c->refused) {
        refused_msg(c, msg, sizeof msg);
        reject(c, fg_gate_dialect(&h), c->refuse_status, "too_many_connections", msg, head_only);
        return;
    }
    struct fg_gate_verdict v;
    fg_gate_check(c->set->full, &h, &v);
    if (v.status) {
        reject(c, v.d, v.status, v.code, v.msg, head_only);
        return;
    }
    c->chunked = h.chunked;
    c->d = v.d;
    if (!book(c, h.length, head_only))
        return;
    /* evhttp then stops a chunked body at the path's cap */
    evhttp_connection_set_max_body_size(c->evcon, (ev_ssize_t)v.body_cap);
    free(c->head);
    c->head = NULL;
    c->head_len = c->head_cap = 0;
}

/* Copy n more head bytes; false after refusing a head over the limit. */
static bool head_add(struct fg_conn *c, const unsigned char *p, size_t n)
{
    size_t max = c->set->cfg->max_header_bytes;
    if (c->head_len + n > max) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Request headers are over the gateway's limit of %zu bytes "
                 "(server.max_header_bytes).",
                 max);
        const struct fg_dialect_ops *d = guess_partial(c->head ? c->head : "", c->head_len);
        reject(c, d, 431, "request_headers_too_large", msg, false);
        return false;
    }
    FG_VEC_RESERVE(c->head, c->head_len + n, c->head_cap);
    memcpy(c->head + c->head_len, p, n);
    c->head_len += n;
    FG_DASSERT(c->head_len <= max && c->head_len <= c->head_cap);
    return true;
}

/* Runs in the loop pass that answered a pipelined request, after evhttp
 * reset the callbacks and before its deferred read (which calls whatever
 * read callback the bufferevent has then). */
static void on_retake(evutil_socket_t fd, short what, void *arg)
{
    struct fg_conn *c = arg;
    bufferevent_setcb(c->bev, linger_read, linger_write, linger_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Copy the head from offset `at` of buf up to its blank line, then judge
 * it (head_done); stops early once the connection was answered. */
static void scan(struct fg_conn *c, struct evbuffer *buf, size_t at)
{
    size_t len = evbuffer_get_length(buf);
    while (at < len) {
        struct evbuffer_ptr pos;
        struct evbuffer_iovec v[8];
        if (evbuffer_ptr_set(buf, &pos, at, EVBUFFER_PTR_SET) < 0)
            return;
        int nv = evbuffer_peek(buf, (ev_ssize_t)(len - at), &pos, v, 8);
        if (nv <= 0)
            return;
        for (int k = 0; k < nv && k < 8 && at < len; k++) {
            const unsigned char *p = v[k].iov_base;
            size_t n = v[k].iov_len < len - at ? v[k].iov_len : len - at;
            for (size_t i = 0; i < n; i++) {
                if (p[i] == '\n') {
                    if (c->nl) {
                        if (head_add(c, p, i + 1))
                            head_done(c);
                        return;
                    }
                    c->nl = 1;
                } else {
                    c->nl = p[i] == '\r' && c->nl == 1 ? 2 : 0;
                }
            }
            if (!head_add(c, p, n))
                return;
            at += n;
        }
    }
}

/* Bytes arrived: a new request starts its clock on its first byte; its
 * head is copied up to the blank line, then judged (head_done). */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct fg_conn *c = arg;
    if (!info->n_added || !c->evcon || c->phase == PH_REJECT)
        return;
    c->sent_any = true;
    if (c->phase == PH_BUSY)
        return; /* pipelined behind a request in flight: judged when it is answered */
    if (c->phase == PH_IDLE) {
        c->phase = PH_HEADERS;
        c->nl = 0;
        arm(c, c->set->cfg->header_timeout_ms);
    }
    if (c->phase == PH_BODY && c->chunked) {
        book(c, info->n_added, false); /* its size is known as it comes */
        return;
    }
    if (c->phase == PH_HEADERS)
        scan(c, buf, evbuffer_get_length(buf) - info->n_added);
}

/* The answer to a request went out (evhttp_send_done): the connection is
 * idle unless the next request's bytes came meanwhile. */
static void on_req_complete(struct evhttp_request *req, void *arg)
{
    struct fg_conn *c = arg;
    unbook(c);
    if (c->phase != PH_BUSY)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->phase = PH_IDLE;
    if (!evbuffer_get_length(in))
        return;
    /* pipelined: the bytes left start the next request (evhttp took exactly
     * this one's); judge its head now */
    c->phase = PH_HEADERS;
    c->nl = 0;
    arm(c, c->set->cfg->header_timeout_ms);
    scan(c, in, 0);
    if (c->phase == PH_REJECT) {
        /* evhttp is about to set its own callbacks again for the next
         * request (evhttp_start_read_): take the connection back after */
        if (!c->retake)
            c->retake = event_new(c->set->base, -1, 0, on_retake, c);
        event_active(c->retake, EV_TIMEOUT, 1);
    }
}

/* Count the connection against the limits; sets c->refused; returns the
 * open connections now. */
static int count(struct fg_conn *c)
{
    struct fg_conn_table *set = c->set;
    const struct fg_server_cfg *cfg = set->cfg;
    int total = atomic_fetch_add(&g_count, 1) + 1;
    int from_ip = 0;
    if (cfg->max_connections_per_ip > 0 && c->ipstr[0]) {
        from_ip = ip_add(c->ip, 1);
        c->ip_counted = true;
    }
    if (total > cfg->max_connections) {
        c->refuse_status = 503; /* unless setup() sheds an unused connection */
    } else if (cfg->max_connections_per_ip > 0 && from_ip > cfg->max_connections_per_ip) {
        c->refuse_status = 429;
        warn_limited(set,
                     "connection from %s refused: %d open connections from this address, "
                     "over server.max_connections_per_ip (%d)",
                     c->ipstr, from_ip, cfg->max_connections_per_ip);
    }
    if (c->refuse_status) {
        c->refused = true;
        set->refusing++;
    }
    return total;
}

/* c is over server.max_connections: close the oldest connection of this
 * worker that holds a place without using it (never sent a byte, or idle
 * between keep-alive requests) so that c can have it.  true = done. */
static bool shed(struct fg_conn *c)
{
    struct fg_conn *victim = NULL;
    for (struct fg_conn *o = c->set->list; o; o = o->next) {
        bool silent = o->phase == PH_HEADERS && !o->sent_any;
        if (o != c && o->evcon && !o->refused && (silent || o->phase == PH_IDLE))
            victim = o; /* the list is newest first: keep the last one */
    }
    if (!victim)
        return false;
    warn_limited(c->set,
                 "at server.max_connections (%d): closed an unused connection from %s "
                 "(open %llu ms, %s) to admit %s",
                 c->set->cfg->max_connections, victim->ipstr[0] ? victim->ipstr : "?",
                 (unsigned long long)((fg_clock_now_ns() - victim->opened_ns) / 1000000),
                 victim->sent_any ? "idle between requests" : "nothing sent", c->ipstr);
    char msg[200];
    snprintf(msg, sizeof msg,
             "frugal is at its connection limit (server.max_connections = %d) "
             "and closed this unused connection; retry on a new one.",
             c->set->cfg->max_connections);
    reject(victim, &fg_provider_openai, 503, "too_many_connections", msg, false);
    c->refused = false;
    c->refuse_status = 0;
    FG_ASSERT(c->set->refusing > 0);
    c->set->refusing--;
    return true;
}

static void peer(struct fg_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    memset(c->ip, 0, sizeof c->ip);
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        c->ip[10] = c->ip[11] = 0xff; /* as ::ffff:a.b.c.d */
        memcpy(c->ip + 12, &a->sin_addr, 4);
        inet_ntop(AF_INET, &a->sin_addr, c->ipstr, sizeof c->ipstr);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        memcpy(c->ip, &a->sin6_addr, 16);
        inet_ntop(AF_INET6, &a->sin6_addr, c->ipstr, sizeof c->ipstr);
    }
}

/* Right after accept: evhttp has the connection set up. */
static void setup(struct fg_conn *c)
{
    struct bufferevent *bev = c->bev; /* we hold a reference until the end */
    bufferevent_data_cb rd = NULL;
    void *arg = NULL;
    bufferevent_getcb(bev, &rd, NULL, NULL, &arg);
    int fd = bufferevent_getfd(bev);
    if (!rd || !arg || fd < 0 || fd >= g_by_fd_cap) {
        /* evhttp gave up on it already, or a descriptor beyond the table:
         * leave it to evhttp, uncounted */
        release(c, true);
        bufferevent_decref(bev);
        return;
    }
    c->evcon = arg;
    c->fd = fd;
    evhttp_connection_set_closecb(c->evcon, on_close, c);
    atomic_store(&g_by_fd[fd], c);
    peer(c);
    int total = count(c);
    c->phase = PH_HEADERS;
    c->nl = 0;
    const struct fg_server_cfg *cfg = c->set->cfg;
    if (c->refused && c->refuse_status == 503) {
        if (shed(c))
            total--;
        else
            warn_limited(c->set,
                         "connection from %s refused: %d open connections, over "
                         "server.max_connections (%d)",
                         c->ipstr, total, cfg->max_connections);
    }
    if (c->refused && c->set->refusing > FG_CONN_REFUSE_BACKLOG) {
        /* too many wait for their refusal already: answer before the request */
        char msg[200];
        refused_msg(c, msg, sizeof msg);
        reject(c, &fg_provider_openai, c->refuse_status, "too_many_connections", msg, false);
    } else {
        /* near the cap a silent connection gets less time to speak up */
        bool busy = total > cfg->max_connections - cfg->max_connections / 4;
        arm(c, busy && cfg->header_timeout_busy_ms < cfg->header_timeout_ms
                   ? cfg->header_timeout_busy_ms
                   : cfg->header_timeout_ms);
    }
    bufferevent_decref(bev);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fg_conn *c = arg;
    if (c->phase == PH_SETUP) {
        setup(c);
        return;
    }
    if (c->phase == PH_REJECT) {
        close_now(c);
        return;
    }
    if (c->phase != PH_HEADERS && c->phase != PH_BODY)
        return;
    const struct fg_server_cfg *cfg = c->set->cfg;
    bool body = c->phase == PH_BODY;
    const char *key = body                                       ? "body_timeout_ms"
                      : c->deadline_ms == cfg->header_timeout_ms ? "header_timeout_ms"
                                                                 : "header_timeout_busy_ms";
    warn_limited(c->set,
                 "client %s: request %s not received within %d ms (server.%s); "
                 "connection closed",
                 c->ipstr[0] ? c->ipstr : "?", body ? "body" : "headers", c->deadline_ms, key);
    evhttp_connection_free(c->evcon); /* frees c (on_close) */
}

struct bufferevent *fg_conn_table_bevcb(struct event_base *base, void *arg)
{
    struct fg_conn_table *set = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    struct fg_conn *c = fg_xcalloc(1, sizeof *c);
    c->set = set;
    c->bev = bev;
    c->fd = -1;
    c->opened_ns = fg_clock_now_ns();
    c->timer = evtimer_new(base, on_timer, c);
    c->watch = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    c->next = set->list;
    if (set->list)
        set->list->prev = c;
    set->list = c;
    bufferevent_incref(bev); /* setup() may find evhttp gave up on it */
    event_active(c->timer, EV_TIMEOUT, 1);
    return bev;
}

int fg_conn_table_request(struct fg_conn_table *set, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int fd = bev ? bufferevent_getfd(bev) : -1;
    struct fg_conn *c = fd >= 0 && fd < g_by_fd_cap ? atomic_load(&g_by_fd[fd]) : NULL;
    if (c && c->evcon == evcon) {
        event_del(c->timer);
        c->phase = PH_BUSY;
        evhttp_request_set_on_complete_cb(req, on_req_complete, c);
        if (c->refused) { /* not judged at its head (a head over libevent's limit) */
            char msg[200];
            refused_msg(c, msg, sizeof msg);
            fg_api_reject(req, c->refuse_status, "too_many_connections", msg);
            return 1;
        }
    }
    const char *uri = evhttp_request_get_uri(req);
    size_t size = (uri ? strlen(uri) : 0) + 16; /* request line */
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next)
        size += strlen(kv->key) + strlen(kv->value) + 4;
    if (size > set->cfg->max_header_bytes) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Request headers are %zu bytes, over the gateway's limit of "
                 "%zu bytes (server.max_header_bytes).",
                 size, set->cfg->max_header_bytes);
        fg_api_reject(req, 431, "request_headers_too_large", msg);
        return 1;
    }
    return 0;
}

void fg_conn_set_closecb(struct evhttp_connection *evcon,
                         void (*cb)(struct evhttp_connection *, void *), void *arg)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    int fd = bev ? bufferevent_getfd(bev) : -1;
    struct fg_conn *c = fd >= 0 && fd < g_by_fd_cap ? atomic_load(&g_by_fd[fd]) : NULL;
    if (c && c->evcon == evcon) {
        c->user_cb = cb;
        c->user_arg = arg;
        return;
    }
    evhttp_connection_set_closecb(evcon, cb, arg);
}

struct fg_conn_table *fg_conn_table_new(struct event_base *base, const struct fg_config *cfg)
{
    struct fg_conn_table *set = fg_xcalloc(1, sizeof *set);
    set->base = base;
    set->full = cfg;
    set->cfg = &cfg->server;
    set->trim_ev = event_new(base, -1, 0, on_trim, set);
    return set;
}

/* After evhttp_free(): what is left never got past set-up. */
void fg_conn_table_free(struct fg_conn_table *set)
{
    if (!set)
        return;
    while (set->list) {
        struct fg_conn *c = set->list;
        struct bufferevent *bev = c->evcon ? NULL : c->bev;
        release(c, bev != NULL);
        if (bev)
            bufferevent_decref(bev);
    }
    event_free(set->trim_ev);
    free(set);
}
