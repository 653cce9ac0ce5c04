/* batch_exec.c — see batch_exec.h.
 *
 * One thread, one loop: every tick (or when woken) it walks the batches
 * that are not final and moves each one forward by what the store says:
 *   pending lines   → plan them through the pipeline, in-process on the
 *                     workers (batch_client.h; bounded parallel lines);
 *   planned, local  → run them the same way, commit result + records;
 *   planned, remote → once nothing is pending, one provider job per
 *                     provider/dialect/upstream model;
 *   jobs            → poll when due; results → lines done;
 *   nothing left    → finalize (OpenAI output/error files), final status.
 * Cancelling and expired batches cancel their jobs, keep what arrived and
 * end the rest.  Blocking calls are fine here: this thread serves nobody
 * else, and every call has a timeout and checks the stop flag. */
#include "batch_exec.h"

#include "alog.h"

#include "assert.h"
#include "attrib.h"
#include "batch_budget.h"
#include "batch_client.h"
#include "batch_format.h"
#include "batch_lease.h"
#include "batch_mailbox.h"
#include "batch_remote.h"
#include "batch_store.h"
#include "json.h"
#include "keyreg.h"
#include "arena.h"
#include "log.h"
#include "pgdb.h"
#include "metrics.h"
#include "prefix.h"
#include "price.h"
#include "provider.h"
#include "redact.h"
#include "runtime.h"
#include "structured.h"
#include "translate.h"
#include "usage.h"
#include "vec.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define TICK_MS 200
#define PLAN_CONCURRENCY 16
#define PLAN_PER_TICK 2000
#define LOCAL_TICK_BUDGET_MS 2000
#define MAILBOX_WAIT_MS 5000

static struct {
    struct fg_app *app;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken;
    struct fg_batch_store *s; /* NULL while a shared store cannot be reached */
    char *dsn;
    bool open_failed;     /* logged once per outage */
    bool calls_elsewhere; /* the ledger is not the batch store's database */
    char me[40];          /* this replica, in batch leases (fg_batch_store_claim) */
} g_batch_exec = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static struct {
    atomic_ullong lines[4], jobs_submitted, job_submit_errors, polls, poll_errors, active;
} g_batch_exec_stats;

void fg_batch_exec_stats(struct fg_batch_stats *o)
{
    for (int i = 0; i < 4; i++)
        o->lines[i] = atomic_load(&g_batch_exec_stats.lines[i]);
    o->jobs_submitted = atomic_load(&g_batch_exec_stats.jobs_submitted);
    o->job_submit_errors = atomic_load(&g_batch_exec_stats.job_submit_errors);
    o->polls = atomic_load(&g_batch_exec_stats.polls);
    o->poll_errors = atomic_load(&g_batch_exec_stats.poll_errors);
    o->batches_active = atomic_load(&g_batch_exec_stats.active);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void fg_batch_exec_wake(void)
{
    pthread_mutex_lock(&g_batch_exec.mu);
    g_batch_exec.woken = true;
    pthread_cond_signal(&g_batch_exec.cv);
    pthread_mutex_unlock(&g_batch_exec.mu);
}

/* ---- lines through the pipeline (in-process, batch_client.h) -------------- */

struct lb {
    int64_t idx;
    const char *body;
    size_t len;
    char line_key[96];
    /* out */
    char *resp;
    size_t resp_len;
    long status; /* 0: not answered (stopping): the line is tried again */
    char request_id[48];
};

static bool is_responses(const struct fg_batch *b)
{
    return !strcmp(b->endpoint, "/v1/responses");
}

/* The adapter of a batch's lines in wire dialect `dialect` (a name in
 * the batch's records): a Responses batch's lines keep their shape. */
static const struct fg_dialect_ops *line_ops(const struct fg_batch *b, const char *dialect)
{
    const struct fg_dialect_ops *in = is_responses(b) ? &fg_provider_responses : NULL;
    return fg_provider_for(in, fg_provider_named(dialect)->dialect, true);
}

static void lb_free(struct lb *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].resp);
}

/* Run n lines through the pipeline on the workers (plan: planned only),
 * at most conc at once, starts paced at rps (0 = unpaced).  Lines cut by
 * stop keep status 0. */
static void lb_run(struct lb *v, size_t n, const struct fg_batch *b, bool plan, int conc, int rps)
{
    struct fg_batch_client *bc = fg_batch_client_new(g_batch_exec.app, b, plan);
    size_t next = 0, finished = 0;
    int running = 0;
    int64_t next_start = now_ms();
    while (finished < n && !atomic_load(&g_batch_exec.stop)) {
        while (next < n && running < conc && (rps <= 0 || now_ms() >= next_start)) {
            fg_batch_client_start(bc, v[next].line_key, v[next].body, v[next].len, &v[next]);
            next++;
            running++;
            if (rps > 0)
                next_start += 1000 / rps > 0 ? 1000 / rps : 1;
        }
        struct fg_batch_client_result r;
        if (!fg_batch_client_wait(bc, 50, &r))
            continue;
        struct lb *l = r.tag;
        l->status = r.status;
        l->resp = r.body;
        l->resp_len = r.len;
        memcpy(l->request_id, r.request_id, sizeof l->request_id);
        running--;
        finished++;
    }
    fg_batch_client_free(bc); /* lines still running are abandoned */
}

/* ---- committing line results ----------------------------------------------- */

struct commit {
    struct fg_bline_done *d;
    char **texts; /* owned result texts */
    struct fg_record **recs;
    size_t n, cap, nrecs, rcap;
};

static void commit_add(struct commit *c, const struct fg_bline_done *d, char *owned_text)
{
    /* the outcome indexes g_batch_exec_stats.lines when the commit is flushed */
    FG_ASSERT(d->outcome >= FG_LINE_SUCCEEDED && d->outcome <= FG_LINE_EXPIRED);
    if (c->n == c->cap) {
        c->cap = fg_vec_next_cap(c->cap, c->n + 1);
        FG_VEC_RESIZE(c->d, c->cap);
        FG_VEC_RESIZE(c->texts, c->cap);
    }
    c->d[c->n] = *d;
    c->texts[c->n] = owned_text;
    c->n++;
}

static void commit_rec(struct commit *c, struct fg_record *r)
{
    FG_VEC_PUSH(c->recs, c->nrecs, c->rcap, r);
}

static int commit_flush(struct commit *c, const char *batch_id)
{
    int rc = 0;
    if (c->n || c->nrecs)
        rc = fg_batch_store_lines_done(g_batch_exec.s, batch_id, c->d, c->n, c->recs, c->nrecs);
    if (rc < 0)
        fg_error("batch %s: storing results: %s", batch_id, fg_batch_store_errmsg(g_batch_exec.s));
    for (size_t i = 0; rc == 0 && i < c->n; i++)
        atomic_fetch_add(&g_batch_exec_stats.lines[c->d[i].outcome], 1);
    for (size_t i = 0; i < c->n; i++)
        free(c->texts[i]);
    for (size_t i = 0; i < c->nrecs; i++) {
        if (rc < 0 || g_batch_exec.calls_elsewhere) {
            fg_ledger_submit(c->recs[i]); /* the money is recorded anyway */
        } else {
            fg_alog_record(c->recs[i]); /* committed with the line: its access log line */
            fg_ledger_record_free(c->recs[i]);
        }
    }
    free(c->d);
    free(c->texts);
    free(c->recs);
    memset(c, 0, sizeof *c);
    return rc;
}

/* An error body of our own in the batch's dialect. */
static char *error_text(const struct fg_batch *b, int status, const char *type, const char *msg)
{
    json_t *v = !strcmp(b->dialect, "anthropic")
                    ? json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", type,
                                "message", msg)
                    : json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", msg, "type", type,
                                "param", "code");
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    (void)status;
    return s;
}

