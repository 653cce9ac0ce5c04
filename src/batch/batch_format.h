/* batch_format.h — the providers' batch shapes, rendered from stored state.
 *
 * Contract: pure functions from batch_store structs to jansson values or
 * JSONL text, exactly as ../shared/spec/providers.md sections 2 and 5
 * describe (OpenAI File, Batch, output/error lines; Anthropic MessageBatch
 * and result lines).  Returned json_t are new references (caller decrefs).
 * Status mapping for Anthropic: validating/in_progress/finalizing →
 * in_progress, cancelling → canceling, any final status → ended. */
#ifndef FRUGAL_BATCH_FORMAT_H
#define FRUGAL_BATCH_FORMAT_H

#include "batch_store.h"

#include <jansson.h>
#include <stdbool.h>

struct evbuffer;

json_t *fg_batch_format_file(const struct fg_bfile *f);
json_t *fg_batch_format_openai_batch(const struct fg_batch *b);
/* results_url is base_url + "/v1/messages/batches/ID/results": base_url is
 * server.public_url, or "" for a path-relative URL (never the request's Host). */
json_t *fg_batch_format_anthropic_batch(const struct fg_batch *b, const char *base_url);

bool fg_batch_format_final(const char *status);
/* One result line in the batch's dialect, newline-terminated, appended. */
void fg_batch_format_openai_line(const struct fg_bline *l, struct evbuffer *out);
void fg_batch_format_anthropic_line(const struct fg_bline *l, struct evbuffer *out);

/* Unix seconds → "2026-11-26T10:00:00Z" (n ≥ 21). */
void fg_batch_format_rfc3339(int64_t t, char *buf, size_t n);

#endif
