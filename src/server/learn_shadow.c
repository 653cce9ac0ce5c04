/* learn_shadow.c — see learn_shadow.h. */
#include "learn_shadow.h"

#include "snap.h"

#include "api.h"
#include "assert.h"
#include "budget.h"
#include "call.h"
#include "learn_label.h"
#include "learn_train.h"
#include "log.h"
#include "meter.h"
#include "metrics.h"
#include "provider.h"
#include "runtime.h"
#include "schema.h"
#include "shared.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define DAY_MS 86400000LL
#define PICO_PER_MICRO 1000000LL

/* One route's learning state (index = the route's in the config). */
struct route_learn {
    /* the day's learning budget, a shared counter ("learn:<route>"): in
     * Redis with `redis:` (every replica holds and settles in it), else in
     * process, with the other replicas' spend charged into it from the
     * store by the training thread (fg_learn_shadow_sync_spend) */
    struct fg_budget budget;
    atomic_llong est;        /* the costliest evaluation seen: what a new one holds */
    atomic_llong unsynced;   /* spend not yet added to the store's route_spend */
    int64_t sync_day;        /* the day of sync_total (training thread) */
    atomic_llong sync_total; /* the store's total that day, as last seen */
    atomic_llong day;        /* UTC day the spend below belongs to */
    atomic_llong spent;      /* this process's spend that day, pico-USD (stats) */
    atomic_ullong sampled, ok, worse, unlabelled, over_budget;
};

enum step { STEP_SHADOW, STEP_JUDGE_1, STEP_JUDGE_2, STEP_DONE };

/* One evaluation: owns copies of what it needs from the sampled call. */
struct job {
    struct job *prev, *next; /* every live job (freed at shutdown) */
    struct fg_worker *w;
    size_t route;
    const struct fg_route_cfg *r;
    const struct fg_dialect_ops *in; /* the sampled call's dialect */
    enum fg_endpoint ep;
    char id[40];     /* the sampled call */
    bool used_cheap; /* the tier the route picked was the cheap one */
    char *raw;       /* the sampled request body */
    size_t raw_len;
    char *ans[2]; /* [0] cheap, [1] frontier answer text */
    size_t alen[2];
    enum fg_learn_verdict v[2];
    enum step step;
    bool failed;   /* the running step got no usable answer */
    bool schema;   /* the request has a JSON schema: checked, not judged */
    bool valid[2]; /* [0] cheap, [1] frontier answer satisfies it */
    bool decided;  /* labelled without the judge */
    char *body;    /* the running step's request body */
    size_t len;
    struct fg_budget_hold hold; /* on the route's learning budget */
    struct fg_shared_op *op;    /* the hold's pending admission */
    int64_t ts_ms, cost;        /* when it was sampled; what it has spent */
};

static struct route_learn *g_routes;
static size_t g_n;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct job *g_jobs;

/* ---- bookkeeping ------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The route's spend today, starting a new day when the date changed. */
static int64_t spent_today(struct route_learn *rl)
{
    long long day = now_ms() / DAY_MS, seen = atomic_load(&rl->day);
    if (seen != day && atomic_compare_exchange_strong(&rl->day, &seen, day))
        atomic_store(&rl->spent, 0);
    return atomic_load(&rl->spent);
}

/* Release the job's hold with what it spent, and raise the route's estimate
 * of what an evaluation costs. */
static void settle(struct job *j)
{
    struct route_learn *rl = &g_routes[j->route];
    long long est = atomic_load(&rl->est);
    while (j->cost > est && !atomic_compare_exchange_weak(&rl->est, &est, j->cost))
        ;
    if (j->hold.held)
        fg_budget_settle(&j->hold, j->cost, j->ts_ms, now_ms());
}

