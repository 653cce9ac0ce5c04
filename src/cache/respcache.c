/* respcache.c — see respcache.h.
 *
 * Layout: SHA-256 (portable + SHA-NI), the request key (canonical form fed
 * straight into the hash), the store (each entry one immutable value in the
 * shared state's cache, shared.h: TTL, size bound, LRU and refcounts are
 * the backend's), and answers in the client's form (SSE from a stored
 * JSON answer is the dialect's replay, replay.h). */
#include "respcache.h"

#include "arena.h"
#include "assert.h"
#include "provider.h"
#include "shared.h"
#include "sse.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RC_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* ================================================================ SHA-256 */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

struct sha256 {
    uint32_t h[8];
    uint64_t total;
    uint8_t buf[64];
    size_t n;
};

#define ROR(x, k) (((x) >> (k)) | ((x) << (32 - (k))))

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One round with the working variables named by rotation, so eight
 * rounds in a row need no moves. */
#define RND(a, b, c, d, e, f, g, h, i)                                                             \
    do {                                                                                           \
        uint32_t t1 =                                                                              \
            h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];     \
        d += t1;                                                                                   \
        h = t1 + (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));            \
    } while (0)

static void sha_blocks_c(uint32_t h[8], const uint8_t *p, size_t nb)
{
    for (; nb--; p += 64) {
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = be32(p + 4 * i);
        for (int i = 16; i < 64; i++)
            w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
                   w[i - 7] + (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
        for (int i = 0; i < 64; i += 8) {
            RND(a, b, c, d, e, f, g, k, i);
            RND(k, a, b, c, d, e, f, g, i + 1);
            RND(g, k, a, b, c, d, e, f, i + 2);
            RND(f, g, k, a, b, c, d, e, i + 3);
            RND(e, f, g, k, a, b, c, d, i + 4);
            RND(d, e, f, g, k, a, b, c, i + 5);
            RND(c, d, e, f, g, k, a, b, i + 6);
            RND(b, c, d, e, f, g, k, a, i + 7);
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
    }
}

#ifdef RC_SHANI
/* The Intel SHA extensions: state kept as ABEF / CDGH, four rounds per
 * pair of sha256rnds2, the schedule from sha256msg1/msg2. */
__attribute__((target("sha,sse4.1"))) static void sha_blocks_ni(uint32_t h[8], const uint8_t *p,
                                                                size_t nb)
{
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);
    for (; nb--; p += 64) {
        __m128i abef = s0, cdgh = s1, w[4];
        for (int i = 0; i < 16; i++) {
            __m128i m;
            if (i < 4) {
                m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), mask);
            } else {
                m = _mm_sha256msg1_epu32(w[i & 3], w[(i - 3) & 3]);
                m = _mm_add_epi32(m, _mm_alignr_epi8(w[(i - 1) & 3], w[(i - 2) & 3], 4));
                m = _mm_sha256msg2_epu32(m, w[(i - 1) & 3]);
            }
            w[i & 3] = m;
            __m128i k = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K256[4 * i]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, k);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(k, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);
    s1 = _mm_shuffle_epi32(s1, 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(tmp, s1, 0xF0));
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(s1, tmp, 8));
}

static bool cpu_has_shani(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19))) /* SSE4.1 (SSSE3 implied) */
        return false;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
}
#endif

static atomic_int g_sha_hw = -1; /* -1 unknown, 0 portable, 1 SHA-NI */
static atomic_bool g_sha_hw_allowed = true;

bool fg_respcache_sha256_hw(bool allow)
{
#ifdef RC_SHANI
    bool have = cpu_has_shani();
#else
    bool have = false;
#endif
    atomic_store(&g_sha_hw_allowed, allow);
    atomic_store(&g_sha_hw, allow && have);
    return have;
}

static void sha_blocks(uint32_t h[8], const uint8_t *p, size_t nb)
{
#ifdef RC_SHANI
    int hw = atomic_load_explicit(&g_sha_hw, memory_order_relaxed);
    if (hw < 0) {
        hw = atomic_load(&g_sha_hw_allowed) && cpu_has_shani();
        atomic_store(&g_sha_hw, hw);
    }
    if (hw) {
        sha_blocks_ni(h, p, nb);
        return;
    }
#endif
    sha_blocks_c(h, p, nb);
}

