/* sim_internal.h — pieces of the simulated provider shared between its files
 * (sim.c transport, sim_openai.c / sim_anthropic.c dialects, sim_schema.c,
 * sim_cache.c, sim_text.c) and exposed to test/unit/test_sim.c.
 *
 * Split of responsibilities: the dialect files are pure functions from a
 * parsed request (+ the sim's cache and a clock value) to a `struct
 * sim_reply` (status, headers, body or a list of pre-framed SSE events).
 * sim.c owns every libevent object and plays a reply out on the wire,
 * applying the transport faults (delay, stall, cut, reset).  Nothing here
 * touches the network, so everything here is unit-testable.
 *
 * Memory: request-scoped strings live in the request's fg_arena; jansson
 * values are new references the caller decrefs; struct sim_buf and
 * struct sim_prompt are malloc-backed and freed by their _free functions. */
#ifndef FRUGAL_SIM_INTERNAL_H
#define FRUGAL_SIM_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* ---- faults (sim_text.c) ------------------------------------------------ */

struct sim_fault {
    int status;          /* >= 400: reply with this status; 0: none */
    long delay_ms;       /* before the response headers */
    long stall_ms;       /* streaming: pause after the first event */
    long event_delay_ms; /* streaming: pause between events */
    long cut_after;      /* streaming: events sent before the cut; -1: none */
    long tokens;         /* answer length in tokens; -1: default answer */
    int invalid_json;
    int reset;
    long batch_delay_ms; /* batches: time to finish every line; -1: none */
    int batch_expire;    /* batches: expire at created + delay */
    int bad_schema;      /* answer a requested schema with prose instead */
    int bad_usage;       /* report an absurd usage (output -99999999999) */
    int echo_auth;       /* answer 401 quoting the credential the request sent */
    int content_filter;  /* Azure: the answer is cut by the content filter */
    int prompt_filter;   /* Azure: the prompt is refused (400 content_filter) */
    long flex_busy;      /* service_tier "flex": refuse the first N such requests
                            with the same body (429 resource_unavailable); 0 =
                            none; without "=N" every one */
};

void sim_fault_init(struct sim_fault *f);
/* Merge directives found in <text> into <f>.  "#sim:key[=value]" anywhere in
 * the text; with <bare> (the x-sim-fault header) "key[=value]" words without
 * the "#sim:" prefix count too.  Unknown keys and bad numbers are ignored. */
void sim_fault_parse(struct sim_fault *f, const char *text, int bare);

/* ---- small utilities (sim_text.c) --------------------------------------- */

#define SIM_HASH_INIT 1469598103934665603ULL
/* FNV-1a 64, continuing from <h>, so prefixes hash incrementally. */
uint64_t sim_hash(uint64_t h, const void *p, size_t n);
/* The token estimate everywhere in the sim: ceil(bytes / 4). */
size_t sim_tokens(size_t bytes);
/* Largest cut <= <n> in <s> (length <len>) that does not split a UTF-8
 * sequence. */
size_t sim_utf8_floor(const char *s, size_t len, size_t n);

struct sim_buf {
    char *p; /* NUL-terminated when non-NULL */
    size_t len, cap;
};
void sim_buf_add(struct sim_buf *b, const void *p, size_t n);
void sim_buf_adds(struct sim_buf *b, const char *s);
void sim_buf_free(struct sim_buf *b);

/* Compact JSON text of <v> in the arena ("null" for NULL). */
char *sim_json_dump(struct fg_arena *a, const json_t *v);
/* Compact JSON of <v> without any "cache_control" member at its top level:
 * the marker must not change the prefix it marks. */
char *sim_json_dump_nocc(struct fg_arena *a, const json_t *v);

/* SSE frame "event: NAME\ndata: DATA\n\n" (no event line when <event> is
 * NULL), in the arena. */
char *sim_sse(struct fg_arena *a, const char *event, const char *data);

