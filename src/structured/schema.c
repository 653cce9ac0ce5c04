/* schema.c — JSON Schema validator for structured outputs (see schema.h).
 *
 * Layout: a schema is compiled once into a graph of `struct node` (one per
 * subschema; $ref edges may form cycles), owned by `struct fg_schema`
 * together with the jansson tree the nodes point into.  Validation walks
 * the graph; nothing in it is written after compilation. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "schema.h"

#include "arena.h"
#include "assert.h"
#include "vec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COMPILE_DEPTH 512 /* nested subschemas while compiling */
#define MAX_NEST 1000         /* nested schema applications while validating */
#define MT_CAP 1000000000000LL
#define MT_UNB (-1LL)

/* jansson's iteration macros take non-const objects; we only read. */
#define FOREACH(obj, k, v) json_object_foreach((json_t *)(obj), k, v)

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64 };

enum fmt {
    F_NONE,
    F_OTHER,
    F_DATETIME,
    F_DATE,
    F_TIME,
    F_DURATION,
    F_EMAIL,
    F_HOSTNAME,
    F_IPV4,
    F_IPV6,
    F_UUID,
    F_URI,
};

struct node;

struct nodes {
    struct node **v;
    size_t n, cap;
};

struct prop {
    const char *name;
    size_t len;
    struct node *n;
};

struct pprop {
    pcre2_code *re;
    struct node *n;
};

struct node {
    const json_t *src;
    int boolean;    /* -1 keyword schema, 0 false, 1 true */
    unsigned types; /* T_* mask, 0 = any */
    struct node *ref;
    const json_t *enum_, *const_;
    /* objects */
    const json_t *props_src;
    struct prop *props;
    size_t nprops;
    const json_t **req;
    size_t nreq;
    struct pprop *pprops;
    size_t npprops;
    struct node *addl; /* NULL: any */
    long min_props, max_props;
    /* arrays */
    struct nodes prefix;
    struct node *items; /* NULL: any */
    long min_items, max_items;
    bool unique;
    /* strings */
    long min_len, max_len;
    pcre2_code *re;
    const char *pattern;
    enum fmt fmt;
    const char *fmt_name;
    /* numbers */
    const json_t *min, *max, *xmin, *xmax, *mult;
    /* applicators */
    struct nodes any_of, one_of, all_of;
    struct node *not_, *if_, *then_, *else_;
    /* max_tokens memo (compile time only) */
    int mt_state;
    long long mt_val;
};

struct fg_schema {
    json_t *root;
    struct node *top;
    struct nodes all;
    long max_tokens;
    atomic_long refs;
};

/* ---- small helpers ------------------------------------------------------ */

static void nodes_push(struct nodes *l, struct node *n)
{
    FG_VEC_PUSH(l->v, l->n, l->cap, n);
}

/* Cut a trailing incomplete UTF-8 sequence (left by truncation). */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n, k = 0;
    while (i > 0 && k < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        k++;
    }
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    if (need != k)
        s[lead >= 0xC0 ? i - 1 : n] = '\0';
}

/* s clipped to n-1 bytes on a character boundary. */
static const char *clip(const char *s, char *buf, size_t n)
{
    size_t len = s ? strnlen(s, n - 1) : 0;
    memcpy(buf, s ? s : "", len);
    buf[len] = '\0';
    utf8_trim(buf);
    return buf;
}

static size_t utf8_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
}

/* Deep equality with numeric comparison (1 == 1.0). */
static bool jeq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_string(a))
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!jeq(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach((json_t *)a, k, kl, v)
        {
            const json_t *w = json_object_getn(b, k, kl);
            if (!w || !jeq(v, w))
                return false;
        }
    }
    return true; /* null, true, false */
}

/* Compact JSON of v into buf (truncated with "..."). */
static const char *jshort(const json_t *v, char *buf, size_t n)
{
    size_t need = json_dumpb(v, buf, n - 1, JSON_COMPACT | JSON_ENCODE_ANY);
    if (need < n) {
        buf[need] = '\0';
    } else {
        buf[n > 4 ? n - 4 : 0] = '\0';
        utf8_trim(buf);
        if (n > 4)
            memcpy(buf + strlen(buf), "...", 4);
    }
    return buf;
}

static const char *numstr(const json_t *v, char *buf, size_t n)
{
    if (json_is_integer(v)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    double d = json_number_value(v);
    snprintf(buf, n, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, n, "%.17g", d);
    return buf;
}

static json_t *load_json(const char *text, size_t len, json_error_t *je)
{
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, je);
    if (!v && strstr(je->text, "too big"))
        v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, je);
    return v;
}

/* ---- type names --------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bit;
} TYPES[] = {
    {"object", T_OBJ},  {"array", T_ARR},    {"string", T_STR}, {"number", T_NUM},
    {"integer", T_INT}, {"boolean", T_BOOL}, {"null", T_NULL},
};
#define NTYPES (sizeof TYPES / sizeof TYPES[0])

static unsigned type_bit(const char *name)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(TYPES[i].name, name) == 0)
            return TYPES[i].bit;
    return 0;
}

static bool integral(const json_t *v)
{
    if (json_is_integer(v))
        return true;
    double d = json_real_value(v);
    return json_is_real(v) && isfinite(d) && d == floor(d);
}

static unsigned type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return T_OBJ;
    case JSON_ARRAY: return T_ARR;
    case JSON_STRING: return T_STR;
    case JSON_INTEGER: return T_NUM | T_INT;
    case JSON_REAL: return T_NUM | (integral(v) ? T_INT : 0);
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    default: return T_NULL;
    }
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static const char *types_str(unsigned mask, char *buf, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < NTYPES; i++) {
        if (!(mask & TYPES[i].bit))
            continue;
        if (buf[0])
            strncat(buf, " or ", n - strlen(buf) - 1);
        strncat(buf, TYPES[i].name, n - strlen(buf) - 1);
    }
    return buf;
}

/* ---- compilation -------------------------------------------------------- */

struct cctx {
    struct fg_schema *s;
    char ptr[256]; /* JSON pointer of the subschema being compiled */
    size_t plen;
    int depth;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int cfail(struct cctx *c, const char *fmt, ...)
{
    if (!c->err || !c->errlen)
        return -1;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s: %s", c->ptr, msg);
    utf8_trim(c->err);
    return -1;
}

static size_t ptr_add(struct cctx *c, const char *s, size_t n)
{
    size_t old = c->plen, room = sizeof c->ptr - 1 - c->plen;
    if (n > room)
        n = room;
    memcpy(c->ptr + c->plen, s, n);
    c->plen += n;
    c->ptr[c->plen] = '\0';
    return old;
}

static size_t ptr_push(struct cctx *c, const char *tok)
{
    size_t old = ptr_add(c, "/", 1);
    for (; *tok; tok++) {
        if (*tok == '~')
            ptr_add(c, "~0", 2);
        else if (*tok == '/')
            ptr_add(c, "~1", 2);
        else
            ptr_add(c, tok, 1);
    }
    return old;
}

static size_t ptr_push_idx(struct cctx *c, size_t i)
{
    char b[32];
    int n = snprintf(b, sizeof b, "/%zu", i);
    return ptr_add(c, b, (size_t)n);
}

static void ptr_pop(struct cctx *c, size_t old)
{
    c->plen = old;
    c->ptr[old] = '\0';
}

static struct node *new_node(struct cctx *c, const json_t *src)
{
    struct node *n = fg_xcalloc(1, sizeof *n);
    n->src = src;
    n->boolean = -1;
    n->min_props = n->max_props = n->min_items = n->max_items = -1;
    n->min_len = n->max_len = -1;
    nodes_push(&c->s->all, n);
    return n;
}

static struct node *c_schema(struct cctx *c, const json_t *s);

/* Compile s[kw] into *out (NULL when absent). */
static int c_kw(struct cctx *c, const json_t *s, const char *kw, struct node **out)
{
    const json_t *v = json_object_get(s, kw);
    *out = NULL;
    if (!v)
        return 0;
    size_t old = ptr_push(c, kw);
    *out = c_schema(c, v);
    ptr_pop(c, old);
    return *out ? 0 : -1;
}

static int c_array_of(struct cctx *c, const json_t *a, struct nodes *out)
{
    for (size_t i = 0; i < json_array_size(a); i++) {
        size_t old = ptr_push_idx(c, i);
        struct node *n = c_schema(c, json_array_get(a, i));
        ptr_pop(c, old);
        if (!n)
            return -1;
        nodes_push(out, n);
    }
    return 0;
}

static int c_list(struct cctx *c, const json_t *s, const char *kw, struct nodes *out)
{
    const json_t *a = json_object_get(s, kw);
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return cfail(c, "%s must be a non-empty array of schemas", kw);
    size_t old = ptr_push(c, kw);
    int rc = c_array_of(c, a, out);
    ptr_pop(c, old);
    return rc;
}

static int c_count(struct cctx *c, const json_t *s, const char *kw, long *out)
{
    const json_t *v = json_object_get(s, kw);
    if (!v)
        return 0;
    double d = json_is_number(v) ? json_number_value(v) : -1;
    if (!json_is_number(v) || !(d >= 0) || d != floor(d))
        return cfail(c, "%s must be a non-negative integer", kw);
    *out = d > (double)MT_CAP ? (long)MT_CAP : (long)d;
    if (json_is_integer(v) && json_integer_value(v) < MT_CAP)
        *out = (long)json_integer_value(v);
    return 0;
}

static int c_num(struct cctx *c, const json_t *s, const char *kw, const json_t **out)
{
    const json_t *v = json_object_get(s, kw);
    if (v && !json_is_number(v))
        return cfail(c, "%s must be a number", kw);
    *out = v;
    return 0;
}

static pcre2_code *c_regex(struct cctx *c, const json_t *pat)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc || pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX) != 0) {
        pcre2_compile_context_free(cc);
        cfail(c, "cannot create a pcre2 context");
        return NULL;
    }
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)json_string_value(pat), json_string_length(pat),
                      PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY, &ec, &off, cc);
    pcre2_compile_context_free(cc);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        char p[64];
        cfail(c, "invalid pattern \"%s\": %s at offset %zu",
              clip(json_string_value(pat), p, sizeof p), (const char *)msg, (size_t)off);
    }
    return re;
}

