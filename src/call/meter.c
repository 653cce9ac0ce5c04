/* meter.c — see meter.h. */
#include "meter.h"

#include "cfilter.h"

#include "admit.h"
#include "attrib.h"
#include "busters.h"
#include "clock.h"
#include "upcaps.h"
#include "embed.h"
#include "keyreg.h"
#include "log.h"
#include "metrics.h"
#include "prefix.h"
#include "promptcache.h"
#include "price.h"
#include "provider.h"
#include "redact.h"
#include "relay.h"
#include "usage.h"
#include "runtime.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#define REPEAT_WINDOW_MS (3600 * 1000) /* "recently": within an hour */
#define MAX_OUT_TEXT (64 * 1024)       /* answer text kept for bloat checks */

void fg_meter_encode(struct fg_call *c)
{
    c->meter.strip_usage_chunk = false;
    /* a translated request asks for usage itself; a buffered one gets it */
    if (!c->stream || c->in != c->out || !c->in->stream_usage_opt_in ||
        fg_upcaps_lacks(c->serve.provider_index, FG_UPCAP_STREAM_USAGE))
        return;
    const struct fg_json *j = &c->body;
    int so = fg_json_get(j, 0, "stream_options");
    int iu = fg_json_get(j, so, "include_usage");
    if (fg_json_type(j, iu) == FG_J_TRUE)
        return;
    c->meter.strip_usage_chunk = true;
    if (iu >= 0)
        fg_call_edit(c, j->t[iu].start, j->t[iu].end, "true");
    else if (fg_json_type(j, so) == FG_J_OBJ)
        fg_call_edit(c, j->t[so].start + 1, j->t[so].start + 1,
                     fg_json_child(j, so) >= 0 ? "\"include_usage\":true,"
                                               : "\"include_usage\":true");
    else if (so >= 0)
        fg_call_edit(c, j->t[so].start, j->t[so].end, "{\"include_usage\":true}");
    else
        fg_call_edit(c, j->t[0].start + 1, j->t[0].start + 1,
                     "\"stream_options\":{\"include_usage\":true},");
}

/* Something volatile inside the stable prefix of this caller's prompts? */
static void check_busters(struct fg_call *c)
{
    struct fg_buster b;
    const char *group = fg_arena_printf(&c->arena, "%s|%s|%s", c->who.key_id ? c->who.key_id : "",
                                        c->who.tags.recorded, c->model_name);
    if (!fg_busters_check(group, &c->body, c->in->shape, &b))
        return;
    c->meter.acct.buster_where = fg_arena_strdup(&c->arena, b.where);
    c->meter.acct.buster_offset = b.offset;
    c->meter.acct.buster_sample = fg_arena_strdup(&c->arena, b.sample);
    c->meter.acct.buster_tokens = b.tokens;
}

/* The output limit the client asked for (either dialect's field), 0 = none:
 * a truncation it caused is not the cheap model's shortfall (relay.c). */
static long client_limit(const struct fg_json *j)
{
    long best = 0;
    const char *const names[] = {"max_tokens", "max_completion_tokens", "max_output_tokens"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int64_t v;
        if (fg_json_int(j, fg_json_get(j, 0, names[i]), &v) && v >= 1 && (best == 0 || v < best))
            best = v > 1000000000 ? 1000000000L : (long)v;
    }
    return best;
}

