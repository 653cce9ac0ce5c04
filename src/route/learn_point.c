/* learn_point.c — see learn_point.h. */
#include "learn_point.h"

#include "arena.h"
#include "assert.h"

#include <stdlib.h>
#include <string.h>

bool fg_learn_point_enough(size_t n, int min_labels)
{
    return min_labels > 0 && n >= (size_t)min_labels;
}

/* Was label k left out of the fit of the running weights? */
static bool unseen(size_t k, size_t fitted_n, size_t hold_every)
{
    return fitted_n == 0 || k >= fitted_n || k % hold_every == hold_every - 1;
}

void fg_learn_point(const struct fg_router *r, const struct fg_learn_labels *L, size_t fitted_n,
                    size_t hold_every, double target, struct fg_optpoint *out)
{
    FG_ASSERT(r && L && hold_every >= 1);
    struct fg_optpoint_label *l = fg_xmalloc((L->n ? L->n : 1) * sizeof *l);
    size_t n = 0;
    for (size_t k = 0; k < L->n; k++)
        if (unseen(k, fitted_n, hold_every))
            l[n++] =
                (struct fg_optpoint_label){fg_router_score_feats(r, &L->x[k]), L->label[k] == 1};
    memset(out, 0, sizeof *out);
    if (target > 0)
        fg_optpoint_pick(l, n, target, out);
    else
        out->n = n;
    free(l);
}
