/* json.c — see json.h.  One pass, no recursion: an explicit stack holds
 * the open containers; each token is finished (end, next) when its
 * container closes. */
#include "json.h"

#include "arena.h"
#include "assert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 512

const char fg_json_err_depth[] = "nesting too deep";
const char fg_json_err_dup[] = "duplicate member name";
#define SPARE_MAX 4096
#define SMALL_OBJ 8     /* members compared pairwise; more are sorted */
#define ORDER_KEEP 4096 /* a larger sort scratch is freed after use */

/* One spare token array per thread, so a request's index costs no malloc. */
static _Thread_local struct fg_jtok *spare;
static _Thread_local uint32_t spare_cap;
/* Scratch for sorting the members of a large object (unique_keys). */
struct hkey;
static _Thread_local struct hkey *order;
static _Thread_local uint32_t order_cap;

void fg_json_thread_cleanup(void)
{
    free(spare);
    spare = NULL;
    spare_cap = 0;
    free(order);
    order = NULL;
    order_cap = 0;
}

static int push(struct fg_json *j, uint32_t type, size_t start)
{
    if (!j->t && spare) {
        j->t = spare;
        j->cap = spare_cap;
        spare = NULL;
    }
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 256;
        j->t = fg_xrealloc(j->t, (size_t)j->cap * sizeof *j->t);
    }
    FG_DASSERT(j->n < j->cap && start < UINT32_MAX);
    struct fg_jtok *t = &j->t[j->n];
    t->start = (uint32_t)start;
    t->end = (uint32_t)start;
    t->type = type;
    t->next = j->n + 1;
    return (int)j->n++;
}

static inline size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    return i;
}

static int fail(struct fg_json *j, size_t off, const char *why)
{
    j->err = why;
    j->err_off = off;
    return -1;
}

static inline int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Index of the first byte at or after i that is '"', '\\', a control
 * character or a byte >= 0x80 (or one of the last few bytes), found
 * sixteen bytes at a time with SSE2, else eight at a time (SWAR): prompt
 * text is most of every request. */
static inline size_t skip_plain(const char *s, size_t i, size_t n)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        /* signed: bytes >= 0x80 are negative, so below 0x20 too */
        __m128i stop =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                         _mm_cmplt_epi8(v, space));
        unsigned m = (unsigned)_mm_movemask_epi8(stop);
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w;
        if (hit & high)
            break;
        i += 8;
    }
    return i;
}

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    size_t n;
    unsigned cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n > avail)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    /* no overlong forms, no surrogates, nothing past U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* s[i] == '"'; returns the index after the closing quote, or 0.  Sets
 * *esc when the string holds an escape. */
static size_t scan_string(struct fg_json *j, size_t i, bool *esc)
{
    const char *s = j->src;
    size_t n = j->len;
    for (i++; i < n; i++) {
        i = skip_plain(s, i, n);
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20) {
            fail(j, i, "control character in string");
            return 0;
        }
        if (c >= 0x80) {
            size_t u = utf8_len((const unsigned char *)s + i, n - i);
            if (!u) {
                fail(j, i, "invalid UTF-8 in string");
                return 0;
            }
            i += u - 1;
            continue;
        }
        if (c == '\\') {
            *esc = true;
            if (++i >= n)
                break;
            switch (s[i]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': break;
            case 'u':
                if (i + 4 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) ||
                    !is_hex(s[i + 4])) {
                    fail(j, i, "invalid \\u escape");
                    return 0;
                }
                i += 4;
                break;
            default: fail(j, i, "invalid escape"); return 0;
            }
        }
    }
    fail(j, n, "unterminated string");
    return 0;
}

static size_t scan_number(struct fg_json *j, size_t i)
{
    const char *s = j->src;
    size_t n = j->len, st = i;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return fail(j, st, "invalid number"), 0;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return fail(j, st, "invalid number"), 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return fail(j, st, "invalid number"), 0;
    }
    return i;
}

static size_t scan_word(struct fg_json *j, size_t i, const char *w, size_t wl)
{
    if (i + wl > j->len || memcmp(j->src + i, w, wl) != 0)
        return fail(j, i, "invalid literal"), 0;
    return i + wl;
}

