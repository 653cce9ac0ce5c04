/* router.c — see router.h.
 *
 * Scoring is one pass over the prompt: SSE2 (or a byte table) classifies
 * 16 bytes at a time into bitmasks of word bytes and punctuation and a
 * case-folded copy; tokens are found with count-trailing-zeros on the
 * masks and hashed eight bytes at a time; each token adds the weights of
 * its unigram and bigram buckets to two sums kept in registers.  Keyword
 * families (code, maths, reasoning, ...) are recognised by token hash, one
 * table probe per token, and punctuation feeds the other dense counters.
 * The trainer's path (fg_router_features) runs the same scan but counts
 * occurrences per bucket in a per-thread open-addressing table. */
#include "router.h"

#include "arena.h"
#include "assert.h"
#include "provider.h"

#include <errno.h>
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 0x46524757524f5554ull
#define K1 0x9e3779b97f4a7c15ull
#define K2 0xff51afd7ed558ccdull
#define BIGRAM_SALT 0x5bd1e9955bd1e995ull
#define BEGIN 0x2d358dccaa6c78a5ull /* the token before the first */

#define SYS_TOKENS 1024 /* system prompt tokens used */
#define SYS_TEXT 4096   /* system prompt bytes decoded */
#define MAX_FEATS (2 * (FG_ROUTER_MAX_TOKENS + SYS_TOKENS) + 2)
#define IDX_BITS 14 /* slot = generation << 14 | index */
#define IDX_MASK ((1u << IDX_BITS) - 1)
#define GEN_MAX ((1u << (32 - IDX_BITS)) - 1)
#define TAB_MAX_BITS 15
#define USER_INC 4 /* counts are kept in quarters */
#define SYS_INC 1
#define LOG_TAB 4096
#define MASK_WORDS ((FG_ROUTER_TEXT_HEAD + FG_ROUTER_TEXT_TAIL + 63) / 64)

_Static_assert(MAX_FEATS < (1u << IDX_BITS), "feature index must fit a slot");

const char *const fg_router_dense_names[FG_ROUTER_N_DENSE] = {
    "log_bytes", "log_words",  "log_lines", "fence",    "code",      "digits",
    "math_ops",  "math_words", "latex",     "qmarks",   "list",      "nonascii",
    "reason",    "choice",     "steps",     "max_word", "urls",      "turns",
    "tools",     "images",     "schema",    "creative", "log_chars", "constraints"};

/* ---- hashing (the feature spec in router.h) ------------------------------ */

static inline uint64_t chunk_step(uint64_t h, uint64_t chunk)
{
    h = (h ^ chunk) * K2;
    return h ^ (h >> 32);
}

static inline uint64_t word_final(uint64_t h, uint64_t len)
{
    h = (h ^ len) * K1;
    return h ^ (h >> 29);
}

static inline uint64_t bigram_key(uint64_t prev, uint64_t cur)
{
    uint64_t h = (((prev ^ BIGRAM_SALT) * K1) ^ cur) * K2;
    return h ^ (h >> 32);
}

/* Folded word byte, or 0 for a separator. */
static unsigned char word_byte[256];
/* Class of a separator byte for the dense counters. */
enum { C_NONE, C_NL, C_Q, C_CODEP, C_OP, C_TICK, C_DOLLAR, C_BSLASH, C_COLON };
static unsigned char sep_class[256];

/* Keyword families, found by token hash; KW_TAIL marks a token that ends
 * one of the keyword pairs, so only those look the pair up. */
enum { KW_NONE, KW_CODE, KW_MATH, KW_REASON, KW_CREATIVE, KW_CONSTRAINT, KW_STEPS, KW_N };
#define KW_FAM 7
#define KW_TAIL 8
#define KW_TAB 1024
static uint64_t kw_key[KW_TAB];
static unsigned char kw_val[KW_TAB];
static float log_q[LOG_TAB]; /* log1p(q / 4) */

/* The hash of a word as the scanner computes it (for the keyword table). */
static uint64_t hash_word(const char *w, size_t n)
{
    uint64_t h = SEED, chunk = 0;
    unsigned k = 0;
    for (size_t i = 0; i < n; i++) {
        chunk |= (uint64_t)word_byte[(unsigned char)w[i]] << (8 * k);
        if (++k == 8) {
            h = chunk_step(h, chunk);
            chunk = 0;
            k = 0;
        }
    }
    if (k)
        h = chunk_step(h, chunk);
    return word_final(h, n);
}

static unsigned kw_slot(uint64_t key)
{
    unsigned i = (unsigned)(key >> 54) & (KW_TAB - 1);
    while (kw_val[i] && kw_key[i] != key)
        i = (i + 1) & (KW_TAB - 1);
    return i;
}

static void kw_put(uint64_t key, int val)
{
    unsigned i = kw_slot(key);
    kw_key[i] = key;
    kw_val[i] |= (unsigned char)val;
}

static inline int kw_get(uint64_t key)
{
    unsigned i = (unsigned)(key >> 54) & (KW_TAB - 1);
    while (kw_val[i]) {
        if (kw_key[i] == key)
            return kw_val[i];
        i = (i + 1) & (KW_TAB - 1);
    }
    return KW_NONE;
}

static const char *const kw_code[] = {
    "def",        "function",  "return",     "import", "include", "class",   "void",    "public",
    "static",     "const",     "let",        "var",    "printf",  "elif",    "lambda",  "python",
    "javascript", "java",      "typescript", "sql",    "code",    "program", "script",  "array",
    "json",       "html",      "css",        "regex",  "bash",    "api",     "compile", "compiler",
    "bug",        "exception", "stdin",      "stdout", "struct",  "int",     "boolean", "bool",
    "null",       "async",     "await",      "rust",   "golang",  "cpp",     NULL};
