/* route_report.c — see route_report.h. */
#include "route_report.h"

#include "arena.h"
#include "clock.h"
#include "report.h"
#include "route_report_point.h"
#include "route_tool.h"
#include "store.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define BOOT_DRAWS 500

struct orig { /* a call of the route */
    char id[40];
    double score; /* NAN: not decided by the classifier */
    bool cheap;
};

struct lab { /* a label, by the sampled call's id */
    char id[40];
    int label; /* 1, 0, -1 none */
};

struct acc {
    const char *route, *tag;
    const struct fg_config *cfg;
    int64_t calls, tier[4]; /* cheap, frontier, escalated, fallback */
    int64_t cost_pico, learn_calls, learn_pico;
    int64_t today_ms, learn_today_pico, cold_calls; /* since 00:00Z; "cold start:" reasons */
    struct orig *o;
    size_t no, co;
    struct lab *l;
    size_t nl, cl;
    struct lab *e; /* every learning call's sampled call (label unused) */
    size_t ne, ce;
};

static const char *const tiers[4] = {"cheap", "frontier", "escalated", "fallback"};

/* "classifier score 0.412 >= threshold 0.300" → 0.412; NAN otherwise. */
static double score_of(const char *reason)
{
    const char *p = reason ? strstr(reason, "classifier score ") : NULL;
    return p ? strtod(p + 17, NULL) : NAN;
}

static int on_row(void *arg, const struct fg_record *r)
{
    struct acc *a = arg;
    bool eval = r->route && !strcmp(r->route, "routing_eval");
    if (eval && r->tags && !strcmp(r->tags, a->tag)) {
        a->learn_calls++;
        a->learn_pico += r->cost_pico;
        if (r->ts_ms >= a->today_ms)
            a->learn_today_pico += r->cost_pico;
        if (r->linked_id) {
            if (a->ne == a->ce)
                a->e = fg_xrealloc(a->e, (a->ce = a->ce ? a->ce * 2 : 64) * sizeof *a->e);
            snprintf(a->e[a->ne++].id, sizeof a->e->id, "%s", r->linked_id);
        }
        const char *l = r->route_reason ? strstr(r->route_reason, "; label ") : NULL;
        if (l && r->linked_id) {
            if (a->nl == a->cl)
                a->l = fg_xrealloc(a->l, (a->cl = a->cl ? a->cl * 2 : 64) * sizeof *a->l);
            struct lab *x = &a->l[a->nl++];
            snprintf(x->id, sizeof x->id, "%s", r->linked_id);
            x->label = l[8] == '1' ? 1 : l[8] == '0' ? 0 : -1;
        }
        return 0;
    }
    if (eval || !r->model_requested || strcmp(r->model_requested, a->route))
        return 0;
    a->calls++;
    a->cost_pico += r->cost_pico;
    if (r->route_reason && !strncmp(r->route_reason, "cold start:", 11))
        a->cold_calls++;
    for (int t = 0; t < 4; t++)
        if (r->route && !strcmp(r->route, tiers[t]))
            a->tier[t]++;
    if (a->no == a->co)
        a->o = fg_xrealloc(a->o, (a->co = a->co ? a->co * 2 : 64) * sizeof *a->o);
    struct orig *o = &a->o[a->no++];
    snprintf(o->id, sizeof o->id, "%s", r->id);
    o->score = score_of(r->route_reason);
    o->cheap = r->route && !strcmp(r->route, "cheap");
    return 0;
}

static int cmp_orig(const void *x, const void *y)
{
    return strcmp(((const struct orig *)x)->id, ((const struct orig *)y)->id);
}

/* Wilson interval of k successes in n at z (90%: 1.645). */
static void wilson(double k, double n, double *lo, double *hi)
{
    const double z = 1.645;
    double p = k / n, d = 1 + z * z / n, c = (p + z * z / (2 * n)) / d;
    double h = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d;
    *lo = c - h;
    *hi = c + h;
}

static double apgr(size_t n, const double *s, const double *qw, const double *qs)
{
    struct fg_route_tool_curve cv;
    fg_route_tool_curve(n, s, qw, qs, NULL, &cv);
    return cv.apgr;
}

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* APGR of the labelled, classifier-scored calls with a bootstrap interval;
 * NAN when the labels do not have both values. */
