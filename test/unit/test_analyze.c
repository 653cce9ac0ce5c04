/* Unit tests for `frugal analyze`: exact pricing of hand-computed logs (pico-USD),
 * batch pairs joined on custom_id, the four projections on tiny logs computed by
 * hand, bad lines reported and skipped, the CLI's exit statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze.h"

/* ---- helpers ---------------------------------------------------------- */

struct tmpfile {
    char path[64];
};

static void write_tmp(struct tmpfile *t, const char *content)
{
    snprintf(t->path, sizeof t->path, "/tmp/fg_analyze_XXXXXX");
    int fd = mkstemp(t->path);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
}

/* Run the analysis over files; diagnostics captured into *diag (malloc'd). */
static int run(struct fg_analysis *a, const char *const *files, size_t n, const char *cheap,
               bool all_deferrable, char **diag)
{
    size_t dl = 0;
    char *dbuf = NULL;
    FILE *df = open_memstream(&dbuf, &dl);
    struct fg_analyze_opts o = {.files = files,
                                .n_files = n,
                                .cheap_model = cheap,
                                .all_deferrable = all_deferrable,
                                .diag = df};
    int rc = fg_analyze_run(&o, a);
    fclose(df);
    if (diag)
        *diag = dbuf;
    else
        free(dbuf);
    return rc;
}

static json_t *map_of(const struct fg_analysis *a, const char *const *files, size_t n)
{
    struct fg_analyze_opts o = {.files = files, .n_files = n};
    return fg_analyze_json(a, &o);
}

static double jnum(const json_t *m, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *x = m;
    for (char *k = strtok(buf, "."); k; k = strtok(NULL, "."))
        x = json_object_get(x, k);
    assert_non_null(x);
    return json_number_value(x);
}

/* A minimal OpenAI log line. */
#define OA_LINE(time, model, user, prompt, cached, completion)                                     \
    "{\"time\":" time ",\"provider\":\"openai\",\"request\":{\"model\":\"" model                   \
    "\",\"messages\":[{\"role\":\"user\",\"content\":\"" user                                      \
    "\"}]},\"response\":{\"model\":\"" model                                                       \
    "\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"ok\"}}],"                  \
    "\"usage\":{\"prompt_tokens\":" #prompt ",\"completion_tokens\":" #completion                  \
    ",\"prompt_tokens_details\":{\"cached_tokens\":" #cached "}}}}\n"

/* ---- exact pricing ---------------------------------------------------- */

/* gpt-4o-mini: input 0.15, cached 0.075, output 0.60 USD/1M = 150000 / 75000 / 600000
 * micro-USD per 1M → pico per token. */
static void openai_hand_priced(void **state)
{
    struct tmpfile t;
    write_tmp(&t, OA_LINE("\"2026-11-26T10:00:00Z\"", "gpt-4o-mini", "hi", 2000, 1024, 100));
    const char *files[] = {t.path};
    struct fg_analysis a;
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    assert_int_equal(a.requests, 1);
    assert_int_equal(a.tok.input, 976);
    assert_int_equal(a.tok.cache_read, 1024);
    assert_int_equal(a.tok.cache_write_5m, 0);
    assert_int_equal(a.tok.output, 100);
    int64_t want = 976LL * 150000 + 1024LL * 75000 + 100LL * 600000;
    assert_int_equal(want, 283200000);
    assert_int_equal(a.cost_pico, want);
    assert_int_equal(a.baseline_pico, want); /* no frugal: baseline = real-time cost */
    assert_int_equal(a.saved_batch_pico, 0);
    json_t *m = map_of(&a, files, 1);
    assert_string_equal(json_string_value(json_object_get(m, "since")), "2026-11-26T10:00:00Z");
    assert_string_equal(json_string_value(json_object_get(m, "until")), "2026-11-26T10:00:00Z");
    assert_true(jnum(m, "cost_usd") == 0.000283);
    assert_true(jnum(m, "saved_usd") == 0.0);
    assert_int_equal((int)jnum(m, "tokens.cache_read"), 1024);
    const json_t *bm = json_array_get(json_object_get(m, "by_model"), 0);
    assert_string_equal(json_string_value(json_object_get(bm, "model")), "gpt-4o-mini");
    assert_true(json_is_object(json_object_get(json_object_get(m, "projection"), "routing")));
    json_decref(m);
    fg_analyze_free(&a);
    unlink(t.path);
}

