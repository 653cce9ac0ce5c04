/* report.c — the spend map from the ledger (see report.h).
 *
 * One scan of the store feeds an aggregator: exact pico-USD totals plus
 * string-keyed group tables (models, prefixes, the `by` rows, unpriced
 * models).  Only the JSON builder converts money to USD, once per value. */
#include "report.h"

#include "arena.h"
#include "clock.h"
#include "price.h"
#include "vec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__extension__ typedef __int128 i128;

/* ---- exact arithmetic ------------------------------------------------ */

/* num / den rounded half away from zero; den > 0. */
static int64_t div_round(i128 num, i128 den)
{
    i128 a = num < 0 ? -num : num;
    i128 q = (2 * a + den) / (2 * den);
    return (int64_t)(num < 0 ? -q : q);
}

/* pico-USD → USD with 6 decimals (micro-USD rounded, then one division). */
json_t *fg_report_usd(int64_t pico)
{
    return json_real((double)div_round(pico, 1000000) / 1e6);
}

/* mul * num / den rounded to 1/div steps: (n, d, 10000, 10000) is a share
 * with 4 decimals, (n, d, 1000, 10) a percentage with 1; 0 if den is 0. */
static json_t *ratio(int64_t num, int64_t den, int64_t mul, int64_t div)
{
    if (den == 0)
        return json_real(0.0);
    if (den < 0) {
        num = -num;
        den = -den;
    }
    return json_real((double)div_round((i128)num * mul, den) / (double)div);
}

/* ---- group tables: string key → struct group, insertion ordered ------ */

struct group {
    char *key;
    int64_t requests, cost, baseline;
    int64_t amount;           /* bucket rows: the bucket; technique rows: savings */
    int64_t max_tokens, hits; /* prefixes */
    struct fg_tokens tok;
    int64_t write_pico; /* prefixes: estimated cost of their cache writes */
    /* cache busters, keyed by model + where + offset */
    char *model, *where, *sample; /* sample: of the most recent record */
    int64_t offset, btokens, bpico;
    int64_t first_ms, last_ms; /* busters: when first and last seen */
    char *name;                /* key rows: the key's name, if known */
};

struct gtab {
    struct group *v;
    size_t n, cap;
    size_t *slot; /* index + 1, 0 = empty; nslot is a power of 2 */
    size_t nslot;
};

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void gtab_rehash(struct gtab *t)
{
    free(t->slot);
    t->nslot = t->nslot ? t->nslot * 2 : 64;
    t->slot = fg_xcalloc(t->nslot, sizeof *t->slot);
    for (size_t i = 0; i < t->n; i++) {
        size_t h = hash(t->v[i].key, strlen(t->v[i].key)) & (t->nslot - 1);
        while (t->slot[h])
            h = (h + 1) & (t->nslot - 1);
        t->slot[h] = i + 1;
    }
}

static struct group *gtab_add(struct gtab *t, const char *key, size_t len, size_t h)
{
    FG_VEC_RESERVE(t->v, t->n + 1, t->cap);
    struct group *g = &t->v[t->n];
    memset(g, 0, sizeof *g);
    g->key = fg_xmalloc(len + 1);
    memcpy(g->key, key, len);
    g->key[len] = '\0';
    t->slot[h] = ++t->n;
    return g;
}

/* The group for key[0..len), created empty on first use. */
static struct group *gtab_get(struct gtab *t, const char *key, size_t len)
{
    if (2 * (t->n + 1) > t->nslot)
        gtab_rehash(t);
    size_t h = hash(key, len) & (t->nslot - 1);
    for (; t->slot[h]; h = (h + 1) & (t->nslot - 1)) {
        struct group *g = &t->v[t->slot[h] - 1];
        if (!strncmp(g->key, key, len) && g->key[len] == '\0')
            return g;
    }
    return gtab_add(t, key, len, h);
}

static struct group *gtab_str(struct gtab *t, const char *key)
{
    return gtab_get(t, key, strlen(key));
}

static void gtab_free(struct gtab *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].key);
        free(t->v[i].model);
        free(t->v[i].where);
        free(t->v[i].sample);
        free(t->v[i].name);
    }
    free(t->v);
    free(t->slot);
}

/* ---- aggregation ------------------------------------------------------ */

enum dim { DIM_NONE, DIM_MODEL, DIM_BUCKET, DIM_TECHNIQUE, DIM_KEY, DIM_TAG };
static const char *const dim_names[] = {"", "model", "bucket", "technique", "key", "tag"};

enum { B_REPEATED, B_FRONTIER, B_BLOATED, B_OTHER, NBUCKETS };
static const char *const bucket_names[] = {"repeated_context", "frontier_overuse", "bloated_output",
                                           "other"};
enum { T_PROMPT, T_RESPONSE, T_ROUTING, T_BATCH, T_FLEX, NTECH };
static const char *const tech_names[] = {"prompt_cache", "response_cache", "routing", "batch",
                                         "flex"};

struct agg {
    enum dim dim;
    const char *key_id; /* only this caller's calls, or NULL */
    struct group total;
    int64_t errors, unpriced;
    int64_t bucket[NBUCKETS], repeated_cached, saved[NTECH];
    int64_t prefixed, prefixed_hits; /* calls with a stable prefix long enough to be
                                          cached; of them with cache reads */
    int64_t prefixed_short;          /* calls with a prefix too short to ever be cached */
    int64_t escalations, escalated_pico, escalated_cheap_pico; /* routing escalations */
    int64_t escalated_format;                                  /* of them on a missed format */
    /* routing decided by cold-start rules (call/route.c): all, sent to the
     * route's cold-start tier, confident of either tier */
    int64_t cold_calls, cold_tier, cold_conf_cheap, cold_conf_frontier;
    struct gtab models, prefixes, rows, unpriced_models, busters, miss_reasons;
    /* shadow evaluation's calls (route "routing_eval") per evaluated route
     * (tags "route=NAME"): requests, cost; amount = labels 1 (cheap no
     * worse), hits = labels 0 (frontier better) */
    struct gtab learning;
    struct fg_report_selfhost *selfhost; /* providers priced by the hour, or NULL */
};

