/* batch_budget.h — provider-mode batch lines held to the creating key's
 * budgets.
 *
 * Contract:
 *  - A provider-mode line never passes admission (its plan holds nothing,
 *    admit.h), so the executor reserves it here, just before submitting it
 *    to the provider: its worst case at the batch price (the plan's
 *    worst_pico, batch_plan.h) on every budget its ledger record will count
 *    against — the owner key's budget and the tag budgets of the tags the
 *    owner is charged for (fg_keyreg_charged_tags: a virtual key's own
 *    tags, never the create call's header tags) — all or none, like
 *    admission (budget.h).  A line that
 *    does not fit is not submitted.
 *  - The reservation is durable: the executor writes it to the line
 *    (batch_store.h hold_pico / hold_at) before submitting, and clears it in
 *    the same transaction that ends the line; then it settles the hold in
 *    memory to the line's real cost (fg_batch_budget_settle; 0 for lines that end
 *    without one).  The line's ledger records carry ts_ms = hold_at, so its
 *    cost counts in the budget period it was reserved in, in memory and in
 *    the ledger alike.
 *  - fg_batch_budget_restore() runs at startup after the key registry has read
 *    each budget's spend from the ledger and before any call is admitted: it
 *    holds again every reservation outstanding in the store, so a restart
 *    (or kill -9) cannot free budget that lines at the provider will spend.
 *  - Any thread; the counters are locked by budget.h.  No I/O except
 *    fg_batch_budget_restore. */
#ifndef FRUGAL_BATCH_BUDGET_H
#define FRUGAL_BATCH_BUDGET_H

#include "budget.h"
#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The budgets the lines of one batch count against. */
struct fg_batch_budget {
    int n;
    struct fg_budget *b[FG_BUDGET_MAX_HOLD];
    char whose[FG_BUDGET_MAX_HOLD][160]; /* "key 'NAME' (ID)", "tag 'K=V'" */
};

/* The budgets of a batch created by key id `owner` with ledger tags `tags`
 * (either may be NULL or unknown: no budget then). */
void fg_batch_budget_of(const char *owner, const char *tags, int64_t now_ms,
                        struct fg_batch_budget *bb);

/* Reserve `amount` for one line on every budget of bb at now_ms.  0 held;
 * -1 refused: e is the 429 budget_exceeded error naming the budget, and
 * *hopeless says that budget cannot hold it this period even with nothing
 * else reserved. */
int fg_batch_budget_reserve(const struct fg_batch_budget *bb, int64_t amount, int64_t now_ms,
                            struct fg_err *e, bool *hopeless);

/* Release a line's reservation of `amount` taken at at_ms and add its real
 * cost (for a call that started at at_ms). */
void fg_batch_budget_settle(const struct fg_batch_budget *bb, int64_t amount, int64_t at_ms,
                            int64_t cost, int64_t now_ms);

/* Startup: hold again the reservations outstanding in the batch store at
 * `storage`.  0, or -1 with err. */
int fg_batch_budget_restore(const char *storage, char *err, size_t errlen);

#endif
