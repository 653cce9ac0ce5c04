/* shared_mem.c — the in-process backend of shared.h: thread-safe, shared by
 * every thread of this process and by nothing else.
 *
 * Each primitive has its own mutex (counters, each cache, versions,
 * sightings), so a budget check never waits for a cache lookup. */
#include "shared.h"

#include "arena.h"
#include "assert.h"
#include "vec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================== counters */

static pthread_mutex_t ctr_mu = PTHREAD_MUTEX_INITIALIZER;

#define NO_WIN (INT64_MIN / 2) /* older than any window, far from overflow */

static void ctr_reset(struct fg_shared *s, struct fg_shared_counter *c)
{
    pthread_mutex_lock(&ctr_mu);
    c->head = NO_WIN;
    for (int i = 0; i < c->ncell; i++)
        c->cell[i] = (struct fg_shared_cell){.win = NO_WIN};
    pthread_mutex_unlock(&ctr_mu);
}

static bool live(const struct fg_shared_counter *c, int64_t win)
{
    return win > c->head - c->span && win <= c->head;
}

static struct fg_shared_cell *cell_at(struct fg_shared_counter *c, int64_t win)
{
    int64_t n = c->ncell;
    /* one cell (a budget's period): no division on the hot path */
    struct fg_shared_cell *cl = n == 1 ? c->cell : &c->cell[((win % n) + n) % n];
    FG_DASSERT(cl >= c->cell && cl < c->cell + c->ncell);
    return cl;
}

/* Under ctr_mu: windows only move forward. */
static void advance(struct fg_shared_counter *c, int64_t now_win)
{
    FG_DASSERT(c->ncell >= 1 && c->cell);
    if (now_win > c->head)
        c->head = now_win;
}

/* Under ctr_mu: each field's sum over the live cells. */
static void sums(const struct fg_shared_counter *c, int64_t t[2])
{
    t[0] = t[1] = 0;
    for (int i = 0; i < c->ncell; i++)
        if (live(c, c->cell[i].win)) {
            /* adds clamp at zero, so a negative field means corruption */
            FG_DASSERT(c->cell[i].v[0] >= 0 && c->cell[i].v[1] >= 0);
            t[0] += c->cell[i].v[0];
            t[1] += c->cell[i].v[1];
        }
}

/* Under ctr_mu: the live cells, oldest first. */
static void window(const struct fg_shared_counter *c, struct fg_shared_window *w)
{
    w->head = c->head;
    w->n = 0;
    for (int i = 0; i < c->ncell; i++) {
        if (!live(c, c->cell[i].win))
            continue;
        FG_ASSERT(w->n < FG_SHARED_MAX_SPAN);
        int k = w->n++;
        for (; k > 0 && w->cell[k - 1].win > c->cell[i].win; k--)
            w->cell[k] = w->cell[k - 1];
        w->cell[k] = c->cell[i];
    }
}

static bool passes(const struct fg_shared_step *st, int *failed)
{
    if (st->check[0].limit <= 0 && st->check[1].limit <= 0)
        return true;
    int64_t t[2];
    sums(st->c, t);
    for (int k = 0; k < 2; k++) {
        const struct fg_shared_check *ck = &st->check[k];
        int64_t used = (ck->fields & 1 ? t[0] : 0) + (ck->fields & 2 ? t[1] : 0);
        if (ck->limit > 0 && used + ck->need > ck->limit) {
            *failed = k;
            return false;
        }
    }
    return true;
}

static void add(struct fg_shared_step *st)
{
    struct fg_shared_counter *c = st->c;
    if (st->win == FG_SHARED_NOW)
        st->win = c->head;
    if (!live(c, st->win))
        return; /* the window has passed: nothing counts there any more */
    struct fg_shared_cell *cl = cell_at(c, st->win);
    if (cl->win != st->win)
        *cl = (struct fg_shared_cell){.win = st->win}; /* the slot's old window left */
    for (int f = 0; f < 2; f++) {
        cl->v[f] += st->add[f];
        if (cl->v[f] < 0)
            cl->v[f] = 0;
    }
}

