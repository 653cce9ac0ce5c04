/* main.c — the frugal command line: serve, check, sim, report, keys, batch,
 * analyze, route, version. */
#include "arena.h"
#include "config.h"
#include "shared_redis.h"
#include "json.h"
#include "batch_cli.h"
#include "keys_cli.h"
#include "migrate_cli.h"
#include "analyze.h"
#include "log.h"
#include "report.h"
#include "route_report.h"
#include "route_versions.h"
#include "route_tool.h"
#include "route.h"
#include "fmtcheck.h"
#include "daemon.h"
#include "sim.h"
#include "keystore.h"
#include "store.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRUGAL_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: frugal COMMAND [options]\n"
        "  serve [-c FILE]        run the gateway (default config: ./frugal.yaml if\n"
        "                         present, else built-in defaults)\n"
        "  check [-c FILE]        validate a config; errors name file, line and key\n"
        "  sim [--listen ADDR]    run the simulated provider standalone\n"
        "  report [-c FILE] [--since 24h] [--by model|bucket|technique|key|tag] [--key ID] [--json]\n"
        "                         spend map from the ledger\n"
        "  keys create --name NAME [--budget USD/period] [--rpm N] [--tpm N]\n"
        "       [--models a,b,route] [--tags k=v] [--expires DATE] [-c FILE]\n"
        "  keys list [--json] [-c FILE], keys revoke ID|NAME|KEY [-c FILE]\n"
        "                         virtual keys with budgets, limits and allow-lists\n"
        "  migrate [-c FILE] [--check] [--copy-from sqlite:PATH]\n"
        "                         apply or check a postgres:// storage's schema; copy an\n"
        "                         SQLite ledger and its keys into it\n"
        "  batch submit FILE [--model M] [--wait], batch status ID, batch results ID [-o FILE]\n"
        "                         batch conveniences over the gateway's batch API\n"
        "  analyze LOG.jsonl [--json] [--batch-output FILE] [--cheap-model M]\n"
        "                         offline spend map and savings projection for a log\n"
        "  route train|eval ...   fit / evaluate the routing classifier's weights\n"
        "  route report ROUTE     what a route's shadow evaluation learned and cost\n"
        "  route history ROUTE    the weights versions retraining fitted for a route\n"
        "  route rollback ROUTE [VERSION]\n"
        "                         run an earlier version (0 = the built-in weights)\n"
        "  version                version and build facts\n");
}

/* -c FILE, or ./frugal.yaml, or NULL for built-in defaults */
static int config_path(int argc, char **argv, const char **path)
{
    *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "frugal: %s needs a file name\n", argv[i]);
                return -1;
            }
            *path = argv[++i];
        } else {
            fprintf(stderr, "frugal: unknown option '%s'\n", argv[i]);
            return -1;
        }
    }
    if (!*path && access("frugal.yaml", R_OK) == 0)
        *path = "frugal.yaml";
    return 0;
}

static struct fg_config *load_flags(const char *path, int flags)
{
    struct fg_config *cfg = NULL;
    struct fg_config_errlist errs = {0};
    int rc = path ? fg_config_load_opts(path, flags, &cfg, &errs) : fg_config_defaults(&cfg, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.lines[i]);
    fg_config_errlist_free(&errs);
    return rc == 0 ? cfg : NULL;
}

static struct fg_config *load(const char *path)
{
    return load_flags(path, 0);
}

static int cmd_serve(int argc, char **argv)
{
    const char *path;
    if (config_path(argc, argv, &path) < 0)
        return 2;
    struct fg_config *cfg = load(path);
    if (!cfg)
        return 2;
    fg_log_set_level(fg_log_level_from_str(cfg->server.log_level));
    char st[4200];
    if (path)
        fg_info("config %s: %zu providers, %zu models, %zu routes; storage %s", path,
                cfg->n_providers, cfg->n_models, cfg->n_routes,
                fg_store_label(cfg->storage, st, sizeof st));
    if (cfg->n_models == 0)
        fg_warn("config %s configures no models: every call will get 404 model_not_found "
                "(a config file replaces the built-in defaults entirely)",
                path);
    int rc = fg_daemon_run(cfg);
    fg_config_free(cfg);
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    const char *path;
    if (config_path(argc, argv, &path) < 0)
        return 2;
    struct fg_config *cfg = load(path);
    if (!cfg)
        return 2;
    if (cfg->n_models == 0) {
        fprintf(stderr,
                "%s: no models are configured: every call would get 404 "
                "model_not_found.  A config file replaces the built-in defaults "
                "entirely; add providers: and models: (README, Configuration)\n",
                path ? path : "built-in defaults");
        fg_config_free(cfg);
        return 2;
    }
    const char *bad = cfg->redis ? fg_shared_redis_check_url(cfg->redis) : NULL;
    if (bad) { /* config.c checks the scheme; the backend the rest (never echoing it) */
        fprintf(stderr, "%s: redis: the URL %s\n", path ? path : "built-in defaults", bad);
        fg_config_free(cfg);
        return 2;
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        struct fg_fmtcheck *f;
        char why[600];
        if (fg_route_format_compile(&cfg->routes[i], &f, why, sizeof why) < 0) {
            fprintf(stderr, "%s:%d: routes[%zu].format: %s\n", path ? path : "built-in defaults",
                    cfg->routes[i].format_line, i, why);
            fg_config_free(cfg);
            return 2;
        }
        fg_fmtcheck_free(f);
    }
    char st[4200];
    printf("%s: ok (%zu providers, %zu models, %zu routes; storage %s)\n",
           path ? path : "built-in defaults", cfg->n_providers, cfg->n_models, cfg->n_routes,
           fg_store_label(cfg->storage, st, sizeof st));
    fg_config_free(cfg);
    return 0;
}

