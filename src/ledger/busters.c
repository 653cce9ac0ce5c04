/* busters.c — see busters.h.
 *
 * One check, in four steps, the lock held only for steps 2 and 4:
 *  1. build the request's sections: text (borrowed from the body when it
 *     is one unescaped string), length, text hash and the hashes of the
 *     middle chunks — a single pass over the text;
 *  2. look the group up: sections equal to the previous request's take its
 *     parts hash and canonical size (they are functions of the text);
 *  3. the others get them from a canonical walk of their JSON, and every
 *     section is condensed into what the group keeps (struct kept);
 *  4. compare with the group's previous request (it may have moved since
 *     step 2: the comparison uses what is there now) and swap the kept
 *     sections in.
 * In the steady state (nothing changed) a check is a copy-free hash pass
 * over the prefix text plus copies of at most 8 KB per section. */
#include "busters.h"

#include "prefix.h"
#include "provider.h"

#include "arena.h"
#include "vec.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef __int128 i128;

#define HEAD 5632 /* first bytes of a section kept */
#define TAIL 2048 /* last bytes kept */
#define NCHUNK 64 /* hashes of the middle: HEAD + TAIL + 8 * NCHUNK = 8 KB */
#define MIN_CHUNK 64
#define BIG_PART 2048 /* a non-text part larger than this is "[TYPE HASH]" */
#define BACKUP 64     /* how far an offset moves back to its word start */
#define SAMPLE_CHARS 40
#define NBUCKETS 1024 /* group hash table (power of 2) */

/* ---- hashing ----------------------------------------------------------- */

#define K1 0x9e3779b97f4a7c15ull
#define K2 0xc2b2ae3d27d4eb4full
#define K3 0x165667b19e3779f9ull
#define K4 0xff51afd7ed558ccdull

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + K1 + (h << 6) + (h >> 2);
    h *= K4;
    return h ^ (h >> 32);
}

