/* test_ledger.c — golden tests for the spend ledger: provider usage objects
 * (shaped exactly like the providers send them, spec/providers.md 1.4, 1.5,
 * 3.4, 3.5) → frugal's token classes → exact pico-USD cost (7.3), price
 * lookups, attribution (savings, buckets), and a ledger round trip through
 * the group-commit writer into SQLite and back.
 *
 * Every expected number is worked out by hand in a comment next to it:
 * prices are micro-USD per 1M tokens (src/price_table.c), so
 * tokens × price is pico-USD (1e-12 USD) with no division. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attrib.h"
#include "json.h"
#include "ledger.h"
#include "price.h"
#include "store.h"
#include "store_response_cases.h"
#include "usage.h"

/* ---------- helpers ---------- */

/* Parse `doc`, find the usage object at the given path and feed it to the
 * dialect's usage reader, merging into *u (fields present overwrite). */
enum where { AT_ROOT_USAGE, AT_MESSAGE_USAGE };

static void feed(enum fg_dialect d, const char *doc, enum where w, struct fg_usage *u)
{
    struct fg_json j = {0};
    int rc = fg_json_parse(&j, doc, strlen(doc));
    if (rc != 0)
        fail_msg("test JSON does not parse: %s at %zu", j.err, j.err_off);
    int usage = w == AT_ROOT_USAGE ? fg_json_get(&j, 0, "usage")
                                   : fg_json_get(&j, fg_json_get(&j, 0, "message"), "usage");
    if (d == FG_DIALECT_OPENAI)
        fg_usage_openai(&j, usage, u);
    else if (d == FG_DIALECT_RESPONSES)
        fg_usage_responses(&j, usage, u);
    else
        fg_usage_anthropic(&j, usage, u);
    fg_json_free(&j);
    fg_json_thread_cleanup();
}

static void price_of(const char *model, enum fg_dialect d, struct fg_price *p)
{
    if (!fg_price_of_id(model, d, p))
        fail_msg("model %s should be priced", model);
}

/* A macro, so a failure names the caller's line. */
#define assert_tokens(t, in, cr, w5m, w1h, out)                                                    \
    do {                                                                                           \
        const struct fg_tokens *t_ = (t);                                                          \
        if (t_->input != (in) || t_->cache_read != (cr) || t_->cache_write_5m != (w5m) ||          \
            t_->cache_write_1h != (w1h) || t_->output != (out))                                    \
            fail_msg("tokens {input %lld, cache_read %lld, write_5m %lld, write_1h %lld, "         \
                     "output %lld}, want {%lld, %lld, %lld, %lld, %lld}",                          \
                     (long long)t_->input, (long long)t_->cache_read,                              \
                     (long long)t_->cache_write_5m, (long long)t_->cache_write_1h,                 \
                     (long long)t_->output, (long long)(in), (long long)(cr), (long long)(w5m),    \
                     (long long)(w1h), (long long)(out));                                          \
    } while (0)

#define assert_usd(pico, want)                                                                     \
    do {                                                                                           \
        char b_[40];                                                                               \
        assert_string_equal(fg_price_usd((pico), b_, sizeof b_), (want));                          \
    } while (0)

/* ---------- OpenAI Responses (providers-2.md 1.4) ---------- */

/* input_tokens INCLUDES cached_tokens (and cache_write_tokens); output_tokens
 * INCLUDES reasoning_tokens. */
static void responses_usage_classes(void **state)
{
    (void)state;
    static const char *doc =
        "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":[],"
        "\"usage\":{\"input_tokens\":2000,\"input_tokens_details\":{\"cached_tokens\":1536,"
        "\"cache_write_tokens\":64},\"output_tokens\":300,\"output_tokens_details\":"
        "{\"reasoning_tokens\":200},\"total_tokens\":2300}}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_RESPONSES, doc, AT_ROOT_USAGE, &u);
    assert_true(u.seen);
    assert_tokens(&u.tok, 400, 1536, 64, 0, 300);
    assert_int_equal(u.reasoning, 200);
    /* a chat reader sees nothing it knows in it */
    struct fg_usage c = {0};
    feed(FG_DIALECT_OPENAI, doc, AT_ROOT_USAGE, &c);
    assert_tokens(&c.tok, 0, 0, 0, 0, 0);
}

/* ---------- OpenAI Chat Completions (providers.md 1.4 / 1.5 / 7.3) ---------- */

/* gpt-4o-mini: input 0.15 → 150000, cached 0.075 → 75000, output 0.60 → 600000. */
static void openai_cached_tokens_gpt4o_mini(void **state)
{
    (void)state;
    /* 1.4 shape: prompt_tokens INCLUDES cached_tokens */
    static const char *doc =
        "{\"id\":\"chatcmpl-7Qx1\",\"object\":\"chat.completion\",\"created\":1760000000,"
        "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"Hi\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
        "\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":300,\"total_tokens\":2300,"
        "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
        "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_1a2b3c\"}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_OPENAI, doc, AT_ROOT_USAGE, &u);
    assert_true(u.seen);
    /* uncached = 2000 - 1024 = 976 */
    assert_tokens(&u.tok, 976, 1024, 0, 0, 300);
    assert_int_equal(u.reasoning, 0);

    struct fg_price p;
    price_of("gpt-4o-mini", FG_DIALECT_OPENAI, &p);
    assert_int_equal(p.input, 150000);
    assert_int_equal(p.cache_read, 75000);
    assert_int_equal(p.output, 600000);
    /*   976 × 150000 = 146,400,000
     *  1024 ×  75000 =  76,800,000
     *   300 × 600000 = 180,000,000
     *                  -----------
     *                  403,200,000 pico = $0.0004032 → "0.000403" */
    int64_t cost = fg_price_cost(&p, &u.tok, false);
    assert_int_equal(cost, 403200000);
    assert_usd(cost, "0.000403");
}

/* gpt-5.6: input 5.00 → 5000000, cached 0.50 → 500000, cache write 6.25 →
 * 6250000, output 30.00 → 30000000 (explicit caching, 1.8 / 7.3). */
