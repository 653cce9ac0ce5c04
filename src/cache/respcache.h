/* respcache.h — the exact-repeat response cache.
 *
 * Exact repeats (same dialect, model, partition, messages, tools, sampling
 * parameters, schema, ...) are answered from frugal's own memory without
 * calling the provider, streaming included, with x-frugal-cache: hit.
 *
 * Contract:
 * - Process-wide and thread-safe (workers on several threads).  Disabled
 *   until fg_respcache_init() with response_cache.enabled: then get*()
 *   miss and put*() do nothing.  fg_respcache_key() and
 *   fg_respcache_sse_from_json() are pure and work either way.
 * - Key: SHA-256 over a prefix-free encoding of (version, dialect, model,
 *   partition, canonical body).  Canonical body: object keys sorted (stable:
 *   duplicates keep their order), no insignificant whitespace, string
 *   escapes decoded, numbers as spelled; without the fields that don't
 *   change the answer (top level: stream, stream_options, metadata, user,
 *   safety_identifier, prompt_cache_key, prompt_cache_retention,
 *   prompt_cache_options, service_tier; at any depth: cache_control and
 *   prompt_cache_breakpoint — except inside JSON schemas and tool inputs
 *   (values of input_schema, parameters, schema, input), where such names
 *   are data).
 * - Not cacheable (key returns false): n other than absent/null/1 (or
 *   below); temperature > 0 or top_p != 1 or top_k != 1 (top_p/top_k only
 *   matter unless temperature is explicitly 0) unless allow_sampling; a
 *   sampling field that is not a number; a body that is not an object.
 *   An absent temperature is cacheable (deterministic intent by default).
 * - Entries: refcounted, immutable once visible; a caller releases each
 *   entry it got.  An entry holds the answer as a complete JSON body in the
 *   client's dialect and/or the SSE bytes of a streamed answer, the usage
 *   tokens and the model the provider reported.  Memory: the cache owns
 *   entries; an entry outlives eviction and shutdown until released.
 * - Bounds: TTL (response_cache.ttl_seconds, default 3600) from the time
 *   an entry was first stored (completing it with its other form doesn't
 *   extend it); size (response_cache.max_bytes, default 64 MiB) counting
 *   key, bytes and overhead, least recently used evicted first; an entry
 *   above max_bytes/8 is not stored.
 * - Time is passed in (now_ms, any monotonic or wall clock in ms, the same
 *   one for get and put). */
#ifndef FRUGAL_RESPCACHE_H
#define FRUGAL_RESPCACHE_H

#include "config.h"
#include "json.h"
#include "price.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Process-wide, thread-safe (workers on several threads).  Disabled (all
 * calls no-ops / misses) until fg_respcache_init with enabled config.
 * init on a running cache starts over (calls shutdown first).  Call both
 * while no other thread uses the cache. */
void fg_respcache_init(const struct fg_config *cfg);
void fg_respcache_shutdown(void); /* frees everything (LSan-clean) */
bool fg_respcache_enabled(void);

/* The key of a request (see the contract above).  body is the fg_json
 * index of the client's request (root index 0); model is the model name
 * the client asked for; partition is the client key id, or "" when the
 * cache is shared (NULL = "").  Returns false when not cacheable. */
bool fg_respcache_key(const struct fg_json *body, enum fg_dialect d, const char *model,
                      const char *partition, bool allow_sampling, uint8_t key[32]);

struct fg_respcache_entry; /* refcounted, immutable once visible */

/* A live (not expired) entry or NULL; the caller releases it. */
struct fg_respcache_entry *fg_respcache_get(const uint8_t key[32], int64_t now_ms);
/* The same, but only an entry that can answer this client (see
 * fg_respcache_can_answer); anything else counts as a miss.  Prefer this
 * one in the pipeline: hit/miss stats then mean "served / not served". */
struct fg_respcache_entry *fg_respcache_get_for(const uint8_t key[32], enum fg_dialect d,
                                                bool stream, bool include_usage, int64_t now_ms);
void fg_respcache_release(struct fg_respcache_entry *e);

/* What an entry holds: the answer as a complete JSON body in the client's
 * dialect (non-stream form) and/or the exact SSE bytes sent to a streaming
 * client (stream form); either may be NULL.  Plus the usage tokens and the
 * model the provider reported (for the ledger: a hit is priced as
 * saved_response_cache).  Pointers live as long as the entry reference. */
