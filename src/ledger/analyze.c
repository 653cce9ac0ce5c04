/* analyze.c — see analyze.h.
 *
 * Two passes: load every line into a compact call (request features:
 * prefix boundaries, simple / wants-structured; response side: tokens,
 * answer text when it matters), join batch halves on custom_id, sort by
 * time; then walk the calls in time order, pricing and attributing each
 * (fg_attrib, fg_prefix_seen) and running the four projections. */
#include "analyze.h"

#include "arena.h"
#include "attrib.h"
#include "flex.h"
#include "json.h"
#include "ledger.h"
#include "prefix.h"
#include "provider.h"
#include "usage.h"
#include "vec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_NOTES 50 /* FILE:LINE messages printed per run */
#define DEFAULT_TOP 10

struct fg_analyze_call {
    const char *file;
    long line;
    int64_t seq, ts_ms;
    bool timed;
    enum fg_dialect d;
    char *model, *resp_model, *custom_id;
    /* request side */
    bool has_req, simple, structured, deferrable;
    int nb, stable; /* stable: 1 when there is a stable prefix */
    int64_t stable_tokens;
    uint64_t *hash;
    int64_t *btok;
    char fp[17];
    /* response side */
    bool error, batch;
    bool flex; /* the answer says service_tier "flex": billed at flex (batch) rates */
    struct fg_tokens tok;
    int64_t reasoning;
    char *text; /* the answer text, kept while it may matter */
    size_t text_len;
    /* results */
    const char *name; /* model shown and priced */
    bool priced;
    struct fg_price price;
    int64_t cost, baseline, repeated;
    /* prompt-cache projection state */
    int64_t pc_read, pc_written, pc_charged;
};

static void call_free(struct fg_analyze_call *c)
{
    free(c->model);
    free(c->resp_model);
    free(c->custom_id);
    free(c->hash);
    free(c->btok);
    free(c->text);
}

static void drop_text(struct fg_analyze_call *c)
{
    free(c->text);
    c->text = NULL;
    c->text_len = 0;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}
static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t prompt_total(const struct fg_analyze_call *c)
{
    return c->tok.input + c->tok.cache_read + c->tok.cache_write_5m + c->tok.cache_write_1h;
}

/* ---- time ------------------------------------------------------------- */

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Fraction ".123456" → milliseconds; advances *p.  false if malformed. */
static bool parse_frac(const char **p, int64_t *ms)
{
    const char *s = *p;
    if (*s != '.')
        return true;
    int k = 0;
    for (s++; *s >= '0' && *s <= '9'; s++, k++)
        if (k < 3)
            *ms = *ms * 10 + (*s - '0');
    if (!k)
        return false;
    for (; k < 3; k++)
        *ms *= 10;
    *p = s;
    return true;
}

/* "Z", "+hh:mm" / "-hh:mm" or nothing (taken as UTC) → offset seconds;
 * false if malformed. */
static bool parse_offset(const char *p, int64_t *off)
{
    if (!p[0] || ((p[0] == 'Z' || p[0] == 'z') && !p[1]))
        return true;
    if ((p[0] != '+' && p[0] != '-') || p[3] != ':' || p[6])
        return false;
    int h = digits(p + 1, 2), m = digits(p + 4, 2);
    if (h < 0 || m < 0 || h > 23 || m > 59)
        return false;
    *off = (p[0] == '-' ? -1 : 1) * (int64_t)(h * 60 + m) * 60;
    return true;
}

/* RFC3339 "2026-11-26T09:00:00(.fff)(Z|±hh:mm)" → unix ms (no zone = UTC). */
static bool parse_rfc3339(const char *s, int64_t *out)
{
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return false;
    int Y = digits(s, 4), M = digits(s + 5, 2), D = digits(s + 8, 2), h = digits(s + 11, 2),
        mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        sec < 0 || sec > 60)
        return false;
    const char *p = s + 19;
    int64_t ms = 0, off = 0;
    if (!parse_frac(&p, &ms) || !parse_offset(p, &off))
        return false;
    int64_t t = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - off;
    *out = t * 1000 + ms;
    return true;
}

/* Unix seconds as text (integer or fractional); > 1e11 is taken as ms. */
static bool parse_unix(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v > 0) || v > 1e15)
        return false;
    *out = v > 1e11 ? (int64_t)v : (int64_t)llround(v * 1000.0);
    return true;
}

static void format_time(int64_t ms, char out[32])
{
    int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400, rem = s - days * 86400;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

/* ---- loading ---------------------------------------------------------- */

struct vec {
    struct fg_analyze_call *v;
    size_t n, cap;
};

static void vec_push(struct vec *v, const struct fg_analyze_call *c)
{
    FG_VEC_PUSH(v->v, v->n, v->cap, *c);
}

static void vec_free(struct vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        call_free(&v->v[i]);
    free(v->v);
    memset(v, 0, sizeof *v);
}

struct loader {
    struct fg_analysis *a;
    FILE *diag;
    const char *file;
    long line;
    int64_t last_ts, seq;
    struct fg_json j, jr; /* the line; a request body re-indexed */
    struct vec calls, ins, outs;
    int notes_left;
    int64_t notes_dropped;
    char why[512];
};

static int fail(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct loader *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->why, sizeof L->why, fmt, ap);
    va_end(ap);
    return -1;
}

static void note(struct loader *L, const char *file, long line, const char *msg)
{
    if (L->notes_left <= 0) {
        L->notes_dropped++;
        return;
    }
    L->notes_left--;
    fprintf(L->diag, "%s:%ld: %s\n", file, line, msg);
}

static char *dup_str(const struct fg_json *j, int i)
{
    if (fg_json_type(j, i) != FG_J_STR)
        return NULL;
    size_t rl;
    fg_json_raw_str(j, i, &rl);
    char *s = fg_xmalloc(rl + 1);
    fg_json_str(j, i, s, rl + 1);
    return s;
}

static void set_time(struct loader *L, struct fg_analyze_call *c, int64_t ms)
{
    c->ts_ms = ms;
    c->timed = true;
    L->last_ts = ms;
}

/* The line's "time": absent → inherit; present but bad → error. */
static int line_time(struct loader *L, struct fg_analyze_call *c, int t)
{
    c->ts_ms = L->last_ts;
    if (t < 0 || fg_json_type(&L->j, t) == FG_J_NULL)
        return 0;
    char buf[64] = "";
    const struct fg_jtok *k = &L->j.t[t];
    if (fg_json_type(&L->j, t) == FG_J_STR)
        fg_json_str(&L->j, t, buf, sizeof buf);
    else if (fg_json_type(&L->j, t) == FG_J_NUM && k->end - k->start < sizeof buf)
        memcpy(buf, L->j.src + k->start, k->end - k->start);
    int64_t ms;
    if (!parse_rfc3339(buf, &ms) && !parse_unix(buf, &ms))
        return fail(L, "bad \"time\" (want RFC3339 or unix seconds): %.*s",
                    (int)(k->end - k->start > 64 ? 64 : k->end - k->start), L->j.src + k->start);
    set_time(L, c, ms);
    return 0;
}

struct text_acc {
    const struct fg_json *j;
    char *buf; /* NULL: sizing pass */
    size_t cap, used;
};

