/* keyreg.c — see keyreg.h. */
#include "keyreg.h"

#include "arena.h"
#include "assert.h"
#include "config.h"
#include "log.h"
#include "keystore.h"
#include "vec.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBUCKETS 1024

static struct {
    bool running;
    pthread_rwlock_t rw; /* the tables below */
    struct fg_vkey *by_hash[NBUCKETS], *by_id[NBUCKETS];
    struct fg_vkey **all; /* insertion order */
    size_t n, cap;
    struct fg_tag_budget *tags;
    size_t n_tags;
    struct fg_budget gateway; /* config gateway_budget, when gateway_on */
    bool gateway_on;
    pthread_mutex_t store_mu; /* the key store handle and `missing` */
    struct fg_keystore *store;
    char (*missing)[65];     /* hashes storage has no key for */
    uint64_t loaded_version; /* FG_KEYREG_VERSION at the last scan (under store_mu) */
    pthread_t thread;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stop;
    struct fg_keyreg_spend spend; /* the ledger's spend (the reload thread after start) */
} g_keyreg = {.rw = PTHREAD_RWLOCK_INITIALIZER,
              .store_mu = PTHREAD_MUTEX_INITIALIZER,
              .stop_mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned bucket(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

/* Under the read or write lock. */
static struct fg_vkey *find_id(const char *id)
{
    for (struct fg_vkey *v = g_keyreg.by_id[bucket(id)]; v; v = v->next_id)
        if (!strcmp(v->k.id, id))
            return v;
    return NULL;
}

static struct fg_vkey *find_hash(const char *hash)
{
    for (struct fg_vkey *v = g_keyreg.by_hash[bucket(hash)]; v; v = v->next_hash)
        if (!strcmp(v->k.hash, hash))
            return v;
    return NULL;
}

/* Under the write lock: a new entry for k (spend 0 this period). */
static struct fg_vkey *add(const struct fg_key *k, int64_t now_ms)
{
    /* the registry holds each key once: callers look it up first */
    FG_DASSERT(!find_id(k->id) && !find_hash(k->hash));
    struct fg_vkey *v = fg_xcalloc(1, sizeof *v);
    v->k = *k;
    atomic_store(&v->revoked_ms, k->revoked_ms);
    v->k.revoked_ms = 0;
    /* the counters' names in a cross-process backend (shared.h), before
     * their first operation (init opens the current period there) */
    snprintf(v->budget.ctr.name, sizeof v->budget.ctr.name, "budget:key:%s", k->id);
    if (k->budget > 0)
        fg_budget_init(&v->budget, k->budget, k->budget_period, 0, now_ms);
    /* for alerts (alert.h): the key's id and name, never its secret */
    v->budget.soft = k->budget_soft;
    v->budget.kind = "key";
    v->budget.id = v->k.id;
    v->budget.name = v->k.name;
    fg_ratelimit_init(&v->rate, k->rpm, k->tpm);
    snprintf(v->rate.ctr.name, sizeof v->rate.ctr.name, "rate:%s", k->id);
    unsigned hb = bucket(k->hash), ib = bucket(k->id);
    FG_DASSERT(hb < NBUCKETS && ib < NBUCKETS);

    v->next_hash = g_keyreg.by_hash[hb];
    g_keyreg.by_hash[hb] = v;
    v->next_id = g_keyreg.by_id[ib];
    g_keyreg.by_id[ib] = v;
    FG_VEC_PUSH(g_keyreg.all, g_keyreg.n, g_keyreg.cap, v);
    return v;
}

/* Apply one stored row: a new key is added, a revocation is taken over. */
static int on_row(void *arg, const struct fg_key *k)
{
    int64_t now = *(int64_t *)arg;
    pthread_rwlock_rdlock(&g_keyreg.rw);
    struct fg_vkey *v = find_id(k->id);
    pthread_rwlock_unlock(&g_keyreg.rw);
    if (v) {
        int64_t zero = 0;
        if (k->revoked_ms)
            atomic_compare_exchange_strong(&v->revoked_ms, &zero, k->revoked_ms);
        return 0;
    }
    pthread_rwlock_wrlock(&g_keyreg.rw);
    if (!find_id(k->id) && !find_hash(k->hash))
        add(k, now);
    pthread_rwlock_unlock(&g_keyreg.rw);
    return 0;
}

/* Under store_mu: re-read the keys table. */
static int load_keys(int64_t now_ms, char *err, size_t errlen)
{
    return g_keyreg.store->ops->scan(g_keyreg.store, on_row, &now_ms, err, errlen);
}

/* ---- budgets from the ledger ---- */

/* One charge found in the ledger, held until the whole read succeeded. */
struct charge {
    struct fg_budget *b;
    int64_t cost;
};

struct init_ctx {
    enum fg_period period;
    int64_t since, now;
    struct charge *ch; /* owned by charge_spend */
    size_t n, cap;
};

static void charge_add(struct init_ctx *c, struct fg_budget *b, int64_t cost)
{
    struct charge x = {b, cost};
    FG_VEC_PUSH(c->ch, c->n, c->cap, x);
}

static bool tag_in(const char *tags, const char *tag)
{
    size_t tl = strlen(tag);
    for (const char *p = tags ? tags : ""; *p;) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, ",");
        size_t t = len;
        while (t && p[t - 1] == ' ')
            t--;
        if (t == tl && !memcmp(p, tag, tl))
            return true;
        p += len;
    }
    return false;
}

