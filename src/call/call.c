/* call.c — creation and end of a struct fg_call (see call.h). */
#include "affinity.h"
#include "assert.h"
#include "admit.h"
#include "meter.h"
#include "relay.h"
#include "structured.h"
#include "translate.h"
#include "runtime.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static void make_id(struct fg_worker *w, char *out)
{
    /* unique per process: worker index, counter, start time; no printf on
     * the hot path */
    static const char hex[] = "0123456789abcdef";
    uint64_t x =
        fg_clock_now_ns() ^ ((uint64_t)w->index << 56) ^ (++w->next_id * 0x9e3779b97f4a7c15ULL);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    memcpy(out, "frg_", 4);
    for (int i = 0; i < 16; i++)
        out[4 + i] = hex[(x >> (60 - 4 * i)) & 15];
    for (int i = 0; i < 4; i++)
        out[20 + i] = hex[(w->next_id >> (12 - 4 * i)) & 15];
    out[24] = '\0';
}

/* A batch line's records have ids derived from the line and the attempt, so
 * a line run again after a crash replaces its records instead of adding. */
static void line_id(struct fg_call *c)
{
    c->client.ops->record_id(c->client.ctx, c->batch_attempt, c->id);
}

void fg_call_set_batch_line(struct fg_call *c, const char *line, bool plan)
{
    /* the line's owner names its records and takes them (client.h) */
    FG_ASSERT(c->client.ops && c->client.ops->record_id && c->client.ops->record &&
              (!plan || c->client.ops->plan));
    c->batch_line = fg_arena_strdup(&c->arena, line);
    const char *slash = strrchr(c->batch_line, '/');
    c->batch_id = fg_arena_strndup(&c->arena, c->batch_line,
                                   slash ? (size_t)(slash - c->batch_line) : strlen(line));
    c->batch_plan = plan;
    line_id(c);
}

struct fg_call *fg_call_new(struct fg_worker *w)
{
    struct fg_arena a;
    fg_arena_init(&a);
    struct fg_call *c = fg_arena_alloc(&a, sizeof *c);
    memset(c, 0, sizeof *c);
    c->arena = a;
    c->w = w;
    c->t_start_ns = fg_clock_now_ns();
    struct timeval now;
    gettimeofday(&now, NULL);
    c->acct.ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
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
        if (!c->batch_plan)
            fg_meter_submit(c, true);
    }
    fg_admit_release(c);
    if (c->idle_ev)
        event_free(c->idle_ev);
    if (c->retry_ev)
        event_free(c->retry_ev);
    if (c->xfer.easy)
        fg_upstream_cancel(w->up, &c->xfer);
    fg_affinity_end(&c->inflight);
    curl_slist_free_all(c->up_headers);
    if (c->up_body)
        evbuffer_free(c->up_body);
    if (c->relay)
        evbuffer_free(c->relay);
    if (c->cache_sse)
        evbuffer_free(c->cache_sse);
    fg_sse_free(&c->sse);
    fg_translate_stream_free(c->tr);
    fg_structured_release(c);
    fg_json_free(&c->body);
    /* the client may own c->raw (and may hand the result on): once the
     * records are submitted, the transfer is cancelled, the body is done with */
    if (c->client.ops)
        c->client.ops->release(c->client.ctx);
    c->client.ops = NULL;
    fg_json_free(&c->resp);
    free(c->upstream_body);
    /* the worker's list of calls in flight holds c exactly once */
    FG_ASSERT(c->prev ? c->prev->next == c : w->calls == c);
    FG_ASSERT(!c->next || c->next->prev == c);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    struct fg_arena a = c->arena; /* c lives in its own arena */
    fg_arena_free(&a);
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
    if (c->in_curl_cb)
        return;
    fg_call_finish(c);
}

void fg_call_next_attempt(struct fg_call *c)
{
    fg_meter_submit(c, false);
    c->response_id = NULL;    /* that attempt's Response is in its record */
    fg_admit_next_attempt(c); /* the next attempt holds its worst case again */
    c->acct.linked_id = fg_arena_strdup(&c->arena, c->id);
    c->batch_attempt++;
    if (c->batch_line)
        line_id(c);
    else
        make_id(c->w, c->id);
    /* money and usage start over; the request facts (time, prefix) stay */
    int64_t keep_rep = c->acct.repeated_tokens, keep_ts = c->acct.ts_ms;
    int64_t keep_ptok = c->acct.prefix_tokens;
    char fp[17];
    memcpy(fp, c->acct.prefix_fp, sizeof fp);
    const char *linked = c->acct.linked_id;
    memset(&c->acct, 0, sizeof c->acct);
    c->acct.repeated_tokens = keep_rep;
    c->acct.ts_ms = keep_ts;
    c->acct.prefix_tokens = keep_ptok;
    memcpy(c->acct.prefix_fp, fp, sizeof fp);
    c->acct.linked_id = linked;
    memset(&c->usage, 0, sizeof c->usage);
    c->priced_done = false;
    c->usage_checked = c->usage_estimated = c->upstream_cut = false;
    c->usage_note = NULL;
    c->data_events = c->answer_tokens_est = 0;
    c->status = 0;
    c->out_len = 0;
    c->up_status = 0;
    c->up_headers_done = false;
    if (c->up_body)
        evbuffer_free(c->up_body);
    c->up_body = NULL;
    curl_slist_free_all(c->up_headers);
    c->up_headers = NULL;
    fg_sse_free(&c->sse);
    fg_err_clear(&c->err);
}

void fg_call_edit(struct fg_call *c, uint32_t start, uint32_t end, const char *text)
{
    /* a programming error: stages add a handful at most */
    FG_ASSERT(c->n_edits < sizeof c->edits / sizeof c->edits[0]);
    FG_ASSERT(start <= end && end <= c->body.len);
    struct fg_json_edit *e = &c->edits[c->n_edits++];
    e->start = start;
    e->end = end;
    e->text = text;
    e->text_len = strlen(text);
}

void fg_call_edit_model(struct fg_call *c)
{
    int m = fg_json_get(&c->body, 0, "model");
    FG_ASSERT(m >= 0); /* resolve found the model by this member */
    json_t *js = json_string(c->upstream_model);
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
