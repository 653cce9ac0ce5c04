/* usage.h — provider usage objects → frugal's disjoint token classes.
 *
 * OpenAI: prompt_tokens INCLUDES cached_tokens and cache_write_tokens, so
 *   input = prompt_tokens - cached_tokens - cache_write_tokens;
 *   cache_read = cached_tokens; cache_write_5m = cache_write_tokens;
 *   output = completion_tokens (reasoning inside).
 * Anthropic: input_tokens EXCLUDES cache reads and writes, so
 *   input = input_tokens; cache_read = cache_read_input_tokens;
 *   writes split by cache_creation.ephemeral_5m/1h_input_tokens, or all 5m
 *   when that split is absent; output = output_tokens.
 * OpenAI Responses: input_tokens INCLUDES input_tokens_details.cached_tokens
 *   (and cache_write_tokens); output_tokens includes
 *   output_tokens_details.reasoning_tokens; same classes as above.
 * Streaming Anthropic usage is merged: message_start carries the input side,
 * message_delta the cumulative output (fields present overwrite). */
#ifndef FRUGAL_USAGE_H
#define FRUGAL_USAGE_H

#include "json.h"
#include "price.h"

#include <stdbool.h>
#include <stdint.h>

struct fg_usage {
    struct fg_tokens tok;
    int64_t reasoning;       /* part of tok.output */
    bool seen;               /* a usage object was found */
};

/* `usage` is the index of a usage object in j.  Fields present overwrite. */
void fg_usage_openai(const struct fg_json *j, int usage, struct fg_usage *u);
void fg_usage_anthropic(const struct fg_json *j, int usage, struct fg_usage *u);
void fg_usage_responses(const struct fg_json *j, int usage, struct fg_usage *u);

#endif
