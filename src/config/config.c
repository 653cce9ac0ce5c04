/* config.c — load frugal's YAML configuration, or build the built-in one.
 *
 * Two passes.  libyaml events are first turned into a small tree of nodes
 * that remember their line; the tree is then walked against per-section
 * field tables (key, kind, offset — the nginx directive-table idea).  Having
 * the whole tree lets the walker resolve sections in dependency order
 * (providers, then models, then routes and fallbacks) whatever the file's
 * order, and keep going after a problem so `frugal check` reports all of
 * them.  Errors are collected with their line and sorted before they are
 * handed to the caller, so the report reads top to bottom.
 *
 * Deliberately not supported: anchors/aliases, several documents, merge
 * keys ("<<").  They are reported as errors rather than half-handled. */
#include "config.h"

#include "pgdb.h"

#include "arena.h"
#include "spec.h"
#include "log.h"
#include "redact.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <jansson.h>
#include <pcre2.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX_DEPTH 64         /* bounds recursion in the walkers */
#define MAX_FILE (16u << 20) /* a config is a few KB; refuse nonsense */
#define PATHLEN 256          /* dotted key paths in messages */
#define NF(t) (sizeof(t) / sizeof((t)[0]))

#define DEFAULT_OPENAI_URL "https://api.openai.com/v1"
#define DEFAULT_ANTHROPIC_URL "https://api.anthropic.com"
#define BUILTIN_FILE "(built-in)"

/* ======================== error list ======================== */

void fg_config_errlist_add(struct fg_config_errlist *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *raw = fg_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(raw, (size_t)n + 1, fmt, ap);
    va_end(ap);
    /* a message may quote a value: never a key (redact.h) */
    char *s = fg_redact_dup(raw, (size_t)n, NULL);
    free(raw);
    l->lines = fg_xrealloc(l->lines, (l->n + 1) * sizeof *l->lines);
    l->lines[l->n++] = s;
}

void fg_config_errlist_free(struct fg_config_errlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->lines[i]);
    free(l->lines);
    l->lines = NULL;
    l->n = 0;
}

/* ======================== loader context ======================== */

struct ld {
    const char *file;              /* name used in messages */
    bool lenient_env;              /* FG_CONFIG_NO_SECRETS: unset env: is no error */
    struct fg_config *cfg;         /* being filled */
    struct fg_config_errlist errs; /* "FILE:LINE: KEY: msg", unsorted */
    int *err_lines;                /* line of each entry in errs, for sorting */
};