static void openai_cache_write_tokens_gpt56(void **state)
{
    (void)state;
    static const char *doc =
        "{\"id\":\"chatcmpl-56\",\"object\":\"chat.completion\",\"created\":1790000000,"
        "\"model\":\"gpt-5.6\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"ok\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
        "\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":5000,\"completion_tokens\":400,\"total_tokens\":5400,"
        "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0,"
        "\"cache_write_tokens\":2048},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":128,\"audio_tokens\":0,"
        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
        "\"service_tier\":\"default\"}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_OPENAI, doc, AT_ROOT_USAGE, &u);
    /* prompt includes reads and writes: uncached = 5000 - 1024 - 2048 = 1928 */
    assert_tokens(&u.tok, 1928, 1024, 2048, 0, 400);
    assert_int_equal(u.reasoning, 128);

    struct fg_price p;
    price_of("gpt-5.6", FG_DIALECT_OPENAI, &p);
    assert_int_equal(p.cache_write_5m, 6250000);
    /*  1928 ×  5,000,000 =  9,640,000,000
     *  1024 ×    500,000 =    512,000,000
     *  2048 ×  6,250,000 = 12,800,000,000
     *   400 × 30,000,000 = 12,000,000,000   (reasoning 128 is inside the 400)
     *                      --------------
     *                      34,952,000,000 pico = "0.034952" */
    int64_t cost = fg_price_cost(&p, &u.tok, false);
    assert_int_equal(cost, 34952000000LL);
    assert_usd(cost, "0.034952");
}

/* o3: input 2.00 → 2000000, output 8.00 → 8000000. */
static void openai_reasoning_inside_completion_o3(void **state)
{
    (void)state;
    static const char *doc =
        "{\"id\":\"chatcmpl-o3\",\"object\":\"chat.completion\",\"created\":1760000000,"
        "\"model\":\"o3-2025-04-16\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"42\",\"refusal\":null,\"annotations\":[]},"
        "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":1500,\"total_tokens\":1620,"
        "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":1344,\"audio_tokens\":0,"
        "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_OPENAI, doc, AT_ROOT_USAGE, &u);
    /* reasoning is part of completion_tokens, never added on top */
    assert_tokens(&u.tok, 120, 0, 0, 0, 1500);
    assert_int_equal(u.reasoning, 1344);

    struct fg_price p;
    price_of("o3-2025-04-16", FG_DIALECT_OPENAI, &p);
    /*   120 × 2,000,000 =    240,000,000
     *  1500 × 8,000,000 = 12,000,000,000
     *                     --------------
     *                     12,240,000,000 pico = "0.012240" */
    int64_t cost = fg_price_cost(&p, &u.tok, false);
    assert_int_equal(cost, 12240000000LL);
    assert_usd(cost, "0.012240");
}

/* 1.5: every chunk says "usage":null except the final one (choices: []). */
static void openai_stream_final_usage_chunk(void **state)
{
    (void)state;
    static const char *chunks[] = {
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
        "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
        "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}",
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
        "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
        "\"finish_reason\":null}],\"usage\":null}",
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
        "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
        "\"stop\"}],\"usage\":null}",
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,"
        "\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
        "\"completion_tokens\":2,\"total_tokens\":11,\"prompt_tokens_details\":"
        "{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
    };
    struct fg_usage u = {0};
    for (int i = 0; i < 3; i++) {
        feed(FG_DIALECT_OPENAI, chunks[i], AT_ROOT_USAGE, &u);
        assert_false(u.seen); /* "usage":null is not a usage object */
    }
    feed(FG_DIALECT_OPENAI, chunks[3], AT_ROOT_USAGE, &u);
    assert_true(u.seen);
    assert_tokens(&u.tok, 9, 0, 0, 0, 2);

    struct fg_price p;
    price_of("gpt-4o", FG_DIALECT_OPENAI, &p);
    /* gpt-4o: 2.50 → 2500000 in, 10.00 → 10000000 out
     *  9 × 2,500,000 = 22,500,000
     *  2 × 10,000,000 = 20,000,000
     *                   ----------
     *                   42,500,000 pico = $0.0000425 → "0.000043" (half up) */
    int64_t cost = fg_price_cost(&p, &u.tok, false);
    assert_int_equal(cost, 42500000);
    assert_usd(cost, "0.000043");
}

/* Nullable details (SDK types allow null) read as absent. */
static void openai_null_details(void **state)
{
    (void)state;
    static const char *doc =
        "{\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":5,\"total_tokens\":55,"
        "\"prompt_tokens_details\":null,\"completion_tokens_details\":null}}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_OPENAI, doc, AT_ROOT_USAGE, &u);
    assert_true(u.seen);
    assert_tokens(&u.tok, 50, 0, 0, 0, 5);
    assert_int_equal(u.reasoning, 0);
}

/* ---------- Anthropic Messages (providers.md 3.4 / 3.5 / 4 / 7.3) ---------- */

/* claude-sonnet-4-5: input 3.00, 5m write 3.75, 1h write 6.00, read 0.30,
 * output 15.00 → 3000000 / 3750000 / 6000000 / 300000 / 15000000. */
static void anthropic_split_5m_1h_sonnet45(void **state)
{
    (void)state;
    /* 3.4 shape, every key present */
    static const char *doc =
        "{\"id\":\"msg_01Xq\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"Checking the weather.\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
        "\"stop_details\":null,\"container\":null,\"diagnostics\":null,"
        "\"usage\":{\"input_tokens\":42,\"cache_creation_input_tokens\":3100,"
        "\"cache_read_input_tokens\":0,\"cache_creation\":{\"ephemeral_5m_input_tokens\":2100,"
        "\"ephemeral_1h_input_tokens\":1000},\"output_tokens\":61,\"output_tokens_details\":"
        "{\"thinking_tokens\":0},\"server_tool_use\":null,\"service_tier\":\"standard\","
        "\"speed\":\"standard\",\"inference_geo\":null}}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_ANTHROPIC, doc, AT_ROOT_USAGE, &u);
    assert_true(u.seen);
    /* input_tokens EXCLUDES cache reads and writes */
    assert_tokens(&u.tok, 42, 0, 2100, 1000, 61);

    struct fg_price p;
    price_of("claude-sonnet-4-5-20250929", FG_DIALECT_ANTHROPIC, &p);
    assert_int_equal(p.cache_write_5m, 3750000);
    assert_int_equal(p.cache_write_1h, 6000000);
    /*    42 ×  3,000,000 =    126,000,000
     *  2100 ×  3,750,000 =  7,875,000,000
     *  1000 ×  6,000,000 =  6,000,000,000
     *    61 × 15,000,000 =    915,000,000
     *                      --------------
     *                      14,916,000,000 pico = "0.014916" */
    int64_t cost = fg_price_cost(&p, &u.tok, false);
    assert_int_equal(cost, 14916000000LL);
    assert_usd(cost, "0.014916");
}

