/* sim.c — transport of the simulated provider (contract in sim.h).
 *
 * One evhttp server on one event loop: on its own pthread (fg_sim_start) or
 * in the foreground (fg_sim_main).  A POST is parsed once, its fault
 * directives read (x-sim-fault header, then #sim: in the last user
 * message), and the dialect file turns it into a struct sim_reply: a body,
 * or a list of pre-framed SSE events.  This file then plays the reply out,
 * applying the transport faults with event timers, never sleeping:
 *   delay_ms before the headers, stall_ms after the first event,
 *   event_delay_ms between events, cut_after N events then close without
 *   the terminator or the final chunk, reset = close with no response.
 * A reply that waits is "attached": it is on the sim's live list and owns
 * the connection's close callback, so a client that goes away (or
 * fg_sim_stop) cancels its timer and frees it.  Replies that need no
 * waiting are written and freed inside the request callback.
 * The Files and Batch API paths (/v1/files, /v1/batches,
 * /v1/messages/batches) go to sim_batch.c, whose state this file owns
 * (created with the server, freed by fg_sim_stop); their replies are
 * played the same way, with only the x-sim-fault header applied. */
#include "sim.h"

#include "httpstatus.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "log.h"
#include "sim_batch_internal.h"

#include <stdbool.h>
#include "sim_internal.h"
#include "sim_say.h"

#define SIM_DEFAULT_LISTEN "127.0.0.1:4100"
#define SIM_MAX_BODY (64u << 20)
/* Longer than the longest injectable delay, so evhttp's idle timeout never
 * ends a deliberately slow stream. */
#define SIM_CONN_TIMEOUT_S 900

struct sim_req;

struct fg_sim {
    struct event_base *base;
    struct evhttp *http;
    struct event *stop_ev;   /* activated by fg_sim_stop from another thread */
    struct event *sig_ev[2]; /* SIGINT, SIGTERM in fg_sim_main */
    pthread_t thread;
    int has_thread;
    struct sim_cache *cache;
    struct sim_batches *batches;     /* files and batches, in memory */
    struct sim_responses *responses; /* stored Responses, in memory */
    struct sim_say *say;             /* --say-table, or NULL (owned) */
    struct sim_req *live;            /* attached requests */
    uint64_t counter;
    struct {
        uint64_t body; /* hash of a flex request refused (#sim:flex_busy) */
        long n;        /* times refused */
    } flex_refused[64];
    char url[128];
    char secret[128]; /* callers must present it (key header); "" = open */
};

enum phase { PH_HEADERS, PH_EVENTS, PH_CUT, PH_RESET };

/* One POST being answered. */
struct sim_req {
    struct fg_sim *sim;
    struct evhttp_request *req;
    struct evhttp_connection *evcon; /* while attached and connected */
    struct event *timer;
    struct fg_arena arena;
    struct sim_fault fault;
    struct sim_reply reply;
    enum phase phase;
    size_t sent, limit; /* events written / to write before ending or cutting */
    int cut, attached;
    struct sim_req *prev, *next;
};

/* ---- request lifetime ------------------------------------------------------- */

static void on_close(struct evhttp_connection *evcon, void *arg);

static void attach(struct sim_req *r)
{
    struct fg_sim *sim = r->sim;
    r->evcon = evhttp_request_get_connection(r->req);
    if (r->evcon)
        evhttp_connection_set_closecb(r->evcon, on_close, r);
    r->next = sim->live;
    if (sim->live)
        sim->live->prev = r;
    sim->live = r;
    r->attached = 1;
}

/* Give the connection back: must happen before the final write, because
 * evhttp may free the connection (and call the close callback) once the
 * reply is done. */
static void detach(struct sim_req *r)
{
    if (!r->attached)
        return;
    if (r->evcon)
        evhttp_connection_set_closecb(r->evcon, NULL, NULL);
    if (r->prev)
        r->prev->next = r->next;
    else
        r->sim->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->attached = 0;
}

static void req_free(struct sim_req *r)
{
    if (r->timer)
        event_free(r->timer);
    fg_arena_free(&r->arena);
    free(r);
}

/* The client went away, or the server is being freed.  If evhttp already
 * detached the request from the connection (client EOF mid-reply), the
 * request is ours to free; otherwise the connection frees it. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct sim_req *r = arg;
    struct evhttp_request *req = r->req;
    r->evcon = NULL;
    detach(r);
    if (evhttp_request_get_connection(req) == NULL)
        evhttp_request_free(req);
    req_free(r);
}

/* Drop the connection without finishing the reply (reset, cut).  Runs from
 * a timer, never inside evhttp's own callbacks. */
