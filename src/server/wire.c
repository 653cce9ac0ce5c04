/* wire.c — see wire.h. */
#include "wire.h"

#include "api.h"
#include "clock.h"
#include "gate.h"
#include "log.h"
#include "provider.h"
#include "reply.h"
#include "server.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A request's booking (its arena). */
struct booking {
    struct fg_worker *w;
    uint64_t booked;
    const struct fg_dialect_ops *d;
};

static void warn_limited(struct fg_worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn_limited(struct fg_worker *w, const char *fmt, ...)
{
    uint64_t now = fg_clock_now_ns();
    if (w->last_warn_ns && now - w->last_warn_ns < (uint64_t)FG_WIRE_WARN_EVERY_MS * 1000000) {
        w->quiet++;
        return;
    }
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->quiet)
        fg_warn("%s (%llu more limit messages held back since the last)", msg,
                (unsigned long long)w->quiet);
    else
        fg_warn("%s", msg);
    w->last_warn_ns = now;
    w->quiet = 0;
}

static enum fg_err_class class_of(int status)
{
    switch (status) {
    case 401: return FG_E_AUTH;
    case 403: return FG_E_PERMISSION;
    case 404: return FG_E_NOT_FOUND;
    case 405: return FG_E_METHOD;
    case 413:
    case 431: return FG_E_TOO_LARGE;
    case 429: return FG_E_RATE_LIMIT;
    case 503: return FG_E_UNAVAILABLE;
    default: return FG_E_INVALID;
    }
}

static void answer(struct fg_edge_req *r, const struct fg_dialect_ops *d, int status,
                   const char *code, const char *msg)
{
    struct fg_err e;
    fg_err_set(&e, class_of(status), NULL, code, "%s", msg);
    e.status = status;
    fg_reply_error(r, d, &e);
}

static void on_end(struct fg_edge_req *r, void *arg)
{
    struct booking *b = arg;
    if (b->booked)
        fg_gate_release(b->booked);
    size_t n = evbuffer_get_length(fg_edge_req_body(r));
    if (n >= FG_GATE_SMALL_BODY)
        fg_gate_trim(n);
}

/* Book n more body bytes; false after answering 503. */
static bool book(struct fg_edge_req *r, struct booking *b, uint64_t n)
{
    const struct fg_server_cfg *s = &b->w->app->cfg->server;
    if (fg_gate_reserve(n, s->max_body_bytes_in_flight)) {
        b->booked += n;
        return true;
    }
    warn_limited(b->w,
                 "client %s: request body refused: %llu bytes of request bodies in "
                 "flight, %llu more would pass server.max_body_bytes_in_flight (%zu)",
                 fg_edge_req_peer(r), (unsigned long long)fg_gate_in_flight(),
                 (unsigned long long)n, s->max_body_bytes_in_flight);
    char msg[300];
    snprintf(msg, sizeof msg,
             "frugal is receiving as many request bodies as it takes at "
             "once (server.max_body_bytes_in_flight = %zu bytes); retry shortly.",
             s->max_body_bytes_in_flight);
    answer(r, b->d, 503, "server_busy", msg);
    return false;
}

/* A chunked body: booked as it arrives, kept in the request's body. */
static void chunked_sink(struct fg_edge_req *r, const char *p, size_t n, void *arg)
{
    if (book(r, arg, n))
        evbuffer_add(fg_edge_req_body(r), p, n);
}

static int on_head(struct fg_edge_req *r, void *arg)
{
    struct fg_worker *w = arg;
    const struct fg_reqhead *h = fg_edge_req_head(r);
    struct fg_gate_verdict v;
    if (fg_edge_req_method(r) == FG_EDGE_OTHER) {
        char msg[160];
        snprintf(msg, sizeof msg, "Method not allowed: %.*s is not a method of this gateway.",
                 (int)(h->method.n > 40 ? 40 : h->method.n), h->method.p);
        fg_edge_resp_header(r, "Allow", "GET, HEAD, POST, DELETE");
        answer(r, fg_gate_dialect(h), 405, "method_not_allowed", msg);
        return 1;
    }
    fg_gate_check(w->app->cfg, h, &v);
    if (v.status) {
        answer(r, v.d, v.status, v.code, v.msg);
        return 1;
    }
    fg_edge_req_set_body_cap(r, v.body_cap);
    int taken = fg_api_head(r, w); /* e.g. an upload streamed to the batch store */
    if (taken)
        return taken == 1;
    struct booking *b = fg_arena_alloc(fg_edge_req_arena(r), sizeof *b);
    *b = (struct booking){.w = w, .d = v.d};
    fg_edge_req_on_end(r, on_end, b);
    if (h->chunked)
        fg_edge_req_set_sink(r, chunked_sink, b);
    else if (h->has_length && h->length && !book(r, b, h->length))
        return 1;
    return 0;
}

