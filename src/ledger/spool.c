/* spool.c — see spool.h.  Frame: "FGS1", u32 body length, body, u32
 * FNV-1a of the body (native byte order: the file is read back by the
 * same machine).  Body: the record's integers (int64 each, in the order of
 * ints_of), then its strings, each a u32 length (NONE for NULL) and bytes,
 * then the integers added later (int64 each: saved_flex_pico); a frame
 * written before them ends after its strings and they read as 0. */
#include "spool.h"

#include "arena.h"
#include "assert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC 0x31534746u /* "FGS1" */
#define NONE 0xffffffffu
#define MAX_BODY (16u << 20)
#define NINTS 30
#define NSTRS 19
#define NEXTRA 1 /* integers after the strings: saved_flex_pico */

struct fg_spool {
    int fd;
    off_t rd, end;  /* replay cursor, end of the valid frames */
    off_t next_rd;  /* the cursor after the last fg_spool_read */
    long last_n;    /* records that read handed out */
    uint64_t depth; /* frames in [rd, end) */
};

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *v, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = fg_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, v, n);
    b->n += n;
}

static uint32_t fnv1a(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* The record's integer fields, in frame order. */
static void ints_of(const struct fg_record *r, int64_t v[NINTS])
{
    const int64_t x[NINTS] = {r->ts_ms,
                              r->stream,
                              r->batch,
                              r->status,
                              r->tok.input,
                              r->tok.cache_read,
                              r->tok.cache_write_5m,
                              r->tok.cache_write_1h,
                              r->tok.output,
                              r->reasoning_tokens,
                              r->priced,
                              r->cost_pico,
                              r->baseline_pico,
                              r->saved_prompt_cache_pico,
                              r->saved_response_cache_pico,
                              r->saved_routing_pico,
                              r->saved_batch_pico,
                              r->bucket_repeated_pico,
                              r->bucket_repeated_cached_pico,
                              r->bucket_frontier_pico,
                              r->bucket_bloated_pico,
                              r->latency_us,
                              r->ttfb_us,
                              r->prefix_tokens,
                              r->repeated_tokens,
                              r->buster_offset,
                              r->buster_tokens,
                              r->buster_pico,
                              r->request_bytes,
                              r->response_bytes};
    memcpy(v, x, sizeof x);
}

static void set_ints(struct fg_record *r, const int64_t v[NINTS])
{
    int i = 0;
    r->ts_ms = v[i++];
    r->stream = v[i++] != 0;
    r->batch = v[i++] != 0;
    r->status = (int)v[i++];
    int64_t *rest[] = {&r->tok.input,          &r->tok.cache_read, &r->tok.cache_write_5m,
                       &r->tok.cache_write_1h, &r->tok.output,     &r->reasoning_tokens};
    for (size_t k = 0; k < sizeof rest / sizeof rest[0]; k++)
        *rest[k] = v[i++];
    r->priced = v[i++] != 0;
    int64_t *more[] = {&r->cost_pico,
                       &r->baseline_pico,
                       &r->saved_prompt_cache_pico,
                       &r->saved_response_cache_pico,
                       &r->saved_routing_pico,
                       &r->saved_batch_pico,
                       &r->bucket_repeated_pico,
                       &r->bucket_repeated_cached_pico,
                       &r->bucket_frontier_pico,
                       &r->bucket_bloated_pico,
                       &r->latency_us,
                       &r->ttfb_us,
                       &r->prefix_tokens,
                       &r->repeated_tokens,
                       &r->buster_offset,
                       &r->buster_tokens,
                       &r->buster_pico,
                       &r->request_bytes,
                       &r->response_bytes};
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++)
        *more[k] = v[i++];
    FG_DASSERT(i == NINTS);
}

/* The record's strings, in frame order (id and prefix_fp first). */
static void strs_of(const struct fg_record *r, const char *s[NSTRS])
{
    const char *x[NSTRS] = {r->id,
                            r->prefix_fp,
                            r->key_id,
                            r->tags,
                            r->endpoint,
                            r->model_requested,
                            r->model,
                            r->upstream_model,
                            r->provider,
                            r->route,
                            r->route_reason,
                            r->cache,
                            r->error,
                            r->linked_id,
                            r->buster_where,
                            r->buster_sample,
                            r->cache_miss_reason,
                            r->batch_id,
                            r->response_id};
    memcpy(s, x, sizeof x);
}

