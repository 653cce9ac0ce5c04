/* call.h — one inference call travelling through the gateway.
 *
 * Contract: a struct fg_call is created by the API layer for each inference
 * request, lives in its own arena (request data: ids, strings, parsed
 * pieces) and is owned by its worker (linked in worker->calls) until
 * fg_call_finish() frees it.  Exactly one of three things ends a call: the
 * reply was sent, the client went away, or the worker shuts down.  The
 * jansson trees (`body`, `resp_json`) and the upstream easy handle are the
 * only non-arena resources; fg_call_free() releases them. */
#ifndef FRUGAL_CALL_H
#define FRUGAL_CALL_H

/* A call id: "frg_", 11 hex digits of unix milliseconds, 16 of a per-process
 * mix, 4 of a counter (call.c make_id); time-ordered for the ledger index. */
#define FG_CALL_ID_LEN 35 /* < sizeof (struct fg_call){0}.id */

#include "arena.h"
#include "client.h"
#include "config.h"
#include "endpoint.h"
#include "err.h"
#include "json.h"
#include "keys.h"
#include "ledger.h"
#include "selfhost.h"
#include "usage.h"
#include "sse.h"
#include "upstream.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct evbuffer;
struct event;
struct fg_worker;
struct fg_dialect_ops;
struct fg_translate_stream;
struct fg_prefix;
struct fg_schema;
struct fg_vkey;
struct fg_admit;
struct fg_admit_wait;
struct fg_embed;
struct fg_share;
struct fg_respcache_entry;

/* x-frugal-route: the tier a client forces (route.h, precedence 1). */
enum fg_route_force { FG_FORCE_NONE, FG_FORCE_CHEAP, FG_FORCE_FRONTIER };

/* Headers a provider dialect may forward upstream (dialect forward_headers),
 * at most this many per request. */
#define FG_CALL_FWD_MAX 8

/* The request headers a call needs, read once at the HTTP edge
 * (server/callreq.h) into the call's arena, so that no pipeline stage reads
 * HTTP and every value outlives the client's request (a retry may run after
 * the client left).  NULL: the header was not sent. */
struct fg_call_req {
    const char *anthropic_version;   /* anthropic-version */
    const char *anthropic_beta;      /* anthropic-beta */
    enum fg_route_force route_force; /* x-frugal-route */
    bool cache_bypass;               /* x-frugal-cache: bypass */
    const char *tags_header;         /* x-frugal-tags as sent: read only by the
                                         edge, which resolves it into fg_call.tags */
    const char *sim_fault;           /* x-sim-fault: honoured by sim providers only */
    const char *defer;               /* x-frugal-defer as sent (defer.h judges it) */
    struct {
        const char *name, *value;
    } fwd[FG_CALL_FWD_MAX];
    int n_fwd; /* forwardable headers sent */
};

enum fg_call_state {
    FG_CALL_NEW,       /* parsed, not yet sent upstream */
    FG_CALL_UPSTREAM,  /* transfer running, nothing sent to the client */
    FG_CALL_STREAMING, /* client reply started (chunked) */
    FG_CALL_DONE,      /* reply complete */
};

/* The call's state, grouped by the module that writes it: a sub-struct is
 * written by the module its comment names and only read elsewhere.  The
 * top level is the call's identity and request (written by the edge and
 * call.c). */

/* What serves the call: written only by fg_call_use_model() and
 * fg_call_use_deployment() (call.c), and the transport's in-flight hold. */
struct fg_call_serve {
    const struct fg_model_cfg *model;
    const struct fg_provider_cfg *provider; /* the deployment serving it */
    int provider_index;
    int deployment;             /* 0 = the model's own provider, k = deployments[k-1] */
    const char *upstream_model; /* the deployment's model id */
    /* the model the upstream body names: the Azure deployment name on an
     * azure_openai provider (azure.h), else upstream_model */
    const char *wire_model;
    atomic_int *inflight; /* the deployment's in-flight counter this
                                   attempt holds, or NULL (affinity.h) */
};

/* How the call was routed (call/route.c; escalation and fallback in
 * relay.c rename the route). */