static inline uint64_t fmix(uint64_t h)
{
    h ^= h >> 33;
    h *= K4;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static inline uint64_t load64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Four independent lanes over 32-byte blocks, then 8-byte words. */
static uint64_t hash_bytes(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = seed;
    size_t i = 0;
    if (n >= 32) {
        uint64_t a = seed + K1, b = seed ^ K2, c = seed - K3, d = ~seed;
        for (; i + 32 <= n; i += 32) {
            a = rotl(a ^ load64(p + i), 29) * K1;
            b = rotl(b ^ load64(p + i + 8), 31) * K2;
            c = rotl(c ^ load64(p + i + 16), 27) * K3;
            d = rotl(d ^ load64(p + i + 24), 33) * K4;
        }
        h = mix(mix(mix(mix(h, a), b), c), d);
    }
    for (; i + 8 <= n; i += 8)
        h = mix(h, load64(p + i));
    uint64_t tail = 0;
    if (n > i)
        memcpy(&tail, p + i, n - i);
    return fmix(mix(mix(h, tail), n));
}

#define SEED_TEXT 0x243f6a8885a308d3ull
#define SEED_PART 0x13198a2e03707344ull
#define SEED_CHUNK 0xa4093822299f31d0ull
#define SEED_GROUP 0x082efa98ec4e6c89ull

/* ---- strings ------------------------------------------------------------ */

struct buf {
    char *p;
    size_t n, cap;
};

static void reserve(struct buf *b, size_t more)
{
    FG_VEC_RESERVE(b->p, b->n + more, b->cap);
}

static void put(struct buf *b, const char *s, size_t n)
{
    if (!n)
        return;
    reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_decoded(struct buf *b, const struct fg_json *j, int i)
{
    size_t rl;
    fg_json_raw_str(j, i, &rl);
    reserve(b, rl + 1); /* decoding never grows a string */
    long n = fg_json_str(j, i, b->p + b->n, rl + 1);
    if (n > 0)
        b->n += (size_t)n;
}

static void put_raw(struct buf *b, const struct fg_json *j, int i)
{
    put(b, j->src + j->t[i].start, j->t[i].end - j->t[i].start);
}

static bool ignored_key(const struct fg_json *j, int k)
{
    return fg_json_str_eq(j, k, "cache_control") || fg_json_str_eq(j, k, "prompt_cache_breakpoint");
}

/* The value in the client's key order, without whitespace or cache markers. */
static void put_compact(struct buf *b, const struct fg_json *j, int i)
{
    bool first = true;
    switch (fg_json_type(j, i)) {
    case FG_J_OBJ:
        put(b, "{", 1);
        for (int k = fg_json_child(j, i); k >= 0; k = fg_json_sibling(j, i, (int)j->t[k].next)) {
            if (ignored_key(j, k))
                continue;
            if (!first)
                put(b, ",", 1);
            first = false;
            put_raw(b, j, k);
            put(b, ":", 1);
            put_compact(b, j, (int)j->t[k].next);
        }
        put(b, "}", 1);
        break;
    case FG_J_ARR:
        put(b, "[", 1);
        for (int k = fg_json_child(j, i); k >= 0; k = fg_json_sibling(j, i, k)) {
            if (!first)
                put(b, ",", 1);
            first = false;
            put_compact(b, j, k);
        }
        put(b, "]", 1);
        break;
    case FG_J_NONE: break;
    default: put_raw(b, j, i); break;
    }
}

/* ---- sections of the request being checked ------------------------------ */

enum kind { K_TOOLS, K_CONTENT, K_OASYS };

struct sec {
    char name[24];
    enum kind kind;
    int src[2];       /* tools: array; content: content, tool_calls;
                                oasys: first message, number of messages */
    struct buf own;   /* the text when built */
    const char *text; /* the text: own.p, or borrowed from the body */
    int64_t len;
    uint64_t hash;  /* of the text: head, chunk hashes, tail */
    bool known;     /* parts, nparts, canon set */
    uint64_t parts; /* multiset of the parts' canonical hashes (a sum) */
    uint32_t nparts;
    int64_t canon; /* canonical bytes, for the token estimate */
    uint32_t nchunk;
    uint64_t chunks[NCHUNK]; /* last: not cleared */
};

/* Geometry of a text of len bytes: kept head / tail, middle chunk size. */
static void geometry(int64_t len, uint32_t *head, uint32_t *tail, int64_t *chunk, uint32_t *nchunk)
{
    *head = (uint32_t)(len < HEAD ? len : HEAD);
    *tail = (uint32_t)(len - *head < TAIL ? len - *head : TAIL);
    int64_t mid = len - *head - *tail;
    *chunk = 0;
    *nchunk = 0;
    if (mid > 0) {
        *chunk = (mid + NCHUNK - 1) / NCHUNK;
        if (*chunk < MIN_CHUNK)
            *chunk = MIN_CHUNK;
        *nchunk = (uint32_t)((mid + *chunk - 1) / *chunk);
    }
}

static uint64_t chunk_hash(const char *p, int64_t n)
{
    return hash_bytes(p, (size_t)n, SEED_CHUNK);
}

/* One pass: the chunk hashes of the middle and the text hash over them. */
static void hash_text(struct sec *s)
{
    uint32_t head, tail;
    int64_t chunk;
    geometry(s->len, &head, &tail, &chunk, &s->nchunk);
    uint64_t h = hash_bytes(s->text, head, SEED_TEXT);
    for (uint32_t c = 0; c < s->nchunk; c++) {
        int64_t a = head + (int64_t)c * chunk, b = a + chunk;
        if (b > s->len - tail)
            b = s->len - tail;
        s->chunks[c] = chunk_hash(s->text + a, b - a);
        h = mix(h, s->chunks[c]);
    }
    h = mix(h, hash_bytes(s->text + s->len - tail, tail, SEED_TEXT));
    s->hash = fmix(mix(h, (uint64_t)s->len));
}

static void sep(struct sec *s)
{
    if (s->own.n)
        put(&s->own, "\n", 1);
}

/* A text part: borrowed when it is the section's only text so far and
 * has no escapes (the common single system string). */
static void add_text(struct sec *s, const struct fg_json *j, int str)
{
    size_t rl;
    const char *raw = fg_json_raw_str(j, str, &rl);
    if (!s->text && !s->own.n && !memchr(raw, '\\', rl)) {
        s->text = raw;
        s->len = (int64_t)rl;
        return;
    }
    if (s->text) { /* a second part: copy the borrowed one first */
        put(&s->own, s->text, (size_t)s->len);
        s->text = NULL;
    }
    sep(s);
    put_decoded(&s->own, j, str);
}

/* A JSON part (tool call, image, tool_use…): compact text, or for a large
 * one "[TYPE HASH]" (an image's base64 is not worth copying). */
static void add_json(struct sec *s, const struct fg_json *j, int i)
{
    if (s->text) {
        put(&s->own, s->text, (size_t)s->len);
        s->text = NULL;
    }
    sep(s);
    if (j->t[i].end - j->t[i].start <= BIG_PART) {
        put_compact(&s->own, j, i);
        return;
    }
    char type[32] = "part", tag[64];
    int t = fg_json_get(j, i, "type");
    if (fg_json_type(j, t) == FG_J_STR)
        fg_json_str(j, t, type, sizeof type);
    uint64_t h = fg_prefix_canon_hash(j, i, SEED_PART, NULL);
    int n = snprintf(tag, sizeof tag, "[%s %016llx]", type, (unsigned long long)h);
    put(&s->own, tag, (size_t)n < sizeof tag ? (size_t)n : sizeof tag - 1);
}

static bool is_text_part(const struct fg_json *j, int p, int *text)
{
    *text = fg_json_get(j, p, "text");
    return fg_json_str_eq(j, fg_json_get(j, p, "type"), "text") &&
           fg_json_type(j, *text) == FG_J_STR;
}

/* A content value: a string, or an array of text / other parts. */
static void add_content(struct sec *s, const struct fg_json *j, int c)
{
    int text;
    if (fg_json_type(j, c) == FG_J_STR)
        add_text(s, j, c);
    else if (fg_json_type(j, c) == FG_J_ARR)
        for (int p = fg_json_child(j, c); p >= 0; p = fg_json_sibling(j, c, p)) {
            if (is_text_part(j, p, &text))
                add_text(s, j, text);
            else
                add_json(s, j, p);
        }
}

static void add_calls(struct sec *s, const struct fg_json *j, int calls)
{
    for (int c = fg_json_child(j, calls); c >= 0; c = fg_json_sibling(j, calls, c))
        add_json(s, j, c);
}

/* Parts of a section, canonically: their multiset hash and size. */
static void part(struct sec *s, const struct fg_json *j, int i)
{
    int64_t bytes;
    uint64_t h = fg_prefix_canon_hash(j, i, SEED_PART, &bytes);
    s->parts += fmix(h);
    s->nparts++;
    s->canon += bytes;
}

static void content_parts(struct sec *s, const struct fg_json *j, int c)
{
    int text;
    if (fg_json_type(j, c) == FG_J_STR)
        part(s, j, c);
    else if (fg_json_type(j, c) == FG_J_ARR)
        for (int p = fg_json_child(j, c); p >= 0; p = fg_json_sibling(j, c, p))
            part(s, j, is_text_part(j, p, &text) ? text : p);
}

static void compute_parts(struct sec *s, const struct fg_json *j)
{
    int msgs = fg_json_get(j, 0, "messages");
    s->parts = 0;
    s->nparts = 0;
    s->canon = 0;
    switch (s->kind) {
    case K_TOOLS:
        for (int t = fg_json_child(j, s->src[0]); t >= 0; t = fg_json_sibling(j, s->src[0], t))
            part(s, j, t);
        break;
    case K_CONTENT:
        content_parts(s, j, s->src[0]);
        for (int c = fg_json_child(j, s->src[1]); c >= 0; c = fg_json_sibling(j, s->src[1], c))
            part(s, j, c);
        break;
    case K_OASYS:
        for (int m = s->src[0], k = 0; m >= 0 && k < s->src[1];
             m = fg_json_sibling(j, msgs, m), k++)
            content_parts(s, j, fg_json_get(j, m, "content"));
        break;
    }
    s->known = true;
}

static bool is_system_role(const struct fg_json *j, int msg)
{
    int role = fg_json_get(j, msg, "role");
    return fg_json_str_eq(j, role, "system") || fg_json_str_eq(j, role, "developer");
}

static struct sec *new_sec(struct sec *v, int *n, const char *name, enum kind k, int a, int b)
{
    struct sec *s = &v[(*n)++];
    memset(s, 0, offsetof(struct sec, chunks));
    snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = k;
    s->src[0] = a;
    s->src[1] = b;
    return s;
}

/* The stable-prefix sections of body into v (at most FG_BUSTERS_MAX_SECTIONS). */
static int build(const struct fg_json *j, enum fg_dialect d, struct sec *v)
{
    int n = 0;
    if (!j || !j->t || j->n == 0 || fg_json_type(j, 0) != FG_J_OBJ)
        return 0;
    int tools = fg_json_get(j, 0, "tools");
    if (fg_json_type(j, tools) == FG_J_ARR)
        put_compact(&new_sec(v, &n, "tools", K_TOOLS, tools, -1)->own, j, tools);
    /* typed items (Responses) are not split into sections: tools only */
    const struct fg_dialect_shape *r = &fg_provider_ops(d)->req;
    int sys = r->system && !r->items ? fg_json_get(j, 0, r->system) : -1;
    if (sys >= 0 && fg_json_type(j, sys) != FG_J_NULL)
        add_content(new_sec(v, &n, "system", K_CONTENT, sys, -1), j, sys);
    int msgs = r->items ? -1 : fg_json_get(j, 0, r->messages);
    size_t nm = fg_json_type(j, msgs) == FG_J_ARR ? fg_json_count(j, msgs) : 0;
    struct sec *system = NULL;
    bool leading = r->system_leads;
    size_t idx = 0;
    for (int m = fg_json_child(j, msgs); m >= 0 && idx + 1 < nm;
         m = fg_json_sibling(j, msgs, m), idx++) {
        if (leading && is_system_role(j, m)) {
            if (!system)
                system = new_sec(v, &n, "system", K_OASYS, m, 0);
            system->src[1]++;
            add_content(system, j, fg_json_get(j, m, "content"));
            continue;
        }
        leading = false;
        if (n == FG_BUSTERS_MAX_SECTIONS)
            break;
        char name[24];
        snprintf(name, sizeof name, "message %u", (unsigned)idx);
        int calls = fg_json_get(j, m, "tool_calls");
        struct sec *s = new_sec(v, &n, name, K_CONTENT, fg_json_get(j, m, "content"), calls);
        add_content(s, j, s->src[0]);
        add_calls(s, j, calls);
    }
    for (int i = 0; i < n; i++) {
        if (!v[i].text) {
            v[i].text = v[i].own.p ? v[i].own.p : "";
            v[i].len = (int64_t)v[i].own.n;
        }
        hash_text(&v[i]);
    }
    return n;
}

/* ---- what a group keeps per section ------------------------------------ */

struct kept {
    char name[24];
    uint64_t hash, parts;
    uint32_t nparts;
    int64_t len; /* full text length */
    int64_t canon;
    uint32_t head, tail; /* bytes kept from the start / the end */
    uint32_t nchunk;     /* hashes of the middle [head, len - tail) */
    int64_t chunk;       /* their size (the last may be shorter) */
    uint64_t *mem;       /* nchunk hashes, then head + tail bytes; NULL = no text kept */
};

static const char *kept_text(const struct kept *k)
{
    return (const char *)(k->mem + k->nchunk);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Chunk c of k's middle: [*a, *b) in k's text. */
static void chunk_span(const struct kept *k, uint32_t c, int64_t *a, int64_t *b)
{
    *a = k->head + (int64_t)c * k->chunk;
    *b = min64(*a + k->chunk, k->len - k->tail);
}

static void keep(struct kept *k, const struct sec *s, int64_t *budget)
{
    memset(k, 0, sizeof *k);
    memcpy(k->name, s->name, sizeof k->name);
    k->hash = s->hash;
    k->parts = s->parts;
    k->nparts = s->nparts;
    k->len = s->len;
    k->canon = s->canon;
    geometry(k->len, &k->head, &k->tail, &k->chunk, &k->nchunk);
    int64_t size = (int64_t)k->nchunk * 8 + k->head + k->tail;
    if (size > *budget) {
        k->head = k->tail = k->nchunk = 0;
        return;
    }
    *budget -= size;
    k->mem = fg_xmalloc((size_t)size + 1);
    if (k->nchunk)
        memcpy(k->mem, s->chunks, k->nchunk * sizeof *k->mem);
    char *t = (char *)(k->mem + k->nchunk);
    if (k->head)
        memcpy(t, s->text, k->head);
    if (k->tail)
        memcpy(t + k->head, s->text + k->len - k->tail, k->tail);
}

/* ---- comparing a section with what was kept ------------------------------ */

static int64_t common_prefix(const char *a, const char *b, int64_t n)
{
    int64_t i = 0;
    while (i + 8 <= n && load64(a + i) == load64(b + i))
        i += 8;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Equal bytes backwards from the ends aend / bend, at most n. */
static int64_t common_suffix(const char *aend, const char *bend, int64_t n)
{
    int64_t i = 0;
    while (i + 8 <= n && load64(aend - i - 8) == load64(bend - i - 8))
        i += 8;
    while (i < n && aend[-1 - i] == bend[-1 - i])
        i++;
    return i;
}

/* Common prefix and suffix (not overlapping) of kept text k and c[0..lc).
 * Inside k's unkept middle they are known to the chunk. */
static void diff(const struct kept *k, const char *c, int64_t lc, int64_t *pre_out,
                 int64_t *suf_out)
{
    const char *head = kept_text(k), *tail = head + k->head;
    int64_t lp = k->len, mid0 = k->head, mid1 = k->len - k->tail;
    int64_t pre = common_prefix(head, c, min64(k->head, lc));
    if (pre == k->head) {
        bool all = true;
        for (uint32_t q = 0; q < k->nchunk; q++) {
            int64_t a, b;
            chunk_span(k, q, &a, &b);
            if (b > lc || chunk_hash(c + a, b - a) != k->mem[q]) {
                all = false;
                break;
            }
            pre = b;
        }
        if (all && mid1 <= lc)
            pre = mid1 + common_prefix(tail, c + mid1, min64(k->tail, lc - mid1));
    }
    int64_t limit = min64(lp, lc) - pre, delta = lc - lp;
    int64_t suf = common_suffix(tail + k->tail, c + lc, min64(k->tail, limit));
    if (suf == k->tail) {
        bool all = true;
        for (uint32_t q = k->nchunk; q-- > 0;) {
            int64_t a, b;
            chunk_span(k, q, &a, &b);
            if (suf + (b - a) > limit || chunk_hash(c + a + delta, b - a) != k->mem[q]) {
                all = false;
                break;
            }
            suf += b - a;
        }
        if (all)
            suf += common_suffix(head + k->head, c + mid0 + delta, min64(k->head, limit - suf));
    }
    *pre_out = pre;
    *suf_out = suf;
}

static bool is_cont(unsigned char ch)
{
    return (ch & 0xc0) == 0x80;
}

static bool is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Letters, digits, non-ASCII and the punctuation inside timestamps and ids. */
static bool wordish(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch >= 0x80 ||
           ch == '-' || ch == ':' || ch == '.' || ch == '_' || ch == '+' || ch == '/';
}

/* The first differing byte moved back to the start of its character, then
 * to the start of the word or number run it is in (at most BACKUP bytes;
 * a space between two digits, as in "2026-11-26 09:00", joins the run). */
static int64_t run_start(const unsigned char *c, int64_t lc, int64_t off)
{
    if (off >= lc)
        return lc;
    while (off > 0 && is_cont(c[off]))
        off--;
    if (!wordish(c[off]))
        return off;
    int64_t lim = off > BACKUP ? off - BACKUP : 0;
    while (off > lim) {
        if (wordish(c[off - 1]) ||
            (c[off - 1] == ' ' && off - 1 > lim && is_digit(c[off - 2]) && is_digit(c[off])))
            off--;
        else
            break;
    }
    while (off > 0 && is_cont(c[off]))
        off--;
    return off;
}

/* Length of the valid UTF-8 character at c[0..n), 0 if invalid. */
static int utf8_len(const unsigned char *c, int64_t n)
{
    int w = c[0] < 0x80             ? 1
            : (c[0] & 0xe0) == 0xc0 ? 2
            : (c[0] & 0xf0) == 0xe0 ? 3
            : (c[0] & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (w == 0 || w > n)
        return 0;
    for (int i = 1; i < w; i++)
        if (!is_cont(c[i]))
            return 0;
    return w;
}

static void make_sample(const unsigned char *c, int64_t lc, char out[64])
{
    size_t o = 0;
    int64_t i = 0;
    for (int chars = 0; i < lc && chars < SAMPLE_CHARS; chars++) {
        int w = utf8_len(c + i, lc - i);
        if (o + (size_t)(w ? w : 1) > 63)
            break;
        if (w > 1) {
            memcpy(out + o, c + i, (size_t)w);
            o += (size_t)w;
            i += w;
            continue;
        }
        unsigned char ch = c[i++];
        out[o++] = !w ? '?' : (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    out[o] = '\0';
}

/* Section i of the current request changed against k: a buster? */
static bool examine(const struct kept *k, const struct sec *cur, int n, int i,
                    struct fg_buster *out)
{
    const struct sec *s = &cur[i];
    if (!k->mem)
        return false;
    int64_t lc = s->len, longer = k->len > lc ? k->len : lc;
    bool reorder = k->nparts > 0 && k->nparts == s->nparts && k->parts == s->parts;
    int64_t pre, suf;
    diff(k, s->text, lc, &pre, &suf);
    if (longer == 0 || (!reorder && (pre + suf) * 5 < longer * 4))
        return false;
    int64_t off = run_start((const unsigned char *)s->text, lc, pre);
    memcpy(out->where, s->name, sizeof out->where);
    out->offset = off;
    out->reorder = reorder;
    make_sample((const unsigned char *)s->text + off, lc - off, out->sample);
    int64_t bytes = lc ? (int64_t)((i128)s->canon * (lc - off) / lc) : 0;
    for (int q = i + 1; q < n; q++)
        bytes += cur[q].canon;
    out->tokens = (bytes + 3) / 4;
    return true;
}

/* ---- groups: hash table + LRU list --------------------------------------- */

struct group {
    struct group *hnext;       /* hash chain */
    struct group *prev, *next; /* LRU list, most recent first */
    uint64_t h;
    char *key;
    int n;
    struct kept *k;
};

static struct {
    pthread_mutex_t mu;
    struct group *bucket[NBUCKETS];
    struct group *first, *last;
    int count;
} g_busters = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void free_kept(struct kept *k, int n)
{
    for (int i = 0; i < n; i++)
        free(k[i].mem);
    free(k);
}

static void lru_unlink(struct group *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        g_busters.first = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        g_busters.last = g->prev;
    g->prev = g->next = NULL;
}

static void lru_front(struct group *g)
{
    g->next = g_busters.first;
    g->prev = NULL;
    if (g_busters.first)
        g_busters.first->prev = g;
    g_busters.first = g;
    if (!g_busters.last)
        g_busters.last = g;
}

static void drop(struct group *g)
{
    struct group **pp = &g_busters.bucket[g->h & (NBUCKETS - 1)];
    while (*pp != g)
        pp = &(*pp)->hnext;
    *pp = g->hnext;
    lru_unlink(g);
    g_busters.count--;
    free_kept(g->k, g->n);
    free(g->key);
    free(g);
}

static struct group *find(const char *key, uint64_t h)
{
    for (struct group *g = g_busters.bucket[h & (NBUCKETS - 1)]; g; g = g->hnext)
        if (g->h == h && !strcmp(g->key, key))
            return g;
    return NULL;
}

/* The group for key, most recent now; *fresh when it was just created. */
static struct group *touch(const char *key, uint64_t h, bool *fresh)
{
    struct group *g = find(key, h);
    *fresh = !g;
    if (g) {
        lru_unlink(g);
        lru_front(g);
        return g;
    }
    if (g_busters.count >= FG_BUSTERS_MAX_GROUPS)
        drop(g_busters.last);
    g = fg_xcalloc(1, sizeof *g);
    g->h = h;
    g->key = fg_xstrdup(key);
    struct group **b = &g_busters.bucket[h & (NBUCKETS - 1)];
    g->hnext = *b;
    *b = g;
    lru_front(g);
    g_busters.count++;
    return g;
}

static bool same(const struct kept *k, const struct sec *s)
{
    return k->hash == s->hash && k->len == s->len;
}

/* Step 2: sections equal to the group's latest take its parts and size. */
static void reuse_known(const char *key, uint64_t h, struct sec *cur, int n)
{
    pthread_mutex_lock(&g_busters.mu);
    struct group *g = find(key, h);
    for (int i = 0; g && i < n && i < g->n; i++) {
        if (strcmp(g->k[i].name, cur[i].name) || !same(&g->k[i], &cur[i]))
            break;
        cur[i].parts = g->k[i].parts;
        cur[i].nparts = g->k[i].nparts;
        cur[i].canon = g->k[i].canon;
        cur[i].known = true;
    }
    pthread_mutex_unlock(&g_busters.mu);
}

/* Step 4: compare with the group's latest; swap nk in (old out in *old). */
static bool compare_swap(const char *key, uint64_t h, const struct sec *cur, int n,
                         struct kept **nk, int *nold, struct fg_buster *out)
{
    bool found = false, fresh;
    pthread_mutex_lock(&g_busters.mu);
    struct group *g = touch(key, h, &fresh);
    for (int i = 0; !fresh && i < n && i < g->n; i++) {
        if (strcmp(g->k[i].name, cur[i].name))
            break; /* another layout: a different prompt */
        if (same(&g->k[i], &cur[i]))
            continue;
        found = examine(&g->k[i], cur, n, i, out);
        break;
    }
    struct kept *old = g->k;
    *nold = g->n;
    g->k = *nk;
    g->n = n;
    *nk = old;
    pthread_mutex_unlock(&g_busters.mu);
    return found;
}

bool fg_busters_check(const char *group, const struct fg_json *body, enum fg_dialect d,
                      struct fg_buster *out)
{
    struct sec *cur = fg_xmalloc(FG_BUSTERS_MAX_SECTIONS * sizeof *cur);
    memset(out, 0, sizeof *out);
    const char *key = group ? group : "";
    uint64_t h = hash_bytes(key, strlen(key), SEED_GROUP);
    int n = build(body, d, cur);
    reuse_known(key, h, cur, n);
    struct kept *nk = fg_xcalloc((size_t)(n ? n : 1), sizeof *nk);
    int64_t budget = FG_BUSTERS_GROUP_TEXT;
    for (int i = 0; i < n; i++) {
        if (!cur[i].known)
            compute_parts(&cur[i], body);
        keep(&nk[i], &cur[i], &budget);
    }
    int nold = 0;
    bool found = compare_swap(key, h, cur, n, &nk, &nold, out);
    free_kept(nk, nold);
    for (int i = 0; i < n; i++)
        free(cur[i].own.p);
    free(cur);
    return found;
}

int fg_busters_groups(void)
{
    pthread_mutex_lock(&g_busters.mu);
    int n = g_busters.count;
    pthread_mutex_unlock(&g_busters.mu);
    return n;
}

void fg_busters_reset(void)
{
    pthread_mutex_lock(&g_busters.mu);
    while (g_busters.last)
        drop(g_busters.last);
    pthread_mutex_unlock(&g_busters.mu);
}

void fg_busters_shutdown(void)
{
    fg_busters_reset();
}