static void sha_init(struct sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->total = 0;
    c->n = 0;
}

static void sha_update(struct sha256 *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    c->total += n;
    if (c->n) {
        size_t k = 64 - c->n < n ? 64 - c->n : n;
        memcpy(c->buf + c->n, p, k);
        c->n += k;
        p += k;
        n -= k;
        if (c->n < 64)
            return;
        sha_blocks(c->h, c->buf, 1);
        c->n = 0;
    }
    if (n >= 64) {
        sha_blocks(c->h, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    memcpy(c->buf, p, n);
    c->n = n;
}

static void sha_final(struct sha256 *c, uint8_t out[32])
{
    uint64_t bits = c->total * 8;
    uint8_t pad[72] = {0x80};
    FG_DASSERT(c->n < 64);
    size_t padlen = (c->n < 56 ? 56 : 120) - c->n;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(c, pad, padlen + 8);
    for (int i = 0; i < 8; i++)
        for (int b = 0; b < 4; b++)
            out[4 * i + b] = (uint8_t)(c->h[i] >> (24 - 8 * b));
}

void fg_respcache_sha256(const void *p, size_t n, uint8_t out[32])
{
    struct sha256 c;
    sha_init(&c);
    sha_update(&c, p, n);
    sha_final(&c, out);
}

/* ============================================================ the key */

struct name {
    const char *s;
    size_t n;
};
#define NAME(lit)                                                                                  \
    {                                                                                              \
        lit, sizeof lit - 1                                                                        \
    }

/* Top-level fields that change nothing in the answer. */
static const struct name ignored_top[] = {NAME("stream"),
                                          NAME("stream_options"),
                                          NAME("metadata"),
                                          NAME("user"),
                                          NAME("safety_identifier"),
                                          NAME("prompt_cache_key"),
                                          NAME("prompt_cache_retention"),
                                          NAME("prompt_cache_options"),
                                          NAME("service_tier"),
                                          {NULL, 0}};
/* Cache markers, dropped at any depth outside data subtrees. */
static const struct name markers[] = {
    NAME("cache_control"), NAME("prompt_cache_breakpoint"), {NULL, 0}};
/* Values that are data (JSON schemas, tool inputs): nothing dropped inside. */
static const struct name data_keys[] = {
    NAME("input_schema"), NAME("parameters"), NAME("schema"), NAME("input"), {NULL, 0}};
/* Top-level fields that decide whether an answer is repeatable. */
static const struct name sampling_names[] = {
    NAME("n"), NAME("temperature"), NAME("top_p"), NAME("top_k"), {NULL, 0}};

struct member {
    const char *key;
    size_t klen;
    int val, order;
};

struct canon {
    struct sha256 sh;
    uint8_t out[4096]; /* encoded bytes not hashed yet */
    size_t on;
    struct fg_arena arena; /* decoded keys, member arrays */
    char *scratch;         /* decoded string values */
    size_t scap;
};

static bool in_list(const struct name *list, const char *k, size_t n)
{
    for (; list->s; list++)
        if (list->n == n && !memcmp(list->s, k, n))
            return true;
    return false;
}

static unsigned hex4(const char *s)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 4 | (unsigned)(s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
    return v;
}

static size_t utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    size_t n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (size_t k = n - 1; k > 0; k--, cp >>= 6)
        o[k] = (char)(0x80 | (cp & 0x3f));
    o[0] = (char)((0xf00 >> n) | cp); /* 110xxxxx, 1110xxxx, 11110xxx */
    return n;
}

/* One escape at s (the parser validated it) into *o; returns what follows. */
static const char *unescape_one(const char *s, const char *end, char **o)
{
    static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
    if (s[1] != 'u') {
        const char *f = memchr(from, s[1], 5);
        *(*o)++ = f ? to[f - from] : s[1];
        return s + 2;
    }
    unsigned cp = hex4(s + 2);
    s += 6;
    if (cp >= 0xd800 && cp < 0xdc00 && end - s >= 6 && s[0] == '\\' && s[1] == 'u') {
        unsigned lo = hex4(s + 2);
        if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            s += 6;
        }
    }
    *o += utf8(*o, cp);
    return s;
}

