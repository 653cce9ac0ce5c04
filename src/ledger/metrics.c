/* metrics.c — see metrics.h. */
#include "metrics.h"

#include "assert.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdint.h>

static const double latency_le_ms[] = {5,    10,   25,   50,    100,   250,  500,
                                       1000, 2500, 5000, 10000, 30000, 60000};
#define NLAT (sizeof latency_le_ms / sizeof latency_le_ms[0])

static struct {
    atomic_uint_fast64_t requests[6]; /* by status class 0xx..5xx */
    atomic_uint_fast64_t streams;
    atomic_int_fast64_t tokens[5];
    atomic_int_fast64_t cost, baseline, saved[5];
    atomic_int_fast64_t buckets[3];
    atomic_uint_fast64_t unpriced, upstream_errors;
    atomic_uint_fast64_t lat[NLAT + 1];
    atomic_int_fast64_t lat_sum_us;
} g_metrics;

void fg_metrics_observe_money(const struct fg_record *r)
{
    const int64_t tok[5] = {r->tok.input, r->tok.cache_read, r->tok.cache_write_5m,
                            r->tok.cache_write_1h, r->tok.output};
    for (int i = 0; i < 5; i++)
        atomic_fetch_add(&g_metrics.tokens[i], tok[i]);
    if (r->priced) {
        atomic_fetch_add(&g_metrics.cost, r->cost_pico);
        atomic_fetch_add(&g_metrics.baseline, r->baseline_pico);
        atomic_fetch_add(&g_metrics.saved[0], r->saved_prompt_cache_pico);
        atomic_fetch_add(&g_metrics.saved[1], r->saved_response_cache_pico);
        atomic_fetch_add(&g_metrics.saved[2], r->saved_routing_pico);
        atomic_fetch_add(&g_metrics.saved[3], r->saved_batch_pico);
        atomic_fetch_add(&g_metrics.saved[4], r->saved_flex_pico);
        atomic_fetch_add(&g_metrics.buckets[0], r->bucket_repeated_pico);
        atomic_fetch_add(&g_metrics.buckets[1], r->bucket_frontier_pico);
        atomic_fetch_add(&g_metrics.buckets[2], r->bucket_bloated_pico);
    } else if (r->model && r->status < 400) {
        atomic_fetch_add(&g_metrics.unpriced, 1);
    }
}

void fg_metrics_observe(const struct fg_record *r, bool upstream_error)
{
    int cls = r->status / 100;
    atomic_fetch_add(&g_metrics.requests[cls >= 0 && cls < 6 ? cls : 0], 1);
    if (r->stream)
        atomic_fetch_add(&g_metrics.streams, 1);
    fg_metrics_observe_money(r);
    if (upstream_error)
        atomic_fetch_add(&g_metrics.upstream_errors, 1);
    size_t b = 0;
    while (b < NLAT && (double)r->latency_us / 1000.0 > latency_le_ms[b])
        b++;
    FG_DASSERT(b <= NLAT);
    atomic_fetch_add(&g_metrics.lat[b], 1);

    atomic_fetch_add(&g_metrics.lat_sum_us, r->latency_us);
}

static double usd(int64_t pico)
{
    return (double)pico / 1e12;
}

void fg_metrics_counter(struct evbuffer *o, const char *name, const char *help)
{
    evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
}

static void render_money(struct evbuffer *o)
{
    static const char *tech[] = {"prompt_cache", "response_cache", "routing", "batch", "flex"};
    static const char *bucket[] = {"repeated_context", "frontier_overuse", "bloated_output"};
    fg_metrics_counter(o, "frugal_cost_usd_total",
                       "Spend at provider prices (exact sum, shown in USD).");
    evbuffer_add_printf(o, "frugal_cost_usd_total %.12f\n", usd(atomic_load(&g_metrics.cost)));
    fg_metrics_counter(o, "frugal_baseline_usd_total", "What the same calls cost without frugal.");
    evbuffer_add_printf(o, "frugal_baseline_usd_total %.12f\n",
                        usd(atomic_load(&g_metrics.baseline)));
    fg_metrics_counter(o, "frugal_saved_usd_total", "Savings by technique.");
    for (int i = 0; i < 5; i++)
        evbuffer_add_printf(o, "frugal_saved_usd_total{technique=\"%s\"} %.12f\n", tech[i],
                            usd(atomic_load(&g_metrics.saved[i])));
    fg_metrics_counter(o, "frugal_bucket_usd_total", "Spend in the buckets that drive bills.");
    for (int i = 0; i < 3; i++)
        evbuffer_add_printf(o, "frugal_bucket_usd_total{bucket=\"%s\"} %.12f\n", bucket[i],
                            usd(atomic_load(&g_metrics.buckets[i])));
}

