/* test_sim.c — unit tests of the simulated provider: the pure pieces
 * (token estimate, schema values, cache accounting, fault directives,
 * limits, dialect handlers) and, over loopback with libcurl, the HTTP
 * framing of a real fg_sim_start() server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "arena.h"
#include "sim.h"
#include "sim_batch_internal.h"
#include "sim_internal.h"
#include "sim_say.h"

#define MIN_MS (60ULL * 1000)

/* ---- helpers ------------------------------------------------------------------- */

/* A prompt of <nblocks> blocks of <tokens_each> tokens (4 bytes each),
 * with a breakpoint of <ttl> seconds on the blocks flagged in <bp>. */
static void make_prompt(struct sim_prompt *p, size_t nblocks, size_t tokens_each, const int *ttl)
{
    memset(p, 0, sizeof *p);
    char *s = malloc(tokens_each * 4);
    for (size_t i = 0; i < nblocks; i++) {
        memset(s, 'a' + (int)(i % 26), tokens_each * 4);
        sim_prompt_add_block(p, s, tokens_each * 4, ttl ? ttl[i] : 0);
    }
    free(s);
}

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, 0, &e);
    assert_non_null(v);
    return v;
}

/* Run a handler on <body> and return the parsed reply body (non-stream). */
struct handled {
    struct fg_arena arena;
    struct sim_reply reply;
    json_t *json;
};

static const struct sim_say *g_say; /* the say table handle() passes, or NULL */

static void handle(struct handled *h, struct sim_cache *cache,
                   void (*fn)(struct sim_ctx *, const json_t *, struct sim_reply *),
                   const char *version, const char *body)
{
    memset(h, 0, sizeof *h);
    fg_arena_init(&h->arena);
    struct sim_ctx c = {.arena = &h->arena,
                        .cache = cache,
                        .now_ms = 1000,
                        .created = 1,
                        .id = "00000000000000aa",
                        .anthropic_version = version,
                        .tokens = -1,
                        .say = g_say};
    json_t *b = json_loads(body, 0, NULL);
    fn(&c, b, &h->reply);
    json_decref(b);
    h->json = h->reply.stream ? NULL : json_loads(h->reply.body, 0, NULL);
}

static void handled_free(struct handled *h)
{
    json_decref(h->json);
    fg_arena_free(&h->arena);
}

static const char *path_str(const json_t *v, const char *k1, const char *k2)
{
    const json_t *x = json_object_get(v, k1);
    return json_string_value(k2 ? json_object_get(x, k2) : x);
}

/* ---- tokens, text, faults, limits ------------------------------------------------ */

static void test_tokens(void **state)
{
    assert_int_equal(sim_tokens(0), 0);
    assert_int_equal(sim_tokens(1), 1);
    assert_int_equal(sim_tokens(4), 1);
    assert_int_equal(sim_tokens(5), 2);

    struct fg_arena a;
    fg_arena_init(&a);
    struct sim_prompt p = {0};
    json_t *b = parse("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}");
    sim_openai_prompt(&a, b, &p);
    /* 16-byte message header (4 tokens) + "hello" (5 bytes) = 21 bytes */
    assert_int_equal(p.text.len, 21);
    assert_int_equal(sim_prompt_tokens(&p), 6);
    sim_prompt_free(&p);
    json_decref(b);

    /* Anthropic: string content and a single text block count the same. */
    char err[128];
    json_t *s1 = parse("{\"system\":\"be brief\",\"messages\":[{\"role\":\"user\","
                       "\"content\":\"hi\"}]}");
    json_t *s2 = parse("{\"system\":[{\"type\":\"text\",\"text\":\"be brief\"}],"
                       "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                       "\"text\":\"hi\","
                       "\"cache_control\":{\"type\":\"ephemeral\"}}]}]}");
    struct sim_prompt p1 = {0}, p2 = {0};
    assert_int_equal(sim_anthropic_prompt(&a, s1, &p1, err, sizeof err), 0);
    assert_int_equal(sim_anthropic_prompt(&a, s2, &p2, err, sizeof err), 0);
    assert_int_equal(p1.text.len, p2.text.len);
    assert_memory_equal(p1.text.p, p2.text.p, p1.text.len);
    assert_int_equal(p1.nbreakpoints, 0);
    assert_int_equal(p2.nbreakpoints, 1);
    sim_prompt_free(&p1);
    sim_prompt_free(&p2);
    json_decref(s1);
    json_decref(s2);
    fg_arena_free(&a);
}

static void test_answer_text(void **state)
{
    struct fg_arena a;
    fg_arena_init(&a);
    const char *t = sim_answer_text(&a, "gpt-x", "Hello   world #sim:delay_ms=5", -1);
    assert_string_equal(t, "Simulated reply from gpt-x to: Hello world");
    /* deterministic and exactly N tokens */
    const char *t1 = sim_answer_text(&a, "m", "q", 50);
    const char *t2 = sim_answer_text(&a, "m", "q", 50);
    assert_string_equal(t1, t2);
    assert_int_equal(strlen(t1), 200);
    assert_int_equal(strlen(sim_answer_text(&a, "m", "q", 0)), 0);
    /* long user text is cut to a short snippet, UTF-8 safe */
    t = sim_answer_text(&a, "m", "éééééééééééééééééééééééééééééé", -1);
    assert_non_null(strstr(t, "..."));
    json_t *ok = json_string(t); /* jansson rejects invalid UTF-8 */
    assert_non_null(ok);
    json_decref(ok);
    fg_arena_free(&a);
}