/* A growable list of strings in an arena (SSE frames of a stream). */
struct sim_events {
    const char **v;
    size_t n, cap;
};
void sim_events_push(struct fg_arena *a, struct sim_events *e, const char *s);

/* End of the next streaming piece of <s> starting at <off>: about <words>
 * words (space-separated; the trailing space stays with its word). */
size_t sim_next_words(const char *s, size_t len, size_t off, int words);
/* End of the next piece of at most <max> bytes, UTF-8 safe. */
size_t sim_next_bytes(const char *s, size_t len, size_t off, size_t max);

/* The deterministic answer text: "Simulated reply from MODEL to: SNIPPET"
 * where SNIPPET is the start of <user_text> without #sim: directives.
 * <tokens> >= 0 makes it exactly that many tokens (4 * tokens bytes) long. */
char *sim_answer_text(struct fg_arena *a, const char *model, const char *user_text, long tokens);

enum sim_end { SIM_END_NATURAL, SIM_END_STOP, SIM_END_LENGTH, SIM_END_TOOL, SIM_END_FILTER };

/* Apply stop sequences and a token limit to <text> (length <len>) the way a
 * model generating left to right would: whichever comes first wins.
 * <max_tokens> < 0 means no limit.  Returns the kept length; sets <end> and,
 * for SIM_END_STOP, <matched> to the stop string. */
size_t sim_apply_limits(const char *text, size_t len, const char *const *stops, size_t nstops,
                        long max_tokens, enum sim_end *end, const char **matched);

/* ---- schema-satisfying values (sim_schema.c) ----------------------------- */

/* A value satisfying JSON Schema <schema> (subset: type/type unions, const,
 * enum, anyOf/oneOf (first branch), allOf (objects merged), $ref into <root>
 * (#, #/$defs/.., any JSON pointer), properties/required, items/prefixItems/
 * minItems/maxItems, minimum/maximum/exclusive*, multipleOf,
 * minLength/maxLength, string formats).  New reference; never NULL. */
json_t *sim_schema_value(const json_t *schema, const json_t *root);

/* ---- canonical prompt and token estimate -------------------------------- */
/* struct sim_prompt helpers live in sim_cache.c, the builders in the
 * dialect files (sim_openai.c, sim_anthropic.c). */

/* The canonical serialisation of a prompt: what caching hashes and what
 * usage counts.  For Anthropic it is cut into blocks (tools, system blocks,
 * message content blocks); a block may carry a cache breakpoint. */
struct sim_prompt {
    struct sim_buf text;
    size_t *block_end; /* byte offset just past each block */
    int *block_ttl;    /* 0: no breakpoint; else TTL in seconds */
    size_t nblocks, cap;
    int nbreakpoints;
};
void sim_prompt_add_block(struct sim_prompt *p, const char *s, size_t n, int ttl);
/* 16-byte per-message header "<|role        |>": 4 tokens of overhead. */
void sim_prompt_add_header(struct sim_prompt *p, const char *role);
void sim_prompt_free(struct sim_prompt *p);
size_t sim_prompt_tokens(const struct sim_prompt *p);

/* OpenAI: tools, response_format schema, then messages.  Body must have
 * passed validation (but tolerates anything). */
void sim_openai_prompt(struct fg_arena *a, const json_t *body, struct sim_prompt *p);
/* Anthropic: tools -> system -> messages, with breakpoints; top-level
 * cache_control marks the last block of the last message.  Returns 0, or -1
 * with <err> set when the request cannot be cached as asked (> 4
 * breakpoints). */
int sim_anthropic_prompt(struct fg_arena *a, const json_t *body, struct sim_prompt *p, char *err,
                         size_t errlen);

/* ---- prompt-cache accounting (sim_cache.c) ------------------------------- */

struct sim_cache;
struct sim_cache *sim_cache_new(void);
void sim_cache_free(struct sim_cache *c);