int fg_meter_request(struct fg_call *c)
{
    if (c->endpoint == FG_EP_COUNT_TOKENS || c->endpoint == FG_EP_RESP_INPUT_TOKENS)
        return 0;
    c->meter.out_asked = fg_admit_asked_output(c, &c->meter.out_n);
    if (c->endpoint == FG_EP_EMBEDDINGS) {
        c->meter.prompt_tokens_est = fg_embed_estimate(&c->body);
        return 0;
    }
    struct fg_prefix *p = fg_arena_alloc(&c->arena, sizeof *p);
    fg_prefix_scan(&c->body, c->in->shape, p);
    c->meter.acct.repeated_tokens = fg_prefix_seen(p, c->meter.acct.ts_ms, REPEAT_WINDOW_MS);
    fg_prefix_fingerprint(p, c->meter.acct.prefix_fp);
    c->meter.acct.prefix_tokens = p->stable ? p->stable_tokens : 0;
    c->meter.prompt_tokens_est = p->total_tokens;
    c->prefix = p; /* the prompt-cache stage reads its evidence */
    /* decided now: the body may be gone by the time the call is priced */
    fg_attrib_features(&c->body, c->in->shape, &c->rt.simple, &c->so.wanted);
    c->client_max_tokens = client_limit(&c->body);
    c->client_cache_marks =
        !c->in->cache.automatic && fg_promptcache_client_marked(&c->body, c->in->shape);
    check_busters(c);
    return 0;
}

static void keep_text(struct fg_call *c, const struct fg_json *j, int str)
{
    if (fg_json_type(j, str) != FG_J_STR || c->so.text_len >= MAX_OUT_TEXT)
        return;
    if (!c->so.text) {
        c->so.text_cap = MAX_OUT_TEXT + 1;
        c->so.text = fg_arena_alloc(&c->arena, c->so.text_cap);
    }
    long n = fg_json_str(j, str, c->so.text + c->so.text_len, c->so.text_cap - c->so.text_len);
    if (n > 0)
        c->so.text_len += (size_t)n;
}

/* Anthropic's cache diagnostics, when the client asked for them. */
static void miss_reason(struct fg_call *c, const struct fg_json *j, int diag)
{
    int r = fg_json_get(j, diag, "cache_miss_reason");
    int t = fg_json_type(j, r) == FG_J_OBJ ? fg_json_get(j, r, "type") : r;
    char buf[64];
    if (fg_json_str(j, t, buf, sizeof buf) > 0)
        c->meter.acct.cache_miss_reason = fg_arena_strdup(&c->arena, buf);
}

static void check_usage(struct fg_call *c);

static void keep_answer_text(void *arg, int str)
{
    struct fg_call *c = arg;
    keep_text(c, &c->up.resp, str);
}

/* A complete answer's text for shadow evaluation (call.h rt.keep_text). */
static void keep_eval_text(void *arg, int str)
{
    struct fg_call *c = arg;
    const struct fg_json *j = &c->up.resp;
    if (fg_json_type(j, str) != FG_J_STR || c->rt.text_len >= FG_CALL_KEPT_TEXT)
        return;
    if (!c->rt.text)
        c->rt.text = fg_arena_alloc(&c->arena, FG_CALL_KEPT_TEXT + 1);
    long n =
        fg_json_str(j, str, c->rt.text + c->rt.text_len, FG_CALL_KEPT_TEXT + 1 - c->rt.text_len);
    if (n > 0)
        c->rt.text_len += (size_t)n;
}

/* A filtered answer is recorded as such, not as an empty success. */
#define FILTERED_ANSWER                                                                            \
    FG_CFILTER_TAG ": the provider's content filter cut the answer (finish_reason "                \
                   "content_filter)"

void fg_meter_filtered_error(struct fg_call *c)
{
    if (c->up.status >= 400 && fg_cfilter_error(&c->up.resp))
        c->meter.filtered = fg_arena_printf(
            &c->arena,
            FG_CFILTER_TAG ": the provider's content filter refused the prompt (HTTP %ld, code "
                           "content_filter)",
            c->up.status);
}

