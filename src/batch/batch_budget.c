/* batch_budget.c — see batch_budget.h. */
#include "batch_budget.h"

#include "shared.h"

#include "admit.h"
#include "batch_store.h"
#include "keyreg.h"
#include "log.h"
#include "price.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

void fg_batch_budget_of(const char *owner, const char *tags, int64_t now_ms,
                        struct fg_batch_budget *bb)
{
    memset(bb, 0, sizeof *bb);
    struct fg_vkey *v = NULL;
    if (owner && fg_keyreg_by_id(owner, now_ms, &v) != FG_KEY_UNKNOWN && v && v->k.budget > 0) {
        snprintf(bb->whose[bb->n], sizeof bb->whose[0], "key '%s' (%s)", v->k.name, v->k.id);
        bb->b[bb->n++] = &v->budget;
    }
    /* the same rule as real-time admission: a virtual key is charged for its
     * own tags only, never for tags its create call sent (keyreg.h) */
    struct fg_tag_budget *tb[FG_BUDGET_MAX_HOLD];
    int nt = fg_keyreg_tag_budgets(fg_keyreg_charged_tags(v, owner, tags), tb,
                                   FG_BUDGET_MAX_HOLD - bb->n);
    for (int i = 0; i < nt; i++) {
        snprintf(bb->whose[bb->n], sizeof bb->whose[0], "tag '%s'", tb[i]->tag);
        bb->b[bb->n++] = &tb[i]->budget;
    }
    /* the gateway's budget counts every call (admit.c) */
    struct fg_budget *gw = fg_keyreg_gateway_budget();
    if (gw && bb->n < FG_BUDGET_MAX_HOLD) {
        snprintf(bb->whose[bb->n], sizeof bb->whose[0], "the gateway");
        bb->b[bb->n++] = gw;
    }
}

int fg_batch_budget_reserve(const struct fg_batch_budget *bb, int64_t amount, int64_t now_ms,
                            struct fg_err *e, bool *hopeless)
{
    struct fg_budget_hold h;
    struct fg_budget_view v;
    *hopeless = false;
    int bad = fg_budget_reserve(bb->b, bb->n, amount, now_ms, &h, &v);
    if (bad == FG_BUDGET_DOWN) {
        fg_err_set(e, FG_E_UNAVAILABLE, NULL, "budget_store_unavailable",
                   "frugal cannot reach its budget store (Redis), so it cannot hold this batch "
                   "to its budgets (budgets.on_store_down: fail_closed). Retry in a moment.");
        return -1;
    }
    if (bad < 0)
        return 0; /* h is rebuilt from the line's stored hold when it settles */
    fg_admit_budget_message(e, bb->whose[bad], &v, amount, "request (at the batch price)", NULL);
    *hopeless = v.spent >= v.limit || amount > v.limit - v.spent;
    return -1;
}

void fg_batch_budget_settle(const struct fg_batch_budget *bb, int64_t amount, int64_t at_ms,
                            int64_t cost, int64_t now_ms)
{
    struct fg_budget_hold h;
    fg_budget_hold_of(bb->b, bb->n, amount, at_ms, &h);
    fg_budget_settle(&h, cost, at_ms, now_ms);
}

struct restore_ctx {
    int64_t now_ms, lines, pico;
};

static int restore_one(void *arg, const struct fg_bhold *l)
{
    struct restore_ctx *x = arg;
    struct fg_batch_budget bb;
    struct fg_budget_hold h;
    fg_batch_budget_of(l->owner, l->tags, x->now_ms, &bb);
    fg_budget_hold_of(bb.b, bb.n, l->hold_pico, l->hold_at, &h);
    fg_budget_rehold(&h, x->now_ms);
    x->lines++;
    x->pico += l->hold_pico;
    return 0;
}

int fg_batch_budget_restore(const char *storage, char *err, size_t errlen)
{
    /* batches need SQLite: without it there is nothing to restore (and the
     * executor refuses to start, saying why) */
    if (!storage || strncmp(storage, "sqlite:", 7) != 0)
        return 0;
    /* a cross-process store (Redis) kept them: holding them again would
     * count them once per restart */
    if (fg_shared_process()->ops->cross_process)
        return 0;
    struct fg_batch_store *s;
    if (fg_batch_store_open(storage, &s, err, errlen) < 0)
        return -1;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct restore_ctx x = {.now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000};
    int rc = fg_batch_store_holds(s, NULL, restore_one, &x);
    if (rc < 0)
        snprintf(err, errlen, "reading the budget reservations of batch lines: %s",
                 fg_batch_store_errmsg(s));
    fg_batch_store_close(s);
    if (rc == 0 && x.lines > 0) {
        char usd[32];
        fg_info("batches: %lld line(s) in flight at providers hold $%s of their budgets again",
                (long long)x.lines, fg_price_usd(x.pico, usd, sizeof usd));
    }
    return rc;
}
