/* budget.c — see budget.h. */
#include "budget.h"

#include "assert.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Under lock: move b to the period containing now. */
static void roll(struct fg_budget *b, int64_t now_ms)
{
    /* settle clamps at zero and reserve adds non-negative amounts, so a
     * negative reservation means a counter was corrupted */
    FG_ASSERT(b->reserved >= 0);
    int64_t ps = fg_period_start(b->period, now_ms);
    if (ps > b->period_start) {
        b->period_start = ps;
        b->spent = 0;
        b->reserved = 0;
    }
}

static void view(const struct fg_budget *b, struct fg_budget_view *v)
{
    v->limit = b->limit;
    v->spent = b->spent;
    v->reserved = b->reserved;
    v->period = b->period;
    v->period_start = b->period_start;
    v->resets_at = fg_period_next(b->period, b->period_start);
}

void fg_budget_init(struct fg_budget *b, int64_t limit, enum fg_period p, int64_t spent,
                    int64_t now_ms)
{
    pthread_mutex_lock(&lock);
    b->limit = limit;
    b->period = p;
    b->period_start = fg_period_start(p, now_ms);
    b->spent = spent;
    b->reserved = 0;
    pthread_mutex_unlock(&lock);
}

static bool fits(const struct fg_budget *b, int64_t amount)
{
    /* a used-up budget admits nothing, not even a free call */
    return b->spent < b->limit && amount <= b->limit - b->spent - b->reserved;
}

int fg_budget_reserve(struct fg_budget *const *bs, int n, int64_t amount, int64_t now_ms,
                      struct fg_budget_hold *h, struct fg_budget_view *deny)
{
    if (n > FG_BUDGET_MAX_HOLD)
        n = FG_BUDGET_MAX_HOLD;
    if (amount < 0)
        amount = 0;
    FG_ASSERT(n >= 0 && h);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n; i++) {
        roll(bs[i], now_ms);
        if (!fits(bs[i], amount)) {
            if (deny)
                view(bs[i], deny);
            pthread_mutex_unlock(&lock);
            return i;
        }
    }
    h->n = n;
    h->amount = amount;
    h->held = true;
    for (int i = 0; i < n; i++) {
        h->b[i] = bs[i];
        h->period_start[i] = bs[i]->period_start;
        bs[i]->reserved += amount;
        FG_ASSERT(bs[i]->reserved >= amount); /* no int64 overflow */
    }
    pthread_mutex_unlock(&lock);
    return -1;
}

void fg_budget_force(struct fg_budget_hold *h, int64_t now_ms)
{
    if (h->held || h->n == 0)
        return;
    FG_ASSERT(h->n <= FG_BUDGET_MAX_HOLD && h->amount >= 0);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < h->n; i++) {
        roll(h->b[i], now_ms);
        h->period_start[i] = h->b[i]->period_start;
        h->b[i]->reserved += h->amount;
    }
    h->held = true;
    pthread_mutex_unlock(&lock);
}

void fg_budget_settle(struct fg_budget_hold *h, int64_t cost, int64_t call_ts_ms, int64_t now_ms)
{
    if (h->n == 0 || (!h->held && cost <= 0))
        return;
    FG_ASSERT(h->n <= FG_BUDGET_MAX_HOLD && h->amount >= 0);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < h->n; i++) {
        struct fg_budget *b = h->b[i];
        roll(b, now_ms);
        if (h->held && h->period_start[i] == b->period_start) {
            b->reserved -= h->amount;
            if (b->reserved < 0)
                b->reserved = 0;
        }
        if (cost > 0 && fg_period_start(b->period, call_ts_ms) == b->period_start)
            b->spent += cost;
        FG_ASSERT(b->reserved >= 0);
    }
    h->held = false;
    pthread_mutex_unlock(&lock);
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
        h->period_start[i] = fg_period_start(bs[i]->period, at_ms);
    }
}

void fg_budget_rehold(const struct fg_budget_hold *h, int64_t now_ms)
{
    if (!h->held || h->n == 0)
        return;
    FG_ASSERT(h->n <= FG_BUDGET_MAX_HOLD && h->amount >= 0);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < h->n; i++) {
        roll(h->b[i], now_ms);
        if (h->period_start[i] == h->b[i]->period_start)

            h->b[i]->reserved += h->amount;
    }
    pthread_mutex_unlock(&lock);
}

void fg_budget_charge(struct fg_budget *b, int64_t cost, int64_t call_ts_ms, int64_t now_ms)
{
    if (cost <= 0)
        return;
    pthread_mutex_lock(&lock);
    roll(b, now_ms);
    if (fg_period_start(b->period, call_ts_ms) == b->period_start)
        b->spent += cost;
    pthread_mutex_unlock(&lock);
}

void fg_budget_get(struct fg_budget *b, int64_t now_ms, struct fg_budget_view *v)
{
    pthread_mutex_lock(&lock);
    roll(b, now_ms);
    view(b, v);
    pthread_mutex_unlock(&lock);
}