void fg_meter_response(struct fg_call *c)
{
    const struct fg_json *j = &c->up.resp;
    c->meter.answer_tokens_est = fg_usage_answer_tokens(j, c->out->shape);
    c->out->usage(j, fg_provider_usage_at(c->out, j, 0), &c->meter.usage);
    /* Anthropic's cache diagnostics, when the client asked for them */
    miss_reason(c, j, fg_json_get(j, 0, "diagnostics"));
    if (c->so.wanted)
        c->out->answer_text(j, 0, keep_answer_text, c);
    if (c->rt.keep_text) {
        c->rt.text_len = 0; /* a retried attempt's answer replaces the last */
        c->out->answer_text(j, 0, keep_eval_text, c);
    }
    check_usage(c); /* before the response cache keeps these tokens */
    if (fg_cfilter_answer(j))
        c->meter.filtered = FILTERED_ANSWER;
}

bool fg_meter_event(struct fg_call *c, const struct fg_sse_event *ev)
{
    if (ev->data_len == 0)
        return true;
    c->meter.data_events++;
    if (!c->meter.filtered && c->out->dialect == FG_DIALECT_OPENAI && fg_cfilter_event(ev))
        c->meter.filtered = FILTERED_ANSWER;
    struct fg_stream_read r = {.usage = -1, .text = {-1, -1}};
    if (!c->out->stream_read(ev, c->so.wanted, &c->up.resp, &r))
        return true;
    for (int i = 0; i < 2; i++)
        if (r.text[i] >= 0)
            keep_text(c, &c->up.resp, r.text[i]);
    if (r.usage < 0)
        return true;
    c->out->usage(&c->up.resp, r.usage, &c->meter.usage);
    /* the usage-only chunk is the one the client didn't ask for */
    return !(c->meter.strip_usage_chunk && r.usage_only);
}

/* The client left mid-call, or the provider cut or stalled a stream that
 * had begun: the provider still bills what it processed.  Keep what usage
 * it reported (Anthropic's message_start has the input) and estimate the
 * rest: the prompt from its canonical size, the output from the events
 * relayed (providers stream about one token per event). */
static void estimate_cut_usage(struct fg_call *c)
{
    struct fg_tokens *t = &c->meter.usage.tok;
    int64_t in = t->input + t->cache_read + t->cache_write_5m + t->cache_write_1h;
    if (in == 0)
        t->input = c->meter.prompt_tokens_est;
    if (c->meter.data_events > t->output)
        t->output = c->meter.data_events;
    c->meter.estimated = true;
    if (c->client_gone)
        c->meter.note = "client disconnected before the end; tokens partly estimated";
    else
        c->meter.note = fg_arena_printf(&c->arena,
                                        "%s; tokens partly estimated from the prompt and the "
                                        "%lld stream events relayed",
                                        c->err.msg, (long long)c->meter.data_events);
}

/* The most tokens the serving model can bill for this call: input within
 * a generous multiple of its context window (long-context betas run past
 * the listed one), output within twice what the request allowed (else
 * the model's output limit); 0 = unknown, the global bound applies. */
static void usage_bounds(const struct fg_call *c, int64_t *max_in, int64_t *max_out)
{
    const struct fg_builtin_price *b = fg_price_lookup(c->serve.model->model);
    *max_in = b && b->max_input_tokens > 0 ? 8 * (int64_t)b->max_input_tokens : 0;
    int64_t out = c->meter.out_asked;
    if (!out) {
        int64_t m = c->serve.model->max_output_tokens > 0 ? c->serve.model->max_output_tokens
                    : b && b->max_output_tokens > 0       ? b->max_output_tokens
                                                          : 0;
        out = m * (c->meter.out_n > 1 ? c->meter.out_n : 1);
    }
    *max_out = 2 * out;
}

/* Reported usage is billed only when it is plausible (usage.h); else the
 * call is billed on an estimate, marked so, with a warning.  Once per
 * attempt, as soon as the usage is complete (or the call is cut). */
