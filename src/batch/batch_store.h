/* batch_store.h — durable state of files, batches, their lines and the
 * provider jobs that run them.
 *
 * Contract:
 *  - Everything lives in the configured storage (the same SQLite file as
 *    the ledger: tables files, batches, batch_lines, batch_jobs), written
 *    through prepared statements only.  A committed change survives kill -9
 *    (WAL); a restart reads the same state back and the executor resumes.
 *  - A handle is used by one thread at a time: each worker thread and the
 *    executor open their own (fg_batch_store_open).  SQLite serialises writers
 *    (busy timeout 5 s).  No handle checkpoints the WAL inside its own
 *    commits (an upload's chunk writes would stall 30-140 ms every 4 MB):
 *    the ledger's checkpointer thread (ledger.c, the same database) copies
 *    it back every 500 ms; the last handle closed checkpoints too.
 *  - Lines are immutable input (custom_id, body in the client's dialect)
 *    plus a state machine: pending → planned (provider and upstream body
 *    chosen) → submitted (in a provider job) → done, with an outcome
 *    (succeeded | errored | canceled | expired) and the result body in the
 *    client's dialect.  A line is done exactly once: fg_batch_store_lines_done
 *    writes results and their ledger records in one transaction and skips
 *    lines already done.
 *  - A provider-mode line's budget reservation is durable: hold_pico and
 *    hold_at are written before the line is submitted and cleared (hold_pico
 *    = 0) in the same statement that ends the line or sends it back to be
 *    run locally, so the holds outstanding after a crash are exactly the
 *    rows fg_batch_store_holds() returns.
 *  - Times are unix seconds; 0 means "not yet" (null in the API).
 *  - Strings returned inside structs are copies owned by the struct
 *    (fg_batch_store_batch_clear / fg_bfile_clear free them). */
#ifndef FRUGAL_BATCH_STORE_H
#define FRUGAL_BATCH_STORE_H

#include "ledger.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fg_batch_store;

int fg_batch_store_open(const char *dsn, struct fg_batch_store **out, char *err, size_t errlen);
void fg_batch_store_close(struct fg_batch_store *s);
/* The ledger is not in this database (storage and batches.storage are
 * different DSNs): fg_batch_store_lines_done and _line_replan then leave
 * out their records, which the caller hands to the ledger after the
 * commit (a crash between the two loses them, as it loses any call's
 * record in its group window; a line run again writes the same ids, kept
 * once).  Without it (the same DSN, SQLite or Postgres) they write the
 * records' calls rows in the transaction of the lines' results. */
void fg_batch_store_calls_elsewhere(struct fg_batch_store *s);
const char *fg_batch_store_errmsg(struct fg_batch_store *s);

/* ---- files ---- */
struct fg_bfile {
    char id[40];
    char owner[48];
    char filename[256];
    char purpose[32];
    int64_t bytes, created_at, expires_at;
};

int fg_batch_store_file_put(struct fg_batch_store *s, const struct fg_bfile *f, const void *data,
                            size_t len);
/* 1 found (data malloc'd when data != NULL), 0 not found, -1 error. */
int fg_batch_store_file_get(struct fg_batch_store *s, const char *id, struct fg_bfile *f,
                            char **data, size_t *len);
int fg_batch_store_file_delete(struct fg_batch_store *s, const char *id);
/* A file's content in pieces, for readers that never hold it whole (GET
 * /v1/files/{id}/content, POST /v1/batches): piece seq (from 0, in order)
 * malloc'd into *data (never empty): a stored chunk of a streamed upload,
 * or FG_BATCH_STORE_PIECE bytes of a file stored whole.  1, 0 past the
 * end (or the file gone), -1 error. */
#define FG_BATCH_STORE_PIECE (1u << 20)
int fg_batch_store_file_piece(struct fg_batch_store *s, const char *id, int64_t seq, char **data,
                              size_t *len);

/* Files past their expires_at are gone for every reader at once; this frees
 * their content (the executor calls it now and then).  Count, or -1. */
int fg_batch_store_files_expire(struct fg_batch_store *s, int64_t now);
typedef int (*fg_bfile_cb)(void *arg, const struct fg_bfile *f);

