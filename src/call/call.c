/* call.c — creation and end of a struct fg_call (see call.h). */
#include "affinity.h"
#include "snap.h"
#include "share.h"
#include "respcache.h"
#include "clock.h"
#include "assert.h"
#include "defer.h"
#include "admit.h"
#include "meter.h"
#include "provider.h"
#include "relay.h"
#include "structured.h"
#include "translate.h"
#include "runtime.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Random per process: replicas writing to one ledger (a Postgres `calls`
 * table whose key is (id, ts_ms), store_pg.c) must not mint the same id
 * for two calls started in the same nanosecond on the same worker index. */
static uint64_t g_id_salt;
static pthread_once_t g_id_once = PTHREAD_ONCE_INIT;

static void id_salt_init(void)
{
    if (getrandom(&g_id_salt, sizeof g_id_salt, 0) != (ssize_t)sizeof g_id_salt)
        g_id_salt = fg_clock_now_ns() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
}

static void make_id(struct fg_worker *w, char *out)
{
    /* Unique per process (worker index, counter, monotonic clock, mixed),
     * across processes (the salt), and ordered by time: unix milliseconds
     * come first, so the ledger's primary-key index grows at its right edge
     * (an id starting with the mix put every row on a random index page:
     * about one 4 KB page written to the WAL per call, README Performance).
     * No printf on the hot path. */
    static const char hex[] = "0123456789abcdef";
    pthread_once(&g_id_once, id_salt_init);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uint64_t x = fg_clock_now_ns() ^ ((uint64_t)w->index << 56) ^
                 (++w->next_id * 0x9e3779b97f4a7c15ULL) ^ g_id_salt;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    char *o = out;
    memcpy(o, "frg_", 4);
    o += 4;
    for (int i = 0; i < 11; i++) /* 44 bits of milliseconds: until the year 2527 */
        *o++ = hex[(ms >> (40 - 4 * i)) & 15];
    for (int i = 0; i < 16; i++)
        *o++ = hex[(x >> (60 - 4 * i)) & 15];
    for (int i = 0; i < 4; i++)
        *o++ = hex[(w->next_id >> (12 - 4 * i)) & 15];
    *o = '\0';
    FG_DASSERT(o - out == FG_CALL_ID_LEN);
}

/* A batch line's records have ids derived from the line and the attempt, so
 * a line run again after a crash replaces its records instead of adding. */
static void line_id(struct fg_call *c)
{
    c->client.ops->record_id(c->client.ctx, c->batch.attempt, c->id);
}

void fg_call_set_batch_line(struct fg_call *c, const char *line, bool plan)
{
    /* the line's owner names its records and takes them (client.h) */
    FG_ASSERT(c->client.ops && c->client.ops->record_id && c->client.ops->record &&
              (!plan || c->client.ops->plan));
    c->batch.line = fg_arena_strdup(&c->arena, line);
    const char *slash = strrchr(c->batch.line, '/');
    c->batch.id = fg_arena_strndup(&c->arena, c->batch.line,
                                   slash ? (size_t)(slash - c->batch.line) : strlen(line));
    c->batch.plan = plan;
    line_id(c);
}

void fg_call_use_snap(struct fg_call *c, struct fg_snap *s)
{
    FG_ASSERT(!c->serve.model); /* before anything was read from the old one */
    struct fg_snap *old = c->snap;
    c->snap = fg_snap_hold(s);
    fg_snap_release(old);
}

struct fg_call *fg_call_new(struct fg_worker *w)
{
    struct fg_arena a;
    fg_arena_init(&a);
    struct fg_call *c = fg_arena_alloc(&a, sizeof *c);
    memset(c, 0, sizeof *c);
    c->arena = a;
    c->w = w;
    /* the config it runs on to its end, whatever a reload does meanwhile */
    c->snap = w->app ? fg_snap_hold(fg_snap_worker(w)) : NULL;
    c->t_start_ns = fg_clock_now_ns();
    struct timeval now;
    gettimeofday(&now, NULL);
    c->meter.acct.ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
    make_id(w, c->id);
    c->next = w->calls;
    if (w->calls)
        w->calls->prev = c;
    w->calls = c;
    w->inflight++;
    return c;
}