/* DeepSeek's usage (cache hit/miss) priced from the built-in row, its
 * peak hours (Mon-Fri 01:00-04:00, 06:00-10:00 UTC) at the peak price:
 * deepseek-flash off-peak 0.15 miss / 0.003 hit / 0.60 out, peak twice. */
#define DS_LINE(time)                                                                              \
    "{\"time\":\"" time "\",\"provider\":\"openai\",\"request\":{\"model\":\"deepseek-flash\","    \
    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]},\"response\":{\"model\":"              \
    "\"deepseek-flash\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"ok\"}}],"  \
    "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":100,\"prompt_cache_hit_tokens\":800," \
    "\"prompt_cache_miss_tokens\":200}}}\n"

static void deepseek_peak_and_off_peak(void **state)
{
    (void)state;
    struct tmpfile t;
    /* 2026-12-07 is a Monday: 02:00 is peak, 12:00 off-peak; Saturday 02:00 off-peak */
    write_tmp(&t, DS_LINE("2026-12-07T02:00:00Z") DS_LINE("2026-12-07T12:00:00Z")
                      DS_LINE("2026-12-12T02:00:00Z"));
    const char *files[] = {t.path};
    struct fg_analysis a;
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    assert_int_equal(a.requests, 3);
    assert_int_equal(a.tok.input, 600);
    assert_int_equal(a.tok.cache_read, 2400);
    assert_int_equal(a.tok.cache_write_5m, 0);
    int64_t off = 200LL * 150000 + 800LL * 3000 + 100LL * 600000;
    int64_t peak = 200LL * 300000 + 800LL * 6000 + 100LL * 1200000;
    assert_int_equal(a.cost_pico, 2 * off + peak);
    fg_analyze_free(&a);
    unlink(t.path);
}

/* claude-sonnet-4-5: input 3, read 0.30, write 5m 3.75, write 1h 6, output 15 USD/1M. */
static void anthropic_cache_split(void **state)
{
    struct tmpfile t;
    write_tmp(&t,
              "{\"time\":1795687200,\"provider\":\"anthropic\",\"request\":{\"model\":"
              "\"claude-sonnet-4-5\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\","
              "\"content\":\"hi\"}]},\"response\":{\"type\":\"message\",\"model\":"
              "\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"hey\"}],"
              "\"usage\":{\"input_tokens\":50,\"cache_creation_input_tokens\":3000,"
              "\"cache_read_input_tokens\":2000,\"cache_creation\":{\"ephemeral_5m_input_tokens\":"
              "1000,\"ephemeral_1h_input_tokens\":2000},\"output_tokens\":200}}}\n"
              /* no provider (inferred), no split: every write is a 5-minute write */
              "{\"time\":1795687260,\"request\":{\"model\":\"claude-sonnet-4-5\","
              "\"messages\":[{\"role\":\"user\",\"content\":\"yo\"}]},\"response\":{\"type\":"
              "\"message\",\"content\":[],\"usage\":{\"input_tokens\":50,"
              "\"cache_creation_input_tokens\":3000,\"cache_read_input_tokens\":2000,"
              "\"output_tokens\":200}}}\n");
    const char *files[] = {t.path};
    struct fg_analysis a;
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    int64_t split =
        50LL * 3000000 + 2000LL * 300000 + 1000LL * 3750000 + 2000LL * 6000000 + 200LL * 15000000;
    int64_t all5m = 50LL * 3000000 + 2000LL * 300000 + 3000LL * 3750000 + 200LL * 15000000;
    assert_int_equal(split, 19500000000LL);
    assert_int_equal(all5m, 15000000000LL);
    assert_int_equal(a.requests, 2);
    assert_int_equal(a.cost_pico, split + all5m);
    assert_int_equal(a.tok.input, 100);
    assert_int_equal(a.tok.cache_read, 4000);
    assert_int_equal(a.tok.cache_write_5m, 4000);
    assert_int_equal(a.tok.cache_write_1h, 2000);
    assert_int_equal(a.tok.output, 400);
    json_t *m = map_of(&a, files, 1);
    assert_string_equal(json_string_value(json_object_get(m, "since")), "2026-11-26T10:00:00Z");
    assert_string_equal(json_string_value(json_object_get(m, "until")), "2026-11-26T10:01:00Z");
    json_decref(m);
    fg_analyze_free(&a);
    unlink(t.path);
}

