/* usage_flavour.h — the usage dialects of OpenAI-compatible providers, in
 * one table.
 *
 * Contract: every provider that speaks Chat Completions (OpenAI, DeepSeek,
 * Gemini's OpenAI endpoint, Groq, Together, Fireworks, Mistral, vLLM,
 * llama.cpp's llama-server, Ollama) reports its token counts in one of a
 * few shapes.  Each shape is a row of fg_usage_flavours: where the counts
 * sit in an answer or a stream chunk, which member marks the shape, and
 * which members carry the prompt, the cache reads, the uncached input and
 * the output.  A flavour is recognised from what the provider RETURNS
 * (its members), never from its host name: a proxy, a self-hosted mirror
 * or a test double of DeepSeek is priced as DeepSeek.  No other file
 * branches on a provider; a new quirk is a new row.
 *
 * Rows are tried in order; the first whose container holds an object with
 * its marker wins (a row without a marker matches any object there):
 *   deepseek   usage.prompt_cache_hit_tokens / prompt_cache_miss_tokens:
 *              cache reads and uncached input (automatic prefix caching,
 *              no write fee: nothing is ever a write)
 *   openai     usage with prompt_tokens_details.cached_tokens (and
 *              cache_write_tokens); also Gemini, Together, Fireworks,
 *              Mistral, vLLM, Ollama.  When total_tokens exceeds
 *              prompt + completion the gap is output the provider left
 *              out of completion_tokens (Gemini's thoughts): billed as
 *              output and reasoning
 *   groq       x_groq.usage (Groq's last stream chunk), mapped as openai
 *   llamacpp   timings{prompt_n, cache_n, predicted_n} (llama-server) when
 *              no usage object came
 * An answer with none of them has no usage: the meter estimates its
 * tokens from the prompt and the answer or stream and marks the ledger
 * record estimated (usage.h, meter.h). */
#ifndef FRUGAL_USAGE_FLAVOUR_H
#define FRUGAL_USAGE_FLAVOUR_H

#include "json.h"

#include <stdbool.h>

struct fg_usage_flavour {
    const char *name;
    const char *container;  /* top-level member holding the counts */
    const char *sub;        /* member of the container that holds them, or NULL */
    const char *marker;     /* member of the counts object that marks the row, or NULL */
    const char *prompt;     /* all input tokens (cached included), or NULL: cached + uncached */
    const char *output;     /* output tokens (reasoning included) */
    const char *cached;     /* flat cache-read count, or NULL: <prompt>_details.cached_tokens */
    const char *uncached;   /* flat uncached-input count, or NULL: prompt − cached − written */
    bool writes;            /* reports cache writes (prompt_tokens_details.cache_write_tokens) */
    bool output_from_total; /* total_tokens − prompt when it exceeds output */
};

extern const struct fg_usage_flavour fg_usage_flavours[];
extern const size_t fg_usage_flavours_len;

/* The counts object of an OpenAI-shaped answer or stream chunk whose root
 * object is at index root, and its row (*f may be NULL); -1 when none. */
int fg_usage_flavour_locate(const struct fg_json *j, int root, const struct fg_usage_flavour **f);

/* The row of a counts object already found (the first row with a marker
 * present, else openai). */
const struct fg_usage_flavour *fg_usage_flavour_of(const struct fg_json *j, int usage);

#endif