static void err_at(struct ld *ld, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void err_at(struct ld *ld, int line, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fg_config_errlist_add(&ld->errs, "%s:%d: %s: %s", ld->file, line, path, msg);
    ld->err_lines = fg_xrealloc(ld->err_lines, ld->errs.n * sizeof *ld->err_lines);
    ld->err_lines[ld->errs.n - 1] = line;
}

/* Moves the collected errors into <out> ordered by line.  Insertion sort:
 * it is stable (same-line errors keep their discovery order) and the
 * lists are short. */
static void flush_errors(struct ld *ld, struct fg_config_errlist *out)
{
    char **s = ld->errs.lines;
    int *ln = ld->err_lines;
    for (size_t i = 1; i < ld->errs.n; i++) {
        for (size_t j = i; j > 0 && ln[j - 1] > ln[j]; j--) {
            char *ts = s[j];
            int tl = ln[j];
            s[j] = s[j - 1], ln[j] = ln[j - 1];
            s[j - 1] = ts, ln[j - 1] = tl;
        }
    }
    for (size_t i = 0; out && i < ld->errs.n; i++) {
        out->lines = fg_xrealloc(out->lines, (out->n + 1) * sizeof *out->lines);
        out->lines[out->n++] = s[i];
        s[i] = NULL;
    }
    fg_config_errlist_free(&ld->errs);
    free(ld->err_lines);
    ld->err_lines = NULL;
}

/* ======================== YAML → node tree ======================== */

enum ntype { N_SCALAR, N_MAP, N_SEQ };

struct node {
    enum ntype t;
    int line;   /* 1-based */
    bool null;  /* plain "", "~" or "null": YAML's null */
    char *text; /* scalars: NUL-terminated copy */
    size_t len;
    struct node **kids; /* maps: key, value, key, value…; seqs: items */
    size_t n;
};

static struct node *node_new(enum ntype t, const yaml_mark_t *m)
{
    struct node *n = fg_xcalloc(1, sizeof *n);
    n->t = t;
    n->line = (int)m->line + 1;
    return n;
}

static bool is_null_text(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static struct node *scalar_node(const yaml_event_t *ev)
{
    struct node *n = node_new(N_SCALAR, &ev->start_mark);
    n->len = ev->data.scalar.length;
    n->text = fg_xmalloc(n->len + 1);
    memcpy(n->text, ev->data.scalar.value, n->len);
    n->text[n->len] = '\0';
    /* only plain scalars can be null: "null" in quotes is a string */
    n->null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(n->text);
    return n;
}

static void node_add(struct node *parent, struct node *kid)
{
    parent->kids = fg_xrealloc(parent->kids, (parent->n + 1) * sizeof *parent->kids);
    parent->kids[parent->n++] = kid;
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

struct builder {
    struct node *root;
    struct node *stack[MAX_DEPTH]; /* open collections */
    size_t depth;
    int docs;
};

/* Every node is attached as soon as it is created, so freeing the root
 * frees everything even when parsing stops half-way. */
static void attach(struct builder *b, struct node *n)
{
    if (b->depth)
        node_add(b->stack[b->depth - 1], n);
    else if (!b->root)
        b->root = n;
    else
        node_free(n); /* unreachable: a second document is refused first */
}

static int open_collection(struct ld *ld, struct builder *b, const yaml_event_t *ev)
{
    if (b->depth == MAX_DEPTH) {
        err_at(ld, (int)ev->start_mark.line + 1, "(syntax)", "nesting deeper than %d levels",
               MAX_DEPTH);
        return -1;
    }
    enum ntype t = ev->type == YAML_MAPPING_START_EVENT ? N_MAP : N_SEQ;
    struct node *n = node_new(t, &ev->start_mark);
    attach(b, n);
    b->stack[b->depth++] = n;
    return 1;
}

/* Returns 1 to go on, 0 at the end of the stream, -1 on a fatal error. */
static int on_event(struct ld *ld, struct builder *b, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT: return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs == 1)
            return 1;
        err_at(ld, line, "(syntax)", "only one YAML document is allowed");
        return -1;
    case YAML_SCALAR_EVENT: attach(b, scalar_node(ev)); return 1;
    case YAML_ALIAS_EVENT: {
        /* a null placeholder keeps the structure so later keys still
         * get checked */
        err_at(ld, line, "(syntax)", "aliases (*name) are not supported");
        struct node *n = node_new(N_SCALAR, &ev->start_mark);
        n->text = fg_xstrdup("");
        n->null = true;
        attach(b, n);
        return 1;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: return open_collection(ld, b, ev);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: b->depth--; return 1;
    default: return 1;
    }
}

static int line_at_offset(const char *buf, size_t len, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        line += buf[i] == '\n';
    return line;
}

static void syntax_error(struct ld *ld, const yaml_parser_t *p, const char *buf, size_t len)
{
    int line = p->error == YAML_READER_ERROR ? line_at_offset(buf, len, p->problem_offset)
                                             : (int)p->problem_mark.line + 1;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        err_at(ld, line, "(syntax)", "%s (%s on line %d)", problem, p->context,
               (int)p->context_mark.line + 1);
    else
        err_at(ld, line, "(syntax)", "%s", problem);
}

/* Parses <buf> into a tree.  NULL with errors recorded on failure; NULL
 * without errors for a file holding no document at all. */
static struct node *parse_yaml(struct ld *ld, const char *buf, size_t len)
{
    yaml_parser_t p;
    struct builder b = {0};
    int rc = 1;

    if (!yaml_parser_initialize(&p)) {
        err_at(ld, 0, "(file)", "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    while (rc == 1) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(ld, &p, buf, len);
            rc = -1;
            break;
        }
        rc = on_event(ld, &b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (rc < 0) {
        node_free(b.root);
        return NULL;
    }
    return b.root;
}

static char *read_file(struct ld *ld, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_at(ld, 0, "(file)", "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0, r;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = fg_xrealloc(buf, cap);
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0 && n <= MAX_FILE);
    const char *bad = ferror(f) ? strerror(errno) : n > MAX_FILE ? "file too large" : NULL;
    fclose(f);
    if (bad) {
        err_at(ld, 0, "(file)", "cannot read: %s", bad);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* ======================== tree access ======================== */

static bool is_null(const struct node *n)
{
    return !n || (n->t == N_SCALAR && n->null);
}

static const char *kind_name(enum ntype t)
{
    return t == N_MAP ? "a mapping" : t == N_SEQ ? "a sequence" : "a scalar";
}

/* Reports and returns false when <n> is not of type <t>. */
static bool expect(struct ld *ld, const struct node *n, enum ntype t, const char *path)
{
    if (n->t == t)
        return true;
    err_at(ld, n->line, path, "expected %s, got %s", kind_name(t), kind_name(n->t));
    return false;
}

/* The text of a scalar, or NULL (reported) when <n> is a collection. */
static const char *scalar_text(struct ld *ld, const struct node *n, const char *path,
                               const char *what)
{
    if (n->t == N_SCALAR)
        return n->text;
    err_at(ld, n->line, path, "expected %s, got %s", what, kind_name(n->t));
    return NULL;
}

/* Value of <key> in mapping <m> (first occurrence), or NULL. */
static const struct node *map_get(const struct node *m, const char *key)
{
    if (!m || m->t != N_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < m->n; i += 2)
        if (m->kids[i]->t == N_SCALAR && !strcmp(m->kids[i]->text, key))
            return m->kids[i + 1];
    return NULL;
}

/* True when the key at index <i> already appeared earlier in <m>. */
static bool dup_key(const struct node *m, size_t i)
{
    for (size_t j = 0; j < i; j += 2)
        if (m->kids[j]->t == N_SCALAR && !strcmp(m->kids[j]->text, m->kids[i]->text))
            return true;
    return false;
}

/* Formats a key path into <out> (PATHLEN bytes).  A path that does not
 * fit ends in "..." rather than being cut silently. */
static void path_fmt(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void path_fmt(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PATHLEN, fmt, ap);
    va_end(ap);
    if (n >= PATHLEN)
        memcpy(out + PATHLEN - 4, "...", 4);
}

static void path_key(char *out, const char *base, const char *key)
{
    path_fmt(out, "%s%s%s", base, *base ? "." : "", key);
}

static void path_idx(char *out, const char *base, size_t i)
{
    path_fmt(out, "%s[%zu]", base, i);
}

/* ======================== scalar parsers ========================
 * Each returns NULL on success, else a static message for the caller to
 * report.  None uses floating point for money. */

/* Decimal text → value × 10^6, exactly.  Digits past the 6th decimal
 * are refused only when non-zero: "0.1500000" loses nothing. */
static const char *parse_micro(const char *s, int64_t *out)
{
    static const char *const notnum = "expected a decimal number like 0.15";
    if (*s == '-')
        return "must not be negative";
    if (strpbrk(s, "eE") && strspn(s, "0123456789.+-eE") == strlen(s))
        return "scientific notation is not supported; write a plain decimal like 0.15";
    if (*s == '+')
        s++;
    int64_t v = 0;
    int frac = -1; /* decimals seen so far, -1 before the point */
    bool digits = false;
    for (; *s; s++) {
        if (*s == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (!isdigit((unsigned char)*s))
            return notnum;
        int d = *s - '0';
        digits = true;
        if (frac >= 6) {
            if (d)
                return "more than 6 decimal places (prices are exact to 0.000001 USD)";
            continue;
        }
        if (v > (INT64_MAX - d) / 10)
            return "number too large";
        v = v * 10 + d;
        if (frac >= 0)
            frac++;
    }
    if (!digits)
        return notnum;
    for (int i = frac < 0 ? 0 : frac; i < 6; i++) {
        if (v > INT64_MAX / 10)
            return "number too large";
        v *= 10;
    }
    *out = v;
    return NULL;
}

/* Whole decimal integer, nothing around it (strtoll alone skips spaces). */
static bool parse_ll(const char *s, long long *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* "30s", "5m", "1h", "1d" or plain seconds → seconds (> 0). */
static const char *parse_duration(const char *s, int *out)
{
    static const char *const bad = "expected a duration like 30s, 5m, 1h or a number of seconds";
    if (!isdigit((unsigned char)*s))
        return bad;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    long long mul = !*end         ? 1
                    : *end == 's' ? 1
                    : *end == 'm' ? 60
                    : *end == 'h' ? 3600
                    : *end == 'd' ? 86400
                                  : 0;
    if (errno || !mul || (*end && end[1]))
        return bad;
    if (v <= 0)
        return "must be positive";
    if (v > INT_MAX / mul)
        return "duration too long";
    *out = (int)(v * mul);
    return NULL;
}

/* Byte size: an integer with an optional binary unit, case-insensitive
 * ("32MB" = "32MiB" = "32m" = 32 × 2^20, as nginx reads sizes). */
static const char *parse_size(const char *s, size_t *out)
{
    static const struct {
        const char *unit;
        unsigned long long mul;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1ull << 10},
        {"kb", 1ull << 10},
        {"kib", 1ull << 10},
        {"m", 1ull << 20},
        {"mb", 1ull << 20},
        {"mib", 1ull << 20},
        {"g", 1ull << 30},
        {"gb", 1ull << 30},
        {"gib", 1ull << 30},
    };
    if (!isdigit((unsigned char)*s))
        return "expected a size like 1048576, 512KB or 32MB";
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    while (*end == ' ')
        end++;
    for (size_t i = 0; !errno && i < NF(units); i++) {
        if (strcasecmp(end, units[i].unit))
            continue;
        if (v == 0)
            return "must be positive";
        if (v > SIZE_MAX / units[i].mul)
            return "size too large";
        *out = (size_t)(v * units[i].mul);
        return NULL;
    }
    return "expected a size like 1048576, 512KB or 32MB";
}

/* ======================== string values ======================== */

static bool valid_env_name(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* The final value of a string scalar: `env:NAME` reads the environment.
 * Empty values are refused everywhere: an empty key, URL or name is never
 * what was meant, and for secrets it would silently disable auth.  Error
 * messages never echo the value (it may be a secret). */
static char *resolve_string(struct ld *ld, const struct node *v, const char *path)
{
    const char *s = v->text;
    if (strlen(s) != v->len) {
        err_at(ld, v->line, path, "contains a NUL byte");
        return NULL;
    }
    if (strncmp(s, "env:", 4) != 0) {
        if (*s)
            return fg_xstrdup(s);
        err_at(ld, v->line, path, "must not be empty");
        return NULL;
    }
    const char *name = s + 4;
    if (!valid_env_name(name)) {
        err_at(ld, v->line, path, "invalid environment variable name \"%.60s\"", name);
        return NULL;
    }
    const char *val = getenv(name);
    if ((!val || !*val) && ld->lenient_env)
        return fg_xstrdup(s); /* kept unresolved: this command never uses it */
    if (!val)
        err_at(ld, v->line, path, "environment variable %s is not set", name);
    else if (!*val)
        err_at(ld, v->line, path, "environment variable %s is empty", name);
    return val && *val ? fg_xstrdup(val) : NULL;
}

static const char *check_port(const char *p)
{
    long long port;
    /* 0 = any free port (tests); the bound port is printed at startup */
    if (!*p || strspn(p, "0123456789") != strlen(p) || !parse_ll(p, &port) || port < 0 ||
        port > 65535)
        return "port must be a number between 0 and 65535";
    return NULL;
}

/* "host:port" or "[v6addr]:port". */
static const char *check_listen(const char *s)
{
    const char *colon;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1 || close[1] != ':')
            return "expected [IPv6-address]:port, e.g. [::1]:4000";
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return "expected host:port, e.g. 127.0.0.1:4000";
        if (memchr(s, ':', (size_t)(colon - s)))
            return "IPv6 addresses must be in brackets, e.g. [::1]:4000";
        if (colon == s)
            return "host is empty (use 0.0.0.0:PORT for all interfaces)";
    }
    return check_port(colon + 1);
}

static const char *check_url(const char *s)
{
    size_t skip = !strncmp(s, "http://", 7) ? 7 : !strncmp(s, "https://", 8) ? 8 : 0;
    if (!skip)
        return "must start with http:// or https://";
    if (!s[skip] || s[skip] == '/')
        return "URL has no host";
    return NULL;
}

/* An absolute http(s) URL that frugal puts in its answers as is: anything
 * that could change where a client goes or what it sends is refused. */
static const char *check_public_url(const char *s)
{
    const char *bad = check_url(s);
    if (bad)
        return bad;
    if (strlen(s) > 300)
        return "must be at most 300 characters";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("\"'<>\\^`{|}", *p))
            return "must be a plain URL (no spaces, quotes or control characters)";
    if (strpbrk(s, "?#"))
        return "must not have a query (?) or fragment (#): URLs are appended to it";
    const char *host = strstr(s, "://") + 3;
    size_t hl = strcspn(host, "/");
    if (memchr(host, '@', hl))
        return "must not carry credentials (user:password@)";
    return NULL;
}

static const char *check_log_level(const char *s)
{
    if (!strcmp(s, "debug") || !strcmp(s, "info") || !strcmp(s, "warn") || !strcmp(s, "error"))
        return NULL;
    return "must be debug, info, warn or error";
}

static const char *check_batch(const char *s)
{
    if (!strcmp(s, "provider") || !strcmp(s, "local"))
        return NULL;
    return "must be provider or local";
}

static const char *check_stream_mode(const char *s)
{
    if (!strcmp(s, "validate_at_end") || !strcmp(s, "buffer"))
        return NULL;
    return "must be validate_at_end or buffer";
}

static const char *check_storage(const char *s)
{
    if (!strncmp(s, "sqlite:", 7) && s[7])
        return NULL;
    if (fg_pgdb_is_dsn(s))
        return fg_pgdb_dsn_check(s);
    return "must be sqlite:PATH or postgres://…";
}

static const char *check_batch_storage(const char *s)
{
    if (!strncmp(s, "sqlite:", 7) && s[7])
        return NULL;
    if (fg_pgdb_is_dsn(s))
        return fg_pgdb_dsn_check(s);
    return "must be sqlite:PATH or postgres://…";
}

/* The full check is the backend's (shared_redis.h), at startup. */
static const char *check_redis(const char *s)
{
    if (strncmp(s, "redis://", 8) != 0)
        return "must be redis://host[:port][/db] (a password goes before the host: :PASSWORD@)";
    const char *host = strrchr(s + 8, '@');
    host = host ? host + 1 : s + 8;
    if (!*host || *host == ':' || *host == '/')
        return "has no host (redis://host:port)";
    return NULL;
}

static const char *check_store_down(const char *s)
{
    if (!strcmp(s, "fail_closed") || !strcmp(s, "local"))
        return NULL;
    return "must be fail_closed or local";
}

/* ======================== field tables ======================== */

enum fkind { F_OTHER, F_STR, F_INT, F_BOOL, F_PRICE, F_TTL, F_SIZE, F_RATIO };

/* One known key of a mapping.  F_OTHER keys are accepted by walk_map and
 * handled by the section's own code (lists, enums, nested mappings). */
struct field {
    const char *key;
    enum fkind kind;
    size_t off;                          /* into the object walk_map fills */
    long long min, max;                  /* F_INT bounds */
    const char *(*check)(const char *s); /* F_STR: NULL or an error message */
};

#define OTHER(k)                                                                                   \
    {                                                                                              \
        .key = (k), .kind = F_OTHER                                                                \
    }
#define STR(k, T, m, chk)                                                                          \
    {                                                                                              \
        .key = (k), .kind = F_STR, .off = offsetof(T, m), .check = (chk)                           \
    }
#define INT(k, T, m, lo, hi)                                                                       \
    {                                                                                              \
        .key = (k), .kind = F_INT, .off = offsetof(T, m), .min = (lo), .max = (hi)                 \
    }
#define FLD(k, kd, T, m)                                                                           \
    {                                                                                              \
        .key = (k), .kind = (kd), .off = offsetof(T, m)                                            \
    }

static void set_str(struct ld *ld, const struct field *f, const struct node *v, const char *path,
                    char **dst)
{
    if (!scalar_text(ld, v, path, "a string"))
        return;
    char *s = resolve_string(ld, v, path);
    const char *bad = s && f->check ? f->check(s) : NULL;
    if (bad) {
        err_at(ld, v->line, path, "%s", bad);
        free(s);
        return;
    }
    if (s) {
        free(*dst);
        *dst = s;
    }
}

static void set_int(struct ld *ld, const struct field *f, const char *s, int line, const char *path,
                    int *dst)
{
    long long v;
    if (!parse_ll(s, &v))
        err_at(ld, line, path, "expected an integer, got \"%.40s\"", s);
    else if ((v < f->min || v > f->max) && f->max == INT_MAX)
        err_at(ld, line, path, "must be >= %lld", f->min); /* ">= 1" reads better */
    else if (v < f->min || v > f->max)
        err_at(ld, line, path, "must be between %lld and %lld", f->min, f->max);
    else
        *dst = (int)v;
}

static void set_bool(struct ld *ld, const char *s, int line, const char *path, bool *dst)
{
    if (!strcmp(s, "true") || !strcmp(s, "false"))
        *dst = s[0] == 't';
    else
        err_at(ld, line, path, "expected true or false, got \"%.40s\"", s);
}

static void set_ratio(struct ld *ld, const char *s, int line, const char *path, double *dst)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= 0.0 && v <= 1.0))
        err_at(ld, line, path, "expected a number between 0 and 1, got \"%.40s\"", s);
    else
        *dst = v;
}

/* Stores the value of key <f> from node <v> into <obj>.  A null value
 * keeps the default; a bad value is reported and leaves it unchanged. */
static void set_field(struct ld *ld, const struct field *f, const struct node *v, const char *path,
                      void *obj)
{
    char *at = (char *)obj + f->off;
    const char *bad = NULL, *s;
    if (f->kind == F_OTHER || is_null(v))
        return;
    if (f->kind == F_STR) {
        set_str(ld, f, v, path, (char **)at);
        return;
    }
    s = scalar_text(ld, v, path, f->kind == F_BOOL ? "true or false" : "a number");
    if (!s)
        return;
    switch (f->kind) {
    case F_INT: set_int(ld, f, s, v->line, path, (int *)at); break;
    case F_BOOL: set_bool(ld, s, v->line, path, (bool *)at); break;
    case F_RATIO: set_ratio(ld, s, v->line, path, (double *)at); break;
    case F_PRICE: bad = parse_micro(s, (int64_t *)at); break;
    case F_TTL: bad = parse_duration(s, (int *)at); break;
    case F_SIZE: bad = parse_size(s, (size_t *)at); break;
    default: break;
    }
    if (bad)
        err_at(ld, v->line, path, "%s (got \"%.40s\")", bad, s);
}

static const struct field *find_field(const struct field *f, size_t nf, const char *key)
{
    for (size_t i = 0; i < nf; i++)
        if (!strcmp(f[i].key, key))
            return &f[i];
    return NULL;
}

/* Checks mapping <n> against table <f> and fills <obj>: every key must be
 * known and appear once.  A null (absent) mapping keeps the defaults. */
static void walk_map(struct ld *ld, const struct node *n, const char *path, const struct field *f,
                     size_t nf, void *obj)
{
    if (is_null(n) || !expect(ld, n, N_MAP, *path ? path : "(root)"))
        return;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct node *k = n->kids[i];
        char sub[PATHLEN];
        if (k->t != N_SCALAR) {
            err_at(ld, k->line, *path ? path : "(root)", "mapping keys must be scalars");
            continue;
        }
        path_key(sub, path, k->text);
        const struct field *fd = find_field(f, nf, k->text);
        if (dup_key(n, i))
            err_at(ld, k->line, sub, "duplicate key");
        else if (!fd)
            err_at(ld, k->line, sub, "unknown key");
        else
            set_field(ld, fd, n->kids[i + 1], sub, obj);
    }
}

/* Reports <path>.<key> missing when mapping <m> lacks it or has it null. */
static void require(struct ld *ld, const struct node *m, const char *path, const char *key)
{
    if (!is_null(map_get(m, key)))
        return;
    char sub[PATHLEN];
    path_key(sub, path, key);
    err_at(ld, m->line, sub, "missing required key");
}

typedef struct fg_server_cfg SRV;
typedef struct fg_provider_cfg PRV;
typedef struct fg_model_cfg MDL;
typedef struct fg_route_cfg RTE;
typedef struct fg_config CFG;

static const struct field top_fields[] = {
    OTHER("server"),
    STR("storage", CFG, storage, check_storage),
    STR("spool", CFG, spool, NULL),

    STR("redis", CFG, redis, check_redis),
    OTHER("budgets"),
    OTHER("providers"),
    OTHER("models"),
    OTHER("routes"),
    OTHER("fallbacks"),
    OTHER("prompt_caching"),
    OTHER("response_cache"),
    OTHER("responses"), /* conversation state (respstate.h) */
    OTHER("structured_output"),
    OTHER("batches"),
    OTHER("tag_budgets"),
    OTHER("alerts"),
    OTHER("gateway_budget"),
    OTHER("deferral"),
    OTHER("log"),
};

static const struct field server_fields[] = {
    STR("listen", SRV, listen, check_listen),
    INT("workers", SRV, workers, 0, 1024),
    STR("master_key", SRV, master_key, NULL),
    FLD("max_body_bytes", F_SIZE, SRV, max_body_bytes),
    INT("client_timeout_ms", SRV, client_timeout_ms, 1, INT_MAX),
    INT("stream_idle_timeout_ms", SRV, stream_idle_timeout_ms, 1, INT_MAX),
    INT("shutdown_grace_ms", SRV, shutdown_grace_ms, 0, INT_MAX),
    STR("log_level", SRV, log_level, check_log_level),
    INT("upstream_retries", SRV, upstream_retries, 0, 10),
    FLD("max_header_bytes", F_SIZE, SRV, max_header_bytes),
    INT("max_header_fields", SRV, max_header_fields, 1, 10000),
    INT("max_json_depth", SRV, max_json_depth, 1, 512),
    INT("max_messages", SRV, max_messages, 1, INT_MAX),
    INT("max_connections", SRV, max_connections, 1, 1000000),
    INT("max_connections_per_ip", SRV, max_connections_per_ip, 0, 1000000),
    INT("header_timeout_ms", SRV, header_timeout_ms, 1, INT_MAX),
    INT("body_timeout_ms", SRV, body_timeout_ms, 1, INT_MAX),
    INT("header_timeout_busy_ms", SRV, header_timeout_busy_ms, 1, INT_MAX),
    FLD("max_body_bytes_in_flight", F_SIZE, SRV, max_body_bytes_in_flight),
    STR("public_url", SRV, public_url, check_public_url),
};

static const struct field provider_fields[] = {
    STR("name", PRV, name, NULL),
    OTHER("type"),
    STR("base_url", PRV, base_url, check_url),
    STR("api_key", PRV, api_key, NULL),
    STR("batch", PRV, batch, check_batch),
    STR("anthropic_version", PRV, anthropic_version, NULL),
    STR("api_version", PRV, api_version, NULL),
    INT("timeout_ms", PRV, timeout_ms, 1, INT_MAX),
    INT("connect_timeout_ms", PRV, connect_timeout_ms, 1, INT_MAX),
    FLD("responses", F_BOOL, PRV, responses),
    OTHER("cost"),
};

static const struct field cost_fields[] = {
    FLD("per_hour_usd", F_PRICE, PRV, cost.per_hour_micro),
    INT("max_concurrency", PRV, cost.max_concurrency, 1, 100000),
};

static const struct field model_fields[] = {
    STR("name", MDL, name, NULL),
    STR("provider", MDL, provider, NULL),
    STR("model", MDL, model, NULL),
    STR("deployment", MDL, deployment, NULL),
    OTHER("dialect"),
    OTHER("price"),
    OTHER("deployments"),
    OTHER("price_schedule"),
    INT("max_output_tokens", MDL, max_output_tokens, 1, INT_MAX),
    OTHER("flex"),
};

static const struct field window_fields[] = {
    OTHER("from"),
    OTHER("to"),
    OTHER("days"),
    OTHER("price"),
};

static const struct field price_fields[] = {
    FLD("input", F_PRICE, struct fg_price, input),
    FLD("output", F_PRICE, struct fg_price, output),
    FLD("cache_read", F_PRICE, struct fg_price, cache_read),
    FLD("cache_write_5m", F_PRICE, struct fg_price, cache_write_5m),
    FLD("cache_write_1h", F_PRICE, struct fg_price, cache_write_1h),
    FLD("batch_input", F_PRICE, struct fg_price, batch_input),
    FLD("batch_output", F_PRICE, struct fg_price, batch_output),
};

static const struct field route_fields[] = {
    STR("name", RTE, name, NULL),
    STR("cheap", RTE, cheap, NULL),
    STR("frontier", RTE, frontier, NULL),
    FLD("threshold", F_RATIO, RTE, threshold),
    OTHER("escalate_on"),
    FLD("frontier_share", F_RATIO, RTE, frontier_share),
    STR("weights", RTE, weights, NULL),
    FLD("quality_target", F_RATIO, RTE, quality_target),
    STR("labels", RTE, labels, NULL),
    OTHER("format"),
    OTHER("cold_start"),
    FLD("frontier_on_tools", F_BOOL, RTE, frontier_on_tools),
    FLD("frontier_on_images", F_BOOL, RTE, frontier_on_images),
    OTHER("frontier_for"),
    OTHER("cheap_for"),
    OTHER("learn"),
};

static const struct field learn_fields[] = {
    FLD("sample", F_RATIO, RTE, learn.sample),
    STR("judge", RTE, learn.judge, NULL),
    FLD("budget_usd_per_day", F_PRICE, RTE, learn.budget_micro),
    INT("retrain_every", RTE, learn.retrain_every, 1, 1000000),
    INT("min_labels", RTE, learn.min_labels, 1, 1000000),
    FLD("store_prompts", F_BOOL, RTE, learn.store_prompts),
};

static const struct field prompt_caching_fields[] = {
    FLD("auto_breakpoints", F_BOOL, CFG, prompt_caching.auto_breakpoints),
    FLD("ttl", F_TTL, CFG, prompt_caching.ttl_seconds),
    FLD("openai_cache_key", F_BOOL, CFG, prompt_caching.openai_cache_key),
    INT("affinity_margin", CFG, prompt_caching.affinity_margin, 0, 1000000),
};

static const struct field response_cache_fields[] = {
    FLD("enabled", F_BOOL, CFG, response_cache.enabled),
    FLD("ttl", F_TTL, CFG, response_cache.ttl_seconds),
    FLD("max_bytes", F_SIZE, CFG, response_cache.max_bytes),
    FLD("shared", F_BOOL, CFG, response_cache.shared),
    FLD("allow_sampling", F_BOOL, CFG, response_cache.allow_sampling),
};

static const struct field responses_fields[] = {
    FLD("store", F_BOOL, CFG, responses.store),
    FLD("retention", F_TTL, CFG, responses.retention_seconds),
    FLD("max_bytes", F_SIZE, CFG, responses.max_bytes),
};

static const struct field structured_output_fields[] = {
    FLD("validate", F_BOOL, CFG, structured_output.validate),
    INT("retries", CFG, structured_output.retries, 0, 10),
    FLD("repair", F_BOOL, CFG, structured_output.repair),
    STR("stream", CFG, structured_output.stream, check_stream_mode),
};

static const struct field budgets_fields[] = {
    STR("on_store_down", CFG, budgets.on_store_down, check_store_down),
    FLD("lease", F_TTL, CFG, budgets.lease_seconds),
};

static const struct field batches_fields[] = {
    FLD("window", F_TTL, CFG, batches.window_seconds),
    INT("poll_ms", CFG, batches.poll_ms, 10, 3600000),
    INT("poll_max_ms", CFG, batches.poll_max_ms, 10, 3600000),
    INT("lease_ms", CFG, batches.lease_ms, 500, 600000),
    INT("local_concurrency", CFG, batches.local_concurrency, 1, 1024),
    INT("local_rps", CFG, batches.local_rps, 0, 100000),
    FLD("max_file_bytes", F_SIZE, CFG, batches.max_file_bytes),
    INT("max_lines", CFG, batches.max_lines, 1, 1000000),
    INT("retention_days", CFG, batches.retention_days, 1, 3650),
    STR("storage", CFG, batches.storage, check_batch_storage),
};

static const struct field deferral_fields[] = {
    INT("window_ms", CFG, deferral.window_ms, 1, 600000),
    FLD("min_deadline", F_TTL, CFG, deferral.min_deadline_s),
    FLD("max_deadline", F_TTL, CFG, deferral.max_deadline_s),
    OTHER("defer_for"),
};

/* ======================== defaults ======================== */

static struct fg_config *config_new(const char *path)
{
    struct fg_config *c = fg_xcalloc(1, sizeof *c);
    c->path = path ? fg_xstrdup(path) : NULL;
    c->server.listen = fg_xstrdup("127.0.0.1:4000");
    c->server.max_body_bytes = 32u << 20;
    c->server.client_timeout_ms = 120000;
    c->server.stream_idle_timeout_ms = 300000;
    c->server.shutdown_grace_ms = 10000;
    c->server.upstream_retries = 2;
    c->server.log_level = fg_xstrdup("info");
    c->server.max_header_bytes = 64u << 10;
    c->server.max_header_fields = 100;
    c->server.max_json_depth = 64;
    c->server.max_messages = 10000;
    c->server.max_connections = 8192;
    c->server.max_connections_per_ip = 512;
    c->server.header_timeout_ms = 10000;
    c->server.body_timeout_ms = 60000;
    c->server.header_timeout_busy_ms = 1000;
    c->server.max_body_bytes_in_flight = 256u << 20;
    c->storage = fg_xstrdup("sqlite:frugal.db");
    c->budgets.on_store_down = fg_xstrdup("fail_closed");
    c->budgets.lease_seconds = 3600;
    c->alerts.n_at = 2; /* alerts at 80% and 100% of a budget */
    c->alerts.at[0] = 0.8;
    c->alerts.at[1] = 1.0;
    c->prompt_caching.auto_breakpoints = true;
    c->prompt_caching.ttl_seconds = 300;
    c->prompt_caching.openai_cache_key = true;
    c->prompt_caching.affinity_margin = FG_CONFIG_AFFINITY_MARGIN;
    c->response_cache.ttl_seconds = 3600;
    c->response_cache.max_bytes = 64u << 20;
    c->deferral.window_ms = 2000;
    c->deferral.min_deadline_s = 60;
    c->deferral.max_deadline_s = 540;
    c->responses.store = true;
    c->responses.retention_seconds = 30 * 24 * 3600;
    c->responses.max_bytes = 4u << 20;
    c->structured_output.validate = true;
    c->structured_output.retries = 1;
    c->structured_output.repair = true;
    c->batches.window_seconds = 24 * 3600;
    c->batches.poll_ms = 1000;
    c->batches.poll_max_ms = 60000;
    c->batches.lease_ms = 20000;
    c->batches.local_concurrency = 8;
    c->batches.max_file_bytes = 200u << 20;
    c->batches.max_lines = 50000;
    c->batches.retention_days = 30;
    return c;
}

static void provider_init(struct fg_provider_cfg *p, int line)
{
    p->batch = fg_xstrdup("provider");
    p->anthropic_version = fg_xstrdup("2026-10-21");
    p->timeout_ms = 600000;
    p->connect_timeout_ms = 5000;
    p->responses = true;
    p->cost.per_hour_micro = -1;
    p->line = line;
}

static void model_init(struct fg_model_cfg *m, int line)
{
    struct fg_price unset = {-1, -1, -1, -1, -1, -1, -1};
    m->price = unset;
    m->provider_index = -1;
    m->line = line;
}

static const char *default_url(enum fg_provider_type t)
{
    return t == FG_PROV_OPENAI      ? DEFAULT_OPENAI_URL
           : t == FG_PROV_ANTHROPIC ? DEFAULT_ANTHROPIC_URL
                                    : NULL;
}

/* Provider URLs are joined with "/v1/..." paths; a trailing slash would
 * double up. */
static void strip_slashes(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

/* An Azure api-version or deployment name: it is put into URLs as is. */
static bool azure_token_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789-_.") == n;
}

/* Real providers fix the dialect; the sim speaks both, so the model says
 * which one it plays (`given` is -1 when the key is absent). */
static enum fg_dialect dialect_for(const struct fg_provider_cfg *p, int given, const char *name)
{
    if (p && (p->type == FG_PROV_OPENAI || p->type == FG_PROV_AZURE))
        return FG_DIALECT_OPENAI;
    if (p && p->type == FG_PROV_ANTHROPIC)
        return FG_DIALECT_ANTHROPIC;
    if (given >= 0)
        return (enum fg_dialect)given;
    return name && !strncmp(name, "claude", 6) ? FG_DIALECT_ANTHROPIC : FG_DIALECT_OPENAI;
}

/* ======================== name lookups ======================== */

const struct fg_model_cfg *fg_config_model(const struct fg_config *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->n_models; i++)
        if (c->models[i].name && !strcmp(c->models[i].name, name))
            return &c->models[i];
    return NULL;
}

