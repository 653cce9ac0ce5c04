/* admit.c — see admit.h. */
#include "admit.h"

#include "alert.h"
#include "assert.h"
#include "keyreg.h"
#include "media.h"
#include "pipeline.h"
#include "ledger.h"
#include "price.h"
#include "provider.h"
#include "runtime.h"
#include "share.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t fg_admit_prompt_margin(int64_t prompt_tokens)
{
    /* the estimate is canonical bytes / 4; providers add per-message
     * framing and tokenise some text denser than that */
    return prompt_tokens + prompt_tokens / 4 + 64;
}

/* Saturating: absurd token counts from a client must not wrap around. */
#define MONEY_MAX (INT64_MAX / 4)

int64_t fg_admit_worst_cost(const struct fg_price *p, int64_t prompt_tokens, int64_t max_out)
{
    int64_t in = p->input, a, b, sum;
    if (p->cache_write_5m > in)
        in = p->cache_write_5m;
    if (p->cache_write_1h > in)
        in = p->cache_write_1h;
    if (__builtin_mul_overflow(prompt_tokens, in > 0 ? in : 0, &a) ||
        __builtin_mul_overflow(max_out, p->output > 0 ? p->output : 0, &b) ||
        __builtin_add_overflow(a, b, &sum) || sum > MONEY_MAX)
        return MONEY_MAX;
    return sum;
}

static int64_t default_max_out(const struct fg_model_cfg *m)
{
    const struct fg_builtin_price *b = fg_price_lookup(m->model);
    if (m->max_output_tokens > 0)
        return m->max_output_tokens;
    return b && b->max_output_tokens > 0 ? b->max_output_tokens : 4096;
}

#define TOKENS_MAX (1LL << 40)

/* The output cap the client asked for (× n choices), or 0. */
static int64_t asked_max_out(const struct fg_call *c)
{
    const struct fg_json *j = &c->body;
    int64_t v = 0, n = 1;
    /* Responses: max_output_tokens bounds visible output and reasoning */
    if (!fg_json_int(j, fg_json_get(j, 0, "max_completion_tokens"), &v) &&
        !fg_json_int(j, fg_json_get(j, 0, "max_output_tokens"), &v))
        fg_json_int(j, fg_json_get(j, 0, "max_tokens"), &v);
    if (v <= 0)
        return 0;
    if (v > TOKENS_MAX)
        v = TOKENS_MAX;
    if (c->in->req.n && fg_json_int(j, fg_json_get(j, 0, c->in->req.n), &n) && n > 1)
        v = n > TOKENS_MAX / v ? TOKENS_MAX : v * n;
    return v;
}

int64_t fg_admit_asked_output(const struct fg_call *c, int64_t *n)
{
    const struct fg_json *j = &c->body;
    *n = 1;
    if (c->in->req.n && fg_json_int(j, fg_json_get(j, 0, c->in->req.n), n) && (*n < 1 || *n > 1024))
        *n = *n < 1 ? 1 : 1024;
    return asked_max_out(c);
}

struct worst {
    int64_t pico, tokens;
    const struct fg_model_cfg *unpriced;
    int64_t media_items, media_tokens; /* images and documents, dearest model */
};

/* What the request's images and documents may cost on model m: the
 * providers' maximum per item (media.h), bounded by the model's context
 * window (a longer prompt is refused, not billed). */
static int64_t media_on(const struct fg_model_cfg *m, const struct fg_media *media, int64_t prompt)
{
    if (media->n == 0 && media->extra[0] == 0 && media->extra[1] == 0)
        return 0;
    int64_t t = fg_media_tokens(media, m->model, m->dialect);
    const struct fg_builtin_price *b = fg_price_lookup(m->model);
    if (b && b->max_input_tokens > 0 && prompt + t > b->max_input_tokens)
        t = b->max_input_tokens > prompt ? b->max_input_tokens - prompt : 0;
    return t;
}