static double apgr_ci(size_t n, const double *s, const double *qw, double *lo, double *hi)
{
    double *qs = fg_xmalloc((n ? n : 1) * sizeof *qs), *bs = fg_xmalloc((n ? n : 1) * sizeof *bs);
    double *bw = fg_xmalloc((n ? n : 1) * sizeof *bw), *d = fg_xmalloc(BOOT_DRAWS * sizeof *d);
    for (size_t i = 0; i < n; i++)
        qs[i] = 1.0;
    double a = n ? apgr(n, s, qw, qs) : NAN;
    size_t nd = 0;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (int b = 0; b < BOOT_DRAWS && isfinite(a); b++) {
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t k = (size_t)((seed >> 33) % n);
            bs[i] = s[k];
            bw[i] = qw[k];
        }
        double v = apgr(n, bs, bw, qs);
        if (isfinite(v))
            d[nd++] = v;
    }
    qsort(d, nd, sizeof *d, cmp_d);
    *lo = nd ? d[(size_t)(0.05 * (double)nd)] : NAN;
    *hi = nd ? d[(size_t)(0.95 * (double)(nd - 1))] : NAN;
    free(qs);
    free(bs);
    free(bw);
    free(d);
    return a;
}

static json_t *num_or_null(double v, int dec)
{
    if (!isfinite(v))
        return json_null();
    double m = pow(10, dec);
    return json_real(round(v * m) / m);
}

static int cmp_lab(const void *x, const void *y)
{
    return strcmp(((const struct lab *)x)->id, ((const struct lab *)y)->id);
}

/* Evaluations (distinct sampled calls) among the learning calls. */
static int64_t evaluations(struct acc *a)
{
    qsort(a->e, a->ne, sizeof *a->e, cmp_lab);
    int64_t n = 0;
    for (size_t i = 0; i < a->ne; i++)
        n += i == 0 || strcmp(a->e[i].id, a->e[i - 1].id) != 0;
    return n;
}

static json_t *build(struct acc *a, const struct fg_route_cfg *rc)
{
    qsort(a->o, a->no, sizeof *a->o, cmp_orig);
    int64_t ok = 0, worse = 0, none = 0, c_ok = 0, c_n = 0;
    size_t ns = 0;
    double *s = fg_xmalloc((a->nl ? a->nl : 1) * sizeof *s);
    double *qw = fg_xmalloc((a->nl ? a->nl : 1) * sizeof *qw);
    for (size_t i = 0; i < a->nl; i++) {
        const struct lab *l = &a->l[i];
        if (l->label < 0) {
            none++;
            continue;
        }
        l->label ? ok++ : worse++;
        struct orig key;
        snprintf(key.id, sizeof key.id, "%s", l->id);
        const struct orig *o = bsearch(&key, a->o, a->no, sizeof *a->o, cmp_orig);
        if (o && o->cheap)
            c_n++, c_ok += l->label;
        if (o && isfinite(o->score))
            s[ns] = o->score, qw[ns++] = l->label;
    }
    double lo = NAN, hi = NAN, alo = NAN, ahi = NAN;
    int64_t n = ok + worse;
    none = evaluations(a) - n; /* stopped before a verdict, or none readable */
    if (n)
        wilson((double)ok, (double)n, &lo, &hi);
    double ap = apgr_ci(ns, s, qw, &alo, &ahi);
    free(s);
    free(qw);
    double share_cheap = a->calls ? (double)a->tier[0] / (double)a->calls : NAN;
    double p_cheap = c_n ? (double)c_ok / (double)c_n : n ? (double)ok / (double)n : NAN;
    json_t *share = json_object();
    for (int t = 0; t < 4; t++)
        json_object_set_new(share, tiers[t],
                            num_or_null(a->calls ? (double)a->tier[t] / (double)a->calls : NAN, 4));
    json_t *j = json_pack(
        "{s:s, s:I, s:o, s:{s:I, s:I, s:I, s:o, s:o, s:o}, s:{s:o, s:o, s:o, s:I}, s:o, "
        "s:{s:I, s:o, s:o, s:o, s:o}, s:I}",
        "route", a->route, "calls", (json_int_t)a->calls, "share", share, "labels",
        "cheap_no_worse", (json_int_t)ok, "frontier_better", (json_int_t)worse, "none",
        (json_int_t)none, "rate", num_or_null(n ? (double)ok / (double)n : NAN, 4), "rate_lo90",
        num_or_null(lo, 4), "rate_hi90", num_or_null(hi, 4), "apgr", "value", num_or_null(ap, 3),
        "lo90", num_or_null(alo, 3), "hi90", num_or_null(ahi, 3), "scored_labels", (json_int_t)ns,
        "quality_kept", num_or_null(1 - share_cheap * (1 - p_cheap), 4), "learning", "calls",
        (json_int_t)a->learn_calls, "cost_usd", json_real((double)a->learn_pico / 1e12),
        "share_of_route_cost",
        num_or_null(a->cost_pico ? (double)a->learn_pico / (double)a->cost_pico : NAN, 4),
        "today_usd", json_real((double)a->learn_today_pico / 1e12), "budget_usd_per_day",
        rc->learn.judge ? json_real((double)rc->learn.budget_micro / 1e6) : json_null(),
        "cold_start_calls", (json_int_t)a->cold_calls);
    fg_route_report_point(a->cfg, rc, j);
    return j;
}