const struct fg_provider_cfg *fg_config_provider(const struct fg_config *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->n_providers; i++)
        if (c->providers[i].name && !strcmp(c->providers[i].name, name))
            return &c->providers[i];
    return NULL;
}

const struct fg_route_cfg *fg_config_route(const struct fg_config *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->n_routes; i++)
        if (c->routes[i].name && !strcmp(c->routes[i].name, name))
            return &c->routes[i];
    return NULL;
}

/* Reports entries of <arr> (any fg_*_cfg array) whose name repeats an
 * earlier one; offsets let one loop serve the three entry types. */
static void check_dups(struct ld *ld, const char *section, const char *what, const void *arr,
                       size_t n, size_t stride, size_t name_off, size_t line_off)
{
    const char *base = arr;
    for (size_t i = 1; i < n; i++) {
        const char *name = *(char *const *)(base + i * stride + name_off);
        for (size_t j = 0; name && j < i; j++) {
            const char *other = *(char *const *)(base + j * stride + name_off);
            if (!other || strcmp(name, other))
                continue;
            char path[PATHLEN];
            path_fmt(path, "%s[%zu].name", section, i);
            err_at(ld, *(const int *)(base + i * stride + line_off), path,
                   "duplicate %s name \"%s\" (first defined on line %d)", what, name,
                   *(const int *)(base + j * stride + line_off));
            break;
        }
    }
}