static void acc_text(void *arg, int str)
{
    struct text_acc *a = arg;
    size_t n;
    if (!a->buf) {
        fg_json_raw_str(a->j, str, &n);
        a->cap += n; /* raw length bounds the decoded one */
        return;
    }
    long w = fg_json_str(a->j, str, a->buf + a->used, a->cap - a->used);
    a->used += w > 0 ? (size_t)w : 0;
}

/* Concatenated decoded text of the answer's text parts. */
static void answer_text(const struct fg_json *j, int r, struct fg_analyze_call *c)
{
    const struct fg_dialect_ops *d = fg_provider_ops(c->d);
    struct text_acc a = {.j = j, .cap = 1};
    d->answer_text(j, r, acc_text, &a);
    a.buf = fg_xmalloc(a.cap);
    a.buf[0] = '\0';
    d->answer_text(j, r, acc_text, &a);
    c->text = a.buf;
    c->text_len = a.used;
}

/* Index the request body (its own document: the scanners read root 0). */
static int fill_request(struct loader *L, struct fg_analyze_call *c, int body)
{
    const struct fg_jtok *t = &L->j.t[body];
    struct fg_json *j = &L->jr;
    if (fg_json_parse(j, L->j.src + t->start, t->end - t->start) < 0)
        return fail(L, "request body: %s", j->err);
    if (!c->model)
        c->model = dup_str(j, fg_json_get(j, 0, "model"));
    struct fg_prefix p;
    fg_prefix_scan(j, c->d, &p);
    c->nb = p.n;
    c->stable = p.stable;
    c->stable_tokens = p.stable_tokens;
    c->hash = fg_xmalloc((size_t)(p.n + 1) * sizeof *c->hash);
    c->btok = fg_xmalloc((size_t)(p.n + 1) * sizeof *c->btok);
    memcpy(c->hash, p.hash, (size_t)p.n * sizeof *c->hash);
    memcpy(c->btok, p.tokens, (size_t)p.n * sizeof *c->btok);
    fg_prefix_fingerprint(&p, c->fp);
    c->simple = fg_attrib_simple(j, c->d);
    c->structured = fg_attrib_wants_structured(j, c->d);
    c->has_req = true;
    return 0;
}

static bool is_error_response(const struct fg_json *j, int r)
{
    int e = fg_json_get(j, r, "error");
    return (e >= 0 && fg_json_type(j, e) != FG_J_NULL) ||
           fg_json_str_eq(j, fg_json_get(j, r, "type"), "error");
}

static int fill_response(struct loader *L, struct fg_analyze_call *c, int r)
{
    const struct fg_json *j = &L->j;
    if (is_error_response(j, r)) {
        c->error = true;
        return 0;
    }
    int u = fg_provider_usage_at(fg_provider_ops(c->d), j, r);
    if (fg_json_type(j, u) != FG_J_OBJ)
        return fail(L, "response has no \"usage\" object");
    struct fg_usage us = {0};
    fg_provider_ops(c->d)->usage(j, u, &us);
    const struct fg_tokens *k = &us.tok;
    if (k->input < 0 || k->cache_read < 0 || k->cache_write_5m < 0 || k->cache_write_1h < 0 ||
        k->output < 0)
        return fail(L, "usage has a negative token count");
    c->tok = us.tok;
    c->reasoning = us.reasoning;
    c->resp_model = dup_str(j, fg_json_get(j, r, "model"));
    c->flex =
        c->d == FG_DIALECT_OPENAI && fg_json_str_eq(j, fg_json_get(j, r, "service_tier"), "flex");
    answer_text(j, r, c);
    int64_t created;
    if (!c->timed && fg_json_int(j, fg_json_get(j, r, "created"), &created) && created > 0)
        set_time(L, c, created * 1000);
    return 0;
}

/* Provider of a log line: "provider", else the shapes; -1 if unknown. */
static int log_dialect(const struct fg_json *j, int req, int resp)
{
    int p = fg_json_get(j, 0, "provider"), u = fg_json_get(j, resp, "usage");
    size_t ml = 0;
    int model = fg_json_get(j, req, "model");
    const char *m = fg_json_type(j, model) == FG_J_STR ? fg_json_raw_str(j, model, &ml) : "";
    if (fg_json_str_eq(j, p, "anthropic"))
        return FG_DIALECT_ANTHROPIC;
    if (fg_json_str_eq(j, p, "openai"))
        return FG_DIALECT_OPENAI;
    if (fg_json_str_eq(j, fg_json_get(j, resp, "type"), "message") ||
        fg_json_get(j, u, "input_tokens") >= 0 || (ml >= 6 && !memcmp(m, "claude", 6)))
        return FG_DIALECT_ANTHROPIC;
    if (fg_json_get(j, resp, "choices") >= 0 || fg_json_get(j, u, "prompt_tokens") >= 0 ||
        fg_json_get(j, resp, "error") >= 0)
        return FG_DIALECT_OPENAI;
    return -1;
}

static int load_log(struct loader *L, struct fg_analyze_call *c)
{
    const struct fg_json *j = &L->j;
    int req = fg_json_get(j, 0, "request"), resp = fg_json_get(j, 0, "response");
    if (fg_json_type(j, resp) != FG_J_OBJ)
        return fail(L, "no \"response\" object");
    if (req >= 0 && fg_json_type(j, req) != FG_J_OBJ)
        return fail(L, "\"request\" is not an object");
    int d = log_dialect(j, req, resp);
    if (d < 0)
        return fail(L, "cannot tell the provider: set \"provider\" to \"openai\" or \"anthropic\"");
    c->d = (enum fg_dialect)d;
    c->deferrable = fg_json_type(j, fg_json_get(j, 0, "deferrable")) == FG_J_TRUE;
    if (line_time(L, c, fg_json_get(j, 0, "time")) < 0 ||
        (req >= 0 && fill_request(L, c, req) < 0) || fill_response(L, c, resp) < 0)
        return -1;
    if (!c->structured)
        drop_text(c);
    return 0;
}

static int load_batch_in(struct loader *L, struct fg_analyze_call *c)
{
    const struct fg_json *j = &L->j;
    int body = fg_json_get(j, 0, "body"), url = fg_json_get(j, 0, "url");
    int b = body >= 0 ? body : fg_json_get(j, 0, "params");
    if (fg_json_type(j, b) != FG_J_OBJ)
        return fail(L, "batch input: \"%s\" is not an object", body >= 0 ? "body" : "params");
    c->d = body >= 0 ? FG_DIALECT_OPENAI : FG_DIALECT_ANTHROPIC;
    if (body >= 0 && url >= 0 && !fg_json_str_eq(j, url, "/v1/chat/completions")) {
        char u[96];
        fg_json_str(j, url, u, sizeof u);
        return fail(L, "batch input: url \"%s\" is not analysed (only /v1/chat/completions)", u);
    }
    return fill_request(L, c, b);
}

/* OpenAI {response:{status_code, body}, error} or Anthropic {result}. */
static int load_batch_out(struct loader *L, struct fg_analyze_call *c)
{
    const struct fg_json *j = &L->j;
    int result = fg_json_get(j, 0, "result"), resp = fg_json_get(j, 0, "response");
    int64_t status = 0;
    c->batch = true;
    c->ts_ms = L->last_ts;
    if (result >= 0) {
        c->d = FG_DIALECT_ANTHROPIC;
        c->error = !fg_json_str_eq(j, fg_json_get(j, result, "type"), "succeeded");
        if (c->error)
            return 0;
        int msg = fg_json_get(j, result, "message");
        if (fg_json_type(j, msg) != FG_J_OBJ)
            return fail(L, "batch result: no \"message\" object");
        return fill_response(L, c, msg);
    }
    c->d = FG_DIALECT_OPENAI;
    fg_json_int(j, fg_json_get(j, resp, "status_code"), &status);
    c->error = fg_json_type(j, resp) != FG_J_OBJ || status < 200 || status > 299;
    if (c->error)
        return 0;
    int body = fg_json_get(j, resp, "body");
    if (fg_json_type(j, body) != FG_J_OBJ)
        return fail(L, "batch output: response has no \"body\" object");
    return fill_response(L, c, body);
}

