/* Unit tests for the precedence of a route decision (route.h): the forced
 * tier, the tools / images / context-length rules and the classifier, each
 * pair set against each other so that the one route.h puts first decides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "json.h"
#include "provider.h"
#include "route.h"
#include "router.h"
#include "server.h"

/* What a request carries: each one can trigger one rule. */
enum { TOOLS = 1, IMAGES = 2, LONG = 4, AN_IMAGE = 8 };

/* Classifier verdicts: the test weights score every request 0.5. */
#define CLS_FRONTIER 0.4 /* threshold under the score */
#define CLS_CHEAP 0.6    /* threshold over it */
#define NO_WEIGHTS -1.0

#define REASON_TOOLS "request has tools"
#define REASON_IMAGES "request has images"
#define REASON_LONG "prompt too long for the cheap model"
#define REASON_CLS "classifier score"

/* cheap is served by gpt-3.5-turbo: a 16,385-token context, so a 70 KB
 * body (≈ 17,500 tokens by bytes / 4) is too long for it */
static struct fg_model_cfg models[] = {
    {.name = "small", .provider = "p", .model = "gpt-3.5-turbo"},
    {.name = "big", .provider = "p", .model = "gpt-4o"},
};

struct fixture {
    struct fg_config cfg;
    struct fg_app app;
    struct fg_worker w;
    struct fg_router *router, *routers[1];
    struct fg_route_cfg route;
    struct fg_call c;
    char *body;
};

static char *make_body(int what)
{
    size_t pad = (what & LONG) ? 70000 : 0;
    char *filler = calloc(1, pad + 1);
    memset(filler, 'a', pad);
    const char *img =
        (what & AN_IMAGE)
            ? ",{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/y.png\"}}"
        : (what & IMAGES) ? ",{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}"
                          : "";
    const char *tools = (what & TOOLS)
                            ? ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                              "\"parameters\":{\"type\":\"object\"}}}]"
                            : "";
    size_t n = pad + 512;
    char *b = malloc(n);
    snprintf(b, n,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
             "\"text\":\"What is the capital of France? %s\"}%s]}]%s}",
             filler, img, tools);
    free(filler);
    return b;
}

/* A call to route `auto` with the given rules switched on. */
static struct fixture *setup_call(int what, const char *header, double threshold, bool on_tools,
                                  bool on_images)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->cfg.models = models;
    f->cfg.n_models = 2;
    f->route = (struct fg_route_cfg){.name = "auto",
                                     .cheap = "small",
                                     .frontier = "big",
                                     .threshold = threshold,
                                     .frontier_share = -1,
                                     .frontier_on_tools = on_tools,
                                     .frontier_on_images = on_images};
    f->router = threshold == NO_WEIGHTS ? NULL : fg_router_new(256);
    f->routers[0] = f->router;
    f->app.cfg = &f->cfg;
    f->app.routers = f->routers;
    f->app.boot.cfg = &f->cfg; /* the call's config snapshot (snap.h) */
    f->app.boot.routers = f->routers;
    f->w.app = &f->app;
    f->body = make_body(what);
    struct fg_call *c = &f->c;
    fg_arena_init(&c->arena);
    c->w = &f->w;
    c->snap = &f->app.boot;
    c->rq.route_force = fg_route_force_of(header); /* as the HTTP edge reads it */
    c->in = fg_provider_ops(what & AN_IMAGE ? FG_DIALECT_ANTHROPIC : FG_DIALECT_OPENAI);
    c->raw = f->body;
    c->raw_len = strlen(f->body);
    assert_int_equal(fg_json_parse(&c->body, c->raw, c->raw_len), 0);
    return f;
}

static void teardown_call(struct fixture *f)
{
    fg_json_free(&f->c.body);
    fg_arena_free(&f->c.arena);
    fg_router_free(f->router);
    free(f->body);
    free(f);
}