static void check_usage(struct fg_call *c)
{
    if (c->meter.checked)
        return;
    bool cut = (c->client_gone || c->meter.upstream_cut) && c->state >= FG_CALL_UPSTREAM;
    /* (an answer frugal could not read, e.g. not JSON, stays a failed call
     * with its own error) */
    bool answered = c->up.status >= 200 && c->up.status < 300 && c->status < 400 &&
                    c->endpoint != FG_EP_COUNT_TOKENS &&
                    !(c->cache.status && !strcmp(c->cache.status, "hit"));
    if (!cut && !answered)
        return;
    c->meter.checked = true;
    int64_t max_in, max_out;
    usage_bounds(c, &max_in, &max_out);
    char why[200];
    const char *p = fg_usage_problem(&c->meter.usage, max_in, max_out, why, sizeof why);
    if (p && (c->meter.usage.seen || c->meter.usage.bad))
        fg_warn("%s: provider '%s' %s; tokens estimated", c->id, c->serve.provider->name, why);
    if (cut) {
        if (p) /* nothing of an implausible report is kept */
            fg_usage_estimate(&c->meter.usage, 0, 0);
        estimate_cut_usage(c);
        return;
    }
    if (!p)
        return;
    if (!c->meter.usage.seen)
        fg_warn("%s: provider '%s' reported no usage; tokens estimated", c->id,
                c->serve.provider->name);
    fg_usage_estimate(&c->meter.usage, c->meter.prompt_tokens_est,
                      c->up.is_sse ? c->meter.data_events : c->meter.answer_tokens_est);
    c->meter.estimated = true;
    c->meter.note = fg_arena_printf(&c->arena, "%s; tokens estimated", why);
}

/* The call's share of a self-hosted server's hours (selfhost.h) is its
 * cost; against an API baseline the difference is routing's saving (or
 * loss), else the baseline is the cost itself. */
static void add_hours(struct fg_call *c)
{
    struct fg_record *a = &c->meter.acct;
    const struct fg_tokens *t = &a->tok;
    int64_t tokens = t->input + t->cache_read + t->cache_write_5m + t->cache_write_1h + t->output;
    int64_t share = fg_selfhost_end(c->meter.hours_of, &c->meter.hours, tokens, fg_clock_wall_us());
    a->cost_pico += share;
    if (a->baseline_pico == 0)
        a->baseline_pico = a->cost_pico;
    else
        a->saved_routing_pico -= share;
}

void fg_meter_price(struct fg_call *c)
{
    if (c->meter.priced || !c->serve.model)
        return;
    c->meter.priced = true;
    check_usage(c);
    c->meter.acct.tok = c->meter.usage.tok;
    c->meter.acct.reasoning_tokens = c->meter.usage.reasoning;
    struct fg_price p, bp;
    /* the call's start time decides a scheduled price (price.h) */
    int64_t t0 = c->meter.acct.ts_ms;
    /* a server priced by the hour: no token price, its share of the hours
     * (added below); the baseline model's tokens still price the baseline */
    static const struct fg_price by_hour = {0, 0, 0, 0, 0, 0, 0};
    bool hourly = c->serve.provider && c->serve.provider->cost.per_hour_micro >= 0;
    bool priced = hourly ? (p = by_hour, true) : fg_price_at(c->serve.model, t0, &p);
    bool base =
        c->rt.baseline && c->rt.baseline != c->serve.model && fg_price_at(c->rt.baseline, t0, &bp);
    struct fg_attrib_in in = {
        .price = priced ? &p : NULL,
        .baseline_price = base ? &bp : NULL,
        .frontier = priced && p.input >= FG_FRONTIER_INPUT_PRICE,
        .simple = c->rt.simple,
        .wants_structured = c->so.wanted,
        .output_text = c->so.text,
        .output_len = c->so.text_len,
        .response_cache_hit = c->cache.status && !strcmp(c->cache.status, "hit"),
        .flex = c->defer.flex_billed,
        .batch = c->defer.batch_billed, /* a deferred call answered by its batch line */
        /* what the app gets without frugal: OpenAI-dialect providers cache
         * prefixes by themselves; a client's own cache_control is its own */
        .native_cache =
            fg_provider_ops(c->serve.model->dialect)->cache.automatic || c->client_cache_marks,
    };
    fg_attrib(&in, &c->meter.acct);
    if (priced && c->cache.hit_tokens > 0 && !in.response_cache_hit) {
        /* embeddings answered partly from the cache: the baseline is the
         * whole request, the cached inputs' share is the cache's saving */
        int64_t s = c->cache.hit_tokens * p.input;
        c->meter.acct.baseline_pico += s;
        c->meter.acct.saved_response_cache_pico += s;
    }
    if (priced && c->meter.acct.buster_tokens > 0 && p.input > p.cache_read)
        c->meter.acct.buster_pico = c->meter.acct.buster_tokens * (p.input - p.cache_read);
    if (c->meter.hours_of) /* (an answer from the response cache has no share) */
        add_hours(c);
}