static int c_type(struct cctx *c, struct node *n, const json_t *s)
{
    const json_t *t = json_object_get(s, "type");
    if (!t)
        return 0;
    if (json_is_string(t)) {
        n->types = type_bit(json_string_value(t));
        char b[48];
        return n->types ? 0
                        : cfail(c, "unknown type \"%s\"", clip(json_string_value(t), b, sizeof b));
    }
    if (!json_is_array(t) || json_array_size(t) == 0)
        return cfail(c, "type must be a string or a non-empty array of strings");
    for (size_t i = 0; i < json_array_size(t); i++) {
        const json_t *e = json_array_get(t, i);
        unsigned b = json_is_string(e) ? type_bit(json_string_value(e)) : 0;
        if (!b)
            return cfail(c, "type[%zu] is not a known type name", i);
        n->types |= b;
    }
    return 0;
}

static int c_values(struct cctx *c, struct node *n, const json_t *s)
{
    n->const_ = json_object_get(s, "const");
    n->enum_ = json_object_get(s, "enum");
    if (n->enum_ && !json_is_array(n->enum_))
        return cfail(c, "enum must be an array");
    return 0;
}

/* ---- $ref --------------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Decode one pointer token (percent escapes, then ~0 ~1) into tok. */
static int ref_token(const char *p, size_t n, char *tok, size_t cap, size_t *tl)
{
    char raw[256];
    size_t rl = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)p[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)p[i + 1]) : -1;
            int lo = hi >= 0 ? hexval((unsigned char)p[i + 2]) : -1;
            if (lo < 0)
                return -1;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (rl == sizeof raw)
            return -1;
        raw[rl++] = (char)ch;
    }
    *tl = 0;
    for (size_t i = 0; i < rl; i++) {
        char ch = raw[i];
        if (ch == '~') {
            if (i + 1 >= rl || (raw[i + 1] != '0' && raw[i + 1] != '1'))
                return -1;
            ch = raw[++i] == '0' ? '~' : '/';
        }
        if (*tl == cap)
            return -1;
        tok[(*tl)++] = ch;
    }
    return 0;
}

static const json_t *ref_step(const json_t *cur, const char *tok, size_t tl)
{
    if (json_is_object(cur))
        return json_object_getn(cur, tok, tl);
    if (!json_is_array(cur) || tl == 0 || tl > 9 || (tl > 1 && tok[0] == '0'))
        return NULL;
    size_t idx = 0;
    for (size_t i = 0; i < tl; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return NULL;
        idx = idx * 10 + (size_t)(tok[i] - '0');
    }
    return json_array_get(cur, idx);
}

static int resolve(struct cctx *c, const char *ref, const json_t **out)
{
    char r[88];
    if (ref[0] != '#')
        return cfail(c, "unsupported $ref \"%s\": only local references (\"#...\") are supported",
                     clip(ref, r, sizeof r));
    if (ref[1] && ref[1] != '/')
        return cfail(c, "unsupported $ref \"%s\": anchors are not supported",
                     clip(ref, r, sizeof r));
    const json_t *cur = c->s->root;
    const char *p = ref + 1;
    while (*p == '/' && cur) {
        const char *end = strchr(p + 1, '/');
        size_t n = end ? (size_t)(end - p - 1) : strlen(p + 1), tl;
        char tok[256];
        if (ref_token(p + 1, n, tok, sizeof tok, &tl))
            return cfail(c, "invalid $ref \"%s\"", clip(ref, r, sizeof r));
        cur = ref_step(cur, tok, tl);
        p += n + 1;
    }
    if (!cur)
        return cfail(c, "unresolvable $ref \"%s\"", clip(ref, r, sizeof r));
    *out = cur;
    return 0;
}

static struct node *memo_find(const struct fg_schema *s, const json_t *src)
{
    for (size_t i = 0; i < s->all.n; i++)
        if (s->all.v[i]->src == src)
            return s->all.v[i];
    return NULL;
}

static int c_ref(struct cctx *c, struct node *n, const json_t *s)
{
    const json_t *r = json_object_get(s, "$ref");
    const json_t *t = NULL;
    if (!r)
        return 0;
    if (!json_is_string(r))
        return cfail(c, "$ref must be a string");
    if (resolve(c, json_string_value(r), &t))
        return -1;
    n->ref = memo_find(c->s, t);
    if (n->ref)
        return 0;
    char saved[sizeof c->ptr];
    size_t slen = c->plen;
    memcpy(saved, c->ptr, sizeof saved);
    c->plen = 0;
    ptr_add(c, json_string_value(r), json_string_length(r));
    n->ref = c_schema(c, t);
    memcpy(c->ptr, saved, sizeof saved);
    c->plen = slen;
    return n->ref ? 0 : -1;
}

/* ---- objects, arrays, strings, numbers, applicators --------------------- */

static int c_props(struct cctx *c, struct node *n, const json_t *s)
{
    const json_t *p = json_object_get(s, "properties");
    if (!p)
        return 0;
    if (!json_is_object(p))
        return cfail(c, "properties must be an object");
    n->props_src = p;
    n->props = fg_xcalloc(json_object_size(p) + 1, sizeof *n->props);
    size_t base = ptr_push(c, "properties");
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach((json_t *)p, k, kl, v)
    {
        size_t old = ptr_push(c, k);
        struct node *sub = c_schema(c, v);
        ptr_pop(c, old);
        if (!sub)
            return ptr_pop(c, base), -1;
        n->props[n->nprops++] = (struct prop){k, kl, sub};
    }
    ptr_pop(c, base);
    return 0;
}

static int c_pattern_props(struct cctx *c, struct node *n, const json_t *s)
{
    const json_t *p = json_object_get(s, "patternProperties");
    if (!p)
        return 0;
    if (!json_is_object(p))
        return cfail(c, "patternProperties must be an object");
    n->pprops = fg_xcalloc(json_object_size(p) + 1, sizeof *n->pprops);
    size_t base = ptr_push(c, "patternProperties");
    const char *k;
    json_t *v;
    int rc = 0;
    FOREACH(p, k, v)
    {
        size_t old = ptr_push(c, k);
        struct pprop *pp = &n->pprops[n->npprops++];
        json_t *key = json_string(k);
        pp->re = key ? c_regex(c, key) : NULL;
        json_decref(key);
        pp->n = pp->re ? c_schema(c, v) : NULL;
        ptr_pop(c, old);
        if (!pp->n) {
            rc = -1;
            break;
        }
    }
    ptr_pop(c, base);
    return rc;
}