/* An upload streamed in (batch_upload.h), never held whole: begin inserts
 * the file's row, invisible to every reader until commit (f->expires_at
 * then is when a row its process never ended may be swept by
 * files_expire); each chunk is one row in its own short statement (the
 * write lock is never held across the upload; seq from 0); commit sets
 * filename, bytes and expires_at and shows the file; abort hides the row
 * at once (one small UPDATE) and leaves its chunks and then the row to
 * fg_batch_store_chunks_sweep.  fg_batch_store_file_get reads either form
 * (content or chunks) the same way. */
int fg_batch_store_upload_begin(struct fg_batch_store *s, const struct fg_bfile *f);
int fg_batch_store_upload_chunk(struct fg_batch_store *s, const char *id, int64_t seq,
                                const void *data, size_t len);
int fg_batch_store_upload_commit(struct fg_batch_store *s, const struct fg_bfile *f);
int fg_batch_store_upload_abort(struct fg_batch_store *s, const char *id);
/* Deleting 150 MB of chunks takes a SQLite handle most of a second, the
 * write lock held all along: deleted, expired and aborted files' chunks go
 * instead at most `max` per call, each call its own short transaction (the
 * batch executor sweeps every tick, off the workers' loops); an aborted
 * upload's row goes with its last chunk.  Chunks deleted, or -1. */
int fg_batch_store_chunks_sweep(struct fg_batch_store *s, int max);
/* Files of owner (NULL: all), id order (desc when desc), ids after `after`
 * in that order, purpose filter optional; up to limit. */
int fg_batch_store_file_list(struct fg_batch_store *s, const char *owner, const char *purpose,
                             const char *after, bool desc, int limit, fg_bfile_cb cb, void *arg);

/* ---- batches ---- */
enum fg_line_outcome { FG_LINE_SUCCEEDED, FG_LINE_ERRORED, FG_LINE_CANCELED, FG_LINE_EXPIRED };

struct fg_batch {
    char id[48];
    char owner[48];
    char dialect[12]; /* "openai" | "anthropic" (how the client sees it) */
    char endpoint[40];
    char input_file_id[40];
    char status[16]; /* validating in_progress finalizing completed failed
                                   expired cancelling cancelled, and expiring
                                   (internal: window over, jobs being cancelled) */
    int64_t created_at, in_progress_at, finalizing_at, completed_at, failed_at, expired_at,
        cancelling_at, cancelled_at, expires_at;
    char *metadata; /* JSON text or NULL */
    char *errors;   /* JSON text or NULL */
    char *tags;     /* ledger tags of the creating call, or NULL */
    char output_file_id[40], error_file_id[40];
    bool deleted;
    int64_t total;
    /* from the lines */
    int64_t n_done, n_succeeded, n_errored, n_canceled, n_expired;
    int64_t in_tokens, cached_tokens, out_tokens, reasoning_tokens;
    int64_t cost_pico;
};
void fg_batch_store_batch_clear(struct fg_batch *b);

struct fg_bline_in {
    const char *custom_id;
    const char *body;
    size_t body_len; /* request params, client's dialect */
};

/* Insert the batch and its lines in one transaction. */
int fg_batch_store_batch_create(struct fg_batch_store *s, const struct fg_batch *b,
                                const struct fg_bline_in *lines, size_t n);
/* A batch created as its request streams in (batch_mcreate.h), never held
 * whole, and POST /v1/batches reading its file in pieces): begin inserts
 * the row (id, owner, dialect, endpoint, input_file_id, metadata, tags)
 * hidden from every reader and from the
 * executor (b->expires_at then is when a row its process never ended is
 * swept); add inserts a group of lines (indexes first..first+n-1) in one
 * short transaction; commit sets status, in_progress_at, expires_at and
 * total from b and shows the batch; abort hides it for good at once (one
 * small UPDATE) and leaves its lines and then the row to
 * fg_batch_store_batches_sweep: at most max lines per call, one short
 * statement each, never on a worker's loop.  Lines deleted, or -1. */
int fg_batch_store_batch_begin(struct fg_batch_store *s, const struct fg_batch *b);
int fg_batch_store_batch_add(struct fg_batch_store *s, const char *id, int64_t first,
                             const struct fg_bline_in *lines, size_t n);
