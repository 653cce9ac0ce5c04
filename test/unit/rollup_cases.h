/* rollup_cases.h — the rollup cases every ledger store must pass alike.
 *
 * Included by test_rollup.c (SQLite) and test_rollup_pg.c (Postgres), each
 * defining, before the include, `struct fix` with the store under test
 * (`s`) and its DSN (`dsn`, for a second handle: another replica), and its
 * own setup/teardown; ROLLUP_CASES(setup, teardown) lists the cases for
 * its cmocka table.  What only one store has (its migrations, races
 * between its connections) stays in its own suite. */
#ifndef ROLLUP_CASES_H
#define ROLLUP_CASES_H

#define MIN 60000LL
#define T0 (1764115200000LL) /* 2025-11-26T00:00:00Z, minute-aligned */

struct bsum {
    int n;
    struct fg_batch_spend b[4];
    char ids[4][32];
};


static struct fg_record *rec(const char *id, int64_t ts, const char *key, const char *model,
                             const char *route, int64_t cost, int64_t latency_ms)
{
    struct fg_record *r = fg_ledger_record_new(512);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->ts_ms = ts;
    r->key_id = fg_ledger_record_str(r, key);
    r->model = fg_ledger_record_str(r, model);
    r->route = fg_ledger_record_str(r, route);
    r->tags = fg_ledger_record_str(r, "");
    r->status = 200;
    r->priced = true;
    r->cost_pico = cost;
    r->baseline_pico = cost * 3;
    r->saved_routing_pico = cost * 2;
    r->tok.input = 100;
    r->tok.output = 10;
    r->latency_us = latency_ms * 1000;
    return r;
}

static void write_free(struct fg_store *s, struct fg_record **v, size_t n)
{
    char err[256] = "";
    int rc = s->ops->write(s, v, n, err, sizeof err);
    if (rc)
        print_message("write: %s\n", err);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < n; i++)
        fg_ledger_record_free(v[i]);
}

static json_t *series(struct fg_store *s, int64_t since, int64_t until, int64_t step,
                      enum fg_rollup_group g, const char *key)
{
    struct fg_rollup_query q = {
        .since_ms = since, .until_ms = until, .step_ms = step, .group = g, .key_id = key};
    json_t *out = NULL;
    char err[256] = "";
    int rc = fg_timeseries_build(s, &q, &out, err, sizeof err);
    if (rc)
        print_message("timeseries: %s\n", err);
    assert_int_equal(rc, 0);
    return out;
}

static json_int_t geti(json_t *o, const char *path)
{
    json_t *v = json_object_get(o, path);
    assert_non_null(v);
    return json_integer_value(v);
}

static double getr(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    assert_non_null(v);
    return json_number_value(v);
}

/* The same ids written again — in the next transaction, and by a second
 * handle on the same database (another replica) — count once. */
static void written_twice_counts_once(void **state)
{
    struct fix *f = *state;
    struct fg_record *a[] = {rec("c1", T0 + 1000, "master", "m1", "cheap", 1000000, 20),
                             rec("c2", T0 + 2000, "k1", "m2", "frontier", 2000000, 20)};
    write_free(f->s, a, 2);
    struct fg_record *b[] = {rec("c1", T0 + 1000, "master", "m1", "cheap", 1000000, 20),
                             rec("c3", T0 + MIN + 5, "k1", "m2", "frontier", 4000000, 20)};
    write_free(f->s, b, 2);
    struct fg_store *replica;
    char err[256];
    assert_int_equal(fg_store_open(f->dsn, &replica, err, sizeof err), 0);
    struct fg_record *c[] = {rec("c2", T0 + 2000, "k1", "m2", "frontier", 2000000, 20),
                             rec("c3", T0 + MIN + 5, "k1", "m2", "frontier", 4000000, 20)};
    write_free(replica, c, 2);
    fg_store_close(replica);

    json_t *ts = series(f->s, T0, T0 + 2 * MIN, MIN, FG_ROLLUP_NONE, NULL);
    json_t *tot = json_object_get(ts, "totals");
    assert_int_equal(geti(tot, "requests"), 3);
    assert_true(getr(tot, "cost_usd", NULL) == 0.000007);
    json_t *pts = json_object_get(ts, "points");
    assert_int_equal(json_array_size(pts), 2);
    assert_int_equal(geti(json_array_get(pts, 0), "requests"), 2);
    assert_int_equal(geti(json_array_get(pts, 1), "requests"), 1);
    json_decref(ts);
}

