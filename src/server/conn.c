/* conn.c — see conn.h.
 *
 * Each server connection gets a record when evhttp asks for its
 * bufferevent (fg_conns_bevcb).  The record is completed right after the
 * accept callback returns, before any byte of the connection is read: an
 * event activated in bevcb runs in the same loop pass, when evhttp has
 * finished setting the connection up.  It then knows the socket, the peer
 * and the evhttp_connection, counts the connection, and arms the header
 * deadline.  An evbuffer callback on the input buffer follows the bytes of
 * each request: its first byte (on a keep-alive connection), the blank
 * line ending the headers.  The request callback stops the clock.  The
 * record goes when evhttp closes the connection (its close callback). */
#include "conn.h"

#include "api.h"
#include "arena.h"
#include "log.h"
#include "server.h"

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

#define IP_BUCKETS 1024
#define FD_TABLE_MAX (1 << 21)
#define WARN_EVERY_NS 1000000000ull   /* at most one limit warning a second per worker */

enum phase { PH_SETUP, PH_HEADERS, PH_BODY, PH_BUSY };

struct fg_conn {
    struct fg_conns *set;
    struct bufferevent *bev;
    struct evhttp_connection *evcon;    /* once set up */
    struct evbuffer_cb_entry *watch;    /* on the input buffer */
    struct event *timer;                /* set-up, then the deadline */
    int fd;
    enum phase phase;
    int nl;                             /* header end scan: 0 in a line, 1 after LF, 2 after LF CR */
    bool ip_counted, refused;
    int refuse_status;
    uint8_t ip[16];
    char ipstr[INET6_ADDRSTRLEN];
    void (*user_cb)(struct evhttp_connection *, void *);
    void *user_arg;
    struct fg_conn *prev, *next;
};

