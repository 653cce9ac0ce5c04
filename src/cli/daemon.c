/* daemon.c — see daemon.h. */
#include "daemon.h"

#include "alert.h"
#include "shared_redis.h"

#include "batch_api.h"
#include "batch_budget.h"
#include "batch_exec.h"
#include "batch_defer.h"
#include "batch_mailbox.h"
#include "alog.h"
#include "busters.h"
#include "keyreg.h"
#include "learn_shadow.h"
#include "learn_train.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "redact.h"
#include "reload.h"
#include "respcache.h"
#include "respmap.h"
#include "readq.h"
#include "route.h"
#include "server.h"
#include "sim.h"
#include "snap.h"
#include "store.h"

#include <errno.h>
#include <event2/buffer.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* A fresh secret for the in-process sim: 32 random bytes, hex. */
static int sim_secret(char out[65])
{
    unsigned char r[32];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno != EINTR)
            return -1;
        got += n > 0 ? (size_t)n : 0;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}

/* The in-process sim listens on loopback, where any local user can reach
 * it: it takes calls only with a per-process secret, which becomes the API
 * key of every provider that uses it (so every request frugal sends it,
 * in either dialect, real-time and batch, carries the secret).  Needed
 * only when a simulated provider has no base_url. */
static bool sim_needed(const struct fg_config *cfg)
{
    bool needed = false;
    for (size_t i = 0; i < cfg->n_providers; i++)
        needed |= cfg->providers[i].type == FG_PROV_SIM && !cfg->providers[i].base_url;
    return needed;
}

/* Start it with the secret made (and registered for redaction) before any
 * thread that logs was started (redact.h). */
static int start_sim(struct fg_app *app, const char *secret)
{
    const struct fg_config *cfg = app->cfg;
    if (!sim_needed(cfg))
        return 0;
    if (fg_sim_start("127.0.0.1:0", secret, &app->sim, app->sim_base, sizeof app->sim_base) < 0) {
        fg_error("cannot start the built-in simulated provider");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_providers; i++) {
        /* the config allocated its providers; it frees api_key (config.c) */
        struct fg_provider_cfg *p = (struct fg_provider_cfg *)&cfg->providers[i];
        if (p->type == FG_PROV_SIM && !p->base_url) {
            free(p->api_key);
            p->api_key = fg_xstrdup(secret);
        }
    }
    return 0;
}

static struct fg_shared *g_redis; /* for /metrics, while the daemon runs */

static void redis_metrics(struct evbuffer *o)
{
    if (!g_redis)
        return;
    struct fg_shared_redis_stats st;
    fg_shared_redis_stats(g_redis, &st);
    evbuffer_add_printf(o,
                        "# HELP frugal_redis_up Whether the shared store answered last time.\n"
                        "# TYPE frugal_redis_up gauge\nfrugal_redis_up %d\n",
                        st.up ? 1 : 0);
    fg_metrics_counter(
        o, "frugal_redis_errors_total",
        "Round trips to Redis that failed (no connection, error, no reply in time).");
    evbuffer_add_printf(o, "frugal_redis_errors_total %llu\n", (unsigned long long)st.errors);
    fg_metrics_counter(
        o, "frugal_redis_lost_settlements_total",
        "Settlements that never reached Redis (their holds expire with their lease).");
    evbuffer_add_printf(o, "frugal_redis_lost_settlements_total %llu\n",
                        (unsigned long long)st.lost_settles);
    fg_metrics_counter(o, "frugal_redis_local_applies_total",
                       "Budget operations counted in this process while Redis was down "
                       "(budgets.on_store_down: local).");
    evbuffer_add_printf(o, "frugal_redis_local_applies_total %llu\n",
                        (unsigned long long)st.local_applies);
    evbuffer_add_printf(o, "# HELP frugal_redis_roundtrip_seconds Time from sending a command "
                           "to Redis to its reply (admissions, settlements, admin reads).\n"
                           "# TYPE frugal_redis_roundtrip_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < FG_REDIS_RT_BUCKETS; b++) {
        cum += st.rt_bucket[b];
        evbuffer_add_printf(o, "frugal_redis_roundtrip_seconds_bucket{le=\"%g\"} %llu\n",
                            fg_redis_rt_bounds[b], (unsigned long long)cum);
    }
    evbuffer_add_printf(o,
                        "frugal_redis_roundtrip_seconds_bucket{le=\"+Inf\"} %llu\n"
                        "frugal_redis_roundtrip_seconds_sum %.6f\n"
                        "frugal_redis_roundtrip_seconds_count %llu\n",
                        (unsigned long long)st.rt_count, st.rt_sum_s,
                        (unsigned long long)st.rt_count);
}