/* ---- batch pairs ------------------------------------------------------ */

#define BIN(id, user)                                                                              \
    "{\"custom_id\":\"" id "\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":"     \
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"" user "\"}]}}\n"
#define BOUT(id, model, created, prompt, completion)                                               \
    "{\"id\":\"batch_req_" id "\",\"custom_id\":\"" id "\",\"response\":{\"status_code\":200,"     \
    "\"body\":{\"object\":\"chat.completion\",\"created\":" #created ",\"model\":\"" model         \
    "\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"x\"}}],\"usage\":{"        \
    "\"prompt_tokens\":" #prompt ",\"completion_tokens\":" #completion "}}},\"error\":null}\n"

static void batch_pairs(void **state)
{
    struct tmpfile in, out;
    write_tmp(&in,
              BIN("a", "one") BIN("b", "two") BIN("c", "three") BIN("d", "four") BIN("f", "five"));
    write_tmp(
        &out,
        BOUT(
            "b", "gpt-4o-mini-2024-07-18", 1795687300, 200,
            20) "{\"id\":\"batch_req_d\",\"custom_id\":\"d\",\"response\":{\"status_code\":400,"
                "\"body\":{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}},"
                "\"error\":null}\n" BOUT("a", "gpt-4o-mini-2024-07-18", 1795687200, 100, 10) BOUT(
                    "e", "gpt-4o-mini-2024-07-18", 1795687400, 40,
                    4) "{\"id\":\"batch_req_f\",\"custom_id\":\"f\",\"response\":null,\"error\":{\"code\":"
                       "\"batch_expired\",\"message\":\"expired\"}}\n");
    const char *files[] = {in.path, out.path};
    struct fg_analysis a;
    char *diag;
    assert_int_equal(run(&a, files, 2, NULL, false, &diag), 0);
    /* a, b, d, e, f; c has no output line */
    assert_int_equal(a.requests, 5);
    assert_int_equal(a.errors, 2);
    assert_int_equal(a.batch_missing_output, 1);
    assert_int_equal(a.batch_unmatched_output, 1);
    assert_int_equal(a.skipped_lines, 0);
    assert_int_equal(a.lines, 10);
    char want[128];
    snprintf(want, sizeof want, "%s:3: custom_id \"c\": no line", in.path);
    assert_non_null(strstr(diag, want));
    /* batch prices of gpt-4o-mini: input 0.075, output 0.30 */
    int64_t pa = 100LL * 75000 + 10LL * 300000, pb = 200LL * 75000 + 20LL * 300000,
            pe = 40LL * 75000 + 4LL * 300000;
    assert_int_equal(a.cost_pico, pa + pb + pe);
    assert_int_equal(a.cost_pico, 35700000);
    assert_int_equal(a.baseline_pico, 2 * (pa + pb + pe));
    assert_int_equal(a.saved_batch_pico, pa + pb + pe);
    assert_int_equal(a.batch.saved_pico, 0); /* already batch-priced */
    json_t *m = map_of(&a, files, 2);
    assert_true(jnum(m, "saved_pct") == 50.0);
    assert_true(jnum(m, "saved_by.batch") == 0.000036); /* 35.7 micro-USD, rounded */
    /* the request's model names a, b, d, f; e has only the response's */
    const json_t *bm = json_object_get(m, "by_model");
    assert_int_equal(json_array_size(bm), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(bm, 0), "model")),
                        "gpt-4o-mini");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(bm, 0), "requests")), 4);
    assert_string_equal(json_string_value(json_object_get(m, "since")), "2026-11-26T10:00:00Z");
    json_decref(m);
    free(diag);
    fg_analyze_free(&a);
    unlink(in.path);
    unlink(out.path);
}

/* ---- projections ------------------------------------------------------ */

/* An Anthropic call with an 8000-byte system prompt (2000 estimated tokens:
 * canonical bytes / 4) and a distinct 2-char user turn. */