static void abort_conn(struct sim_req *r)
{
    struct evhttp_connection *evcon = r->evcon;
    detach(r);
    req_free(r);
    if (evcon)
        evhttp_connection_free(evcon);
}

/* ---- writing ----------------------------------------------------------------- */

static void add_headers(struct evhttp_request *req, const struct sim_reply *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", r->content_type ? r->content_type : "application/json");
    if (r->stream)
        evhttp_add_header(h, "Cache-Control", "no-cache");
    for (int i = 0; i < r->nhdr; i++)
        evhttp_add_header(h, r->hdr_name[i], r->hdr_value[i]);
}

/* Send a complete reply now; <req> is done afterwards. */
static void send_now(struct evhttp_request *req, const struct sim_reply *r)
{
    struct evbuffer *buf = evbuffer_new();
    add_headers(req, r);
    evbuffer_add(buf, r->body, r->body_len);
    evhttp_send_reply(req, r->status, fg_httpstatus_reason(r->status), buf);
    evbuffer_free(buf);
}

static void send_chunk(struct evhttp_request *req, const char *s)
{
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, s, strlen(s));
    evhttp_send_reply_chunk(req, buf);
    evbuffer_free(buf);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void arm(struct sim_req *r, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (!r->timer)
        r->timer = evtimer_new(r->sim->base, on_timer, r);
    evtimer_add(r->timer, &tv);
}

/* Everything written so far has left our buffer for the kernel. */
static int flushed(const struct sim_req *r)
{
    struct bufferevent *bev = r->evcon ? evhttp_connection_get_bufferevent(r->evcon) : NULL;
    return !bev || evbuffer_get_length(bufferevent_get_output(bev)) == 0;
}

/* Write events until one needs a pause, then end, or arrange the cut. */
static void pump(struct sim_req *r)
{
    while (r->sent < r->limit) {
        send_chunk(r->req, r->reply.events.v[r->sent++]);
        long wait = r->fault.event_delay_ms + (r->sent == 1 ? r->fault.stall_ms : 0);
        if (wait > 0 && r->sent < r->limit) {
            arm(r, wait);
            return;
        }
    }
    if (r->cut) {
        /* Close only once the events are out, so the client sees exactly
         * N events and then a connection closed without the last chunk. */
        r->phase = PH_CUT;
        arm(r, 0);
        return;
    }
    struct evhttp_request *req = r->req;
    detach(r);
    evhttp_send_reply_end(req);
    req_free(r);
}