static int on_spend(void *arg, const char *key_id, const char *tags, int64_t cost)
{
    struct init_ctx *c = arg;
    if (cost <= 0)
        return 0;
    pthread_rwlock_rdlock(&g_keyreg.rw); /* (keys are never freed while running) */
    struct fg_vkey *v = key_id ? find_id(key_id) : NULL;
    pthread_rwlock_unlock(&g_keyreg.rw);
    if (v && v->k.budget > 0 && v->budget.period == c->period)
        charge_add(c, &v->budget, cost);
    tags = fg_keyreg_charged_tags(v, key_id, tags); /* as admission charged them */
    for (size_t i = 0; i < g_keyreg.n_tags; i++)
        if (g_keyreg.tags[i].budget.period == c->period && tag_in(tags, g_keyreg.tags[i].tag))
            charge_add(c, &g_keyreg.tags[i].budget, cost);
    if (g_keyreg.gateway_on && g_keyreg.gateway.period == c->period)
        charge_add(c, &g_keyreg.gateway, cost); /* every call counts */
    return 0;
}

static int charge_spend(const struct fg_keyreg_spend *spend, int64_t now_ms, char *err,
                        size_t errlen)
{
    /* read everything first: a read that fails half-way charges nothing,
     * so a rebuild can be tried again without counting twice */
    enum fg_period ps[] = {FG_PERIOD_DAY, FG_PERIOD_MONTH};
    struct init_ctx c[2] = {{0}};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        c[i].period = ps[i];
        c[i].since = fg_period_start(ps[i], now_ms);
        c[i].now = now_ms;
        rc = spend->since(spend->src, c[i].since, on_spend, &c[i], err, errlen);
    }
    for (int i = 0; i < 2; i++) {
        for (size_t k = 0; rc == 0 && k < c[i].n; k++)
            fg_budget_charge(c[i].ch[k].b, c[i].ch[k].cost, c[i].since, c[i].now);
        free(c[i].ch);
    }
    return rc < 0 ? -1 : 0;
}

/* A cross-process store keeps the counters itself: adding this process's
 * ledger again would count it once per restart.  Only when the store lost
 * them (Redis restarted without persistence: seed_claim) are they rebuilt,
 * by one replica, from a ledger every replica writes; meanwhile checked
 * admissions meet the store-down policy.  A per-replica ledger (SQLite)
 * holds one replica's share only: the store is marked seeded as it is. */
