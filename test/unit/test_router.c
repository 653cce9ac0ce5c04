/* Unit tests for the routing classifier (router.c) and its training and
 * evaluation tool (route_tool.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "route_tool.h"
#include "router.h"

#define SHIPPED "data/router-weights.frw"

static uint64_t rng_state;
static double rnd(void) /* deterministic uniform in [0, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* A router with pseudo-random weights, so every feature matters. */
static struct fg_router *random_router(uint32_t nb)
{
    struct fg_router *r = fg_router_new(nb);
    rng_state = 42;
    for (uint32_t i = 0; i < nb; i++)
        r->w[i] = (float)(rnd() * 2 - 1);
    for (int j = 0; j < FG_ROUTER_N_DENSE; j++)
        r->dense[j] = (float)(rnd() - 0.5) * 0.2f;
    r->bias = -0.25f;
    return r;
}

static const char *const prompts[] = {
    "What is the capital of France?",
    "Prove that there are infinitely many primes. Explain why each step holds.",
    "```python\ndef f(x):\n    return x * 2\n```\nDebug this function; it should triple x.",
    "Which of these is a mammal?\nA. shark\nB. whale\nC. trout\nD. eel\nAnswer:",
    ("Janet has 16 eggs, eats 3 and sells the rest at $2 each. How much does she make? "
     "Let's think step by step."),
    "Écris un poème sur la mer — 海 — s'il te plaît",
    "",
};
#define N_PROMPTS (sizeof prompts / sizeof prompts[0])

/* ---- features and scores --------------------------------------------------- */

static void scores_are_deterministic(void **state)
{
    (void)state;
    struct fg_router *r = random_router(1u << 12);
    double first[N_PROMPTS];
    for (size_t i = 0; i < N_PROMPTS; i++)
        first[i] = fg_router_score_text(r, prompts[i], strlen(prompts[i]), NULL);
    for (int rep = 0; rep < 5; rep++) /* in another order, repeatedly */
        for (size_t k = N_PROMPTS; k-- > 0;) {
            double s = fg_router_score_text(r, prompts[k], strlen(prompts[k]), NULL);
            assert_true(s == first[k]);
            assert_true(s > 0 && s < 1);
        }
    /* different prompts, different scores */
    assert_true(first[0] != first[1]);
    assert_true(first[2] != first[3]);
    /* the features path the trainer uses gives the same number (up to the
     * summation order and float rounding of the values) */
    for (size_t i = 0; i < N_PROMPTS; i++) {
        struct fg_route_feats x;
        fg_router_features(r->n_buckets, prompts[i], strlen(prompts[i]), NULL, &x);
        assert_true(fabs(fg_router_score_feats(r, &x) - first[i]) < 1e-6);
    }
    fg_router_free(r);
}

static void features_are_counted_and_folded(void **state)
{
    (void)state;
    struct fg_route_feats x;
    float d1[FG_ROUTER_N_DENSE];
    const char *a = "Hello World, hello world!";
    fg_router_features(1u << 16, a, strlen(a), NULL, &x);
    /* tokens hello world hello world: 2 unigrams + begin/hello, hello/world,
     * world/hello bigrams = 5 distinct features; 8 occurrences, each value
     * count / sqrt(8) */
    assert_int_equal(x.n, 5);
    double sum = 0;
    for (uint32_t i = 0; i < x.n; i++)
        sum += x.value[i];
    assert_true(fabs(sum - 8 / sqrt(8)) < 1e-5);
    memcpy(d1, x.dense, sizeof d1);
    const char *b = "HELLO world. Hello WORLD?"; /* same tokens, other case */
    fg_router_features(1u << 16, b, strlen(b), NULL, &x);
    assert_int_equal(x.n, 5);
    assert_true(x.dense[FG_RD_QMARKS] > 0 && d1[FG_RD_QMARKS] == 0);
    /* dense features see what they should */
    const char *c = prompts[3];
    fg_router_features(1u << 16, c, strlen(c), NULL, &x);
    assert_true(x.dense[FG_RD_CHOICE] == 1);
    c = prompts[2];
    fg_router_features(1u << 16, c, strlen(c), NULL, &x);
    assert_true(x.dense[FG_RD_FENCE] == 1 && x.dense[FG_RD_CODE] > 0 && x.dense[FG_RD_REASON] > 0);
    c = prompts[4];
    fg_router_features(1u << 16, c, strlen(c), NULL, &x);
    assert_true(x.dense[FG_RD_STEPS] == 1 && x.dense[FG_RD_MATH_WORDS] > 0);
    struct fg_route_facts f = {
        .turns = 3, .tools = true, .images = true, .schema = true, .chars = 9000};
    fg_router_features(1u << 16, c, strlen(c), &f, &x);
    assert_true(x.dense[FG_RD_TOOLS] == 1 && x.dense[FG_RD_IMAGES] == 1 &&
                x.dense[FG_RD_SCHEMA] == 1 && x.dense[FG_RD_TURNS] > 1);
    assert_true(fabsf(x.dense[FG_RD_LOG_CHARS] - (float)log1p(9000)) < 1e-5f);
}

