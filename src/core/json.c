/* json.c — see json.h.  One pass, no recursion: an explicit stack holds
 * the open containers; each token is finished (end, next) when its
 * container closes. */
#include "json.h"

#include "arena.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 512

const char fg_json_err_depth[] = "nesting too deep";
#define SPARE_MAX 4096

/* One spare token array per thread, so a request's index costs no malloc. */
static _Thread_local struct fg_jtok *spare;
static _Thread_local uint32_t spare_cap;

void fg_json_thread_cleanup(void)
{
    free(spare);
    spare = NULL;
    spare_cap = 0;
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

/* Index of the first byte at or after i that is '"', '\\' or a control
 * character: eight bytes at a time (SWAR), since prompt text is most of
 * every request. */
static inline size_t skip_plain(const char *s, size_t i, size_t n)
{
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
    if (s[0] >= 0xc2 && s[0] <= 0xdf) n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef) n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) n = 4, cp = s[0] & 0x07;
    else return 0;
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

/* s[i] == '"'; returns the index after the closing quote, or 0. */
static size_t scan_string(struct fg_json *j, size_t i)
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
            if (++i >= n)
                break;
            switch (s[i]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            case 'u':
                if (i + 4 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) ||
                    !is_hex(s[i + 4])) {
                    fail(j, i, "invalid \\u escape");
                    return 0;
                }
                i += 4;
                break;
            default:
                fail(j, i, "invalid escape");
                return 0;
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
static size_t scalar(struct fg_json *j, size_t i)
{
    size_t e;
    uint32_t type;
    switch (j->src[i]) {
    case '"': e = scan_string(j, i); type = FG_J_STR; break;
    case 't': e = scan_word(j, i, "true", 4); type = FG_J_TRUE; break;
    case 'f': e = scan_word(j, i, "false", 5); type = FG_J_FALSE; break;
    case 'n': e = scan_word(j, i, "null", 4); type = FG_J_NULL; break;
    default: e = scan_number(j, i); type = FG_J_NUM; break;
    }
    if (!e)
        return 0;
    int k = push(j, type, i);
    j->t[k].end = (uint32_t)e;
    return e;
}

int fg_json_parse(struct fg_json *j, const char *s, size_t n)
{
    uint32_t stack[MAX_DEPTH];
    int depth = 0;
    int max_depth = j->max_depth && j->max_depth < MAX_DEPTH ? (int)j->max_depth : MAX_DEPTH;
    j->src = s;
    j->len = n;
    j->n = 0;
    j->err = NULL;
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
                    want = COMMA_OR_CLOSE;  /* empty container: close next */
                else
                    want = c == '{' ? KEY : VALUE;
                continue;
            }
            if (!(i = scalar(j, i)))
                return -1;
            want = depth ? COMMA_OR_CLOSE : DONE;
        } else if (want == KEY) {
            if (c != '"')
                return fail(j, i, "expected a string key");
            if (!(i = scalar(j, i)))
                return -1;
            i = skip_ws(s, i, n);
            if (i >= n || s[i] != ':')
                return fail(j, i, "expected ':'");
            i++;
            want = VALUE;
        } else { /* COMMA_OR_CLOSE */
            struct fg_jtok *top = &j->t[stack[depth - 1]];
            char close = top->type == FG_J_OBJ ? '}' : ']';
            if (c == ',') {
                want = top->type == FG_J_OBJ ? KEY : VALUE;
                i++;
            } else if (c == close) {
                top->end = (uint32_t)(i + 1);
                top->next = j->n;
                depth--;
                i++;
                want = depth ? COMMA_OR_CLOSE : DONE;
            } else {
                return fail(j, i, top->type == FG_J_OBJ ? "expected ',' or '}'"
                                                        : "expected ',' or ']'");
            }
        }
        i = skip_ws(s, i, n);
    }
    if (want != DONE)
        return fail(j, n, j->n ? "unexpected end of document" : "empty document");
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
    if (i < 0 || (j->t[i].type != FG_J_OBJ && j->t[i].type != FG_J_ARR))
        return -1;
    return (uint32_t)(i + 1) < j->t[i].next ? i + 1 : -1;
}

int fg_json_sibling(const struct fg_json *j, int p, int i)
{
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
        if (t->end - t->start == kl + 2 && !memcmp(j->src + t->start + 1, key, kl))
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
    int k = v - 1;                       /* a value's key is the token before it */
    uint32_t a = j->t[k].start, b = j->t[v].end, e = b;
    while (e < j->len && (j->src[e] == ' ' || j->src[e] == '\n' || j->src[e] == '\r' ||
                          j->src[e] == '\t'))
        e++;
    if (e < j->len && j->src[e] == ',') {
        b = e + 1;                       /* "key":v, — take the comma after */
    } else {
        uint32_t s = a;
        while (s > j->t[obj].start && j->src[s - 1] != ',' && j->src[s - 1] != '{')
            s--;
        if (s > j->t[obj].start && j->src[s - 1] == ',')
            a = s - 1;                   /* ,"key":v — the last member */
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
    size_t l = strlen(s);
    const struct fg_jtok *t = &j->t[i];
    return t->end - t->start == l + 2 && !memcmp(j->src + t->start + 1, s, l);
}

const char *fg_json_raw_str(const struct fg_json *j, int i, size_t *len)
{
    *len = j->t[i].end - j->t[i].start - 2;
    return j->src + j->t[i].start + 1;
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f)); return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static unsigned hex4(const char *p)
{
    return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

long fg_json_str(const struct fg_json *j, int i, char *out, size_t outlen)
{
    if (fg_json_type(j, i) != FG_J_STR || outlen == 0)
        return -1;
    size_t n;
    const char *s = fg_json_raw_str(j, i, &n);
    size_t o = 0;
    char tmp[4];
    for (size_t k = 0; k < n; k++) {
        size_t w = 1;
        tmp[0] = s[k];
        if (s[k] == '\\') {
            char e = s[++k];
            switch (e) {
            case 'b': tmp[0] = '\b'; break;
            case 'f': tmp[0] = '\f'; break;
            case 'n': tmp[0] = '\n'; break;
            case 'r': tmp[0] = '\r'; break;
            case 't': tmp[0] = '\t'; break;
            case 'u': {
                unsigned cp = hex4(s + k + 1);
                k += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && k + 6 < n + 1 && s[k + 1] == '\\' &&
                    s[k + 2] == 'u') {
                    unsigned lo = hex4(s + k + 3);
                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        k += 6;
                    }
                }
                w = put_utf8(tmp, cp);
                break;
            }
            default: tmp[0] = e; break;
            }
        }
        for (size_t q = 0; q < w; q++)
            if (o + 1 < outlen)
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
            return false;      /* fraction or exponent */
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
        memcpy(o, src + pos, e[k].start - pos);
        o += e[k].start - pos;
        memcpy(o, e[k].text, e[k].text_len);
        o += e[k].text_len;
        pos = e[k].end;
    }
    memcpy(o, src + pos, len - pos);
    o += len - pos;
    *o = '\0';
    *out_len = total;
    return out;
}
