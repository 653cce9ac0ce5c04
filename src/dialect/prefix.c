/* prefix.c — see prefix.h. */
#include "prefix.h"

#include "arena.h"
#include "assert.h"
#include "shared.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- canonical hashing ------------------------------------------------ */

struct hasher {
    uint64_t h;
    int64_t bytes; /* canonical content bytes, for the token estimate */
};

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

static void feed(struct hasher *s, const char *p, size_t n)
{
    uint64_t h = s->h;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = mix(h, w);
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, n - i);
    s->h = mix(mix(h, tail), n);
    s->bytes += (int64_t)n;
}

static void feed_tag(struct hasher *s, char tag)
{
    s->h = mix(s->h, (uint64_t)(unsigned char)tag);
}

/* A string's decoded bytes, so "\u00e9" and "é" hash equal. */
static void feed_str(struct hasher *s, const struct fg_json *j, int i)
{
    size_t rl;
    const char *raw = fg_json_raw_str(j, i, &rl);
    if (!memchr(raw, '\\', rl)) {
        feed(s, raw, rl);
        return;
    }
    char stackbuf[1024];
    char *buf = rl < sizeof stackbuf ? stackbuf : fg_xmalloc(rl + 1);
    long n = fg_json_str(j, i, buf, rl + 1);
    feed(s, buf, (size_t)(n > 0 ? n : 0));
    if (buf != stackbuf)
        free(buf);
}

static bool ignored_key(const struct fg_json *j, int k)
{
    return fg_json_str_eq(j, k, "cache_control") || fg_json_str_eq(j, k, "prompt_cache_breakpoint");
}

static void feed_value(struct hasher *s, const struct fg_json *j, int i);

struct member {
    const char *key;
    size_t kl;
    int k;
};

static int cmp_member(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    size_t n = x->kl < y->kl ? x->kl : y->kl;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->kl > y->kl) - (x->kl < y->kl);
}

/* Objects hash their members in key order, so key order doesn't matter. */
static void feed_object(struct hasher *s, const struct fg_json *j, int i)
{
    struct member stackm[32], *m = stackm;
    size_t n = fg_json_count(j, i), c = 0;
    if (n > 32)
        m = fg_xmalloc(n * sizeof *m);
    for (int k = fg_json_child(j, i); k >= 0; k = fg_json_sibling(j, i, (int)j->t[k].next)) {
        if (ignored_key(j, k))
            continue;
        FG_DASSERT(c < n); /* m holds one entry per member */
        m[c].key = fg_json_raw_str(j, k, &m[c].kl);
        m[c++].k = k;
    }
    qsort(m, c, sizeof *m, cmp_member);
    feed_tag(s, '{');
    for (size_t q = 0; q < c; q++) {
        feed_str(s, j, m[q].k);
        feed_value(s, j, (int)j->t[m[q].k].next);
    }
    feed_tag(s, '}');
    if (m != stackm)
        free(m);
}

static void feed_value(struct hasher *s, const struct fg_json *j, int i)
{
    switch (fg_json_type(j, i)) {
    case FG_J_OBJ: feed_object(s, j, i); break;
    case FG_J_ARR:
        feed_tag(s, '[');
        for (int k = fg_json_child(j, i); k >= 0; k = fg_json_sibling(j, i, k))
            feed_value(s, j, k);
        feed_tag(s, ']');
        break;
    case FG_J_STR:
        feed_tag(s, 's');
        feed_str(s, j, i);
        break;
    default:
        /* numbers and literals: their spelling */
        feed_tag(s, 'n');
        feed(s, j->src + j->t[i].start, j->t[i].end - j->t[i].start);
        break;
    }
}

uint64_t fg_prefix_canon_hash(const struct fg_json *j, int i, uint64_t seed, int64_t *bytes)
{
    struct hasher s = {.h = seed};
    feed_value(&s, j, i);
    if (bytes)
        *bytes = s.bytes;
    return s.h;
}

/* ---- boundaries ------------------------------------------------------- */

static void boundary(struct fg_prefix *p, struct hasher *s, enum fg_prefix_part part, int tok)
{
    int b = p->n < FG_PREFIX_MAX_BOUNDARIES ? p->n++ : FG_PREFIX_MAX_BOUNDARIES - 1;
    FG_DASSERT(b >= 0 && p->n <= FG_PREFIX_MAX_BOUNDARIES);
    p->hash[b] = s->h;
    p->tokens[b] = (s->bytes + 3) / 4;
    p->part[b] = (uint8_t)part;
    p->tok[b] = tok;
    p->prev_ms[b] = 0;
    p->gap_ms[b] = 0;
}

static void mark_stable(struct fg_prefix *p, const struct hasher *s)
{
    p->stable = p->n > 0;
    p->stable_hash = s->h;
    p->stable_tokens = (s->bytes + 3) / 4;
}

void fg_prefix_scan(const struct fg_json *body, enum fg_dialect d, struct fg_prefix *p)
{
    struct hasher s = {.h = 0x6a09e667f3bcc908ull};
    p->n = 0;
    p->stable = 0;
    int tools = fg_json_get(body, 0, "tools");
    if (tools >= 0) {
        feed_tag(&s, 'T');
        feed_value(&s, body, tools);
        boundary(p, &s, FG_PART_TOOLS, tools);
    }
    int sys = d == FG_DIALECT_ANTHROPIC   ? fg_json_get(body, 0, "system")
              : d == FG_DIALECT_RESPONSES ? fg_json_get(body, 0, "instructions")
                                          : -1;
    if (sys >= 0) {
        feed_tag(&s, 'S');
        feed_value(&s, body, sys);
        boundary(p, &s, FG_PART_SYSTEM, sys);
    }
    int msgs = fg_json_get(body, 0, d == FG_DIALECT_RESPONSES ? "input" : "messages");
    int last = -1;
    if (fg_json_type(body, msgs) == FG_J_STR) { /* Responses: input is one user message */
        mark_stable(p, &s);
        feed_tag(&s, 'M');
        feed_value(&s, body, msgs);
        boundary(p, &s, FG_PART_MESSAGE, msgs);
        last = msgs;
        msgs = -1;
    }
    for (int m = fg_json_child(body, msgs); m >= 0; m = fg_json_sibling(body, msgs, m)) {
        mark_stable(p, &s); /* everything before this message */
        feed_tag(&s, 'M');
        feed_value(&s, body, m);
        boundary(p, &s, FG_PART_MESSAGE, m);
        last = m;
    }
    if (last < 0)
        mark_stable(p, &s);
    p->total_tokens = (s.bytes + 3) / 4;
}

void fg_prefix_fingerprint(const struct fg_prefix *p, char out[17])
{
    if (!p->stable) {
        out[0] = '\0';
        return;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)p->stable_hash);
}

/* ---- sightings: the shared state's (shared.h) ------------------------- */

int64_t fg_prefix_seen(struct fg_prefix *p, int64_t now_ms, int64_t window_ms)
{
    int64_t repeated = 0;
    FG_ASSERT(p->n >= 0 && p->n <= FG_PREFIX_MAX_BOUNDARIES);
    struct fg_shared *s = fg_shared_process();
    s->ops->seen(s, p->hash, p->n, now_ms, p->prev_ms, p->gap_ms);
    for (int b = 0; b < p->n; b++)
        if (p->prev_ms[b] && now_ms - p->prev_ms[b] <= window_ms)
            repeated = p->tokens[b]; /* boundaries grow: the last hit is the longest */
    return repeated;
}

void fg_prefix_reset(void)
{
    struct fg_shared *s = fg_shared_process();
    s->ops->seen_reset(s);
}