static int load_batch(struct loader *L, struct fg_analyze_call *c, struct vec **dst)
{
    const struct fg_json *j = &L->j;
    int cid = fg_json_get(j, 0, "custom_id");
    if (fg_json_type(j, cid) != FG_J_STR)
        return fail(L, "\"custom_id\" is not a string");
    c->custom_id = dup_str(j, cid);
    if (fg_json_get(j, 0, "body") >= 0 || fg_json_get(j, 0, "params") >= 0) {
        *dst = &L->ins;
        return load_batch_in(L, c);
    }
    if (fg_json_get(j, 0, "response") >= 0 || fg_json_get(j, 0, "result") >= 0 ||
        fg_json_get(j, 0, "error") >= 0) {
        *dst = &L->outs;
        return load_batch_out(L, c);
    }
    return fail(L, "batch line with neither body/params (input) nor response/result (output)");
}

static int load_line(struct loader *L, const char *s, size_t n)
{
    const struct fg_json *j = &L->j;
    if (fg_json_parse(&L->j, s, n) < 0)
        return fail(L, "invalid JSON at byte %zu: %s", L->j.err_off, L->j.err);
    if (fg_json_type(j, 0) != FG_J_OBJ)
        return fail(L, "not a JSON object");
    struct fg_analyze_call c = {.file = L->file, .line = L->line, .seq = L->seq++};
    struct vec *dst = &L->calls;
    int rc;
    int req = fg_json_get(j, 0, "request");
    if (req < 0 && fg_json_get(j, 0, "custom_id") >= 0)
        rc = load_batch(L, &c, &dst);
    else if (req >= 0 || fg_json_get(j, 0, "response") >= 0)
        rc = load_log(L, &c);
    else
        rc = fail(L, "neither a log line (request/response) nor a batch line (custom_id)");
    if (rc < 0) {
        call_free(&c);
        return -1;
    }
    vec_push(dst, &c);
    return 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static int load_file(struct loader *L, const char *path)
{
    bool is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(L->diag, "frugal analyze: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    L->file = path;
    L->line = 0;
    L->last_ts = 0;
    int64_t lines0 = L->a->lines, skipped0 = L->a->skipped_lines, first_bad = 0;
    while ((n = getline(&buf, &cap, f)) >= 0) {
        L->line++;
        if (blank(buf, (size_t)n))
            continue;
        L->a->lines++;
        if (load_line(L, buf, (size_t)n) < 0) {
            L->a->skipped_lines++;
            first_bad = first_bad ? first_bad : L->line;
            note(L, path, L->line, L->why);
        }
    }
    int err = ferror(f) ? errno : 0;
    free(buf);
    if (!is_stdin)
        fclose(f);
    if (err)
        fprintf(L->diag, "frugal analyze: %s: %s\n", path, strerror(err));
    /* not one usable line: this is not a log (a report of $0 would hide it) */
    int64_t lines = L->a->lines - lines0;
    if (!err && lines > 0 && L->a->skipped_lines - skipped0 == lines) {
        fprintf(L->diag,
                "frugal analyze: %s: not a log: none of its %lld lines is a log line "
                "({\"time\", \"provider\", \"request\", \"response\"}) or a batch line "
                "(custom_id); the first bad one is line %lld\n",
                path, (long long)lines, (long long)first_bad);
        return -1;
    }
    return err ? -1 : 0;
}

/* ---- batch join ------------------------------------------------------- */

static int cmp_cid(const void *x, const void *y)
{
    const struct fg_analyze_call *a = x, *b = y;
    int c = strcmp(a->custom_id, b->custom_id);
    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Move the request side of `in` into the output call `out`. */
static void take_request(struct fg_analyze_call *out, struct fg_analyze_call *in)
{
    out->has_req = true;
    out->simple = in->simple;
    out->structured = in->structured;
    out->nb = in->nb;
    out->stable = in->stable;
    out->stable_tokens = in->stable_tokens;
    memcpy(out->fp, in->fp, sizeof out->fp);
    out->hash = in->hash;
    out->btok = in->btok;
    in->hash = NULL;
    in->btok = NULL;
    free(out->model);
    out->model = in->model;
    in->model = NULL;
}

static void join_one(struct loader *L, struct fg_analyze_call *out, struct fg_analyze_call *in)
{
    if (in)
        take_request(out, in);
    else
        L->a->batch_unmatched_output++;
    if (!out->structured)
        drop_text(out);
    vec_push(&L->calls, out);
    memset(out, 0, sizeof *out);
}

static void missing_output(struct loader *L, struct fg_analyze_call *in)
{
    char msg[400];
    snprintf(msg, sizeof msg, "custom_id \"%.300s\": no line for it in the batch output",
             in->custom_id);
    note(L, in->file, in->line, msg);
    L->a->batch_missing_output++;
}

static void join_batches(struct loader *L)
{
    if (L->ins.n)
        qsort(L->ins.v, L->ins.n, sizeof *L->ins.v, cmp_cid);
    if (L->outs.n)
        qsort(L->outs.v, L->outs.n, sizeof *L->outs.v, cmp_cid);
    size_t i = 0, k = 0;
    while (i < L->ins.n || k < L->outs.n) {
        int c = i == L->ins.n    ? 1
                : k == L->outs.n ? -1
                                 : strcmp(L->ins.v[i].custom_id, L->outs.v[k].custom_id);
        if (c < 0)
            missing_output(L, &L->ins.v[i++]);
        else if (c > 0)
            join_one(L, &L->outs.v[k++], NULL);
        else
            join_one(L, &L->outs.v[k++], &L->ins.v[i++]);
    }
    vec_free(&L->ins);
    vec_free(&L->outs);
}

/* Untimed calls before any time in their file take the earliest time. */
static void finish_times(struct vec *v)
{
    int64_t first = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i].timed && (!first || v->v[i].ts_ms < first))
            first = v->v[i].ts_ms;
    for (size_t i = 0; i < v->n; i++)
        if (!v->v[i].timed && v->v[i].ts_ms <= 0)
            v->v[i].ts_ms = first > 0 ? first : 1000;
}

static int cmp_time(const void *x, const void *y)
{
    const struct fg_analyze_call *a = x, *b = y;
    if (a->ts_ms != b->ts_ms)
        return (a->ts_ms > b->ts_ms) - (a->ts_ms < b->ts_ms);
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* ---- the prompt-cache projection's table of prefixes ------------------ */

struct pc_ent {
    uint64_t key;
    int64_t last_ms;
    size_t first; /* call that (re)wrote it */
    bool charged; /* its write premium was counted */
};

struct pc_tab {
    struct pc_ent *e;
    size_t cap, n;
};

static void pc_grow(struct pc_tab *t, size_t need)
{
    if ((t->n + need) * 2 <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 1024;
    while ((t->n + need) * 2 > cap)
        cap *= 2;
    struct pc_ent *e = fg_xcalloc(cap, sizeof *e);
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->e[i].key)
            continue;
        size_t k = t->e[i].key & (cap - 1);
        while (e[k].key)
            k = (k + 1) & (cap - 1);
        e[k] = t->e[i];
    }
    free(t->e);
    t->e = e;
    t->cap = cap;
}

static struct pc_ent *pc_get(struct pc_tab *t, uint64_t key, bool *fresh)
{
    key = key ? key : 1;
    size_t k = key & (t->cap - 1);
    while (t->e[k].key && t->e[k].key != key)
        k = (k + 1) & (t->cap - 1);
    *fresh = !t->e[k].key;
    if (*fresh) {
        t->e[k].key = key;
        t->n++;
    }
    return &t->e[k];
}

/* Caches are per model: a boundary's key mixes in the model name. */
static uint64_t model_key(const struct fg_analyze_call *c)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)c->d;
    for (const char *s = c->name; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t link_key(uint64_t boundary, uint64_t model)
{
    uint64_t k = (boundary ^ model) * 0xff51afd7ed558ccdull;
    return k ^ (k >> 32);
}

/* ---- the walk --------------------------------------------------------- */

struct run {
    const struct fg_analyze_opts *o;
    struct fg_analysis *a;
    struct pc_tab pc;
    const char *cheap_name[2];
    struct fg_price cheap[2];
};

/* Minimum cacheable prefix (spec section 4 / 1.8). */
static int64_t min_prefix(const struct fg_analyze_call *c)
{
    static const struct {
        const char *part;
        int64_t min;
    } fam[] = {{"opus-5", 512},    {"fable", 512},           {"mythos-5", 512},
               {"opus-4-7", 2048}, {"mythos-preview", 2048}, {"3-5-haiku", 2048},
               {"3-haiku", 2048},  {"haiku-3", 2048},        {"opus-4-6", 4096},
               {"opus-4-5", 4096}, {"haiku-4-5", 4096}};
    const struct fg_dialect_cache *k = &fg_provider_ops(c->d)->cache;
    if (k->min_tokens)
        return k->min_tokens;
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++)
        if (strstr(c->name, fam[i].part))
            return fam[i].min;
    return 1024;
}