int fg_batch_store_batch_commit(struct fg_batch_store *s, const struct fg_batch *b);
int fg_batch_store_batch_abort(struct fg_batch_store *s, const char *id);
int fg_batch_store_batches_sweep(struct fg_batch_store *s, int max, int64_t now);
/* 1 found, 0 not, -1 error; counts filled. */
int fg_batch_store_batch_get(struct fg_batch_store *s, const char *id, struct fg_batch *b);
typedef int (*fg_batch_cb)(void *arg, const struct fg_batch *b);
/* Newest first; owner NULL = all; dialect filter; after/before: ids
 * (cursor, exclusive); up to limit; deleted ones skipped. */
int fg_batch_store_batch_list(struct fg_batch_store *s, const char *owner, const char *dialect,
                              const char *after, const char *before, int limit, fg_batch_cb cb,
                              void *arg);
/* Set status and stamp the matching *_at column with now (unix s). */
int fg_batch_store_batch_status(struct fg_batch_store *s, const char *id, const char *status,
                                int64_t now);
int fg_batch_store_batch_files(struct fg_batch_store *s, const char *id, const char *output_file_id,
                               const char *error_file_id);
int fg_batch_store_batch_delete(struct fg_batch_store *s, const char *id);
/* Batches the executor must work on (not in a final state). */
int fg_batch_store_batch_active(struct fg_batch_store *s, fg_batch_cb cb, void *arg);

/* ---- lines ---- */
struct fg_bline {
    int64_t idx;
    char custom_id[80];
    char *body;
    size_t body_len; /* client request (malloc'd) */
    char state[12];  /* pending planned submitted done */
    char job_id[48];
    char model[128]; /* configured model chosen (planned) */
    char *plan;      /* planned upstream request JSON (malloc'd) or NULL */
    enum fg_line_outcome outcome;
    int status_code;
    char *result; /* client-dialect body (done lines), malloc'd */
    char request_id[48];
    int64_t hold_pico; /* budget reservation held for it (batch_budget.h) */
    int64_t hold_at;   /* ms it was reserved at, 0 = never reserved */
};
void fg_batch_store_line_clear(struct fg_bline *l);
typedef int (*fg_bline_cb)(void *arg, struct fg_bline *l);

/* Lines of a batch in a state ("pending", "planned", "submitted", "done"
 * or NULL for all), index order, from idx >= from, up to limit. */
int fg_batch_store_lines(struct fg_batch_store *s, const char *batch_id, const char *state,
                         int64_t from, int limit, fg_bline_cb cb, void *arg);
/* Planned lines whose plan runs locally (local = true) or at the provider,
 * index order from `from`, up to limit. */
int fg_batch_store_planned(struct fg_batch_store *s, const char *batch_id, bool local, int64_t from,
                           int limit, fg_bline_cb cb, void *arg);
/* Lines of one provider job. */
int fg_batch_store_job_lines(struct fg_batch_store *s, const char *job_id, fg_bline_cb cb,
                             void *arg);
int fg_batch_store_line_plan(struct fg_batch_store *s, const char *batch_id, int64_t idx,
                             const char *model, const char *plan);

struct fg_bline_done {
    int64_t idx;
    enum fg_line_outcome outcome;
    int status_code;
    const char *result; /* client-dialect JSON text, or NULL */
    const char *request_id;
    int64_t in_tokens, cached_tokens, out_tokens, reasoning_tokens, cost_pico;
    /* this line's records: recs[rec_first, rec_first + nrec) (nrec 0: none
     * is tied to it) */
    size_t rec_first, nrec;
};
/* In one transaction: each line not yet done gets its result (and its
 * reservation cleared); `recs` are written to the calls table (a row
 * whose id is stored already kept as it is).  Lines already done are left
 * alone, and so are the records tied to them (d[i].rec_first, nrec): a
 * line run twice (two replicas, one whose lease ran out mid-run) is
 * recorded by the run whose result was stored, once. */
int fg_batch_store_lines_done(struct fg_batch_store *s, const char *batch_id,
                              const struct fg_bline_done *d, size_t n,
                              struct fg_record *const *recs, size_t nrecs);
/* A submitted line goes back to planned with a new plan (e.g. run locally
 * after a provider answer failed its schema), its reservation cleared, and
 * recs (the failed attempt's cost) are written, in one transaction.  Done
 * lines untouched. */
int fg_batch_store_line_replan(struct fg_batch_store *s, const char *batch_id, int64_t idx,
                               const char *plan, struct fg_record *const *recs, size_t nrecs);
/* Every line of the batch not done yet (any state) ends with outcome, its
 * reservation cleared; returns how many, or -1. */