#define SIM_OPENAI_TTL_MS (10ULL * 60 * 1000)

/* OpenAI automatic prefix caching: the cached tokens of this prompt for
 * <model> at time <now_ms> (largest 128-token step >= 1024 seen within the
 * TTL), then record every step of this prompt. */
size_t sim_openai_cache(struct sim_cache *c, const char *model, const struct sim_prompt *p,
                        uint64_t now_ms);

struct sim_anth_usage {
    size_t input, read, write_5m, write_1h;
};
/* Minimum cacheable prefix in tokens for an Anthropic model id. */
size_t sim_anthropic_min_tokens(const char *model);
/* Anthropic breakpoint accounting at <now_ms>: reads (with a 20-block
 * lookback), writes split by TTL, the uncached rest; records the writes. */
void sim_anthropic_cache(struct sim_cache *c, const char *model, const struct sim_prompt *p,
                         uint64_t now_ms, struct sim_anth_usage *u);

/* ---- replies (built by the dialects, played by sim.c) -------------------- */

enum sim_dialect { SIM_OPENAI, SIM_ANTHROPIC };

#define SIM_MAX_HEADERS 6

struct sim_reply {
    int status;
    const char *content_type;
    const char *body; /* non-stream body */
    size_t body_len;
    int stream;               /* events instead of body */
    struct sim_events events; /* SSE frames; the last one is the terminator */
    int nhdr;
    const char *hdr_name[SIM_MAX_HEADERS], *hdr_value[SIM_MAX_HEADERS];
};
void sim_reply_header(struct sim_reply *r, const char *name, const char *value);
void sim_reply_json(struct fg_arena *a, struct sim_reply *r, int status, const json_t *v);

/* Per-request inputs of a dialect handler. */
struct sim_ctx {
    struct fg_arena *arena;
    struct sim_cache *cache;
    uint64_t now_ms;                 /* monotonic clock, for cache TTLs */
    long long created;               /* wall clock seconds, for "created" */
    const char *id;                  /* hex id unique to this request */
    const char *anthropic_version;   /* header, or NULL */
    long tokens;                     /* #sim:tokens, -1 if absent */
    int bad_schema;                  /* #sim:bad_schema */
    int bad_usage;                   /* #sim:bad_usage */
    const char *credential;          /* the request's key (x-api-key, else Authorization
                               without "Bearer "), or NULL: for #sim:echo_auth */
    struct sim_responses *responses; /* stored Responses (sim_responses.c), or NULL */
    const struct sim_say *say;       /* --say-table answers (sim_say.h), or NULL */
    int azure;                       /* the request came at Azure's URLs (sim_azure.c) */
    int content_filter;              /* #sim:content_filter: the answer is filtered */
};

/* Usage shapes of OpenAI-compatible providers (sim_flavour.c), chosen by
 * the upstream model id's prefix. */
enum sim_flavour {
    SIM_FLAVOUR_OPENAI,
    SIM_FLAVOUR_DEEPSEEK,
    SIM_FLAVOUR_GEMINI,
    SIM_FLAVOUR_GROQ,
    SIM_FLAVOUR_LLAMACPP,
    SIM_FLAVOUR_NONE,
};
#define SIM_FLAVOUR_THOUGHTS 16 /* gemini-*: tokens counted only in total_tokens */
enum sim_flavour sim_flavour_of(const char *model);
/* Put usage (stolen: OpenAI's shape) into the answer or last chunk obj in
 * flavour f's shape: as is, changed, moved (x_groq, timings) or dropped. */
void sim_flavour_usage(enum sim_flavour f, json_t *obj, json_t *usage, size_t prompt, size_t cached,
                       size_t completion);

/* Error bodies in each dialect.  OpenAI: <param>, <code> may be NULL. */
void sim_openai_error(struct sim_ctx *c, struct sim_reply *r, int status, const char *type,
                      const char *param, const char *code, const char *msg);