static void on_request(struct fg_edge_req *r, void *arg)
{
    fg_api_handle(r, arg);
}

static const char *error_body(struct fg_edge_req *r, int status, const char *code, const char *msg,
                              struct evbuffer *body, void *arg)
{
    struct fg_worker *w = arg;
    const struct fg_server_cfg *s = &w->app->cfg->server;
    bool head = fg_edge_req_head_done(r);
    const struct fg_dialect_ops *d = head ? fg_gate_dialect(fg_edge_req_head(r))
                                     : fg_edge_req_header_partial(r, "anthropic-version").p
                                         ? &fg_provider_anthropic
                                         : &fg_provider_openai;
    char m[400];
    if (status == 429 && head)
        snprintf(m, sizeof m,
                 "Too many connections from your address "
                 "(server.max_connections_per_ip = %d); reuse or close connections.",
                 s->max_connections_per_ip);
    else if (status == 503 && !strcmp(code, "too_many_connections"))
        snprintf(m, sizeof m,
                 head ? "frugal is at its connection limit (server.max_connections = %d); "
                        "retry shortly."
                      : "frugal is at its connection limit (server.max_connections = %d) "
                        "and closed this unused connection; retry on a new one.",
                 s->max_connections);
    else if (status == 431)
        snprintf(m, sizeof m,
                 "Request headers are over the gateway's limit of %zu bytes "
                 "(server.max_header_bytes) or %d fields (server.max_header_fields).",
                 s->max_header_bytes, s->max_header_fields);
    else if (status == 400)
        snprintf(m, sizeof m, "Malformed HTTP request: %s; the connection is closed.", msg);
    else if (status == 408)
        snprintf(m, sizeof m,
                 "The request did not arrive within its deadline (server.header_timeout_ms "
                 "= %d for the headers, server.body_timeout_ms = %d for the body).",
                 s->header_timeout_ms, s->body_timeout_ms);
    else if (status == 413)
        snprintf(m, sizeof m, "Request body is over the gateway's limit for this path (%s).",
                 "server.max_body_bytes, or batches.max_file_bytes for uploads");
    else
        snprintf(m, sizeof m, "%s.", msg);
    struct fg_err e;
    fg_err_set(&e, class_of(status), NULL, code, "%s", m);
    e.status = status;
    d->error_body(&e, body);
    return "application/json";
}

static void on_note(const struct fg_edge_note *n, void *arg)
{
    struct fg_worker *w = arg;
    const struct fg_server_cfg *s = &w->app->cfg->server;
    switch (n->kind) {
    case FG_EDGE_NOTE_REFUSED:
        if (n->status == 429)
            warn_limited(w,
                         "connection from %s refused: %d open connections from this address, "
                         "over server.max_connections_per_ip (%d)",
                         n->peer, s->max_connections_per_ip + 1, s->max_connections_per_ip);
        else
            warn_limited(w,
                         "connection from %s refused: %d open connections, over "
                         "server.max_connections (%d)",
                         n->peer, s->max_connections + 1, s->max_connections);
        break;
    case FG_EDGE_NOTE_SHED:
        warn_limited(w,
                     "at server.max_connections (%d): closed an unused connection from %s "
                     "(open %llu ms, %s) to admit %s",
                     s->max_connections, n->peer, (unsigned long long)n->open_ms,
                     n->sent_any ? "idle between requests" : "nothing sent", n->by);
        break;
    case FG_EDGE_NOTE_TIMEOUT: {
        int ms = n->body                                    ? s->body_timeout_ms
                 : n->busy && s->header_timeout_busy_ms > 0 ? s->header_timeout_busy_ms
                                                            : s->header_timeout_ms;
        const char *key = n->body                                    ? "body_timeout_ms"
                          : n->busy && s->header_timeout_busy_ms > 0 ? "header_timeout_busy_ms"
                                                                     : "header_timeout_ms";
        warn_limited(w, "client %s: request %s not received within %d ms (server.%s); closed",
                     n->peer, n->body ? "body" : "headers", ms, key);
        break;
    }
    }
}

struct fg_edge_hooks fg_wire_hooks(struct fg_worker *w)
{
    return (struct fg_edge_hooks){
        .head = on_head,
        .request = on_request,
        .error_body = error_body,
        .note = on_note,
        .arg = w,
    };
}
