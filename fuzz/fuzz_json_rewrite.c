/* fuzz_json_rewrite.c — json.c's indexer and the splice edits of the
 * request path, on arbitrary bytes.
 *
 * Invariants:
 *  - jansson and fg_json agree: a document jansson accepts fg_json accepts
 *    (unless nested past fg_json's bound); a document fg_json accepts
 *    jansson accepts, except where jansson is stricter on purpose (numbers
 *    out of its range, unpaired \u surrogates, \u0000 in a member name);
 *  - every accessor stays inside the document (ASan) and agrees with the
 *    token tree (counts, siblings, string decoding);
 *  - the edits frugal makes on a request — the upstream model id, the
 *    stream_options include_usage insertion, stream:false with
 *    stream_options removed, a member removed, prompt-cache markers placed by
 *    fg_promptcache_plan in either dialect (and prompt_cache_key on a
 *    Responses API body) — splice into a valid document that says what the
 *    edit meant. */
#include "arena.h"
#include "config.h"
#include "fuzz.h"
#include "json.h"
#include "prefix.h"
#include "promptcache.h"
#include "provider.h"

#include <jansson.h>

static const char *const read_keys[] = {"model",
                                        "stream",
                                        "messages",
                                        "max_tokens",
                                        "max_completion_tokens",
                                        "stream_options",
                                        "system",
                                        "tools",
                                        "input",
                                        "instructions",
                                        "max_output_tokens",
                                        "text",
                                        "store",
                                        "previous_response_id",
                                        NULL};