/* A row replayed late (an old ts written after newer ones) lands in its own
 * minute; a key filter keeps only that key's calls. */
static void late_rows_and_key_filter(void **state)
{
    struct fix *f = *state;
    struct fg_record *a[] = {rec("n1", T0 + 10 * MIN, "k1", "m1", "cheap", 5, 20)};
    write_free(f->s, a, 1);
    struct fg_record *b[] = {rec("old", T0 + 2 * MIN + 59999, "k2", "m1", "cheap", 7, 20)};
    write_free(f->s, b, 1);
    json_t *ts = series(f->s, T0, T0 + 15 * MIN, 5 * MIN, FG_ROLLUP_NONE, NULL);
    json_t *pts = json_object_get(ts, "points");
    assert_int_equal(json_array_size(pts), 3);
    assert_int_equal(geti(json_array_get(pts, 0), "requests"), 1); /* the late row */
    assert_int_equal(geti(json_array_get(pts, 1), "requests"), 0);
    assert_int_equal(geti(json_array_get(pts, 2), "requests"), 1);
    json_decref(ts);
    ts = series(f->s, T0, T0 + 15 * MIN, 5 * MIN, FG_ROLLUP_NONE, "k2");
    assert_int_equal(geti(json_object_get(ts, "totals"), "requests"), 1);
    json_decref(ts);
}

/* Latency histogram: each call in one bucket; percentiles are bucket
 * bounds (never averages); p99 in the unbounded bucket is null. */
static void latency_buckets_and_percentiles(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[100];
    char id[16];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "l%d", i);
        /* 60 at 3 ms, 30 at 7 ms, 9 at 120 ms, 1 at 70 s */
        int64_t ms = i < 60 ? 3 : i < 90 ? 7 : i < 99 ? 120 : 70000;
        v[i] = rec(id, T0 + i, "master", "m1", "cheap", 1, ms);
    }
    write_free(f->s, v, 100);
    json_t *ts = series(f->s, T0, T0 + MIN, MIN, FG_ROLLUP_NONE, NULL);
    json_t *lat = json_object_get(json_object_get(ts, "totals"), "latency");
    json_t *counts = json_object_get(lat, "counts");
    assert_int_equal(json_array_size(counts), FG_ROLLUP_LAT_BUCKETS);
    assert_int_equal(json_integer_value(json_array_get(counts, 0)), 60); /* <= 5 ms */
    assert_int_equal(json_integer_value(json_array_get(counts, 1)), 30); /* <= 10 ms */
    assert_int_equal(json_integer_value(json_array_get(counts, 5)), 9);  /* <= 250 ms */
    assert_int_equal(json_integer_value(json_array_get(counts, FG_ROLLUP_LAT_BUCKETS - 1)), 1);
    assert_int_equal(geti(lat, "p50_ms"), 5);
    assert_int_equal(geti(lat, "p90_ms"), 10);
    assert_int_equal(geti(lat, "p99_ms"), 250);
    json_decref(ts);
}

/* Grouped by route: per-group totals and per-point splits add up. */
static void grouped_by_route(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("g1", T0, "master", "m1", "cheap", 10, 1),
                             rec("g2", T0 + MIN, "master", "m2", "frontier", 30, 1),
                             rec("g3", T0 + MIN + 1, "master", "m2", "frontier", 30, 1)};
    write_free(f->s, v, 3);
    json_t *ts = series(f->s, T0, T0 + 2 * MIN, MIN, FG_ROLLUP_ROUTE, NULL);
    json_t *gs = json_object_get(ts, "groups");
    assert_int_equal(json_array_size(gs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gs, 0), "key")),
                        "frontier");
    assert_int_equal(geti(json_array_get(gs, 0), "requests"), 2);
    json_t *by1 = json_object_get(json_array_get(json_object_get(ts, "points"), 1), "by");
    assert_int_equal(geti(json_object_get(by1, "frontier"), "requests"), 2);
    assert_null(json_object_get(by1, "cheap"));
    json_decref(ts);
}

