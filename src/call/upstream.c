/* upstream.c — see upstream.h.  The hiper-fifo pattern: curl tells us which
 * sockets to watch (socket callback) and when to wake it (timer callback);
 * libevent tells curl when a socket is ready. */
#include "upstream.h"

#include "arena.h"
#include "assert.h"
#include "log.h"

#include <event2/event_struct.h>
#include <stdlib.h>

#define EASY_POOL_MAX 64

struct fg_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int running;
    CURL *pool[EASY_POOL_MAX];
    int npool;
};

/* Per-socket watcher, attached to the socket via curl_multi_assign. */
struct sockw {
    struct event ev;
    short kind; /* events currently watched, 0 = not added */
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

        if (x && x->done)
            x->done(x, res);
    }
}

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
    struct fg_upstream *u = arg;
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

/* curl flips a connection between "want write" and "want read" on every
 * request; re-arm only when that changes so the loop issues as few
 * epoll_ctl calls as possible. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
    struct fg_upstream *u = arg;
    struct sockw *w = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            if (w->kind)
                event_del(&w->ev);
            free(w);
            curl_multi_assign(u->multi, s, NULL);
        }
        return 0;
    }
    short kind =
        EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!w) {
        w = fg_xcalloc(1, sizeof *w);
        curl_multi_assign(u->multi, s, w);
    }
    if (w->kind == kind)
        return 0;
    if (w->kind)
        event_del(&w->ev);
    event_assign(&w->ev, u->base, s, kind, on_socket_ready, u);
    event_add(&w->ev, NULL);
    w->kind = kind;
    return 0;
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
    curl_multi_cleanup(u->multi); /* closes cached connections */
    event_free(u->timer);
    free(u);
}

/* Every transfer goes only where config said: no redirects (a provider's
 * 3xx is answered as an error by relay.c, never followed to another host
 * with the provider key), plain HTTP(S) only. */
static CURL *confine(CURL *e)
{
    if (!e)
        return NULL;
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
        return confine(u->pool[--u->npool]); /* reset when pooled */
    return confine(curl_easy_init());
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