static void consider(const struct fg_call *c, const struct fg_model_cfg *m, int64_t text,
                     const struct fg_media *media, int64_t asked, struct worst *w)
{
    if (!m)
        return;
    int64_t mt = media_on(m, media, text), prompt = text + mt;
    if (mt > w->media_tokens)
        w->media_tokens = mt;
    int64_t out = c->endpoint == FG_EP_EMBEDDINGS ? 0 /* input only */
                  : asked                         ? asked
                  : c->so.cap > 0                 ? c->so.cap
                                                  : default_max_out(m);
    struct fg_price p;
    const struct fg_config *cfg = c->snap->cfg;
    const struct fg_provider_cfg *pv =
        m->provider_index >= 0 ? &cfg->providers[m->provider_index] : NULL;
    if (pv && pv->cost.per_hour_micro >= 0) {
        /* priced by the hour: a call's share is at most its own duration
         * (selfhost.h), bounded by the provider's timeout */
        int64_t worst = fg_selfhost_worst(pv->cost.per_hour_micro, pv->timeout_ms);
        if (worst > w->pico)
            w->pico = worst;
    }
    /* at the call's start: the time that prices it (meter.c) */
    else if (!fg_price_at(m, c->meter.acct.ts_ms, &p))
        w->unpriced = m;
    else if (fg_admit_worst_cost(&p, prompt, out) > w->pico)
        w->pico = fg_admit_worst_cost(&p, prompt, out);
    if (prompt + out > w->tokens)
        w->tokens = prompt + out;
}

static void worst_case(const struct fg_call *c, struct worst *w)
{
    const struct fg_config *cfg = c->snap->cfg;
    struct fg_media media;
    fg_media_scan(&c->body, &media);
    /* the estimate counted base64 payloads as text; they are billed as
     * images and documents instead */
    int64_t est = c->meter.prompt_tokens_est - media.data_bytes / 4;
    int64_t text = fg_admit_prompt_margin(est > 0 ? est : 0), asked = asked_max_out(c);
    memset(w, 0, sizeof *w);
    w->media_items = media.n + media.extra[0] + media.extra[1];
    consider(c, c->serve.model, text, &media, asked, w);
    if (c->rt.cfg) {
        consider(c, fg_config_model(cfg, c->rt.cfg->cheap), text, &media, asked, w);
        consider(c, fg_config_model(cfg, c->rt.cfg->frontier), text, &media, asked, w);
    }
}

int64_t fg_admit_worst_batch(const struct fg_call *c)
{
    struct fg_price p;
    if (!c->serve.model || !fg_price_at(c->serve.model, c->meter.acct.ts_ms, &p))
        return -1;
    struct fg_price bp;
    fg_admit_batch_price(&p, &bp);
    /* the same worst case as a real-time call (images and documents at the
     * providers' maxima, embeddings without output), on the model the plan
     * settled on, at its batch price */
    struct fg_media media;
    fg_media_scan(&c->body, &media);
    int64_t est = c->meter.prompt_tokens_est - media.data_bytes / 4;
    int64_t text = fg_admit_prompt_margin(est > 0 ? est : 0);
    int64_t prompt = text + media_on(c->serve.model, &media, text), asked = asked_max_out(c);
    int64_t out = c->endpoint == FG_EP_EMBEDDINGS ? 0
                  : asked                         ? asked
                  : c->so.cap > 0                 ? c->so.cap
                                                  : default_max_out(c->serve.model);
    return fg_admit_worst_cost(&bp, prompt, out);
}

void fg_admit_batch_price(const struct fg_price *p, struct fg_price *out)
{
    /* listed batch input and output; cache reads and writes at half, the
     * writes rounded up (fg_price_cost halves their sum, rounding down) */
    *out = *p;
    out->input = p->batch_input;
    out->output = p->batch_output;
    out->cache_read = p->cache_read > 0 ? (p->cache_read + 1) / 2 : p->cache_read;
    out->cache_write_5m = p->cache_write_5m > 0 ? (p->cache_write_5m + 1) / 2 : p->cache_write_5m;
    out->cache_write_1h = p->cache_write_1h > 0 ? (p->cache_write_1h + 1) / 2 : p->cache_write_1h;
}

static void header(struct fg_call *c, const char *name, const char *value)
{
    fg_client_header(c, name, value);
}

static void header_int(struct fg_call *c, const char *name, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    header(c, name, b);
}

static int not_allowed(struct fg_call *c, const struct fg_vkey *v)
{
    char list[200];
    snprintf(list, sizeof list, "%.199s", v->k.models);
    for (char *p = list; *p; p++)
        if (*p == ',')
            *p = ' '; /* "a b" reads as a list in the message below */
    fg_err_set(&c->err, FG_E_PERMISSION, "model", "model_not_allowed",
               "The model '%.100s' is not allowed for key '%.100s' (%s); this key may call: %s.",
               c->model_name, v->k.name, v->k.id, list);
    return -1;
}

