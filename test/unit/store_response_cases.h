/* store_response_cases.h — the responses store ops every ledger store
 * must pass alike (store.h: response_get, response_chain, response_prune
 * and the forget record), included by test_ledger.c (SQLite) and
 * test_store_pg.c (Postgres).  check_response_ops(st, ts) runs them on an
 * empty store, its records stamped ts (Postgres needs a month it has a
 * partition for); the caller opens and closes the store. */
#ifndef STORE_RESPONSE_CASES_H
#define STORE_RESPONSE_CASES_H

static struct fg_record *response_record(const char *id, const char *prev, const char *data,
                                         int64_t expires_ms, int64_t ts)
{
    struct fg_record *r = fg_ledger_record_new(512);
    snprintf(r->id, sizeof r->id, "frg_%s", id);
    r->ts_ms = ts;
    r->key_id = fg_ledger_record_str(r, "key_owner");
    r->provider = fg_ledger_record_str(r, "acct-1");
    r->endpoint = "responses";
    r->response_id = fg_ledger_record_str(r, id);
    r->upstream_response_id = fg_ledger_record_str(r, "resp_up_1");
    r->prev_response_id = fg_ledger_record_str(r, prev);
    r->response_data = fg_ledger_record_str(r, data);
    r->response_expires_ms = expires_ms;
    return r;
}

static int count_response_calls(void *arg, const struct fg_record *r)
{
    (void)r;
    ++*(int *)arg;
    return 0;
}

struct chain_got {
    int n;
    char ids[4][16];
};

static int chain_cb(void *arg, const char *id, const struct fg_store_response *r)
{
    struct chain_got *g = arg;
    assert_string_equal(r->key_id, "key_owner");
    if (g->n < 4)
        snprintf(g->ids[g->n], sizeof g->ids[0], "%s", id);
    g->n++;
    return 0;
}

/* The whole row round-trips, an expired row is invisible before it is
 * pruned, prune deletes what expired at now (not what has no expiry), a
 * forget record deletes the row and is no call; the conversation in one
 * query (response_chain), newest first. */
static void check_response_ops(struct fg_store *st, int64_t ts)
{
    char err[300];
    struct fg_record *recs[3] = {
        response_record("resp_a", NULL, "{\"input\":\"hi\",\"response\":{}}", 5000, ts),
        response_record("resp_b", "resp_a", NULL, 0, ts),
        response_record("resp_c", NULL, "{}", 2000, ts),
    };
    assert_int_equal(st->ops->write(st, recs, 3, err, sizeof err), 0);
    struct fg_store_response r;
    assert_non_null(st->ops->response_get);
    assert_non_null(st->ops->response_prune);
    assert_int_equal(st->ops->response_get(st, "resp_a", 4999, &r, err, sizeof err), 1);
    assert_string_equal(r.key_id, "key_owner");
    assert_string_equal(r.provider, "acct-1");
    assert_string_equal(r.upstream_id, "resp_up_1");
    assert_null(r.prev_id);
    assert_string_equal(r.data, "{\"input\":\"hi\",\"response\":{}}");
    assert_int_equal(r.expires_ms, 5000);
    assert_int_equal(r.ts_ms, ts);
    fg_store_response_free(&r);
    assert_int_equal(st->ops->response_get(st, "resp_a", 5000, &r, err, sizeof err), 0);
    assert_int_equal(st->ops->response_get(st, "resp_b", INT64_MAX, &r, err, sizeof err), 1);
    assert_string_equal(r.prev_id, "resp_a");
    assert_null(r.data);
    fg_store_response_free(&r);
    assert_int_equal(st->ops->response_get(st, "resp_zzz", 0, &r, err, sizeof err), 0);
    /* the whole conversation in one query, newest first, stopping at an
     * expired or missing response, and at max rows */
    struct chain_got g = {0};
    assert_int_equal(st->ops->response_chain(st, "resp_b", 0, 1000, chain_cb, &g, err, sizeof err),
                     2);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.ids[0], "resp_b");
    assert_string_equal(g.ids[1], "resp_a");
    memset(&g, 0, sizeof g);
    assert_int_equal(
        st->ops->response_chain(st, "resp_b", 5000, 1000, chain_cb, &g, err, sizeof err), 1);
    memset(&g, 0, sizeof g);
    assert_int_equal(st->ops->response_chain(st, "resp_b", 0, 1, chain_cb, &g, err, sizeof err), 1);
    memset(&g, 0, sizeof g);
    assert_int_equal(
        st->ops->response_chain(st, "resp_zzz", 0, 1000, chain_cb, &g, err, sizeof err), 0);
    assert_int_equal(st->ops->response_prune(st, 2000, err, sizeof err), 1);
    assert_int_equal(st->ops->response_get(st, "resp_c", 0, &r, err, sizeof err), 0);
    assert_int_equal(st->ops->response_get(st, "resp_a", 0, &r, err, sizeof err), 1);
    fg_store_response_free(&r);
    assert_int_equal(st->ops->response_prune(st, 10000, err, sizeof err), 1);
    assert_int_equal(st->ops->response_get(st, "resp_b", 0, &r, err, sizeof err), 1);
    fg_store_response_free(&r);
    struct fg_record *forget = fg_ledger_record_new(16);
    forget->response_forget = true;
    forget->response_id = fg_ledger_record_str(forget, "resp_b");
    assert_int_equal(st->ops->write(st, &forget, 1, err, sizeof err), 0);
    assert_int_equal(st->ops->response_get(st, "resp_b", 0, &r, err, sizeof err), 0);
    int calls = 0;
    assert_int_equal(st->ops->scan(st, 0, INT64_MAX, count_response_calls, &calls, err, sizeof err), 0);
    assert_int_equal(calls, 3);
    for (int i = 0; i < 3; i++)
        fg_ledger_record_free(recs[i]);
    fg_ledger_record_free(forget);
}

#endif