static void render_latency(struct evbuffer *o)
{
    evbuffer_add_printf(o, "# HELP frugal_request_duration_seconds Time from request to the "
                           "end of the reply.\n# TYPE frugal_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b <= NLAT; b++) {
        cum += atomic_load(&g_metrics.lat[b]);
        if (b < NLAT)
            evbuffer_add_printf(o, "frugal_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                                latency_le_ms[b] / 1000.0, (unsigned long long)cum);
        else
            evbuffer_add_printf(o, "frugal_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                                (unsigned long long)cum);
    }
    evbuffer_add_printf(o,
                        "frugal_request_duration_seconds_sum %.6f\n"
                        "frugal_request_duration_seconds_count %llu\n",
                        (double)atomic_load(&g_metrics.lat_sum_us) / 1e6, (unsigned long long)cum);
}

/* Added by the main thread at startup, before the workers start
 * (cli/daemon.c); the count still publishes each filled slot (release) to
 * the workers that render (acquire), so a source added later is safe too. */
static fg_metrics_source g_metrics_sources[FG_METRICS_MAX_SOURCES];
static atomic_int g_metrics_n_sources;

void fg_metrics_add_source(fg_metrics_source render)
{
    int n = atomic_load_explicit(&g_metrics_n_sources, memory_order_relaxed);
    FG_ASSERT(n < FG_METRICS_MAX_SOURCES);
    for (int s = 0; s < n; s++)
        if (g_metrics_sources[s] == render)
            return;
    g_metrics_sources[n] = render;
    atomic_store_explicit(&g_metrics_n_sources, n + 1, memory_order_release);
}

void fg_metrics_render(struct evbuffer *o)
{
    static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    static const char *tok[] = {"input", "cache_read", "cache_write_5m", "cache_write_1h",
                                "output"};
    fg_metrics_counter(o, "frugal_requests_total", "Inference calls by response status class.");
    for (int i = 0; i < 6; i++)
        evbuffer_add_printf(o, "frugal_requests_total{status=\"%s\"} %llu\n", cls[i],
                            (unsigned long long)atomic_load(&g_metrics.requests[i]));
    fg_metrics_counter(o, "frugal_stream_requests_total", "Streamed inference calls.");
    evbuffer_add_printf(o, "frugal_stream_requests_total %llu\n",
                        (unsigned long long)atomic_load(&g_metrics.streams));
    fg_metrics_counter(o, "frugal_tokens_total", "Tokens by billing class.");
    for (int i = 0; i < 5; i++)
        evbuffer_add_printf(o, "frugal_tokens_total{class=\"%s\"} %lld\n", tok[i],
                            (long long)atomic_load(&g_metrics.tokens[i]));
    render_money(o);
    fg_metrics_counter(o, "frugal_unpriced_requests_total", "Calls to models with no known price.");
    evbuffer_add_printf(o, "frugal_unpriced_requests_total %llu\n",
                        (unsigned long long)atomic_load(&g_metrics.unpriced));
    fg_metrics_counter(o, "frugal_upstream_errors_total",
                       "Upstream failures (resets, timeouts, malformed).");
    evbuffer_add_printf(o, "frugal_upstream_errors_total %llu\n",
                        (unsigned long long)atomic_load(&g_metrics.upstream_errors));
    render_latency(o);
    struct fg_ledger_stats st;
    fg_ledger_get_stats(&st);
    evbuffer_add_printf(o,
                        "# HELP frugal_ledger_queue_depth Records waiting for the writer.\n"
                        "# TYPE frugal_ledger_queue_depth gauge\nfrugal_ledger_queue_depth %llu\n",
                        (unsigned long long)st.depth);
    fg_metrics_counter(o, "frugal_ledger_dropped_total",
                       "Records dropped (queue full or ledger off).");
    evbuffer_add_printf(o, "frugal_ledger_dropped_total %llu\n", (unsigned long long)st.dropped);
    fg_metrics_counter(o, "frugal_ledger_written_total", "Records committed to storage.");
    evbuffer_add_printf(o, "frugal_ledger_written_total %llu\n", (unsigned long long)st.written);
    fg_metrics_counter(o, "frugal_ledger_write_errors_total", "Records lost to storage errors.");
    evbuffer_add_printf(o, "frugal_ledger_write_errors_total %llu\n",
                        (unsigned long long)st.write_errors);
    evbuffer_add_printf(o,
                        "# HELP frugal_ledger_spool_depth Records in the spool, waiting for an "
                        "unreachable store.\n"
                        "# TYPE frugal_ledger_spool_depth gauge\nfrugal_ledger_spool_depth %llu\n",
                        (unsigned long long)st.spool_depth);
    fg_metrics_counter(o, "frugal_ledger_spooled_total",
                       "Records that went to the spool (the store was unreachable).");
    evbuffer_add_printf(o, "frugal_ledger_spooled_total %llu\n", (unsigned long long)st.spooled);
    evbuffer_add_printf(o,
                        "# HELP frugal_store_up 1 when the last ledger write reached the store.\n"
                        "# TYPE frugal_store_up gauge\nfrugal_store_up %d\n",
                        st.store_down ? 0 : 1);
    evbuffer_add_printf(o,
                        "# HELP frugal_store_write_seconds The ledger's writes to the store (one "
                        "transaction each).\n"
                        "# TYPE frugal_store_write_seconds summary\n"
                        "frugal_store_write_seconds_sum %.6f\nfrugal_store_write_seconds_count "
                        "%llu\n",
                        (double)st.store_write_us / 1e6, (unsigned long long)st.store_writes);
    int n = atomic_load_explicit(&g_metrics_n_sources, memory_order_acquire);
    for (int s = 0; s < n; s++)
        g_metrics_sources[s](o);
}