static enum dim dim_of(const char *by)
{
    if (!by)
        return DIM_NONE;
    for (int d = DIM_MODEL; d <= DIM_TAG; d++)
        if (!strcmp(by, dim_names[d]))
            return (enum dim)d;
    return (enum dim) - 1;
}

int fg_report_by_valid(const char *by)
{
    return dim_of(by) != (enum dim) - 1;
}

static const char *model_of(const struct fg_record *r)
{
    if (r->model && r->model[0])
        return r->model;
    if (r->model_requested && r->model_requested[0])
        return r->model_requested;
    return "(none)";
}

static void tok_add(struct fg_tokens *a, const struct fg_tokens *b)
{
    a->input += b->input;
    a->cache_read += b->cache_read;
    a->cache_write_5m += b->cache_write_5m;
    a->cache_write_1h += b->cache_write_1h;
    a->output += b->output;
}

/* Money of a record counts only when it was priced. */
static int64_t cost_of(const struct fg_record *r)
{
    return r->priced ? r->cost_pico : 0;
}
static int64_t base_of(const struct fg_record *r)
{
    return r->priced ? r->baseline_pico : 0;
}

static void record_buckets(const struct fg_record *r, int64_t b[NBUCKETS])
{
    b[B_REPEATED] = r->priced ? r->bucket_repeated_pico : 0;
    b[B_FRONTIER] = r->priced ? r->bucket_frontier_pico : 0;
    b[B_BLOATED] = r->priced ? r->bucket_bloated_pico : 0;
    b[B_OTHER] = cost_of(r) - b[B_REPEATED] - b[B_FRONTIER] - b[B_BLOATED];
}

static void record_savings(const struct fg_record *r, int64_t t[NTECH])
{
    t[T_PROMPT] = r->priced ? r->saved_prompt_cache_pico : 0;
    t[T_RESPONSE] = r->priced ? r->saved_response_cache_pico : 0;
    t[T_ROUTING] = r->priced ? r->saved_routing_pico : 0;
    t[T_BATCH] = r->priced ? r->saved_batch_pico : 0;
    t[T_FLEX] = r->priced ? r->saved_flex_pico : 0;
}

static void group_add(struct group *g, const struct fg_record *r)
{
    g->requests++;
    g->cost += cost_of(r);
    g->baseline += base_of(r);
    tok_add(&g->tok, &r->tok);
}

/* Split "k=v,k=v" into rows; a call without tags goes to "(none)". */
static void add_tags(struct agg *a, const struct fg_record *r)
{
    const char *p = r->tags ? r->tags : "";
    bool any = false;
    while (*p) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, ",");
        size_t trim = len;
        while (trim && p[trim - 1] == ' ')
            trim--;
        if (trim) {
            group_add(gtab_get(&a->rows, p, trim), r);
            any = true;
        }
        p += len;
    }
    if (!any)
        group_add(gtab_str(&a->rows, "(none)"), r);
}

/* Bucket / technique rows: `amount` per row, calls where it is non-zero. */
static void add_fixed_rows(struct agg *a, const struct fg_record *r, const int64_t *amount,
                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!amount[i])
            continue;
        struct group *g = &a->rows.v[i];
        group_add(g, r);
        g->amount += amount[i];
    }
}

static void add_dim(struct agg *a, const struct fg_record *r)
{
    int64_t v[(int)NBUCKETS > (int)NTECH ? (int)NBUCKETS : (int)NTECH];
    switch (a->dim) {
    case DIM_MODEL: group_add(gtab_str(&a->rows, model_of(r)), r); break;
    case DIM_KEY:
        group_add(gtab_str(&a->rows, r->key_id && r->key_id[0] ? r->key_id : "(none)"), r);
        break;
    case DIM_TAG: add_tags(a, r); break;
    case DIM_BUCKET:
        record_buckets(r, v);
        add_fixed_rows(a, r, v, NBUCKETS);
        break;
    case DIM_TECHNIQUE:
        record_savings(r, v);
        add_fixed_rows(a, r, v, NTECH);
        break;
    case DIM_NONE: break;
    }
}

/* Estimated cost of r's cache writes at its model's listed write prices.
 * The record keeps only its total cost, not the write share, so this is
 * cache_write tokens x the built-in (not the configured) write price of
 * upstream_model, else model; Anthropic rules when the id is claude-* or
 * the provider's name says anthropic.  0 when the model is unknown. */
static int64_t write_cost(const struct fg_record *r)
{
    if (r->tok.cache_write_5m <= 0 && r->tok.cache_write_1h <= 0)
        return 0;
    const char *ids[2] = {r->upstream_model, model_of(r)};
    for (int i = 0; i < 2; i++) {
        const char *id = ids[i];
        if (!id || !id[0])
            continue;
        bool an = !strncmp(id, "claude", 6) || (r->provider && strstr(r->provider, "anthropic"));
        struct fg_price p;
        if (fg_price_of_id(id, an ? FG_DIALECT_ANTHROPIC : FG_DIALECT_OPENAI, &p))
            return r->tok.cache_write_5m * (p.cache_write_5m > 0 ? p.cache_write_5m : 0) +
                   r->tok.cache_write_1h * (p.cache_write_1h > 0 ? p.cache_write_1h : 0);
    }
    return 0;
}

/* Could the provider have cached this call at all?  Its prompt reaches the
 * model's minimum cacheable length (OpenAI 1024 tokens, Anthropic per
 * model), or it read or wrote the cache. */
static bool cacheable(const struct fg_record *r)
{
    const struct fg_tokens *t = &r->tok;
    if (t->cache_read > 0 || t->cache_write_5m > 0 || t->cache_write_1h > 0)
        return true;
    const char *id = r->upstream_model && r->upstream_model[0] ? r->upstream_model : model_of(r);
    bool an = !strncmp(id, "claude", 6) || (r->provider && strstr(r->provider, "anthropic"));
    int64_t min = an ? fg_price_min_cacheable_tokens(id) : 1024;
    return t->input >= min;
}

