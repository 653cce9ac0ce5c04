/* relay.c — see relay.h. */
#include "relay.h"
#include "azure.h"
#include "share.h"
#include "clock.h"
#include "defer.h"

#include "fmtcheck.h"

#include "assert.h"
#include "embed.h"
#include "log.h"
#include "affinity.h"
#include "meter.h"
#include "failover.h"
#include "outcome.h"
#include "assert.h"
#include "pipeline.h"
#include "price.h"
#include "route.h"
#include "respcache.h"
#include "structured.h"
#include "translate.h"
#include "provider.h"
#include "redact.h"
#include "replay_rs.h"
#include "respstate.h"
#include "runtime.h"
#include "upcaps.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_UPSTREAM_BODY (64u << 20) /* a non-streamed answer larger than this is refused */
#define MAX_SSE_EVENT (16u << 20)
#define CLIENT_HIGH_WATER (1u << 20) /* pause upstream above this much unsent output */

/* Provider response headers worth relaying to the client. */
static int relayed_header(const char *name, size_t n)
{
    static const char *exact[] = {
        "x-request-id",   "request-id",           "retry-after", "retry-after-ms",
        "x-should-retry", "openai-processing-ms", NULL};
    for (int i = 0; exact[i]; i++)
        if (strlen(exact[i]) == n && !strncasecmp(name, exact[i], n))
            return 1;
    return (n > 12 && !strncasecmp(name, "x-ratelimit-", 12)) ||
           (n > 21 && !strncasecmp(name, "anthropic-ratelimit-", 20));
}

static void start_stream_reply(struct fg_call *c)
{
    /* the status line goes out once, while the transfer runs */
    FG_ASSERT(c->state == FG_CALL_UPSTREAM);
    fg_client_header(c, "Content-Type", "text/event-stream; charset=utf-8");
    fg_client_header(c, "Cache-Control", "no-cache");
    fg_client_frugal_headers(c);
    c->client.ops->start(c->client.ctx, 200);
    c->status = 200;
    c->state = FG_CALL_STREAMING;
    c->hold.on = false;
    if (!c->up.relay)
        c->up.relay = evbuffer_new();
}

/* A cut answer is the cheap model's shortfall only when frugal's cap (the
 * schema-derived one, set when the client gave none) or the model's own
 * output limit cut it.  A cut at the client's own max_tokens would cut the
 * frontier model at the same place, for more money: not escalated. */
static bool cut_is_shortfall(const struct fg_call *c)
{
    if (c->client_max_tokens <= 0)
        return true;
    const struct fg_builtin_price *b = fg_price_lookup(c->serve.model->model);
    long limit = c->serve.model->max_output_tokens > 0 ? c->serve.model->max_output_tokens
                 : b && b->max_output_tokens > 0       ? b->max_output_tokens
                                                       : 0;
    return limit > 0 && c->client_max_tokens >= limit;
}

/* What the call's route allows, for outcome.h (the one place that says
 * whether a call may escalate).  No route: all false, nothing escalates. */
static struct fg_outcome_route route_facts(const struct fg_call *c)
{
    const struct fg_route_cfg *r = c->rt.cfg;
    struct fg_outcome_route f = {0};
    if (!r)
        return f;
    const struct fg_model_cfg *m = fg_config_model(c->snap->cfg, r->frontier);
    f.frontier = m ? m->name : NULL;
    f.cheap = c->rt.route && !strcmp(c->rt.route, "cheap");
    f.escalated = c->rt.escalated;
    f.forced = c->rt.reason && !strcmp(c->rt.reason, FG_ROUTE_FORCED);
    for (size_t i = 0; i < r->n_escalate_on; i++)
        f.escalate_on |= fg_outcome_trigger(r->escalate_on[i]);
    /* a price lookup: only when a cut could escalate */
    f.cut_is_shortfall = (f.escalate_on & FG_OUTCOME_ON_TRUNCATED) && cut_is_shortfall(c);
    return f;
}

/* A cheap streamed answer the route may still escalate: hold it back until
 * its first content, so an empty, refused or cut answer never reaches the
 * client (the spec's "escalate only before the first byte"). */
static bool should_hold(const struct fg_call *c)
{
    if (!c->stream || c->so.client_stream || !c->rt.cfg)
        return false;
    struct fg_outcome_route r = route_facts(c);
    return fg_outcome_may_hold(&r);
}

static void on_headers_done(struct fg_call *c)
{
    c->up.headers_done = true;
    if (c->stream && c->up.status == 200 && c->up.is_sse && fg_client_live(&c->client)) {
        fg_defer_stream_began(c);
        if (should_hold(c)) {
            c->hold.on = true;
            if (!c->up.relay)
                c->up.relay = evbuffer_new();
        } else {
            start_stream_reply(c);
        }
    } else {
        c->up.body = evbuffer_new();
    }
}

/* While held: has the answer started (content, a tool call), or shown a
 * refusal or a cut before any content? */
static void held_look(struct fg_call *c, const struct fg_sse_event *ev)
{
    c->out->held_look(ev, &c->hold.why, &c->hold.content);
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct fg_call *c = arg;
    size_t len = size * n;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        const char *sp = memchr(buf, ' ', len);
        c->up.status = sp ? strtol(sp + 1, NULL, 10) : 0;
        c->up.is_sse = false;
        return len;
    }
    if (len <= 2) { /* blank line: end of a header block */
        if (c->up.status >= 200)
            on_headers_done(c);
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon || c->up.status < 200)
        return len;
    size_t nl = (size_t)(colon - buf);
    const char *v = colon + 1;
    const char *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    if (nl == 12 && !strncasecmp(buf, "content-type", 12))
        c->up.is_sse = (end - v) >= 17 && !strncasecmp(v, "text/event-stream", 17);
    else if (fg_client_live(&c->client) && relayed_header(buf, nl)) {
        char name[128], val[512];
        snprintf(name, sizeof name, "%.*s", (int)nl, buf);
        /* redacted like bodies: a provider that echoes its key in a request
         * id must not hand it to the client (redact.h) */
        fg_redact(v, (size_t)(end - v), val, sizeof val);
        fg_client_header(c, name, val);
        /* the provider's request id, also under the name the caller's SDK reads */
        if (c->in != c->out &&
            (!strcasecmp(name, "request-id") || !strcasecmp(name, "x-request-id")))
            fg_client_header(c, c->in->request_id_header, val);
    }
    return len;
}