static void anthropic_no_split_all_5m(void **state)
{
    (void)state;
    /* 0.x-era usage: no cache_creation object → every write is a 5 m write */
    static const char *doc =
        "{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],"
        "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":42,\"cache_creation_input_tokens\":2100,"
        "\"cache_read_input_tokens\":4000,\"output_tokens\":61}}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_ANTHROPIC, doc, AT_ROOT_USAGE, &u);
    assert_tokens(&u.tok, 42, 4000, 2100, 0, 61);

    struct fg_price p;
    price_of("claude-sonnet-4-5", FG_DIALECT_ANTHROPIC, &p);
    /*    42 ×  3,000,000 =    126,000,000
     *  2100 ×  3,750,000 =  7,875,000,000
     *  4000 ×    300,000 =  1,200,000,000
     *    61 × 15,000,000 =    915,000,000
     *                      --------------
     *                      10,116,000,000 pico = "0.010116" */
    int64_t cost = fg_price_cost(&p, &u.tok, false);
    assert_int_equal(cost, 10116000000LL);
    assert_usd(cost, "0.010116");
}

/* 3.5: message_start carries the input side (and output_tokens: 1), the
 * message_delta the cumulative output. */
static void anthropic_stream_start_then_delta(void **state)
{
    (void)state;
    static const char *start =
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01Xq\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude-haiku-4-5-20251001\",\"content\":[],"
        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":18,"
        "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
        "\"output_tokens\":1}}}";
    static const char *delta =
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
        "\"stop_sequence\":null},\"usage\":{\"output_tokens\":34}}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_ANTHROPIC, start, AT_MESSAGE_USAGE, &u);
    assert_tokens(&u.tok, 18, 0, 0, 0, 1);
    feed(FG_DIALECT_ANTHROPIC, delta, AT_ROOT_USAGE, &u);
    /* output overwritten (cumulative, never added: 34, not 35); input kept */
    assert_tokens(&u.tok, 18, 0, 0, 0, 34);

    struct fg_price p;
    price_of("claude-haiku-4-5-20251001", FG_DIALECT_ANTHROPIC, &p);
    /* haiku 4.5: 1.00 → 1000000 in, 5.00 → 5000000 out
     *  18 × 1,000,000 =  18,000,000
     *  34 × 5,000,000 = 170,000,000
     *                   -----------
     *                   188,000,000 pico = "0.000188" */
    int64_t cost = fg_price_cost(&p, &u.tok, false);
    assert_int_equal(cost, 188000000);
    assert_usd(cost, "0.000188");
}

/* SDK 1.x MessageDeltaUsage: cumulative input/cache counts may repeat
 * (nullable), output_tokens_details optional.  Cache reads from the start
 * survive; nulls do not erase anything. */
static void anthropic_stream_delta_with_cumulative_fields(void **state)
{
    (void)state;
    static const char *start =
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_03\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],"
        "\"stop_reason\":null,\"stop_sequence\":null,\"stop_details\":null,\"container\":null,"
        "\"diagnostics\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,"
        "\"cache_read_input_tokens\":3000,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,"
        "\"ephemeral_1h_input_tokens\":0},\"output_tokens\":1,\"output_tokens_details\":"
        "{\"thinking_tokens\":0},\"server_tool_use\":null,\"service_tier\":\"standard\","
        "\"speed\":\"standard\",\"inference_geo\":null}}}";
    static const char *delta =
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null,\"stop_details\":null,\"container\":null},"
        "\"usage\":{\"input_tokens\":null,\"cache_creation_input_tokens\":null,"
        "\"cache_read_input_tokens\":3000,\"output_tokens\":210,"
        "\"output_tokens_details\":{\"thinking_tokens\":150},\"server_tool_use\":null}}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_ANTHROPIC, start, AT_MESSAGE_USAGE, &u);
    feed(FG_DIALECT_ANTHROPIC, delta, AT_ROOT_USAGE, &u);
    assert_tokens(&u.tok, 25, 3000, 0, 0, 210);
    assert_int_equal(u.reasoning, 150);

    struct fg_price p;
    price_of("claude-sonnet-4-5", FG_DIALECT_ANTHROPIC, &p);
    /*    25 ×  3,000,000 =    75,000,000
     *  3000 ×    300,000 =   900,000,000
     *   210 × 15,000,000 = 3,150,000,000
     *                      -------------
     *                      4,125,000,000 pico = "0.004125" */
    assert_int_equal(fg_price_cost(&p, &u.tok, false), 4125000000LL);
}

/* message_start reports 1 h writes in cache_creation; the real message_delta
 * (SDK 1.14 MessageDeltaUsage has NO cache_creation object) repeats the
 * cumulative cache_creation_input_tokens total.  The total agrees with the
 * split already known, so the split must survive: these are 1 h writes,
 * billed at 2x input (6.00), not 5 m writes (3.75). */
static void anthropic_stream_1h_split_survives_delta(void **state)
{
    (void)state;
    static const char *start =
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_04\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],"
        "\"stop_reason\":null,\"stop_sequence\":null,\"stop_details\":null,\"container\":null,"
        "\"diagnostics\":null,\"usage\":{\"input_tokens\":7,\"cache_creation_input_tokens\":1500,"
        "\"cache_read_input_tokens\":0,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,"
        "\"ephemeral_1h_input_tokens\":1500},\"output_tokens\":1,\"output_tokens_details\":"
        "{\"thinking_tokens\":0},\"server_tool_use\":null,\"service_tier\":\"standard\","
        "\"speed\":\"standard\",\"inference_geo\":null}}}";
    static const char *delta =
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null,\"stop_details\":null,\"container\":null},"
        "\"usage\":{\"input_tokens\":7,\"cache_creation_input_tokens\":1500,"
        "\"cache_read_input_tokens\":0,\"output_tokens\":14}}";
    struct fg_usage u = {0};
    feed(FG_DIALECT_ANTHROPIC, start, AT_MESSAGE_USAGE, &u);
    assert_tokens(&u.tok, 7, 0, 0, 1500, 1);
    feed(FG_DIALECT_ANTHROPIC, delta, AT_ROOT_USAGE, &u);
    /* BUG (usage.c fg_usage_anthropic): without cache_creation in the delta
     * it re-splits the total as "all 5 m" and overwrites the known split:
     * gets 5m=1500, 1h=0. */
    assert_tokens(&u.tok, 7, 0, 0, 1500, 14);

    struct fg_price p;
    price_of("claude-sonnet-4-5", FG_DIALECT_ANTHROPIC, &p);
    /*     7 ×  3,000,000 =    21,000,000
     *  1500 ×  6,000,000 = 9,000,000,000
     *    14 × 15,000,000 =   210,000,000
     *                      -------------
     *                      9,231,000,000 pico = "0.009231"
     * (the bug bills 1500 × 3,750,000 instead: 5,856,000,000 = "0.005856") */
    assert_int_equal(fg_price_cost(&p, &u.tok, false), 9231000000LL);
}