/* A key-tag filter's key ids (key_ids_json) narrow the rollups to those
 * keys, with or without one key; an empty list is nothing. */
static void key_ids_filter(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("k1", T0, "ka", "m1", "cheap", 10, 1),
                             rec("k2", T0 + 1, "kb", "m1", "cheap", 20, 1),
                             rec("k3", T0 + 2, "kc", "m1", "cheap", 40, 1)};
    write_free(f->s, v, 3);
    static const struct {
        const char *ids, *key;
        int n;
    } cases[] = {{"[\"ka\",\"kc\"]", NULL, 2},
                 {"[\"ka\",\"kc\"]", "kc", 1},
                 {"[\"ka\"]", "kb", 0},
                 {"[]", NULL, 0},
                 {NULL, NULL, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_rollup_query q = {.since_ms = T0,
                                    .until_ms = T0 + MIN,
                                    .step_ms = MIN,
                                    .key_id = cases[i].key,
                                    .key_ids_json = cases[i].ids};
        json_t *out = NULL;
        char err[256] = "";
        assert_int_equal(fg_timeseries_build(f->s, &q, &out, err, sizeof err), 0);
        assert_int_equal(geti(json_object_get(out, "totals"), "requests"), cases[i].n);
        json_decref(out);
    }
}

static int on_batch(void *arg, const struct fg_batch_spend *b)
{
    struct bsum *s = arg;
    assert_true(s->n < 4);
    s->b[s->n] = *b;
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", b->batch_id);
    s->b[s->n].batch_id = s->ids[s->n];
    s->n++;
    return 0;
}

/* batch_spend: per batch id asked, its rows' sums (of one key when
 * given); a batch with no rows is absent. */
static void batch_spend_sums(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[] = {rec("b1", T0, "ka", "m1", "fixed", 10, 1),
                             rec("b2", T0 + 1, "ka", "m1", "fixed", 20, 1),
                             rec("b3", T0 + 2, "kb", "m1", "fixed", 40, 1),
                             rec("b4", T0 + 3, "kb", "m1", "fixed", 80, 1)};
    const char *bid[] = {"batch_a", "batch_a", "batch_b", NULL};
    for (size_t i = 0; i < 4; i++) {
        v[i]->batch = i < 3;
        v[i]->saved_batch_pico = i < 3 ? 5 : 0;
        if (bid[i])
            v[i]->batch_id = fg_ledger_record_str(v[i], bid[i]);
    }
    v[1]->status = 500;
    write_free(f->s, v, 4);
    const char *ids[] = {"batch_a", "batch_b", "batch_none"};
    struct bsum all = {0};
    char err[256] = "";
    assert_int_equal(f->s->ops->batch_spend(f->s, NULL, ids, 3, on_batch, &all, err, sizeof err),
                     0);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.b[0].batch_id, "batch_a");
    assert_int_equal(all.b[0].requests, 2);
    assert_int_equal(all.b[0].errors, 1);
    assert_int_equal(all.b[0].cost_pico, 30);
    assert_int_equal(all.b[0].saved_batch_pico, 10);
    assert_int_equal(all.b[0].provider_requests, 2);
    assert_string_equal(all.b[1].batch_id, "batch_b");
    assert_int_equal(all.b[1].cost_pico, 40);
    struct bsum mine = {0};
    assert_int_equal(f->s->ops->batch_spend(f->s, "kb", ids, 3, on_batch, &mine, err, sizeof err),
                     0);
    assert_int_equal(mine.n, 1);
    assert_string_equal(mine.b[0].batch_id, "batch_b");
}