static double score_body(const struct fg_router *r, const char *body, enum fg_dialect d)
{
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, body, strlen(body)), 0);
    double s = fg_router_score_request(r, &j, d);
    fg_json_free(&j);
    return s;
}

static void requests_score_their_last_user_message(void **state)
{
    (void)state;
    struct fg_router *r = random_router(1u << 12);
    const char *text = "Solve 2 + 2.\nThen \"prove\" it, caf\xc3\xa9 \xf0\x9f\x98\x80";
    struct fg_route_facts f = {.turns = 2};
#define RAW "Solve 2 + 2.\\nThen \\\"prove\\\" it, caf\\u00e9 \\ud83d\\ude00"
    const char *oa = "{\"model\":\"m\",\"messages\":["
                     "{\"role\":\"user\",\"content\":\"hi\"},"
                     "{\"role\":\"assistant\",\"content\":\"hello\"},"
                     "{\"role\":\"user\",\"content\":\"" RAW "\"}]}";
    f.chars = 2 + 5 + strlen(RAW); /* raw string bytes of every message */
#undef RAW
    double want = fg_router_score_text(r, text, strlen(text), &f);
    assert_true(score_body(r, oa, FG_DIALECT_OPENAI) == want);
    /* Anthropic: text blocks joined, an image, a top-level system prompt */
    const char *an = "{\"model\":\"m\",\"max_tokens\":9,\"system\":\"Be terse.\","
                     "\"messages\":[{\"role\":\"user\",\"content\":["
                     "{\"type\":\"text\",\"text\":\"Describe\"},"
                     "{\"type\":\"image\",\"source\":{}},"
                     "{\"type\":\"text\",\"text\":\"this picture\"}]}]}";
    double a1 = score_body(r, an, FG_DIALECT_ANTHROPIC);
    assert_true(a1 == score_body(r, an, FG_DIALECT_ANTHROPIC));
    struct fg_route_facts fi = {.turns = 1, .images = true, .chars = 8 + 12 + 9};
    /* the system prompt counts (a quarter), so it differs from the bare text */
    double bare = fg_router_score_text(r, "Describe\nthis picture", 21, &fi);
    assert_true(a1 != bare && a1 > 0 && a1 < 1);
    const char *an_nosys = "{\"model\":\"m\",\"max_tokens\":9,"
                           "\"messages\":[{\"role\":\"user\",\"content\":["
                           "{\"type\":\"text\",\"text\":\"Describe\"},"
                           "{\"type\":\"image\",\"source\":{}},"
                           "{\"type\":\"text\",\"text\":\"this picture\"}]}]}";
    fi.chars = 8 + 12;
    assert_true(score_body(r, an_nosys, FG_DIALECT_ANTHROPIC) ==
                fg_router_score_text(r, "Describe\nthis picture", 21, &fi));
    /* tools and a JSON schema are facts */
    const char *tools = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                        "\"tools\":[{\"type\":\"function\"}],"
                        "\"response_format\":{\"type\":\"json_schema\"}}";
    struct fg_route_facts ft = {.turns = 1, .tools = true, .schema = true, .chars = 1};
    assert_true(score_body(r, tools, FG_DIALECT_OPENAI) == fg_router_score_text(r, "x", 1, &ft));
    /* no user message at all: still a score */
    double e = score_body(r, "{\"messages\":[]}", FG_DIALECT_OPENAI);
    assert_true(e > 0 && e < 1);
    fg_router_free(r);
}

/* A Responses API body scores as the chat or Anthropic body that says the
 * same: input (a string, or items) as the messages, instructions as the
 * system prompt, text.format as the schema fact. */
