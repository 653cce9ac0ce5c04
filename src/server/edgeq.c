/* edgeq.c — see edgeq.h. */
#include "edgeq.h"

#include "arena.h"
#include "edge.h"

#include <string.h>

const char *fg_edgeq_header(struct fg_edge_req *r, const char *name)
{
    struct fg_span v = fg_edge_req_header(r, name);
    if (!v.p)
        return NULL;
    return fg_arena_strndup(fg_edge_req_arena(r), v.p, v.n);
}

const char *fg_edgeq_path(struct fg_edge_req *r)
{
    struct fg_span p = fg_edge_req_head(r)->path;
    return fg_arena_strndup(fg_edge_req_arena(r), p.p, p.n);
}

const char *fg_edgeq_query(struct fg_edge_req *r)
{
    const struct fg_reqhead *h = fg_edge_req_head(r);
    if (h->path.n >= h->target.n)
        return NULL;
    /* target = path '?' query */
    return fg_arena_strndup(fg_edge_req_arena(r), h->target.p + h->path.n + 1,
                            h->target.n - h->path.n - 1);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

char *fg_edgeq_decode(struct fg_arena *a, const char *s, size_t n, int plus)
{
    char *out = fg_arena_alloc(a, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    *o = '\0';
    return out;
}

const char *fg_edgeq_param(struct fg_arena *a, const char *query, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t nl = eq ? (size_t)(eq - p) : n;
        if (nl == kl && !memcmp(p, key, kl))
            return eq ? fg_edgeq_decode(a, eq + 1, n - nl - 1, 1) : fg_edgeq_decode(a, "", 0, 1);
        p = end ? end + 1 : NULL;
    }
    return NULL;
}