static const char *const kw_math[] = {
    "solve",       "calculate", "compute", "equation", "equations",  "integral",  "derivative",
    "probability", "sum",       "total",   "percent",  "percentage", "average",   "math",
    "formula",     "prime",     "factor",  "matrix",   "polynomial", "remainder", "fraction",
    "ratio",       "sqrt",      "modulo",  "integer",  "integers",   NULL};
static const char *const kw_reason[] = {
    "prove",      "proof",        "derive",  "why",      "analyze",  "analyse",      "analysis",
    "design",     "implement",    "debug",   "optimize", "optimise", "optimization", "algorithm",
    "complexity", "evaluate",     "justify", "compare",  "reason",   "reasoning",    "tradeoffs",
    "strategy",   "architecture", "theorem", "explain",  "critique", "efficient",    NULL};
static const char *const kw_creative[] = {
    "write",     "story",     "poem",    "essay",     "email",    "letter", "blog",   "rewrite",
    "summarize", "summarise", "summary", "translate", "joke",     "song",   "lyrics", "tweet",
    "slogan",    "creative",  "haiku",   "fiction",   "dialogue", NULL};
static const char *const kw_constraint[] = {
    "must",      "exactly", "only",  "without", "ensure",      "format",       "words",
    "sentences", "bullet",  "table", "limit",   "constraints", "requirements", NULL};
/* Pairs of tokens, "a b". */
static const char *const kw_pairs[][3] = {
    {"how", "many", "m"}, {"how", "much", "m"},  {"explain", "why", "r"},    {"step", "by", "s"},
    {"by", "step", "s"},  {"show", "your", "s"}, {"think", "step", "s"},     {"at", "least", "c"},
    {"at", "most", "c"},  {"no", "more", "c"},   {"time", "complexity", "r"}};

static void add_words(const char *const *w, int fam)
{
    for (int i = 0; w[i]; i++)
        kw_put(hash_word(w[i], strlen(w[i])), fam);
}

static void init_tables(void)
{
    for (int c = 0; c < 256; c++) {
        if (c >= 'a' && c <= 'z')
            word_byte[c] = (unsigned char)c;
        else if (c >= 'A' && c <= 'Z')
            word_byte[c] = (unsigned char)(c | 0x20);
        else if ((c >= '0' && c <= '9') || c >= 0x80)
            word_byte[c] = (unsigned char)c;
    }
    sep_class['\n'] = C_NL;
    sep_class['?'] = C_Q;
    sep_class['{'] = sep_class['}'] = sep_class[';'] = C_CODEP;
    sep_class['+'] = sep_class['-'] = sep_class['*'] = sep_class['/'] = C_OP;
    sep_class['='] = sep_class['^'] = sep_class['<'] = sep_class['>'] = C_OP;
    sep_class['%'] = C_OP;
    sep_class['`'] = C_TICK;
    sep_class['$'] = C_DOLLAR;
    sep_class['\\'] = C_BSLASH;
    sep_class[':'] = C_COLON;
    add_words(kw_code, KW_CODE);
    add_words(kw_math, KW_MATH);
    add_words(kw_reason, KW_REASON);
    add_words(kw_creative, KW_CREATIVE);
    add_words(kw_constraint, KW_CONSTRAINT);
    for (size_t i = 0; i < sizeof kw_pairs / sizeof kw_pairs[0]; i++) {
        const char *a = kw_pairs[i][0], *b = kw_pairs[i][1];
        int fam = kw_pairs[i][2][0] == 'm'   ? KW_MATH
                  : kw_pairs[i][2][0] == 'r' ? KW_REASON
                  : kw_pairs[i][2][0] == 's' ? KW_STEPS
                                             : KW_CONSTRAINT;
        uint64_t hb = hash_word(b, strlen(b));
        kw_put(hb, KW_TAIL);
        kw_put(bigram_key(hash_word(a, strlen(a)), hb), fam);
    }
    for (int q = 0; q < LOG_TAB; q++)
        log_q[q] = (float)log1p(q / 4.0);
}

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* ---- per-thread scratch ------------------------------------------------- */

/* Distinct buckets of one prompt: an open-addressing table of slots
 * (generation << IDX_BITS | index into bucket/q), never cleared between
 * prompts: a slot of an older generation is empty. */
struct scratch {
    uint32_t gen;
    uint32_t n;
    uint32_t tab[1u << TAB_MAX_BITS];
    uint32_t bucket[1u << IDX_BITS];
    uint32_t q[1u << IDX_BITS];
    float value[MAX_FEATS];
};

/* Decoded request text (the scoring path needs nothing else). */
struct textbuf {
    char *text, *sys;
    size_t text_cap;
};

static _Thread_local struct scratch *tls;
static _Thread_local struct textbuf *tls_text;

void fg_router_thread_cleanup(void)
{
    free(tls);
    tls = NULL;
    if (tls_text) {
        free(tls_text->text);
        free(tls_text->sys);
        free(tls_text);
        tls_text = NULL;
    }
}

static struct scratch *scratch(void)
{
    pthread_once(&tables_once, init_tables);
    if (!tls)
        tls = fg_xcalloc(1, sizeof *tls);
    if (++tls->gen > GEN_MAX) { /* wrapped: forget every stamp */
        memset(tls->tab, 0, sizeof tls->tab);
        tls->gen = 1;
    }
    tls->n = 0;
    return tls;
}

/* ---- the scan ------------------------------------------------------------ */

struct scan {
    /* scoring: sum the weights of every occurrence (no table needed) */
    const float *w;
    double acc_u, acc_b; /* this pass: unigram and bigram weight sums */
    /* features: count occurrences per bucket (the trainer's path) */
    uint32_t *restrict tab, *restrict bucket, *restrict q;
    uint32_t n, gen, tbits, mask, inc;
    int max_tokens;
    bool dense;    /* count dense features (user text only) */
    uint64_t prev; /* previous token hash (or BEGIN) */
    int tokens;
    /* dense counters */
    unsigned lines, qmarks, codep, ops, fences, latex, list, urls, nonascii, digits;
    unsigned maxword, choice_mask, fam[KW_N];
};

