/* timeseries.c — see timeseries.h. */
#include "timeseries.h"

#include "arena.h"
#include "assert.h"
#include "period.h"
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sums of one point, one group or the whole window. */
struct sums {
    int64_t requests, errors, unpriced, cache_hits, cost, baseline;
    int64_t saved[5], bucket[4], tokens[5], latency_sum_us;
    int64_t lat[FG_ROLLUP_LAT_BUCKETS];
    int64_t escalations, esc[FG_ROLLUP_ESC_REASONS];
    int64_t refused[FG_ROLLUP_REFUSALS];
};

struct group {
    char *key;
    struct sums s;
};

struct build {
    const struct fg_rollup_query *q;
    size_t npoints;
    struct sums *points;
    json_t **point_by; /* per point: {group: {...}} (grouped queries only) */
    struct sums total;
    struct group *groups;
    size_t ngroups;
};

static void sums_add(struct sums *a, const struct fg_rollup_row *r)
{
    a->requests += r->requests;
    a->errors += r->errors;
    a->unpriced += r->unpriced;
    a->cache_hits += r->cache_hits;
    a->cost += r->cost_pico;
    a->baseline += r->baseline_pico;
    for (int i = 0; i < 5; i++)
        a->saved[i] += r->saved_pico[i];
    for (int i = 0; i < 4; i++)
        a->bucket[i] += r->bucket_pico[i];
    for (int i = 0; i < 5; i++)
        a->tokens[i] += r->tokens[i];
    a->latency_sum_us += r->latency_sum_us;
    for (int i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++)
        a->lat[i] += r->lat[i];
    a->escalations += r->escalations;
    for (int i = 0; i < FG_ROLLUP_ESC_REASONS; i++)
        a->esc[i] += r->esc[i];
    for (int i = 0; i < FG_ROLLUP_REFUSALS; i++)
        a->refused[i] += r->refused[i];
}

static struct sums *group_of(struct build *b, const char *key)
{
    if (!key)
        key = "";
    for (size_t i = 0; i < b->ngroups; i++)
        if (!strcmp(b->groups[i].key, key))
            return &b->groups[i].s;
    if (b->ngroups >= FG_TIMESERIES_MAX_GROUPS && strcmp(key, "(other)"))
        return group_of(b, "(other)"); /* found or added: one past the cap at most */
    b->groups = fg_xrealloc(b->groups, (b->ngroups + 1) * sizeof *b->groups);
    b->groups[b->ngroups] = (struct group){.key = fg_xstrdup(key)};
    return &b->groups[b->ngroups++].s;
}

static json_t *small_json(const struct sums *s)
{
    return json_pack("{sI,sI,so,so,so}", "requests", (json_int_t)s->requests, "errors",
                     (json_int_t)s->errors, "cost_usd", fg_report_usd(s->cost), "baseline_usd",
                     fg_report_usd(s->baseline), "saved_usd", fg_report_usd(s->baseline - s->cost));
}

static int on_row(void *arg, const struct fg_rollup_row *r)
{
    struct build *b = arg;
    FG_ASSERT(r->t_ms >= b->q->since_ms);
    size_t i = (size_t)((r->t_ms - b->q->since_ms) / b->q->step_ms);
    FG_ASSERT(i < b->npoints);
    sums_add(&b->points[i], r);
    sums_add(&b->total, r);
    if (b->q->group != FG_ROLLUP_NONE) {
        const char *g = r->group ? r->group : "";
        sums_add(group_of(b, g), r);
        struct sums one = {0};
        sums_add(&one, r);
        if (!b->point_by[i])
            b->point_by[i] = json_object();
        json_object_set_new(b->point_by[i], g, small_json(&one));
    }
    return 0;
}

/* The upper bound (ms) of the bucket holding the p-th percentile call, or
 * null (unbounded bucket, no calls). */
static json_t *percentile(const struct sums *s, int pct)
{
    if (s->requests <= 0)
        return json_null();
    /* the smallest bucket whose cumulative count reaches ceil(n * pct / 100) */
    int64_t need = (s->requests * pct + 99) / 100, seen = 0;
    for (int i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++) {
        seen += s->lat[i];
        if (seen >= need)
            return fg_rollup_lat_le_ms[i] == FG_ROLLUP_LAT_INF
                       ? json_null()
                       : json_integer((json_int_t)fg_rollup_lat_le_ms[i]);
    }
    return json_null();
}