static char *anth_line(const char *model, int64_t t, int q)
{
    static char sys[8001];
    memset(sys, 'a', 8000);
    char *line = malloc(9000);
    snprintf(line, 9000,
             "{\"time\":%lld,\"provider\":\"anthropic\",\"request\":{\"model\":\"%s\","
             "\"system\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"q%d\"}]},"
             "\"response\":{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],"
             "\"usage\":{\"input_tokens\":2010,\"cache_creation_input_tokens\":0,"
             "\"cache_read_input_tokens\":0,\"output_tokens\":10}}}\n",
             (long long)t, model, sys, q);
    return line;
}

static void write_anth_log(struct tmpfile *t, const char *model)
{
    /* seconds after 10:00: 0, 60, 120, then a gap past the 5-minute TTL, 1000, 1030 */
    static const int at[] = {0, 60, 120, 1000, 1030};
    char *all = calloc(1, 5 * 9000);
    for (int i = 0; i < 5; i++) {
        char *l = anth_line(model, 1795687200 + at[i], i + 1);
        strcat(all, l);
        free(l);
    }
    write_tmp(t, all);
    free(all);
}

static void projection_repeated_prefix(void **state)
{
    struct tmpfile t;
    write_anth_log(&t, "claude-sonnet-4-5");
    const char *files[] = {t.path};
    struct fg_analysis a;
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    int64_t call = 2010LL * 3000000 + 10LL * 15000000; /* 6,180,000,000 */
    assert_int_equal(a.cost_pico, 5 * call);
    /* repeated context (1 h window): calls 2..5 repeat the 2000-token system prompt */
    assert_int_equal(a.bucket_repeated_pico, 4 * 2000LL * 3000000);
    /* frontier overuse: simple calls on sonnet, the rest of their cost */
    assert_int_equal(a.bucket_frontier_pico, call + 4 * (call - 2000LL * 3000000));
    /* prompt cache: calls 2, 3, 5 read 2000 tokens at 0.30 instead of 3.00;
     * calls 1 and 4 (after the TTL lapsed) pay the write premium 3.75 - 3.00 */
    int64_t read = 2000LL * (3000000 - 300000), write = 2000LL * (3750000 - 3000000);
    assert_int_equal(a.prompt_cache.requests, 3);
    assert_int_equal(a.prompt_cache.tokens, 6000);
    assert_int_equal(a.prompt_cache.extra_tokens, 4000);
    assert_int_equal(a.prompt_cache.extra_pico, 2 * write);
    assert_int_equal(a.prompt_cache.saved_pico, 3 * read - 2 * write);
    assert_int_equal(a.prompt_cache.saved_pico, 13200000000LL);
    /* routing: each call on claude-haiku-4-5 (1.00 / 5.00) */
    int64_t haiku = 2010LL * 1000000 + 10LL * 5000000;
    assert_int_equal(a.routing.requests, 5);
    assert_int_equal(a.routing.saved_pico, 5 * (call - haiku));
    assert_int_equal(a.batch.saved_pico, 0); /* nothing deferrable */
    assert_int_equal(a.structured_output.saved_pico, 0);
    json_t *m = map_of(&a, files, 1);
    assert_true(jnum(m, "projection.prompt_cache.saved_usd") == 0.0132);
    assert_true(jnum(m, "projection.prompt_cache.saved_pct") == 42.7);
    assert_true(jnum(m, "buckets.repeated_context.share") == 0.7767);
    const json_t *tp = json_array_get(json_object_get(m, "top_prefixes"), 0);
    assert_int_equal(json_integer_value(json_object_get(tp, "tokens")), 2000);
    assert_int_equal(json_integer_value(json_object_get(tp, "requests")), 5);
    json_decref(m);
    fg_analyze_free(&a);

    /* --all-deferrable: every call at the batch price (1.50 / 7.50) */
    assert_int_equal(run(&a, files, 1, NULL, true, NULL), 0);
    int64_t batch = 2010LL * 1500000 + 10LL * 7500000;
    assert_int_equal(a.batch.requests, 5);
    assert_int_equal(a.batch.saved_pico, 5 * (call - batch));
    fg_analyze_free(&a);
    unlink(t.path);

    /* Haiku 4.5 caches only prefixes of 4096+ tokens: the 2000-token one is not */
    write_anth_log(&t, "claude-haiku-4-5");
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    assert_int_equal(a.bucket_repeated_pico, 4 * 2000LL * 1000000);
    assert_int_equal(a.prompt_cache.saved_pico, 0);
    assert_int_equal(a.prompt_cache.requests, 0);
    assert_int_equal(a.routing.requests, 0); /* haiku is not frontier-priced */
    fg_analyze_free(&a);
    unlink(t.path);
}