static void step(struct sim_req *r)
{
    struct evhttp_request *req = r->req;
    switch (r->phase) {
    case PH_RESET: abort_conn(r); return;
    case PH_CUT:
        if (flushed(r))
            abort_conn(r);
        else
            arm(r, 1);
        return;
    case PH_HEADERS:
        if (!r->reply.stream) {
            detach(r);
            send_now(req, &r->reply);
            req_free(r);
            return;
        }
        add_headers(req, &r->reply);
        evhttp_send_reply_start(req, r->reply.status, fg_httpstatus_reason(r->reply.status));
        r->phase = PH_EVENTS;
        pump(r);
        return;
    case PH_EVENTS: pump(r); return;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

/* Start playing <r>: synchronously when no fault makes it wait. */
static void begin(struct sim_req *r)
{
    const struct sim_fault *f = &r->fault;
    r->limit = r->reply.events.n;
    if (r->reply.stream && f->cut_after >= 0) {
        /* never the terminator: a cut stream must look broken */
        size_t n = r->reply.events.n ? r->reply.events.n - 1 : 0;
        r->limit = (size_t)f->cut_after < n ? (size_t)f->cut_after : n;
        r->cut = 1;
    }
    int waits = f->reset || f->delay_ms > 0 ||
                (r->reply.stream && (r->cut || f->stall_ms > 0 || f->event_delay_ms > 0));
    r->phase = f->reset ? PH_RESET : PH_HEADERS;
    if (waits)
        attach(r);
    if (f->reset || f->delay_ms > 0)
        arm(r, f->delay_ms);
    else
        step(r);
}

/* ---- building replies --------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void openai_fault(struct sim_ctx *c, struct sim_reply *r, int status)
{
    if (status == 429) {
        sim_openai_error(c, r, status, "requests", NULL, "rate_limit_exceeded",
                         "Rate limit reached for requests (simulated). Please try again in 0s.");
    } else if (status == 401) {
        sim_openai_error(c, r, status, "invalid_request_error", NULL, "invalid_api_key",
                         "Incorrect API key provided (simulated).");
    } else if (status >= 500) {
        sim_openai_error(c, r, status, "server_error", NULL, NULL,
                         status == 503 ? "The server is overloaded or not ready yet (simulated)."
                                       : "The server had an error while processing your request "
                                         "(simulated).");
    } else {
        sim_openai_error(c, r, status, "invalid_request_error", NULL, NULL,
                         fg_arena_printf(c->arena, "Simulated error (#sim:status=%d).", status));
    }
}

static const char *anthropic_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

void sim_fault_error(struct sim_ctx *c, enum sim_dialect d, struct sim_reply *r, int status)
{
    if (d == SIM_OPENAI) {
        openai_fault(c, r, status);
    } else {
        const char *type = anthropic_type(status);
        const char *msg =
            status == 529 ? "Overloaded"
                          : fg_arena_printf(c->arena, "Simulated %s (status %d).", type, status);
        sim_anthropic_error(c, r, status, type, msg);
    }
    if (status == 429)
        sim_reply_header(r, "retry-after", "0");
}

void sim_echo_auth_error(struct sim_ctx *c, enum sim_dialect d, struct sim_reply *r)
{
    const char *k = c->credential ? c->credential : "(none)";
    if (d == SIM_OPENAI)
        sim_openai_error(c, r, 401, "invalid_request_error", NULL, "invalid_api_key",
                         fg_arena_printf(c->arena, "Incorrect API key provided: %s.", k));
    else
        sim_anthropic_error(c, r, 401, "authentication_error",
                            fg_arena_printf(c->arena, "invalid x-api-key: %s", k));
}

static void invalid_json_reply(struct sim_req *r, enum sim_dialect d, int stream)
{
    struct sim_reply *rep = &r->reply;
    rep->status = 200;
    if (!stream) {
        rep->content_type = "application/json";
        rep->body = "this is not json {";
        rep->body_len = strlen(rep->body);
        return;
    }
    rep->stream = 1;
    rep->content_type = "text/event-stream";
    /* Anthropic SDKs drop events without an event: line, so name it. */
    sim_events_push(&r->arena, &rep->events,
                    d == SIM_ANTHROPIC ? "event: message_start\ndata: {not json\n\n"
                                       : "data: {not json\n\n");
}

typedef void (*post_fn)(struct sim_ctx *, const json_t *, struct sim_reply *);

struct route {
    const char *path;
    enum evhttp_cmd_type method;
    enum sim_dialect dialect;
    post_fn post;
    void (*get)(struct evhttp_request *);
};

/* #sim:flex_busy=N: the first N flex requests with this body are refused
 * for capacity, as OpenAI does when its flex pool is full (not billed). */
static bool flex_busy(struct sim_req *r, const json_t *j, const char *body, size_t len)
{
    const char *tier = json_string_value(json_object_get(j, "service_tier"));
    if (r->fault.flex_busy <= 0 || !tier || strcmp(tier, "flex"))
        return false;
    uint64_t h = sim_hash(SIM_HASH_INIT, body, len);
    size_t n = sizeof r->sim->flex_refused / sizeof r->sim->flex_refused[0], i = h % n;
    if (r->sim->flex_refused[i].body != h)
        r->sim->flex_refused[i].body = h, r->sim->flex_refused[i].n = 0;
    return r->sim->flex_refused[i].n++ < r->fault.flex_busy;
}

static void flex_refusal(struct sim_ctx *c, struct sim_reply *rep)
{
    sim_openai_error(c, rep, 429, "invalid_request_error", NULL, "resource_unavailable",
                     "Resource Unavailable: flex processing capacity is exhausted (simulated); "
                     "retry later or use service_tier auto.");
}

static void build(struct sim_req *r, struct sim_ctx *c, const struct route *rt, const json_t *j,
                  const char *body, size_t len)
{
    const struct sim_fault *f = &r->fault;
    if (f->reset)
        return;
    if (rt->dialect == SIM_OPENAI && flex_busy(r, j, body, len))
        flex_refusal(c, &r->reply);
    else if (f->status >= 400)
        sim_fault_error(c, rt->dialect, &r->reply, f->status);
    else if (c->azure && f->prompt_filter)
        sim_azure_prompt_filtered(c, &r->reply);
    else if (f->echo_auth)
        sim_echo_auth_error(c, rt->dialect, &r->reply);
    else if (f->invalid_json)
        invalid_json_reply(r, rt->dialect, json_is_true(json_object_get(j, "stream")));
    else
        rt->post(c, j, &r->reply);
}

/* A request being answered, with its body copied (NUL-terminated) into
 * its arena. */
static struct sim_req *req_new(struct fg_sim *sim, struct evhttp_request *req, char **body,
                               size_t *len)
{
    struct sim_req *r = fg_xcalloc(1, sizeof *r);
    r->sim = sim;
    r->req = req;
    fg_arena_init(&r->arena);
    sim_fault_init(&r->fault);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    *body = fg_arena_alloc(&r->arena, *len + 1);
    evbuffer_copyout(in, *body, *len);
    (*body)[*len] = '\0';
    return r;
}

static struct sim_ctx req_ctx(struct sim_req *r, const char *body, size_t len)
{
    struct fg_sim *sim = r->sim;
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
    /* Ids only need to be unique; the answer text never depends on them. */
    uint64_t id = sim_hash(SIM_HASH_INIT, body, len) ^ (++sim->counter * 0x9E3779B97F4A7C15ULL);
    const char *cred = evhttp_find_header(h, "x-api-key");
    if (!cred && (cred = evhttp_find_header(h, "authorization")) &&
        !strncasecmp(cred, "Bearer ", 7))
        cred += 7;
    struct sim_ctx ctx = {
        .arena = &r->arena,
        .cache = sim->cache,
        .now_ms = now_ms(),
        .created = (long long)time(NULL),
        .id = fg_arena_printf(&r->arena, "%016llx", (unsigned long long)id),
        .anthropic_version = evhttp_find_header(h, "anthropic-version"),
        .tokens = r->fault.tokens,
        .bad_schema = r->fault.bad_schema,
        .bad_usage = r->fault.bad_usage,
        .content_filter = r->fault.content_filter,
        .credential = cred,
        .responses = sim->responses,
        .say = sim->say,
    };
    return ctx;
}

/* dep: the Azure deployment the URL named (it is the model), or NULL. */
static void handle_post(struct fg_sim *sim, struct evhttp_request *req, const struct route *rt,
                        const char *dep)
{
    char *body;
    size_t len;
    struct sim_req *r = req_new(sim, req, &body, &len);
    json_t *j = json_loadb(body, len, 0, NULL);
    if (dep && json_is_object(j))
        json_object_set_new(j, "model", json_string(dep));
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    sim_fault_parse(&r->fault, evhttp_find_header(h, "x-sim-fault"), 1);
    if (j)
        sim_fault_parse(&r->fault,
                        rt->dialect == SIM_OPENAI ? sim_openai_last_user_text(&r->arena, j)
                                                  : sim_anthropic_last_user_text(&r->arena, j),
                        0);
    struct sim_ctx ctx = req_ctx(r, body, len);
    ctx.azure = dep != NULL;
    build(r, &ctx, rt, j, body, len);
    json_decref(j);
    begin(r);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static enum sim_method sim_method_of(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return SIM_GET;
    case EVHTTP_REQ_POST: return SIM_POST;
    case EVHTTP_REQ_DELETE: return SIM_DELETE;
    default: return SIM_OTHER_METHOD;
    }
}

/* Files and batches (sim_batch_internal.h).  Only the x-sim-fault header applies
 * here (status, delay_ms, reset, invalid_json; batch_* when creating). */
static void handle_batch_api(struct fg_sim *sim, struct evhttp_request *req, const char *path,
                             enum sim_dialect d)
{
    char *body;
    size_t len;
    struct sim_req *r = req_new(sim, req, &body, &len);
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *fault = evhttp_find_header(h, "x-sim-fault");
    sim_fault_parse(&r->fault, fault, 1);
    struct sim_ctx ctx = req_ctx(r, body, len);
    struct sim_http http = {
        .method = sim_method_of(evhttp_request_get_command(req)),
        .path = path,
        .query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)),
        .content_type = evhttp_find_header(h, "Content-Type"),
        .fault = fault,
        .body = body,
        .len = len,
        .wall_ms = wall_ms(),
    };
    if (r->fault.reset) {
        /* nothing to build: the connection is dropped */
    } else if (r->fault.status >= 400) {
        sim_fault_error(&ctx, d, &r->reply, r->fault.status);
    } else if (r->fault.invalid_json) {
        invalid_json_reply(r, d, 0);
    } else {
        sim_batches_handle(sim->batches, &ctx, &http, &r->reply);
    }
    begin(r);
}

