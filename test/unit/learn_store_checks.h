/* learn_store_checks.h — the label/version store's checks, shared by the
 * SQLite (test_route_fit.c) and Postgres (test_learn_store_pg.c) suites. */
#ifndef LEARN_STORE_CHECKS_H
#define LEARN_STORE_CHECKS_H

#include "learn_store.h"
#include "router.h"

#define CHECK_NB 1024

struct owned {
    struct fg_route_feats x;
    uint32_t b[256];
    float v[256];
};

static void feats_of(const char *text, struct owned *o)
{
    struct fg_route_feats x;
    fg_router_features(CHECK_NB, text, strlen(text), NULL, &x);
    assert_true(x.n <= 256);
    memcpy(o->b, x.bucket, x.n * sizeof *o->b);
    memcpy(o->v, x.value, x.n * sizeof *o->v);
    o->x = x;
    o->x.bucket = o->b;
    o->x.value = o->v;
}

static const char *const TEXTS[2] = {"tell me about the zebra please",
                                     "tell me about the lemon please"};

/* The same checks on either backend (test_route_fit: SQLite,
 * test_learn_store_pg: Postgres). */
static void store_checks(const char *dsn)
{
    char err[256];
    struct fg_learn_store *s;
    if (fg_learn_store_open(dsn, &s, err, sizeof err) < 0)
        fail_msg("open: %s", err);
    struct owned o[2];
    feats_of(TEXTS[0], &o[0]);
    feats_of(TEXTS[1], &o[1]);
    assert_int_equal(fg_learn_store_add_label(s, "auto", "c1", 1, 0, CHECK_NB, &o[0].x, NULL), 0);
    assert_int_equal(fg_learn_store_add_label(s, "auto", "c2", 2, 1, CHECK_NB, &o[1].x, "the text"), 0);
    assert_int_equal(fg_learn_store_add_label(s, "other", "c3", 3, 1, CHECK_NB, &o[1].x, NULL), 0);
    assert_int_equal(fg_learn_store_new_labels(s, "auto"), 2);
    assert_int_equal(fg_learn_store_label_count(s, "auto"), 2);
    assert_int_equal(fg_learn_store_label_count(s, "nobody"), 0);
    /* learning spend: per route and day, the running total back */
    assert_int_equal(fg_learn_store_add_spend(s, "auto", 20000, 5), 5);
    assert_int_equal(fg_learn_store_add_spend(s, "auto", 20000, 7), 12);
    assert_int_equal(fg_learn_store_add_spend(s, "auto", 20001, 0), 0);
    assert_int_equal(fg_learn_store_add_spend(s, "other", 20000, 1), 1);
    struct fg_learn_labels L;
    assert_int_equal(fg_learn_store_labels(s, "auto", CHECK_NB, &L), 0);
    assert_int_equal(L.n, 2);
    assert_int_equal(L.label[0], 0);
    assert_int_equal(L.label[1], 1);
    assert_int_equal(L.x[1].n, o[1].x.n);
    assert_memory_equal(L.x[1].bucket, o[1].b, o[1].x.n * sizeof *o[1].b);
    assert_memory_equal(L.x[1].dense, o[1].x.dense, sizeof o[1].x.dense);
    int64_t last = L.last_id;
    fg_learn_store_labels_free(&L);
    /* another bucket width reads nothing (a vector is never misread) */
    assert_int_equal(fg_learn_store_labels(s, "auto", CHECK_NB * 2, &L), 0);
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
    struct fg_router *r = fg_router_new(CHECK_NB);
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
}


static void count_version(void *arg, const struct fg_learn_version *v, bool active)
{
    int *n = arg;
    (*n)++;
    assert_int_equal(v->version, *n);
    assert_int_equal(v->accepted, *n > 1);
    assert_false(active); /* version 0 (built-in) was made active last */
}

/* A second open: the schema is kept (migrations not applied twice), and
 * so is everything store_checks wrote. */
static void store_checks_again(const char *dsn)
{
    char err[256];
    struct fg_learn_store *s;
    if (fg_learn_store_open(dsn, &s, err, sizeof err) < 0)
        fail_msg("open again: %s", err);
    int n = 0;
    assert_int_equal(fg_learn_store_history(s, "auto", count_version, &n), 0);
    assert_int_equal(n, 3);
    /* another handle (another replica) adds to the same day's total */
    assert_int_equal(fg_learn_store_add_spend(s, "auto", 20000, 3), 15);
    struct fg_learn_labels L;
    assert_int_equal(fg_learn_store_labels(s, "auto", CHECK_NB, &L), 0);
    assert_int_equal(L.n, 2);
    fg_learn_store_labels_free(&L);
    fg_learn_store_close(s);
}

#endif