/* Decode the n raw bytes of a JSON string into out (n bytes suffice). */
static size_t unescape(const char *s, size_t n, char *out)
{
    const char *end = s + n;
    char *o = out;
    for (;;) {
        const char *bs = memchr(s, '\\', (size_t)(end - s));
        size_t run = (size_t)((bs ? bs : end) - s);
        memcpy(o, s, run);
        o += run;
        if (!bs)
            return (size_t)(o - out);
        s = unescape_one(bs, end, &o);
    }
}

/* Decoded bytes of string token i: the raw bytes when there's no escape,
 * else decoded into a buffer from buf(arg, size). */
static const char *str_bytes(const struct fg_json *j, int i, char *(*buf)(void *, size_t),
                             void *arg, size_t *n)
{
    const char *raw = fg_json_raw_str(j, i, n);
    if (!memchr(raw, '\\', *n))
        return raw;
    char *out = buf(arg, *n + 1);
    *n = unescape(raw, *n, out);
    return out;
}

static char *arena_buf(void *arg, size_t n)
{
    return fg_arena_alloc(arg, n);
}

static char *scratch_buf(void *arg, size_t n)
{
    struct canon *c = arg;
    if (c->scap < n) {
        c->scap = n > 2 * c->scap ? n : 2 * c->scap;
        free(c->scratch);
        c->scratch = fg_xmalloc(c->scap);
    }
    return c->scratch;
}

static void flush(struct canon *c)
{
    sha_update(&c->sh, c->out, c->on);
    c->on = 0;
}

