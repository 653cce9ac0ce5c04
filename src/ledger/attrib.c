/* attrib.c — see attrib.h. */
#include "attrib.h"

#include "assert.h"
#include "provider.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static int64_t full_input_cost(const struct fg_price *p, const struct fg_tokens *t, bool batch)
{
    struct fg_tokens all = {.input =
                                t->input + t->cache_read + t->cache_write_5m + t->cache_write_1h,
                            .output = t->output};
    return fg_price_cost(p, &all, batch);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}
static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Input spend on repeated tokens: cache reads first (they can only be
 * repeats), the remainder of the repeat at the input price. */
static void repeated_bucket(const struct fg_price *p, struct fg_record *r, bool batch)
{
    int64_t rep = r->repeated_tokens;
    if (rep <= 0)
        return;
    int64_t cached = min64(rep, r->tok.cache_read);
    int64_t rest =
        min64(rep - cached, r->tok.input + r->tok.cache_write_5m + r->tok.cache_write_1h);
    int64_t div = batch ? 2 : 1;
    r->bucket_repeated_cached_pico = cached * p->cache_read / div;
    r->bucket_repeated_pico = r->bucket_repeated_cached_pico + rest * p->input / div;
}

void fg_attrib(const struct fg_attrib_in *in, struct fg_record *r)
{
    const struct fg_price *p = in->price;
    r->priced = p != NULL;
    if (!p)
        return;                        /* unpriced: reported as such, never as $0 savings */
    bool half = in->batch || in->flex; /* flex is billed at batch rates */
    r->cost_pico = in->response_cache_hit ? 0 : fg_price_cost(p, &r->tok, half);
    int64_t realtime = fg_price_cost(p, &r->tok, false);
    /* native caching: the provider's own cache is in the baseline too */
    int64_t full = in->native_cache ? realtime : full_input_cost(p, &r->tok, false);
    const struct fg_price *bp = in->baseline_price ? in->baseline_price : p;
    r->baseline_pico =
        in->native_cache ? fg_price_cost(bp, &r->tok, false) : full_input_cost(bp, &r->tok, false);
    r->saved_prompt_cache_pico = full - realtime;
    r->saved_routing_pico = r->baseline_pico - full;
    r->saved_batch_pico = in->batch && !in->response_cache_hit ? realtime - r->cost_pico : 0;
    r->saved_flex_pico =
        in->flex && !in->batch && !in->response_cache_hit ? realtime - r->cost_pico : 0;
    r->saved_response_cache_pico = in->response_cache_hit ? realtime : 0;
    if (in->response_cache_hit)
        return;
    repeated_bucket(p, r, half);
    if (in->wants_structured && in->output_text && in->output_len) {
        /* the visible answer only: reasoning tokens are not in the text */
        int64_t visible = max64(0, r->tok.output - r->reasoning_tokens);
        int64_t out_cost = visible * (half ? p->batch_output : p->output);
        size_t bloat = fg_attrib_bloat(in->output_text, in->output_len);
        FG_ASSERT(bloat <= in->output_len); /* the bloated bytes are part of the answer */

        r->bucket_bloated_pico =
            (int64_t)((__int128)out_cost * (int64_t)bloat / (int64_t)in->output_len);
    }
    if (in->frontier && in->simple)
        r->bucket_frontier_pico =
            max64(0, r->cost_pico - r->bucket_repeated_pico - r->bucket_bloated_pico);
}

/* ---- request features ------------------------------------------------- */

#define TEXT_HEAD 384 /* request features look at the start and end of */
#define TEXT_TAIL 256 /* the last user turn (all of a short one): asks live there */

struct user_text {
    char buf[TEXT_HEAD + 1 + TEXT_TAIL + 1 + 32]; /* head, '\n', tail, NUL; slack for loads */
    size_t len;                                   /* bytes in buf (lower-cased ASCII) */
    size_t full;                                  /* raw length of the whole text */
    char tail[TEXT_TAIL];                         /* the last bytes past the head, across parts */
    size_t tail_len;
};