void fg_call_finish(struct fg_call *c)
{
    struct fg_worker *w = c->w;
    if (c->in) {
        if (!c->status)
            c->status = 499; /* the client left before any answer */
        if (w->app && w->app->call_done && !c->batch.plan)
            w->app->call_done(c);
        if (!c->batch.plan)
            fg_meter_submit(c, true);
    }
    fg_admit_release(c);
    fg_share_tell(c); /* the cache's value, the affinity: sent, not waited for */
    fg_share_release(c);
    fg_respcache_release(c->cache.old);
    c->cache.old = NULL;
    if (c->meter.hours.on) /* (every record prices its share: none is left) */
        fg_selfhost_end(c->meter.hours_of, &c->meter.hours, 0, fg_clock_wall_us());
    fg_defer_end(c); /* a held call lets go of its batch line */
    if (c->up.idle_ev)
        event_free(c->up.idle_ev);
    if (c->fo.retry_ev)
        event_free(c->fo.retry_ev);
    if (c->up.xfer.easy)
        fg_upstream_cancel(w->up, &c->up.xfer);
    fg_affinity_end(&c->serve.inflight);
    curl_slist_free_all(c->up.headers);
    if (c->up.body)
        evbuffer_free(c->up.body);
    if (c->up.relay)
        evbuffer_free(c->up.relay);
    if (c->cache.sse)
        evbuffer_free(c->cache.sse);
    fg_sse_free(&c->up.sse);
    fg_translate_stream_free(c->enc.tr);
    fg_structured_release(c);
    fg_json_free(&c->body);
    /* the client may own c->raw (and may hand the result on): once the
     * records are submitted, the transfer is cancelled, the body is done with */
    if (c->client.ops)
        c->client.ops->release(c->client.ctx);
    c->client.ops = NULL;
    fg_json_free(&c->up.resp);
    free(c->enc.body);
    /* the worker's list of calls in flight holds c exactly once */
    FG_ASSERT(c->prev ? c->prev->next == c : w->calls == c);
    FG_ASSERT(!c->next || c->next->prev == c);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    struct fg_snap *snap = c->snap;
    struct fg_arena a = c->arena; /* c lives in its own arena */
    fg_arena_free(&a);
    fg_snap_release(snap);      /* last: the call's records and shares are out */
    FG_ASSERT(w->inflight > 0); /* each call ends once */
    w->inflight--;
    if (w->on_call_ended)
        w->on_call_ended(w);
}

/* The client went away.  When that is noticed inside a curl callback the
 * transfer is aborted by that callback (it sees the client gone) and the
 * call ends in its done handler. */
void fg_call_client_gone(struct fg_call *c)
{
    c->client_gone = true;
    c->client.gone = true;
    if (c->up.in_curl_cb)
        return;
    fg_call_finish(c);
}