static void add_prefix(struct agg *a, const struct fg_record *r)
{
    if (!r->prefix_fp[0])
        return;
    struct group *g = gtab_str(&a->prefixes, r->prefix_fp);
    group_add(g, r);
    if (r->prefix_tokens > g->max_tokens)
        g->max_tokens = r->prefix_tokens;
    if (!cacheable(r)) {
        a->prefixed_short++;
        return;
    }
    a->prefixed++;
    if (r->tok.cache_read > 0) {
        g->hits++;
        a->prefixed_hits++;
    }
    g->write_pico += write_cost(r);
}

static char *dup_or_empty(const char *s)
{
    return fg_xstrdup(s ? s : "");
}

/* Busters grouped by (model, where, offset); the sample of the latest
 * record wins (the scan is oldest first). */
static void add_buster(struct agg *a, const struct fg_record *r)
{
    if (r->cache_miss_reason && r->cache_miss_reason[0])
        gtab_str(&a->miss_reasons, r->cache_miss_reason)->requests++;
    if (!r->buster_where || !r->buster_where[0])
        return;
    const char *model = model_of(r);
    size_t ml = strlen(model), wl = strlen(r->buster_where);
    char stackkey[256],
        *key = ml + wl + 32 <= sizeof stackkey ? stackkey : fg_xmalloc(ml + wl + 32);
    int kl = snprintf(key, ml + wl + 32, "%s\x1f%s\x1f%lld", model, r->buster_where,
                      (long long)r->buster_offset);
    struct group *g = gtab_get(&a->busters, key, (size_t)kl);
    if (key != stackkey)
        free(key);
    if (!g->where) {
        g->model = fg_xstrdup(model);
        g->where = fg_xstrdup(r->buster_where);
        g->offset = r->buster_offset;
    }
    if (!g->requests || r->ts_ms < g->first_ms)
        g->first_ms = r->ts_ms;
    if (r->ts_ms > g->last_ms)
        g->last_ms = r->ts_ms;
    g->requests++;
    g->btokens += r->buster_tokens;
    g->bpico += r->buster_pico;
    if (!g->sample || strcmp(g->sample, r->buster_sample ? r->buster_sample : "")) {
        free(g->sample);
        g->sample = dup_or_empty(r->buster_sample);
    }
}

/* Escalations: the frontier calls, and the cheap attempts they replaced. */
static void count_escalation(struct agg *a, const struct fg_record *r)
{
    if (r->route && !strcmp(r->route, "escalated")) {
        a->escalations++;
        a->escalated_pico += r->priced ? r->cost_pico : 0;
        if (r->route_reason && strstr(r->route_reason, "missed the route's format"))
            a->escalated_format++;
    } else if (r->route && !strcmp(r->route, "cheap") && r->route_reason &&
               strstr(r->route_reason, "escalated")) {
        a->escalated_cheap_pico += r->priced ? r->cost_pico : 0;
    }
}

/* What learning a route cost, and the labels it bought (server/learn_shadow.h:
 * the last record of an evaluation says "; label 1" or "; label 0"). */
static void count_learning(struct agg *a, const struct fg_record *r)
{
    if (!r->route || strcmp(r->route, "routing_eval"))
        return;
    const char *route = r->tags && !strncmp(r->tags, "route=", 6) ? r->tags + 6 : "(unknown)";
    struct group *g = gtab_str(&a->learning, route);
    g->requests++;
    g->cost += cost_of(r);
    const char *l = r->route_reason ? strstr(r->route_reason, "; label ") : NULL;
    if (l && l[8] == '1')
        g->amount++;
    else if (l && l[8] == '0')
        g->hits++;
}

/* Calls whose tier the cold-start rules chose (route_reason "cold start:"). */
static void count_cold_start(struct agg *a, const struct fg_record *r)
{
    if (!r->route_reason || strncmp(r->route_reason, "cold start:", 11))
        return;
    a->cold_calls++;
    if (strstr(r->route_reason, "not confident"))
        a->cold_tier++;
    else if (r->route && !strcmp(r->route, "frontier"))
        a->cold_conf_frontier++;
    else
        a->cold_conf_cheap++;
}

static int on_record(void *arg, const struct fg_record *r)
{
    struct agg *a = arg;
    if (a->key_id && (!r->key_id || strcmp(r->key_id, a->key_id)))
        return 0;
    group_add(&a->total, r);
    count_escalation(a, r);
    count_cold_start(a, r);
    count_learning(a, r);
    if (r->status >= 400) {
        a->errors++;
    } else if (!r->priced) {
        a->unpriced++;
        gtab_str(&a->unpriced_models, model_of(r))->requests++;
    }
    int64_t b[NBUCKETS], t[NTECH];
    record_buckets(r, b);
    record_savings(r, t);
    for (int i = 0; i < NBUCKETS; i++)
        a->bucket[i] += b[i];
    for (int i = 0; i < NTECH; i++)
        a->saved[i] += t[i];
    a->repeated_cached += r->priced ? r->bucket_repeated_cached_pico : 0;
    group_add(gtab_str(&a->models, model_of(r)), r);
    add_prefix(a, r);
    add_buster(a, r);
    add_dim(a, r);
    fg_report_selfhost_add(a->selfhost, r);
    return 0;
}

static void agg_init(struct agg *a, enum dim d)
{
    memset(a, 0, sizeof *a);
    a->dim = d;
    if (d == DIM_BUCKET)
        for (int i = 0; i < NBUCKETS; i++)
            gtab_str(&a->rows, bucket_names[i]);
    if (d == DIM_TECHNIQUE)
        for (int i = 0; i < NTECH; i++)
            gtab_str(&a->rows, tech_names[i]);
}

static void agg_free(struct agg *a)
{
    gtab_free(&a->models);
    gtab_free(&a->prefixes);
    gtab_free(&a->rows);
    gtab_free(&a->unpriced_models);
    gtab_free(&a->busters);
    gtab_free(&a->miss_reasons);
    gtab_free(&a->learning);
    fg_report_selfhost_free(a->selfhost);
}

/* ---- ordering ---------------------------------------------------------- */

