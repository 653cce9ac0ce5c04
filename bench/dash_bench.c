/* dash_bench.c — what each view of the spend dashboard costs to read on a
 * big ledger (issue #20: 1,000,000 rows, each view's data under 200 ms).
 *
 * Writes DASH_BENCH_ROWS (default 1,000,000) records through the SQLite
 * store's own write op (so the rollup trigger runs as it does in the
 * daemon: the write rate is printed too), spread evenly over the last 30
 * days: 20 keys (skewed: key i gets weight 1/(i+1)), 6 models, 3 routes,
 * latencies 50 ms..30 s, 2% errors; escalated rows carry a router reason,
 * 1 row in 100 is a rate-limit refusal, 1 in 20 a line of one of 500
 * batches.  Then times, in process, the reads each
 * view makes (the same functions the endpoints call, JSON dump included),
 * best of 3, for the 24-hour and the 30-day range.  Prints a markdown
 * table; not a test.  Usage: build/dash_bench [DB_PATH]
 * DASH_BENCH_NO_ROLLUPS=1: write the rows without their rollups (the calls
 * INSERT alone) and stop: what the rollups cost the ledger writer. */
#include "report.h"
#include "store.h"
#include "timeseries.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIN 60000LL
#define DAY (1440 * MIN)

static const char *bench_path;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *const models[] = {"gpt-4o",           "gpt-4o-mini", "claude-sonnet-4-5",
                                     "claude-haiku-4-5", "gpt-4.1",     "o3-mini"};
static const char *const routes[] = {"cheap", "frontier", "escalated"};

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* key i with weight 1/(i+1) */
static int pick_key(void)
{
    static double cum[20], total;
    if (!total) {
        for (int i = 0; i < 20; i++)
            cum[i] = (total += 1.0 / (i + 1));
    }
    double x = (double)(next() % 1000000) / 1e6 * total;
    for (int i = 0; i < 20; i++)
        if (x < cum[i])
            return i;
    return 19;
}

/* The calls rows alone, as before rollups (a second connection, its own
 * transaction): the baseline of the write rate. */