static void job_free(struct job *j)
{
    FG_ASSERT(!j->op); /* a pending admission still points at it */
    settle(j);
    pthread_mutex_lock(&g_mu);
    if (j->prev)
        j->prev->next = j->next;
    else
        g_jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    pthread_mutex_unlock(&g_mu);
    free(j->raw);
    free(j->ans[0]);
    free(j->ans[1]);
    free(j->body);
    free(j);
}

/* ---- the captured answer (client.h) ------------------------------------ */

static void cl_add_header(void *ctx, const char *name, const char *value)
{
}
static void cl_remove_header(void *ctx, const char *name)
{
}
static const char *cl_find_header(void *ctx, const char *name)
{
    return NULL;
}
static void cl_clear_headers(void *ctx)
{
}
static void cl_send(void *ctx, int status, struct evbuffer *body)
{
    if (body)
        evbuffer_drain(body, evbuffer_get_length(body));
}
static void cl_start(void *ctx, int status)
{
}
static void cl_chunk(void *ctx, struct evbuffer *data, void (*drained)(void *arg), void *arg)
{
    evbuffer_drain(data, evbuffer_get_length(data));
    if (drained)
        drained(arg);
}
static size_t cl_backlog(void *ctx)
{
    return 0;
}
static void cl_end(void *ctx)
{
}
static void cl_release(void *ctx);

static const struct fg_client_ops learn_ops = {
    .add_header = cl_add_header,
    .remove_header = cl_remove_header,
    .find_header = cl_find_header,
    .clear_headers = cl_clear_headers,
    .send = cl_send,
    .start = cl_start,
    .chunk = cl_chunk,
    .backlog = cl_backlog,
    .end = cl_end,
    .release = cl_release,
};

/* ---- reading an ended call's answer ------------------------------------- */

/* The answer text of an ended, answered call (malloc'd, rt.keep_text),
 * or NULL when it has none. */
static char *answer_of(struct fg_call *c, size_t *len)
{
    if (c->status != 200 || !c->rt.text || !c->rt.text_len)
        return NULL;
    char *t = fg_xmalloc(c->rt.text_len + 1);
    memcpy(t, c->rt.text, c->rt.text_len);
    t[c->rt.text_len] = '\0';
    *len = c->rt.text_len;
    return t;
}

/* ---- the steps ---------------------------------------------------------- */

/* The sampled request for the other tier: the same body, another model. */
static char *shadow_body(const struct job *j, size_t *len)
{
    json_t *b = json_loadb(j->raw, j->raw_len, 0, NULL);
    if (!json_is_object(b)) {
        json_decref(b);
        return NULL;
    }
    json_object_set_new(b, "model", json_string(j->used_cheap ? j->r->frontier : j->r->cheap));
    json_object_del(b, "stream");
    if (j->ep == FG_EP_RESPONSES) /* the shadow answer is no Response to keep */
        json_object_set_new(b, "store", json_false());
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    *len = s ? strlen(s) : 0;
    return s;
}

/* What the judge reads as the request: its system prompt and turns. */
static char *question_of(const struct job *j)
{
    json_t *b = json_loadb(j->raw, j->raw_len, 0, NULL), *q = json_object();
    static const char *const keys[] = {"system", "instructions", "messages", "input"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(b, keys[i]);
        if (v)
            json_object_set(q, keys[i], v);
    }
    char *s = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    json_decref(b);
    return s;
}

/* The judge's request (OpenAI chat; the pipeline translates for an
 * Anthropic judge): cheap first in order 1, second in order 2. */
static char *judge_body(const struct job *j, size_t *len)
{
    char *q = question_of(j);
    if (!q)
        return NULL;
    int a = j->step == STEP_JUDGE_1 ? 0 : 1, b = 1 - a;
    char *prompt =
        fg_learn_label_judge_prompt(q, strlen(q), j->ans[a], j->alen[a], j->ans[b], j->alen[b]);
    free(q);
    json_t *body =
        json_pack("{s:s, s:[{s:s, s:s}], s:i, s:i}", "model", j->r->learn.judge, "messages", "role",
                  "user", "content", prompt, "max_tokens", 16, "temperature", 0);
    free(prompt);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    *len = s ? strlen(s) : 0;
    return s;
}