static int cmp_i64_desc(int64_t x, int64_t y)
{
    return x > y ? -1 : x < y;
}

static int by_cost(const void *pa, const void *pb)
{
    const struct group *a = pa, *b = pb;
    int c = cmp_i64_desc(a->cost, b->cost);
    if (!c)
        c = cmp_i64_desc(a->requests, b->requests);
    return c ? c : strcmp(a->key, b->key);
}

static int by_weight(const void *pa, const void *pb)
{
    const struct group *a = pa, *b = pb;
    i128 wa = (i128)a->requests * a->max_tokens, wb = (i128)b->requests * b->max_tokens;
    int c = wa > wb ? -1 : wa < wb;
    if (!c)
        c = cmp_i64_desc(a->requests, b->requests);
    return c ? c : strcmp(a->key, b->key);
}

static int by_buster_cost(const void *pa, const void *pb)
{
    const struct group *a = pa, *b = pb;
    int c = cmp_i64_desc(a->bpico, b->bpico);
    if (!c)
        c = cmp_i64_desc(a->requests, b->requests);
    if (!c)
        c = cmp_i64_desc(a->btokens, b->btokens);
    return c ? c : strcmp(a->key, b->key);
}

static int by_requests(const void *pa, const void *pb)
{
    const struct group *a = pa, *b = pb;
    int c = cmp_i64_desc(a->requests, b->requests);
    return c ? c : strcmp(a->key, b->key);
}

static int by_key(const void *pa, const void *pb)
{
    return strcmp(((const struct group *)pa)->key, ((const struct group *)pb)->key);
}

static void gtab_sort(struct gtab *t, int (*cmp)(const void *, const void *))
{
    if (t->n > 1)
        qsort(t->v, t->n, sizeof *t->v, cmp);
}

/* ---- JSON -------------------------------------------------------------- */

static void format_rfc3339(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "%s", "");
}

static json_t *tokens_json(const struct fg_tokens *t)
{
    return json_pack("{sI,sI,sI,sI,sI}", "input", (json_int_t)t->input, "cache_read",
                     (json_int_t)t->cache_read, "cache_write_5m", (json_int_t)t->cache_write_5m,
                     "cache_write_1h", (json_int_t)t->cache_write_1h, "output",
                     (json_int_t)t->output);
}

static json_t *saved_by_json(const struct agg *a)
{
    json_t *o = json_object();
    for (int i = 0; i < NTECH; i++)
        json_object_set_new(o, tech_names[i], fg_report_usd(a->saved[i]));
    return o;
}

static json_t *buckets_json(const struct agg *a)
{
    json_t *o = json_object();
    for (int i = 0; i < NBUCKETS; i++) {
        json_t *b = json_pack("{so,so}", "cost_usd", fg_report_usd(a->bucket[i]), "share",
                              ratio(a->bucket[i], a->total.cost, 10000, 10000));
        if (i == B_REPEATED) {
            json_object_set_new(b, "cached_usd", fg_report_usd(a->repeated_cached));
            json_object_set_new(b, "uncached_usd",
                                fg_report_usd(a->bucket[i] - a->repeated_cached));
        }
        json_object_set_new(o, bucket_names[i], b);
    }
    return o;
}

static json_t *models_json(struct agg *a)
{
    gtab_sort(&a->models, by_cost);
    json_t *arr = json_array();
    for (size_t i = 0; i < a->models.n; i++) {
        const struct group *g = &a->models.v[i];
        json_array_append_new(
            arr, json_pack("{ss,sI,so,so,so,so}", "model", g->key, "requests",
                           (json_int_t)g->requests, "cost_usd", fg_report_usd(g->cost),
                           "baseline_usd", fg_report_usd(g->baseline), "saved_usd",
                           fg_report_usd(g->baseline - g->cost), "tokens", tokens_json(&g->tok)));
    }
    return arr;
}

static json_t *prefixes_json(struct agg *a, int top)
{
    gtab_sort(&a->prefixes, by_weight);
    json_t *arr = json_array();
    for (size_t i = 0; i < a->prefixes.n && i < (size_t)top; i++) {
        const struct group *g = &a->prefixes.v[i];
        json_array_append_new(arr, json_pack("{ss,sI,sI,so,so}", "fingerprint", g->key, "tokens",
                                             (json_int_t)g->max_tokens, "requests",
                                             (json_int_t)g->requests, "cache_hit_rate",
                                             ratio(g->hits, g->requests, 1000, 1000), "cost_usd",
                                             fg_report_usd(g->cost)));
    }
    return arr;
}

static const char buster_advice[] =
    "move the changing text (e.g. a timestamp or request id) after the stable part of the "
    "prompt, or into the last user message";

#define DAY_MS 86400000LL

/* What a buster costs a day.  A window of a day or more: its average day
 * (observed, not extrapolated).  A shorter window is scaled to a day only
 * when the buster was seen across at least half of it (steady traffic); a
 * burst (seen over a moment of the window) is not a daily rate: null, and
 * `per_day_basis` says why. */
static void buster_per_day(json_t *row, const struct group *g, int64_t window_ms)
{
    char basis[160];
    json_t *v;
    if (window_ms <= 0)
        window_ms = 1;
    int64_t span = g->last_ms - g->first_ms;
    if (window_ms >= DAY_MS) {
        v = fg_report_usd(div_round((i128)g->bpico * DAY_MS, window_ms));
        snprintf(basis, sizeof basis, "average day of the %lld h window",
                 (long long)(window_ms / 3600000));
    } else if (g->requests > 1 && span * 2 >= window_ms) {
        v = fg_report_usd(div_round((i128)g->bpico * DAY_MS, window_ms));
        snprintf(basis, sizeof basis, "extrapolated to 24 h from %lld min of steady calls",
                 (long long)(span / 60000));
    } else {
        v = json_null();
        snprintf(basis, sizeof basis, "not extrapolated: seen over %lld s of a %lld min window",
                 (long long)(span / 1000), (long long)(window_ms / 60000));
    }
    json_object_set_new(row, "cost_usd_per_day", v);
    json_object_set_new(row, "per_day_basis", json_string(basis));
}