const char *fg_respcache_json(const struct fg_respcache_entry *e, size_t *len);
const char *fg_respcache_sse(const struct fg_respcache_entry *e, size_t *len);
const struct fg_tokens *fg_respcache_tokens(const struct fg_respcache_entry *e);
/* The model the provider reported ("" when the store didn't say). */
const char *fg_respcache_model(const struct fg_respcache_entry *e);

/* Store (or complete) an entry: stream=false stores the JSON form,
 * stream=true the SSE form; an existing live entry with the other form
 * keeps it.  Entries larger than max_bytes/8 are not stored.  Evicts
 * least-recently-used entries to stay within max_bytes.  Store only
 * complete, successful answers (a 200 JSON body; a stream that ended with
 * [DONE] / message_stop and no error event).  For OpenAI, store the stream
 * WITH its usage chunk when there is one (as the provider sent it, before
 * hiding it from a client that didn't ask): fg_respcache_answer() strips it
 * for clients without include_usage but cannot invent it. */
void fg_respcache_put(const uint8_t key[32], bool stream, const char *bytes, size_t len,
                      const struct fg_tokens *tok, int64_t now_ms);
/* The same, also recording the model the provider reported (NULL = ""). */
void fg_respcache_put_model(const uint8_t key[32], bool stream, const char *bytes, size_t len,
                            const struct fg_tokens *tok, const char *model, int64_t now_ms);

/* A shared store's values (shared.h riders and tell, call/share.h): the
 * value an answer makes (this form, the other form of `old` which also
 * keeps its expiry; *expires_ms set), NULL when the cache is off or the
 * value is over max_bytes/8; an entry from a value got from the store
 * (takes v; NULL when it is not a well-formed value of this build or has
 * expired); and the hit/miss count of a lookup made that way. */
struct fg_shared_val;
struct fg_shared_val *fg_respcache_value(bool stream, const char *bytes, size_t len,
                                         const struct fg_tokens *tok, const char *model,
                                         const struct fg_respcache_entry *old, int64_t now_ms,
                                         int64_t *expires_ms);
struct fg_respcache_entry *fg_respcache_entry_of(struct fg_shared_val *v, int64_t now_ms);
void fg_respcache_count(bool hit);

/* Whether e can answer a client of dialect d (the key's dialect): a
 * non-streaming client needs the JSON form; a streaming one the SSE form
 * (an OpenAI one asking include_usage: an SSE form with a usage chunk) or
 * else the JSON form (synthesised). */
bool fg_respcache_can_answer(const struct fg_respcache_entry *e, enum fg_dialect d, bool stream,
                             bool include_usage);
/* Append the answer body for that client to out: the JSON body, the
 * stored SSE bytes (an OpenAI usage chunk removed when the client didn't
 * ask for usage), or an SSE stream synthesised from the JSON form.
 * 0, or -1 (nothing appended) when the entry can't answer that client. */
int fg_respcache_answer(const struct fg_respcache_entry *e, enum fg_dialect d, bool stream,
                        bool include_usage, struct evbuffer *out);

/* Synthesise a complete SSE stream in dialect d (the SDKs' framing; the
 * dialect adapter's replay, replay.h) from a stored JSON response body of
 * that dialect, so a streaming client can be answered from an entry that
 * only has the JSON form.  Returns 0, or -1 (nothing appended) if the JSON
 * is not a response of that dialect or the dialect has no replay. */
int fg_respcache_sse_from_json(enum fg_dialect d, const char *json, size_t len, bool include_usage,
                               struct evbuffer *out);

struct fg_respcache_stats {
    uint64_t hits, misses, stores, evictions, entries, bytes;
};
void fg_respcache_get_stats(struct fg_respcache_stats *s);

/* SHA-256 of n bytes (exposed for tests; uses SHA-NI when the CPU has it). */
void fg_respcache_sha256(const void *p, size_t n, uint8_t out[32]);
/* Tests: force the portable SHA-256 (false) or allow the CPU's (true);
 * returns whether the CPU path is available. */
bool fg_respcache_sha256_hw(bool allow);

#endif
