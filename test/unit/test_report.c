/* test_report.c — unit tests for report.c: the spend map built from a real
 * SQLite store (exact pico sums, shares, groupings, windows, `by` rows),
 * --since parsing, the readable table and `frugal report` exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "keystore.h"
#include "report.h"

/* ---------- helpers ---------- */

struct fix {
    char path[64];
    char dsn[80];
    struct fg_store *s;
    struct fg_keystore *ks; /* names the key ids (report.h key_names) */
};

static int next_id;

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/frugal_test_report_XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    close(fd);
    snprintf(f->dsn, sizeof f->dsn, "sqlite:%s", f->path);
    char err[256];
    if (fg_store_open(f->dsn, &f->s, err, sizeof err) < 0 ||
        fg_keystore_open(f->dsn, &f->ks, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    char p[80];
    fg_store_close(f->s);
    fg_keystore_close(f->ks);
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

/* A priced 200 record: baseline = cost, key "master", no tags. */
static struct fg_record *rec(int64_t ts, const char *model, int64_t cost)
{
    struct fg_record *r = fg_ledger_record_new(512);
    snprintf(r->id, sizeof r->id, "rec-%d", next_id++);
    r->ts_ms = ts;
    r->model = fg_ledger_record_str(r, model);
    r->key_id = fg_ledger_record_str(r, "master");
    r->tags = fg_ledger_record_str(r, "");
    r->status = 200;
    r->priced = true;
    r->cost_pico = cost;
    r->baseline_pico = cost;
    return r;
}

/* Write n records in one transaction and free them. */
static void put_n(struct fix *f, struct fg_record **v, size_t n)
{
    char err[256] = "";
    int rc = f->s->ops->write(f->s, v, n, err, sizeof err);
    if (rc)
        print_message("write: %s\n", err);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < n; i++)
        fg_ledger_record_free(v[i]);
}

static void put(struct fix *f, struct fg_record *r)
{
    put_n(f, &r, 1);
}

/* The spend map of [since, until) by `by`; fails the test on error. */
static json_t *spend(struct fix *f, int64_t since, int64_t until, const char *by, int top)
{
    struct fg_report_opts o = {.since_ms = since,
                               .until_ms = until,
                               .by = by,
                               .top_prefixes = top,
                               .key_names = fg_keystore_names,
                               .key_names_src = f->ks};
    json_t *j = NULL;
    char err[256] = "";
    int rc = fg_report_spend(f->s, &o, &j, err, sizeof err);
    if (rc)
        print_message("spend: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(j);
    return j;
}

static json_t *at(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, (size_t)atoi(k)) : json_object_get(j, k);
    if (!j)
        fail_msg("no %s", path);
    return j;
}

/* Exact equality of a JSON number with a decimal literal. */
#define assert_num(j, path, want)                                                                  \
    do {                                                                                           \
        double got_ = json_number_value(at((j), (path)));                                          \
        if (got_ != (double)(want))                                                                \
            fail_msg("%s: got %.17g, want %.17g", (path), got_, (double)(want));                   \
    } while (0)
#define assert_int_at(j, path, want) assert_int_equal(json_integer_value(at((j), (path))), (want))
#define assert_str_at(j, path, want) assert_string_equal(json_string_value(at((j), (path))), (want))

static char *render(const json_t *j, const char *by);
static void assert_has(const char *text, const char *needle);

#define T0 1795651200000LL /* 2026-11-26T00:00:00Z */
#define HOUR 3600000LL

/* ---------- totals ---------- */

static void sums_exact_to_the_pico(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[1000];
    for (int i = 0; i < 1000; i++) {
        v[i] = rec(T0 + i, "claude-haiku-4-5", 1234567000); /* 0.001234567 USD */
        v[i]->baseline_pico = 9876543000;
        v[i]->tok = (struct fg_tokens){5, 2990, 3, 0, 20};
    }
    put_n(f, v, 1000);
    json_t *j = spend(f, T0, T0 + 10 * HOUR, NULL, 0);
    assert_str_at(j, "since", "2026-11-26T00:00:00Z");
    assert_str_at(j, "until", "2026-11-26T10:00:00Z");
    assert_int_at(j, "requests", 1000);
    assert_int_at(j, "errors", 0);
    assert_int_at(j, "unpriced_requests", 0);
    assert_num(j, "cost_usd", 1.234567);
    assert_num(j, "baseline_usd", 9.876543);
    assert_num(j, "saved_usd", 8.641976);
    assert_num(j, "saved_pct", 87.5);
    assert_int_at(j, "tokens.input", 5000);
    assert_int_at(j, "tokens.cache_read", 2990000);
    assert_int_at(j, "tokens.cache_write_5m", 3000);
    assert_int_at(j, "tokens.cache_write_1h", 0);
    assert_int_at(j, "tokens.output", 20000);
    assert_int_equal(json_array_size(at(j, "cache_busters")), 0);
    assert_int_equal(json_array_size(at(j, "unpriced_models")), 0);
    assert_null(json_object_get(j, "by"));
    /* dumped with the advertised flags, money prints as 6 decimals */
    char *s = json_dumps(j, FG_REPORT_JSON_FLAGS);
    assert_non_null(strstr(s, "\"cost_usd\": 1.234567,"));
    assert_non_null(strstr(s, "\"saved_usd\": 8.641976,"));
    free(s);
    json_decref(j);
}

static void money_never_summed_as_floats(void **state)
{
    struct fix *f = *state;
    /* 0.1 + 0.2 in doubles is 0.30000000000000004; in pico it is 0.3 */
    put(f, rec(T0, "m", 100000000000LL));
    put(f, rec(T0 + 1, "m", 200000000000LL));
    /* half a micro-USD rounds up, once, at the end */
    put(f, rec(T0 + 2, "n", 500000));
    json_t *j = spend(f, T0, T0 + HOUR, NULL, 0);
    assert_num(j, "cost_usd", 0.300001);
    assert_num(j, "by_model.0.cost_usd", 0.3);
    assert_num(j, "by_model.1.cost_usd", 0.000001);
    assert_num(j, "saved_pct", 0);
    json_decref(j);
}

static void empty_window(void **state)
{
    struct fix *f = *state;
    json_t *j = spend(f, T0, T0 + HOUR, "model", 0);
    assert_int_at(j, "requests", 0);
    assert_num(j, "cost_usd", 0);
    assert_num(j, "saved_pct", 0);
    assert_num(j, "buckets.other.share", 0);
    assert_int_equal(json_array_size(at(j, "by_model")), 0);
    assert_int_equal(json_array_size(at(j, "top_prefixes")), 0);
    assert_int_equal(json_array_size(at(j, "by.rows")), 0);
    json_decref(j);
}

/* ---------- buckets and techniques ---------- */

static struct fg_record *bucketed(int64_t ts, int64_t cost, int64_t rep, int64_t cached,
                                  int64_t frontier, int64_t bloated)
{
    struct fg_record *r = rec(ts, "m", cost);
    r->bucket_repeated_pico = rep;
    r->bucket_repeated_cached_pico = cached;
    r->bucket_frontier_pico = frontier;
    r->bucket_bloated_pico = bloated;
    return r;
}

static void buckets_and_shares(void **state)
{
    struct fix *f = *state;
    /* cost 3 USD: repeated 2.19 (cached 2), frontier 0.24, bloated 0.12,
     * other 0.45 */
    put(f, bucketed(T0, 2000000000000LL, 1500000000000LL, 1400000000000LL, 240000000000LL, 0));
    put(f, bucketed(T0 + 1, 1000000000000LL, 690000000000LL, 600000000000LL, 0, 120000000000LL));
    json_t *j = spend(f, T0, T0 + HOUR, "bucket", 0);
    assert_num(j, "cost_usd", 3);
    assert_num(j, "buckets.repeated_context.cost_usd", 2.19);
    assert_num(j, "buckets.repeated_context.share", 0.73);
    assert_num(j, "buckets.repeated_context.cached_usd", 2);
    assert_num(j, "buckets.repeated_context.uncached_usd", 0.19);
    assert_num(j, "buckets.frontier_overuse.cost_usd", 0.24);
    assert_num(j, "buckets.frontier_overuse.share", 0.08);
    assert_num(j, "buckets.bloated_output.cost_usd", 0.12);
    assert_num(j, "buckets.bloated_output.share", 0.04);
    assert_num(j, "buckets.other.cost_usd", 0.45);
    assert_num(j, "buckets.other.share", 0.15);
    /* by bucket: fixed order, requests = calls with money in the bucket */
    assert_str_at(j, "by.dimension", "bucket");
    assert_int_equal(json_array_size(at(j, "by.rows")), 4);
    assert_str_at(j, "by.rows.0.key", "repeated_context");
    assert_int_at(j, "by.rows.0.requests", 2);
    assert_num(j, "by.rows.0.cost_usd", 2.19);
    assert_num(j, "by.rows.0.share", 0.73);
    assert_str_at(j, "by.rows.1.key", "frontier_overuse");
    assert_int_at(j, "by.rows.1.requests", 1);
    /* a bucket is a share of the calls' cost: no baseline or saving of its own */
    assert_true(json_is_null(at(j, "by.rows.1.baseline_usd")));
    assert_true(json_is_null(at(j, "by.rows.1.saved_usd")));
    /* 2 + 1 + 1 + 2 rows for 2 calls: said so */
    assert_int_at(j, "by.calls", 2);
    assert_non_null(
        strstr(json_string_value(at(j, "by.note")), "counted in every bucket it has money in"));
    assert_str_at(j, "by.rows.2.key", "bloated_output");
    assert_int_at(j, "by.rows.2.requests", 1);
    assert_str_at(j, "by.rows.3.key", "other");
    assert_int_at(j, "by.rows.3.requests", 2);
    assert_num(j, "by.rows.3.cost_usd", 0.45);
    char *t = render(j, "bucket");
    assert_has(t, "  frontier_overuse         1    $0.240000            -            -\n");
    assert_has(t, "  (2 calls in all; one call's cost splits across buckets");
    free(t);
    json_decref(j);
}

static void share_rounds_to_4_decimals(void **state)
{
    struct fix *f = *state;
    put(f, bucketed(T0, 3000000, 1000000, 0, 0, 0)); /* 1/3 */
    json_t *j = spend(f, T0, T0 + HOUR, NULL, 0);
    assert_num(j, "buckets.repeated_context.share", 0.3333);
    assert_num(j, "buckets.other.share", 0.6667);
    json_decref(j);
}

static void saved_by_technique(void **state)
{
    struct fix *f = *state;
    struct fg_record *a = rec(T0, "m", 1000000000000LL); /* cost 1, baseline 9 */
    a->baseline_pico = 9000000000000LL;
    a->saved_prompt_cache_pico = 7900000000000LL;
    a->saved_routing_pico = 100000000000LL;
    struct fg_record *b = rec(T0 + 1, "m", 0); /* a response-cache hit */
    b->baseline_pico = 200000000000LL;
    b->saved_response_cache_pico = 200000000000LL;
    struct fg_record *c = rec(T0 + 2, "m", 40000000000LL); /* batch: 50% off */
    c->baseline_pico = 80000000000LL;
    c->saved_batch_pico = 40000000000LL;
    put(f, a);
    put(f, b);
    put(f, c);
    json_t *j = spend(f, T0, T0 + HOUR, "technique", 0);
    assert_num(j, "cost_usd", 1.04);
    assert_num(j, "baseline_usd", 9.28);
    assert_num(j, "saved_usd", 8.24);
    assert_num(j, "saved_pct", 88.8); /* 88.793… */
    assert_num(j, "saved_by.prompt_cache", 7.9);
    assert_num(j, "saved_by.response_cache", 0.2);
    assert_num(j, "saved_by.routing", 0.1);
    assert_num(j, "saved_by.batch", 0.04);
    assert_str_at(j, "by.dimension", "technique");
    assert_str_at(j, "by.rows.0.key", "prompt_cache");
    assert_int_at(j, "by.rows.0.requests", 1);
    assert_num(j, "by.rows.0.cost_usd", 1);
    assert_num(j, "by.rows.0.baseline_usd", 9);
    assert_num(j, "by.rows.0.saved_usd", 7.9);
    assert_str_at(j, "by.rows.1.key", "response_cache");
    assert_num(j, "by.rows.1.saved_usd", 0.2);
    assert_str_at(j, "by.rows.2.key", "routing");
    assert_num(j, "by.rows.2.saved_usd", 0.1);
    assert_str_at(j, "by.rows.3.key", "batch");
    assert_int_at(j, "by.rows.3.requests", 1);
    assert_num(j, "by.rows.3.saved_usd", 0.04);
    json_decref(j);
}

/* ---------- groupings ---------- */

static void by_model_sorted_by_cost(void **state)
{
    struct fix *f = *state;
    for (int i = 0; i < 3; i++)
        put(f, rec(T0 + i, "cheap", 100000000));
    put(f, rec(T0 + 3, "dear", 1000000000));
    struct fg_record *z = rec(T0 + 4, "", 0); /* no model served: requested name */
    z->model = NULL;
    z->model_requested = fg_ledger_record_str(z, "asked-for");
    put(f, z);
    struct fg_record *t = rec(T0 + 5, "cheap", 0);
    t->tok = (struct fg_tokens){10, 20, 30, 40, 50};
    put(f, t);
    json_t *j = spend(f, T0, T0 + HOUR, NULL, 0);
    assert_int_equal(json_array_size(at(j, "by_model")), 3);
    assert_str_at(j, "by_model.0.model", "dear");
    assert_num(j, "by_model.0.cost_usd", 0.001);
    assert_int_at(j, "by_model.0.requests", 1);
    assert_str_at(j, "by_model.1.model", "cheap");
    assert_int_at(j, "by_model.1.requests", 4);
    assert_num(j, "by_model.1.cost_usd", 0.0003);
    assert_int_at(j, "by_model.1.tokens.cache_write_1h", 40);
    assert_int_at(j, "by_model.1.tokens.output", 50);
    assert_str_at(j, "by_model.2.model", "asked-for");
    assert_num(j, "by_model.2.cost_usd", 0);
    json_decref(j);
}

static struct fg_record *prefixed(int64_t ts, const char *fp, int64_t tokens, int64_t cache_read)
{
    struct fg_record *r = rec(ts, "m", 1000000);
    snprintf(r->prefix_fp, sizeof r->prefix_fp, "%s", fp);
    r->prefix_tokens = tokens;
    r->tok.cache_read = cache_read;
    return r;
}

static void top_prefixes_grouped(void **state)
{
    struct fix *f = *state;
    int64_t ts = T0;
    /* aaaa: 3 calls, tokens up to 3000, 2 hits → weight 9000 */
    put(f, prefixed(ts++, "aaaa000000000000", 2900, 0));
    put(f, prefixed(ts++, "aaaa000000000000", 3000, 2900));
    put(f, prefixed(ts++, "aaaa000000000000", 3000, 3000));
    /* bbbb: 10 calls × 1000 tokens, all hits → weight 10000 */
    for (int i = 0; i < 10; i++)
        put(f, prefixed(ts++, "bbbb000000000000", 1000, 1000));
    /* cccc: 1 call × 100 tokens → weight 100, cut by top=2 */
    put(f, prefixed(ts++, "cccc000000000000", 100, 0));
    put(f, prefixed(ts++, "", 5000, 0)); /* no prefix: skipped */
    json_t *j = spend(f, T0, T0 + HOUR, NULL, 2);
    assert_int_equal(json_array_size(at(j, "top_prefixes")), 2);
    assert_str_at(j, "top_prefixes.0.fingerprint", "bbbb000000000000");
    assert_int_at(j, "top_prefixes.0.tokens", 1000);
    assert_int_at(j, "top_prefixes.0.requests", 10);
    assert_num(j, "top_prefixes.0.cache_hit_rate", 1);
    assert_num(j, "top_prefixes.0.cost_usd", 0.00001);
    assert_str_at(j, "top_prefixes.1.fingerprint", "aaaa000000000000");
    assert_int_at(j, "top_prefixes.1.tokens", 3000);
    assert_int_at(j, "top_prefixes.1.requests", 3);
    assert_num(j, "top_prefixes.1.cache_hit_rate", 0.667);
    json_decref(j);
    j = spend(f, T0, T0 + HOUR, NULL, 0); /* default 10: all three */
    assert_int_equal(json_array_size(at(j, "top_prefixes")), 3);
    assert_str_at(j, "top_prefixes.2.fingerprint", "cccc000000000000");
    assert_num(j, "top_prefixes.2.cache_hit_rate", 0);
    json_decref(j);
}

static void unpriced_and_errors(void **state)
{
    struct fix *f = *state;
    put(f, rec(T0, "known", 2000000));
    struct fg_record *u = rec(T0 + 1, "mystery", 5000000); /* cost ignored */
    u->priced = false;
    u->tok.input = 100;
    put(f, u);
    struct fg_record *u2 = rec(T0 + 2, "another", 0);
    u2->priced = false;
    put(f, u2);
    put(f, rec(T0 + 3, "mystery", 0)); /* now priced: still listed once */
    struct fg_record *e = rec(T0 + 4, "broken", 0);
    e->priced = false;
    e->status = 502;
    put(f, e);
    json_t *j = spend(f, T0, T0 + HOUR, NULL, 0);
    assert_int_at(j, "requests", 5);
    assert_int_at(j, "errors", 1);
    assert_int_at(j, "unpriced_requests", 2);
    assert_num(j, "cost_usd", 0.000002);
    assert_int_at(j, "tokens.input", 100);
    assert_int_equal(json_array_size(at(j, "unpriced_models")), 2);
    assert_str_at(j, "unpriced_models.0", "another");
    assert_str_at(j, "unpriced_models.1", "mystery");
    json_decref(j);
}

static void since_until_window(void **state)
{
    struct fix *f = *state;
    put(f, rec(T0 - 1, "m", 1000000)); /* before */
    put(f, rec(T0, "m", 2000000));     /* first ms: in */
    put(f, rec(T0 + HOUR - 1, "m", 3000000));
    put(f, rec(T0 + HOUR, "m", 4000000)); /* until is exclusive */
    json_t *j = spend(f, T0, T0 + HOUR, NULL, 0);
    assert_int_at(j, "requests", 2);
    assert_num(j, "cost_usd", 0.000005);
    assert_str_at(j, "until", "2026-11-26T01:00:00Z");
    json_decref(j);
}

static void by_tag_splits_elements(void **state)
{
    struct fix *f = *state;
    struct fg_record *a = rec(T0, "m", 3000000);
    a->tags = fg_ledger_record_str(a, "team=a,env=prod");
    struct fg_record *b = rec(T0 + 1, "m", 2000000);
    b->tags = fg_ledger_record_str(b, "team=b,env=prod");
    struct fg_record *c = rec(T0 + 2, "m", 500000);
    put(f, a);
    put(f, b);
    put(f, c);
    json_t *j = spend(f, T0, T0 + HOUR, "tag", 0);
    assert_str_at(j, "by.dimension", "tag");
    assert_int_equal(json_array_size(at(j, "by.rows")), 4);
    assert_str_at(j, "by.rows.0.key", "env=prod");
    assert_int_at(j, "by.rows.0.requests", 2);
    assert_num(j, "by.rows.0.cost_usd", 0.000005);
    assert_str_at(j, "by.rows.1.key", "team=a");
    assert_num(j, "by.rows.1.cost_usd", 0.000003);
    assert_str_at(j, "by.rows.2.key", "team=b");
    assert_str_at(j, "by.rows.3.key", "(none)");
    assert_num(j, "by.rows.3.cost_usd", 0.000001); /* 0.5 µ$ rounds up */
    assert_num(j, "cost_usd", 0.000006);           /* tags don't double the total */
    json_decref(j);
}

static void by_key_and_model(void **state)
{
    struct fix *f = *state;
    struct fg_record *a = rec(T0, "m1", 1000000);
    a->key_id = fg_ledger_record_str(a, "vk_team");
    a->baseline_pico = 4000000;
    put(f, a);
    put(f, rec(T0 + 1, "m2", 2000000));
    struct fg_key k = {.created_ms = T0};
    snprintf(k.id, sizeof k.id, "vk_team");
    snprintf(k.name, sizeof k.name, "search-team");
    snprintf(k.hash, sizeof k.hash, "%064d", 7);
    char kerr[200];
    assert_int_equal(f->ks->ops->put(f->ks, &k, kerr, sizeof kerr), 0);
    json_t *j = spend(f, T0, T0 + HOUR, "key", 0);
    assert_str_at(j, "by.rows.0.key", "master");
    assert_null(json_object_get(at(j, "by.rows.0"), "name"));
    assert_str_at(j, "by.rows.1.key", "vk_team");
    assert_str_at(j, "by.rows.1.name", "search-team"); /* people read names, not ids */
    char *t = render(j, "key");
    assert_has(t, "  search-team (vk_team)         1    $0.000001    $0.000004    $0.000003\n");
    free(t);
    assert_num(j, "by.rows.1.baseline_usd", 0.000004);
    assert_num(j, "by.rows.1.saved_usd", 0.000003);
    json_decref(j);
    j = spend(f, T0, T0 + HOUR, "model", 0);
    assert_str_at(j, "by.dimension", "model");
    assert_str_at(j, "by.rows.0.key", "m2");
    assert_str_at(j, "by.rows.1.key", "m1");
    json_decref(j);
}

static void bad_dimension(void **state)
{
    struct fix *f = *state;
    struct fg_report_opts o = {.since_ms = 0, .until_ms = T0, .by = "colour"};
    json_t *j = (json_t *)1;
    char err[256] = "";
    assert_int_equal(fg_report_spend(f->s, &o, &j, err, sizeof err), -1);
    assert_null(j);
    assert_non_null(strstr(err, "'colour'"));
    assert_true(fg_report_by_valid(NULL));
    assert_true(fg_report_by_valid("technique"));
    assert_false(fg_report_by_valid(""));
}

/* ---------- --since ---------- */

static void parse_since_cases(void **state)
{
    (void)state;
    const int64_t now = T0 + 12 * HOUR + 345;
    int64_t v = 0;
    struct {
        const char *s;
        int64_t want;
    } ok[] = {
        {"24h", now - 24 * HOUR},
        {"30m", now - 30 * 60000},
        {"7d", now - 7 * 24 * HOUR},
        {"90s", now - 90000},
        {"2w", now - 14 * 24 * HOUR},
        {"0s", now},
        {"1795651200", T0},
        {"0", 0},
        {"2026-11-26T00:00:00Z", T0},
        {"2026-11-26t00:00:00z", T0},
        {"2026-11-26T00:00:00.25Z", T0 + 250},
        {"2026-11-26T00:00:00.123456789Z", T0 + 123},
        {"2026-11-26T02:30:00+02:30", T0},
        {"2026-11-25T19:00:00-05:00", T0},
        {"2026-11-26 00:00:00", T0},
        {"2026-11-26", T0},
        {"1970-01-01T00:00:00Z", 0},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"1969-12-31T23:59:59Z", -1000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        v = -42;
        if (fg_clock_parse_since(ok[i].s, now, &v) != 0 || v != ok[i].want)
            fail_msg("'%s': got %lld, want %lld", ok[i].s, (long long)v, (long long)ok[i].want);
    }
    const char *bad[] = {"",
                         "h",
                         "24x",
                         "24hh",
                         "-5h",
                         "5 h",
                         "1.5h",
                         "abc",
                         "2026-13-01",
                         "2023-02-29",
                         "2026-11-26T24:00:00Z",
                         "2026-11-26T00:60:00Z",
                         "2026-11-26T00:00Z",
                         "2026-11-26T00:00:00.Z",
                         "2026-11-26T00:00:00+0200",
                         "2026-11-26T00:00:00Z ",
                         "2026-1-26",
                         "99999999999999999999",
                         "9999999999999w"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        if (fg_clock_parse_since(bad[i], now, &v) != -1 || v != 7)
            fail_msg("'%s' accepted (%lld)", bad[i], (long long)v);
    }
    assert_int_equal(fg_clock_parse_since(NULL, now, &v), -1);
}

/* ---------- the table ---------- */

static char *render(const json_t *j, const char *by)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    fg_report_print(m, j, by);
    fclose(m);
    return buf;
}