static void responses_bodies_score_like_their_equivalents(void **state)
{
    (void)state;
    struct fg_router *r = random_router(1u << 12);
    assert_true(score_body(r, "{\"model\":\"m\",\"input\":\"Prove it step by step.\"}",
                           FG_DIALECT_RESPONSES) ==
                score_body(r,
                           "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                           "\"Prove it step by step.\"}]}",
                           FG_DIALECT_OPENAI));
    const char *rs =
        "{\"model\":\"m\",\"instructions\":\"Be terse.\",\"input\":["
        "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Describe\"},"
        "{\"type\":\"input_text\",\"text\":\"this picture\"}]}]}";
    const char *an = "{\"model\":\"m\",\"max_tokens\":9,\"system\":\"Be terse.\",\"messages\":["
                     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Describe\"},"
                     "{\"type\":\"text\",\"text\":\"this picture\"}]}]}";
    assert_true(score_body(r, rs, FG_DIALECT_RESPONSES) == score_body(r, an, FG_DIALECT_ANTHROPIC));
    /* read as chat, the same body has no messages: a different score */
    assert_true(score_body(r, rs, FG_DIALECT_OPENAI) != score_body(r, rs, FG_DIALECT_RESPONSES));
    struct fg_route_facts ft = {.turns = 1, .schema = true, .chars = 1};
    assert_true(score_body(r, "{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\"}}}",
                           FG_DIALECT_RESPONSES) == fg_router_score_text(r, "x", 1, &ft));
    fg_router_free(r);
}

static void long_prompts_use_head_and_tail(void **state)
{
    (void)state;
    struct fg_router *r = random_router(1u << 12);
    size_t n = 40000;
    char *t = malloc(n), *u = malloc(n);
    for (size_t i = 0; i < n; i++)
        t[i] = (char)("abcdefgh ijk\n"[i % 13]);
    memcpy(u, t, n);
    u[20000] = 'Z'; /* in the middle: not tokenised */
    double a = fg_router_score_text(r, t, n, NULL), b = fg_router_score_text(r, u, n, NULL);
    assert_true(a == b);
    u[n - 5] = '?'; /* in the tail: counted */
    assert_true(fg_router_score_text(r, u, n, NULL) != a);
    /* a 1.5 MB request body: the same score as its text, twice */
    size_t big = 1500000;
    char *body = malloc(big + 64), *text = malloc(big);
    size_t o = (size_t)sprintf(body, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (size_t i = 0; i < big; i++)
        body[o++] = text[i] = "lorem ipsum dolor "[i % 18];
    o += (size_t)sprintf(body + o, "\"}]}");
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, body, o), 0);
    struct fg_route_facts f = {.turns = 1, .chars = big};
    double want = fg_router_score_text(r, text, big, &f);
    assert_true(fg_router_score_request(r, &j, FG_DIALECT_OPENAI) == want);
    assert_true(fg_router_score_request(r, &j, FG_DIALECT_OPENAI) == want);
    fg_json_free(&j);
    free(body);
    free(text);
    free(t);
    free(u);
    fg_router_free(r);
}

/* ---- the weights file ------------------------------------------------------------ */

static struct fg_router *parse(const unsigned char *b, size_t n, char *err)
{
    return fg_router_parse(b, n, "w.frw", err, 256);
}