/* ---- planning -------------------------------------------------------------- */

struct linevec {
    struct fg_bline *v;
    size_t n, cap;
};

static int collect(void *arg, struct fg_bline *l)
{
    struct linevec *lv = arg;
    FG_VEC_PUSH(lv->v, lv->n, lv->cap, *l);
    memset(l, 0, sizeof *l); /* ownership moved */
    return 0;
}

static void linevec_free(struct linevec *lv)
{
    for (size_t i = 0; i < lv->n; i++)
        fg_batch_store_line_clear(&lv->v[i]);
    free(lv->v);
    memset(lv, 0, sizeof *lv);
}

static const char *json_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* A rate limit (429 other than a spent budget) waits for a later tick;
 * every other refusal is the line's answer. */
static bool retry_later(const struct lb *l)
{
    return l->status == 429 && !(l->resp && strstr(l->resp, "budget_exceeded"));
}

/* One pipeline call per line (bodies borrowed from lv). */
static struct lb *lb_for_lines(const struct fg_batch *b, const struct linevec *lv)
{
    struct lb *calls = calloc(lv->n, sizeof *calls);
    for (size_t i = 0; calls && i < lv->n; i++) {
        calls[i].idx = lv->v[i].idx;
        calls[i].body = lv->v[i].body;
        calls[i].len = lv->v[i].body_len;
        snprintf(calls[i].line_key, sizeof calls[i].line_key, "%s/%lld", b->id,
                 (long long)lv->v[i].idx);
    }
    return calls;
}

/* Pending lines → planned (or errored when the pipeline refuses them). */
static void plan_pending(const struct fg_batch *b)
{
    struct linevec lv = {0};
    if (fg_batch_store_lines(g_batch_exec.s, b->id, "pending", 0, PLAN_PER_TICK, collect, &lv) <
            0 ||
        !lv.n) {
        linevec_free(&lv);
        return;
    }
    struct lb *calls = lb_for_lines(b, &lv);
    lb_run(calls, lv.n, b, true, PLAN_CONCURRENCY, 0);
    struct commit c = {0};
    for (size_t i = 0; i < lv.n; i++) {
        struct lb *l = &calls[i];
        if (l->status == 200) {
            json_t *plan = l->resp ? json_loadb(l->resp, l->resp_len, 0, NULL) : NULL;
            if (plan && fg_batch_store_line_plan(g_batch_exec.s, b->id, l->idx,
                                                 json_str(plan, "model"), l->resp) < 0)
                fg_error("batch %s: %s", b->id, fg_batch_store_errmsg(g_batch_exec.s));
            json_decref(plan);
        } else if (l->status >= 400 && l->status < 500 && !retry_later(l)) {
            /* the pipeline refused the request: that's the line's answer */
            struct fg_bline_done d = {.idx = l->idx,
                                      .outcome = FG_LINE_ERRORED,
                                      .status_code = (int)l->status,
                                      .request_id = l->request_id};
            char *t = l->resp ? strdup(l->resp) : NULL;
            d.result = t;
            commit_add(&c, &d, t);
        }
        /* 429/5xx/not answered: stays pending, planned again next tick */
    }
    commit_flush(&c, b->id);
    lb_free(calls, lv.n);
    free(calls);
    linevec_free(&lv);
}

/* ---- local mode -------------------------------------------------------------- */

static void take_records(struct commit *c, const char *line_key, int wait_ms)
{
    struct fg_record *recs[16];
    size_t k = fg_batch_mailbox_take(line_key, recs, 16, wait_ms);
    for (size_t i = 0; i < k; i++)
        commit_rec(c, recs[i]);
}

/* d: the adapter of the body's dialect. */
static void usage_of(const char *body, size_t len, const struct fg_dialect_ops *d,
                     struct fg_usage *u)
{
    struct fg_json j = {0};
    memset(u, 0, sizeof *u);
    if (body && fg_json_parse(&j, body, len) == 0)
        d->usage(&j, fg_provider_usage_at(d, &j, 0), u);
    fg_json_free(&j);
}

/* A provider batch's result is billed on its usage only when that is
 * plausible (usage.h): else on an estimate — the line's prompt from its
 * canonical size, the output from the answer's size — returned as the
 * note the record carries (malloc'd), with a warning.  NULL: as reported. */
static char *vet_remote_usage(const struct fg_batch *b, const struct fg_bline *l, json_t *plan,
                              const char *resp, size_t resp_len, const struct fg_dialect_ops *up,
                              struct fg_usage *u)
{
    const struct fg_model_cfg *m = fg_config_model(g_batch_exec.app->cfg, json_str(plan, "model"));
    const struct fg_builtin_price *bp = m ? fg_price_lookup(m->model) : NULL;
    json_t *body = json_loadb(l->body, l->body_len, 0, NULL);
    json_int_t asked = json_integer_value(json_object_get(body, "max_completion_tokens"));
    if (asked <= 0)
        asked = json_integer_value(json_object_get(body, "max_tokens"));
    if (asked <= 0)
        asked = json_integer_value(json_object_get(body, "max_output_tokens")); /* Responses */
    json_int_t n = json_integer_value(json_object_get(body, "n"));
    json_decref(body);
    int64_t max_out = asked > 0 && asked <= FG_USAGE_MAX ? asked
                      : m && m->max_output_tokens > 0    ? m->max_output_tokens
                      : bp && bp->max_output_tokens > 0  ? bp->max_output_tokens
                                                         : 0;
    if (n > 1 && n <= 1024)
        max_out *= n;
    int64_t max_in = bp && bp->max_input_tokens > 0 ? 8 * (int64_t)bp->max_input_tokens : 0;
    char why[200];
    if (!fg_usage_problem(u, max_in, 2 * max_out, why, sizeof why))
        return NULL;
    enum fg_dialect cd = line_ops(b, b->dialect)->shape;
    struct fg_json j = {0};
    struct fg_prefix p = {0};
    int64_t in = 0, out = 1;
    if (fg_json_parse(&j, l->body, l->body_len) == 0) {
        fg_prefix_scan(&j, cd, &p);
        in = p.total_tokens;
    }
    if (resp && fg_json_parse(&j, resp, resp_len) == 0)
        out = fg_usage_answer_tokens(&j, up->shape);
    fg_json_free(&j);
    fg_warn("batch %s line %lld: %s; tokens estimated", b->id, (long long)l->idx, why);
    fg_usage_estimate(u, in, out);
    size_t need = strlen(why) + 32;
    char *note = fg_xmalloc(need);
    snprintf(note, need, "%s; tokens estimated", why);
    return note;
}

static void fill_tokens(struct fg_bline_done *d, const struct fg_usage *u)
{
    if (u->bad)
        return; /* not counts (usage.h): the line's record has the estimate */
    d->in_tokens = u->tok.input + u->tok.cache_read + u->tok.cache_write_5m + u->tok.cache_write_1h;
    d->cached_tokens = u->tok.cache_read;
    d->out_tokens = u->tok.output;
    d->reasoning_tokens = u->reasoning;
}

