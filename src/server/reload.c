/* reload.c — see reload.h. */
#include "reload.h"

#include "reload_diff.h"
#include "server.h"
#include "snap.h"

#include "assert.h"
#include "arena.h"
#include "edge.h"
#include "log.h"
#include "redact.h"
#include "reply.h"
#include "route.h"

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A POST waiting for (or answered by) the reload thread. */
struct job {
    struct fg_worker *w;
    struct fg_edge_req *req;
    int status;
    json_t *out;
    struct job *next;
};

static struct {
    struct fg_app *app;
    char sim_key[65];
    pthread_mutex_t reload_mu; /* one reload at a time (signal or POST) */
    uint64_t generation;
    pthread_mutex_t mu; /* the queue and `running` */
    pthread_cond_t cv;
    struct job *head, **tail;
    bool running, started;
    pthread_t thread;
} g = {.reload_mu = PTHREAD_MUTEX_INITIALIZER,
       .mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER};

/* ---- the snapshot of a reloaded config --------------------------------- */

/* An app holding s's parts: what the builders (route.c, server.c) fill and
 * free. */
static void as_app(const struct fg_snap *s, struct fg_app *a)
{
    memset(a, 0, sizeof *a);
    a->cfg = s->cfg;
    a->prov = s->prov;
    a->loads = s->loads;
    a->routers = s->routers;
    a->optpoints = s->optpoints;
    a->fmtchecks = s->fmtchecks;
}

static void snap_free(struct fg_snap *s)
{
    struct fg_app a;
    as_app(s, &a);
    fg_server_providers_free(&a);
    fg_route_free(&a);
    fg_config_free((struct fg_config *)s->cfg); /* the snapshot owned it */
    free(s->boot_route);
    free(s);
}

/* The same route as the boot config's (name, tiers, weights): its router
 * is the boot one, which the learning loop retrains (learn_train.h). */
static int boot_route_of(const struct fg_config *boot, const struct fg_route_cfg *r)
{
    const struct fg_route_cfg *b = fg_config_route(boot, r->name);
    if (!b || strcmp(b->cheap, r->cheap) || strcmp(b->frontier, r->frontier) ||
        !(b->weights == r->weights ||
          (b->weights && r->weights && !strcmp(b->weights, r->weights))))
        return -1;
    return (int)(b - boot->routes);
}

/* On each worker's loop after a reload: take the new snapshot now rather
 * than at the next call, so an idle worker does not keep the old one (and
 * what it holds) alive. */
static void take_snap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fg_snap_worker(arg);
}

/* cfg is taken (freed on failure too). */
static struct fg_snap *snap_build(struct fg_config *cfg, char *err, size_t errlen)
{
    struct fg_app a;
    memset(&a, 0, sizeof a);
    a.cfg = cfg;
    memcpy(a.sim_base, g.app->sim_base, sizeof a.sim_base);
    if (fg_route_init(&a, err, errlen) < 0) {
        fg_route_free(&a);
        fg_config_free(cfg);
        return NULL;
    }
    a.boot.cfg = g.app->cfg; /* self-hosted providers share the boot ones' hours */
    a.boot.prov = g.app->prov;
    fg_server_providers_init(&a);
    struct fg_snap *s = fg_xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1); /* the app's (fg_snap_publish) */
    s->cfg = cfg;
    s->prov = a.prov;
    s->loads = a.loads;
    s->routers = a.routers;
    s->optpoints = a.optpoints;
    s->fmtchecks = a.fmtchecks;
    s->boot_route = fg_xcalloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *s->boot_route);
    for (size_t i = 0; i < cfg->n_routes; i++)
        s->boot_route[i] = boot_route_of(g.app->cfg, &cfg->routes[i]);
    s->free_fn = snap_free;
    return s;
}

/* ---- one reload --------------------------------------------------------- */

