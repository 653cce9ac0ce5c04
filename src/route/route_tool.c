/* route_tool.c — see route_tool.h.
 *
 * Training is full-batch L-BFGS on the mean weighted logistic loss plus an
 * L2 penalty, from zero, over rows in file order: no randomness at all, so
 * the weights file is reproducible byte for byte.  Dense features are
 * standardised for the fit; the mean and scale are folded back into the
 * stored weights, so the scorer reads raw feature values. */
#include "route_tool.h"

#include "coldstart.h"
#include "optpoint.h"
#include "route_labels.h"

#include "arena.h"
#include "assert.h"
#include "vec.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ND FG_ROUTER_N_DENSE
#define BOOT_DRAWS 1000
#define BALANCED_CAP 1000
#define LBFGS_M 8
#define DEFAULT_BUCKETS (1u << 16) /* 2^18 cross-validated the same */
#define RETAIN_TARGET 0.955        /* 95% plus a margin for sampling error */

static const char *const nc_sources[] = {"alpacaeval", "mapcoder_xcodeeval", NULL};
static const int op_points[] = {20, 30, 40, 50};
#define N_OP (int)(sizeof op_points / sizeof op_points[0])

/* ---- small helpers ------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("frugal route: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see frugal route --help)\n", stderr);
    va_end(ap);
    return 2;
}

static bool in_list(const char *const *list, const char *s)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

/* Is s one of the comma-separated names in csv? */
static bool in_csv(const char *csv, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = csv; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !memcmp(p, s, n))
            return true;
        p = e ? e + 1 : p + l;
    }
    return false;
}

/* ---- the curve -------------------------------------------------------------- */

struct sort_key {
    double score;
    size_t i;
};

static int by_score_desc(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Row indices in descending score order (ties by index). */
static size_t *score_order(size_t n, const double *score)
{
    struct sort_key *k = fg_xmalloc((n ? n : 1) * sizeof *k);
    for (size_t i = 0; i < n; i++)
        k[i] = (struct sort_key){score[i], i};
    qsort(k, n, sizeof *k, by_score_desc);
    size_t *o = fg_xmalloc((n ? n : 1) * sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = k[i].i;
    free(k);
    return o;
}

static int cpt(const double *pgr, double level)
{
    for (int k = 0; k < FG_CURVE_POINTS; k++)
        if (pgr[k] >= level - 1e-9)
            return k;
    return -1;
}

/* The curve over rows in the given descending-score order. */
static void curve_ordered(size_t n, const size_t *order, const double *score, const double *qw,
                          const double *qs, const double *w, struct fg_route_tool_curve *out)
{
    double W = 0, sw = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        W += wi;
        sw += wi * qw[i];
        ss += wi * qs[i];
    }
    memset(out, 0, sizeof *out);
    out->n = W;
    out->q_weak = W > 0 ? sw / W : NAN;
    out->q_strong = W > 0 ? ss / W : NAN;
    /* tie groups, top score first: their mass and gain; AUC pairs */
    double *gm = fg_xmalloc((n ? n : 1) * sizeof *gm), *gg = fg_xmalloc((n ? n : 1) * sizeof *gg);
    size_t ng = 0;
    double pos = 0, neg = 0, auc_num = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a;
        double m = 0, gain = 0, p = 0, q = 0;
        while (b < n && score[order[b]] == score[order[a]]) {
            size_t i = order[b++];
            double wi = w ? w[i] : 1;
            m += wi;
            gain += wi * (qs[i] - qw[i]);
            if (qs[i] > qw[i])
                p += wi;
            else
                q += wi;
        }
        auc_num += q * pos + 0.5 * p * q; /* positive above negative */
        pos += p;
        neg += q;
        gm[ng] = m;
        gg[ng++] = gain;
        a = b;
    }
    out->auc = pos > 0 && neg > 0 ? auc_num / (pos * neg) : NAN;
    /* Q(c): whole groups above the mass c·W, the boundary group pro rata
     * (its expected gain under a random order) */
    size_t gi = 0;
    double bm = 0, bg = 0;
    for (int k = 0; k < FG_CURVE_POINTS; k++) {
        double M = W * k / (FG_CURVE_POINTS - 1);
        while (gi < ng && bm + gm[gi] < M) {
            bm += gm[gi];
            bg += gg[gi++];
        }
        double G = bg;
        if (gi < ng && gm[gi] > 0) {
            double fr = (M - bm) / gm[gi];
            G += (fr < 0 ? 0 : fr > 1 ? 1 : fr) * gg[gi];
        }
        out->q[k] = W > 0 ? (sw + G) / W : NAN;
    }
    free(gm);
    free(gg);
    double span = out->q_strong - out->q_weak;
    bool ok = W > 0 && fabs(span) > 1e-12;
    double area = 0;
    for (int k = 0; k < FG_CURVE_POINTS; k++) {
        out->pgr[k] = ok ? (out->q[k] - out->q_weak) / span : NAN;
        if (k)
            area += (out->pgr[k] + out->pgr[k - 1]) / 2;
    }
    out->apgr = ok ? area / (FG_CURVE_POINTS - 1) : NAN;
    out->cpt50 = ok ? cpt(out->pgr, 0.5) : -1;
    out->cpt80 = ok ? cpt(out->pgr, 0.8) : -1;
}

void fg_route_tool_curve(size_t n, const double *score, const double *qw, const double *qs,
                         const double *w, struct fg_route_tool_curve *out)
{
    size_t *o = score_order(n, score);
    curve_ordered(n, o, score, qw, qs, w, out);
    free(o);
}

/* Bootstrap 95% interval of the APGR (rows resampled with replacement). */
static void apgr_ci(size_t n, const double *score, const double *qw, const double *qs, double *lo,
                    double *hi)
{
    *lo = *hi = NAN;
    if (n < 2)
        return;
    size_t *o = score_order(n, score);
    double *w = fg_xmalloc(n * sizeof *w), *a = fg_xmalloc(BOOT_DRAWS * sizeof *a);
    uint64_t seed = 20240601;
    int m = 0;
    struct fg_route_tool_curve c;
    for (int d = 0; d < BOOT_DRAWS; d++) {
        memset(w, 0, n * sizeof *w);
        for (size_t k = 0; k < n; k++)
            w[splitmix(&seed) % n] += 1;
        curve_ordered(n, o, score, qw, qs, w, &c);
        if (!isnan(c.apgr))
            a[m++] = c.apgr;
    }
    if (m >= 20) {
        for (int i = 1; i < m; i++) /* insertion sort: m <= 1000 */
            for (int j = i; j > 0 && a[j] < a[j - 1]; j--) {
                double t = a[j];
                a[j] = a[j - 1];
                a[j - 1] = t;
            }
        *lo = a[(int)floor(0.025 * (m - 1))];
        *hi = a[(int)ceil(0.975 * (m - 1))];
    }
    free(o);
    free(w);
    free(a);
}

/* ---- data ------------------------------------------------------------------ */

struct row {
    char *uid, *source, *prompt;
    size_t len;
    int src, fold;
    double qw, qs;
};

struct dataset {
    struct row *r;
    size_t n, cap;
    char **src; /* distinct sources, first-seen order */
    int n_src;
};

static void dataset_free(struct dataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->r[i].uid);
        free(d->r[i].source);
        free(d->r[i].prompt);
    }
    for (int s = 0; s < d->n_src; s++)
        free(d->src[s]);
    free(d->r);
    free(d->src);
    memset(d, 0, sizeof *d);
}

static int source_index(struct dataset *d, const char *name)
{
    for (int s = 0; s < d->n_src; s++)
        if (!strcmp(d->src[s], name))
            return s;
    d->src = fg_xrealloc(d->src, (size_t)(d->n_src + 1) * sizeof *d->src);
    d->src[d->n_src] = fg_xstrdup(name);
    return d->n_src++;
}

/* Normalised quality of one side: judge scores are 1-10. */
static double norm_quality(const char *score_type, double v)
{
    return strncmp(score_type, "judge", 5) == 0 ? v / 10.0 : v;
}

