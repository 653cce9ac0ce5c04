/* selfhost.c — see selfhost.h. */
#include "selfhost.h"

#include "arena.h"
#include "assert.h"
#include "ledger.h"
#include "log.h"
#include "price.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fg_selfhost {
    pthread_mutex_t mu;
    char *provider;
    int64_t per_hour_micro;
    int max_concurrency;
    int64_t start_us, last_us; /* hours run from start; attributed up to last */
    int64_t idle_since_us;     /* start of the current idle stretch, or -1 */
    int64_t idle_pending;      /* idle money not yet written to the ledger */
    int64_t calls_pico, idle_pico;
    struct fg_selfhost_slot *head; /* in flight, oldest first */
    struct fg_selfhost_slot *tail;
    int in_flight;
    int64_t win_tok[FG_SELFHOST_WINDOW_S], win_sec[FG_SELFHOST_WINDOW_S];
};

/* C(t): money of the hours from start to t, pico-USD rounded down. */
static int64_t cum(const struct fg_selfhost *s, int64_t t)
{
    int64_t us = t > s->start_us ? t - s->start_us : 0;
    /* pico per hour = micro × 1e6; per µs: / 3.6e9 */
    return (int64_t)((__int128)s->per_hour_micro * us / 3600);
}

int64_t fg_selfhost_worst(int64_t per_hour_micro, int64_t ms)
{
    return (int64_t)((__int128)per_hour_micro * (ms > 0 ? ms : 0) * 1000 / 3600) + 1;
}

struct fg_selfhost *fg_selfhost_new(const char *provider, int64_t per_hour_micro,
                                    int max_concurrency, int64_t now_us)
{
    FG_ASSERT(per_hour_micro >= 0);
    struct fg_selfhost *s = fg_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->provider = fg_xstrdup(provider);
    s->per_hour_micro = per_hour_micro;
    s->max_concurrency = max_concurrency;
    s->start_us = s->last_us = s->idle_since_us = now_us;
    return s;
}

/* Attribute [last, now) to the calls in flight or to idle.  Under mu. */
static void advance(struct fg_selfhost *s, int64_t now_us)
{
    if (now_us <= s->last_us)
        return; /* a clock step back: the time is attributed already */
    int64_t c = cum(s, now_us) - cum(s, s->last_us);
    s->last_us = now_us;
    if (!s->in_flight) {
        s->idle_pending += c;
        s->idle_pico += c;
        return;
    }
    int64_t q = c / s->in_flight, r = c % s->in_flight;
    for (struct fg_selfhost_slot *x = s->head; x; x = x->next) {
        x->pico += q + (r > 0);
        r--;
    }
}

/* The idle stretch that ends now, as its own ledger record.  Under mu. */
static struct fg_record *idle_record(struct fg_selfhost *s, int64_t now_us)
{
    if (s->idle_pending <= 0)
        return NULL;
    struct fg_record *r = fg_ledger_record_new(strlen(s->provider) + 32);
    snprintf(r->id, sizeof r->id, "idle-%lld-%.12s", (long long)s->idle_since_us, s->provider);
    r->ts_ms = s->idle_since_us / 1000;
    r->key_id = "idle";
    r->tags = "";
    r->endpoint = "idle";
    r->model_requested = r->model = r->upstream_model = "(idle)";
    r->provider = fg_ledger_record_str(r, s->provider);
    r->route = "fixed";
    r->cache = "bypass";
    r->status = 200;
    r->priced = true;
    r->cost_pico = r->baseline_pico = s->idle_pending;
    r->latency_us = now_us - s->idle_since_us;
    s->idle_pending = 0;
    return r;
}

void fg_selfhost_begin(struct fg_selfhost *s, struct fg_selfhost_slot *slot, int64_t now_us)
{
    FG_ASSERT(!slot->on);
    pthread_mutex_lock(&s->mu);
    advance(s, now_us);
    struct fg_record *idle = s->in_flight ? NULL : idle_record(s, now_us);
    slot->pico = 0;
    slot->next = NULL;
    slot->prev = s->tail;
    if (s->tail)
        s->tail->next = slot;
    else
        s->head = slot;
    s->tail = slot;
    slot->on = true;
    s->in_flight++;
    pthread_mutex_unlock(&s->mu);
    if (idle)
        fg_ledger_submit(idle);
}

static void window_add(struct fg_selfhost *s, int64_t tokens, int64_t now_us)
{
    int64_t sec = now_us / 1000000;
    int k = (int)(sec % FG_SELFHOST_WINDOW_S);
    if (s->win_sec[k] != sec) {
        s->win_sec[k] = sec;
        s->win_tok[k] = 0;
    }
    s->win_tok[k] += tokens;
}

int64_t fg_selfhost_end(struct fg_selfhost *s, struct fg_selfhost_slot *slot, int64_t tokens,
                        int64_t now_us)
{
    if (!slot->on)
        return 0;
    pthread_mutex_lock(&s->mu);
    advance(s, now_us);
    if (slot->prev)
        slot->prev->next = slot->next;
    else
        s->head = slot->next;
    if (slot->next)
        slot->next->prev = slot->prev;
    else
        s->tail = slot->prev;
    slot->on = false;
    s->in_flight--;
    FG_ASSERT(s->in_flight >= 0);
    if (!s->in_flight)
        s->idle_since_us = now_us > s->last_us ? now_us : s->last_us;
    s->calls_pico += slot->pico;
    window_add(s, tokens > 0 ? tokens : 0, now_us);
    pthread_mutex_unlock(&s->mu);
    return slot->pico;
}

void fg_selfhost_totals(struct fg_selfhost *s, int64_t now_us, struct fg_selfhost_totals *t)
{
    pthread_mutex_lock(&s->mu);
    advance(s, now_us);
    t->total_pico = cum(s, s->last_us);
    t->calls_pico = s->calls_pico;
    t->idle_pico = s->idle_pico;
    t->in_flight = s->in_flight;
    t->window_tokens = 0;
    for (int k = 0; k < FG_SELFHOST_WINDOW_S; k++)
        if (s->win_sec[k] > now_us / 1000000 - FG_SELFHOST_WINDOW_S)
            t->window_tokens += s->win_tok[k];
    pthread_mutex_unlock(&s->mu);
}

void fg_selfhost_free(struct fg_selfhost *s, int64_t now_us)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    advance(s, now_us);
    /* calls still in flight at stop keep what they were given; the rest
     * of the run is idle */
    struct fg_record *idle = s->in_flight ? NULL : idle_record(s, now_us);
    int64_t total = cum(s, s->last_us);
    pthread_mutex_unlock(&s->mu);
    if (idle)
        fg_ledger_submit(idle);
    char a[32], b[32], c[32];
    fg_info("self-hosted provider %s: %lld us run, %s USD (%lld pico-USD; calls %s, idle %s)",
            s->provider, (long long)(s->last_us - s->start_us), fg_price_usd(total, a, sizeof a),
            (long long)total, fg_price_usd(s->calls_pico, b, sizeof b),
            fg_price_usd(s->idle_pico, c, sizeof c));
    pthread_mutex_destroy(&s->mu);
    free(s->provider);
    free(s);
}
