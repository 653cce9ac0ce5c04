/* router.h — the routing classifier: does this request need the frontier
 * model?  A score in microseconds from cheap lexical features.
 *
 * Model (ROUTING.md section 5.1): logistic regression,
 *     score = σ(bias + Σ_b w[b]·x_b + Σ_j dense[j]·d_j)
 * where x is the hashed word 1-2-gram vector of the prompt and d are the
 * FG_ROUTER_N_DENSE dense features below.  Higher = the frontier model is
 * more likely to be needed; the score is a probability-like value in (0, 1).
 * The weights are fitted by `frugal route train` (route_tool.c), which calls
 * fg_router_features() below: trainer and scorer share this one feature
 * extractor, so they cannot drift apart.
 *
 * Feature spec (version 1; any change needs a new file version)
 *   Text: at most FG_ROUTER_TEXT_HEAD leading and FG_ROUTER_TEXT_TAIL
 *   trailing bytes are tokenised (dense length features see the full size).
 *   Bytes A-Z fold to a-z; word bytes are a-z, 0-9 and every byte >= 0x80
 *   (so UTF-8 words hash as words); everything else separates tokens.
 *   At most FG_ROUTER_MAX_TOKENS tokens are used.
 *   Token hash (64-bit arithmetic): h = SEED; for each 8-byte little-endian
 *   chunk c of the folded token, the last one zero-padded:
 *   h = (h ^ c) · K2, h ^= h >> 32; then h = (h ^ len) · K1, h ^= h >> 29.
 *   Bigram key of tokens p, t: k = (((p ^ SALT) · K1) ^ t) · K2,
 *   k ^= k >> 32; the first token pairs with p = BEGIN.
 *   SEED 0x46524757524f5554, K1 0x9e3779b97f4a7c15, K2 0xff51afd7ed558ccd,
 *   SALT 0x5bd1e9955bd1e995, BEGIN 0x2d358dccaa6c78a5.
 *   Every token adds one occurrence of bucket (h & (n_buckets - 1)) and
 *   one of bucket (k & (n_buckets - 1)).  Feature value of a bucket:
 *   count / sqrt(C), C = all occurrences of the prompt (so scoring is one
 *   pass summing weights, no per-prompt table).  A request's system prompt
 *   adds its occurrences at a quarter weight (fg_router_score_request).
 *   Dense features: enum fg_route_dense (raw values; the trainer
 *   standardises them and folds mean and scale into the stored weights).
 *
 * Weights file (".frw"), all little-endian, no padding:
 *   off  size                 field
 *   0    4                    magic "FRGW"
 *   4    u32                  version = FG_ROUTER_VERSION (1)
 *   8    u32                  n_buckets (power of two, 2^8 .. 2^24)
 *   12   u32                  n_dense (= FG_ROUTER_N_DENSE of this build)
 *   16   f32                  bias
 *   20   f32[n_buckets]       hashed n-gram weights
 *   ..   f32[n_dense]         dense feature weights (raw feature units)
 *   ..   u32                  n_thresholds (= 101)
 *   ..   f32[101]             threshold for frontier share 0.00 .. 1.00
 *                             (non-increasing; +inf at 0, -inf at 1)
 *   ..   u32                  meta_len (<= 65536)
 *   ..   u8[meta_len]         metadata, "key=value\n" text: training sources,
 *                             rows, hyper-parameters, cross-validated
 *                             numbers, recommended operating share
 *   end-8 u64                 FNV-1a-64 of every byte before it
 * A request goes to the frontier model when score >= threshold.  The table
 * is computed on out-of-fold scores of the training data (never the held-out
 * file): threshold[k] lets about k% of that traffic through.
 *
 * Thread safety: a loaded router is immutable.  Scoring a request body
 * decodes its text into a per-thread buffer, and fg_router_features uses a
 * per-thread table: free both with fg_router_thread_cleanup at thread exit. */
#ifndef FRUGAL_ROUTER_H
#define FRUGAL_ROUTER_H

#include "config.h"
#include "json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_ROUTER_MAGIC "FRGW"
#define FG_ROUTER_VERSION 1
#define FG_ROUTER_N_THRESHOLDS 101
#define FG_ROUTER_MAX_META 65536
#define FG_ROUTER_MIN_BUCKETS (1u << 8)
#define FG_ROUTER_MAX_BUCKETS (1u << 24)
#define FG_ROUTER_TEXT_HEAD 6144
#define FG_ROUTER_TEXT_TAIL 2048
#define FG_ROUTER_MAX_TOKENS 4096