static void run_local(const struct fg_batch *b, int64_t deadline_ms)
{
    const struct fg_config *cfg = g_batch_exec.app->cfg;
    int conc = cfg->batches.local_concurrency;
    const struct fg_dialect_ops *bd = line_ops(b, b->dialect);
    int64_t from = 0;
    while (!atomic_load(&g_batch_exec.stop) && now_ms() < deadline_ms) {
        struct linevec lv = {0};
        /* several replicas may run this batch's lines: each its claimed ones */
        if (fg_batch_store_lines_claim(g_batch_exec.s, b->id, g_batch_exec.me, from, conc * 4,
                                       cfg->batches.lease_ms, collect, &lv) < 0 ||
            !lv.n) {
            linevec_free(&lv);
            return;
        }
        from = lv.v[lv.n - 1].idx + 1;
        struct lb *calls = lb_for_lines(b, &lv);
        lb_run(calls, lv.n, b, false, conc, cfg->batches.local_rps);
        struct commit c = {0};
        for (size_t i = 0; i < lv.n; i++) {
            struct lb *l = &calls[i];
            if (l->status == 0 || retry_later(l))
                continue; /* not answered (stopping) or rate limit: run again */
            struct fg_usage u;
            usage_of(l->resp, l->resp_len, bd, &u);
            struct fg_bline_done d = {.idx = l->idx,
                                      .status_code = (int)l->status,
                                      .request_id = l->request_id,
                                      .outcome = l->status >= 200 && l->status < 300
                                                     ? FG_LINE_SUCCEEDED
                                                     : FG_LINE_ERRORED};
            fill_tokens(&d, &u);
            size_t before = c.nrecs;
            take_records(&c, l->line_key, MAILBOX_WAIT_MS);
            for (size_t k = before; k < c.nrecs; k++)
                d.cost_pico += c.recs[k]->cost_pico;
            d.rec_first = before; /* not recorded if another run stored the line first */
            d.nrec = c.nrecs - before;
            char *t = l->resp ? strdup(l->resp) : NULL;
            d.result = t;
            commit_add(&c, &d, t);
        }
        commit_flush(&c, b->id);
        lb_free(calls, lv.n);
        free(calls);
        linevec_free(&lv);
    }
}

/* ---- provider mode ------------------------------------------------------------ */

static int provider_index(const char *name)
{
    const struct fg_config *cfg = g_batch_exec.app->cfg;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (!strcmp(cfg->providers[i].name, name))
            return (int)i;
    return -1;
}

static bool remote_for(const struct fg_batch *b, const char *provider, const char *dialect,
                       struct fg_remote *r)
{
    r->endpoint = b->endpoint; /* every line of a batch has the batch's endpoint */
    int pi = provider_index(provider);
    if (pi < 0)
        return false;
    const struct fg_provider_cfg *p = &g_batch_exec.app->cfg->providers[pi];
    r->provider = p;
    r->dialect = fg_provider_named(dialect)->dialect;
    r->openai_base = g_batch_exec.app->prov[pi].openai_base;
    r->anthropic_base = g_batch_exec.app->prov[pi].anthropic_base;
    r->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : 600000;
    r->abort = &g_batch_exec.stop;
    return true;
}

struct group {
    char key[320];
    char provider[64], dialect[12], model[128];
    struct fg_batch_remote_req *reqs;
    char **bodies;
    int64_t *idx;
    size_t n, cap;
};

static void group_add(struct group *g, int64_t idx, json_t *body)
{
    if (g->n == g->cap) {
        g->cap = fg_vec_next_cap(g->cap, g->n + 1);
        FG_VEC_RESIZE(g->reqs, g->cap);
        FG_VEC_RESIZE(g->bodies, g->cap);
        FG_VEC_RESIZE(g->idx, g->cap);
    }
    char *s = json_dumps(body, JSON_COMPACT);
    g->bodies[g->n] = s;
    g->idx[g->n] = idx;
    g->reqs[g->n] = (struct fg_batch_remote_req){idx, s ? s : "{}", s ? strlen(s) : 2};
    g->n++;
}

static void group_free(struct group *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->bodies[i]);
    free(g->bodies);
    free(g->reqs);
    free(g->idx);
}

#define MAX_GROUPS 32

static void submit_group(const struct fg_batch *b, struct group *g)
{
    struct fg_remote r;
    if (!remote_for(b, g->provider, g->dialect, &r)) {
        fg_error("batch %s: provider '%s' is no longer configured", b->id, g->provider);
        return;
    }
    struct fg_bjob j = {0};
    fg_batch_store_new_id("bjob_", j.id, sizeof j.id);
    snprintf(j.batch_id, sizeof j.batch_id, "%s", b->id);
    snprintf(j.provider, sizeof j.provider, "%s", g->provider);
    snprintf(j.dialect, sizeof j.dialect, "%s", g->dialect);
    snprintf(j.model, sizeof j.model, "%s", g->model);
    snprintf(j.state, sizeof j.state, "creating");
    j.created_at = now_s();
    /* the job row and its lines first: a crash after the provider accepted
     * the batch leaves a 'creating' job whose lines are released and sent
     * again (the provider's copy is orphaned, never recorded twice) */
    if (fg_batch_store_job_create(g_batch_exec.s, &j, g->idx, g->n) < 0) {
        fg_error("batch %s: %s", b->id, fg_batch_store_errmsg(g_batch_exec.s));
        return;
    }
    char err[300];
    if (fg_batch_remote_submit(&r, j.id, g->reqs, g->n, j.remote_id, sizeof j.remote_id,
                               j.remote_file_id, sizeof j.remote_file_id, err, sizeof err) < 0) {
        fg_warn("batch %s: submitting %zu requests to %s failed (retrying): %s", b->id, g->n,
                g->provider, err);
        atomic_fetch_add(&g_batch_exec_stats.job_submit_errors, 1);
        fg_batch_store_job_release(g_batch_exec.s, j.id);
        return;
    }
    atomic_fetch_add(&g_batch_exec_stats.jobs_submitted, 1);
    snprintf(j.state, sizeof j.state, "submitted");
    j.next_poll_at = now_ms() + g_batch_exec.app->cfg->batches.poll_ms;
    fg_batch_store_job_update(g_batch_exec.s, &j);
    fg_info("batch %s: %zu requests submitted to %s as %s", b->id, g->n, g->provider, j.remote_id);
}

/* The group of plan p's provider/dialect/upstream model (made when new),
 * or -1 when there are MAX_GROUPS already (the line waits for a later pass). */
static int group_of(struct group *groups, size_t *ng, json_t *p)
{
    char key[320];
    snprintf(key, sizeof key, "%s|%s|%s", json_str(p, "provider"), json_str(p, "dialect"),
             json_str(p, "upstream_model"));
    size_t gi = 0;
    while (gi < *ng && strcmp(groups[gi].key, key))
        gi++;
    if (gi == *ng) {
        if (*ng == MAX_GROUPS)
            return -1;
        memset(&groups[gi], 0, sizeof groups[gi]);
        snprintf(groups[gi].key, sizeof groups[gi].key, "%s", key);
        snprintf(groups[gi].provider, sizeof groups[gi].provider, "%s", json_str(p, "provider"));
        snprintf(groups[gi].dialect, sizeof groups[gi].dialect, "%s", json_str(p, "dialect"));
        snprintf(groups[gi].model, sizeof groups[gi].model, "%s", json_str(p, "model"));
        (*ng)++;
    }
    return (int)gi;
}

static struct fg_record *remote_record(const struct fg_batch *b, const struct fg_bline *l,
                                       json_t *plan, const struct fg_usage *u, int status,
                                       const char *error);

/* Lines reserved in one pass, recorded in the store before any is sent. */
struct holds {
    int64_t *idx, *amount;
    size_t n, cap;
};

static void holds_add(struct holds *h, int64_t idx, int64_t amount)
{
    if (h->n == h->cap) {
        h->cap = fg_vec_next_cap(h->cap, h->n + 1);
        FG_VEC_RESIZE(h->idx, h->cap);
        FG_VEC_RESIZE(h->amount, h->cap);
    }
    FG_ASSERT(amount >= 0); /* a reservation never gives budget back */
    h->idx[h->n] = idx;
    h->amount[h->n++] = amount;
}