struct fg_call_route {
    const char *route;                   /* fixed|cheap|frontier|escalated|fallback */
    const char *reason;                  /* why (arena or static), or NULL */
    const struct fg_route_cfg *cfg;      /* the route called, or NULL */
    bool escalated;                      /* already moved to the frontier model */
    bool simple;                         /* complexity scorer's verdict */
    const struct fg_model_cfg *baseline; /* a route's frontier model: the
                                            counterfactual savings count against */
    /* a learning call (server/learn_shadow.h), or NULL: its record says
     * route "routing_eval", this reason and eval_link as linked_id */
    const char *eval, *eval_link;
    /* the answer's text is kept for shadow evaluation (a sampled call of a
     * route with `learn:`, or a learning call): meter.c fills text */
    bool keep_text;
    char *text; /* arena, at most FG_CALL_KEPT_TEXT bytes, or NULL */
    size_t text_len;
};

#define FG_CALL_KEPT_TEXT (64 * 1024)

/* The upstream request as encoded (pipeline.c encode stage). */
struct fg_call_encode {
    struct fg_json_edit edits[8]; /* splices of raw for the upstream body */
    size_t n_edits;
    /* The request stages' own edits (structured: buffering, the output
     * cap), made whatever the first model's dialect (they apply when the
     * body goes as the client sent it) and kept at the first encode: a
     * re-encode for another model (fallback, escalation, flex's standard
     * tier) starts again from these, not from nothing. */
    struct fg_json_edit req_edits[8];
    size_t n_req_edits;
    bool encoded;
    char *body; /* malloc'd when edited, else NULL (raw is sent) */
    size_t body_len;
    struct fg_translate_stream *tr; /* stream translator when the dialects differ, owned */
};

/* The upstream transfer (relay.c, upstream.c). */
struct fg_call_upstream {
    struct fg_xfer xfer;
    struct curl_slist *headers;
    long status;
    bool headers_done;
    bool is_sse;
    struct evbuffer *body; /* non-stream body */
    struct fg_sse sse;
    bool stream_ended;      /* saw [DONE] / message_stop */
    bool error_seen;        /* provider sent an error event */
    bool paused;            /* curl paused for a slow client */
    int in_curl_cb;         /* inside a curl callback: defer ends */
    struct evbuffer *relay; /* events to write this round */
    struct fg_json resp;    /* index of a non-stream response, or scratch for stream events */
    struct event *idle_ev;  /* stream silence timer */
};

/* A cheap streamed answer held back until its first content (relay.c), so
 * the route can still escalate an empty, refused or cut answer. */
struct fg_call_hold {
    bool on;
    bool content;    /* content seen: release it */
    const char *why; /* refusal | truncated seen while held */
};

/* Failover (relay.c with failover.h). */
struct fg_call_failover {
    int retries;            /* retries made on the current model */
    int next;               /* position in the origin's fallback list */
    const char *origin;     /* the model whose fallbacks apply */
    struct event *retry_ev; /* backoff timer */
};

/* Tokens and money (meter.c). */
struct fg_call_meter {
    struct fg_usage usage;
    struct fg_record acct; /* tokens and money, filled by fg_meter_price */
    bool priced;
    bool strip_usage_chunk;    /* hide the usage chunk frugal asked for */
    bool estimated;            /* tokens were estimated */
    int64_t prompt_tokens_est; /* prefix estimate of the whole prompt */
    int64_t data_events;       /* stream events relayed (~ output tokens) */
    bool upstream_cut;         /* the provider cut or stalled a stream that had begun */
    bool checked;              /* the reported usage was judged */
    const char *note;          /* why tokens were estimated (the record's error) */
    const char *filtered;      /* the provider's content filter cut the answer or
                                  refused the prompt (dialect/cfilter.h): the
                                  record's error, or NULL */
    int64_t out_asked, out_n;  /* the request's output cap and choices (usage bounds) */
    int64_t answer_tokens_est; /* a complete answer's size / 4 */
    /* a provider priced by the hour: this attempt's share (selfhost.h) */
    struct fg_selfhost *hours_of; /* the provider's hours, or NULL */
    struct fg_selfhost_slot hours;
};

/* Who is calling (server/auth.c, keys; admission holds from admit.c). */
struct fg_call_who {
    const char *key_id;         /* "master" | "anonymous" | key id */
    struct fg_vkey *vkey;       /* the caller's virtual key (keyreg.h), or NULL */
    struct fg_admit *admit;     /* budget / rate holds (admit.h, arena), or NULL */
    struct fg_admit_wait *wait; /* an admission the shared store is answering
                                   (admit.c, arena), or NULL */
    struct fg_call_tags tags;   /* resolved once at the edge, after auth
                                 (keyreg.h fg_keyreg_call_tags): the ledger shows
                                 .recorded; budgets and routing rules read .charged */
};

