/* sim_batch_internal.h — the simulated provider's Files and Batch APIs (OpenAI Files +
 * Batches, Anthropic Message Batches), shared between sim.c (transport),
 * sim_batch.c (state, routing, timing, running one line), sim_files.c,
 * sim_batch_openai.c, sim_batch_anthropic.c and test/unit/test_simbatch.c.
 *
 * Like the dialect files, everything here is a pure function of the state,
 * the request and two injected clocks: the handlers fill a struct sim_reply
 * and never touch the network, so unit tests drive them with a fake clock.
 *
 * State: struct sim_batches owns every stored file and batch (malloc'd,
 * freed by sim_batches_free).  It is used from the sim's single event-loop
 * thread only, so it has no lock.
 *
 * Timing is lazy: a batch is advanced to "now" whenever a request looks at
 * it (retrieve, list, cancel, results, delete); no timers run.  Line i
 * (0-based, of n) is done at created + delay * (i + 1) / n.  A line's answer
 * is computed when a request first sees it done, by the same dialect
 * handler a real-time request uses (so prompt-cache accounting happens
 * then, in line order). */
#ifndef FRUGAL_SIM_BATCH_INTERNAL_H
#define FRUGAL_SIM_BATCH_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_internal.h"

#define SIM_BATCH_DEFAULT_DELAY_MS 300
/* Everything stored (uploaded files, batch inputs, output files) stays
 * under this; uploads and creates past it are refused. */
#define SIM_STORE_MAX_BYTES (1024ULL << 20)
/* ... and at most this many files and batches together, however small
 * (an object costs memory beyond its bytes): past it, refused too. */
#define SIM_STORE_MAX_OBJECTS 10000
#define SIM_OPENAI_MAX_LINES 50000
#define SIM_ANTHROPIC_MAX_REQUESTS 100000

enum sim_method { SIM_GET, SIM_POST, SIM_DELETE, SIM_OTHER_METHOD };

/* One request to the Files / Batch APIs. */
struct sim_http {
    enum sim_method method;
    const char *path;         /* without the query */
    const char *query;        /* raw query string, or NULL */
    const char *content_type; /* request header, or NULL */
    const char *fault;        /* x-sim-fault request header, or NULL */
    const char *body;         /* len bytes, NUL-terminated */
    size_t len;
    uint64_t wall_ms; /* Unix time in ms: schedules and timestamps */
};

struct sim_file;
struct sim_oa_batch;
struct sim_an_batch;

struct sim_batches {
    char base_url[128];      /* for Anthropic results_url */
    uint64_t counter;        /* ids */
    uint64_t stored;         /* bytes held, against SIM_STORE_MAX_BYTES */
    uint64_t objects;        /* files + batches held, against SIM_STORE_MAX_OBJECTS */
    struct sim_file *files;  /* newest first */
    struct sim_oa_batch *oa; /* newest first */
    struct sim_an_batch *an; /* newest first */
};

struct sim_batches *sim_batches_new(void);
void sim_batches_set_base_url(struct sim_batches *s, const char *url);
void sim_batches_free(struct sim_batches *s);

/* Does <path> belong to these APIs?  Sets the dialect its errors use. */
int sim_batches_owns(const char *path, enum sim_dialect *d);
/* Serve one request whose path sim_batches_owns(); fills <r> (404/405
 * included).  <c> supplies the arena, the prompt cache, the monotonic clock
 * for caching and the anthropic-version header. */
void sim_batches_handle(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                        struct sim_reply *r);

/* ---- shared helpers (sim_batch.c) ---------------------------------------- */

/* When lines finish. */
struct sim_sched {
    uint64_t created_ms, delay_ms;
    size_t n;
    int expire; /* #sim:batch_expire: the batch expires at created + delay */
};
uint64_t sim_sched_done_ms(const struct sim_sched *s, size_t i);
uint64_t sim_sched_end_ms(const struct sim_sched *s);
/* Line i counts as done at <t>: its time has come, and with expiry it came
 * strictly before the batch expired. */