/* ---------- batch, unpriced, lookups, display ---------- */

static void batch_is_half_price(void **state)
{
    (void)state;
    struct fg_price p;
    /* gpt-4o-mini listed batch prices: 0.075 in → 75000, 0.30 out → 300000;
     * cached reads at half the cached price: 75000 / 2.
     *   976 × 75000         =  73,200,000
     *  1024 × 75000 / 2     =  38,400,000
     *   300 × 300000        =  90,000,000
     *                          -----------
     *                          201,600,000 = 403,200,000 / 2 */
    price_of("gpt-4o-mini", FG_DIALECT_OPENAI, &p);
    struct fg_tokens t = {.input = 976, .cache_read = 1024, .output = 300};
    assert_int_equal(fg_price_cost(&p, &t, true), 201600000);
    assert_int_equal(fg_price_cost(&p, &t, false), 2 * 201600000);

    /* claude-sonnet-4-5 lists no batch price: Anthropic's 50% on all usage
     *    42 × 1,500,000                        =    63,000,000
     *    61 × 7,500,000                        =   457,500,000
     *  (2100 × 3,750,000 + 1000 × 6,000,000)/2 = 6,937,500,000
     *                                           -------------
     *                                           7,458,000,000 = 14,916,000,000 / 2 */
    price_of("claude-sonnet-4-5", FG_DIALECT_ANTHROPIC, &p);
    assert_int_equal(p.batch_input, 1500000);
    assert_int_equal(p.batch_output, 7500000);
    struct fg_tokens a = {
        .input = 42, .cache_write_5m = 2100, .cache_write_1h = 1000, .output = 61};
    assert_int_equal(fg_price_cost(&p, &a, true), 7458000000LL);
    assert_int_equal(fg_price_cost(&p, &a, false), 14916000000LL);
}

static void unpriced_model(void **state)
{
    (void)state;
    struct fg_price p;
    assert_false(fg_price_of_id("my-local-llama-70b", FG_DIALECT_OPENAI, &p));
    assert_false(fg_price_of_id("claude-nonexistent-9", FG_DIALECT_ANTHROPIC, &p));
    assert_null(fg_price_lookup("my-local-llama-70b"));
    assert_null(fg_price_lookup(NULL));

    /* a configured model with no price anywhere is unpriced, never $0 */
    struct fg_model_cfg m = {.name = "house-model",
                             .model = "house-model-v2",
                             .dialect = FG_DIALECT_OPENAI,
                             .price = {-1, -1, -1, -1, -1, -1, -1}};
    assert_false(fg_price_of(&m, &p));
    /* input alone is not enough either */
    m.price.input = 1000000;
    assert_false(fg_price_of(&m, &p));
    /* input + output: priced, the rest filled by the provider's rules */
    m.price.output = 2000000;
    assert_true(fg_price_of(&m, &p));
    assert_int_equal(p.cache_read, 1000000); /* no discount listed = input */
    assert_int_equal(p.batch_input, 500000);
    assert_int_equal(p.batch_output, 1000000);
}

static void config_price_overrides_builtin_field_by_field(void **state)
{
    (void)state;
    /* upstream id dated → built-in gpt-4o-mini row; only output overridden */
    struct fg_model_cfg m = {.name = "cheap",
                             .model = "gpt-4o-mini-2024-07-18",
                             .dialect = FG_DIALECT_OPENAI,
                             .price = {-1, 700000, -1, -1, -1, -1, -1}};
    struct fg_price p;
    assert_true(fg_price_of(&m, &p));
    assert_int_equal(p.input, 150000);
    assert_int_equal(p.output, 700000);
    assert_int_equal(p.cache_read, 75000);
    /* Anthropic fill rules on a config-only model: writes 1.25x / 2x input */
    struct fg_model_cfg a = {.name = "house-claude",
                             .model = "house-claude",
                             .dialect = FG_DIALECT_ANTHROPIC,
                             .price = {4000000, 20000000, -1, -1, -1, -1, -1}};
    assert_true(fg_price_of(&a, &p));
    assert_int_equal(p.cache_write_5m, 5000000);
    assert_int_equal(p.cache_write_1h, 8000000);
}

static void dated_ids_resolve(void **state)
{
    (void)state;
    const struct fg_builtin_price *b = fg_price_lookup("claude-sonnet-4-5-20250929");
    assert_non_null(b);
    /* an exact row exists: it is the one found, not the undated one */
    assert_string_equal(b->model, "claude-sonnet-4-5-20250929");
    assert_int_equal(b->provider, FG_DIALECT_ANTHROPIC);

    b = fg_price_lookup("gpt-4o-mini-2099-01-01");
    assert_non_null(b);
    assert_string_equal(b->model, "gpt-4o-mini");
    assert_int_equal(b->price.input, 150000);

    b = fg_price_lookup("claude-sonnet-4-5-20991231");
    assert_non_null(b);
    assert_string_equal(b->model, "claude-sonnet-4-5");

    /* a dated id prices like its base */
    struct fg_price p1, p2;
    price_of("gpt-4o-mini-2099-01-01", FG_DIALECT_OPENAI, &p1);
    price_of("gpt-4o-mini", FG_DIALECT_OPENAI, &p2);
    assert_memory_equal(&p1, &p2, sizeof p1);

    /* not a date: no stripping */
    assert_null(fg_price_lookup("gpt-4o-mini-preview"));
    assert_null(fg_price_lookup("gpt-4o-mini-2099-01"));
}

static void usd_display_rounding(void **state)
{
    (void)state;
    assert_usd(0, "0.000000");
    assert_usd(499999, "0.000000");
    assert_usd(500000, "0.000001"); /* half up */
    assert_usd(1499999, "0.000001");
    assert_usd(1500000, "0.000002");
    assert_usd(-500000, "-0.000001"); /* half away from zero */
    assert_usd(-1500000, "-0.000002");
    assert_usd(1000000000000LL, "1.000000");
    assert_usd(123456789500000LL, "123.456790");
    assert_usd(INT64_MAX, "9223372.036855");
    assert_usd(INT64_MIN, "-9223372.036855");
}