void fg_admit_budget_message(struct fg_err *e, const char *whose, const struct fg_budget_view *b,
                             int64_t worst, const char *what, const char *extra)
{
    char lim[32], spent[32], res[32], need[32], at[40];
    fg_keys_usd(b->limit, lim, sizeof lim);
    fg_keys_usd(b->spent, spent, sizeof spent);
    fg_keys_usd(b->reserved, res, sizeof res);
    fg_keys_usd(worst, need, sizeof need);
    fg_period_rfc3339(b->resets_at, at, sizeof at);
    const char *per = b->period == FG_PERIOD_DAY ? "daily" : "monthly";
    if (b->spent >= b->limit)
        fg_err_set(e, FG_E_RATE_LIMIT, NULL, "budget_exceeded",
                   "Budget exceeded: the %s budget of %s is $%s and $%s of it is spent. It "
                   "resets at %s.",
                   per, whose, lim, spent, at);
    else
        fg_err_set(e, FG_E_RATE_LIMIT, NULL, "budget_exceeded",
                   "Budget exceeded: the %s budget of %s is $%s; $%s is spent and $%s reserved "
                   "by calls in flight, and this %s may cost up to $%s%s. It resets at %s.",
                   per, whose, lim, spent, res, what, need, extra ? extra : "", at);
}

static int over_budget(struct fg_call *c, const char *whose, const struct fg_budget_view *b,
                       const struct worst *w, int64_t now)
{
    const char *media = w->media_items
                            ? fg_arena_printf(&c->arena,
                                              " (its %lld image(s)/document(s) at up to %lld "
                                              "input tokens)",
                                              (long long)w->media_items, (long long)w->media_tokens)
                            : NULL;
    fg_admit_budget_message(&c->err, whose, b, w->pico, "call", media);
    int64_t wait = (b->resets_at - now + 999) / 1000;
    header_int(c, "retry-after", wait > 0 ? wait : 1);
    header(c, "x-should-retry", "false");
    return -1; /* fg_admit_budget_message set budget_exceeded */
}

static int rate_limited(struct fg_call *c, const struct fg_vkey *v,
                        const struct fg_ratelimit_denial *d)
{
    if (d->never) {
        fg_err_set(&c->err, FG_E_RATE_LIMIT, NULL, "rate_limit_exceeded",
                   "Rate limit: this call may use up to %lld tokens (its prompt estimate plus "
                   "max output tokens), more than the %lld tokens per minute of key '%.100s' "
                   "(%s) allow; set max_tokens lower.",
                   (long long)d->need, (long long)d->limit, v->k.name, v->k.id);
        header(c, "x-should-retry", "false");
    } else if (d->tokens) {
        fg_err_set(&c->err, FG_E_RATE_LIMIT, NULL, "rate_limit_exceeded",
                   "Rate limit reached for key '%.100s' (%s): %lld tokens per minute; %lld are "
                   "in use in the last minute and this call may use up to %lld (its prompt "
                   "estimate plus max output tokens). Retry after %d s.",
                   v->k.name, v->k.id, (long long)d->limit, (long long)d->used, (long long)d->need,
                   d->retry_after_s);
    } else {
        fg_err_set(&c->err, FG_E_RATE_LIMIT, NULL, "rate_limit_exceeded",
                   "Rate limit reached for key '%.100s' (%s): %lld requests per minute. Retry "
                   "after %d s.",
                   v->k.name, v->k.id, (long long)d->limit, d->retry_after_s);
    }
    header_int(c, "retry-after", d->retry_after_s);
    header_int(c, d->tokens ? "x-ratelimit-limit-tokens" : "x-ratelimit-limit-requests", d->limit);
    header_int(c, d->tokens ? "x-ratelimit-remaining-tokens" : "x-ratelimit-remaining-requests",
               d->limit > d->used ? d->limit - d->used : 0);
    return -1;
}

/* The ledger cannot take more records now: refuse rather than lose one.
 * (A batch line's record goes to its batch's own commit, not this queue.) */
static int ledger_full(struct fg_call *c)
{
    fg_err_set(&c->err, FG_E_UNAVAILABLE, NULL, "ledger_backlog",
               "frugal is overloaded: its spend ledger is behind on writing records. Retry "
               "in a moment.");
    header(c, "retry-after", "1");
    return -1;
}

/* The store is unreachable and budgets fail closed (shared.h). */
static int store_down(struct fg_call *c)
{
    fg_err_set(&c->err, FG_E_UNAVAILABLE, NULL, "budget_store_unavailable",
               "frugal cannot reach its budget store (Redis), so it cannot hold this call to "
               "its key's budgets and rate limits (budgets.on_store_down: fail_closed). Retry "
               "in a moment.");
    header(c, "retry-after", "1");
    return -1;
}

/* The key was revoked through another replica (its version in the shared
 * store moved; this process's copy did not know yet). */