#define CHECK_DUPS(ld, sec, what, arr, n, T)                                                       \
    check_dups(ld, sec, what, arr, n, sizeof(T), offsetof(T, name), offsetof(T, line))

/* Reports <name> (read from node <v>) when it is not a configured model. */
static void ref_model(struct ld *ld, const struct node *v, const char *path, const char *name)
{
    if (name && !fg_config_model(ld->cfg, name))
        err_at(ld, v->line, path, "unknown model \"%.80s\"", name);
}

/* ======================== providers ======================== */

/* Parses `type:`; false when absent or invalid (both reported). */
static bool provider_type(struct ld *ld, const struct node *n, const char *path,
                          enum fg_provider_type *out)
{
    char sub[PATHLEN];
    const struct node *v = map_get(n, "type");
    const char *s;
    path_key(sub, path, "type");
    if (is_null(v)) {
        err_at(ld, n->line, sub, "missing required key");
        return false;
    }
    if (!(s = scalar_text(ld, v, sub, "a string")))
        return false;
    if (!strcmp(s, "openai") || !strcmp(s, "anthropic") || !strcmp(s, "sim")) {
        *out = s[0] == 'o' ? FG_PROV_OPENAI : s[0] == 'a' ? FG_PROV_ANTHROPIC : FG_PROV_SIM;
        return true;
    }
    if (!strcmp(s, "azure_openai")) {
        *out = FG_PROV_AZURE;
        return true;
    }
    err_at(ld, v->line, sub, "must be openai, anthropic, azure_openai or sim (got \"%.40s\")", s);
    return false;
}

/* An Azure resource has no default endpoint and every call names an API
 * version; api_version means nothing to other providers. */
static void check_azure_provider(struct ld *ld, const struct node *n, const char *path,
                                 const struct fg_provider_cfg *p)
{
    char sub[PATHLEN];
    if (p->type != FG_PROV_AZURE) {
        path_key(sub, path, "api_version");
        if (p->api_version)
            err_at(ld, map_get(n, "api_version")->line, sub,
                   "applies to azure_openai providers only");
        return;
    }
    if (!p->base_url) {
        path_key(sub, path, "base_url");
        err_at(ld, n->line, sub,
               "missing required key (an azure_openai provider's resource endpoint, e.g. "
               "https://NAME.openai.azure.com)");
    }
    path_key(sub, path, "api_version");
    if (!p->api_version)
        err_at(ld, n->line, sub, "missing required key (e.g. 2024-10-21)");
    else if (!azure_token_ok(p->api_version))
        err_at(ld, map_get(n, "api_version")->line, sub,
               "must be letters, digits, '-', '_' or '.' (it goes into every URL)");
}

static void load_provider(struct ld *ld, const struct node *n, const char *path,
                          struct fg_provider_cfg *p)
{
    provider_init(p, n->line);
    if (!expect(ld, n, N_MAP, path))
        return;
    walk_map(ld, n, path, provider_fields, NF(provider_fields), p);
    bool typed = provider_type(ld, n, path, &p->type);
    require(ld, n, path, "name");
    /* sim without base_url means the in-process sim the gateway starts */
    if (!p->base_url && typed && default_url(p->type))
        p->base_url = fg_xstrdup(default_url(p->type));
    if (p->base_url)
        strip_slashes(p->base_url);
    const struct node *cost = map_get(n, "cost");
    if (!is_null(cost)) {
        char sub[PATHLEN];
        path_key(sub, path, "cost");
        walk_map(ld, cost, sub, cost_fields, NF(cost_fields), p);
        if (cost->t == N_MAP) {
            require(ld, cost, sub, "per_hour_usd");
            require(ld, cost, sub, "max_concurrency");
        }
    }
    if (typed)
        check_azure_provider(ld, n, path, p);
    if (!p->responses && typed && p->type == FG_PROV_ANTHROPIC) {
        char sub[PATHLEN];
        path_key(sub, path, "responses");
        err_at(ld, map_get(n, "responses")->line, sub,
               "applies to OpenAI-dialect providers; an anthropic provider has no Responses API "
               "(Responses calls to its models are always translated)");
    }
}

static void load_providers(struct ld *ld, const struct node *n)
{
    struct fg_config *c = ld->cfg;
    if (is_null(n) || !expect(ld, n, N_SEQ, "providers"))
        return;
    /* one entry per item, even a broken one, so index i is the file's i */
    c->providers = fg_xcalloc(n->n, sizeof *c->providers);
    for (size_t i = 0; i < n->n; i++) {
        char path[PATHLEN];
        path_idx(path, "providers", i);
        load_provider(ld, n->kids[i], path, &c->providers[c->n_providers++]);
    }
    CHECK_DUPS(ld, "providers", "provider", c->providers, c->n_providers, PRV);
}

/* ======================== models ======================== */

/* `dialect:` as 0/1, -1 when absent or invalid (reported). */
static int model_dialect_key(struct ld *ld, const struct node *n, const char *path)
{
    char sub[PATHLEN];
    const struct node *v = map_get(n, "dialect");
    const char *s;
    path_key(sub, path, "dialect");
    if (is_null(v) || !(s = scalar_text(ld, v, sub, "a string")))
        return -1;
    if (!strcmp(s, "openai"))
        return FG_DIALECT_OPENAI;
    if (!strcmp(s, "anthropic"))
        return FG_DIALECT_ANTHROPIC;
    err_at(ld, v->line, sub, "must be openai or anthropic (got \"%.40s\")", s);
    return -1;
}

/* `deployment:` of a model (or one of its deployments) on provider p:
 * required to be a URL-safe name on azure_openai (defaulting to `dflt`),
 * refused elsewhere. */
static void azure_deployment(struct ld *ld, const struct node *n, const char *path,
                             const struct fg_provider_cfg *p, char **dep, const char *dflt)
{
    char sub[PATHLEN];
    path_key(sub, path, "deployment");
    const struct node *v = map_get(n, "deployment");
    if (p && p->type != FG_PROV_AZURE && *dep) {
        err_at(ld, v->line, sub, "applies to models on azure_openai providers only");
        return;
    }
    if (!p || p->type != FG_PROV_AZURE)
        return;
    if (!*dep && dflt)
        *dep = fg_xstrdup(dflt);
    if (*dep && !azure_token_ok(*dep))
        err_at(ld, v ? v->line : n->line, sub,
               "must be an Azure deployment name: letters, digits, '-', '_' or '.' (got \"%.80s\")",
               *dep);
}

