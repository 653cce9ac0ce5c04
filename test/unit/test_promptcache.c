/* Unit tests for prompt-cache placement: the rules of promptcache.h applied
 * to request bodies shaped like the providers' (spec sections 3.1, 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "price.h"
#include "promptcache.h"

#define MIN 60000LL        /* one minute, in ms */
#define T0 1795680000000LL /* a real clock reading: 0 means "never" */

struct run {
    struct fg_json j;
    struct fg_prefix p;
    struct fg_arena a;
    struct fg_json_edit e[8];
    struct fg_pc_edits out;
    char *spliced;
};

/* A system prompt of about `tokens` tokens (4 bytes each). */
static char *long_text(int tokens, const char *head)
{
    size_t n = (size_t)tokens * 4;
    char *s = malloc(n + strlen(head) + 1);
    strcpy(s, head);
    for (size_t i = strlen(head); i < n; i++)
        s[i] = "abcd "[i % 5];
    s[n] = '\0';
    return s;
}

static int cmp(const void *a, const void *b)
{
    const struct fg_json_edit *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Scan body, record a sighting at now, plan; returns breakpoints placed. */
static int plan(struct run *r, const char *body, enum fg_dialect d, const char *model, int64_t now,
                int ttl)
{
    fg_arena_init(&r->a);
    r->out = (struct fg_pc_edits){r->e, 0, 8, &r->a};
    assert_int_equal(fg_json_parse(&r->j, body, strlen(body)), 0);
    fg_prefix_scan(&r->j, d, &r->p);
    fg_prefix_seen(&r->p, now, 3600 * 1000LL);
    struct fg_pc_opts o = {d, model, true, true, ttl, now};
    int placed = fg_promptcache_plan(&r->j, &r->p, &o, &r->out);
    qsort(r->e, r->out.n, sizeof r->e[0], cmp);
    size_t n;
    r->spliced = fg_json_splice(body, strlen(body), r->e, r->out.n, &n);
    return placed;
}

static void done(struct run *r)
{
    free(r->spliced);
    fg_json_free(&r->j);
    fg_arena_free(&r->a);
}

static char *anthropic_body(const char *sys, const char *user)
{
    char *b = malloc(strlen(sys) + strlen(user) + 200);
    sprintf(b,
            "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":100,\"system\":\"%s\","
            "\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
            sys, user);
    return b;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void once_not_marked_then_marked(void **state)
{
    fg_prefix_reset();
    char *sys = long_text(3000, "You are a support agent.");
    char *b1 = anthropic_body(sys, "first"), *b2 = anthropic_body(sys, "second");
    struct run r = {0};
    /* first sighting: no write premium */
    assert_int_equal(plan(&r, b1, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + 10 * MIN, 300),
                     0);
    assert_string_equal(r.spliced, b1);
    done(&r);
    /* second sighting a minute later: the system prompt is marked, 5m TTL */
    assert_int_equal(plan(&r, b2, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + 11 * MIN, 300),
                     1);
    assert_non_null(
        strstr(r.spliced, "\"system\":[{\"type\":\"text\",\"text\":\"You are a support"));
    assert_non_null(strstr(r.spliced, "\"cache_control\":{\"type\":\"ephemeral\"}}]"));
    assert_int_equal(count(r.spliced, "cache_control"), 1);
    assert_null(strstr(r.spliced, "\"ttl\""));
    done(&r);
    free(b1), free(b2), free(sys);
}

static void below_minimum_not_marked(void **state)
{
    fg_prefix_reset();
    /* 3,000 tokens: enough for Sonnet (1024) but not Haiku 4.5 (4096) */
    char *sys = long_text(3000, "Short-ish.");
    char *b = anthropic_body(sys, "q");
    struct run r = {0};
    plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-haiku-4-5", T0 + 1 * MIN, 300);
    done(&r);
    assert_int_equal(plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-haiku-4-5", T0 + 2 * MIN, 300), 0);
    done(&r);
    assert_int_equal(fg_price_min_cacheable_tokens("claude-opus-4-5-20251101"), 4096);
    assert_int_equal(fg_price_min_cacheable_tokens("claude-sonnet-4-5"), 1024);
    assert_int_equal(fg_price_min_cacheable_tokens("claude-3-5-haiku-20241022"), 2048);
    assert_int_equal(fg_price_min_cacheable_tokens("claude-opus-5"), 512);
    free(b), free(sys);
}

static void long_gaps_get_one_hour(void **state)
{
    fg_prefix_reset();
    char *sys = long_text(2000, "Hourly batch prompt.");
    char *b = anthropic_body(sys, "q");
    struct run r = {0};
    plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + 0, 300);
    done(&r);
    /* 20 minutes later: a 5m entry would have lapsed, 1h pays off */
    assert_int_equal(plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + 20 * MIN, 300), 1);
    assert_non_null(strstr(r.spliced, "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}"));
    done(&r);
    /* more than an hour later: nothing would survive, no marker */
    assert_int_equal(plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + 90 * MIN, 300), 0);
    done(&r);
    free(b), free(sys);
}

