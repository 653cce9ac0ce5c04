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
 * message_delta the cumulative output (fields present overwrite).
 *
 * Nothing the provider says is believed blindly: a count that is not a
 * non-negative JSON integer up to FG_USAGE_MAX (a string, a fraction, a
 * negative or absurd number) is not stored and sets u->bad to its field
 * name; an OpenAI cached/written count larger than prompt_tokens does too.
 * fg_usage_problem() then judges the whole usage against the call's
 * bounds; a caller that gets a problem estimates the tokens instead
 * (fg_usage_estimate), marks the record estimated and logs a warning. */
#ifndef FRUGAL_USAGE_H
#define FRUGAL_USAGE_H

#include "json.h"
#include "price.h"

#include <stdbool.h>
#include <stdint.h>

struct fg_usage {
    struct fg_tokens tok;
    int64_t reasoning; /* part of tok.output */
    bool seen;         /* a usage object was found */
    const char *bad;   /* the first field that was not a plausible count, or NULL */
};

/* No model's context window or output comes near this many tokens. */
#define FG_USAGE_MAX 100000000LL

/* `usage` is the index of a usage object in j.  Fields present overwrite. */
void fg_usage_openai(const struct fg_json *j, int usage, struct fg_usage *u);
/* Where an OpenAI-compatible answer or chunk at index root keeps its
 * counts, in whichever provider's flavour (usage_flavour.h), or -1. */
int fg_usage_openai_at(const struct fg_json *j, int root);
void fg_usage_anthropic(const struct fg_json *j, int usage, struct fg_usage *u);
void fg_usage_responses(const struct fg_json *j, int usage, struct fg_usage *u);

/* Why u cannot be billed for a call that may read at most max_in input
 * tokens (every class) and write at most max_out output tokens (0: not
 * known, FG_USAGE_MAX applies), written into buf; NULL when u is fine.
 * Missing usage is a problem too. */
const char *fg_usage_problem(const struct fg_usage *u, int64_t max_in, int64_t max_out, char *buf,
                             size_t n);
/* Replace u by an estimate: `input` uncached input tokens, `output` output
 * tokens (the provider's reasoning split is unknown: 0). */
void fg_usage_estimate(struct fg_usage *u, int64_t input, int64_t output);
/* The output tokens of a complete answer (a provider-dialect response j),
 * estimated from the size of its choices (OpenAI) or content (Anthropic):
 * bytes / 4, at least 1.  An over-estimate by the JSON framing. */
int64_t fg_usage_answer_tokens(const struct fg_json *j, enum fg_dialect d);

#endif