/* A line that cannot be held to its budgets ends with that error (in the
 * batch's dialect) and a ledger record, like a refused call. */
static void refuse(const struct fg_batch *b, const struct fg_bline *l, json_t *plan,
                   const struct fg_err *e, struct commit *c)
{
    struct fg_usage u;
    memset(&u, 0, sizeof u);
    commit_rec(c, remote_record(b, l, plan, &u, e->status, e->msg));
    struct evbuffer *eb = evbuffer_new();
    line_ops(b, b->dialect)->error_body(e, eb);
    size_t n = evbuffer_get_length(eb);
    char *t = fg_xmalloc(n + 1);
    evbuffer_remove(eb, t, n);
    t[n] = '\0';
    evbuffer_free(eb);
    struct fg_bline_done d = {
        .idx = l->idx, .outcome = FG_LINE_ERRORED, .status_code = e->status, .result = t};
    commit_add(c, &d, t);
}

/* One pass over the planned provider-mode lines (see submit_planned). */
struct pass {
    const struct fg_batch *b;
    struct fg_batch_budget bb;
    bool may_reserve;
    bool outstanding; /* a line of this batch holds budget */
    bool waiting;     /* a line waits for those holds to settle */
};

/* 0: line l joins its group (reserved now: in *h); 1: not this pass. */
static int admit_line(struct pass *ps, const struct fg_bline *l, json_t *p, int64_t at,
                      struct holds *h, struct commit *c)
{
    if (l->hold_at > 0 || ps->bb.n == 0) {
        ps->outstanding |= l->hold_pico > 0;
        return 0; /* reserved before (a job that never reached the provider), or no budget */
    }
    if (!ps->may_reserve || ps->waiting)
        return 1; /* in input order: after the first line that waits, all wait */
    json_t *w = json_object_get(p, "worst_pico");
    struct fg_err e;
    memset(&e, 0, sizeof e);
    bool hopeless = true;
    if (!json_is_integer(w)) {
        fg_err_set(&e, FG_E_PERMISSION, "model", "model_unpriced",
                   "The model '%.100s' has no known price, so frugal cannot hold this request "
                   "to the budget of %.200s; give the model a price: in the config.",
                   json_str(p, "model"), ps->bb.whose[0]);
    } else if (fg_batch_budget_reserve(&ps->bb, json_integer_value(w), at, &e, &hopeless) == 0) {
        holds_add(h, l->idx, json_integer_value(w));
        ps->outstanding = true;
        return 0;
    }
    if (!hopeless && ps->outstanding) {
        ps->waiting = true; /* room comes back as this batch's lines settle */
        return 1;
    }
    refuse(ps->b, l, p, &e, c);
    return 1;
}

/* One chunk of planned lines into groups.  -1 when the chunk's new holds
 * could not be recorded (they are released; nothing is submitted). */
static int group_chunk(struct pass *ps, struct linevec *lv, struct group *groups, size_t *ng)
{
    struct holds h = {0};
    struct commit c = {0};
    int64_t at = now_ms();
    json_t **joins = fg_xcalloc(lv->n, sizeof *joins); /* plans of the lines that join */
    int *gidx = fg_xcalloc(lv->n, sizeof *gidx);
    for (size_t i = 0; i < lv->n; i++) {
        json_t *p = lv->v[i].plan ? json_loads(lv->v[i].plan, 0, NULL) : NULL;
        if (p && strcmp(json_str(p, "batch"), "local")) {
            int gi = group_of(groups, ng, p);
            if (gi >= 0 && admit_line(ps, &lv->v[i], p, at, &h, &c) == 0) {
                joins[i] = p;
                gidx[i] = gi;
                continue;
            }
        }
        json_decref(p);
    }
    int rc = 0;
    if (h.n && fg_batch_store_lines_hold(g_batch_exec.s, ps->b->id, h.idx, h.amount, h.n, at) < 0) {
        fg_error("batch %s: recording budget reservations: %s", ps->b->id,
                 fg_batch_store_errmsg(g_batch_exec.s));
        for (size_t i = 0; i < h.n; i++)
            fg_batch_budget_settle(&ps->bb, h.amount[i], at, 0, now_ms());
        rc = -1;
    }
    for (size_t i = 0; i < lv->n; i++) {
        if (joins[i] && rc == 0)
            group_add(&groups[gidx[i]], lv->v[i].idx, json_object_get(joins[i], "body"));
        json_decref(joins[i]);
    }
    commit_flush(&c, ps->b->id);
    free(joins);
    free(gidx);
    free(h.idx);
    free(h.amount);
    return rc;
}

static int count_job(void *arg, struct fg_bjob *j);

/* Planned provider-mode lines → jobs (called once nothing is pending).
 * Lines whose batch has budgets are reserved first (batch_budget.h), in
 * input order, only while none of this batch's jobs is open: a line that
 * does not fit waits while this batch holds budget (its lines settle to
 * less than their worst case and give room back) and otherwise ends as
 * budget_exceeded.  Lines reserved before are sent again at once. */
static void submit_planned(const struct fg_batch *b)
{
    struct pass ps = {.b = b};
    fg_batch_budget_of(b->owner, b->tags, now_ms(), &ps.bb);
    int open = 0;
    if (ps.bb.n > 0) {
        fg_batch_store_jobs(g_batch_exec.s, b->id, count_job, &open);
        ps.may_reserve = open == 0;
        if (!ps.may_reserve && fg_batch_store_planned_held(g_batch_exec.s, b->id) <= 0)
            return; /* until this batch's jobs settle */
    }
    struct group groups[MAX_GROUPS];
    size_t ng = 0;
    int64_t from = 0;
    int rc = 0;
    while (rc == 0) {
        struct linevec lv = {0};
        if (fg_batch_store_planned(g_batch_exec.s, b->id, false, from, 5000, collect, &lv) < 0 ||
            !lv.n) {
            linevec_free(&lv);
            break;
        }
        from = lv.v[lv.n - 1].idx + 1;
        rc = group_chunk(&ps, &lv, groups, &ng);
        linevec_free(&lv);
    }
    for (size_t i = 0; i < ng; i++) {
        if (rc == 0 && groups[i].n && !atomic_load(&g_batch_exec.stop))
            submit_group(b, &groups[i]);
        group_free(&groups[i]);
    }
}

