/* sim_cache.c — prompt-cache accounting of the simulated provider.
 *
 * A prompt is reduced to its canonical text (struct sim_prompt, built by the
 * dialect files); a cache entry is the 64-bit hash of a prefix of that text,
 * seeded with the dialect and model, plus an expiry.  The estimate of 4
 * bytes per token makes "prefix of k tokens" = "first 4k bytes".
 *   OpenAI: automatic, prefixes at 1024 + 128*i tokens, 10 min since last use.
 *   Anthropic: explicit breakpoints (block ends), per-model minimum length,
 *   5 min / 1 h TTL refreshed on a hit, reads found with a 20-block lookback.
 * Times are injected (now_ms) so tests can move the clock. */
#include "sim_internal.h"
#include "vec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the entry table ------------------------------------------------------ */

#define NBUCKETS 4096
#define SWEEP_EVERY 1024

struct entry {
    uint64_t key, expires_ms, ttl_ms;
    struct entry *next;
};

struct sim_cache {
    pthread_mutex_t mu;
    struct entry *bucket[NBUCKETS];
    size_t puts;
};

struct sim_cache *sim_cache_new(void)
{
    struct sim_cache *c = fg_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void sim_cache_free(struct sim_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct entry *e = c->bucket[i];
        while (e) {
            struct entry *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Drop expired entries; called every SWEEP_EVERY puts so memory tracks the
 * live working set, not the history. */
static void sweep(struct sim_cache *c, uint64_t now_ms)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct entry **pp = &c->bucket[i];
        while (*pp) {
            struct entry *e = *pp;
            if (e->expires_ms <= now_ms) {
                *pp = e->next;
                free(e);
            } else {
                pp = &e->next;
            }
        }
    }
}

static struct entry *find(struct sim_cache *c, uint64_t key)
{
    for (struct entry *e = c->bucket[key % NBUCKETS]; e; e = e->next)
        if (e->key == key)
            return e;
    return NULL;
}

/* A live entry for <key>?  A hit refreshes its lifetime. */
static int lookup(struct sim_cache *c, uint64_t key, uint64_t now_ms)
{
    struct entry *e = find(c, key);
    if (!e || e->expires_ms <= now_ms)
        return 0;
    e->expires_ms = now_ms + e->ttl_ms;
    return 1;
}

static void put(struct sim_cache *c, uint64_t key, uint64_t now_ms, uint64_t ttl_ms)
{
    if (++c->puts % SWEEP_EVERY == 0)
        sweep(c, now_ms);
    struct entry *e = find(c, key);
    if (!e) {
        e = fg_xcalloc(1, sizeof *e);
        e->key = key;
        e->next = c->bucket[key % NBUCKETS];
        c->bucket[key % NBUCKETS] = e;
    }
    e->ttl_ms = ttl_ms;
    e->expires_ms = now_ms + ttl_ms;
}

static uint64_t seed(const char *dialect, const char *model)
{
    uint64_t h = sim_hash(SIM_HASH_INIT, dialect, strlen(dialect) + 1);
    return sim_hash(h, model ? model : "", model ? strlen(model) + 1 : 1);
}

/* ---- canonical prompt ------------------------------------------------------- */

void sim_prompt_add_block(struct sim_prompt *p, const char *s, size_t n, int ttl)
{
    sim_buf_add(&p->text, s, n);
    if (p->nblocks == p->cap) {
        p->cap = fg_vec_next_cap(p->cap, p->nblocks + 1);
        FG_VEC_RESIZE(p->block_end, p->cap);
        FG_VEC_RESIZE(p->block_ttl, p->cap);
    }
    p->block_end[p->nblocks] = p->text.len;
    p->block_ttl[p->nblocks] = ttl;
    p->nblocks++;
    if (ttl)
        p->nbreakpoints++;
}

void sim_prompt_add_header(struct sim_prompt *p, const char *role)
{
    char h[17];
    snprintf(h, sizeof h, "<|%-12.12s|>", role ? role : "");
    sim_buf_add(&p->text, h, 16);
}

void sim_prompt_free(struct sim_prompt *p)
{
    sim_buf_free(&p->text);
    free(p->block_end);
    free(p->block_ttl);
    memset(p, 0, sizeof *p);
}

size_t sim_prompt_tokens(const struct sim_prompt *p)
{
    return sim_tokens(p->text.len);
}

/* ---- OpenAI ------------------------------------------------------------------ */

#define OA_MIN 1024
#define OA_STEP 128

size_t sim_openai_cache(struct sim_cache *c, const char *model, const struct sim_prompt *p,
                        uint64_t now_ms)
{
    const char *text = p->text.p;
    size_t len = p->text.len, off = 0, best = 0;
    uint64_t h = seed("openai", model);
    pthread_mutex_lock(&c->mu);
    /* A step of k tokens exists when the prompt has all 4k bytes of it. */
    for (size_t k = OA_MIN; 4 * k <= len; k += OA_STEP) {
        h = sim_hash(h, text + off, 4 * k - off);
        off = 4 * k;
        if (lookup(c, h, now_ms))
            best = k;
        put(c, h, now_ms, SIM_OPENAI_TTL_MS);
    }
    pthread_mutex_unlock(&c->mu);
    return best;
}

/* ---- Anthropic --------------------------------------------------------------- */

#define LOOKBACK 20

size_t sim_anthropic_min_tokens(const char *model)
{
    /* First match wins, so specific ids come before their families. */
    static const struct {
        const char *pat;
        size_t min;
    } tbl[] = {
        {"haiku-4-5", 4096},      {"opus-4-5", 4096},  {"opus-4-6", 4096}, {"opus-4-7", 2048},
        {"mythos-preview", 2048}, {"3-5-haiku", 2048}, {"3-haiku", 2048},  {"haiku-3", 2048},
        {"opus-5", 512},          {"fable", 512},      {"mythos", 512},    {"sonnet", 1024},
        {"opus-4", 1024},
    };
    for (size_t i = 0; model && i < sizeof tbl / sizeof tbl[0]; i++)
        if (strstr(model, tbl[i].pat))
            return tbl[i].min;
    return 1024;
}

/* Longest cached prefix reachable from breakpoint block <i>: the breakpoint
 * itself or one of the LOOKBACK-1 blocks before it. */
static size_t read_from(struct sim_cache *c, const struct sim_prompt *p, const uint64_t *h,
                        size_t i, size_t min, uint64_t now_ms)
{
    for (size_t j = i + 1; j-- > 0 && i - j < LOOKBACK;) {
        if (sim_tokens(p->block_end[j]) >= min && lookup(c, h[j], now_ms))
            return p->block_end[j];
    }
    return 0;
}

void sim_anthropic_cache(struct sim_cache *c, const char *model, const struct sim_prompt *p,
                         uint64_t now_ms, struct sim_anth_usage *u)
{
    size_t total = sim_prompt_tokens(p), min = sim_anthropic_min_tokens(model);
    memset(u, 0, sizeof *u);
    if (!p->nbreakpoints) {
        u->input = total;
        return;
    }
    uint64_t *h = fg_xmalloc(p->nblocks * sizeof *h);
    uint64_t acc = seed("anthropic", model);
    for (size_t i = 0, off = 0; i < p->nblocks; off = p->block_end[i++]) {
        acc = sim_hash(acc, p->text.p + off, p->block_end[i] - off);
        h[i] = acc;
    }
    pthread_mutex_lock(&c->mu);
    size_t read_end = 0;
    for (size_t i = 0; i < p->nblocks; i++) {
        if (p->block_ttl[i]) {
            size_t r = read_from(c, p, h, i, min, now_ms);
            read_end = r > read_end ? r : read_end;
        }
    }
    /* Everything between the cached prefix and the last qualifying
     * breakpoint is written, each segment with the TTL of the breakpoint
     * that closes it. */
    size_t cursor = read_end;
    for (size_t i = 0; i < p->nblocks; i++) {
        size_t end = p->block_end[i];
        if (!p->block_ttl[i] || sim_tokens(end) < min || end <= cursor)
            continue;
        size_t seg = sim_tokens(end) - sim_tokens(cursor);
        if (p->block_ttl[i] >= 3600)
            u->write_1h += seg;
        else
            u->write_5m += seg;
        put(c, h[i], now_ms, (uint64_t)p->block_ttl[i] * 1000);
        cursor = end;
    }
    pthread_mutex_unlock(&c->mu);
    free(h);
    u->read = sim_tokens(read_end);
    u->input = total - u->read - u->write_5m - u->write_1h;
}