static int revoked_elsewhere(struct fg_call *c, struct fg_vkey *v)
{
    int64_t zero = 0, now = wall_ms();
    atomic_compare_exchange_strong(&v->revoked_ms, &zero, now); /* local copy, at once */
    return fg_err_set(&c->err, FG_E_AUTH, NULL, "key_revoked",
                      "This API key (%s, '%.100s') was revoked.", v->k.id, v->k.name);
}

/* An admission in flight: what its answer is read against.  Arena. */
struct fg_admit_wait {
    struct fg_call *c;
    struct fg_admit *a;
    struct fg_budget *bs[FG_BUDGET_MAX_HOLD];
    const char *whose[FG_BUDGET_MAX_HOLD];
    int nb;     /* budget steps first, then the rate limit's when rated */
    bool rated; /* the key's RPM/TPM step follows the budgets' */
    struct worst w;
    int64_t now;
    struct fg_shared_op *op; /* pending in the store, or NULL */
    fg_admit_then_fn then;   /* what goes on when the store answers */
};

/* The answer of the one atomic apply (budgets, rate limit, revocation). */
static int admit_finish(struct fg_admit_wait *x, int r, const struct fg_shared_step *st,
                        const struct fg_shared_denial *d)
{
    struct fg_call *c = x->c;
    struct fg_vkey *v = c->who.vkey;
    if (r == FG_SHARED_GUARDED)
        return revoked_elsewhere(c, v);
    if (r == FG_SHARED_DOWN && (x->nb || x->rated))
        return store_down(c);
    if (r == FG_SHARED_DOWN) /* only the revocation check: the local copy stands */
        r = -1;
    if (r >= 0 && r < x->nb) {
        struct fg_budget_view view;
        fg_budget_denied(x->bs[r], d, &view);
        fg_alert_refused(x->bs[r]); /* the 1.0 alert, off the request path */
        return over_budget(c, x->whose[r], &view, &x->w, x->now);
    }
    if (r >= 0) {
        FG_ASSERT(x->rated && r == x->nb);
        struct fg_ratelimit_denial rd;
        fg_ratelimit_denied(&v->rate, x->w.tokens, x->now, d, &rd);
        return rate_limited(c, v, &rd);
    }
    FG_ASSERT(r == -1 && x->a->worst_pico >= 0);
    if (x->nb)
        fg_budget_reserved(x->bs, x->nb, st, &x->a->budget);
    if (x->rated)
        fg_ratelimit_admitted(&v->rate, &st[x->nb], &x->a->rate);
    c->who.admit = x->a;
    return 0;
}

/* The store answered a pending admission (on the call's loop). */
static void admit_done(void *arg, int r, const struct fg_shared_step *st, int n,
                       const struct fg_shared_denial *d)
{
    struct fg_admit_wait *x = arg;
    struct fg_call *c = x->c;
    FG_ASSERT(c->who.wait == x); /* a call that left cancelled its op */
    c->who.wait = NULL;
    x->op = NULL;
    x->then(c, admit_finish(x, r, st, d));
}

int fg_admit_request(struct fg_call *c)
{
    return fg_admit_request_then(c, fg_pipeline_resume);
}

