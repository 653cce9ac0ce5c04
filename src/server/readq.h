/* readq.h — ledger reads off the worker loops: the spend map (GET
 * /frugal/spend) and the dashboard's reads (dash_api.h) run on a small pool
 * of reader threads (FG_READQ_READERS), for every storage.  A server store's query is a network round
 * trip; an embedded one over a big ledger can take from milliseconds (a
 * rollup view) to seconds (raw rows over 30 days): neither may hold a loop
 * that serves calls.
 *
 * Contract:
 *  - fg_readq_start() starts the reader threads, each with its own store
 *    and key store handles (opened on first use, again after a failure);
 *    after it, fg_readq_active() is true.
 *  - fg_readq_submit() is called on worker w's loop with a request it owns:
 *    the job counts as in flight on w (w->inflight), so a drain waits for
 *    its answer.  The first free reader opens its store, calls fn(h, arg, &out, err)
 *    there, and posts the reply back to w's loop (event_base_once), which
 *    sends it (200 with out, or 500 `storage_unavailable` when the store
 *    cannot be opened, `storage_error` when fn fails) and ends the job.
 *    fn runs on a reader thread, maybe at the same time as other jobs' fns
 *    on other readers: it may touch only arg and h (and its reader's key
 *    store, fg_readq_keystore), never the request or the worker.  arg is malloc'd by the caller and freed by
 *    readq (free, after the reply).
 *  - fg_readq_spend() is the spend map's job (o->key_id is copied).
 *  - fg_readq_stop() is called after the worker threads are joined and
 *    before their bases are freed (server.c fg_server_join): it stops the
 *    readers and frees the jobs whose reply never ran (a grace period cut
 *    them; their requests die with the edge).
 *  - Ownership: a job is malloc'd by fg_readq_submit and freed by its reply
 *    or by fg_readq_stop, with its arg and its JSON answer.
 *  Jobs start in order, up to FG_READQ_READERS at a time: a long read (a
 *  30-day spend map over raw rows) holds one reader while the others answer
 *  the views asked after it; only FG_READQ_READERS long reads at once
 *  delay the rest, never a call. */
#ifndef FRUGAL_READQ_H
#define FRUGAL_READQ_H

#include "provider.h"
#include "report.h"
#include "runtime.h"

#include <jansson.h>
#include <stdbool.h>

struct fg_edge_req;
struct fg_store;
struct fg_keystore;

/* Reader threads (each holds a store connection: a few, not one per
 * request).  Three: a slow read and the two or three views a page asks at
 * once do not wait for each other. */
#define FG_READQ_READERS 3

/* The reader's handles: store is open when fn runs; fg_readq_keystore,
 * called by fn on its reader, opens that reader's key store on first use
 * (NULL with err on failure). */
struct fg_readq_handles {
    struct fg_store *store;
};
struct fg_keystore *fg_readq_keystore(char *err, size_t errlen);
/* 0 with *out set, or -1 with err. */
typedef int (*fg_readq_fn)(struct fg_readq_handles *h, void *arg, json_t **out, char *err,
                           size_t errlen);

int fg_readq_start(const struct fg_config *cfg, char *err, size_t errlen);
bool fg_readq_active(void);
void fg_readq_submit(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                     fg_readq_fn fn, void *arg);
void fg_readq_spend(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                    const struct fg_report_opts *o);
void fg_readq_stop(void);

#endif