/* Dense features, raw values (see router.c for the exact definitions). */
enum fg_route_dense {
    FG_RD_LOG_BYTES,   /* log1p(bytes of the prompt text) */
    FG_RD_LOG_WORDS,   /* log1p(tokens) */
    FG_RD_LOG_LINES,   /* log1p(newlines) */
    FG_RD_FENCE,       /* a ``` code fence */
    FG_RD_CODE,        /* log1p(code keywords + code punctuation / 4) */
    FG_RD_DIGITS,      /* digit bytes / bytes */
    FG_RD_MATH_OPS,    /* log1p(arithmetic operators next to digits) */
    FG_RD_MATH_WORDS,  /* log1p(solve, calculate, how many, ...) */
    FG_RD_LATEX,       /* log1p(\command and $$ markers) */
    FG_RD_QMARKS,      /* log1p('?') */
    FG_RD_LIST,        /* log1p(numbered or bulleted lines) */
    FG_RD_NONASCII,    /* bytes >= 0x80 / bytes */
    FG_RD_REASON,      /* log1p(prove, derive, explain why, design, ...) */
    FG_RD_CHOICE,      /* multiple choice: >= 3 "A." .. "E." option lines */
    FG_RD_STEPS,       /* "step by step", "show your work", ... */
    FG_RD_MAX_WORD,    /* log1p(longest token) */
    FG_RD_URLS,        /* log1p("://") */
    FG_RD_TURNS,       /* log(max(turns, 1)) */
    FG_RD_TOOLS,       /* tools offered */
    FG_RD_IMAGES,      /* images attached */
    FG_RD_SCHEMA,      /* structured output (JSON schema) requested */
    FG_RD_CREATIVE,    /* log1p(write, story, poem, rewrite, summarize, ...) */
    FG_RD_LOG_CHARS,   /* log1p(chars of the whole conversation) */
    FG_RD_CONSTRAINTS, /* log1p(must, exactly, at least, only, format, ...) */
    FG_ROUTER_N_DENSE
};
extern const char *const fg_router_dense_names[FG_ROUTER_N_DENSE];

/* Loaded weights and threshold table.  Fields are public for the trainer
 * (which builds one with fg_router_new); treat a loaded one as read-only. */
struct fg_router {
    uint32_t n_buckets, n_dense;
    float bias;
    float *w; /* n_buckets */
    float dense[FG_ROUTER_N_DENSE];
    float thresholds[FG_ROUTER_N_THRESHOLDS]; /* share k/100 -> threshold */
    char *meta;                               /* NUL-terminated, may be "" */
    size_t meta_len;
};

/* Facts about the request beyond its text. */
struct fg_route_facts {
    int turns;    /* user turns in the conversation */
    bool tools;   /* tools / functions offered */
    bool images;  /* image inputs */
    bool schema;  /* structured output requested */
    size_t chars; /* characters of the whole conversation (0 = text length) */
};

/* Feature vector of one prompt.  bucket/value point into a per-thread
 * scratch buffer: valid until the next fg_router_* call on this thread. */
struct fg_route_feats {
    uint32_t n;             /* distinct buckets */
    const uint32_t *bucket; /* n bucket indices (in first-seen order) */
    const float *value;     /* n values: count / sqrt(all occurrences) */
    float dense[FG_ROUTER_N_DENSE];
};

/* Load and validate a weights file.  NULL on error, with a message in err:
 * "<path>: <reason>", reasons "bad magic (not a frugal router weights file)",
 * "version N not supported (this build reads 1)", "truncated: ...",
 * "checksum mismatch: file corrupt or truncated", size and value checks. */
struct fg_router *fg_router_load(const char *path, char *err, size_t errlen);
void fg_router_free(struct fg_router *r);

/* A zeroed router with n_buckets weights (a power of two in range, else
 * NULL) and the threshold table share s -> 1 - s, for the trainer and tests. */
struct fg_router *fg_router_new(uint32_t n_buckets);
/* Set the metadata text (copied). */
void fg_router_set_meta(struct fg_router *r, const char *meta);
/* Value of "key=" in the metadata into out (NUL-terminated); false if absent. */
bool fg_router_meta(const struct fg_router *r, const char *key, char *out, size_t outlen);
/* Serialise (format above); 0, or -1 with a message in err. */
int fg_router_save(const struct fg_router *r, const char *path, char *err, size_t errlen);
/* The serialised file in a malloc'd buffer (for tests and save). */
unsigned char *fg_router_serialize(const struct fg_router *r, size_t *len);
/* Parse a serialised file from memory; `name` is used in messages. */
struct fg_router *fg_router_parse(const unsigned char *buf, size_t len, const char *name, char *err,
                                  size_t errlen);

/* FNV-1a-64 of buf (the file checksum). */
uint64_t fg_router_fnv1a64(const void *buf, size_t len);

/* Extract the features of a prompt for an n_buckets-wide hash space. */
void fg_router_features(uint32_t n_buckets, const char *text, size_t len,
                        const struct fg_route_facts *f, struct fg_route_feats *out);
/* Score an extracted feature vector (its n_buckets must match r's). */
double fg_router_score_feats(const struct fg_router *r, const struct fg_route_feats *x);

/* Score a prompt: higher = needs the frontier model; deterministic.  f may
 * be NULL (one turn, nothing else known). */
double fg_router_score_text(const struct fg_router *r, const char *text, size_t len,
                            const struct fg_route_facts *f);
/* The same from a request body (fg_json index, root 0) of either dialect:
 * text = the last user message plus a quarter weight of the system prompt;
 * facts = user turns, tools, images, structured output, conversation size. */
double fg_router_score_request(const struct fg_router *r, const struct fg_json *body,
                               enum fg_dialect d);

/* The feature vector fg_router_score_request scores, for the same body
 * (what a route's labels store instead of the prompt text; see
 * fg_router_features for the lifetime of out's arrays). */
void fg_router_request_features(uint32_t n_buckets, const struct fg_json *body, enum fg_dialect d,
                                struct fg_route_feats *out);

/* Threshold for a target frontier share in [0,1] (clamped), interpolated
 * in the table; route to the frontier model when score >= threshold. */
double fg_router_threshold(const struct fg_router *r, double frontier_share);
/* The inverse: the share of (training-mix) traffic scoring >= score. */
double fg_router_share(const struct fg_router *r, double score);

/* Free the calling thread's scoring scratch (at thread exit). */
void fg_router_thread_cleanup(void);

#endif