/* Count one occurrence of bucket b: branch-free unless two buckets share
 * a slot. */
static inline void feat_add(struct scan *st, uint32_t b)
{
    uint32_t size = 1u << st->tbits, i = (b * 0x9e3779b1u) >> (32 - st->tbits);
    /* sized so it is at most half full: probing always finds a free slot */
    FG_DASSERT(st->n < size && b <= st->mask);
    for (;;) {
        uint32_t slot = st->tab[i], idx = slot & IDX_MASK;
        bool live = (slot >> IDX_BITS) == st->gen;
        bool same = live & (st->bucket[idx] == b);
        if (__builtin_expect(live && !same, 0)) {
            i = (i + 1) & (size - 1);
            continue;
        }
        uint32_t k = same ? idx : st->n;
        st->tab[i] = st->gen << IDX_BITS | k;
        st->bucket[st->n] = b;
        st->q[st->n] = 0;
        st->q[k] += st->inc;
        st->n += !same;
        return;
    }
}

/* Line-start patterns at pos: option letters "A." "(B)" and list markers. */
static void line_start(struct scan *st, const unsigned char *t, size_t n, size_t p)
{
    size_t e = p + 8 < n ? p + 8 : n;
    while (p < e && (t[p] == ' ' || t[p] == '\t'))
        p++;
    if (p + 1 >= n)
        return;
    unsigned char c = t[p];
    if (c == '(' && p + 2 < n && t[p + 1] >= 'A' && t[p + 1] <= 'E' && t[p + 2] == ')')
        st->choice_mask |= 1u << (t[p + 1] - 'A');
    else if (c >= 'A' && c <= 'E' && (t[p + 1] == '.' || t[p + 1] == ')'))
        st->choice_mask |= 1u << (c - 'A');
    else if (c >= '0' && c <= '9') {
        size_t q = p;
        while (q < n && q < p + 3 && t[q] >= '0' && t[q] <= '9')
            q++;
        if (q < n && (t[q] == '.' || t[q] == ')'))
            st->list++;
    } else if ((c == '-' || c == '*') && t[p + 1] == ' ')
        st->list++;
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* An operator counts as arithmetic when a digit is next to it (one space
 * allowed on either side). */
static inline bool near_digit(const unsigned char *t, size_t n, size_t i)
{
    if (i > 0 && (is_digit(t[i - 1]) || (i > 1 && t[i - 1] == ' ' && is_digit(t[i - 2]))))
        return true;
    return i + 1 < n &&
           (is_digit(t[i + 1]) || (i + 2 < n && t[i + 1] == ' ' && is_digit(t[i + 2])));
}

static void separator(struct scan *st, const unsigned char *t, size_t n, size_t i)
{
    switch (sep_class[t[i]]) {
    case C_NL:
        st->lines++;
        line_start(st, t, n, i + 1);
        break;
    case C_Q: st->qmarks++; break;
    case C_CODEP: st->codep++; break;
    case C_OP:
        if (near_digit(t, n, i))
            st->ops++;
        break;
    case C_TICK:
        if (i + 2 < n && t[i + 1] == '`' && t[i + 2] == '`' && (i == 0 || t[i - 1] != '`'))
            st->fences++;
        break;
    case C_DOLLAR:
        if (i + 1 < n && t[i + 1] == '$' && (i == 0 || t[i - 1] != '$'))
            st->latex++;
        break;
    case C_BSLASH:
        if (i + 1 < n &&
            ((t[i + 1] >= 'a' && t[i + 1] <= 'z') || t[i + 1] == '(' || t[i + 1] == '['))
            st->latex++;
        break;
    case C_COLON:
        if (i + 2 < n && t[i + 1] == '/' && t[i + 2] == '/')
            st->urls++;
        break;
    default: break;
    }
}

/* ---- classification: bitmasks of word bytes and of punctuation ------------ */

static inline unsigned popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* wm: word bytes; pm: other bytes except spaces (the separator() candidates);
 * digits and non-ASCII bytes are counted on the way. */
static void classify(struct scan *st, const unsigned char *t, size_t n, uint64_t *wm, uint64_t *pm,
                     unsigned char *lo)
{
    size_t nw = (n + 63) / 64;
    memset(wm, 0, nw * sizeof *wm);
    memset(pm, 0, nw * sizeof *pm);
    uint64_t dm = 0, hm = 0;
    unsigned digits = 0, high = 0;
    size_t i = 0;
#ifdef __SSE2__
    const __m128i a = _mm_set1_epi8('a'), z = _mm_set1_epi8(25), zero = _mm_set1_epi8('0'),
                  nine = _mm_set1_epi8(9), low = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(t + i));
        __m128i l = _mm_sub_epi8(_mm_or_si128(c, low), a);
        __m128i d = _mm_sub_epi8(c, zero);
        __m128i dig = _mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine);
        __m128i let = _mm_cmpeq_epi8(_mm_max_epu8(l, z), z);
        __m128i sp = _mm_cmpeq_epi8(c, low);
        __m128i up = _mm_cmpeq_epi8(_mm_max_epu8(_mm_sub_epi8(c, _mm_set1_epi8('A')), z), z);
        _mm_storeu_si128((__m128i *)(lo + i), _mm_or_si128(c, _mm_and_si128(up, low)));
        unsigned hi = (unsigned)_mm_movemask_epi8(c);
        unsigned w = (unsigned)_mm_movemask_epi8(_mm_or_si128(let, dig)) | hi;
        unsigned other = ~(w | (unsigned)_mm_movemask_epi8(sp)) & 0xffffu;
        unsigned sh = (unsigned)(i & 63);
        wm[i >> 6] |= (uint64_t)w << sh;
        pm[i >> 6] |= (uint64_t)other << sh;
        dm |= (uint64_t)(unsigned)_mm_movemask_epi8(dig) << sh;
        hm |= (uint64_t)hi << sh;
        if (sh == 48) {
            digits += popcount64(dm);
            high += popcount64(hm);
            dm = hm = 0;
        }
    }