/* OpenAI: a 6000-byte system message = (6000 + "content" + "role" + "system"
 * + 3) / 4 = 1505 tokens, cached in 128-token steps: 1408. */
static void projection_openai_cache(void **state)
{
    char *sys = malloc(6001), *buf = malloc(3 * 7000);
    memset(sys, 'b', 6000);
    sys[6000] = '\0';
    buf[0] = '\0';
    static const int cached[] = {0, 0, 1280};
    for (int i = 0; i < 3; i++) {
        char line[7000];
        snprintf(line, sizeof line,
                 "{\"time\":%d,\"provider\":\"openai\",\"request\":{\"model\":\"gpt-4o\","
                 "\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},{\"role\":\"user\","
                 "\"content\":\"u%d\"}]},\"response\":{\"choices\":[{\"message\":{\"content\":"
                 "\"ok\"}}],\"usage\":{\"prompt_tokens\":1520,\"completion_tokens\":10,"
                 "\"prompt_tokens_details\":{\"cached_tokens\":%d}}}}\n",
                 1795687200 + 60 * i, sys, i, cached[i]);
        strcat(buf, line);
    }
    struct tmpfile t;
    write_tmp(&t, buf);
    free(sys);
    free(buf);
    const char *files[] = {t.path};
    struct fg_analysis a;
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    /* gpt-4o: input 2.50, cached 1.25 */
    assert_int_equal(a.prompt_cache.requests, 2);
    assert_int_equal(a.prompt_cache.tokens, 1408 + 128);
    assert_int_equal(a.prompt_cache.saved_pico, (1408LL + 128) * (2500000 - 1250000));
    assert_int_equal(a.prompt_cache.extra_pico, 0); /* no write fee on OpenAI */
    fg_analyze_free(&a);
    unlink(t.path);
}

static void projection_structured_routing_batch(void **state)
{
    struct tmpfile t;
    write_tmp(&t,
              "{\"time\":\"2026-11-26T10:00:00Z\",\"provider\":\"openai\",\"deferrable\":true,"
              "\"request\":{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
              "\"Classify: refund please. Respond with JSON only.\"}]},\"response\":{\"choices\":"
              "[{\"message\":{\"content\":\"Here you go: {\\\"a\\\":1} Thanks\"}}],\"usage\":{"
              "\"prompt_tokens\":100,\"completion_tokens\":27}}}\n");
    const char *files[] = {t.path};
    struct fg_analysis a;
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    int64_t cost = 100LL * 2500000 + 27LL * 10000000; /* 520,000,000 */
    assert_int_equal(a.cost_pico, cost);
    /* answer: 27 bytes, 20 of them around the 7-byte JSON → 27*20/27 = 20 tokens */
    assert_int_equal(a.structured_output.requests, 1);
    assert_int_equal(a.structured_output.tokens, 20);
    assert_int_equal(a.structured_output.saved_pico, 20LL * 10000000);
    assert_int_equal(a.bucket_bloated_pico, 20LL * 10000000);
    /* batch: gpt-4o batch 1.25 / 5.00 */
    assert_int_equal(a.batch.requests, 1);
    assert_int_equal(a.batch.saved_pico, cost - (100LL * 1250000 + 27LL * 5000000));
    /* routing to gpt-4o-mini (0.15 / 0.60) */
    assert_int_equal(a.routing.saved_pico, cost - (100LL * 150000 + 27LL * 600000));
    fg_analyze_free(&a);

    /* --cheap-model gpt-4.1-nano (0.10 / 0.40) */
    assert_int_equal(run(&a, files, 1, "gpt-4.1-nano", false, NULL), 0);
    assert_int_equal(a.routing.saved_pico, cost - (100LL * 100000 + 27LL * 400000));
    struct fg_analyze_opts o = {.files = files, .n_files = 1, .cheap_model = "gpt-4.1-nano"};
    json_t *m = fg_analyze_json(&a, &o);
    const json_t *cm = json_object_get(json_object_get(json_object_get(m, "projection"), "routing"),
                                       "cheap_model");
    assert_string_equal(json_string_value(json_object_get(cm, "openai")), "gpt-4.1-nano");
    assert_true(jnum(m, "projection.routing.saved_usd") == 0.000499); /* 499.2 micro */
    json_decref(m);
    fg_analyze_free(&a);
    unlink(t.path);
}