static void seed_if_lost(const struct fg_keyreg_spend *spend, int64_t now_ms)
{
    struct fg_shared *s = fg_shared_process();
    if (!s->ops->seed_claim || s->ops->seed_claim(s) != 1)
        return;
    char err[300];
    if (spend->shared) {
        fg_info("keys: rebuilding the shared budget counters from the ledger");
        if (charge_spend(spend, now_ms, err, sizeof err) < 0) {
            /* nothing was charged: the claim is given back and the next
             * tick (any replica's) tries again (a stale connection to a
             * restarted Postgres fails once, then reconnects) */
            fg_error("keys: rebuilding the budget counters from the ledger: %s", err);
            s->ops->seed_done(s, false);
            return;
        }
    }
    s->ops->seed_done(s, true);
}

/* Startup, single-threaded: spend since each period's start. */
static int init_spend(const struct fg_keyreg_spend *spend, int64_t now_ms, char *err, size_t errlen)
{
    if (fg_shared_process()->ops->cross_process) {
        seed_if_lost(spend, now_ms);
        return 0;
    }
    return charge_spend(spend, now_ms, err, errlen);
}

/* ---- the reload thread ---- */

/* Has the keys table changed since the last scan?  Every writer through
 * the registry bumps the shared version FG_KEYREG_VERSION; a cross-process
 * backend carries those bumps between processes, so a scan is needed only
 * when it moved.  The in-process backend can't hear another process (such
 * as `frugal keys`), so then the table is re-read every time.  (A
 * cross-process backend needs `frugal keys` to bump the version too, after
 * it writes: issue #19 opens the backend there.) */
static bool keys_changed(void)
{
    struct fg_shared *s = fg_shared_process();
    if (!s->ops->cross_process)
        return true;
    uint64_t v = s->ops->version_get(s, FG_KEYREG_VERSION);
    if (v == g_keyreg.loaded_version)
        return false;
    g_keyreg.loaded_version = v; /* a bump during the scan: scanned again next time */
    return true;
}

/* After a key was written: tell the other readers (processes). */
static void keys_bump(void)
{
    struct fg_shared *s = fg_shared_process();
    s->ops->version_bump(s, FG_KEYREG_VERSION);
}

static void *reloader(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_keyreg.stop_mu);
    while (!g_keyreg.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += FG_KEYREG_RELOAD_MS / 1000;
        ts.tv_nsec += (long)(FG_KEYREG_RELOAD_MS % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        int rc = pthread_cond_timedwait(&g_keyreg.stop_cv, &g_keyreg.stop_mu, &ts);
        if (g_keyreg.stop || rc != ETIMEDOUT)
            continue;
        pthread_mutex_unlock(&g_keyreg.stop_mu);
        char err[300];
        pthread_mutex_lock(&g_keyreg.store_mu);
        if (keys_changed() && load_keys(wall_ms(), err, sizeof err) < 0)
            fg_warn("keys: re-reading the keys table: %s", err);
        pthread_mutex_unlock(&g_keyreg.store_mu);
        if (g_keyreg.spend.since)
            seed_if_lost(&g_keyreg.spend, wall_ms());
        pthread_mutex_lock(&g_keyreg.stop_mu);
    }
    pthread_mutex_unlock(&g_keyreg.stop_mu);
    return NULL;
}

