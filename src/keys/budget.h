/* budget.h — spend budgets held exactly under concurrency: reserve the
 * worst case at admission, settle to the real cost at the end.
 *
 * Contract:
 *  - A struct fg_budget is a limit per calendar period (period.h) with two
 *    counters: `spent` (the settled cost of calls that started in the
 *    current period) and `reserved` (the worst cases of calls in flight).
 *    Its owner (the key registry) keeps it alive for the whole process;
 *    every read and write of the counters goes through this module, which
 *    keeps them in a shared counter (shared.h: one cell per period, fields
 *    spent and reserved; each operation one atomic counter_apply), so it is
 *    safe from any thread.  In-process no I/O.
 *  - fg_budget_reserve() admits a call against several budgets at once (a
 *    key's and its tags'), all or none: a call fits when spent + reserved +
 *    amount <= limit on each.  Hence the settled spend of calls whose real
 *    cost stays within their reservation never exceeds the limit, however
 *    many run at once; a call that costs more than it reserved overshoots
 *    by its own excess only.
 *  - fg_budget_settle() releases a hold and adds the call's real cost, once:
 *    a second settle of the same hold only adds cost (a later attempt).
 *    fg_budget_force() holds the same amount again without a check (the
 *    next attempt of a call already admitted: retries, escalation).
 *    Each hold is a lease in a cross-process store (shared.h): a process
 *    that dies holding it gives it back when the lease expires.
 *  - A hold may also be kept outside memory (a batch line's reservation
 *    lives in the batch store): fg_budget_hold_of() rebuilds the hold a
 *    reservation of `amount` taken at `at_ms` left, without touching any
 *    counter, so it can be settled later; fg_budget_rehold() holds it again
 *    after a restart, unchecked, on each budget still in that period.
 *  - Periods roll lazily on any operation: a new period starts with zero
 *    spent and reserved; holds taken in an earlier period release nothing,
 *    and a cost counts only in the period its call started in (the ledger's
 *    ts_ms), so counters and `SUM(cost) WHERE ts_ms >= period start` agree.
 *  - A soft budget (b->soft) counts the same but never refuses: its steps
 *    carry no check.  Its owner names every budget (who: kind, id, name)
 *    for the alerts (alert.h): each settlement or charge that adds a cost
 *    tells alert.c, which checks the thresholds off the request path.
 * Money is pico-USD (price.h). */
#ifndef FRUGAL_BUDGET_H
#define FRUGAL_BUDGET_H

#include "period.h"
#include "shared.h"

#include <stdbool.h>
#include <stdint.h>

struct fg_budget {
    int64_t limit; /* pico-USD per period, > 0 */
    enum fg_period period;
    /* spent (field 0) and reserved (field 1) per period start (the window);
     * the owner may name ctr (ctr.name) for a cross-process backend */
    struct fg_shared_counter ctr;
    struct fg_shared_cell cell[1]; /* in-process: the current period */
    bool soft;                     /* alerts only: admission never refuses on it */
    /* who it is, for alerts: kind "key" | "tag" | "gateway", id, name
     * (strings owned by the budget's owner, as long-lived as it) */
    const char *kind, *id, *name;
    struct fg_budget_alert {    /* alert.c's state (its locks and thread) */
        _Atomic int queued;     /* 1 while on alert.c's queue */
        _Atomic int refused;    /* a call was refused on it since the last scan */
        struct fg_budget *next; /* alert.c's queue, under its lock */
        int64_t period;         /* alert thread only: the period `done` is for */
        int64_t resets_at;      /* alert thread only: that period's end */
        unsigned done;          /* alert thread only: thresholds marked sent */
    } alert;
};

#define FG_BUDGET_MAX_HOLD 8

/* One call's hold on its budgets (lives in the call). */
struct fg_budget_hold {
    int n;
    struct fg_budget *b[FG_BUDGET_MAX_HOLD];
    int64_t period_start[FG_BUDGET_MAX_HOLD];
    int64_t amount; /* held on each budget */
    bool held;
    uint64_t lease; /* the hold's lease in a cross-process store (shared.h) */
    bool local;     /* held in process memory (the store was down: `local`) */
};

/* A consistent snapshot of one budget. */
struct fg_budget_view {
    int64_t limit, spent, reserved;
    enum fg_period period;
    int64_t period_start, resets_at; /* ms */
};

/* Set up b for now_ms with `spent` already settled this period (from the
 * ledger at startup); hard and unnamed (the owner sets soft and who after). */
void fg_budget_init(struct fg_budget *b, int64_t limit, enum fg_period p, int64_t spent,
                    int64_t now_ms);

#define FG_BUDGET_DOWN (-2) /* the shared store is unreachable and fails closed */

/* Hold `amount` on each of bs[0..n) (n <= FG_BUDGET_MAX_HOLD).  Returns -1
 * when held (h filled), else the index of the first budget it does not fit,
 * with *deny a snapshot of that budget, or FG_BUDGET_DOWN; nothing is held
 * then.  A blocking round trip with a network store: for batch lines (whose
 * reservations live in the batch store, so they are no lease); calls
 * reserve through the asynchronous halves below. */
int fg_budget_reserve(struct fg_budget *const *bs, int n, int64_t amount, int64_t now_ms,
                      struct fg_budget_hold *h, struct fg_budget_view *deny);
/* The same reservation in two halves, for an asynchronous apply
 * (shared.h counter_apply_async): the n steps to apply, all or none, then
 * the hold they made (st as applied), or the view of the budget a step
 * refused from its denial. */
void fg_budget_reserve_steps(struct fg_budget *const *bs, int n, int64_t amount, int64_t now_ms,
                             struct fg_shared_step *st);
void fg_budget_reserved(struct fg_budget *const *bs, int n, const struct fg_shared_step *st,
                        struct fg_budget_hold *h);
void fg_budget_denied(const struct fg_budget *b, const struct fg_shared_denial *d,
                      struct fg_budget_view *v);
/* Hold h->amount again on h's budgets, unchecked (h must be settled). */
void fg_budget_force(struct fg_budget_hold *h, int64_t now_ms);
/* Release h if held and add `cost` for a call that started at call_ts_ms. */
void fg_budget_settle(struct fg_budget_hold *h, int64_t cost, int64_t call_ts_ms, int64_t now_ms);
/* The hold a reservation of `amount` on bs[0..n) taken at at_ms left
 * (held when amount > 0).  Touches no counter. */
void fg_budget_hold_of(struct fg_budget *const *bs, int n, int64_t amount, int64_t at_ms,
                       struct fg_budget_hold *h);
/* Hold h->amount again on each of h's budgets still in h's period (at
 * startup, for reservations kept outside memory); unchecked. */
void fg_budget_rehold(const struct fg_budget_hold *h, int64_t now_ms);
/* Add the cost of a call that started at call_ts_ms and held nothing
 * (the ledger's spend at startup; costs recorded outside admission). */
void fg_budget_charge(struct fg_budget *b, int64_t cost, int64_t call_ts_ms, int64_t now_ms);
void fg_budget_get(struct fg_budget *b, int64_t now_ms, struct fg_budget_view *v);

#endif