int fg_batch_store_lines_finish_rest(struct fg_batch_store *s, const char *batch_id,
                                     enum fg_line_outcome outcome);
/* Count lines in a state. */
int64_t fg_batch_store_lines_count(struct fg_batch_store *s, const char *batch_id,
                                   const char *state);

/* ---- budget reservations of lines ---- */
/* Record the reservation of each planned, not yet reserved line idx[i]
 * (amount[i] pico-USD, taken at at_ms), one transaction; -1 (nothing
 * written) if any of them is not such a line. */
int fg_batch_store_lines_hold(struct fg_batch_store *s, const char *batch_id, const int64_t *idx,
                              const int64_t *amount, size_t n, int64_t at_ms);
/* Planned lines already reserved (sent back by a job that never reached
 * the provider): they are submitted again without a new reservation. */
int64_t fg_batch_store_planned_held(struct fg_batch_store *s, const char *batch_id);
struct fg_bhold {
    char batch_id[48];
    int64_t idx, hold_pico, hold_at;
    char owner[48];
    char *tags; /* the batch's ledger tags, or NULL (owned by the walk) */
};
typedef int (*fg_bhold_cb)(void *arg, const struct fg_bhold *h);
/* Reservations outstanding (lines not done with hold_pico > 0) of one
 * batch, or of every batch when batch_id is NULL: then the open deferred
 * lines' too (batch_id their provider batch id, owner their key). */
int fg_batch_store_holds(struct fg_batch_store *s, const char *batch_id, fg_bhold_cb cb, void *arg);

/* ---- claims across replicas ---- */
/* Take or renew replica `me`'s lease on the batch for lease_ms (measured by
 * the store's clock): 1 when `me` holds it now, 0 when another replica
 * holds an unexpired one (leave the batch alone), -1 error.  A store only
 * one process uses (SQLite) always answers 1. */
int fg_batch_store_claim(struct fg_batch_store *s, const char *batch_id, const char *me,
                         int64_t lease_ms);

/* Renew every lease `me` holds for lease_ms from now, on batches and on
 * the lines it claimed (0: give them up, so another replica takes over at
 * once); leases renewed, or -1. */
int fg_batch_store_claims_renew(struct fg_batch_store *s, const char *me, int64_t lease_ms);
/* Several replicas run one batch's local-mode lines: up to limit planned
 * local lines from index `from` on, in idx order, that no other replica
 * holds an unexpired claim on, claimed for `me` for lease_ms (renewed by
 * fg_batch_store_claims_renew) and handed to cb.  A claim only keeps the
 * others off the line while it lasts; a line is still done once
 * (fg_batch_store_lines_done).  A store one process uses (SQLite): the
 * same as fg_batch_store_planned(local). */
int fg_batch_store_lines_claim(struct fg_batch_store *s, const char *batch_id, const char *me,
                               int64_t from, int limit, int64_t lease_ms, fg_bline_cb cb,
                               void *arg);

/* ---- provider jobs ---- */
struct fg_bjob {
    char id[48];
    char batch_id[48];
    char provider[64];   /* configured provider name */
    char dialect[12];    /* API used: openai | anthropic */
    char model[128];     /* configured model */
    char remote_id[128]; /* provider's batch id, "" before creation */
    char remote_file_id[128];
    char state[16]; /* creating submitted cancel_sent done */
    int64_t created_at, next_poll_at;
    int polls;
};
typedef int (*fg_bjob_cb)(void *arg, struct fg_bjob *j);
/* Create a job and move its lines (planned) into it, one transaction. */
int fg_batch_store_job_create(struct fg_batch_store *s, const struct fg_bjob *j, const int64_t *idx,
                              size_t n);
int fg_batch_store_job_update(struct fg_batch_store *s, const struct fg_bjob *j);
int fg_batch_store_jobs(struct fg_batch_store *s, const char *batch_id, fg_bjob_cb cb, void *arg);
/* Lines of a job that never reached the provider go back to planned. */
int fg_batch_store_job_release(struct fg_batch_store *s, const char *job_id);

/* ---- deferred calls' provider batches (batch_defer.h) ---- */
/* A provider batch of deferred calls' lines (tables defer_jobs and
 * defer_lines), written when the provider took it, so that a restarted
 * process or any replica polls it to its end and records each line's
 * answer once.  A job is held by one replica at a time (holder, lease
 * like fg_batch_store_claim); a line is open until one process ends it
 * (fg_batch_store_defer_line_end: the one whose call takes the answer or
 * that records it late), which is what keeps it "exactly once". */
