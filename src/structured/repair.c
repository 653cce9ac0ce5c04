/* repair.c — see repair.h.
 *
 * One strict, incremental JSON scanner (struct lex) drives both the prose
 * and the closing steps.  It runs from a '{' or '[' and ends in one of:
 * DONE (a well-formed span), ERR (a syntax error: scanning resumes at the
 * offending byte, so every byte is scanned once and the whole pass is
 * linear) or OPEN (the text ended inside the span; the scanner's stack
 * then says where each open container's last complete member ends). */
#include "repair.h"

#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum st {
    ST_VALUE,
    ST_VALUE_OR_END,
    ST_KEY,
    ST_KEY_OR_END,
    ST_COLON,
    ST_NEXT,
    ST_STR,
    ST_ESC,
    ST_UHEX,
    ST_NUM,
    ST_LIT
};
enum { LX_CONT, LX_DONE, LX_ERR, LX_OPEN };
/* Number grammar (RFC 8259): states after '-', "0", digits, '.', fraction
 * digits, 'e', exponent sign, exponent digits. */
enum num { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP, N_END, N_BAD };

struct frame {
    size_t safe;  /* offset just past the last complete member */
    size_t count; /* complete members */
    char close;   /* '}' or ']' */
};

struct lex {
    const char *s;
    size_t n;
    struct frame *f;
    int depth;
    enum st st;
    size_t end;    /* DONE: offset past the span; ERR: offending byte */
    bool key;      /* the open string is an object key */
    size_t esc_at; /* offset of the current escape's backslash */
    int hex;       /* \u digits seen */
    bool hi_sur;   /* the last escape was a high surrogate, unpaired */
    size_t hi_at;  /* its backslash */
    enum num num;
    const char *lit; /* "true", "false", "null" */
    int lit_off;
};

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_ws((unsigned char)s[*b]))
        (*b)++;
    while (*e > *b && is_ws((unsigned char)s[*e - 1]))
        (*e)--;
}

/* ---- the scanner ---- */

/* A value ended at `end`: count it in its container, or finish the span. */
static int value_done(struct lex *lx, size_t end)
{
    if (lx->depth == 0) {
        lx->end = end;
        return LX_DONE;
    }
    struct frame *t = &lx->f[lx->depth - 1];
    t->safe = end;
    t->count++;
    lx->st = ST_NEXT;
    return LX_CONT;
}

static int open_container(struct lex *lx, char close, enum st next)
{
    if (lx->depth == FG_REPAIR_MAX_DEPTH)
        return LX_ERR;
    lx->f[lx->depth++] = (struct frame){0, 0, close};
    lx->st = next;
    return LX_CONT;
}

static int close_container(struct lex *lx, unsigned char c, size_t pos)
{
    if (c != (unsigned char)lx->f[lx->depth - 1].close)
        return LX_ERR;
    lx->depth--;
    return value_done(lx, pos + 1);
}

static int start_string(struct lex *lx, bool key)
{
    lx->key = key;
    lx->hi_sur = false;
    lx->st = ST_STR;
    return LX_CONT;
}

static int start_lit(struct lex *lx, const char *lit)
{
    lx->lit = lit;
    lx->lit_off = 1;
    lx->st = ST_LIT;
    return LX_CONT;
}

static int start_num(struct lex *lx, enum num first)
{
    lx->num = first;
    lx->st = ST_NUM;
    return LX_CONT;
}

static int start_value(struct lex *lx, unsigned char c)
{
    switch (c) {
    case '{': return open_container(lx, '}', ST_KEY_OR_END);
    case '[': return open_container(lx, ']', ST_VALUE_OR_END);
    case '"': return start_string(lx, false);
    case 't': return start_lit(lx, "true");
    case 'f': return start_lit(lx, "false");
    case 'n': return start_lit(lx, "null");
    case '-': return start_num(lx, N_MINUS);
    case '0': return start_num(lx, N_ZERO);
    default: return is_digit(c) ? start_num(lx, N_INT) : LX_ERR;
    }
}

