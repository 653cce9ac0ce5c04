/* sim_text.c — text helpers of the simulated provider: fault directives, the
 * deterministic answer text, stop/length limits, streaming pieces, hashing,
 * JSON dumps and SSE frames.  See sim_internal.h for the contracts.
 *
 * Everything here is a pure function of its arguments (no clock, no
 * randomness) so that the sim's answers depend only on the request. */
#include "sim_internal.h"
#include "sim_say.h"
#include "vec.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- faults --------------------------------------------------------------- */

void sim_fault_init(struct sim_fault *f)
{
    memset(f, 0, sizeof *f);
    f->cut_after = -1;
    f->tokens = -1;
    f->batch_delay_ms = -1;
}

/* Non-negative decimal at <v>, clamped to <max>; -1 when there is none. */
static long parse_count(const char *v, long max)
{
    if (!v || !isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    long n = strtol(v, NULL, 10);
    if (errno || n > max)
        return max;
    return n;
}

static int key_is(const char *k, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(k, name, n) == 0;
}

/* Apply one "key[=value]" directive; <v> is NULL without "=". */
static void apply_directive(struct sim_fault *f, const char *k, size_t n, const char *v)
{
    /* Caps keep a typo from wedging a test for hours or allocating GBs. */
    const long max_ms = 600000, max_tokens = 1000000;
    long num = parse_count(v, max_ms > max_tokens ? max_ms : max_tokens);
    if (key_is(k, n, "invalid_json")) {
        f->invalid_json = 1;
    } else if (key_is(k, n, "reset")) {
        f->reset = 1;
    } else if (key_is(k, n, "batch_expire")) {
        f->batch_expire = 1;
    } else if (key_is(k, n, "bad_schema")) {
        f->bad_schema = 1;
    } else if (key_is(k, n, "bad_usage")) {
        f->bad_usage = 1;
    } else if (key_is(k, n, "content_filter")) {
        f->content_filter = 1;
    } else if (key_is(k, n, "prompt_filter")) {
        f->prompt_filter = 1;
    } else if (key_is(k, n, "echo_auth")) {
        f->echo_auth = 1;
    } else if (key_is(k, n, "flex_busy")) {
        f->flex_busy = v ? (num > 0 ? num : 0) : max_tokens; /* bare: always */
    } else if (num < 0) {
        return;
    } else if (key_is(k, n, "status")) {
        if (num >= 100 && num <= 599)
            f->status = (int)num;
    } else if (key_is(k, n, "delay_ms")) {
        f->delay_ms = num < max_ms ? num : max_ms;
    } else if (key_is(k, n, "stall_ms")) {
        f->stall_ms = num < max_ms ? num : max_ms;
    } else if (key_is(k, n, "event_delay_ms")) {
        f->event_delay_ms = num < max_ms ? num : max_ms;
    } else if (key_is(k, n, "cut_after")) {
        f->cut_after = num;
    } else if (key_is(k, n, "batch_delay_ms")) {
        f->batch_delay_ms = num < max_ms ? num : max_ms;
    } else if (key_is(k, n, "tokens")) {
        f->tokens = num < max_tokens ? num : max_tokens;
    }
}

/* Parse "key[=value]" starting at <p>; returns the end of the key. */
static const char *parse_one(struct sim_fault *f, const char *p)
{
    const char *k = p;
    while (*p == '_' || islower((unsigned char)*p))
        p++;
    size_t n = (size_t)(p - k);
    if (n)
        apply_directive(f, k, n, *p == '=' ? p + 1 : NULL);
    return p;
}

void sim_fault_parse(struct sim_fault *f, const char *text, int bare)
{
    if (!text)
        return;
    for (const char *p = strstr(text, "#sim:"); p; p = strstr(p, "#sim:")) {
        p = parse_one(f, p + 5);
    }
    if (!bare)
        return;
    /* Header form: words without the "#sim:" prefix, separated by blanks
     * or commas. */
    const char *p = text;
    while (*p) {
        while (*p && (isspace((unsigned char)*p) || *p == ',' || *p == ';'))
            p++;
        const char *w = p;
        while (*p && !isspace((unsigned char)*p) && *p != ',' && *p != ';')
            p++;
        if (p > w && *w != '#')
            parse_one(f, w);
    }
}

/* ---- small utilities ------------------------------------------------------ */

uint64_t sim_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

size_t sim_tokens(size_t bytes)
{
    return (bytes + 3) / 4;
}

size_t sim_utf8_floor(const char *s, size_t len, size_t n)
{
    if (n >= len)
        return len;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

void sim_buf_add(struct sim_buf *b, const void *p, size_t n)
{
    FG_VEC_RESERVE(b->p, b->len + n + 1, b->cap);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sim_buf_adds(struct sim_buf *b, const char *s)
{
    sim_buf_add(b, s, strlen(s));
}

void sim_buf_free(struct sim_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

char *sim_json_dump(struct fg_arena *a, const json_t *v)
{
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    if (!v)
        return fg_arena_strdup(a, "null");
    size_t n = json_dumpb(v, NULL, 0, flags);
    char *s = fg_arena_alloc(a, n + 1);
    json_dumpb(v, s, n, flags);
    s[n] = '\0';
    return s;
}

char *sim_json_dump_nocc(struct fg_arena *a, const json_t *v)
{
    if (!json_is_object(v) || !json_object_get(v, "cache_control"))
        return sim_json_dump(a, v);
    json_t *copy = json_copy((json_t *)v);
    json_object_del(copy, "cache_control");
    char *s = sim_json_dump(a, copy);
    json_decref(copy);
    return s;
}

char *sim_sse(struct fg_arena *a, const char *event, const char *data)
{
    if (event)
        return fg_arena_printf(a, "event: %s\ndata: %s\n\n", event, data);
    return fg_arena_printf(a, "data: %s\n\n", data);
}

void sim_events_push(struct fg_arena *a, struct sim_events *e, const char *s)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        const char **v = fg_arena_alloc(a, cap * sizeof *v);
        if (e->n)
            memcpy(v, e->v, e->n * sizeof *v);
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = s;
}

size_t sim_next_words(const char *s, size_t len, size_t off, int words)
{
    int seen = 0;
    for (size_t i = off; i < len; i++) {
        if (s[i] == ' ' && i > off && ++seen == words)
            return i + 1;
    }
    return len;
}

size_t sim_next_bytes(const char *s, size_t len, size_t off, size_t max)
{
    if (off + max >= len)
        return len;
    size_t end = sim_utf8_floor(s, len, off + max);
    return end > off ? end : off + max;
}

int sim_tool_mentioned(const char *user_text, const char *tool_name)
{
    return user_text && tool_name && *tool_name && strcasestr(user_text, tool_name) != NULL;
}

/* ---- answer text ------------------------------------------------------------ */

#define SNIPPET_MAX 40

/* Append the start of <text> with #sim: directives dropped and runs of
 * whitespace folded to one space, so the echo reads naturally. */
static void add_snippet(struct sim_buf *b, const char *text)
{
    struct sim_buf s = {0};
    const char *p = text ? text : "";
    while (*p && s.len <= SNIPPET_MAX) {
        while (isspace((unsigned char)*p))
            p++;
        const char *w = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (p == w || strncmp(w, "#sim:", 5) == 0)
            continue;
        if (s.len)
            sim_buf_add(&s, " ", 1);
        sim_buf_add(&s, w, (size_t)(p - w));
    }
    if (s.len > SNIPPET_MAX) {
        sim_buf_add(b, s.p, sim_utf8_floor(s.p, s.len, SNIPPET_MAX));
        sim_buf_adds(b, "...");
    } else if (s.len) {
        sim_buf_add(b, s.p, s.len);
    }
    sim_buf_free(&s);
}

static const char *const vocab[] = {
    "the",  "model", "answer", "token",  "cache",   "prefix", "simulated", "provider",
    "cost", "of",    "a",      "stream", "request", "reply",  "and",       "gateway",
    "with", "each",  "word",   "for",    "test",    "data",   "schema",    "output",
};

char *sim_answer_text(struct fg_arena *a, const char *model, const char *user_text, long tokens)
{
    /* "#sim:say=WORD": the answer is exactly WORD (letters, digits, '_'),
     * e.g. a judge's verdict in tests of shadow evaluation */
    const char *say = user_text ? strstr(user_text, "#sim:say=") : NULL;
    if (say) {
        say += 9;
        size_t n = 0;
        while (say[n] && (isalnum((unsigned char)say[n]) || say[n] == '_'))
            n++;
        return fg_arena_strndup(a, say, n);
    }
    struct sim_buf b = {0};
    sim_buf_adds(&b, "Simulated reply from ");
    sim_buf_adds(&b, model ? model : "model");
    sim_buf_adds(&b, " to: ");
    add_snippet(&b, user_text);
    if (tokens >= 0) {
        size_t target = (size_t)tokens * 4;
        /* Filler words from a generator seeded by the prompt, so the same
         * request always yields the same text. */
        uint64_t h = sim_hash(SIM_HASH_INIT, b.p, b.len);
        while (b.len < target) {
            h = h * 6364136223846793005ULL + 1442695040888963407ULL;
            sim_buf_add(&b, " ", 1);
            sim_buf_adds(&b, vocab[(h >> 33) % (sizeof vocab / sizeof vocab[0])]);
        }
        b.len = sim_utf8_floor(b.p, b.len, target);
        b.p[b.len] = '\0';
        while (b.len < target)
            sim_buf_add(&b, ".", 1);
        if (b.len && b.p[b.len - 1] == ' ')
            b.p[b.len - 1] = '.';
    }
    char *s = fg_arena_strndup(a, b.p ? b.p : "", b.len);
    sim_buf_free(&b);
    return s;
}

const char *sim_answer(const struct sim_ctx *c, const char *model, const char *user_text)
{
    const char *said = sim_say_find(c->say, user_text);
    return said ? said : sim_answer_text(c->arena, model, user_text, c->tokens);
}

size_t sim_apply_limits(const char *text, size_t len, const char *const *stops, size_t nstops,
                        long max_tokens, enum sim_end *end, const char **matched)
{
    size_t stop_at = (size_t)-1, stop_len = 0;
    const char *m = NULL;
    for (size_t i = 0; i < nstops; i++) {
        size_t n = stops[i] ? strlen(stops[i]) : 0;
        const char *hit = n ? memmem(text, len, stops[i], n) : NULL;
        if (hit && (size_t)(hit - text) < stop_at) {
            stop_at = (size_t)(hit - text);
            stop_len = n;
            m = stops[i];
        }
    }
    size_t limit = max_tokens < 0 ? (size_t)-1 : (size_t)max_tokens * 4;
    /* A stop sequence only fires once it has been generated completely. */
    if (m && stop_at + stop_len <= limit) {
        *end = SIM_END_STOP;
        *matched = m;
        return stop_at;
    }
    *matched = NULL;
    if (len > limit) {
        *end = SIM_END_LENGTH;
        return sim_utf8_floor(text, len, limit);
    }
    *end = SIM_END_NATURAL;
    return len;
}

/* ---- replies ---------------------------------------------------------------- */

void sim_reply_header(struct sim_reply *r, const char *name, const char *value)
{
    if (r->nhdr < SIM_MAX_HEADERS) {
        r->hdr_name[r->nhdr] = name;
        r->hdr_value[r->nhdr] = value;
        r->nhdr++;
    }
}

void sim_reply_json(struct fg_arena *a, struct sim_reply *r, int status, const json_t *v)
{
    r->status = status;
    r->stream = 0;
    r->content_type = "application/json";
    r->body = sim_json_dump(a, v);
    r->body_len = strlen(r->body);
}