int fg_keyreg_start(const struct fg_config *cfg, const struct fg_keyreg_spend *spend, char *err,
                    size_t errlen)
{
    int64_t now = wall_ms();
    if (fg_keystore_open(cfg->storage, &g_keyreg.store, err, errlen) < 0)
        return -1;
    g_keyreg.missing = fg_xcalloc(FG_KEYREG_MISSING_SLOTS, sizeof *g_keyreg.missing);
    g_keyreg.n_tags = cfg->n_tag_budgets;
    g_keyreg.tags = fg_xcalloc(g_keyreg.n_tags ? g_keyreg.n_tags : 1, sizeof *g_keyreg.tags);
    for (size_t i = 0; i < g_keyreg.n_tags; i++) {
        g_keyreg.tags[i].tag = cfg->tag_budgets[i].tag;
        snprintf(g_keyreg.tags[i].budget.ctr.name, sizeof g_keyreg.tags[i].budget.ctr.name,
                 "budget:tag:%s", g_keyreg.tags[i].tag);
        fg_budget_init(&g_keyreg.tags[i].budget, cfg->tag_budgets[i].limit_pico,
                       (enum fg_period)cfg->tag_budgets[i].period, 0, now);
        g_keyreg.tags[i].budget.soft = cfg->tag_budgets[i].soft;
        g_keyreg.tags[i].budget.kind = "tag";
        g_keyreg.tags[i].budget.id = g_keyreg.tags[i].budget.name = g_keyreg.tags[i].tag;
    }
    memset(&g_keyreg.gateway, 0, sizeof g_keyreg.gateway);
    g_keyreg.gateway_on = cfg->gateway_budget.limit_pico > 0;
    if (g_keyreg.gateway_on) {
        snprintf(g_keyreg.gateway.ctr.name, sizeof g_keyreg.gateway.ctr.name, "budget:gateway");
        fg_budget_init(&g_keyreg.gateway, cfg->gateway_budget.limit_pico,
                       (enum fg_period)cfg->gateway_budget.period, 0, now);
        g_keyreg.gateway.soft = cfg->gateway_budget.soft;
        g_keyreg.gateway.kind = "gateway";
        g_keyreg.gateway.id = g_keyreg.gateway.name = "gateway";
    }
    struct fg_shared *sh = fg_shared_process();
    g_keyreg.loaded_version = sh->ops->version_get(sh, FG_KEYREG_VERSION);
    g_keyreg.spend = *spend;
    if (load_keys(now, err, errlen) < 0 || init_spend(spend, now, err, errlen) < 0) {
        fg_keyreg_stop();
        return -1;
    }
    g_keyreg.stop = false;
    pthread_cond_init(&g_keyreg.stop_cv, NULL);
    if (pthread_create(&g_keyreg.thread, NULL, reloader, NULL) != 0) {
        snprintf(err, errlen, "keys: cannot start the reload thread");
        pthread_cond_destroy(&g_keyreg.stop_cv);
        fg_keyreg_stop();
        return -1;
    }
    g_keyreg.running = true;
    if (g_keyreg.n && !cfg->server.master_key)
        fg_warn("keys: %zu virtual key(s) in storage are ignored: server.master_key is not set, "
                "so every caller is anonymous",
                g_keyreg.n);
    else if (g_keyreg.n || g_keyreg.n_tags)
        fg_info("keys: %zu virtual key(s), %zu tag budget(s)", g_keyreg.n, g_keyreg.n_tags);
    return 0;
}

void fg_keyreg_stop(void)
{
    if (g_keyreg.running) {
        pthread_mutex_lock(&g_keyreg.stop_mu);
        g_keyreg.stop = true;
        pthread_cond_signal(&g_keyreg.stop_cv);
        pthread_mutex_unlock(&g_keyreg.stop_mu);
        pthread_join(g_keyreg.thread, NULL);
        pthread_cond_destroy(&g_keyreg.stop_cv);
        g_keyreg.running = false;
    }
    fg_keystore_close(g_keyreg.store);
    g_keyreg.store = NULL;
    memset(&g_keyreg.spend, 0, sizeof g_keyreg.spend);
    for (size_t i = 0; i < g_keyreg.n; i++)
        free(g_keyreg.all[i]);
    free(g_keyreg.all);
    free(g_keyreg.tags);
    free(g_keyreg.missing);
    g_keyreg.missing = NULL;
    g_keyreg.all = NULL;
    g_keyreg.tags = NULL;
    g_keyreg.n = g_keyreg.cap = g_keyreg.n_tags = 0;
    g_keyreg.gateway_on = false;
    memset(g_keyreg.by_hash, 0, sizeof g_keyreg.by_hash);
    memset(g_keyreg.by_id, 0, sizeof g_keyreg.by_id);
}

/* ---- lookups ---- */