/* A structured stream ends: does the streamed answer match its schema? */
static bool structured_stream_ok(struct fg_call *c)
{
    return !c->so.schema ||
           fg_structured_check_text(c, c->so.text ? c->so.text : "", c->so.text_len) == 0;
}

/* Keep what was appended to c->up.relay since `from` for the response cache. */
static void cache_tail(struct fg_call *c, size_t from)
{
    size_t n = evbuffer_get_length(c->up.relay) - from;
    if (!c->cache.sse || n == 0)
        return;
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(c->up.relay, &pos, from, EVBUFFER_PTR_SET);
    char *tmp = fg_xmalloc(n);
    evbuffer_copyout_from(c->up.relay, &pos, tmp, n);
    evbuffer_add(c->cache.sse, tmp, n);
    free(tmp);
}

/* A translated stream: usage is metered on the provider's events, the
 * client gets the translator's frames. */
static int on_translated_event(struct fg_call *c, const struct fg_sse_event *ev)
{
    enum fg_sse_kind kind = c->out->classify(ev, &c->up.resp);
    fg_meter_event(c, ev);
    if (kind == FG_SSE_END && !structured_stream_ok(c)) {
        c->up.stream_ended = c->up.error_seen = true;
        fg_translate_stream_fail(c->enc.tr, &c->err, c->up.relay);
        return 0;
    }
    if (kind == FG_SSE_END) {
        c->up.stream_ended = true;
        fg_meter_cost_comment(c, c->up.relay);
        size_t from = evbuffer_get_length(c->up.relay);
        fg_translate_stream_end(c->enc.tr, true, c->up.relay);
        fg_respstate_frames(c, c->up.relay, from);
        cache_tail(c, from);
        return 0;
    }
    if (kind == FG_SSE_ERROR)
        c->up.error_seen = true;
    size_t from = evbuffer_get_length(c->up.relay);
    int rc = fg_translate_stream_event(c->enc.tr, ev, c->up.relay);
    fg_respstate_frames(c, c->up.relay, from);
    cache_tail(c, from);
    if (rc < 0) {
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_malformed",
                   "upstream provider '%s' sent a stream event frugal could not read",
                   c->serve.provider->name);
        return -1;
    }
    return 0;
}

static int on_sse_event(void *arg, const struct fg_sse_event *ev)
{
    struct fg_call *c = arg;
    if (c->up.stream_ended)
        return 0; /* nothing after the terminator reaches the client */
    fg_defer_answer_seen(c, ev->data, ev->data_len);
    if (c->hold.on && ev->data_len)
        held_look(c, ev);
    if (c->enc.tr)
        return on_translated_event(c, ev);
    ev = fg_respstate_event(c, ev); /* frugal's response ids */
    enum fg_sse_kind kind = c->out->classify(ev, &c->up.resp);
    if (kind == FG_SSE_END && !structured_stream_ok(c)) {
        /* the answer is already with the client: end with an error instead
         * (a Responses stream's usage is in this very event: meter it) */
        if (c->out->end_event_has_data)
            fg_meter_event(c, ev);
        c->up.stream_ended = c->up.error_seen = true;
        c->in->stream_error(&c->err, c->up.relay);
        return 0;
    }
    if (kind == FG_SSE_END && c->out->end_event_has_data) {
        /* the terminal event carries the usage: meter it, then price */
        c->up.stream_ended = true;
        if (c->cache.sse)
            evbuffer_add(c->cache.sse, ev->raw, ev->raw_len);
        fg_meter_event(c, ev);
        evbuffer_add(c->up.relay, ev->raw, ev->raw_len);
        fg_meter_cost_comment(c, c->up.relay);
        return 0;
    }
    switch (kind) {
    case FG_SSE_END:
        c->up.stream_ended = true;
        /* usage is complete before the terminator: price the call there */
        fg_meter_cost_comment(c, c->up.relay);
        break;
    case FG_SSE_ERROR: c->up.error_seen = true; break;
    default: break;
    }
    if (c->cache.sse) /* stored as the provider sent it, usage chunk included */
        evbuffer_add(c->cache.sse, ev->raw, ev->raw_len);
    if (fg_meter_event(c, ev))
        evbuffer_add(c->up.relay, ev->raw, ev->raw_len);
    return 0;
}

static void arm_idle(struct fg_call *c);

static void on_client_drained(void *arg)
{
    struct fg_call *c = arg;
    if (c->up.paused && c->up.xfer.easy) {
        c->up.paused = false;
        arm_idle(c); /* silence counts again from here */
        curl_easy_pause(c->up.xfer.easy, CURLPAUSE_CONT);
    }
}

static size_t client_backlog(struct fg_call *c)
{
    return c->client.ops->backlog(c->client.ctx);
}

static size_t relay_stream(struct fg_call *c, const char *data, size_t len)
{
    if (client_backlog(c) > CLIENT_HIGH_WATER) {
        c->up.paused = true;
        /* held back for a slow client, the upstream is not silent: its
         * idle timer stops until the client has drained */
        if (c->up.idle_ev)
            event_del(c->up.idle_ev);
        return CURL_WRITEFUNC_PAUSE; /* curl re-delivers these bytes */
    }
    if (fg_sse_feed(&c->up.sse, data, len, on_sse_event, c) < 0) {
        if (c->err.cls == FG_E_NONE)
            fg_err_set(&c->err, FG_E_UPSTREAM, NULL, NULL,
                       "upstream sent an event larger than %u bytes", MAX_SSE_EVENT);
        return 0;
    }
    if (c->hold.on) {
        if (!c->hold.content)
            return len; /* keep holding: nothing has reached the client */
        start_stream_reply(c);
    }
    if (evbuffer_get_length(c->up.relay)) {
        if (!c->t_first_byte_ns)
            c->t_first_byte_ns = fg_clock_now_ns();
        c->client.ops->chunk(c->client.ctx, c->up.relay, on_client_drained, c);
    }
    return len;
}

