/* sim_batch.c — the common part of the simulated provider's Files and Batch
 * APIs (contract in sim_batch_internal.h): the store's lifetime, routing a path to
 * the files / OpenAI batches / Anthropic batches handlers, the line
 * schedule and the batch-wide directives, ids, RFC 3339 timestamps, query
 * parameters, and running one batch line through the real-time dialect
 * handler. */
#include "sim_batch_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the store ------------------------------------------------------------- */

struct sim_batches *sim_batches_new(void)
{
    return fg_xcalloc(1, sizeof(struct sim_batches));
}

void sim_batches_set_base_url(struct sim_batches *s, const char *url)
{
    snprintf(s->base_url, sizeof s->base_url, "%s", url ? url : "");
}

void sim_batches_free(struct sim_batches *s)
{
    if (!s)
        return;
    sim_oa_batches_free(s);
    sim_an_batches_free(s);
    sim_files_free(s);
    free(s);
}

/* ---- routing ----------------------------------------------------------------- */

/* <path> is <prefix> or <prefix>/...; returns what follows the prefix. */
static const char *under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0 || (path[n] && path[n] != '/'))
        return NULL;
    return path + n;
}

int sim_batches_owns(const char *path, enum sim_dialect *d)
{
    if (!path)
        return 0;
    if (under(path, "/v1/files") || under(path, "/v1/batches")) {
        *d = SIM_OPENAI;
        return 1;
    }
    if (under(path, "/v1/messages/batches")) {
        *d = SIM_ANTHROPIC;
        return 1;
    }
    return 0;
}

void sim_batches_handle(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                        struct sim_reply *r)
{
    const char *rest;
    if ((rest = under(h->path, "/v1/files")))
        sim_files_handle(s, c, h, rest, r);
    else if ((rest = under(h->path, "/v1/batches")))
        sim_oa_batches_handle(s, c, h, rest, r);
    else if ((rest = under(h->path, "/v1/messages/batches")))
        sim_an_batches_handle(s, c, h, rest, r);
    else
        sim_openai_error(c, r, 404, "invalid_request_error", NULL, NULL,
                         fg_arena_printf(c->arena, "Invalid URL (%s)", h->path));
}

int sim_path_id(const char *rest, char *id, const char **tail)
{
    if (!rest || rest[0] != '/')
        return -1;
    const char *p = rest + 1;
    size_t n = 0;
    while (p[n] && p[n] != '/') {
        unsigned char ch = (unsigned char)p[n];
        if (!isalnum(ch) && ch != '_' && ch != '-')
            return -1;
        n++;
    }
    if (n == 0 || n > 63)
        return -1;
    memcpy(id, p, n);
    id[n] = '\0';
    *tail = p + n;
    return 0;
}

static const char *method_name(enum sim_method m)
{
    switch (m) {
    case SIM_GET: return "GET";
    case SIM_POST: return "POST";
    case SIM_DELETE: return "DELETE";
    default: return "OTHER";
    }
}

void sim_batch_bad_route(struct sim_ctx *c, enum sim_dialect d, const struct sim_http *h, int known,
                         struct sim_reply *r)
{
    const char *what = fg_arena_printf(c->arena, "%s %s", method_name(h->method), h->path);
    if (d == SIM_ANTHROPIC)
        sim_anthropic_error(
            c, r, known ? 405 : 404, known ? "invalid_request_error" : "not_found_error",
            fg_arena_printf(c->arena, known ? "Method not allowed (%s)" : "Not found (%s)", what));
    else
        sim_openai_error(c, r, known ? 405 : 404, "invalid_request_error", NULL, NULL,
                         fg_arena_printf(c->arena,
                                         known ? "Invalid method for URL (%s)" : "Invalid URL (%s)",
                                         what));
}

/* ---- schedule and directives ---------------------------------------------------- */

uint64_t sim_sched_done_ms(const struct sim_sched *s, size_t i)
{
    if (!s->n)
        return s->created_ms;
    return s->created_ms + s->delay_ms * (uint64_t)(i + 1) / (uint64_t)s->n;
}

uint64_t sim_sched_end_ms(const struct sim_sched *s)
{
    return s->created_ms + s->delay_ms;
}

int sim_sched_line_done(const struct sim_sched *s, size_t i, uint64_t t)
{
    uint64_t at = sim_sched_done_ms(s, i);
    if (s->expire && at >= sim_sched_end_ms(s))
        return 0;
    return at <= t;
}

void sim_batch_dir_init(struct sim_batch_dir *d, const char *header)
{
    d->delay_ms = -1;
    d->expire = 0;
    struct sim_fault f;
    sim_fault_init(&f);
    sim_fault_parse(&f, header, 1);
    d->delay_ms = f.batch_delay_ms;
    d->expire = f.batch_expire;
}

void sim_batch_dir_add(struct sim_batch_dir *d, const char *text)
{
    struct sim_fault f;
    sim_fault_init(&f);
    sim_fault_parse(&f, text, 0);
    if (f.batch_delay_ms > d->delay_ms)
        d->delay_ms = f.batch_delay_ms;
    d->expire |= f.batch_expire;
}

void sim_batch_dir_sched(const struct sim_batch_dir *d, uint64_t created_ms, size_t n,
                         struct sim_sched *out)
{
    out->created_ms = created_ms;
    out->delay_ms = d->delay_ms >= 0 ? (uint64_t)d->delay_ms : SIM_BATCH_DEFAULT_DELAY_MS;
    out->n = n;
    out->expire = d->expire;
}

