/* fuzz_sse.h — the body of the two SSE fuzz targets (one per upstream
 * dialect, and two more to a Responses client): sse.c's parser fed the
 * input in random chunkings, each event classified by the dialect adapter
 * and translated to the other dialect (or to Responses events) by
 * translate_stream.c / translate_stream_rs.c.
 *
 * Invariants: the events and their bytes do not depend on how the stream
 * was chunked; the raw bytes of all events plus what is pending add up to
 * the input; every frame the translator writes is "event:"/"data:" SSE
 * whose data is valid JSON (or OpenAI's [DONE]); nothing is written after
 * the translated stream closed; Responses events carry sequence_numbers
 * 0, 1, 2, ... and end with exactly one terminal event; usage read from the events (usage.c, as
 * meter.c reads it) only ever holds counts in [0, FG_USAGE_MAX], whatever
 * the provider put there, and the same whatever the chunking. */
#ifndef FRUGAL_FUZZ_SSE_H
#define FRUGAL_FUZZ_SSE_H

#include "fuzz.h"
#include "provider.h"
#include "sse.h"
#include "translate.h"
#include "usage.h"

#include <event2/buffer.h>

struct sse_run {
    enum fg_dialect from, to;
    int64_t seq;    /* Responses: the next sequence_number expected */
    bool rs_closed; /* Responses: a terminal event was written */
    struct fg_json scratch;
    struct fg_translate_stream *tr;
    struct evbuffer *out;
    struct evbuffer *raw; /* raw bytes of every event, in order */
    size_t events;
    bool ended;
    struct fg_usage usage; /* merged over the events, as meter.c does */
};

/* meter.c's reading of usage from one event: every stored count in range. */
static inline void read_usage(struct sse_run *s, const struct fg_sse_event *ev)
{
    struct fg_json j = {0};
    if (ev->data_len && fg_json_parse(&j, ev->data, ev->data_len) == 0) {
        if (s->from == FG_DIALECT_OPENAI) {
            /* wherever the provider's flavour keeps it (usage_flavour.h) */
            fg_usage_openai(&j, fg_usage_openai_at(&j, 0), &s->usage);
        } else {
            int m = fg_json_get(&j, 0, "message");
            fg_usage_anthropic(
                &j, m >= 0 ? fg_json_get(&j, m, "usage") : fg_json_get(&j, 0, "usage"), &s->usage);
        }
    }
    fg_json_free(&j);
    const struct fg_tokens *t = &s->usage.tok;
    const int64_t v[] = {t->input,          t->cache_read, t->cache_write_5m,
                         t->cache_write_1h, t->output,     s->usage.reasoning};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        FUZZ_CHECK(v[i] >= 0 && v[i] <= FG_USAGE_MAX, "usage count %zu out of range: %lld", i,
                   (long long)v[i]);
    char why[200];
    fg_usage_problem(&s->usage, 1000, 1000, why, sizeof why);
}

/* A Responses event: named, its sequence_number the next one, nothing
 * after response.completed / .incomplete / .failed. */
static inline void check_rs_frame(struct sse_run *s, const struct fg_sse_event *ev)
{
    struct fg_json j = {0};
    int64_t seq = -1;
    FUZZ_CHECK(ev->event_len > 0, "a Responses event without a name");
    FUZZ_CHECK(!s->rs_closed, "a Responses event after the terminal one");
    FUZZ_CHECK(fg_json_parse(&j, ev->data, ev->data_len) == 0 &&
                   fg_json_int(&j, fg_json_get(&j, 0, "sequence_number"), &seq) && seq == s->seq,
               "sequence_number %lld, expected %lld", (long long)seq, (long long)s->seq);
    int t = fg_json_get(&j, 0, "type");
    FUZZ_CHECK(fg_json_type(&j, t) == FG_J_STR, "a Responses event without a type");
    s->rs_closed = fg_json_str_eq(&j, t, "response.completed") ||
                   fg_json_str_eq(&j, t, "response.incomplete") ||
                   fg_json_str_eq(&j, t, "response.failed");
    s->seq++;
    fg_json_free(&j);
}

/* Every frame the translator produced is SSE with JSON data. */
static inline int check_frame(void *arg, const struct fg_sse_event *ev)
{
    struct sse_run *s = arg;
    if (ev->data_len == 6 && !memcmp(ev->data, "[DONE]", 6))
        return 0;
    FUZZ_CHECK(fuzz_json_ok(ev->data, ev->data_len), "translated frame is not JSON: %.*s",
               (int)(ev->data_len > 200 ? 200 : ev->data_len), ev->data);
    if (s->to == FG_DIALECT_RESPONSES)
        check_rs_frame(s, ev);
    return 0;
}