struct fg_djob {
    char remote_id[128]; /* the provider's batch id */
    char provider[64];   /* configured provider name */
    char dialect[12];    /* wire dialect: openai | anthropic */
    char endpoint[40];   /* "" (chat / messages) or "/v1/responses" */
    char model[128];     /* upstream model */
};
struct fg_dline {
    int64_t idx; /* the line's index in the provider batch */
    char call_id[40];
    char model[128];    /* configured model */
    char body_hash[24]; /* of the encoded body (a retry's match) */
    const char *key_id; /* borrowed (writes) / owned by the walk (reads) */
    const char *tags;   /* redacted, as in the call's record; may be NULL */
    const char *model_req;
    int64_t ts_ms;              /* the call's budget period */
    int64_t hold_pico, hold_at; /* the line's own reservation (0: none) */
    int64_t hold_until;         /* unix ms until which a call of `me` may wait for it */
};
typedef int (*fg_djob_cb)(void *arg, const struct fg_djob *j);
typedef int (*fg_dline_cb)(void *arg, const struct fg_dline *l);
/* The job and its lines (open), held by `me` for lease_ms, one
 * transaction. */
int fg_batch_store_defer_add(struct fg_batch_store *s, const struct fg_djob *j,
                             const struct fg_dline *l, size_t n, const char *me, int64_t lease_ms);
/* Take or renew `me`'s lease on every open job that is `me`'s or whose
 * holder's lease ran out, and hand each to cb (a store one process owns:
 * every open job); `me` is alive for lease_ms more. */
int fg_batch_store_defer_claim(struct fg_batch_store *s, const char *me, int64_t lease_ms,
                               fg_djob_cb cb, void *arg);
/* The open lines of a job, index order. */
int fg_batch_store_defer_lines(struct fg_batch_store *s, const char *remote_id, fg_dline_cb cb,
                               void *arg);
/* End an open line (its reservation cleared): 1 when this call ended it
 * (the caller answers or records it), 0 when it was ended already, -1. */
int fg_batch_store_defer_line_end(struct fg_batch_store *s, const char *remote_id, int64_t idx);
/* The job ended at the provider (its lines ended each on their own). */
int fg_batch_store_defer_job_end(struct fg_batch_store *s, const char *remote_id);
/* Give up `me`'s leases on open jobs and its claim on their lines
 * (shutdown): another replica, or the next process, takes them over at
 * once and records their lines without waiting for their calls. */
int fg_batch_store_defer_release(struct fg_batch_store *s, const char *me);
/* Results to the replica holding a line's call (a store several replicas
 * share; a store one process owns answers 0 and hands nothing):
 *  - answer: an open line whose holder is another replica, alive (it
 *    renewed its leases, fg_batch_store_defer_claim, within lease_ms), and
 *    whose hold_until has not passed gets the answer (state answered): 1;
 *    else 0 (the caller ends and records it itself), -1.
 *  - take: `me`'s answered lines of the job end (done) and are handed to
 *    cb with their answer: its held call gets it, or it records them.
 *  - sweep: answered lines whose hold_until passed or whose holder died
 *    before taking them end and are handed to cb with their job, to be
 *    recorded late. */
typedef int (*fg_dtake_cb)(void *arg, int64_t idx, const char *answer, size_t len);
typedef int (*fg_dsweep_cb)(void *arg, const struct fg_djob *j, const struct fg_dline *l,
                            const char *answer, size_t len);
int fg_batch_store_defer_answer(struct fg_batch_store *s, const char *remote_id, int64_t idx,
                                const char *me, const char *answer, size_t len);
int fg_batch_store_defer_take(struct fg_batch_store *s, const char *remote_id, const char *me,
                              fg_dtake_cb cb, void *arg);
int fg_batch_store_defer_sweep(struct fg_batch_store *s, fg_dsweep_cb cb, void *arg);

/* Random id with a prefix ("file-", "batch_", "msgbatch_"): 24 hex chars. */
void fg_batch_store_new_id(const char *prefix, char *out, size_t n);
const char *fg_batch_store_outcome_name(enum fg_line_outcome o);
/* The outcome named s (errored for NULL or an unknown name). */
enum fg_line_outcome fg_batch_store_outcome_parse(const char *s);

#endif
