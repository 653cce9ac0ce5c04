/* route_versions.c — see route_versions.h. */
#include "route_versions.h"

#include "learn_store.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] = "usage: frugal route history ROUTE [--json] [-c CONFIG]\n"
                                 "       frugal route rollback ROUTE [VERSION] [-c CONFIG]\n";

static json_t *num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static void print_json(void *arg, const struct fg_learn_version *v, bool active)
{
    json_array_append_new(
        arg, json_pack("{s:i, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:b, s:b}", "version", v->version,
                       "ts_ms", (json_int_t)v->ts_ms, "labels", (json_int_t)v->labels, "held_out",
                       (json_int_t)v->held_out, "apgr_before", num(v->apgr_before), "apgr_after",
                       num(v->apgr_after), "loss_before", num(v->loss_before), "loss_after",
                       num(v->loss_after), "accepted", v->accepted, "active", active));
}

static void print_text(void *arg, const struct fg_learn_version *v, bool active)
{
    *(int *)arg += 1;
    printf("%3d %s %6lld labels %5lld held out  APGR %.3f -> %.3f  log loss %.3f -> %.3f  %s\n",
           v->version, active ? "*" : " ", (long long)v->labels, (long long)v->held_out,
           v->apgr_before, v->apgr_after, v->loss_before, v->loss_after,
           v->accepted ? "accepted" : "rejected");
}

int fg_route_versions_main(const struct fg_config *cfg, int argc, char **argv)
{
    bool rollback = !strcmp(argv[0], "rollback"), as_json = false;
    const char *route = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL, *version = NULL;
    for (int i = route ? 2 : 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && !rollback)
            as_json = true;
        else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            i++;
        else if (rollback && !version && argv[i][0] >= '0' && argv[i][0] <= '9')
            version = argv[i];
        else
            return fprintf(stderr, "frugal route %s: unknown argument '%s'\n%s", argv[0], argv[i],
                           usage_text),
                   2;
    }
    if (!route)
        return fputs(usage_text, stderr), 2;
    if (!fg_config_route(cfg, route)) {
        fprintf(stderr, "frugal route %s: no route '%s' in the config\n", argv[0], route);
        return 2;
    }
    char err[512];
    struct fg_learn_store *s;
    if (fg_learn_store_open(cfg->storage, &s, err, sizeof err) < 0) {
        fprintf(stderr, "frugal route %s: %s\n", argv[0], err);
        return 1;
    }
    int rc = 0;
    if (rollback) {
        char *end = NULL;
        long lv = version ? strtol(version, &end, 10) : fg_learn_store_previous(s, route);
        if (version && (*end || lv < 0 || lv > 1000000000)) {
            fprintf(stderr, "frugal route rollback: bad version '%s'\n", version);
            fg_learn_store_close(s);
            return 2;
        }
        int v = (int)lv;
        if (fg_learn_store_set_active(s, route, v, err, sizeof err) < 0) {
            fprintf(stderr, "frugal route rollback: %s\n", err);
            rc = 1;
        } else
            printf("route %s: version %d is active%s\n", route, v,
                   v ? "" : " (the built-in weights)");
    } else if (as_json) {
        json_t *a = json_array();
        fg_learn_store_history(s, route, print_json, a);
        char *t = json_dumps(a, JSON_COMPACT);
        puts(t ? t : "[]");
        free(t);
        json_decref(a);
    } else {
        int n = 0;
        fg_learn_store_history(s, route, print_text, &n);
        if (!n)
            printf("route %s: no fitted version yet (running its configured or built-in weights)\n",
                   route);
    }
    fg_learn_store_close(s);
    return rc;
}
