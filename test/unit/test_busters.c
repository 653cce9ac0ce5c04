/* test_busters.c — unit tests for busters.c: volatile text in a stable
 * prompt prefix (timestamps, request ids, reordered tools, JSON key order)
 * is found and located; identical prefixes, growing conversations, new
 * prompts and first calls are not busters; groups are isolated and bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busters.h"

/* ---------- helpers ---------- */

/* Check a raw JSON body. */
static bool check_raw(const char *group, const char *body, enum fg_dialect d, struct fg_buster *b)
{
    struct fg_json j = {0};
    if (fg_json_parse(&j, body, strlen(body)))
        fail_msg("bad test JSON at %zu: %s", j.err_off, j.err);
    bool r = fg_busters_check(group, &j, d, b);
    fg_json_free(&j);
    return r;
}

/* Check a jansson body (consumed). */
static bool check(const char *group, json_t *body, enum fg_dialect d, struct fg_buster *b)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    bool r = check_raw(group, s, d, b);
    free(s);
    return r;
}

/* n bytes of varied prompt text (rules with numbers, so no long repeats). */
static char *filler(size_t n, int seed)
{
    char *s = malloc(n + 64);
    size_t o = 0;
    for (int i = 0; o < n; i++)
        o += (size_t)sprintf(s + o, "Rule %d.%d: answer briefly and cite the policy.\n", seed, i);
    s[n] = '\0';
    return s;
}

static json_t *user(const char *text)
{
    return json_pack("{s:s,s:s}", "role", "user", "content", text);
}

static json_t *assistant(const char *text)
{
    return json_pack("{s:s,s:s}", "role", "assistant", "content", text);
}

/* Anthropic body: system string + one user turn. */
static json_t *an_body(const char *system, const char *question)
{
    return json_pack("{s:s,s:i,s:s,s:[o]}", "model", "claude-haiku-4-5", "max_tokens", 256,
                     "system", system, "messages", user(question));
}

/* OpenAI body: system message + one user turn. */
static json_t *oa_body(const char *system, const char *question)
{
    return json_pack("{s:s,s:[{s:s,s:s},o]}", "model", "gpt-4o-mini", "messages", "role", "system",
                     "content", system, user(question));
}

/* "Today is <ts>. " + 12,000 bytes; ts varies with i (seconds, minutes). */
static char *stamped(int i, const char *rest)
{
    size_t n = strlen(rest);
    char *s = malloc(n + 64);
    int k = sprintf(s, "Today is 2026-11-26T09:%02d:%02dZ. ", (i / 60) % 60, i % 60);
    memcpy(s + k, rest, n + 1);
    return s;
}

static int reset(void **state)
{
    fg_busters_reset();
    return 0;
}

/* ---------- busters found ---------- */

/* The acceptance case: 1,000 calls sharing a 3,000-token system prompt with
 * a timestamp at the top — every call after the first names it, at one
 * offset, with the whole prompt's tokens. */
static void timestamp_at_top_of_system(void **state)
{
    char *rest = filler(12000, 1);
    struct fg_buster b;
    for (int i = 0; i < 1000; i++) {
        char *sys = stamped(i, rest);
        bool hit = check("k1|claude-haiku-4-5", an_body(sys, "What is the refund policy?"),
                         FG_DIALECT_ANTHROPIC, &b);
        free(sys);
        if (i == 0) {
            assert_false(hit);
            continue;
        }
        assert_true(hit);
        assert_string_equal(b.where, "system");
        assert_int_equal(b.offset, 9);
        assert_false(b.reorder);
        if (strncmp(b.sample, "2026-11-26T09:", 14))
            fail_msg("sample '%s'", b.sample);
        assert_true(b.tokens >= 3000 && b.tokens <= 3020);
    }
    free(rest);
}