static void assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("missing \"%s\" in:\n%s", needle, text);
}

static void table_output(void **state)
{
    struct fix *f = *state;
    struct fg_record *v[1000];
    for (int i = 0; i < 1000; i++) {
        v[i] = rec(T0 + i, "claude-haiku-4-5", 1234567000); /* 0.001234567 USD */
        v[i]->baseline_pico = 9876543000;
        v[i]->bucket_repeated_pico = 900000000;
        v[i]->saved_prompt_cache_pico = 8641976000;
        v[i]->tags = fg_ledger_record_str(v[i], "team=search");
        snprintf(v[i]->prefix_fp, sizeof v[i]->prefix_fp, "9f2c00000000abcd");
        v[i]->prefix_tokens = 3000;
        v[i]->tok.cache_read = i ? 3000 : 0;
    }
    put_n(f, v, 1000);
    struct fg_record *u = rec(T0 + 2000, "mystery-model", 0);
    u->priced = false;
    put(f, u);
    json_t *j = spend(f, T0, T0 + 10 * HOUR, "tag", 0);
    char *t = render(j, "tag");
    assert_has(t, "Spend 2026-11-26T00:00:00Z .. 2026-11-26T10:00:00Z\n");
    assert_has(t, "1001 requests (0 errors, 1 unpriced)  cost $1.234567  baseline $9.876543"
                  "  saved $8.641976 (87.5%)\n");
    assert_has(t, "\nWhere the money goes\n");
    assert_has(
        t, "  repeated_context      $0.900000   72.9%  (cached $0.000000, uncached $0.900000)\n");
    assert_has(t, "\nSaved by technique\n  prompt_cache          $8.641976\n");
    assert_has(t, "\nBy model\n");
    assert_has(t, "  claude-haiku-4-5      1000    $1.234567");
    assert_has(t, "\nTop repeated prefixes\n");
    assert_has(t, "  9f2c00000000abcd      3000      1000     99.9%    $1.234567\n");
    assert_has(t, "\nUnpriced models (1 requests not in the totals");
    assert_has(t, "  mystery-model\n");
    assert_has(t, "\nBy tag\n");
    assert_has(t, "  team=search      1000    $1.234567    $9.876543    $8.641976\n");
    free(t);
    json_decref(j);
}