/* ASCII lower-case of 8 bytes at once (bytes >= 0x80 are left alone). */
static inline uint64_t lower8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t low7 = w & ~high;
    uint64_t ge_a = low7 + ones * (0x80 - 'A'); /* high bit: byte >= 'A' */
    uint64_t gt_z = low7 + ones * (0x7f - 'Z'); /* high bit: byte > 'Z' */
    uint64_t upper = (ge_a ^ gt_z) & ~w & high;
    return w | upper >> 2; /* 0x80 >> 2 == 0x20 */
}

static inline char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
}

/* Lower-case n bytes from s to d, a word at a time: this runs on every call. */
static void copy_lower(char *d, const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        w = lower8(w);
        memcpy(d + i, &w, 8);
    }
    for (; i < n; i++)
        d[i] = lower(s[i]);
}

/* Append raw string bytes: the first TEXT_HEAD go to the head, the last
 * TEXT_TAIL of the rest (however many parts they came in) to the tail. */
static void take(struct user_text *u, const char *s, size_t n)
{
    u->full += n;
    if (u->len < TEXT_HEAD) {
        size_t h = n < TEXT_HEAD - u->len ? n : TEXT_HEAD - u->len;
        copy_lower(u->buf + u->len, s, h);
        u->len += h;
        s += h;
        n -= h;
    }
    if (n >= TEXT_TAIL) {
        memcpy(u->tail, s + n - TEXT_TAIL, TEXT_TAIL);
        u->tail_len = TEXT_TAIL;
    } else if (n) {
        size_t keep = u->tail_len + n > TEXT_TAIL ? TEXT_TAIL - n : u->tail_len;
        memmove(u->tail, u->tail + u->tail_len - keep, keep);
        memcpy(u->tail + keep, s, n);
        u->tail_len = keep + n;
    }
    FG_DASSERT(u->len <= TEXT_HEAD && u->tail_len <= TEXT_TAIL);
}

/* buf = head, then '\n' and the tail when there is one. */
static void finish(struct user_text *u)
{
    FG_ASSERT(u->len <= TEXT_HEAD && u->tail_len <= TEXT_TAIL);
    if (u->tail_len) {
        u->buf[u->len++] = '\n';
        copy_lower(u->buf + u->len, u->tail, u->tail_len);
        u->len += u->tail_len;
    }
    FG_DASSERT(u->len + 32 <= sizeof u->buf);
    memset(u->buf + u->len, 0, 32); /* the NUL, and defined bytes for contains()'s loads */
}

/* The last user message (string content or its text parts); escapes are
 * left as written, which is fine for keyword matching. */
static void last_user_text(const struct fg_json *j, struct user_text *u)
{
    int msgs = fg_json_get(j, 0, "messages"), last = -1;
    if (msgs < 0)
        msgs = fg_json_get(j, 0, "input"); /* a Responses body: items or one string */
    for (int m = fg_json_child(j, msgs); m >= 0; m = fg_json_sibling(j, msgs, m))
        if (fg_json_str_eq(j, fg_json_get(j, m, "role"), "user"))
            last = m;
    u->len = u->full = u->tail_len = 0;
    int c = fg_json_type(j, msgs) == FG_J_STR ? msgs : fg_json_get(j, last, "content");
    size_t n;
    if (fg_json_type(j, c) == FG_J_STR) {
        const char *raw = fg_json_raw_str(j, c, &n);
        take(u, raw, n);
    }
    for (int part = fg_json_child(j, c); part >= 0; part = fg_json_sibling(j, c, part)) {
        int t = fg_json_get(j, part, "text");
        if (fg_json_type(j, t) == FG_J_STR) {
            const char *raw = fg_json_raw_str(j, t, &n);
            take(u, raw, n);
        }
    }
    finish(u);
}