/* Load rows; keep only those whose source passes keep(). */
static int dataset_load(struct dataset *d, const char *path, const char *only, bool exclude_nc)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "frugal route: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (getline(&line, &cap, fp) >= 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        const char *uid = json_string_value(json_object_get(o, "uid"));
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *st = json_string_value(json_object_get(o, "score_type"));
        json_t *prompt = json_object_get(o, "prompt");
        json_t *ws = json_object_get(o, "weak_score"), *ss = json_object_get(o, "strong_score");
        if (!o || !src || !st || !json_is_string(prompt) || !json_is_number(ws) ||
            !json_is_number(ss)) {
            fprintf(stderr, "frugal route: %s:%ld: %s\n", path, lineno,
                    o ? "missing source, score_type, prompt, weak_score or strong_score" : e.text);
            json_decref(o);
            rc = -1;
            break;
        }
        if ((only && !in_csv(only, src)) || (exclude_nc && in_list(nc_sources, src))) {
            json_decref(o);
            continue;
        }
        FG_VEC_RESERVE(d->r, d->n + 1, d->cap);
        struct row *r = &d->r[d->n++];
        r->uid = fg_xstrdup(uid ? uid : "");
        r->source = fg_xstrdup(src);
        r->len = json_string_length(prompt);
        r->prompt = fg_xmalloc(r->len + 1);
        memcpy(r->prompt, json_string_value(prompt), r->len + 1);
        r->src = source_index(d, src);
        json_t *f = json_object_get(o, "fold");
        r->fold = json_is_integer(f) ? (int)json_integer_value(f) : -1;
        r->qw = norm_quality(st, json_number_value(ws));
        r->qs = norm_quality(st, json_number_value(ss));
        json_decref(o);
    }
    free(line);
    fclose(fp);
    if (!rc && !d->n) {
        fprintf(stderr, "frugal route: %s: no rows (after source filters)\n", path);
        rc = -1;
    }
    return rc;
}

/* ---- features --------------------------------------------------------------- */

struct fstore {
    uint32_t nb;
    size_t n;
    size_t *off; /* n + 1 */
    uint32_t *idx;
    float *val;
    float *dense; /* n × ND */
};

static void fstore_build(struct fstore *fs, uint32_t nb, size_t n, const char *const *text,
                         const size_t *len)
{
    memset(fs, 0, sizeof *fs);
    fs->nb = nb;
    fs->n = n;
    fs->off = fg_xmalloc((n + 1) * sizeof *fs->off);
    fs->dense = fg_xmalloc((n ? n : 1) * ND * sizeof *fs->dense);
    size_t cap = 1024, nnz = 0;
    fs->idx = fg_xmalloc(cap * sizeof *fs->idx);
    fs->val = fg_xmalloc(cap * sizeof *fs->val);
    struct fg_route_facts facts = {.turns = 1};
    for (size_t i = 0; i < n; i++) {
        struct fg_route_feats x;
        fg_router_features(nb, text[i], len[i], &facts, &x);
        fs->off[i] = nnz;
        if (nnz + x.n > cap) {
            while (nnz + x.n > cap)
                cap *= 2;
            fs->idx = fg_xrealloc(fs->idx, cap * sizeof *fs->idx);
            fs->val = fg_xrealloc(fs->val, cap * sizeof *fs->val);
        }
        memcpy(fs->idx + nnz, x.bucket, x.n * sizeof *fs->idx);
        memcpy(fs->val + nnz, x.value, x.n * sizeof *fs->val);
        memcpy(fs->dense + i * ND, x.dense, sizeof x.dense);
        nnz += x.n;
    }
    fs->off[n] = nnz;
}

static void fstore_free(struct fstore *fs)
{
    free(fs->off);
    free(fs->idx);
    free(fs->val);
    free(fs->dense);
    memset(fs, 0, sizeof *fs);
}

/* Row i of the store as a feature vector. */
static void fstore_row(const struct fstore *fs, size_t i, struct fg_route_feats *x)
{
    x->n = (uint32_t)(fs->off[i + 1] - fs->off[i]);
    x->bucket = fs->idx + fs->off[i];
    x->value = fs->val + fs->off[i];
    memcpy(x->dense, fs->dense + i * ND, sizeof x->dense);
}

/* ---- fitting ------------------------------------------------------------------- */

/* The fit works on the buckets that occur in its rows only (the others
 * keep weight 0, their optimum under L2), renumbered 0..nb-1. */
struct fitp {
    size_t n;
    size_t *off;   /* n + 1, into idx/val */
    uint32_t *idx; /* compact bucket ids */
    const float *val;
    double *t, *sw, *zd; /* target, weight, standardised dense (n × ND) */
    const double *z0;    /* per fitted row: a fixed logit offset (the prior's), or NULL */
    double mu[ND], sd[ND];
    double lambda;
    uint32_t nb; /* active buckets */
    size_t D;    /* nb + ND + 1 (bias last) */
};