/* The Responses API: faults from the x-sim-fault header and, on create,
 * from #sim: directives in the last user input, as for chat. */
static void handle_responses(struct fg_sim *sim, struct evhttp_request *req, const char *path)
{
    char *body;
    size_t len;
    struct sim_req *r = req_new(sim, req, &body, &len);
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *fault = evhttp_find_header(h, "x-sim-fault");
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    sim_fault_parse(&r->fault, fault, 1);
    if (j && m == EVHTTP_REQ_POST)
        sim_fault_parse(&r->fault, sim_responses_user_text(&r->arena, j), 0);
    struct sim_ctx ctx = req_ctx(r, body, len);
    struct sim_http http = {
        .method = sim_method_of(m),
        .path = path,
        .query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)),
        .content_type = evhttp_find_header(h, "Content-Type"),
        .fault = fault,
        .body = body,
        .len = len,
        .wall_ms = wall_ms(),
    };
    if (r->fault.reset) {
        /* nothing to build: the connection is dropped */
    } else if (m == EVHTTP_REQ_POST && flex_busy(r, j, body, len)) {
        flex_refusal(&ctx, &r->reply);
    } else if (r->fault.status >= 400) {
        sim_fault_error(&ctx, SIM_OPENAI, &r->reply, r->fault.status);
    } else if (r->fault.invalid_json) {
        invalid_json_reply(r, SIM_OPENAI, json_is_true(json_object_get(j, "stream")));
    } else {
        sim_responses_handle(ctx.responses, &ctx, &http, j, &r->reply);
    }
    json_decref(j);
    begin(r);
}