/* Outside strings, numbers and literals. */
static int step_struct(struct lex *lx, unsigned char c, size_t pos)
{
    if (is_ws(c))
        return LX_CONT;
    switch (lx->st) {
    case ST_VALUE: return start_value(lx, c);
    case ST_VALUE_OR_END: return c == ']' ? close_container(lx, c, pos) : start_value(lx, c);
    case ST_KEY_OR_END:
        if (c == '}')
            return close_container(lx, c, pos);
        return c == '"' ? start_string(lx, true) : LX_ERR;
    case ST_KEY: return c == '"' ? start_string(lx, true) : LX_ERR;
    case ST_COLON:
        if (c != ':')
            return LX_ERR;
        lx->st = ST_VALUE;
        return LX_CONT;
    case ST_NEXT:
        if (c != ',')
            return close_container(lx, c, pos);
        lx->st = lx->f[lx->depth - 1].close == '}' ? ST_KEY : ST_VALUE;
        return LX_CONT;
    default: return LX_ERR;
    }
}

static int step_str(struct lex *lx, unsigned char c, size_t pos)
{
    if (c == '\\') {
        lx->esc_at = pos;
        lx->st = ST_ESC;
        return LX_CONT;
    }
    lx->hi_sur = false;
    if (c < 0x20)
        return LX_ERR;
    if (c != '"')
        return LX_CONT;
    if (!lx->key)
        return value_done(lx, pos + 1);
    lx->st = ST_COLON;
    return LX_CONT;
}

static int step_esc(struct lex *lx, unsigned char c)
{
    if (c == 'u') {
        lx->hex = 0;
        lx->st = ST_UHEX;
        return LX_CONT;
    }
    if (!c || !strchr("\"\\/bfnrt", c))
        return LX_ERR;
    lx->hi_sur = false;
    lx->st = ST_STR;
    return LX_CONT;
}

static int step_uhex(struct lex *lx, unsigned char c)
{
    if (!is_hex(c))
        return LX_ERR;
    if (++lx->hex < 4)
        return LX_CONT;
    /* "\uD8.." .. "\uDB..": a high surrogate, which needs its pair. */
    const char *u = lx->s + lx->esc_at + 2;
    lx->hi_sur = (u[0] == 'd' || u[0] == 'D') && strchr("89abAB", u[1]) != NULL;
    if (lx->hi_sur)
        lx->hi_at = lx->esc_at;
    lx->st = ST_STR;
    return LX_CONT;
}

static enum num num_next(enum num s, unsigned char c)
{
    bool d = is_digit(c), e = c == 'e' || c == 'E';
    switch (s) {
    case N_MINUS: return c == '0' ? N_ZERO : d ? N_INT : N_BAD;
    case N_ZERO: return c == '.' ? N_DOT : e ? N_E : d ? N_BAD : N_END;
    case N_INT: return d ? N_INT : c == '.' ? N_DOT : e ? N_E : N_END;
    case N_DOT: return d ? N_FRAC : N_BAD;
    case N_FRAC: return d ? N_FRAC : e ? N_E : N_END;
    case N_E: return c == '+' || c == '-' ? N_ESIGN : d ? N_EXP : N_BAD;
    case N_ESIGN: return d ? N_EXP : N_BAD;
    case N_EXP: return d ? N_EXP : N_END;
    default: return N_BAD;
    }
}

/* A number is complete only when a byte after it ends it: at the end of
 * the text it may be the start of a longer one. */
static int step_num(struct lex *lx, unsigned char c, size_t pos)
{
    enum num next = num_next(lx->num, c);
    if (next == N_BAD)
        return LX_ERR;
    if (next != N_END) {
        lx->num = next;
        return LX_CONT;
    }
    int rc = value_done(lx, pos);
    return rc == LX_CONT ? step_struct(lx, c, pos) : rc;
}