/* A deferrable OpenAI log line of model, answered at tier (service_tier). */
#define DEFER_LINE(deferrable, model, tier)                                                        \
    "{\"time\":\"2026-11-26T10:00:00Z\",\"provider\":\"openai\",\"deferrable\":" deferrable        \
    ",\"request\":{\"model\":\"" model                                                             \
    "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]},"                                   \
    "\"response\":{\"model\":\"" model "\",\"service_tier\":\"" tier                               \
    "\",\"choices\":[{\"message\":"                                                                \
    "{\"content\":\"ok\"}}],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":200}}}\n"

/* The deferral rule in the projection: a deferrable call to a flex model
 * (its price row) goes flex, any other to a batch; an answer already
 * served flex is billed at flex rates and saves nothing more. */
static void projection_flex(void **state)
{
    struct tmpfile t;
    write_tmp(&t, DEFER_LINE("true", "gpt-5-mini", "default")
                      DEFER_LINE("true", "gpt-4o-mini", "default")
                          DEFER_LINE("true", "gpt-5-mini", "flex")
                              DEFER_LINE("false", "gpt-5-mini-2025-08-07", "default"));
    const char *files[] = {t.path};
    struct fg_analysis a;
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    /* gpt-5-mini 0.25 / 2.00, flex (its batch price) half; gpt-4o-mini 0.15 / 0.60 */
    int64_t g5 = 1000LL * 250000 + 200LL * 2000000, g5flex = g5 / 2;
    int64_t g4 = 1000LL * 150000 + 200LL * 600000, g4batch = 1000LL * 75000 + 200LL * 300000;
    assert_int_equal(a.cost_pico, g5 + g4 + g5flex + g5);
    assert_int_equal(a.saved_flex_pico, g5 - g5flex); /* the call served flex */
    assert_int_equal(a.saved_batch_pico, 0);
    assert_int_equal(a.flex.requests, 1);
    assert_int_equal(a.flex.saved_pico, g5 - g5flex);
    assert_int_equal(a.batch.requests, 1); /* gpt-4o-mini has no flex tier */
    assert_int_equal(a.batch.saved_pico, g4 - g4batch);
    json_t *m = map_of(&a, files, 1);
    assert_true(jnum(m, "projection.flex.saved_usd") == 0.000325);
    assert_true(jnum(m, "saved_by.flex") == 0.000325);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(json_object_get(m, "projection"), "flex"), "assumptions")),
                     4);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    fg_analyze_print(f, m);
    fclose(f);
    assert_non_null(strstr(out, "  flex "));
    assert_non_null(strstr(out, "service_tier \"flex\""));
    free(out);
    json_decref(m);
    fg_analyze_free(&a);

    /* --all-deferrable: the dated snapshot counts as its flex row too */
    assert_int_equal(run(&a, files, 1, NULL, true, NULL), 0);
    assert_int_equal(a.flex.requests, 2);
    assert_int_equal(a.flex.saved_pico, 2 * (g5 - g5flex));
    assert_int_equal(a.batch.requests, 1);
    fg_analyze_free(&a);
    unlink(t.path);
}

/* ---- bad input -------------------------------------------------------- */