static int raw_write(struct fg_store *s, struct fg_record **v, size_t n, char *err, size_t errlen)
{
    static sqlite3 *db;
    if (!db && sqlite3_open(bench_path, &db) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO calls (id, ts_ms, key_id, tags, model, route, endpoint, "
                           "status, priced, input_tokens, output_tokens, cost_pico, baseline_pico, "
                           "saved_routing_pico, latency_us) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    for (size_t k = 0; k < n; k++) {
        const struct fg_record *r = v[k];
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, r->ts_ms);
        const char *t[] = {r->key_id, r->tags, r->model, r->route, r->endpoint};
        for (int i = 0; i < 5; i++)
            sqlite3_bind_text(st, 3 + i, t[i], -1, SQLITE_STATIC);
        const int64_t x[] = {r->status,    r->priced,        r->tok.input,          r->tok.output,
                             r->cost_pico, r->baseline_pico, r->saved_routing_pico, r->latency_us};
        for (int i = 0; i < 8; i++)
            sqlite3_bind_int64(st, 8 + i, x[i]);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    (void)s;
    (void)err;
    (void)errlen;
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void fill(struct fg_store *s, long rows, int64_t t_end)
{
    const int batch = 1000; /* the ledger writer commits at most ~1024 at once */
    struct fg_record *v[1000];
    char key[32];
    double t0 = now_ms();
    for (long done = 0; done < rows;) {
        int n = 0;
        for (; n < batch && done < rows; n++, done++) {
            struct fg_record *r = fg_ledger_record_new(256);
            snprintf(r->id, sizeof r->id, "bench-%ld", done);
            r->ts_ms = t_end - 30 * DAY + (int64_t)((double)done / rows * 30 * DAY);
            snprintf(key, sizeof key, "key_%012d", pick_key());
            r->key_id = fg_ledger_record_str(r, key);
            r->tags = fg_ledger_record_str(r, "team=x");
            r->model = fg_ledger_record_str(r, models[next() % 6]);
            r->route = fg_ledger_record_str(r, routes[next() % 3]);
            r->endpoint = fg_ledger_record_str(r, "chat");
            r->status = next() % 50 ? 200 : 500;
            if (!strcmp(r->route, "escalated"))
                r->route_reason = fg_ledger_record_str(
                    r, next() % 2 ? "cheap answer empty: escalated to the frontier model"
                                  : "cheap answer truncated: escalated to the frontier model");
            if (next() % 100 == 0) {
                r->status = 429;
                r->error = fg_ledger_record_str(r, "Rate limit reached for key 'k' (k): 9 requests "
                                                   "per minute. Retry after 3 s.");
            }
            char bid[32];
            snprintf(bid, sizeof bid, "batch_%08d", (int)(done / 2000) % 500);
            if (done % 20 == 0)
                r->batch_id = fg_ledger_record_str(r, bid);
            r->priced = true;
            r->tok.input = 500 + (int64_t)(next() % 4000);
            r->tok.output = 50 + (int64_t)(next() % 500);
            r->cost_pico = r->tok.input * 2500000 + r->tok.output * 10000000;
            r->baseline_pico = r->cost_pico * 3 / 2;
            r->saved_routing_pico = r->baseline_pico - r->cost_pico;
            r->latency_us = 50000 + (int64_t)(next() % 30000000);
            v[n] = r;
        }
        char err[256];
        int rc = getenv("DASH_BENCH_NO_ROLLUPS") ? raw_write(s, v, (size_t)n, err, sizeof err)
                                                 : s->ops->write(s, v, (size_t)n, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "write: %s\n", err);
            exit(1);
        }
        for (int i = 0; i < n; i++)
            fg_ledger_record_free(v[i]);
    }
    double ms = now_ms() - t0;
    printf("wrote %ld rows in %.1f s (%.0f rows/s, %s)\n\n", rows, ms / 1e3, rows / (ms / 1e3),
           getenv("DASH_BENCH_NO_ROLLUPS") ? "the calls INSERT alone" : "rollups included");
}

static size_t dump_len(json_t *j)
{
    char *s = json_dumps(j, FG_REPORT_JSON_FLAGS);
    size_t n = s ? strlen(s) : 0;
    free(s);
    json_decref(j);
    return n;
}

static size_t ts_read(struct fg_store *s, int64_t since, int64_t until, enum fg_rollup_group g,
                      const char *key)
{
    /* the endpoint's window and step (dash_api.c) */
    struct fg_rollup_query q = {.group = g, .key_id = key};
    fg_timeseries_window(since, until, 0, &q);
    json_t *out;
    char err[256];
    if (fg_timeseries_build(s, &q, &out, err, sizeof err) < 0) {
        fprintf(stderr, "timeseries: %s\n", err);
        exit(1);
    }
    return dump_len(out);
}

static int count_row(void *arg, const struct fg_record *r)
{
    (*(int *)arg)++;
    return 0;
}

static int count_batch(void *arg, const struct fg_batch_spend *b)
{
    (*(int *)arg)++;
    return 0;
}

enum what { OVERVIEW, BY_MODEL, BY_KEY, ROUTING, ONE_KEY, KEY_TAG, BATCHES, CACHING, LIVE };
static const char *const names[] = {"overview (timeseries)",
                                    "breakdowns by model (timeseries group=model)",
                                    "breakdowns by key / keys view (group=key)",
                                    "routing (group=route)",
                                    "a virtual key's overview (key=…)",
                                    "a key-tag filter of 5 keys (tag=…, group=key)",
                                    "batches: 50 batches' spend (/frugal/spend/batches)",
                                    "caching (/frugal/spend: raw rows)",
                                    "live (/frugal/calls?limit=50)"};

static size_t run(struct fg_store *s, enum what w, int64_t since, int64_t until)
{
    switch (w) {
    case OVERVIEW: return ts_read(s, since, until, FG_ROLLUP_NONE, NULL);
    case BY_MODEL: return ts_read(s, since, until, FG_ROLLUP_MODEL, NULL);
    case BY_KEY: return ts_read(s, since, until, FG_ROLLUP_KEY, NULL);
    case ROUTING: return ts_read(s, since, until, FG_ROLLUP_ROUTE, NULL);
    case ONE_KEY: return ts_read(s, since, until, FG_ROLLUP_NONE, "key_000000000003");
    case KEY_TAG: {
        struct fg_rollup_query q = {.group = FG_ROLLUP_KEY,
                                    .key_ids_json = "[\"key_000000000001\",\"key_000000000004\","
                                                    "\"key_000000000007\",\"key_000000000010\","
                                                    "\"key_000000000013\"]"};
        fg_timeseries_window(since, until, 0, &q);
        json_t *out;
        char err[256];
        if (fg_timeseries_build(s, &q, &out, err, sizeof err) < 0) {
            fprintf(stderr, "timeseries: %s\n", err);
            exit(1);
        }
        return dump_len(out);
    }
    case BATCHES: {
        /* the batches view asks for its 50 listed batches, whatever the range */
        char ids[50][32];
        const char *p[50];
        for (int i = 0; i < 50; i++) {
            snprintf(ids[i], sizeof ids[i], "batch_%08d", i * 10);
            p[i] = ids[i];
        }
        int n = 0;
        char err[256];
        if (s->ops->batch_spend(s, NULL, p, 50, count_batch, &n, err, sizeof err) < 0) {
            fprintf(stderr, "batch_spend: %s\n", err);
            exit(1);
        }
        return (size_t)n;
    }
    case CACHING: {
        struct fg_rollup_query q = {0};
        fg_timeseries_window(since, until, 0, &q); /* the page asks for the same window */
        struct fg_report_opts o = {.since_ms = q.since_ms, .until_ms = q.until_ms};
        json_t *out;
        char err[256];
        if (fg_report_spend(s, &o, &out, err, sizeof err) < 0) {
            fprintf(stderr, "spend: %s\n", err);
            exit(1);
        }
        return dump_len(out);
    }
    case LIVE: {
        int n = 0;
        char err[256];
        s->ops->recent(s, NULL, 50, count_row, &n, err, sizeof err);
        return (size_t)n;
    }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/frugal-dash-bench.db";
    long rows = getenv("DASH_BENCH_ROWS") ? atol(getenv("DASH_BENCH_ROWS")) : 1000000;
    char dsn[512], p[520];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    struct fg_store *s;
    char err[256];
    if (fg_store_open(dsn, &s, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t now = (int64_t)wall.tv_sec * 1000;
    int64_t until = now - now % MIN + MIN;
    bench_path = path;
    fill(s, rows, now);
    if (getenv("DASH_BENCH_NO_ROLLUPS"))
        return 0; /* the write rate only (the file is left for a look) */
    if (s->ops->checkpoint)
        s->ops->checkpoint(s);
    printf("| view's data | 24 h (ms) | 30 d (ms) |\n|---|---:|---:|\n");
    for (int w = OVERVIEW; w <= LIVE; w++) {
        double best[2] = {1e9, 1e9};
        for (int r = 0; r < 2; r++) {
            int64_t since = until - (r ? 30 * DAY : DAY);
            for (int k = 0; k < 3; k++) {
                double t0 = now_ms();
                run(s, (enum what)w, since, until);
                double ms = now_ms() - t0;
                if (ms < best[r])
                    best[r] = ms;
            }
        }
        printf("| %s | %.1f | %.1f |\n", names[w], best[0], best[1]);
    }
    fg_store_close(s);
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}