static void table_large_money_and_empty(void **state)
{
    struct fix *f = *state;
    json_t *j = spend(f, T0, T0 + HOUR, NULL, 0);
    char *t = render(j, NULL);
    assert_has(t, "0 requests  cost $0.000000");
    assert_has(t, "  (no requests)\n");
    assert_true(strstr(t, "Unpriced") == NULL);
    assert_true(strstr(t, "\nBy ") == strstr(t, "\nBy model"));
    free(t);
    json_decref(j);
    put(f, rec(T0, "m", 123456789000000LL)); /* $123.456789 */
    j = spend(f, T0, T0 + HOUR, NULL, 0);
    t = render(j, NULL);
    assert_has(t, "cost $123.46");
    free(t);
    json_decref(j);
}

/* ---------- cache busters, prompt cache ---------- */

/* An in-memory store: the buster fields are checked here independently of
 * the SQLite columns. */
struct memstore {
    struct fg_store base;
    struct fg_record *v[2100];
    size_t n;
};

static int mem_scan(struct fg_store *s, int64_t since_ms, int64_t until_ms, fg_store_row_cb cb,
                    void *arg, char *err, size_t errlen)
{
    struct memstore *m = (struct memstore *)s;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i]->ts_ms >= since_ms && m->v[i]->ts_ms < until_ms && cb(arg, m->v[i]))
            break;
    return 0;
}