/* ---- routing -------------------------------------------------------------------- */

static void send_text(struct evhttp_request *req, int status, const char *ctype, const char *body)
{
    struct sim_reply r = {
        .status = status, .content_type = ctype, .body = body, .body_len = strlen(body)};
    send_now(req, &r);
}

static void get_models(struct evhttp_request *req)
{
    static const char *const ids[] = {"gpt-4o-mini",    "gpt-4o",           "gpt-4.1-mini",
                                      "gpt-5-mini",     "claude-haiku-4-5", "claude-sonnet-4-6",
                                      "claude-opus-4-6"};
    json_t *data = json_array();
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}", "id", ids[i], "object", "model",
                                              "created", 1700000000, "owned_by", "frugal-sim"));
    json_t *list = json_pack("{s:s,s:o,s:s,s:s,s:b}", "object", "list", "data", data, "first_id",
                             ids[0], "last_id", ids[sizeof ids / sizeof ids[0] - 1], "has_more", 0);
    char *s = json_dumps(list, JSON_COMPACT);
    send_text(req, 200, "application/json", s);
    free(s);
    json_decref(list);
}

static void get_healthz(struct evhttp_request *req)
{
    send_text(req, 200, "text/plain", "ok");
}

static const struct route routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, SIM_OPENAI, sim_openai_chat, NULL},
    {"/v1/messages", EVHTTP_REQ_POST, SIM_ANTHROPIC, sim_anthropic_messages, NULL},
    {"/v1/messages/count_tokens", EVHTTP_REQ_POST, SIM_ANTHROPIC, sim_anthropic_count_tokens, NULL},
    {"/v1/models", EVHTTP_REQ_GET, SIM_OPENAI, NULL, get_models},
    {"/v1/embeddings", EVHTTP_REQ_POST, SIM_OPENAI, sim_openai_embeddings, NULL},
    {"/v1/moderations", EVHTTP_REQ_POST, SIM_OPENAI, sim_openai_moderations, NULL},
    {"/healthz", EVHTTP_REQ_GET, SIM_OPENAI, NULL, get_healthz},
};

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

/* 404 (OpenAI shape, like api.openai.com) or 405 in the path's dialect. */
static void send_route_error(struct evhttp_request *req, const struct route *rt,
                             enum evhttp_cmd_type m, const char *path)
{
    struct fg_arena a;
    struct sim_reply r = {0};
    fg_arena_init(&a);
    struct sim_ctx c = {.arena = &a};
    const char *what = fg_arena_printf(&a, "%s %s", method_name(m), path);
    if (!rt) {
        sim_openai_error(&c, &r, 404, "invalid_request_error", NULL, NULL,
                         fg_arena_printf(&a, "Invalid URL (%s)", what));
    } else if (rt->dialect == SIM_ANTHROPIC) {
        sim_anthropic_error(&c, &r, 405, "invalid_request_error",
                            fg_arena_printf(&a, "Method not allowed (%s)", what));
    } else {
        sim_openai_error(&c, &r, 405, "invalid_request_error", NULL, NULL,
                         fg_arena_printf(&a, "Invalid method for URL (%s)", what));
    }
    if (rt)
        sim_reply_header(&r, "Allow", method_name(rt->method));
    send_now(req, &r);
    fg_arena_free(&a);
}