static void bad_lines_skipped(void **state)
{
    struct tmpfile t;
    write_tmp(&t,
              OA_LINE("1795687200", "gpt-4o-mini", "a", 10, 0,
                      1) "not json\n"
                         "{\"foo\":1}\n"
                         "\n"
                         "{\"provider\":\"openai\",\"response\":{\"choices\":[]}}\n"
                         "[1,2]\n"
                         "{\"time\":\"yesterday\",\"provider\":\"openai\",\"response\":{\"usage\":"
                         "{\"prompt_tokens\":1,\"completion_tokens\":1}}}\n" OA_LINE(
                             "\"2026-11-26T12:30:00.250+02:00\"", "mystery-model", "b", 10, 0, 1));
    const char *files[] = {t.path};
    struct fg_analysis a;
    char *diag;
    assert_int_equal(run(&a, files, 1, NULL, false, &diag), 0);
    assert_int_equal(a.lines, 7);
    assert_int_equal(a.skipped_lines, 5);
    assert_int_equal(a.requests, 2);
    assert_int_equal(a.unpriced_requests, 1);
    assert_int_equal(a.cost_pico, 10LL * 150000 + 1LL * 600000);
    static const struct {
        int line;
        const char *why;
    } want[] = {{2, "invalid JSON"},
                {3, "neither a log line"},
                {5, "response has no \"usage\""},
                {6, "not a JSON object"},
                {7, "bad \"time\""}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char w[160];
        snprintf(w, sizeof w, "%s:%d: %s", t.path, want[i].line, want[i].why);
        assert_non_null(strstr(diag, w));
    }
    json_t *m = map_of(&a, files, 1);
    assert_int_equal(jnum(m, "skipped_lines"), 5);
    assert_string_equal(json_string_value(json_array_get(json_object_get(m, "unpriced_models"), 0)),
                        "mystery-model");
    /* 12:30:00.250+02:00 = 10:30:00Z */
    assert_string_equal(json_string_value(json_object_get(m, "until")), "2026-11-26T10:30:00Z");
    json_decref(m);
    free(diag);
    fg_analyze_free(&a);
    unlink(t.path);
}

/* ---- CLI -------------------------------------------------------------- */

static int quiet_main(int argc, const char **argv)
{
    fflush(stdout);
    fflush(stderr);
    int o = dup(1), e = dup(2), dn = open("/dev/null", O_WRONLY);
    dup2(dn, 1);
    dup2(dn, 2);
    int rc = fg_analyze_main(argc, (char **)argv);
    fflush(stdout);
    fflush(stderr);
    dup2(o, 1);
    dup2(e, 2);
    close(o);
    close(e);
    close(dn);
    return rc;
}

static void cli_exit_status(void **state)
{
    struct tmpfile t;
    write_anth_log(&t, "claude-sonnet-4-5");
    const char *none[] = {"analyze"};
    const char *unknown[] = {"analyze", "--bogus", t.path};
    const char *cheap[] = {"analyze", t.path, "--cheap-model", "no-such-model"};
    const char *novalue[] = {"analyze", t.path, "--cheap-model"};
    const char *missing[] = {"analyze", "/nonexistent/frugal.jsonl"};
    const char *help[] = {"analyze", "--help"};
    const char *json[] = {"analyze", t.path, "--json", "--all-deferrable", "--top=3"};
    const char *table[] = {"analyze", t.path, "--cheap-model=claude-haiku-4-5"};
    assert_int_equal(quiet_main(1, none), 2);
    assert_int_equal(quiet_main(3, unknown), 2);
    assert_int_equal(quiet_main(4, cheap), 2);
    assert_int_equal(quiet_main(3, novalue), 2);
    assert_int_equal(quiet_main(2, missing), 1);
    assert_int_equal(quiet_main(2, help), 0);
    assert_int_equal(quiet_main(5, json), 0);
    assert_int_equal(quiet_main(3, table), 0);
    unlink(t.path);
}

static void readable_output(void **state)
{
    struct tmpfile t;
    write_anth_log(&t, "claude-sonnet-4-5");
    const char *files[] = {t.path};
    struct fg_analysis a;
    assert_int_equal(run(&a, files, 1, NULL, false, NULL), 0);
    json_t *m = map_of(&a, files, 1);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    fg_analyze_print(f, m);
    fclose(f);
    assert_non_null(strstr(out, "repeated_context"));
    assert_non_null(strstr(out, "prompt_cache          $0.013200   42.7% of cost  (3 calls)"));
    assert_non_null(strstr(out, "5 minutes")); /* the TTL assumption */
    assert_non_null(strstr(out, "quality holds for simple calls"));
    free(out);
    json_decref(m);
    fg_analyze_free(&a);
    unlink(t.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openai_hand_priced),
        cmocka_unit_test(deepseek_peak_and_off_peak),
        cmocka_unit_test(anthropic_cache_split),
        cmocka_unit_test(batch_pairs),
        cmocka_unit_test(projection_repeated_prefix),
        cmocka_unit_test(projection_openai_cache),
        cmocka_unit_test(projection_structured_routing_batch),
        cmocka_unit_test(projection_flex),
        cmocka_unit_test(bad_lines_skipped),
        cmocka_unit_test(cli_exit_status),
        cmocka_unit_test(readable_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