/* A negative amount that rounds to zero micro-USD is zero: "0.000000", not
 * "-0.000000" (x-frugal-saved-usd of a call whose cache write cost 0.4 µUSD
 * more than it saved). */
static void usd_no_negative_zero(void **state)
{
    (void)state;
    /* BUG (price.c fg_price_usd): the sign is printed from pico < 0 before
     * rounding, so -499999 pico renders as "-0.000000". */
    assert_usd(-1, "0.000000");
    assert_usd(-499999, "0.000000");
}

/* ---------- attribution ---------- */

static void assert_savings_add_up(const struct fg_record *r)
{
    int64_t saved = r->saved_prompt_cache_pico + r->saved_response_cache_pico +
                    r->saved_routing_pico + r->saved_batch_pico;
    assert_int_equal(saved, r->baseline_pico - r->cost_pico);
}

static void attrib_savings_add_up(void **state)
{
    (void)state;
    struct fg_price mini, big, sonnet;
    price_of("gpt-4o-mini", FG_DIALECT_OPENAI, &mini);
    price_of("gpt-4o", FG_DIALECT_OPENAI, &big);
    price_of("claude-sonnet-4-5", FG_DIALECT_ANTHROPIC, &sonnet);
    const struct fg_tokens t = {.input = 976, .cache_read = 1024, .output = 300};

    /* 1. plain call with cache reads, baseline = same model.
     *    cost     = 403,200,000 (see above)
     *    baseline = 2000 × 150000 + 300 × 600000 = 300,000,000 + 180,000,000 = 480,000,000
     *    prompt cache saved = 480,000,000 - 403,200,000 = 76,800,000 (1024 × 75000) */
    struct fg_record r = {.tok = t};
    struct fg_attrib_in in = {.price = &mini};
    fg_attrib(&in, &r);
    assert_true(r.priced);
    assert_int_equal(r.cost_pico, 403200000);
    assert_int_equal(r.baseline_pico, 480000000);
    assert_int_equal(r.saved_prompt_cache_pico, 76800000);
    assert_int_equal(r.saved_routing_pico, 0);
    assert_int_equal(r.saved_batch_pico, 0);
    assert_int_equal(r.saved_response_cache_pico, 0);
    assert_savings_add_up(&r);

    /* 2. routed: served by gpt-4o-mini, baseline gpt-4o
     *    baseline = 2000 × 2,500,000 + 300 × 10,000,000 = 5,000,000,000 + 3,000,000,000
     *             = 8,000,000,000
     *    routing  = 8,000,000,000 - 480,000,000 = 7,520,000,000 */
    r = (struct fg_record){.tok = t};
    in = (struct fg_attrib_in){.price = &mini, .baseline_price = &big};
    fg_attrib(&in, &r);
    assert_int_equal(r.baseline_pico, 8000000000LL);
    assert_int_equal(r.saved_routing_pico, 7520000000LL);
    assert_int_equal(r.saved_prompt_cache_pico, 76800000);
    assert_savings_add_up(&r);

    /* 3. batch: cost 201,600,000, batch saved 403,200,000 - 201,600,000 = 201,600,000 */
    r = (struct fg_record){.tok = t};
    in = (struct fg_attrib_in){.price = &mini, .batch = true};
    fg_attrib(&in, &r);
    assert_int_equal(r.cost_pico, 201600000);
    assert_int_equal(r.saved_batch_pico, 201600000);
    assert_int_equal(r.baseline_pico, 480000000);
    assert_savings_add_up(&r);

    /* 4. response cache hit: cost 0, the whole real-time price saved */
    r = (struct fg_record){.tok = t};
    in = (struct fg_attrib_in){.price = &mini, .response_cache_hit = true};
    fg_attrib(&in, &r);
    assert_int_equal(r.cost_pico, 0);
    assert_int_equal(r.saved_response_cache_pico, 403200000);
    assert_savings_add_up(&r);

    /* 5. Anthropic writes cost more than they saved yet: negative saving
     *    cost = 14,916,000,000; full input price:
     *    (42 + 2100 + 1000) × 3,000,000 + 61 × 15,000,000 = 9,426,000,000 + 915,000,000
     *                                                      = 10,341,000,000
     *    prompt cache saved = 10,341,000,000 - 14,916,000,000 = -4,575,000,000 */
    r = (struct fg_record){
        .tok = {.input = 42, .cache_write_5m = 2100, .cache_write_1h = 1000, .output = 61}};
    in = (struct fg_attrib_in){.price = &sonnet};
    fg_attrib(&in, &r);
    assert_int_equal(r.cost_pico, 14916000000LL);
    assert_int_equal(r.baseline_pico, 10341000000LL);
    assert_int_equal(r.saved_prompt_cache_pico, -4575000000LL);
    assert_savings_add_up(&r);

    /* 6. unpriced: nothing priced, nothing saved */
    r = (struct fg_record){.tok = t};
    in = (struct fg_attrib_in){.price = NULL};
    fg_attrib(&in, &r);
    assert_false(r.priced);
    assert_int_equal(r.cost_pico, 0);
    assert_int_equal(r.baseline_pico, 0);
    assert_savings_add_up(&r);
}

static void attrib_repeated_uses_cache_reads_first(void **state)
{
    (void)state;
    struct fg_price p;
    price_of("gpt-4o-mini", FG_DIALECT_OPENAI, &p);
    const struct fg_tokens t = {.input = 976, .cache_read = 1024, .output = 300};
    struct fg_attrib_in in = {.price = &p};

    /* repeat of 1500: 1024 are the cache reads, the other 476 at input price
     *   1024 × 75000  = 76,800,000 (cached part)
     *    476 × 150000 = 71,400,000
     *                   ----------
     *                  148,200,000 */
    struct fg_record r = {.tok = t, .repeated_tokens = 1500};
    fg_attrib(&in, &r);
    assert_int_equal(r.bucket_repeated_cached_pico, 76800000);
    assert_int_equal(r.bucket_repeated_pico, 148200000);

    /* repeat smaller than the cache reads: all of it cached, 500 × 75000 */
    r = (struct fg_record){.tok = t, .repeated_tokens = 500};
    fg_attrib(&in, &r);
    assert_int_equal(r.bucket_repeated_cached_pico, 37500000);
    assert_int_equal(r.bucket_repeated_pico, 37500000);

    /* repeat larger than the whole input: capped at reads + uncached input
     *   1024 × 75000 + 976 × 150000 = 76,800,000 + 146,400,000 = 223,200,000 */
    r = (struct fg_record){.tok = t, .repeated_tokens = 5000};
    fg_attrib(&in, &r);
    assert_int_equal(r.bucket_repeated_pico, 223200000);

    /* no repeat: empty bucket */
    r = (struct fg_record){.tok = t};
    fg_attrib(&in, &r);
    assert_int_equal(r.bucket_repeated_pico, 0);
    assert_int_equal(r.bucket_repeated_cached_pico, 0);
}