/* A priced ledger record for a line run by a provider batch. */
static struct fg_record *remote_record(const struct fg_batch *b, const struct fg_bline *l,
                                       json_t *plan, const struct fg_usage *u, int status,
                                       const char *error)
{
    const struct fg_config *cfg = g_batch_exec.app->cfg;
    const struct fg_model_cfg *m = fg_config_model(cfg, json_str(plan, "model"));
    json_t *body = json_loadb(l->body, l->body_len, 0, NULL);
    const char *requested = json_str(body, "model");
    const struct fg_route_cfg *route = fg_config_route(cfg, requested);
    const struct fg_model_cfg *base = route ? fg_config_model(cfg, route->frontier) : NULL;
    const char *strs[] = {b->owner,
                          b->tags,
                          requested,
                          json_str(plan, "model"),
                          json_str(plan, "upstream_model"),
                          json_str(plan, "provider"),
                          json_str(plan, "route"),
                          json_str(plan, "route_reason"),
                          error,
                          b->id};
    size_t need = 64;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        need += strs[i] ? strlen(strs[i]) + 1 : 0;
    struct fg_record *r = fg_ledger_record_new(need);
    char key[96];
    /* "/p": never the id of a local run of the same line (a re-run after a
     * failed schema check) */
    snprintf(key, sizeof key, "%s/%lld/p", b->id, (long long)l->idx);
    fg_batch_mailbox_record_id(key, 0, r->id);
    /* a reserved line's cost counts in the period it was reserved in
     * (batch_budget.h): the ledger dates it from its submission */
    r->ts_ms = l->hold_at > 0 ? l->hold_at : now_ms();
    r->key_id = fg_ledger_record_str(r, b->owner);
    r->tags = fg_ledger_record_str(r, b->tags ? b->tags : "");
    r->endpoint = "batch";
    r->model_requested = fg_ledger_record_str(r, requested);
    r->model = fg_ledger_record_str(r, json_str(plan, "model"));
    r->upstream_model = fg_ledger_record_str(r, json_str(plan, "upstream_model"));
    r->provider = fg_ledger_record_str(r, json_str(plan, "provider"));
    r->route =
        fg_ledger_record_str(r, *json_str(plan, "route") ? json_str(plan, "route") : "fixed");
    r->route_reason = *json_str(plan, "route_reason")
                          ? fg_ledger_record_str(r, json_str(plan, "route_reason"))
                          : NULL;
    r->cache = "bypass";
    r->batch = true;
    r->status = status;
    r->error = error ? fg_ledger_record_str(r, error) : NULL;
    r->batch_id = fg_ledger_record_str(r, b->id);
    r->tok = u->tok;
    r->reasoning_tokens = u->reasoning;
    struct fg_price p, bp;
    bool priced = m && fg_price_of(m, &p);
    bool has_base = base && base != m && fg_price_of(base, &bp);
    struct fg_attrib_in in = {.price = priced ? &p : NULL,
                              .baseline_price = has_base ? &bp : NULL,
                              .frontier = priced && p.input >= FG_FRONTIER_INPUT_PRICE,
                              .batch = true,
                              /* attrib.h: the provider's own prefix caching */
                              .native_cache = m && fg_provider_ops(m->dialect)->cache.automatic};
    fg_attrib(&in, r);
    fg_metrics_observe_money(r); /* local lines are observed as calls (meter.c) */
    json_decref(body);
    return r;
}

struct job_results {
    struct fg_batch_remote_result *v;
    char **bodies;
    char **reqids;
    size_t n, cap;
};

static void on_result(void *arg, const struct fg_batch_remote_result *res)
{
    struct job_results *jr = arg;
    if (jr->n == jr->cap) {
        jr->cap = fg_vec_next_cap(jr->cap, jr->n + 1);
        FG_VEC_RESIZE(jr->v, jr->cap);
        FG_VEC_RESIZE(jr->bodies, jr->cap);
        FG_VEC_RESIZE(jr->reqids, jr->cap);
    }
    jr->v[jr->n] = *res;
    jr->bodies[jr->n] = res->body ? strndup(res->body, res->len) : NULL;
    /* served to the client as the line's request_id: redacted like a
     * relayed request-id header (relay.c) */
    const char *rid = res->request_id;
    jr->reqids[jr->n] = rid ? fg_redact_dup(rid, strlen(rid), NULL) : NULL;
    jr->v[jr->n].body = jr->bodies[jr->n];
    jr->v[jr->n].request_id = jr->reqids[jr->n];
    jr->n++;
}

static void job_results_free(struct job_results *jr)
{
    for (size_t i = 0; i < jr->n; i++) {
        free(jr->bodies[i]);
        free(jr->reqids[i]);
    }
    free(jr->v);
    free(jr->bodies);
    free(jr->reqids);
}

/* Provider answer → client-dialect body (malloc'd), or NULL. */
static char *to_client(const struct fg_batch *b, json_t *plan, const struct fg_bline *l,
                       const struct fg_batch_remote_result *res, int *status)
{
    enum fg_dialect from = fg_provider_named(json_str(plan, "dialect"))->dialect;
    enum fg_dialect to = fg_provider_named(b->dialect)->dialect;
    if (!res->body)
        return NULL;
    struct evbuffer *out = evbuffer_new();
    char *text = NULL;
    if (strcmp(res->kind, "succeeded")) {
        *status =
            fg_translate_error(from, to, res->status ? res->status : 500, res->body, res->len, out);
    } else if (from == to) {
        evbuffer_add(out, res->body, res->len);
    } else {
        json_t *body = json_loadb(l->body, l->body_len, 0, NULL);
        struct fg_json j = {0};
        struct fg_err e;
        const char *forced = json_string_value(json_object_get(plan, "forced_tool"));
        int rc = fg_json_parse(&j, res->body, res->len);
        if (rc == 0)
            rc = fg_translate_response(from, is_responses(b) ? FG_DIALECT_RESPONSES : to, &j,
                                       json_str(body, "model"), forced, out, &e);
        if (rc == 0 && is_responses(b))
            fg_translate_rs_echo(l->body, l->body_len, out);
        if (rc < 0) {
            evbuffer_drain(out, evbuffer_get_length(out));
            *status = 502;
        }
        fg_json_free(&j);
        json_decref(body);
    }
    size_t n = evbuffer_get_length(out);
    if (n) {
        text = malloc(n + 1);
        evbuffer_remove(out, text, n);
        text[n] = '\0';
    }
    evbuffer_free(out);
    return text;
}

/* Budget holds of lines ending together, settled once their results are
 * committed (batch_budget.h). */
struct settles {
    struct settle {
        int64_t hold, at, cost;
    } * v;
    size_t n, cap;
};

static void settles_add(struct settles *s, const struct fg_bline *l, int64_t cost)
{
    if (l->hold_pico <= 0 && cost <= 0)
        return;
    FG_VEC_PUSH(s->v, s->n, s->cap, ((struct settle){l->hold_pico, l->hold_at, cost}));
}

/* After the commit that ended the lines (and cleared their holds). */
static void settles_apply(const struct fg_batch *b, struct settles *s)
{
    int64_t now = now_ms();
    struct fg_batch_budget bb;
    fg_batch_budget_of(b->owner, b->tags, now, &bb);
    for (size_t i = 0; i < s->n; i++) {
        FG_ASSERT(s->v[i].hold >= 0);
        fg_batch_budget_settle(&bb, s->v[i].hold, s->v[i].at > 0 ? s->v[i].at : now, s->v[i].cost,
                               now);
    }

    free(s->v);
    memset(s, 0, sizeof *s);
}

struct job_ctx {
    const struct fg_batch *b;
    struct job_results *jr;
    struct commit *c;
    enum fg_line_outcome rest; /* for lines without a usable result */
    struct settles st;
};

/* A provider's answer goes through the structured-output check a real-time
 * answer gets (repaired in place when safe).  One that still fails is not
 * the line's answer: its cost is recorded and the line runs again through
 * the normal pipeline (retry, escalation), unless the batch is ending, when
 * it ends as that error.  0: the answer stands (maybe repaired); 1: the
 * line was sent back; 2: the answer failed and *text is now the error. */