/* Run the job's current step as a call of its worker. */
static void start_step(struct job *j)
{
    struct fg_worker *w = j->w;
    if (w->draining || atomic_load(&w->app->stopping)) {
        job_free(j);
        return;
    }
    free(j->body);
    j->body = j->step == STEP_SHADOW ? shadow_body(j, &j->len) : judge_body(j, &j->len);
    if (!j->body) {
        atomic_fetch_add(&g_routes[j->route].unlabelled, 1);
        job_free(j);
        return;
    }
    j->failed = false;
    struct fg_call *c = fg_call_new(w);
    fg_call_use_snap(c, &w->app->boot); /* the route's models are the boot config's */
    c->client = (struct fg_client){.ops = &learn_ops, .ctx = j};
    bool shadow = j->step == STEP_SHADOW;
    c->in = shadow ? j->in : &fg_provider_openai;
    c->endpoint = shadow ? j->ep : FG_EP_CHAT;
    c->who.key_id = "routing_eval";
    c->who.tags.recorded = fg_arena_printf(&c->arena, "route=%s", j->r->name);
    c->who.tags.charged = "";
    c->rt.keep_text = true;
    c->rt.eval_link = fg_arena_strdup(&c->arena, j->id);
    c->rt.eval = shadow ? fg_arena_printf(&c->arena, "shadow %s for %s",
                                          j->used_cheap ? "frontier" : "cheap", j->id)
                        : fg_arena_printf(&c->arena, "judge, cheap as %s",
                                          j->step == STEP_JUDGE_1 ? "A" : "B");
    c->raw = j->body; /* the job outlives the call: it moves on in release */
    c->raw_len = j->len;
    fg_api_run_call(c);
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
    start_step(arg);
}

/* Next step on the loop, outside the ended call's finish (which may run
 * inside a curl callback). */
static void schedule(struct job *j)
{
    struct timeval now = {0, 0};
    if (event_base_once(j->w->base, -1, EV_TIMEOUT, start_cb, j, &now) < 0) {
        fg_warn("routing_eval: cannot schedule an evaluation step");
        job_free(j);
    }
}

static bool satisfies(const struct fg_call *c, const char *text, size_t len)
{
    struct fg_schema_error e;
    return c->so.schema && fg_schema_validate(c->so.schema, text, len, &e) == 0;
}

/* The request asked for a JSON schema: the check decides instead of a
 * judge.  Cheap no worse = the cheap answer satisfies it, or neither does. */
static void schema_label(struct fg_call *c, struct job *j, struct route_learn *rl, int k)
{
    j->valid[k] = satisfies(c, j->ans[k], j->alen[k]);
    int label = j->valid[0] || !j->valid[1] ? 1 : 0;
    atomic_fetch_add(label ? &rl->ok : &rl->worse, 1);
    fg_learn_train_label(j->route, j->id, label, j->raw, j->raw_len, j->in->shape);
    j->decided = true;
    c->rt.eval =
        fg_arena_printf(&c->arena, "%s; schema: cheap %s, frontier %s; label %s", c->rt.eval,
                        j->valid[0] ? "valid" : "invalid", j->valid[1] ? "valid" : "invalid",
                        label ? "1 (cheap no worse)" : "0 (frontier better)");
}

/* A learning call ended (before its record is written): take its answer,
 * its cost, and at the last step write the label into its record. */