static int step_lit(struct lex *lx, unsigned char c, size_t pos)
{
    if (c != (unsigned char)lx->lit[lx->lit_off])
        return LX_ERR;
    if (lx->lit[++lx->lit_off])
        return LX_CONT;
    return value_done(lx, pos + 1);
}

static int step(struct lex *lx, size_t pos)
{
    unsigned char c = (unsigned char)lx->s[pos];
    switch (lx->st) {
    case ST_STR: return step_str(lx, c, pos);
    case ST_ESC: return step_esc(lx, c);
    case ST_UHEX: return step_uhex(lx, c);
    case ST_NUM: return step_num(lx, c, pos);
    case ST_LIT: return step_lit(lx, c, pos);
    default: return step_struct(lx, c, pos);
    }
}

/* Scan one value starting at s[start]: LX_DONE, LX_ERR or LX_OPEN. */
static int lex_span(struct lex *lx, size_t start)
{
    lx->depth = 0;
    lx->st = ST_VALUE;
    for (size_t pos = start; pos < lx->n; pos++) {
        int rc = step(lx, pos);
        if (rc == LX_ERR)
            lx->end = pos;
        if (rc != LX_CONT)
            return rc;
    }
    return LX_OPEN;
}

/* ---- finding top-level values ---- */

struct scan {
    size_t spans; /* well-formed spans (counting stops at 2) */
    size_t b, e;  /* the first one */
    bool open;    /* the text ends inside a span */
    size_t open_at;
};

static size_t next_open(const char *s, size_t n, size_t pos)
{
    while (pos < n && s[pos] != '{' && s[pos] != '[')
        pos++;
    return pos;
}

static void scan(struct lex *lx, struct scan *r)
{
    size_t pos = 0;
    *r = (struct scan){0};
    while (r->spans < 2 && (pos = next_open(lx->s, lx->n, pos)) < lx->n) {
        int rc = lex_span(lx, pos);
        if (rc == LX_OPEN) {
            r->open = true;
            r->open_at = pos;
            return;
        }
        if (rc == LX_DONE && r->spans++ == 0) {
            r->b = pos;
            r->e = lx->end;
        }
        pos = lx->end > pos ? lx->end : pos + 1;
    }
}

/* ---- the three steps ---- */

static bool is_tag(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
           c == '-' || c == '+' || c == '.';
}

/* The body of a fence spanning the whole (trimmed) text, trimmed. */
static bool fence_body(const char *s, size_t n, size_t *b, size_t *e)
{
    size_t lo = 0, hi = n;
    trim(s, &lo, &hi);
    if (hi - lo < 7 || memcmp(s + lo, "```", 3) != 0 || memcmp(s + hi - 3, "```", 3) != 0)
        return false;
    size_t p = lo + 3;
    while (p < hi && is_tag((unsigned char)s[p]))
        p++;
    while (p < hi && (s[p] == ' ' || s[p] == '\t' || s[p] == '\r'))
        p++;
    if (p >= hi - 3 || s[p] != '\n')
        return false;
    *b = p + 1;
    *e = hi - 3;
    trim(s, b, e);
    return *b < *e;
}

/* Where a truncated string value can end: before a partial escape, an
 * unpaired high surrogate or a partial UTF-8 sequence. */
static size_t string_cut(const struct lex *lx)
{
    size_t cut = lx->st == ST_STR ? lx->n : lx->esc_at;
    if (lx->hi_sur)
        cut = lx->hi_at;
    size_t i = cut, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)lx->s[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    unsigned char lead = i > 0 ? (unsigned char)lx->s[i - 1] : 0;
    size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    return need > cont ? i - 1 : cut;
}

static bool in_string_value(const struct lex *lx)
{
    return (lx->st == ST_STR || lx->st == ST_ESC || lx->st == ST_UHEX) && !lx->key;
}

