/* translate_internal.h — helpers shared by the translate_*.c files (not a
 * public interface: see translate.h). */
#ifndef FRUGAL_TRANSLATE_INTERNAL_H
#define FRUGAL_TRANSLATE_INTERNAL_H

#include "translate.h"

#include <jansson.h>
#include <stdint.h>

/* "2026-10-21" removed temperature/top_p/top_k from the Messages API. */
#define TR_AN_NO_SAMPLING_SINCE "2026-10-21"
#define TR_AN_DEFAULT_VERSION "2026-10-21"
/* used when the caller knows no output limit for the model */
#define TR_FALLBACK_MAX_TOKENS 4096

/* Compact, and reals printed with 15 significant digits: every decimal a
 * client typed with <= 15 digits (0.7, not 0.69999999999999996) comes
 * out as it was written. */
#define TR_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

/* --- jansson access --------------------------------------------------- */

/* Token tok of j (its byte span) as a jansson tree, or NULL. */
json_t *tr_load(const struct fg_json *j, int tok);
/* String member or NULL. */
const char *tr_str(const json_t *obj, const char *key);
/* Integer member into *v (reals with an integral value too); false if absent/other. */
bool tr_int(const json_t *obj, const char *key, int64_t *v);
/* Present and not JSON null. */
bool tr_has(const json_t *obj, const char *key);
/* Compact dump appended to out. */
void tr_dump_to(const json_t *v, struct evbuffer *out);

/* --- warnings and errors ---------------------------------------------- */

void tr_warn(struct fg_translate_warnings *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A 400 for a field whose meaning can't be kept; returns -1. */
int tr_bad(struct fg_err *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- ids -------------------------------------------------------------- */

/* Anthropic ids must match ^[a-zA-Z0-9_-]+$: other bytes become "_XX"
 * (hex), deterministic so a tool_use id and its tool_result id, translated
 * separately, still match.  An empty id becomes `fallback`.  Returns a
 * new jansson string. */
json_t *tr_tool_id(const char *id, const char *fallback);

/* --- stop reasons ------------------------------------------------------ */

const char *tr_finish_of_stop(const char *stop_reason);
const char *tr_stop_of_finish(const char *finish_reason);

/* --- usage -------------------------------------------------------------- */

/* Disjoint counts (Anthropic's meaning): input excludes cache traffic. */
struct tr_usage {
    int64_t input, cache_read, cache_write, cache_write_1h, output, reasoning;
};
/* Fields present overwrite (Anthropic streams merge usage this way). */
void tr_usage_from_an(const json_t *u, struct tr_usage *x);
/* u: an OpenAI-compatible usage object in any provider's flavour, read by
 * the one mapping (usage.c, usage_flavour.h). */
void tr_usage_from_oa(const json_t *u, struct tr_usage *x);
/* The usage object of an OpenAI-compatible answer or chunk (usage,
 * x_groq.usage, timings: usage_flavour.h), or NULL. */
const json_t *tr_usage_oa_find(const json_t *root);
/* OpenAI usage object: prompt_tokens = input + cache_read + cache_write. */
json_t *tr_usage_oa(const struct tr_usage *x);
/* Anthropic Message usage with every key SDK 1.x declares. */
json_t *tr_usage_an(const struct tr_usage *x);
/* Anthropic message_delta usage (cumulative; overwrites the start's). */
json_t *tr_usage_an_delta(const struct tr_usage *x);

/* --- error shapes --------------------------------------------------------- */

/* Cut s (NUL-terminated) at its last complete UTF-8 character: a string
 * truncated into a fixed buffer may end inside one, and JSON strings must
 * be valid UTF-8. */
void tr_utf8_trim(char *s);

struct tr_error {
    int status;
    char type[64], code[64], param[64], msg[400];
};
/* Read an error document of dialect `from` (body or stream event data). */
void tr_error_read(enum fg_dialect from, const json_t *root, struct tr_error *x);
/* Build the error document of dialect `to` (status picks the type when
 * the dialects differ). */
json_t *tr_error_doc(enum fg_dialect from, enum fg_dialect to, const struct tr_error *x);
/* HTTP status implied by an error type of dialect d (stream errors carry
 * no status). */
int tr_status_of_type(enum fg_dialect d, const char *type);

/* --- SSE framing (both take ownership of data) --------------------------- */

void tr_sse_an(struct evbuffer *out, const char *name, json_t *data);
void tr_sse_oa(struct evbuffer *out, json_t *data);

/* --- Responses ------------------------------------------------------------ */

/* A Responses text.format (flat) as a Chat response_format (new), or NULL
 * when it asks for plain text. */
json_t *tr_rs_response_format(const json_t *fmt);

/* Responses usage object (input includes cache traffic, output reasoning). */
json_t *tr_usage_rs(const struct tr_usage *x);
/* prefix + the upstream id without its "chatcmpl-" (malloc'd). */
char *tr_rs_id(const char *prefix, const char *upstream_id);
/* A Response object with every key the SDK declares (takes output and usage;
 * usage NULL: null; incomplete: the reason, or NULL). */
json_t *tr_rs_response(const char *id, const char *model, json_int_t created, const char *status,
                       const char *incomplete, json_t *output, json_t *usage);
/* The fields of a Responses request (raw JSON) a Response repeats (new object). */
json_t *tr_rs_echo_fields(const char *req, size_t len);
/* Chat finish_reason → incomplete_details.reason, or NULL (completed). */
const char *tr_rs_incomplete(const char *finish);

/* The Responses side of a stream (translate_stream_rs.c): fed Chat events
 * (from == FG_DIALECT_OPENAI) or Anthropic events (through an inner
 * Anthropic → Chat translator); the functions mirror fg_translate_stream_*. */
struct tr_rs_stream;
struct tr_rs_stream *tr_rs_stream_new(enum fg_dialect from, const char *client_model);
void tr_rs_stream_forced_tool(struct tr_rs_stream *s, const char *name);
void tr_rs_stream_echo(struct tr_rs_stream *s, json_t *echo); /* takes echo */
int tr_rs_stream_event(struct tr_rs_stream *s, const struct fg_sse_event *ev, struct evbuffer *out);
void tr_rs_stream_end(struct tr_rs_stream *s, bool done, struct evbuffer *out);
void tr_rs_stream_fail(struct tr_rs_stream *s, const struct fg_err *e, struct evbuffer *out);
bool tr_rs_stream_closed(const struct tr_rs_stream *s);
void tr_rs_stream_free(struct tr_rs_stream *s);

/* The refusal text shown to an OpenAI client when Anthropic refused
 * without saying anything. */
#define TR_REFUSAL_DEFAULT "The model declined to answer this request."

#endif