static void client_markers_kept(void **state)
{
    fg_prefix_reset();
    char *sys = long_text(2000, "Client marks.");
    char *b = malloc(strlen(sys) + 300);
    sprintf(b,
            "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":9,\"system\":[{\"type\":\"text\","
            "\"text\":\"%s\",\"cache_control\":{\"type\":\"ephemeral\"}}],\"messages\":"
            "[{\"role\":\"user\",\"content\":\"q\"}]}",
            sys);
    struct run r = {0};
    plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + 0, 300);
    done(&r);
    assert_int_equal(plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + MIN, 300), 0);
    assert_string_equal(r.spliced, b);
    done(&r);
    free(b), free(sys);
}

/* tools + system + a conversation: at most one marker each, ordered TTLs */
static void tools_system_conversation(void **state)
{
    fg_prefix_reset();
    char *tool_desc = long_text(1500, "Tool manual.");
    char *sys = long_text(1500, "System.");
    char *b = malloc(strlen(tool_desc) + strlen(sys) + 600);
    sprintf(
        b,
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":9,\"tools\":[{\"name\":\"a\","
        "\"description\":\"%s\",\"input_schema\":{\"type\":\"object\"}}],\"system\":\"%s\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"one\"},{\"role\":\"assistant\","
        "\"content\":[{\"type\":\"text\",\"text\":\"two\"}]},{\"role\":\"user\",\"content\":\"three\"}]}",
        tool_desc, sys);
    struct run r = {0};
    plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + 0, 300);
    done(&r);
    assert_int_equal(plan(&r, b, FG_DIALECT_ANTHROPIC, "claude-sonnet-4-5", T0 + MIN, 300), 3);
    assert_int_equal(count(r.spliced, "cache_control"), 3);
    /* the tool object, the system text block, and the assistant's last block */
    assert_non_null(strstr(r.spliced, "{\"type\":\"object\"},\"cache_control\""));
    assert_non_null(strstr(r.spliced, "\"text\":\"two\",\"cache_control\""));
    /* the final user turn is new content: not marked */
    assert_non_null(strstr(r.spliced, "\"content\":\"three\"}"));
    done(&r);
    free(b), free(sys), free(tool_desc);
}

static void openai_cache_key_and_breakpoints(void **state)
{
    fg_prefix_reset();
    char *sys = long_text(2000, "OpenAI system.");
    char *b = malloc(strlen(sys) + 300);
    sprintf(b,
            "{\"model\":\"gpt-5.6\",\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
            "{\"role\":\"user\",\"content\":\"q\"}]}",
            sys);
    struct run r = {0};
    assert_int_equal(plan(&r, b, FG_DIALECT_OPENAI, "gpt-5.6", T0 + 0, 300), 0);
    assert_int_equal(strncmp(r.spliced, "{\"prompt_cache_key\":\"frg_", 25), 0);
    char key1[64];
    snprintf(key1, sizeof key1, "%.42s", r.spliced);
    done(&r);
    assert_int_equal(plan(&r, b, FG_DIALECT_OPENAI, "gpt-5.6", T0 + MIN, 300), 1);
    assert_int_equal(strncmp(r.spliced, key1, 42), 0); /* same prefix, same key */
    assert_non_null(strstr(r.spliced, "\"prompt_cache_breakpoint\":{\"mode\":\"explicit\"}"));
    done(&r);
    /* older models: the key only */
    assert_int_equal(plan(&r, b, FG_DIALECT_OPENAI, "gpt-4o", T0 + 2 * MIN, 300), 0);
    assert_null(strstr(r.spliced, "prompt_cache_breakpoint"));
    done(&r);
    free(b), free(sys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(once_not_marked_then_marked),
        cmocka_unit_test(below_minimum_not_marked),
        cmocka_unit_test(long_gaps_get_one_hour),
        cmocka_unit_test(client_markers_kept),
        cmocka_unit_test(tools_system_conversation),
        cmocka_unit_test(openai_cache_key_and_breakpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