/* Whether t[0..n) holds w (wl >= 2 bytes).  With SSE2, 16 positions at a
 * time: those whose first and last bytes both match are compared in full
 * (the "generic SIMD" substring search); t has 16 readable bytes past n. */
static bool contains(const char *t, size_t n, const char *w, size_t wl)
{
    FG_DASSERT(wl >= 2);
#ifdef __SSE2__
    if (wl > n)
        return false;
    const __m128i first = _mm_set1_epi8(w[0]), last = _mm_set1_epi8(w[wl - 1]);
    for (size_t i = 0; i + wl <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(t + i));
        __m128i z = _mm_loadu_si128((const __m128i *)(t + i + wl - 1));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(z, last)));
        while (m) {
            size_t at = i + (size_t)__builtin_ctz(m);
            if (at + wl <= n && !memcmp(t + at + 1, w + 1, wl - 2))
                return true;
            m &= m - 1;
        }
    }
    return false;
#else
    return memmem(t, n, w, wl) != NULL;
#endif
}

/* Whether the text holds any of the words (a memmem per word was 8% of a
 * call's CPU, README Performance). */
static bool has_any(const struct user_text *u, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (contains(u->buf, u->len, words[i], strlen(words[i])))
            return true;
    return false;
}

static bool simple_text(const struct fg_json *body, const struct user_text *u)
{
    static const char *const hard[] = {
        "```",       "def ",      "function ", "class ",       "#include",
        "prove",     "derive",    "analy",     "step by step", "explain why",
        "design",    "implement", "refactor",  "debug",        "optimi",
        "algorithm", "theorem",   "integral",  "equation",     "compare and contrast",
        NULL};
    if (fg_json_get(body, 0, "tools") >= 0)
        return false;
    if (fg_json_count(body, fg_json_get(body, 0, "messages")) > 4 ||
        fg_json_count(body, fg_json_get(body, 0, "input")) > 4)
        return false;
    return u->full < 600 && !has_any(u, hard);
}

static bool structured_text(const struct fg_json *body, enum fg_dialect d,
                            const struct user_text *u)
{
    if (fg_provider_ops(d)->wants_json(body))
        return true;
    static const char *const asks[] = {"only json",      "json only",        "respond with json",
                                       "one word",       "single word",      "only the label",
                                       "just the label", "answer with only", NULL};
    return has_any(u, asks);
}

void fg_attrib_features(const struct fg_json *body, enum fg_dialect d, bool *simple,
                        bool *wants_structured)
{
    struct user_text u;
    last_user_text(body, &u);
    *simple = simple_text(body, &u);
    *wants_structured = structured_text(body, d, &u);
}

bool fg_attrib_simple(const struct fg_json *body, enum fg_dialect d)
{
    struct user_text u;
    last_user_text(body, &u);
    return simple_text(body, &u);
}

bool fg_attrib_wants_structured(const struct fg_json *body, enum fg_dialect d)
{
    struct user_text u;
    last_user_text(body, &u);
    return structured_text(body, d, &u);
}

/* Span of the outermost JSON value (first { or [ to its last } or ]). */
static size_t json_span(const char *t, size_t n, size_t *start)
{
    size_t a = 0, b = n;
    while (a < n && t[a] != '{' && t[a] != '[')
        a++;
    if (a == n)
        return 0;
    char close = t[a] == '{' ? '}' : ']';
    while (b > a && t[b - 1] != close)
        b--;
    *start = a;
    return b > a ? b - a : 0;
}

size_t fg_attrib_bloat(const char *text, size_t len)
{
    size_t start = 0, span = json_span(text, len, &start);
    if (span)
        return len - span;
    /* a label: the first line's first word is the answer, the rest bloat */
    size_t a = 0;
    while (a < len && isspace((unsigned char)text[a]))
        a++;
    size_t b = a;
    while (b < len && !isspace((unsigned char)text[b]) && text[b] != '.' && text[b] != ',')
        b++;
    return len - (b - a);
}