static const struct fg_store_ops mem_ops = {.scheme = "mem", .scan = mem_scan};

static void mem_free(struct memstore *m)
{
    for (size_t i = 0; i < m->n; i++)
        fg_ledger_record_free(m->v[i]);
}

static json_t *mem_spend(struct memstore *m, int64_t since, int64_t until)
{
    struct fg_report_opts o = {.since_ms = since, .until_ms = until};
    json_t *j = NULL;
    char err[256] = "";
    assert_int_equal(fg_report_spend(&m->base, &o, &j, err, sizeof err), 0);
    return j;
}

/* A record with a buster: tokens x (input - cache read) of claude-haiku-4-5
 * ($1 and $0.10 per 1M) is 900,000 pico per token. */
static struct fg_record *bust(int64_t ts, const char *model, const char *where, int64_t offset,
                              const char *sample, int64_t tokens)
{
    struct fg_record *r = rec(ts, model, 1000000);
    r->buster_where = fg_ledger_record_str(r, where);
    r->buster_offset = offset;
    r->buster_sample = fg_ledger_record_str(r, sample);
    r->buster_tokens = tokens;
    r->buster_pico = tokens * 900000;
    return r;
}

/* The acceptance numbers: 1,000 calls in an hour sharing a 3,000-token
 * system prompt with a timestamp at the top; every call but the first
 * busts the cache. */
