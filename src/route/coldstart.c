/* coldstart.c — see coldstart.h. */
#include "coldstart.h"

#include "arena.h"
#include "assert.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One domain's scores ascending, with prefix counts of cheap_ok. */
struct sorted {
    double *s;
    size_t *ok; /* ok[j] = cheap_ok among the j lowest */
    size_t n;
};

static int by_score_asc(const void *a, const void *b)
{
    double x = ((const struct fg_optpoint_label *)a)->score;
    double y = ((const struct fg_optpoint_label *)b)->score;
    return (x > y) - (x < y);
}

static void sorted_make(struct sorted *o, const struct fg_coldstart_domain *d)
{
    struct fg_optpoint_label *t = fg_xmalloc((d->n ? d->n : 1) * sizeof *t);
    memcpy(t, d->l, d->n * sizeof *t);
    qsort(t, d->n, sizeof *t, by_score_asc);
    o->n = d->n;
    o->s = fg_xmalloc((d->n ? d->n : 1) * sizeof *o->s);
    o->ok = fg_xmalloc((d->n + 1) * sizeof *o->ok);
    o->ok[0] = 0;
    for (size_t i = 0; i < d->n; i++) {
        o->s[i] = t[i].score;
        o->ok[i + 1] = o->ok[i] + t[i].cheap_ok;
    }
    free(t);
}

/* Rows of o scoring below c. */
static size_t below(const struct sorted *o, double c)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->s[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Does every domain with enough rows in the band agree, and does at least
 * one have enough?  cheap: the band is score < c; else score >= c. */
static bool band_ok(const struct sorted *o, size_t nd, double c, bool cheap)
{
    bool evidence = false;
    for (size_t k = 0; k < nd; k++) {
        size_t j = below(&o[k], c);
        size_t m = cheap ? j : o[k].n - j;
        if (m < FG_COLDSTART_MIN_ROWS)
            continue;
        size_t good = cheap ? o[k].ok[j] : m - (o[k].ok[o[k].n] - o[k].ok[j]);
        double conf = cheap ? FG_COLDSTART_CHEAP_CONF : FG_COLDSTART_FRONTIER_CONF;
        if (fg_optpoint_wilson_lower((double)good, (double)m, FG_OPTPOINT_Z) < conf)
            return false;
        evidence = true;
    }
    return evidence;
}

void fg_coldstart_bands(const struct fg_coldstart_domain *d, size_t nd,
                        struct fg_coldstart_bands *out)
{
    FG_ASSERT(out && (d || nd == 0));
    out->cheap_below = -INFINITY;
    out->frontier_at = INFINITY;
    struct sorted *o = fg_xcalloc(nd ? nd : 1, sizeof *o);
    for (size_t k = 0; k < nd; k++)
        sorted_make(&o[k], &d[k]);
    /* candidate cuts: every score of every domain (a cut at a score s
     * puts s itself in the upper band); O(rows · domains · log rows) */
    for (size_t k = 0; k < nd; k++) {
        for (size_t i = 0; i < o[k].n; i++) {
            double c = o[k].s[i];
            if (c > out->cheap_below && band_ok(o, nd, c, true))
                out->cheap_below = c;
            if (c < out->frontier_at && band_ok(o, nd, c, false))
                out->frontier_at = c;
        }
    }
    if (out->cheap_below > out->frontier_at)
        out->cheap_below = out->frontier_at;
    for (size_t k = 0; k < nd; k++) {
        free(o[k].s);
        free(o[k].ok);
    }
    free(o);
}

enum fg_coldstart_tier fg_coldstart_decide(const struct fg_coldstart_bands *b, double score)
{
    if (score < b->cheap_below)
        return FG_COLDSTART_CHEAP;
    if (score >= b->frontier_at)
        return FG_COLDSTART_FRONTIER;
    return FG_COLDSTART_UNSURE;
}