static int c_required(struct cctx *c, struct node *n, const json_t *s)
{
    const json_t *r = json_object_get(s, "required");
    if (!r)
        return 0;
    if (!json_is_array(r))
        return cfail(c, "required must be an array of strings");
    n->req = fg_xcalloc(json_array_size(r) + 1, sizeof *n->req);
    for (size_t i = 0; i < json_array_size(r); i++) {
        const json_t *e = json_array_get(r, i);
        if (!json_is_string(e))
            return cfail(c, "required[%zu] must be a string", i);
        n->req[n->nreq++] = e;
    }
    return 0;
}

static int c_object(struct cctx *c, struct node *n, const json_t *s)
{
    if (c_props(c, n, s) || c_pattern_props(c, n, s) || c_required(c, n, s))
        return -1;
    if (c_kw(c, s, "additionalProperties", &n->addl))
        return -1;
    return c_count(c, s, "minProperties", &n->min_props) ||
                   c_count(c, s, "maxProperties", &n->max_props)
               ? -1
               : 0;
}

static int c_array(struct cctx *c, struct node *n, const json_t *s)
{
    const json_t *items = json_object_get(s, "items");
    if (json_is_array(items)) { /* draft 4 tuple form */
        size_t old = ptr_push(c, "items");
        int rc = c_array_of(c, items, &n->prefix);
        ptr_pop(c, old);
        if (rc || c_kw(c, s, "additionalItems", &n->items))
            return -1;
    } else {
        const json_t *pi = json_object_get(s, "prefixItems");
        if (pi && !json_is_array(pi))
            return cfail(c, "prefixItems must be an array of schemas");
        size_t old = ptr_push(c, "prefixItems");
        int rc = pi ? c_array_of(c, pi, &n->prefix) : 0;
        ptr_pop(c, old);
        if (rc || c_kw(c, s, "items", &n->items))
            return -1;
    }
    const json_t *u = json_object_get(s, "uniqueItems");
    if (u && !json_is_boolean(u))
        return cfail(c, "uniqueItems must be a boolean");
    n->unique = json_is_true(u);
    return c_count(c, s, "minItems", &n->min_items) || c_count(c, s, "maxItems", &n->max_items) ? -1
                                                                                                : 0;
}

static const struct {
    const char *name;
    enum fmt f;
    long chars; /* longest value, quotes included */
} FORMATS[] = {
    {"date-time", F_DATETIME, 40}, {"date", F_DATE, 12},    {"time", F_TIME, 28},
    {"duration", F_DURATION, 40},  {"email", F_EMAIL, 256}, {"hostname", F_HOSTNAME, 255},
    {"ipv4", F_IPV4, 17},          {"ipv6", F_IPV6, 47},    {"uuid", F_UUID, 38},
    {"uri", F_URI, 2050},
};
#define NFORMATS (sizeof FORMATS / sizeof FORMATS[0])

static int c_string(struct cctx *c, struct node *n, const json_t *s)
{
    if (c_count(c, s, "minLength", &n->min_len) || c_count(c, s, "maxLength", &n->max_len))
        return -1;
    const json_t *p = json_object_get(s, "pattern");
    if (p && !json_is_string(p))
        return cfail(c, "pattern must be a string");
    if (p) {
        n->pattern = json_string_value(p);
        if (!(n->re = c_regex(c, p)))
            return -1;
    }
    const json_t *f = json_object_get(s, "format");
    if (!json_is_string(f))
        return f ? cfail(c, "format must be a string") : 0;
    n->fmt_name = json_string_value(f);
    n->fmt = F_OTHER;
    for (size_t i = 0; i < NFORMATS; i++)
        if (strcmp(FORMATS[i].name, n->fmt_name) == 0)
            n->fmt = FORMATS[i].f;
    return 0;
}

static int c_number(struct cctx *c, struct node *n, const json_t *s)
{
    if (c_num(c, s, "minimum", &n->min) || c_num(c, s, "maximum", &n->max) ||
        c_num(c, s, "multipleOf", &n->mult))
        return -1;
    if (n->mult && !(json_number_value(n->mult) > 0))
        return cfail(c, "multipleOf must be greater than 0");
    const json_t *xmin = json_object_get(s, "exclusiveMinimum");
    const json_t *xmax = json_object_get(s, "exclusiveMaximum");
    if (json_is_boolean(xmin)) { /* draft 4 */
        if (json_is_true(xmin))
            n->xmin = n->min, n->min = NULL;
    } else if (c_num(c, s, "exclusiveMinimum", &n->xmin)) {
        return -1;
    }
    if (json_is_boolean(xmax)) {
        if (json_is_true(xmax))
            n->xmax = n->max, n->max = NULL;
    } else if (c_num(c, s, "exclusiveMaximum", &n->xmax)) {
        return -1;
    }
    return 0;
}

static int c_applicators(struct cctx *c, struct node *n, const json_t *s)
{
    if (c_list(c, s, "anyOf", &n->any_of) || c_list(c, s, "oneOf", &n->one_of) ||
        c_list(c, s, "allOf", &n->all_of))
        return -1;
    if (c_kw(c, s, "not", &n->not_) || c_kw(c, s, "if", &n->if_))
        return -1;
    return c_kw(c, s, "then", &n->then_) || c_kw(c, s, "else", &n->else_) ? -1 : 0;
}

static struct node *c_schema(struct cctx *c, const json_t *s)
{
    if (c->depth >= MAX_COMPILE_DEPTH) {
        cfail(c, "schema nested too deeply");
        return NULL;
    }
    struct node *n = new_node(c, s);
    if (json_is_boolean(s)) {
        n->boolean = json_is_true(s);
        return n;
    }
    if (!json_is_object(s)) {
        cfail(c, "a schema must be an object or a boolean");
        return NULL;
    }
    c->depth++;
    int rc = c_type(c, n, s) || c_values(c, n, s) || c_ref(c, n, s) || c_object(c, n, s) ||
             c_array(c, n, s) || c_string(c, n, s) || c_number(c, n, s) || c_applicators(c, n, s);
    c->depth--;
    return rc ? NULL : n;
}

/* ---- max_tokens (computed once, at compile time) ------------------------ */

struct mt {
    bool recursive;
};

static long long mt_node(struct mt *m, struct node *n);

static long long sat_add(long long a, long long b)
{
    return a + b > MT_CAP ? MT_CAP : a + b;
}

static long long sat_mul(long long a, long long b)
{
    return b && a > MT_CAP / b ? MT_CAP : a * b;
}

/* min over bounded values (-1 = unbounded). */
static long long mt_min(long long a, long long b)
{
    if (a < 0)
        return b;
    return b < 0 || a < b ? a : b;
}

static long long mt_dump(const json_t *v)
{
    return (long long)json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

static long long mt_keylen(const char *k, size_t n)
{
    long long len = 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)k[i];
        len += ch == '"' || ch == '\\' ? 2 : ch < 0x20 ? 6 : 1;
    }
    return len;
}

static long long mt_intlen(const struct node *n)
{
    const json_t *lo = n->min ? n->min : n->xmin, *hi = n->max ? n->max : n->xmax;
    if (!lo || !hi)
        return 20;
    char a[64], b[64];
    int la = snprintf(a, sizeof a, "%.0f", ceil(json_number_value(lo)));
    int lb = snprintf(b, sizeof b, "%.0f", floor(json_number_value(hi)));
    long long l = la > lb ? la : lb;
    return l > 20 ? 20 : l;
}

static long long mt_string(const struct node *n)
{
    long long best = n->max_len >= 0 ? n->max_len + 2 : MT_UNB;
    for (size_t i = 0; i < NFORMATS; i++)
        if (n->fmt == FORMATS[i].f)
            best = mt_min(best, FORMATS[i].chars);
    return best;
}

static long long mt_array(struct mt *m, const struct node *n)
{
    long long cnt = n->max_items;
    bool closed = n->items && n->items->boolean == 0;
    if (closed && (cnt < 0 || (size_t)cnt > n->prefix.n))
        cnt = (long long)n->prefix.n;
    if (cnt < 0)
        return MT_UNB;
    long long sum = 0, k = 0;
    for (size_t i = 0; i < n->prefix.n && k < cnt; i++, k++) {
        long long l = mt_node(m, n->prefix.v[i]);
        if (l < 0 || n->prefix.v[i]->boolean == 0)
            return l < 0 ? MT_UNB : 2 + sum + (k ? k - 1 : 0);
        sum = sat_add(sum, l);
    }
    if (k < cnt) {
        long long l = n->items ? mt_node(m, n->items) : MT_UNB;
        if (l < 0)
            return MT_UNB;
        sum = sat_add(sum, sat_mul(cnt - k, l));
        k = cnt;
    }
    return sat_add(2 + sum, k ? k - 1 : 0);
}