static json_t *refused(json_t *errors)
{
    size_t n = json_array_size(errors);
    char msg[600];
    snprintf(msg, sizeof msg,
             "The config was not reloaded (%zu error%s); the running config stays: %s", n,
             n == 1 ? "" : "s", n ? json_string_value(json_array_get(errors, 0)) : "");
    return json_pack("{s:s, s:b, s:o, s:{s:s, s:s, s:s, s:n}}", "object", "frugal.reload",
                     "reloaded", false, "errors", errors, "error", "message", msg, "type",
                     "invalid_request_error", "code", "invalid_config", "param");
}

/* The file's problems that `frugal check` reports beyond the loader's, and
 * what a running process cannot take without a restart: appended to errs. */
static void check_more(const struct fg_config *cfg, json_t *errs)
{
    if (cfg->n_models == 0)
        json_array_append_new(errs,
                              json_sprintf("%s: no models are configured: every call would get 404 "
                                           "model_not_found",
                                           cfg->path));
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].type == FG_PROV_SIM && !cfg->providers[i].base_url &&
            !g.app->sim_base[0])
            json_array_append_new(
                errs, json_sprintf("%s:%d: providers[%zu]: a simulated provider without "
                                   "base_url needs the built-in simulator, which this process "
                                   "did not start: restart frugal to add it",
                                   cfg->path, cfg->providers[i].line, i));
}

/* The secrets a new config brings are redacted like the boot ones; the
 * in-process sim's providers get its secret (daemon.c start_sim). */
static void adopt_secrets(struct fg_config *cfg)
{
    for (size_t i = 0; i < cfg->n_providers; i++) {
        struct fg_provider_cfg *p = &cfg->providers[i];
        if (p->type == FG_PROV_SIM && !p->base_url) {
            free(p->api_key);
            p->api_key = fg_xstrdup(g.sim_key);
        }
        fg_redact_add_secret(p->api_key);
    }
    fg_redact_add_secret(cfg->server.master_key);
    fg_redact_add_secret(cfg->redis);
}

/* 200 with the summary, or 400 refused; *out is the reply. */
static int reload(json_t **out)
{
    const char *path = g.app->cfg->path;
    if (!path) {
        json_t *e = json_array();
        json_array_append_new(e, json_string("frugal runs on its built-in defaults (no config "
                                             "file): there is no file to reload"));
        *out = refused(e);
        fg_warn("reload refused: running on the built-in defaults, no config file to re-read");
        return 400;
    }
    struct fg_config_errlist errs = {0};
    struct fg_config *cfg = NULL;
    json_t *e = json_array();
    if (fg_config_load(path, &cfg, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            json_array_append_new(e, json_string(errs.lines[i]));
    } else {
        check_more(cfg, e);
    }
    fg_config_errlist_free(&errs);
    char why[700] = "";
    struct fg_snap *s = NULL;
    if (!json_array_size(e)) {
        adopt_secrets(cfg);
        s = snap_build(cfg, why, sizeof why); /* takes cfg */
        cfg = NULL;
        if (!s)
            json_array_append_new(e, json_sprintf("%s: %s", path, why));
    }
    if (!s) {
        fg_config_free(cfg);
        for (size_t i = 0; i < json_array_size(e); i++)
            fg_warn("reload refused: %s", json_string_value(json_array_get(e, i)));
        *out = refused(e);
        return 400;
    }
    json_decref(e);
    s->generation = ++g.generation;
    char sum[2048] = "";
    *out = json_pack("{s:s, s:b, s:I}", "object", "frugal.reload", "reloaded", true, "generation",
                     (json_int_t)s->generation);
    fg_reload_diff_changes(g.app->snap->cfg, s->cfg, *out, sum, sizeof sum);
    int restart = fg_reload_diff_restart(g.app->cfg, s->cfg, *out, sum, sizeof sum);
    fg_snap_publish(g.app, s); /* calls starting from now run on it */
    /* every worker's base exists before any starts (nworkers is fixed; a
     * base whose thread is not running yet runs it when it starts) */
    for (int i = 0; i < g.app->nworkers; i++)
        event_base_once(g.app->workers[i].base, -1, EV_TIMEOUT, take_snap, &g.app->workers[i],
                        NULL);
    json_object_set_new(*out, "summary", json_string(*sum ? sum : "no changes"));
    if (restart)
        fg_warn("config reloaded from %s (generation %llu): %s", path,
                (unsigned long long)s->generation, sum);
    else
        fg_info("config reloaded from %s (generation %llu): %s", path,
                (unsigned long long)s->generation, *sum ? sum : "no changes");
    return 200;
}

static int reload_locked(json_t **out)
{
    pthread_mutex_lock(&g.reload_mu);
    int status = reload(out);
    pthread_mutex_unlock(&g.reload_mu);
    return status;
}

void fg_reload_signal(void)
{
    if (!g.app)
        return;
    fg_info("received SIGHUP: reloading the config");
    json_t *out = NULL;
    reload_locked(&out);
    json_decref(out);
}

/* ---- POST /frugal/reload ------------------------------------------------ */

/* On the request's worker loop. */
static void answer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct job *j = arg;
    struct fg_worker *w = j->w;
    fg_reply_json_value(j->req, j->status, j->out, JSON_COMPACT);
    json_decref(j->out);
    free(j);
    FG_ASSERT(w->inflight > 0);
    w->inflight--;
    if (w->on_call_ended)
        w->on_call_ended(w);
}