static void test_fault_parse(void **state)
{
    struct sim_fault f;
    sim_fault_init(&f);
    assert_int_equal(f.cut_after, -1);
    assert_int_equal(f.tokens, -1);
    sim_fault_parse(&f, "please #sim:status=429 #sim:delay_ms=10 and #sim:tokens=7.", 0);
    assert_int_equal(f.status, 429);
    assert_int_equal(f.delay_ms, 10);
    assert_int_equal(f.tokens, 7);
    assert_int_equal(f.reset, 0);

    sim_fault_init(&f);
    sim_fault_parse(&f,
                    "#sim:invalid_json #sim:reset #sim:cut_after=3 #sim:stall_ms=20 "
                    "#sim:event_delay_ms=4 #sim:bogus=1 #sim:status=abc #sim:status=999",
                    0);
    assert_int_equal(f.invalid_json, 1);
    assert_int_equal(f.reset, 1);
    assert_int_equal(f.cut_after, 3);
    assert_int_equal(f.stall_ms, 20);
    assert_int_equal(f.event_delay_ms, 4);
    assert_int_equal(f.status, 0);

    /* header form: bare words, commas, or the #sim: prefix */
    sim_fault_init(&f);
    sim_fault_parse(&f, "status=503, cut_after=2 #sim:delay_ms=1", 1);
    assert_int_equal(f.status, 503);
    assert_int_equal(f.cut_after, 2);
    assert_int_equal(f.delay_ms, 1);
    /* bare words are not directives in message text */
    sim_fault_init(&f);
    sim_fault_parse(&f, "status=503", 0);
    assert_int_equal(f.status, 0);
    sim_fault_parse(&f, NULL, 1);
}

static void test_limits(void **state)
{
    const char *text = "one two three four five six";
    const char *stops[] = {"four", "two"};
    enum sim_end end;
    const char *m;
    size_t n = sim_apply_limits(text, strlen(text), stops, 2, -1, &end, &m);
    assert_int_equal(end, SIM_END_STOP);
    assert_int_equal(n, 4); /* before "two", the earliest match */
    assert_string_equal(m, "two");
    n = sim_apply_limits(text, strlen(text), NULL, 0, 2, &end, &m);
    assert_int_equal(end, SIM_END_LENGTH);
    assert_int_equal(n, 8);
    /* the limit hits before the stop sequence is complete */
    n = sim_apply_limits(text, strlen(text), stops + 1, 1, 1, &end, &m);
    assert_int_equal(end, SIM_END_LENGTH);
    n = sim_apply_limits(text, strlen(text), NULL, 0, 100, &end, &m);
    assert_int_equal(end, SIM_END_NATURAL);
    assert_int_equal(n, strlen(text));
}

/* ---- schema values ---------------------------------------------------------------- */

static void test_schema_values(void **state)
{
    json_t *s = parse(
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\"},"
        "\"kind\":{\"enum\":[\"b\",\"a\"]},"
        "\"n\":{\"type\":\"integer\",\"minimum\":3},"
        "\"x\":{\"type\":\"number\",\"exclusiveMinimum\":0.5,\"maximum\":10},"
        "\"ok\":{\"type\":\"boolean\"},"
        "\"opt\":{\"type\":[\"string\",\"null\"]},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":2,"
        "\"uniqueItems\":true},"
        "\"when\":{\"type\":\"string\",\"format\":\"date-time\"},"
        "\"code\":{\"type\":\"string\",\"minLength\":10},"
        "\"addr\":{\"$ref\":\"#/$defs/addr\"},"
        "\"either\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]},"
        "\"skipped\":{\"type\":\"string\"}},"
        "\"required\":[\"name\",\"kind\",\"n\",\"x\",\"ok\",\"opt\",\"tags\",\"when\",\"code\","
        "\"addr\",\"either\"],"
        "\"additionalProperties\":false,"
        "\"$defs\":{\"addr\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"
        "\"zip\":{\"const\":\"0150\"}},\"required\":[\"city\",\"zip\"]}}}");
    json_t *v = sim_schema_value(s, s);
    assert_true(json_is_object(v));
    assert_string_equal(path_str(v, "name", NULL), "example");
    assert_string_equal(path_str(v, "kind", NULL), "b");
    assert_int_equal(json_integer_value(json_object_get(v, "n")), 3);
    double x = json_number_value(json_object_get(v, "x"));
    assert_true(x > 0.5 && x <= 10);
    assert_true(json_is_false(json_object_get(v, "ok")));
    assert_true(json_is_string(json_object_get(v, "opt")));
    const json_t *tags = json_object_get(v, "tags");
    assert_int_equal(json_array_size(tags), 2);
    assert_string_not_equal(json_string_value(json_array_get(tags, 0)),
                            json_string_value(json_array_get(tags, 1)));
    assert_string_equal(path_str(v, "when", NULL), "2026-01-01T00:00:00Z");
    assert_true(strlen(path_str(v, "code", NULL)) >= 10);
    assert_string_equal(path_str(v, "addr", "city"), "example");
    assert_string_equal(path_str(v, "addr", "zip"), "0150");
    assert_true(json_is_integer(json_object_get(v, "either")));
    assert_null(json_object_get(v, "skipped")); /* optional: left out */
    assert_int_equal(json_object_size(v), 11);
    /* keys in schema order */
    assert_string_equal(json_object_iter_key(json_object_iter(v)), "name");
    json_decref(v);
    json_decref(s);

    /* recursion through "#" terminates */
    s = parse("{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"}}}");
    v = sim_schema_value(s, s);
    assert_true(json_is_object(v));
    json_decref(v);
    json_decref(s);

    /* allOf merges, no schema at all still yields JSON */
    s = parse("{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
              "\"required\":[\"a\"]},{\"type\":\"object\",\"properties\":{\"b\":{\"type\":"
              "\"boolean\"}},\"required\":[\"b\"]}]}");
    v = sim_schema_value(s, s);
    assert_non_null(json_object_get(v, "a"));
    assert_non_null(json_object_get(v, "b"));
    json_decref(v);
    json_decref(s);
}