/* Equal strings, in time that depends only on the presented length. */
static int same_secret(const char *given, const char *secret)
{
    size_t n = strlen(given), m = strlen(secret);
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(given[i] ^ secret[i % (m ? m : 1)]);
    return diff == 0;
}

/* With a secret, every endpoint but /healthz wants it, as a provider key:
 * "Authorization: Bearer SECRET" (OpenAI) or "x-api-key: SECRET"
 * (Anthropic).  Anyone else on the machine gets a 401 in the path's
 * dialect and reaches neither the answers nor the stored files. */
static int authorized(struct fg_sim *sim, struct evhttp_request *req, enum sim_dialect d)
{
    if (!sim->secret[0])
        return 1;
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(h, "authorization");
    const char *xkey = evhttp_find_header(h, "x-api-key");
    if ((auth && !strncasecmp(auth, "Bearer ", 7) && same_secret(auth + 7, sim->secret)) ||
        (xkey && same_secret(xkey, sim->secret)))
        return 1;
    struct fg_arena a;
    struct sim_reply r = {0};
    fg_arena_init(&a);
    struct sim_ctx c = {.arena = &a};
    if (d == SIM_ANTHROPIC)
        sim_anthropic_error(&c, &r, 401, "authentication_error", "invalid x-api-key");
    else
        sim_openai_error(&c, &r, 401, "invalid_request_error", NULL, "invalid_api_key",
                         "Incorrect API key provided.");
    send_now(req, &r);
    fg_arena_free(&a);
    return 0;
}

/* Azure wants its key in `api-key` (a bearer token is not a key) and an
 * api-version on every URL; with a secret the key must match it. */
static int azure_admitted(struct fg_sim *sim, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *key = evhttp_find_header(h, "api-key");
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const char *ver = NULL;
    if (query && evhttp_parse_query_str(query, &q) == 0)
        ver = evhttp_find_header(&q, "api-version");
    int ok_key = key && *key && (!sim->secret[0] || same_secret(key, sim->secret));
    int ok_ver = ver && *ver;
    evhttp_clear_headers(&q);
    if (ok_key && ok_ver)
        return 1;
    struct fg_arena a;
    struct sim_reply r = {0};
    fg_arena_init(&a);
    struct sim_ctx c = {.arena = &a};
    if (!ok_key)
        sim_azure_error(&c, &r, 401, "401",
                        "Access denied due to invalid subscription key or wrong API endpoint. "
                        "Make sure to provide a valid key for an active subscription and use a "
                        "correct regional API endpoint for your resource.");
    else
        sim_azure_error(&c, &r, 404, "404", "Resource not found (no api-version query parameter)");
    send_now(req, &r);
    fg_arena_free(&a);
    return 0;
}

/* Azure's URLs (sim_azure.c): deployments are models, the rest is the
 * OpenAI resource API under /openai. */