int fg_admit_request_then(struct fg_call *c, fg_admit_then_fn then)
{
    if (!c->batch.line && fg_ledger_full())
        return ledger_full(c);
    struct fg_vkey *v = c->who.vkey;
    if (v && !fg_keys_allows(&v->k, c->model_name))
        return not_allowed(c, v);
    struct fg_shared *s = fg_shared_process();
    struct fg_admit_wait *x = fg_arena_alloc(&c->arena, sizeof *x);
    memset(x, 0, sizeof *x);
    x->c = c;
    x->then = then;
    bool free_call = c->endpoint == FG_EP_COUNT_TOKENS || c->endpoint == FG_EP_RESP_INPUT_TOKENS;
    if (v && v->k.budget > 0 && !free_call) {
        x->whose[x->nb] = fg_arena_printf(&c->arena, "key '%s' (%s)", v->k.name, v->k.id);
        x->bs[x->nb++] = &v->budget;
    }
    /* the gateway's budget counts every call, whoever makes it (one slot
     * kept for it) */
    struct fg_budget *gw = free_call ? NULL : fg_keyreg_gateway_budget();
    struct fg_tag_budget *tb[FG_BUDGET_MAX_HOLD];
    int nt = free_call ? 0
                       : fg_keyreg_tag_budgets(c->who.tags.charged, tb,
                                               FG_BUDGET_MAX_HOLD - x->nb - (gw != NULL));
    for (int i = 0; i < nt; i++) {
        x->whose[x->nb] = fg_arena_printf(&c->arena, "tag '%s'", tb[i]->tag);
        x->bs[x->nb++] = &tb[i]->budget;
    }
    if (gw) {
        x->whose[x->nb] = "the gateway";
        x->bs[x->nb++] = gw;
    }
    /* a batch line's plan is not a call: it spends neither the key's RPM/TPM
     * nor its budgets (provider-mode lines are reserved when they are
     * submitted, batch_exec.c; local-mode lines when they run) */
    x->rated = v && (v->k.rpm > 0 || v->k.tpm > 0) && !c->batch.plan;
    /* with a shared store a key's revocation is checked in the same round
     * trip, so a key revoked through any replica stops on all of them */
    const char *guard = v && s->ops->cross_process && !c->batch.plan
                            ? fg_arena_printf(&c->arena, "key:%s", v->k.id)
                            : NULL;
    /* with a shared store the response cache, sightings and affinity ride
     * in the same round trip (share.h) */
    const struct fg_shared_riders *rd = fg_share_riders(c);
    if (x->nb == 0 && !x->rated && !guard && !rd)
        return 0;
    if (x->nb || x->rated) {
        worst_case(c, &x->w);
        if (free_call)
            x->w.pico = x->w.tokens = 0;
    }
    /* a soft budget never refuses, so an unpriced call does not either */
    int hard = 0;
    while (hard < x->nb && x->bs[hard]->soft)
        hard++;
    if (hard < x->nb && x->w.unpriced && !(v && v->k.allow_unpriced)) {
        fg_err_set(&c->err, FG_E_PERMISSION, "model", "model_unpriced",
                   "The model '%.100s' has no known price, so frugal cannot hold this call to "
                   "the budget of %.200s; give the model a price: in the config, or create "
                   "the key with --allow-unpriced (\"allow_unpriced\": true) to let it make "
                   "calls no budget can count.",
                   x->w.unpriced->name, x->whose[hard]);
        return -1;
    }
    if (c->batch.plan)
        x->nb = 0; /* checked above, held when submitted or run */
    x->a = fg_arena_alloc(&c->arena, sizeof *x->a);
    memset(x->a, 0, sizeof *x->a);
    x->a->worst_pico = x->w.pico;
    x->a->worst_tokens = x->w.tokens;
    x->now = c->meter.acct.ts_ms;
    /* budgets and rate limit in one atomic apply: all or none */
    struct fg_shared_step st[FG_BUDGET_MAX_HOLD + 1];
    fg_budget_reserve_steps(x->bs, x->nb, x->w.pico, x->now, st);
    if (x->rated)
        fg_ratelimit_admit_step(&v->rate, x->w.tokens, x->now, &st[x->nb]);
    struct fg_shared_apply_opts o = {.guard = guard, .riders = rd};
    struct fg_shared_denial d;
    int r = s->ops->counter_apply_async(s, st, x->nb + x->rated, &o, &d, admit_done, x, &x->op);
    if (r != FG_SHARED_PENDING)
        return admit_finish(x, r, st, &d);
    c->who.wait = x; /* admit_done resumes the pipeline */
    return FG_PIPELINE_WAIT;
}

void fg_admit_settle(struct fg_call *c, const struct fg_record *r)
{
    struct fg_admit *a = c->who.admit;
    if (!a)
        return;
    int64_t now = wall_ms();
    fg_budget_settle(&a->budget, r->priced ? r->cost_pico : 0, r->ts_ms, now);
    bool hit = r->cache && !strcmp(r->cache, "hit");
    int64_t tok = hit ? 0
                      : r->tok.input + r->tok.cache_read + r->tok.cache_write_5m +
                            r->tok.cache_write_1h + r->tok.output;
    fg_ratelimit_settle(&a->rate, tok, now);
}

void fg_admit_next_attempt(struct fg_call *c)
{
    struct fg_admit *a = c->who.admit;
    if (!a)
        return;
    int64_t now = wall_ms();
    /* the previous attempt was settled (metered) before this one holds again */
    FG_DASSERT(!a->budget.held && !a->rate.held);
    fg_budget_force(&a->budget, now);
    fg_ratelimit_force(&a->rate, a->worst_tokens, now);
}

void fg_admit_release(struct fg_call *c)
{
    struct fg_admit_wait *x = c->who.wait;
    if (x) { /* left while the store was answering: it undoes what it held */
        struct fg_shared *s = fg_shared_process();
        s->ops->op_cancel(x->op);
        c->who.wait = NULL;
    }
    struct fg_admit *a = c->who.admit;
    if (!a)
        return;
    int64_t now = wall_ms();
    fg_budget_settle(&a->budget, 0, c->meter.acct.ts_ms, now);
    fg_ratelimit_settle(&a->rate, 0, now);
    c->who.admit = NULL;
}