static void cache_busters_per_day(void **state)
{
    struct memstore m = {.base.ops = &mem_ops};
    char sample[64];
    m.v[m.n++] = rec(T0, "claude-haiku-4-5", 1000000);
    for (int i = 1; i < 1000; i++) {
        snprintf(sample, sizeof sample, "2026-11-26T00:%02d:%02dZ. You are", i * 3 / 60 % 60,
                 i * 3 % 60);
        m.v[m.n++] = bust(T0 + i * 3600, "claude-haiku-4-5", "system", 9, sample, 3006);
    }
    /* cheaper: reordered tools on another model, twice */
    for (int i = 0; i < 2; i++)
        m.v[m.n++] = bust(T0 + 100 + i, "claude-opus-4-5", "tools", 10, "search\",", 500);
    /* the same place on another model is another row */
    m.v[m.n++] = bust(T0 + 200, "claude-sonnet-4-5", "system", 9, "2026", 3006);
    /* twelve more places: the list stops at 10 */
    for (int i = 0; i < 12; i++)
        m.v[m.n++] = bust(T0 + 300 + i, "m", "message 0", 100 + i, "x", 1 + i);
    /* Anthropic diagnostics */
    for (int i = 0; i < 3; i++) {
        struct fg_record *r = rec(T0 + 400 + i, "claude-haiku-4-5", 0);
        r->cache_miss_reason = fg_ledger_record_str(r, i ? "system_changed" : "tools_changed");
        m.v[m.n++] = r;
    }
    /* outside the window: not counted */
    m.v[m.n++] = bust(T0 + HOUR, "claude-haiku-4-5", "system", 9, "later", 3006);

    json_t *j = mem_spend(&m, T0, T0 + HOUR);
    assert_int_equal(json_array_size(at(j, "cache_busters")), FG_REPORT_TOP_BUSTERS);
    assert_str_at(j, "cache_busters.0.where", "system");
    assert_int_at(j, "cache_busters.0.offset", 9);
    assert_str_at(j, "cache_busters.0.model", "claude-haiku-4-5");
    assert_str_at(j, "cache_busters.0.sample", "2026-11-26T00:49:57Z. You are"); /* latest */
    assert_int_at(j, "cache_busters.0.calls", 999);
    assert_int_at(j, "cache_busters.0.tokens", 999 * 3006);
    /* 999 x 3006 x 900,000 pico = $2.7026946 in the hour: $64.864670 a day */
    assert_num(j, "cache_busters.0.cost_usd", 2.702695);
    assert_num(j, "cache_busters.0.cost_usd_per_day", 64.86467);
    assert_non_null(strstr(json_string_value(at(j, "cache_busters.0.advice")),
                           "after the stable part of the prompt"));
    assert_non_null(strstr(json_string_value(at(j, "cache_busters.0.per_day_basis")),
                           "extrapolated to 24 h from 59 min of steady calls"));
    /* 3006 tokens once ($0.0027054 in the hour): one call is not a daily rate */
    assert_str_at(j, "cache_busters.1.model", "claude-sonnet-4-5");
    assert_num(j, "cache_busters.1.cost_usd", 0.002705);
    assert_true(json_is_null(at(j, "cache_busters.1.cost_usd_per_day")));
    assert_str_at(j, "cache_busters.2.where", "tools");
    assert_int_at(j, "cache_busters.2.calls", 2);
    assert_int_at(j, "cache_busters.2.tokens", 1000);
    /* two calls a millisecond apart in an hour's window: a burst, not x24 */
    assert_true(json_is_null(at(j, "cache_busters.2.cost_usd_per_day")));
    assert_str_at(j, "cache_busters.2.per_day_basis",
                  "not extrapolated: seen over 0 s of a 60 min window");
    /* the smallest of the twelve are cut: offsets 111 .. 104 remain */
    assert_int_at(j, "cache_busters.3.offset", 111);
    assert_int_at(j, "cache_busters.9.offset", 105);
    assert_int_at(j, "cache_miss_reasons.system_changed", 2);
    assert_int_at(j, "cache_miss_reasons.tools_changed", 1);
    /* by count: system_changed first */
    assert_string_equal(json_object_iter_key(json_object_iter(at(j, "cache_miss_reasons"))),
                        "system_changed");

    char *t = render(j, NULL);
    assert_has(t, "\nCache busters (text that changes inside a stable prefix)\n");
    assert_has(t, "  where       offset model               calls     tokens      per day  sample\n"
                  "  system           9 claude-haiku-4-5      999    3002994   $64.864670  "
                  "\"2026-11-26T00:49:57Z. You are\"\n");
    assert_has(t, "  tools           10 claude-opus-4-5         2       1000            -  ");
    assert_has(t, "  (per day \"-\": seen in a burst, not across the window;");
    assert_has(t, "  fix: move the changing text (e.g. a timestamp or request id) after the "
                  "stable part of the prompt, or into the last user message\n");
    assert_has(t, "\nCache miss reasons (provider diagnostics)\n  system_changed");
    free(t);
    json_decref(j);

    /* a 24 h window: the per-day cost is the window's cost */
    j = mem_spend(&m, T0, T0 + 24 * HOUR);
    assert_num(j, "cache_busters.0.cost_usd_per_day", 2.705400); /* 1,000 calls now */
    assert_str_at(j, "cache_busters.0.per_day_basis", "average day of the 24 h window");
    assert_num(j, "cache_busters.1.cost_usd_per_day", 0.002705); /* observed, not scaled */
    json_decref(j);
    mem_free(&m);
}