void sim_anthropic_error(struct sim_ctx *c, struct sim_reply *r, int status, const char *type,
                         const char *msg);
/* The provider-shaped error for an injected "#sim:status=N". */
void sim_fault_error(struct sim_ctx *c, enum sim_dialect d, struct sim_reply *r, int status);
/* "#sim:echo_auth": a 401 whose message quotes c->credential verbatim, as
 * careless providers do, so tests can check frugal never passes it on. */
void sim_echo_auth_error(struct sim_ctx *c, enum sim_dialect d, struct sim_reply *r);

/* Text of the last user message (string content or text parts/blocks
 * joined with "\n"), "" when none.  Used for fault directives. */
const char *sim_openai_last_user_text(struct fg_arena *a, const json_t *body);
const char *sim_anthropic_last_user_text(struct fg_arena *a, const json_t *body);

/* The answer to a request: the --say-table entry its user text matches,
 * else sim_answer_text(). */
const char *sim_answer(const struct sim_ctx *c, const char *model, const char *user_text);

/* Handlers.  <body> is NULL when the request body was not valid JSON. */
void sim_openai_chat(struct sim_ctx *c, const json_t *body, struct sim_reply *r);
void sim_anthropic_messages(struct sim_ctx *c, const json_t *body, struct sim_reply *r);
void sim_anthropic_count_tokens(struct sim_ctx *c, const json_t *body, struct sim_reply *r);
/* sim_embed.c */
void sim_openai_embeddings(struct sim_ctx *c, const json_t *body, struct sim_reply *r);
void sim_openai_moderations(struct sim_ctx *c, const json_t *body, struct sim_reply *r);

/* The Chat Completions answer to a chat-shaped body (no validation): the
 * Responses handler (sim_responses.c) builds such a body and renders this
 * answer in its own shape.  Strings in c->arena. */
struct sim_oa_answer {
    const char *text; /* NULL with a tool call */
    size_t len;
    const char *tool_name, *tool_args;
    enum sim_end end;
    size_t out_tokens, prompt, cached;
};
void sim_openai_answer(struct sim_ctx *c, const json_t *chat_body, struct sim_oa_answer *out);

/* The Responses API (sim_responses.c): stored responses live in a struct
 * sim_responses owned by the sim server.  <body> is NULL for GET/DELETE or
 * when not JSON. */
struct sim_responses;
struct sim_http;
struct sim_responses *sim_responses_new(void);
void sim_responses_free(struct sim_responses *s);
int sim_responses_owns(const char *path);
/* Text of the last user input (string input, or the last user item). */
const char *sim_responses_user_text(struct fg_arena *a, const json_t *body);
void sim_responses_handle(struct sim_responses *s, struct sim_ctx *c, const struct sim_http *h,
                          const json_t *body, struct sim_reply *r);

/* Shared by both dialects (sim_text.c). */
int sim_tool_mentioned(const char *user_text, const char *tool_name);

/* ---- Azure OpenAI (sim_azure.c) ------------------------------------------ */

/* Map an Azure path (/openai/deployments/DEP/chat/completions,
 * /openai/files/...) to the sim's OpenAI path (/v1/...) and the deployment
 * named in it (NULL: a resource-level path); -1: not an Azure path. */
int sim_azure_map(struct fg_arena *a, const char *path, const char **v1path, const char **dep);
/* Azure's own error shape {"error": {"code", "message"}} (auth, api-version). */
void sim_azure_error(struct sim_ctx *c, struct sim_reply *r, int status, const char *code,
                     const char *msg);
/* #sim:prompt_filter: the 400 content_filter refusal. */
void sim_azure_prompt_filtered(struct sim_ctx *c, struct sim_reply *r);
/* New references: an answer's prompt_filter_results, a choice's
 * content_filter_results. */
json_t *sim_azure_prompt_results(void);
json_t *sim_azure_choice_results(bool filtered);

#endif