/* Links the model to its provider and settles its wire dialect. */
static void resolve_model(struct ld *ld, const struct node *n, const char *path,
                          struct fg_model_cfg *m)
{
    const struct fg_config *c = ld->cfg;
    const struct fg_provider_cfg *p = fg_config_provider(c, m->provider);
    char sub[PATHLEN];
    int given = model_dialect_key(ld, n, path);

    if (m->provider && !p) {
        path_key(sub, path, "provider");
        err_at(ld, map_get(n, "provider")->line, sub, "unknown provider \"%.80s\"", m->provider);
    }
    if (p)
        m->provider_index = (int)(p - c->providers);
    m->dialect = dialect_for(p, given, m->name);
    azure_deployment(ld, n, path, p, &m->deployment, m->model);
    if (p && p->type != FG_PROV_SIM && given >= 0 && given != (int)m->dialect) {
        path_key(sub, path, "dialect");
        err_at(ld, map_get(n, "dialect")->line, sub,
               "provider \"%.80s\" is not a sim provider; its type fixes the dialect", p->name);
    }
}

/* models[i].deployments: [{provider, model?}] on providers of the same dialect. */
static void load_deployment(struct ld *ld, const struct node *n, const char *path,
                            struct fg_model_cfg *m, struct fg_deployment *d)
{
    char sub[PATHLEN];
    static const struct field fields[] = {
        STR("provider", struct fg_deployment, provider, NULL),
        STR("model", struct fg_deployment, model, NULL),
        STR("deployment", struct fg_deployment, deployment, NULL),
    };
    d->line = n->line;
    d->provider_index = -1;
    if (!expect(ld, n, N_MAP, path))
        return;
    walk_map(ld, n, path, fields, NF(fields), d);
    require(ld, n, path, "provider");
    if (!d->model && m->model)
        d->model = fg_xstrdup(m->model);
    const struct fg_provider_cfg *p = fg_config_provider(ld->cfg, d->provider);
    path_key(sub, path, "provider");
    if (d->provider && !p) {
        err_at(ld, n->line, sub, "unknown provider \"%.80s\"", d->provider);
        return;
    }
    if (p && dialect_for(p, -1, m->name) != m->dialect)
        err_at(ld, n->line, sub,
               "provider \"%.80s\" speaks another dialect than the model's "
               "first deployment",
               d->provider);
    if (p)
        d->provider_index = (int)(p - ld->cfg->providers);
    /* the same Azure deployment name on another resource, unless told */
    azure_deployment(ld, n, path, p, &d->deployment, m->deployment ? m->deployment : d->model);
}

static void load_deployments(struct ld *ld, const struct node *v, const char *path,
                             struct fg_model_cfg *m)
{
    char sub[PATHLEN];
    path_key(sub, path, "deployments");
    if (is_null(v) || !expect(ld, v, N_SEQ, sub))
        return;
    if (v->n > FG_CONFIG_MAX_DEPLOYMENTS - 1) {
        err_at(ld, v->line, sub,
               "at most %d deployments besides the model's own provider "
               "(got %zu)",
               FG_CONFIG_MAX_DEPLOYMENTS - 1, v->n);
        return;
    }
    m->deployments = fg_xcalloc(v->n ? v->n : 1, sizeof *m->deployments);
    for (size_t i = 0; i < v->n; i++) {
        char item[PATHLEN];
        path_idx(item, sub, i);
        load_deployment(ld, v->kids[i], item, m, &m->deployments[m->n_deployments++]);
    }
}

/* "HH:MM" (UTC) → minutes of the day; "24:00" only as an end. */
static const char *parse_clock(const char *s, bool end, int *out)
{
    static const char *const bad = "expected a UTC time of day like 16:30";
    if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return bad;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), mi = (s[3] - '0') * 10 + (s[4] - '0');
    if (mi > 59 || h > 24 || (h == 24 && (mi || !end)))
        return end ? "must be between 00:00 and 24:00" : "must be between 00:00 and 23:59";
    *out = h * 60 + mi;
    return NULL;
}

static void load_window_clock(struct ld *ld, const struct node *w, const char *path,
                              const char *key, bool end, int *out)
{
    char sub[PATHLEN];
    path_key(sub, path, key);
    const struct node *v = map_get(w, key);
    const char *s = v ? scalar_text(ld, v, sub, "a time of day like 16:30") : NULL;
    const char *bad = s ? parse_clock(s, end, out) : NULL;
    if (bad)
        err_at(ld, v->line, sub, "%s", bad);
}

static void load_window_days(struct ld *ld, const struct node *v, const char *path, unsigned *days)
{
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    char sub[PATHLEN];
    path_key(sub, path, "days");
    *days = 0x7f;
    if (is_null(v) || !expect(ld, v, N_SEQ, sub))
        return;
    *days = 0;
    for (size_t i = 0; i < v->n; i++) {
        char item[PATHLEN];
        path_idx(item, sub, i);
        const char *s = scalar_text(ld, v->kids[i], item, "a weekday like mon");
        size_t d = 0;
        while (s && d < NF(names) && strcasecmp(s, names[d]))
            d++;
        if (s && d == NF(names))
            err_at(ld, v->kids[i]->line, item, "expected one of sun, mon, tue, wed, thu, fri, sat");
        else if (s)
            *days |= 1u << d;
    }
    if (v->n == 0)
        err_at(ld, v->line, sub, "must name at least one weekday (omit it for every day)");
}

static void load_window(struct ld *ld, const struct node *w, const char *path,
                        struct fg_price_window *pw)
{
    static const struct fg_price unset = {-1, -1, -1, -1, -1, -1, -1};
    char sub[PATHLEN];
    pw->price = unset;
    pw->line = w->line;
    pw->days = 0x7f;
    pw->from_min = pw->to_min = -1;
    if (!expect(ld, w, N_MAP, path))
        return;
    walk_map(ld, w, path, window_fields, NF(window_fields), pw);
    require(ld, w, path, "from");
    require(ld, w, path, "to");
    require(ld, w, path, "price");
    load_window_clock(ld, w, path, "from", false, &pw->from_min);
    load_window_clock(ld, w, path, "to", true, &pw->to_min);
    load_window_days(ld, map_get(w, "days"), path, &pw->days);
    if (pw->from_min >= 0 && pw->from_min == pw->to_min % 1440)
        err_at(ld, w->line, path,
               "from and to are the same time: the window would be empty "
               "(a whole day is from 00:00 to 24:00)");
    path_key(sub, path, "price");
    const struct node *p = map_get(w, "price");
    walk_map(ld, p, sub, price_fields, NF(price_fields), &pw->price);
    /* (a field given but refused has been reported already) */
    if (p && p->t == N_MAP && p->n == 0)
        err_at(ld, p->line, sub, "must set at least one price field");
}

static void load_schedule(struct ld *ld, const struct node *v, const char *path,
                          struct fg_model_cfg *m)
{
    char sub[PATHLEN];
    path_key(sub, path, "price_schedule");
    if (is_null(v) || !expect(ld, v, N_SEQ, sub))
        return;
    if (v->n > 64) {
        err_at(ld, v->line, sub, "at most 64 windows (got %zu)", v->n);
        return;
    }
    m->schedule = fg_xcalloc(v->n ? v->n : 1, sizeof *m->schedule);
    for (size_t i = 0; i < v->n; i++) {
        char item[PATHLEN];
        path_idx(item, sub, i);
        load_window(ld, v->kids[i], item, &m->schedule[m->n_schedule++]);
    }
}

/* models[i].flex: true | false, overriding the built-in list (flex.h). */
static void load_flex(struct ld *ld, const struct node *v, const char *path, struct fg_model_cfg *m)
{
    char sub[PATHLEN];
    const char *s;
    path_key(sub, path, "flex");
    if (is_null(v) || !(s = scalar_text(ld, v, sub, "true or false")))
        return;
    if (!strcmp(s, "true"))
        m->flex = 1;
    else if (!strcmp(s, "false"))
        m->flex = -1;
    else
        err_at(ld, v->line, sub, "must be true or false (got \"%.40s\")", s);
}

static void load_model(struct ld *ld, const struct node *n, const char *path,
                       struct fg_model_cfg *m)
{
    char sub[PATHLEN];
    model_init(m, n->line);
    if (!expect(ld, n, N_MAP, path))
        return;
    walk_map(ld, n, path, model_fields, NF(model_fields), m);
    path_key(sub, path, "price");
    walk_map(ld, map_get(n, "price"), sub, price_fields, NF(price_fields), &m->price);
    require(ld, n, path, "name");
    require(ld, n, path, "provider");
    if (!m->model && m->name)
        m->model = fg_xstrdup(m->name);
    resolve_model(ld, n, path, m);
    load_deployments(ld, map_get(n, "deployments"), path, m);
    load_schedule(ld, map_get(n, "price_schedule"), path, m);

    load_flex(ld, map_get(n, "flex"), path, m);
}

static void load_models(struct ld *ld, const struct node *n)
{
    struct fg_config *c = ld->cfg;
    if (is_null(n) || !expect(ld, n, N_SEQ, "models"))
        return;
    c->models = fg_xcalloc(n->n, sizeof *c->models);
    for (size_t i = 0; i < n->n; i++) {
        char path[PATHLEN];
        path_idx(path, "models", i);
        load_model(ld, n->kids[i], path, &c->models[c->n_models++]);
    }
    CHECK_DUPS(ld, "models", "model", c->models, c->n_models, MDL);
}

/* ======================== routes ======================== */

static bool escalation_known(const char *s)
{
    static const char *const known[] = {"invalid_schema", "truncated", "refusal",
                                        "empty",          "format",    "retry"};
    for (size_t i = 0; i < NF(known); i++)
        if (!strcmp(s, known[i]))
            return true;
    return false;
}

static void load_escalate(struct ld *ld, const struct node *v, const char *path,
                          struct fg_route_cfg *r)
{
    if (is_null(v) || !expect(ld, v, N_SEQ, path))
        return;
    r->escalate_on = fg_xcalloc(v->n, sizeof *r->escalate_on);
    for (size_t i = 0; i < v->n; i++) {
        char sub[PATHLEN];
        const char *s;
        path_idx(sub, path, i);
        if (!(s = scalar_text(ld, v->kids[i], sub, "a string")))
            continue;
        if (escalation_known(s))
            r->escalate_on[r->n_escalate_on++] = fg_xstrdup(s);
        else
            err_at(ld, v->kids[i]->line, sub,
                   "must be invalid_schema, truncated, refusal, empty, format or retry "
                   "(got \"%.40s\")",
                   s);
    }
}

/* frontier_for / cheap_for: "key:ID_OR_NAME" or "tag:k=v" selectors. */
static void load_selectors(struct ld *ld, const struct node *v, const char *path, char ***out,
                           size_t *n)
{
    if (is_null(v) || !expect(ld, v, N_SEQ, path))
        return;
    *out = fg_xcalloc(v->n, sizeof **out);
    for (size_t i = 0; i < v->n; i++) {
        char sub[PATHLEN];
        const char *s;
        path_idx(sub, path, i);
        if (!(s = scalar_text(ld, v->kids[i], sub, "a string")))
            continue;
        bool ok = (!strncmp(s, "key:", 4) && s[4]) ||
                  (!strncmp(s, "tag:", 4) && strchr(s + 4, '=') && s[4] != '=');
        if (ok)
            (*out)[(*n)++] = fg_xstrdup(s);
        else
            err_at(ld, v->kids[i]->line, sub,
                   "must be \"key:ID_OR_NAME\" or \"tag:k=v\" (got \"%.40s\")", s);
    }
}