static int ctr_apply(struct fg_shared *s, struct fg_shared_step *st, int n,
                     struct fg_shared_denial *d)
{
    FG_ASSERT(n >= 0 && n <= FG_SHARED_MAX_STEPS);
    pthread_mutex_lock(&ctr_mu);
    for (int i = 0; i < n; i++)
        advance(st[i].c, st[i].now_win);
    for (int i = 0; i < n; i++) {
        int k;
        if (!passes(&st[i], &k)) {
            if (d) {
                d->step = i;
                d->check = k;
                window(st[i].c, &d->w);
            }
            pthread_mutex_unlock(&ctr_mu);
            return i;
        }
    }
    for (int i = 0; i < n; i++)
        add(&st[i]);
    pthread_mutex_unlock(&ctr_mu);
    return -1;
}

/* In process every answer is immediate: never pending, options moot. */
static int ctr_apply_async(struct fg_shared *s, struct fg_shared_step *st, int n,
                           const struct fg_shared_apply_opts *o, struct fg_shared_denial *d,
                           fg_shared_done_fn done, void *arg, struct fg_shared_op **op)
{
    *op = NULL;
    return ctr_apply(s, st, n, d);
}

static void op_cancel(struct fg_shared_op *op)
{
    FG_ASSERT(!op); /* nothing is ever pending here */
}

static void ctr_read(struct fg_shared *s, struct fg_shared_counter *c, int64_t now_win,
                     struct fg_shared_window *w)
{
    pthread_mutex_lock(&ctr_mu);
    advance(c, now_win);
    window(c, w);
    pthread_mutex_unlock(&ctr_mu);
}

/* ================================================================= cache */

struct ent {
    uint8_t key[32];
    struct fg_shared_val *v;
    int64_t expires_ms;
    size_t charge;
    struct ent *hnext, *prev, *next; /* hash chain; LRU list (prev = more recent) */
};

struct fg_shared_cache {
    pthread_mutex_t mu;
    size_t max_bytes;
    struct ent **tab;
    size_t nb; /* buckets, a power of two */
    struct ent *mru, *lru;
    struct fg_shared_cache_stats st;
};

static size_t bucket(const uint8_t key[32], size_t nb)
{
    FG_DASSERT(nb && !(nb & (nb - 1))); /* a power of two: the mask below */
    uint64_t h;
    memcpy(&h, key, sizeof h); /* the key is a hash already */
    return (size_t)h & (nb - 1);
}

static struct ent *tab_find(struct fg_shared_cache *c, const uint8_t key[32])
{
    struct ent *e = c->tab[bucket(key, c->nb)];
    while (e && memcmp(e->key, key, 32))
        e = e->hnext;
    return e;
}

static void tab_insert(struct fg_shared_cache *c, struct ent *e)
{
    struct ent **b = &c->tab[bucket(e->key, c->nb)];
    e->hnext = *b;
    *b = e;
}