/* Decide and check the tier, the model and the reason (a prefix of it). */
static void expect(int what, const char *header, double threshold, bool on_tools, bool on_images,
                   const char *tier, const char *reason)
{
    struct fixture *f = setup_call(what, header, threshold, on_tools, on_images);
    const char *model = fg_route_decide(&f->c, &f->route, 0);
    const char *why = f->c.rt.reason ? f->c.rt.reason : "(none)";
    if (strcmp(f->c.rt.route, tier) || strncmp(why, reason, strlen(reason))) {
        print_message("what=%d header=%s threshold=%.1f tools rule %d images rule %d: "
                      "got %s (%s), want %s (%s...)\n",
                      what, header ? header : "-", threshold, on_tools, on_images, f->c.rt.route,
                      why, tier, reason);
        fail();
    }
    assert_string_equal(model, strcmp(tier, "cheap") ? "big" : "small");
    teardown_call(f);
}

/* Each rule alone, so that the pairs below mean something. */
static void each_rule_alone(void **state)
{
    expect(0, "frontier", CLS_CHEAP, false, false, "frontier", FG_ROUTE_FORCED);
    expect(0, "cheap", CLS_FRONTIER, false, false, "cheap", FG_ROUTE_FORCED);
    expect(TOOLS, NULL, CLS_CHEAP, true, false, "frontier", REASON_TOOLS);
    expect(IMAGES, NULL, CLS_CHEAP, false, true, "frontier", REASON_IMAGES);
    expect(AN_IMAGE, NULL, CLS_CHEAP, false, true, "frontier", REASON_IMAGES);
    expect(LONG, NULL, CLS_CHEAP, false, false, "frontier", REASON_LONG);
    expect(0, NULL, CLS_FRONTIER, false, false, "frontier",
           "classifier score 0.500 >= threshold 0.400");
    expect(0, NULL, CLS_CHEAP, false, false, "cheap", "classifier score 0.500 < threshold 0.600");
    expect(0, NULL, NO_WEIGHTS, false, false, "frontier", "no classifier weights");
}

/* A rule that is switched off, or a header that names no tier, is not a rule. */
static void rules_off_and_unknown_header_do_not_decide(void **state)
{
    expect(TOOLS, NULL, CLS_CHEAP, false, true, "cheap", REASON_CLS);
    expect(IMAGES | AN_IMAGE, NULL, CLS_CHEAP, true, false, "cheap", REASON_CLS);
    expect(0, "auto", CLS_CHEAP, false, false, "cheap", REASON_CLS);
    expect(0, "", CLS_FRONTIER, false, false, "frontier", REASON_CLS);
    expect(0, "FRONTIER", CLS_CHEAP, false, false, "frontier", FG_ROUTE_FORCED);
}

/* 1 beats 2, 3, 4, 5 (and 6): the forced tier wins both ways. */
static void forced_tier_beats_every_rule(void **state)
{
    expect(TOOLS, "cheap", CLS_CHEAP, true, false, "cheap", FG_ROUTE_FORCED);
    expect(IMAGES, "cheap", CLS_CHEAP, false, true, "cheap", FG_ROUTE_FORCED);
    expect(LONG, "cheap", CLS_CHEAP, false, false, "cheap", FG_ROUTE_FORCED);
    expect(0, "cheap", CLS_FRONTIER, false, false, "cheap", FG_ROUTE_FORCED);
    expect(0, "frontier", CLS_CHEAP, false, false, "frontier", FG_ROUTE_FORCED);
    expect(0, "cheap", NO_WEIGHTS, false, false, "cheap", FG_ROUTE_FORCED);
    /* everything at once */
    expect(TOOLS | IMAGES | LONG, "cheap", CLS_FRONTIER, true, true, "cheap", FG_ROUTE_FORCED);
    expect(TOOLS | IMAGES | LONG, "frontier", CLS_CHEAP, true, true, "frontier", FG_ROUTE_FORCED);
}

/* 2 beats 3, 4 and 5. */
static void tools_rule_beats_images_length_and_classifier(void **state)
{
    expect(TOOLS | IMAGES, NULL, CLS_CHEAP, true, true, "frontier", REASON_TOOLS);
    expect(TOOLS | LONG, NULL, CLS_CHEAP, true, false, "frontier", REASON_TOOLS);
    expect(TOOLS, NULL, CLS_CHEAP, true, false, "frontier", REASON_TOOLS);
    expect(TOOLS, NULL, NO_WEIGHTS, true, false, "frontier", REASON_TOOLS);
}

