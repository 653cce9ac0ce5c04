/* redact.c — see redact.h.  A left-to-right pass: at each byte the rules
 * are tried in turn; a match copies what it keeps (a name, a scheme word),
 * writes the mark and skips the secret, otherwise the byte is copied.  A
 * text with marks is passed over again until it no longer changes, so the
 * result holds nothing the rules would still catch. */
#include "redact.h"

#include "arena.h"
#include "assert.h"

#include <stdbool.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#define MAX_SECRETS 64
#define MIN_SECRET 6 /* shorter registered strings would match prose */
#define MIN_PREFIX 8 /* a cut key is redacted from this many bytes on */
#define MIN_LOOSE 6  /* unquoted header values / key-shaped tokens */

static char *g_redact_secrets[MAX_SECRETS];
static size_t g_redact_secret_len[MAX_SECRETS];
/* Added to by one thread at a time (startup, then the config reloader:
 * reload.h) while others read: a slot is written before the count that
 * publishes it (release), readers load the count first (acquire). */
static atomic_int g_redact_n;

void fg_redact_add_secret(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    int have = atomic_load_explicit(&g_redact_n, memory_order_acquire);
    if (n < MIN_SECRET || have == MAX_SECRETS)
        return;
    for (int i = 0; i < have; i++)
        if (g_redact_secret_len[i] == n && !memcmp(g_redact_secrets[i], s, n))
            return;
    FG_ASSERT(have >= 0 && have < MAX_SECRETS);
    g_redact_secrets[have] = fg_xstrdup(s);
    g_redact_secret_len[have] = n;
    atomic_store_explicit(&g_redact_n, have + 1, memory_order_release);
}

void fg_redact_clear(void)
{
    int have = atomic_load(&g_redact_n);
    for (int i = 0; i < have; i++)
        free(g_redact_secrets[i]);
    atomic_store(&g_redact_n, 0);
}

struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->cap && o->len < o->cap - 1) {
        size_t room = o->cap - 1 - o->len;
        FG_DASSERT(o->buf != NULL);
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void mark(struct out *o)
{
    put(o, FG_REDACTED, sizeof FG_REDACTED - 1);
}

/* Characters of a key-shaped token. */
static bool tokch(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Characters of a quoted or query value: anything printable that does not
 * end a query parameter or a JSON string. */
static bool valch(unsigned char c)
{
    return c > ' ' && c != 0x7f && !strchr("\"'\\,;&<>#", c);
}

/* Characters of a credential in a header (RFC 7235 token68). */
static bool credch(unsigned char c)
{
    return tokch(c) || (c && strchr("._~+/=", c));
}

static size_t run(const char *s, size_t i, size_t n, bool (*ok)(unsigned char))
{
    size_t j = i;
    while (j < n && ok((unsigned char)s[j]))
        j++;
    /* a credential does not end in '.': that is the sentence around it */
    while (ok == credch && j > i && s[j - 1] == '.')
        j--;
    return j - i;
}

static size_t spaces(const char *s, size_t i, size_t n)
{
    size_t j = i;
    while (j < n && (s[j] == ' ' || s[j] == '\t'))
        j++;
    return j - i;
}

/* Not inside a word; the end of a JSON escape ("\n", "\t"...) counts as a
 * word's end, since text relayed as JSON has its line breaks escaped. */
static bool at_boundary(const char *s, size_t i)
{
    if (i == 0 || !tokch((unsigned char)s[i - 1]))
        return true;
    return i >= 2 && s[i - 2] == '\\' && strchr("ntrbf", s[i - 1]) && (i < 3 || s[i - 3] != '\\');
}

static bool has_ci(const char *s, size_t i, size_t n, const char *w)
{
    size_t l = strlen(w);
    return n - i >= l && !strncasecmp(s + i, w, l);
}

/* A registered secret at i (or the start of one running to the end). */
static size_t rule_secret(const char *s, size_t i, size_t n)
{
    int have = atomic_load_explicit(&g_redact_n, memory_order_acquire);
    for (int k = 0; k < have; k++) {
        size_t l = g_redact_secret_len[k], left = n - i;
        if (s[i] != g_redact_secrets[k][0])
            continue;
        if (left >= l && !memcmp(s + i, g_redact_secrets[k], l))
            return l;
        if (left < l && left >= MIN_PREFIX && !memcmp(s + i, g_redact_secrets[k], left))
            return left;
    }
    return 0;
}

/* sk-…, sk-ant-…, fk-…  `fresh`: right after a mark, a word starts. */
static size_t rule_shape(const char *s, size_t i, size_t n, bool fresh)
{
    if (!(fresh || at_boundary(s, i)) || n - i < 3 || s[i + 2] != '-' ||
        !((s[i] == 's' || s[i] == 'f') && s[i + 1] == 'k'))
        return 0;
    size_t l = run(s, i + 3, n, tokch);
    return l >= MIN_LOOSE ? 3 + l : 0;
}

/* "Bearer TOKEN": keeps "Bearer " and returns its length in *keep. */
static size_t rule_bearer(const char *s, size_t i, size_t n, bool fresh, size_t *keep)
{
    if (!(fresh || at_boundary(s, i)) || !has_ci(s, i, n, "bearer"))
        return 0;
    size_t sp = spaces(s, i + 6, n);
    if (!sp)
        return 0;
    size_t l = run(s, i + 6 + sp, n, credch);
    if (l < MIN_LOOSE)
        return 0;
    *keep = 6 + sp;
    return 6 + sp + l;
}

/* scheme://user:PASSWORD@host, matched at the ':' before the password so
 * the user name goes through the other rules like any text. */
static size_t rule_userinfo(const char *s, size_t i, size_t n, size_t *keep)
{
    if (s[i] != ':')
        return 0;
    size_t u = i;
    while (u > 0 && s[u - 1] != ':' && s[u - 1] != '@' && s[u - 1] != '/' &&
           valch((unsigned char)s[u - 1]))
        u--;
    if (u < 3 || memcmp(s + u - 3, "://", 3) != 0)
        return 0;
    size_t j = i + 1;
    while (j < n && s[j] != '@' && s[j] != '/' && valch((unsigned char)s[j]))
        j++;
    if (j >= n || s[j] != '@' || j == i + 1)
        return 0;
    *keep = 1;
    return j - i;
}

static const struct name {
    const char *name;
    bool header; /* also matched unquoted as "name: value" */
    bool scheme; /* the value may start with an auth scheme word */
} names[] = {
    {"proxy-authorization", true, true},
    {"authorization", true, true},
    {"x-goog-api-key", true, false},
    {"x-api-key", true, false},
    {"api-key", true, false},
    {"api_key", false, false},
    {"apikey", false, false},
    {"master_key", false, false},
    {"client_secret", false, false},
    {"access_token", false, false},
    {"password", false, false},
    {"secret", false, false},
    {"token", false, false},
    {"key", false, false},
};

/* name[: or =]value in its several spellings.  `query` is true right after
 * '?', '&' or ';' (every name is then a parameter).  Returns the bytes
 * matched with *keep = the bytes copied before the mark. */
static size_t rule_named(const char *s, size_t i, size_t n, bool query, bool fresh, size_t *keep)
{
    bool quoted = s[i] == '"';
    size_t p = i + quoted;
    if (p >= n || !strchr("paxmcstk", s[p] | 0x20) ||
        (!quoted && !query && !fresh && !at_boundary(s, i)))
        return 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const struct name *nm = &names[k];
        size_t nl = strlen(nm->name);
        if (!has_ci(s, p, n, nm->name))
            continue;
        /* "key" alone is too common a word outside a query string */
        if (!strcmp(nm->name, "key") && !query && !quoted)
            continue;
        size_t j = p + nl;
        if (j < n && tokch((unsigned char)s[j]))
            continue; /* a longer word */
        if (quoted) {
            if (j >= n || s[j] != '"')
                continue;
            j++;
        }
        j += spaces(s, j, n);
        if (j >= n || (s[j] != ':' && s[j] != '='))
            continue;
        bool eq = s[j] == '=';
        size_t unused;
        if (!eq && rule_userinfo(s, j, n, &unused))
            continue; /* scheme://authorization:PASSWORD@: the URL rule's */
        if (!eq && !quoted && !nm->header)
            continue; /* "api_key: message" is a config path, not a secret */
        if (query && !eq)
            continue;
        j++;
        j += spaces(s, j, n);
        bool vq = j < n && s[j] == '"';
        j += vq;
        /* keep an auth scheme word: "Bearer ", "Basic " */
        if (nm->scheme) {
            static const char *const schemes[] = {"bearer", "basic",  "token",
                                                  "digest", "apikey", "key"};
            for (size_t q = 0; q < sizeof schemes / sizeof schemes[0]; q++) {
                size_t w = strlen(schemes[q]);
                size_t sp = has_ci(s, j, n, schemes[q]) ? spaces(s, j + w, n) : 0;
                if (sp) {
                    j += w + sp;
                    break;
                }
            }
        }
        size_t l = run(s, j, n, nm->header && !vq ? credch : valch);
        size_t min = (vq || quoted || query || eq) ? 1 : MIN_LOOSE;
        if (l < min)
            continue;
        *keep = j - i;
        return j - i + l;
    }
    return 0;
}

/* One left-to-right pass; *hits counts the marks written. */
static size_t pass(const char *in, size_t n, char *out, size_t cap, int *hits)
{
    struct out o = {out, cap, 0};
    size_t i = 0;
    bool fresh = false; /* just after a mark: what follows starts a word */
    *hits = 0;
    while (i < n) {
        size_t keep = 0, m;
        bool query = i > 0 && (in[i - 1] == '?' || in[i - 1] == '&' || in[i - 1] == ';');
        if ((m = rule_secret(in, i, n)) || (m = rule_shape(in, i, n, fresh))) {
            keep = 0;
        } else if (!(m = rule_bearer(in, i, n, fresh, &keep)) &&
                   !(m = rule_named(in, i, n, query, fresh, &keep)) &&
                   !(m = rule_userinfo(in, i, n, &keep))) {
            put(&o, in + i, 1);
            i++;
            fresh = false;
            continue;
        }
        put(&o, in + i, keep);
        mark(&o);
        (*hits)++;
        i += m;
        fresh = true;
    }
    if (cap)
        out[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}

size_t fg_redact(const char *in, size_t n, char *out, size_t cap)
{
    int hits;
    size_t len = pass(in, n, out, cap, &hits);
    if (!hits)
        return len; /* the common case: nothing to hide */
    /* A mark can make more text recognisable (a value that ran over a name,
     * a URL seen once a value is gone): pass again until nothing changes. */
    char *cur = fg_xmalloc(len + 1);
    size_t again = pass(in, n, cur, len + 1, &hits);
    FG_ASSERT(again == len); /* the same input gives the same output */
    (void)again;
    for (int k = 0; k < 8; k++) {
        size_t nl = pass(cur, len, NULL, 0, &hits);
        char *nx = fg_xmalloc(nl + 1);
        size_t wrote = pass(cur, len, nx, nl + 1, &hits);
        FG_ASSERT(wrote == nl);
        (void)wrote;

        bool same = nl == len && !memcmp(nx, cur, len);
        free(cur);
        cur = nx;
        len = nl;
        if (same)
            break;
    }
    if (cap) {
        size_t c = len < cap - 1 ? len : cap - 1;
        memcpy(out, cur, c);
        out[c] = '\0';
    }
    free(cur);
    return len;
}

char *fg_redact_dup(const char *in, size_t n, size_t *out_len)
{
    size_t need = fg_redact(in, n, NULL, 0);
    char *s = fg_xmalloc(need + 1);
    fg_redact(in, n, s, need + 1);
    if (out_len)
        *out_len = need;
    return s;
}