static inline void drain_frames(struct sse_run *s)
{
    size_t n = evbuffer_get_length(s->out);
    if (!n)
        return;
    struct fg_sse p;
    fg_sse_init(&p, 0);
    FUZZ_CHECK(fg_sse_feed(&p, (const char *)evbuffer_pullup(s->out, -1), n, check_frame, s) == 0,
               "frames");
    FUZZ_CHECK(fg_sse_pending(&p) == 0, "a translated frame is incomplete");
    fg_sse_free(&p);
    evbuffer_drain(s->out, n);
}

static inline int on_event(void *arg, const struct fg_sse_event *ev)
{
    struct sse_run *s = arg;
    s->events++;
    evbuffer_add(s->raw, ev->raw, ev->raw_len);
    read_usage(s, ev);
    enum fg_sse_kind k = fg_provider_ops(s->from)->classify(ev, &s->scratch);
    if (s->ended)
        return 0;
    bool closed = fg_translate_stream_closed(s->tr);
    if (k == FG_SSE_END) {
        fg_translate_stream_end(s->tr, true, s->out);
        s->ended = true;
    } else if (fg_translate_stream_event(s->tr, ev, s->out) < 0) {
        struct fg_err e;
        fg_err_set(&e, FG_E_UPSTREAM, NULL, NULL, "malformed event");
        fg_translate_stream_fail(s->tr, &e, s->out);
    }
    if (closed)
        FUZZ_CHECK(evbuffer_get_length(s->out) == 0, "output after the stream closed");
    drain_frames(s);
    return 0;
}

static inline void run_sse(enum fg_dialect from, enum fg_dialect to, const uint8_t *data,
                           size_t size, bool chunked, struct fuzz_rng *r, struct sse_run *s,
                           bool include_usage, bool forced)
{
    memset(s, 0, sizeof *s);
    s->from = from;
    s->to = to;
    s->tr = fg_translate_stream_new(from, to, "client-model", include_usage);
    if (forced && from == FG_DIALECT_ANTHROPIC)
        fg_translate_stream_forced_tool(s->tr, "json_answer");
    s->out = evbuffer_new();
    s->raw = evbuffer_new();
    struct fg_sse p;
    fg_sse_init(&p, 0);
    size_t off = 0;
    while (off < size) {
        size_t n = chunked ? 1 + fuzz_next(r) % 64 : size - off;
        if (n > size - off)
            n = size - off;
        FUZZ_CHECK(fg_sse_feed(&p, (const char *)data + off, n, on_event, s) == 0, "feed");
        off += n;
    }
    FUZZ_CHECK(evbuffer_get_length(s->raw) + fg_sse_pending(&p) == size,
               "event bytes %zu + pending %zu != input %zu", evbuffer_get_length(s->raw),
               fg_sse_pending(&p), size);
    if (!s->ended)
        fg_translate_stream_end(s->tr, false, s->out); /* a cut stream */
    drain_frames(s);
    FUZZ_CHECK(fg_translate_stream_closed(s->tr), "the translated stream did not close");
    FUZZ_CHECK(to != FG_DIALECT_RESPONSES || s->rs_closed, "no terminal Responses event");
    fg_sse_free(&p);
    fg_translate_stream_free(s->tr);
    fg_json_free(&s->scratch);
    evbuffer_free(s->out);
}

/* to: the client's body shape (the other wire dialect, or Responses). */
static inline int fuzz_sse_one(enum fg_dialect from, enum fg_dialect to, const uint8_t *data,
                               size_t size)
{
    struct fuzz_rng r = fuzz_seed(&data, &size, 2);
    uint32_t opts = fuzz_next(&r);
    struct sse_run whole, chunks;
    run_sse(from, to, data, size, false, &r, &whole, opts & 1, opts & 2);
    run_sse(from, to, data, size, true, &r, &chunks, opts & 1, opts & 2);
    size_t a = evbuffer_get_length(whole.raw), b = evbuffer_get_length(chunks.raw);
    FUZZ_CHECK(!memcmp(&whole.usage.tok, &chunks.usage.tok, sizeof whole.usage.tok) &&
                   whole.usage.bad == chunks.usage.bad,
               "chunking changed the usage read");
    FUZZ_CHECK(
        whole.events == chunks.events && a == b &&
            (!a || !memcmp(evbuffer_pullup(whole.raw, -1), evbuffer_pullup(chunks.raw, -1), a)),
        "chunking changed the events (%zu vs %zu)", whole.events, chunks.events);
    evbuffer_free(whole.raw);
    evbuffer_free(chunks.raw);
    return 0;
}

#endif