/* Tokens of a prefix of h tokens billed as uncached input → cache reads.
 * false when the prefix is not cacheable at all. */
static bool cache_read_saving(struct run *R, struct fg_analyze_call *c, int64_t h)
{
    const struct fg_dialect_cache *k = &fg_provider_ops(c->d)->cache;
    int64_t cacheable = min64(h, prompt_total(c));
    if (c->batch && k->batch_off)
        return false; /* batch cache discounts are model-dependent */
    cacheable = cacheable / k->granule * k->granule;
    if (cacheable < min_prefix(c))
        return false;
    int64_t covered = c->tok.cache_read + c->tok.cache_write_5m + c->tok.cache_write_1h;
    int64_t n = min64(max64(0, cacheable - covered), c->tok.input);
    if (n <= 0)
        return true;
    struct fg_tokens t = c->tok;
    t.input -= n;
    t.cache_read += n;
    struct fg_projection *p = &R->a->prompt_cache;
    p->saved_pico +=
        fg_price_cost(&c->price, &c->tok, c->batch) - fg_price_cost(&c->price, &t, c->batch);
    p->tokens += n;
    p->requests++;
    c->pc_read = n;
    return true;
}

/* Anthropic: the first sighting f of a prefix of h tokens that recurs
 * wrote it at the 5-minute write price instead of the input price. */
static void cache_write_premium(struct run *R, struct fg_analyze_call *f, int64_t h)
{
    if (!f->priced)
        return;
    int64_t end = min64(h, prompt_total(f));
    int64_t covered =
        f->tok.cache_read + f->tok.cache_write_5m + f->tok.cache_write_1h + f->pc_read;
    int64_t w = min64(max64(0, end - max64(covered, f->pc_charged)),
                      f->tok.input - f->pc_read - f->pc_written);
    f->pc_charged = max64(f->pc_charged, end);
    if (w <= 0)
        return;
    f->pc_written += w;
    struct fg_tokens wt = {.cache_write_5m = w}, it = {.input = w};
    int64_t extra =
        fg_price_cost(&f->price, &wt, f->batch) - fg_price_cost(&f->price, &it, f->batch);
    struct fg_projection *p = &R->a->prompt_cache;
    p->saved_pico -= extra;
    p->extra_pico += extra;
    p->extra_tokens += w;
}

static void project_cache(struct run *R, size_t i)
{
    struct fg_analyze_call *c = &R->a->calls[i];
    if (!c->has_req || !c->nb)
        return;
    uint64_t mk = model_key(c);
    pc_grow(&R->pc, (size_t)c->nb); /* no growth below: pointers stay valid */
    int hit = -1;
    struct pc_ent *he = NULL;
    for (int b = 0; b < c->nb; b++) {
        bool fresh;
        struct pc_ent *e = pc_get(&R->pc, link_key(c->hash[b], mk), &fresh);
        if (!fresh && c->ts_ms - e->last_ms <= FG_ANALYZE_CACHE_TTL_MS) {
            hit = b;
            he = e;
        } else {
            e->first = i; /* new or expired: this call writes it */
            e->charged = false;
        }
        e->last_ms = c->ts_ms;
    }
    if (hit < 0 || !c->priced || !cache_read_saving(R, c, c->btok[hit]))
        return;
    if (!fg_provider_ops(c->d)->cache.automatic && !he->charged) { /* writes cost a premium */
        he->charged = true;
        cache_write_premium(R, &R->a->calls[he->first], c->btok[hit]);
    }
}

static void project_routing(struct run *R, const struct fg_analyze_call *c)
{
    if (!c->has_req || !c->simple || c->price.input < FG_FRONTIER_INPUT_PRICE)
        return;
    int64_t cheap = fg_price_cost(&R->cheap[c->d], &c->tok, c->batch);
    if (cheap >= c->cost)
        return;
    R->a->routing.saved_pico += c->cost - cheap;
    R->a->routing.requests++;
}

/* The gateway's deferral rule (defer.h): a deferrable call to a model
 * with a flex tier goes flex, any other to a provider batch; both at the
 * model's batch price.  Calls billed at that price already save nothing. */
static bool flex_model(const struct fg_analyze_call *c)
{
    return c->d == FG_DIALECT_OPENAI && fg_flex_builtin(c->name);
}

static void project_deferral(struct run *R, const struct fg_analyze_call *c)
{
    if (c->batch || c->flex || !(c->deferrable || R->o->all_deferrable))
        return;
    int64_t saved = c->cost - fg_price_cost(&c->price, &c->tok, true);
    if (saved <= 0)
        return;
    struct fg_projection *p = flex_model(c) ? &R->a->flex : &R->a->batch;
    p->saved_pico += saved;
    p->requests++;
}

static void project_structured(struct run *R, const struct fg_analyze_call *c)
{
    if (!c->structured || !c->text_len)
        return;
    size_t bloat = fg_attrib_bloat(c->text, c->text_len);
    int64_t visible = c->tok.output - c->reasoning;
    if (!bloat || visible <= 0)
        return;
    int64_t removed = visible * (int64_t)bloat / (int64_t)c->text_len;
    R->a->structured_output.saved_pico +=
        removed * (c->batch || c->flex ? c->price.batch_output : c->price.output);
    R->a->structured_output.tokens += removed;
    R->a->structured_output.requests++;
}