static void encode(struct buf *b, const struct fg_record *r)
{
    size_t head = b->n;
    uint32_t magic = MAGIC, len = 0;
    put(b, &magic, 4);
    put(b, &len, 4);
    int64_t v[NINTS];
    ints_of(r, v);
    put(b, v, sizeof v);
    const char *s[NSTRS];
    strs_of(r, s);
    for (int i = 0; i < NSTRS; i++) {
        uint32_t n = s[i] ? (uint32_t)strlen(s[i]) : NONE;
        put(b, &n, 4);
        if (s[i])
            put(b, s[i], n);
    }
    const int64_t extra[NEXTRA] = {r->saved_flex_pico};
    put(b, extra, sizeof extra);
    len = (uint32_t)(b->n - head - 8);
    memcpy(b->p + head + 4, &len, 4);
    uint32_t h = fnv1a(b->p + head + 8, len);
    put(b, &h, 4);
}

/* One body back into a record of its own; NULL when it does not parse. */
static struct fg_record *decode(const char *p, uint32_t len)
{
    if (len < NINTS * 8)
        return NULL;
    int64_t v[NINTS];
    memcpy(v, p, sizeof v);
    const char *s[NSTRS];
    uint32_t sl[NSTRS];
    size_t off = sizeof v, text = 0;
    for (int i = 0; i < NSTRS; i++) {
        if (off + 4 > len)
            return NULL;
        memcpy(&sl[i], p + off, 4);
        off += 4;
        s[i] = NULL;
        if (sl[i] == NONE)
            continue;
        if (sl[i] > len - off)
            return NULL;
        s[i] = p + off;
        off += sl[i];
        text += sl[i] + 1;
    }
    int64_t extra[NEXTRA] = {0};
    if (off + sizeof extra == len) { /* else a frame from before them */
        memcpy(extra, p + off, sizeof extra);
        off = len;
    }
    if (off != len || sl[0] == NONE || sl[0] >= sizeof((struct fg_record *)0)->id)
        return NULL;
    struct fg_record *r = fg_ledger_record_new(text);
    set_ints(r, v);
    r->saved_flex_pico = extra[0];
    memcpy(r->id, s[0], sl[0]);
    if (sl[1] != NONE && sl[1] < sizeof r->prefix_fp)
        memcpy(r->prefix_fp, s[1], sl[1]);
    const char **dst[NSTRS - 2] = {&r->key_id,          &r->tags,          &r->endpoint,
                                   &r->model_requested, &r->model,         &r->upstream_model,
                                   &r->provider,        &r->route,         &r->route_reason,
                                   &r->cache,           &r->error,         &r->linked_id,
                                   &r->buster_where,    &r->buster_sample, &r->cache_miss_reason,
                                   &r->batch_id,        &r->response_id};
    for (int i = 2; i < NSTRS; i++) {
        if (!s[i])
            continue;
        char tmp[4096], *t = sl[i] < sizeof tmp ? tmp : fg_xmalloc(sl[i] + 1);
        memcpy(t, s[i], sl[i]);
        t[sl[i]] = '\0';
        *dst[i - 2] = fg_ledger_record_str(r, t);
        if (t != tmp)
            free(t);
    }
    return r;
}