/* s[start, cut), then a quote when asked, then closers for frames k..0. */
static size_t build(char *buf, const struct lex *lx, size_t start, size_t cut, bool quote, int k)
{
    size_t n = cut - start;
    memcpy(buf, lx->s + start, n);
    if (quote)
        buf[n++] = '"';
    for (int i = k; i >= 0; i--)
        buf[n++] = lx->f[i].close;
    buf[n] = '\0';
    return n;
}

struct closer {
    const struct lex *lx;
    size_t start;
    char *buf;
    size_t len;
    int tries;
    fg_repair_check check;
    void *arg;
};

static bool try_cut(struct closer *c, size_t cut, bool quote, int k)
{
    if (c->tries >= FG_REPAIR_MAX_TRIES)
        return false;
    c->tries++;
    c->len = build(c->buf, c->lx, c->start, cut, quote, k);
    return c->check(c->arg, c->buf, c->len) == 0;
}

/* Close the span left open at the end of the text, deepest cut first. */
static char *close_open(const struct lex *lx, size_t start, fg_repair_check check, void *arg,
                        size_t *out_len)
{
    int top = lx->depth - 1;
    struct closer c = {lx,    start, fg_xmalloc(lx->n - start + 2 + (size_t)lx->depth), 0, 0,
                       check, arg};
    bool ok = false;
    for (int k = top; k >= 0 && !ok && c.tries < FG_REPAIR_MAX_TRIES; k--)
        ok = (lx->f[k].count > 0 && try_cut(&c, lx->f[k].safe, false, k)) ||
             (k == top && in_string_value(lx) && try_cut(&c, string_cut(lx), true, k));
    if (!ok) {
        free(c.buf);
        return NULL;
    }
    *out_len = c.len;
    return c.buf;
}

static char *dup_span(const char *s, size_t len, size_t *out_len)
{
    char *out = fg_xmalloc(len + 1);
    memcpy(out, s, len);
    out[len] = '\0';
    *out_len = len;
    return out;
}

static char *repair_scan(const char *text, size_t len, bool truncated, fg_repair_check check,
                         void *arg, size_t *out_len, enum fg_repair_kind *kind)
{
    struct lex lx = {.s = text, .n = len};
    struct scan r;
    char *out = NULL;
    lx.f = fg_xmalloc(FG_REPAIR_MAX_DEPTH * sizeof *lx.f);
    scan(&lx, &r);
    if (r.spans == 1 && !r.open && check(arg, text + r.b, r.e - r.b) == 0) {
        out = dup_span(text + r.b, r.e - r.b, out_len);
        *kind = FG_REPAIR_PROSE;
    } else if (truncated && r.spans == 0 && r.open) {
        out = close_open(&lx, r.open_at, check, arg, out_len);
        *kind = out ? FG_REPAIR_CLOSED : FG_REPAIR_NONE;
    }
    free(lx.f);
    return out;
}

char *fg_repair(const char *text, size_t len, bool truncated, fg_repair_check check, void *arg,
                size_t *out_len, enum fg_repair_kind *kind)
{
    size_t dummy_len, b, e;
    enum fg_repair_kind dummy_kind;
    if (!out_len)
        out_len = &dummy_len;
    if (!kind)
        kind = &dummy_kind;
    *out_len = 0;
    *kind = FG_REPAIR_NONE;
    if (!text || !check || check(arg, text, len) == 0)
        return NULL;
    if (fence_body(text, len, &b, &e) && check(arg, text + b, e - b) == 0) {
        *kind = FG_REPAIR_FENCES;
        return dup_span(text + b, e - b, out_len);
    }
    return repair_scan(text, len, truncated, check, arg, out_len, kind);
}

const char *fg_repair_kind_name(enum fg_repair_kind k)
{
    switch (k) {
    case FG_REPAIR_FENCES: return "fences";
    case FG_REPAIR_PROSE: return "prose";
    case FG_REPAIR_CLOSED: return "closed";
    default: return "none";
    }
}
