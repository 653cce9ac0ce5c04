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

#include "arena.h"
#include "client.h"
#include "config.h"
#include "err.h"
#include "json.h"
#include "keys.h"
#include "ledger.h"
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
struct fg_embed;

enum fg_endpoint {
    FG_EP_CHAT,
    FG_EP_MESSAGES,
    FG_EP_COUNT_TOKENS,
    FG_EP_EMBEDDINGS,        /* POST /v1/embeddings (embed.h) */
    FG_EP_PASSTHRU,          /* any other OpenAI path (passthru.h) */
    FG_EP_RESPONSES,         /* POST /v1/responses */
    FG_EP_RESP_INPUT_TOKENS, /* POST /v1/responses/input_tokens (free, like count_tokens) */
    FG_EP_COUNT
};

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

struct fg_call {
    struct fg_arena arena;
    struct fg_worker *w;
    struct fg_call *prev, *next; /* worker's live list */
    struct fg_client client;     /* where the answer goes (client.h) */
    struct event *idle_ev;       /* stream silence timer */
    enum fg_call_state state;
    int status; /* HTTP status sent to the client (0: none yet) */
    enum fg_endpoint endpoint;
    const struct fg_dialect_ops *in;  /* caller's dialect */
    const struct fg_dialect_ops *out; /* upstream dialect */
    char id[40];                      /* x-frugal-request-id */
    uint64_t t_start_ns, t_first_byte_ns;

    /* request */
    struct fg_call_req rq; /* its headers (read at the edge) */
    const char *raw;
    size_t raw_len;               /* client body (the client's memory) */
    struct fg_json body;          /* index of raw, parsed once */
    struct fg_json_edit edits[8]; /* splices of raw for the upstream body */
    size_t n_edits;
    char *upstream_body;
    size_t upstream_body_len; /* malloc'd when edited */
    bool stream;
    const char *model_name; /* as requested */
    const struct fg_model_cfg *model;
    const struct fg_provider_cfg *provider; /* the deployment serving it */
    int provider_index;
    int deployment;                       /* 0 = the model's own provider, k = deployments[k-1] */
    atomic_int *inflight;                 /* the deployment's in-flight counter this
                                         attempt holds, or NULL (affinity.h) */
    const char *upstream_model;           /* the deployment's model id */
    const char *route;                    /* fixed|cheap|frontier|... */
    const char *route_reason;             /* why (arena or static), or NULL */
    const struct fg_route_cfg *route_cfg; /* the route called, or NULL */
    bool escalated;                       /* already moved to the frontier model */
    /* a cheap streamed answer held back until its first content (relay.c),
     * so the route can still escalate an empty, refused or cut answer */
    bool held;
    bool held_content;    /* content seen: release it */
    const char *held_why; /* refusal | truncated seen while held */
    /* failover (failover.h) */
    int fo_retries;                            /* retries made on the current model */
    int fo_next;                               /* position in the origin's fallback list */
    const char *fo_origin;                     /* the model whose fallbacks apply */
    struct event *retry_ev;                    /* backoff timer */
    const struct fg_model_cfg *baseline_model; /* a route's frontier model: the
                                         counterfactual the savings count against */
    const char *client_version; /* anthropic-version from an Anthropic-dialect client */

    /* upstream transfer */
    struct fg_xfer xfer;
    struct curl_slist *up_headers;
    long up_status;
    bool up_headers_done;
    bool up_is_sse;
    struct evbuffer *up_body; /* non-stream body */
    struct fg_sse sse;
    bool stream_ended;      /* saw [DONE] / message_stop */
    bool stream_error_seen; /* provider sent an error event */
    bool paused;            /* curl paused for a slow client */
    int in_curl_cb;         /* inside a curl callback: defer ends */
    struct evbuffer *relay; /* events to write this round */
    struct fg_json resp;    /* index of a non-stream response, or
                                         scratch for stream events */

    /* metering (meter.c) */
    struct fg_usage usage;
    struct fg_record acct; /* tokens and money, filled by fg_meter_price */
    bool priced_done;
    bool strip_usage_chunk; /* hide the usage chunk frugal asked for */
    bool wants_structured;
    bool simple;             /* complexity scorer's verdict */
    long client_max_tokens;  /* the client's own output limit, 0 = none
                                         (max_tokens / max_completion_tokens) */
    bool client_cache_marks; /* the client placed its own cache_control
                                         (its caching is not frugal's saving) */
    bool client_gone;        /* the client left before the end */
    bool usage_estimated;
    int64_t prompt_tokens_est; /* prefix estimate of the whole prompt */
    int64_t data_events;       /* stream events relayed (≈ output tokens) */
    bool upstream_cut;         /* the provider cut or stalled a stream that had begun */
    bool usage_checked;        /* meter.c judged the reported usage */
    const char *usage_note;    /* why tokens were estimated (the record's error) */
    int64_t out_asked, out_n;  /* the request's output cap and choices (usage bounds) */
    int64_t answer_tokens_est; /* a complete answer's size / 4 */
    char *out_text;
    size_t out_len, out_cap;  /* answer text (structured calls) */
    struct fg_call_tags tags; /* resolved once at the edge, after auth
                                         (keyreg.h fg_keyreg_call_tags): the ledger
                                         shows .recorded; budgets and routing
                                         rules read .charged */
    /* a batch line run by the batch executor (batch_exec.h), or NULL */
    const char *batch_line; /* "BATCH_ID/INDEX": records go to its client */
    const char *batch_id;
    bool batch_plan;          /* plan only: answer with the upstream request */
    int batch_attempt;        /* attempts made, for their record ids */
    const char *key_id;       /* who is calling: "master" | "anonymous" | key id */
    struct fg_vkey *vkey;     /* the caller's virtual key (keyreg.h), or NULL */
    struct fg_admit *admit;   /* budget / rate holds (admit.h, arena), or NULL */
    struct fg_prefix *prefix; /* the client body's prefix scan (arena) */

    /* response cache */
    const char *cache_status; /* hit | miss | bypass */
    bool cache_keyed;         /* cache_key is set: store the answer */
    uint8_t cache_key[32];
    struct evbuffer *cache_sse; /* the stream as sent, to store */
    int64_t cache_hit_tokens;   /* embeddings: input tokens answered from
                                         the cache beside an upstream call */
    struct fg_embed *embed;     /* embeddings call state (embed.h, arena) */
    const char *pass_path;      /* FG_EP_PASSTHRU: the path, for the ledger */
    const char *pass_ctype;     /* FG_EP_PASSTHRU: the provider's content type */
    bool include_usage;         /* OpenAI client asked for the usage chunk */

    /* structured output (structured.c) */
    struct fg_schema *so_schema; /* compiled schema reference, or NULL */
    bool so_owned;               /* so_schema is ours, not a cache reference */
    char so_tool[72];            /* Anthropic forced tool whose input is the answer */
    long so_cap;                 /* output cap from the schema, 0 = none */
    int so_attempts;             /* retries made */
    bool client_stream;          /* the client streams, upstream doesn't
                                         (structured_output.stream: buffer) */

    /* translation (the caller's dialect differs from the provider's) */
    struct fg_translate_stream *tr; /* stream translator, owned */
    const char *forced_tool;        /* structured output via a forced tool */

    const char *response_id; /* the stored Response this attempt created
                                         (arena), for the ledger */
    void *aux;               /* a non-inference call's own state
                                         (responses_api.c), arena */
    struct fg_err err;
};

#endif