/* The config named by -c among other options (or ./frugal.yaml, or the
 * built-in defaults). */
static struct fg_config *load_among(int argc, char **argv, int flags)
{
    const char *path = NULL;
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
            path = argv[i + 1];
    if (!path && access("frugal.yaml", R_OK) == 0)
        path = "frugal.yaml";
    return load_flags(path, flags);
}

/* report: only -c is ours; the rest goes to the report module */
static int cmd_report(int argc, char **argv)
{
    /* the ledger only: no provider secrets needed */
    struct fg_config *cfg = load_among(argc, argv, FG_CONFIG_NO_SECRETS);
    if (!cfg)
        return 2;
    char db[4096];
    if (fg_store_missing(cfg->storage, db, sizeof db)) {
        fprintf(stderr,
                "frugal report: no ledger at %s (storage: from %s); a gateway has not "
                "recorded anything there.  Pass the gateway's config with -c (a relative "
                "sqlite: path is resolved against the config file's directory)\n",
                db, cfg->path ? cfg->path : "the built-in defaults, relative to this directory");
        fg_config_free(cfg);
        return 1;
    }
    /* --by key names the ledger's key ids from the keys table (keystore.h) */
    struct fg_keystore *ks = NULL;
    char err[512];
    if (fg_keystore_open(cfg->storage, &ks, err, sizeof err) < 0) {
        fprintf(stderr, "frugal report: %s\n", err);
        fg_config_free(cfg);
        return 1;
    }
    int rc = fg_report_main(cfg->storage, cfg, argc - 1, argv + 1, fg_keystore_names, ks);
    fg_keystore_close(ks);
    fg_config_free(cfg);
    return rc;
}

/* route report: the ledger only (route_report.h) */
static int cmd_route_report(int argc, char **argv)
{
    struct fg_config *cfg = load_among(argc, argv, FG_CONFIG_NO_SECRETS);
    if (!cfg)
        return 2;
    int rc = fg_route_report_main(cfg, argc - 2, argv + 2);
    fg_config_free(cfg);
    return rc;
}

/* route history|rollback: the store only (route_versions.h) */
static int cmd_route_versions(int argc, char **argv)
{
    struct fg_config *cfg = load_among(argc, argv, FG_CONFIG_NO_SECRETS);
    if (!cfg)
        return 2;
    int rc = fg_route_versions_main(cfg, argc - 2, argv + 2);
    fg_config_free(cfg);
    return rc;
}

static int cmd_keys(int argc, char **argv)
{
    struct fg_config *cfg = load_among(argc, argv, FG_CONFIG_NO_SECRETS);
    if (!cfg)
        return 2;
    int rc = fg_keys_cli_main(cfg, argc - 1, argv + 1);
    fg_config_free(cfg);
    return rc;
}

static int cmd_migrate(int argc, char **argv)
{
    struct fg_config *cfg = load_among(argc, argv, FG_CONFIG_NO_SECRETS);
    if (!cfg)
        return 2;
    int rc = fg_migrate_cli_main(cfg, argc - 1, argv + 1);
    fg_config_free(cfg);
    return rc;
}

static int cmd_batch(int argc, char **argv)
{
    struct fg_config *cfg = load_among(argc, argv, 0);
    if (!cfg)
        return 2;
    int rc = fg_batch_cli_main(cfg, argc - 1, argv + 1);
    fg_config_free(cfg);
    return rc;
}

static int cmd_version(void)
{
    printf("frugal %s\n", FRUGAL_VERSION);
    printf("libevent %s, %s, jansson %s, sqlite %s\n", event_get_version(), curl_version(),
           JANSSON_VERSION, sqlite3_libversion());
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!strcmp(cmd, "serve"))
        rc = cmd_serve(argc, argv);
    else if (!strcmp(cmd, "check"))
        rc = cmd_check(argc, argv);
    else if (!strcmp(cmd, "report"))
        rc = cmd_report(argc, argv);
    else if (!strcmp(cmd, "keys"))
        rc = cmd_keys(argc, argv);
    else if (!strcmp(cmd, "migrate"))
        rc = cmd_migrate(argc, argv);
    else if (!strcmp(cmd, "batch"))
        rc = cmd_batch(argc, argv);
    else if (!strcmp(cmd, "route") && argc > 2 && !strcmp(argv[2], "report"))
        rc = cmd_route_report(argc, argv);
    else if (!strcmp(cmd, "route") && argc > 2 &&
             (!strcmp(argv[2], "history") || !strcmp(argv[2], "rollback")))
        rc = cmd_route_versions(argc, argv);
    else if (!strcmp(cmd, "route"))
        rc = fg_route_tool_main(argc - 1, argv + 1);
    else if (!strcmp(cmd, "analyze"))
        rc = fg_analyze_main(argc - 1, argv + 1);
    else if (!strcmp(cmd, "sim"))
        rc = fg_sim_main(argc - 1, argv + 1);
    else if (!strcmp(cmd, "version") || !strcmp(cmd, "--version"))
        rc = cmd_version();
    else if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        rc = 0;
    } else {
        fprintf(stderr, "frugal: unknown command '%s'\n", cmd);
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    fg_arena_thread_cleanup();
    fg_json_thread_cleanup();
    return rc;
}