static json_t *latency_json(const struct sums *s)
{
    json_t *le = json_array(), *counts = json_array();
    for (int i = 0; i < FG_ROLLUP_LAT_BUCKETS; i++) {
        json_array_append_new(le, fg_rollup_lat_le_ms[i] == FG_ROLLUP_LAT_INF
                                      ? json_null()
                                      : json_integer((json_int_t)fg_rollup_lat_le_ms[i]));
        json_array_append_new(counts, json_integer((json_int_t)s->lat[i]));
    }
    json_t *mean =
        s->requests ? json_real((double)(s->latency_sum_us / s->requests) / 1000.0) : json_null();
    return json_pack("{so,so,so,so,so,so}", "le_ms", le, "counts", counts, "mean_ms", mean,
                     "p50_ms", percentile(s, 50), "p90_ms", percentile(s, 90), "p99_ms",
                     percentile(s, 99));
}

/* {count, by_reason: {empty, …, retry, other}}: other is what no known
 * reason's text starts (store.h). */
static json_t *esc_json(const struct sums *s)
{
    json_t *by = json_object();
    int64_t known = 0;
    for (int i = 0; i < FG_ROLLUP_ESC_REASONS; i++) {
        json_object_set_new(by, fg_rollup_esc[i].name, json_integer((json_int_t)s->esc[i]));
        known += s->esc[i];
    }
    FG_DASSERT(known <= s->escalations);
    json_object_set_new(by, "other", json_integer((json_int_t)(s->escalations - known)));
    return json_pack("{sI,so}", "count", (json_int_t)s->escalations, "by_reason", by);
}

/* {rate_limit, budget}: calls frugal refused at admission (store.h). */
static json_t *refusals_json(const struct sums *s)
{
    json_t *o = json_object();
    for (int i = 0; i < FG_ROLLUP_REFUSALS; i++)
        json_object_set_new(o, fg_rollup_refusal[i].name, json_integer((json_int_t)s->refused[i]));
    return o;
}

static json_t *money_json(const struct sums *s)
{
    json_t *o = small_json(s);
    static const char *const tech[5] = {"prompt_cache", "response_cache", "routing", "batch",
                                        "flex"};
    static const char *const bucket[4] = {"repeated_context", "repeated_cached", "frontier_overuse",
                                          "bloated_output"};
    json_t *sb = json_object(), *bk = json_object();
    for (int i = 0; i < 5; i++)
        json_object_set_new(sb, tech[i], fg_report_usd(s->saved[i]));
    for (int i = 0; i < 4; i++)
        json_object_set_new(bk, bucket[i], fg_report_usd(s->bucket[i]));
    json_object_set_new(o, "saved_by", sb);
    json_object_set_new(o, "buckets", bk);
    json_object_set_new(o, "escalations", esc_json(s));
    json_object_set_new(o, "refusals", refusals_json(s));
    return o;
}

static json_t *full_json(const struct sums *s)
{
    json_t *o = money_json(s);
    json_object_set_new(o, "unpriced_requests", json_integer((json_int_t)s->unpriced));
    json_object_set_new(o, "cache_hits", json_integer((json_int_t)s->cache_hits));
    json_object_set_new(o, "tokens",
                        json_pack("{sI,sI,sI,sI,sI}", "input", (json_int_t)s->tokens[0],
                                  "cache_read", (json_int_t)s->tokens[1], "cache_write_5m",
                                  (json_int_t)s->tokens[2], "cache_write_1h",
                                  (json_int_t)s->tokens[3], "output", (json_int_t)s->tokens[4]));
    json_object_set_new(o, "latency", latency_json(s));
    return o;
}

static int group_cmp(const void *x, const void *y)
{
    const struct group *a = x, *b = y;
    if (a->s.cost != b->s.cost)
        return a->s.cost > b->s.cost ? -1 : 1;
    if (a->s.requests != b->s.requests)
        return a->s.requests > b->s.requests ? -1 : 1;
    return strcmp(a->key, b->key);
}