/* 3 beats 4 and 5. */
static void images_rule_beats_length_and_classifier(void **state)
{
    expect(IMAGES | LONG, NULL, CLS_CHEAP, false, true, "frontier", REASON_IMAGES);
    expect(IMAGES, NULL, CLS_CHEAP, false, true, "frontier", REASON_IMAGES);
    expect(AN_IMAGE, NULL, NO_WEIGHTS, false, true, "frontier", REASON_IMAGES);
}

/* 4 beats 5 (and 6). */
static void length_rule_beats_classifier(void **state)
{
    expect(LONG, NULL, CLS_CHEAP, false, false, "frontier", REASON_LONG);
    expect(LONG, NULL, NO_WEIGHTS, false, false, "frontier", REASON_LONG);
}

/* Operator rules (2): frontier_for / cheap_for by key or tag.  They come
 * after the client's header and before every content rule. */
static void expect_op(int what, const char *header, const char *tags, const char *key_id,
                      const char *ffor, const char *cfor, bool on_tools, const char *tier,
                      const char *reason)
{
    struct fixture *f = setup_call(what, header, CLS_FRONTIER, on_tools, false);
    char *fsel[1] = {(char *)ffor}, *csel[1] = {(char *)cfor};
    f->route.frontier_for = ffor ? fsel : NULL;
    f->route.n_frontier_for = ffor ? 1 : 0;
    f->route.cheap_for = cfor ? csel : NULL;
    f->route.n_cheap_for = cfor ? 1 : 0;
    f->c.who.tags.charged = tags; /* as the edge resolves them for the master key */
    f->c.who.key_id = key_id;
    fg_route_decide(&f->c, &f->route, 0);
    const char *why = f->c.rt.reason ? f->c.rt.reason : "(none)";
    if (strcmp(f->c.rt.route, tier) || strncmp(why, reason, strlen(reason))) {
        print_message("got %s (%s), want %s (%s...)\n", f->c.rt.route, why, tier, reason);
        fail();
    }
    teardown_call(f);
}

static void operator_rules(void **state)
{
    /* alone: a key by id, a tag among several */
    expect_op(0, NULL, NULL, "key_a", NULL, "key:key_a", false, "cheap",
              "cheap tier for key:key_a");
    expect_op(0, NULL, "team=ml, tier=gold", NULL, NULL, "tag:tier=gold", false, "cheap",
              "cheap tier for tag:tier=gold");
    /* no match: the classifier decides (frontier at this threshold) */
    expect_op(0, NULL, "tier=golden", "key_b", NULL, "tag:tier=gold", false, "frontier",
              REASON_CLS);
    expect_op(0, NULL, NULL, "key_b", NULL, "key:key_a", false, "frontier", REASON_CLS);
    /* the client's header beats them */
    expect_op(0, "frontier", NULL, "key_a", NULL, "key:key_a", false, "frontier", FG_ROUTE_FORCED);
    /* frontier_for beats cheap_for */
    expect_op(0, NULL, "x=1", "key_a", "tag:x=1", "key:key_a", false, "frontier",
              "frontier tier for tag:x=1");
    /* they beat the content rules: cheap even with tools and the tools rule on */
    expect_op(TOOLS, NULL, NULL, "key_a", NULL, "key:key_a", true, "cheap", "cheap tier for");
    expect_op(LONG, NULL, "x=1", NULL, NULL, "tag:x=1", false, "cheap", "cheap tier for");
}

static int cleanup(void **state)
{
    fg_router_thread_cleanup();
    fg_json_thread_cleanup();
    fg_arena_thread_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_rule_alone),
        cmocka_unit_test(rules_off_and_unknown_header_do_not_decide),
        cmocka_unit_test(forced_tier_beats_every_rule),
        cmocka_unit_test(tools_rule_beats_images_length_and_classifier),
        cmocka_unit_test(images_rule_beats_length_and_classifier),
        cmocka_unit_test(length_rule_beats_classifier),
        cmocka_unit_test(operator_rules),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