void fg_call_next_attempt(struct fg_call *c)
{
    fg_meter_submit(c, false);
    c->up.xfer.total_us = 0; /* the next attempt's record times its own transfers */
    c->response_id = NULL;   /* that attempt's Response is in its record */
    c->rs.upstream = c->rs.data = NULL;
    fg_admit_next_attempt(c); /* the next attempt holds its worst case again */
    c->meter.acct.linked_id = fg_arena_strdup(&c->arena, c->id);
    c->batch.attempt++;
    if (c->batch.line)
        line_id(c);
    else
        make_id(c->w, c->id);
    /* money and usage start over; the request facts (time, prefix) stay */
    int64_t keep_rep = c->meter.acct.repeated_tokens, keep_ts = c->meter.acct.ts_ms;
    int64_t keep_ptok = c->meter.acct.prefix_tokens;
    char fp[17];
    memcpy(fp, c->meter.acct.prefix_fp, sizeof fp);
    const char *linked = c->meter.acct.linked_id;
    memset(&c->meter.acct, 0, sizeof c->meter.acct);
    c->meter.acct.repeated_tokens = keep_rep;
    c->meter.acct.ts_ms = keep_ts;
    c->meter.acct.prefix_tokens = keep_ptok;
    memcpy(c->meter.acct.prefix_fp, fp, sizeof fp);
    c->meter.acct.linked_id = linked;
    memset(&c->meter.usage, 0, sizeof c->meter.usage);
    c->meter.priced = false;
    c->meter.checked = c->meter.estimated = c->meter.upstream_cut = false;
    c->meter.note = NULL;
    c->meter.filtered = NULL;
    c->defer.flex_billed = c->defer.tier_seen = false; /* the new attempt's tier is its own */
    c->defer.batch_billed = false;
    c->meter.data_events = c->meter.answer_tokens_est = 0;
    c->meter.hours_of = NULL; /* (its share is in that record) */
    c->status = 0;
    c->so.text_len = 0;
    c->up.status = 0;
    c->up.headers_done = false;
    if (c->up.body)
        evbuffer_free(c->up.body);
    c->up.body = NULL;
    curl_slist_free_all(c->up.headers);
    c->up.headers = NULL;
    fg_sse_free(&c->up.sse);
    fg_err_clear(&c->err);
}

void fg_call_edit(struct fg_call *c, uint32_t start, uint32_t end, const char *text)
{
    /* a programming error: stages add a handful at most */
    FG_ASSERT(c->enc.n_edits < sizeof c->enc.edits / sizeof c->enc.edits[0]);
    FG_ASSERT(start <= end && end <= c->body.len);
    struct fg_json_edit *e = &c->enc.edits[c->enc.n_edits++];
    e->start = start;
    e->end = end;
    e->text = text;
    e->text_len = strlen(text);
}

void fg_call_edit_model(struct fg_call *c)
{
    int m = fg_json_get(&c->body, 0, "model");
    FG_ASSERT(m >= 0); /* resolve found the model by this member */
    json_t *js = json_string(c->serve.wire_model);
    char *q = json_dumps(js, JSON_ENCODE_ANY); /* escaped as JSON wants */
    json_decref(js);
    fg_call_edit(c, c->body.t[m].start, c->body.t[m].end, fg_arena_strdup(&c->arena, q));
    free(q);
}

void fg_call_abort_all(struct fg_worker *w)
{
    while (w->calls)
        fg_call_finish(w->calls);
}

void fg_call_use_model(struct fg_call *c, const struct fg_model_cfg *m)
{
    FG_ASSERT(m && m->provider_index >= 0);
    c->serve.model = m;
    c->serve.deployment = 0;
    c->serve.provider_index = m->provider_index;
    c->serve.provider = &c->snap->cfg->providers[m->provider_index];
    c->serve.upstream_model = m->model;
    c->serve.wire_model = m->deployment ? m->deployment : m->model;
    c->out = fg_provider_for(c->in, m->dialect, c->serve.provider->responses);
}

void fg_call_use_deployment(struct fg_call *c, int k)
{
    const struct fg_model_cfg *m = c->serve.model;
    FG_ASSERT(m && k >= 0 && (size_t)k <= m->n_deployments);
    if (k == 0) {
        fg_call_use_model(c, m);
        return;
    }
    const struct fg_deployment *d = &m->deployments[k - 1];
    c->serve.deployment = k;
    c->serve.provider_index = d->provider_index;
    c->serve.provider = &c->snap->cfg->providers[d->provider_index];
    c->serve.upstream_model = d->model;
    c->serve.wire_model = d->deployment ? d->deployment : d->model;
    /* deployments may differ in whether they serve the Responses API */
    c->out = fg_provider_for(c->in, m->dialect, c->serve.provider->responses);
}

void fg_call_use_provider(struct fg_call *c, int p)
{
    FG_ASSERT(p >= 0 && (size_t)p < c->snap->cfg->n_providers);
    c->serve.provider_index = p;
    c->serve.provider = &c->snap->cfg->providers[p];
}