static json_t *busters_json(struct agg *a, int64_t period_ms)
{
    gtab_sort(&a->busters, by_buster_cost);
    json_t *arr = json_array();
    for (size_t i = 0; i < a->busters.n && i < FG_REPORT_TOP_BUSTERS; i++) {
        const struct group *g = &a->busters.v[i];
        json_t *row =
            json_pack("{ss,sI,ss,ss,sI,sI,so,ss}", "where", g->where, "offset",
                      (json_int_t)g->offset, "sample", g->sample ? g->sample : "", "model",
                      g->model, "calls", (json_int_t)g->requests, "tokens", (json_int_t)g->btokens,
                      "cost_usd", fg_report_usd(g->bpico), "advice", buster_advice);
        buster_per_day(row, g, period_ms);
        json_array_append_new(arr, row);
    }
    return arr;
}

static json_t *miss_reasons_json(struct agg *a)
{
    gtab_sort(&a->miss_reasons, by_requests);
    json_t *o = json_object();
    for (size_t i = 0; i < a->miss_reasons.n; i++)
        json_object_set_new(o, a->miss_reasons.v[i].key,
                            json_integer((json_int_t)a->miss_reasons.v[i].requests));
    return o;
}

static json_t *learning_json(struct agg *a)
{
    json_t *o = json_object();
    for (size_t i = 0; i < a->learning.n; i++) {
        const struct group *g = &a->learning.v[i];
        json_object_set_new(o, g->key,
                            json_pack("{sI,so,s{sI,sI}}", "calls", (json_int_t)g->requests,
                                      "cost_usd", fg_report_usd(g->cost), "labels",
                                      "cheap_no_worse", (json_int_t)g->amount, "frontier_better",
                                      (json_int_t)g->hits));
    }
    return o;
}

static json_t *prompt_cache_json(const struct agg *a)
{
    int64_t never = 0, never_pico = 0;
    for (size_t i = 0; i < a->prefixes.n; i++) {
        const struct group *g = &a->prefixes.v[i];
        if (g->tok.cache_read > 0)
            continue;
        never += g->tok.cache_write_5m + g->tok.cache_write_1h;
        never_pico += g->write_pico;
    }
    return json_pack("{so,sI,sI,sI,sI,sI,so}", "hit_rate",
                     ratio(a->prefixed_hits, a->prefixed, 1000, 1000), "eligible_calls",
                     (json_int_t)a->prefixed, "too_short_calls", (json_int_t)a->prefixed_short,
                     "read_tokens", (json_int_t)a->total.tok.cache_read, "written_tokens",
                     (json_int_t)(a->total.tok.cache_write_5m + a->total.tok.cache_write_1h),
                     "written_never_read_tokens", (json_int_t)never, "written_never_read_usd",
                     fg_report_usd(never_pico));
}

static json_t *unpriced_json(struct agg *a)
{
    gtab_sort(&a->unpriced_models, by_key);
    json_t *arr = json_array();
    for (size_t i = 0; i < a->unpriced_models.n; i++)
        json_array_append_new(arr, json_string(a->unpriced_models.v[i].key));
    return arr;
}

static json_t *row_json(const struct agg *a, const struct group *g)
{
    int64_t cost = g->cost, saved = g->baseline - g->cost;
    if (a->dim == DIM_BUCKET)
        cost = g->amount;
    if (a->dim == DIM_TECHNIQUE)
        saved = g->amount;
    /* a bucket is a share of calls' cost: it has no baseline of its own */
    bool bucket = a->dim == DIM_BUCKET;
    json_t *row = json_pack("{ss,sI,so,so,so}", "key", g->key, "requests", (json_int_t)g->requests,
                            "cost_usd", fg_report_usd(cost), "baseline_usd",
                            bucket ? json_null() : fg_report_usd(g->baseline), "saved_usd",
                            bucket ? json_null() : fg_report_usd(saved));
    if (bucket)
        json_object_set_new(row, "share", ratio(g->amount, a->total.cost, 10000, 10000));
    if (g->name)
        json_object_set_new(row, "name", json_string(g->name));
    return row;
}

static json_t *by_json(struct agg *a)
{
    if (a->dim != DIM_BUCKET && a->dim != DIM_TECHNIQUE)
        gtab_sort(&a->rows, by_cost);
    json_t *rows = json_array();
    for (size_t i = 0; i < a->rows.n; i++)
        json_array_append_new(rows, row_json(a, &a->rows.v[i]));
    json_t *by = json_pack("{ss,so,sI}", "dimension", dim_names[a->dim], "rows", rows, "calls",
                           (json_int_t)a->total.requests);
    if (a->dim == DIM_BUCKET || a->dim == DIM_TECHNIQUE || a->dim == DIM_TAG)
        json_object_set_new(
            by, "note",
            json_string(a->dim == DIM_TAG
                            ? "a call with several tags is counted in each of their rows"
                        : a->dim == DIM_BUCKET
                            ? "one call's cost splits across buckets: a call is counted in "
                              "every bucket it has money in, so the rows' requests add up "
                              "to more than the calls; the rows' cost_usd adds up to the "
                              "total"
                            : "a call is counted under every technique that saved on it, "
                              "so the rows' requests (and cost_usd) can add up to more "
                              "than the calls"));
    return by;
}

static json_t *totals_json(const struct agg *a, int64_t since, int64_t until)
{
    char s[40], u[40];
    format_rfc3339(since, s, sizeof s);
    format_rfc3339(until, u, sizeof u);
    int64_t saved = a->total.baseline - a->total.cost;
    return json_pack("{ss,ss,sI,sI,sI,so,so,so,so}", "since", s, "until", u, "requests",
                     (json_int_t)a->total.requests, "errors", (json_int_t)a->errors,
                     "unpriced_requests", (json_int_t)a->unpriced, "cost_usd",
                     fg_report_usd(a->total.cost), "baseline_usd", fg_report_usd(a->total.baseline),
                     "saved_usd", fg_report_usd(saved), "saved_pct",
                     ratio(saved, a->total.baseline, 1000, 10));
}