static void no_busters_table(void **state)
{
    struct memstore m = {.base.ops = &mem_ops};
    m.v[m.n++] = rec(T0, "m", 1);
    json_t *j = mem_spend(&m, T0, T0 + HOUR);
    assert_int_equal(json_array_size(at(j, "cache_busters")), 0);
    assert_int_equal(json_object_size(at(j, "cache_miss_reasons")), 0);
    char *t = render(j, NULL);
    assert_has(t, "\nCache busters (text that changes inside a stable prefix)\n");
    assert_has(t, "  (none)\n");
    assert_true(strstr(t, "Cache miss reasons") == NULL);
    free(t);
    json_decref(j);
    mem_free(&m);
}

static struct fg_record *cached(int64_t ts, const char *model, const char *fp, int64_t read,
                                int64_t w5, int64_t w1)
{
    struct fg_record *r = rec(ts, model, 1000);
    if (fp)
        snprintf(r->prefix_fp, sizeof r->prefix_fp, "%s", fp);
    r->tok = (struct fg_tokens){
        .input = 10, .cache_read = read, .cache_write_5m = w5, .cache_write_1h = w1, .output = 5};
    return r;
}

static void prompt_cache_stats(void **state)
{
    struct fix *f = *state;
    /* prefix a: written once, read 9 times */
    put(f, cached(T0, "claude-haiku-4-5", "aaaa000000000000", 0, 3000, 0));
    for (int i = 1; i < 10; i++)
        put(f, cached(T0 + i, "claude-haiku-4-5", "aaaa000000000000", 3000, 0, 0));
    /* prefix b: written 5 times (a buster), never read; one 1 h write; the
     * configured alias is priced through its upstream id */
    for (int i = 0; i < 5; i++)
        put(f, cached(T0 + 20 + i, "claude-haiku-4-5", "bbbb000000000000", 0, 2000, 0));
    struct fg_record *r = cached(T0 + 30, "haiku", "bbbb000000000000", 0, 0, 1000);
    r->upstream_model = fg_ledger_record_str(r, "claude-haiku-4-5-20251001");
    put(f, r);
    /* prefix c: an unknown model's writes count as tokens, not money */
    put(f, cached(T0 + 40, "mystery", "cccc000000000000", 0, 700, 0));
    /* no prefix: reads count in read_tokens, not in the hit rate */
    put(f, cached(T0 + 50, "claude-haiku-4-5", NULL, 100, 0, 0));
    /* prompts too short to ever be cached (OpenAI caches from 1,024 tokens,
     * Haiku 4.5 from 4,096): not in the hit rate */
    for (int i = 0; i < 30; i++)
        put(f, cached(T0 + 60 + i, i % 2 ? "gpt-4o-mini" : "claude-haiku-4-5", "dddd000000000000",
                      0, 0, 0));
    struct fg_record *big = cached(T0 + 100, "gpt-4o-mini", "eeee000000000000", 0, 0, 0);
    big->tok.input = 1024; /* long enough: counted, and it missed */
    put(f, big);
    json_t *j = spend(f, T0, T0 + HOUR, NULL, 0);
    /* 9 of the 18 cacheable calls with a prefix read the cache */
    assert_num(j, "prompt_cache.hit_rate", 0.5);
    assert_int_at(j, "prompt_cache.eligible_calls", 18);
    assert_int_at(j, "prompt_cache.too_short_calls", 30);
    assert_int_at(j, "prompt_cache.read_tokens", 9 * 3000 + 100);
    assert_int_at(j, "prompt_cache.written_tokens", 3000 + 10000 + 1000 + 700);
    assert_int_at(j, "prompt_cache.written_never_read_tokens", 10000 + 1000 + 700);
    /* 10,000 x $1.25/M + 1,000 x $2/M */
    assert_num(j, "prompt_cache.written_never_read_usd", 0.0145);
    char *t = render(j, NULL);
    assert_has(t, "\nPrompt cache\n  hit rate 50.0% (of the 18 calls with a stable prefix long "
                  "enough to be cached, those that read the cache; 30 shorter calls not "
                  "counted)\n  read 27100 tokens, written 14700 tokens\n"
                  "  written, never read: 11700 tokens (~$0.014500)\n");
    free(t);
    json_decref(j);

    /* nothing cached: zeros */
    j = spend(f, T0 + HOUR, T0 + 2 * HOUR, NULL, 0);
    assert_num(j, "prompt_cache.hit_rate", 0);
    assert_int_at(j, "prompt_cache.written_never_read_tokens", 0);
    assert_num(j, "prompt_cache.written_never_read_usd", 0);
    json_decref(j);
}