static void arm_idle(struct fg_call *c)
{
    if (!c->up.idle_ev)
        return;
    int ms = c->snap->cfg->server.stream_idle_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(c->up.idle_ev, &tv);
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    struct fg_call *c = arg;
    size_t len = size * n;
    if (!fg_client_live(&c->client))
        return 0; /* client gone: abort the transfer */
    arm_idle(c);
    if (!c->up.headers_done)
        on_headers_done(c);
    if (c->state == FG_CALL_STREAMING || c->hold.on) {
        c->up.in_curl_cb++;
        size_t r = relay_stream(c, data, len);
        c->up.in_curl_cb--;
        return fg_client_live(&c->client) ? r : 0;
    }
    if (evbuffer_get_length(c->up.body) + len > MAX_UPSTREAM_BODY) {
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, NULL, "upstream response is larger than %u bytes",
                   MAX_UPSTREAM_BODY);
        return 0;
    }
    evbuffer_add(c->up.body, data, len);
    return len;
}

/* Map a transfer failure to an error for the client. */
static void transfer_error(struct fg_call *c, CURLcode res)
{
    const char *p = c->serve.provider->name;
    if (c->err.cls != FG_E_NONE)
        return; /* set by a callback */
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        fg_err_set(&c->err, FG_E_TIMEOUT, NULL, "upstream_timeout",
                   "upstream provider '%s' timed out (%s)", p,
                   c->up.headers_done ? "no data within the stream idle timeout"
                                      : "no response in time");
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_unreachable",
                   "could not connect to upstream provider '%s': %s", p, curl_easy_strerror(res));
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_reset",
                   "upstream provider '%s' closed the connection before a complete "
                   "response (%s)",
                   p, curl_easy_strerror(res));
        break;
    case CURLE_OUT_OF_MEMORY: /* curl's answer to a giant header before 8.6 */
#if LIBCURL_VERSION_NUM >= 0x080600
    case CURLE_TOO_LARGE:
#endif
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_header_too_large",
                   "upstream provider '%s' sent a response header too large to accept (a "
                   "header line over %d bytes)",
                   p, CURL_MAX_HTTP_HEADER);
        break;
    default:
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_error",
                   "upstream provider '%s' failed: %s", p, curl_easy_strerror(res));
    }
}

static void cache_store(struct fg_call *c, bool stream, const char *bytes, size_t len)
{
    if (!c->cache.keyed || !len)
        return;
    if (c->share && c->share->rd.cache_key) { /* a shared store: told at the end (share.h) */
        int64_t expires;
        struct fg_shared_val *v = fg_respcache_value(stream, bytes, len, &c->meter.usage.tok, NULL,
                                                     c->cache.old, c->meter.acct.ts_ms, &expires);
        if (v)
            fg_share_store(c, v, expires);
        return;
    }
    fg_respcache_put(c->cache.key, stream, bytes, len, &c->meter.usage.tok, c->meter.acct.ts_ms);
}

static void finish_stream(struct fg_call *c, CURLcode res)
{
    if (res == CURLE_OK && c->up.stream_ended && !c->up.error_seen && c->cache.sse)
        cache_store(c, true, (const char *)evbuffer_pullup(c->cache.sse, -1),
                    evbuffer_get_length(c->cache.sse));
    if (res != CURLE_OK || (!c->up.stream_ended && !c->up.error_seen)) {
        if (res == CURLE_OK)
            fg_err_set(&c->err, FG_E_UPSTREAM, NULL, NULL,
                       "upstream provider '%s' ended the stream before it was complete",
                       c->serve.provider->name);
        else
            transfer_error(c, res);
        fg_warn("%s stream from %s failed: %s", c->id, c->serve.provider->name, c->err.msg);
        /* what was relayed is billed: meter.c estimates it */
        c->meter.upstream_cut = c->meter.data_events > 0;
        if (c->enc.tr)
            fg_translate_stream_fail(c->enc.tr, &c->err, c->up.relay);
        else
            c->in->stream_error(&c->err, c->up.relay);
        c->client.ops->chunk(c->client.ctx, c->up.relay, NULL, NULL);
    }
    c->client.ops->end(c->client.ctx);
}

/* The provider's answer (or error) in the caller's dialect. */
static bool structured_ok(struct fg_call *c, struct evbuffer *body, const char *why,
                          bool *retrying);
static const char *answer_shortfall(struct fg_call *c);
static bool shortfall_ends(struct fg_call *c, const char *why, bool *running);
static void reply_as_stream(struct fg_call *c, struct evbuffer *json);

static bool reply_translated(struct fg_call *c, const char *body, size_t n)
{
    struct evbuffer *out = evbuffer_new();
    enum fg_dialect from = c->out->dialect, to = c->in->dialect;
    c->status = (int)c->up.status;
    if (c->up.status >= 300) {
        /* error bodies are the wire dialect's (Responses errors are OpenAI's) */
        c->status = fg_translate_error(from, to, (int)c->up.status, body, n, out);
        fg_err_set(&c->err, c->status >= 500 ? FG_E_UPSTREAM : FG_E_INVALID, NULL, NULL,
                   "upstream provider '%s' answered HTTP %ld", c->serve.provider->name,
                   c->up.status);
        fg_client_frugal_headers(c);
        fg_client_send_json(c, c->status, out);
        evbuffer_free(out);
        return false;
    }
    fg_meter_response(c);
    const char *why = answer_shortfall(c);
    bool running;
    if (shortfall_ends(c, why, &running)) {
        evbuffer_free(out);
        return running;
    }
    /* answers are the body shapes' (a Responses client gets a Response) */
    int rc = fg_translate_response(c->out->shape, c->in->shape, &c->up.resp, c->model_name,
                                   c->so.forced_tool, out, &c->err);
    if (rc == 0 && c->in->shape == FG_DIALECT_RESPONSES)
        fg_translate_rs_echo(c->raw, c->raw_len, out);
    bool retrying = false;
    if (rc == 0)
        fg_respstate_buffer(c, out); /* frugal's response id, remembered */
    if (rc < 0) {
        c->status = c->err.status;
        fg_client_send_error(c, true);
    } else if (structured_ok(c, out, why, &retrying)) {
        cache_store(c, false, (const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out));
        if (c->so.client_stream || c->stream) { /* a provider may answer JSON to stream: true */
            reply_as_stream(c, out);
        } else {
            fg_client_frugal_headers(c);
            fg_meter_cost_headers(c);
            fg_client_send_json(c, c->status, out);
        }
    }
    evbuffer_free(out);
    return retrying;
}