/* SIGHUP reloads the config (reload.h) and reopens the access log
 * (logrotate).  Blocked in every thread before any starts, so that only the
 * main thread's sigwait (fg_server_wait_signal) takes it and no other
 * thread's system call ever sees EINTR for it. */
static void hup_block(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int fg_daemon_run(const struct fg_config *cfg)
{
    struct fg_app app;
    int rc = 1;
    struct fg_store *spend_src = NULL; /* the registry's until fg_keyreg_stop */
    struct fg_shared *redis = NULL;    /* (before any goto out: closed there) */
    hup_block();                       /* before any thread starts: they all inherit the mask */
    fg_server_init(&app, cfg);
    /* keys are redacted from every log line and error message (redact.h) */
    fg_redact_add_secret(cfg->server.master_key);
    for (size_t i = 0; i < cfg->n_providers; i++)
        fg_redact_add_secret(cfg->providers[i].api_key);
    char sim_key[65] = "";
    if (sim_needed(cfg)) {
        if (sim_secret(sim_key) < 0) {
            fg_error("cannot make the built-in simulated provider's secret");
            goto out;
        }
        fg_redact_add_secret(sim_key);
    }
    char lerr[300];
    /* a server store can be unreachable for a while: the ledger spools */
    if (strncmp(cfg->storage, "sqlite:", 7))
        fg_ledger_spool_at(cfg->spool ? cfg->spool : "frugal-ledger.spool");
    if (cfg->redis) {
        fg_redact_add_secret(cfg->redis); /* the URL may carry a password */
        struct fg_shared_redis_opts ro = {
            .fail_local = !strcmp(cfg->budgets.on_store_down, "local"),
            .lease_ms = (int64_t)cfg->budgets.lease_seconds * 1000,
        };
        if (fg_shared_redis_open(cfg->redis, &ro, &redis, lerr, sizeof lerr) < 0) {
            fg_error("%s", lerr);
            goto out;
        }
        fg_shared_process_set(redis); /* before any budget or worker exists */
        g_redis = redis;
        fg_metrics_add_source(redis_metrics);
    }
    if (fg_alog_open(cfg->log.access, lerr, sizeof lerr) < 0) { /* before any record */
        fg_error("log.access: %s", lerr);
        goto out;
    }
    if (fg_alog_on())
        fg_metrics_add_source(fg_alog_metrics);
    if (fg_ledger_start(cfg->storage, FG_LEDGER_GROUP_MS, lerr, sizeof lerr) < 0) {
        fg_error("storage: %s", lerr);
        goto out;
    }
    /* the registry's budgets start from the ledger's spend (keyreg.h) */
    int krc = fg_store_open(cfg->storage, &spend_src, lerr, sizeof lerr);
    if (krc == 0) {
        /* a server store's ledger holds every replica's calls */
        struct fg_keyreg_spend spend = {fg_ledger_spend_since, spend_src,
                                        strncmp(cfg->storage, "sqlite:", 7) != 0};
        krc = fg_keyreg_start(cfg, &spend, lerr, sizeof lerr);
    }
    if (krc < 0) {
        fg_error("keys: %s", lerr);
        goto out;
    }
    /* after the registry (its budgets' startup spend alerts nothing), before
     * any call is admitted */
    if (fg_alert_start(cfg, lerr, sizeof lerr) < 0) {
        fg_error("%s", lerr);
        goto out;
    }
    /* before any call is admitted: budgets held by batch lines in flight */
    if (fg_batch_budget_restore(fg_config_batch_storage(cfg), lerr, sizeof lerr) < 0) {
        fg_error("batches: %s", lerr);
        goto out;
    }
    fg_respcache_init(cfg);
    if (fg_route_init(&app, lerr, sizeof lerr) < 0) {
        fg_error("%s", lerr);
        goto out;
    }
    fg_learn_shadow_init(&app); /* shadow evaluation of routes with `learn:` */
    fg_learn_train_start(&app); /* their labels, versions and retraining */
    if (start_sim(&app, sim_key) < 0 || fg_server_providers_init(&app) < 0)
        goto out;
    fg_snap_boot(&app); /* what calls pin until a reload publishes another */
    if (fg_reload_start(&app, sim_key, lerr, sizeof lerr) < 0) {
        fg_error("%s", lerr);
        goto out;
    }
    /* what higher layers add to the edge, before any worker runs */
    fg_api_add_routes(&fg_batch_api_routes); /* /v1/files, /v1/batches, /v1/messages/batches */
    fg_batch_exec_add_metrics();
    if (fg_readq_start(cfg, lerr, sizeof lerr) < 0) { /* before any request */
        fg_error("%s", lerr);
        goto out;
    }
    if (fg_batch_api_offloop_start(cfg, lerr, sizeof lerr) < 0) { /* the same */
        fg_error("%s", lerr);
        goto out;
    }
    if (fg_batch_defer_start(&app, lerr, sizeof lerr) < 0) { /* before any call is deferred */
        fg_error("%s", lerr);
        goto out;
    }
    if (fg_server_start(&app) < 0)
        goto out;
    if (fg_batch_exec_start(&app, lerr, sizeof lerr) < 0) {
        fg_error("batches: %s", lerr);
        goto out;
    }
    int sig;
    while ((sig = fg_server_wait_signal()) == SIGHUP) {
        if (fg_alog_on()) {
            fg_info("SIGHUP: reopening the access log");
            fg_alog_reopen(); /* the writer thread reopens it */
        }
        fg_reload_signal(); /* the config file and its prices (reload.h) */
    }
    fg_info("received %s: draining in-flight calls (up to %d ms)",
            sig == SIGINT ? "SIGINT" : "SIGTERM", cfg->server.shutdown_grace_ms);
    atomic_store(&app.stopping, true);
    rc = 0;
out:
    /* The shutdown order, written down here only:
     *  0. the config reloader: its queued POSTs are answered on the
     *     still-running loops (a later one gets 503);
     *  1. the batch executor stops first: its lines run on the workers, so
     *     it must not post more while they drain; then the deferral
     *     collector, which hands every held call back for real time;
     *  2. the workers drain (or, after a failed start, are cut), then are
     *     joined and freed, with their per-worker state (store handles);
     *  3. the server's own (provider runtime facts, connection limits),
     *     then the sim and the routers;
     *  4. the batch mailbox is flushed into the ledger queue before the
     *     ledger stops, so no batch line's records are lost;
     *  5. the alert thread (it reads the registry's budgets), then the key
     *     registry after the workers (their calls held key pointers), the
     *     ledger after it (it drains its queue);
     *  6. caches and maps, redaction last. */
    fg_reload_stop(); /* queued POST /frugal/reload answered while the loops run */
    fg_batch_exec_stop();
    fg_batch_defer_stop(); /* held calls go real time: within the drain */
    if (!rc)
        fg_server_drain(&app);
    fg_server_join(&app, rc != 0);
    fg_learn_train_stop();  /* before the routers: it keeps replaced weights; and
                             * before the shadow state its spend sync reads */
    fg_learn_shadow_free(); /* evaluations no worker got to run */
    fg_api_clear_routes();
    fg_server_free(&app);
    if (app.sim)
        fg_sim_stop(app.sim);
    fg_route_free(&app);
    fg_batch_mailbox_flush();
    fg_alert_stop();
    fg_keyreg_stop();
    fg_store_close(spend_src);
    fg_ledger_stop();
    fg_alog_close(); /* every record is submitted: the last lines written */
    fg_ledger_spool_at(NULL);
    fg_respcache_shutdown();
    fg_busters_shutdown();
    fg_shared_process_set(NULL); /* every user of the shared store has stopped */
    fg_shared_redis_close(redis);
    g_redis = NULL;
    fg_respmap_reset(); /* the stored-response id map */
    fg_redact_clear();
    if (!rc)
        fg_info("frugal stopped");
    return rc;
}