static void harvest(struct fg_call *c, struct job *j)
{
    struct route_learn *rl = &g_routes[j->route];
    fg_meter_price(c);
    if (c->meter.priced) {
        long long cost = (long long)c->meter.acct.cost_pico;
        spent_today(rl);
        atomic_fetch_add(&rl->spent, cost);
        j->cost += cost;
        if (!fg_shared_process()->ops->cross_process)
            atomic_fetch_add(&rl->unsynced, cost);
    }
    size_t len = 0;
    char *text = answer_of(c, &len);
    j->failed = !text;
    if (j->step == STEP_SHADOW) {
        int k = j->used_cheap ? 1 : 0;
        j->ans[k] = text;
        j->alen[k] = len;
        if (j->schema && text)
            schema_label(c, j, rl, k);
        return;
    }
    int o = j->step == STEP_JUDGE_1 ? 0 : 1;
    j->v[o] = text ? fg_learn_label_verdict(text, len) : FG_LV_UNKNOWN;
    free(text);
    j->failed = j->failed || j->v[o] == FG_LV_UNKNOWN;
    const char *vn = fg_learn_label_verdict_name(j->v[o]);
    if (j->step == STEP_JUDGE_1) {
        c->rt.eval = fg_arena_printf(&c->arena, "%s: %s", c->rt.eval, vn);
        return;
    }
    int label = fg_learn_label_combine(j->v[0], j->v[1]);
    atomic_fetch_add(label == 1 ? &rl->ok : label == 0 ? &rl->worse : &rl->unlabelled, 1);
    fg_learn_train_label(j->route, j->id, label, j->raw, j->raw_len, j->in->shape);
    c->rt.eval = fg_arena_printf(&c->arena, "%s: %s; label %s", c->rt.eval, vn,
                                 label == 1   ? "1 (cheap no worse)"
                                 : label == 0 ? "0 (frontier better)"
                                              : "none (no verdict)");
}

static void cl_release(void *ctx)
{
    struct job *j = ctx;
    if (j->failed) {
        if (j->step != STEP_JUDGE_2) /* judge 2 counted its own outcome */
            atomic_fetch_add(&g_routes[j->route].unlabelled, 1);
        job_free(j);
        return;
    }
    if (j->decided || ++j->step == STEP_DONE) {
        job_free(j);
        return;
    }
    schedule(j);
}

/* ---- sampling ----------------------------------------------------------- */

static bool eligible(const struct fg_call *c)
{
    const struct fg_route_cfg *r = c->rt.cfg;
    return r && r->learn.judge && c->rt.keep_text && !c->rt.eval && c->status == 200 &&
           !c->stream && !c->batch.line && !c->w->draining &&
           (c->endpoint == FG_EP_CHAT || c->endpoint == FG_EP_MESSAGES ||
            c->endpoint == FG_EP_RESPONSES) &&
           c->rt.route && (!strcmp(c->rt.route, "cheap") || !strcmp(c->rt.route, "frontier"));
}

static const struct fg_config *g_cfg; /* the boot config (app->cfg) */

/* The learning budget's answer to a job's hold (on the job's loop). */
static void admitted(struct job *j, int r, const struct fg_shared_step *st)
{
    struct route_learn *rl = &g_routes[j->route];
    j->op = NULL;
    if (r == -1) {
        struct fg_budget *b = &rl->budget;
        fg_budget_reserved(&b, 1, st, &j->hold);
    } else if (r >= 0) {
        atomic_fetch_add(&rl->over_budget, 1);
    } else { /* the shared store is down and fails closed: learning waits */
        fg_debug("routing_eval: the learning budget's store is unreachable; %s not sampled", j->id);
    }
    if (r != -1 || j->w->draining || atomic_load(&j->w->app->stopping)) {
        job_free(j);
        return;
    }
    atomic_fetch_add(&rl->sampled, 1);
    schedule(j);
}

static void admit_done(void *arg, int r, const struct fg_shared_step *st, int n,
                       const struct fg_shared_denial *d)
{
    admitted(arg, r, st);
}

/* Hold the route's estimate of an evaluation's cost on its learning budget
 * (at least 1 pico-USD, so a spent budget refuses): the evaluation starts
 * only when every replica's spend and holds leave room for it. */