static void attrib_bloat_excludes_reasoning(void **state)
{
    (void)state;
    struct fg_price p;
    price_of("gpt-4o-mini", FG_DIALECT_OPENAI, &p);
    /* "Answer: " (8 bytes) + {"label":"spam"} (16 bytes) = 24 bytes, 8 of bloat */
    static const char text[] = "Answer: {\"label\":\"spam\"}";
    assert_int_equal(strlen(text), 24);
    assert_int_equal(fg_attrib_bloat(text, 24), 8);
    assert_int_equal(fg_attrib_bloat("{\"label\":\"spam\"}", 16), 0);
    /* a label: the first word is the answer */
    assert_int_equal(fg_attrib_bloat("spam", 4), 0);
    assert_int_equal(fg_attrib_bloat("spam because", 12), 8);

    /* output 100 of which 60 reasoning: only the 40 visible tokens carry text
     *   40 × 600000 = 24,000,000 × 8 / 24 = 8,000,000
     * (with reasoning it would be 100 × 600000 × 8 / 24 = 20,000,000) */
    struct fg_record r = {.tok = {.input = 50, .output = 100}, .reasoning_tokens = 60};
    struct fg_attrib_in in = {
        .price = &p, .wants_structured = true, .output_text = text, .output_len = 24};
    fg_attrib(&in, &r);
    assert_int_equal(r.bucket_bloated_pico, 8000000);

    /* not asked for structure: no bloat bucket */
    r = (struct fg_record){.tok = {.input = 50, .output = 100}, .reasoning_tokens = 60};
    in.wants_structured = false;
    fg_attrib(&in, &r);
    assert_int_equal(r.bucket_bloated_pico, 0);
}

static void attrib_frontier_bucket_is_the_rest(void **state)
{
    (void)state;
    struct fg_price p;
    price_of("gpt-4o", FG_DIALECT_OPENAI, &p);
    /* cost = 67 × 2,500,000 + 2944 × 1,250,000 + 11 × 10,000,000
     *      = 167,500,000 + 3,680,000,000 + 110,000,000 = 3,957,500,000
     * repeated 3000: 2944 cached (3,680,000,000) + 56 × 2,500,000 (140,000,000)
     *      = 3,820,000,000
     * frontier = 3,957,500,000 - 3,820,000,000 = 137,500,000 */
    struct fg_record r = {.tok = {.input = 67, .cache_read = 2944, .output = 11},
                          .repeated_tokens = 3000};
    struct fg_attrib_in in = {.price = &p, .frontier = true, .simple = true};
    fg_attrib(&in, &r);
    assert_int_equal(r.cost_pico, 3957500000LL);
    assert_int_equal(r.bucket_repeated_pico, 3820000000LL);
    assert_int_equal(r.bucket_frontier_pico, 137500000);
    /* complex call: no overuse */
    r = (struct fg_record){.tok = {.input = 67, .cache_read = 2944, .output = 11},
                           .repeated_tokens = 3000};
    in.simple = false;
    fg_attrib(&in, &r);
    assert_int_equal(r.bucket_frontier_pico, 0);
}

/* ---------- ledger round trip ---------- */

struct fix {
    char path[64];
    char dsn[80];
};

static int ledger_setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/frugal_test_ledger_XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(f->path); /* let SQLite create it */
    snprintf(f->dsn, sizeof f->dsn, "sqlite:%s", f->path);
    *state = f;
    return 0;
}