/* Route names are virtual model names, so they must not shadow a model. */
static void resolve_route(struct ld *ld, const struct node *n, const char *path,
                          const struct fg_route_cfg *r)
{
    char sub[PATHLEN];
    const struct fg_model_cfg *same = fg_config_model(ld->cfg, r->name);
    if (same) {
        path_key(sub, path, "name");
        err_at(ld, map_get(n, "name")->line, sub, "\"%.80s\" is already a model name (line %d)",
               r->name, same->line);
    }
    path_key(sub, path, "cheap");
    ref_model(ld, map_get(n, "cheap"), sub, r->cheap);
    path_key(sub, path, "frontier");
    ref_model(ld, map_get(n, "frontier"), sub, r->frontier);
}

/* `learn: {sample, judge, budget_usd_per_day}`: shadow
 * evaluation (learn.h).  A judge and a budget are required: learning
 * spends money, so it never runs unbounded. */
static void load_learn(struct ld *ld, const struct node *n, const char *path,
                       struct fg_route_cfg *r)
{
    if (is_null(n) || !expect(ld, n, N_MAP, path))
        return;
    r->learn.line = n->line;
    r->learn.budget_micro = -1;
    r->learn.retrain_every = 50;
    r->learn.min_labels = 50;
    walk_map(ld, n, path, learn_fields, NF(learn_fields), r);
    require(ld, n, path, "judge");
    require(ld, n, path, "budget_usd_per_day");
    char sub[PATHLEN];
    path_key(sub, path, "judge");
    if (r->learn.judge)
        ref_model(ld, map_get(n, "judge"), sub, r->learn.judge);
}

/* A YAML subtree as JSON: plain scalars that read as numbers, booleans or
 * null become those (a schema's `minimum: 0`, `additionalProperties:
 * false`), everything else a string.  The caller owns the result. */
static json_t *node_json(const struct node *n)
{
    if (n->t == N_SCALAR) {
        char *end;
        if (n->null)
            return json_null();
        if (!strcmp(n->text, "true") || !strcmp(n->text, "false"))
            return json_boolean(!strcmp(n->text, "true"));
        long long i = strtoll(n->text, &end, 10);
        if (*n->text && !*end)
            return json_integer(i);
        double d = strtod(n->text, &end);
        if (*n->text && !*end)
            return json_real(d);
        return json_stringn(n->text, n->len);
    }
    json_t *out = n->t == N_MAP ? json_object() : json_array();
    for (size_t i = 0; i < n->n; i += n->t == N_MAP ? 2 : 1) {
        if (n->t == N_SEQ)
            json_array_append_new(out, node_json(n->kids[i]));
        else if (n->kids[i]->t == N_SCALAR)
            json_object_set_new(out, n->kids[i]->text, node_json(n->kids[i + 1]));
    }
    return out;
}

/* format: a PCRE2 pattern (compiled here for a file:line error; the
 * daemon compiles it again in call/fmtcheck.c) or a JSON Schema mapping,
 * kept as JSON text (compiled by `frugal check` and at startup, which name
 * the line: the schema compiler lives above this layer). */
static void load_format(struct ld *ld, const struct node *v, const char *path,
                        struct fg_route_cfg *r)
{
    if (is_null(v))
        return;
    r->format_line = v->line;
    if (v->t == N_MAP) {
        json_t *j = node_json(v);
        r->format_schema = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        return;
    }
    if (v->t != N_SCALAR || !*v->text) {
        err_at(ld, v->line, path, "must be a pattern (a string) or a JSON Schema (a mapping)");
        return;
    }
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)v->text, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_MULTILINE, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        err_at(ld, v->line, path, "invalid pattern: %s at offset %zu", (const char *)msg,
               (size_t)off);
        return;
    }
    pcre2_code_free(re);
    r->format_pattern = fg_xstrdup(v->text);
}

/* quality_target picks the threshold from labels: it needs a label file
 * or `learn:` (the route gathers its own) and excludes the other two ways of
 * setting the threshold, which would silently win over it. */
static void check_quality_target(struct ld *ld, const struct node *n, const char *path,
                                 const struct fg_route_cfg *r)
{
    char sub[PATHLEN];
    const struct node *q = map_get(n, "quality_target");
    if (r->quality_target < 0 || !q)
        return;
    path_key(sub, path, "quality_target");
    if (r->quality_target == 0)
        err_at(ld, q->line, sub,
               "must be above 0 (the share of calls whose answer is no worse "
               "than the frontier model's)");
    else if (!r->labels && !map_get(n, "learn"))
        err_at(ld, q->line, sub,
               "needs the route's held-out labels: set labels: FILE (JSON lines "
               "with prompt and cheap_ok), or learn: to gather its own");
    else if (r->threshold >= 0 || r->frontier_share >= 0)
        err_at(ld, q->line, sub, "sets the threshold from labels: remove %s",
               r->threshold >= 0 ? "threshold" : "frontier_share");
}

static void load_route(struct ld *ld, const struct node *n, const char *path,
                       struct fg_route_cfg *r)
{
    char sub[PATHLEN];
    r->threshold = -1; /* unset: the weights' recommended operating point */
    r->frontier_share = -1;
    r->quality_target = -1;
    r->line = n->line;
    if (!expect(ld, n, N_MAP, path))
        return;
    walk_map(ld, n, path, route_fields, NF(route_fields), r);
    path_key(sub, path, "escalate_on");
    load_escalate(ld, map_get(n, "escalate_on"), sub, r);
    path_key(sub, path, "format");
    load_format(ld, map_get(n, "format"), sub, r);
    const struct node *cs = map_get(n, "cold_start");
    const char *cst;
    path_key(sub, path, "cold_start");
    if (!is_null(cs) && (cst = scalar_text(ld, cs, sub, "a string"))) {
        if (!strcmp(cst, "classifier"))
            r->cold_start = FG_COLD_CLASSIFIER;
        else if (!strcmp(cst, "frontier"))
            r->cold_start = FG_COLD_FRONTIER;
        else if (!strcmp(cst, "cheap"))
            r->cold_start = FG_COLD_CHEAP;
        else
            err_at(ld, cs->line, sub, "must be classifier, frontier or cheap (got \"%.40s\")", cst);
    }
    path_key(sub, path, "frontier_for");
    load_selectors(ld, map_get(n, "frontier_for"), sub, &r->frontier_for, &r->n_frontier_for);
    path_key(sub, path, "cheap_for");
    load_selectors(ld, map_get(n, "cheap_for"), sub, &r->cheap_for, &r->n_cheap_for);
    require(ld, n, path, "name");
    require(ld, n, path, "cheap");
    require(ld, n, path, "frontier");
    resolve_route(ld, n, path, r);
    path_key(sub, path, "learn");
    load_learn(ld, map_get(n, "learn"), sub, r);

    check_quality_target(ld, n, path, r);
    for (size_t i = 0; i < r->n_escalate_on; i++)
        if (!strcmp(r->escalate_on[i], "format") && !r->format_pattern && !r->format_schema) {
            path_key(sub, path, "escalate_on");
            err_at(ld, map_get(n, "escalate_on")->line, sub,
                   "format needs the route's format: a pattern or a JSON Schema");
        }
}

static void load_routes(struct ld *ld, const struct node *n)
{
    struct fg_config *c = ld->cfg;
    if (is_null(n) || !expect(ld, n, N_SEQ, "routes"))
        return;
    c->routes = fg_xcalloc(n->n, sizeof *c->routes);
    for (size_t i = 0; i < n->n; i++) {
        char path[PATHLEN];
        path_idx(path, "routes", i);
        load_route(ld, n->kids[i], path, &c->routes[c->n_routes++]);
    }
    CHECK_DUPS(ld, "routes", "route", c->routes, c->n_routes, RTE);
}

/* ======================== fallbacks ======================== */

/* `MODEL: [TARGET, ...]`, key node <k>, value node <v>. */
static void load_fallback(struct ld *ld, const struct node *k, const struct node *v,
                          const char *path, struct fg_fallback_cfg *f)
{
    f->model = fg_xstrdup(k->text);
    f->line = k->line;
    ref_model(ld, k, path, f->model);
    if (is_null(v) || !expect(ld, v, N_SEQ, path))
        return;
    f->to = fg_xcalloc(v->n, sizeof *f->to);
    for (size_t i = 0; i < v->n; i++) {
        char sub[PATHLEN];
        const char *s;
        path_idx(sub, path, i);
        if (!(s = scalar_text(ld, v->kids[i], sub, "a model name")))
            continue;
        if (!strcmp(s, f->model))
            err_at(ld, v->kids[i]->line, sub, "a model cannot fall back to itself");
        else
            ref_model(ld, v->kids[i], sub, s);
        f->to[f->n_to++] = fg_xstrdup(s);
    }
}

static void load_fallbacks(struct ld *ld, const struct node *n)
{
    struct fg_config *c = ld->cfg;
    if (is_null(n) || !expect(ld, n, N_MAP, "fallbacks"))
        return;
    c->fallbacks = fg_xcalloc(n->n / 2, sizeof *c->fallbacks);
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct node *k = n->kids[i];
        char path[PATHLEN];
        if (k->t != N_SCALAR) {
            err_at(ld, k->line, "fallbacks", "mapping keys must be scalars");
            continue;
        }
        path_key(path, "fallbacks", k->text);
        if (dup_key(n, i))
            err_at(ld, k->line, path, "duplicate key");
        else
            load_fallback(ld, k, n->kids[i + 1], path, &c->fallbacks[c->n_fallbacks++]);
    }
}

/* ======================== tag budgets ======================== */

/* A tag budget written as a mapping: {budget: USD/period, soft: bool}.
 * Returns the budget's node (NULL when missing, an error recorded). */
static const struct node *tag_budget_map(struct ld *ld, const struct node *m, const char *path,
                                         bool *soft)
{
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const char *k = m->kids[i]->t == N_SCALAR ? m->kids[i]->text : "";
        if (strcmp(k, "budget") && strcmp(k, "soft"))
            err_at(ld, m->kids[i]->line, path, "unknown key '%.40s' (budget, soft)", k);
    }
    const struct node *s = map_get(m, "soft");
    char sub[PATHLEN];
    path_key(sub, path, "soft");
    const char *st = s ? scalar_text(ld, s, sub, "true or false") : NULL;
    if (st)
        set_bool(ld, st, s->line, sub, soft);
    const struct node *b = map_get(m, "budget");
    if (!b)
        err_at(ld, m->line, path, "missing 'budget' (USD/period, e.g. 100/month)");
    return b;
}