static void admit(struct job *j)
{
    struct route_learn *rl = &g_routes[j->route];
    struct fg_budget *b = &rl->budget;
    long long est = atomic_load(&rl->est);
    struct fg_shared_step st[1];
    fg_budget_reserve_steps(&b, 1, est > 0 ? est : 1, j->ts_ms, st);
    struct fg_shared *s = fg_shared_process();
    struct fg_shared_apply_opts o = {0};
    struct fg_shared_denial d;
    int r = s->ops->counter_apply_async(s, st, 1, &o, &d, admit_done, j, &j->op);
    if (r != FG_SHARED_PENDING)
        admitted(j, r, st);
}

static void maybe_sample(struct fg_call *c)
{
    if (!eligible(c))
        return;
    /* the evaluation runs on the boot config's route (its labels, weights
     * and learning loop); a reloaded config's route maps to it when it is
     * the same route (snap.h fg_snap_boot_route), else it is not learned */
    int bi = fg_snap_boot_route(c->snap, (size_t)(c->rt.cfg - c->snap->cfg->routes));
    if (bi < 0)
        return;
    size_t route = (size_t)bi;
    FG_ASSERT(route < g_n);
    struct route_learn *rl = &g_routes[route];
    if (c->rt.cfg->learn.budget_micro <= 0) {
        atomic_fetch_add(&rl->over_budget, 1);
        return;
    }
    size_t len = 0;
    char *text = answer_of(c, &len);
    if (!text || !c->raw) {
        free(text);
        return;
    }
    struct job *j = fg_xcalloc(1, sizeof *j);
    j->w = c->w;
    j->route = route;
    j->r = &g_cfg->routes[route]; /* the boot config: lives as long as the job */
    j->in = c->in;
    j->ep = c->endpoint;
    snprintf(j->id, sizeof j->id, "%s", c->id);
    j->used_cheap = !strcmp(c->rt.route, "cheap");
    j->schema = c->so.schema != NULL;
    if (j->schema)
        j->valid[j->used_cheap ? 0 : 1] = satisfies(c, text, len);
    j->ans[j->used_cheap ? 0 : 1] = text;
    j->alen[j->used_cheap ? 0 : 1] = len;
    j->raw = fg_xmalloc(c->raw_len + 1);
    memcpy(j->raw, c->raw, c->raw_len);
    j->raw[c->raw_len] = '\0';
    j->raw_len = c->raw_len;
    pthread_mutex_lock(&g_mu);
    j->next = g_jobs;
    if (g_jobs)
        g_jobs->prev = j;
    g_jobs = j;
    pthread_mutex_unlock(&g_mu);
    j->ts_ms = now_ms();
    admit(j);
}

