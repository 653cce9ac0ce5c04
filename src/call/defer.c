/* defer.c — see defer.h. */
#include "defer.h"

#include "assert.h"
#include "clock.h"
#include "flex.h"
#include "provider.h"
#include "route.h"
#include "runtime.h"

#include "pipeline.h"
#include "relay.h"
#include "log.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEFER_MS (24 * 3600 * 1000LL) /* any longer is a typo, not a deadline */

int fg_defer_parse(const char *s, int64_t *ms)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        v = v * 10 + (*s - '0');
        if (v > MAX_DEFER_MS)
            return -1; /* before it can overflow */
    }
    int64_t mul = !strcmp(s, "ms")                    ? 1
                  : !strcmp(s, "s") || !strcmp(s, "") ? 1000
                  : !strcmp(s, "m")                   ? 60 * 1000
                  : !strcmp(s, "h")                   ? 3600 * 1000
                                                      : 0;
    if (!mul || v == 0 || v > MAX_DEFER_MS / mul)
        return -1;
    *ms = v * mul;
    return 0;
}

enum fg_defer_way fg_defer_decide(bool flex_capable, bool provider_batch, int64_t deadline_ms,
                                  int64_t min_deadline_ms)
{
    if (flex_capable)
        return FG_DEFER_FLEX;
    if (provider_batch && deadline_ms >= min_deadline_ms)
        return FG_DEFER_BATCH;
    return FG_DEFER_REALTIME;
}

long fg_defer_backoff_ms(int n, uint64_t rnd)
{
    long d = n >= 6 ? 30000 : 500L << n; /* 500 ms .. 16 s, then 30 s */
    if (d > 30000)
        d = 30000;
    return d - (long)(rnd % (uint64_t)(d / 4 + 1));
}

bool fg_defer_capacity_refusal(long status, const char *body, size_t len)
{
    if (status != 429 || !body || !len)
        return false;
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    bool yes = code && !strcmp(code, "resource_unavailable");
    json_decref(j);
    return yes;
}

static int64_t now_left_ms(const struct fg_call *c)
{
    uint64_t now = fg_clock_now_ns();
    return now >= c->defer.deadline_ns ? 0 : (int64_t)((c->defer.deadline_ns - now) / 1000000);
}

int fg_defer_request(struct fg_call *c)
{
    const struct fg_config *cfg = c->snap->cfg;
    int64_t max_ms = (int64_t)cfg->deferral.max_deadline_s * 1000, ms = 0;
    if (c->batch.line)
        return 0; /* a batch line is deferred already, at the batch price */
    if (c->rq.defer) {
        if (fg_defer_parse(c->rq.defer, &ms) < 0)
            return fg_err_set(&c->err, FG_E_INVALID, "x-frugal-defer", "invalid_defer",
                              "The x-frugal-defer header must be a duration such as 30s, 5m, 1h "
                              "or 1500ms (got \"%.40s\"); frugal may then hold the call until "
                              "that deadline for a cheaper tier.",
                              c->rq.defer);
        c->defer.why = "header";
    } else {
        for (size_t i = 0; i < cfg->deferral.n_defer_for && !c->defer.why; i++)
            if (fg_route_selected(c, cfg->deferral.defer_for[i]))
                c->defer.why = cfg->deferral.defer_for[i];
        ms = max_ms;
    }
    if (!c->defer.why)
        return 0;
    if (ms > max_ms)
        ms = max_ms;
    c->defer.deadline_ns = c->t_start_ns + (uint64_t)ms * 1000000;
    return 0;
}

static bool flex_wanted(const struct fg_call *c)
{
    const struct fg_provider_cfg *p = c->serve.provider;
    bool batch_api = p && !(p->batch && !strcmp(p->batch, "local"));
    int64_t left = now_left_ms(c);
    return c->defer.deadline_ns && !c->defer.standard && !c->batch.line && left > 0 &&
           (c->endpoint == FG_EP_CHAT || c->endpoint == FG_EP_RESPONSES ||
            c->endpoint == FG_EP_MESSAGES) &&
           c->out->dialect == FG_DIALECT_OPENAI &&
           fg_defer_decide(fg_flex_capable(c->serve.model), batch_api, left,
                           (int64_t)c->snap->cfg->deferral.min_deadline_s * 1000) == FG_DEFER_FLEX;
}

static const char flex_member[] = "\"service_tier\":\"flex\",";

/* The first byte of a JSON object body after its '{', or -1. */
static long object_inside(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i < n && s[i] == '{' ? (long)i + 1 : -1;
}

void fg_defer_encode(struct fg_call *c)
{
    c->defer.flex = c->defer.flex_billed = c->defer.tier_seen = false;
    if (!flex_wanted(c))
        return;
    if (c->enc.body) { /* translated, or already spliced: one more copy */
        if (memmem(c->enc.body, c->enc.body_len, "\"service_tier\"", 14))
            return; /* the client chose its tier (translated from its own) */
        long at = object_inside(c->enc.body, c->enc.body_len);
        if (at < 0)
            return;
        struct fg_json_edit e = {(uint32_t)at, (uint32_t)at, flex_member, sizeof flex_member - 1};
        size_t n;
        char *b = fg_json_splice(c->enc.body, c->enc.body_len, &e, 1, &n);
        free(c->enc.body);
        c->enc.body = b;
        c->enc.body_len = n;
    } else {
        if (fg_json_get(&c->body, 0, "service_tier") >= 0)
            return; /* the client chose its tier */
        long at = object_inside(c->raw, c->raw_len);
        if (at < 0 || c->enc.n_edits == sizeof c->enc.edits / sizeof c->enc.edits[0])
            return;
        fg_call_edit(c, (uint32_t)at, (uint32_t)at, flex_member);
    }
    c->defer.flex = true;
}