/* A complete SSE body to a streaming client in one reply, with the cost
 * comment just before the terminator (as on live streams). */
static void send_sse_whole(struct fg_call *c, struct evbuffer *out)
{
    fg_client_header(c, "Content-Type", "text/event-stream; charset=utf-8");
    fg_client_header(c, "Cache-Control", "no-cache");
    const char *term = c->in->stream_terminator;
    size_t n = evbuffer_get_length(out), at = n;
    const char *s = (const char *)evbuffer_pullup(out, -1);
    for (const char *p = s; term && (p = memmem(p, n - (size_t)(p - s), term, strlen(term))); p++)
        at = (size_t)(p - s);
    struct evbuffer *body = evbuffer_new();
    evbuffer_add(body, s, at);
    fg_meter_cost_comment(c, body);
    evbuffer_add(body, s + at, n - at);
    c->client.ops->send(c->client.ctx, 200, body);
    evbuffer_free(body);
}

/* A whole answer in the client's dialect as that dialect's stream.  A
 * Response is replayed here, not by the response cache's replay (which must
 * never replay one: it carries its own response id). */
static int stream_of_json(const struct fg_call *c, const char *s, size_t n, struct evbuffer *sse)
{
    if (c->in->shape != FG_DIALECT_RESPONSES)
        return fg_respcache_sse_from_json(c->in->dialect, s, n, c->include_usage, sse);
    json_t *r = json_loadb(s, n, 0, NULL);
    int rc = r ? fg_replay_rs(r, sse) : -1;
    json_decref(r);
    return rc;
}

/* The checked answer (JSON, the client's dialect) as the stream the client
 * asked for (structured_output.stream: buffer, or a provider that answered
 * JSON to stream: true). */
static void reply_as_stream(struct fg_call *c, struct evbuffer *json)
{
    struct evbuffer *sse = evbuffer_new();
    size_t n = evbuffer_get_length(json);
    fg_client_frugal_headers(c);
    if (stream_of_json(c, (const char *)evbuffer_pullup(json, -1), n, sse) < 0) {
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, NULL, "could not stream the checked answer");
        c->status = c->err.status;
        fg_client_send_error(c, true);
    } else {
        send_sse_whole(c, sse);
    }
    evbuffer_free(sse);
}

void fg_relay_send_json(struct fg_call *c, int status, struct evbuffer *body)
{
    c->status = status;
    if (!c->t_first_byte_ns)
        c->t_first_byte_ns = fg_clock_now_ns();
    fg_client_frugal_headers(c);
    fg_meter_cost_headers(c);
    fg_client_send_json(c, status, body);
}

void fg_relay_send_error(struct fg_call *c)
{
    FG_DASSERT(c->err.cls != FG_E_NONE && c->err.status >= 400);
    c->status = c->err.status;
    fg_client_send_error(c, false);
}

const struct fg_config *fg_relay_config(const struct fg_call *c)
{
    return c->snap->cfg;
}

const char *fg_relay_openai_base(const struct fg_call *c)
{
    return c->snap->prov[c->serve.provider_index].openai_base;
}

void fg_relay_answer_cached(struct fg_call *c, const struct fg_respcache_entry *e)
{
    struct evbuffer *out = evbuffer_new();
    fg_respcache_answer(e, c->in->dialect, c->stream, c->include_usage, out);
    c->status = 200;
    c->state = FG_CALL_DONE;
    c->t_first_byte_ns = fg_clock_now_ns();
    fg_client_frugal_headers(c);
    if (!c->stream) {
        fg_meter_cost_headers(c);
        fg_client_send_json(c, 200, out);
    } else {
        send_sse_whole(c, out);
    }
    evbuffer_free(out);
}

/* The chosen next attempt (a fallback, an escalation) could not start:
 * the client gets that error. */
static void start_failed(struct fg_call *c)
{
    c->status = c->err.status ? c->err.status : 502;
    fg_client_send_error(c, true);
}

/* The cheap model's answer fell short (d: outcome.h's USE_MODEL with a
 * trigger): ask the route's frontier model instead.  The cheap attempt
 * keeps its own, linked ledger record.  false when the frontier attempt
 * could not start (c->err says why). */
static bool escalate(struct fg_call *c, const struct fg_outcome *d)
{
    const struct fg_model_cfg *m = fg_config_model(c->snap->cfg, d->model);
    FG_ASSERT(m && d->trigger);
    fg_info("%s: cheap answer %s; escalating to %s", c->id, d->trigger, m->name);
    c->rt.reason =
        fg_arena_printf(&c->arena, "cheap answer %s: escalated to the frontier model",
                        strcmp(d->trigger, "format") ? d->trigger : "missed the route's format");
    if (c->err.cls != FG_E_NONE)
        c->status = c->err.status; /* a failed check: recorded as a retried one is */
    else if (c->status == 0)
        c->status = (int)c->up.status;
    fg_call_next_attempt(c);
    c->rt.escalated = true;
    c->rt.route = "escalated";
    fg_call_use_model(c, m);
    return fg_pipeline_reencode(c) == 0 && fg_relay_start(c) == 0;
}

/* The route's format check, run only where its miss could escalate (a
 * cheap answer on a route with `format` in escalate_on): false on a miss. */