static int checked_answer(struct job_ctx *x, const struct fg_bline *l, json_t *plan,
                          const struct fg_usage *u, char **text)
{
    enum fg_dialect cd = line_ops(x->b, x->b->dialect)->shape;
    struct evbuffer *eb = evbuffer_new();
    evbuffer_add(eb, *text, strlen(*text));
    struct fg_err se;
    int rc = fg_structured_check_answer(g_batch_exec.app->cfg, cd, l->body, l->body_len,
                                        json_str(plan, "upstream_model"), eb, &se);
    size_t n = evbuffer_get_length(eb);
    if (rc == 0 && (n != strlen(*text) || memcmp(*text, evbuffer_pullup(eb, -1), n))) {
        free(*text); /* repaired */
        *text = malloc(n + 1);
        evbuffer_remove(eb, *text, n);
        (*text)[n] = '\0';
    }
    evbuffer_free(eb);
    if (rc == 0)
        return 0;
    if (x->rest != FG_LINE_ERRORED) { /* cancelling / expiring: that's the answer */
        free(*text);
        *text = error_text(x->b, 502, "api_error", se.msg);
        return 2;
    }
    fg_warn("batch %s line %lld: %s Running it again through the pipeline.", x->b->id,
            (long long)l->idx, se.msg);
    struct fg_record *r = remote_record(x->b, l, plan, u, 502, se.msg);
    json_object_set_new(plan, "batch", json_string("local"));
    char *p = json_dumps(plan, JSON_COMPACT);
    if (fg_batch_store_line_replan(g_batch_exec.s, x->b->id, l->idx, p, &r, 1) < 0) {
        /* the line keeps its hold (settled when it ends); the money is
         * recorded anyway */
        fg_error("batch %s: %s", x->b->id, fg_batch_store_errmsg(g_batch_exec.s));
        fg_ledger_submit(r);
    } else {
        /* its local run is a call of its own, admitted like any other */
        struct settles one = {0};
        settles_add(&one, l, r->cost_pico);
        settles_apply(x->b, &one);
        if (g_batch_exec.calls_elsewhere) {
            fg_ledger_submit(r);
        } else {
            fg_alog_record(r); /* committed with the replan */
            fg_ledger_record_free(r);
        }
    }
    free(p);
    free(*text);
    *text = NULL;
    return 1;
}

/* An errored line's text quotes the provider's error, which may echo the
 * key frugal sent it: redacted like a real-time error body (relay.c,
 * redact.h).  Answers are model output and stay as they are.  Takes and
 * returns a malloc'd string. */
static char *redacted(char *text)
{
    char *r = fg_redact_dup(text, strlen(text), NULL);
    free(text);
    return r;
}

static int finish_job_line(void *arg, struct fg_bline *l)
{
    struct job_ctx *x = arg;
    if (!strcmp(l->state, "done"))
        return 0;
    const struct fg_batch_remote_result *res = NULL;
    for (size_t i = 0; i < x->jr->n && !res; i++)
        if (x->jr->v[i].idx == l->idx)
            res = &x->jr->v[i];
    json_t *plan = l->plan ? json_loads(l->plan, 0, NULL) : json_object();
    struct fg_bline_done d = {.idx = l->idx};
    char *text = NULL;
    if (!res || !strcmp(res->kind, "canceled") || !strcmp(res->kind, "expired")) {
        settles_add(&x->st, l, 0); /* ends without cost: its hold is released */
        d.outcome = res && !strcmp(res->kind, "expired") ? FG_LINE_EXPIRED : x->rest;
        if (!res && x->rest == FG_LINE_ERRORED) {
            d.status_code = 502;
            text = error_text(x->b, 502, "api_error",
                              "The provider returned no result for this request.");
        }
    } else {
        int status = res->status ? res->status : 200;
        text = to_client(x->b, plan, l, res, &status);
        bool ok = !strcmp(res->kind, "succeeded") && status < 300;
        d.outcome = ok ? FG_LINE_SUCCEEDED : FG_LINE_ERRORED;
        d.status_code = status;
        d.request_id = res->request_id;
        struct fg_usage u;
        memset(&u, 0, sizeof u);
        char *note = NULL;
        if (ok) {
            const struct fg_dialect_ops *up = line_ops(x->b, json_str(plan, "dialect"));
            usage_of(res->body, res->len, up, &u);
            note = vet_remote_usage(x->b, l, plan, res->body, res->len, up, &u);
            fill_tokens(&d, &u);
        }
        int check = ok ? checked_answer(x, l, plan, &u, &text) : 0;
        if (check == 1) {
            free(note);
            json_decref(plan);
            return 0; /* runs again locally */
        }
        if (check == 2) {
            ok = false;
            d.outcome = FG_LINE_ERRORED;
            d.status_code = status = 502;
        }
        struct fg_record *r = remote_record(x->b, l, plan, &u, status,
                                            ok ? note : "the provider answered with an error");
        free(note);
        d.cost_pico = r->cost_pico;
        settles_add(&x->st, l, r->cost_pico);
        commit_rec(x->c, r);
    }
    if (text && d.outcome != FG_LINE_SUCCEEDED)
        text = redacted(text);
    d.result = text;
    commit_add(x->c, &d, text);
    json_decref(plan);
    return 0;
}

static void end_job(const struct fg_batch *b, struct fg_bjob *j, struct job_results *jr,
                    enum fg_line_outcome rest)
{
    struct commit c = {0};
    struct job_ctx x = {b, jr, &c, rest, {0}};
    fg_batch_store_job_lines(g_batch_exec.s, j->id, finish_job_line, &x);
    if (commit_flush(&c, b->id) == 0) {
        /* holds cleared in the store with the results: now in memory (a
         * failed commit keeps them held; the job ends again next poll) */
        settles_apply(b, &x.st);
        snprintf(j->state, sizeof j->state, "done");
        fg_batch_store_job_update(g_batch_exec.s, j);
    }
    free(x.st.v);
}

struct poll_ctx {
    const struct fg_batch *b;
    bool ending;
    enum fg_line_outcome rest;
};

static int poll_job(void *arg, struct fg_bjob *j)
{
    struct poll_ctx *pc = arg;
    const struct fg_config *cfg = g_batch_exec.app->cfg;
    if (atomic_load(&g_batch_exec.stop))
        return 1;
    struct fg_remote r;
    if (!remote_for(pc->b, j->provider, j->dialect, &r)) {
        struct job_results none = {0};
        end_job(pc->b, j, &none, FG_LINE_ERRORED);
        return 0;
    }
    char err[300];
    if (!strcmp(j->state, "creating")) {
        /* a crash between asking the provider and recording its answer:
         * adopt the batch the provider made, else send the lines again */
        int found =
            fg_batch_remote_find(&r, j->id, j->remote_id, sizeof j->remote_id, err, sizeof err);
        if (found < 0)
            return 0; /* can't tell yet: ask again next pass */
        if (found == 0) {
            fg_batch_store_job_release(g_batch_exec.s, j->id);
            return 0;
        }
        fg_info("batch %s: adopted %s, created before a restart", pc->b->id, j->remote_id);
        snprintf(j->state, sizeof j->state, "submitted");
        j->next_poll_at = 0;
        fg_batch_store_job_update(g_batch_exec.s, j);
    }
    if (pc->ending && strcmp(j->state, "cancel_sent")) {
        if (fg_batch_remote_cancel(&r, j->remote_id, err, sizeof err) < 0)
            fg_warn("batch %s: cancelling %s: %s", pc->b->id, j->remote_id, err);
        snprintf(j->state, sizeof j->state, "cancel_sent");
        j->next_poll_at = 0;
        fg_batch_store_job_update(g_batch_exec.s, j);
    }
    if (j->next_poll_at > now_ms())
        return 0;
    struct job_results jr = {0};
    enum fg_batch_remote_state st = FG_REMOTE_RUNNING;
    int rc = fg_batch_remote_poll(&r, j->remote_id, &st, on_result, &jr, err, sizeof err);
    atomic_fetch_add(&g_batch_exec_stats.polls, 1);
    if (rc == -1)
        atomic_fetch_add(&g_batch_exec_stats.poll_errors, 1);
    if (rc == -2) {
        fg_warn("batch %s: %s", pc->b->id, err);
        end_job(pc->b, j, &jr, FG_LINE_ERRORED);
    } else if (rc < 0) {
        fg_warn("batch %s: polling %s: %s", pc->b->id, j->remote_id, err);
    } else if (st == FG_REMOTE_GONE) {
        fg_warn("batch %s: %s no longer exists at %s; sending its requests again", pc->b->id,
                j->remote_id, j->provider);
        fg_batch_store_job_release(g_batch_exec.s, j->id);
    } else if (st == FG_REMOTE_ENDED) {
        end_job(pc->b, j, &jr, pc->ending ? pc->rest : FG_LINE_ERRORED);
    }
    if (rc == -1 || (rc == 0 && st == FG_REMOTE_RUNNING)) {
        int64_t delay = cfg->batches.poll_ms;
        for (int i = 0; i < j->polls && delay < cfg->batches.poll_max_ms; i++)
            delay = delay * 3 / 2;
        if (delay > cfg->batches.poll_max_ms)
            delay = cfg->batches.poll_max_ms;
        j->polls++;
        j->next_poll_at = now_ms() + delay;
        fg_batch_store_job_update(g_batch_exec.s, j);
    }
    job_results_free(&jr);
    return 0;
}