/* ---- cache accounting ------------------------------------------------------------------ */

static void test_openai_cache(void **state)
{
    struct sim_cache *c = sim_cache_new();
    struct sim_prompt p, shortp, other;
    make_prompt(&p, 1, 2000, NULL);
    assert_int_equal(sim_prompt_tokens(&p), 2000);
    assert_int_equal(sim_openai_cache(c, "gpt-4o", &p, 0), 0);
    assert_int_equal(sim_openai_cache(c, "gpt-4o", &p, MIN_MS), 1920);
    /* another model has its own cache */
    assert_int_equal(sim_openai_cache(c, "gpt-4o-mini", &p, MIN_MS), 0);
    /* idle longer than the retention: gone */
    assert_int_equal(sim_openai_cache(c, "gpt-4o", &p, MIN_MS + SIM_OPENAI_TTL_MS), 0);

    /* a shared 1300-token prefix then a different tail: 1280 cached */
    make_prompt(&other, 2, 1300, NULL);
    memcpy(other.text.p, p.text.p, 1300 * 4);
    assert_int_equal(sim_openai_cache(c, "gpt-4o", &other, MIN_MS + SIM_OPENAI_TTL_MS), 1280);

    /* under 1024 tokens nothing is ever cached */
    make_prompt(&shortp, 1, 1000, NULL);
    assert_int_equal(sim_openai_cache(c, "gpt-4o", &shortp, 0), 0);
    assert_int_equal(sim_openai_cache(c, "gpt-4o", &shortp, 1), 0);
    sim_prompt_free(&p);
    sim_prompt_free(&other);
    sim_prompt_free(&shortp);
    sim_cache_free(c);
}

static void test_anthropic_cache_ttl(void **state)
{
    struct sim_cache *c = sim_cache_new();
    struct sim_anth_usage u;
    const int ttl[] = {300, 0};
    struct sim_prompt p;
    make_prompt(&p, 2, 2500, ttl); /* breakpoint at 2500, 5000 total */
    assert_int_equal(sim_anthropic_min_tokens("claude-sonnet-4-5-20250929"), 1024);

    sim_anthropic_cache(c, "claude-sonnet-4-5", &p, 0, &u);
    assert_int_equal(u.write_5m, 2500);
    assert_int_equal(u.read, 0);
    assert_int_equal(u.input, 2500);
    /* within the TTL: read, and the hit refreshes the entry */
    sim_anthropic_cache(c, "claude-sonnet-4-5", &p, 4 * MIN_MS, &u);
    assert_int_equal(u.read, 2500);
    assert_int_equal(u.write_5m, 0);
    assert_int_equal(u.input, 2500);
    sim_anthropic_cache(c, "claude-sonnet-4-5", &p, 8 * MIN_MS, &u);
    assert_int_equal(u.read, 2500);
    /* more than 5 min after the last hit: expired, written again */
    sim_anthropic_cache(c, "claude-sonnet-4-5", &p, 14 * MIN_MS, &u);
    assert_int_equal(u.read, 0);
    assert_int_equal(u.write_5m, 2500);
    sim_prompt_free(&p);
    sim_cache_free(c);
}

static void test_anthropic_cache_rules(void **state)
{
    struct sim_cache *c = sim_cache_new();
    struct sim_anth_usage u;
    struct sim_prompt p;

    /* below the model's minimum (Haiku 4.5: 4096): no write, no error */
    const int one[] = {300};
    make_prompt(&p, 1, 3000, one);
    assert_int_equal(sim_anthropic_min_tokens("claude-haiku-4-5-20251001"), 4096);
    sim_anthropic_cache(c, "claude-haiku-4-5-20251001", &p, 0, &u);
    assert_int_equal(u.write_5m + u.write_1h + u.read, 0);
    assert_int_equal(u.input, 3000);
    sim_prompt_free(&p);

    /* mixed TTLs: each segment written with its breakpoint's TTL */
    const int two[] = {3600, 300, 0};
    make_prompt(&p, 3, 1500, two);
    sim_anthropic_cache(c, "claude-sonnet-4-6", &p, 0, &u);
    assert_int_equal(u.write_1h, 1500);
    assert_int_equal(u.write_5m, 1500);
    assert_int_equal(u.input, 1500);
    sim_prompt_free(&p);

    /* lookback: a later breakpoint finds the entry written 2 blocks back */
    const int first[] = {0, 300};
    const int later[] = {0, 0, 0, 300};
    struct sim_prompt p1, p2;
    make_prompt(&p1, 2, 800, first);
    make_prompt(&p2, 4, 800, later);
    sim_anthropic_cache(c, "claude-opus-4-1", &p1, 0, &u);
    assert_int_equal(u.write_5m, 1600);
    sim_anthropic_cache(c, "claude-opus-4-1", &p2, MIN_MS, &u);
    assert_int_equal(u.read, 1600);
    assert_int_equal(u.write_5m, 1600);
    assert_int_equal(u.input, 0);
    /* per model */
    sim_anthropic_cache(c, "claude-sonnet-4", &p2, MIN_MS, &u);
    assert_int_equal(u.read, 0);
    sim_prompt_free(&p1);
    sim_prompt_free(&p2);

    assert_int_equal(sim_anthropic_min_tokens("claude-opus-5"), 512);
    assert_int_equal(sim_anthropic_min_tokens("claude-3-5-haiku-20241022"), 2048);
    assert_int_equal(sim_anthropic_min_tokens("claude-opus-4-6"), 4096);
    assert_int_equal(sim_anthropic_min_tokens("something-else"), 1024);
    sim_cache_free(c);
}