static void timestamp_at_offset_zero(void **state)
{
    char *rest = filler(12000, 2);
    struct fg_buster b;
    char *a = malloc(13000), *c = malloc(13000);
    sprintf(a, "2026-11-26T09:00:01Z\n%s", rest);
    sprintf(c, "2026-11-26T09:00:02Z\n%s", rest);
    assert_false(check("g", an_body(a, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_true(check("g", an_body(c, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_int_equal(b.offset, 0);
    /* the newline after the timestamp is shown as a space */
    assert_int_equal(strncmp(b.sample, "2026-11-26T09:00:02Z Rule 2.0", 29), 0);
    assert_true(strlen(b.sample) <= 63);
    free(a);
    free(c);
    free(rest);
}

/* A request id in the middle of a 4 KB OpenAI system message: exact offset. */
static void request_id_in_middle(void **state)
{
    char *x = filler(2000, 3), *y = filler(2000, 4);
    char sys[4200];
    struct fg_buster b;
    snprintf(sys, sizeof sys, "%s request_id=req_8f2a9c1e %s", x, y);
    assert_false(check("g", oa_body(sys, "hi"), FG_DIALECT_OPENAI, &b));
    snprintf(sys, sizeof sys, "%s request_id=req_77b0d4aa %s", x, y);
    assert_true(check("g", oa_body(sys, "hi"), FG_DIALECT_OPENAI, &b));
    assert_string_equal(b.where, "system");
    assert_int_equal(b.offset, 2000 + 12); /* "req_…", after " request_id=" */
    assert_int_equal(strncmp(b.sample, "req_77b0d4aa ", 13), 0);
    /* the tokens from there to the end of the stable prefix */
    assert_true(b.tokens >= (4026 - 2012) / 4 && b.tokens <= (4026 - 2012) / 4 + 4);
    free(x);
    free(y);
}

/* Past the first 5.5 KB only hashes of the middle are kept: a change there
 * is found, located to its chunk; a change near the end is exact again. */
static void long_section_middle_and_end(void **state)
{
    char *x = filler(10000, 5), *y = filler(10000, 6);
    char *sys = malloc(21000);
    struct fg_buster b;
    sprintf(sys, "%s id=abc123 %s", x, y);
    assert_false(check("g", an_body(sys, "q"), FG_DIALECT_ANTHROPIC, &b));
    sprintf(sys, "%s id=xyz789 %s", x, y);
    assert_true(check("g", an_body(sys, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_string_equal(b.where, "system");
    /* middle [5632, len - 2048) in 64 chunks of ~208 bytes */
    assert_true(b.offset <= 10004 && b.offset > 10004 - 260);

    /* near the end (in the kept tail) */
    sprintf(sys, "%s id=xyz789 %s", x, y);
    memcpy(sys + strlen(sys) - 100, "#### ", 5);
    assert_true(check("g", an_body(sys, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_int_equal(b.offset, (int64_t)strlen(sys) - 100);
    free(sys);
    free(x);
    free(y);
}

static const char tool_a[] =
    "{\"name\":\"get_weather\",\"description\":\"Weather for a city\","
    "\"input_schema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
    "\"required\":[\"city\"]}}";
static const char tool_a_keys[] = /* same tool, schema keys in another order */
    "{\"name\":\"get_weather\",\"description\":\"Weather for a city\","
    "\"input_schema\":{\"required\":[\"city\"],\"properties\":{\"city\":{\"type\":\"string\"}},"
    "\"type\":\"object\"}}";
static const char tool_b[] =
    "{\"name\":\"get_time\",\"description\":\"Local time in a city\","
    "\"input_schema\":{\"type\":\"object\",\"properties\":{\"tz\":{\"type\":\"string\"}}}}";
static const char tool_c[] =
    "{\"name\":\"search\",\"description\":\"Search the knowledge base\","
    "\"input_schema\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}}";

static bool tools_call(const char *group, const char *t1, const char *t2, const char *t3,
                       struct fg_buster *b)
{
    char body[4096];
    snprintf(body, sizeof body,
             "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":64,\"tools\":[%s,%s,%s],"
             "\"system\":\"You are a helpful assistant.\","
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             t1, t2, t3);
    return check_raw(group, body, FG_DIALECT_ANTHROPIC, b);
}

static void reordered_tools(void **state)
{
    struct fg_buster b;
    assert_false(tools_call("g", tool_a, tool_b, tool_c, &b));
    assert_true(tools_call("g", tool_c, tool_a, tool_b, &b));
    assert_string_equal(b.where, "tools");
    assert_true(b.reorder);
    assert_int_equal(b.offset, 10); /* the first tool's name: [{"name":"search */
    assert_int_equal(strncmp(b.sample, "search\",\"description\"", 20), 0);
    assert_true(b.tokens > 30);
    /* the same order again: nothing changed */
    assert_false(tools_call("g", tool_c, tool_a, tool_b, &b));
}

static void key_order_in_tool_schema(void **state)
{
    struct fg_buster b;
    assert_false(tools_call("g", tool_b, tool_a, tool_c, &b));
    assert_true(tools_call("g", tool_b, tool_a_keys, tool_c, &b));
    assert_string_equal(b.where, "tools");
    assert_true(b.reorder);
    /* [tool_b,{…"input_schema":{"  then the first key differs */
    int64_t at = (int64_t)(1 + strlen(tool_b) + 1 + strstr(tool_a, "type\":\"object\"") - tool_a);
    assert_int_equal(b.offset, at);
    assert_int_equal(strncmp(b.sample, "required\":[\"city\"]", 16), 0);
}

/* A volatile first user turn in a multi-turn conversation. */
static void message_n(void **state)
{
    struct fg_buster b;
    char *rest = filler(3000, 7);
    char u0[3200];
    /* Anthropic: message 0 */
    for (int i = 0; i < 2; i++) {
        snprintf(u0, sizeof u0, "[session %d] %s", 1000 + i, rest);
        json_t *body =
            json_pack("{s:s,s:s,s:[o,o,o]}", "model", "claude-haiku-4-5", "system", "Be brief.",
                      "messages", user(u0), assistant("Sure."), user("and then?"));
        assert_int_equal(check("an", body, FG_DIALECT_ANTHROPIC, &b), i == 1);
    }
    assert_string_equal(b.where, "message 0");
    assert_int_equal(b.offset, 9);
    assert_string_equal(b.sample, "1001] Rule 7.0: answer briefly and cite "); /* 40 chars */
    /* OpenAI: the system message is "system", the user turn is message 1 */
    for (int i = 0; i < 2; i++) {
        snprintf(u0, sizeof u0, "[session %d] %s", 1000 + i, rest);
        json_t *body = json_pack("{s:s,s:[{s:s,s:s},o,o,o]}", "model", "gpt-4o-mini", "messages",
                                 "role", "system", "content", "Be brief.", user(u0),
                                 assistant("Sure."), user("and then?"));
        assert_int_equal(check("oa", body, FG_DIALECT_OPENAI, &b), i == 1);
    }
    assert_string_equal(b.where, "message 1");
    assert_int_equal(b.offset, 9);
    free(rest);
}

/* Both dialects name the system prompt "system": OpenAI system (or
 * developer) message, Anthropic system string or text blocks. */
static void both_dialects(void **state)
{
    char *rest = filler(6000, 8);
    struct fg_buster b;
    for (int i = 0; i < 2; i++) {
        char *sys = stamped(i, rest);
        bool oa = check("oa", oa_body(sys, "q"), FG_DIALECT_OPENAI, &b);
        assert_int_equal(oa, i == 1);
        if (oa) {
            assert_string_equal(b.where, "system");
            assert_int_equal(b.offset, 9);
        }
        json_t *dev = json_pack("{s:s,s:[{s:s,s:s},o]}", "model", "o3", "messages", "role",
                                "developer", "content", sys, user("q"));
        assert_int_equal(check("dev", dev, FG_DIALECT_OPENAI, &b), i == 1);
        assert_int_equal(check("an", an_body(sys, "q"), FG_DIALECT_ANTHROPIC, &b), i == 1);
        json_t *blocks =
            json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s,s:{s:s}}],s:[o]}", "model", "claude-haiku-4-5",
                      "system", "type", "text", "text", "You are the support bot.", "type", "text",
                      "text", sys, "cache_control", "type", "ephemeral", "messages", user("q"));
        bool an = check("blocks", blocks, FG_DIALECT_ANTHROPIC, &b);
        assert_int_equal(an, i == 1);
        if (an) {
            assert_string_equal(b.where, "system");
            assert_int_equal(b.offset, 25 + 9); /* after the first block and "\n" */
            assert_true(b.tokens >= 1500 && b.tokens <= 1520);
        }
        free(sys);
    }
    /* In OpenAI bodies a "system" field is not the prompt */
    assert_false(
        check_raw("x", "{\"system\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
                  FG_DIALECT_OPENAI, &b));
    assert_false(
        check_raw("x", "{\"system\":\"b\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
                  FG_DIALECT_OPENAI, &b));
    free(rest);
}

/* Text is compared decoded: "\u00e9" and "é" are the same prompt; offsets
 * count decoded bytes. */
static void escapes_decoded(void **state)
{
    struct fg_buster b;
    char *rest = filler(2000, 17), body[2400];
    for (char *c = rest; *c; c++) /* raw newlines are not JSON */
        if (*c == '\n')
            *c = ' ';
    snprintf(body, sizeof body,
             "{\"system\":\"Caf\\u00e9\\nToday is 2026-11-26T09:00:01Z\\n%s\","
             "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
             rest);
    assert_false(check_raw("g", body, FG_DIALECT_ANTHROPIC, &b));
    snprintf(body, sizeof body,
             "{\"system\":\"Caf\xc3\xa9\\nToday is 2026-11-26T09:00:01Z\\n%s\","
             "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
             rest);
    assert_false(check_raw("g", body, FG_DIALECT_ANTHROPIC, &b));
    snprintf(body, sizeof body,
             "{\"system\":\"Caf\xc3\xa9\\nToday is 2026-11-26T09:00:02Z\\n%s\","
             "\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
             rest);
    assert_true(check_raw("g", body, FG_DIALECT_ANTHROPIC, &b));
    assert_int_equal(b.offset, 5 + 1 + 9); /* "Café" is 5 bytes, then "\n" */
    assert_int_equal(strncmp(b.sample, "2026-11-26T09:00:02Z Rule 17.0", 30), 0);
    free(rest);
}

/* Anthropic system blocks sent in another order: the same parts reordered. */
static void system_blocks_reordered(void **state)
{
    struct fg_buster b;
    char *x = filler(3000, 18), *y = filler(3000, 19);
    for (int i = 0; i < 2; i++) {
        json_t *body =
            json_pack("{s:[{s:s,s:s},{s:s,s:s}],s:[o]}", "system", "type", "text", "text",
                      i ? y : x, "type", "text", "text", i ? x : y, "messages", user("q"));
        assert_int_equal(check("g", body, FG_DIALECT_ANTHROPIC, &b), i == 1);
    }
    assert_string_equal(b.where, "system");
    assert_true(b.reorder);
    assert_int_equal(b.offset, 5); /* "Rule 18.0" / "Rule 19.0" */
    free(x);
    free(y);
}

/* ---------- not busters ---------- */

static void first_call_and_identical(void **state)
{
    char *sys = filler(12000, 9);
    struct fg_buster b;
    assert_false(check("g", an_body(sys, "q1"), FG_DIALECT_ANTHROPIC, &b));
    assert_string_equal(b.where, "");
    /* only the last message changes: the stable prefix is the same */
    assert_false(check("g", an_body(sys, "q2"), FG_DIALECT_ANTHROPIC, &b));
    assert_false(check("g", an_body(sys, "q3"), FG_DIALECT_ANTHROPIC, &b));
    /* cache_control breakpoints moved on tools: no change */
    assert_false(tools_call("t", tool_a, tool_b, tool_c, &b));
    char marked[1024];
    snprintf(marked, sizeof marked, "%.*s,\"cache_control\":{\"type\":\"ephemeral\"}}",
             (int)strlen(tool_c) - 1, tool_c);
    assert_false(tools_call("t", tool_a, tool_b, marked, &b));
    free(sys);
}

static void growing_conversation(void **state)
{
    char *sys = filler(8000, 10);
    struct fg_buster b;
    json_t *m = json_array();
    for (int turn = 0; turn < 12; turn++) {
        char q[64];
        snprintf(q, sizeof q, "question %d at 2026-11-26T09:00:%02dZ", turn, turn);
        json_array_append_new(m, user(q));
        json_t *body =
            json_pack("{s:s,s:s,s:O}", "model", "claude-haiku-4-5", "system", sys, "messages", m);
        assert_false(check("g", body, FG_DIALECT_ANTHROPIC, &b));
        json_array_append_new(m, assistant("an answer"));
    }
    /* a new conversation under the same key (shorter): not a buster either */
    assert_false(check("g", an_body(sys, "fresh start"), FG_DIALECT_ANTHROPIC, &b));
    json_decref(m);
    free(sys);
}

static void different_prompt(void **state)
{
    char *a = filler(12000, 11), *c = malloc(12001);
    struct fg_buster b;
    for (int i = 0; i < 12000; i++)
        c[i] = (char)('a' + i % 26);
    c[12000] = '\0';
    assert_false(check("g", an_body(a, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_false(check("g", an_body(c, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_false(check("g", an_body(a, "q"), FG_DIALECT_ANTHROPIC, &b));
    /* a quarter of the prompt changed: a different prompt, not a volatile span */
    char *h = filler(12000, 11);
    memset(h + 6000, 'z', 3000);
    assert_false(check("g", an_body(h, "q"), FG_DIALECT_ANTHROPIC, &b));
    /* tools added: another layout */
    assert_false(tools_call("g", tool_a, tool_b, tool_c, &b));
    free(a);
    free(c);
    free(h);
}

/* ---------- groups ---------- */

static void group_isolation(void **state)
{
    char *rest = filler(5000, 12);
    char *s0 = stamped(0, rest), *s1 = stamped(1, rest);
    struct fg_buster b;
    /* each group keeps its own timestamp: no cross-talk */
    assert_false(check("A", an_body(s0, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_false(check("B", an_body(s1, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_false(check("A", an_body(s0, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_false(check("B", an_body(s1, "q"), FG_DIALECT_ANTHROPIC, &b));
    /* within a group the change is seen */
    assert_true(check("A", an_body(s1, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_false(check("B", an_body(s1, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_int_equal(fg_busters_groups(), 2);
    free(s0);
    free(s1);
    free(rest);
}

static void lru_bound(void **state)
{
    char *rest = filler(9000, 13);
    char *s0 = stamped(0, rest), *s1 = stamped(1, rest);
    struct fg_buster b;
    char g[32];
    for (int i = 0; i < FG_BUSTERS_MAX_GROUPS + 100; i++) {
        snprintf(g, sizeof g, "key-%d", i);
        assert_false(check(g, an_body(s0, "q"), FG_DIALECT_ANTHROPIC, &b));
        if (i == 200) { /* keep key-0 recent */
            assert_false(check("key-0", an_body(s0, "q"), FG_DIALECT_ANTHROPIC, &b));
        }
    }
    assert_int_equal(fg_busters_groups(), FG_BUSTERS_MAX_GROUPS);
    /* key-1 was the least recent: forgotten, so its next call is a first call */
    assert_false(check("key-1", an_body(s1, "q"), FG_DIALECT_ANTHROPIC, &b));
    /* key-0 (touched) and the newest are remembered */
    assert_true(check("key-0", an_body(s1, "q"), FG_DIALECT_ANTHROPIC, &b));
    snprintf(g, sizeof g, "key-%d", FG_BUSTERS_MAX_GROUPS + 99);
    assert_true(check(g, an_body(s1, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_int_equal(fg_busters_groups(), FG_BUSTERS_MAX_GROUPS);
    fg_busters_reset();
    assert_int_equal(fg_busters_groups(), 0);
    free(s0);
    free(s1);
    free(rest);
}

/* A long conversation: sections past the per-group text budget are not
 * examined, and at most FG_BUSTERS_MAX_SECTIONS are compared. */
static void long_conversation_bounded(void **state)
{
    char *big = filler(9000, 14);
    struct fg_buster b;
    /* round 1 changes message 6 only, round 2 message 1 */
    for (int round = 0; round < 3; round++) {
        json_t *m = json_array();
        for (int i = 0; i < 100; i++) {
            char *t = NULL;
            if (i == 6)
                t = stamped(round > 0, big);
            else if (i == 1)
                t = stamped(round > 1, "x");
            json_array_append_new(m, t ? user(t) : user(big));
            free(t);
        }
        json_t *body = json_pack("{s:s,s:o}", "model", "claude-haiku-4-5", "messages", m);
        bool hit = check("g", body, FG_DIALECT_ANTHROPIC, &b);
        /* messages 0, 2, 3, 4 take the group's 32 KB: message 6 keeps no text */
        assert_int_equal(hit, round == 2);
    }
    assert_string_equal(b.where, "message 1");
    assert_int_equal(b.offset, 9);
    /* tokens: from there to the end of the compared sections (64) */
    assert_true(b.tokens > 62 * 9000 / 4 && b.tokens < 63 * 9100 / 4);
    free(big);
}

static void sample_is_utf8_safe(void **state)
{
    struct fg_buster b;
    char a[512], c[512];
    /* "é" (2 bytes) and "€" (3 bytes) run past 63 bytes; a tab and a newline */
    const char *tail = "\t\xc3\xa9\xc3\xa9\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
                       "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82"
                       "\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2"
                       "\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\n";
    char *rest = filler(300, 15);
    snprintf(a, sizeof a, "Caf\xc3\xa9 id=\xc3\xa9t\xc3\xa9-01%s%s", tail, rest);
    snprintf(c, sizeof c, "Caf\xc3\xa9 id=\xc3\xa9t\xc3\xa9-02%s%s", tail, rest);
    assert_false(check("u", an_body(a, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_true(check("u", an_body(c, "q"), FG_DIALECT_ANTHROPIC, &b));
    assert_int_equal(b.offset, 9); /* "Café id=" is 9 bytes */
    assert_int_equal(strncmp(b.sample, "\xc3\xa9t\xc3\xa9-02 \xc3\xa9", 11), 0);
    size_t n = strlen(b.sample);
    assert_true(n <= 63);
    /* ends on a character boundary, no control characters */
    json_t *s = json_string(b.sample);
    assert_non_null(s);
    json_decref(s);
    for (size_t i = 0; i < n; i++)
        assert_true((unsigned char)b.sample[i] >= 0x20);
    free(rest);
}

struct thr {
    int id;
    int hits;
};

static void *worker(void *arg)
{
    struct thr *t = arg;
    char *rest = filler(3000, 16);
    char g[32];
    snprintf(g, sizeof g, "thread-%d", t->id);
    for (int i = 0; i < 100; i++) {
        char *sys = stamped(i, rest);
        json_t *body = an_body(sys, "q");
        char *s = json_dumps(body, JSON_COMPACT);
        struct fg_json j = {0};
        struct fg_buster b;
        if (!fg_json_parse(&j, s, strlen(s)) &&
            fg_busters_check(i % 3 ? g : "shared", &j, FG_DIALECT_ANTHROPIC, &b))
            t->hits++;
        fg_json_free(&j);
        free(s);
        json_decref(body);
        free(sys);
    }
    free(rest);
    fg_json_thread_cleanup();
    return NULL;
}

static void threads(void **state)
{
    pthread_t th[4];
    struct thr t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct thr){.id = i};
        pthread_create(&th[i], NULL, worker, &t[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(t[i].hits >= 60);
    }
    fg_busters_shutdown();
    assert_int_equal(fg_busters_groups(), 0);
}

static void no_prefix_bodies(void **state)
{
    struct fg_buster b;
    assert_false(check_raw("g", "{\"messages\":[]}", FG_DIALECT_ANTHROPIC, &b));
    assert_false(check_raw("g", "{}", FG_DIALECT_OPENAI, &b));
    assert_false(check_raw("g", "[1,2]", FG_DIALECT_OPENAI, &b));
    assert_false(check_raw("g", "{\"system\":null,\"messages\":5}", FG_DIALECT_ANTHROPIC, &b));
    assert_false(check_raw("g", "{\"system\":\"\",\"messages\":[{\"content\":null},{}]}",
                           FG_DIALECT_ANTHROPIC, &b));
    assert_false(check_raw(NULL, "{\"system\":\"a\"}", FG_DIALECT_ANTHROPIC, &b));
    assert_false(fg_busters_check("g", NULL, FG_DIALECT_ANTHROPIC, &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(timestamp_at_top_of_system, reset),
        cmocka_unit_test_setup(timestamp_at_offset_zero, reset),
        cmocka_unit_test_setup(request_id_in_middle, reset),
        cmocka_unit_test_setup(long_section_middle_and_end, reset),
        cmocka_unit_test_setup(reordered_tools, reset),
        cmocka_unit_test_setup(key_order_in_tool_schema, reset),
        cmocka_unit_test_setup(message_n, reset),
        cmocka_unit_test_setup(both_dialects, reset),
        cmocka_unit_test_setup(escapes_decoded, reset),
        cmocka_unit_test_setup(system_blocks_reordered, reset),
        cmocka_unit_test_setup(first_call_and_identical, reset),
        cmocka_unit_test_setup(growing_conversation, reset),
        cmocka_unit_test_setup(different_prompt, reset),
        cmocka_unit_test_setup(group_isolation, reset),
        cmocka_unit_test_setup(lru_bound, reset),
        cmocka_unit_test_setup(long_conversation_bounded, reset),
        cmocka_unit_test_setup(sample_is_utf8_safe, reset),
        cmocka_unit_test_setup(threads, reset),
        cmocka_unit_test_setup(no_prefix_bodies, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fg_busters_shutdown();
    fg_json_thread_cleanup();
    return rc;
}