static void money(const struct fg_call *c, char *cost, char *saved, size_t n)
{
    if (!c->meter.acct.priced) {
        snprintf(cost, n, "unpriced");
        snprintf(saved, n, "unpriced");
        return;
    }
    fg_price_usd(c->meter.acct.cost_pico, cost, n);
    fg_price_usd(c->meter.acct.baseline_pico - c->meter.acct.cost_pico, saved, n);
}

void fg_meter_cost_headers(struct fg_call *c)
{
    char cost[32], saved[32];
    fg_meter_price(c);
    if (!c->serve.model)
        return;
    money(c, cost, saved, sizeof cost);
    fg_client_header(c, "x-frugal-cost-usd", cost);
    fg_client_header(c, "x-frugal-saved-usd", saved);
}

void fg_meter_cost_comment(struct fg_call *c, struct evbuffer *out)
{
    char cost[32], saved[32];
    fg_meter_price(c);
    if (!c->serve.model)
        return;
    money(c, cost, saved, sizeof cost);
    evbuffer_add_printf(out, ": x-frugal-cost-usd=%s x-frugal-saved-usd=%s\n\n", cost, saved);
}

static const char *endpoint_name(enum fg_endpoint ep)
{
    switch (ep) {
    case FG_EP_CHAT: return "chat";
    case FG_EP_MESSAGES: return "messages";
    case FG_EP_EMBEDDINGS: return "embeddings";
    case FG_EP_RESPONSES: return "responses";
    case FG_EP_RESP_INPUT_TOKENS: return "responses_input_tokens";
    case FG_EP_COUNT_TOKENS: return "count_tokens";
    default: return "passthrough"; /* FG_EP_PASSTHRU without its path */
    }
}

/* Client-given text kept in the ledger (model name, tags, a prompt sample):
 * never a key (redact.h). */
