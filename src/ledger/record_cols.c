/* record_cols.c — see record_cols.h. */
#include "record_cols.h"

#include "assert.h"

void fg_record_cols(const struct fg_record *r, struct fg_record_col v[FG_RECORD_NCOLS])
{
    int i = 0;
#define TXT(x) (v[i++] = (struct fg_record_col){.is_text = true, .text = (x)})
#define INT(x) (v[i++] = (struct fg_record_col){.num = (int64_t)(x)})
    TXT(r->id);
    INT(r->ts_ms);
    TXT(r->key_id);
    TXT(r->tags);
    TXT(r->endpoint);
    TXT(r->model_requested);
    TXT(r->model);
    TXT(r->upstream_model);
    TXT(r->provider);
    TXT(r->route);
    TXT(r->route_reason);
    TXT(r->cache);
    INT(r->stream);
    INT(r->batch);
    INT(r->status);
    INT(r->tok.input);
    INT(r->tok.cache_read);
    INT(r->tok.cache_write_5m);
    INT(r->tok.cache_write_1h);
    INT(r->tok.output);
    INT(r->reasoning_tokens);
    INT(r->priced);
    INT(r->cost_pico);
    INT(r->baseline_pico);
    INT(r->saved_prompt_cache_pico);
    INT(r->saved_response_cache_pico);
    INT(r->saved_routing_pico);
    INT(r->saved_batch_pico);
    INT(r->bucket_repeated_pico);
    INT(r->bucket_repeated_cached_pico);
    INT(r->bucket_frontier_pico);
    INT(r->bucket_bloated_pico);
    INT(r->latency_us);
    INT(r->ttfb_us);
    TXT(r->prefix_fp[0] ? r->prefix_fp : NULL);
    INT(r->prefix_tokens);
    INT(r->repeated_tokens);
    TXT(r->error);
    TXT(r->linked_id);
    TXT(r->buster_where);
    INT(r->buster_offset);
    TXT(r->buster_sample);
    INT(r->buster_tokens);
    INT(r->buster_pico);
    TXT(r->cache_miss_reason);
    TXT(r->batch_id);
    INT(r->request_bytes);
    INT(r->response_bytes);
    INT(r->saved_flex_pico);
#undef TXT
#undef INT
    FG_ASSERT(i == FG_RECORD_NCOLS);
}