static void price_call(struct fg_analyze_call *c)
{
    c->name = c->model ? c->model : c->resp_model ? c->resp_model : "(none)";
    /* the call's time decides a time-of-day price (DeepSeek's peak hours) */
    if (c->model && fg_price_of_id_at(c->model, c->d, c->ts_ms, &c->price)) {
        c->priced = true;
    } else if (c->resp_model && fg_price_of_id_at(c->resp_model, c->d, c->ts_ms, &c->price)) {
        c->priced = true;
        c->name = c->resp_model;
    }
}

static void rebuild_prefix(const struct fg_analyze_call *c, struct fg_prefix *p)
{
    p->n = c->nb;
    p->stable = c->stable;
    p->stable_tokens = c->stable_tokens;
    memcpy(p->hash, c->hash, (size_t)c->nb * sizeof *c->hash);
    memcpy(p->tokens, c->btok, (size_t)c->nb * sizeof *c->btok);
    p->total_tokens = c->nb ? c->btok[c->nb - 1] : 0;
}

/* Cost, baseline (real-time price), buckets, repeated tokens. */
static void attribute(struct run *R, struct fg_analyze_call *c)
{
    struct fg_analysis *a = R->a;
    if (c->has_req) {
        struct fg_prefix p;
        rebuild_prefix(c, &p);
        c->repeated = fg_prefix_seen(&p, c->ts_ms, FG_ANALYZE_REPEAT_WINDOW_MS);
    }
    if (!c->priced)
        return;
    struct fg_record r;
    memset(&r, 0, sizeof r);
    r.tok = c->tok;
    r.repeated_tokens = c->repeated;
    struct fg_attrib_in in = {.price = &c->price,
                              .frontier = c->price.input >= FG_FRONTIER_INPUT_PRICE,
                              .simple = c->has_req && c->simple,
                              .wants_structured = c->structured,
                              .output_text = c->text,
                              .output_len = c->text_len,
                              .batch = c->batch,
                              .flex = c->flex};
    fg_attrib(&in, &r);
    c->cost = r.cost_pico;
    c->baseline = fg_price_cost(&c->price, &c->tok, false);
    a->cost_pico += c->cost;
    a->baseline_pico += c->baseline;
    if (c->flex && !c->batch)
        a->saved_flex_pico += c->baseline - c->cost;
    else
        a->saved_batch_pico += c->baseline - c->cost;
    a->bucket_repeated_pico += r.bucket_repeated_pico;
    a->bucket_repeated_cached_pico += r.bucket_repeated_cached_pico;
    a->bucket_frontier_pico += r.bucket_frontier_pico;
    a->bucket_bloated_pico += r.bucket_bloated_pico;
}

static void add_tokens(struct fg_tokens *s, const struct fg_tokens *t)
{
    s->input += t->input;
    s->cache_read += t->cache_read;
    s->cache_write_5m += t->cache_write_5m;
    s->cache_write_1h += t->cache_write_1h;
    s->output += t->output;
}

static void account(struct run *R, size_t i)
{
    struct fg_analysis *a = R->a;
    struct fg_analyze_call *c = &a->calls[i];
    a->requests++;
    price_call(c);
    if (c->timed) {
        a->since_ms = a->timed ? min64(a->since_ms, c->ts_ms) : c->ts_ms;
        a->until_ms = a->timed ? max64(a->until_ms, c->ts_ms) : c->ts_ms;
        a->timed = true;
    }
    if (c->error) {
        a->errors++;
        return;
    }
    a->unpriced_requests += !c->priced;
    add_tokens(&a->tok, &c->tok);
    attribute(R, c);
    project_cache(R, i);
    if (c->priced) {
        project_routing(R, c);
        project_deferral(R, c);
        project_structured(R, c);
    }
    drop_text(c);
}

static const char *const default_cheap[2] = {"gpt-4o-mini", "claude-haiku-4-5"};

static int resolve_cheap(struct run *R, FILE *diag)
{
    for (int d = 0; d < 2; d++) {
        const char *m = R->o->cheap_model ? R->o->cheap_model : default_cheap[d];
        const struct fg_builtin_price *b = fg_price_lookup(m);
        if (!b || !fg_price_of_id(m, b->provider, &R->cheap[d])) {
            fprintf(diag, "frugal analyze: cheap model \"%s\" is not in the price table\n", m);
            return -1;
        }
        R->cheap_name[d] = m;
    }
    return 0;
}

static int load_all(struct loader *L, const struct fg_analyze_opts *o)
{
    for (size_t k = 0; k < o->n_files; k++)
        if (load_file(L, o->files[k]) < 0)
            return -1;
    join_batches(L);
    finish_times(&L->calls);
    if (L->calls.n)
        qsort(L->calls.v, L->calls.n, sizeof *L->calls.v, cmp_time);
    return 0;
}

int fg_analyze_run(const struct fg_analyze_opts *o, struct fg_analysis *a)
{
    memset(a, 0, sizeof *a);
    FILE *diag = o->diag ? o->diag : stderr;
    struct run R = {.o = o, .a = a};
    if (resolve_cheap(&R, diag) < 0)
        return -1;
    struct loader L = {.a = a, .diag = diag, .notes_left = MAX_NOTES};
    int rc = load_all(&L, o);
    a->calls = L.calls.v;
    a->n_calls = L.calls.n;
    fg_json_free(&L.j);
    fg_json_free(&L.jr);
    fg_json_thread_cleanup();
    vec_free(&L.ins);
    vec_free(&L.outs);
    if (L.notes_dropped)
        fprintf(diag, "frugal analyze: %lld more problems not shown\n", (long long)L.notes_dropped);
    if (rc < 0)
        return -1;
    fg_prefix_reset();
    for (size_t i = 0; i < a->n_calls; i++)
        account(&R, i);
    free(R.pc.e);
    return 0;
}

