/* server.c — see server.h. */
#include "server.h"
#include "azure.h"
#include "snap.h"
#include "offq.h"
#include "readq.h"

#include "shared.h"

#include "affinity.h"
#include "clock.h"
#include "assert.h"

#include "api.h"
#include "arena.h"
#include "edge.h"
#include "edge_limits.h"
#include "wire.h"
#include "json.h"
#include "router.h"
#include "keystore.h"
#include "store.h"
#include "log.h"
#include "provider.h"
#include "relay.h"

_Static_assert(FG_EP_COUNT <= 8, "fg_provider_rt.url has room for every endpoint");
#include "upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_FLUSH_MS 100 /* let queued replies reach the socket before exit */
#define LINGER_MS 2000     /* a refused client's rest is read and dropped this long */

/* "host:port" or "[v6]:port" → addrinfo (caller frees). */
static struct addrinfo *resolve_listen(const char *listen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return NULL;
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return NULL;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *h = host;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai) != 0)
        return NULL;
    return ai;
}

static int open_listener(const char *addr, int port_override)
{
    struct addrinfo *ai = resolve_listen(addr);
    if (!ai) {
        fg_error("server.listen: cannot resolve '%s'", addr);
        return -1;
    }
    if (port_override > 0) {
        if (ai->ai_family == AF_INET)
            ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)port_override);
        else
            ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)port_override);
    }
    int one = 1;
    /* SO_REUSEPORT would let a second frugal share the port silently and
     * split the traffic between two processes: the first socket probes
     * without it, so an address in use is an error, as for any server. */
    int probe = port_override == 0 ? socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    if (probe >= 0) {
        setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int busy = bind(probe, ai->ai_addr, ai->ai_addrlen) < 0 && errno == EADDRINUSE;
        close(probe);
        if (busy) {
            fg_error("server.listen: %s is already in use (another frugal?)", addr);
            freeaddrinfo(ai);
            return -1;
        }
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        fg_error("server.listen: cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A call on w ended (runtime.h on_call_ended): the last one ends a drain. */
static void worker_call_ended(struct fg_worker *w)
{
    if (w->draining && w->inflight == 0) {
        struct timeval tv = {0, DRAIN_FLUSH_MS * 1000};
        event_base_loopexit(w->base, &tv);
    }
}

/* Calls still running are cut, each with an error its client can see
 * (a 503, or the stream's error event); the loop runs a moment longer so
 * those bytes reach the sockets. */
static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    struct fg_worker *w = arg;
    int ms = w->app->cfg->server.shutdown_grace_ms;
    if (w->inflight)
        fg_warn("worker %d: %d call(s) still running after the shutdown grace period; "
                "cutting them",
                w->index, w->inflight);
    struct fg_err e;
    fg_err_set(&e, FG_E_UNAVAILABLE, NULL, "shutting_down",
               "frugal shut down before this call finished (it "
               "was still running when server.shutdown_grace_ms = %d ran out); retry it.",
               ms);
    while (w->calls)
        fg_relay_cut(w->calls, &e);
    struct timeval tv = {0, DRAIN_FLUSH_MS * 1000};
    event_base_loopexit(w->base, &tv);
}

/* Runs on the worker's loop, activated from the signal thread: stop
 * accepting, close idle connections; busy ones close after their reply. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct fg_worker *w = arg;
    w->draining = true;
    fg_edge_drain(w->edge);
    w->fd = -1; /* closed with the edge's listener */
    if (w->inflight == 0) {
        /* replies being written get DRAIN_FLUSH_MS to reach their sockets */
        struct timeval tv = {0, DRAIN_FLUSH_MS * 1000};
        event_base_loopexit(w->base, &tv);
        return;
    }
    int ms = w->app->cfg->server.shutdown_grace_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(w->grace_ev, &tv);
}

/* server.* → the edge's settings (edge.h). */
static struct fg_edge_cfg edge_cfg(const struct fg_server_cfg *s)
{
    return (struct fg_edge_cfg){
        .max_header_bytes = s->max_header_bytes,
        .max_headers = s->max_header_fields,
        .max_body_bytes = s->max_body_bytes,
        .header_timeout_ms = s->header_timeout_ms,
        .header_timeout_busy_ms = s->header_timeout_busy_ms,
        .body_timeout_ms = s->body_timeout_ms,
        .idle_timeout_ms = s->client_timeout_ms,
        .linger_ms = LINGER_MS,
    };
}