/* `tag_budgets: {"team=search": 100/month, ...}` */
static void load_tag_budgets(struct ld *ld, const struct node *n)
{
    struct fg_config *c = ld->cfg;
    if (is_null(n) || !expect(ld, n, N_MAP, "tag_budgets"))
        return;
    c->tag_budgets = fg_xcalloc(n->n / 2 + 1, sizeof *c->tag_budgets);
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct node *k = n->kids[i];
        char path[PATHLEN], norm[256];
        if (k->t != N_SCALAR) {
            err_at(ld, k->line, "tag_budgets", "mapping keys must be scalars");
            continue;
        }
        path_key(path, "tag_budgets", k->text);
        struct fg_tag_budget_cfg *t = &c->tag_budgets[c->n_tag_budgets];
        const struct node *val = n->kids[i + 1];
        t->soft = false;
        if (val->t == N_MAP) /* {budget: 5/day, soft: true} */
            val = tag_budget_map(ld, val, path, &t->soft);
        const char *v = val ? scalar_text(ld, val, path, "USD/period (e.g. 100/month)") : NULL;
        enum fg_period per;
        if (dup_key(n, i))
            err_at(ld, k->line, path, "duplicate key");
        else if (fg_spec_tags(k->text, norm, sizeof norm) < 0 || strchr(norm, ','))
            err_at(ld, k->line, path, "a tag budget's key is one tag, k=v");
        else if (v && fg_spec_budget(v, &t->limit_pico, &per) < 0)
            err_at(ld, val->line, path,
                   "expected USD/period, e.g. 100/month or 5.50/day (got \"%.40s\")", v);
        else if (v) {
            t->tag = fg_xstrdup(norm);
            t->period = (int)per;
            t->line = k->line;
            c->n_tag_budgets++;
        }
    }
}

/* ======================== alerts, gateway budget ======================== */

/* The webhook is the operator's: http(s), a host, nothing a shell or a log
 * line would misread.  (The daemon never lets a client name it.) */
static const char *check_webhook(const char *s)
{
    size_t skip = !strncmp(s, "http://", 7) ? 7 : !strncmp(s, "https://", 8) ? 8 : 0;
    if (!skip)
        return "must be an http:// or https:// URL";
    if (!s[skip] || s[skip] == '/' || s[skip] == ':')
        return "has no host (http://host[:port]/path)";
    if (strlen(s) > 2000)
        return "is longer than 2000 characters";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return "contains a space or a control character";
    return NULL;
}

static const struct field alerts_fields[] = {
    STR("webhook", struct fg_alerts_cfg, webhook, check_webhook),
    OTHER("at"),
};

/* alerts: {webhook: URL, at: [0.8, 1.0]} (keys/alert.h). */
static void load_alerts(struct ld *ld, const struct node *n)
{
    struct fg_alerts_cfg *a = &ld->cfg->alerts;
    a->n_at = 2;
    a->at[0] = 0.8;
    a->at[1] = 1.0;
    if (is_null(n))
        return;
    walk_map(ld, n, "alerts", alerts_fields, NF(alerts_fields), a);
    if (n->t != N_MAP)
        return;
    if (!map_get(n, "webhook")) /* (a bad one has its own error) */
        err_at(ld, n->line, "alerts.webhook", "missing: the URL alerts are POSTed to");
    const struct node *at = map_get(n, "at");
    if (is_null(at) || !expect(ld, at, N_SEQ, "alerts.at"))
        return;
    if (at->n == 0 || at->n > FG_ALERT_MAX_AT) {
        err_at(ld, at->line, "alerts.at", "give 1 to %d thresholds (fractions of a budget)",
               FG_ALERT_MAX_AT);
        return;
    }
    a->n_at = 0;
    for (size_t i = 0; i < at->n; i++) {
        char path[PATHLEN];
        snprintf(path, sizeof path, "alerts.at[%zu]", i);
        const char *t = scalar_text(ld, at->kids[i], path, "a number");
        char *end = NULL;
        double d = t ? strtod(t, &end) : 0;
        if (!t)
            continue;
        if (end == t || *end || !(d > 0 && d <= 10))
            err_at(ld, at->kids[i]->line, path,
                   "expected a fraction of the budget above 0 and at most 10 (got \"%.40s\")", t);
        else if (a->n_at && d <= a->at[a->n_at - 1])
            err_at(ld, at->kids[i]->line, path, "thresholds must be in increasing order");
        else
            a->at[a->n_at++] = d;
    }
}

/* gateway_budget: {usd: N, period: day|month, soft: bool}. */
static void load_gateway_budget(struct ld *ld, const struct node *n)
{
    struct fg_gateway_budget_cfg *g = &ld->cfg->gateway_budget;
    if (is_null(n) || !expect(ld, n, N_MAP, "gateway_budget"))
        return;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const char *k = n->kids[i]->t == N_SCALAR ? n->kids[i]->text : "";
        if (strcmp(k, "usd") && strcmp(k, "period") && strcmp(k, "soft"))
            err_at(ld, n->kids[i]->line, "gateway_budget",
                   "unknown key '%.40s' (usd, period, soft)", k);
    }
    const struct node *u = map_get(n, "usd"), *p = map_get(n, "period"), *s = map_get(n, "soft");
    const char *us = u ? scalar_text(ld, u, "gateway_budget.usd", "a number of USD") : NULL;
    const char *ps = p ? scalar_text(ld, p, "gateway_budget.period", "day or month") : NULL;
    const char *ss = s ? scalar_text(ld, s, "gateway_budget.soft", "true or false") : NULL;
    if (ss)
        set_bool(ld, ss, s->line, "gateway_budget.soft", &g->soft);
    if (!u)
        err_at(ld, n->line, "gateway_budget.usd", "missing: the gateway's spend limit in USD");
    if (ps && strcmp(ps, "day") && strcmp(ps, "month"))
        err_at(ld, p->line, "gateway_budget.period", "must be day or month (got \"%.40s\")", ps);
    if (!us || (ps && strcmp(ps, "day") && strcmp(ps, "month")))
        return;
    char spec[96];
    enum fg_period per;
    snprintf(spec, sizeof spec, "%.60s/%s", us, ps ? ps : "month");
    if (fg_spec_budget(spec, &g->limit_pico, &per) < 0) {
        err_at(ld, u->line, "gateway_budget.usd",
               "expected a positive number of USD (got \"%.40s\")", us);
        g->limit_pico = 0;
        return;
    }
    g->period = (int)per;
}

/* ======================== file loading ======================== */

/* Sections load in dependency order: models refer to providers, routes and
 * fallbacks to models. */
/* The bodies in flight must hold the largest single body a path takes. */
static void check_body_limits(struct ld *ld, const struct node *server)
{
    const struct fg_config *c = ld->cfg;
    const struct node *k =
        server && server->t == N_MAP ? map_get(server, "max_body_bytes_in_flight") : NULL;
    size_t need = c->server.max_body_bytes;
    const char *by = "server.max_body_bytes";
    if (c->batches.max_file_bytes + (64u << 10) > need) {
        need = c->batches.max_file_bytes + (64u << 10);
        by = "batches.max_file_bytes + 64 KiB";
    }
    if (c->server.max_body_bytes_in_flight >= need)
        return;
    if (!k) /* the default follows a larger cap set elsewhere */
        ld->cfg->server.max_body_bytes_in_flight = need;
    else
        err_at(ld, k->line, "server.max_body_bytes_in_flight",
               "%zu is less than %s (%zu): the largest body allowed could never be received",
               c->server.max_body_bytes_in_flight, by, need);
}

/* deferral: {window_ms, min_deadline, max_deadline, defer_for} (call/defer.h). */
static void load_deferral(struct ld *ld, const struct node *n)
{
    struct fg_config *c = ld->cfg;
    if (is_null(n))
        return;
    walk_map(ld, n, "deferral", deferral_fields, NF(deferral_fields), c);
    if (n->t == N_MAP)
        load_selectors(ld, map_get(n, "defer_for"), "deferral.defer_for", &c->deferral.defer_for,
                       &c->deferral.n_defer_for);
    if (c->deferral.max_deadline_s > 3600)
        err_at(ld, n->line, "deferral.max_deadline",
               "at most 1h: a client holding its request open longer is not waiting (got %ds)",
               c->deferral.max_deadline_s);
    if (c->deferral.min_deadline_s > c->deferral.max_deadline_s)
        err_at(ld, n->line, "deferral.min_deadline",
               "%ds is longer than deferral.max_deadline (%ds): no call could go into a batch",
               c->deferral.min_deadline_s, c->deferral.max_deadline_s);
}

static const char *check_access_log(const char *s)
{
    return *s ? NULL : "expected off, stdout or a file path";
}

static const struct field log_fields[] = {
    STR("access", CFG, log.access, check_access_log),
};

static void load_root(struct ld *ld, const struct node *root)
{
    struct fg_config *c = ld->cfg;
    if (!expect(ld, root, N_MAP, "(root)"))
        return;
    walk_map(ld, root, "", top_fields, NF(top_fields), c);
    walk_map(ld, map_get(root, "server"), "server", server_fields, NF(server_fields), &c->server);
    if (c->server.public_url)
        strip_slashes(c->server.public_url); /* paths are appended: "/v1/..." */
    load_providers(ld, map_get(root, "providers"));
    load_models(ld, map_get(root, "models"));
    load_routes(ld, map_get(root, "routes"));
    load_fallbacks(ld, map_get(root, "fallbacks"));
    load_tag_budgets(ld, map_get(root, "tag_budgets"));
    load_alerts(ld, map_get(root, "alerts"));
    load_gateway_budget(ld, map_get(root, "gateway_budget"));
    walk_map(ld, map_get(root, "prompt_caching"), "prompt_caching", prompt_caching_fields,
             NF(prompt_caching_fields), c);
    walk_map(ld, map_get(root, "response_cache"), "response_cache", response_cache_fields,
             NF(response_cache_fields), c);
    walk_map(ld, map_get(root, "responses"), "responses", responses_fields, NF(responses_fields),
             c);
    walk_map(ld, map_get(root, "structured_output"), "structured_output", structured_output_fields,
             NF(structured_output_fields), c);
    walk_map(ld, map_get(root, "batches"), "batches", batches_fields, NF(batches_fields), c);
    walk_map(ld, map_get(root, "budgets"), "budgets", budgets_fields, NF(budgets_fields), c);
    load_deferral(ld, map_get(root, "deferral"));
    walk_map(ld, map_get(root, "log"), "log", log_fields, NF(log_fields), c);
    check_body_limits(ld, map_get(root, "server"));
}

/* Hands <cfg> to the caller when no error was recorded, else frees it. */
static int finish(struct ld *ld, struct fg_config *cfg, struct fg_config **out,
                  struct fg_config_errlist *errs)
{
    if (ld->errs.n) {
        flush_errors(ld, errs);
        fg_config_free(cfg);
        return -1;
    }
    flush_errors(ld, errs);
    *out = cfg;
    return 0;
}

/* Parses <buf> (from file <name>) into *out; the errors go to <errs>. */
static int load_text(struct ld *ld, const char *name, const char *buf, size_t len,
                     struct fg_config **out, struct fg_config_errlist *errs)
{
    struct fg_config *cfg = NULL;
    struct node *root = NULL;
    if (buf && !(root = parse_yaml(ld, buf, len)) && !ld->errs.n)
        err_at(ld, 1, "(root)", "the file is empty");
    if (root) {
        cfg = ld->cfg = config_new(name);
        load_root(ld, root);
    }
    node_free(root);
    if (finish(ld, cfg, out, errs) < 0)
        return -1;
    fg_debug("config: %s: %zu providers, %zu models, %zu routes", name, cfg->n_providers,
             cfg->n_models, cfg->n_routes);
    return 0;
}

/* A relative sqlite:PATH names a file next to the config file, whatever
 * the current directory: serve, report and keys then find the same
 * database from anywhere.  (":memory:" and "file:" URIs are left alone.) */