void fg_analyze_free(struct fg_analysis *a)
{
    for (size_t i = 0; i < a->n_calls; i++)
        call_free(&a->calls[i]);
    free(a->calls);
    a->calls = NULL;
    a->n_calls = 0;
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *usd(int64_t pico)
{
    uint64_t mag = pico < 0 ? (uint64_t)(-(pico + 1)) + 1 : (uint64_t)pico;
    uint64_t micro = (mag + 500000) / 1000000;
    double v = (double)micro / 1e6;
    return json_real(pico < 0 && micro ? -v : v);
}

static double ratio(int64_t num, int64_t den, double scale, double digits_scale)
{
    if (den <= 0)
        return 0.0;
    return round((double)num / (double)den * scale * digits_scale) / digits_scale;
}

static json_t *tokens_json(const struct fg_tokens *t)
{
    return json_pack("{sI sI sI sI sI}", "input", (json_int_t)t->input, "cache_read",
                     (json_int_t)t->cache_read, "cache_write_5m", (json_int_t)t->cache_write_5m,
                     "cache_write_1h", (json_int_t)t->cache_write_1h, "output",
                     (json_int_t)t->output);
}

static json_t *bucket(int64_t pico, int64_t cost)
{
    return json_pack("{so sf}", "cost_usd", usd(pico), "share", ratio(pico, cost, 1.0, 1e4));
}

static json_t *buckets_json(const struct fg_analysis *a)
{
    int64_t other =
        a->cost_pico - a->bucket_repeated_pico - a->bucket_frontier_pico - a->bucket_bloated_pico;
    json_t *rep = bucket(a->bucket_repeated_pico, a->cost_pico);
    json_object_set_new(rep, "cached_usd", usd(a->bucket_repeated_cached_pico));
    json_object_set_new(rep, "uncached_usd",
                        usd(a->bucket_repeated_pico - a->bucket_repeated_cached_pico));
    return json_pack("{so so so so}", "repeated_context", rep, "frontier_overuse",
                     bucket(a->bucket_frontier_pico, a->cost_pico), "bloated_output",
                     bucket(a->bucket_bloated_pico, a->cost_pico), "other",
                     bucket(other, a->cost_pico));
}

struct group {
    const char *key;
    int64_t requests, cost, baseline, hits, ptokens;
    struct fg_tokens tok;
};

struct keyed {
    const char *key;
    const struct fg_analyze_call *c;
};

static int cmp_keyed(const void *x, const void *y)
{
    return strcmp(((const struct keyed *)x)->key, ((const struct keyed *)y)->key);
}

typedef const char *(*key_fn)(const struct fg_analyze_call *c);

static void group_add(struct group *g, const struct fg_analyze_call *c)
{
    g->requests++;
    g->cost += c->cost;
    g->baseline += c->baseline;
    g->hits += c->tok.cache_read > 0;
    if (c->has_req && c->stable)
        g->ptokens = max64(g->ptokens, c->stable_tokens);
    add_tokens(&g->tok, &c->tok);
}

/* Calls grouped by key (NULL key = left out), in key order. */
static size_t group_calls(const struct fg_analysis *a, key_fn key, struct group **out)
{
    struct keyed *v = fg_xmalloc((a->n_calls + 1) * sizeof *v);
    size_t n = 0, ng = 0;
    for (size_t i = 0; i < a->n_calls; i++)
        if ((v[n].key = key(&a->calls[i])) != NULL)
            v[n++].c = &a->calls[i];
    if (n)
        qsort(v, n, sizeof *v, cmp_keyed);
    struct group *g = fg_xcalloc(n + 1, sizeof *g);
    for (size_t i = 0; i < n; i++) {
        if (!ng || strcmp(g[ng - 1].key, v[i].key))
            g[ng++].key = v[i].key;
        group_add(&g[ng - 1], v[i].c);
    }
    free(v);
    *out = g;
    return ng;
}

static const char *model_of(const struct fg_analyze_call *c)
{
    return c->name;
}
static const char *prefix_of(const struct fg_analyze_call *c)
{
    return c->error || !c->fp[0] ? NULL : c->fp;
}
static const char *unpriced_of(const struct fg_analyze_call *c)
{
    return c->error || c->priced ? NULL : c->name;
}

static int cmp_by_cost(const void *x, const void *y)
{
    const struct group *a = x, *b = y;
    if (a->cost != b->cost)
        return a->cost < b->cost ? 1 : -1;
    if (a->requests != b->requests)
        return a->requests < b->requests ? 1 : -1;
    return strcmp(a->key, b->key);
}

static int cmp_by_weight(const void *x, const void *y)
{
    const struct group *a = x, *b = y;
    int64_t wa = a->requests * a->ptokens, wb = b->requests * b->ptokens;
    if (wa != wb)
        return wa < wb ? 1 : -1;
    return strcmp(a->key, b->key);
}

static json_t *by_model_json(const struct fg_analysis *a)
{
    struct group *g;
    size_t n = group_calls(a, model_of, &g);
    if (n)
        qsort(g, n, sizeof *g, cmp_by_cost);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{ss sI so so so so}", "model", g[i].key, "requests",
                                             (json_int_t)g[i].requests, "cost_usd", usd(g[i].cost),
                                             "baseline_usd", usd(g[i].baseline), "saved_usd",
                                             usd(g[i].baseline - g[i].cost), "tokens",
                                             tokens_json(&g[i].tok)));
    free(g);
    return arr;
}

static json_t *prefixes_json(const struct fg_analysis *a, int top)
{
    struct group *g;
    size_t n = group_calls(a, prefix_of, &g);
    if (n)
        qsort(g, n, sizeof *g, cmp_by_weight);
    json_t *arr = json_array();
    for (size_t i = 0; i < n && (int)json_array_size(arr) < top; i++) {
        if (g[i].requests < 2)
            continue;
        json_array_append_new(arr, json_pack("{ss sI sI sf so}", "fingerprint", g[i].key, "tokens",
                                             (json_int_t)g[i].ptokens, "requests",
                                             (json_int_t)g[i].requests, "cache_hit_rate",
                                             ratio(g[i].hits, g[i].requests, 1.0, 1e3), "cost_usd",
                                             usd(g[i].cost)));
    }
    free(g);
    return arr;
}

static json_t *unpriced_json(const struct fg_analysis *a)
{
    struct group *g;
    size_t n = group_calls(a, unpriced_of, &g);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(g[i].key));
    free(g);
    return arr;
}

static json_t *strings(const char *const *s, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(s[i]));
    return arr;
}

static json_t *proj_json(const struct fg_projection *p, int64_t cost, json_t *assumptions)
{
    return json_pack("{so sf sI so}", "saved_usd", usd(p->saved_pico), "saved_pct",
                     ratio(p->saved_pico, cost, 100.0, 10.0), "requests", (json_int_t)p->requests,
                     "assumptions", assumptions);
}

static json_t *proj_cache_json(const struct fg_analysis *a)
{
    char write[256];
    char buf[32];
    snprintf(write, sizeof write,
             "Anthropic: the first sighting of a prefix that recurs pays the 1.25x 5-minute "
             "cache write on it (counted: %lld tokens, $%s)",
             (long long)a->prompt_cache.extra_tokens,
             fg_price_usd(a->prompt_cache.extra_pico, buf, sizeof buf));
    const char *s[] = {
        "a prefix (tools, system, messages) seen before within the cache TTL of 5 minutes on "
        "the same model is read from cache by the next call; every hit refreshes the TTL",
        "prefix lengths are estimated as canonical bytes / 4, capped at the call's billed "
        "prompt tokens; only tokens billed as uncached input move to cache reads",
        "minimum cacheable prefix: OpenAI 1024 tokens, hits in 128-token steps; Anthropic "
        "1024 (Sonnet 4.x, Opus 4/4.1/4.8), 2048 (Opus 4.7, Haiku 3.x), 4096 (Opus 4.5/4.6, "
        "Haiku 4.5), 512 (Opus 5, Fable, Mythos 5)",
        "cache reads priced at the model's own cache_read price from the built-in table",
        write,
        "OpenAI caching is automatic and has no write fee; OpenAI batch calls are left out"};
    json_t *p = proj_json(&a->prompt_cache, a->cost_pico, strings(s, 6));
    json_object_set_new(p, "ttl_seconds", json_integer(FG_ANALYZE_CACHE_TTL_MS / 1000));
    json_object_set_new(p, "cache_read_tokens", json_integer(a->prompt_cache.tokens));
    json_object_set_new(p, "cache_write_tokens", json_integer(a->prompt_cache.extra_tokens));
    json_object_set_new(p, "cache_write_usd", usd(a->prompt_cache.extra_pico));
    return p;
}