static int worker_init(struct fg_app *app, struct fg_worker *w, int index)
{
    const struct fg_server_cfg *s = &app->cfg->server;
    w->app = app;
    w->index = index;
    w->on_call_ended = worker_call_ended;
    /* coalesce the add/del flurries of one loop turn into one epoll_ctl */
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    w->up = fg_upstream_new(w->base);
    w->stop_ev = event_new(w->base, -1, 0, on_stop, w);
    w->grace_ev = evtimer_new(w->base, on_grace_over, w);
    w->fd = open_listener(s->listen, app->listen_port);
    if (w->fd < 0)
        return -1;
    if (!app->listen_port)
        app->listen_port = bound_port(w->fd);
    struct fg_edge_cfg ecfg = edge_cfg(s);
    struct fg_edge_hooks hooks = fg_wire_hooks(w);
    w->edge = fg_edge_new(w->base, &ecfg, app->edge_limits, &hooks);
    if (fg_edge_listen(w->edge, w->fd) < 0) {
        fg_error("worker %d: cannot accept on the listening socket", index);
        close(w->fd);
        w->fd = -1;
        return -1;
    }
    return 0;
}

static void worker_free(struct fg_worker *w)
{
    fg_call_abort_all(w);
    fg_edge_free(w->edge); /* closes the listener and client connections */
    w->edge = NULL;
    fg_upstream_free(w->up);
    fg_store_close(w->store);
    fg_keystore_close(w->keystore);
    fg_api_worker_free(w);
    fg_snap_worker_drop(w); /* its calls are gone: their pins with them */
    if (w->stop_ev)
        event_free(w->stop_ev);
    if (w->grace_ev)
        event_free(w->grace_ev);
    if (w->base)
        event_base_free(w->base);
}

static void *worker_main(void *arg)
{
    struct fg_worker *w = arg;
    w->shared = fg_shared_loop_open(w->base); /* its connection lives on this loop */
    event_base_dispatch(w->base);
    /* calls cut at shutdown are freed on this thread, into its caches */
    fg_call_abort_all(w);
    fg_shared_loop_close(w->shared); /* settlements on the wire land first */
    w->shared = NULL;
    fg_arena_thread_cleanup();
    fg_json_thread_cleanup();
    fg_router_thread_cleanup();
    return NULL;
}

static char *join_url(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = fg_xmalloc(n);
    snprintf(s, n, "%s%s", a, b);
    return s;
}

/* Building a reloaded snapshot (app->boot names the running boot config):
 * a self-hosted provider the boot config has too, at the same cost, keeps
 * the boot one's hours (selfhost.h), since two would bill one server's
 * hours twice.  NULL: make one (a provider new to the reload, or a new cost:
 * the old one bills until the last call of its snapshot ends). */
static struct fg_selfhost *borrowed_selfhost(const struct fg_app *app,
                                             const struct fg_provider_cfg *p)
{
    const struct fg_config *boot = app->boot.cfg;
    if (!boot || boot == app->cfg || !app->boot.prov || p->cost.per_hour_micro < 0)
        return NULL;
    const struct fg_provider_cfg *b = fg_config_provider(boot, p->name);
    if (!b || b->cost.per_hour_micro != p->cost.per_hour_micro ||
        b->cost.max_concurrency != p->cost.max_concurrency)
        return NULL;
    return app->boot.prov[b - boot->providers].selfhost;
}

int fg_server_providers_init(struct fg_app *app)
{
    const struct fg_config *cfg = app->cfg;
    app->prov = fg_xcalloc(cfg->n_providers ? cfg->n_providers : 1, sizeof *app->prov);
    app->loads = fg_xcalloc(cfg->n_models ? cfg->n_models : 1, sizeof *app->loads);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct fg_provider_cfg *p = &cfg->providers[i];
        const char *base = p->base_url;
        if (p->type == FG_PROV_SIM && !base) {
            FG_ASSERT(app->sim_base[0]); /* the daemon started the sim */
            base = app->sim_base;
        }
        for (int d = 0; d < 2; d++)
            for (int st = 0; st < 2; st++) {
                struct curl_slist *h = fg_relay_base_headers(st);
                fg_provider_ops((enum fg_dialect)d)->upstream_headers(p, NULL, &h);
                app->prov[i].headers[d][st] = h;
            }
        struct fg_provider_rt *rt = &app->prov[i];
        rt->selfhost = borrowed_selfhost(app, p);
        rt->selfhost_borrowed = rt->selfhost != NULL;
        if (!rt->selfhost && p->cost.per_hour_micro >= 0)
            rt->selfhost = fg_selfhost_new(p->name, p->cost.per_hour_micro, p->cost.max_concurrency,
                                           fg_clock_wall_us());
        if (p->type == FG_PROV_OPENAI) {
            rt->openai_base = fg_xstrdup(base);
            rt->anthropic_base = fg_xstrdup(base);
        } else if (fg_azure_is(p)) {
            /* the resource's non-deployment paths (files, batches, stored
             * Responses); inference URLs are per deployment (azure.h) */
            rt->openai_base = join_url(base, "/openai");
            rt->anthropic_base = fg_xstrdup(base);
            continue;
        } else {
            rt->openai_base = join_url(base, "/v1");
            rt->anthropic_base = fg_xstrdup(base);
        }
        for (int d = 0; d < 2; d++)
            for (int ep = 0; ep < FG_EP_COUNT; ep++) {
                const char *path = fg_provider_ops((enum fg_dialect)d)->path(ep);
                /* OpenAI-dialect paths carry no /v1: the base has it */
                const char *b = d == FG_DIALECT_OPENAI ? rt->openai_base : rt->anthropic_base;
                rt->url[d][ep] = path ? join_url(b, path) : NULL;
            }
    }
    return 0;
}