/* A batch line run by the batch executor (batch_exec.h; call.c
 * fg_call_set_batch_line). */
struct fg_call_batch {
    const char *line; /* "BATCH_ID/INDEX": records go to its client (record / plan ops), or NULL */
    const char *id;
    bool plan;   /* plan only: answer with the upstream request */
    int attempt; /* attempts made, for their record ids */
};

/* Deferral: a call that may wait for a cheaper tier (defer.c). */
struct fg_call_defer {
    uint64_t deadline_ns;      /* monotonic time (clock.h) by which it must be
                             answered; 0 = not deferrable */
    const char *why;           /* "header" | the defer_for selector that matched */
    bool flex;                 /* this attempt asked for service_tier "flex" */
    bool flex_billed;          /* ... and the provider served it there */
    bool tier_seen;            /* the answer named its service_tier */
    bool standard;             /* flex refused until the deadline: standard from now on */
    int refusals;              /* flex capacity refusals so far */
    bool batch_billed;         /* answered with its provider batch line (batch price) */
    void *line;                /* the pending batch line (the collector's), or NULL */
    struct event *deadline_ev; /* real time at the deadline while the line is pending */
    bool unstreamed;           /* a stream asked whole for its batch line (so.client_stream) */
};

/* Response cache (pipeline.c respcache stage, embed.c). */
struct fg_call_cache {
    const char *status; /* hit | miss | bypass */
    bool keyed;         /* key is set: store the answer */
    uint8_t key[32];
    struct evbuffer *sse;           /* the stream as sent, to store */
    struct fg_respcache_entry *old; /* a shared store's entry that could not answer
                                       this client: its other form is kept */
    int64_t hit_tokens;             /* embeddings: input tokens answered from the
                             cache beside an upstream call */
};

/* Structured output (structured.c). */
struct fg_call_structured {
    bool wanted;
    struct fg_schema *schema; /* compiled schema reference, or NULL */
    bool owned;               /* schema is ours, not a cache reference */
    char tool[72];            /* Anthropic forced tool whose input is the answer */
    const char *forced_tool;  /* structured output via a forced tool (translation) */
    long cap;                 /* output cap from the schema, 0 = none */
    int attempts;             /* retries made */
    bool client_stream;       /* the client streams, upstream doesn't (buffer) */
    char *text;
    size_t text_len, text_cap; /* the answer text */
};

/* Responses conversation state (respstate.c). */
struct fg_call_rstate {
    char id[40];       /* frugal's id of this Response ("" until minted) */
    bool stored;       /* the client did not send store: false */
    const char *input; /* the request's `input` as sent (in raw), or NULL */
    size_t input_len;
    const char *prev;          /* previous_response_id as sent (frugal's), or NULL */
    const char *prev_upstream; /* its provider's id, or NULL */
    int prev_provider;         /* the provider account holding it, -1 */
    bool expanded;             /* the stored history replaced previous_response_id */
    const char *upstream;      /* the provider's id of this attempt's answer (arena) */
    const char *data;          /* replay JSON for the store (arena), or NULL */
    int64_t expires_ms;        /* when the store forgets it (unix ms) */
};

struct fg_call {
    struct fg_arena arena;
    struct fg_worker *w;
    /* the config snapshot this call started under (snap.h): every config
     * fact the call reads (models, providers, routes, prices, ...) comes
     * from it; pinned by fg_call_new, released as the call ends */
    struct fg_snap *snap;
    struct fg_call *prev, *next; /* worker's live list */
    struct fg_client client;     /* where the answer goes (client.h) */
    enum fg_call_state state;
    int status; /* HTTP status sent to the client (0: none yet) */
    enum fg_endpoint endpoint;
    const struct fg_dialect_ops *in;  /* caller's dialect */
    const struct fg_dialect_ops *out; /* upstream dialect (fg_call_use_model) */
    char id[40]; /* x-frugal-request-id (make_id: FG_CALL_ID_LEN), or a batch line's */
    uint64_t t_start_ns, t_first_byte_ns;