#endif
    for (; i < n; i++) {
        unsigned char c = t[i], f = word_byte[c];
        uint64_t wb = f != 0;
        lo[i] = f ? f : c;
        wm[i >> 6] |= wb << (i & 63);
        pm[i >> 6] |= (uint64_t)(!wb & (c != ' ')) << (i & 63);
        digits += is_digit(c);
        high += c >> 7;
    }
    digits += popcount64(dm);
    high += popcount64(hm);
    if (st->dense) {
        st->digits += digits;
        st->nonascii += high;
    }
}

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

static inline uint64_t load8(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Hash of the word lo[a..e) of the folded copy (readable 8 bytes past
 * its end): the same value as hash_word(). */
static inline uint64_t hash_span(const unsigned char *lo, size_t a, size_t e)
{
    size_t len = e - a;
    uint64_t h = SEED;
    if (len <= 8) /* most words: one load */
        return word_final(chunk_step(h, load8(lo + a) & (~0ull >> (64 - 8 * len))), len);
    for (; a + 8 <= e; a += 8)
        h = chunk_step(h, load8(lo + a));
    if (a < e)
        h = chunk_step(h, load8(lo + a) & (~0ull >> (64 - 8 * (e - a))));
    return word_final(h, len);
}

/* End of the word starting at a: the first non-word byte after it, or n. */
static inline size_t word_end(const uint64_t *wm, size_t n, size_t a)
{
    size_t w = a >> 6, nw = (n + 63) / 64;
    uint64_t rest = ~wm[w] & (~0ull << (a & 63));
    while (!rest) {
        if (++w == nw)
            return n;
        rest = ~wm[w];
    }
    size_t e = w * 64 + (size_t)__builtin_ctzll(rest);
    return e < n ? e : n;
}

static uint64_t flush_fam(struct scan *st, uint64_t famc)
{
    for (int f = 1; f < KW_N; f++)
        st->fam[f] += (unsigned)(famc >> (8 * f)) & 0xff;
    return 0;
}

/* Tokenise t[0..n) (n <= HEAD + TAIL): features always, dense counters
 * when st->dense. */
static void scan_text(struct scan *st, const unsigned char *t, size_t n)
{
    uint64_t wm[MASK_WORDS], pm[MASK_WORDS];
    unsigned char lo[MASK_WORDS * 64 + 16]; /* folded copy, slack for loads */
    size_t nw = (n + 63) / 64;
    classify(st, t, n, wm, pm, lo);
    memset(lo + n, 0, 8);
    if (st->dense) {
        if (n)
            line_start(st, t, n, 0);
        for (size_t w = 0; w < nw; w++)
            for (uint64_t bits = pm[w]; bits; bits &= bits - 1) {
                size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
                if (sep_class[t[i]])
                    separator(st, t, n, i);
            }
    }
    /* the token loop keeps its state in locals (registers) */
    const float *wt = st->w;
    uint64_t prev = st->prev, mask = st->mask;
    double au = 0, ab = 0;
    int tokens = st->tokens, max_tokens = st->max_tokens;
    unsigned maxword = st->maxword;
    bool dense = st->dense;
    uint64_t famc = 0;
    for (size_t w = 0; w < nw; w++) {
        uint64_t carry = w ? wm[w - 1] >> 63 : 0;
        for (uint64_t starts = wm[w] & ~((wm[w] << 1) | carry); starts; starts &= starts - 1) {
            size_t a = w * 64 + (size_t)__builtin_ctzll(starts);
            size_t e = word_end(wm, n, a);
            unsigned len = (unsigned)(e - a);
            maxword = len > maxword ? len : maxword;
            if (tokens >= max_tokens)
                continue;
            tokens++;
            uint64_t h = hash_span(lo, a, e), bg = bigram_key(prev, h);
            prev = h;
            if (wt) {
                au += wt[h & mask];
                ab += wt[bg & mask];
            } else {
                feat_add(st, (uint32_t)(h & mask));
                feat_add(st, (uint32_t)(bg & mask));
            }
            if (dense) {
                /* keyword counts in 8-bit lanes of a register, flushed
                 * before a lane can overflow: no branch per keyword */
                int v = kw_get(h);
                famc += (uint64_t)((v & KW_FAM) != 0) << (8 * (v & KW_FAM));
                if ((tokens & 127) == 0)
                    famc = flush_fam(st, famc);
                if (v & KW_TAIL) {
                    int p = kw_get(bg) & KW_FAM;
                    if (p)
                        st->fam[p]++;
                }
            }
        }
    }
    flush_fam(st, famc);
    st->prev = prev;
    st->tokens = tokens;
    st->acc_u += au;
    st->acc_b += ab;
    st->maxword = maxword;
}

/* log1p of a count (the table holds log1p(q / 4): same float value) */
static inline float lg(unsigned x)
{
    return x < LOG_TAB / 4 ? log_q[4 * x] : (float)log1p((double)x);
}

static void dense_features(const struct scan *st, size_t len, const struct fg_route_facts *f,
                           float *d)
{
    double bytes = len ? (double)len : 1.0;
    d[FG_RD_LOG_BYTES] = lg((unsigned)(len > 0xffffffffu ? 0xffffffffu : len));
    d[FG_RD_LOG_WORDS] = lg((unsigned)st->tokens);
    d[FG_RD_LOG_LINES] = lg(st->lines);
    d[FG_RD_FENCE] = st->fences ? 1.0f : 0.0f;
    d[FG_RD_CODE] = (float)log1p(st->fam[KW_CODE] + st->codep / 4.0);
    d[FG_RD_DIGITS] = (float)(st->digits / bytes);
    d[FG_RD_MATH_OPS] = lg(st->ops);
    d[FG_RD_MATH_WORDS] = lg(st->fam[KW_MATH]);
    d[FG_RD_LATEX] = lg(st->latex);
    d[FG_RD_QMARKS] = lg(st->qmarks);
    d[FG_RD_LIST] = lg(st->list);
    d[FG_RD_NONASCII] = (float)(st->nonascii / bytes);
    d[FG_RD_REASON] = lg(st->fam[KW_REASON]);
    d[FG_RD_CHOICE] = __builtin_popcount(st->choice_mask) >= 3 ? 1.0f : 0.0f;
    d[FG_RD_STEPS] = st->fam[KW_STEPS] ? 1.0f : 0.0f;
    d[FG_RD_MAX_WORD] = lg(st->maxword);
    d[FG_RD_URLS] = lg(st->urls);
    int turns = f && f->turns > 1 ? f->turns : 1;
    d[FG_RD_TURNS] = (float)log((double)turns);
    d[FG_RD_TOOLS] = f && f->tools ? 1.0f : 0.0f;
    d[FG_RD_IMAGES] = f && f->images ? 1.0f : 0.0f;
    d[FG_RD_SCHEMA] = f && f->schema ? 1.0f : 0.0f;
    d[FG_RD_CREATIVE] = lg(st->fam[KW_CREATIVE]);
    size_t chars = f && f->chars ? f->chars : len;
    d[FG_RD_LOG_CHARS] = lg((unsigned)(chars > 0xffffffffu ? 0xffffffffu : chars));
    d[FG_RD_CONSTRAINTS] = lg(st->fam[KW_CONSTRAINT]);
}

/* Scan the system text (weight 1/4, no dense counters, at most SYS_TOKENS)
 * and the user text (weight 1, its head and tail when long) with st set up
 * for scoring or for counting; returns the total occurrence weight C (two
 * occurrences per token, a unigram and a bigram) and the weighted sum of
 * the scoring weights in *dot. */
static double scan_all(struct scan *st, const char *text, size_t len, const char *sys,
                       size_t sys_len, const struct fg_route_facts *f, float *dense, double *dot)
{
    const unsigned char *t = (const unsigned char *)text;
    double occ = 0, sum = 0;
    if (sys_len) {
        st->inc = SYS_INC;
        st->max_tokens = SYS_TOKENS;
        st->prev = BEGIN;
        scan_text(st, (const unsigned char *)sys, sys_len < SYS_TEXT ? sys_len : SYS_TEXT);
        occ += 2.0 * st->tokens * SYS_INC / USER_INC;
        sum += (st->acc_u + st->acc_b) * SYS_INC / USER_INC;
        st->tokens = 0;
        st->maxword = 0;
        st->acc_u = st->acc_b = 0;
    }
    st->inc = USER_INC;
    st->max_tokens = FG_ROUTER_MAX_TOKENS;
    st->dense = true;
    st->prev = BEGIN;
    if (len <= FG_ROUTER_TEXT_HEAD + FG_ROUTER_TEXT_TAIL)
        scan_text(st, t, len);
    else {
        scan_text(st, t, FG_ROUTER_TEXT_HEAD);
        scan_text(st, t + len - FG_ROUTER_TEXT_TAIL, FG_ROUTER_TEXT_TAIL);
    }
    occ += 2.0 * st->tokens;
    sum += st->acc_u + st->acc_b;
    dense_features(st, len, f, dense);
    *dot = sum;
    return occ;
}

/* Features into the scratch: distinct buckets, value = count / sqrt(C). */
static void extract(struct scratch *s, uint32_t n_buckets, const char *text, size_t len,
                    const char *sys, size_t sys_len, const struct fg_route_facts *f, float *dense)
{
    size_t user_scan = len < FG_ROUTER_TEXT_HEAD + FG_ROUTER_TEXT_TAIL
                           ? len
                           : FG_ROUTER_TEXT_HEAD + FG_ROUTER_TEXT_TAIL;
    size_t sys_scan = sys_len < SYS_TEXT ? sys_len : SYS_TEXT;
    /* a table at most half full: tokens <= (bytes + 1) / 2, two features each */
    size_t ut =
        (user_scan + 1) / 2 < FG_ROUTER_MAX_TOKENS ? (user_scan + 1) / 2 : FG_ROUTER_MAX_TOKENS;
    size_t stk = (sys_scan + 1) / 2 < SYS_TOKENS ? (sys_scan + 1) / 2 : SYS_TOKENS;
    uint32_t tbits = 10;
    while ((1u << tbits) < 4 * (ut + stk + 1) && tbits < TAB_MAX_BITS)
        tbits++;
    struct scan st;
    memset(&st, 0, sizeof st);
    st.tab = s->tab;
    st.bucket = s->bucket;
    st.q = s->q;
    st.gen = s->gen;
    st.tbits = tbits;
    st.mask = n_buckets - 1;
    double dot, occ = scan_all(&st, text, len, sys, sys_len, f, dense, &dot);
    s->n = st.n;
    double inv = occ > 0 ? 1.0 / sqrt(occ) : 0;
    for (uint32_t i = 0; i < s->n; i++)
        s->value[i] = (float)(s->q[i] * (1.0 / USER_INC) * inv);
}

static void feats_view(const struct scratch *s, struct fg_route_feats *out)
{
    out->n = s->n;
    out->bucket = s->bucket;
    out->value = s->value;
}

void fg_router_features(uint32_t n_buckets, const char *text, size_t len,
                        const struct fg_route_facts *f, struct fg_route_feats *out)
{
    struct scratch *s = scratch();
    extract(s, n_buckets, text, len, NULL, 0, f, out->dense);
    feats_view(s, out);
}

static double dense_dot(const struct fg_router *r, const float *d)
{
    double z = 0;
    for (int j = 0; j < FG_ROUTER_N_DENSE; j++)
        z += (double)r->dense[j] * d[j];
    return z;
}

static double sigmoid(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

double fg_router_score_feats(const struct fg_router *r, const struct fg_route_feats *x)
{
    double z = r->bias;
    for (uint32_t i = 0; i < x->n; i++) {
        FG_DASSERT(x->bucket[i] < r->n_buckets); /* features hashed for this model */
        z += (double)r->w[x->bucket[i]] * x->value[i];
    }

    return sigmoid(z + dense_dot(r, x->dense));
}

/* The hot path: one pass, every occurrence's weight summed, no table. */
static double score(const struct fg_router *r, const char *text, size_t len, const char *sys,
                    size_t sys_len, const struct fg_route_facts *f)
{
    pthread_once(&tables_once, init_tables);
    struct scan st;
    memset(&st, 0, sizeof st);
    st.w = r->w;
    st.mask = r->n_buckets - 1;
    float dense[FG_ROUTER_N_DENSE];
    double dot, occ = scan_all(&st, text, len, sys, sys_len, f, dense, &dot);
    double z = r->bias + (occ > 0 ? dot / sqrt(occ) : 0);
    return sigmoid(z + dense_dot(r, dense));
}

double fg_router_score_text(const struct fg_router *r, const char *text, size_t len,
                            const struct fg_route_facts *f)
{
    return score(r, text, len, NULL, 0, f);
}

/* ---- requests -------------------------------------------------------------- */

static unsigned hex4(const char *s)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decode a validated JSON string body (raw, between the quotes) into out,
 * at most room bytes; returns the bytes written.  Plain runs are copied. */
static size_t decode(char *out, size_t room, const char *s, size_t n)
{
    size_t o = 0, k = 0;
    while (k < n && o < room) {
        const char *bs = memchr(s + k, '\\', n - k);
        size_t run = (bs ? (size_t)(bs - s) : n) - k;
        if (run > room - o)
            run = room - o;
        memcpy(out + o, s + k, run);
        o += run;
        k += run;
        if (!bs || o >= room || k + 1 >= n)
            break;
        char e = s[k + 1], c;
        k += 2;
        switch (e) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'u': {
            if (k + 4 > n)
                return o;
            unsigned cp = hex4(s + k);
            k += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && k + 6 <= n && s[k] == '\\' && s[k + 1] == 'u') {
                unsigned lo = hex4(s + k + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    k += 6;
                }
            }
            char u[4];
            size_t w = put_utf8(u, cp);
            if (w > room - o)
                return o;
            memcpy(out + o, u, w);
            o += w;
            continue;
        }
        default: c = e; break;
        }
        out[o++] = c;
    }
    return o;
}

