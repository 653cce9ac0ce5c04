/* defer_store_cases.h — helpers for the deferred provider batches' store
 * ops (batch_store.h fg_batch_store_defer_*), shared by test_batch_store.c
 * (SQLite) and test_batch_store_pg.c (Postgres): collectors for the jobs
 * and lines a store reads back, and a job and its lines to write. */
#ifndef DEFER_STORE_CASES_H
#define DEFER_STORE_CASES_H

struct djobs_seen {
    int n;
    char remote[8][128];
    struct fg_djob last;
};

static int djob_cb(void *arg, const struct fg_djob *j)
{
    struct djobs_seen *x = arg;
    if (x->n < 8)
        snprintf(x->remote[x->n], sizeof x->remote[0], "%s", j->remote_id);
    x->n++;
    x->last = *j;
    return 0;
}

struct dlines_seen {
    int n;
    int64_t idx[8], hold[8];
    char call[8][40], key[8][48], tags[8][48], model[8][128], hash[8][24];
};

static int dline_cb(void *arg, const struct fg_dline *l)
{
    struct dlines_seen *x = arg;
    if (x->n < 8) {
        x->idx[x->n] = l->idx;
        x->hold[x->n] = l->hold_pico;
        snprintf(x->call[x->n], sizeof x->call[0], "%s", l->call_id);
        snprintf(x->key[x->n], sizeof x->key[0], "%s", l->key_id ? l->key_id : "");
        snprintf(x->tags[x->n], sizeof x->tags[0], "%s", l->tags ? l->tags : "");
        snprintf(x->model[x->n], sizeof x->model[0], "%s", l->model);
        snprintf(x->hash[x->n], sizeof x->hash[0], "%s", l->body_hash);
    }
    x->n++;
    return 0;
}

static void new_djob(struct fg_djob *j, const char *remote)
{
    memset(j, 0, sizeof *j);
    snprintf(j->remote_id, sizeof j->remote_id, "%s", remote);
    snprintf(j->provider, sizeof j->provider, "sim");
    snprintf(j->dialect, sizeof j->dialect, "openai");
    snprintf(j->model, sizeof j->model, "gpt-4o-mini");
}

static void new_dlines(struct fg_dline *l, int n, int64_t hold_until)
{
    for (int i = 0; i < n; i++) {
        memset(&l[i], 0, sizeof l[i]);
        l[i].idx = i;
        snprintf(l[i].call_id, sizeof l[i].call_id, "frg_call%d", i);
        snprintf(l[i].model, sizeof l[i].model, "gpt-4o-mini");
        snprintf(l[i].body_hash, sizeof l[i].body_hash, "00000000000000a%d", i);
        l[i].key_id = "key_d";
        l[i].tags = "team=d";
        l[i].model_req = "gpt-4o-mini";
        l[i].ts_ms = 1000 + i;
        l[i].hold_pico = 100 * (i + 1);
        l[i].hold_at = 5000;
        l[i].hold_until = hold_until;
    }
}

#endif
