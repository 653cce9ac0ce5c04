/* upstream.c — see upstream.h.  The hiper-fifo pattern: curl tells us which
 * sockets to watch (socket callback) and when to wake it (timer callback);
 * libevent tells curl when a socket is ready. */
#include "upstream.h"

#include "arena.h"
#include "assert.h"
#include "log.h"

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define EASY_POOL_MAX 64

struct fg_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int running;
    CURL *pool[EASY_POOL_MAX];
    int npool;
    /* Every watcher by fd (owner of the watchers): curl forgets a socket
     * (CURL_POLL_REMOVE) each time its connection goes back to the cache,
     * but we keep the watcher, still armed, until curl closes the socket. */
    struct sockw **byfd;
    int nbyfd;
};

/* Per-socket watcher, attached to the socket via curl_multi_assign while
 * curl uses the socket, "parked" while its connection idles in the cache. */
struct sockw {
    struct event ev;
    struct fg_upstream *u;
    curl_socket_t fd;
    short kind;  /* events currently watched, 0 = not added */
    bool parked; /* curl is not watching it: readiness is not curl's business */
    bool conn;   /* a connection socket (open_cb): closed through close_cb */
};

static void check_done(struct fg_upstream *u)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(u->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct fg_xfer *x = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        FG_DASSERT(!x || x->easy == easy); /* the transfer owns the handle it ran on */
        curl_multi_remove_handle(u->multi, easy);
        curl_off_t t = 0;
        if (x && curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &t) == CURLE_OK && t > 0)
            x->total_us += (int64_t)t;
        if (x && x->done)
            x->done(x, res);
    }
}

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
    struct sockw *w = arg;
    struct fg_upstream *u = w->u;
    if (w->parked) {
        /* an idle cached connection got data or EOF: stop watching it (a
         * level-triggered event would fire forever); curl's liveness check
         * deals with the connection when it next picks it */
        event_del(&w->ev);
        w->kind = 0;
        return;
    }
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(u->multi, fd, flags, &u->running);
    check_done(u);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fg_upstream *u = arg;
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &u->running);
    check_done(u);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    struct fg_upstream *u = arg;
    if (timeout_ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(u->timer, &tv);
    return 0;
}

/* The watcher of fd, created (not added) when there is none. */
static struct sockw *watcher(struct fg_upstream *u, curl_socket_t s)
{
    FG_ASSERT(s >= 0);
    if (s >= u->nbyfd) {
        int n = u->nbyfd ? u->nbyfd : 64;
        while (n <= s)
            n *= 2;
        u->byfd = fg_xrealloc(u->byfd, (size_t)n * sizeof *u->byfd);
        for (int i = u->nbyfd; i < n; i++)
            u->byfd[i] = NULL;
        u->nbyfd = n;
    }
    if (!u->byfd[s]) {
        struct sockw *w = fg_xcalloc(1, sizeof *w);
        w->u = u;
        w->fd = s;
        u->byfd[s] = w;
    }
    return u->byfd[s];
}

static void watcher_free(struct fg_upstream *u, struct sockw *w)
{
    FG_DASSERT(w && w->fd < u->nbyfd && u->byfd[w->fd] == w);
    if (w->kind)
        event_del(&w->ev);
    u->byfd[w->fd] = NULL;
    free(w);
}

/* curl flips a connection between "want write" and "want read" and forgets
 * it between requests (CURL_POLL_REMOVE when it goes back to the cache,
 * re-added on reuse); re-arm only when the wanted events change, and leave
 * a cached connection's read interest armed, so a reused connection costs
 * no epoll_ctl at all.  The watcher goes when curl closes the socket. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
    struct fg_upstream *u = arg;
    struct sockw *w = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            curl_multi_assign(u->multi, s, NULL);
            /* only connection sockets are parked: curl closes others (the
             * resolver's socketpair) without close_cb, and a watcher must
             * never outlive its fd */
            if (w->conn)
                w->parked = true;
            else
                watcher_free(u, w);
        }
        return 0;
    }
    short kind =
        EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!w) {
        w = watcher(u, s);
        w->parked = false;
        curl_multi_assign(u->multi, s, w);
    }
    if (w->kind == kind)
        return 0;
    if (w->kind)
        event_del(&w->ev);
    event_assign(&w->ev, u->base, s, kind, on_socket_ready, w);
    event_add(&w->ev, NULL);
    w->kind = kind;
    return 0;
}

