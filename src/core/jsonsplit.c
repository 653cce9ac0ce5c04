/* jsonsplit.c — see jsonsplit.h. */
#include "jsonsplit.h"

#include "assert.h"
#include "vec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The skeleton's states: {"KEY": [ELEM, ...]} */
enum {
    ST_BEGIN,     /* before '{' */
    ST_OBJ_FIRST, /* after '{': a name or '}' */
    ST_OBJ_NAME,  /* after ',': a name */
    ST_NAME,      /* inside a member name */
    ST_COLON,
    ST_VALUE,     /* KEY's value: '[' */
    ST_ARR_FIRST, /* after '[': an element or ']' */
    ST_ARR_ELEM,  /* after ',': an element */
    ST_ELEM,      /* inside an element */
    ST_ARR_NEXT,  /* after an element: ',' or ']' */
    ST_OBJ_NEXT,  /* after the array: ',' or '}' */
    ST_END,       /* after '}': whitespace only */
    ST_FAILED,
};

static bool ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int failf(struct fg_jsonsplit *s, enum fg_jsonsplit_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int failf(struct fg_jsonsplit *s, enum fg_jsonsplit_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    s->code = code;
    s->st = ST_FAILED;
    return -1;
}

static int syntax(struct fg_jsonsplit *s, char c)
{
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
        return failf(s, FG_JSONSPLIT_E_SYNTAX, "unexpected byte 0x%02x at byte %llu",
                     (unsigned char)c, (unsigned long long)s->off);
    return failf(s, FG_JSONSPLIT_E_SYNTAX, "unexpected '%c' at byte %llu", c,
                 (unsigned long long)s->off);
}

void fg_jsonsplit_init(struct fg_jsonsplit *s, const char *key, size_t max_elem, fg_jsonsplit_fn fn,
                       void *arg)
{
    FG_ASSERT(key && strlen(key) < sizeof s->name - 1 && max_elem > 0 && fn);
    memset(s, 0, sizeof *s);
    s->key = key;
    s->max_elem = max_elem;
    s->fn = fn;
    s->arg = arg;
    s->st = ST_BEGIN;
}

void fg_jsonsplit_free(struct fg_jsonsplit *s)
{
    free(s->buf);
    s->buf = NULL;
    s->nbuf = s->capbuf = 0;
}

/* ---- member names (unescaped; a name longer than the buffer only has to
 * differ from KEY, so it is cut and marked) */

static void name_put(struct fg_jsonsplit *s, unsigned c)
{
    if (s->nname < sizeof s->name - 1)
        s->name[s->nname++] = c < 0x80 ? (char)c : '?';
    else
        s->nname = sizeof s->name; /* too long to be KEY */
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int name_end(struct fg_jsonsplit *s)
{
    size_t kl = strlen(s->key);
    bool is_key = s->nname == kl && !memcmp(s->name, s->key, kl);
    s->name[s->nname < sizeof s->name ? s->nname : sizeof s->name - 1] = '\0';
    if (!is_key)
        return failf(s, FG_JSONSPLIT_E_MEMBER, "unknown member '%.60s'", s->name);
    if (s->seen_key)
        return failf(s, FG_JSONSPLIT_E_DUPLICATE, "member '%s' given twice", s->key);
    s->st = ST_COLON;
    return 0;
}

static int name_byte(struct fg_jsonsplit *s, char c)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (s->uhex) {
        int h = hexval(c);
        if (h < 0)
            return syntax(s, c);
        s->uval = s->uval * 16 + (unsigned)h;
        if (--s->uhex == 0)
            name_put(s, s->uval);
        return 0;
    }
    if (s->esc) {
        s->esc = false;
        const char *e = c ? strchr(from, c) : NULL;
        if (c == 'u') {
            s->uhex = 4;
            s->uval = 0;
        } else if (e) {
            name_put(s, (unsigned char)to[e - from]);
        } else {
            return syntax(s, c);
        }
        return 0;
    }
    if (c == '\\')
        s->esc = true;
    else if (c == '"')
        return name_end(s);
    else if ((unsigned char)c < 0x20)
        return syntax(s, c);
    else
        name_put(s, (unsigned char)c);
    return 0;
}

/* ---- elements */

static int open_bracket(struct fg_jsonsplit *s, char c)
{
    if (s->depth >= FG_JSONSPLIT_MAX_DEPTH)
        return failf(s, FG_JSONSPLIT_E_SYNTAX, "element %zu nested deeper than %d levels", s->n,
                     FG_JSONSPLIT_MAX_DEPTH);
    unsigned char bit = (unsigned char)(1u << (s->depth % 8));
    if (c == '{')
        s->kind[s->depth / 8] |= bit;
    else
        s->kind[s->depth / 8] &= (unsigned char)~bit;
    s->depth++;
    return 0;
}

static int close_bracket(struct fg_jsonsplit *s, char c)
{
    FG_DASSERT(s->depth > 0);
    s->depth--;
    bool obj = s->kind[s->depth / 8] & (1u << (s->depth % 8));
    if (obj != (c == '}'))
        return syntax(s, c);
    return 0;
}

/* The first byte of an element: 0, or -1. */
static int elem_begin(struct fg_jsonsplit *s, char c)
{
    s->depth = 0;
    s->in_str = s->esc = s->scalar = false;
    s->nbuf = 0;
    if (c == '{' || c == '[')
        return open_bracket(s, c);
    if (c == '"')
        s->in_str = true;
    else if (c == ']' || c == '}' || c == ',' || c == ':')
        return syntax(s, c);
    else
        s->scalar = true;
    return 0;
}

/* Whether byte c (not the element's first) is past the element's end
 * (a scalar's delimiter: not part of it) or is its last byte; 1 ends it
 * after c, 2 before c, 0 goes on, -1 fails. */
static int elem_byte(struct fg_jsonsplit *s, char c)
{
    if (s->in_str) {
        if (s->esc)
            s->esc = false;
        else if (c == '\\')
            s->esc = true;
        else if (c == '"') {
            s->in_str = false;
            return s->depth == 0;
        }
        return 0;
    }
    if (s->scalar)
        return ws(c) || c == ',' || c == ']' || c == '}' ? 2 : 0;
    if (c == '"')
        s->in_str = true;
    else if (c == '{' || c == '[')
        return open_bracket(s, c);
    else if (c == '}' || c == ']') {
        if (close_bracket(s, c) < 0)
            return -1;
        return s->depth == 0;
    }
    return 0;
}

static int keep(struct fg_jsonsplit *s, const char *p, size_t n)
{
    if (s->nbuf + n > s->max_elem)
        return failf(s, FG_JSONSPLIT_E_BIG, "element %zu is over %zu bytes", s->n, s->max_elem);
    if (s->nbuf + n > s->capbuf) {
        size_t cap = fg_vec_next_cap(s->capbuf, s->nbuf + n);
        if (cap > s->max_elem) /* never more than the bound */
            cap = s->max_elem;
        s->buf = fg_vec_resize(s->buf, cap, 1);
        s->capbuf = cap;
    }
    memcpy(s->buf + s->nbuf, p, n);
    s->nbuf += n;
    return 0;
}

/* The element ended: hand it over (from the push when it is all there). */
static int elem_done(struct fg_jsonsplit *s, const char *p, size_t n)
{
    const char *span = p;
    size_t len = n;
    if (s->nbuf) {
        if (keep(s, p, n) < 0)
            return -1;
        span = s->buf;
        len = s->nbuf;
    } else if (n > s->max_elem) {
        return failf(s, FG_JSONSPLIT_E_BIG, "element %zu is over %zu bytes", s->n, s->max_elem);
    }
    s->nbuf = 0;
    s->st = ST_ARR_NEXT;
    if (s->fn(s->arg, s->n, span, len))
        return failf(s, FG_JSONSPLIT_E_STOPPED, "stopped at element %zu", s->n);
    s->n++;
    return 0;
}

/* Skip a string's plain bytes inside an element (the common case: most of
 * a batch's bytes are message text). */
static size_t plain_run(const char *p, size_t i, size_t n)
{
    while (i < n && p[i] != '"' && p[i] != '\\')
        i++;
    return i;
}

/* ---- the skeleton */

static int skel_byte(struct fg_jsonsplit *s, char c)
{
    if (ws(c) && s->st != ST_NAME)
        return 0;
    switch (s->st) {
    case ST_BEGIN:
        if (c != '{')
            return syntax(s, c);
        s->st = ST_OBJ_FIRST;
        return 0;
    case ST_OBJ_FIRST:
    case ST_OBJ_NAME:
        if (c == '}' && s->st == ST_OBJ_FIRST) {
            s->st = ST_END;
            return 0;
        }
        if (c != '"')
            return syntax(s, c);
        s->nname = 0;
        s->esc = false;
        s->uhex = 0;
        s->st = ST_NAME;
        return 0;
    case ST_NAME: return name_byte(s, c);
    case ST_COLON:
        if (c != ':')
            return syntax(s, c);
        s->st = ST_VALUE;
        return 0;
    case ST_VALUE:
        if (c != '[')
            return failf(s, FG_JSONSPLIT_E_NOT_ARRAY, "member '%s' is not an array", s->key);
        s->seen_key = true;
        s->st = ST_ARR_FIRST;
        return 0;
    case ST_ARR_NEXT:
        if (c == ',')
            s->st = ST_ARR_ELEM;
        else if (c == ']')
            s->st = ST_OBJ_NEXT;
        else
            return syntax(s, c);
        return 0;
    case ST_OBJ_NEXT:
        if (c == ',')
            s->st = ST_OBJ_NAME;
        else if (c == '}')
            s->st = ST_END;
        else
            return syntax(s, c);
        return 0;
    default: /* ST_END */ return syntax(s, c);
    }
}

int fg_jsonsplit_push(struct fg_jsonsplit *s, const char *p, size_t n)
{
    size_t i = 0;
    size_t start = s->st == ST_ELEM ? 0 : SIZE_MAX; /* the element's first byte here */
    while (i < n && s->st != ST_FAILED) {
        char c = p[i];
        if (s->st == ST_ELEM) {
            if (s->in_str && !s->esc) {
                size_t j = plain_run(p, i, n);
                s->off += j - i;
                i = j;
                if (i == n)
                    break;
                c = p[i];
            }
            /* over the bound before this byte: refused at the byte it is
             * exceeded, as in pieces (keep()), whatever comes after */
            if (s->nbuf + (i - start) > s->max_elem)
                return failf(s, FG_JSONSPLIT_E_BIG, "element %zu is over %zu bytes", s->n,
                             s->max_elem);
            int e = elem_byte(s, c);
            if (e < 0)
                return -1;
            if (e) {
                size_t end = e == 1 ? i + 1 : i;
                if (elem_done(s, p + start, end - start) < 0)
                    return -1;
                start = SIZE_MAX;
                if (e == 2)
                    continue; /* the delimiter belongs to the skeleton */
            }
        } else if ((s->st == ST_ARR_FIRST || s->st == ST_ARR_ELEM) && !ws(c)) {
            if (c == ']' && s->st == ST_ARR_FIRST) {
                s->st = ST_OBJ_NEXT;
            } else {
                if (elem_begin(s, c) < 0)
                    return -1;
                s->st = ST_ELEM;
                start = i;
            }
        } else if (skel_byte(s, c) < 0) {
            return -1;
        }
        i++;
        s->off++;
    }
    if (s->st == ST_FAILED)
        return -1;
    if (s->st == ST_ELEM && keep(s, p + start, n - start) < 0)
        return -1;
    return 0;
}

int fg_jsonsplit_finish(struct fg_jsonsplit *s)
{
    if (s->st == ST_FAILED)
        return -1;
    if (s->st != ST_END)
        return failf(s, FG_JSONSPLIT_E_SYNTAX, "the document ends early (byte %llu)",
                     (unsigned long long)s->off);
    return 0;
}