static json_t *to_json(struct build *b)
{
    static const char *const gnames[] = {NULL, "model", "key", "route"};
    const struct fg_rollup_query *q = b->q;
    char s[40], u[40];
    json_t *out = json_pack(
        "{ss,ss,sI,so,so}", "since", fg_period_rfc3339(q->since_ms, s, sizeof s), "until",
        fg_period_rfc3339(q->until_ms, u, sizeof u), "step_s", (json_int_t)(q->step_ms / 1000),
        "group", gnames[q->group] ? json_string(gnames[q->group]) : json_null(), "totals",
        full_json(&b->total));
    json_t *pts = json_array();
    for (size_t i = 0; i < b->npoints; i++) {
        int64_t t = q->since_ms + (int64_t)i * q->step_ms;
        json_t *p = money_json(&b->points[i]);
        json_object_set_new(p, "t", json_string(fg_period_rfc3339(t, s, sizeof s)));
        json_object_set_new(p, "t_ms", json_integer((json_int_t)t));
        if (q->group != FG_ROLLUP_NONE)
            json_object_set_new(p, "by", b->point_by[i] ? b->point_by[i] : json_object());
        b->point_by[i] = NULL;
        json_array_append_new(pts, p);
    }
    json_object_set_new(out, "points", pts);
    if (q->group != FG_ROLLUP_NONE) {
        qsort(b->groups, b->ngroups, sizeof *b->groups, group_cmp);
        json_t *gs = json_array();
        for (size_t i = 0; i < b->ngroups; i++) {
            json_t *g = full_json(&b->groups[i].s);
            json_object_set_new(g, "key", json_string(b->groups[i].key));
            json_array_append_new(gs, g);
        }
        json_object_set_new(out, "groups", gs);
    }
    return out;
}

#define MINUTE_MS 60000LL
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

static int64_t auto_step(int64_t span_ms)
{
    static const int64_t steps[] = {MINUTE_MS,   5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS,
                                    6 * HOUR_MS, DAY_MS,        7 * DAY_MS};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (span_ms / steps[i] <= 60)
            return steps[i];
    return 30 * DAY_MS;
}

/* t floored (up = 0) or rounded up (up = 1) to a multiple of unit. */
static int64_t align(int64_t t, int64_t unit, int up)
{
    int64_t r = ((t % unit) + unit) % unit;
    return r == 0 ? t : up ? t + unit - r : t - r;
}

void fg_timeseries_window(int64_t since_ms, int64_t until_ms, int64_t step_ms,
                          struct fg_rollup_query *q)
{
    FG_ASSERT(until_ms > since_ms && step_ms >= 0 && step_ms % MINUTE_MS == 0);
    q->step_ms = step_ms ? step_ms : auto_step(until_ms - since_ms);
    int64_t unit = q->step_ms % DAY_MS == 0    ? DAY_MS
                   : q->step_ms % HOUR_MS == 0 ? HOUR_MS
                                               : MINUTE_MS;
    q->since_ms = align(since_ms, unit, 0);
    q->until_ms = align(until_ms, unit, 1);
}

int fg_timeseries_build(struct fg_store *st, const struct fg_rollup_query *q, json_t **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    FG_ASSERT(q->step_ms >= 60000 && q->step_ms % 60000 == 0);
    FG_ASSERT(q->since_ms % 60000 == 0 && q->until_ms % 60000 == 0 && q->until_ms > q->since_ms);
    if (!st->ops->rollup) {
        snprintf(err, errlen, "this storage backend (%s) keeps no rollups", st->ops->scheme);
        return -1;
    }
    struct build b = {.q = q};
    b.npoints = (size_t)((q->until_ms - q->since_ms + q->step_ms - 1) / q->step_ms);
    FG_ASSERT(b.npoints <= FG_TIMESERIES_MAX_POINTS);
    b.points = fg_xcalloc(b.npoints, sizeof *b.points);
    b.point_by = fg_xcalloc(b.npoints, sizeof *b.point_by);
    int rc = st->ops->rollup(st, q, on_row, &b, err, errlen);
    if (rc == 0)
        *out = to_json(&b);
    for (size_t i = 0; i < b.npoints; i++)
        json_decref(b.point_by[i]);
    for (size_t i = 0; i < b.ngroups; i++)
        free(b.groups[i].key);
    free(b.groups);
    free(b.points);
    free(b.point_by);
    return rc;
}