/* Connection sockets are opened here so their watchers know they will be
 * closed through close_cb (curl's own socket() call, same arguments). */
static curl_socket_t open_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct fg_upstream *u = arg;
    curl_socket_t s = socket(a->family, a->socktype, a->protocol);
    if (s == CURL_SOCKET_BAD)
        return s;
    if (s < u->nbyfd && u->byfd[s])
        watcher_free(u, u->byfd[s]); /* stale: its fd was closed behind our back */
    watcher(u, s)->conn = true;
    return s;
}

/* curl closes every socket it opened through open_cb (connections of the
 * cache included, at curl_multi_cleanup): the socket's watcher goes first,
 * so no event outlives its fd. */
static int close_cb(void *arg, curl_socket_t s)
{
    struct fg_upstream *u = arg;
    if (s >= 0 && s < u->nbyfd && u->byfd[s])
        watcher_free(u, u->byfd[s]);
    return close(s);
}

struct fg_upstream *fg_upstream_new(struct event_base *base)
{
    struct fg_upstream *u = fg_xcalloc(1, sizeof *u);
    u->base = base;
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, on_timer, u);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    /* keep-alive pool: enough idle connections for a busy worker */
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 512L);
    return u;
}

void fg_upstream_free(struct fg_upstream *u)
{
    if (!u)
        return;
    for (int i = 0; i < u->npool; i++)
        curl_easy_cleanup(u->pool[i]);
    curl_multi_cleanup(u->multi); /* closes cached connections (close_cb) */
    for (int i = 0; i < u->nbyfd; i++)
        if (u->byfd[i])
            watcher_free(u, u->byfd[i]);
    free(u->byfd);
    event_free(u->timer);
    free(u);
}

/* Every transfer goes only where config said: no redirects (a provider's
 * 3xx is answered as an error by relay.c, never followed to another host
 * with the provider key), plain HTTP(S) only. */
static CURL *confine(struct fg_upstream *u, CURL *e)
{
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, u);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, u);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    return e;
}

CURL *fg_upstream_easy(struct fg_upstream *u)
{
    if (u->npool > 0)
        return confine(u, u->pool[--u->npool]); /* reset when pooled */
    return confine(u, curl_easy_init());
}

int fg_upstream_add(struct fg_upstream *u, struct fg_xfer *x)
{
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    return curl_multi_add_handle(u->multi, x->easy) == CURLM_OK ? 0 : -1;
}

static void pool_put(struct fg_upstream *u, CURL *easy)
{
    FG_DASSERT(easy && u->npool >= 0 && u->npool <= EASY_POOL_MAX);
    /* a handle pooled twice would serve two transfers at once */
    FG_DASSERT(!u->npool || u->pool[u->npool - 1] != easy);
    if (u->npool < EASY_POOL_MAX) {
        curl_easy_reset(easy);
        u->pool[u->npool++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

void fg_upstream_cancel(struct fg_upstream *u, struct fg_xfer *x)
{
    if (!x->easy)
        return;
    curl_multi_remove_handle(u->multi, x->easy);
    /* a connection torn mid-transfer is not reused by curl */
    pool_put(u, x->easy);
    x->easy = NULL;
}

void fg_upstream_release(struct fg_upstream *u, struct fg_xfer *x)
{
    if (!x->easy)
        return;
    pool_put(u, x->easy);
    x->easy = NULL;
}