void fg_defer_stream_began(struct fg_call *c)
{
    /* a 2xx to a flex request is flex, unless its events say otherwise */
    c->defer.flex_billed = c->defer.flex;
}

void fg_defer_answer_seen(struct fg_call *c, const char *s, size_t n)
{
    static const char key[] = "\"service_tier\":\"";
    if (!c->defer.flex || c->defer.tier_seen || !s)
        return;
    const char *p = memmem(s, n, key, sizeof key - 1);
    if (!p)
        return;
    p += sizeof key - 1;
    c->defer.tier_seen = true;
    c->defer.flex_billed = (size_t)(s + n - p) >= 5 && !memcmp(p, "flex\"", 5);
}

bool fg_defer_refused(const struct fg_call *c)
{
    if (!c->defer.flex || c->up.status != 429 || !c->up.body)
        return false;
    struct evbuffer *b = c->up.body;
    return fg_defer_capacity_refusal(c->up.status, (const char *)evbuffer_pullup(b, -1),
                                     evbuffer_get_length(b));
}

long fg_defer_retry_ms(const struct fg_call *c)
{
    long d = fg_defer_backoff_ms(c->defer.refusals, fg_clock_now_ns() ^ (uintptr_t)c);
    /* the retry must leave time for a standard call after it, should flex
     * refuse again: never more than deadline + one call */
    return now_left_ms(c) > d ? d : -1;
}

const char *fg_defer_header(const struct fg_call *c)
{
    if (!c->defer.deadline_ns)
        return NULL;
    return c->defer.flex_billed ? "flex" : c->defer.batch_billed ? "batch" : "realtime";
}

/* Set before the workers start, read-only after: no lock. */
static struct fg_defer_collector g_collector;

void fg_defer_set_collector(const struct fg_defer_collector *col)
{
    if (col)
        g_collector = *col;
    else
        memset(&g_collector, 0, sizeof g_collector);
}

/* Would c go to a provider batch line (its stream aside: see
 * fg_defer_unstream)? */
static bool batch_way(const struct fg_call *c)
{
    const struct fg_provider_cfg *p = c->serve.provider;
    /* a provider's batch API, or a local batch (no discount: real time) */
    bool batch_api = p && !(p->batch && !strcmp(p->batch, "local"));
    int64_t left = now_left_ms(c);
    return g_collector.queue && c->defer.deadline_ns && !c->batch.line && !c->batch.plan &&
           left > 0 &&
           /* a Responses call to a provider without the Responses API
            * goes as its translated Chat (or Messages) body */
           (c->endpoint == FG_EP_CHAT || c->endpoint == FG_EP_MESSAGES ||
            c->endpoint == FG_EP_RESPONSES) &&
           fg_defer_decide(fg_flex_capable(c->serve.model), batch_api, left,
                           (int64_t)c->snap->cfg->deferral.min_deadline_s * 1000) == FG_DEFER_BATCH;
}

static bool batch_wanted(const struct fg_call *c)
{
    return !c->stream && batch_way(c);
}

void fg_defer_unstream(struct fg_call *c)
{
    /* the dialects whose whole answer replays as their stream: the
     * response cache's replay (chat, Messages), and relay.c's own replay
     * of a Response (replay_rs.h) */
    bool replays = c->in->req.stream_buffering || c->in->shape == FG_DIALECT_RESPONSES;
    if (c->defer.unstreamed || !c->stream || !replays || !batch_way(c))
        return;
    const struct fg_json *j = &c->body;
    int so = fg_json_get(j, 0, "stream_options");
    c->include_usage = fg_json_type(j, fg_json_get(j, so, "include_usage")) == FG_J_TRUE;
    c->defer.unstreamed = c->so.client_stream = true;
    c->stream = false;
}

/* Let go of the line; the collector ignores its result from now on. */
static void drop_line(struct fg_call *c)
{
    if (c->defer.deadline_ev) {
        event_free(c->defer.deadline_ev);
        c->defer.deadline_ev = NULL;
    }
    if (c->defer.line)
        g_collector.drop(c->defer.line);
    c->defer.line = NULL;
}

/* Real time now: the deadline came, or the batch gave no answer. */
static void go_realtime(struct fg_call *c)
{
    drop_line(c);
    if (fg_relay_start(c) < 0) {
        c->status = c->err.status;
        fg_client_send_error(c, true);
        c->state = FG_CALL_DONE;
        fg_call_finish(c);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fg_call *c = arg;
    fg_info("%s deferred: deadline before the batch line; real time", c->id);
    go_realtime(c);
}

bool fg_defer_hold(struct fg_call *c)
{
    if (!batch_wanted(c))
        return false;
    c->defer.deadline_ev = evtimer_new(c->w->base, on_deadline, c);
    if (!c->defer.deadline_ev)
        return false;
    void *line = g_collector.queue(c);
    if (!line) {
        event_free(c->defer.deadline_ev);
        c->defer.deadline_ev = NULL;
        return false;
    }
    c->defer.line = line;
    int64_t left = now_left_ms(c);
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    evtimer_add(c->defer.deadline_ev, &tv);
    c->state = FG_CALL_UPSTREAM; /* waiting for an answer, like a transfer */
    return true;
}

void fg_defer_line_done(struct fg_call *c, const char *body, size_t len)
{
    FG_ASSERT(c->defer.line);
    c->defer.line = NULL; /* the collector is done with it */
    if (!body) {
        go_realtime(c);
        return;
    }
    drop_line(c);
    c->defer.batch_billed = true;
    fg_relay_answer_line(c, body, len);
}

void fg_defer_end(struct fg_call *c)
{
    drop_line(c);
}