static int preadall(int fd, void *p, size_t n, off_t at)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)p + got, n - got, at + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* The frame at `at`: its body (malloc'd) and the offset after it; -1 when
 * there is no whole, intact frame there. */
static int frame_at(struct fg_spool *s, off_t at, off_t limit, char **body, uint32_t *len,
                    off_t *next)
{
    uint32_t h[2], sum;
    if (at + 8 > limit || preadall(s->fd, h, 8, at) < 0 || h[0] != MAGIC || h[1] > MAX_BODY ||
        at + 12 + (off_t)h[1] > limit)
        return -1;
    char *b = fg_xmalloc(h[1] ? h[1] : 1);
    if (preadall(s->fd, b, h[1], at + 8) < 0 || preadall(s->fd, &sum, 4, at + 8 + h[1]) < 0 ||
        sum != fnv1a(b, h[1])) {
        free(b);
        return -1;
    }
    *body = b;
    *len = h[1];
    *next = at + 12 + h[1];
    return 0;
}

int fg_spool_open(const char *path, struct fg_spool **out, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "spool %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct fg_spool *s = fg_xcalloc(1, sizeof *s);
    s->fd = fd;
    /* count the frames a previous process left; a torn tail is cut off */
    off_t at = 0, next;
    char *body;
    uint32_t len;
    while (frame_at(s, at, st.st_size, &body, &len, &next) == 0) {
        free(body);
        s->depth++;
        at = next;
    }
    if (at < st.st_size && ftruncate(fd, at) < 0) {
        snprintf(err, errlen, "spool %s: %s", path, strerror(errno));
        fg_spool_close(s);
        return -1;
    }
    s->end = at;
    *out = s;
    return 0;
}

void fg_spool_close(struct fg_spool *s)
{
    if (!s)
        return;
    close(s->fd);
    free(s);
}

int fg_spool_append(struct fg_spool *s, struct fg_record *const *recs, size_t n, char *err,
                    size_t errlen)
{
    struct buf b = {0};
    for (size_t i = 0; i < n; i++)
        encode(&b, recs[i]);
    size_t done = 0;
    while (done < b.n) {
        ssize_t k = pwrite(s->fd, b.p + done, b.n - done, s->end + (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, errlen, "spool: writing: %s", k < 0 ? strerror(errno) : "no space");
            if (ftruncate(s->fd, s->end) < 0) { /* a partial frame would be cut at open */
            }
            free(b.p);
            return -1;
        }
        done += (size_t)k;
    }
    free(b.p);
    s->end += (off_t)done;
    s->depth += n;
    return 0;
}

long fg_spool_read(struct fg_spool *s, struct fg_record **out, size_t max, char *err, size_t errlen)
{
    off_t at = s->rd, next;
    long n = 0;
    err[0] = '\0';
    char *body;
    uint32_t len;
    while ((size_t)n < max && at < s->end) {
        struct fg_record *r = NULL;
        if (frame_at(s, at, s->end, &body, &len, &next) == 0) {
            r = decode(body, len);
            free(body);
        }
        if (!r) {
            /* appends are whole and open checked every frame: only damage
             * from outside gets here; what follows it cannot be trusted */
            snprintf(err, errlen, "spool: a damaged record at byte %lld: %llu record(s) cut",
                     (long long)at, (unsigned long long)(s->depth - (uint64_t)n));
            s->depth = (uint64_t)n;
            s->end = at;
            if (ftruncate(s->fd, at) < 0) { /* cut again at the next open */
            }
            break;
        }
        out[n++] = r;
        at = next;
    }
    s->next_rd = at;
    s->last_n = n;
    return n;
}

int fg_spool_scan(struct fg_spool *s, int (*cb)(void *arg, const struct fg_record *r), void *arg)
{
    off_t at = s->rd, next;
    char *body;
    uint32_t len;
    while (at < s->end) {
        struct fg_record *r = NULL;
        if (frame_at(s, at, s->end, &body, &len, &next) == 0) {
            r = decode(body, len);
            free(body);
        }
        if (!r)
            return -1; /* damage: fg_spool_read reports and cuts it */
        int rc = cb(arg, r);
        fg_ledger_record_free(r);
        if (rc)
            return rc;
        at = next;
    }
    return 0;
}

void fg_spool_consume(struct fg_spool *s)
{
    FG_ASSERT(s->next_rd >= s->rd && s->next_rd <= s->end);
    FG_ASSERT((uint64_t)s->last_n <= s->depth);
    s->rd = s->next_rd;
    s->depth -= (uint64_t)s->last_n;
    s->last_n = 0;
    if (s->rd == s->end && ftruncate(s->fd, 0) == 0)
        s->rd = s->end = s->next_rd = 0;
}

uint64_t fg_spool_depth(const struct fg_spool *s)
{
    return s ? s->depth : 0;
}