static bool format_ok(struct fg_call *c)
{
    size_t i = (size_t)(c->rt.cfg - c->snap->cfg->routes);
    const struct fg_fmtcheck *f = c->snap->fmtchecks ? c->snap->fmtchecks[i] : NULL;
    if (!f)
        return true;
    struct fg_outcome_route r = route_facts(c);
    if (!fg_outcome_may_escalate(&r, "format"))
        return true;
    char why[300];
    if (fg_fmtcheck_answer(f, c->out, &c->up.resp, 0, why, sizeof why))
        return true;
    fg_info("%s: cheap answer misses the route's format: %s", c->id, why);
    return false;
}

/* What the route could escalate a complete answer on (NULL: nothing). */
static const char *answer_shortfall(struct fg_call *c)
{
    if (!c->rt.cfg || c->endpoint == FG_EP_RESP_INPUT_TOKENS)
        return NULL;
    const char *why = c->out->shortfall(&c->up.resp);
    return why ? why : format_ok(c) ? NULL : "format";
}

/* outcome.h's ANSWER_CHECKED point: `why` from answer_shortfall(). */
static struct fg_outcome answer_outcome(struct fg_call *c, const char *why, bool schema_failed)
{
    struct fg_outcome_facts f = {.point = FG_OUTCOME_ANSWER_CHECKED,
                                 .transfer_ok = true,
                                 .route = route_facts(c),
                                 .shortfall = why,
                                 .schema_failed = schema_failed,
                                 .so_attempts = c->so.attempts,
                                 .so_retries = c->snap->cfg->structured_output.retries};
    return fg_outcome_decide(&f);
}

/* Before the schema check: true when the shortfall decided the ending —
 * *running when the frontier attempt is under way, else it could not
 * start and the client has the error. */
static bool shortfall_ends(struct fg_call *c, const char *why, bool *running)
{
    *running = false;
    if (!why)
        return false;
    struct fg_outcome d = answer_outcome(c, why, false);
    if (d.kind != FG_OUTCOME_USE_MODEL)
        return false;
    *running = escalate(c, &d);
    if (!*running)
        start_failed(c);
    return true;
}

/* The structured answer failed its check: try again on the same model
 * (the failed attempt keeps its own ledger record, linked). */
static bool retry_structured(struct fg_call *c)
{
    c->so.attempts++;
    fg_warn("%s: %s Retrying.", c->id, c->err.msg);
    c->status = c->err.status;
    fg_call_next_attempt(c);
    if (fg_relay_start(c) < 0)
        return false;
    return true;
}

/* Check a complete structured answer (body in the client's dialect):
 * false when it failed and a retry is running instead. */
static bool structured_ok(struct fg_call *c, struct evbuffer *body, const char *why, bool *retrying)
{
    *retrying = false;
    if (!c->so.schema || fg_structured_check(c, body) == 0)
        return true;
    struct fg_outcome d = answer_outcome(c, why, true);
    if (d.kind == FG_OUTCOME_RETRY_SAME)
        *retrying = retry_structured(c);
    else if (d.kind == FG_OUTCOME_USE_MODEL)
        *retrying = escalate(c, &d);
    else
        FG_DASSERT(d.kind == FG_OUTCOME_FAIL);
    if (!*retrying) {
        c->status = c->err.status;
        fg_client_send_error(c, true);
    }
    return false;
}

/* An error body is relayed (or translated) to the client: a provider that
 * echoes a key in it must not hand it on (redact.h). */
static void redact_error_body(struct fg_call *c)
{
    struct evbuffer *b = c->up.body;
    size_t n = evbuffer_get_length(b), m;
    const char *s = (const char *)evbuffer_pullup(b, -1);
    if (!n)
        return;
    char *r = fg_redact_dup(s, n, &m);
    if (m != n || memcmp(r, s, n)) {
        evbuffer_drain(b, n);
        evbuffer_add(b, r, m);
    }
    free(r);
}