struct req_text {
    int last_user; /* content token of the last user message */
    int turns;
    bool images;
    size_t chars;
};

static void content_scan(const struct fg_json *j, int c, struct req_text *rt)
{
    size_t n;
    if (fg_json_type(j, c) == FG_J_STR) {
        fg_json_raw_str(j, c, &n);
        rt->chars += n;
        return;
    }
    if (fg_json_type(j, c) != FG_J_ARR)
        return;
    for (int p = fg_json_child(j, c); p >= 0; p = fg_json_sibling(j, c, p)) {
        int ty = fg_json_get(j, p, "type");
        if (fg_json_str_eq(j, ty, "image_url") || fg_json_str_eq(j, ty, "image") ||
            fg_json_str_eq(j, ty, "input_image"))
            rt->images = true;
        int t = fg_json_get(j, p, "text");
        if (fg_json_type(j, t) == FG_J_STR) {
            fg_json_raw_str(j, t, &n);
            rt->chars += n;
        }
    }
}

/* Decode the text of a content value (string or text parts) into buf. */
static size_t content_text(const struct fg_json *j, int c, char *buf, size_t cap)
{
    size_t n, o = 0;
    if (fg_json_type(j, c) == FG_J_STR) {
        const char *raw = fg_json_raw_str(j, c, &n);
        return decode(buf, cap, raw, n);
    }
    for (int p = fg_json_child(j, c); p >= 0; p = fg_json_sibling(j, c, p)) {
        int t = fg_json_get(j, p, "text");
        if (fg_json_type(j, t) != FG_J_STR)
            continue;
        if (o && o < cap)
            buf[o++] = '\n';
        const char *raw = fg_json_raw_str(j, t, &n);
        o += decode(buf + o, cap - o, raw, n);
    }
    return o;
}