static void *reload_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.mu);
    for (;;) {
        while (g.running && !g.head)
            pthread_cond_wait(&g.cv, &g.mu);
        struct job *j = g.head;
        if (!j)
            break; /* stopped, and every queued job answered */
        g.head = j->next;
        if (!g.head)
            g.tail = &g.head;
        pthread_mutex_unlock(&g.mu);
        j->status = reload_locked(&j->out);
        /* the loop runs until its drain is over, and the drain waits for j */
        if (event_base_once(j->w->base, -1, EV_TIMEOUT, answer, j, NULL) < 0)
            FG_ASSERT(!"event_base_once failed");
        pthread_mutex_lock(&g.mu);
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

int fg_reload_start(struct fg_app *app, const char *sim_key, char *err, size_t errlen)
{
    FG_ASSERT(app->snap); /* fg_snap_boot ran */
    g.app = app;
    snprintf(g.sim_key, sizeof g.sim_key, "%s", sim_key ? sim_key : "");
    g.generation = 0;
    g.head = NULL;
    g.tail = &g.head;
    g.running = true;
    int rc = pthread_create(&g.thread, NULL, reload_main, NULL);
    if (rc) {
        g.running = false;
        snprintf(err, errlen, "cannot start the config reload thread: %s", strerror(rc));
        return -1;
    }
    g.started = true;
    return 0;
}

void fg_reload_stop(void)
{
    if (!g.started)
        return;
    pthread_mutex_lock(&g.mu);
    g.running = false;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.thread, NULL);
    g.started = false;
    g.app = NULL;
    memset(g.sim_key, 0, sizeof g.sim_key);
}

static void reply_error(struct fg_edge_req *req, const struct fg_dialect_ops *d,
                        enum fg_err_class cls, const char *code, const char *msg)
{
    struct fg_err e;
    fg_err_set(&e, cls, NULL, code, "%s", msg);
    fg_reply_error(req, d, &e);
}

void fg_reload_handle(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                      const struct fg_principal *p)
{
    if (!p->admin) {
        reply_error(req, d, FG_E_PERMISSION, "permission_denied",
                    "POST /frugal/reload needs the master key; a virtual key cannot reload "
                    "the config.");
        return;
    }
    struct job *j = fg_xcalloc(1, sizeof *j);
    j->w = w;
    j->req = req;
    pthread_mutex_lock(&g.mu);
    bool queued = g.running;
    if (queued) {
        *g.tail = j;
        g.tail = &j->next;
        w->inflight++; /* a drain waits for the answer */
        pthread_cond_signal(&g.cv);
    }
    pthread_mutex_unlock(&g.mu);
    if (!queued) {
        free(j);
        reply_error(req, d, FG_E_UNAVAILABLE, "shutting_down",
                    "frugal is shutting down: the config cannot be reloaded now.");
    }
}