static void file_round_trip(void **state)
{
    (void)state;
    struct fg_router *r = random_router(1u << 8);
    fg_router_set_meta(r, "trained_on=a,b\noperating_share=0.40\n");
    size_t n;
    unsigned char *b = fg_router_serialize(r, &n);
    assert_int_equal(n,
                     20 + 4 * 256 + 4 * FG_ROUTER_N_DENSE + 4 + 4 * 101 + 4 + strlen(r->meta) + 8);
    assert_memory_equal(b, "FRGW", 4);
    char err[256] = "", v[64];
    struct fg_router *q = parse(b, n, err);
    assert_non_null(q);
    assert_int_equal(q->n_buckets, 256);
    assert_memory_equal(q->w, r->w, 256 * sizeof(float));
    assert_memory_equal(q->dense, r->dense, sizeof r->dense);
    assert_memory_equal(q->thresholds, r->thresholds, sizeof r->thresholds);
    assert_true(q->bias == r->bias);
    assert_true(fg_router_meta(q, "trained_on", v, sizeof v));
    assert_string_equal(v, "a,b");
    assert_true(fg_router_meta(q, "operating_share", v, sizeof v));
    assert_string_equal(v, "0.40");
    assert_false(fg_router_meta(q, "missing", v, sizeof v));
    assert_true(fg_router_score_text(q, prompts[1], strlen(prompts[1]), NULL) ==
                fg_router_score_text(r, prompts[1], strlen(prompts[1]), NULL));
    fg_router_free(q);
    /* through a real file */
    char path[] = "/tmp/test_router_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(fg_router_save(r, path, err, sizeof err), 0);
    q = fg_router_load(path, err, sizeof err);
    assert_non_null(q);
    size_t n2;
    unsigned char *b2 = fg_router_serialize(q, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(b2, b, n); /* byte for byte */
    free(b2);
    fg_router_free(q);
    unlink(path);
    assert_null(fg_router_load(path, err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
    free(b);
    fg_router_free(r);
}

static void bad_files_are_refused_clearly(void **state)
{
    (void)state;
    struct fg_router *r = random_router(1u << 8);
    size_t n;
    unsigned char *b = fg_router_serialize(r, &n), *c = malloc(n);
    char err[256], want[256];
    /* bad magic */
    memcpy(c, b, n);
    memcpy(c, "GGUF", 4);
    assert_null(parse(c, n, err));
    assert_string_equal(err, "w.frw: bad magic (not a frugal router weights file)");
    /* wrong version (checksum recomputed: the version is what is wrong) */
    memcpy(c, b, n);
    c[4] = 2;
    uint64_t h = fg_router_fnv1a64(c, n - 8);
    for (int i = 0; i < 8; i++)
        c[n - 8 + i] = (unsigned char)(h >> (8 * i));
    assert_null(parse(c, n, err));
    assert_string_equal(err, "w.frw: version 2 not supported (this build reads 1)");
    /* one flipped bit in a weight */
    memcpy(c, b, n);
    c[100] ^= 0x10;
    assert_null(parse(c, n, err));
    assert_string_equal(err, "w.frw: checksum mismatch: file corrupt or truncated");
    /* a damaged checksum */
    memcpy(c, b, n);
    c[n - 1] ^= 1;
    assert_null(parse(c, n, err));
    assert_string_equal(err, "w.frw: checksum mismatch: file corrupt or truncated");
    /* truncated: inside the trailer, inside the weights, inside the header */
    assert_null(parse(b, n - 3, err));
    snprintf(want, sizeof want, "w.frw: truncated: %zu bytes, expected %zu", n - 3, n);
    assert_string_equal(err, want);
    assert_null(parse(b, 500, err));
    snprintf(want, sizeof want, "w.frw: truncated: 500 bytes, expected at least %zu",
             n - 8 - strlen(r->meta));
    assert_string_equal(err, want);
    assert_null(parse(b, 10, err));
    assert_string_equal(err, "w.frw: truncated: 10 bytes, the header alone is 20");
    /* trailing bytes */
    unsigned char *big = calloc(1, n + 4);
    memcpy(big, b, n);
    assert_null(parse(big, n + 4, err));
    snprintf(want, sizeof want, "w.frw: size mismatch: %zu bytes, expected %zu (trailing data)",
             n + 4, n);
    assert_string_equal(err, want);
    free(big);
    /* sizes that this build cannot read */
    memcpy(c, b, n);
    c[8] = 3; /* n_buckets 259 */
    assert_null(parse(c, n, err));
    assert_string_equal(err, "w.frw: n_buckets 259 is not a power of two in [256, 16777216]");
    memcpy(c, b, n);
    c[12] = 7;
    assert_null(parse(c, n, err));
    snprintf(want, sizeof want, "w.frw: n_dense 7 does not match this build (%d dense features)",
             FG_ROUTER_N_DENSE);
    assert_string_equal(err, want);
    /* the same messages through fg_router_load name the file */
    char path[] = "/tmp/test_router_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    memcpy(c, b, n);
    c[100] ^= 0x10;
    assert_int_equal(write(fd, c, n), (ssize_t)n);
    close(fd);
    assert_null(fg_router_load(path, err, sizeof err));
    snprintf(want, sizeof want, "%s: checksum mismatch: file corrupt or truncated", path);
    assert_string_equal(err, want);
    unlink(path);
    free(c);
    free(b);
    fg_router_free(r);
}

/* ---- thresholds ------------------------------------------------------------------ */

static void threshold_table_is_monotonic(void **state)
{
    (void)state;
    struct fg_router *r = fg_router_new(1u << 8);
    size_t n = 997;
    double *s = malloc(n * sizeof *s);
    rng_state = 7;
    for (size_t i = 0; i < n; i++)
        s[i] = i % 10 == 0 ? 0.5 : rnd(); /* with ties */
    fg_route_tool_thresholds(r, s, n);
    assert_true(isinf(r->thresholds[0]) && r->thresholds[0] > 0);
    assert_true(isinf(r->thresholds[100]) && r->thresholds[100] < 0);
    for (int k = 1; k <= 100; k++)
        assert_true(r->thresholds[k] <= r->thresholds[k - 1]);
    /* the table lets the intended share through (up to ties and rounding) */
    for (int k = 10; k <= 90; k += 10) {
        double th = fg_router_threshold(r, k / 100.0);
        size_t through = 0;
        for (size_t i = 0; i < n; i++)
            through += s[i] >= th;
        assert_true(fabs((double)through / n - k / 100.0) < 0.12);
        /* the inverse: the largest share with this threshold (ties) */
        double sh = fg_router_share(r, th);
        assert_true(sh >= k / 100.0 - 1e-9);
        assert_true(fg_router_threshold(r, sh) == th);
        if (th != 0.5f)
            assert_true(fabs(sh - k / 100.0) < 1e-6);
    }
    double prev = INFINITY;
    for (int k = 0; k <= 1000; k++) { /* interpolated: still monotonic */
        double th = fg_router_threshold(r, k / 1000.0);
        assert_true(th <= prev);
        prev = th;
    }
    assert_true(fg_router_threshold(r, -1) == r->thresholds[0]);
    assert_true(fg_router_threshold(r, 2) == r->thresholds[100]);
    /* the table survives the file */
    size_t len;
    unsigned char *b = fg_router_serialize(r, &len);
    char err[256];
    struct fg_router *q = parse(b, len, err);
    assert_non_null(q);
    assert_memory_equal(q->thresholds, r->thresholds, sizeof r->thresholds);
    /* a non-monotonic table is refused */
    unsigned char *c = malloc(len);
    memcpy(c, b, len);
    size_t t50 = 20 + 4 * 256 + 4 * FG_ROUTER_N_DENSE + 4 + 4 * 50;
    float big = 5;
    memcpy(c + t50, &big, 4);
    uint64_t h = fg_router_fnv1a64(c, len - 8);
    for (int i = 0; i < 8; i++)
        c[len - 8 + i] = (unsigned char)(h >> (8 * i));
    assert_null(parse(c, len, err));
    assert_string_equal(err, "w.frw: threshold table is not non-increasing");
    free(c);
    free(b);
    fg_router_free(q);
    fg_router_free(r);
    free(s);
}

/* ---- the curve ------------------------------------------------------------------- */

static void apgr_of_constant_and_oracle(void **state)
{
    (void)state;
    /* rows: weak/strong quality */
    double qw[] = {0, 0, 1, 1}, qs[] = {1, 1, 0, 1}, cst[] = {0.3, 0.3, 0.3, 0.3};
    struct fg_route_tool_curve c;
    fg_route_tool_curve(4, cst, qw, qs, NULL, &c);
    assert_true(fabs(c.q_weak - 0.5) < 1e-12 && fabs(c.q_strong - 0.75) < 1e-12);
    assert_true(fabs(c.apgr - 0.5) < 1e-12);
    for (int k = 0; k <= 100; k++)
        assert_true(fabs(c.pgr[k] - k / 100.0) < 1e-12);
    assert_int_equal(c.cpt50, 50);
    assert_int_equal(c.cpt80, 80);
    assert_true(fabs(c.auc - 0.5) < 1e-12);
    /* oracle: gains 1, 1, 0, -1 in that order.  PGR(c) = G(4c) with G the
     * gain taken; the area is (2 + 2 + 1.5) / 4 = 1.375 */
    double gain[4];
    for (int i = 0; i < 4; i++)
        gain[i] = qs[i] - qw[i];
    fg_route_tool_curve(4, gain, qw, qs, NULL, &c);
    assert_true(fabs(c.apgr - 1.375) < 1e-12);
    assert_int_equal(c.cpt50, 13); /* G = 4c up to c = 1/2 */
    assert_int_equal(c.cpt80, 20);
    assert_true(fabs(c.pgr[50] - 2) < 1e-12 && fabs(c.pgr[100] - 1) < 1e-12);
    assert_true(fabs(c.auc - 1) < 1e-12);
    /* reversed oracle: the worst order */
    double neg[4];
    for (int i = 0; i < 4; i++)
        neg[i] = -gain[i];
    fg_route_tool_curve(4, neg, qw, qs, NULL, &c);
    assert_true(fabs(c.apgr - (1 - 1.375)) < 1e-12);
    assert_true(fabs(c.auc - 0) < 1e-12);
    /* a constant scorer on a larger random set: still exactly 0.5 */
    size_t n = 1001;
    double *w = malloc(n * sizeof *w), *s = malloc(n * sizeof *s), *a = malloc(n * sizeof *a),
           *b = malloc(n * sizeof *b);
    rng_state = 99;
    for (size_t i = 0; i < n; i++) {
        a[i] = rnd() < 0.6;
        b[i] = rnd() < 0.8;
        s[i] = 1;
        w[i] = 1 + (double)(i % 3);
    }
    fg_route_tool_curve(n, s, a, b, w, &c);
    assert_true(fabs(c.apgr - 0.5) < 1e-12);
    assert_int_equal(c.cpt50, 50);
    free(w);
    free(s);
    free(a);
    free(b);
    /* equal qualities: PGR undefined */
    double same[] = {1, 1};
    fg_route_tool_curve(2, same, same, same, NULL, &c);
    assert_true(isnan(c.apgr) && c.cpt50 == -1);
}

/* ---- training ------------------------------------------------------------------------ */

static void training_separates_two_obvious_classes(void **state)
{
    (void)state;
    /* same length and shape; only the ask differs: "prove" needs the strong
     * model (weak fails), "greet" does not (both succeed) */
    static const char *const topic[] = {"cats",  "rivers", "trains", "music",
                                        "stars", "bread",  "clouds", "ships"};
    char text[16][64];
    struct fg_route_example ex[16];
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        snprintf(text[n], sizeof text[n], "prove the claim about %s", topic[i]);
        ex[n] = (struct fg_route_example){text[n], strlen(text[n]), 0, 1, 0};
        n++;
        snprintf(text[n], sizeof text[n], "greet my friend about %s", topic[i]);
        ex[n] = (struct fg_route_example){text[n], strlen(text[n]), 1, 1, 1};
        n++;
    }
    struct fg_route_fit_opts o = {
        .n_buckets = 1u << 12, .lambda = 1e-3, .target = FG_TARGET_BINARY};
    struct fg_router *r = fg_route_tool_fit(ex, n, &o);
    assert_non_null(r);
    for (size_t i = 0; i < n; i++) {
        double s = fg_router_score_text(r, ex[i].text, ex[i].len, NULL);
        assert_true(ex[i].q_weak == 0 ? s > 0.6 : s < 0.4);
    }
    /* an unseen topic */
    const char *h = "prove the claim about moons", *e = "greet my friend about moons";
    double sh = fg_router_score_text(r, h, strlen(h), NULL);
    double se = fg_router_score_text(r, e, strlen(e), NULL);
    assert_true(sh > 0.5 && se < 0.5);
    /* deterministic: a second fit is bit-identical */
    struct fg_router *r2 = fg_route_tool_fit(ex, n, &o);
    assert_memory_equal(r->w, r2->w, r->n_buckets * sizeof(float));
    assert_memory_equal(r->dense, r2->dense, sizeof r->dense);
    assert_true(r->bias == r2->bias);
    /* the gain target ranks the same way */
    o.target = FG_TARGET_GAIN;
    struct fg_router *r3 = fg_route_tool_fit(ex, n, &o);
    assert_true(fg_router_score_text(r3, h, strlen(h), NULL) >
                fg_router_score_text(r3, e, strlen(e), NULL));
    o.n_buckets = 1000;
    assert_null(fg_route_tool_fit(ex, n, &o));
    fg_router_free(r);
    fg_router_free(r2);
    fg_router_free(r3);
}

/* The shipped file: loads, and was fitted on permissively licensed sources. */
static void shipped_weights_are_permissive(void **state)
{
    (void)state;
    if (access(SHIPPED, R_OK) != 0) {
        print_message("note: %s not found from this directory; skipped\n", SHIPPED);
        return;
    }
    char err[256], v[1024];
    struct fg_router *r = fg_router_load(SHIPPED, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    assert_true(fg_router_meta(r, "trained_on", v, sizeof v));
    assert_null(strstr(v, "alpacaeval"));
    assert_null(strstr(v, "xcodeeval"));
    assert_true(fg_router_meta(r, "operating_share", v, sizeof v));
    double op = atof(v);
    assert_true(op > 0 && op < 1);
    for (int k = 1; k <= 100; k++)
        assert_true(r->thresholds[k] <= r->thresholds[k - 1]);
    fg_router_free(r);
}

/* ---- speed (printed, not asserted) ------------------------------------------------- */

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void scoring_speed(void **state)
{
    (void)state;
    struct fg_router *r = random_router(1u << 18);
    static const char para[] =
        "Our team is planning the quarterly offsite and needs a short agenda that "
        "balances strategy sessions with time for informal conversation; keep it "
        "friendly, mention the budget limits, and suggest two venues near the office.\n"
        "Please review the following function and explain why it fails on empty input. "
        "The service computes 3 * (x + 2) = y for each record, then writes the totals "
        "to the ledger; optimise it if you can.\n```c\nint sum(const int *a, int n) {\n"
        "    int s = 0;\n    for (int i = 0; i <= n; i++) s += a[i];\n    return s;\n}\n```\n";
    char text[4096];
    size_t n = 0;
    while (n < sizeof text) {
        size_t k = sizeof para - 1 < sizeof text - n ? sizeof para - 1 : sizeof text - n;
        memcpy(text + n, para, k);
        n += k;
    }
    /* the best of 10 batches: the machine may be shared */
    double sink = 0, per = INFINITY, per_req = INFINITY, t0;
    int iters = 300;
    for (int batch = 0; batch < 10; batch++) {
        t0 = now_us();
        for (int i = 0; i < iters; i++)
            sink += fg_router_score_text(r, text, n, NULL);
        per = fmin(per, (now_us() - t0) / iters);
    }
    /* the same prompt as a request body (decoding included, parsing not) */
    char *body = malloc(2 * n + 128);
    size_t b = (size_t)sprintf(body, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                     "\"content\":\"");
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\n') {
            body[b++] = '\\';
            body[b++] = 'n';
        } else if (text[i] == '"' || text[i] == '\\') {
            body[b++] = '\\';
            body[b++] = text[i];
        } else
            body[b++] = text[i];
    }
    b += (size_t)sprintf(body + b, "\"}]}");
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, body, b), 0);
    for (int batch = 0; batch < 10; batch++) {
        t0 = now_us();
        for (int i = 0; i < iters; i++)
            sink += fg_router_score_request(r, &j, FG_DIALECT_OPENAI);
        per_req = fmin(per_req, (now_us() - t0) / iters);
    }
    fg_json_free(&j);
    free(body);
    const char *build = "no sanitizer";
#if defined(__SANITIZE_ADDRESS__)
    build = "ASan, slower than a release build";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    build = "ASan, slower than a release build";
#endif
#endif
    print_message("scoring: %.2f us per 4 KB prompt, %.2f us per 4 KB request body "
                  "(%s; goal < 10 us in a release build)\n",
                  per, per_req, build);
    assert_true(sink > 0);
    fg_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scores_are_deterministic),
        cmocka_unit_test(features_are_counted_and_folded),
        cmocka_unit_test(requests_score_their_last_user_message),
        cmocka_unit_test(responses_bodies_score_like_their_equivalents),
        cmocka_unit_test(long_prompts_use_head_and_tail),
        cmocka_unit_test(file_round_trip),
        cmocka_unit_test(bad_files_are_refused_clearly),
        cmocka_unit_test(threshold_table_is_monotonic),
        cmocka_unit_test(apgr_of_constant_and_oracle),
        cmocka_unit_test(training_separates_two_obvious_classes),
        cmocka_unit_test(shipped_weights_are_permissive),
        cmocka_unit_test(scoring_speed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fg_router_thread_cleanup();
    fg_json_thread_cleanup();
    return rc;
}