static json_t *proj_routing_json(const struct fg_analysis *a, const char *const cheap[2])
{
    char move[300], frontier[160];
    snprintf(move, sizeof move,
             "simple calls on a frontier-priced model move to %s (OpenAI calls) / %s "
             "(Anthropic calls) with the same token counts, priced at its own prices",
             cheap[0], cheap[1]);
    snprintf(frontier, sizeof frontier,
             "frontier-priced = input price at least $%.2f per 1M tokens",
             FG_FRONTIER_INPUT_PRICE / 1e6);
    const char *s[] = {
        "simple = frugal's complexity scorer: at most 4 messages, no tools, a short last user "
        "turn without code, proof, analysis or design asks",
        frontier, move,
        "quality holds for simple calls (frugal escalates to the frontier model when a cheap "
        "answer falls short; escalations are not modelled)"};
    json_t *p = proj_json(&a->routing, a->cost_pico, strings(s, 4));
    json_object_set_new(p, "cheap_model",
                        json_pack("{ss ss}", "openai", cheap[0], "anthropic", cheap[1]));
    return p;
}

static json_t *proj_batch_json(const struct fg_analysis *a, bool all)
{
    const char *s[] = {
        all ? "every call is deferrable (--all-deferrable)"
            : "calls marked \"deferrable\": true in the log can wait",
        "deferrable calls to a model without a flex tier run through the provider's batch API "
        "at its batch price (50% off input and output, cache reads and writes halved); those "
        "to a flex model go flex instead (see flex)",
        "results within the 24-hour batch window are acceptable for them",
        "calls already batch- or flex-priced save nothing more"};
    return proj_json(&a->batch, a->cost_pico, strings(s, 4));
}

static json_t *proj_flex_json(const struct fg_analysis *a, bool all)
{
    const char *s[] = {
        all ? "every call is deferrable (--all-deferrable)"
            : "calls marked \"deferrable\": true in the log can wait",
        "deferrable OpenAI calls to a model with a flex tier (\"flex\": true in the price "
        "table, data/prices.json) are sent with service_tier \"flex\" and billed at the "
        "model's batch price (50% off, cache reads halved), answered synchronously",
        "flex always has capacity (a refusal would be retried, then served at the standard "
        "price, saving nothing)",
        "calls already flex- or batch-priced (service_tier \"flex\" in the response) save "
        "nothing more"};
    return proj_json(&a->flex, a->cost_pico, strings(s, 4));
}

static json_t *proj_structured_json(const struct fg_analysis *a)
{
    const char *s[] = {
        "calls that asked for JSON or a label (response_format json_object/json_schema, "
        "output_config.format, or 'JSON only' / 'one word' in the prompt) but got prose, "
        "code fences or explanations around the answer",
        ("with a schema (forced tool use on Anthropic) and an output cap the bloated share "
         "of the answer text, by bytes, is not generated"),
        "that share of the non-reasoning output tokens is removed at the output price"};
    json_t *p = proj_json(&a->structured_output, a->cost_pico, strings(s, 3));
    json_object_set_new(p, "output_tokens_removed", json_integer(a->structured_output.tokens));
    return p;
}

static json_t *projection_json(const struct fg_analysis *a, const struct fg_analyze_opts *o)
{
    const char *cheap[2] = {o->cheap_model ? o->cheap_model : default_cheap[0],
                            o->cheap_model ? o->cheap_model : default_cheap[1]};
    return json_pack("{so so so so so}", "prompt_cache", proj_cache_json(a), "routing",
                     proj_routing_json(a, cheap), "flex", proj_flex_json(a, o->all_deferrable),
                     "batch", proj_batch_json(a, o->all_deferrable), "structured_output",
                     proj_structured_json(a));
}

static json_t *period(const struct fg_analysis *a, bool until)
{
    char buf[32];
    if (!a->timed)
        return json_null();
    format_time(until ? a->until_ms : a->since_ms, buf);
    return json_string(buf);
}

json_t *fg_analyze_json(const struct fg_analysis *a, const struct fg_analyze_opts *o)
{
    int64_t saved = a->baseline_pico - a->cost_pico;
    json_t *m = json_pack(
        "{so so sI sI sI sI so so so sf}", "since", period(a, false), "until", period(a, true),
        "requests", (json_int_t)a->requests, "errors", (json_int_t)a->errors, "unpriced_requests",
        (json_int_t)a->unpriced_requests, "skipped_lines", (json_int_t)a->skipped_lines, "cost_usd",
        usd(a->cost_pico), "baseline_usd", usd(a->baseline_pico), "saved_usd", usd(saved),
        "saved_pct", ratio(saved, a->baseline_pico, 100.0, 10.0));
    json_object_set_new(m, "saved_by",
                        json_pack("{so so so so so}", "prompt_cache", usd(0), "response_cache",
                                  usd(0), "routing", usd(0), "batch", usd(a->saved_batch_pico),
                                  "flex", usd(a->saved_flex_pico)));
    json_object_set_new(m, "tokens", tokens_json(&a->tok));
    json_object_set_new(m, "buckets", buckets_json(a));
    json_object_set_new(m, "by_model", by_model_json(a));
    json_object_set_new(m, "top_prefixes",
                        prefixes_json(a, o->top_prefixes > 0 ? o->top_prefixes : DEFAULT_TOP));
    json_object_set_new(m, "cache_busters", json_array());
    json_object_set_new(m, "unpriced_models", unpriced_json(a));
    json_t *files = json_array();
    for (size_t i = 0; i < o->n_files; i++)
        json_array_append_new(files, json_string(o->files[i]));
    json_object_set_new(m, "files", files);
    json_object_set_new(m, "lines", json_integer(a->lines));
    json_object_set_new(m, "batch_missing_output", json_integer(a->batch_missing_output));
    json_object_set_new(m, "batch_unmatched_output", json_integer(a->batch_unmatched_output));
    json_object_set_new(m, "projection", projection_json(a, o));
    json_object_set_new(m, "projection_note",
                        json_string("each technique is projected alone against the actual "
                                    "cost; their savings overlap and do not simply add up"));
    return m;
}

/* ---- readable table --------------------------------------------------- */

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}
static long long inum(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* 1234567 → "1,234,567" */
static const char *grouped(long long v, char out[32])
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v < 0 ? -v : v), o = 0;
    if (v < 0)
        out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = '\0';
    return out;
}

/* "$1.234567" of a USD field */
static const char *money(const json_t *o, const char *k, char out[40])
{
    double v = num(o, k);
    snprintf(out, 40, "%s$%.6f", v < 0 ? "-" : "", fabs(v));
    return out;
}

static void print_header(FILE *f, const json_t *m)
{
    const json_t *t = json_object_get(m, "tokens");
    const char *since = json_string_value(json_object_get(m, "since"));
    const char *until = json_string_value(json_object_get(m, "until"));
    char a[40], b[40], c[40], d[40], e[40];
    const json_t *x;
    size_t i;
    fprintf(f, "frugal analyze:");
    json_array_foreach(json_object_get(m, "files"), i, x)
        fprintf(f, "%s%s", i ? " + " : " ", json_string_value(x));
    fprintf(f, "\n\n");
    fprintf(f, "Period     %s .. %s\n", since ? since : "(no times in the log)",
            until ? until : "");
    fprintf(f, "Requests   %s (%lld errored, %lld unpriced); %lld lines read, %lld skipped\n",
            grouped(inum(m, "requests"), a), inum(m, "errors"), inum(m, "unpriced_requests"),
            inum(m, "lines"), inum(m, "skipped_lines"));
    if (inum(m, "batch_missing_output") || inum(m, "batch_unmatched_output"))
        fprintf(f, "Batch      %lld input lines without output, %lld outputs without input\n",
                inum(m, "batch_missing_output"), inum(m, "batch_unmatched_output"));
    fprintf(f, "Cost       %s", money(m, "cost_usd", a));
    if (num(m, "saved_usd") != 0)
        fprintf(f, "   (batch pricing saved %s = %.1f%% of %s at real-time prices)",
                money(m, "saved_usd", b), num(m, "saved_pct"), money(m, "baseline_usd", c));
    fprintf(f, "\nTokens     input %s, cache read %s, cache write %s (5m) + %s (1h), output %s\n",
            grouped(inum(t, "input"), a), grouped(inum(t, "cache_read"), b),
            grouped(inum(t, "cache_write_5m"), c), grouped(inum(t, "cache_write_1h"), d),
            grouped(inum(t, "output"), e));
}