static void test_anthropic_breakpoints(void **state)
{
    struct fg_arena a;
    char err[160];
    fg_arena_init(&a);
    /* 4 explicit + top-level on a different block = 5: rejected */
    json_t *b = parse(
        "{\"cache_control\":{\"type\":\"ephemeral\"},"
        "\"tools\":[{\"name\":\"t\",\"input_schema\":{\"type\":\"object\"},"
        "\"cache_control\":{\"type\":\"ephemeral\"}}],"
        "\"system\":[{\"type\":\"text\",\"text\":\"a\",\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"text\",\"text\":\"b\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"c\","
        "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}},{\"type\":\"text\","
        "\"text\":\"d\"}]}]}");
    struct sim_prompt p = {0};
    assert_int_equal(sim_anthropic_prompt(&a, b, &p, err, sizeof err), -1);
    assert_string_equal(err, "A maximum of 4 blocks with cache_control may be provided. Found 5.");
    sim_prompt_free(&p);
    /* without the top-level marker: 4, accepted, 1h TTL read */
    json_object_del(b, "cache_control");
    assert_int_equal(sim_anthropic_prompt(&a, b, &p, err, sizeof err), 0);
    assert_int_equal(p.nbreakpoints, 4);
    assert_int_equal(p.nblocks, 5);
    assert_int_equal(p.block_ttl[3], 3600);
    sim_prompt_free(&p);
    json_decref(b);
    fg_arena_free(&a);
}

/* ---- dialect handlers ----------------------------------------------------------------------- */

