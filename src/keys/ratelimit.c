/* ratelimit.c — see ratelimit.h. */
#include "ratelimit.h"

#include "assert.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t sec_of(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

#define SLOT(r, s) (&(r)->slot[(((s) % FG_RATE_WINDOW_S) + FG_RATE_WINDOW_S) % FG_RATE_WINDOW_S])

static bool live(int64_t slot_sec, int64_t now_sec)
{
    return slot_sec > now_sec - FG_RATE_WINDOW_S && slot_sec <= now_sec;
}

void fg_ratelimit_init(struct fg_ratelimit *r, int64_t rpm, int64_t tpm)
{
    pthread_mutex_lock(&lock);
    memset(r, 0, sizeof *r);
    r->rpm = rpm > 0 ? rpm : 0;
    r->tpm = tpm > 0 ? tpm : 0;
    for (int i = 0; i < FG_RATE_WINDOW_S; i++)
        r->slot[i].sec = INT64_MIN / 2;
    pthread_mutex_unlock(&lock);
}

/* Under lock: totals over the window. */
static void totals(struct fg_ratelimit *r, int64_t now_sec, int64_t *req, int64_t *tok)
{
    *req = *tok = 0;
    for (int i = 0; i < FG_RATE_WINDOW_S; i++)
        if (live(r->slot[i].sec, now_sec)) {
            /* settle clamps at zero and holds add non-negative counts */
            FG_DASSERT(r->slot[i].req >= 0 && r->slot[i].tok >= 0);
            *req += r->slot[i].req;
            *tok += r->slot[i].tok;
        }
}

/* Under lock: seconds until `used - expired + need <= limit`, walking the
 * window oldest slot first (field 0: requests, 1: tokens). */
static int wait_s(struct fg_ratelimit *r, int field, int64_t used, int64_t need, int64_t limit,
                  int64_t now_ms)
{
    int64_t now_sec = sec_of(now_ms), freed = 0;
    for (int64_t s = now_sec - FG_RATE_WINDOW_S + 1; s <= now_sec; s++) {
        const struct fg_ratelimit_slot *sl = SLOT(r, s);
        if (sl->sec != s)
            continue;
        freed += field ? sl->tok : sl->req;
        if (used - freed + need <= limit) {
            int64_t ms = (s + FG_RATE_WINDOW_S) * 1000 - now_ms;
            return ms <= 1000 ? 1 : (int)((ms + 999) / 1000);
        }
    }
    return FG_RATE_WINDOW_S;
}

int fg_ratelimit_admit(struct fg_ratelimit *r, int64_t tokens, int64_t now_ms,
                       struct fg_ratelimit_hold *h, struct fg_ratelimit_denial *d)
{
    int64_t now_sec = sec_of(now_ms), req, tok;
    if (tokens < 0)
        tokens = 0;
    memset(d, 0, sizeof *d);
    pthread_mutex_lock(&lock);
    totals(r, now_sec, &req, &tok);
    if (r->rpm && req + 1 > r->rpm) {
        *d = (struct fg_ratelimit_denial){.limit = r->rpm, .used = req, .need = 1};
        d->retry_after_s = wait_s(r, 0, req, 1, r->rpm, now_ms);
        pthread_mutex_unlock(&lock);
        return -1;
    }
    if (r->tpm && tok + tokens > r->tpm) {
        *d = (struct fg_ratelimit_denial){
            .tokens = true, .limit = r->tpm, .used = tok, .need = tokens, .never = tokens > r->tpm};
        d->retry_after_s = d->never ? FG_RATE_WINDOW_S : wait_s(r, 1, tok, tokens, r->tpm, now_ms);
        pthread_mutex_unlock(&lock);
        return -1;
    }
    struct fg_ratelimit_slot *sl = SLOT(r, now_sec);
    FG_DASSERT(sl >= r->slot && sl < r->slot + FG_RATE_WINDOW_S);
    if (sl->sec != now_sec) {
        sl->sec = now_sec;
        sl->req = sl->tok = 0;
    }
    sl->req++;
    sl->tok += tokens;
    *h = (struct fg_ratelimit_hold){.r = r, .sec = now_sec, .tokens = tokens, .held = true};
    pthread_mutex_unlock(&lock);
    return 0;
}

void fg_ratelimit_settle(struct fg_ratelimit_hold *h, int64_t tokens, int64_t now_ms)
{
    if (!h->r || !h->held)
        return;
    pthread_mutex_lock(&lock);
    struct fg_ratelimit_slot *sl = SLOT(h->r, h->sec);
    if (sl->sec == h->sec && live(h->sec, sec_of(now_ms))) {
        sl->tok += tokens - h->tokens;
        if (sl->tok < 0)
            sl->tok = 0;
    }
    FG_ASSERT(h->tokens >= 0);
    h->held = false;
    pthread_mutex_unlock(&lock);
}

void fg_ratelimit_force(struct fg_ratelimit_hold *h, int64_t tokens, int64_t now_ms)
{
    if (!h->r || h->held)
        return;
    int64_t now_sec = sec_of(now_ms);
    FG_ASSERT(tokens >= 0);
    pthread_mutex_lock(&lock);
    struct fg_ratelimit_slot *sl = SLOT(h->r, now_sec);

    if (sl->sec != now_sec) {
        sl->sec = now_sec;
        sl->req = sl->tok = 0;
    }
    sl->tok += tokens;
    h->sec = now_sec;
    h->tokens = tokens;
    h->held = true;
    pthread_mutex_unlock(&lock);
}

void fg_ratelimit_usage(struct fg_ratelimit *r, int64_t now_ms, int64_t *req, int64_t *tok)
{
    pthread_mutex_lock(&lock);
    totals(r, sec_of(now_ms), req, tok);
    pthread_mutex_unlock(&lock);
}