static void print_buckets(FILE *f, const json_t *m)
{
    static const char *const names[] = {"repeated_context", "frontier_overuse", "bloated_output",
                                        "other"};
    const json_t *b = json_object_get(m, "buckets");
    char buf[40];
    fprintf(f, "\nWhere the money goes                cost    share\n");
    for (int i = 0; i < 4; i++) {
        const json_t *x = json_object_get(b, names[i]);
        fprintf(f, "  %-22s %12s %7.1f%%\n", names[i], money(x, "cost_usd", buf),
                100.0 * num(x, "share"));
    }
}

static void print_models(FILE *f, const json_t *m)
{
    const json_t *arr = json_object_get(m, "by_model"), *x;
    size_t i;
    char buf[40];
    fprintf(f, "\nBy model                          requests         cost\n");
    json_array_foreach(arr, i, x)
        fprintf(f, "  %-30s %9lld %12s\n", json_string_value(json_object_get(x, "model")),
                inum(x, "requests"), money(x, "cost_usd", buf));
    const json_t *un = json_object_get(m, "unpriced_models");
    if (json_array_size(un)) {
        fprintf(f, "  unpriced (not in the price table; they add $0 to every sum):");
        json_array_foreach(un, i, x) fprintf(f, " %s", json_string_value(x));
        fprintf(f, "\n");
    }
}

static void print_prefixes(FILE *f, const json_t *m)
{
    const json_t *arr = json_object_get(m, "top_prefixes"), *x;
    size_t i;
    char buf[40];
    if (!json_array_size(arr))
        return;
    fprintf(f, "\nTop repeated prefixes     tokens  requests  cache hits         cost\n");
    json_array_foreach(arr, i, x)
        fprintf(f, "  %-20s %9lld %9lld %10.1f%% %12s\n",
                json_string_value(json_object_get(x, "fingerprint")), inum(x, "tokens"),
                inum(x, "requests"), 100.0 * num(x, "cache_hit_rate"), money(x, "cost_usd", buf));
}

static void print_projection(FILE *f, const json_t *m)
{
    static const char *const names[] = {"prompt_cache", "routing", "flex", "batch",
                                        "structured_output"};
    const json_t *p = json_object_get(m, "projection"), *a;
    size_t k;
    char buf[40];
    fprintf(f, "\nWhat frugal would save (projection; each technique alone, they overlap)\n");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const json_t *x = json_object_get(p, names[i]);
        fprintf(f, "  %-18s %12s %6.1f%% of cost  (%lld calls)\n", names[i],
                money(x, "saved_usd", buf), num(x, "saved_pct"), inum(x, "requests"));
        json_array_foreach(json_object_get(x, "assumptions"), k, a)
            fprintf(f, "      - %s\n", json_string_value(a));
    }
}

void fg_analyze_print(FILE *f, const json_t *map)
{
    print_header(f, map);
    print_buckets(f, map);
    print_models(f, map);
    print_prefixes(f, map);
    print_projection(f, map);
}

/* ---- CLI -------------------------------------------------------------- */

static const char usage_text[] =
    "usage: frugal analyze LOG.jsonl... [--json] [--cheap-model M] [--batch-output FILE]\n"
    "                      [--all-deferrable] [--top N]\n"
    "  Offline spend map of a request log (frugal's log lines, or OpenAI / Anthropic batch\n"
    "  input and output files joined on custom_id) and what each technique would save.\n"
    "  --json             print the spend map as JSON instead of a table\n"
    "  --cheap-model M    routing target (default gpt-4o-mini / claude-haiku-4-5)\n"
    "  --batch-output F   the batch output file for a batch input LOG\n"
    "  --all-deferrable   project batch savings for every call, not just \"deferrable\"\n"
    "  --top N            top repeated prefixes to list (default 10)\n";

struct cli {
    struct fg_analyze_opts o;
    const char **files;
    bool json, help;
};

/* The value of option argv[*i] ("--opt V" or "--opt=V"), or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "frugal analyze: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

static bool is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(a, name, n) && (a[n] == '\0' || a[n] == '=');
}

static int parse_option(struct cli *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--json"))
        c->json = true;
    else if (!strcmp(a, "--all-deferrable"))
        c->o.all_deferrable = true;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
        c->help = true;
    else if ((v = opt_value(argc, argv, i, "--cheap-model")))
        c->o.cheap_model = v;
    else if ((v = opt_value(argc, argv, i, "--batch-output")))
        c->files[c->o.n_files++] = v;
    else if ((v = opt_value(argc, argv, i, "--top"))) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n <= 0 || n > 1000)
            return bad_usage("--top wants a number from 1 to 1000, not \"%s\"", v);
        c->o.top_prefixes = (int)n;
    } else if (is_opt(a, "--cheap-model") || is_opt(a, "--batch-output") || is_opt(a, "--top"))
        return bad_usage("%s needs a value", a);
    else
        return bad_usage("unknown option %s", a);
    return 0;
}

static int parse_cli(struct cli *c, int argc, char **argv)
{
    c->files = fg_xcalloc((size_t)argc + 1, sizeof *c->files);
    c->o.files = c->files;
    bool opts = true;
    for (int i = 1; i < argc; i++) {
        if (opts && !strcmp(argv[i], "--"))
            opts = false;
        else if (opts && argv[i][0] == '-' && argv[i][1]) {
            int rc = parse_option(c, argc, argv, &i);
            if (rc)
                return rc;
        } else
            c->files[c->o.n_files++] = argv[i];
    }
    if (!c->help && !c->o.n_files)
        return bad_usage("%s", "no log file given");
    if (c->o.cheap_model && !fg_price_lookup(c->o.cheap_model))
        return bad_usage("--cheap-model \"%s\" is not in the price table", c->o.cheap_model);
    return 0;
}

int fg_analyze_main(int argc, char **argv)
{
    struct cli c = {0};
    int rc = parse_cli(&c, argc, argv);
    if (rc || c.help) {
        if (c.help)
            fputs(usage_text, stdout);
        free(c.files);
        return rc;
    }
    struct fg_analysis a;
    rc = fg_analyze_run(&c.o, &a) < 0 ? 1 : 0;
    if (!rc) {
        json_t *m = fg_analyze_json(&a, &c.o);
        if (c.json) {
            json_dumpf(m, stdout, FG_ANALYZE_JSON_FLAGS);
            fputc('\n', stdout);
        } else
            fg_analyze_print(stdout, m);
        json_decref(m);
    }
    fg_analyze_free(&a);
    free(c.files);
    return rc;
}