static void test_openai_handler(void **state)
{
    struct sim_cache *c = sim_cache_new();
    struct handled h;

    handle(&h, c, sim_openai_chat, NULL, "{\"model\":\"m\"}");
    assert_int_equal(h.reply.status, 400);
    assert_string_equal(path_str(h.json, "error", "param"), "messages");
    assert_string_equal(path_str(h.json, "error", "type"), "invalid_request_error");
    handled_free(&h);

    handle(&h, c, sim_openai_chat, NULL,
           "{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}");
    assert_int_equal(h.reply.status, 400);
    assert_string_equal(path_str(h.json, "error", "param"), "messages[0].role");
    handled_free(&h);

    handle(&h, c, sim_openai_chat, NULL, "not json");
    assert_int_equal(h.reply.status, 400);
    handled_free(&h);

    /* max_tokens truncation */
    handle(&h, c, sim_openai_chat, NULL,
           "{\"model\":\"gpt-4o\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\","
           "\"content\":\"hello\"}]}");
    assert_int_equal(h.reply.status, 200);
    const json_t *ch = json_array_get(json_object_get(h.json, "choices"), 0);
    assert_string_equal(path_str(ch, "finish_reason", NULL), "length");
    assert_int_equal(strlen(path_str(ch, "message", "content")), 12);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(h.json, "usage"), "completion_tokens")),
        3);
    handled_free(&h);

    /* forced tool call with schema-satisfying arguments */
    handle(&h, c, sim_openai_chat, NULL,
           "{\"model\":\"gpt-4o\",\"tool_choice\":\"required\",\"tools\":[{\"type\":\"function\","
           "\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
           "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}],"
           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    ch = json_array_get(json_object_get(h.json, "choices"), 0);
    assert_string_equal(path_str(ch, "finish_reason", NULL), "tool_calls");
    const json_t *call =
        json_array_get(json_object_get(json_object_get(ch, "message"), "tool_calls"), 0);
    assert_string_equal(path_str(call, "function", "arguments"), "{\"city\":\"example\"}");
    assert_true(strncmp(path_str(call, "id", NULL), "call_sim_", 9) == 0);
    handled_free(&h);

    /* json_schema response_format: content is JSON satisfying it */
    handle(&h, c, sim_openai_chat, NULL,
           "{\"model\":\"gpt-4o\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
           "{\"name\":\"x\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":"
           "{\"v\":{\"type\":\"integer\"}},\"required\":[\"v\"],\"additionalProperties\":false}}},"
           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    ch = json_array_get(json_object_get(h.json, "choices"), 0);
    assert_string_equal(path_str(ch, "message", "content"), "{\"v\":0}");
    handled_free(&h);
    sim_cache_free(c);
}

/* One Responses API call on store <rs>: method, path, body (may be NULL). */
static void rs_call(struct handled *h, struct sim_responses *rs, struct sim_cache *cache,
                    enum sim_method m, const char *path, const char *query, const char *body,
                    const char *id)
{
    memset(h, 0, sizeof *h);
    fg_arena_init(&h->arena);
    struct sim_ctx c = {.arena = &h->arena,
                        .cache = cache,
                        .now_ms = 1000,
                        .created = 1,
                        .id = id,
                        .tokens = -1,
                        .responses = rs};
    struct sim_http http = {.method = m, .path = path, .query = query};
    json_t *b = body ? json_loads(body, 0, NULL) : NULL;
    sim_responses_handle(rs, &c, &http, b, &h->reply);
    json_decref(b);
    h->json = h->reply.stream ? NULL : json_loads(h->reply.body, 0, NULL);
}

static void test_responses_handler(void **state)
{
    struct sim_cache *c = sim_cache_new();
    struct sim_responses *rs = sim_responses_new();
    struct handled h;

    rs_call(&h, rs, c, SIM_POST, "/v1/responses", NULL, "{\"input\":\"hi\"}", "01");
    assert_int_equal(h.reply.status, 400);
    assert_string_equal(path_str(h.json, "error", "param"), "model");
    handled_free(&h);

    /* a function call when the input names the tool; flat tools */
    rs_call(&h, rs, c, SIM_POST, "/v1/responses", NULL,
            "{\"model\":\"gpt-4o\",\"input\":\"call get_weather please\",\"tools\":[{\"type\":"
            "\"function\",\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
            "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}]}",
            "02");
    assert_int_equal(h.reply.status, 200);
    const json_t *item = json_array_get(json_object_get(h.json, "output"), 0);
    assert_string_equal(path_str(item, "type", NULL), "function_call");
    assert_string_equal(path_str(item, "arguments", NULL), "{\"city\":\"example\"}");
    assert_string_equal(path_str(item, "call_id", NULL), "call_sim_02");
    assert_string_equal(path_str(h.json, "id", NULL), "resp_sim_02");
    handled_free(&h);

    /* previous_response_id: the stored conversation continues; the tool
     * result is not a user turn, so the answer is text */
    rs_call(&h, rs, c, SIM_POST, "/v1/responses", NULL,
            "{\"model\":\"gpt-4o\",\"previous_response_id\":\"resp_sim_02\",\"input\":[{\"type\":"
            "\"function_call_output\",\"call_id\":\"call_sim_02\",\"output\":\"sunny\"}]}",
            "03");
    assert_int_equal(h.reply.status, 200);
    item = json_array_get(json_object_get(h.json, "output"), 0);
    assert_string_equal(path_str(item, "type", NULL), "message");
    const json_t *u = json_object_get(h.json, "usage");
    assert_true(json_integer_value(json_object_get(u, "input_tokens")) >
                30); /* the history counts */
    handled_free(&h);
    rs_call(&h, rs, c, SIM_POST, "/v1/responses", NULL,
            "{\"model\":\"gpt-4o\",\"previous_response_id\":\"resp_nope\",\"input\":\"x\"}", "04");
    assert_int_equal(h.reply.status, 400);
    assert_string_equal(path_str(h.json, "error", "param"), "previous_response_id");
    handled_free(&h);

    /* max_output_tokens cuts: incomplete */
    rs_call(&h, rs, c, SIM_POST, "/v1/responses", NULL,
            "{\"model\":\"gpt-4o\",\"input\":\"hello there\",\"max_output_tokens\":16,"
            "\"store\":false}",
            "05");
    assert_string_equal(path_str(h.json, "status", NULL), "completed"); /* fits in 16 */
    handled_free(&h);
    rs_call(&h, rs, c, SIM_GET, "/v1/responses/resp_sim_05", NULL, NULL, "06");
    assert_int_equal(h.reply.status, 404); /* store: false */
    handled_free(&h);

    /* the stream: documented order, sequence numbers from 0 */
    rs_call(&h, rs, c, SIM_POST, "/v1/responses", NULL,
            "{\"model\":\"gpt-4o\",\"input\":\"stream me\",\"stream\":true}", "07");
    assert_int_equal(h.reply.stream, 1);
    static const char *const order[] = {"response.created", "response.in_progress",
                                        "response.output_item.added",
                                        "response.content_part.added"};
    for (size_t i = 0; i < h.reply.events.n; i++) {
        const char *ev = h.reply.events.v[i];
        char want[64];
        snprintf(want, sizeof want, "\"sequence_number\":%zu", i);
        assert_non_null(strstr(ev, want));
        if (i < 4)
            assert_true(strncmp(ev + 7, order[i], strlen(order[i])) == 0);
    }
    assert_true(
        strncmp(h.reply.events.v[h.reply.events.n - 1], "event: response.completed\n", 26) == 0);
    handled_free(&h);

    /* input_items, delete, then gone */
    rs_call(&h, rs, c, SIM_GET, "/v1/responses/resp_sim_07/input_items", "order=asc", NULL, "08");
    assert_int_equal(h.reply.status, 200);
    assert_int_equal(json_array_size(json_object_get(h.json, "data")), 1);
    handled_free(&h);
    rs_call(&h, rs, c, SIM_DELETE, "/v1/responses/resp_sim_07", NULL, NULL, "09");
    assert_true(json_is_true(json_object_get(h.json, "deleted")));
    handled_free(&h);
    rs_call(&h, rs, c, SIM_GET, "/v1/responses/resp_sim_07", NULL, NULL, "10");
    assert_int_equal(h.reply.status, 404);
    handled_free(&h);

    /* input_tokens counts without recording */
    rs_call(&h, rs, c, SIM_POST, "/v1/responses/input_tokens", NULL,
            "{\"model\":\"gpt-4o\",\"input\":\"hello\"}", "11");
    assert_string_equal(path_str(h.json, "object", NULL), "response.input_tokens");
    assert_true(json_integer_value(json_object_get(h.json, "input_tokens")) > 0);
    handled_free(&h);

    sim_responses_free(rs);
    sim_cache_free(c);
}

static void test_anthropic_handler(void **state)
{
    struct sim_cache *c = sim_cache_new();
    struct handled h;
    const char *ok = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":64,"
                     "\"stop_sequences\":[\"from\"],\"messages\":[{\"role\":\"user\","
                     "\"content\":\"hi\"}]}";

    handle(&h, c, sim_anthropic_messages, NULL, ok);
    assert_int_equal(h.reply.status, 400);
    assert_string_equal(path_str(h.json, "error", "message"),
                        "anthropic-version: header is required");
    assert_string_equal(path_str(h.json, "type", NULL), "error");
    assert_true(json_is_null(json_object_get(h.json, "request_id")));
    handled_free(&h);

    handle(&h, c, sim_anthropic_messages, "2026-10-21",
           "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assert_string_equal(path_str(h.json, "error", "message"), "max_tokens: Field required");
    handled_free(&h);

    /* stop sequence */
    handle(&h, c, sim_anthropic_messages, "2023-06-01", ok);
    assert_int_equal(h.reply.status, 200);
    assert_string_equal(path_str(h.json, "stop_reason", NULL), "stop_sequence");
    assert_string_equal(path_str(h.json, "stop_sequence", NULL), "from");
    const json_t *blk = json_array_get(json_object_get(h.json, "content"), 0);
    assert_string_equal(path_str(blk, "text", NULL), "Simulated reply ");
    const json_t *usage = json_object_get(h.json, "usage");
    assert_string_equal(path_str(usage, "service_tier", NULL), "standard");
    assert_non_null(
        json_object_get(json_object_get(usage, "cache_creation"), "ephemeral_1h_input_tokens"));
    handled_free(&h);

    /* forced tool use */
    handle(&h, c, sim_anthropic_messages, "2023-06-01",
           "{\"model\":\"m\",\"max_tokens\":64,\"tool_choice\":{\"type\":\"tool\",\"name\":\"b\"},"
           "\"tools\":[{\"name\":\"a\",\"input_schema\":{\"type\":\"object\"}},{\"name\":\"b\","
           "\"input_schema\":{\"type\":\"object\",\"properties\":{\"q\":{\"enum\":[\"z\"]}},"
           "\"required\":[\"q\"]}}],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assert_string_equal(path_str(h.json, "stop_reason", NULL), "tool_use");
    blk = json_array_get(json_object_get(h.json, "content"), 0);
    assert_string_equal(path_str(blk, "type", NULL), "tool_use");
    assert_string_equal(path_str(blk, "name", NULL), "b");
    assert_string_equal(path_str(blk, "input", "q"), "z");
    handled_free(&h);

    /* max_tokens 0: cache pre-warm, empty content */
    handle(&h, c, sim_anthropic_messages, "2023-06-01",
           "{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\","
           "\"content\":\"hi\"}]}");
    assert_int_equal(json_array_size(json_object_get(h.json, "content")), 0);
    assert_string_equal(path_str(h.json, "stop_reason", NULL), "max_tokens");
    handled_free(&h);

    /* count_tokens agrees with usage */
    handle(&h, c, sim_anthropic_count_tokens, "2023-06-01",
           "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}");
    assert_int_equal(json_integer_value(json_object_get(h.json, "input_tokens")), 6);
    handled_free(&h);
    sim_cache_free(c);
}

/* ---- over HTTP ------------------------------------------------------------------------------- */

struct body {
    char *p;
    size_t len;
    size_t abort_after; /* 0: never */
};

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
    struct body *b = arg;
    b->p = realloc(b->p, b->len + sz * n + 1);
    memcpy(b->p + b->len, p, sz * n);
    b->len += sz * n;
    b->p[b->len] = '\0';
    if (b->abort_after && b->len >= b->abort_after)
        return 0; /* client goes away mid-stream */
    return sz * n;
}

/* POST <json> to <url><path>; returns the curl code, fills <status>, <b>. */
static CURLcode post(const char *url, const char *path, const char *json, int anthropic,
                     long *status, struct body *b)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", url, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "content-type: application/json");
    if (anthropic) {
        h = curl_slist_append(h, "anthropic-version: 2023-06-01");
        h = curl_slist_append(h, "x-api-key: test");
    }
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_http(void **state)
{
    struct fg_sim *sim;
    char url[128];
    long status = 0;
    assert_int_equal(fg_sim_start("127.0.0.1:0", NULL, &sim, url, sizeof url), 0);
    assert_true(strncmp(url, "http://127.0.0.1:", 17) == 0);
    assert_true(strcmp(url, "http://127.0.0.1:0") != 0);

    /* OpenAI, not streamed */
    struct body b = {0};
    assert_int_equal(post(url, "/v1/chat/completions",
                          "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                          "\"content\":\"What is 2+2?\"}]}",
                          0, &status, &b),
                     CURLE_OK);
    assert_int_equal(status, 200);
    json_t *v = parse(b.p);
    assert_string_equal(path_str(v, "object", NULL), "chat.completion");
    assert_string_equal(path_str(v, "model", NULL), "gpt-4o-mini");
    assert_true(strncmp(path_str(v, "id", NULL), "chatcmpl-sim-", 13) == 0);
    const json_t *ch0 = json_array_get(json_object_get(v, "choices"), 0);
    const json_t *msg = json_object_get(ch0, "message");
    assert_string_equal(path_str(msg, "content", NULL),
                        "Simulated reply from gpt-4o-mini to: What is 2+2?");
    json_decref(v);
    free(b.p);

    /* OpenAI streamed: data lines, usage chunk, [DONE] */
    memset(&b, 0, sizeof b);
    assert_int_equal(post(url, "/v1/chat/completions",
                          "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":"
                          "true},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                          0, &status, &b),
                     CURLE_OK);
    assert_int_equal(count(b.p, "event:"), 0);
    assert_int_equal(count(b.p, "\"choices\":[]"), 1);
    assert_true(b.len > 14 && strcmp(b.p + b.len - 14, "data: [DONE]\n\n") == 0);
    free(b.p);

    /* Anthropic streamed: named events in order, ending with message_stop */
    memset(&b, 0, sizeof b);
    assert_int_equal(post(url, "/v1/messages",
                          "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":100,\"stream\":true,"
                          "\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]}",
                          1, &status, &b),
                     CURLE_OK);
    assert_int_equal(status, 200);
    assert_true(strncmp(b.p, "event: message_start\ndata: {", 28) == 0);
    assert_int_equal(count(b.p, "event: content_block_start\n"), 1);
    assert_int_equal(count(b.p, "event: ping\n"), 1);
    assert_true(count(b.p, "event: content_block_delta\n") >= 2);
    assert_int_equal(count(b.p, "event: message_delta\n"), 1);
    assert_int_equal(count(b.p, "\n\n"), count(b.p, "event: "));
    const char *tail = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    assert_true(b.len > strlen(tail) && strcmp(b.p + b.len - strlen(tail), tail) == 0);
    assert_null(strstr(b.p, "[DONE]"));
    free(b.p);

    /* cut_after: N events, then a broken chunked stream */
    memset(&b, 0, sizeof b);
    CURLcode rc = post(url, "/v1/messages",
                       "{\"model\":\"m\",\"max_tokens\":100,\"stream\":true,\"messages\":"
                       "[{\"role\":\"user\",\"content\":\"hi #sim:cut_after=2\"}]}",
                       1, &status, &b);
    assert_int_equal(rc, CURLE_PARTIAL_FILE);
    assert_int_equal(count(b.p, "event: "), 2);
    assert_null(strstr(b.p, "message_stop"));
    free(b.p);

    /* reset: nothing at all */
    memset(&b, 0, sizeof b);
    rc = post(url, "/v1/chat/completions",
              "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"#sim:reset\"}]}", 0,
              &status, &b);
    assert_int_equal(rc, CURLE_GOT_NOTHING);
    free(b.p);

    /* injected status in the dialect's shape */
    memset(&b, 0, sizeof b);
    assert_int_equal(post(url, "/v1/messages",
                          "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\","
                          "\"content\":[{\"type\":\"text\",\"text\":\"#sim:status=429\"}]}]}",
                          1, &status, &b),
                     CURLE_OK);
    assert_int_equal(status, 429);
    v = parse(b.p);
    assert_string_equal(path_str(v, "error", "type"), "rate_limit_error");
    json_decref(v);
    free(b.p);

    /* a client that leaves mid-stream; the pending timer must be freed */
    memset(&b, 0, sizeof b);
    b.abort_after = 1;
    rc = post(url, "/v1/chat/completions",
              "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
              "\"hi #sim:event_delay_ms=50\"}]}",
              0, &status, &b);
    assert_int_equal(rc, CURLE_WRITE_ERROR);
    free(b.p);

    /* a request still waiting when the server stops */
    memset(&b, 0, sizeof b);
    CURL *slow = curl_easy_init();
    CURLM *m = curl_multi_init();
    char full[160];
    snprintf(full, sizeof full, "%s/v1/chat/completions", url);
    curl_easy_setopt(slow, CURLOPT_URL, full);
    curl_easy_setopt(slow, CURLOPT_POSTFIELDS,
                     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"#sim:delay_ms=5000\"}]}");
    curl_easy_setopt(slow, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(slow, CURLOPT_WRITEDATA, &b);
    curl_multi_add_handle(m, slow);
    int running = 1;
    for (int i = 0; i < 20 && running; i++) { /* ~200 ms: request sent */
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    fg_sim_stop(sim);
    curl_multi_remove_handle(m, slow);
    curl_easy_cleanup(slow);
    curl_multi_cleanup(m);
    free(b.p);
}

/* With a secret only callers presenting it get answers; /healthz stays open. */
static void test_secret(void **state)
{
    struct fg_sim *sim = NULL;
    char url[64], full[128];
    assert_int_equal(fg_sim_start("127.0.0.1:0", "test", &sim, url, sizeof url), 0);
    long status = 0;
    struct body b = {0};
    /* OpenAI without a key, then with a wrong Bearer: 401, OpenAI-shaped */
    assert_int_equal(
        post(url, "/v1/chat/completions",
             "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0,
             &status, &b),
        CURLE_OK);
    assert_int_equal(status, 401);
    assert_non_null(strstr(b.p, "\"invalid_api_key\""));
    free(b.p);
    memset(&b, 0, sizeof b);
    /* Anthropic with x-api-key: test (post() sends it): answered */
    assert_int_equal(
        post(
            url, "/v1/messages",
            "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            1, &status, &b),
        CURLE_OK);
    assert_int_equal(status, 200);
    free(b.p);
    memset(&b, 0, sizeof b);
    /* the files API wants it too; Bearer works; /healthz is open */
    const char *paths[] = {"/v1/files", "/v1/batches", "/v1/models", "/healthz"};
    const char *auth[] = {NULL, "Authorization: Bearer test", "Authorization: Bearer tesT"};
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < 3; k++) {
            snprintf(full, sizeof full, "%s%s", url, paths[i]);
            CURL *c = curl_easy_init();
            struct curl_slist *h = auth[k] ? curl_slist_append(NULL, auth[k]) : NULL;
            curl_easy_setopt(c, CURLOPT_URL, full);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
            curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
            assert_int_equal(curl_easy_perform(c), CURLE_OK);
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            curl_slist_free_all(h);
            curl_easy_cleanup(c);
            int open = i == 3 || k == 1;
            assert_int_equal(status == 401, !open);
            free(b.p);
            memset(&b, 0, sizeof b);
        }
    fg_sim_stop(sim);
}

static void test_start_errors(void **state)
{
    struct fg_sim *sim = NULL;
    char url[64];
    assert_int_equal(fg_sim_start("not-an-address", NULL, &sim, url, sizeof url), -1);
    assert_null(sim);
    fg_sim_stop(NULL);
    /* start + immediate stop (the loop may not be running yet) */
    assert_int_equal(fg_sim_start("127.0.0.1:0", NULL, &sim, url, sizeof url), 0);
    fg_sim_stop(sim);
}

static int setup(void **state)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    curl_global_cleanup();
    return 0;
}

/* ---- --say-table ----------------------------------------------------------------- */

static void write_file(char *path, const char *content)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
}

static void test_say_table(void **state)
{
    char path[] = "/tmp/fg_sim_say_XXXXXX", err[256] = "";
    /* the first entry whose match occurs wins; blank lines are skipped */
    write_file(path, "{\"match\": \"\\\"content\\\":\\\"2+2?\\\"\", \"say\": \"tie\"}\n\n"
                     "{\"match\": \"2+2\", \"say\": \"A\"}\n"
                     "{\"match\": \"capital\", \"say\": \"B\"}\n");
    struct sim_say *t = NULL;
    assert_int_equal(sim_say_load(path, &t, err, sizeof err), 0);
    unlink(path);
    assert_string_equal(sim_say_find(t, "judge: {\"content\":\"2+2?\"}"), "tie");
    assert_string_equal(sim_say_find(t, "What is 2+2?"), "A");
    assert_null(sim_say_find(t, "What is 3+3?"));
    assert_null(sim_say_find(t, NULL));
    assert_null(sim_say_find(NULL, "2+2"));

    /* both dialects answer exactly the table's text; others are untouched */
    struct handled o, a, other;
    struct sim_cache *cache = sim_cache_new();
    g_say = t;
    handle(
        &o, cache, sim_openai_chat, NULL,
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"The capital of Peru?\"}]}");
    handle(&a, cache, sim_anthropic_messages, "2023-06-01",
           "{\"model\":\"claude-x\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\","
           "\"content\":\"What is 2+2?\"}]}");
    handle(&other, cache, sim_openai_chat, NULL,
           "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}");
    g_say = NULL;
    const json_t *msg =
        json_object_get(json_array_get(json_object_get(o.json, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "B");
    const json_t *blk = json_array_get(json_object_get(a.json, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(blk, "text")), "A");
    msg = json_object_get(json_array_get(json_object_get(other.json, "choices"), 0), "message");
    assert_non_null(strstr(json_string_value(json_object_get(msg, "content")), "Simulated reply"));
    handled_free(&o);
    handled_free(&a);
    handled_free(&other);
    sim_cache_free(cache);
    sim_say_free(t);

    /* a bad line fails the load, naming it */
    char bad[] = "/tmp/fg_sim_say_XXXXXX";
    write_file(bad, "{\"match\": \"x\", \"say\": \"A\"}\n{\"match\": \"\", \"say\": \"B\"}\n");
    t = NULL;
    assert_int_equal(sim_say_load(bad, &t, err, sizeof err), -1);
    assert_null(t);
    assert_non_null(strstr(err, "line 2"));
    unlink(bad);
    char bad2[] = "/tmp/fg_sim_say_XXXXXX";
    write_file(bad2, "not json\n");
    assert_int_equal(sim_say_load(bad2, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1: not JSON"));
    unlink(bad2);
    assert_int_equal(sim_say_load("/nonexistent/say.jsonl", &t, err, sizeof err), -1);
}

/* ---- embeddings and moderations ------------------------------------------------ */

static void test_embeddings_handler(void **state)
{
    struct sim_cache *cache = sim_cache_new();
    struct handled f, b, one, big;
    handle(&f, cache, sim_openai_embeddings, NULL,
           "{\"model\":\"text-embedding-3-small\",\"input\":[\"abcd\",\"hello world\"],"
           "\"dimensions\":8}");
    assert_int_equal(f.reply.status, 200);
    const json_t *data = json_object_get(f.json, "data");
    assert_int_equal(json_array_size(data), 2);
    const json_t *v0 = json_object_get(json_array_get(data, 0), "embedding");
    assert_int_equal(json_array_size(v0), 8);
    double norm = 0;
    for (size_t i = 0; i < 8; i++)
        norm += json_real_value(json_array_get(v0, i)) * json_real_value(json_array_get(v0, i));
    assert_true(norm > 0.9999 && norm < 1.0001);
    /* 4 bytes -> 1 token, 11 bytes -> 3 tokens */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(f.json, "usage"), "prompt_tokens")), 4);
    /* the same input alone, in base64: the same float32 vector */
    handle(&b, cache, sim_openai_embeddings, NULL,
           "{\"model\":\"text-embedding-3-small\",\"input\":\"abcd\",\"dimensions\":8,"
           "\"encoding_format\":\"base64\"}");
    const char *s = json_string_value(
        json_object_get(json_array_get(json_object_get(b.json, "data"), 0), "embedding"));
    assert_non_null(s);
    unsigned char raw[64];
    assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)s, (int)strlen(s)), 33);
    for (size_t i = 0; i < 8; i++) {
        float x;
        memcpy(&x, raw + 4 * i, 4);
        assert_true(x == (float)json_real_value(json_array_get(v0, i)));
    }
    /* token ids: one token each; a default-size vector */
    handle(&one, cache, sim_openai_embeddings, NULL, "{\"model\":\"m\",\"input\":[5,6,7]}");
    assert_int_equal(json_array_size(json_object_get(
                         json_array_get(json_object_get(one.json, "data"), 0), "embedding")),
                     1536);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(one.json, "usage"), "total_tokens")), 3);
    handle(&big, cache, sim_openai_embeddings, NULL,
           "{\"model\":\"m\",\"input\":\"x\",\"dimensions\":0}");
    assert_int_equal(big.reply.status, 400);
    handled_free(&f);
    handled_free(&b);
    handled_free(&one);
    handled_free(&big);
    sim_cache_free(cache);
}

static void test_moderations_handler(void **state)
{
    struct handled h;
    handle(&h, NULL, sim_openai_moderations, NULL, "{\"input\":[\"fine\",\"bad #sim:flag\"]}");
    assert_int_equal(h.reply.status, 200);
    const json_t *r = json_object_get(h.json, "results");
    assert_int_equal(json_array_size(r), 2);
    assert_true(json_is_false(json_object_get(json_array_get(r, 0), "flagged")));
    assert_true(json_is_true(json_object_get(json_array_get(r, 1), "flagged")));
    assert_string_equal(path_str(h.json, "model", NULL), "omni-moderation-latest");
    handled_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_answer_text),
        cmocka_unit_test(test_fault_parse),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_schema_values),
        cmocka_unit_test(test_openai_cache),
        cmocka_unit_test(test_anthropic_cache_ttl),
        cmocka_unit_test(test_anthropic_cache_rules),
        cmocka_unit_test(test_anthropic_breakpoints),
        cmocka_unit_test(test_openai_handler),
        cmocka_unit_test(test_responses_handler),
        cmocka_unit_test(test_anthropic_handler),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_say_table),
        cmocka_unit_test(test_embeddings_handler),
        cmocka_unit_test(test_moderations_handler),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