static json_t *spend_json(struct agg *a, const struct fg_report_opts *o, int64_t until)
{
    json_t *j = totals_json(a, o->since_ms, until);
    json_object_set_new(j, "saved_by", saved_by_json(a));
    json_object_set_new(j, "tokens", tokens_json(&a->total.tok));
    json_object_set_new(j, "buckets", buckets_json(a));
    json_object_set_new(j, "by_model", models_json(a));
    int top = o->top_prefixes > 0 ? o->top_prefixes : FG_REPORT_TOP_PREFIXES;
    json_object_set_new(j, "top_prefixes", prefixes_json(a, top));
    json_object_set_new(j, "prompt_cache", prompt_cache_json(a));
    json_object_set_new(j, "cache_busters", busters_json(a, until - o->since_ms));
    json_object_set_new(j, "cache_miss_reasons", miss_reasons_json(a));
    json_object_set_new(j, "escalations",
                        json_pack("{sI,so,so,s{sI}}", "count", (json_int_t)a->escalations,
                                  "cost_usd", fg_report_usd(a->escalated_pico),
                                  "cheap_attempts_usd", fg_report_usd(a->escalated_cheap_pico),
                                  "by_reason", "format", (json_int_t)a->escalated_format));
    json_object_set_new(j, "routing_cold_start",
                        json_pack("{sI,sI,sI,sI,sI}", "calls", (json_int_t)a->cold_calls,
                                  "to_cold_tier", (json_int_t)a->cold_tier, "confident",
                                  (json_int_t)(a->cold_calls - a->cold_tier), "confident_cheap",
                                  (json_int_t)a->cold_conf_cheap, "confident_frontier",
                                  (json_int_t)a->cold_conf_frontier));
    json_object_set_new(j, "routing_learning", learning_json(a));
    json_object_set_new(j, "unpriced_models", unpriced_json(a));
    if (a->selfhost)
        json_object_set_new(j, "self_hosted", fg_report_selfhost_json(a->selfhost));
    if (a->dim != DIM_NONE)
        json_object_set_new(j, "by", by_json(a));
    if (o->key_id)
        json_object_set_new(j, "key", json_string(o->key_id));
    return j;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --by key: the rows are key ids (the ledger's); give them their names. */
static int name_key(void *arg, const char *id, const char *name)
{
    struct agg *a = arg;
    for (size_t i = 0; i < a->rows.n; i++)
        if (!strcmp(a->rows.v[i].key, id) && !a->rows.v[i].name)
            a->rows.v[i].name = fg_xstrdup(name);
    return 0;
}

int fg_report_spend(struct fg_store *s, const struct fg_report_opts *o, json_t **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    enum dim d = dim_of(o->by);
    if (d == (enum dim) - 1) {
        snprintf(err, errlen,
                 "unknown report dimension '%s' (use model, bucket, technique, "
                 "key or tag)",
                 o->by);
        return -1;
    }
    int64_t until = o->until_ms > 0 ? o->until_ms : now_ms();
    struct agg a;
    agg_init(&a, d);
    a.key_id = o->key_id;
    /* a server's hours are not one caller's: whole-gateway maps only */
    a.selfhost = o->key_id ? NULL : fg_report_selfhost_new(o->cfg);
    int rc = s->ops->scan(s, o->since_ms, until, on_record, &a, err, errlen);
    if (rc == 0 && d == DIM_KEY && o->key_names &&
        o->key_names(o->key_names_src, name_key, &a, err, errlen) < 0)
        rc = -1;
    if (rc == 0)
        *out = spend_json(&a, o, until);
    agg_free(&a);
    return rc < 0 ? -1 : 0;
}

/* ---- the readable table ------------------------------------------------ */

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static long long inum(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "$1.234567" below $100, "$123.46" from there; "-$0.500000". */
static const char *money(double v, char *buf, size_t n)
{
    double a = v < 0 ? -v : v;
    snprintf(buf, n, "%s$%.*f", v < 0 ? "-" : "", a >= 100 ? 2 : 6, a);
    return buf;
}

/* A money field that may be null (not applicable): "-". */
static const char *money_or_dash(const json_t *o, const char *k, char *buf, size_t n)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_number(v)) {
        snprintf(buf, n, "-");
        return buf;
    }
    return money(json_number_value(v), buf, n);
}

/* Width of the widest `field` of the objects in arr, at least min. */
static int name_width(const json_t *arr, const char *field, int min)
{
    int w = min;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        int l = (int)strlen(str(json_array_get(arr, i), field));
        w = l > w ? l : w;
    }
    return w;
}

static void print_header(FILE *f, const json_t *j)
{
    char c[32], b[32], s[32];
    fprintf(f, "Spend %s .. %s\n", str(j, "since"), str(j, "until"));
    fprintf(f, "%lld requests", inum(j, "requests"));
    if (inum(j, "errors") || inum(j, "unpriced_requests"))
        fprintf(f, " (%lld errors, %lld unpriced)", inum(j, "errors"),
                inum(j, "unpriced_requests"));
    fprintf(f, "  cost %s  baseline %s  saved %s (%.1f%%)\n", money(num(j, "cost_usd"), c, 32),
            money(num(j, "baseline_usd"), b, 32), money(num(j, "saved_usd"), s, 32),
            num(j, "saved_pct"));
}

static void print_buckets(FILE *f, const json_t *j)
{
    const json_t *bs = json_object_get(j, "buckets");
    char m[32], c[32], u[32];
    fprintf(f, "\nWhere the money goes\n  %-18s %12s %7s\n", "bucket", "cost", "share");
    for (int i = 0; i < NBUCKETS; i++) {
        const json_t *b = json_object_get(bs, bucket_names[i]);
        fprintf(f, "  %-18s %12s %6.1f%%", bucket_names[i], money(num(b, "cost_usd"), m, 32),
                100 * num(b, "share"));
        if (i == B_REPEATED)
            fprintf(f, "  (cached %s, uncached %s)", money(num(b, "cached_usd"), c, 32),
                    money(num(b, "uncached_usd"), u, 32));
        fputc('\n', f);
    }
}

