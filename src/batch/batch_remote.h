/* batch_remote.h — the providers' own batch APIs, as a client.
 *
 * Contract: blocking calls (libcurl easy, with timeouts) made from the
 * batch executor's thread only; never from a worker loop.  A job is a set
 * of requests already encoded for the provider's dialect, each tagged with
 * a remote custom id ("l<INDEX>" of the client's line).
 *   OpenAI:    upload a JSONL file (POST /v1/files, purpose batch), create
 *              the batch (POST /v1/batches), poll it, download the output
 *              and error files, cancel.
 *   Anthropic: create a Message Batch with the requests inline, poll it,
 *              read the results (from the configured base URL, never from
 *              a URL the provider hands back), cancel.
 * Results are handed back one per line through a callback, in the
 * provider's dialect (the executor translates).  Upstream URLs come only
 * from config; redirects are not followed. */
#ifndef FRUGAL_BATCH_REMOTE_H
#define FRUGAL_BATCH_REMOTE_H

#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_remote {
    const struct fg_provider_cfg *provider;
    enum fg_dialect dialect;    /* which batch API */
    const char *openai_base;    /* …/v1 */
    const char *anthropic_base; /* without /v1 */
    int timeout_ms;
    const char *endpoint;      /* OpenAI: the lines' url (/v1/chat/completions when
                                        NULL, /v1/responses or /v1/embeddings) */
    const _Atomic bool *abort; /* when set, calls in flight give up (shutdown) */
};

struct fg_batch_remote_req {
    int64_t idx;
    const char *body;
    size_t len; /* request params in the provider's dialect */
};

enum fg_batch_remote_state { FG_REMOTE_RUNNING, FG_REMOTE_ENDED, FG_REMOTE_GONE };

/* One finished request.  kind: succeeded (status 200, body = the response),
 * errored (status, body = the provider's error body), canceled, expired. */
struct fg_batch_remote_result {
    int64_t idx;
    const char *kind;
    int status;
    const char *body;
    size_t len; /* JSON text, or NULL */
    const char *request_id;
};
typedef void (*fg_batch_remote_result_cb)(void *arg, const struct fg_batch_remote_result *r);

/* Create the provider batch: remote_id (and for OpenAI the uploaded file's
 * id) filled.  0, or -1 with err (the job is then retried later). */
int fg_batch_remote_submit(const struct fg_remote *r, const char *job_id,
                           const struct fg_batch_remote_req *reqs, size_t n, char *remote_id,
                           size_t idn, char *remote_file_id, size_t fidn, char *err, size_t errlen);
/* Poll: *state; when ended, every result is passed to cb.  GONE: the
 * provider no longer knows the batch (e.g. the simulated provider was
 * restarted): the executor resubmits its lines.  -1 with err on a
 * transient failure (poll again later). */
int fg_batch_remote_poll(const struct fg_remote *r, const char *remote_id,
                         enum fg_batch_remote_state *state, fg_batch_remote_result_cb cb, void *arg,
                         char *err, size_t errlen);
/* A batch this job created before a crash let frugal record its id:
 * OpenAI batches carry metadata.frugal_job, so the newest page of batches
 * is searched for it.  1 found (remote_id filled), 0 not found (or the
 * provider can't tell: Anthropic), -1 with err. */
int fg_batch_remote_find(const struct fg_remote *r, const char *job_id, char *remote_id, size_t idn,
                         char *err, size_t errlen);
int fg_batch_remote_cancel(const struct fg_remote *r, const char *remote_id, char *err,
                           size_t errlen);

#endif