/* ---------- frugal report ---------- */

/* Run fg_report_main with stdout (and stderr) captured into *out. */
static int run_main(const char *dsn, char **out, const char *const *args)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)"report";
    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    FILE *tmp = tmpfile();
    int o = dup(1), e = dup(2);
    dup2(fileno(tmp), 1);
    dup2(fileno(tmp), 2);
    int rc = fg_report_main(dsn, NULL, argc, argv, NULL, NULL);
    fflush(stdout);
    fflush(stderr);
    dup2(o, 1);
    dup2(e, 2);
    close(o);
    close(e);
    fseek(tmp, 0, SEEK_END);
    long n = ftell(tmp);
    rewind(tmp);
    *out = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(*out, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return rc;
}

#define RUN(dsn, out, ...) run_main((dsn), (out), (const char *const[]){__VA_ARGS__, NULL})

static void main_json_and_exit_codes(void **state)
{
    struct fix *f = *state;
    put(f, rec(0, "old", 1000000));
    put(f, rec(1000, "m", 2000000));
    char *out;
    assert_int_equal(RUN(f->dsn, &out, "--since", "1", "--json", "--by", "model"), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j)
        fail_msg("not JSON (%s):\n%s", je.text, out);
    assert_int_at(j, "requests", 1);
    assert_num(j, "cost_usd", 0.000002);
    assert_str_at(j, "since", "1970-01-01T00:00:01Z");
    assert_str_at(j, "by.dimension", "model");
    assert_true(out[strlen(out) - 1] == '\n');
    assert_non_null(strstr(out, "\n  \"requests\": 1,"));
    json_decref(j);
    free(out);

    assert_int_equal(RUN(f->dsn, &out, "-c", "frugal.yaml", "--since=0", "--top=3"), 0);
    assert_has(out, "2 requests");
    free(out);
    assert_int_equal(RUN(f->dsn, &out, "--since", "yesterday"), 2);
    assert_has(out, "bad --since 'yesterday'");
    free(out);
    assert_int_equal(RUN(f->dsn, &out, "--by", "colour"), 2);
    assert_has(out, "bad --by 'colour'");
    free(out);
    assert_int_equal(RUN(f->dsn, &out, "--top", "0"), 2);
    free(out);
    assert_int_equal(RUN(f->dsn, &out, "--since"), 2);
    assert_has(out, "--since needs a value");
    free(out);
    assert_int_equal(RUN(f->dsn, &out, "--frobnicate"), 2);
    assert_has(out, "unknown argument '--frobnicate'");
    free(out);
    assert_int_equal(RUN("sqlite:/nonexistent-dir/x/frugal.db", &out, "--json"), 1);
    assert_has(out, "frugal report: sqlite:");
    free(out);
    assert_int_equal(RUN("redis://x", &out, "--json"), 1);
    assert_has(out, "no backend");
    free(out);
    assert_int_equal(RUN(f->dsn, &out, "--help"), 0);
    assert_has(out, "usage: frugal report");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sums_exact_to_the_pico, setup, teardown),
        cmocka_unit_test_setup_teardown(money_never_summed_as_floats, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_window, setup, teardown),
        cmocka_unit_test_setup_teardown(buckets_and_shares, setup, teardown),
        cmocka_unit_test_setup_teardown(share_rounds_to_4_decimals, setup, teardown),
        cmocka_unit_test_setup_teardown(saved_by_technique, setup, teardown),
        cmocka_unit_test_setup_teardown(by_model_sorted_by_cost, setup, teardown),
        cmocka_unit_test_setup_teardown(top_prefixes_grouped, setup, teardown),
        cmocka_unit_test_setup_teardown(unpriced_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(since_until_window, setup, teardown),
        cmocka_unit_test_setup_teardown(by_tag_splits_elements, setup, teardown),
        cmocka_unit_test_setup_teardown(by_key_and_model, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_dimension, setup, teardown),
        cmocka_unit_test(parse_since_cases),
        cmocka_unit_test_setup_teardown(table_output, setup, teardown),
        cmocka_unit_test_setup_teardown(table_large_money_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(main_json_and_exit_codes, setup, teardown),
        cmocka_unit_test(cache_busters_per_day),
        cmocka_unit_test(no_busters_table),
        cmocka_unit_test_setup_teardown(prompt_cache_stats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