    /* the request (the edge and api.c) */
    struct fg_call_req rq; /* its headers */
    const char *raw;
    size_t raw_len;      /* client body (the client's memory) */
    struct fg_json body; /* index of raw, parsed once */
    bool stream;
    const char *model_name; /* as requested */
    /* an Azure-shaped URL named the model (server/azure_in.h): url_model is
     * it (model_name too), body_model the body's own "model", which goes
     * upstream replaced; both NULL otherwise */
    const char *url_model, *body_model;
    long client_max_tokens;     /* the client's own output limit, 0 = none */
    bool client_cache_marks;    /* the client placed its own cache_control */
    bool include_usage;         /* OpenAI client asked for the usage chunk */
    const char *client_version; /* anthropic-version from an Anthropic-dialect client */
    bool client_gone;           /* the client left before the end */
    struct fg_prefix *prefix;   /* the client body's prefix scan (arena) */
    struct fg_share *share;     /* riders of a cross-process store (share.h, arena) */

    struct fg_call_serve serve;
    struct fg_call_route rt;
    struct fg_call_encode enc;
    struct fg_call_upstream up;
    struct fg_call_hold hold;
    struct fg_call_failover fo;
    struct fg_call_meter meter;
    struct fg_call_who who;
    struct fg_call_batch batch;
    struct fg_call_defer defer;
    struct fg_call_cache cache;
    struct fg_call_structured so;
    struct fg_call_rstate rs;

    struct fg_embed *embed;  /* embeddings call state (embed.h, arena) */
    const char *pass_path;   /* FG_EP_PASSTHRU: the path, for the ledger */
    const char *pass_ctype;  /* FG_EP_PASSTHRU: the provider's content type */
    const char *response_id; /* the stored Response this attempt created (arena) */
    void *aux;               /* a non-inference call's own state (responses_api.c), arena */
    int stage;               /* the pipeline stage running or waiting (pipeline.c) */
    struct fg_err err;
};

/* Lifecycle.  A new call has no client yet: its creator
 * attaches one (c->client, client.h) before any stage runs. */
struct fg_call *fg_call_new(struct fg_worker *w);
/* Pin c to snapshot s instead of the worker's current one (calls made by
 * the process-wide parts that run on the boot config: batch lines, shadow
 * evaluation); right after fg_call_new. */
void fg_call_use_snap(struct fg_call *c, struct fg_snap *s);
/* The client's implementation: its peer went away.  The call ends now, or
 * (inside a curl callback) when its transfer is aborted. */
void fg_call_client_gone(struct fg_call *c);
/* Detach from the client, cancel upstream, free everything. */
void fg_call_finish(struct fg_call *c);
/* Queue a splice of the client body: replace [start, end) with text
 * (arena or static memory).  Edits must be added in ascending order. */
void fg_call_edit(struct fg_call *c, uint32_t start, uint32_t end, const char *text);
/* An edit giving the body's "model" the upstream id (c->serve.upstream_model). */
void fg_call_edit_model(struct fg_call *c);
/* Start the call over as a new, linked attempt: the finished attempt is
 * recorded in the ledger, transfer state is reset, a new id is assigned. */
void fg_call_next_attempt(struct fg_call *c);
/* Mark the call as a batch line ("BATCH_ID/INDEX", from the executor),
 * after its client is attached: record ids, records and the plan go
 * through the client's record_id / record / plan (client.h); plan=true
 * answers with the planned upstream request instead of sending it. */
void fg_call_set_batch_line(struct fg_call *c, const char *line, bool plan);
/* Cancel every live call of a worker (forced shutdown). */
void fg_call_abort_all(struct fg_worker *w);

/* Serve the call with model m from now on, on its own provider (deployment
 * 0): the only way a call's model changes (the resolve stage, a client's
 * retry escalated, escalation and fallback in relay.c, passthrough).  The
 * upstream dialect follows the model's. */
void fg_call_use_model(struct fg_call *c, const struct fg_model_cfg *m);
/* Serve the call's model from deployment k (0 = the model's own provider,
 * k = deployments[k-1]; deploy stage). */
void fg_call_use_deployment(struct fg_call *c, int k);
/* A call with no model (a stored Response proxied to the provider that
 * made it): provider index p only. */
void fg_call_use_provider(struct fg_call *c, int p);

#endif
