/* ratelimit.c — see ratelimit.h.
 *
 * One shared counter per limit (shared.h): window = the second, span 60,
 * field 0 = requests, field 1 = tokens.  Admission is one counter_apply
 * with both checks; the live cells it returns on a refusal say how long
 * until enough of the window expires. */
#include "ratelimit.h"

#include "assert.h"

#include <string.h>

enum { REQ, TOK };

static int64_t sec_of(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

static void step(struct fg_shared_step *st, struct fg_ratelimit *r, int64_t win, int64_t req,
                 int64_t tok, int64_t now_ms)
{
    st->c = &r->ctr;
    st->now_win = sec_of(now_ms);
    st->win = win;
    st->add[REQ] = req;
    st->add[TOK] = tok;
    st->check[0].limit = st->check[1].limit = 0;
    st->lease = 0; /* a second's cell leaves the window by itself */
    st->local = false;
}

static void apply(struct fg_shared_step *st)
{
    struct fg_shared *s = fg_shared_process();
    int r = s->ops->counter_apply(s, st, 1, NULL);
    FG_ASSERT(r == -1); /* steps without checks always apply */
}

void fg_ratelimit_init(struct fg_ratelimit *r, int64_t rpm, int64_t tpm)
{
    memset(r, 0, sizeof *r);
    r->rpm = rpm > 0 ? rpm : 0;
    r->tpm = tpm > 0 ? tpm : 0;
    fg_shared_counter_init(&r->ctr, NULL, FG_RATE_WINDOW_S, FG_RATE_WINDOW_S * 1000LL, r->cell,
                           FG_RATE_WINDOW_S);
}

static int64_t total(const struct fg_shared_window *w, int field)
{
    int64_t t = 0;
    for (int i = 0; i < w->n; i++)
        t += w->cell[i].v[field];
    return t;
}

/* Seconds until `used - expired + need <= limit`, walking the window
 * oldest second first. */
static int wait_s(const struct fg_shared_window *w, int field, int64_t used, int64_t need,
                  int64_t limit, int64_t now_ms)
{
    int64_t freed = 0;
    for (int i = 0; i < w->n; i++) {
        freed += w->cell[i].v[field];
        if (used - freed + need <= limit) {
            int64_t ms = (w->cell[i].win + FG_RATE_WINDOW_S) * 1000 - now_ms;
            return ms <= 1000 ? 1 : (int)((ms + 999) / 1000);
        }
    }
    return FG_RATE_WINDOW_S;
}

void fg_ratelimit_admit_step(struct fg_ratelimit *r, int64_t tokens, int64_t now_ms,
                             struct fg_shared_step *st)
{
    if (tokens < 0)
        tokens = 0;
    step(st, r, FG_SHARED_NOW, 1, tokens, now_ms);
    st->check[0] = (struct fg_shared_check){1u << REQ, 1, r->rpm};
    st->check[1] = (struct fg_shared_check){1u << TOK, tokens, r->tpm};
}

void fg_ratelimit_admitted(struct fg_ratelimit *r, const struct fg_shared_step *st,
                           struct fg_ratelimit_hold *h)
{
    FG_DASSERT(st->c == &r->ctr);
    *h = (struct fg_ratelimit_hold){
        .r = r, .sec = st->win, .tokens = st->add[TOK], .held = true, .local = st->local};
}

int fg_ratelimit_admit(struct fg_ratelimit *r, int64_t tokens, int64_t now_ms,
                       struct fg_ratelimit_hold *h, struct fg_ratelimit_denial *d)
{
    if (tokens < 0)
        tokens = 0;
    memset(d, 0, sizeof *d);
    struct fg_shared_step st;
    fg_ratelimit_admit_step(r, tokens, now_ms, &st);
    struct fg_shared *s = fg_shared_process();
    struct fg_shared_denial den;
    int rc = s->ops->counter_apply(s, &st, 1, &den);
    if (rc < 0) { /* (a store that is down admits: rate limits fail open) */
        fg_ratelimit_admitted(r, &st, h);
        return 0;
    }
    fg_ratelimit_denied(r, tokens, now_ms, &den, d);
    return -1;
}

void fg_ratelimit_denied(struct fg_ratelimit *r, int64_t tokens, int64_t now_ms,
                         const struct fg_shared_denial *den, struct fg_ratelimit_denial *d)
{
    if (tokens < 0)
        tokens = 0;
    memset(d, 0, sizeof *d);
    if (den->check == 0) {
        int64_t req = total(&den->w, REQ);
        *d = (struct fg_ratelimit_denial){.limit = r->rpm, .used = req, .need = 1};
        d->retry_after_s = wait_s(&den->w, REQ, req, 1, r->rpm, now_ms);
        return;
    }
    int64_t tok = total(&den->w, TOK);
    *d = (struct fg_ratelimit_denial){
        .tokens = true, .limit = r->tpm, .used = tok, .need = tokens, .never = tokens > r->tpm};
    d->retry_after_s =
        d->never ? FG_RATE_WINDOW_S : wait_s(&den->w, TOK, tok, tokens, r->tpm, now_ms);
}

void fg_ratelimit_settle(struct fg_ratelimit_hold *h, int64_t tokens, int64_t now_ms)
{
    if (!h->r || !h->held)
        return;
    FG_ASSERT(h->tokens >= 0);
    /* the real count replaces the held one in the second it was counted in
     * (nothing once that second left the window) */
    struct fg_shared_step st;
    step(&st, h->r, h->sec, 0, tokens - h->tokens, now_ms);
    st.local = h->local;
    apply(&st);
    h->held = false;
}

void fg_ratelimit_force(struct fg_ratelimit_hold *h, int64_t tokens, int64_t now_ms)
{
    if (!h->r || h->held)
        return;
    FG_ASSERT(tokens >= 0);
    struct fg_shared_step st;
    step(&st, h->r, FG_SHARED_NOW, 0, tokens, now_ms);
    st.local = h->local;
    apply(&st);
    h->sec = st.win;
    h->tokens = tokens;
    h->held = true;
}

void fg_ratelimit_usage(struct fg_ratelimit *r, int64_t now_ms, int64_t *req, int64_t *tok)
{
    struct fg_shared *s = fg_shared_process();
    struct fg_shared_window w;
    s->ops->counter_read(s, &r->ctr, sec_of(now_ms), &w);
    *req = total(&w, REQ);
    *tok = total(&w, TOK);
}