static size_t content_raw_len(const struct fg_json *j, int c)
{
    struct req_text rt = {0};
    content_scan(j, c, &rt);
    return rt.chars + fg_json_count(j, c);
}

/* The scored parts of a request body (either dialect) into the per-thread
 * buffer: the last user message, the system prompt, and the facts. */
struct req_parts {
    const char *text, *sys;
    size_t len, sys_len;
    struct fg_route_facts f;
};

static void request_parts(const struct fg_json *body, enum fg_dialect d, struct req_parts *p)
{
    const struct fg_dialect_ops *ops = fg_provider_ops(d);
    struct req_text rt = {.last_user = -1};
    int sys_tok = -1;
    int msgs = fg_json_get(body, 0, ops->req.messages);
    if (fg_json_type(body, msgs) == FG_J_STR) { /* Responses: one user message */
        content_scan(body, msgs, &rt);
        rt.turns++;
        rt.last_user = msgs;
        msgs = -1;
    }
    for (int m = fg_json_child(body, msgs); m >= 0; m = fg_json_sibling(body, msgs, m)) {
        int role = fg_json_get(body, m, "role"), c = fg_json_get(body, m, "content");
        content_scan(body, c, &rt);
        if (fg_json_str_eq(body, role, "user")) {
            rt.turns++;
            rt.last_user = c;
        } else if (sys_tok < 0 && (fg_json_str_eq(body, role, "system") ||
                                   fg_json_str_eq(body, role, "developer")))
            sys_tok = c;
    }
    if (ops->req.system) {
        int s = fg_json_get(body, 0, ops->req.system);
        if (s >= 0)
            sys_tok = s;
        if (sys_tok >= 0)
            content_scan(body, sys_tok, &rt); /* top-level: not among the messages */
    }
    int tools = fg_json_get(body, 0, "tools");
    if (tools < 0)
        tools = fg_json_get(body, 0, "functions");
    struct fg_route_facts f = {
        .turns = rt.turns,
        .tools = fg_json_type(body, tools) == FG_J_ARR && fg_json_count(body, tools) > 0,
        .images = rt.images,
        .schema = ops->wants_json(body),
        .chars = rt.chars,
    };
    if (!tls_text)
        tls_text = fg_xcalloc(1, sizeof *tls_text);
    struct textbuf *s = tls_text;
    size_t need = rt.last_user >= 0 ? content_raw_len(body, rt.last_user) + 1 : 1;
    if (need > s->text_cap) {
        free(s->text);
        s->text = fg_xmalloc(need);
        s->text_cap = need;
    }
    if (!s->sys)
        s->sys = fg_xmalloc(SYS_TEXT);
    p->len = rt.last_user >= 0 ? content_text(body, rt.last_user, s->text, need) : 0;
    p->sys_len = sys_tok >= 0 ? content_text(body, sys_tok, s->sys, SYS_TEXT) : 0;
    p->text = s->text;
    p->sys = s->sys;
    p->f = f;
}