static void print_saved(FILE *f, const json_t *j)
{
    const json_t *sb = json_object_get(j, "saved_by");
    char m[32];
    fprintf(f, "\nSaved by technique\n");
    for (int i = 0; i < NTECH; i++)
        fprintf(f, "  %-18s %12s\n", tech_names[i], money(num(sb, tech_names[i]), m, 32));
}

static void print_models(FILE *f, const json_t *j)
{
    const json_t *arr = json_object_get(j, "by_model");
    int w = name_width(arr, "model", 5);
    char m[32];
    fprintf(f, "\nBy model\n  %-*s %9s %12s %12s %12s %12s %12s\n", w, "model", "requests", "cost",
            "input", "cache_read", "cache_write", "output");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *r = json_array_get(arr, i), *t = json_object_get(r, "tokens");
        fprintf(f, "  %-*s %9lld %12s %12lld %12lld %12lld %12lld\n", w, str(r, "model"),
                inum(r, "requests"), money(num(r, "cost_usd"), m, 32), inum(t, "input"),
                inum(t, "cache_read"), inum(t, "cache_write_5m") + inum(t, "cache_write_1h"),
                inum(t, "output"));
    }
    if (!json_array_size(arr))
        fprintf(f, "  (no requests)\n");
}

static void print_prefixes(FILE *f, const json_t *j)
{
    const json_t *arr = json_object_get(j, "top_prefixes");
    char m[32];
    fprintf(f, "\nTop repeated prefixes\n  %-16s %9s %9s %9s %12s\n", "fingerprint", "tokens",
            "requests", "hit rate", "cost");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *p = json_array_get(arr, i);
        fprintf(f, "  %-16s %9lld %9lld %8.1f%% %12s\n", str(p, "fingerprint"), inum(p, "tokens"),
                inum(p, "requests"), 100 * num(p, "cache_hit_rate"),
                money(num(p, "cost_usd"), m, 32));
    }
    if (!json_array_size(arr))
        fprintf(f, "  (none)\n");
}

static void print_prompt_cache(FILE *f, const json_t *j)
{
    const json_t *pc = json_object_get(j, "prompt_cache");
    char m[32];
    if (!pc)
        return;
    fprintf(f,
            "\nPrompt cache\n  hit rate %.1f%% (of the %lld calls with a stable prefix long "
            "enough to be cached, those that read the cache",
            100 * num(pc, "hit_rate"), inum(pc, "eligible_calls"));
    if (inum(pc, "too_short_calls"))
        fprintf(f, "; %lld shorter calls not counted", inum(pc, "too_short_calls"));
    fprintf(f, ")\n  read %lld tokens, written %lld tokens\n", inum(pc, "read_tokens"),
            inum(pc, "written_tokens"));
    fprintf(f, "  written, never read: %lld tokens (~%s)\n", inum(pc, "written_never_read_tokens"),
            money(num(pc, "written_never_read_usd"), m, 32));
}

static void print_busters(FILE *f, const json_t *j)
{
    const json_t *arr = json_object_get(j, "cache_busters");
    int w = name_width(arr, "where", 5), mw = name_width(arr, "model", 5);
    char m[32];
    fprintf(f,
            "\nCache busters (text that changes inside a stable prefix)\n  %-*s %8s %-*s %7s "
            "%10s %12s  %s\n",
            w, "where", "offset", mw, "model", "calls", "tokens", "per day", "sample");
    bool burst = false;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *b = json_array_get(arr, i);
        burst |= !json_is_number(json_object_get(b, "cost_usd_per_day"));
        fprintf(f, "  %-*s %8lld %-*s %7lld %10lld %12s  \"%s\"\n", w, str(b, "where"),
                inum(b, "offset"), mw, str(b, "model"), inum(b, "calls"), inum(b, "tokens"),
                money_or_dash(b, "cost_usd_per_day", m, 32), str(b, "sample"));
    }
    if (burst)
        fprintf(f, "  (per day \"-\": seen in a burst, not across the window; a burst is not "
                   "extrapolated to a day)\n");
    if (!json_array_size(arr))
        fprintf(f, "  (none)\n");
    else
        fprintf(f, "  fix: %s\n", str(json_array_get(arr, 0), "advice"));
}

static void print_miss_reasons(FILE *f, const json_t *j)
{
    const json_t *o = json_object_get(j, "cache_miss_reasons");
    if (!json_object_size(o))
        return;
    fprintf(f, "\nCache miss reasons (provider diagnostics)\n");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
        fprintf(f, "  %-40s %9lld\n", k, (long long)json_integer_value(v));
}

static void print_selfhosted(FILE *f, const json_t *j)
{
    const json_t *arr = json_object_get(j, "self_hosted");
    char a[32], b[32], c[32];
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *o = json_array_get(arr, i), *api = json_object_get(o, "api");
        fprintf(f, "\nSelf-hosted: %s (%s/h, %lld calls at once)\n", str(o, "provider"),
                money(num(o, "per_hour_usd"), a, sizeof a), inum(o, "max_concurrency"));
        fprintf(f, "  %.6f h  %s  (calls %s, idle %s)\n", num(o, "hours"),
                money(num(o, "cost_usd"), a, sizeof a), money(num(o, "calls_usd"), b, sizeof b),
                money(num(o, "idle_usd"), c, sizeof c));
        fprintf(f,
                "  busy %.1f%% of the time, utilisation %.1f%% of its concurrency, %.0f tokens/h\n",
                100 * num(o, "busy_share"), 100 * num(o, "utilisation"), num(o, "tokens_per_hour"));
        if (json_is_object(api))
            fprintf(f, "  the same tokens at %s: %s; break-even at %.0f tokens/h\n",
                    str(api, "model"), money(num(api, "cost_usd"), a, sizeof a),
                    num(api, "break_even_tokens_per_hour"));
        else
            fprintf(f, "  (no API-priced model serves a route with it: no break-even)\n");
    }
}

static void print_unpriced(FILE *f, const json_t *j)
{
    const json_t *arr = json_object_get(j, "unpriced_models");
    if (!json_array_size(arr))
        return;
    fprintf(f, "\nUnpriced models (%lld requests not in the totals; add a price to the config)\n",
            inum(j, "unpriced_requests"));
    for (size_t i = 0; i < json_array_size(arr); i++)
        fprintf(f, "  %s\n", json_string_value(json_array_get(arr, i)));
}