static void call_done(struct fg_call *c)
{
    if (c->client.ops == &learn_ops)
        harvest(c, c->client.ctx);
    else
        maybe_sample(c);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void render_metrics(struct evbuffer *o)
{
    fg_metrics_counter(o, "frugal_routing_eval_total",
                       "Shadow evaluations of routed calls, by route and outcome.");
    for (size_t i = 0; i < g_n; i++) {
        struct fg_learn_shadow_stats st;
        fg_learn_shadow_stats(i, &st);
        const char *r = g_cfg->routes[i].name;
        evbuffer_add_printf(
            o,
            "frugal_routing_eval_total{route=\"%s\",outcome=\"sampled\"} %llu\n"
            "frugal_routing_eval_total{route=\"%s\",outcome=\"label_ok\"} %llu\n"
            "frugal_routing_eval_total{route=\"%s\",outcome=\"label_worse\"} %llu\n"
            "frugal_routing_eval_total{route=\"%s\",outcome=\"unlabelled\"} %llu\n"
            "frugal_routing_eval_total{route=\"%s\",outcome=\"over_budget\"} %llu\n",
            r, (unsigned long long)st.sampled, r, (unsigned long long)st.labels_ok, r,
            (unsigned long long)st.labels_worse, r, (unsigned long long)st.unlabelled, r,
            (unsigned long long)st.over_budget);
    }
    if (fg_shared_process()->ops->cross_process)
        return; /* the spend is Redis's counter: frugal_budget_* does not cover it either */
    evbuffer_add_printf(o, "# HELP frugal_routing_learn_store_spend_usd A route's learning spend "
                           "today over every replica sharing the store, as last read.\n"
                           "# TYPE frugal_routing_learn_store_spend_usd gauge\n");
    for (size_t i = 0; i < g_n; i++)
        evbuffer_add_printf(o, "frugal_routing_learn_store_spend_usd{route=\"%s\"} %.12f\n",
                            g_cfg->routes[i].name,
                            (double)atomic_load(&g_routes[i].sync_total) / 1e12);
}

void fg_learn_shadow_init(struct fg_app *app)
{
    const struct fg_config *cfg = app->cfg;
    bool any = false;
    for (size_t i = 0; i < cfg->n_routes; i++)
        any = any || cfg->routes[i].learn.judge;
    if (!any)
        return;
    g_n = cfg->n_routes;
    g_cfg = cfg;
    g_routes = fg_xcalloc(g_n, sizeof *g_routes);
    for (size_t i = 0; i < g_n; i++) {
        const struct fg_route_cfg *r = &cfg->routes[i];
        if (!r->learn.judge || r->learn.budget_micro <= 0)
            continue;
        struct fg_budget *b = &g_routes[i].budget;
        snprintf(b->ctr.name, sizeof b->ctr.name, "learn:%s", r->name);
        fg_budget_init(b, r->learn.budget_micro * PICO_PER_MICRO, FG_PERIOD_DAY, 0, now_ms());
    }
    app->call_done = call_done;
    static bool metrics_added; /* once per process (metrics.h) */
    if (!metrics_added)
        fg_metrics_add_source(render_metrics);
    metrics_added = true;
}

void fg_learn_shadow_stats(size_t route, struct fg_learn_shadow_stats *out)
{
    memset(out, 0, sizeof *out);
    if (route >= g_n)
        return;
    struct route_learn *rl = &g_routes[route];
    out->sampled = atomic_load(&rl->sampled);
    out->labels_ok = atomic_load(&rl->ok);
    out->labels_worse = atomic_load(&rl->worse);
    out->unlabelled = atomic_load(&rl->unlabelled);
    out->over_budget = atomic_load(&rl->over_budget);
    out->spent_pico = spent_today(rl);
}

int64_t fg_learn_shadow_unsynced(size_t route)
{
    return route < g_n ? atomic_exchange(&g_routes[route].unsynced, 0) : 0;
}

void fg_learn_shadow_synced(size_t route, int64_t day, int64_t total, int64_t mine)
{
    if (route >= g_n || fg_shared_process()->ops->cross_process)
        return;
    struct route_learn *rl = &g_routes[route];
    if (!rl->budget.limit)
        return;
    if (total < 0) { /* not in the store yet: next time */
        atomic_fetch_add(&rl->unsynced, mine);
        return;
    }
    if (day != rl->sync_day) { /* a new day (or the first sync): all of it is news */
        rl->sync_day = day;
        rl->sync_total = 0;
    }
    int64_t others = total - rl->sync_total - mine;
    rl->sync_total = total;
    if (others > 0) /* other replicas' (or this route's before a restart) */
        fg_budget_charge(&rl->budget, others, now_ms(), now_ms());
}

void fg_learn_shadow_free(void)
{
    while (g_jobs) {
        g_jobs->op = NULL; /* the loops are closed: no admission answers now */
        job_free(g_jobs);
    }
    free(g_routes);
    g_routes = NULL;
    g_n = 0;
}