static void print_text(const json_t *j)
{
    const json_t *l = json_object_get(j, "labels"), *ap = json_object_get(j, "apgr");
    const json_t *ln = json_object_get(j, "learning"), *sh = json_object_get(j, "share");
    printf("route %s: %lld calls (cheap %.1f%%, frontier %.1f%%, escalated %.1f%%)\n",
           json_string_value(json_object_get(j, "route")),
           (long long)json_integer_value(json_object_get(j, "calls")),
           100 * json_number_value(json_object_get(sh, "cheap")),
           100 * json_number_value(json_object_get(sh, "frontier")),
           100 * json_number_value(json_object_get(sh, "escalated")));
    printf("labels: %lld cheap no worse, %lld frontier better, %lld without a verdict\n",
           (long long)json_integer_value(json_object_get(l, "cheap_no_worse")),
           (long long)json_integer_value(json_object_get(l, "frontier_better")),
           (long long)json_integer_value(json_object_get(l, "none")));
    if (json_is_number(json_object_get(l, "rate")))
        printf("cheap no worse: %.1f%% (90%% interval %.1f%%-%.1f%%)\n",
               100 * json_number_value(json_object_get(l, "rate")),
               100 * json_number_value(json_object_get(l, "rate_lo90")),
               100 * json_number_value(json_object_get(l, "rate_hi90")));
    if (json_is_number(json_object_get(ap, "value")))
        printf("APGR of the classifier on %lld labelled calls: %.3f (90%% interval %.3f-%.3f)\n",
               (long long)json_integer_value(json_object_get(ap, "scored_labels")),
               json_number_value(json_object_get(ap, "value")),
               json_number_value(json_object_get(ap, "lo90")),
               json_number_value(json_object_get(ap, "hi90")));
    else
        printf("APGR: not enough labels (needs both outcomes among classifier-routed calls)\n");
    if (json_is_number(json_object_get(j, "quality_kept")))
        printf("quality kept at the operating point: %.1f%%\n",
               100 * json_number_value(json_object_get(j, "quality_kept")));
    printf("learning: %lld calls, $%.6f",
           (long long)json_integer_value(json_object_get(ln, "calls")),
           json_number_value(json_object_get(ln, "cost_usd")));
    if (json_is_number(json_object_get(ln, "budget_usd_per_day")))
        printf("; today $%.6f of $%.6f a day", json_number_value(json_object_get(ln, "today_usd")),
               json_number_value(json_object_get(ln, "budget_usd_per_day")));
    printf("\n");
    printf("cold start decided %lld calls\n",
           (long long)json_integer_value(json_object_get(j, "cold_start_calls")));
    fg_route_report_point_print(j);
}

static const char usage_text[] =
    "usage: frugal route report ROUTE [--since 30d] [--json] [-c FILE]\n";

int fg_route_report_main(const struct fg_config *cfg, int argc, char **argv)
{
    const char *route = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL, *since = "30d";
    bool as_json = false;
    for (int i = route ? 2 : 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            as_json = true;
        else if (!strcmp(argv[i], "--since") && i + 1 < argc)
            since = argv[++i];
        else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            i++;
        else
            return fprintf(stderr, "frugal route report: unknown argument '%s'\n%s", argv[i],
                           usage_text),
                   2;
    }
    if (!route)
        return fputs(usage_text, stderr), 2;
    if (!fg_config_route(cfg, route)) {
        fprintf(stderr, "frugal route report: no route '%s' in the config\n", route);
        return 2;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, from;
    if (fg_clock_parse_since(since, now, &from) < 0) {
        fprintf(stderr, "frugal route report: bad --since '%s'\n", since);
        return 2;
    }
    char err[512], tag[300];
    snprintf(tag, sizeof tag, "route=%s", route);
    struct acc a = {.route = route, .tag = tag, .cfg = cfg, .today_ms = now - now % 86400000LL};
    struct fg_store *s = NULL;
    int rc = 0;
    if (fg_store_open(cfg->storage, &s, err, sizeof err) < 0 ||
        s->ops->scan(s, from, now + 1, on_row, &a, err, sizeof err) < 0) {
        fprintf(stderr, "frugal route report: %s\n", err);
        rc = 1;
    }
    fg_store_close(s);
    if (!rc) {
        json_t *j = build(&a, fg_config_route(cfg, route));
        if (as_json) {
            json_dumpf(j, stdout, JSON_INDENT(2) | FG_REPORT_JSON_FLAGS);
            putchar('\n');
        } else
            print_text(j);
        json_decref(j);
    }
    free(a.o);
    free(a.l);
    free(a.e);
    return rc;
}