static void lru_unlink(struct fg_shared_cache *c, struct ent *e)
{
    *(e->prev ? &e->prev->next : &c->mru) = e->next;
    *(e->next ? &e->next->prev : &c->lru) = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(struct fg_shared_cache *c, struct ent *e)
{
    e->prev = NULL;
    e->next = c->mru;
    *(c->mru ? &c->mru->prev : &c->lru) = e;
    c->mru = e;
}

/* Remove e from table and list; it joins *grave (freed after unlock, so a
 * value's last release never runs under the lock). */
static void detach(struct fg_shared_cache *c, struct ent *e, struct ent **grave)
{
    struct ent **p = &c->tab[bucket(e->key, c->nb)];
    while (*p != e) {
        FG_ASSERT(*p); /* e is in its bucket's chain */
        p = &(*p)->hnext;
    }
    *p = e->hnext;
    lru_unlink(c, e);
    FG_ASSERT(c->st.entries > 0 && c->st.bytes >= e->charge);
    c->st.entries--;
    c->st.bytes -= e->charge;
    e->next = *grave;
    *grave = e;
}

static void bury(struct ent *e)
{
    while (e) {
        struct ent *next = e->next;
        fg_shared_val_release(e->v);
        free(e);
        e = next;
    }
}

/* Load factor <= 1: the keys are uniform, so chains stay short. */
static void maybe_grow(struct fg_shared_cache *c)
{
    if (c->st.entries <= c->nb)
        return;
    free(c->tab);
    c->nb *= 2;
    c->tab = fg_xcalloc(c->nb, sizeof *c->tab);
    for (struct ent *e = c->mru; e; e = e->next)
        tab_insert(c, e);
}

/* Drop expired entries at the cold end, then least recently used ones
 * until the bytes fit; never `keep`. */
static void evict(struct fg_shared_cache *c, const struct ent *keep, int64_t now_ms,
                  struct ent **grave)
{
    while (c->lru && c->lru != keep && c->lru->expires_ms <= now_ms)
        detach(c, c->lru, grave);
    while (c->st.bytes > c->max_bytes && c->lru && c->lru != keep) {
        detach(c, c->lru, grave);
        c->st.evictions++;
    }
}

static struct fg_shared_cache *cache_open(struct fg_shared *s, const char *name, size_t max_bytes)
{
    struct fg_shared_cache *c = fg_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = max_bytes;
    c->nb = 64;
    c->tab = fg_xcalloc(c->nb, sizeof *c->tab);
    return c;
}

static void cache_close(struct fg_shared_cache *c)
{
    if (!c)
        return;
    bury(c->mru); /* already chained by `next` */
    free(c->tab);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static struct fg_shared_val *cache_get(struct fg_shared_cache *c, const uint8_t key[32],
                                       int64_t now_ms)
{
    struct ent *grave = NULL, *e;
    struct fg_shared_val *v = NULL;
    pthread_mutex_lock(&c->mu);
    e = tab_find(c, key);
    if (e && e->expires_ms <= now_ms)
        detach(c, e, &grave);
    else if (e) {
        lru_unlink(c, e);
        lru_push(c, e);
        v = fg_shared_val_ref(e->v);
    }
    pthread_mutex_unlock(&c->mu);
    bury(grave);
    return v;
}

static bool cache_put(struct fg_shared_cache *c, const uint8_t key[32], struct fg_shared_val *v,
                      int64_t expires_ms, int64_t now_ms)
{
    size_t n;
    fg_shared_val_data(v, &n);
    size_t charge = FG_SHARED_VAL_OVERHEAD + n;
    if (charge > c->max_bytes / 8)
        return false;
    struct ent *e = fg_xcalloc(1, sizeof *e), *grave = NULL;
    memcpy(e->key, key, 32);
    e->v = fg_shared_val_ref(v);
    e->expires_ms = expires_ms;
    e->charge = charge;
    pthread_mutex_lock(&c->mu);
    struct ent *old = tab_find(c, key);
    if (old)
        detach(c, old, &grave);
    tab_insert(c, e);
    lru_push(c, e);
    c->st.entries++;
    c->st.bytes += charge;
    c->st.stores++;
    evict(c, e, now_ms, &grave);
    maybe_grow(c);
    pthread_mutex_unlock(&c->mu);
    bury(grave);
    return true;
}

static void cache_stats(struct fg_shared_cache *c, struct fg_shared_cache_stats *st)
{
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    pthread_mutex_unlock(&c->mu);
}

/* ============================================================== versions */

#define MAX_VERSIONS 16

static struct {
    pthread_mutex_t mu;
    int n;
    char name[MAX_VERSIONS][32];
    uint64_t v[MAX_VERSIONS];
} g_versions = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Under the lock: the slot of name, added if new. */
static uint64_t *version_slot(const char *name)
{
    for (int i = 0; i < g_versions.n; i++)
        if (!strncmp(g_versions.name[i], name, sizeof g_versions.name[i] - 1))
            return &g_versions.v[i];
    FG_ASSERT(g_versions.n < MAX_VERSIONS); /* names are compile-time constants */
    int i = g_versions.n++;
    strncat(g_versions.name[i], name, sizeof g_versions.name[i] - 1);
    return &g_versions.v[i];
}

static uint64_t version_bump(struct fg_shared *s, const char *name)
{
    pthread_mutex_lock(&g_versions.mu);
    uint64_t v = ++*version_slot(name);
    pthread_mutex_unlock(&g_versions.mu);
    return v;
}

static uint64_t version_get(struct fg_shared *s, const char *name)
{
    pthread_mutex_lock(&g_versions.mu);
    uint64_t v = *version_slot(name);
    pthread_mutex_unlock(&g_versions.mu);
    return v;
}

/* ============================================================= sightings */

#define SLOTS (1u << 16)
#define PROBE 8

static struct {
    pthread_mutex_t mu;
    uint64_t hash[SLOTS];
    int64_t seen_ms[SLOTS];
    int64_t gap_ms[SLOTS]; /* smoothed gap between sightings */
} g_seen = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Under the lock: look h up (filling its last sighting and smoothed gap);
 * if absent, take the stalest slot of its probe window. */
static void touch(uint64_t h, int64_t now_ms, int64_t *prev_ms, int64_t *gap_ms)
{
    uint32_t base = (uint32_t)(h ^ (h >> 32)) & (SLOTS - 1), victim = base;
    for (uint32_t k = 0; k < PROBE; k++) {
        uint32_t i = (base + k) & (SLOTS - 1);
        FG_DASSERT(i < SLOTS);
        if (g_seen.hash[i] == h && g_seen.seen_ms[i]) {
            int64_t prev = g_seen.seen_ms[i] <= now_ms ? g_seen.seen_ms[i] : now_ms;
            int64_t gap = now_ms - prev;
            /* a new gap weighs a quarter: recent rhythm wins, one outlier doesn't */
            g_seen.gap_ms[i] = g_seen.gap_ms[i] ? (3 * g_seen.gap_ms[i] + gap) / 4 : gap;
            if (now_ms > g_seen.seen_ms[i])
                g_seen.seen_ms[i] = now_ms; /* never move backwards */
            *prev_ms = prev;
            *gap_ms = g_seen.gap_ms[i];
            return;
        }
        if (g_seen.seen_ms[i] < g_seen.seen_ms[victim])
            victim = i;
    }
    g_seen.hash[victim] = h;
    g_seen.seen_ms[victim] = now_ms;
    g_seen.gap_ms[victim] = 0;
    *prev_ms = 0;
    *gap_ms = 0;
}

static void seen(struct fg_shared *s, const uint64_t *h, int n, int64_t now_ms, int64_t *prev_ms,
                 int64_t *gap_ms)
{
    pthread_mutex_lock(&g_seen.mu);
    for (int i = 0; i < n; i++)
        touch(h[i], now_ms, &prev_ms[i], &gap_ms[i]);
    pthread_mutex_unlock(&g_seen.mu);
}

static void seen_reset(struct fg_shared *s)
{
    pthread_mutex_lock(&g_seen.mu);
    memset(g_seen.hash, 0, sizeof g_seen.hash);
    memset(g_seen.seen_ms, 0, sizeof g_seen.seen_ms);
    memset(g_seen.gap_ms, 0, sizeof g_seen.gap_ms);
    pthread_mutex_unlock(&g_seen.mu);
}

/* ================================================================= marks */

struct mark {
    char name[208];
    int64_t expires_ms;
};

static struct {
    pthread_mutex_t mu;
    struct mark *m;
    size_t n, cap;
} g_marks = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int mark_once(struct fg_shared *s, const char *name, int64_t ttl_ms, int64_t now_ms)
{
    (void)s;
    FG_ASSERT(strlen(name) < sizeof g_marks.m[0].name);
    int r = 1;
    pthread_mutex_lock(&g_marks.mu);
    size_t keep = 0;
    for (size_t i = 0; i < g_marks.n; i++) {
        if (g_marks.m[i].expires_ms <= now_ms)
            continue; /* expired: forgotten */
        if (!strcmp(g_marks.m[i].name, name))
            r = 0;
        g_marks.m[keep++] = g_marks.m[i];
    }
    g_marks.n = keep;
    if (r == 1) {
        struct mark m = {.expires_ms = now_ms + ttl_ms};
        snprintf(m.name, sizeof m.name, "%s", name);
        FG_VEC_PUSH(g_marks.m, g_marks.n, g_marks.cap, m);
    }
    pthread_mutex_unlock(&g_marks.mu);
    return r;
}

const struct fg_shared_ops fg_shared_mem_ops = {
    .scheme = "memory",
    .cross_process = false,
    .counter_reset = ctr_reset,
    .counter_apply = ctr_apply,
    .counter_read = ctr_read,
    .counter_apply_async = ctr_apply_async,
    .op_cancel = op_cancel,
    .cache_open = cache_open,
    .cache_close = cache_close,
    .cache_get = cache_get,
    .cache_put = cache_put,
    .cache_stats = cache_stats,
    .version_bump = version_bump,
    .version_get = version_get,
    .seen = seen,
    .seen_reset = seen_reset,
    .mark_once = mark_once,
};