static enum fg_key_state state_of(struct fg_vkey *v, int64_t now_ms)
{
    if (!v)
        return FG_KEY_UNKNOWN;
    if (atomic_load(&v->revoked_ms))
        return FG_KEY_REVOKED;
    if (v->k.expires && v->k.expires_ms <= now_ms)
        return FG_KEY_EXPIRED;
    return FG_KEY_OK;
}

/* Is this hash a key we already looked up in storage and did not find?
 * Under store_mu.  A direct-mapped table: a collision only evicts. */
static bool known_missing(const char *hash)
{
    return !strcmp(g_keyreg.missing[bucket(hash) % FG_KEYREG_MISSING_SLOTS], hash);
}

/* An unknown key: maybe created by `frugal keys create` since the last
 * scan.  One indexed lookup by hash (microseconds), so the key works on its
 * very first call; a hash found missing is remembered, so a client retrying
 * a wrong key costs one lookup, not one per request.  Random keys from an
 * attacker cost one lookup each, no more than their TLS/HTTP parse. */
static struct fg_vkey *lookup_miss(const char *hash, int64_t now_ms)
{
    char err[300];
    struct fg_key k;
    struct fg_vkey *v = NULL;
    pthread_mutex_lock(&g_keyreg.store_mu);
    int rc = g_keyreg.store && !known_missing(hash)
                 ? g_keyreg.store->ops->by_hash(g_keyreg.store, hash, &k, err, sizeof err)
                 : 0;
    if (rc < 0)
        fg_warn("keys: looking up a key: %s", err);
    else if (rc == 0 && g_keyreg.store)
        snprintf(g_keyreg.missing[bucket(hash) % FG_KEYREG_MISSING_SLOTS], 65, "%s", hash);
    pthread_mutex_unlock(&g_keyreg.store_mu);
    if (rc == 1) {
        on_row(&now_ms, &k);
        pthread_rwlock_rdlock(&g_keyreg.rw);
        v = find_hash(hash);
        pthread_rwlock_unlock(&g_keyreg.rw);
    }
    return v;
}

enum fg_key_state fg_keyreg_auth(const char *secret, int64_t now_ms, struct fg_vkey **out)
{
    *out = NULL;
    if (!g_keyreg.running || !fg_keys_format_ok(secret))
        return FG_KEY_UNKNOWN;
    char hash[65];
    fg_keys_hash(secret, hash);
    pthread_rwlock_rdlock(&g_keyreg.rw);
    *out = find_hash(hash);
    pthread_rwlock_unlock(&g_keyreg.rw);
    if (!*out)
        *out = lookup_miss(hash, now_ms);
    return state_of(*out, now_ms);
}

enum fg_key_state fg_keyreg_by_id(const char *id, int64_t now_ms, struct fg_vkey **out)
{
    *out = NULL;
    if (!g_keyreg.running || !id)
        return FG_KEY_UNKNOWN;
    pthread_rwlock_rdlock(&g_keyreg.rw);
    *out = find_id(id);
    pthread_rwlock_unlock(&g_keyreg.rw);
    return state_of(*out, now_ms);
}

void fg_keyreg_vkey_get(const struct fg_vkey *v, struct fg_key *out)
{
    *out = v->k;
    out->revoked_ms = atomic_load(&((struct fg_vkey *)v)->revoked_ms);
}

/* ---- admin ---- */

int fg_keyreg_create(const struct fg_key *k, char *err, size_t errlen)
{
    if (!g_keyreg.running) {
        snprintf(err, errlen, "the key registry is not running");
        return -1;
    }
    pthread_mutex_lock(&g_keyreg.store_mu);
    int rc = g_keyreg.store->ops->put(g_keyreg.store, k, err, errlen);
    pthread_mutex_unlock(&g_keyreg.store_mu);
    if (rc < 0)
        return -1;
    keys_bump();
    pthread_rwlock_wrlock(&g_keyreg.rw);
    if (!find_id(k->id))
        add(k, k->created_ms);
    pthread_rwlock_unlock(&g_keyreg.rw);
    return 0;
}

