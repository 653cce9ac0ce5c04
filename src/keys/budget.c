/* budget.c — see budget.h.
 *
 * Each operation is one counter_apply (shared.h) over the budgets' counters:
 * window = the period's start, field 0 = spent, field 1 = reserved.  The
 * counter's head is the budget's current period (a new period starts with
 * no cell: zero spent and reserved), and an add to a window that is no
 * longer current counts nowhere — the period rules of the contract. */
#include "budget.h"

#include "alert.h"
#include "assert.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { SPENT, RESERVED };

#ifdef FG_DEBUG
/* Tests move every budget's clock forward (FRUGAL_TEST_BUDGET_SHIFT_MS, 0
 * to 400 days; a debug build only): a restarted replica lives in the next
 * period, so a period rollover is seen without waiting for midnight. */
static int64_t g_shift_ms;
static pthread_once_t g_shift_once = PTHREAD_ONCE_INIT;

static void shift_init(void)
{
    const char *s = getenv("FRUGAL_TEST_BUDGET_SHIFT_MS");
    long long v = s ? strtoll(s, NULL, 10) : 0;
    g_shift_ms = v > 0 && v <= 400 * 86400000LL ? v : 0;
}
#endif

static int64_t win_of(const struct fg_budget *b, int64_t ms)
{
#ifdef FG_DEBUG
    pthread_once(&g_shift_once, shift_init);
    ms += g_shift_ms;
#endif
    return fg_period_start(b->period, ms);
}

/* A step on b adding (spent, reserved) to window win (FG_SHARED_NOW: the
 * current one), without checks; now_win = win_of(b, now). */
static void step(struct fg_shared_step *st, struct fg_budget *b, int64_t now_win, int64_t win,
                 int64_t spent, int64_t reserved)
{
    /* field by field: a compound literal copied in costs more than the
     * counter operation itself */
    st->c = &b->ctr;
    st->now_win = now_win;
    st->win = win;
    st->add[SPENT] = spent;
    st->add[RESERVED] = reserved;
    st->check[0].limit = st->check[1].limit = 0;
    st->lease = 0;
    st->local = false;
}

static void apply(struct fg_shared_step *st, int n)
{
    struct fg_shared *s = fg_shared_process();
    int r = s->ops->counter_apply(s, st, n, NULL);
    FG_ASSERT(r == -1); /* steps without checks always apply */
}

static void view(const struct fg_budget *b, const struct fg_shared_window *w,
                 struct fg_budget_view *v)
{
    FG_DASSERT(w->n <= 1);
    bool cur = w->n == 1 && w->cell[0].win == w->head;
    v->limit = b->limit;
    v->spent = cur ? w->cell[0].v[SPENT] : 0;
    v->reserved = cur ? w->cell[0].v[RESERVED] : 0;
    /* settle clamps at zero and reserve adds non-negative amounts */
    FG_ASSERT(v->reserved >= 0);
    v->period = b->period;
    v->period_start = w->head;
    v->resets_at = fg_period_next(b->period, w->head);
}

void fg_budget_init(struct fg_budget *b, int64_t limit, enum fg_period p, int64_t spent,
                    int64_t now_ms)
{
    b->limit = limit;
    b->period = p;
    /* the owner names it (and makes it soft) after this */
    b->soft = false;
    b->kind = b->id = b->name = NULL;
    memset(&b->alert, 0, sizeof b->alert);
    /* a cell lives one period: at most 31 days */
    fg_shared_counter_init(&b->ctr, NULL, 1, 32 * 86400000LL, b->cell, 1);
    /* opens the current period, with what the ledger says was spent in it
     * (nothing to add: the first operation opens it; no round trip for a
     * key created or first seen on a worker thread) */
    if (spent <= 0)
        return;
    struct fg_shared_step st;
    step(&st, b, win_of(b, now_ms), FG_SHARED_NOW, spent, 0);
    apply(&st, 1);
}

void fg_budget_reserve_steps(struct fg_budget *const *bs, int n, int64_t amount, int64_t now_ms,
                             struct fg_shared_step *st)
{
    FG_ASSERT(n >= 0 && n <= FG_BUDGET_MAX_HOLD);
    if (amount < 0)
        amount = 0;
    uint64_t lease = n ? fg_shared_lease_new() : 0;
    for (int i = 0; i < n; i++) {
        step(&st[i], bs[i], win_of(bs[i], now_ms), FG_SHARED_NOW, 0, amount);
        st[i].lease = lease; /* one hold, one lease on each budget */
        if (bs[i]->soft)
            continue; /* counted, never refused: alerts only */
        /* a used-up budget admits nothing, not even a free call */
        st[i].check[0] = (struct fg_shared_check){1u << SPENT, 1, bs[i]->limit};
        st[i].check[1] =
            (struct fg_shared_check){1u << SPENT | 1u << RESERVED, amount, bs[i]->limit};
    }
}

void fg_budget_reserved(struct fg_budget *const *bs, int n, const struct fg_shared_step *st,
                        struct fg_budget_hold *h)
{
    FG_ASSERT(n >= 0 && n <= FG_BUDGET_MAX_HOLD && h);
    h->n = n;
    h->amount = n ? st[0].add[RESERVED] : 0;
    h->held = true;
    h->lease = n ? st[0].lease : 0;
    h->local = n ? st[0].local : false;
    for (int i = 0; i < n; i++) {
        FG_DASSERT(st[i].c == &bs[i]->ctr);
        h->b[i] = bs[i];
        h->period_start[i] = st[i].win;
    }
}