static void print_by(FILE *f, const json_t *j, const char *by)
{
    const json_t *o = json_object_get(j, "by"), *rows = json_object_get(o, "rows");
    if (!o)
        return;
    const char *dim = by ? by : str(o, "dimension");
    int w = name_width(rows, "key", (int)strlen(dim));
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *r = json_array_get(rows, i);
        if (json_is_string(json_object_get(r, "name"))) {
            int l = (int)(strlen(str(r, "name")) + strlen(str(r, "key")) + 3);
            w = l > w ? l : w;
        }
    }
    char c[32], b[32], s[32];
    fprintf(f, "\nBy %s\n  %-*s %9s %12s %12s %12s\n", dim, w, dim, "requests", "cost", "baseline",
            "saved");
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *r = json_array_get(rows, i);
        char label[300];
        if (json_is_string(json_object_get(r, "name"))) /* keys: the name, then the id */
            snprintf(label, sizeof label, "%s (%s)", str(r, "name"), str(r, "key"));
        else
            snprintf(label, sizeof label, "%s", str(r, "key"));
        fprintf(f, "  %-*s %9lld %12s %12s %12s\n", w, label, inum(r, "requests"),
                money(num(r, "cost_usd"), c, 32), money_or_dash(r, "baseline_usd", b, 32),
                money_or_dash(r, "saved_usd", s, 32));
    }
    if (!json_array_size(rows))
        fprintf(f, "  (none)\n");
    if (json_is_string(json_object_get(o, "note")))
        fprintf(f, "  (%lld calls in all; %s)\n", inum(o, "calls"), str(o, "note"));
}

void fg_report_print(FILE *f, const json_t *spend, const char *by)
{
    print_header(f, spend);
    print_buckets(f, spend);
    print_saved(f, spend);
    print_models(f, spend);
    print_prefixes(f, spend);
    print_prompt_cache(f, spend);
    print_busters(f, spend);
    print_miss_reasons(f, spend);
    print_selfhosted(f, spend);
    print_unpriced(f, spend);
    print_by(f, spend, by);
}

/* ---- frugal report ----------------------------------------------------- */

struct cli {
    const char *since, *by, *key;
    bool json;
    int top;
};

static const char usage_text[] =
    "usage: frugal report [-c FILE] [--since 24h|30m|7d|90s|RFC3339|UNIX-SECONDS]\n"
    "                     [--by model|bucket|technique|key|tag] [--key ID] [--top N] [--json]\n";

/* argv[*i] is `name VALUE` or `name=VALUE`: sets *val (NULL when the
 * value is missing), advances *i past it, returns true. */
static bool opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return false;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n])
        return false;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

static int bad_usage(const char *fmt, const char *what)
{
    fprintf(stderr, "frugal report: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

/* Check a value option; returns 0 ok or exit status 2. */
static int check_value(const char *name, const char *v, struct cli *c)
{
    if (!v)
        return bad_usage("%s needs a value", name);
    if (!strcmp(name, "--by") && !fg_report_by_valid(v))
        return bad_usage("bad --by '%s': use model, bucket, technique, key or tag", v);
    if (!strcmp(name, "--top")) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end || end == v || n < 1 || n > 100000)
            return bad_usage("bad --top '%s': expected a number from 1 to 100000", v);
        c->top = (int)n;
    }
    return 0;
}

/* -1 to go on; otherwise the exit status. */
static int parse_args(int argc, char **argv, struct cli *c)
{
    static const char *const valued[] = {"--since", "--by", "--top", "-c", "--config", "--key"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--json")) {
            c->json = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        size_t k = 0;
        while (k < 6 && !opt(argc, argv, &i, valued[k], &v))
            k++;
        if (k == 6 && strcmp(a, "report"))
            return bad_usage("unknown argument '%s'", a);
        if (k < 6 && check_value(valued[k], v, c))
            return 2;
        if (k == 5)
            c->key = v;
        if (k == 0)
            c->since = v;
        if (k == 1)
            c->by = v;
    }
    return -1;
}

static int report_store(const char *dsn, const struct cli *c, const struct fg_report_opts *o)
{
    char err[512];
    struct fg_store *s = NULL;
    json_t *spend = NULL;
    if (fg_store_open(dsn, &s, err, sizeof err) < 0 ||
        fg_report_spend(s, o, &spend, err, sizeof err) < 0) {
        fprintf(stderr, "frugal report: %s\n", err);
        fg_store_close(s);
        return 1;
    }
    fg_store_close(s);
    if (c->json) {
        json_dumpf(spend, stdout, JSON_INDENT(2) | FG_REPORT_JSON_FLAGS);
        fputc('\n', stdout);
    } else {
        fg_report_print(stdout, spend, c->by);
    }
    json_decref(spend);
    return fflush(stdout) ? 1 : 0;
}

int fg_report_main(const char *storage_dsn, const struct fg_config *cfg, int argc, char **argv,
                   int (*names)(void *src, int (*cb)(void *arg, const char *id, const char *name),
                                void *arg, char *err, size_t errlen),
                   void *names_src)
{
    struct cli c = {.since = "24h", .top = FG_REPORT_TOP_PREFIXES};
    int rc = parse_args(argc, argv, &c);
    if (rc >= 0)
        return rc;
    struct fg_report_opts o = {.until_ms = now_ms(),
                               .cfg = cfg,
                               .by = c.by,
                               .top_prefixes = c.top,
                               .key_id = c.key,
                               .key_names = names,
                               .key_names_src = names_src};
    if (fg_clock_parse_since(c.since, o.until_ms, &o.since_ms) < 0)
        return bad_usage("bad --since '%s': use 24h, 30m, 7d, 90s, an RFC3339 time "
                         "(2026-11-26T00:00:00Z) or unix seconds",
                         c.since);
    return report_store(storage_dsn ? storage_dsn : "sqlite:frugal.db", &c, &o);
}