static void on_azure(struct fg_sim *sim, struct evhttp_request *req, const char *path)
{
    if (!azure_admitted(sim, req))
        return;
    struct fg_arena a;
    fg_arena_init(&a);
    const char *v1, *dep;
    enum sim_dialect d = SIM_OPENAI;
    const struct route *rt = NULL;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (sim_azure_map(&a, path, &v1, &dep) < 0) {
        send_route_error(req, NULL, m, path);
    } else if (dep && (!strcmp(v1, "/v1/chat/completions") || !strcmp(v1, "/v1/embeddings"))) {
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (!strcmp(v1, routes[i].path))
                rt = &routes[i];
        if (m != EVHTTP_REQ_POST)
            send_route_error(req, rt, m, path);
        else
            handle_post(sim, req, rt, dep);
    } else if (sim_responses_owns(v1)) {
        handle_responses(sim, req, v1);
    } else if (sim_batches_owns(v1, &d)) {
        handle_batch_api(sim, req, v1, d);
    } else {
        send_route_error(req, NULL, m, path);
    }
    fg_arena_free(&a);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const struct route *rt = NULL;
    path = path ? path : "";
    if (!strncmp(path, "/openai/", 8)) {
        on_azure(arg, req, path);
        return;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (strcmp(path, routes[i].path) == 0)
            rt = &routes[i];
    enum sim_dialect d = rt ? rt->dialect : SIM_OPENAI;
    int owned = !rt && sim_batches_owns(path, &d);
    if (!(rt && rt->get == get_healthz) && !authorized(arg, req, d))
        return;
    if (!rt && sim_responses_owns(path)) {
        handle_responses(arg, req, path);
        return;
    }
    if (owned) {
        handle_batch_api(arg, req, path, d);
        return;
    }
    if (!rt || (m != rt->method && !(m == EVHTTP_REQ_HEAD && rt->get))) {
        send_route_error(req, rt, m, path);
        return;
    }
    if (rt->get)
        rt->get(req);
    else
        handle_post(arg, req, rt, NULL);
}

/* ---- server lifetime --------------------------------------------------------------- */

/* "host:port", "[v6]:port", ":port" or "port"; 0 or -1. */
static int parse_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s) > hostlen)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(close - s - 1), s + 1);
        colon = close + 1;
    } else if ((colon = strrchr(s, ':'))) {
        if ((size_t)(colon - s) >= hostlen)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(colon - s), s);
    } else {
        snprintf(host, hostlen, "%s", "");
        colon = s - 1;
    }
    if (!host[0])
        snprintf(host, hostlen, "%s", "127.0.0.1");
    const char *p = colon + 1;
    if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5)
        return -1;
    unsigned long v = strtoul(p, NULL, 10); /* at most 5 digits: cannot overflow */
    if (v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

static unsigned bound_port(struct evhttp_bound_socket *sock)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len))
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void sim_destroy(struct fg_sim *sim)
{
    if (sim->http)
        evhttp_free(sim->http); /* close callbacks free attached requests */
    while (sim->live) {         /* only if a close callback never came */
        struct sim_req *r = sim->live;
        r->evcon = NULL;
        detach(r);
        req_free(r);
    }
    for (int i = 0; i < 2; i++)
        if (sim->sig_ev[i])
            event_free(sim->sig_ev[i]);
    if (sim->stop_ev)
        event_free(sim->stop_ev);
    if (sim->base)
        event_base_free(sim->base);
    sim_cache_free(sim->cache);
    sim_batches_free(sim->batches);
    sim_responses_free(sim->responses);
    sim_say_free(sim->say);
    free(sim);
}

static void sim_url(struct fg_sim *sim, const char *host, unsigned port)
{
    /* A wildcard bind is reached through loopback. */
    if (strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    const char *fmt = strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u";
    snprintf(sim->url, sizeof sim->url, fmt, host, port);
}

/* Create the base, server and cache and bind; NULL with <err> filled. */
static struct fg_sim *sim_create(const char *listen, char *err, size_t errlen)
{
    char host[96];
    unsigned port;
    if (parse_listen(listen, host, sizeof host, &port)) {
        snprintf(err, errlen, "bad listen address '%s' (want HOST:PORT)", listen);
        return NULL;
    }
    struct fg_sim *sim = fg_xcalloc(1, sizeof *sim);
    sim->cache = sim_cache_new();
    sim->batches = sim_batches_new();
    sim->responses = sim_responses_new();
    sim->base = event_base_new();
    sim->http = sim->base ? evhttp_new(sim->base) : NULL;
    if (!sim->http) {
        snprintf(err, errlen, "cannot create the event loop");
        sim_destroy(sim);
        return NULL;
    }
    evhttp_set_allowed_methods(sim->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(sim->http, SIM_MAX_BODY);
    evhttp_set_timeout(sim->http, SIM_CONN_TIMEOUT_S);
    evhttp_set_gencb(sim->http, on_request, sim);
    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(sim->http, host, (ev_uint16_t)port);
    if (!sock) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
        sim_destroy(sim);
        return NULL;
    }
    sim_url(sim, host, bound_port(sock));
    sim_batches_set_base_url(sim->batches, sim->url);
    return sim;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct fg_sim *sim = arg;
    event_base_loopbreak(sim->base);
}

static void *run(void *arg)
{
    struct fg_sim *sim = arg;
    event_base_loop(sim->base, EVLOOP_NO_EXIT_ON_EMPTY);
    fg_arena_thread_cleanup();
    return NULL;
}

static int set_secret(struct fg_sim *sim, const char *secret, char *err, size_t errlen)
{
    if (!secret || !*secret)
        return 0;
    if (strlen(secret) >= sizeof sim->secret) {
        snprintf(err, errlen, "the secret is longer than %zu bytes", sizeof sim->secret - 1);
        return -1;
    }
    snprintf(sim->secret, sizeof sim->secret, "%s", secret);
    return 0;
}

int fg_sim_start(const char *listen, const char *secret, struct fg_sim **out, char *base_url,
                 size_t base_url_len)
{
    char err[256];
    /* Locking must be on before the base exists: fg_sim_stop pokes the
     * loop from another thread. */
    evthread_use_pthreads();
    struct fg_sim *sim = sim_create(listen ? listen : "127.0.0.1:0", err, sizeof err);
    if (sim && set_secret(sim, secret, err, sizeof err) < 0) {
        sim_destroy(sim);
        sim = NULL;
    }
    if (!sim) {
        fg_error("sim: %s", err);
        return -1;
    }
    sim->stop_ev = event_new(sim->base, -1, 0, on_stop, sim);
    /* The loop thread blocks all signals: a write to a vanished client
     * then fails with EPIPE instead of killing the process, and SIGINT
     * still reaches the embedding program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&sim->thread, NULL, run, sim);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        fg_error("sim: cannot start thread: %s", strerror(rc));
        sim_destroy(sim);
        return -1;
    }
    sim->has_thread = 1;
    if (base_url && base_url_len)
        snprintf(base_url, base_url_len, "%s", sim->url);
    fg_info("sim listening on %s", sim->url);
    *out = sim;
    return 0;
}

void fg_sim_stop(struct fg_sim *sim)
{
    if (!sim)
        return;
    if (sim->has_thread) {
        /* Queued even if the loop has not started yet, unlike a bare
         * event_base_loopbreak(), whose flag the loop clears on entry. */
        event_active(sim->stop_ev, EV_READ, 0);
        pthread_join(sim->thread, NULL);
    }
    sim_destroy(sim);
}