void fg_budget_denied(const struct fg_budget *b, const struct fg_shared_denial *d,
                      struct fg_budget_view *v)
{
    view(b, &d->w, v);
}

int fg_budget_reserve(struct fg_budget *const *bs, int n, int64_t amount, int64_t now_ms,
                      struct fg_budget_hold *h, struct fg_budget_view *deny)
{
    if (n > FG_BUDGET_MAX_HOLD)
        n = FG_BUDGET_MAX_HOLD;
    FG_ASSERT(n >= 0 && h);
    struct fg_shared_step st[FG_BUDGET_MAX_HOLD];
    fg_budget_reserve_steps(bs, n, amount, now_ms, st);
    for (int i = 0; i < n; i++)
        st[i].lease = 0; /* kept in the batch store for up to a day: no lease */
    struct fg_shared *s = fg_shared_process();
    struct fg_shared_denial d;
    int bad = s->ops->counter_apply(s, st, n, &d);
    if (bad >= 0) {
        fg_alert_refused(bs[bad]);
        if (deny)
            view(bs[bad], &d.w, deny);
        return bad;
    }
    if (bad == FG_SHARED_DOWN)
        return FG_BUDGET_DOWN;
    fg_budget_reserved(bs, n, st, h);
    return -1;
}

void fg_budget_force(struct fg_budget_hold *h, int64_t now_ms)
{
    if (h->held || h->n == 0)
        return;
    FG_ASSERT(h->n <= FG_BUDGET_MAX_HOLD && h->amount >= 0);
    struct fg_shared_step st[FG_BUDGET_MAX_HOLD];
    h->lease = fg_shared_lease_new(); /* a new hold: a new lease */
    for (int i = 0; i < h->n; i++) {
        step(&st[i], h->b[i], win_of(h->b[i], now_ms), FG_SHARED_NOW, 0, h->amount);
        st[i].lease = h->lease;
        st[i].local = h->local;
    }
    apply(st, h->n);
    for (int i = 0; i < h->n; i++)
        h->period_start[i] = st[i].win;
    h->held = true;
}

void fg_budget_settle(struct fg_budget_hold *h, int64_t cost, int64_t call_ts_ms, int64_t now_ms)
{
    if (h->n == 0 || (!h->held && cost <= 0))
        return;
    FG_ASSERT(h->n <= FG_BUDGET_MAX_HOLD && h->amount >= 0);
    struct fg_shared_step st[2 * FG_BUDGET_MAX_HOLD];
    int n = 0;
    for (int i = 0; i < h->n; i++) {
        struct fg_budget *b = h->b[i];
        int64_t now_win = win_of(b, now_ms);
        if (h->held) { /* the hold's period only: a new period held nothing */
            step(&st[n], b, now_win, h->period_start[i], 0, -h->amount);
            st[n].lease = h->lease; /* given back once, unless it expired */
            st[n++].local = h->local;
        }
        if (cost > 0) { /* the call's period only: costs count where calls start */
            step(&st[n], b, now_win, win_of(b, call_ts_ms), cost, 0);
            st[n++].local = h->local;
        }
    }
    apply(st, n);
    h->held = false;
    for (int i = 0; cost > 0 && i < h->n; i++)
        fg_alert_touch(h->b[i]);
}

void fg_budget_hold_of(struct fg_budget *const *bs, int n, int64_t amount, int64_t at_ms,
                       struct fg_budget_hold *h)
{
    if (n > FG_BUDGET_MAX_HOLD)
        n = FG_BUDGET_MAX_HOLD;
    memset(h, 0, sizeof *h);
    h->n = n;
    h->amount = amount > 0 ? amount : 0;
    h->held = amount > 0;
    for (int i = 0; i < n; i++) {
        h->b[i] = bs[i];
        /* the period is fixed at init: no lock needed to read it */
        h->period_start[i] = win_of(bs[i], at_ms);
    }
}

void fg_budget_rehold(const struct fg_budget_hold *h, int64_t now_ms)
{
    if (!h->held || h->n == 0)
        return;
    FG_ASSERT(h->n <= FG_BUDGET_MAX_HOLD && h->amount >= 0);
    struct fg_shared_step st[FG_BUDGET_MAX_HOLD];
    for (int i = 0; i < h->n; i++) {
        step(&st[i], h->b[i], win_of(h->b[i], now_ms), h->period_start[i], 0, h->amount);
        st[i].lease = h->lease;
    }
    apply(st, h->n);
}

void fg_budget_charge(struct fg_budget *b, int64_t cost, int64_t call_ts_ms, int64_t now_ms)
{
    if (cost <= 0)
        return;
    struct fg_shared_step st;
    step(&st, b, win_of(b, now_ms), win_of(b, call_ts_ms), cost, 0);
    apply(&st, 1);
    fg_alert_touch(b);
}

void fg_budget_get(struct fg_budget *b, int64_t now_ms, struct fg_budget_view *v)
{
    struct fg_shared *s = fg_shared_process();
    struct fg_shared_window w;
    s->ops->counter_read(s, &b->ctr, win_of(b, now_ms), &w);
    view(b, &w, v);
}