/* Parse one scalar at i into a new token; returns the index after it. */
static size_t scalar(struct fg_json *j, size_t i, bool *esc)
{
    size_t e;
    uint32_t type;
    switch (j->src[i]) {
    case '"':
        e = scan_string(j, i, esc);
        type = FG_J_STR;
        break;
    case 't':
        e = scan_word(j, i, "true", 4);
        type = FG_J_TRUE;
        break;
    case 'f':
        e = scan_word(j, i, "false", 5);
        type = FG_J_FALSE;
        break;
    case 'n':
        e = scan_word(j, i, "null", 4);
        type = FG_J_NULL;
        break;
    default:
        e = scan_number(j, i);
        type = FG_J_NUM;
        break;
    }
    if (!e)
        return 0;
    int k = push(j, type, i);
    j->t[k].end = (uint32_t)e;
    return e;
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static unsigned hex4(const char *p)
{
    return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

/* Decode the unit (a byte or an escape) of validated raw string bytes
 * s[0..n) at *pos into o (1..4 bytes); advances *pos past it. */
static size_t unit(const char *s, size_t n, size_t *pos, char *o)
{
    size_t k = *pos;
    if (s[k] != '\\') {
        o[0] = s[k];
        *pos = k + 1;
        return 1;
    }
    *pos = k + 2;
    switch (s[k + 1]) {
    case 'b': o[0] = '\b'; return 1;
    case 'f': o[0] = '\f'; return 1;
    case 'n': o[0] = '\n'; return 1;
    case 'r': o[0] = '\r'; return 1;
    case 't': o[0] = '\t'; return 1;
    case 'u': {
        unsigned cp = hex4(s + k + 2);
        *pos = k + 6;
        if (cp >= 0xd800 && cp < 0xdc00 && k + 12 <= n && s[k + 6] == '\\' && s[k + 7] == 'u') {
            unsigned lo = hex4(s + k + 8);
            if (lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                *pos = k + 12;
            }
        }
        return put_utf8(o, cp);
    }
    default: o[0] = s[k + 1]; return 1; /* " \\ / */
    }
}

/* A decoding reader over raw string bytes, one byte at a time. */
struct dec {
    const char *s;
    size_t n, k, bn, bi;
    char b[4];
};

static int dec_next(struct dec *d)
{
    if (d->bi == d->bn) {
        if (d->k >= d->n)
            return -1;
        d->bn = unit(d->s, d->n, &d->k, d->b);
        d->bi = 0;
    }
    return (unsigned char)d->b[d->bi++];
}

/* Does raw string s hold an escape?  Names are short: a plain loop beats
 * a call to memchr. */
static inline bool has_esc(const char *s, size_t n)
{
    if (n > 32)
        return memchr(s, '\\', n) != NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\\')
            return true;
    return false;
}

/* Order of two raw strings by their decoded bytes. */
static int dec_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    bool ea = has_esc(a, an), eb = has_esc(b, bn);
    if (!ea && !eb) {
        int c = memcmp(a, b, an < bn ? an : bn);
        return c ? c : (an > bn) - (an < bn);
    }
    struct dec x = {.s = a, .n = an}, y = {.s = b, .n = bn};
    for (;;) {
        int p = dec_next(&x), q = dec_next(&y);
        if (p != q)
            return p - q;
        if (p < 0)
            return 0;
    }
}

/* Does raw string r (rl bytes) decode to key (kl bytes, no escapes)?  An
 * escape is longer than what it decodes to, so only a longer raw
 * spelling holding a backslash needs decoding. */
static bool raw_is(const char *r, size_t rl, const char *key, size_t kl)
{
    if (rl == kl)
        return !memcmp(r, key, kl);
    if (rl < kl || !has_esc(r, rl))
        return false;
    return dec_cmp(r, rl, key, kl) == 0;
}

/* ---- duplicate member names ------------------------------------------- */

/* A member name as sorted and compared: its raw bytes and whether they
 * hold an escape (only then is decoding needed). */
struct name {
    const char *s;
    uint32_t len, tok;
    bool esc;
};

/* esc_any: some member name of the document holds an escape (else none
 * needs looking at, the common case). */
static struct name name_of(const struct fg_json *j, uint32_t k, bool esc_any)
{
    const struct fg_jtok *t = &j->t[k];
    const char *s = j->src + t->start + 1;
    uint32_t len = t->end - t->start - 2;
    return (struct name){s, len, k, esc_any && has_esc(s, len)};
}

/* FNV-1a over the decoded bytes: equal names hash equal whatever their
 * spelling.  Only a sort key: names with equal hashes are compared. */
static uint64_t name_hash(const struct name *n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (!n->esc) {
        for (uint32_t i = 0; i < n->len; i++)
            h = (h ^ (unsigned char)n->s[i]) * 0x100000001b3ull;
    } else {
        struct dec d = {.s = n->s, .n = n->len};
        for (int c; (c = dec_next(&d)) >= 0;)
            h = (h ^ (unsigned)c) * 0x100000001b3ull;
    }
    /* FNV's last byte barely reaches the high bits the table indexes by:
     * a finaliser (murmur3's fmix64) spreads it */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static int name_cmp(const struct name *a, const struct name *b)
{
    if (!a->esc && !b->esc) {
        int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
        return c ? c : (a->len > b->len) - (a->len < b->len);
    }
    return dec_cmp(a->s, a->len, b->s, b->len);
}

static int name_order(const void *a, const void *b)
{
    const struct name *x = a, *y = b;
    int c = name_cmp(x, y);
    /* equal names: the later member is the duplicate, so keep source order */
    return c ? c : (x->tok > y->tok) - (x->tok < y->tok);
}

/* A large object's member: the hash of its decoded name and its key token. */
struct hkey {
    uint64_t h;
    uint32_t tok;
};

/* Sort by hash: insertion for a few, else LSD radix (8 passes of 8 bits,
 * O(m), no comparisons); tmp has room for m. */
static void hkey_sort(struct hkey *a, struct hkey *tmp, uint32_t m)
{
    if (m <= 32) {
        for (uint32_t i = 1; i < m; i++) {
            struct hkey x = a[i];
            uint32_t k = i;
            for (; k && a[k - 1].h > x.h; k--)
                a[k] = a[k - 1];
            a[k] = x;
        }
        return;
    }
    for (int shift = 0; shift < 64; shift += 8) {
        uint32_t pos[256] = {0};
        for (uint32_t i = 0; i < m; i++)
            pos[(a[i].h >> shift) & 255]++;
        for (uint32_t d = 0, sum = 0; d < 256; d++) {
            uint32_t c = pos[d];
            pos[d] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < m; i++)
            tmp[pos[(a[i].h >> shift) & 255]++] = a[i];
        struct hkey *t = a;
        a = tmp;
        tmp = t;
    } /* an even number of passes: the result is back in the caller's a */
}

/* Within run[0..r) of equal hashes, the later key token of the first
 * repeated name in source order, or 0.  Only colliding hashes get here
 * with r > 2; many of them are sorted by name, so even names made to
 * collide cost O(r log r) comparisons. */
static uint32_t run_dup(const struct fg_json *j, const struct hkey *run, uint32_t r, bool esc_any)
{
    uint32_t dup = 0;
    if (r <= SMALL_OBJ) {
        for (uint32_t a = 0; a < r; a++)
            for (uint32_t b = a + 1; b < r; b++) {
                struct name x = name_of(j, run[a].tok, esc_any),
                            y = name_of(j, run[b].tok, esc_any);
                uint32_t later = x.tok > y.tok ? x.tok : y.tok;
                if ((!dup || later < dup) && name_cmp(&x, &y) == 0)
                    dup = later;
            }
        return dup;
    }
    struct name *n = fg_xmalloc((size_t)r * sizeof *n);
    for (uint32_t i = 0; i < r; i++)
        n[i] = name_of(j, run[i].tok, esc_any);
    qsort(n, r, sizeof *n, name_order);
    for (uint32_t q = 1; q < r; q++)
        if ((!dup || n[q].tok < dup) && name_cmp(&n[q - 1], &n[q]) == 0)
            dup = n[q].tok;
    free(n);
    return dup;
}

#define MAX_PROBES 16

/* The later key of the first repeated name found through an open-addressed
 * table of name hashes (size a power of two >= 2m, in tab), or 0; sets
 * *crowded when a probe runs long (names made to collide: the caller
 * sorts instead, so no input makes this quadratic). */
static uint32_t dup_by_table(const struct fg_json *j, uint32_t obj, struct hkey *tab, uint32_t size,
                             bool esc_any, bool *crowded)
{
    uint32_t end = j->t[obj].next, dup = 0;
    memset(tab, 0, (size_t)size * sizeof *tab);
    for (uint32_t k = obj + 1; k < end; k = j->t[k + 1].next) {
        struct name n = name_of(j, k, esc_any);
        uint64_t h = name_hash(&n);
        uint32_t at = (uint32_t)(h >> 32) & (size - 1), probes = 0;
        for (; tab[at].tok; at = (at + 1) & (size - 1)) {
            if (++probes > MAX_PROBES) {
                *crowded = true;
                return 0;
            }
            if (tab[at].h == h) {
                struct name o = name_of(j, tab[at].tok, esc_any);
                if (name_cmp(&o, &n) == 0) {
                    dup = dup ? dup : k; /* source order: the first repeat */
                    break;
                }
            }
        }
        if (!tab[at].tok)
            tab[at] = (struct hkey){h, k};
        if (dup)
            return dup;
    }
    return 0;
}

/* The key token of a member of closed object obj whose name repeats an
 * earlier member's, or 0.  Small objects compare pairwise (names of
 * different raw lengths differ unless one holds an escape); large ones
 * use a table of hashes of their decoded names, or if the names crowd it
 * (made to collide), sort the hashes (linear radix) and compare names
 * only where hashes are equal. */
static uint32_t dup_member(struct fg_json *j, uint32_t obj, bool esc_any)
{
    uint32_t end = j->t[obj].next, m = 0;
    if (!esc_any) {
        /* no escapes: equal names are equal spellings (quotes included) */
        const struct fg_jtok *keys[SMALL_OBJ];
        for (uint32_t k = obj + 1; k < end; k = j->t[k + 1].next, m++) {
            if (m >= SMALL_OBJ)
                continue; /* only counting now */
            const struct fg_jtok *t = keys[m] = &j->t[k];
            for (uint32_t q = 0; q < m; q++)
                if (keys[q]->end - keys[q]->start == t->end - t->start &&
                    !memcmp(j->src + keys[q]->start, j->src + t->start, t->end - t->start))
                    return k;
        }
    }
    struct name small[SMALL_OBJ];
    for (uint32_t k = obj + 1; k < end && esc_any; k = j->t[k + 1].next, m++) {
        if (m >= SMALL_OBJ)
            continue; /* only counting now */
        small[m] = name_of(j, k, esc_any);
        for (uint32_t q = 0; q < m; q++)
            if ((small[q].len == small[m].len || small[q].esc || small[m].esc) &&
                name_cmp(&small[q], &small[m]) == 0)
                return k;
    }
    if (m <= SMALL_OBJ)
        return 0;
    uint32_t size = 32;
    while (size < 2 * m)
        size *= 2;
    if (order_cap < size) {
        free(order);
        order_cap = size;
        order = fg_xmalloc((size_t)order_cap * sizeof *order);
    }
    bool crowded = false;
    uint32_t dup = dup_by_table(j, obj, order, size, esc_any, &crowded);
    if (!crowded)
        goto done;
    m = 0;
    for (uint32_t k = obj + 1; k < end; k = j->t[k + 1].next) {
        struct name n = name_of(j, k, esc_any);
        order[m++] = (struct hkey){name_hash(&n), k};
    }
    hkey_sort(order, order + m, m);
    for (uint32_t q = 0, r; q < m; q = r) {
        for (r = q + 1; r < m && order[r].h == order[q].h; r++)
            ;
        uint32_t d = r - q > 1 ? run_dup(j, order + q, r - q, esc_any) : 0;
        if (d && (!dup || d < dup))
            dup = d; /* the first repeat in source order */
    }
done:
    if (order_cap > ORDER_KEEP) {
        free(order);
        order = NULL;
        order_cap = 0;
    }
    return dup;
}

static void path_add(char *p, size_t cap, const char *fmt, const char *s, size_t n)
{
    size_t l = strlen(p);
    if (l < cap)
        snprintf(p + l, cap - l, fmt, (int)n, s);
}

/* j->err_path: the member `key` of the innermost open container, from the
 * open containers stack[0..depth) (their finished children have `next`). */
static void dup_path(struct fg_json *j, const uint32_t *stack, int depth, uint32_t key)
{
    char *p = j->err_path, name[64];
    p[0] = '\0';
    for (int d = 0; d < depth; d++) {
        uint32_t c = stack[d], child = d + 1 < depth ? stack[d + 1] : key;
        if (j->t[c].type == FG_J_ARR) {
            size_t idx = 0;
            for (uint32_t k = c + 1; k < child; k = j->t[k].next)
                idx++;
            char b[24];
            snprintf(b, sizeof b, "[%zu]", idx);
            path_add(p, sizeof j->err_path, "%.*s", b, strlen(b));
            continue;
        }
        uint32_t k = child == key ? key : child - 1; /* a value's key precedes it */
        long n = fg_json_str(j, (int)k, name, sizeof name);
        for (long q = 0; q < n; q++)
            if ((unsigned char)name[q] < 0x20 || name[q] == 0x7f)
                name[q] = '?';
        path_add(p, sizeof j->err_path, p[0] ? ".%.*s" : "%.*s", name, n > 0 ? (size_t)n : 0);
    }
}

int fg_json_parse(struct fg_json *j, const char *s, size_t n)
{
    uint32_t stack[MAX_DEPTH];
    int depth = 0;
    bool key_esc = false, val_esc = false; /* a member name with an escape so far */
    int max_depth = j->max_depth && j->max_depth < MAX_DEPTH ? (int)j->max_depth : MAX_DEPTH;
    j->src = s;
    j->len = n;
    j->n = 0;
    j->err = NULL;
    j->err_path[0] = '\0';
    j->esc_keys = false;
    if (n >= UINT32_MAX)
        return fail(j, 0, "document too large");
    size_t i = skip_ws(s, 0, n);
    /* expecting: a value (after '[' ',' ':' or at start), a key, or ',' / close */
    enum { VALUE, KEY, COMMA_OR_CLOSE, DONE } want = VALUE;
    while (i < n) {
        char c = s[i];
        if (want == DONE)
            return fail(j, i, "unexpected data after the document");
        if (want == VALUE) {
            if (c == '{' || c == '[') {
                if (depth == max_depth)
                    return fail(j, i, fg_json_err_depth);
                stack[depth++] = (uint32_t)push(j, c == '{' ? FG_J_OBJ : FG_J_ARR, i);
                i = skip_ws(s, i + 1, n);
                if (i < n && (s[i] == '}' || s[i] == ']'))
                    want = COMMA_OR_CLOSE; /* empty container: close next */
                else
                    want = c == '{' ? KEY : VALUE;
                continue;
            }
            if (!(i = scalar(j, i, &val_esc)))
                return -1;
            want = depth ? COMMA_OR_CLOSE : DONE;
        } else if (want == KEY) {
            if (c != '"')
                return fail(j, i, "expected a string key");
            if (!(i = scalar(j, i, &key_esc)))
                return -1;
            i = skip_ws(s, i, n);
            if (i >= n || s[i] != ':')
                return fail(j, i, "expected ':'");
            i++;
            want = VALUE;
        } else { /* COMMA_OR_CLOSE */
            FG_DASSERT(depth > 0 && stack[depth - 1] < j->n);
            struct fg_jtok *top = &j->t[stack[depth - 1]];
            char close = top->type == FG_J_OBJ ? '}' : ']';
            if (c == ',') {
                want = top->type == FG_J_OBJ ? KEY : VALUE;
                i++;
            } else if (c == close) {
                top->end = (uint32_t)(i + 1);
                top->next = j->n;
                uint32_t dup = j->unique_keys && top->type == FG_J_OBJ
                                   ? dup_member(j, stack[depth - 1], key_esc)
                                   : 0;
                if (dup) {
                    dup_path(j, stack, depth, dup);
                    return fail(j, j->t[dup].start, fg_json_err_dup);
                }
                depth--;
                i++;
                want = depth ? COMMA_OR_CLOSE : DONE;
            } else {
                return fail(j, i,
                            top->type == FG_J_OBJ ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
        i = skip_ws(s, i, n);
    }
    if (want != DONE)
        return fail(j, n, j->n ? "unexpected end of document" : "empty document");
    FG_DASSERT(depth == 0 && j->n > 0 && j->t[0].next == j->n);
    j->esc_keys = key_esc;
    return 0;
}

void fg_json_free(struct fg_json *j)
{
    if (j->t && !spare && j->cap <= SPARE_MAX) {
        spare = j->t;
        spare_cap = j->cap;
    } else {
        free(j->t);
    }
    memset(j, 0, sizeof *j);
}

int fg_json_child(const struct fg_json *j, int i)
{
    if (i < 0)
        return -1;
    FG_DASSERT((uint32_t)i < j->n);
    if (j->t[i].type != FG_J_OBJ && j->t[i].type != FG_J_ARR)
        return -1;
    return (uint32_t)(i + 1) < j->t[i].next ? i + 1 : -1;
}

int fg_json_sibling(const struct fg_json *j, int p, int i)
{
    FG_DASSERT(p >= 0 && i > p && (uint32_t)i < j->n);
    uint32_t nx = j->t[i].next;
    return nx < j->t[p].next ? (int)nx : -1;
}

int fg_json_get(const struct fg_json *j, int obj, const char *key)
{
    if (fg_json_type(j, obj) != FG_J_OBJ)
        return -1;
    size_t kl = strlen(key);
    for (int k = fg_json_child(j, obj); k >= 0;) {
        int v = (int)j->t[k].next;
        const struct fg_jtok *t = &j->t[k];
        if (j->esc_keys ? raw_is(j->src + t->start + 1, t->end - t->start - 2, key, kl)
                        : t->end - t->start == kl + 2 && !memcmp(j->src + t->start + 1, key, kl))
            return v;
        k = fg_json_sibling(j, obj, v);
    }
    return -1;
}

const char *fg_json_check_keys(const struct fg_json *j, int obj, const char *const *keys,
                               const char **why)
{
    if (fg_json_type(j, obj) != FG_J_OBJ)
        return NULL;
    int seen[16] = {0};
    for (int k = fg_json_child(j, obj); k >= 0;) {
        size_t rl;
        const char *raw = fg_json_raw_str(j, k, &rl);
        char dec[64];
        bool escaped = memchr(raw, '\\', rl) != NULL;
        if (escaped)
            fg_json_str(j, k, dec, sizeof dec);
        for (int q = 0; keys[q] && q < 16; q++) {
            size_t ql = strlen(keys[q]);
            bool same = escaped ? !strcmp(dec, keys[q]) : (rl == ql && !memcmp(raw, keys[q], ql));
            if (!same)
                continue;
            if (escaped) {
                *why = "must be spelled without escape sequences";
                return keys[q];
            }
            if (++seen[q] > 1) {
                *why = "appears more than once";
                return keys[q];
            }
        }
        k = fg_json_sibling(j, obj, (int)j->t[k].next);
    }
    return NULL;
}

bool fg_json_member_span(const struct fg_json *j, int obj, const char *key, uint32_t *start,
                         uint32_t *end)
{
    int v = fg_json_get(j, obj, key);
    if (v < 0)
        return false;
    int k = v - 1; /* a value's key is the token before it */
    FG_DASSERT(k > obj && j->t[k].type == FG_J_STR);
    uint32_t a = j->t[k].start, b = j->t[v].end, e = b;
    while (e < j->len &&
           (j->src[e] == ' ' || j->src[e] == '\n' || j->src[e] == '\r' || j->src[e] == '\t'))
        e++;
    if (e < j->len && j->src[e] == ',') {
        b = e + 1; /* "key":v, — take the comma after */
    } else {
        uint32_t s = a;
        while (s > j->t[obj].start && j->src[s - 1] != ',' && j->src[s - 1] != '{')
            s--;
        if (s > j->t[obj].start && j->src[s - 1] == ',')
            a = s - 1; /* ,"key":v — the last member */
    }
    *start = a;
    *end = b;
    return true;
}

size_t fg_json_count(const struct fg_json *j, int i)
{
    size_t c = 0;
    for (int k = fg_json_child(j, i); k >= 0; k = fg_json_sibling(j, i, k))
        c++;
    return fg_json_type(j, i) == FG_J_OBJ ? c / 2 : c;
}

int fg_json_at(const struct fg_json *j, int arr, size_t k)
{
    if (fg_json_type(j, arr) != FG_J_ARR)
        return -1;
    int e = fg_json_child(j, arr);
    while (e >= 0 && k--)
        e = fg_json_sibling(j, arr, e);
    return e;
}

bool fg_json_str_eq(const struct fg_json *j, int i, const char *s)
{
    if (fg_json_type(j, i) != FG_J_STR)
        return false;
    const struct fg_jtok *t = &j->t[i];
    return raw_is(j->src + t->start + 1, t->end - t->start - 2, s, strlen(s));
}

const char *fg_json_raw_str(const struct fg_json *j, int i, size_t *len)
{
    FG_DASSERT(i >= 0 && (uint32_t)i < j->n && j->t[i].type == FG_J_STR);
    *len = j->t[i].end - j->t[i].start - 2;
    return j->src + j->t[i].start + 1;
}

long fg_json_str(const struct fg_json *j, int i, char *out, size_t outlen)
{
    if (fg_json_type(j, i) != FG_J_STR || outlen == 0)
        return -1;
    size_t n;
    const char *s = fg_json_raw_str(j, i, &n);
    size_t o = 0, room = outlen - 1;
    char tmp[4];
    for (size_t k = 0; k < n;) {
        /* runs without escapes are copied whole (a long prompt has few) */
        const char *bs = memchr(s + k, '\\', n - k);
        size_t run = (bs ? (size_t)(bs - s) : n) - k, c = run < room - o ? run : room - o;
        memcpy(out + o, s + k, c);
        o += c;
        k += run;
        if (!bs)
            break;
        size_t w = unit(s, n, &k, tmp);
        for (size_t q = 0; q < w && o < room; q++)
            out[o++] = tmp[q];
    }
    out[o] = '\0';
    return (long)o;
}

bool fg_json_int(const struct fg_json *j, int i, int64_t *v)
{
    if (fg_json_type(j, i) != FG_J_NUM)
        return false;
    const char *s = j->src + j->t[i].start, *e = j->src + j->t[i].end;
    int neg = *s == '-';
    s += neg;
    int64_t x = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return false; /* fraction or exponent */
        if (x > (INT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (*s - '0');
    }
    *v = neg ? -x : x;
    return true;
}

char *fg_json_splice(const char *src, size_t len, const struct fg_json_edit *e, size_t ne,
                     size_t *out_len)
{
    size_t total = len;
    for (size_t k = 0; k < ne; k++)
        total += e[k].text_len - (e[k].end - e[k].start);
    char *out = fg_xmalloc(total + 1), *o = out;
    size_t pos = 0;
    for (size_t k = 0; k < ne; k++) {
        /* edits are sorted, disjoint and inside src */
        FG_ASSERT(e[k].start >= pos && e[k].start <= e[k].end && e[k].end <= len);
        memcpy(o, src + pos, e[k].start - pos);
        o += e[k].start - pos;
        memcpy(o, e[k].text, e[k].text_len);
        o += e[k].text_len;
        pos = e[k].end;
    }
    memcpy(o, src + pos, len - pos);
    o += len - pos;
    FG_ASSERT((size_t)(o - out) == total);
    *o = '\0';

    *out_len = total;
    return out;
}