struct fg_conns {
    struct event_base *base;
    const struct fg_server_cfg *cfg;
    struct fg_conn *list;
    int refusing;                       /* connections waiting for a refusal */
    uint64_t last_warn_ns;
    unsigned long quiet;                /* warnings held back since the last one */
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
    rlim_t want = (rlim_t)cfg->max_connections * 2 + 256;   /* clients + upstreams + files */
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

static void warn_limited(struct fg_conns *set, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn_limited(struct fg_conns *set, const char *fmt, ...)
{
    uint64_t now = fg_now_ns();
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
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(c->timer, &tv);
}

/* Forget the record: the connection is going (or never became one).
 * bev_alive: c->bev may still be used (we hold a reference, or evhttp has
 * not freed it yet). */
static void release(struct fg_conn *c, bool bev_alive)
{
    struct fg_conns *set = c->set;
    if (c->watch && bev_alive)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    if (c->evcon) {
        atomic_fetch_sub(&g_count, 1);
        if (c->fd >= 0 && c->fd < g_by_fd_cap)
            atomic_store(&g_by_fd[c->fd], NULL);
    }
    if (c->ip_counted)
        ip_add(c->ip, -1);
    if (c->refused)
        set->refusing--;
    if (c->prev)
        c->prev->next = c->next;
    else
        set->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    event_free(c->timer);
    free(c);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct fg_conn *c = arg;
    if (c->user_cb)
        c->user_cb(evcon, c->user_arg);
    release(c, true);
}

/* Bytes of a request arrived: start its clock on its first byte, move to
 * the body deadline at the blank line that ends its headers. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct fg_conn *c = arg;
    if (!info->n_added || !c->evcon)
        return;
    if (c->phase == PH_BUSY) {
        c->phase = PH_HEADERS;
        c->nl = 0;
        arm(c, c->set->cfg->header_timeout_ms);
    }
    if (c->phase != PH_HEADERS)
        return;
    size_t len = evbuffer_get_length(buf), at = len - info->n_added;
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
                        c->phase = PH_BODY;
                        arm(c, c->set->cfg->body_timeout_ms);
                        return;
                    }
                    c->nl = 1;
                } else {
                    c->nl = p[i] == '\r' && c->nl == 1 ? 2 : 0;
                }
            }
            at += n;
        }
    }
}

/* Count the connection against the limits; sets c->refused. */
static void count(struct fg_conn *c)
{
    struct fg_conns *set = c->set;
    const struct fg_server_cfg *cfg = set->cfg;
    int total = atomic_fetch_add(&g_count, 1) + 1;
    int from_ip = 0;
    if (cfg->max_connections_per_ip > 0 && c->ipstr[0]) {
        from_ip = ip_add(c->ip, 1);
        c->ip_counted = true;
    }
    if (total > cfg->max_connections) {
        c->refuse_status = 503;
        warn_limited(set, "connection from %s refused: %d open connections, over "
                     "server.max_connections (%d)", c->ipstr, total, cfg->max_connections);
    } else if (cfg->max_connections_per_ip > 0 && from_ip > cfg->max_connections_per_ip) {
        c->refuse_status = 429;
        warn_limited(set, "connection from %s refused: %d open connections from this address, "
                     "over server.max_connections_per_ip (%d)", c->ipstr, from_ip,
                     cfg->max_connections_per_ip);
    }
    if (c->refuse_status) {
        c->refused = true;
        set->refusing++;
    }
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
        c->ip[10] = c->ip[11] = 0xff;   /* as ::ffff:a.b.c.d */
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
    struct bufferevent *bev = c->bev;   /* we hold a reference until the end */
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
    count(c);
    c->phase = PH_HEADERS;
    c->nl = 0;
    if (c->refused && c->set->refusing > FG_CONN_REFUSE_BACKLOG)
        evhttp_connection_free(c->evcon);   /* frees c (on_close) */
    else
        arm(c, c->set->cfg->header_timeout_ms);
    bufferevent_decref(bev);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fg_conn *c = arg;
    if (c->phase == PH_SETUP) {
        setup(c);
        return;
    }
    if (c->phase == PH_BUSY)
        return;
    const struct fg_server_cfg *cfg = c->set->cfg;
    bool body = c->phase == PH_BODY;
    warn_limited(c->set, "client %s: request %s not received within %d ms (server.%s); "
                 "connection closed", c->ipstr[0] ? c->ipstr : "?", body ? "body" : "headers",
                 body ? cfg->body_timeout_ms : cfg->header_timeout_ms,
                 body ? "body_timeout_ms" : "header_timeout_ms");
    evhttp_connection_free(c->evcon);   /* frees c (on_close) */
}

struct bufferevent *fg_conns_bevcb(struct event_base *base, void *arg)
{
    struct fg_conns *set = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    struct fg_conn *c = fg_xcalloc(1, sizeof *c);
    c->set = set;
    c->bev = bev;
    c->fd = -1;
    c->timer = evtimer_new(base, on_timer, c);
    c->watch = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    c->next = set->list;
    if (set->list)
        set->list->prev = c;
    set->list = c;
    bufferevent_incref(bev);   /* setup() may find evhttp gave up on it */
    event_active(c->timer, EV_TIMEOUT, 1);
    return bev;
}

int fg_conns_request(struct fg_conns *set, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int fd = bev ? bufferevent_getfd(bev) : -1;
    struct fg_conn *c = fd >= 0 && fd < g_by_fd_cap ? atomic_load(&g_by_fd[fd]) : NULL;
    if (c && c->evcon == evcon) {
        event_del(c->timer);
        c->phase = PH_BUSY;
        if (c->refused) {
            char msg[200];
            if (c->refuse_status == 503)
                snprintf(msg, sizeof msg, "frugal is at its connection limit "
                         "(server.max_connections = %d); retry shortly.",
                         set->cfg->max_connections);
            else
                snprintf(msg, sizeof msg, "Too many connections from your address "
                         "(server.max_connections_per_ip = %d); reuse or close connections.",
                         set->cfg->max_connections_per_ip);
            fg_api_reject(req, c->refuse_status, "too_many_connections", msg);
            return 1;
        }
    }
    const char *uri = evhttp_request_get_uri(req);
    size_t size = (uri ? strlen(uri) : 0) + 16;   /* request line */
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next)
        size += strlen(kv->key) + strlen(kv->value) + 4;
    if (size > set->cfg->max_header_bytes) {
        char msg[200];
        snprintf(msg, sizeof msg, "Request headers are %zu bytes, over the gateway's limit of "
                 "%zu bytes (server.max_header_bytes).", size, set->cfg->max_header_bytes);
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

struct fg_conns *fg_conns_new(struct event_base *base, const struct fg_server_cfg *cfg)
{
    struct fg_conns *set = fg_xcalloc(1, sizeof *set);
    set->base = base;
    set->cfg = cfg;
    return set;
}

/* After evhttp_free(): what is left never got past set-up. */
void fg_conns_free(struct fg_conns *set)
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
    free(set);
}