int sim_sched_line_done(const struct sim_sched *s, size_t i, uint64_t t);

/* Batch-wide directives: "#sim:batch_delay_ms=N" (max over lines and the
 * header), "#sim:batch_expire".  Start with sim_batch_dir_init, merge the
 * x-sim-fault header and each line's last user text, then read. */
struct sim_batch_dir {
    long delay_ms; /* -1: not given */
    int expire;
};
void sim_batch_dir_init(struct sim_batch_dir *d, const char *header);
void sim_batch_dir_add(struct sim_batch_dir *d, const char *text);
void sim_batch_dir_sched(const struct sim_batch_dir *d, uint64_t created_ms, size_t n,
                         struct sim_sched *out);

/* A fresh id "<prefix><24 base62 chars>" into out (64 bytes). */
void sim_batch_new_id(struct sim_batches *s, const char *prefix, char *out);
/* RFC 3339 UTC with microseconds ("2025-11-02T10:00:00.123000Z"). */
char *sim_rfc3339(struct fg_arena *a, uint64_t ms);
/* Value of query parameter <key> (percent-decoded) in the arena, or NULL. */
const char *sim_query_get(struct fg_arena *a, const char *query, const char *key);
/* <rest> is "/ID" or "/ID/TAIL": copy ID (1-63 safe characters) into id
 * (64 bytes) and point *tail at "" or "/TAIL".  0, or -1 otherwise. */
int sim_path_id(const char *rest, char *id, const char **tail);
/* 405 (the path exists, not with this method) or 404 (<known> == 0), in
 * the dialect's error shape. */
void sim_batch_bad_route(struct sim_ctx *c, enum sim_dialect d, const struct sim_http *h, int known,
                         struct sim_reply *r);
/* Parse an integer list limit in [lo, hi]; 0, or -1 when malformed. */
int sim_parse_limit(const char *v, long lo, long hi, long *out);

/* The answer to one batch line: exactly what a real-time request with this
 * body gets (same handler, same cache), without the transport faults.
 * "#sim:status=N" in the last user message gives that error; "#sim:tokens"
 * applies.  A body that asks to stream is refused in the dialect's error
 * shape.  <status> and the parsed body (new reference) and request id. */
struct sim_line_answer {
    int status;
    json_t *body;
    const char *request_id; /* in c->arena */
};
void sim_batch_run_line(struct sim_ctx *c, enum sim_dialect d, const json_t *body,
                        struct sim_line_answer *out);
/* The same for a line of a /v1/responses batch (c->responses holds what it
 * stores). */
void sim_batch_run_responses_line(struct sim_ctx *c, const json_t *body,
                                  struct sim_line_answer *out);

/* ---- the APIs (one file each) ----------------------------------------------- */

/* sim_files.c: files are shared by the OpenAI batches (input and output). */
struct sim_file *sim_file_find(struct sim_batches *s, const char *id);
const char *sim_file_data(const struct sim_file *f, size_t *len);
const char *sim_file_purpose(const struct sim_file *f);
/* Store a copy of data; returns the new file (owned by s). */
struct sim_file *sim_file_add(struct sim_batches *s, const char *filename, const char *purpose,
                              const char *data, size_t len, long long created_at,
                              long long expires_at);
const char *sim_file_id(const struct sim_file *f);
void sim_files_free(struct sim_batches *s);
/* rest: the path after "/v1/files" ("", "/ID", "/ID/content"). */
void sim_files_handle(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                      const char *rest, struct sim_reply *r);

/* sim_batch_openai.c; rest after "/v1/batches". */
void sim_oa_batches_free(struct sim_batches *s);
void sim_oa_batches_handle(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                           const char *rest, struct sim_reply *r);

/* sim_batch_anthropic.c; rest after "/v1/messages/batches". */
void sim_an_batches_free(struct sim_batches *s);
void sim_an_batches_handle(struct sim_batches *s, struct sim_ctx *c, const struct sim_http *h,
                           const char *rest, struct sim_reply *r);

#endif
