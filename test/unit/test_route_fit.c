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

#define NB 1024

/* A feature vector that owns its arrays (fg_router_features' are scratch). */
struct owned {
    struct fg_route_feats x;
    uint32_t b[256];
    float v[256];
};

static void feats_of(const char *text, struct owned *o)
{
    struct fg_route_feats x;
    fg_router_features(NB, text, strlen(text), NULL, &x);
    assert_true(x.n <= 256);
    memcpy(o->b, x.bucket, x.n * sizeof *o->b);
    memcpy(o->v, x.value, x.n * sizeof *o->v);
    o->x = x;
    o->x.bucket = o->b;
    o->x.value = o->v;
}

static const char *const TEXTS[2] = {"tell me about the zebra please",
                                     "tell me about the lemon please"};

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
    char path[] = "/tmp/fg-route-fit-XXXXXX", dsn[64], err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    struct fg_learn_store *s;
    assert_int_equal(fg_learn_store_open(dsn, &s, err, sizeof err), 0);
    struct owned o[2];
    feats_of(TEXTS[0], &o[0]);
    feats_of(TEXTS[1], &o[1]);
    assert_int_equal(fg_learn_store_add_label(s, "auto", "c1", 1, 0, NB, &o[0].x, NULL), 0);
    assert_int_equal(fg_learn_store_add_label(s, "auto", "c2", 2, 1, NB, &o[1].x, "the text"), 0);
    assert_int_equal(fg_learn_store_add_label(s, "other", "c3", 3, 1, NB, &o[1].x, NULL), 0);
    assert_int_equal(fg_learn_store_new_labels(s, "auto"), 2);
    struct fg_learn_labels L;
    assert_int_equal(fg_learn_store_labels(s, "auto", NB, &L), 0);
    assert_int_equal(L.n, 2);
    assert_int_equal(L.label[0], 0);
    assert_int_equal(L.label[1], 1);
    assert_int_equal(L.x[1].n, o[1].x.n);
    assert_memory_equal(L.x[1].bucket, o[1].b, o[1].x.n * sizeof *o[1].b);
    assert_memory_equal(L.x[1].dense, o[1].x.dense, sizeof o[1].x.dense);
    int64_t last = L.last_id;
    fg_learn_store_labels_free(&L);
    /* another bucket width reads nothing (a vector is never misread) */
    assert_int_equal(fg_learn_store_labels(s, "auto", NB * 2, &L), 0);
    assert_int_equal(L.n, 0);
    fg_learn_store_labels_free(&L);
    /* a rejected fit: recorded, not active, labels counted as used */
    struct fg_learn_version v = {.route = "auto", .labels = 2, .last_label_id = last};
    assert_int_equal(fg_learn_store_add_version(s, &v, NULL, 0), 0);
    assert_int_equal(v.version, 1);
    assert_int_equal(fg_learn_store_new_labels(s, "auto"), 0);
    int active;
    unsigned char *w;
    size_t wlen;
    assert_int_equal(fg_learn_store_active(s, "auto", &active, &w, &wlen), 0);
    assert_int_equal(active, 0);
    assert_null(w);
    /* two accepted fits: the last is active; rollback goes to the one before */
    struct fg_router *r = fg_router_new(NB);
    size_t blen;
    unsigned char *blob = fg_router_serialize(r, &blen);
    for (int k = 0; k < 2; k++) {
        struct fg_learn_version a = {.route = "auto", .accepted = true, .last_label_id = last};
        assert_int_equal(fg_learn_store_add_version(s, &a, blob, blen), 0);
        assert_int_equal(a.version, 2 + k);
    }
    assert_int_equal(fg_learn_store_active(s, "auto", &active, &w, &wlen), 0);
    assert_int_equal(active, 3);
    assert_int_equal(wlen, blen);
    free(w);
    assert_int_equal(fg_learn_store_previous(s, "auto"), 2);
    assert_int_equal(fg_learn_store_set_active(s, "auto", 1, err, sizeof err), -1); /* rejected */
    assert_int_equal(fg_learn_store_set_active(s, "auto", 2, err, sizeof err), 0);
    assert_int_equal(fg_learn_store_previous(s, "auto"), 0);
    assert_int_equal(fg_learn_store_set_active(s, "auto", 0, err, sizeof err), 0);
    assert_int_equal(fg_learn_store_active(s, "auto", &active, &w, &wlen), 0);
    assert_int_equal(active, 0);
    /* one replica fits at a time; a lease expires */
    assert_true(fg_learn_store_lock(s, "auto", "a", 1000, 100));
    assert_false(fg_learn_store_lock(s, "auto", "b", 1050, 100));
    assert_true(fg_learn_store_lock(s, "auto", "a", 1050, 100));
    assert_true(fg_learn_store_lock(s, "auto", "b", 1200, 100));
    fg_learn_store_unlock(s, "auto", "b");
    assert_true(fg_learn_store_lock(s, "auto", "a", 1201, 100));
    free(blob);
    fg_router_free(r);
    fg_learn_store_close(s);
    unlink(path);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void postgres_is_refused_with_a_reason(void **state)
{
    struct fg_learn_store *s;
    char err[256];
    assert_int_equal(fg_learn_store_open("postgres://h/db", &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "SQLite"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fit_learns_the_routes_labels_from_a_neutral_prior),
        cmocka_unit_test(strong_l2_keeps_the_prior),
        cmocka_unit_test(swap_rule_apgr_then_loss),
        cmocka_unit_test(request_features_score_like_the_request),
        cmocka_unit_test(store_keeps_labels_versions_and_the_active_one),
        cmocka_unit_test(postgres_is_refused_with_a_reason),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fg_router_thread_cleanup();
    fg_json_thread_cleanup();
    return rc;
}
