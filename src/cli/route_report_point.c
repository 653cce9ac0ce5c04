/* route_report_point.c — see route_report_point.h. */
#include "route_report_point.h"

#include "learn_point.h"
#include "learn_store.h"
#include "optpoint.h"
#include "route.h"
#include "route_labels.h"
#include "router.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLD_EVERY 5 /* learn_train.c: every 5th label of a fit is held out */

static const char *const cold_names[] = {"classifier", "frontier", "cheap"};

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(round(v * 10000) / 10000) : json_null();
}

struct find {
    int version;
    int64_t labels;
};

static void find_cb(void *arg, const struct fg_learn_version *v, bool active)
{
    struct find *f = arg;
    if (v->version == f->version)
        f->labels = v->labels;
}

/* The weights the daemon runs for r, and the labels they were fitted on. */
static struct fg_router *running(struct fg_learn_store *s, const struct fg_route_cfg *r,
                                 int *version, size_t *fitted_n, char *what, size_t n)
{
    unsigned char *w = NULL;
    size_t wlen = 0;
    char err[256];
    *version = 0;
    *fitted_n = 0;
    if (!r->weights && fg_learn_store_active(s, r->name, version, &w, &wlen) == 0 && *version > 0) {
        struct fg_router *rt = fg_router_parse(w, wlen, r->name, err, sizeof err);
        free(w);
        struct find f = {*version, 0};
        fg_learn_store_history(s, r->name, find_cb, &f);
        *fitted_n = f.labels > 0 ? (size_t)f.labels : 0;
        snprintf(what, n, "learned version %d", *version);
        return rt;
    }
    free(w);
    *version = 0;
    char path[PATH_MAX];
    const char *file = r->weights;
    if (!file && fg_route_builtin_weights(path, sizeof path))
        file = path;
    snprintf(what, n, "%s", r->weights ? "the weights: file" : "the built-in weights");
    return file ? fg_router_load(file, err, sizeof err) : NULL;
}

static const char *verdict_name(enum fg_optpoint_verdict v)
{
    switch (v) {
    case FG_OPTPOINT_ALL_CHEAP: return "all_cheap";
    case FG_OPTPOINT_THRESHOLD: return "threshold";
    case FG_OPTPOINT_ALL_FRONTIER: return "all_frontier";
    default: return "no_labels";
    }
}

static json_t *point_json(const struct fg_optpoint *p, const char *source)
{
    char line[1024];
    return json_pack("{s:s, s:f, s:s, s:o, s:o, s:o, s:o, s:I, s:o, s:b, s:s}", "source", source,
                     "target", p->target, "verdict", verdict_name(p->verdict), "threshold",
                     num_or_null(p->threshold), "frontier_share", num_or_null(p->frontier_share),
                     "quality_kept", num_or_null(p->kept), "quality_kept_lo90",
                     num_or_null(p->kept_lower), "labels", (json_int_t)p->n, "auc",
                     num_or_null(p->auc), "beats_coin", p->beats_coin, "says",
                     fg_optpoint_describe(p, line, sizeof line));
}

void fg_route_report_point(const struct fg_config *cfg, const struct fg_route_cfg *r, json_t *j)
{
    struct fg_learn_store *s = NULL;
    char err[512];
    if (fg_learn_store_open(cfg->storage, &s, err, sizeof err) < 0) {
        json_object_set_new(j, "operating_point", json_pack("{s:s}", "error", err));
        return;
    }
    int64_t stored = fg_learn_store_label_count(s, r->name);
    bool enough =
        r->learn.judge && stored > 0 && fg_learn_point_enough((size_t)stored, r->learn.min_labels);
    json_object_set_new(j, "own_labels",
                        json_pack("{s:I, s:i, s:b}", "stored",
                                  (json_int_t)(stored > 0 ? stored : 0), "min_labels",
                                  r->learn.judge ? r->learn.min_labels : 0, "enough", enough));
    json_object_set_new(j, "cold_start",
                        json_pack("{s:s, s:b}", "tier", cold_names[r->cold_start], "applies",
                                  r->cold_start != FG_COLD_CLASSIFIER && !enough));
    int version;
    size_t fitted_n;
    char what[64];
    struct fg_router *rt = running(s, r, &version, &fitted_n, what, sizeof what);
    json_t *op = NULL;
    struct fg_optpoint p;
    if (!rt) {
        op = json_pack("{s:s}", "source", "no weights: every call goes to the frontier model");
    } else if (r->quality_target > 0 && enough) {
        struct fg_learn_labels L;
        if (fg_learn_store_labels(s, r->name, rt->n_buckets, &L) == 0) {
            fg_learn_point(rt, &L, fitted_n, HOLD_EVERY, r->quality_target, &p);
            op = point_json(&p, "own labels");
        }
        fg_learn_store_labels_free(&L);
    } else if (r->quality_target > 0 && r->labels) {
        struct fg_optpoint_label *l;
        size_t n;
        if (fg_route_labels_load(r->labels, rt, &l, &n, err, sizeof err) == 0) {
            fg_optpoint_pick(l, n, r->quality_target, &p);
            free(l);
            op = point_json(&p, "label file");
        }
    }
    if (!op)
        op = json_pack("{s:s}", "source",
                       r->frontier_share >= 0 ? "frontier_share"
                       : r->threshold >= 0    ? "threshold"
                                              : "the weights' recorded share");
    json_object_set_new(op, "weights", json_string(what));
    json_object_set_new(op, "version", json_integer(version));
    json_object_set_new(j, "operating_point", op);
    if (rt)
        fg_router_free(rt);
    fg_learn_store_close(s);
}

void fg_route_report_point_print(const json_t *j)
{
    const json_t *own = json_object_get(j, "own_labels"), *cs = json_object_get(j, "cold_start");
    const json_t *op = json_object_get(j, "operating_point");
    if (own)
        printf("own labels: %lld stored (enough from %lld)\n",
               (long long)json_integer_value(json_object_get(own, "stored")),
               (long long)json_integer_value(json_object_get(own, "min_labels")));
    if (cs)
        printf("cold start: %s, %s\n", json_string_value(json_object_get(cs, "tier")),
               json_is_true(json_object_get(cs, "applies")) ? "applies" : "does not apply");
    if (!op)
        return;
    if (json_object_get(op, "error")) {
        printf("operating point: unknown (%s)\n", json_string_value(json_object_get(op, "error")));
        return;
    }
    const char *says = json_string_value(json_object_get(op, "says"));
    printf("operating point (%s, from %s): %s\n", json_string_value(json_object_get(op, "weights")),
           json_string_value(json_object_get(op, "source")), says ? says : "");
}