/* The totals equal the spend map's over the same minute-aligned window. */
static void totals_equal_spend_map(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[40];
    char id[16];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "s%d", i);
        v[i] = rec(id, T0 + i * 7919, i % 3 ? "k1" : "k2", i % 2 ? "m1" : "m2",
                   i % 4 ? "cheap" : "frontier", 1234567 + i * 1000003, 5 + i);
        v[i]->saved_prompt_cache_pico = i * 17;
        v[i]->bucket_frontier_pico = i * 5;
        if (i % 9 == 0)
            v[i]->status = 500;
    }
    write_free(f->s, v, 40);
    int64_t since = T0, until = T0 + 6 * MIN;
    json_t *ts = series(f->s, since, until, MIN, FG_ROLLUP_NONE, NULL);
    struct fg_report_opts o = {.since_ms = since, .until_ms = until};
    json_t *sp = NULL;
    char err[256];
    assert_int_equal(fg_report_spend(f->s, &o, &sp, err, sizeof err), 0);
    json_t *tot = json_object_get(ts, "totals");
    assert_int_equal(geti(tot, "requests"), geti(sp, "requests"));
    assert_int_equal(geti(tot, "errors"), geti(sp, "errors"));
    assert_true(getr(tot, "cost_usd", NULL) == getr(sp, "cost_usd", NULL));
    assert_true(getr(tot, "baseline_usd", NULL) == getr(sp, "baseline_usd", NULL));
    assert_true(getr(tot, "saved_usd", NULL) == getr(sp, "saved_usd", NULL));
    assert_true(getr(tot, "saved_by", "routing") == getr(sp, "saved_by", "routing"));
    assert_true(getr(tot, "saved_by", "prompt_cache") == getr(sp, "saved_by", "prompt_cache"));
    json_t *tk = json_object_get(tot, "tokens"), *sk = json_object_get(sp, "tokens");
    assert_int_equal(geti(tk, "input"), geti(sk, "input"));
    assert_int_equal(geti(tk, "output"), geti(sk, "output"));
    json_decref(ts);
    json_decref(sp);
}

/* Long windows read the hour and day rollups: the same sums as minutes. */
static void hour_and_day_grains_agree(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[60];
    char id[16];
    for (int i = 0; i < 60; i++) {
        snprintf(id, sizeof id, "h%d", i);
        /* spread over three days, some on the last minute of an hour or day */
        int64_t ts = T0 + (int64_t)i * 3600000LL + (!i ? 0 : i % 5 == 0 ? 3599999 : i * 1000);
        v[i] = rec(id, ts, i % 2 ? "k1" : "k2", "m1", "cheap", 1000 + i, 10 * i);
    }
    write_free(f->s, v, 60);
    const int64_t H = 3600000LL, D = 24 * H;
    json_t *m = series(f->s, T0, T0 + 3 * D, 60 * MIN, FG_ROLLUP_KEY, NULL); /* hour grain */
    json_t *d = series(f->s, T0, T0 + 3 * D, D, FG_ROLLUP_KEY, NULL);        /* day grain */
    json_t *mm = series(f->s, T0 + MIN, T0 + 3 * D - MIN, 60 * MIN, FG_ROLLUP_KEY, NULL);
    json_t *tm = json_object_get(m, "totals"), *td = json_object_get(d, "totals");
    assert_int_equal(geti(tm, "requests"), 60);
    assert_int_equal(geti(td, "requests"), 60);
    assert_true(getr(tm, "cost_usd", NULL) == getr(td, "cost_usd", NULL));
    assert_true(json_equal(json_object_get(tm, "latency"), json_object_get(td, "latency")));
    assert_int_equal(json_array_size(json_object_get(d, "points")), 3);
    assert_int_equal(geti(json_array_get(json_object_get(d, "points"), 0), "requests"), 24);
    /* a window not cut at hours reads minutes: the first row's minute is out */
    assert_int_equal(geti(json_object_get(mm, "totals"), "requests"), 59);
    json_decref(m);
    json_decref(d);
    json_decref(mm);
}

#define ROLLUP_CASES(setup, teardown)                                                              \
    cmocka_unit_test_setup_teardown(written_twice_counts_once, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(late_rows_and_key_filter, setup, teardown),                \
        cmocka_unit_test_setup_teardown(latency_buckets_and_percentiles, setup, teardown),         \
        cmocka_unit_test_setup_teardown(grouped_by_route, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(totals_equal_spend_map, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(hour_and_day_grains_agree, setup, teardown),               \
        cmocka_unit_test_setup_teardown(key_ids_filter, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(batch_spend_sums, setup, teardown)

#endif