static int count_job(void *arg, struct fg_bjob *j)
{
    (*(int *)arg)++;
    return 0;
}

/* ---- finishing ------------------------------------------------------------------- */

struct files_acc {
    struct evbuffer *out, *err;
};

static int file_line(void *arg, struct fg_bline *l)
{
    struct files_acc *f = arg;
    fg_batch_format_openai_line(l, l->outcome == FG_LINE_SUCCEEDED ? f->out : f->err);
    return 0;
}

static int store_output(const struct fg_batch *b, struct evbuffer *buf, const char *suffix,
                        char *id, size_t idn)
{
    size_t n = evbuffer_get_length(buf);
    id[0] = '\0';
    if (!n)
        return 0;
    struct fg_bfile f = {0};
    fg_batch_store_new_id("file-", f.id, sizeof f.id);
    snprintf(f.owner, sizeof f.owner, "%s", b->owner);
    snprintf(f.filename, sizeof f.filename, "%s_%s.jsonl", b->id, suffix);
    snprintf(f.purpose, sizeof f.purpose, "batch_output");
    f.bytes = (int64_t)n;
    f.created_at = now_s();
    f.expires_at = f.created_at + (int64_t)g_batch_exec.app->cfg->batches.retention_days * 86400;
    if (fg_batch_store_file_put(g_batch_exec.s, &f, evbuffer_pullup(buf, -1), n) < 0)
        return -1;
    snprintf(id, idn, "%s", f.id);
    return 0;
}

static void finalize(const struct fg_batch *b, const char *final)
{
    if (!strcmp(b->dialect, "openai")) {
        struct files_acc f = {evbuffer_new(), evbuffer_new()};
        char out_id[40], err_id[40];
        int rc = fg_batch_store_lines(g_batch_exec.s, b->id, "done", 0, INT32_MAX, file_line, &f);
        if (rc == 0)
            rc = store_output(b, f.out, "output", out_id, sizeof out_id);
        if (rc == 0)
            rc = store_output(b, f.err, "error", err_id, sizeof err_id);
        if (rc == 0)
            rc = fg_batch_store_batch_files(g_batch_exec.s, b->id, out_id, err_id);
        evbuffer_free(f.out);
        evbuffer_free(f.err);
        if (rc < 0) {
            fg_error("batch %s: writing output files: %s", b->id,
                     fg_batch_store_errmsg(g_batch_exec.s));
            return; /* finalize again next tick */
        }
    }
    fg_batch_store_batch_status(g_batch_exec.s, b->id, final, now_s());
    fg_info("batch %s %s", b->id, final);
}

static int collect_hold(void *arg, const struct fg_bhold *h)
{
    struct fg_bline l = {.hold_pico = h->hold_pico, .hold_at = h->hold_at};
    settles_add(arg, &l, 0);
    return 0;
}

/* Cancel or expire: jobs cancelled and drained, the rest ended. */
static void end_batch(const struct fg_batch *b, enum fg_line_outcome rest, const char *final)
{
    struct poll_ctx pc = {b, true, rest};
    fg_batch_store_jobs(g_batch_exec.s, b->id, poll_job, &pc);
    int open = 0;
    fg_batch_store_jobs(g_batch_exec.s, b->id, count_job, &open);
    /* a provider that never confirms the cancel: give up after 10 minutes */
    int64_t since = b->cancelling_at ? b->cancelling_at : b->expired_at;
    if (open && !(since && now_s() - since > 600))
        return;
    struct settles held = {0};
    if (fg_batch_store_holds(g_batch_exec.s, b->id, collect_hold, &held) < 0) {
        fg_error("batch %s: %s", b->id, fg_batch_store_errmsg(g_batch_exec.s));
        free(held.v);
        return; /* again next tick */
    }
    int ended = fg_batch_store_lines_finish_rest(g_batch_exec.s, b->id, rest);
    if (ended < 0) {
        fg_error("batch %s: %s", b->id, fg_batch_store_errmsg(g_batch_exec.s));
        free(held.v);
        return;
    }
    settles_apply(b, &held); /* those lines end without cost */
    if (ended > 0)
        atomic_fetch_add(&g_batch_exec_stats.lines[rest], (unsigned long long)ended);
    finalize(b, final);
}

static int step_batch(void *arg, const struct fg_batch *b)
{
    (*(unsigned long long *)arg)++;
    if (atomic_load(&g_batch_exec.stop))
        return 1;
    /* a shared store: one replica works on a batch at a time; this claim,
     * renewed every tick, is its heartbeat (a dead replica's batches are
     * taken over once its lease runs out) */
    int held = fg_batch_store_claim(g_batch_exec.s, b->id, g_batch_exec.me,
                                    g_batch_exec.app->cfg->batches.lease_ms);
    if (held < 0)
        fg_error("batch %s: %s", b->id, fg_batch_store_errmsg(g_batch_exec.s));
    if (held == 0 && !strcmp(b->status, "in_progress") && now_s() < b->expires_at) {
        /* another replica steps the batch (plans, jobs, the end); this one
         * helps run its planned local lines, those it claims (issue #19) */
        run_local(b, now_ms() + LOCAL_TICK_BUDGET_MS);
        return 0;
    }
    if (held <= 0)
        return 0;
    if (!strcmp(b->status, "finalizing")) {
        finalize(b, "completed");
        return 0;
    }
    if (!strcmp(b->status, "cancelling")) {
        end_batch(b, FG_LINE_CANCELED, "cancelled");
        return 0;
    }
    if (!strcmp(b->status, "expiring")) {
        end_batch(b, FG_LINE_EXPIRED, "expired");
        return 0;
    }
    if (now_s() >= b->expires_at) {
        fg_info("batch %s: completion window over, expiring unfinished requests", b->id);
        fg_batch_store_batch_status(g_batch_exec.s, b->id, "expiring",
                                    now_s()); /* stamps expired_at */
        struct fg_batch again;
        if (fg_batch_store_batch_get(g_batch_exec.s, b->id, &again) > 0) {
            end_batch(&again, FG_LINE_EXPIRED, "expired");
            fg_batch_store_batch_clear(&again);
        }
        return 0;
    }
    plan_pending(b);
    run_local(b, now_ms() + LOCAL_TICK_BUDGET_MS);
    if (fg_batch_store_lines_count(g_batch_exec.s, b->id, "pending") == 0)
        submit_planned(b);
    struct poll_ctx pc = {b, false, FG_LINE_ERRORED};
    fg_batch_store_jobs(g_batch_exec.s, b->id, poll_job, &pc);
    if (fg_batch_store_lines_count(g_batch_exec.s, b->id, "done") == b->total) {
        if (!strcmp(b->dialect, "openai"))
            fg_batch_store_batch_status(g_batch_exec.s, b->id, "finalizing", now_s());
        finalize(b, "completed");
    }
    return 0;
}