void fg_server_providers_free(struct fg_app *app)
{
    for (size_t i = 0; app->prov && i < app->cfg->n_providers; i++) {
        if (!app->prov[i].selfhost_borrowed)
            fg_selfhost_free(app->prov[i].selfhost, fg_clock_wall_us());
        free(app->prov[i].openai_base);
        free(app->prov[i].anthropic_base);
        for (int d = 0; d < 2; d++)
            for (int ep = 0; ep < FG_EP_COUNT; ep++)
                free(app->prov[i].url[d][ep]);
        for (int d = 0; d < 2; d++)
            for (int st = 0; st < 2; st++)
                curl_slist_free_all(app->prov[i].headers[d][st]);
    }
    free(app->prov);
    free(app->loads);
    app->prov = NULL;
    app->loads = NULL;
}

static void announce(struct fg_app *app)
{
    const struct fg_config *cfg = app->cfg;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const struct fg_provider_cfg *p = &cfg->providers[i];
        const char *kind = p->type == FG_PROV_SIM      ? "simulated"
                           : p->type == FG_PROV_OPENAI ? "openai"
                           : p->type == FG_PROV_AZURE  ? "azure_openai"
                                                       : "anthropic";
        fg_info("provider %s (%s) at %s", p->name, kind,
                p->type == FG_PROV_SIM && !p->base_url ? app->sim_base : p->base_url);
    }
    if (cfg->builtin)
        fg_info("no config file: running on built-in defaults (%zu models; providers "
                "without OPENAI_API_KEY / ANTHROPIC_API_KEY are simulated)",
                cfg->n_models);
    const char *l = cfg->server.listen;
    const char *colon = strrchr(l, ':');
    printf("frugal listening on http://%.*s:%d (%d workers)\n", (int)(colon - l), l,
           app->listen_port, app->nworkers);
    fflush(stdout);
}

static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* a reload (reload.h), taken by the daemon's sigwait */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* glibc keeps freed heap for reuse: after a burst of large bodies a
 * gateway could sit on a gigabyte it no longer uses.  Large blocks (a body
 * pulled up whole) are mmapped and go back at free; the top of each heap is
 * trimmed past a few MB; a fixed number of arenas bounds how many heaps keep
 * such leftovers (wire.c also calls malloc_trim after large bodies). */
static void bound_heap(int nworkers)
{
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
    mallopt(M_ARENA_MAX, 2 * nworkers + 2);
}

/* Client connections and upstream ones need descriptors: raise the soft
 * RLIMIT_NOFILE toward what server.max_connections needs. */
static void raise_nofile(const struct fg_server_cfg *cfg)
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
}

void fg_server_init(struct fg_app *app, const struct fg_config *cfg)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    block_signals();
    evthread_use_pthreads();
    app->nworkers =
        cfg->server.workers > 0 ? cfg->server.workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (app->nworkers < 1)
        app->nworkers = 1;
    bound_heap(app->nworkers);
    app->workers = fg_xcalloc((size_t)app->nworkers, sizeof *app->workers);
    raise_nofile(&cfg->server);
    app->edge_limits =
        fg_edge_limits_new(cfg->server.max_connections, cfg->server.max_connections_per_ip);
}

int fg_server_start(struct fg_app *app)
{
    for (int i = 0; i < app->nworkers; i++)
        if (worker_init(app, &app->workers[i], i) < 0)
            return -1;
    for (; app->nstarted < app->nworkers; app->nstarted++)
        pthread_create(&app->workers[app->nstarted].thread, NULL, worker_main,
                       &app->workers[app->nstarted]);
    announce(app);
    return 0;
}

int fg_server_wait_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

void fg_server_drain(struct fg_app *app)
{
    for (int i = 0; i < app->nstarted; i++)
        event_active(app->workers[i].stop_ev, 0, 0);
}

void fg_server_join(struct fg_app *app, bool cut)
{
    if (cut)
        for (int i = 0; i < app->nstarted; i++)
            event_base_loopbreak(app->workers[i].base);
    for (int i = 0; i < app->nstarted; i++)
        pthread_join(app->workers[i].thread, NULL);
    app->nstarted = 0;
    fg_readq_stop(); /* it posts to the workers' bases: before they are freed */
    fg_offq_stop();  /* the same */
    for (int i = 0; app->workers && i < app->nworkers; i++)
        worker_free(&app->workers[i]);
    free(app->workers);
    app->workers = NULL;
}

void fg_server_free(struct fg_app *app)
{
    fg_snap_app_drop(app); /* a reloaded snapshot goes with its last reference */
    fg_server_providers_free(app);
    fg_edge_limits_free(app->edge_limits);
    app->edge_limits = NULL;
}