static void request_parts_done(void)
{
    struct textbuf *s = tls_text;
    if (s && s->text_cap > (1u << 20)) { /* keep no huge buffer per thread */
        free(s->text);
        s->text = NULL;
        s->text_cap = 0;
    }
}

double fg_router_score_request(const struct fg_router *r, const struct fg_json *body,
                               enum fg_dialect d)
{
    struct req_parts p;
    request_parts(body, d, &p);
    double v = score(r, p.text, p.len, p.sys, p.sys_len, &p.f);
    request_parts_done();
    return v;
}

void fg_router_request_features(uint32_t n_buckets, const struct fg_json *body, enum fg_dialect d,
                                struct fg_route_feats *out)
{
    struct req_parts p;
    request_parts(body, d, &p);
    pthread_once(&tables_once, init_tables);
    struct scratch *s = scratch();
    extract(s, n_buckets, p.text, p.len, p.sys, p.sys_len, &p.f, out->dense);
    feats_view(s, out);
    request_parts_done();
}

/* ---- thresholds --------------------------------------------------------------- */

double fg_router_threshold(const struct fg_router *r, double share)
{
    if (!(share > 0))
        return r->thresholds[0];
    if (share >= 1)
        return r->thresholds[FG_ROUTER_N_THRESHOLDS - 1];
    double k = share * (FG_ROUTER_N_THRESHOLDS - 1);
    int lo = (int)floor(k);
    double fr = k - lo, a = r->thresholds[lo], b = r->thresholds[lo + 1];
    if (fr == 0)
        return a;
    if (!isfinite(a))
        return b;
    if (!isfinite(b))
        return a;
    return a + fr * (b - a);
}

double fg_router_share(const struct fg_router *r, double score)
{
    const float *t = r->thresholds;
    int last = FG_ROUTER_N_THRESHOLDS - 1;
    /* the largest k with t[k] >= score routes this score's whole tier */
    int k = 0;
    while (k < last && t[k + 1] >= score)
        k++;
    if (k == last)
        return 1.0;
    double a = t[k], b = t[k + 1];
    double fr = isfinite(a) && a > b ? (a - score) / (a - b) : 0;
    if (fr < 0)
        fr = 0;
    if (fr > 1)
        fr = 1;
    return (k + fr) / last;
}

/* ---- the file ------------------------------------------------------------------ */

