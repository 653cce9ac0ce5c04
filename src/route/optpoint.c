/* optpoint.c — see optpoint.h. */
#include "optpoint.h"

#include "arena.h"
#include "assert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double fg_optpoint_wilson_lower(double k, double n, double z)
{
    if (n <= 0)
        return 0;
    double p = k / n, z2 = z * z;
    double centre = p + z2 / (2 * n);
    double half = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    double lo = (centre - half) / (1 + z2 / n);
    return lo < 0 ? 0 : lo;
}

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const struct fg_optpoint_label *)a)->score;
    double y = ((const struct fg_optpoint_label *)b)->score;
    return (x < y) - (x > y);
}

/* AUC of "frontier needed" (!cheap_ok) by score, ties counted half, from
 * the labels sorted by descending score; Hanley-McNeil lower bound. */
static void auc_of(const struct fg_optpoint_label *s, size_t n, struct fg_optpoint *out)
{
    double pos = 0, neg = 0, above = 0; /* pairs (need, ok) ranked correctly */
    double pos_seen = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double p = 0, q = 0;
        while (j < n && s[j].score == s[i].score) {
            if (s[j].cheap_ok)
                q++;
            else
                p++;
            j++;
        }
        /* each ok row in this tie group is beaten by every earlier need
         * row and ties with the need rows of its own group */
        above += q * pos_seen + 0.5 * q * p;
        pos_seen += p;
        pos += p;
        neg += q;
        i = j;
    }
    out->auc = out->auc_lower = NAN;
    out->beats_coin = false;
    if (pos == 0 || neg == 0)
        return;
    double a = above / (pos * neg);
    double q1 = a / (2 - a), q2 = 2 * a * a / (1 + a);
    double var = (a * (1 - a) + (pos - 1) * (q1 - a * a) + (neg - 1) * (q2 - a * a)) / (pos * neg);
    out->auc = a;
    out->auc_lower = a - FG_OPTPOINT_Z * sqrt(var > 0 ? var : 0);
    out->beats_coin = out->auc_lower > 0.5;
}

static void fill_point(struct fg_optpoint *out, size_t k, double ok_below, double threshold)
{
    double n = (double)out->n;
    out->n_frontier = k;
    out->frontier_share = (double)k / n;
    out->threshold = threshold;
    out->kept = ((double)k + ok_below) / n;
    out->kept_lower = fg_optpoint_wilson_lower((double)k + ok_below, n, FG_OPTPOINT_Z);
    /* a random router sends a share s frontier and the rest keeps the
     * cheap-alone rate: quality s + (1 - s)·rate */
    out->random_kept = out->frontier_share + (1 - out->frontier_share) * out->cheap_ok_rate;
}

void fg_optpoint_pick(const struct fg_optpoint_label *l, size_t n, double target,
                      struct fg_optpoint *out)
{
    FG_ASSERT(out && (l || n == 0) && target > 0 && target <= 1);
    memset(out, 0, sizeof *out);
    out->target = target;
    out->n = n;
    out->auc = out->auc_lower = NAN;
    if (n == 0) {
        out->verdict = FG_OPTPOINT_NO_LABELS;
        out->threshold = -INFINITY; /* no evidence: everything frontier */
        out->frontier_share = 1;
        return;
    }
    struct fg_optpoint_label *s = fg_xmalloc(n * sizeof *s);
    memcpy(s, l, n * sizeof *s);
    qsort(s, n, sizeof *s, by_score_desc);
    double ok_total = 0;
    for (size_t i = 0; i < n; i++)
        ok_total += s[i].cheap_ok;
    out->cheap_ok_rate = ok_total / (double)n;
    auc_of(s, n, out);
    /* k = calls sent frontier, only at tie-group boundaries; quality only
     * grows with k, so the first k that passes is the cheapest */
    double ok_below = ok_total;
    size_t k = 0;
    for (;;) {
        double thr = k == 0 ? INFINITY : k == n ? -INFINITY : (s[k - 1].score + s[k].score) / 2;
        fill_point(out, k, ok_below, thr);
        if (out->kept_lower >= target || k == n)
            break;
        double g = s[k].score;
        while (k < n && s[k].score == g)
            ok_below -= s[k++].cheap_ok;
    }
    out->verdict = k == 0   ? FG_OPTPOINT_ALL_CHEAP
                   : k == n ? FG_OPTPOINT_ALL_FRONTIER
                            : FG_OPTPOINT_THRESHOLD;
    free(s);
}

char *fg_optpoint_describe(const struct fg_optpoint *p, char *out, size_t outlen)
{
    char coin[160] = "";
    if (isnan(p->auc))
        snprintf(coin, sizeof coin, "; ranking not measurable (labels of one kind only)");
    else if (!p->beats_coin)
        snprintf(coin, sizeof coin,
                 "; the classifier does not beat a coin on these labels (AUC %.3f, 90%% lower "
                 "bound %.3f): a random router at this share keeps %.3f",
                 p->auc, p->auc_lower, p->random_kept);
    else
        snprintf(coin, sizeof coin, "; AUC %.3f (90%% lower bound %.3f); random at this share %.3f",
                 p->auc, p->auc_lower, p->random_kept);
    switch (p->verdict) {
    case FG_OPTPOINT_NO_LABELS:
        snprintf(out, outlen, "no labels: every call goes to the frontier model");
        break;
    case FG_OPTPOINT_ALL_CHEAP:
        snprintf(out, outlen,
                 "the cheap model alone meets quality %.3f: route everything cheap (quality "
                 "%.3f, 90%% lower bound %.3f, Wilson, on %zu labels)%s",
                 p->target, p->kept, p->kept_lower, p->n, coin);
        break;
    case FG_OPTPOINT_THRESHOLD:
        snprintf(out, outlen,
                 "threshold %.4f: %.1f%% frontier, quality %.3f (90%% lower bound %.3f, Wilson) "
                 ">= %.3f on %zu labels%s",
                 p->threshold, 100 * p->frontier_share, p->kept, p->kept_lower, p->target, p->n,
                 coin);
        break;
    case FG_OPTPOINT_ALL_FRONTIER:
        snprintf(out, outlen,
                 "no cheaper point proves quality %.3f on %zu labels (90%% Wilson lower bound; "
                 "cheap alone %.3f): every call goes to the frontier model%s",
                 p->target, p->n, p->cheap_ok_rate, coin);
        break;
    }
    return out;
}
