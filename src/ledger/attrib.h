/* attrib.h — where one call's money went, and what frugal saved.
 *
 * Given the priced usage of a call, fills the record's cost, baseline,
 * savings by technique and spend buckets, so reports only add numbers up.
 *   baseline = the same call sent straight to the provider: the requested
 *              model (a route's frontier model), real-time price, every
 *              input token at the full input price — except where the
 *              caching would have happened without frugal (`native_cache`:
 *              a provider that caches prefixes by itself, OpenAI-dialect
 *              upstreams such as OpenAI, DeepSeek, Gemini; or an Anthropic
 *              call whose client placed its own cache_control): then cache
 *              reads and writes are priced at their own rates in the
 *              baseline too, and prompt caching saves nothing.  (Extra hits
 *              from frugal's prompt_cache_key are not claimed: they would
 *              need a held-out sample to measure.)
 *   saved_prompt_cache = cost at full input price − actual cost (negative
 *              when a cache write cost more than it saved yet); 0 when
 *              native_cache;
 *   saved_routing = baseline − cost of the model used at the baseline's
 *              input pricing;
 *   saved_response_cache / saved_batch: the whole call / the batch discount;
 *   saved_flex: the flex tier's discount (batch rates, answered at once).
 * Buckets (disjoint, other = cost − the three):
 *   repeated_context: input spend on tokens repeating a recent prefix
 *              (cache reads first, the rest at input price);
 *   bloated_output: the share of output spend that was prose, fences or
 *              explanation around a requested label/JSON answer;
 *   frontier_overuse: the rest of the spend of a frontier-priced model on a
 *              call the complexity scorer rates simple. */
#ifndef FRUGAL_ATTRIB_H
#define FRUGAL_ATTRIB_H

#include "config.h"
#include "json.h"
#include "ledger.h"
#include "price.h"

#include <stdbool.h>
#include <stddef.h>

/* A model whose input price is at least this (micro-USD per 1M) counts as
 * frontier for the overuse bucket unless a route names it cheap. */
#define FG_FRONTIER_INPUT_PRICE 2000000

struct fg_attrib_in {
    const struct fg_price *price;          /* model used; NULL = unpriced */
    const struct fg_price *baseline_price; /* requested/frontier model, or NULL */
    bool frontier;                         /* model used counts as frontier */
    bool simple;                           /* scorer: the call is simple */
    bool wants_structured;                 /* asked for a label / JSON */
    const char *output_text;               /* the answer text, or NULL */
    size_t output_len;
    bool batch, response_cache_hit;
    bool flex;         /* served on OpenAI's flex tier: batch rates (config/flex.h) */
    bool native_cache; /* caching the call gets without frugal */
};

/* r->tok and r->repeated_tokens must be set; fills the money fields. */
void fg_attrib(const struct fg_attrib_in *in, struct fg_record *r);

/* Complexity scorer (simple heuristic; the router replaces it): true when a
 * request is simple (short, few turns, no tools, code or reasoning asks). */
bool fg_attrib_simple(const struct fg_json *body, enum fg_dialect d);
/* Both verdicts from one look at the last user turn (the hot path). */
void fg_attrib_features(const struct fg_json *body, enum fg_dialect d, bool *simple,
                        bool *wants_structured);
/* Did the request ask for a label or JSON answer? */
bool fg_attrib_wants_structured(const struct fg_json *body, enum fg_dialect d);
/* Bytes of `text` that are not the JSON value or label asked for (prose,
 * code fences, explanations around it). */
size_t fg_attrib_bloat(const char *text, size_t len);

#endif