static int cmp_edit(const void *a, const void *b)
{
    const struct fg_json_edit *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Splice, check the result is valid JSON, hand it back parsed. */
static char *splice_ok(const struct fg_json *j, struct fg_json_edit *e, size_t ne,
                       struct fg_json *out, const char *what)
{
    qsort(e, ne, sizeof e[0], cmp_edit);
    for (size_t k = 1; k < ne; k++)
        FUZZ_CHECK(e[k - 1].end <= e[k].start, "%s: overlapping edits", what);
    size_t n;
    char *s = fg_json_splice(j->src, j->len, e, ne, &n);
    FUZZ_CHECK(strlen(s) <= n, "%s: length", what);
    int rc = fg_json_parse(out, s, n);
    FUZZ_CHECK(rc == 0, "%s: spliced document invalid (%s at %zu): %.*s", what, out->err,
               out->err_off, (int)(n > 300 ? 300 : n), s);
    return s;
}

static void walk(const struct fg_json *j)
{
    char buf[256];
    for (uint32_t i = 0; i < j->n; i++) {
        const struct fg_jtok *t = &j->t[i];
        FUZZ_CHECK(t->start <= t->end && t->end <= j->len && t->next > i && t->next <= j->n,
                   "token %u out of bounds", i);
        switch (t->type) {
        case FG_J_STR: {
            size_t rl;
            fg_json_raw_str(j, (int)i, &rl);
            long dl = fg_json_str(j, (int)i, buf, sizeof buf);
            FUZZ_CHECK(dl >= 0 && (size_t)dl <= rl, "decoded length");
            break;
        }
        case FG_J_NUM: {
            int64_t v;
            (void)fg_json_int(j, (int)i, &v);
            break;
        }
        case FG_J_OBJ:
        case FG_J_ARR: {
            size_t c = fg_json_count(j, (int)i), seen = 0;
            for (int k = fg_json_child(j, (int)i); k >= 0; k = fg_json_sibling(j, (int)i, k))
                seen++;
            FUZZ_CHECK(t->type == FG_J_OBJ ? seen == 2 * c : seen == c, "count");
            if (t->type == FG_J_ARR && c)
                FUZZ_CHECK(fg_json_at(j, (int)i, c - 1) >= 0 && fg_json_at(j, (int)i, c) < 0,
                           "fg_json_at");
            break;
        }
        default: break;
        }
    }
}

/* The two parsers must agree (see the header).  jansson's reader ends the
 * input at a NUL byte, so inputs holding one are not compared. */
static void differential(const uint8_t *data, size_t size, const struct fg_json *j, int rc)
{
    if (memchr(data, 0, size))
        return;
    json_error_t e;
    if (j->unique_keys) {
        /* jansson's JSON_REJECT_DUPLICATES is the oracle for unique_keys
         * (keys compared decoded; it also refuses \u0000 in a key) */
        json_t *u = json_loadb((const char *)data, size,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
        bool jdup = !u && strstr(e.text, "duplicate");
        if (rc == 0)
            FUZZ_CHECK(!jdup, "fg_json accepts a duplicate key jansson sees: %s", e.text);
        if (rc != 0 && j->err == fg_json_err_dup)
            FUZZ_CHECK(jdup || (!u && (strstr(e.text, "NUL") || strstr(e.text, "\\u0000") ||
                                       strstr(e.text, "surrogate") || strstr(e.text, "Unicode") ||
                                       strstr(e.text, "overflow") || strstr(e.text, "too big"))),
                       "fg_json refuses %s as a duplicate, jansson: %s", j->err_path,
                       u ? "accepts" : e.text);
        json_decref(u);
        if (rc != 0 && j->err == fg_json_err_dup)
            return;
    }
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (v && rc != 0)
        FUZZ_CHECK(j->err == fg_json_err_depth, "jansson accepts, fg_json says %s at %zu", j->err,
                   j->err_off);
    if (!v && rc == 0)
        FUZZ_CHECK(strstr(e.text, "overflow") || strstr(e.text, "too big") ||
                       strstr(e.text, "Unicode") || strstr(e.text, "surrogate") ||
                       strstr(e.text, "NUL byte in object key"),
                   "fg_json accepts, jansson says %s", e.text);
    json_decref(v);
}

static void request_edits(const struct fg_json *j, struct fuzz_rng *r, struct fg_arena *a)
{
    const char *why;
    if (fg_json_type(j, 0) != FG_J_OBJ || fg_json_check_keys(j, 0, read_keys, &why))
        return;
    struct fg_json out = {0};
    struct fg_json_edit e[16];
    size_t ne = 0;
    int m = fg_json_get(j, 0, "model");
    if (m >= 0)
        e[ne++] = (struct fg_json_edit){j->t[m].start, j->t[m].end, "\"upstream-id\"", 13};
    /* meter.c: ask for the usage chunk */
    int so = fg_json_get(j, 0, "stream_options");
    int iu = fg_json_get(j, so, "include_usage");
    const char *t;
    if (iu >= 0)
        e[ne++] = (struct fg_json_edit){j->t[iu].start, j->t[iu].end, "true", 4};
    else if (fg_json_type(j, so) == FG_J_OBJ)
        t = fg_json_child(j, so) >= 0 ? "\"include_usage\":true," : "\"include_usage\":true",
        e[ne++] = (struct fg_json_edit){j->t[so].start + 1, j->t[so].start + 1, t, strlen(t)};
    else if (so >= 0)
        e[ne++] =
            (struct fg_json_edit){j->t[so].start, j->t[so].end, "{\"include_usage\":true}", 22};
    else
        t = fg_json_child(j, 0) >= 0 ? "\"stream_options\":{\"include_usage\":true},"
                                     : "\"stream_options\":{\"include_usage\":true}",
        e[ne++] = (struct fg_json_edit){j->t[0].start + 1, j->t[0].start + 1, t, strlen(t)};
    char *s = splice_ok(j, e, ne, &out, "include_usage");
    if (m >= 0)
        FUZZ_CHECK(fg_json_str_eq(&out, fg_json_get(&out, 0, "model"), "upstream-id"), "model");
    FUZZ_CHECK(fg_json_type(&out, fg_json_get(&out, fg_json_get(&out, 0, "stream_options"),
                                              "include_usage")) == FG_J_TRUE,
               "include_usage");
    free(s);

    /* structured.c: stream false, stream_options removed */
    ne = 0;
    int st = fg_json_get(j, 0, "stream");
    uint32_t a0, b0;
    if (st >= 0)
        e[ne++] = (struct fg_json_edit){j->t[st].start, j->t[st].end, "false", 5};
    if (fg_json_member_span(j, 0, "stream_options", &a0, &b0))
        e[ne++] = (struct fg_json_edit){a0, b0, "", 0};
    if (ne) {
        s = splice_ok(j, e, ne, &out, "stream false");
        FUZZ_CHECK(fg_json_get(&out, 0, "stream_options") < 0, "stream_options kept");
        free(s);
    }

    /* any one member removed (the first with a key picked by the input) */
    size_t members = fg_json_count(j, 0);
    if (members) {
        int k = fg_json_child(j, 0);
        for (uint32_t skip = fuzz_next(r) % members; skip--;)
            k = fg_json_sibling(j, 0, (int)j->t[k].next);
        char key[64];
        size_t rl;
        const char *raw = fg_json_raw_str(j, k, &rl);
        if (rl < sizeof key && !memchr(raw, '\\', rl)) {
            memcpy(key, raw, rl);
            key[rl] = '\0';
            if (fg_json_member_span(j, 0, key, &a0, &b0)) {
                e[0] = (struct fg_json_edit){a0, b0, "", 0};
                s = splice_ok(j, e, 1, &out, "member removal");
                FUZZ_CHECK(fg_json_count(&out, 0) == members - 1, "member count");
                free(s);
            }
        }
    }

    fg_json_free(&out);
}

/* Does the document validate as a request of shape d (provider_*.c;
 * FG_DIALECT_RESPONSES: the Responses API)? */
static int validates(const struct fg_json *j, enum fg_dialect d)
{
    struct fg_err err;
    enum fg_endpoint ep = d == FG_DIALECT_OPENAI      ? FG_EP_CHAT
                          : d == FG_DIALECT_RESPONSES ? FG_EP_RESPONSES
                                                      : FG_EP_MESSAGES;
    return fg_provider_ops(d)->validate(j, ep, &err) == 0;
}

/* pipeline.c's encode for a validated request, all edits together: the
 * usage request (OpenAI streams), prompt-cache markers where the (forced)
 * evidence says so, the upstream model id.  The result must still be a
 * valid request of the same dialect. */
static void encode_edits(const struct fg_json *j, struct fuzz_rng *r, struct fg_arena *a)
{
    const char *why;
    if (fg_json_type(j, 0) != FG_J_OBJ || fg_json_check_keys(j, 0, read_keys, &why))
        return;
    for (int d = 0; d < 3; d++) {
        if (!validates(j, (enum fg_dialect)d))
            continue;
        bool rs = d == FG_DIALECT_RESPONSES; /* wire dialect OpenAI, no usage request */
        struct fg_json_edit e[12];
        size_t ne = 0;
        int so = fg_json_get(j, 0, "stream_options");
        if (d == FG_DIALECT_OPENAI && fg_json_type(j, fg_json_get(j, 0, "stream")) == FG_J_TRUE &&
            fg_json_type(j, fg_json_get(j, so, "include_usage")) != FG_J_TRUE) {
            int iu = fg_json_get(j, so, "include_usage");
            const char *t;
            if (iu >= 0)
                e[ne++] = (struct fg_json_edit){j->t[iu].start, j->t[iu].end, "true", 4};
            else if (fg_json_type(j, so) == FG_J_OBJ)
                t = fg_json_child(j, so) >= 0 ? "\"include_usage\":true,"
                                              : "\"include_usage\":true",
                e[ne++] =
                    (struct fg_json_edit){j->t[so].start + 1, j->t[so].start + 1, t, strlen(t)};
            else if (so >= 0)
                e[ne++] = (struct fg_json_edit){j->t[so].start, j->t[so].end,
                                                "{\"include_usage\":true}", 22};
            else
                e[ne++] =
                    (struct fg_json_edit){j->t[0].start + 1, j->t[0].start + 1,
                                          "\"stream_options\":{\"include_usage\":true},",
                                          strlen("\"stream_options\":{\"include_usage\":true},")};
        }
        struct fg_prefix p;
        fg_prefix_scan(j, (enum fg_dialect)d, &p);
        uint32_t bits = fuzz_next(r);
        for (int b = 0; b < p.n; b++) {
            if (bits >> (b % 32) & 1) {
                p.tokens[b] = 1 << 20;
                p.prev_ms[b] = 1000000 - 1000;
                p.gap_ms[b] = (bits & 1) ? 60000 : 600000;
            }
        }
        struct fg_pc_edits pc = {e + ne, 0, 8, a};
        struct fg_pc_opts o = {
            .dialect = rs ? FG_DIALECT_OPENAI : (enum fg_dialect)d,
            .model = d == FG_DIALECT_ANTHROPIC ? "claude-sonnet-4-5" : "gpt-5.6",
            .auto_breakpoints = !rs,
            .openai_cache_key = bits & 2,
            .ttl_seconds = (bits & 4) ? 3600 : 300,
            .now_ms = 1000000,
        };
        fg_promptcache_plan(j, &p, &o, &pc);
        ne += pc.n;
        int m = fg_json_get(j, 0, "model");
        e[ne++] = (struct fg_json_edit){j->t[m].start, j->t[m].end, "\"upstream-id\"", 13};
        struct fg_json out = {0};
        char *s = splice_ok(j, e, ne, &out,
                            rs  ? "responses encode"
                            : d ? "anthropic encode"
                                : "openai encode");
        FUZZ_CHECK(validates(&out, (enum fg_dialect)d), "the encoded request no longer validates");
        FUZZ_CHECK(fg_json_str_eq(&out, fg_json_get(&out, 0, "model"), "upstream-id"), "model");
        free(s);
        fg_json_free(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rng r = fuzz_seed(&data, &size, 2);
    struct fg_json j = {0};
    j.max_depth = (uint32_t)(fuzz_next(&r) % 600); /* 0 and over 512: the parser's own */
    j.unique_keys = fuzz_next(&r) & 1;
    int rc = fg_json_parse(&j, (const char *)data, size);
    if (j.max_depth == 0 || j.max_depth >= 512)
        differential(data, size, &j, rc);
    if (rc == 0) {
        walk(&j);
        struct fg_arena a;
        fg_arena_init(&a);
        request_edits(&j, &r, &a);
        encode_edits(&j, &r, &a);
        fg_arena_free(&a);
    }
    fg_json_free(&j);
    return 0;
}