/* ---- ids, time, queries ------------------------------------------------------------ */

void sim_batch_new_id(struct sim_batches *s, const char *prefix, char *out)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t x = sim_hash(SIM_HASH_INIT, prefix, strlen(prefix)) ^ (++s->counter << 20) ^
                 (uint64_t)time(NULL);
    char tail[25];
    for (int i = 0; i < 24; i++) {
        /* splitmix64: each character from a fresh 64-bit value */
        x += 0x9E3779B97F4A7C15ULL;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        tail[i] = b62[z % 62];
    }
    tail[24] = '\0';
    snprintf(out, 64, "%.38s%s", prefix, tail);
}

char *sim_rfc3339(struct fg_arena *a, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return fg_arena_printf(a, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                           (unsigned)(ms % 1000) * 1000);
}

static int hexdig(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decode [p, p+n) (and '+' as a space) into the arena. */
static char *decode(struct fg_arena *a, const char *p, size_t n)
{
    char *out = fg_arena_alloc(a, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && hexdig((unsigned char)p[i + 1]) >= 0 &&
            hexdig((unsigned char)p[i + 2]) >= 0) {
            *o++ = (char)(hexdig((unsigned char)p[i + 1]) * 16 + hexdig((unsigned char)p[i + 2]));
            i += 2;
        } else {
            *o++ = p[i] == '+' ? ' ' : p[i];
        }
    }
    *o = '\0';
    return out;
}

const char *sim_query_get(struct fg_arena *a, const char *query, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t kn = eq ? (size_t)(eq - p) : n;
        if (kn == klen && memcmp(p, key, klen) == 0)
            return eq ? decode(a, eq + 1, n - kn - 1) : "";
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

int sim_parse_limit(const char *v, long lo, long hi, long *out)
{
    if (!v)
        return 0;
    char *end;
    if (!*v || !isdigit((unsigned char)*v))
        return -1;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

/* ---- one line -------------------------------------------------------------------------- */

static const char *reply_header(const struct sim_reply *r, const char *name)
{
    for (int i = 0; i < r->nhdr; i++)
        if (strcmp(r->hdr_name[i], name) == 0)
            return r->hdr_value[i];
    return NULL;
}

void sim_batch_run_line(struct sim_ctx *c, enum sim_dialect d, const json_t *body,
                        struct sim_line_answer *out)
{
    struct sim_fault f;
    struct sim_reply rep = {0};
    sim_fault_init(&f);
    sim_fault_parse(&f,
                    d == SIM_OPENAI ? sim_openai_last_user_text(c->arena, body)
                                    : sim_anthropic_last_user_text(c->arena, body),
                    0);
    c->tokens = f.tokens;
    c->bad_schema = f.bad_schema;
    c->bad_usage = f.bad_usage;
    if (f.status >= 400) {
        sim_fault_error(c, d, &rep, f.status);
    } else if (f.echo_auth) {
        sim_echo_auth_error(c, d, &rep);
    } else if (json_is_true(json_object_get(body, "stream"))) {
        if (d == SIM_OPENAI)
            sim_openai_error(c, &rep, 400, "invalid_request_error", "stream", NULL,
                             "Streaming is not supported in the Batch API.");
        else
            sim_anthropic_error(c, &rep, 400, "invalid_request_error",
                                "stream: Streaming is not supported in Message Batches.");
    } else if (d == SIM_OPENAI) {
        sim_openai_chat(c, body, &rep);
    } else {
        sim_anthropic_messages(c, body, &rep);
    }
    out->status = rep.status;
    out->body = rep.body && !rep.stream ? json_loadb(rep.body, rep.body_len, 0, NULL) : NULL;
    if (!out->body) /* cannot happen with the handlers above; keep lines valid anyway */
        out->body = json_object();
    const char *rid = reply_header(&rep, d == SIM_OPENAI ? "x-request-id" : "request-id");
    out->request_id = rid ? rid : fg_arena_printf(c->arena, "req_sim_%s", c->id);
}

void sim_batch_run_responses_line(struct sim_ctx *c, const json_t *body,
                                  struct sim_line_answer *out)
{
    struct sim_fault f;
    struct sim_reply rep = {0};
    sim_fault_init(&f);
    sim_fault_parse(&f, sim_responses_user_text(c->arena, body), 0);
    c->tokens = f.tokens;
    c->bad_schema = f.bad_schema;
    struct sim_http h = {.method = SIM_POST, .path = "/v1/responses"};
    if (f.status >= 400)
        sim_fault_error(c, SIM_OPENAI, &rep, f.status);
    else if (f.echo_auth)
        sim_echo_auth_error(c, SIM_OPENAI, &rep);
    else if (json_is_true(json_object_get(body, "stream")))
        sim_openai_error(c, &rep, 400, "invalid_request_error", "stream", NULL,
                         "Streaming is not supported in the Batch API.");
    else if (!c->responses)
        sim_openai_error(c, &rep, 500, "server_error", NULL, NULL, "no Responses store");
    else
        sim_responses_handle(c->responses, c, &h, body, &rep);
    out->status = rep.status;
    out->body = rep.body && !rep.stream ? json_loadb(rep.body, rep.body_len, 0, NULL) : NULL;
    if (!out->body)
        out->body = json_object();
    const char *rid = reply_header(&rep, "x-request-id");
    out->request_id = rid ? rid : fg_arena_printf(c->arena, "req_sim_%s", c->id);
}