/* A complete non-streamed upstream answer: check it and send it on. */
static bool finish_buffered(struct fg_call *c)
{
    if (c->up.status >= 300 && c->up.status < 400) {
        /* curl follows no redirect (upstream.c): the provider key and the
         * request never go anywhere config did not name */
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_redirect",
                   "upstream provider '%s' answered with a redirect (HTTP %ld); frugal does "
                   "not follow redirects: check the provider's base_url.",
                   c->serve.provider->name, c->up.status);
        c->status = c->err.status;
        fg_client_frugal_headers(c);
        fg_client_send_error(c, true);
        return false;
    }
    if (c->up.status >= 400)
        redact_error_body(c);
    struct evbuffer *b = c->up.body;
    size_t n = evbuffer_get_length(b);
    const char *s = (const char *)evbuffer_pullup(b, -1);
    bool json_ok = n && fg_json_parse(&c->up.resp, s, n) == 0;
    if (json_ok)
        fg_meter_filtered_error(c);
    if (c->up.status >= 200 && c->up.status < 300 && !json_ok) {
        fg_err_set(&c->err, FG_E_UPSTREAM, NULL, "upstream_malformed",
                   "upstream provider '%s' returned a malformed response (not JSON: %s)",
                   c->serve.provider->name, n ? c->up.resp.err : "empty body");
        c->status = c->err.status;
        fg_client_send_error(c, true);
        return false;
    }
    if (c->in != c->out && json_ok)
        return reply_translated(c, s, n);
    if (c->up.status >= 400 && !json_ok) {
        /* not a provider-shaped error: describe it ourselves */
        enum fg_err_class cls = c->up.status >= 500 ? FG_E_UPSTREAM : FG_E_INVALID;
        fg_err_set(&c->err, cls, NULL, NULL, "upstream provider '%s' returned HTTP %ld: %.*s",
                   c->serve.provider->name, c->up.status, (int)(n > 200 ? 200 : n), s ? s : "");
        if (c->up.status < 500)
            c->err.status = (int)c->up.status;
        c->status = c->err.status;
        fg_client_frugal_headers(c);
        fg_client_send_error(c, true);
        return false;
    }
    c->status = (int)c->up.status;
    if (c->status < 300 && c->endpoint == FG_EP_EMBEDDINGS) {
        fg_embed_reply(c, b);
        return false;
    }
    if (c->status < 300) {
        fg_defer_answer_seen(c, s, n);
        fg_meter_response(c);
        fg_respstate_answer(c); /* frugal's response id, remembered */
        const char *why = answer_shortfall(c);
        bool running, retrying;
        if (shortfall_ends(c, why, &running))
            return running;
        if (!structured_ok(c, b, why, &retrying))
            return retrying;
        cache_store(c, false, (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
        if (c->so.client_stream || c->stream) { /* a provider may answer JSON to stream: true */
            reply_as_stream(c, b);
            return false;
        }
    } else
        fg_err_set(&c->err, c->status >= 500 ? FG_E_UPSTREAM : FG_E_INVALID, NULL, NULL,
                   "upstream provider '%s' answered HTTP %d", c->serve.provider->name, c->status);
    fg_client_frugal_headers(c);
    fg_meter_cost_headers(c);
    fg_client_send_json(c, (int)c->up.status, b);
    return false;
}

static void on_done(struct fg_xfer *x, CURLcode res);
static void on_retry_timer(evutil_socket_t fd, short what, void *arg);
static void next_attempt(struct fg_call *c, const char *what);

/* Flex refused this attempt for capacity (defer.h): flex again after a
 * backoff while the deadline allows, else the standard tier now.  The
 * provider's breaker is not told: a full flex pool is no failure. */
static void flex_refused(struct fg_call *c)
{
    fg_err_set(&c->err, FG_E_RATE_LIMIT, NULL, "resource_unavailable",
               "upstream provider '%s' refused the flex tier for capacity",
               c->serve.provider->name);
    c->status = 429;
    long delay = fg_defer_retry_ms(c);
    c->defer.refusals++;
    if (delay >= 0) {
        next_attempt(c, fg_arena_printf(&c->arena, "flex again in %ld ms", delay));
        if (!c->fo.retry_ev)
            c->fo.retry_ev = evtimer_new(c->w->base, on_retry_timer, c);
        struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
        event_add(c->fo.retry_ev, &tv);
        return;
    }
    next_attempt(c, "the deadline is near: standard tier");
    c->defer.standard = true;
    if (fg_pipeline_reencode(c) == 0 && fg_relay_start(c) == 0)
        return;
    start_failed(c);
    c->state = FG_CALL_DONE;
    fg_call_finish(c);
}

/* The members frugal itself added to this attempt's body (upcaps.h). */
static unsigned members_added(const struct fg_call *c)
{
    unsigned a = c->meter.strip_usage_chunk ? FG_UPCAP_STREAM_USAGE : 0;
    if (c->enc.body && fg_json_get(&c->body, 0, "prompt_cache_key") < 0 &&
        memmem(c->enc.body, c->enc.body_len, "\"prompt_cache_key\"", 18))
        a |= FG_UPCAP_CACHE_KEY;
    return a;
}

/* The provider refused a member frugal added (upcaps.h): it is asked again
 * without it, now and from now on.  false when this answer is no such
 * refusal. */
static bool member_refused(struct fg_call *c, CURLcode res)
{
    unsigned added = res == CURLE_OK && c->up.body ? members_added(c) : 0;
    if (!added)
        return false;
    struct evbuffer *b = c->up.body;
    unsigned r = fg_upcaps_refused(added, (long)c->up.status, (const char *)evbuffer_pullup(b, -1),
                                   evbuffer_get_length(b));
    if (!r)
        return false;
    fg_upcaps_mark(c->serve.provider_index, r);
    fg_err_set(&c->err, FG_E_INVALID, NULL, NULL,
               "upstream provider '%s' refused %s, which frugal added", c->serve.provider->name,
               fg_upcaps_names(r));
    c->status = (int)c->up.status;
    next_attempt(c, "asking again without");
    if (fg_pipeline_reencode(c) == 0 && fg_relay_start(c) == 0)
        return true;
    start_failed(c);
    c->state = FG_CALL_DONE;
    fg_call_finish(c);
    return true;
}

/* A stream's upstream was silent for stream_idle_timeout_ms. */
static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct fg_call *c = arg;
    fg_upstream_cancel(c->w->up, &c->up.xfer);
    on_done(&c->up.xfer, CURLE_OPERATION_TIMEDOUT);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fg_call *c = arg;
    if (fg_relay_start(c) < 0) {
        c->status = c->err.status;
        fg_client_send_error(c, true);
        fg_call_finish(c);
    }
}

/* Record the failed attempt and reset for the next one; the provider's
 * relayed headers of the failed answer are dropped. */
static void next_attempt(struct fg_call *c, const char *what)
{
    fg_warn("%s: %s; %s", c->id, c->err.msg, what);
    fg_call_next_attempt(c);
    c->client.ops->clear_headers(c->client.ctx);
}

/* The next fallback of the call's first model that fits the call, or NULL
 * (asking advances c->fo.next). */
static const struct fg_model_cfg *next_fallback(struct fg_call *c, int64_t now)
{
    /* another model's vectors live in another space: embeddings never fall back */
    if (c->endpoint == FG_EP_EMBEDDINGS)
        return NULL;
    const struct fg_model_cfg *fb = fg_failover_next(c->snap->cfg, c->fo.origin, &c->fo.next, now);
    /* only fallbacks that speak the caller's dialect or one it is translated to */
    while (fb && fb->dialect != c->in->dialect && !fg_translate_has(c->in->shape, fb->dialect))
        fb = fg_failover_next(c->snap->cfg, c->fo.origin, &c->fo.next, now);
    return fb;
}

/* An attempt is over before anything reached the client: tell the breaker
 * how it went and gather outcome.h's TRANSFER_ENDED facts.  A retriable
 * failure becomes the call's error (kept if nothing better follows). */