/* ---- `frugal sim` -------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: frugal sim [--listen ADDR] [--secret-env NAME] [--say-table FILE]\n"
            "  Run the simulated OpenAI + Anthropic provider until SIGINT/SIGTERM.\n"
            "  --listen ADDR  HOST:PORT to listen on (default %s; port 0 picks one)\n"
            "  --secret-env NAME  callers must send the value of environment variable\n"
            "                 NAME as their API key (Bearer or x-api-key); else 401.\n"
            "                 Without it (and without FRUGAL_SIM_SECRET) anyone may call.\n"
            "  --say-table FILE  JSONL {\"match\": S, \"say\": T}: a request whose last user\n"
            "                 text contains S is answered exactly T (first match wins).\n"
            "Fault injection: see #sim: directives in the docs (e.g. \"#sim:status=429\").\n",
            SIM_DEFAULT_LISTEN);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct fg_sim *sim = arg;
    event_base_loopbreak(sim->base);
}

/* argv[0] is the command name; "sim" after it is tolerated too, so both
 * `fn(argc - 1, argv + 1)` and `fn(argc, argv)` dispatch styles work. */
static int parse_args(int argc, char **argv, const char **listen, const char **secret,
                      const char **say)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i == 1 && strcmp(a, "sim") == 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--listen") && i + 1 < argc) {
            *listen = argv[++i];
        } else if (!strncmp(a, "--listen=", 9)) {
            *listen = a + 9;
        } else if (!strcmp(a, "--say-table") && i + 1 < argc) {
            *say = argv[++i];
        } else if (!strcmp(a, "--secret-env") && i + 1 < argc) {
            /* by name, so the secret never shows in `ps` */
            *secret = getenv(argv[++i]);
            if (!*secret || !**secret) {
                fprintf(stderr, "frugal sim: environment variable %s is not set\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "frugal sim: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

int fg_sim_main(int argc, char **argv)
{
    const char *listen = SIM_DEFAULT_LISTEN, *secret = getenv("FRUGAL_SIM_SECRET");
    char err[256];
    const char *say = NULL;
    int rc = parse_args(argc, argv, &listen, &secret, &say);
    if (rc)
        return rc == 1 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN);
    struct fg_sim *sim = sim_create(listen, err, sizeof err);
    if (sim && (set_secret(sim, secret, err, sizeof err) < 0 ||
                (say && sim_say_load(say, &sim->say, err, sizeof err) < 0))) {
        sim_destroy(sim);
        sim = NULL;
    }
    if (!sim) {
        fprintf(stderr, "frugal sim: %s\n", err);
        return strncmp(err, "bad listen", 10) == 0 ? 2 : 1;
    }
    sim->sig_ev[0] = evsignal_new(sim->base, SIGINT, on_signal, sim);
    sim->sig_ev[1] = evsignal_new(sim->base, SIGTERM, on_signal, sim);
    event_add(sim->sig_ev[0], NULL);
    event_add(sim->sig_ev[1], NULL);
    printf("frugal sim listening on %s%s\n", sim->url,
           sim->secret[0] ? " (callers must send the secret as their API key)" : "");
    fflush(stdout);
    event_base_dispatch(sim->base);
    sim_destroy(sim);
    return 0;
}