/* Prefix-free encoding: a tag byte and a LEB128 length before any bytes. */
static void put_hdr(struct canon *c, char tag, uint64_t n)
{
    if (c->on + 11 > sizeof c->out)
        flush(c);
    uint8_t *b = c->out + c->on, *p = b;
    *p++ = (uint8_t)tag;
    do {
        *p++ = (uint8_t)((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
        n >>= 7;
    } while (n);
    c->on += (size_t)(p - b);
    FG_DASSERT(c->on <= sizeof c->out);
}

static void put_blob(struct canon *c, char tag, const char *s, size_t n)
{
    put_hdr(c, tag, n);
    if (c->on + n > sizeof c->out) {
        flush(c);
        if (n > sizeof c->out / 2) {
            sha_update(&c->sh, s, n);
            return;
        }
    }
    FG_DASSERT(c->on + n <= sizeof c->out);
    memcpy(c->out + c->on, s, n);
    c->on += n;
}

static int member_cmp(const void *x, const void *y)
{
    const struct member *a = x, *b = y;
    int r = memcmp(a->key, b->key, a->klen < b->klen ? a->klen : b->klen);
    if (r)
        return r;
    if (a->klen != b->klen)
        return a->klen < b->klen ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order); /* duplicates keep order */
}

/* Members of object i with decoded keys, in document order; *n set. */
static struct member *members(const struct fg_json *j, int i, struct fg_arena *a, size_t *n)
{
    struct member *m = fg_arena_alloc(a, (fg_json_count(j, i) + 1) * sizeof *m);
    size_t k = 0;
    for (int key = fg_json_child(j, i); key >= 0; k++) {
        int val = (int)j->t[key].next;
        m[k].key = str_bytes(j, key, arena_buf, a, &m[k].klen);

        m[k].val = val;
        m[k].order = (int)k;
        key = fg_json_sibling(j, i, val);
    }
    *n = k;
    return m;
}

static void put_value(struct canon *c, const struct fg_json *j, int i, int depth, bool strip);

static void put_object(struct canon *c, const struct fg_json *j, int i, int depth, bool strip)
{
    size_t n, kept = 0;
    struct member *m = members(j, i, &c->arena, &n);
    for (size_t k = 0; k < n; k++) {
        bool drop = (depth == 0 && in_list(ignored_top, m[k].key, m[k].klen)) ||
                    (strip && in_list(markers, m[k].key, m[k].klen));
        if (!drop)
            m[kept++] = m[k];
    }
    qsort(m, kept, sizeof *m, member_cmp);
    put_hdr(c, 'o', kept);
    for (size_t k = 0; k < kept; k++) {
        put_blob(c, 'k', m[k].key, m[k].klen);
        put_value(c, j, m[k].val, depth + 1, strip && !in_list(data_keys, m[k].key, m[k].klen));
    }
}

static void put_value(struct canon *c, const struct fg_json *j, int i, int depth, bool strip)
{
    const struct fg_jtok *t = &j->t[i];
    size_t n;
    switch (fg_json_type(j, i)) {
    case FG_J_OBJ: put_object(c, j, i, depth, strip); break;
    case FG_J_ARR:
        put_hdr(c, 'a', fg_json_count(j, i));
        for (int e = fg_json_child(j, i); e >= 0; e = fg_json_sibling(j, i, e))
            put_value(c, j, e, depth + 1, strip);
        break;
    case FG_J_STR: {
        const char *s = str_bytes(j, i, scratch_buf, c, &n);
        put_blob(c, 's', s, n);
        break;
    }
    case FG_J_NUM: put_blob(c, 'n', j->src + t->start, t->end - t->start); break;
    case FG_J_TRUE: put_hdr(c, 't', 0); break;
    case FG_J_FALSE: put_hdr(c, 'f', 0); break;
    default: put_hdr(c, 'z', 0); break;
    }
}

/* A number token's value; false if not a (reasonably spelled) number. */
static bool num_of(const struct fg_json *j, int i, double *v)
{
    char buf[64];
    size_t n = j->t[i].end - j->t[i].start;
    if (fg_json_type(j, i) != FG_J_NUM || n >= sizeof buf)
        return false;
    memcpy(buf, j->src + j->t[i].start, n);
    buf[n] = '\0';
    *v = strtod(buf, NULL);
    return true;
}

struct sampling {
    bool bad;                 /* not cacheable whatever the config */
    bool temp_zero, temp_pos; /* temperature explicitly 0 / > 0 */
    bool narrowed;            /* top_p != 1 or top_k != 1 */
};

static void sampling_field(const struct fg_json *j, const struct member *m, struct sampling *s)
{
    if (!in_list(sampling_names, m->key, m->klen) || fg_json_type(j, m->val) == FG_J_NULL)
        return;
    double v;
    if (!num_of(j, m->val, &v)) {
        s->bad = true;
        return;
    }
    if (m->klen == 1)
        s->bad |= v > 1; /* n > 1: several answers */
    else if (m->klen == strlen("temperature"))
        *(v > 0 ? &s->temp_pos : &s->temp_zero) = true;
    else
        s->narrowed |= v != 1; /* top_p, top_k */
}

static bool cacheable(const struct fg_json *j, bool allow_sampling, struct fg_arena *a)
{
    size_t n;
    struct member *m = members(j, 0, a, &n);
    struct sampling s = {0};
    for (size_t k = 0; k < n; k++)
        sampling_field(j, &m[k], &s);
    if (s.bad)
        return false;
    bool sampled = s.temp_pos || (s.narrowed && !s.temp_zero);
    return allow_sampling || !sampled;
}

bool fg_respcache_key(const struct fg_json *body, enum fg_dialect d, const char *model,
                      const char *partition, bool allow_sampling, uint8_t key[32])
{
    if (!body || !body->t || body->n == 0 || fg_json_type(body, 0) != FG_J_OBJ)
        return false;
    struct canon c;
    c.scratch = NULL;
    c.scap = 0;
    c.on = 0;
    fg_arena_init(&c.arena);
    bool ok = cacheable(body, allow_sampling, &c.arena);
    if (ok) {
        sha_init(&c.sh);
        put_blob(&c, 'v', "frugal-respcache-1", 18);
        put_hdr(&c, 'd', (uint64_t)d);
        put_blob(&c, 'm', model ? model : "", model ? strlen(model) : 0);
        put_blob(&c, 'p', partition ? partition : "", partition ? strlen(partition) : 0);
        put_value(&c, body, 0, 0, true);
        flush(&c);
        sha_final(&c.sh, key);
    }
    free(c.scratch);
    fg_arena_free(&c.arena);
    return ok;
}

/* ========================================================== the store */

/* Entries live in the shared state's cache (shared.h), one value each: a
 * header, then the model, the JSON form and the SSE form, each
 * NUL-terminated (a form that is absent has has_* false and length 0).  A
 * struct fg_respcache_entry is that value: immutable, refcounted by the
 * cache. */
#define HDR_MAGIC                                                                                  \
    0x31435246u /* "FRC1": a value's format (a shared store's values
                                * come from other processes: same build expected) */

struct hdr {
    uint32_t magic, size; /* HDR_MAGIC, sizeof(struct hdr) */
    struct fg_tokens tok;
    int64_t expires_ms; /* the TTL runs from the first store */
    uint64_t model_len, json_len, sse_len;
    bool has_json, has_sse;
    bool sse_usage; /* the SSE form has an OpenAI usage chunk */
};

static struct {
    atomic_bool on;
    int64_t ttl_ms;
    size_t max_bytes;
    struct fg_shared_cache *kv; /* set while on */
    atomic_uint_fast64_t hits, misses;
} g_respcache;

static struct fg_shared_val *val_of(const struct fg_respcache_entry *e)
{
    return (struct fg_shared_val *)e;
}

static const struct hdr *hdr_of(const struct fg_respcache_entry *e)
{
    return fg_shared_val_data(val_of(e), NULL);
}

static const char *model_of(const struct hdr *h)
{
    return (const char *)(h + 1);
}

static const char *json_of(const struct hdr *h)
{
    return model_of(h) + h->model_len + 1;
}

static const char *sse_of(const struct hdr *h)
{
    return json_of(h) + h->json_len + 1;
}

static size_t val_size(size_t model_len, size_t json_len, size_t sse_len)
{
    return sizeof(struct hdr) + model_len + json_len + sse_len + 3;
}

void fg_respcache_shutdown(void)
{
    atomic_store(&g_respcache.on, false);
    struct fg_shared *s = fg_shared_process();
    if (g_respcache.kv)
        s->ops->cache_close(g_respcache.kv);
    g_respcache.kv = NULL;
    atomic_store(&g_respcache.hits, 0);
    atomic_store(&g_respcache.misses, 0);
}

void fg_respcache_init(const struct fg_config *cfg)
{
    fg_respcache_shutdown();
    if (!cfg || !cfg->response_cache.enabled)
        return;
    int ttl = cfg->response_cache.ttl_seconds;
    size_t max = cfg->response_cache.max_bytes;
    g_respcache.ttl_ms = (int64_t)(ttl > 0 ? ttl : 3600) * 1000;
    g_respcache.max_bytes = max ? max : (size_t)64 << 20;
    struct fg_shared *s = fg_shared_process();
    g_respcache.kv = s->ops->cache_open(s, "respcache", g_respcache.max_bytes);
    atomic_store(&g_respcache.on, true);
}

bool fg_respcache_enabled(void)
{
    return atomic_load(&g_respcache.on);
}

void fg_respcache_get_stats(struct fg_respcache_stats *st)
{
    struct fg_shared_cache_stats cs = {0};
    if (g_respcache.kv) {
        struct fg_shared *s = fg_shared_process();
        s->ops->cache_stats(g_respcache.kv, &cs);
    }
    *st = (struct fg_respcache_stats){.hits = atomic_load(&g_respcache.hits),
                                      .misses = atomic_load(&g_respcache.misses),
                                      .stores = cs.stores,
                                      .evictions = cs.evictions,
                                      .entries = cs.entries,
                                      .bytes = cs.bytes};
}

/* ---------------------------------------------------------------- get */

/* A stored stream serves a client unless the client asked for a usage
 * chunk its dialect sends only on request and the stored stream has none. */
static bool sse_fits(bool sse_usage, enum fg_dialect d, bool include_usage)
{
    return !fg_provider_ops(d)->stream_usage_opt_in || !include_usage || sse_usage;
}

bool fg_respcache_can_answer(const struct fg_respcache_entry *e, enum fg_dialect d, bool stream,
                             bool include_usage)
{
    if (!e)
        return false;
    const struct hdr *h = hdr_of(e);
    if (stream && h->has_sse && sse_fits(h->sse_usage, d, include_usage))
        return true;
    return h->has_json;
}

struct want {
    bool any;
    enum fg_dialect d;
    bool stream, include_usage;
};

static struct fg_respcache_entry *lookup(const uint8_t key[32], const struct want *w,
                                         int64_t now_ms)
{
    if (!atomic_load_explicit(&g_respcache.on, memory_order_acquire))
        return NULL;
    struct fg_shared *s = fg_shared_process();
    struct fg_respcache_entry *e =
        (struct fg_respcache_entry *)s->ops->cache_get(g_respcache.kv, key, now_ms);
    if (e && !w->any && !fg_respcache_can_answer(e, w->d, w->stream, w->include_usage)) {
        fg_shared_val_release(val_of(e));
        e = NULL;
    }
    atomic_fetch_add_explicit(e ? &g_respcache.hits : &g_respcache.misses, 1, memory_order_relaxed);
    return e;
}

struct fg_respcache_entry *fg_respcache_get(const uint8_t key[32], int64_t now_ms)
{
    struct want w = {.any = true};
    return lookup(key, &w, now_ms);
}

struct fg_respcache_entry *fg_respcache_get_for(const uint8_t key[32], enum fg_dialect d,
                                                bool stream, bool include_usage, int64_t now_ms)
{
    struct want w = {.d = d, .stream = stream, .include_usage = include_usage};
    return lookup(key, &w, now_ms);
}

void fg_respcache_release(struct fg_respcache_entry *e)
{
    fg_shared_val_release(val_of(e));
}

const char *fg_respcache_json(const struct fg_respcache_entry *e, size_t *len)
{
    const struct hdr *h = e ? hdr_of(e) : NULL;
    if (len)
        *len = h && h->has_json ? h->json_len : 0;
    return h && h->has_json ? json_of(h) : NULL;
}

const char *fg_respcache_sse(const struct fg_respcache_entry *e, size_t *len)
{
    const struct hdr *h = e ? hdr_of(e) : NULL;
    if (len)
        *len = h && h->has_sse ? h->sse_len : 0;
    return h && h->has_sse ? sse_of(h) : NULL;
}

const struct fg_tokens *fg_respcache_tokens(const struct fg_respcache_entry *e)
{
    return &hdr_of(e)->tok;
}

const char *fg_respcache_model(const struct fg_respcache_entry *e)
{
    return model_of(hdr_of(e));
}

/* ---------------------------------------------------------------- put */

/* Is this SSE event the OpenAI usage chunk ("choices": [], "usage": {...})? */
static bool is_usage_chunk(const struct fg_sse_event *ev, struct fg_json *j)
{
    if (ev->event_len || !memmem(ev->data, ev->data_len, "\"usage\"", 7) ||
        fg_json_parse(j, ev->data, ev->data_len) < 0 || fg_json_type(j, 0) != FG_J_OBJ)
        return false;
    int choices = fg_json_get(j, 0, "choices");
    return fg_json_type(j, fg_json_get(j, 0, "usage")) == FG_J_OBJ &&
           fg_json_type(j, choices) == FG_J_ARR && fg_json_child(j, choices) < 0;
}

struct sse_walk {
    struct fg_json j;
    struct evbuffer *out; /* NULL: only look */
    bool found;
};

static int walk_event(void *arg, const struct fg_sse_event *ev)
{
    struct sse_walk *w = arg;
    bool usage = is_usage_chunk(ev, &w->j);
    w->found |= usage;
    if (w->out && !usage)
        evbuffer_add(w->out, ev->raw, ev->raw_len);
    return 0;
}

/* Walk an SSE stream: find its usage chunk, and copy the rest to out. */
static bool sse_walk(const char *s, size_t n, struct evbuffer *out)
{
    struct sse_walk w = {.out = out};
    struct fg_sse p;
    fg_sse_init(&p, n + 1);
    fg_sse_feed(&p, s, n, walk_event, &w);
    if (out && fg_sse_pending(&p)) /* a tail that is no event: keep as it was */
        evbuffer_add(out, s + n - fg_sse_pending(&p), fg_sse_pending(&p));
    fg_sse_free(&p);
    fg_json_free(&w.j);
    return w.found;
}

/* One form (bytes, or absent) copied into a value at *p. */
static void put_form(char **p, const char *bytes, size_t len)
{
    if (len)
        memcpy(*p, bytes, len);
    (*p)[len] = '\0';
    *p += len + 1;
}

/* A new value: this form, the other form of a live old entry (then it
 * expires when old does: completing doesn't extend the TTL), the usage
 * tokens and the model. */
static struct fg_shared_val *entry_new(bool stream, const char *bytes, size_t len,
                                       const struct fg_tokens *tok, const char *model,
                                       const struct hdr *old, int64_t now_ms)
{
    struct hdr h;
    memset(&h, 0, sizeof h); /* padding too: the bytes may leave the process */
    h.magic = HDR_MAGIC;
    h.size = sizeof h;
    h.expires_ms = now_ms + g_respcache.ttl_ms;
    h.model_len = model ? strnlen(model, 255) : 0;
    if (tok)
        h.tok = *tok;
    const char *json = NULL, *sse = NULL;
    if (stream) {
        sse = bytes, h.sse_len = len, h.has_sse = true;
        h.sse_usage = sse_walk(bytes, len, NULL);
    } else {
        json = bytes, h.json_len = len, h.has_json = true;
    }
    if (old && (stream ? old->has_json : old->has_sse)) {
        if (stream)
            json = json_of(old), h.json_len = old->json_len, h.has_json = true;
        else
            sse = sse_of(old), h.sse_len = old->sse_len, h.has_sse = true,
            h.sse_usage = old->sse_usage;
        h.expires_ms = old->expires_ms;
    }
    void *data;
    struct fg_shared_val *v =
        fg_shared_val_new(val_size(h.model_len, h.json_len, h.sse_len), &data);
    memcpy(data, &h, sizeof h);
    char *p = (char *)data + sizeof h;
    put_form(&p, model, h.model_len);
    put_form(&p, json, h.json_len);
    put_form(&p, sse, h.sse_len);
    FG_DASSERT(p == (char *)data + val_size(h.model_len, h.json_len, h.sse_len));
    return v;
}

void fg_respcache_put_model(const uint8_t key[32], bool stream, const char *bytes, size_t len,
                            const struct fg_tokens *tok, const char *model, int64_t now_ms)
{
    if (!atomic_load_explicit(&g_respcache.on, memory_order_acquire) || !bytes)
        return;
    /* the cache refuses it anyway: don't build it */
    if (FG_SHARED_VAL_OVERHEAD + val_size(0, len, 0) > g_respcache.max_bytes / 8)
        return;
    struct fg_shared *s = fg_shared_process();
    struct fg_shared_val *old = s->ops->cache_get(g_respcache.kv, key, now_ms);
    struct fg_shared_val *v = entry_new(stream, bytes, len, tok, model,
                                        old ? fg_shared_val_data(old, NULL) : NULL, now_ms);
    /* refused (too big with both forms): what is there stays */
    s->ops->cache_put(g_respcache.kv, key, v, hdr_of((struct fg_respcache_entry *)v)->expires_ms,
                      now_ms);
    fg_shared_val_release(v);
    fg_shared_val_release(old);
}

struct fg_shared_val *fg_respcache_value(bool stream, const char *bytes, size_t len,
                                         const struct fg_tokens *tok, const char *model,
                                         const struct fg_respcache_entry *old, int64_t now_ms,
                                         int64_t *expires_ms)
{
    if (!atomic_load_explicit(&g_respcache.on, memory_order_acquire) || !bytes)
        return NULL;
    struct fg_shared_val *v =
        entry_new(stream, bytes, len, tok, model, old ? hdr_of(old) : NULL, now_ms);
    size_t n;
    fg_shared_val_data(v, &n);
    if (FG_SHARED_VAL_OVERHEAD + n > g_respcache.max_bytes / 8) {
        fg_shared_val_release(v); /* the per-value cap, as in process */
        return NULL;
    }
    *expires_ms = hdr_of((struct fg_respcache_entry *)v)->expires_ms;
    return v;
}

/* A value that came from another process: its header must describe it. */
static bool well_formed(const struct fg_shared_val *v)
{
    size_t n;
    const unsigned char *p = fg_shared_val_data(v, &n);
    struct hdr h;
    if (n < sizeof h)
        return false;
    memcpy(&h, p, sizeof h);
    unsigned char hj, hs, hu; /* the bools' bytes, checked before they are read as bools */
    memcpy(&hj, p + offsetof(struct hdr, has_json), 1);
    memcpy(&hs, p + offsetof(struct hdr, has_sse), 1);
    memcpy(&hu, p + offsetof(struct hdr, sse_usage), 1);
    if (h.magic != HDR_MAGIC || h.size != sizeof h || hj > 1 || hs > 1 || hu > 1 ||
        h.model_len > 255 || h.json_len > n || h.sse_len > n ||
        val_size(h.model_len, h.json_len, h.sse_len) != n || (!hj && h.json_len) ||
        (!hs && h.sse_len))
        return false;
    const char *m = (const char *)(p + sizeof h);
    return m[h.model_len] == 0 && m[h.model_len + 1 + h.json_len] == 0 &&
           m[h.model_len + 1 + h.json_len + 1 + h.sse_len] == 0;
}

struct fg_respcache_entry *fg_respcache_entry_of(struct fg_shared_val *v, int64_t now_ms)
{
    if (v && (!well_formed(v) || hdr_of((struct fg_respcache_entry *)v)->expires_ms <= now_ms)) {
        fg_shared_val_release(v);
        v = NULL;
    }
    return (struct fg_respcache_entry *)v;
}

void fg_respcache_count(bool hit)
{
    atomic_fetch_add_explicit(hit ? &g_respcache.hits : &g_respcache.misses, 1,
                              memory_order_relaxed);
}

void fg_respcache_put(const uint8_t key[32], bool stream, const char *bytes, size_t len,
                      const struct fg_tokens *tok, int64_t now_ms)
{
    fg_respcache_put_model(key, stream, bytes, len, tok, NULL, now_ms);
}

/* ============================================================ answers */

int fg_respcache_answer(const struct fg_respcache_entry *e, enum fg_dialect d, bool stream,
                        bool include_usage, struct evbuffer *out)
{
    if (!fg_respcache_can_answer(e, d, stream, include_usage))
        return -1;
    const struct hdr *h = hdr_of(e);
    if (!stream) {
        evbuffer_add(out, json_of(h), h->json_len);
        return 0;
    }
    bool sse_ok = h->has_sse && sse_fits(h->sse_usage, d, include_usage);
    if (!sse_ok)
        return fg_respcache_sse_from_json(d, json_of(h), h->json_len, include_usage, out);
    if (fg_provider_ops(d)->stream_usage_opt_in && h->sse_usage && !include_usage)
        sse_walk(sse_of(h), h->sse_len, out);
    else
        evbuffer_add(out, sse_of(h), h->sse_len);
    return 0;
}

int fg_respcache_sse_from_json(enum fg_dialect d, const char *json, size_t len, bool include_usage,
                               struct evbuffer *out)
{
    const struct fg_dialect_ops *ops = fg_provider_ops(d);
    json_t *r = json && ops->replay ? json_loadb(json, len, 0, NULL) : NULL;
    if (!r)
        return -1;
    struct evbuffer *tmp = evbuffer_new();
    int rc = ops->replay(r, include_usage, tmp); /* -1: not an answer of d */
    if (rc == 0)
        evbuffer_add_buffer(out, tmp);
    evbuffer_free(tmp);
    json_decref(r);
    return rc;
}