#define EXPIRE_EVERY_S 60
#define SWEEP_CHUNKS 4   /* file chunks deleted per statement: ~4 MiB, 10-40 ms */
#define SWEEP_LINES 2000 /* batch lines deleted per statement: a few MiB */

/* Until the next tick or a wake. */
static void sleep_tick(void)
{
    pthread_mutex_lock(&g_batch_exec.mu);
    if (!g_batch_exec.woken && !atomic_load(&g_batch_exec.stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&g_batch_exec.cv, &g_batch_exec.mu, &ts);
    }
    g_batch_exec.woken = false;
    pthread_mutex_unlock(&g_batch_exec.mu);
}

/* The executor's handle, opened again at a tick when missing: a shared
 * (Postgres) store unreachable at start or later delays batches, never
 * stops the gateway (it already serves calls when the executor starts). */
static bool exec_store(void)
{
    if (g_batch_exec.s)
        return true;
    char err[256];
    if (fg_batch_store_open(g_batch_exec.dsn, &g_batch_exec.s, err, sizeof err) < 0) {
        if (!g_batch_exec.open_failed)
            fg_error("batch executor: %s (trying again every tick)", err);
        g_batch_exec.open_failed = true;
        return false;
    }
    if (g_batch_exec.open_failed)
        fg_info("batch executor: the batch store is reachable again");
    g_batch_exec.open_failed = false;
    if (g_batch_exec.calls_elsewhere)
        fg_batch_store_calls_elsewhere(g_batch_exec.s);
    return true;
}

static void *exec_main(void *arg)
{
    int64_t last_expire = 0;
    while (!atomic_load(&g_batch_exec.stop)) {
        if (!exec_store()) {
            sleep_tick();
            continue;
        }
        if (now_s() - last_expire >= EXPIRE_EVERY_S) {
            last_expire = now_s();
            int n = fg_batch_store_files_expire(g_batch_exec.s, last_expire);
            if (n > 0)
                fg_info("batches: %d expired file(s) deleted", n);
        }
        /* deleted files' chunks, a few per statement (batch_store.h): the
         * write lock is never held long, and never on a worker's loop */
        int swept;
        while ((swept = fg_batch_store_chunks_sweep(g_batch_exec.s, SWEEP_CHUNKS)) ==
                   SWEEP_CHUNKS &&
               !atomic_load(&g_batch_exec.stop))
            ;
        if (swept < 0)
            fg_error("batch executor: %s", fg_batch_store_errmsg(g_batch_exec.s));
        /* lines of batches whose streamed create never committed, likewise */
        while ((swept = fg_batch_store_batches_sweep(g_batch_exec.s, SWEEP_LINES, now_s())) ==
                   SWEEP_LINES &&
               !atomic_load(&g_batch_exec.stop))
            ;
        if (swept < 0)
            fg_error("batch executor: %s", fg_batch_store_errmsg(g_batch_exec.s));
        unsigned long long active = 0;
        if (fg_batch_store_batch_active(g_batch_exec.s, step_batch, &active) < 0)
            fg_error("batch executor: %s", fg_batch_store_errmsg(g_batch_exec.s));
        atomic_store(&g_batch_exec_stats.active, active);
        sleep_tick();
    }
    fg_json_thread_cleanup();
    return NULL;
}

/* The executor's counters on GET /metrics (metrics.h source). */
static void render_metrics(struct evbuffer *o)
{
    struct fg_batch_stats bs;
    fg_batch_exec_stats(&bs);
    static const char *outcome[] = {"succeeded", "errored", "canceled", "expired"};
    fg_metrics_counter(o, "frugal_batch_lines_total", "Batch lines finished, by outcome.");
    for (int i = 0; i < 4; i++)
        evbuffer_add_printf(o, "frugal_batch_lines_total{outcome=\"%s\"} %llu\n", outcome[i],
                            bs.lines[i]);
    evbuffer_add_printf(o,
                        "# HELP frugal_batches_active Batches not finished yet.\n"
                        "# TYPE frugal_batches_active gauge\nfrugal_batches_active %llu\n",
                        bs.batches_active);
    fg_metrics_counter(o, "frugal_batch_jobs_total",
                       "Provider batch jobs submitted (errors: refused).");
    evbuffer_add_printf(o,
                        "frugal_batch_jobs_total{result=\"submitted\"} %llu\n"
                        "frugal_batch_jobs_total{result=\"error\"} %llu\n",
                        bs.jobs_submitted, bs.job_submit_errors);
    fg_metrics_counter(o, "frugal_batch_polls_total",
                       "Polls of provider batch jobs (errors: failed).");
    evbuffer_add_printf(o,
                        "frugal_batch_polls_total{result=\"ok\"} %llu\n"
                        "frugal_batch_polls_total{result=\"error\"} %llu\n",
                        bs.polls - bs.poll_errors, bs.poll_errors);
}

void fg_batch_exec_add_metrics(void)
{
    fg_metrics_add_source(render_metrics);
}

int fg_batch_exec_start(struct fg_app *app, char *err, size_t errlen)
{
    g_batch_exec.app = app;
    atomic_store(&g_batch_exec.stop, false);
    const char *dsn = fg_config_batch_storage(app->cfg);
    /* SQLite: a file that cannot be opened is a start failure; Postgres:
     * opened by the executor's first ticks (exec_store) */
    if (fg_batch_store_open(dsn, &g_batch_exec.s, err, errlen) < 0) {
        if (!fg_pgdb_is_dsn(dsn))
            return -1;
        fg_error("batch executor: %s (trying again every tick)", err);
        g_batch_exec.open_failed = true;
    }
    g_batch_exec.dsn = fg_xstrdup(dsn);
    fg_batch_store_new_id("replica_", g_batch_exec.me, sizeof g_batch_exec.me);
    if (strncmp(dsn, "sqlite:", 7))
        fg_info("batches: shared store; this replica is %s (lease %d ms)", g_batch_exec.me,
                app->cfg->batches.lease_ms);
    /* the ledger in the same database (either backend): a line's records
     * are written in the transaction of its result (batch_store_*.c) */
    g_batch_exec.calls_elsewhere = strcmp(dsn, app->cfg->storage) != 0;
    if (g_batch_exec.calls_elsewhere && g_batch_exec.s)
        fg_batch_store_calls_elsewhere(g_batch_exec.s);
    if (fg_batch_lease_start(dsn, g_batch_exec.me, app->cfg->batches.lease_ms, err, errlen) < 0)
        goto fail;
    if (pthread_create(&g_batch_exec.thread, NULL, exec_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the batch executor thread");
        fg_batch_lease_stop();
        goto fail;
    }
    g_batch_exec.running = true;
    return 0;
fail:
    fg_batch_store_close(g_batch_exec.s);
    g_batch_exec.s = NULL;
    free(g_batch_exec.dsn);
    g_batch_exec.dsn = NULL;
    return -1;
}

void fg_batch_exec_stop(void)
{
    if (!g_batch_exec.running)
        return;
    atomic_store(&g_batch_exec.stop, true);
    fg_batch_exec_wake();
    pthread_join(g_batch_exec.thread, NULL);
    g_batch_exec.running = false;
    fg_batch_lease_stop(); /* nothing is worked on now: the others take over */
    fg_batch_store_close(g_batch_exec.s);
    g_batch_exec.s = NULL;
    free(g_batch_exec.dsn);
    g_batch_exec.dsn = NULL;
}