static int ledger_teardown(void **state)
{
    struct fix *f = *state;
    char p[96];
    fg_ledger_stop();
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

static const char *const endpoints[] = {"chat", "messages", "count_tokens"};
static const char *const routes[] = {"fixed", "cheap", "frontier", "escalated", "fallback"};

/* Record i, every field a function of i (some strings NULL, some money
 * negative, some near the int64 range). */
static struct fg_record *make_record(int i)
{
    char key[32], tags[64], model[32], err[64], linked[40];
    snprintf(key, sizeof key, "vk_%d", i % 7);
    if (i % 3)
        snprintf(tags, sizeof tags, "team=t%d,env=prod", i % 5);
    else
        tags[0] = '\0';
    snprintf(model, sizeof model, "model-%d", i % 11);
    snprintf(err, sizeof err, "upstream answered HTTP 5%02d", i % 100);
    snprintf(linked, sizeof linked, "frg_linked_%06d", i - 1);
    struct fg_record *r = fg_ledger_record_new(512);
    snprintf(r->id, sizeof r->id, "frg_test_%06d", i);
    r->ts_ms = 1795690000000LL + i;
    r->key_id = fg_ledger_record_str(r, key);
    r->tags = fg_ledger_record_str(r, tags);
    r->endpoint = endpoints[i % 3]; /* static, as meter.c does */
    r->model_requested = fg_ledger_record_str(r, i % 13 ? model : "auto");
    r->model = i % 17 ? fg_ledger_record_str(r, model) : NULL;
    r->upstream_model = fg_ledger_record_str(r, "gpt-4o-mini-2024-07-18");
    r->provider = fg_ledger_record_str(r, i % 2 ? "openai" : "anthropic");
    r->route = routes[i % 5];
    r->route_reason = i % 5 == 2 ? "route serves its frontier model" : NULL;
    r->cache = "bypass";
    r->stream = i % 2;
    r->batch = i % 9 == 0;
    r->status = i % 10 == 0 ? 500 : 200;
    r->tok = (struct fg_tokens){.input = i,
                                .cache_read = 2 * i,
                                .cache_write_5m = 3 * i,
                                .cache_write_1h = 4 * i,
                                .output = 5 * i + 1};
    r->reasoning_tokens = i;
    r->priced = i % 4 != 0;
    r->cost_pico = 403200000LL * i;
    r->baseline_pico = i == 7 ? INT64_MAX / 2 : 480000000LL * i;
    r->saved_prompt_cache_pico = -4575000000LL * i; /* negative */
    r->saved_response_cache_pico = 11LL * i;
    r->saved_routing_pico = 7520000000LL * i;
    r->saved_batch_pico = 13LL * i;
    r->bucket_repeated_pico = 148200000LL * i;
    r->bucket_repeated_cached_pico = 76800000LL * i;
    r->bucket_frontier_pico = 17LL * i;
    r->bucket_bloated_pico = 19LL * i;
    r->latency_us = 1000LL * i + 1;
    r->ttfb_us = 500LL * i;
    if (i % 2)
        snprintf(r->prefix_fp, sizeof r->prefix_fp, "%016llx", 0x9f2c0000ULL + (unsigned)i);
    r->prefix_tokens = 3000 + i;
    r->repeated_tokens = 2944 + i;
    r->error = r->status >= 400 ? fg_ledger_record_str(r, err) : NULL;
    r->linked_id = i % 6 == 0 ? fg_ledger_record_str(r, linked) : NULL;
    return r;
}

static void assert_str_or_null(const char *got, const char *want, int i, const char *what)
{
    if (!want) {
        if (got)
            fail_msg("record %d %s: want NULL, got \"%s\"", i, what, got);
        return;
    }
    if (!got)
        fail_msg("record %d %s: want \"%s\", got NULL", i, what, want);
    if (strcmp(got, want))
        fail_msg("record %d %s: want \"%s\", got \"%s\"", i, what, want, got);
}

static void assert_same_record(const struct fg_record *got, int i)
{
    struct fg_record *w = make_record(i);
    assert_string_equal(got->id, w->id);
    assert_int_equal(got->ts_ms, w->ts_ms);
    assert_str_or_null(got->key_id, w->key_id, i, "key_id");
    assert_str_or_null(got->tags, w->tags, i, "tags");
    assert_str_or_null(got->endpoint, w->endpoint, i, "endpoint");
    assert_str_or_null(got->model_requested, w->model_requested, i, "model_requested");
    assert_str_or_null(got->model, w->model, i, "model");
    assert_str_or_null(got->upstream_model, w->upstream_model, i, "upstream_model");
    assert_str_or_null(got->provider, w->provider, i, "provider");
    assert_str_or_null(got->route, w->route, i, "route");
    assert_str_or_null(got->route_reason, w->route_reason, i, "route_reason");
    assert_str_or_null(got->cache, w->cache, i, "cache");
    assert_int_equal(got->stream, w->stream);
    assert_int_equal(got->batch, w->batch);
    assert_int_equal(got->status, w->status);
    assert_memory_equal(&got->tok, &w->tok, sizeof w->tok);
    assert_int_equal(got->reasoning_tokens, w->reasoning_tokens);
    assert_int_equal(got->priced, w->priced);
    assert_int_equal(got->cost_pico, w->cost_pico);
    assert_int_equal(got->baseline_pico, w->baseline_pico);
    assert_int_equal(got->saved_prompt_cache_pico, w->saved_prompt_cache_pico);
    assert_int_equal(got->saved_response_cache_pico, w->saved_response_cache_pico);
    assert_int_equal(got->saved_routing_pico, w->saved_routing_pico);
    assert_int_equal(got->saved_batch_pico, w->saved_batch_pico);
    assert_int_equal(got->bucket_repeated_pico, w->bucket_repeated_pico);
    assert_int_equal(got->bucket_repeated_cached_pico, w->bucket_repeated_cached_pico);
    assert_int_equal(got->bucket_frontier_pico, w->bucket_frontier_pico);
    assert_int_equal(got->bucket_bloated_pico, w->bucket_bloated_pico);
    assert_int_equal(got->latency_us, w->latency_us);
    assert_int_equal(got->ttfb_us, w->ttfb_us);
    assert_string_equal(got->prefix_fp, w->prefix_fp);
    assert_int_equal(got->prefix_tokens, w->prefix_tokens);
    assert_int_equal(got->repeated_tokens, w->repeated_tokens);
    assert_str_or_null(got->error, w->error, i, "error");
    assert_str_or_null(got->linked_id, w->linked_id, i, "linked_id");
    fg_ledger_record_free(w);
}

struct seen {
    int n, bad_id;
    unsigned char *hit; /* per index */
    int max;
    int64_t last_ts;
    int out_of_order;
};

static int collect(void *arg, const struct fg_record *r)
{
    struct seen *s = arg;
    int i;
    if (sscanf(r->id, "frg_test_%d", &i) != 1 || i < 0 || i >= s->max) {
        s->bad_id++;
        return 0;
    }
    if (r->ts_ms < s->last_ts)
        s->out_of_order++;
    s->last_ts = r->ts_ms;
    s->hit[i]++;
    s->n++;
    assert_same_record(r, i);
    return 0;
}

static void scan_all(const char *dsn, struct seen *s, int max)
{
    memset(s, 0, sizeof *s);
    s->max = max;
    s->hit = calloc((size_t)max, 1);
    struct fg_store *st = NULL;
    char err[256];
    if (fg_store_open(dsn, &st, err, sizeof err) < 0)
        fail_msg("open reader: %s", err);
    if (st->ops->scan(st, 0, INT64_MAX, collect, s, err, sizeof err) < 0)
        fail_msg("scan: %s", err);
    fg_store_close(st);
}

#define N_THREADS 4
#define PER_THREAD 500

struct producer {
    int first, n;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = p->first; i < p->first + p->n; i++)
        fg_ledger_submit(make_record(i));
    return NULL;
}

/* fg_ledger_start → N records from several threads → fg_ledger_stop →
 * every record present exactly once with every field intact. */