static struct fg_outcome transfer_outcome(struct fg_call *c, CURLcode res)
{
    int64_t now = c->meter.acct.ts_ms + (int64_t)((fg_clock_now_ns() - c->t_start_ns) / 1000000);
    struct fg_outcome_facts f = {.point = FG_OUTCOME_TRANSFER_ENDED,
                                 .transfer_ok = res == CURLE_OK,
                                 .retriable = fg_failover_retriable(c->up.status, res)};
    fg_failover_breaker_record(c->serve.provider_index, !f.retriable, now);
    if (!f.retriable)
        return fg_outcome_decide(&f);
    if (res != CURLE_OK)
        transfer_error(c, res);
    else
        fg_err_set(&c->err, c->up.status >= 500 ? FG_E_UPSTREAM : FG_E_RATE_LIMIT, NULL, NULL,
                   "upstream provider '%s' answered HTTP %ld", c->serve.provider->name,
                   c->up.status);
    c->status = res != CURLE_OK ? c->err.status : (int)c->up.status;
    const struct fg_client *cl = &c->client;
    f.delay_ms = fg_failover_delay_ms(c->fo.retries, cl->ops->find_header(cl->ctx, "retry-after"),
                                      cl->ops->find_header(cl->ctx, "retry-after-ms"),
                                      fg_clock_now_ns() ^ (uint64_t)(uintptr_t)c, now);
    f.max_wait_ms = FG_FAILOVER_MAX_WAIT_MS;
    f.retries_used = c->fo.retries;
    f.retries_allowed = c->snap->cfg->server.upstream_retries;
    if (!c->fo.origin)
        c->fo.origin = c->serve.model->name;
    /* lazy facts (outcome.h): the breaker only when a retry is due, the
     * fallback only when no retry will be made */
    f.breaker_allows =
        fg_outcome_retry_due(&f) && fg_failover_breaker_allows(c->serve.provider_index, now);
    if (!f.breaker_allows) {
        const struct fg_model_cfg *fb = next_fallback(c, now);
        f.fallback = fb ? fb->name : NULL;
    }
    return fg_outcome_decide(&f);
}

/* RETRY_AFTER: the same model again after `delay` ms. */
static void retry_later(struct fg_call *c, long delay)
{
    c->fo.retries++;
    next_attempt(c, fg_arena_printf(&c->arena, "retrying in %ld ms", delay));
    if (!c->fo.retry_ev)
        c->fo.retry_ev = evtimer_new(c->w->base, on_retry_timer, c);
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    event_add(c->fo.retry_ev, &tv);
}

/* USE_MODEL after a failure: the fallback answers instead.  false when it
 * could not start (c->err says why). */
static bool fall_back(struct fg_call *c, const struct fg_outcome *d)
{
    const struct fg_model_cfg *fb = fg_config_model(c->snap->cfg, d->model);
    FG_ASSERT(fb);
    next_attempt(c, fg_arena_printf(&c->arena, "falling back to %s", fb->name));
    c->fo.retries = 0;
    c->rt.route = "fallback";
    c->rt.reason = fg_arena_printf(&c->arena, "%s failed: fallback", c->fo.origin);
    fg_call_use_model(c, fb);
    return fg_pipeline_reencode(c) == 0 && fg_relay_start(c) == 0;
}

/* A held stream ended: true when it escalates (what the cheap model
 * streamed is dropped; it never left frugal) — or the escalation could not
 * start and the call is over; false to release it as it was. */
static bool held_escalation(struct fg_call *c, CURLcode res)
{
    struct fg_outcome_facts f = {.point = FG_OUTCOME_HELD_ENDED,
                                 .transfer_ok = res == CURLE_OK,
                                 .route = route_facts(c),
                                 .held_content = c->hold.content,
                                 .held_why = c->hold.why,
                                 .stream_ended = c->up.stream_ended,
                                 .stream_error_seen = c->up.error_seen};
    struct fg_outcome d = fg_outcome_decide(&f);
    if (d.kind == FG_OUTCOME_RELEASE_HELD)
        return false;
    FG_ASSERT(d.kind == FG_OUTCOME_USE_MODEL);
    evbuffer_drain(c->up.relay, evbuffer_get_length(c->up.relay));
    if (c->cache.sse)
        evbuffer_drain(c->cache.sse, evbuffer_get_length(c->cache.sse));
    c->client.ops->clear_headers(c->client.ctx);
    c->hold.on = c->hold.content = false;
    c->hold.why = NULL;
    c->up.stream_ended = c->up.error_seen = false;
    if (escalate(c, &d))
        return true;
    start_failed(c);
    c->state = FG_CALL_DONE;
    fg_call_finish(c);
    return true;
}

/* An attempt is over: outcome.h decides what happens next; this carries
 * it out. */
static void on_done(struct fg_xfer *x, CURLcode res)
{
    struct fg_call *c = x->arg;
    /* a finished call cancelled its transfer: this runs once per attempt */
    FG_ASSERT(c->state == FG_CALL_UPSTREAM || c->state == FG_CALL_STREAMING);
    fg_upstream_release(c->w->up, x);
    fg_affinity_end(&c->serve.inflight); /* this attempt is over, whatever comes next */
    if (!fg_client_live(&c->client)) {
        fg_call_finish(c);
        return;
    }
    if (c->hold.on && held_escalation(c, res))
        return; /* the frontier model answers instead */
    if (c->hold.on)
        start_stream_reply(c); /* RELEASE_HELD: the answer as it was */
    if (c->state == FG_CALL_STREAMING) {
        finish_stream(c, res); /* already with the client: it ends as it ends */
        c->state = FG_CALL_DONE;
        fg_call_finish(c);
        return;
    }
    if (res == CURLE_OK && fg_defer_refused(c)) {
        flex_refused(c);
        return;
    }
    if (member_refused(c, res))
        return;
    struct fg_outcome d = transfer_outcome(c, res);
    switch (d.kind) {
    case FG_OUTCOME_RETRY_AFTER: retry_later(c, d.delay_ms); return;
    case FG_OUTCOME_USE_MODEL:
        if (fall_back(c, &d))
            return;
        start_failed(c);
        break;
    case FG_OUTCOME_FAIL:
        transfer_error(c, res);
        fg_warn("%s upstream %s: %s", c->id, c->serve.provider->name, c->err.msg);
        c->status = c->err.status;
        fg_client_send_error(c, true);
        break;
    default:
        FG_DASSERT(d.kind == FG_OUTCOME_DONE);
        if (finish_buffered(c))
            return; /* a retry or an escalation is on its way */
        break;
    }
    c->state = FG_CALL_DONE;
    fg_call_finish(c);
}