static void anchor_dsn(char **dsn, const char *path)
{
    const char *db = *dsn + strlen("sqlite:");
    if (strncmp(*dsn, "sqlite:", 7) || db[0] == '/' || db[0] == ':' || !strncmp(db, "file:", 5))
        return;
    char *copy = fg_xstrdup(path), *slash = strrchr(copy, '/');
    const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    char *abs = realpath(dir, NULL);
    const char *base = abs ? abs : dir;
    size_t n = strlen("sqlite:") + strlen(base) + 1 + strlen(db) + 1;
    char *s = fg_xcalloc(1, n);
    snprintf(s, n, "sqlite:%s/%s", base, db);
    free(abs);
    free(copy);
    free(*dsn);
    *dsn = s;
}

/* A relative access log path is next to the config file, like a
 * relative sqlite: path. */
static void anchor_access_log(struct fg_config *c, const char *path)
{
    char *a = c->log.access;
    if (!a || !strcmp(a, "off") || !strcmp(a, "stdout"))
        return;
    size_t n = strlen("sqlite:") + strlen(a) + 1;
    char *as = fg_xcalloc(1, n);
    snprintf(as, n, "sqlite:%s", a);
    anchor_dsn(&as, path);
    free(c->log.access);
    c->log.access = fg_xstrdup(as + strlen("sqlite:"));
    free(as);
}

/* Batches live in the ledger's database (SQLite or Postgres: the batch
 * API's Postgres queries run off the worker loops, batch_api.h), or in
 * batches.storage (sqlite:PATH or postgres://…). */
static void anchor_storage(struct fg_config *c, const char *path)
{
    anchor_dsn(&c->storage, path);
    if (c->batches.storage)
        anchor_dsn(&c->batches.storage, path);
    if (!c->spool)
        c->spool = fg_xstrdup("frugal-ledger.spool");
    /* the same rule as a relative sqlite: path */
    size_t n = strlen("sqlite:") + strlen(c->spool) + 1;
    char *as = fg_xcalloc(1, n);
    snprintf(as, n, "sqlite:%s", c->spool);
    anchor_dsn(&as, path);
    free(c->spool);
    c->spool = fg_xstrdup(as + strlen("sqlite:"));
    free(as);
    anchor_access_log(c, path);
}

const char *fg_config_batch_storage(const struct fg_config *c)
{
    if (c->batches.storage)
        return c->batches.storage;
    return c->storage;
}

int fg_config_load(const char *path, struct fg_config **out, struct fg_config_errlist *errs)
{
    return fg_config_load_opts(path, 0, out, errs);
}

int fg_config_load_opts(const char *path, int flags, struct fg_config **out,
                        struct fg_config_errlist *errs)
{
    struct ld ld = {.file = path ? path : "(none)",
                    .lenient_env = (flags & FG_CONFIG_NO_SECRETS) != 0};
    size_t len = 0;
    char *buf = path ? read_file(&ld, path, &len) : NULL;

    *out = NULL;
    if (!path)
        err_at(&ld, 0, "(file)", "no configuration file given");
    int rc = load_text(&ld, path, buf, len, out, errs);
    free(buf);
    if (rc == 0)
        anchor_storage(*out, path);
    return rc;
}

int fg_config_load_buffer(const char *name, const char *buf, size_t len, struct fg_config **out,
                          struct fg_config_errlist *errs)
{
    struct ld ld = {.file = name ? name : "(buffer)"};
    *out = NULL;
    if (!buf)
        buf = "", len = 0;
    if (len > MAX_FILE) {
        err_at(&ld, 0, "(file)", "cannot read: file too large");
        buf = NULL;
    }
    return load_text(&ld, ld.file, buf, len, out, errs);
}

/* ======================== built-in configuration ======================== */

struct builtin_model {
    const char *name;
    int max_output_tokens; /* from shared/data/prices.json */
};

static const struct builtin_model openai_models[] = {
    {"gpt-4o-mini", 16384}, {"gpt-4o", 16384},
    {"gpt-4.1", 32768},     {"gpt-4.1-mini", 32768},
    {"gpt-5", 128000},      {"gpt-5-mini", 128000},
    {"gpt-5-nano", 128000}, {"text-embedding-3-small", 0}, /* POST /v1/embeddings */
};

static const struct builtin_model anthropic_models[] = {
    {"claude-haiku-4-5", 64000},
    {"claude-sonnet-4-5", 64000},
    {"claude-sonnet-4-6", 64000},
    {"claude-opus-4-5", 64000},
};

/* Appends a provider (the array is sized for two by the caller). */
static int add_provider(struct fg_config *c, const char *name, enum fg_provider_type t)
{
    struct fg_provider_cfg *p = &c->providers[c->n_providers];
    provider_init(p, 0);
    p->name = fg_xstrdup(name);
    p->type = t;
    return (int)c->n_providers++;
}

/* The shared "sim" provider, created on first use. */
static int sim_provider(struct fg_config *c)
{
    const struct fg_provider_cfg *p = fg_config_provider(c, "sim");
    return p ? (int)(p - c->providers) : add_provider(c, "sim", FG_PROV_SIM);
}

/* A real provider keyed by <key>; <url_env> may override the endpoint. */
static int real_provider(struct ld *ld, struct fg_config *c, const char *name,
                         enum fg_provider_type t, const char *key, const char *url_env)
{
    int i = add_provider(c, name, t);
    struct fg_provider_cfg *p = &c->providers[i];
    const char *url = getenv(url_env);
    const char *bad = url && *url ? check_url(url) : NULL;
    p->api_key = fg_xstrdup(key);
    if (bad)
        err_at(ld, 0, url_env, "%s", bad);
    p->base_url = fg_xstrdup(url && *url && !bad ? url : default_url(t));
    strip_slashes(p->base_url);
    return i;
}

/* Provider index for one side: real when its key is set, else the sim. */
static int side_provider(struct ld *ld, struct fg_config *c, const char *name,
                         enum fg_provider_type t, const char *key_env, const char *url_env)
{
    const char *key = getenv(key_env);
    if (key && *key)
        return real_provider(ld, c, name, t, key, url_env);
    return sim_provider(c);
}

static void add_models(struct fg_config *c, const struct builtin_model *t, size_t n, int provider)
{
    for (size_t i = 0; i < n; i++) {
        struct fg_model_cfg *m = &c->models[c->n_models++];
        model_init(m, 0);
        m->name = fg_xstrdup(t[i].name);
        m->model = fg_xstrdup(t[i].name);
        m->provider = fg_xstrdup(c->providers[provider].name);
        m->provider_index = provider;
        m->dialect = dialect_for(&c->providers[provider], -1, m->name);
        m->max_output_tokens = t[i].max_output_tokens;
    }
}

static void add_auto_route(struct fg_config *c)
{
    static const char *const esc[] = {"invalid_schema", "truncated", "refusal", "empty"};
    struct fg_route_cfg *r = c->routes = fg_xcalloc(1, sizeof *c->routes);
    c->n_routes = 1;
    r->name = fg_xstrdup("auto");
    r->cheap = fg_xstrdup("gpt-4o-mini");
    r->frontier = fg_xstrdup("gpt-4o");
    r->threshold = -1;
    r->frontier_share = -1;
    r->quality_target = -1;
    r->escalate_on = fg_xcalloc(NF(esc), sizeof *r->escalate_on);
    for (size_t i = 0; i < NF(esc); i++)
        r->escalate_on[r->n_escalate_on++] = fg_xstrdup(esc[i]);
}

/* FRUGAL_MASTER_KEY and FRUGAL_LISTEN.  An empty master key is an error,
 * not "no auth": a blank variable is far more likely a deployment slip. */
static void server_from_env(struct ld *ld, struct fg_config *c)
{
    const char *key = getenv("FRUGAL_MASTER_KEY");
    const char *listen = getenv("FRUGAL_LISTEN");
    const char *bad;
    if (key && !*key)
        err_at(ld, 0, "FRUGAL_MASTER_KEY", "environment variable FRUGAL_MASTER_KEY is empty");
    else if (key)
        c->server.master_key = fg_xstrdup(key);
    if (listen && (bad = check_listen(listen))) {
        err_at(ld, 0, "FRUGAL_LISTEN", "%s", bad);
    } else if (listen) {
        free(c->server.listen);
        c->server.listen = fg_xstrdup(listen);
    }
}

int fg_config_defaults(struct fg_config **out, struct fg_config_errlist *errs)
{
    struct ld ld = {.file = BUILTIN_FILE};
    struct fg_config *c = ld.cfg = config_new(NULL);
    c->builtin = true;
    *out = NULL;
    server_from_env(&ld, c);
    c->providers = fg_xcalloc(2, sizeof *c->providers);
    int oi = side_provider(&ld, c, "openai", FG_PROV_OPENAI, "OPENAI_API_KEY", "OPENAI_BASE_URL");
    int ai = side_provider(&ld, c, "anthropic", FG_PROV_ANTHROPIC, "ANTHROPIC_API_KEY",
                           "ANTHROPIC_BASE_URL");
    c->models = fg_xcalloc(NF(openai_models) + NF(anthropic_models), sizeof *c->models);
    add_models(c, openai_models, NF(openai_models), oi);
    add_models(c, anthropic_models, NF(anthropic_models), ai);
    add_auto_route(c);
    return finish(&ld, c, out, errs);
}

/* ======================== freeing ======================== */

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_provider(struct fg_provider_cfg *p)
{
    free(p->name);
    free(p->base_url);
    free(p->api_key);
    free(p->batch);
    free(p->anthropic_version);
    free(p->api_version);
}

void fg_config_free(struct fg_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_providers; i++)
        free_provider(&c->providers[i]);
    for (size_t i = 0; i < c->n_models; i++) {
        free(c->models[i].name);
        free(c->models[i].provider);
        free(c->models[i].model);
        free(c->models[i].deployment);
        for (size_t k = 0; k < c->models[i].n_deployments; k++) {
            free(c->models[i].deployments[k].provider);
            free(c->models[i].deployments[k].model);
            free(c->models[i].deployments[k].deployment);
        }
        free(c->models[i].deployments);
        free(c->models[i].schedule);
    }
    for (size_t i = 0; i < c->n_routes; i++) {
        free(c->routes[i].name);
        free(c->routes[i].cheap);
        free(c->routes[i].frontier);
        free(c->routes[i].weights);
        free(c->routes[i].learn.judge);

        free(c->routes[i].labels);
        free(c->routes[i].format_pattern);
        free(c->routes[i].format_schema);
        free_strv(c->routes[i].escalate_on, c->routes[i].n_escalate_on);
        free_strv(c->routes[i].frontier_for, c->routes[i].n_frontier_for);
        free_strv(c->routes[i].cheap_for, c->routes[i].n_cheap_for);
    }
    for (size_t i = 0; i < c->n_fallbacks; i++) {
        free(c->fallbacks[i].model);
        free_strv(c->fallbacks[i].to, c->fallbacks[i].n_to);
    }
    free(c->providers);
    free(c->models);
    free(c->routes);
    free(c->fallbacks);
    for (size_t i = 0; i < c->n_tag_budgets; i++)
        free(c->tag_budgets[i].tag);
    free(c->tag_budgets);
    free(c->alerts.webhook);
    free(c->server.listen);
    free(c->server.master_key);
    free(c->server.log_level);
    free(c->server.public_url);
    free(c->storage);
    free(c->batches.storage);
    free_strv(c->deferral.defer_for, c->deferral.n_defer_for);
    free(c->spool);
    free(c->log.access);

    free(c->redis);
    free(c->budgets.on_store_down);
    free(c->structured_output.stream);
    free(c->path);
    free(c);
}