uint64_t fg_router_fnv1a64(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static bool pow2_in_range(uint32_t n)
{
    return n >= FG_ROUTER_MIN_BUCKETS && n <= FG_ROUTER_MAX_BUCKETS && !(n & (n - 1));
}

struct fg_router *fg_router_new(uint32_t n_buckets)
{
    if (!pow2_in_range(n_buckets))
        return NULL;
    struct fg_router *r = fg_xcalloc(1, sizeof *r);
    r->n_buckets = n_buckets;
    r->n_dense = FG_ROUTER_N_DENSE;
    r->w = fg_xcalloc(n_buckets, sizeof *r->w);
    r->thresholds[0] = INFINITY;
    for (int k = 1; k < FG_ROUTER_N_THRESHOLDS - 1; k++)
        r->thresholds[k] = (float)(1.0 - k / 100.0);
    r->thresholds[FG_ROUTER_N_THRESHOLDS - 1] = -INFINITY;
    r->meta = fg_xstrdup("");
    return r;
}

void fg_router_free(struct fg_router *r)
{
    if (!r)
        return;
    free(r->w);
    free(r->meta);
    free(r);
}

void fg_router_set_meta(struct fg_router *r, const char *meta)
{
    free(r->meta);
    r->meta = fg_xstrdup(meta ? meta : "");
    r->meta_len = strlen(r->meta);
}

bool fg_router_meta(const struct fg_router *r, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    for (const char *p = r->meta; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > kl && !memcmp(p, key, kl) && p[kl] == '=') {
            size_t vl = ll - kl - 1;
            if (outlen) {
                if (vl >= outlen)
                    vl = outlen - 1;
                memcpy(out, p + kl + 1, vl);
                out[vl] = '\0';
            }
            return true;
        }
        p = eol ? eol + 1 : p + ll;
    }
    return false;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f32(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(p, v);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static float get_f32(const unsigned char *p)
{
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

#define HEADER 20 /* magic, version, n_buckets, n_dense, bias */

/* Bytes from the start to the meta_len field's end. */
static size_t fixed_size(uint32_t nb, uint32_t nd)
{
    return HEADER + 4 * (size_t)nb + 4 * (size_t)nd + 4 + 4 * FG_ROUTER_N_THRESHOLDS + 4;
}

unsigned char *fg_router_serialize(const struct fg_router *r, size_t *len)
{
    size_t ml = r->meta ? strlen(r->meta) : 0;
    size_t n = fixed_size(r->n_buckets, FG_ROUTER_N_DENSE) + ml + 8;
    unsigned char *b = fg_xmalloc(n), *p = b;
    memcpy(p, FG_ROUTER_MAGIC, 4);
    put_u32(p + 4, FG_ROUTER_VERSION);
    put_u32(p + 8, r->n_buckets);
    put_u32(p + 12, FG_ROUTER_N_DENSE);
    put_f32(p + 16, r->bias);
    p += HEADER;
    for (uint32_t i = 0; i < r->n_buckets; i++, p += 4)
        put_f32(p, r->w[i]);
    for (int j = 0; j < FG_ROUTER_N_DENSE; j++, p += 4)
        put_f32(p, r->dense[j]);
    put_u32(p, FG_ROUTER_N_THRESHOLDS);
    p += 4;
    for (int k = 0; k < FG_ROUTER_N_THRESHOLDS; k++, p += 4)
        put_f32(p, r->thresholds[k]);
    put_u32(p, (uint32_t)ml);
    p += 4;
    if (ml)
        memcpy(p, r->meta, ml);
    p += ml;
    put_u64(p, fg_router_fnv1a64(b, (size_t)(p - b)));
    *len = n;
    return b;
}

int fg_router_save(const struct fg_router *r, const char *path, char *err, size_t errlen)
{
    size_t n;
    unsigned char *b = fg_router_serialize(r, &n);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    int rc = 0;
    if (!fp || fwrite(b, 1, n, fp) != n) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (fp && fclose(fp) != 0 && !rc) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (!rc && rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc)
        remove(tmp);
    free(b);
    return rc;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        char m_[256];                                                                              \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        snprintf(err, errlen, "%s: %s", name, m_);                                                 \
        return NULL;                                                                               \
    } while (0)

struct fg_router *fg_router_parse(const unsigned char *b, size_t len, const char *name, char *err,
                                  size_t errlen)
{
    if (len >= 4 && memcmp(b, FG_ROUTER_MAGIC, 4))
        FAIL("bad magic (not a frugal router weights file)");
    if (len < HEADER)
        FAIL("truncated: %zu bytes, the header alone is %d", len, HEADER);
    uint32_t version = get_u32(b + 4), nb = get_u32(b + 8), nd = get_u32(b + 12);
    if (version != FG_ROUTER_VERSION)
        FAIL("version %u not supported (this build reads %d)", version, FG_ROUTER_VERSION);
    if (!pow2_in_range(nb))
        FAIL("n_buckets %u is not a power of two in [%u, %u]", nb, FG_ROUTER_MIN_BUCKETS,
             FG_ROUTER_MAX_BUCKETS);
    if (nd != FG_ROUTER_N_DENSE)
        FAIL("n_dense %u does not match this build (%d dense features)", nd, FG_ROUTER_N_DENSE);
    size_t fixed = fixed_size(nb, nd);
    if (len < fixed)
        FAIL("truncated: %zu bytes, expected at least %zu", len, fixed);
    const unsigned char *p = b + HEADER + 4 * (size_t)nb + 4 * (size_t)nd;
    uint32_t nt = get_u32(p);
    if (nt != FG_ROUTER_N_THRESHOLDS)
        FAIL("n_thresholds %u, expected %d", nt, FG_ROUTER_N_THRESHOLDS);
    uint32_t ml = get_u32(b + fixed - 4);
    if (ml > FG_ROUTER_MAX_META)
        FAIL("metadata length %u exceeds %d", ml, FG_ROUTER_MAX_META);
    size_t total = fixed + ml + 8;
    if (len < total)
        FAIL("truncated: %zu bytes, expected %zu", len, total);
    if (len > total)
        FAIL("size mismatch: %zu bytes, expected %zu (trailing data)", len, total);
    if (get_u64(b + total - 8) != fg_router_fnv1a64(b, total - 8))
        FAIL("checksum mismatch: file corrupt or truncated");
    if (memchr(b + fixed, '\0', ml))
        FAIL("metadata contains a NUL byte");
    float bias = get_f32(b + 16);
    if (!isfinite(bias))
        FAIL("non-finite bias");
    struct fg_router *r = fg_router_new(nb);
    r->bias = bias;
    const unsigned char *q = b + HEADER;
    bool finite = true;
    for (uint32_t i = 0; i < nb; i++, q += 4) {
        r->w[i] = get_f32(q);
        finite &= isfinite(r->w[i]) != 0;
    }
    for (uint32_t j = 0; j < nd; j++, q += 4) {
        r->dense[j] = get_f32(q);
        finite &= isfinite(r->dense[j]) != 0;
    }
    q += 4;
    bool mono = true;
    for (int k = 0; k < FG_ROUTER_N_THRESHOLDS; k++, q += 4) {
        r->thresholds[k] = get_f32(q);
        mono &= !isnan(r->thresholds[k]) && (k == 0 || r->thresholds[k] <= r->thresholds[k - 1]);
    }
    free(r->meta);
    r->meta = fg_xmalloc((size_t)ml + 1);
    memcpy(r->meta, b + fixed, ml);
    r->meta[ml] = '\0';
    r->meta_len = ml;
    if (!finite || !mono) {
        fg_router_free(r);
        FAIL("%s", !finite ? "non-finite weight" : "threshold table is not non-increasing");
    }
    return r;
}

struct fg_router *fg_router_load(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, len = 0;
    unsigned char *b = fg_xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)4 * FG_ROUTER_MAX_BUCKETS + (1u << 20)) {
                free(b);
                fclose(fp);
                snprintf(err, errlen, "%s: too large for a weights file", path);
                return NULL;
            }
            cap *= 2;
            b = fg_xrealloc(b, cap);
        }
        size_t got = fread(b + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(fp) != 0;
    fclose(fp);
    if (bad) {
        free(b);
        snprintf(err, errlen, "%s: read error", path);
        return NULL;
    }
    struct fg_router *r = fg_router_parse(b, len, path, err, errlen);
    free(b);
    return r;
}