static long long mt_object(struct mt *m, const struct node *n)
{
    if (!n->addl || n->addl->boolean != 0 || n->npprops)
        return MT_UNB;
    long long sum = 2, k = 0;
    for (size_t i = 0; i < n->nprops; i++) {
        if (n->props[i].n->boolean == 0)
            continue;
        long long l = mt_node(m, n->props[i].n);
        if (l < 0)
            return MT_UNB;
        sum = sat_add(sum, mt_keylen(n->props[i].name, n->props[i].len) + 1 + l);
        k++;
    }
    return sat_add(sum, k ? k - 1 : 0);
}

static long long mt_type(struct mt *m, const struct node *n, unsigned bit)
{
    switch (bit) {
    case T_NULL: return 4;
    case T_BOOL: return 5;
    case T_INT: return mt_intlen(n);
    case T_NUM: return 24;
    case T_STR: return mt_string(n);
    case T_ARR: return mt_array(m, n);
    default: return mt_object(m, n);
    }
}

static long long mt_types(struct mt *m, const struct node *n)
{
    if (!n->types)
        return MT_UNB;
    long long best = 0;
    for (size_t i = 0; i < NTYPES; i++) {
        if (!(n->types & TYPES[i].bit))
            continue;
        long long l = mt_type(m, n, TYPES[i].bit);
        if (l < 0)
            return MT_UNB;
        best = l > best ? l : best;
    }
    return best;
}

static long long mt_union(struct mt *m, const struct nodes *l)
{
    long long best = 0;
    for (size_t i = 0; i < l->n; i++) {
        long long x = mt_node(m, l->v[i]);
        if (x < 0)
            return MT_UNB;
        best = x > best ? x : best;
    }
    return l->n ? best : MT_UNB;
}

static long long mt_values(const struct node *n)
{
    long long best = n->const_ ? mt_dump(n->const_) : MT_UNB;
    if (n->enum_) {
        long long e = 0;
        for (size_t i = 0; i < json_array_size(n->enum_); i++) {
            long long l = mt_dump(json_array_get(n->enum_, i));
            e = l > e ? l : e;
        }
        best = mt_min(best, e);
    }
    return best;
}

static long long mt_node(struct mt *m, struct node *n)
{
    if (n->boolean >= 0)
        return n->boolean ? MT_UNB : 0;
    if (n->mt_state == 1) {
        m->recursive = true;
        return MT_UNB;
    }
    if (n->mt_state == 2)
        return n->mt_val;
    n->mt_state = 1;
    long long best = mt_min(mt_values(n), mt_types(m, n));
    if (n->ref)
        best = mt_min(best, mt_node(m, n->ref));
    for (size_t i = 0; i < n->all_of.n; i++)
        best = mt_min(best, mt_node(m, n->all_of.v[i]));
    best = mt_min(best, mt_union(m, &n->any_of));
    best = mt_min(best, mt_union(m, &n->one_of));
    n->mt_state = 2;
    n->mt_val = best;
    return best;
}

static long max_tokens_of(struct node *top)
{
    struct mt m = {false};
    long long chars = mt_node(&m, top);
    if (m.recursive || chars < 0)
        return -1;
    return (long)((chars + 2) / 3);
}

/* ---- schema objects ----------------------------------------------------- */

static void node_free(struct node *n)
{
    for (size_t i = 0; i < n->npprops; i++)
        pcre2_code_free(n->pprops[i].re);
    pcre2_code_free(n->re);
    free(n->props);
    free(n->pprops);
    free(n->req);
    free(n->prefix.v);
    free(n->any_of.v);
    free(n->one_of.v);
    free(n->all_of.v);
    free(n);
}

static void schema_destroy(struct fg_schema *s)
{
    for (size_t i = 0; i < s->all.n; i++)
        node_free(s->all.v[i]);
    free(s->all.v);
    json_decref(s->root);
    free(s);
}

/* Takes ownership of root. */
static struct fg_schema *compile_root(json_t *root, char *err, size_t errlen)
{
    struct fg_schema *s = fg_xcalloc(1, sizeof *s);
    struct cctx c = {.s = s, .ptr = "#", .plen = 1, .err = err, .errlen = errlen};
    s->root = root;
    atomic_init(&s->refs, 1);
    s->top = c_schema(&c, root);
    if (!s->top) {
        schema_destroy(s);
        return NULL;
    }
    s->max_tokens = max_tokens_of(s->top);
    return s;
}

static json_t *parse_schema(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = text ? load_json(text, len, &je) : NULL;
    if (!root && err && errlen)
        snprintf(err, errlen, "schema is not JSON: %s (line %d, column %d)",
                 text ? je.text : "no text", text ? je.line : 0, text ? je.column : 0);
    return root;
}

struct fg_schema *fg_schema_compile(const char *text, size_t len, char *err, size_t errlen)
{
    json_t *root = parse_schema(text, len, err, errlen);
    return root ? compile_root(root, err, errlen) : NULL;
}

void fg_schema_release(struct fg_schema *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        schema_destroy(s);
}

void fg_schema_free(struct fg_schema *s)
{
    fg_schema_release(s);
}

long fg_schema_max_tokens(const struct fg_schema *s)
{
    return s ? s->max_tokens : -1;
}

/* ---- formats ------------------------------------------------------------ */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool fmt_date(const char *s, size_t n)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) || !all_digits(s + 5, 2) ||
        !all_digits(s + 8, 2))
        return false;
    int y = num2(s) * 100 + num2(s + 2), m = num2(s + 5), d = num2(s + 8);
    if (m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= dim[m - 1] + (m == 2 && leap);
}

/* Offset "Z" or "+HH:MM" at s[0..n); *mins = signed offset in minutes. */
static bool time_offset(const char *s, size_t n, int *mins)
{
    *mins = 0;
    if (n == 1 && (s[0] == 'Z' || s[0] == 'z'))
        return true;
    if (n != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !all_digits(s + 1, 2) ||
        !all_digits(s + 4, 2))
        return false;
    int h = num2(s + 1), m = num2(s + 4);
    *mins = (s[0] == '+' ? 1 : -1) * (h * 60 + m);
    return h <= 23 && m <= 59;
}

static bool fmt_time(const char *s, size_t n)
{
    if (n < 9 || s[2] != ':' || s[5] != ':' || !all_digits(s, 2) || !all_digits(s + 3, 2) ||
        !all_digits(s + 6, 2))
        return false;
    int h = num2(s), m = num2(s + 3), sec = num2(s + 6), off;
    size_t i = 8;
    if (s[i] == '.') {
        size_t st = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == st)
            return false;
    }
    if (h > 23 || m > 59 || sec > 60 || !time_offset(s + i, n - i, &off))
        return false;
    if (sec < 60)
        return true;
    int utc = ((h * 60 + m - off) % 1440 + 1440) % 1440; /* leap second: 23:59:60Z */
    return utc == 23 * 60 + 59;
}

static bool fmt_datetime(const char *s, size_t n)
{
    return n > 11 && fmt_date(s, 10) && (s[10] == 'T' || s[10] == 't') && fmt_time(s + 11, n - 11);
}

/* One duration component "<digits><unit>" with unit in units, after *last. */
static bool dur_part(const char *s, size_t n, size_t *i, const char *units, int *last)
{
    size_t st = *i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9')
        (*i)++;
    if (*i == st || *i >= n)
        return false;
    const char *u = strchr(units, s[*i]);
    if (!u || s[*i] == '\0' || (int)(u - units) <= *last)
        return false;
    *last = (int)(u - units);
    (*i)++;
    return true;
}

static bool fmt_duration(const char *s, size_t n)
{
    size_t i = 1;
    int last = -1;
    if (n < 3 || s[0] != 'P')
        return false;
    if (s[n - 1] == 'W')
        return all_digits(s + 1, n - 2);
    while (i < n && s[i] != 'T')
        if (!dur_part(s, n, &i, "YMD", &last))
            return false;
    if (i == n)
        return true;
    i++; /* 'T' */
    last = -1;
    if (i == n)
        return false;
    while (i < n)
        if (!dur_part(s, n, &i, "HMS", &last))
            return false;
    return true;
}

