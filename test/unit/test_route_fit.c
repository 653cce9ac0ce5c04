/* Fitting a route on its own labels (route_tool.h fg_route_tool_fit_feats),
 * the swap rule, request features, and the label/version store
 * (learn_store.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "learn_store.h"
#include "route_tool.h"
#include "router.h"

#include "learn_store_checks.h"

#define NB CHECK_NB

/* 20 rows: zebra needs the frontier (label 0), lemon does not (label 1). */
static void rows(struct owned *o, struct fg_route_feats *x, int *label, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        feats_of(TEXTS[i % 2], &o[i]);
        x[i] = o[i].x;
        label[i] = (int)(i % 2);
    }
}

static void fit_learns_the_routes_labels_from_a_neutral_prior(void **state)
{
    struct owned o[20];
    struct fg_route_feats x[20];
    int label[20];
    rows(o, x, label, 20);
    struct fg_router *prior = fg_router_new(NB);
    assert_float_equal(fg_router_score_feats(prior, &x[0]), 0.5, 1e-9);
    struct fg_router *r = fg_route_tool_fit_feats(x, label, 20, prior, 0.01);
    assert_non_null(r);
    double zebra = fg_router_score_feats(r, &x[0]), lemon = fg_router_score_feats(r, &x[1]);
    assert_true(zebra > 0.8);
    assert_true(lemon < 0.2);
    fg_router_free(r);
    fg_router_free(prior);
}

static double logit(double p)
{
    return log(p / (1 - p));
}

static void strong_l2_keeps_the_prior(void **state)
{
    struct owned o[20];
    struct fg_route_feats x[20];
    int label[20];
    rows(o, x, label, 20);
    /* a prior that has an opinion: the lemon words push to the frontier */
    struct fg_router *prior = fg_router_new(NB);
    for (uint32_t k = 0; k < x[1].n; k++)
        prior->w[x[1].bucket[k]] = 2.0f;
    double p0 = fg_router_score_feats(prior, &x[1]);
    struct fg_router *r = fg_route_tool_fit_feats(x, label, 20, prior, 1e6);
    assert_non_null(r);
    /* L2 pulls the weights towards the prior, not towards zero (the
     * intercept is free: the route's own base rate is learned), so the
     * prior's ranking of the two prompts stays */
    double gap0 = logit(p0) - logit(fg_router_score_feats(prior, &x[0]));
    double gap = logit(fg_router_score_feats(r, &x[1])) - logit(fg_router_score_feats(r, &x[0]));
    assert_float_equal(gap, gap0, 1e-2);
    fg_router_free(r);
    /* with a weak pull the labels win over the prior */
    r = fg_route_tool_fit_feats(x, label, 20, prior, 0.001);
    assert_true(fg_router_score_feats(r, &x[1]) < 0.2);
    fg_router_free(r);
    /* no labels: the prior itself */
    r = fg_route_tool_fit_feats(x, label, 0, prior, 0.01);
    assert_float_equal(fg_router_score_feats(r, &x[1]), p0, 1e-6);
    fg_router_free(r);
    assert_null(fg_route_tool_fit_feats(x, label, 20, NULL, 0.01));
    fg_router_free(prior);
}

/* The daemon's prior strength (FG_ROUTE_TOOL_PRIOR_LAMBDA, re-tuned by
 * cross-validation within the train folds, README "Routing"): a route's
 * first labels correct the generic weights, they do not replace them.
 * Ten labels that contradict a confident prior move its scores towards
 * them without overturning its ranking; the fit from zero-knowledge
 * (a neutral prior) still learns them.  At the old default (0.01) the
 * ten labels overturned the prior. */
static void default_prior_strength_corrects_not_replaces(void **state)
{
    struct owned o[10];
    struct fg_route_feats x[10];
    int label[10];
    rows(o, x, label, 10);
    struct fg_router *prior = fg_router_new(NB);
    for (uint32_t k = 0; k < x[1].n; k++) /* the prior: lemon needs the frontier */
        prior->w[x[1].bucket[k]] = 2.0f;
    double gap0 =
        logit(fg_router_score_feats(prior, &x[1])) - logit(fg_router_score_feats(prior, &x[0]));
    struct fg_router *r = fg_route_tool_fit_feats(x, label, 10, prior, FG_ROUTE_TOOL_PRIOR_LAMBDA);
    assert_non_null(r);
    double gap = logit(fg_router_score_feats(r, &x[1])) - logit(fg_router_score_feats(r, &x[0]));
    assert_true(gap > 0);           /* the prior's ranking stands */
    assert_true(gap < gap0 - 0.05); /* but the labels moved it */
    fg_router_free(r);
    fg_router_free(prior);
    prior = fg_router_new(NB);
    r = fg_route_tool_fit_feats(x, label, 10, prior, FG_ROUTE_TOOL_PRIOR_LAMBDA);
    assert_true(fg_router_score_feats(r, &x[0]) > fg_router_score_feats(r, &x[1]));
    fg_router_free(r);
    fg_router_free(prior);
}

static void swap_rule_apgr_then_loss(void **state)
{
    assert_true(fg_route_tool_better(0.7, 0.6, 0.9, 0.1)); /* APGR decides */
    assert_false(fg_route_tool_better(0.6, 0.7, 0.1, 0.9));
    assert_true(fg_route_tool_better(0.6, 0.6, 0.2, 0.3)); /* tie: log loss */
    assert_false(fg_route_tool_better(0.6, 0.6, 0.3, 0.3));
    assert_true(fg_route_tool_better(NAN, NAN, 0.2, 0.3)); /* one class held out */
    assert_false(fg_route_tool_better(NAN, 0.6, 0.01, 0.3));
    assert_false(fg_route_tool_better(0.9, NAN, 0.01, 0.3));
    assert_false(fg_route_tool_better(0.6, 0.6, NAN, 0.3));
}

static void request_features_score_like_the_request(void **state)
{
    struct fg_router *r = fg_router_new(NB);
    for (uint32_t b = 0; b < NB; b++)
        r->w[b] = (float)((int)(b * 2654435761u % 200) - 100) / 50.0f;
    for (int j = 0; j < FG_ROUTER_N_DENSE; j++)
        r->dense[j] = 0.01f * (float)j;
    static const char body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
        "{\"role\":\"user\",\"content\":\"first question\"},{\"role\":\"assistant\","
        "\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"Prove that 17 is prime, step by "
        "step.\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}";
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, body, strlen(body)), 0);
    double s = fg_router_score_request(r, &j, FG_DIALECT_OPENAI);
    struct fg_route_feats x;
    fg_router_request_features(NB, &j, FG_DIALECT_OPENAI, &x);
    assert_float_equal(fg_router_score_feats(r, &x), s, 1e-5);
    assert_true(x.dense[FG_RD_TOOLS] > 0);
    fg_json_free(&j);
    fg_router_free(r);
}

static void store_keeps_labels_versions_and_the_active_one(void **state)
{
    char path[] = "/tmp/fg-route-fit-XXXXXX", dsn[64], side[300];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    store_checks(dsn);
    store_checks_again(dsn);
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fit_learns_the_routes_labels_from_a_neutral_prior),
        cmocka_unit_test(strong_l2_keeps_the_prior),
        cmocka_unit_test(default_prior_strength_corrects_not_replaces),
        cmocka_unit_test(swap_rule_apgr_then_loss),
        cmocka_unit_test(request_features_score_like_the_request),
        cmocka_unit_test(store_keeps_labels_versions_and_the_active_one),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fg_router_thread_cleanup();
    fg_json_thread_cleanup();
    return rc;
}