static const char *scrub(struct fg_call *c, const char *s)
{
    if (!s)
        return NULL;
    /* one pass in the common case: room for the text and a few marks in
     * the arena (per call, so the slack is free); a second pass only when
     * the marks made it longer than that */
    size_t n = strlen(s), cap = 2 * n + 64;
    char *o = fg_arena_alloc(&c->arena, cap);
    size_t need = fg_redact(s, n, o, cap);
    if (need < cap)
        return o;
    o = fg_arena_alloc(&c->arena, need + 1);
    fg_redact(s, n, o, need + 1);
    return o;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

void fg_meter_submit(struct fg_call *c, bool final)
{
    fg_meter_price(c);
    const char *err = c->status >= 400 || c->err.cls != FG_E_NONE ? c->err.msg : NULL;
    if (c->meter.estimated && c->meter.note)
        err = c->meter.note;
    if (c->meter.filtered)
        err = c->meter.filtered;
    const char *key_id = c->who.key_id ? c->who.key_id : "anonymous";
    const char *key_name = c->who.vkey ? c->who.vkey->k.name : NULL;
    const char *model = c->serve.model ? c->serve.model->name : NULL;
    const char *up = c->serve.model ? c->serve.upstream_model : NULL;
    const char *prov = c->serve.provider ? c->serve.provider->name : NULL;
    const char *tags = scrub(c, c->who.tags.recorded), *model_req = scrub(c, c->model_name);
    const char *sample = scrub(c, c->meter.acct.buster_sample);
    const char *ep =
        c->endpoint == FG_EP_PASSTHRU && c->pass_path ? c->pass_path : endpoint_name(c->endpoint);
    size_t need = slen(key_id) + slen(tags) + slen(model_req) + slen(model) + slen(up) +
                  slen(prov) + slen(err) + slen(c->meter.acct.buster_where) + slen(sample) +
                  slen(c->meter.acct.cache_miss_reason) + slen(ep) + slen(c->rt.reason) +
                  slen(c->rt.eval) + slen(c->rt.eval_link) + slen(c->meter.acct.linked_id) +
                  slen(c->batch.id) + slen(c->response_id) + slen(key_name) + 40;
    if (c->response_id)
        need += slen(c->rs.upstream) + slen(c->rs.prev) + slen(c->rs.data);
    struct fg_record *r = fg_ledger_record_new(need);
    *r = c->meter.acct;
    r->next = NULL;
    snprintf(r->id, sizeof r->id, "%s", c->id);
    r->key_id = fg_ledger_record_str(r, key_id);
    r->key_name = fg_ledger_record_str(r, key_name);
    r->tags = fg_ledger_record_str(r, tags ? tags : "");
    r->endpoint = fg_ledger_record_str(r, ep);
    r->model_requested = fg_ledger_record_str(r, model_req);
    r->model = fg_ledger_record_str(r, model);
    r->upstream_model = fg_ledger_record_str(r, up);
    r->provider = fg_ledger_record_str(r, prov);
    r->route = c->rt.eval ? "routing_eval" : c->rt.route ? c->rt.route : "fixed";
    r->route_reason = fg_ledger_record_str(r, c->rt.eval ? c->rt.eval : c->rt.reason);
    r->cache = c->cache.status ? c->cache.status : "bypass";
    r->stream = c->stream;
    r->status = c->status;
    r->latency_us = (int64_t)(fg_clock_now_ns() - c->t_start_ns) / 1000;
    r->upstream_us = c->up.xfer.total_us;
    r->ttfb_us = c->t_first_byte_ns ? (int64_t)(c->t_first_byte_ns - c->t_start_ns) / 1000 : 0;
    r->error = fg_ledger_record_str(r, err);
    r->buster_where = fg_ledger_record_str(r, c->meter.acct.buster_where);
    r->buster_sample = fg_ledger_record_str(r, sample);
    r->cache_miss_reason = fg_ledger_record_str(r, c->meter.acct.cache_miss_reason);
    r->linked_id = fg_ledger_record_str(r, c->meter.acct.linked_id ? c->meter.acct.linked_id
                                                                   : c->rt.eval_link);
    r->response_id = fg_ledger_record_str(r, c->response_id);
    if (c->response_id) { /* its conversation state (respstate.h) */
        r->upstream_response_id = fg_ledger_record_str(r, c->rs.upstream);
        r->prev_response_id = fg_ledger_record_str(r, c->rs.prev);
        r->response_data = fg_ledger_record_str(r, c->rs.data);
        r->response_expires_ms = c->rs.expires_ms;
    }
    fg_metrics_observe(r, c->err.cls == FG_E_UPSTREAM || c->err.cls == FG_E_TIMEOUT);
    fg_admit_settle(c, r); /* before the ledger (or the line's owner) owns r */
    if (c->batch.line) {
        /* its owner commits it with the line's result, exactly once
         * (client.h; the client is released only after the final record) */
        r->batch_id = fg_ledger_record_str(r, c->batch.id);
        c->client.ops->record(c->client.ctx, r, final);
        return;
    }
    fg_ledger_submit(r);
}