void fg_relay_answer_line(struct fg_call *c, const char *body, size_t len)
{
    FG_ASSERT(c->state == FG_CALL_UPSTREAM && !c->up.xfer.easy);
    c->up.status = 200;
    if (!c->up.body)
        c->up.body = evbuffer_new();
    evbuffer_drain(c->up.body, evbuffer_get_length(c->up.body));
    evbuffer_add(c->up.body, body, len);
    if (finish_buffered(c))
        return; /* a retry or an escalation is on its way */
    c->state = FG_CALL_DONE;
    fg_call_finish(c);
}

/* The fixed part of every upstream request's headers. */
struct curl_slist *fg_relay_base_headers(bool stream)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (stream)
        h = curl_slist_append(h, "Accept: text/event-stream");
    return h;
}

/* A forwardable header the client sent (read at the edge), or NULL. */
static const char *forwarded(const struct fg_call_req *r, const char *name)
{
    for (int i = 0; i < r->n_fwd; i++)
        if (!strcasecmp(r->fwd[i].name, name))
            return r->fwd[i].value;
    return NULL;
}

/* Headers for this call: the provider's prebuilt list when nothing is
 * forwarded (the common OpenAI case), else a list of its own. */
static struct curl_slist *add_headers(struct fg_call *c)
{
    const char *fwd[8][2];
    int nf = 0;
    for (const char *const *f = c->out->forward_headers; *f && nf < 7; f++) {
        const char *v = forwarded(&c->rq, *f);
        if (v)
            fwd[nf][0] = *f, fwd[nf++][1] = v;
    }
    const char *fault = c->serve.provider->type == FG_PROV_SIM ? c->rq.sim_fault : NULL;
    if (fault)
        fwd[nf][0] = "x-sim-fault", fwd[nf++][1] = fault;
    const struct fg_provider_rt *rt = &c->snap->prov[c->serve.provider_index];
    if (nf == 0 && !c->client_version)
        return rt->headers[c->out->dialect][c->stream];
    struct curl_slist *h = fg_relay_base_headers(c->stream);
    c->out->upstream_headers(c->serve.provider, c->client_version, &h);
    for (int i = 0; i < nf; i++)
        h = fg_provider_header_add(h, fwd[i][0], fwd[i][1]);
    c->up.headers = h; /* owned by the call */
    return h;
}

/* The provider's endpoint for the call: a Responses call translated for a
 * provider without the Responses API goes to its Chat (or Messages) one. */
static enum fg_endpoint upstream_endpoint(const struct fg_call *c)
{
    if (c->endpoint == FG_EP_RESPONSES && c->out->shape != FG_DIALECT_RESPONSES)
        return FG_EP_CHAT;
    return c->endpoint;
}

int fg_relay_start(struct fg_call *c)
{
    struct fg_worker *w = c->w;
    CURL *e = fg_upstream_easy(w->up);
    const char *url =
        c->endpoint == FG_EP_EMBEDDINGS ? fg_embed_url(c)
        : fg_azure_is(c->serve.provider)
            /* per deployment: not prebuilt */
            ? fg_azure_url(&c->arena, c->serve.provider, c->serve.wire_model, upstream_endpoint(c))
            : c->snap->prov[c->serve.provider_index].url[c->out->dialect][upstream_endpoint(c)];
    struct curl_slist *headers = add_headers(c);
    fg_sse_init(&c->up.sse, MAX_SSE_EVENT);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->enc.body ? c->enc.body : c->raw);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(c->enc.body ? c->enc.body_len : c->raw_len));
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->serve.provider->connect_timeout_ms);
    if (c->stream) {
        /* a stream may run long; bound silence instead of total time */
        if (!c->up.idle_ev) /* a retried call keeps its timer */
            c->up.idle_ev = evtimer_new(w->base, on_idle, c);
        arm_idle(c);
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->serve.provider->timeout_ms);
    }
    c->up.xfer.easy = e;
    c->up.xfer.done = on_done;
    c->up.xfer.arg = c;
    /* a new attempt starts only before any byte reached the client */
    FG_ASSERT(c->state == FG_CALL_NEW || c->state == FG_CALL_UPSTREAM);
    c->state = FG_CALL_UPSTREAM;
    if (c->serve.model->n_deployments)
        fg_affinity_begin(&c->snap->loads[c->serve.model - c->snap->cfg->models],
                          c->serve.deployment, &c->serve.inflight);
    /* a server priced by the hour: this attempt's share starts now */
    struct fg_selfhost *sh = c->snap->prov[c->serve.provider_index].selfhost;
    if (sh && !c->meter.hours.on) {
        c->meter.hours_of = sh;
        fg_selfhost_begin(sh, &c->meter.hours, fg_clock_wall_us());
    }
    if (fg_upstream_add(w->up, &c->up.xfer) < 0) {
        fg_upstream_release(w->up, &c->up.xfer);
        fg_affinity_end(&c->serve.inflight);
        return fg_err_set(&c->err, FG_E_INTERNAL, NULL, NULL,
                          "could not start the upstream transfer");
    }
    return 0;
}

void fg_relay_cut(struct fg_call *c, const struct fg_err *e)
{
    if (fg_client_live(&c->client) && c->state != FG_CALL_DONE) {
        c->err = *e;
        if (c->state == FG_CALL_STREAMING) {
            /* the status line went out long ago: the stream ends with the
             * dialect's error event, never looking complete */
            if (c->enc.tr)
                fg_translate_stream_fail(c->enc.tr, &c->err, c->up.relay);
            else
                c->in->stream_error(&c->err, c->up.relay);
            c->client.ops->chunk(c->client.ctx, c->up.relay, NULL, NULL);
            c->client.ops->end(c->client.ctx);
        } else {
            c->status = c->err.status;
            fg_client_send_error(c, true);
        }
        c->state = FG_CALL_DONE;
    }
    fg_call_finish(c);
}