static bool fmt_hostname(const char *s, size_t n)
{
    size_t lab = 0;
    char prev = '.';
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (lab == 0 || prev == '-')
                return false;
            lab = 0;
        } else if (isalnum((unsigned char)ch) || ch == '-') {
            if ((lab == 0 && ch == '-') || ++lab > 63)
                return false;
        } else {
            return false;
        }
        prev = ch;
    }
    return lab > 0 && prev != '-';
}

static bool fmt_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t st = i;
        int v = 0;
        while (i < n && i - st < 3 && s[i] >= '0' && s[i] <= '9')
            v = v * 10 + (s[i++] - '0');
        if (i == st || (i - st > 1 && s[st] == '0') || v > 255)
            return false;
        if (part < 3 && (i >= n || s[i++] != '.'))
            return false;
    }
    return i == n;
}

static bool fmt_ipv6(const char *s, size_t n)
{
    char buf[64];
    struct in6_addr a;
    if (n < 2 || n >= sizeof buf)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
            return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

static bool fmt_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static bool email_local(const char *s, size_t n)
{
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        for (size_t i = 1; i + 1 < n; i++) {
            if (s[i] == '\\' && i + 2 < n)
                i++;
            else if (s[i] == '"' || s[i] == '\\' || s[i] < 32 || s[i] > 126)
                return false;
        }
        return true;
    }
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.' ? s[i + 1] == '.' : !(isalnum(ch) || strchr("!#$%&'*+-/=?^_`{|}~", ch)))
            return false;
    }
    return true;
}

static bool fmt_email(const char *s, size_t n)
{
    size_t at = n;
    while (at > 0 && s[at - 1] != '@')
        at--;
    if (at < 2 || at > 65 || at == n || !email_local(s, at - 1))
        return false;
    const char *d = s + at;
    size_t dl = n - at;
    if (d[0] != '[')
        return fmt_hostname(d, dl);
    if (dl < 3 || d[dl - 1] != ']')
        return false;
    if (dl > 7 && memcmp(d + 1, "IPv6:", 5) == 0)
        return fmt_ipv6(d + 6, dl - 7);
    return fmt_ipv4(d + 1, dl - 2);
}

static bool uri_char(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("-._~:/?#[]@!$&'()*+,;=", ch));
}

/* Authority a[0..n): [userinfo@]host[:port]; brackets only around an IPv6 host. */
static bool uri_authority(const char *a, size_t n)
{
    size_t h = n;
    while (h > 0 && a[h - 1] != '@')
        h--;
    if (memchr(a, '[', h) || memchr(a, ']', h))
        return false;
    const char *host = a + h, *port;
    size_t hl = n - h;
    if (hl && host[0] == '[') {
        const char *close = memchr(host, ']', hl);
        if (!close)
            return false;
        port = close + 1;
    } else {
        if (memchr(host, '[', hl) || memchr(host, ']', hl))
            return false;
        port = memchr(host, ':', hl);
        port = port ? port : host + hl;
    }
    size_t pl = (size_t)(host + hl - port);
    return pl == 0 || (port[0] == ':' && all_digits(port + 1, pl - 1));
}

static bool fmt_uri(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !isalpha((unsigned char)s[0]))
        return false;
    while (i < n && (isalnum((unsigned char)s[i]) || strchr("+-.", s[i])) && s[i])
        i++;
    if (i >= n || s[i] != ':')
        return false;
    size_t as = i + 1, ae = as;
    if (n - as >= 2 && s[as] == '/' && s[as + 1] == '/') {
        as += 2;
        for (ae = as; ae < n && !strchr("/?#", s[ae]); ae++) {
        }
        if (!uri_authority(s + as, ae - as))
            return false;
    }
    for (size_t j = i + 1; j < n; j++) {
        unsigned char ch = (unsigned char)s[j];
        if (ch == '%') {
            if (j + 2 >= n || hexval((unsigned char)s[j + 1]) < 0 ||
                hexval((unsigned char)s[j + 2]) < 0)
                return false;
            j += 2;
        } else if (!uri_char(ch) || ((ch == '[' || ch == ']') && (j < as || j >= ae))) {
            return false;
        }
    }
    return true;
}

static bool fmt_ok(enum fmt f, const char *s, size_t n)
{
    switch (f) {
    case F_DATETIME: return fmt_datetime(s, n);
    case F_DATE: return fmt_date(s, n);
    case F_TIME: return fmt_time(s, n);
    case F_DURATION: return fmt_duration(s, n);
    case F_EMAIL: return fmt_email(s, n);
    case F_HOSTNAME: return fmt_hostname(s, n);
    case F_IPV4: return fmt_ipv4(s, n);
    case F_IPV6: return fmt_ipv6(s, n);
    case F_UUID: return fmt_uuid(s, n);
    case F_URI: return fmt_uri(s, n);
    default: return true;
    }
}

/* ---- validation --------------------------------------------------------- */

struct verr {
    struct fg_schema_error e;
    int depth;
};

struct vctx {
    char path[256];
    size_t plen;
    int seg;  /* path depth */
    int nest; /* schema applications on the stack */
    struct verr err;
};

__attribute__((format(printf, 2, 3))) static int vfail(struct vctx *c, const char *fmt, ...)
{
    va_list ap;
    memcpy(c->err.e.path, c->path, sizeof c->path);
    utf8_trim(c->err.e.path);
    va_start(ap, fmt);
    vsnprintf(c->err.e.msg, sizeof c->err.e.msg, fmt, ap);
    va_end(ap);
    utf8_trim(c->err.e.msg);
    c->err.depth = c->seg;
    return -1;
}

static void vadd(struct vctx *c, const char *s, size_t n)
{
    size_t room = sizeof c->path - 1 - c->plen;
    if (n > room)
        n = room;
    memcpy(c->path + c->plen, s, n);
    c->plen += n;
    c->path[c->plen] = '\0';
}

static bool ident(const char *k, size_t n)
{
    if (n == 0 || isdigit((unsigned char)k[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '$')
            return false;
    return true;
}

static size_t vpush_key(struct vctx *c, const char *k, size_t n)
{
    size_t old = c->plen;
    c->seg++;
    if (ident(k, n)) {
        vadd(c, ".", 1);
        vadd(c, k, n);
        return old;
    }
    vadd(c, "[\"", 2);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)k[i];
        char esc[8];
        if (ch == '"' || ch == '\\')
            vadd(c, "\\", 1), vadd(c, k + i, 1);
        else if (ch < 0x20)
            vadd(c, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", ch));
        else
            vadd(c, k + i, 1);
    }
    vadd(c, "\"]", 2);
    return old;
}

static size_t vpush_idx(struct vctx *c, size_t i)
{
    char b[32];
    size_t old = c->plen;
    c->seg++;
    vadd(c, b, (size_t)snprintf(b, sizeof b, "[%zu]", i));
    return old;
}

static void vpop(struct vctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
    c->seg--;
}

static int v_node(struct vctx *c, const struct node *n, const json_t *v);

static int v_at_key(struct vctx *c, const struct node *n, const json_t *v, const char *k, size_t kl)
{
    char b[72];
    size_t old = vpush_key(c, k, kl);
    int rc = n->boolean == 0 ? vfail(c, "property \"%s\" is not allowed", clip(k, b, sizeof b))
                             : v_node(c, n, v);
    vpop(c, old);
    return rc;
}

static int re_match(const pcre2_code *re, const char *s, size_t n)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md)
        return -1;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* patternProperties and additionalProperties for one member. */
static int v_extra_member(struct vctx *c, const struct node *n, const char *k, size_t kl,
                          const json_t *pv)
{
    bool matched = n->props_src && json_object_getn(n->props_src, k, kl);
    for (size_t i = 0; i < n->npprops; i++) {
        int m = re_match(n->pprops[i].re, k, kl);
        if (m < 0)
            return vfail(c, "pattern %s could not be evaluated", "of patternProperties");
        if (m && v_at_key(c, n->pprops[i].n, pv, k, kl))
            return -1;
        matched |= m;
    }
    return !matched && n->addl ? v_at_key(c, n->addl, pv, k, kl) : 0;
}

static int v_object(struct vctx *c, const struct node *n, const json_t *v)
{
    for (size_t i = 0; i < n->nprops; i++) {
        const json_t *pv = json_object_getn(v, n->props[i].name, n->props[i].len);
        if (pv && v_at_key(c, n->props[i].n, pv, n->props[i].name, n->props[i].len))
            return -1;
    }
    if (n->npprops || n->addl) {
        const char *k;
        size_t kl;
        json_t *pv;
        json_object_keylen_foreach((json_t *)v, k, kl, pv)
        {
            if (v_extra_member(c, n, k, kl, pv))
                return -1;
        }
    }
    char b[72];
    for (size_t i = 0; i < n->nreq; i++)
        if (!json_object_getn(v, json_string_value(n->req[i]), json_string_length(n->req[i])))
            return vfail(c, "missing required property \"%s\"",
                         clip(json_string_value(n->req[i]), b, sizeof b));
    size_t size = json_object_size(v);
    if (n->min_props >= 0 && size < (size_t)n->min_props)
        return vfail(c, "expected at least %ld properties, got %zu", n->min_props, size);
    if (n->max_props >= 0 && size > (size_t)n->max_props)
        return vfail(c, "expected at most %ld properties, got %zu", n->max_props, size);
    return 0;
}

static int v_items(struct vctx *c, const struct node *n, const json_t *v)
{
    for (size_t i = 0; i < json_array_size(v); i++) {
        const struct node *is = i < n->prefix.n ? n->prefix.v[i] : n->items;
        if (!is)
            continue;
        size_t old = vpush_idx(c, i);
        int rc = is->boolean == 0 ? vfail(c, "item not allowed (at most %zu items)",
                                          i < n->prefix.n ? i : n->prefix.n)
                                  : v_node(c, is, json_array_get(v, i));
        vpop(c, old);
        if (rc)
            return -1;
    }
    return 0;
}

static int v_array(struct vctx *c, const struct node *n, const json_t *v)
{
    size_t size = json_array_size(v);
    if (v_items(c, n, v))
        return -1;
    if (n->min_items >= 0 && size < (size_t)n->min_items)
        return vfail(c, "expected at least %ld items, got %zu", n->min_items, size);
    if (n->max_items >= 0 && size > (size_t)n->max_items)
        return vfail(c, "expected at most %ld items, got %zu", n->max_items, size);
    for (size_t i = 0; n->unique && i < size; i++)
        for (size_t j = i + 1; j < size; j++)
            if (jeq(json_array_get(v, i), json_array_get(v, j)))
                return vfail(c, "items %zu and %zu are equal (uniqueItems)", i, j);
    return 0;
}

static int v_string(struct vctx *c, const struct node *n, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t bl = json_string_length(v);
    if (n->min_len >= 0 || n->max_len >= 0) {
        size_t cp = utf8_count(s, bl);
        if (n->min_len >= 0 && cp < (size_t)n->min_len)
            return vfail(c, "expected at least %ld characters, got %zu", n->min_len, cp);
        if (n->max_len >= 0 && cp > (size_t)n->max_len)
            return vfail(c, "expected at most %ld characters, got %zu", n->max_len, cp);
    }
    if (n->re) {
        char p[168];
        int m = re_match(n->re, s, bl);
        if (m <= 0)
            return vfail(c, m ? "pattern %s could not be evaluated" : "does not match pattern %s",
                         clip(n->pattern, p, sizeof p));
    }
    if (!fmt_ok(n->fmt, s, bl))
        return vfail(c, "not a valid %s", n->fmt_name);
    return 0;
}

static bool multiple_ok(const json_t *v, const json_t *m)
{
    if (json_is_integer(v) && json_is_integer(m)) /* m > 0 (checked at compile) */
        return json_integer_value(v) % json_integer_value(m) == 0;
    double q = json_number_value(v) / json_number_value(m);
    if (!isfinite(q))
        return false;
    /* 0.3 / 0.1 = 2.9999999999999996: accept within a relative 1e-12 */
    return fabs(q - nearbyint(q)) <= 1e-12 * fmax(1.0, fabs(q));
}

static int v_number(struct vctx *c, const struct node *n, const json_t *v)
{
    char a[40], b[40];
    if (n->min && num_cmp(v, n->min) < 0)
        return vfail(c, "expected >= %s, got %s", numstr(n->min, a, sizeof a),
                     numstr(v, b, sizeof b));
    if (n->xmin && num_cmp(v, n->xmin) <= 0)
        return vfail(c, "expected > %s, got %s", numstr(n->xmin, a, sizeof a),
                     numstr(v, b, sizeof b));
    if (n->max && num_cmp(v, n->max) > 0)
        return vfail(c, "expected <= %s, got %s", numstr(n->max, a, sizeof a),
                     numstr(v, b, sizeof b));
    if (n->xmax && num_cmp(v, n->xmax) >= 0)
        return vfail(c, "expected < %s, got %s", numstr(n->xmax, a, sizeof a),
                     numstr(v, b, sizeof b));
    if (n->mult && !multiple_ok(v, n->mult))
        return vfail(c, "expected a multiple of %s, got %s", numstr(n->mult, a, sizeof a),
                     numstr(v, b, sizeof b));
    return 0;
}

static int v_values(struct vctx *c, const struct node *n, const json_t *v)
{
    char buf[120];
    if (n->const_ && !jeq(n->const_, v))
        return vfail(c, "expected the constant %s", jshort(n->const_, buf, sizeof buf));
    if (!n->enum_)
        return 0;
    for (size_t i = 0; i < json_array_size(n->enum_); i++)
        if (jeq(json_array_get(n->enum_, i), v))
            return 0;
    return vfail(c, "expected one of %s", jshort(n->enum_, buf, sizeof buf));
}

/* The failure of a list of alternatives: the deepest branch error, or a
 * summary at this value. */
static int v_none(struct vctx *c, const struct verr *best, const char *kw)
{
    if (best->depth > c->seg) {
        c->err = *best;
        return -1;
    }
    char b[sizeof best->e.msg];
    return vfail(c, "matches no %s branch (%s)", kw, clip(best->e.msg, b, 200));
}

static int v_any(struct vctx *c, const struct nodes *l, const json_t *v)
{
    struct verr best = {.depth = -1};
    for (size_t i = 0; i < l->n; i++) {
        if (v_node(c, l->v[i], v) == 0)
            return 0;
        if (c->err.depth > best.depth)
            best = c->err;
    }
    return v_none(c, &best, "anyOf");
}

static int v_one(struct vctx *c, const struct nodes *l, const json_t *v)
{
    struct verr best = {.depth = -1};
    size_t hits = 0, first = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (v_node(c, l->v[i], v) == 0) {
            if (hits++)
                return vfail(c, "matches oneOf branches %zu and %zu (exactly one expected)", first,
                             i);
            first = i;
        } else if (c->err.depth > best.depth) {
            best = c->err;
        }
    }
    return hits ? 0 : v_none(c, &best, "oneOf");
}

static int v_applicators(struct vctx *c, const struct node *n, const json_t *v)
{
    for (size_t i = 0; i < n->all_of.n; i++)
        if (v_node(c, n->all_of.v[i], v))
            return -1;
    if (n->any_of.n && v_any(c, &n->any_of, v))
        return -1;
    if (n->one_of.n && v_one(c, &n->one_of, v))
        return -1;
    if (n->not_ && v_node(c, n->not_, v) == 0)
        return vfail(c, "must not match the \"not\" schema");
    if (!n->if_)
        return 0;
    const struct node *next = v_node(c, n->if_, v) == 0 ? n->then_ : n->else_;
    return next ? v_node(c, next, v) : 0;
}

static int v_by_type(struct vctx *c, const struct node *n, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return v_object(c, n, v);
    case JSON_ARRAY: return v_array(c, n, v);
    case JSON_STRING: return v_string(c, n, v);
    case JSON_INTEGER:
    case JSON_REAL: return v_number(c, n, v);
    default: return 0;
    }
}

static int v_keywords(struct vctx *c, const struct node *n, const json_t *v)
{
    char want[64];
    if (n->types && !(type_of(v) & n->types))
        return vfail(c, "expected %s, got %s", types_str(n->types, want, sizeof want),
                     type_name(v));
    if (n->ref && v_node(c, n->ref, v))
        return -1;
    if (v_by_type(c, n, v) || v_values(c, n, v))
        return -1;
    return v_applicators(c, n, v);
}

static int v_node(struct vctx *c, const struct node *n, const json_t *v)
{
    if (n->boolean >= 0)
        return n->boolean ? 0 : vfail(c, "no value is allowed here");
    if (c->nest >= MAX_NEST)
        return vfail(c, "document nested too deeply for this schema");
    c->nest++;
    int rc = v_keywords(c, n, v);
    c->nest--;
    return rc;
}

int fg_schema_validate_json(const struct fg_schema *s, const json_t *doc, struct fg_schema_error *e)
{
    struct vctx c = {.path = "$", .plen = 1};
    if (!s || !doc) {
        if (e)
            snprintf(e->path, sizeof e->path, "$"),
                snprintf(e->msg, sizeof e->msg, "no schema or document");
        return -1;
    }
    int rc = v_node(&c, s->top, doc);
    if (rc && e)
        *e = c.err.e;
    return rc ? -1 : 0;
}

int fg_schema_validate(const struct fg_schema *s, const char *doc, size_t len,
                       struct fg_schema_error *e)
{
    json_error_t je;
    json_t *v = doc ? load_json(doc, len, &je) : NULL;
    if (!v) {
        if (e) {
            snprintf(e->path, sizeof e->path, "$");
            snprintf(e->msg, sizeof e->msg, "not JSON: %s (line %d, column %d, byte %d)",
                     doc ? je.text : "no document", doc ? je.line : 0, doc ? je.column : 0,
                     doc ? je.position : 0);
        }
        return -2;
    }
    int rc = fg_schema_validate_json(s, v, e);
    json_decref(v);
    return rc;
}

/* ---- cache -------------------------------------------------------------- */

struct centry {
    uint64_t hash, used;
    char *canon;
    struct fg_schema *s;
};

static struct {
    pthread_mutex_t mu;
    struct centry e[FG_SCHEMA_CACHE_MAX];
    size_t n;
    uint64_t tick;
} g_schema_cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t hash64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    h ^= h >> 33; /* murmur3 finaliser */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* Under the lock: the cached schema for (hash, canon) with a new reference. */
static struct fg_schema *cache_hit(uint64_t h, const char *canon)
{
    for (size_t i = 0; i < g_schema_cache.n; i++) {
        struct centry *ce = &g_schema_cache.e[i];
        if (ce->hash == h && strcmp(ce->canon, canon) == 0) {
            ce->used = ++g_schema_cache.tick;
            atomic_fetch_add(&ce->s->refs, 1);
            return ce->s;
        }
    }
    return NULL;
}

static void cache_drop(size_t i)
{
    fg_schema_release(g_schema_cache.e[i].s);
    free(g_schema_cache.e[i].canon);
    g_schema_cache.e[i] = g_schema_cache.e[--g_schema_cache.n];
}

/* Under the lock: add s (takes canon; the cache takes its own reference). */
static void cache_put(uint64_t h, char *canon, struct fg_schema *s)
{
    if (g_schema_cache.n == FG_SCHEMA_CACHE_MAX) {
        size_t lru = 0;
        for (size_t i = 1; i < g_schema_cache.n; i++)
            if (g_schema_cache.e[i].used < g_schema_cache.e[lru].used)
                lru = i;
        cache_drop(lru);
    }
    atomic_fetch_add(&s->refs, 1);
    g_schema_cache.e[g_schema_cache.n++] = (struct centry){h, ++g_schema_cache.tick, canon, s};
}

struct fg_schema *fg_schema_get(const char *text, size_t len, char *err, size_t errlen)
{
    json_t *root = parse_schema(text, len, err, errlen);
    if (!root)
        return NULL;
    char *canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!canon) { /* out of memory: compile without caching */
        return compile_root(root, err, errlen);
    }
    uint64_t h = hash64(canon, strlen(canon));
    pthread_mutex_lock(&g_schema_cache.mu);
    struct fg_schema *s = cache_hit(h, canon);
    pthread_mutex_unlock(&g_schema_cache.mu);
    if (s) {
        json_decref(root);
        free(canon);
        return s;
    }
    struct fg_schema *fresh = compile_root(root, err, errlen);
    if (!fresh) {
        free(canon);
        return NULL;
    }
    pthread_mutex_lock(&g_schema_cache.mu);
    s = cache_hit(h, canon); /* another thread may have won */
    if (!s)
        cache_put(h, canon, s = fresh), canon = NULL, fresh = NULL;
    pthread_mutex_unlock(&g_schema_cache.mu);
    free(canon);
    fg_schema_release(fresh);
    return s;
}

void fg_schema_cache_shutdown(void)
{
    pthread_mutex_lock(&g_schema_cache.mu);
    while (g_schema_cache.n)
        cache_drop(g_schema_cache.n - 1);
    pthread_mutex_unlock(&g_schema_cache.mu);
}

size_t fg_schema_cache_size(void)
{
    pthread_mutex_lock(&g_schema_cache.mu);
    size_t n = g_schema_cache.n;
    pthread_mutex_unlock(&g_schema_cache.mu);
    return n;
}

struct fg_schema *fg_schema_any_object(void)
{
    static const char any[] = "{\"type\":\"object\"}";
    return fg_schema_get(any, sizeof any - 1, NULL, 0);
}

/* ---- rewriting for a target --------------------------------------------- */

struct drops {
    char v[48][40];
    size_t n;
};

static void drop(struct drops *d, const char *what)
{
    for (size_t i = 0; i < d->n; i++)
        if (strncmp(d->v[i], what, sizeof d->v[i] - 1) == 0)
            return;
    if (d->n < sizeof d->v / sizeof d->v[0]) {
        snprintf(d->v[d->n], sizeof d->v[0], "%s", what);
        utf8_trim(d->v[d->n++]);
    }
}

static void drops_join(const struct drops *d, char *out, size_t n)
{
    if (!out || !n)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < d->n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, n - used, "%s%s", i ? ", " : "", d->v[i]);
    }
    utf8_trim(out);
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static bool type_has(const json_t *s, const char *name)
{
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t))
        return strcmp(json_string_value(t), name) == 0;
    for (size_t i = 0; i < json_array_size(t); i++)
        if (json_is_string(json_array_get(t, i)) &&
            strcmp(json_string_value(json_array_get(t, i)), name) == 0)
            return true;
    return false;
}

/* Whether s is (also) an object / array / string schema. */
static bool shaped(const json_t *s, const char *type, const char *hint)
{
    return type_has(s, type) || (!json_object_get(s, "type") && json_object_get(s, hint));
}

typedef json_t *(*xform_fn)(const json_t *s, struct drops *d);

static json_t *map_schemas(const json_t *m, xform_fn f, struct drops *d)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    if (json_is_object(m))
        FOREACH(m, k, v) json_object_set_new(out, k, f(v, d));
    return out;
}

static json_t *list_schemas(const json_t *a, xform_fn f, struct drops *d)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(a); i++)
        json_array_append_new(out, f(json_array_get(a, i), d));
    return out;
}

/* ---- OpenAI strict ---- */

static const char *const OA_KEEP[] = {
    "type",
    "enum",
    "const",
    "description",
    "title",
    "$ref",
    "pattern",
    "multipleOf",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    NULL,
};
static const char *const OA_FORMATS[] = {
    "date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid", NULL,
};
static const char *const AN_FORMATS[] = {
    "date-time", "time", "date", "duration", "email", "hostname",
    "uri",       "ipv4", "ipv6", "uuid",     NULL,
};

static json_t *oa_schema(const json_t *s, struct drops *d);

static bool allows_null(const json_t *p)
{
    static const char *const narrowing[] = {"type", "enum", "const", "$ref", "anyOf", NULL};
    const char *k;
    json_t *v;
    bool untyped = true;
    if (!json_is_object(p) || type_has(p, "null"))
        return true;
    FOREACH(p, k, v) untyped &= !in_list(narrowing, k);
    if (untyped)
        return true;
    const json_t *any = json_object_get(p, "anyOf");
    for (size_t i = 0; i < json_array_size(any); i++)
        if (type_has(json_array_get(any, i), "null"))
            return true;
    return false;
}

/* p (a transformed property schema) made to accept null; new reference. */
static json_t *nullable(json_t *p)
{
    if (allows_null(p))
        return json_incref(p);
    json_t *t = json_object_get(p, "type"), *any = json_object_get(p, "anyOf");
    bool plain = !json_object_get(p, "$ref") && !json_object_get(p, "const");
    if (plain && t && !any) {
        json_t *q = json_deep_copy(p),
               *types = json_is_array(t) ? json_deep_copy(t) : json_pack("[O]", t);
        json_array_append_new(types, json_string("null"));
        json_object_set_new(q, "type", types);
        json_t *en = json_object_get(q, "enum");
        if (json_is_array(en))
            json_array_append_new(en, json_null());
        return q;
    }
    if (plain && any && !t) {
        json_t *q = json_deep_copy(p);
        json_array_append_new(json_object_get(q, "anyOf"), json_pack("{s:s}", "type", "null"));
        return q;
    }
    return json_pack("{s:[O,{s:s}]}", "anyOf", p, "type", "null");
}

static bool listed(const json_t *arr, const char *k)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (json_is_string(json_array_get(arr, i)) &&
            strcmp(json_string_value(json_array_get(arr, i)), k) == 0)
            return true;
    return false;
}

static void oa_close_object(json_t *out, const json_t *src, struct drops *d)
{
    const json_t *ap = json_object_get(src, "additionalProperties");
    const json_t *oreq = json_object_get(src, "required");
    if (ap && !json_is_false(ap))
        drop(d, "additionalProperties");
    json_object_set_new(out, "additionalProperties", json_false());
    json_t *props = json_object_get(out, "properties");
    if (!props)
        json_object_set_new(out, "properties", props = json_object());
    json_t *req = json_array();
    const char *k;
    json_t *v;
    FOREACH(props, k, v)
    {
        json_array_append_new(req, json_string(k));
        if (!listed(oreq, k)) {
            json_object_set_new(props, k, nullable(v));
            drop(d, "optional->nullable");
        }
    }
    json_object_set_new(out, "required", req);
}

/* A one-element allOf merged into its parent (new object), or NULL. */
static json_t *oa_inline_allof(const json_t *s)
{
    const json_t *a = json_object_get(s, "allOf");
    if (!json_is_array(a) || json_array_size(a) != 1 || !json_is_object(json_array_get(a, 0)))
        return NULL;
    json_t *m = json_copy((json_t *)s);
    json_object_del(m, "allOf");
    const char *k;
    json_t *v;
    FOREACH(json_array_get(a, 0), k, v)
    {
        if (!json_object_get(m, k))
            json_object_set(m, k, v);
    }
    return m;
}

static void oa_key(json_t *out, const json_t *src, const char *k, json_t *v, struct drops *d)
{
    if (in_list(OA_KEEP, k)) {
        json_object_set_new(out, k, json_deep_copy(v));
    } else if (strcmp(k, "format") == 0) {
        if (json_is_string(v) && in_list(OA_FORMATS, json_string_value(v)))
            json_object_set_new(out, k, json_deep_copy(v));
        else
            drop(d, "format");
    } else if (!strcmp(k, "properties") || !strcmp(k, "$defs") || !strcmp(k, "definitions")) {
        json_object_set_new(out, k, map_schemas(v, oa_schema, d));
    } else if (strcmp(k, "items") == 0 && !json_is_array(v)) {
        json_object_set_new(out, k, oa_schema(v, d));
    } else if (strcmp(k, "anyOf") == 0) {
        json_object_set_new(out, k, list_schemas(v, oa_schema, d));
    } else if (strcmp(k, "oneOf") == 0 && !json_object_get(src, "anyOf")) {
        json_object_set_new(out, "anyOf", list_schemas(v, oa_schema, d));
        drop(d, "oneOf->anyOf");
    } else if (strcmp(k, "required") && strcmp(k, "additionalProperties")) {
        drop(d, k);
    }
}

static json_t *oa_schema(const json_t *s, struct drops *d)
{
    if (!json_is_object(s))
        return json_deep_copy(s);
    json_t *merged = oa_inline_allof(s), *out = json_object();
    const json_t *src = merged ? merged : s;
    const char *k;
    json_t *v;
    FOREACH(src, k, v) oa_key(out, src, k, v, d);
    if (shaped(src, "object", "properties"))
        oa_close_object(out, src, d);
    json_decref(merged);
    return out;
}

/* ---- Anthropic ---- */

static json_t *an_schema(const json_t *s, struct drops *d);

/* Appends "{k: v, ...}" of the moved keywords to the description. */
static void an_describe(json_t *out, const json_t *extra)
{
    const json_t *desc = json_object_get(out, "description");
    size_t cap = 256, len = 0;
    char *buf = fg_xmalloc(cap);
    const char *k;
    json_t *v;
    int first = 1;
    buf[0] = '\0';
    FOREACH(extra, k, v)
    {
        char *val = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *vs = val ? val : json_is_string(v) ? json_string_value(v) : "?";
        size_t need = len + strlen(k) + strlen(vs) + 8;
        if (need > cap)
            buf = fg_xrealloc(buf, cap = need * 2);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s: %s", first ? "{" : ", ", k, vs);
        FG_ASSERT(len < cap); /* need counted every byte: nothing was cut */

        first = 0;
        free(val);
    }
    json_t *text = json_is_string(desc) ? json_sprintf("%s\n\n%s}", json_string_value(desc), buf)
                                        : json_sprintf("%s}", buf);
    json_object_set_new(out, "description", text);
    free(buf);
}

static bool an_keep(const json_t *s, const char *k, const json_t *v)
{
    static const char *const always[] = {"type", "enum", "const", "description", "title", NULL};
    if (in_list(always, k))
        return true;
    if (!strcmp(k, "required"))
        return shaped(s, "object", "properties");
    if (!strcmp(k, "format"))
        return shaped(s, "string", "format") && json_is_string(v) &&
               in_list(AN_FORMATS, json_string_value(v));
    if (!strcmp(k, "minItems"))
        return shaped(s, "array", "items") && json_is_integer(v) && json_integer_value(v) >= 0 &&
               json_integer_value(v) <= 1;
    return false;
}

static void an_key(json_t *out, json_t *extra, const json_t *s, const char *k, json_t *v,
                   struct drops *d)
{
    bool obj = shaped(s, "object", "properties");
    if (an_keep(s, k, v)) {
        json_object_set_new(out, k, json_deep_copy(v));
    } else if (!strcmp(k, "$defs") || !strcmp(k, "definitions")) {
        json_object_set_new(out, k, map_schemas(v, an_schema, d));
    } else if (!strcmp(k, "anyOf") || !strcmp(k, "allOf")) {
        json_object_set_new(out, k, list_schemas(v, an_schema, d));
    } else if (!strcmp(k, "oneOf") && !json_object_get(s, "anyOf")) {
        json_object_set_new(out, "anyOf", list_schemas(v, an_schema, d));
        drop(d, "oneOf->anyOf");
    } else if (!strcmp(k, "properties") && obj) {
        json_object_set_new(out, k, map_schemas(v, an_schema, d));
    } else if (!strcmp(k, "additionalProperties") && obj) {
        if (!json_is_false(v))
            drop(d, "additionalProperties");
    } else if (!strcmp(k, "items") && json_is_object(v) && shaped(s, "array", "items")) {
        json_object_set_new(out, k, an_schema(v, d));
    } else {
        json_object_set(extra, k, v);
        drop(d, k);
    }
}

static json_t *an_schema(const json_t *s, struct drops *d)
{
    if (!json_is_object(s))
        return json_deep_copy(s);
    json_t *out = json_object(), *extra = json_object();
    const json_t *ref = json_object_get(s, "$ref");
    const char *k;
    json_t *v;
    FOREACH(s, k, v)
    {
        bool defs = !strcmp(k, "$defs") || !strcmp(k, "definitions");
        if (ref && defs)
            json_object_set_new(out, k, map_schemas(v, an_schema, d));
        else if (ref && strcmp(k, "$ref"))
            drop(d, k);
        else if (ref)
            json_object_set(out, k, v);
        else
            an_key(out, extra, s, k, v, d);
    }
    if (!ref && shaped(s, "object", "properties")) {
        if (!json_object_get(out, "properties"))
            json_object_set_new(out, "properties", json_object());
        json_object_set_new(out, "additionalProperties", json_false());
    }
    if (json_object_size(extra))
        an_describe(out, extra);
    json_decref(extra);
    return out;
}

json_t *fg_schema_for_target(const json_t *schema, enum fg_schema_target t, char *dropped, size_t n)
{
    struct drops d = {.n = 0};
    if (!schema)
        return NULL;
    json_t *out = t == FG_SCHEMA_OPENAI_STRICT ? oa_schema(schema, &d) : an_schema(schema, &d);
    drops_join(&d, dropped, n);
    return out;
}