static double objective(const struct fitp *P, const double *th, double *g)
{
    memset(g, 0, P->D * sizeof *g);
    double f = 0, S = 0;
    const double *v = th + P->nb;
    double b = th[P->D - 1];
    for (size_t r = 0; r < P->n; r++) {
        size_t a = P->off[r], e = P->off[r + 1];
        const double *zd = P->zd + r * ND;
        double z = b + (P->z0 ? P->z0[r] : 0);
        for (size_t k = a; k < e; k++)
            z += th[P->idx[k]] * P->val[k];
        for (int j = 0; j < ND; j++)
            z += v[j] * zd[j];
        double p = 1 / (1 + exp(-z)), t = P->t[r], w = P->sw[r];
        double l = (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - t * z;
        f += w * l;
        S += w;
        double gz = w * (p - t);
        for (size_t k = a; k < e; k++)
            g[P->idx[k]] += gz * P->val[k];
        for (int j = 0; j < ND; j++)
            g[P->nb + j] += gz * zd[j];
        g[P->D - 1] += gz;
    }
    double inv = S > 0 ? 1 / S : 0, reg = 0;
    f *= inv;
    for (size_t k = 0; k + 1 < P->D; k++) {
        g[k] = g[k] * inv + P->lambda * th[k];
        reg += th[k] * th[k];
    }
    g[P->D - 1] *= inv;
    return f + 0.5 * P->lambda * reg;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Minimise the objective from x (in place): L-BFGS with Armijo backtracking. */
static void lbfgs(const struct fitp *P, double *x, int max_iter)
{
    size_t D = P->D;
    double *S = fg_xmalloc(LBFGS_M * D * sizeof *S), *Y = fg_xmalloc(LBFGS_M * D * sizeof *Y);
    double *g = fg_xmalloc(D * sizeof *g), *d = fg_xmalloc(D * sizeof *d);
    double *xn = fg_xmalloc(D * sizeof *xn), *gn = fg_xmalloc(D * sizeof *gn);
    double rho[LBFGS_M], alpha[LBFGS_M];
    int head = 0, mem = 0;
    double f = objective(P, x, g);
    for (int it = 0; it < max_iter; it++) {
        memcpy(d, g, D * sizeof *d);
        for (int k = 0; k < mem; k++) {
            int i = (head - 1 - k + LBFGS_M) % LBFGS_M;
            alpha[i] = rho[i] * dot(S + i * D, d, D);
            for (size_t q = 0; q < D; q++)
                d[q] -= alpha[i] * Y[i * D + q];
        }
        double gamma;
        if (mem) {
            int i = (head - 1 + LBFGS_M) % LBFGS_M;
            gamma = dot(S + i * D, Y + i * D, D) / dot(Y + i * D, Y + i * D, D);
        } else
            gamma = 1 / sqrt(dot(g, g, D) + 1e-300);
        for (size_t q = 0; q < D; q++)
            d[q] *= gamma;
        for (int k = mem - 1; k >= 0; k--) {
            int i = (head - 1 - k + LBFGS_M) % LBFGS_M;
            double beta = rho[i] * dot(Y + i * D, d, D);
            for (size_t q = 0; q < D; q++)
                d[q] += S[i * D + q] * (alpha[i] - beta);
        }
        for (size_t q = 0; q < D; q++)
            d[q] = -d[q];
        double gd = dot(g, d, D);
        if (!(gd < 0)) { /* not a descent direction: restart */
            mem = 0;
            for (size_t q = 0; q < D; q++)
                d[q] = -g[q];
            gd = -dot(g, g, D);
        }
        double step = 1, fn = f;
        bool moved = false;
        for (int ls = 0; ls < 40; ls++, step *= 0.5) {
            for (size_t q = 0; q < D; q++)
                xn[q] = x[q] + step * d[q];
            fn = objective(P, xn, gn);
            if (fn <= f + 1e-4 * step * gd) {
                moved = true;
                break;
            }
        }
        if (!moved)
            break;
        double *s = S + head * D, *y = Y + head * D;
        for (size_t q = 0; q < D; q++) {
            s[q] = xn[q] - x[q];
            y[q] = gn[q] - g[q];
        }
        double sy = dot(s, y, D);
        if (sy > 1e-12) {
            rho[head] = 1 / sy;
            head = (head + 1) % LBFGS_M;
            if (mem < LBFGS_M)
                mem++;
        }
        double df = f - fn;
        memcpy(x, xn, D * sizeof *x);
        memcpy(g, gn, D * sizeof *g);
        f = fn;
        if (df < 1e-7 * (fabs(f) > 1 ? fabs(f) : 1))
            break;
    }
    free(S);
    free(Y);
    free(g);
    free(d);
    free(xn);
    free(gn);
}

static double target_of(enum fg_route_target t, double qw, double qs)
{
    if (t == FG_TARGET_BINARY)
        return qs > qw ? 1 : 0;
    double v = (1 + qs - qw) / 2;
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Fit on the given rows of the store; src[i] in [0, n_src). */
static struct fg_router *fit_rows_prior(const struct fstore *fs, const size_t *rows, size_t n,
                                        const double *qw, const double *qs, const int *src,
                                        int n_src, const struct fg_route_fit_opts *o,
                                        const double *z0)
{
    struct fitp P = {.n = n, .lambda = o->lambda, .z0 = z0};
    /* gather the rows' features, renumbering the buckets they use */
    uint32_t *map = fg_xmalloc((size_t)fs->nb * sizeof *map), *active;
    memset(map, 0xff, (size_t)fs->nb * sizeof *map);
    size_t nnz = 0;
    for (size_t r = 0; r < n; r++)
        nnz += fs->off[rows[r] + 1] - fs->off[rows[r]];
    P.off = fg_xmalloc((n + 1) * sizeof *P.off);
    P.idx = fg_xmalloc((nnz ? nnz : 1) * sizeof *P.idx);
    float *val = fg_xmalloc((nnz ? nnz : 1) * sizeof *val);
    active = fg_xmalloc((nnz ? nnz : 1) * sizeof *active);
    nnz = 0;
    for (size_t r = 0; r < n; r++) {
        P.off[r] = nnz;
        for (size_t k = fs->off[rows[r]]; k < fs->off[rows[r] + 1]; k++) {
            uint32_t b = fs->idx[k];
            if (map[b] == UINT32_MAX) {
                map[b] = P.nb;
                active[P.nb++] = b;
            }
            P.idx[nnz] = map[b];
            val[nnz++] = fs->val[k];
        }
    }
    P.off[n] = nnz;
    P.val = val;
    P.D = (size_t)P.nb + ND + 1;
    P.t = fg_xmalloc((n ? n : 1) * sizeof *P.t);
    P.sw = fg_xmalloc((n ? n : 1) * sizeof *P.sw);
    P.zd = fg_xmalloc((n ? n : 1) * ND * sizeof *P.zd);
    /* source balancing: weight ∝ n_source^-balance, mean weight 1 */
    double *cnt = fg_xcalloc((size_t)n_src + 1, sizeof *cnt);
    for (size_t r = 0; r < n; r++)
        cnt[src[rows[r]]] += 1;
    double tot = 0;
    for (size_t r = 0; r < n; r++) {
        size_t i = rows[r];
        P.t[r] = target_of(o->target, qw[i], qs[i]);
        P.sw[r] = pow(cnt[src[i]], -o->balance);
        tot += P.sw[r];
    }
    for (size_t r = 0; r < n; r++)
        P.sw[r] *= n / tot;
    free(cnt);
    /* standardise the dense features over the fitted rows */
    for (int j = 0; j < ND; j++) {
        double s = 0, s2 = 0;
        for (size_t r = 0; r < n; r++) {
            double x = fs->dense[rows[r] * ND + j];
            s += x;
            s2 += x * x;
        }
        double mu = n ? s / n : 0, var = n ? s2 / n - mu * mu : 0;
        P.mu[j] = mu;
        P.sd[j] = var > 1e-12 ? sqrt(var) : 0;
        for (size_t r = 0; r < n; r++)
            P.zd[r * ND + j] = P.sd[j] > 0 ? (fs->dense[rows[r] * ND + j] - mu) / P.sd[j] : 0;
    }
    double *th = fg_xcalloc(P.D, sizeof *th);
    double tm = 0;
    for (size_t r = 0; r < n; r++)
        tm += P.sw[r] * P.t[r];
    tm = n ? tm / n : 0.5;
    tm = tm < 1e-6 ? 1e-6 : tm > 1 - 1e-6 ? 1 - 1e-6 : tm;
    th[P.D - 1] = z0 ? 0 : log(tm / (1 - tm)); /* with a prior: start from it */
    lbfgs(&P, th, o->max_iter > 0 ? o->max_iter : 300);
    struct fg_router *R = fg_router_new(fs->nb);
    for (uint32_t k = 0; k < P.nb; k++)
        R->w[active[k]] = (float)th[k];
    double bias = th[P.D - 1];
    for (int j = 0; j < ND; j++) {
        if (P.sd[j] > 0) {
            R->dense[j] = (float)(th[P.nb + j] / P.sd[j]);
            bias -= th[P.nb + j] * P.mu[j] / P.sd[j];
        }
    }
    R->bias = (float)bias;
    free(th);
    free(map);
    free(active);
    free(P.off);
    free(P.idx);
    free(val);
    free(P.t);
    free(P.sw);
    free(P.zd);
    return R;
}

static struct fg_router *fit_rows(const struct fstore *fs, const size_t *rows, size_t n,
                                  const double *qw, const double *qs, const int *src, int n_src,
                                  const struct fg_route_fit_opts *o)
{
    return fit_rows_prior(fs, rows, n, qw, qs, src, n_src, o, NULL);
}

static bool buckets_ok(uint32_t nb)
{
    return nb >= FG_ROUTER_MIN_BUCKETS && nb <= FG_ROUTER_MAX_BUCKETS && !(nb & (nb - 1));
}

struct fg_router *fg_route_tool_fit(const struct fg_route_example *ex, size_t n,
                                    const struct fg_route_fit_opts *o)
{
    uint32_t nb = o->n_buckets ? o->n_buckets : DEFAULT_BUCKETS;
    if (!buckets_ok(nb) || !(o->lambda >= 0))
        return NULL;
    size_t m = n ? n : 1;
    const char **text = fg_xmalloc(m * sizeof *text);
    size_t *len = fg_xmalloc(m * sizeof *len), *rows = fg_xmalloc(m * sizeof *rows);
    double *qw = fg_xmalloc(m * sizeof *qw), *qs = fg_xmalloc(m * sizeof *qs);
    int *src = fg_xmalloc(m * sizeof *src), n_src = 1;
    for (size_t i = 0; i < n; i++) {
        text[i] = ex[i].text;
        len[i] = ex[i].len;
        qw[i] = ex[i].q_weak;
        qs[i] = ex[i].q_strong;
        src[i] = ex[i].source > 0 ? ex[i].source : 0;
        if (src[i] + 1 > n_src)
            n_src = src[i] + 1;
        rows[i] = i;
    }
    struct fstore fs;
    fstore_build(&fs, nb, n, text, len);
    struct fg_router *r = fit_rows(&fs, rows, n, qw, qs, src, n_src, o);
    fstore_free(&fs);
    free(text);
    free(len);
    free(rows);
    free(qw);
    free(qs);
    free(src);
    return r;
}

void fg_route_tool_thresholds(struct fg_router *r, const double *scores, size_t n)
{
    double *s = fg_xmalloc((n ? n : 1) * sizeof *s);
    memcpy(s, scores, n * sizeof *s);
    size_t *o = score_order(n, s);
    int last = FG_ROUTER_N_THRESHOLDS - 1;
    r->thresholds[0] = INFINITY;
    r->thresholds[last] = -INFINITY;
    for (int k = 1; k < last; k++) {
        size_t j = (size_t)llround((double)n * k / last);
        float t;
        if (n == 0)
            t = (float)(1.0 - (double)k / last);
        else if (j == 0)
            t = (float)s[o[0]] + 1e-6f;
        else if (j >= n)
            t = (float)s[o[n - 1]];
        else
            t = (float)((s[o[j - 1]] + s[o[j]]) / 2);
        r->thresholds[k] = t > r->thresholds[k - 1] ? r->thresholds[k - 1] : t;
    }
    free(o);
    free(s);
}

static size_t *iota(size_t n)
{
    size_t *o = fg_xmalloc((n ? n : 1) * sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = i;
    return o;
}

/* Per-row arrays of a dataset, for the curve and the fit. */
struct cols {
    double *qw, *qs;
    int *src;
    const char **text;
    size_t *len;
};

static void cols_make(struct cols *c, const struct dataset *d)
{
    size_t m = d->n ? d->n : 1;
    c->qw = fg_xmalloc(m * sizeof *c->qw);
    c->qs = fg_xmalloc(m * sizeof *c->qs);
    c->src = fg_xmalloc(m * sizeof *c->src);
    c->text = fg_xmalloc(m * sizeof *c->text);
    c->len = fg_xmalloc(m * sizeof *c->len);
    for (size_t i = 0; i < d->n; i++) {
        c->qw[i] = d->r[i].qw;
        c->qs[i] = d->r[i].qs;
        c->src[i] = d->r[i].src;
        c->text[i] = d->r[i].prompt;
        c->len[i] = d->r[i].len;
    }
}

static void cols_free(struct cols *c)
{
    free(c->qw);
    free(c->qs);
    free(c->src);
    free(c->text);
    free(c->len);
}

/* Curve of the rows of one source (src < 0: all rows). */
static void source_curve(const struct dataset *d, const struct cols *c, const double *score,
                         int src, struct fg_route_tool_curve *out)
{
    size_t m = d->n ? d->n : 1, k = 0;
    double *s = fg_xmalloc(m * sizeof *s), *qw = fg_xmalloc(m * sizeof *qw),
           *qs = fg_xmalloc(m * sizeof *qs);
    for (size_t i = 0; i < d->n; i++)
        if (src < 0 || c->src[i] == src) {
            s[k] = score[i];
            qw[k] = c->qw[i];
            qs[k++] = c->qs[i];
        }
    fg_route_tool_curve(k, s, qw, qs, NULL, out);
    free(s);
    free(qw);
    free(qs);
}

/* ---- train ------------------------------------------------------------------------ */

struct train_cli {
    const char *data, *out, *sources;
    const char *prior; /* --prior W.frw: fit a correction of it, as the daemon does */
    bool exclude_nc, help;
    uint32_t nb;
    double lambda, balance; /* NAN: search the grid */
    int target;             /* -1: search the grid */
};

/* The search grid.  The binary target (strong_score > weak_score) is
 * available with --target binary; it cross-validated worse than the gain
 * target at every lambda, so the default grid leaves it out. */
static const double grid_lambda[] = {3e-4, 1e-3, 3e-3, 1e-2};
static const double grid_balance[] = {0, 0.5};
static const enum fg_route_target grid_target[] = {FG_TARGET_GAIN};
#define NELEM(a) (int)(sizeof(a) / sizeof(a)[0])

static const char *target_name(int t)
{
    return t == FG_TARGET_BINARY ? "binary" : "gain";
}

/* Out-of-fold scores of one configuration over the distinct folds; the
 * folds are fitted in parallel threads (each fit is deterministic, so the
 * result does not depend on the scheduling). */
struct cv_job {
    const struct fstore *fs;
    const struct dataset *d;
    const struct cols *c;
    const struct fg_route_fit_opts *o;
    int fold;
    double *oof;
};

static void *cv_fold(void *arg)
{
    struct cv_job *j = arg;
    const struct dataset *d = j->d;
    size_t *tr = fg_xmalloc((d->n ? d->n : 1) * sizeof *tr), nt = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->r[i].fold != j->fold)
            tr[nt++] = i;
    struct fg_router *r = fit_rows(j->fs, tr, nt, j->c->qw, j->c->qs, j->c->src, d->n_src, j->o);
    for (size_t i = 0; i < d->n; i++)
        if (d->r[i].fold == j->fold) {
            struct fg_route_feats x;
            fstore_row(j->fs, i, &x);
            j->oof[i] = fg_router_score_feats(r, &x);
        }
    fg_router_free(r);
    free(tr);
    return NULL;
}

static void cross_validate(const struct fstore *fs, const struct dataset *d, const struct cols *c,
                           const int *folds, int n_folds, const struct fg_route_fit_opts *o,
                           double *oof)
{
    struct cv_job job[16];
    pthread_t th[16];
    bool started[16] = {0};
    for (int f = 0; f < n_folds; f++) {
        job[f] = (struct cv_job){fs, d, c, o, folds[f], oof};
        started[f] = pthread_create(&th[f], NULL, cv_fold, &job[f]) == 0;
        if (!started[f])
            cv_fold(&job[f]);
    }
    for (int f = 0; f < n_folds; f++)
        if (started[f])
            pthread_join(th[f], NULL);
}

/* Selection objective: pooled out-of-fold APGR plus the mean per-source
 * APGR (so a config does not buy the big source at the small ones' cost). */
static double cv_report(FILE *out, const struct dataset *d, const struct cols *c, const double *oof,
                        bool per_source, double *pooled_apgr)
{
    struct fg_route_tool_curve pc, sc;
    source_curve(d, c, oof, -1, &pc);
    double sum = 0;
    int ns = 0;
    for (int s = 0; s < d->n_src; s++) {
        source_curve(d, c, oof, s, &sc);
        if (!isnan(sc.apgr)) {
            sum += sc.apgr;
            ns++;
        }
        if (per_source)
            fprintf(out,
                    "    %-22s n=%-6.0f APGR %.3f  CPT(50%%) %3d%%  CPT(80%%) %3d%%  AUC %.3f\n",
                    d->src[s], sc.n, sc.apgr, sc.cpt50, sc.cpt80, sc.auc);
    }
    *pooled_apgr = pc.apgr;
    return pc.apgr + (ns ? sum / ns : 0);
}

static int parse_double(const char *s, double *v)
{
    char *e;
    errno = 0;
    *v = strtod(s, &e);
    return errno || e == s || *e ? -1 : 0;
}

static int train_args(struct train_cli *t, int argc, char **argv)
{
    t->nb = DEFAULT_BUCKETS;
    t->lambda = t->balance = NAN;
    t->target = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            t->help = true;
            continue;
        }
        if (!strcmp(a, "--exclude-nc")) {
            t->exclude_nc = true;
            continue;
        }
        if (!v)
            return usage_error("%s needs a value", a);
        i++;
        if (!strcmp(a, "--data"))
            t->data = v;
        else if (!strcmp(a, "--out"))
            t->out = v;
        else if (!strcmp(a, "--sources"))
            t->sources = v;
        else if (!strcmp(a, "--prior"))
            t->prior = v;
        else if (!strcmp(a, "--buckets")) {
            if (parse_double(v, &x) || x < 0 || x > FG_ROUTER_MAX_BUCKETS ||
                !buckets_ok((uint32_t)x))
                return usage_error("--buckets must be a power of two in [%u, %u]",
                                   FG_ROUTER_MIN_BUCKETS, FG_ROUTER_MAX_BUCKETS);
            t->nb = (uint32_t)x;
        } else if (!strcmp(a, "--lambda")) {
            if (parse_double(v, &t->lambda) || !(t->lambda >= 0))
                return usage_error("--lambda must be a number >= 0");
        } else if (!strcmp(a, "--balance")) {
            if (parse_double(v, &t->balance) || !(t->balance >= 0 && t->balance <= 1))
                return usage_error("--balance must be in [0, 1]");
        } else if (!strcmp(a, "--target")) {
            if (strcmp(v, "gain") && strcmp(v, "binary"))
                return usage_error("--target is gain or binary");
            t->target = strcmp(v, "gain") ? FG_TARGET_BINARY : FG_TARGET_GAIN;
        } else
            return usage_error("unknown option '%s'", a);
    }
    if (!t->help && (!t->data || !t->out))
        return usage_error("train needs --data and --out");
    if (t->prior && isnan(t->lambda))
        t->lambda = FG_ROUTE_TOOL_PRIOR_LAMBDA;
    return 0;
}

/* Distinct fold values; when the file has fewer than two, folds by prompt hash. */
static int make_folds(struct dataset *d, int *folds)
{
    int n = 0;
    for (size_t i = 0; i < d->n; i++) {
        int f = d->r[i].fold, k;
        for (k = 0; k < n && folds[k] != f; k++)
            ;
        if (k == n && n < 16)
            folds[n++] = f;
    }
    if (n >= 2 && n < 16) {
        for (int a = 1; a < n; a++) /* ascending */
            for (int b = a; b > 0 && folds[b] < folds[b - 1]; b--) {
                int t = folds[b];
                folds[b] = folds[b - 1];
                folds[b - 1] = t;
            }
        return n;
    }
    for (size_t i = 0; i < d->n; i++)
        d->r[i].fold = 1 + (int)(fg_router_fnv1a64(d->r[i].prompt, d->r[i].len) % 4);
    for (int k = 0; k < 4; k++)
        folds[k] = k + 1;
    return 4;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Cold-start bands (coldstart.h) from the out-of-fold scores, one domain
 * per source; cheap_ok = the weak answer was no worse (qw >= qs). */
static void cold_bands(const struct dataset *d, const struct cols *c, const double *oof,
                       struct fg_coldstart_bands *b)
{
    struct fg_optpoint_label *l = fg_xmalloc((d->n ? d->n : 1) * sizeof *l);
    struct fg_coldstart_domain *dom = fg_xcalloc((size_t)(d->n_src ? d->n_src : 1), sizeof *dom);
    size_t at = 0;
    for (int s = 0; s < d->n_src; s++) {
        dom[s].l = l + at;
        for (size_t i = 0; i < d->n; i++)
            if (d->r[i].src == s)
                l[at++] = (struct fg_optpoint_label){oof[i], c->qw[i] >= c->qs[i]};
        dom[s].n = (size_t)(l + at - dom[s].l);
    }
    fg_coldstart_bands(dom, (size_t)d->n_src, b);
    printf("  cold start: confident cheap below %.4f, confident frontier from %.4f "
           "(out-of-fold, every source)\n",
           b->cheap_below, b->frontier_at);
    free(dom);
    free(l);
}

static char *train_meta(const struct train_cli *t, const struct dataset *d,
                        const struct fg_route_fit_opts *o, int n_folds, double cv_apgr, int op,
                        const struct fg_coldstart_bands *cb)
{
    size_t cap = 4096;
    char *m = fg_xmalloc(cap);
    size_t n = 0;
#define META(...) n += (size_t)snprintf(m + n, n < cap ? cap - n : 0, __VA_ARGS__)
    META("format=frugal router weights, feature spec 1\ntrained_on=");
    for (int s = 0; s < d->n_src; s++)
        META("%s%s", s ? "," : "", d->src[s]);
    META("\nexcluded_nc=%s\n", t->exclude_nc ? "alpacaeval,mapcoder_xcodeeval" : "no");
    META("data=%s\nrows=%zu\nn_buckets=%u\ntarget=%s\nlambda=%g\nbalance=%g\n", base_name(t->data),
         d->n, o->n_buckets, target_name(o->target), o->lambda, o->balance);
    META("cv=%d folds of the training file's fold field\ncv_apgr=%.4f\n", n_folds, cv_apgr);
    META("thresholds=out-of-fold scores of the training rows\noperating_share=%.2f\n", op / 100.0);
    META("cold_cheap_below=%.6f\ncold_frontier_at=%.6f\n", cb->cheap_below, cb->frontier_at);
#undef META
    if (n >= cap)
        m[cap - 1] = '\0';
    return m;
}

/* Cross-validate every configuration of the grid (or the one fixed on
 * the command line); the best one's options and out-of-fold scores. */
static void grid_search(const struct train_cli *t, const struct fstore *fs, const struct dataset *d,
                        const struct cols *c, const int *folds, int n_folds,
                        struct fg_route_fit_opts *best, double *best_oof, double *best_apgr)
{
    double *oof = fg_xmalloc((d->n ? d->n : 1) * sizeof *oof), best_obj = -INFINITY;
    printf("  %-7s %-8s %-7s  %-11s %s\n", "target", "lambda", "balance", "pooled APGR",
           "pooled + mean per-source");
    for (int ti = 0; ti < NELEM(grid_target); ti++)
        for (int li = 0; li < NELEM(grid_lambda); li++)
            for (int bi = 0; bi < NELEM(grid_balance); bi++) {
                if ((t->target >= 0 && ti) || (!isnan(t->lambda) && li) ||
                    (!isnan(t->balance) && bi))
                    continue;
                struct fg_route_fit_opts o = {
                    .n_buckets = t->nb,
                    .target = t->target >= 0 ? (enum fg_route_target)t->target : grid_target[ti],
                    .lambda = !isnan(t->lambda) ? t->lambda : grid_lambda[li],
                    .balance = !isnan(t->balance) ? t->balance : grid_balance[bi],
                };
                cross_validate(fs, d, c, folds, n_folds, &o, oof);
                double pooled, obj = cv_report(stdout, d, c, oof, false, &pooled);
                printf("  %-7s %-8g %-7g  %-11.4f %.4f\n", target_name(o.target), o.lambda,
                       o.balance, pooled, obj);
                fflush(stdout);
                if (obj > best_obj) {
                    best_obj = obj;
                    *best_apgr = pooled;
                    *best = o;
                    memcpy(best_oof, oof, d->n * sizeof *oof);
                }
            }
    free(oof);
}

/* The smallest multiple of 5% whose cross-validated quality retained
 * reaches RETAIN_TARGET (printed with the pooled curve). */
static int operating_share(const struct dataset *d, const struct cols *c, const double *oof)
{
    struct fg_route_tool_curve pc;
    source_curve(d, c, oof, -1, &pc);
    int op = 100;
    for (int k = 5; k <= 100; k += 5)
        if (pc.q[k] >= RETAIN_TARGET * pc.q_strong) {
            op = k;
            break;
        }
    printf("  pooled: APGR %.3f  CPT(50%%) %d%%  CPT(80%%) %d%%  AUC %.3f\n  quality retained:",
           pc.apgr, pc.cpt50, pc.cpt80, pc.auc);
    for (int k = 10; k <= 80; k += 10)
        printf(" %d%% %.3f", k, pc.q[k] / pc.q_strong);
    printf("\n  operating share %d%%: the smallest multiple of 5%% keeping >= %.1f%% "
           "(%.3f)\n",
           op, RETAIN_TARGET * 100, pc.q[op] / pc.q_strong);
    return op;
}

static void train_warnings(const struct train_cli *t, const struct dataset *d)
{
    for (int s = 0; s < d->n_src; s++)
        if (in_list(nc_sources, d->src[s]))
            fprintf(stderr,
                    "frugal route: warning: training on %s, non-commercial data: "
                    "these weights must not ship (use --exclude-nc)\n",
                    d->src[s]);
    for (size_t i = 0; i < d->n; i++)
        if (d->r[i].fold == 0) {
            fprintf(stderr,
                    "frugal route: warning: %s has rows of fold 0, the held-out "
                    "fold: fit on routing_train.jsonl only\n",
                    t->data);
            break;
        }
}

/* `route train --prior W.frw`: what the daemon's retraining does with a
 * route's own labels (learn_train.h), on a data file: the label of a row
 * is "the weak answer is no worse" (weak_suffices), the fit a correction
 * of the prior's logit under L2 strength --lambda
 * (fg_route_tool_fit_feats).  No grid, no cross-validation: the
 * thresholds come from the fitted rows' own scores (in-sample), so only
 * the score order (APGR, AUC) of the result is meant to be evaluated. */
static int train_prior(const struct train_cli *t, const struct dataset *d)
{
    char err[512];
    struct fg_router *prior = fg_router_load(t->prior, err, sizeof err);
    if (!prior) {
        fprintf(stderr, "frugal route: %s\n", err);
        return 1;
    }
    struct cols c;
    cols_make(&c, d);
    struct fstore fs;
    fstore_build(&fs, prior->n_buckets, d->n, c.text, c.len);
    size_t m = d->n ? d->n : 1;
    struct fg_route_feats *x = fg_xmalloc(m * sizeof *x);
    int *label = fg_xmalloc(m * sizeof *label);
    for (size_t i = 0; i < d->n; i++) {
        fstore_row(&fs, i, &x[i]);
        label[i] = c.qw[i] >= c.qs[i];
    }
    struct fg_router *r = fg_route_tool_fit_feats(x, label, d->n, prior, t->lambda);
    int rc = 1;
    if (r) {
        double *sc = fg_xmalloc(m * sizeof *sc);
        for (size_t i = 0; i < d->n; i++)
            sc[i] = fg_router_score_feats(r, &x[i]);
        fg_route_tool_thresholds(r, sc, d->n);
        free(sc);
        char meta[1024];
        snprintf(meta, sizeof meta,
                 "format=frugal router weights, feature spec 1\ndata=%s\nrows=%zu\n"
                 "prior=%s\nprior_lambda=%g\ntarget=cheap no worse (binary)\n"
                 "thresholds=in-sample scores of the fitted rows\n",
                 base_name(t->data), d->n, base_name(t->prior), t->lambda);
        fg_router_set_meta(r, meta);
        if (fg_router_save(r, t->out, err, sizeof err) < 0)
            fprintf(stderr, "frugal route: %s\n", err);
        else {
            printf("frugal route train: %zu rows from %s fitted on the prior %s, lambda %g; "
                   "wrote %s\n",
                   d->n, base_name(t->data), base_name(t->prior), t->lambda, t->out);
            rc = 0;
        }
        fg_router_free(r);
    } else {
        fprintf(stderr, "frugal route: the fit on the prior failed\n");
    }
    free(x);
    free(label);
    fstore_free(&fs);
    cols_free(&c);
    fg_router_free(prior);
    return rc;
}

static int cmd_train(int argc, char **argv)
{
    struct train_cli t = {0};
    int rc = train_args(&t, argc, argv);
    if (rc || t.help) {
        if (t.help)
            fputs("usage: frugal route train --data routing_train.jsonl --out W.frw "
                  "[--sources a,b] [--exclude-nc]\n"
                  "         [--buckets 65536] [--lambda L] [--target gain|binary] "
                  "[--balance A]\n"
                  "       frugal route train --data ROUTE_ROWS.jsonl --out W.frw --prior P.frw "
                  "[--lambda L]\n",
                  stdout);
        return rc;
    }
    struct dataset d = {0};
    if (dataset_load(&d, t.data, t.sources, t.exclude_nc) < 0) {
        dataset_free(&d);
        return 1;
    }
    train_warnings(&t, &d);
    if (t.prior) {
        rc = train_prior(&t, &d);
        dataset_free(&d);
        return rc;
    }
    int folds[16], n_folds = make_folds(&d, folds);
    struct cols c;
    cols_make(&c, &d);
    struct fstore fs;
    fstore_build(&fs, t.nb, d.n, c.text, c.len);
    printf("frugal route train: %zu rows from %s, %d sources, %d-fold cross-validation, "
           "2^%d buckets\n",
           d.n, base_name(t.data), d.n_src, n_folds, __builtin_ctz(t.nb));
    double *oof = fg_xmalloc(d.n * sizeof *oof), cv_apgr = NAN, pooled;
    struct fg_route_fit_opts best = {0};
    grid_search(&t, &fs, &d, &c, folds, n_folds, &best, oof, &cv_apgr);
    printf("chosen: target %s, lambda %g, balance %g; cross-validated per source:\n",
           target_name(best.target), best.lambda, best.balance);
    cv_report(stdout, &d, &c, oof, true, &pooled);
    int op = operating_share(&d, &c, oof);
    struct fg_coldstart_bands cb;
    cold_bands(&d, &c, oof, &cb);
    /* the shipped fit: every row; thresholds from the out-of-fold scores */
    size_t *all = iota(d.n);
    struct fg_router *r = fit_rows(&fs, all, d.n, c.qw, c.qs, c.src, d.n_src, &best);
    fg_route_tool_thresholds(r, oof, d.n);
    char *meta = train_meta(&t, &d, &best, n_folds, cv_apgr, op, &cb), err[512];
    fg_router_set_meta(r, meta);
    if (fg_router_save(r, t.out, err, sizeof err) < 0) {
        fprintf(stderr, "frugal route: %s\n", err);
        rc = 1;
    } else {
        size_t len;
        unsigned char *b = fg_router_serialize(r, &len);
        printf("wrote %s: %zu bytes, checksum %016llx\n", t.out, len,
               (unsigned long long)fg_router_fnv1a64(b, len - 8));
        free(b);
    }
    free(meta);
    free(all);
    fg_router_free(r);
    free(oof);
    fstore_free(&fs);
    cols_free(&c);
    dataset_free(&d);
    return rc;
}

/* ---- eval ----------------------------------------------------------------------- */

struct group {
    char name[96];
    bool indist;
    size_t n;
    double *score, *qw, *qs;
    struct fg_route_tool_curve router, oracle;
    double lo, hi;
    double thr[N_OP + 1], share[N_OP + 1], kept[N_OP + 1];
};

static void group_add(struct group *g, double score, double qw, double qs)
{
    if (!(g->n & (g->n + 1))) { /* n + 1 is a power of two: grow */
        size_t cap = 2 * (g->n + 1);
        g->score = fg_xrealloc(g->score, cap * sizeof *g->score);
        g->qw = fg_xrealloc(g->qw, cap * sizeof *g->qw);
        g->qs = fg_xrealloc(g->qs, cap * sizeof *g->qs);
    }
    g->score[g->n] = score;
    g->qw[g->n] = qw;
    g->qs[g->n++] = qs;
}

static void group_free(struct group *g)
{
    free(g->score);
    free(g->qw);
    free(g->qs);
}

static void group_compute(struct group *g, const struct fg_router *r, const int *op, int nop)
{
    fg_route_tool_curve(g->n, g->score, g->qw, g->qs, NULL, &g->router);
    apgr_ci(g->n, g->score, g->qw, g->qs, &g->lo, &g->hi);
    double *gain = fg_xmalloc((g->n ? g->n : 1) * sizeof *gain);
    for (size_t i = 0; i < g->n; i++)
        gain[i] = g->qs[i] - g->qw[i];
    fg_route_tool_curve(g->n, gain, g->qw, g->qs, NULL, &g->oracle);
    free(gain);
    for (int k = 0; k < nop; k++) {
        double th = fg_router_threshold(r, op[k] / 100.0), routed = 0, q = 0;
        for (size_t i = 0; i < g->n; i++) {
            bool strong = g->score[i] >= th;
            routed += strong;
            q += strong ? g->qs[i] : g->qw[i];
        }
        g->thr[k] = th;
        g->share[k] = g->n ? routed / g->n : NAN;
        g->kept[k] = g->n ? q / g->n / g->router.q_strong : NAN;
    }
}

static double random_kept(const struct fg_route_tool_curve *c, int pct)
{
    return (c->q_weak + pct / 100.0 * (c->q_strong - c->q_weak)) / c->q_strong;
}

static json_t *jnum(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *method_json(const struct fg_route_tool_curve *c, double auc_override, bool random,
                           const double *ci)
{
    json_t *o = json_object(), *kept = json_object();
    json_object_set_new(o, "apgr", jnum(random ? 0.5 : c->apgr));
    if (ci)
        json_object_set_new(o, "apgr_ci95", json_pack("[oo]", jnum(ci[0]), jnum(ci[1])));
    json_object_set_new(o, "cpt50",
                        random         ? json_real(0.5)
                        : c->cpt50 < 0 ? json_null()
                                       : json_real(c->cpt50 / 100.0));
    json_object_set_new(o, "cpt80",
                        random         ? json_real(0.8)
                        : c->cpt80 < 0 ? json_null()
                                       : json_real(c->cpt80 / 100.0));
    json_object_set_new(o, "auc", jnum(random ? 0.5 : isnan(auc_override) ? c->auc : auc_override));
    for (int k = 0; k < N_OP; k++) {
        char key[8];
        snprintf(key, sizeof key, "%d", op_points[k]);
        int p = op_points[k];
        json_object_set_new(kept, key, jnum(random ? random_kept(c, p) : c->q[p] / c->q_strong));
    }
    json_object_set_new(o, "retained", kept);
    return o;
}

static json_t *group_json(const struct group *g, const int *op, int nop)
{
    json_t *o = json_object(), *ops = json_array();
    json_object_set_new(o, "group", json_string(g->name));
    json_object_set_new(o, "in_distribution", json_boolean(g->indist));
    json_object_set_new(o, "n", json_integer((json_int_t)g->n));
    json_object_set_new(o, "q_weak", jnum(g->router.q_weak));
    json_object_set_new(o, "q_strong", jnum(g->router.q_strong));
    double ci[2] = {g->lo, g->hi};
    json_object_set_new(o, "router", method_json(&g->router, NAN, false, ci));
    json_object_set_new(o, "random", method_json(&g->router, NAN, true, NULL));
    json_object_set_new(o, "oracle", method_json(&g->oracle, 1.0, false, NULL));
    for (int k = 0; k < nop; k++)
        json_array_append_new(ops, json_pack("{s:f,s:o,s:o,s:o}", "target", op[k] / 100.0,
                                             "threshold", jnum(g->thr[k]), "share",
                                             jnum(g->share[k]), "retained", jnum(g->kept[k])));
    json_object_set_new(o, "operating_points", ops);
    return o;
}

static void print_pct(int p)
{
    if (p < 0)
        printf("  %5s", "-");
    else
        printf("  %4d%%", p);
}

/* A number, or "-" when undefined. */
static void pnum(int width, int prec, double v)
{
    if (isnan(v))
        printf("  %*s", width, "-");
    else
        printf("  %*.*f", width, prec, v);
}

static void print_method(const char *label, const struct fg_route_tool_curve *c, bool random,
                         double auc, const double *ci)
{
    bool ok = !isnan(c->apgr);
    printf("  %-28s %6s %7s %8s", label, "", "", "");
    pnum(6, 3, random ? (ok ? 0.5 : NAN) : c->apgr);
    if (ci && !isnan(ci[0]))
        printf("  [%.3f, %.3f]", ci[0], ci[1]);
    else
        printf("  %14s", "");
    print_pct(random ? (ok ? 50 : -1) : c->cpt50);
    print_pct(random ? (ok ? 80 : -1) : c->cpt80);
    pnum(5, 3, random ? (isnan(c->auc) ? NAN : 0.5) : auc);
    for (int k = 0; k < N_OP; k++) {
        int p = op_points[k];
        pnum(6, 3, random ? random_kept(c, p) : c->q[p] / c->q_strong);
    }
    putchar('\n');
}

static void print_group(const struct group *g)
{
    printf("%-30s %6zu %7.3f %8.3f\n", g->name, g->n, g->router.q_weak, g->router.q_strong);
    double ci[2] = {g->lo, g->hi};
    print_method("router", &g->router, false, g->router.auc, ci);
    print_method("random", &g->router, true, 0.5, NULL);
    print_method("oracle", &g->oracle, false, 1.0, NULL);
}

struct eval_cli {
    const char *weights, *data, *labels;
    double quality_target, threshold; /* threshold: NAN = not given */
    bool json, help;
};

static int eval_args(struct eval_cli *e, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            e->help = true;
        else if (!strcmp(a, "--json"))
            e->json = true;
        else if (!strcmp(a, "--weights") || !strcmp(a, "--data") || !strcmp(a, "--labels")) {
            if (!v)
                return usage_error("%s needs a value", a);
            *(!strcmp(a, "--data")     ? &e->data
              : !strcmp(a, "--labels") ? &e->labels
                                       : &e->weights) = v;
            i++;
        } else if (!strcmp(a, "--threshold")) {
            if (!v || parse_double(v, &e->threshold))
                return usage_error("--threshold needs a number");
            i++;
        } else if (!strcmp(a, "--quality-target")) {
            if (!v || parse_double(v, &e->quality_target) || !(e->quality_target > 0) ||
                e->quality_target > 1)
                return usage_error("--quality-target needs a number in (0, 1]");
            i++;
        } else
            return usage_error("unknown option '%s'", a);
    }
    if (e->help)
        return 0;
    if (e->labels && e->data)
        return usage_error("eval takes --data or --labels, not both");
    if (!e->labels && (!e->weights || !e->data))
        return usage_error("eval needs --weights and --data (or --labels)");
    return 0;
}

/* Rows of the in-distribution sources, at most BALANCED_CAP per source,
 * chosen by uid hash (deterministic). */
static void balanced_group(struct group *g, const struct dataset *d, const double *score,
                           const bool *indist)
{
    struct sort_key *k = fg_xmalloc((d->n ? d->n : 1) * sizeof *k);
    for (size_t i = 0; i < d->n; i++)
        k[i] = (struct sort_key){
            (double)(fg_router_fnv1a64(d->r[i].uid, strlen(d->r[i].uid)) >> 11), i};
    qsort(k, d->n, sizeof *k, by_score_desc);
    size_t *taken = fg_xcalloc((size_t)d->n_src + 1, sizeof *taken);
    bool *pick = fg_xcalloc(d->n ? d->n : 1, sizeof *pick);
    for (size_t j = 0; j < d->n; j++) {
        const struct row *r = &d->r[k[j].i];
        if (indist[r->src] && taken[r->src] < BALANCED_CAP) {
            taken[r->src]++;
            pick[k[j].i] = true;
        }
    }
    for (size_t i = 0; i < d->n; i++) /* file order */
        if (pick[i])
            group_add(g, score[i], d->r[i].qw, d->r[i].qs);
    free(pick);
    free(taken);
    free(k);
}

/* What one evaluation reports on. */
struct report {
    const char *weights, *data;
    const struct fg_router *r;
    const char *trained;
    size_t rows;
    int op[N_OP + 1], nop; /* operating points, the recommended one last */
    struct group *g;
    int ng;
};

/* Groups: in-distribution pooled and balanced, then every source (the
 * in-distribution ones first). */
static void make_groups(struct report *rep, const struct dataset *d, const double *score)
{
    bool *indist = fg_xcalloc((size_t)d->n_src + 1, sizeof *indist);
    for (int s = 0; s < d->n_src; s++)
        indist[s] = in_csv(rep->trained, d->src[s]);
    rep->ng = d->n_src + 2;
    struct group *g = rep->g = fg_xcalloc((size_t)rep->ng, sizeof *g);
    snprintf(g[0].name, sizeof g[0].name, "in-distribution, pooled");
    snprintf(g[1].name, sizeof g[1].name, "in-distribution, <=%d/src", BALANCED_CAP);
    g[0].indist = g[1].indist = true;
    for (size_t i = 0; i < d->n; i++)
        if (indist[d->r[i].src])
            group_add(&g[0], score[i], d->r[i].qw, d->r[i].qs);
    balanced_group(&g[1], d, score, indist);
    int k = 2;
    for (int pass = 0; pass < 2; pass++)
        for (int s = 0; s < d->n_src; s++) {
            if (indist[s] != (pass == 0))
                continue;
            snprintf(g[k].name, sizeof g[k].name, "%s%s", d->src[s], indist[s] ? "" : " *");
            g[k].indist = indist[s];
            for (size_t i = 0; i < d->n; i++)
                if (d->r[i].src == s)
                    group_add(&g[k], score[i], d->r[i].qw, d->r[i].qs);
            k++;
        }
    for (int i = 0; i < rep->ng; i++)
        group_compute(&g[i], rep->r, rep->op, rep->nop);
    free(indist);
}

static void report_json(const struct report *rep)
{
    json_t *o = json_object(), *arr = json_array();
    json_object_set_new(o, "weights", json_string(base_name(rep->weights)));
    json_object_set_new(o, "data", json_string(base_name(rep->data)));
    json_object_set_new(o, "rows", json_integer((json_int_t)rep->rows));
    json_object_set_new(o, "trained_on", json_string(rep->trained));
    json_object_set_new(o, "operating_share",
                        rep->nop > N_OP ? json_real(rep->op[N_OP] / 100.0) : json_null());
    json_object_set_new(o, "apgr_method",
                        json_string("trapezoid over c = 0..1 step 0.01; "
                                    "ties in expectation over random order"));
    for (int i = 0; i < rep->ng; i++)
        if (rep->g[i].n)
            json_array_append_new(arr, group_json(&rep->g[i], rep->op, rep->nop));
    json_object_set_new(o, "groups", arr);
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    putchar('\n');
    json_decref(o);
}

static void report_text(const struct report *rep)
{
    printf("frugal route eval: weights %s (2^%d buckets), data %s (%zu rows)\n",
           base_name(rep->weights), __builtin_ctz(rep->r->n_buckets), base_name(rep->data),
           rep->rows);
    printf("in-distribution = trained on: %s\n", *rep->trained ? rep->trained : "(unknown)");
    printf("quality in [0,1]; APGR = trapezoid over c = 0, 0.01, .., 1, ties in expectation; "
           "95%% CI = bootstrap, %d resamples; ret@c = Q(c)/Q_strong; * = not trained on\n\n",
           BOOT_DRAWS);
    printf("%-30s %6s %7s %8s  %6s  %-14s  %5s  %5s  %5s  %6s  %6s  %6s  %6s\n", "group", "n",
           "Q_weak", "Q_strong", "APGR", "[95% CI]", "CPT50", "CPT80", "AUC", "ret@20", "ret@30",
           "ret@40", "ret@50");
    for (int i = 0; i < rep->ng; i++)
        if (rep->g[i].n)
            print_group(&rep->g[i]);
    printf("\noperating points: the threshold from the weights' table for a target "
           "frontier share (op = the\nrecommended one); share reached on this data / "
           "quality retained\n%-30s",
           "group");
    for (int j = 0; j < rep->nop; j++) {
        char h[24];
        snprintf(h, sizeof h, "%s%d%%", j == N_OP ? "op " : "", rep->op[j]);
        printf("  %-14s", h);
    }
    putchar('\n');
    for (int i = 0; i < rep->ng; i++) {
        const struct group *g = &rep->g[i];
        if (!g->n)
            continue;
        printf("%-30s", g->name);
        for (int j = 0; j < rep->nop; j++)
            printf("  %5.1f%% / %5.3f", 100 * g->share[j], g->kept[j]);
        putchar('\n');
    }
}

/* eval --labels: the operating point a quality target gives on a route's
 * own held-out labels (optpoint.h). */
static int eval_labels(const struct eval_cli *e)
{
    char err[512], line[1024];
    struct fg_router *r = NULL;
    if (e->weights && !(r = fg_router_load(e->weights, err, sizeof err))) {
        fprintf(stderr, "frugal route: %s\n", err);
        return 1;
    }
    struct fg_optpoint_label *l;
    size_t n;
    int rc = fg_route_labels_load(e->labels, r, &l, &n, err, sizeof err);
    if (rc) {
        fprintf(stderr, "frugal route: %s\n", err);
        fg_router_free(r);
        return 1;
    }
    struct fg_optpoint p;
    fg_optpoint_pick(l, n, e->quality_target, &p);
    fg_optpoint_describe(&p, line, sizeof line);
    /* --threshold: what a threshold picked elsewhere keeps on these labels
     * (calibration: pick on one set, measure on held-out rows) */
    double at_kept = NAN, at_share = NAN;
    if (!isnan(e->threshold) && n) {
        size_t kept = 0, front = 0;
        for (size_t i = 0; i < n; i++) {
            bool f = l[i].score >= e->threshold;
            front += f;
            kept += f || l[i].cheap_ok;
        }
        at_kept = (double)kept / (double)n;
        at_share = (double)front / (double)n;
    }
    if (e->json) {
        static const char *const verdict[] = {"no_labels", "all_cheap", "threshold",
                                              "all_frontier"};
        json_t *o =
            json_pack("{s:s,s:f,s:I,s:I,s:o,s:f,s:f,s:f,s:f,s:f,s:o,s:o,s:b,s:s,s:s}", "verdict",
                      verdict[p.verdict], "quality_target", p.target, "labels", (json_int_t)p.n,
                      "frontier_calls", (json_int_t)p.n_frontier, "threshold",
                      isfinite(p.threshold) ? json_real(p.threshold) : json_null(),
                      "frontier_share", p.frontier_share, "quality", p.kept, "quality_lower",
                      p.kept_lower, "cheap_alone", p.cheap_ok_rate, "random_at_share",
                      p.random_kept, "auc", jnum(p.auc), "auc_lower", jnum(p.auc_lower),
                      "beats_coin", p.beats_coin, "bound", "wilson one-sided 90%", "summary", line);
        if (!isnan(at_kept))
            json_object_set_new(o, "at_threshold",
                                json_pack("{s:f,s:f,s:f}", "threshold", e->threshold, "quality",
                                          at_kept, "frontier_share", at_share));
        char *txt = json_dumps(o, JSON_INDENT(2));
        puts(txt);
        free(txt);
        json_decref(o);
    } else {
        printf("labels      %s (%zu)\nweights     %s\n%s\n", e->labels, n,
               e->weights ? e->weights : "(scores from the file)", line);
        if (!isnan(at_kept))
            printf("at threshold %.4f: %.1f%% frontier, quality %.3f\n", e->threshold,
                   100 * at_share, at_kept);
    }
    free(l);
    fg_router_free(r);
    return 0;
}

static int cmd_eval(int argc, char **argv)
{
    struct eval_cli e = {.quality_target = 0.95, .threshold = NAN};
    int rc = eval_args(&e, argc, argv);
    if (rc || e.help) {
        if (e.help)
            fputs("usage: frugal route eval --weights W.frw --data routing_heldout.jsonl "
                  "[--json]\n"
                  "       frugal route eval [--weights W.frw] --labels LABELS.jsonl "
                  "[--quality-target 0.95] [--threshold T] [--json]\n",
                  stdout);
        return rc;
    }
    if (e.labels)
        return eval_labels(&e);
    char err[512], trained[2048] = "", opbuf[32];
    struct fg_router *r = fg_router_load(e.weights, err, sizeof err);
    if (!r) {
        fprintf(stderr, "frugal route: %s\n", err);
        return 1;
    }
    struct dataset d = {0};
    if (dataset_load(&d, e.data, NULL, false) < 0) {
        dataset_free(&d);
        fg_router_free(r);
        return 1;
    }
    fg_router_meta(r, "trained_on", trained, sizeof trained);
    struct report rep = {
        .weights = e.weights, .data = e.data, .r = r, .trained = trained, .rows = d.n, .nop = N_OP};
    memcpy(rep.op, op_points, sizeof op_points);
    double ops;
    if (fg_router_meta(r, "operating_share", opbuf, sizeof opbuf) && !parse_double(opbuf, &ops))
        rep.op[rep.nop++] = (int)lround(ops * 100);
    double *score = fg_xmalloc(d.n * sizeof *score);
    struct fg_route_facts facts = {.turns = 1};
    for (size_t i = 0; i < d.n; i++)
        score[i] = fg_router_score_text(r, d.r[i].prompt, d.r[i].len, &facts);
    make_groups(&rep, &d, score);
    if (e.json)
        report_json(&rep);
    else
        report_text(&rep);
    for (int i = 0; i < rep.ng; i++)
        group_free(&rep.g[i]);
    free(rep.g);
    free(score);
    dataset_free(&d);
    fg_router_free(r);
    return 0;
}

/* ---- entry ------------------------------------------------------------------------ */

static const char usage_text[] =
    "usage: frugal route train --data routing_train.jsonl --out router-weights.frw\n"
    "                          [--sources a,b] [--exclude-nc] [--buckets N]\n"
    "                          [--lambda L] [--target gain|binary] [--balance A]\n"
    "       frugal route train --data ROUTE_ROWS.jsonl --out W.frw --prior P.frw [--lambda L]\n"
    "       frugal route eval --weights router-weights.frw --data routing_heldout.jsonl "
    "[--json]\n"
    "       frugal route eval [--weights W.frw] --labels LABELS.jsonl [--quality-target 0.95] "
    "[--json]\n";

int fg_route_tool_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int rc;
    if (!strcmp(argv[1], "train"))
        rc = cmd_train(argc, argv);
    else if (!strcmp(argv[1], "eval"))
        rc = cmd_eval(argc, argv);
    else {
        fprintf(stderr, "frugal route: unknown command '%s'\n", argv[1]);
        fputs(usage_text, stderr);
        rc = 2;
    }
    fg_router_thread_cleanup();
    return rc;
}

/* ---- fitting a route on its own labels (learn_train.h) ---------------------- */

struct fg_router *fg_route_tool_fit_feats(const struct fg_route_feats *x, const int *label,
                                          size_t n, const struct fg_router *prior, double lambda)
{
    if (!prior || !buckets_ok(prior->n_buckets) || !(lambda >= 0))
        return NULL;
    size_t m = n ? n : 1, nnz = 0;
    for (size_t i = 0; i < n; i++)
        nnz += x[i].n;
    struct fstore fs = {.nb = prior->n_buckets, .n = n};
    fs.off = fg_xmalloc((n + 1) * sizeof *fs.off);
    fs.idx = fg_xmalloc((nnz ? nnz : 1) * sizeof *fs.idx);
    fs.val = fg_xmalloc((nnz ? nnz : 1) * sizeof *fs.val);
    fs.dense = fg_xmalloc(m * ND * sizeof *fs.dense);
    size_t *rows = fg_xmalloc(m * sizeof *rows);
    double *qw = fg_xmalloc(m * sizeof *qw), *qs = fg_xmalloc(m * sizeof *qs);
    double *z0 = fg_xmalloc(m * sizeof *z0);
    int *src = fg_xcalloc(m, sizeof *src);
    nnz = 0;
    for (size_t i = 0; i < n; i++) {
        FG_ASSERT(label[i] == 0 || label[i] == 1);
        fs.off[i] = nnz;
        for (uint32_t k = 0; k < x[i].n; k++) {
            FG_ASSERT(x[i].bucket[k] < fs.nb);
            fs.idx[nnz] = x[i].bucket[k];
            fs.val[nnz++] = x[i].value[k];
        }
        memcpy(fs.dense + i * ND, x[i].dense, sizeof x[i].dense);
        rows[i] = i;
        /* label 1 = the cheap answer was no worse: the frontier was not needed */
        qw[i] = label[i];
        qs[i] = 1;
        double p = fg_router_score_feats(prior, &x[i]);
        p = p < 1e-9 ? 1e-9 : p > 1 - 1e-9 ? 1 - 1e-9 : p;
        z0[i] = log(p / (1 - p)); /* the prior's logit: the fit learns a correction */
    }
    fs.off[n] = nnz;
    struct fg_route_fit_opts o = {.n_buckets = fs.nb,
                                  .lambda = lambda,
                                  .target = FG_TARGET_BINARY,
                                  .balance = 0,
                                  .max_iter = 200};
    struct fg_router *r = fit_rows_prior(&fs, rows, n, qw, qs, src, 1, &o, z0);
    /* the correction is linear in the same features: add the prior back */
    for (uint32_t b = 0; r && b < fs.nb; b++)
        r->w[b] += prior->w[b];
    for (int j = 0; r && j < ND; j++)
        r->dense[j] += prior->dense[j];
    if (r)
        r->bias += prior->bias;
    fstore_free(&fs);
    free(rows);
    free(qw);
    free(qs);
    free(z0);
    free(src);
    return r;
}

bool fg_route_tool_better(double apgr_new, double apgr_old, double loss_new, double loss_old)
{
    if (!isnan(apgr_new) && !isnan(apgr_old) && fabs(apgr_new - apgr_old) > 1e-9)
        return apgr_new > apgr_old;
    if (isnan(apgr_new) != isnan(apgr_old))
        return false; /* not comparable: keep what runs */
    return !isnan(loss_new) && !isnan(loss_old) && loss_new < loss_old - 1e-9;
}