int fg_keyreg_revoke(const char *id, int64_t now_ms, char *err, size_t errlen)
{
    if (!g_keyreg.running) {
        snprintf(err, errlen, "the key registry is not running");
        return -1;
    }
    pthread_mutex_lock(&g_keyreg.store_mu);
    int rc = g_keyreg.store->ops->revoke(g_keyreg.store, id, now_ms, err, errlen);
    pthread_mutex_unlock(&g_keyreg.store_mu);
    if (rc > 0) {
        /* the key's own version: admission checks it in the shared store
         * (admit.c), so every replica refuses the key on its next call */
        char name[80];
        snprintf(name, sizeof name, "key:%s", id);
        struct fg_shared *s = fg_shared_process();
        s->ops->version_bump(s, name);
        keys_bump();
    }
    struct fg_vkey *v;
    if (rc > 0 && fg_keyreg_by_id(id, now_ms, &v) != FG_KEY_UNKNOWN) {
        int64_t zero = 0;
        atomic_compare_exchange_strong(&v->revoked_ms, &zero, now_ms);
    }
    return rc;
}

static json_t *usd(int64_t pico)
{
    char b[32];
    return json_string(fg_keys_usd(pico, b, sizeof b));
}

json_t *fg_keyreg_key_json(struct fg_vkey *v, int64_t now_ms)
{
    struct fg_key k;
    fg_keyreg_vkey_get(v, &k);
    json_t *j = fg_keys_json(&k, now_ms);
    json_t *u = json_object();
    if (k.budget > 0) {
        struct fg_budget_view b;
        char t[40];
        fg_budget_get(&v->budget, now_ms, &b);
        json_object_set_new(u, "budget",
                            json_pack("{s:o, s:o, s:o, s:s, s:s}", "limit_usd", usd(b.limit),
                                      "spent_usd", usd(b.spent), "reserved_usd", usd(b.reserved),
                                      "period", fg_period_name(b.period), "resets_at",
                                      fg_period_rfc3339(b.resets_at, t, sizeof t)));
    } else {
        json_object_set_new(u, "budget", json_null());
    }
    int64_t req, tok;
    fg_ratelimit_usage(&v->rate, now_ms, &req, &tok);
    json_object_set_new(u, "requests_last_minute", json_integer(req));
    json_object_set_new(u, "tokens_last_minute", json_integer(tok));
    json_object_set_new(j, "usage", u);
    return j;
}

json_t *fg_keyreg_list_json(int64_t now_ms)
{
    json_t *a = json_array();
    pthread_rwlock_rdlock(&g_keyreg.rw);
    for (size_t i = 0; i < g_keyreg.n; i++)
        json_array_append_new(a, fg_keyreg_key_json(g_keyreg.all[i], now_ms));
    pthread_rwlock_unlock(&g_keyreg.rw);
    return a;
}

void fg_keyreg_call_tags(struct fg_arena *a, const struct fg_vkey *v, const char *key_id,
                         const char *header, struct fg_call_tags *out)
{
    out->recorded = fg_keys_tags_merge(a, v ? v->k.tags : NULL, header);
    out->charged = fg_keyreg_charged_tags(v, key_id, out->recorded);
}

const char *fg_keyreg_charged_tags(const struct fg_vkey *v, const char *key_id,
                                   const char *call_tags)
{
    if (v)
        return v->k.tags;
    if (key_id && (!strcmp(key_id, "master") || !strcmp(key_id, "anonymous")))
        return call_tags;
    return NULL;
}

struct fg_budget *fg_keyreg_gateway_budget(void)
{
    return g_keyreg.gateway_on ? &g_keyreg.gateway : NULL;
}

int fg_keyreg_tag_budgets(const char *tags, struct fg_tag_budget **out, int max)
{
    int n = 0;
    for (size_t i = 0; i < g_keyreg.n_tags && n < max; i++)
        if (tag_in(tags, g_keyreg.tags[i].tag))
            out[n++] = &g_keyreg.tags[i];
    return n;
}