static void ledger_round_trip(void **state)
{
    struct fix *f = *state;
    char err[256];
    struct fg_ledger_stats before, after;
    fg_ledger_get_stats(&before);
    if (fg_ledger_start(f->dsn, 50, err, sizeof err) < 0)
        fail_msg("fg_ledger_start: %s", err);
    assert_non_null(fg_ledger_store());

    pthread_t th[N_THREADS];
    struct producer pr[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        pr[t] = (struct producer){.first = t * PER_THREAD, .n = PER_THREAD};
        assert_int_equal(pthread_create(&th[t], NULL, produce, &pr[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    fg_ledger_stop();
    assert_null(fg_ledger_store());

    const int n = N_THREADS * PER_THREAD;
    fg_ledger_get_stats(&after);
    assert_int_equal(after.queued - before.queued, n);
    assert_int_equal(after.written - before.written, n);
    assert_int_equal(after.dropped - before.dropped, 0);
    assert_int_equal(after.write_errors - before.write_errors, 0);
    assert_int_equal(after.depth, 0);

    struct seen s;
    scan_all(f->dsn, &s, n);
    assert_int_equal(s.bad_id, 0);
    assert_int_equal(s.n, n);
    for (int i = 0; i < n; i++)
        if (s.hit[i] != 1)
            fail_msg("record %d seen %d times", i, s.hit[i]);
    assert_int_equal(s.out_of_order, 0); /* scan is oldest first */
    free(s.hit);

    /* after stop the ledger is off: a record is dropped (and freed), counted */
    fg_ledger_submit(make_record(n));
    fg_ledger_get_stats(&after);
    assert_int_equal(after.dropped - before.dropped, 1);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The kill -9 contract: records are committed every group window without
 * any stop, so a separate reader sees them within a few windows. */
static void ledger_commits_without_stop(void **state)
{
    struct fix *f = *state;
    char err[256];
    if (fg_ledger_start(f->dsn, 50, err, sizeof err) < 0)
        fail_msg("fg_ledger_start: %s", err);
    const int n = 300;
    int64_t t0 = mono_ms();
    for (int i = 0; i < n; i++)
        fg_ledger_submit(make_record(i));
    struct seen s = {0};
    int64_t waited;
    for (;;) {
        scan_all(f->dsn, &s, n);
        waited = mono_ms() - t0;
        int done = s.n == n;
        free(s.hit);
        if (done || waited > 2000)
            break;
        usleep(10000);
    }
    assert_int_equal(s.n, n);
    /* one group window (50 ms) plus a commit; generous for ASan */
    if (waited > 500)
        fail_msg("records became visible only after %lld ms", (long long)waited);
    /* a second wave while running, same guarantee */
    t0 = mono_ms();
    for (int i = n; i < 2 * n; i++)
        fg_ledger_submit(make_record(i));
    for (;;) {
        scan_all(f->dsn, &s, 2 * n);
        waited = mono_ms() - t0;
        int done = s.n == 2 * n;
        free(s.hit);
        if (done || waited > 2000)
            break;
        usleep(10000);
    }
    assert_int_equal(s.n, 2 * n);
    if (waited > 500)
        fail_msg("second wave visible only after %lld ms", (long long)waited);
    fg_ledger_stop();
}

/* A full group (1,024 records) is committed at once, whatever the timer
 * says: here the timer is an hour away. */
static void ledger_flushes_by_count(void **state)
{
    struct fix *f = *state;
    char err[256];
    if (fg_ledger_start(f->dsn, 3600 * 1000, err, sizeof err) < 0)
        fail_msg("fg_ledger_start: %s", err);
    const int n = 1024;
    for (int i = 0; i < n; i++)
        fg_ledger_submit(make_record(i));
    struct seen s = {0};
    int64_t t0 = mono_ms();
    for (;;) { /* a deadline far past any commit, far short of the timer */
        scan_all(f->dsn, &s, n);
        free(s.hit);
        if (s.n == n || mono_ms() - t0 > 60000)
            break;
        usleep(10000);
    }
    assert_int_equal(s.n, n);
    fg_ledger_stop();
}

/* FRUGAL_LEDGER_QUEUE_MAX: fg_ledger_full() turns true at the limit (so
 * admission refuses calls), records past it are still kept (the reserve),
 * and stopping writes them all. */
static void ledger_full_at_the_limit(void **state)
{
    struct fix *f = *state;
    char err[256];
    setenv("FRUGAL_LEDGER_QUEUE_MAX", "3", 1);
    int rc = fg_ledger_start(f->dsn, 3600 * 1000, err, sizeof err);
    unsetenv("FRUGAL_LEDGER_QUEUE_MAX");
    if (rc < 0)
        fail_msg("fg_ledger_start: %s", err);
    assert_false(fg_ledger_full());
    struct fg_ledger_stats st0;
    fg_ledger_get_stats(&st0); /* counters run over the process's life */
    for (int i = 0; i < 3; i++)
        fg_ledger_submit(make_record(i));
    assert_true(fg_ledger_full());
    for (int i = 3; i < 10; i++)
        fg_ledger_submit(make_record(i));
    struct fg_ledger_stats st;
    fg_ledger_get_stats(&st);
    assert_int_equal(st.dropped - st0.dropped, 0);
    fg_ledger_stop();
    assert_false(fg_ledger_full());
    struct seen s = {0};
    scan_all(f->dsn, &s, 10);
    free(s.hit);
    assert_int_equal(s.n, 10);
}

static void store_response_ops(void **state)
{
    struct fix *f = *state;
    char err[256];
    struct fg_store *st = NULL;
    if (fg_store_open(f->dsn, &st, err, sizeof err) < 0)
        fail_msg("open: %s", err);
    check_response_ops(st, 1000);
    fg_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(responses_usage_classes),
        cmocka_unit_test(openai_cached_tokens_gpt4o_mini),
        cmocka_unit_test(openai_cache_write_tokens_gpt56),
        cmocka_unit_test(openai_reasoning_inside_completion_o3),
        cmocka_unit_test(openai_stream_final_usage_chunk),
        cmocka_unit_test(openai_null_details),
        cmocka_unit_test(anthropic_split_5m_1h_sonnet45),
        cmocka_unit_test(anthropic_no_split_all_5m),
        cmocka_unit_test(anthropic_stream_start_then_delta),
        cmocka_unit_test(anthropic_stream_delta_with_cumulative_fields),
        cmocka_unit_test(anthropic_stream_1h_split_survives_delta),
        cmocka_unit_test(batch_is_half_price),
        cmocka_unit_test(unpriced_model),
        cmocka_unit_test(config_price_overrides_builtin_field_by_field),
        cmocka_unit_test(dated_ids_resolve),
        cmocka_unit_test(usd_display_rounding),
        cmocka_unit_test(usd_no_negative_zero),
        cmocka_unit_test(attrib_savings_add_up),
        cmocka_unit_test(attrib_repeated_uses_cache_reads_first),
        cmocka_unit_test(attrib_bloat_excludes_reasoning),
        cmocka_unit_test(attrib_frontier_bucket_is_the_rest),
        cmocka_unit_test_setup_teardown(ledger_round_trip, ledger_setup, ledger_teardown),
        cmocka_unit_test_setup_teardown(store_response_ops, ledger_setup, ledger_teardown),
        cmocka_unit_test_setup_teardown(ledger_commits_without_stop, ledger_setup, ledger_teardown),
        cmocka_unit_test_setup_teardown(ledger_flushes_by_count, ledger_setup, ledger_teardown),
        cmocka_unit_test_setup_teardown(ledger_full_at_the_limit, ledger_setup, ledger_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
