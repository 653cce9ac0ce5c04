/* batch_store_ops.h — the batch store's backends: a table of functions per
 * backend (the shape of ledger/store.h), used only inside batch/.
 *
 * Contract:
 *  - A backend is a file (batch_store_sqlite.c, batch_store_pg.c) exporting
 *    a struct fg_batch_store_ops; fg_batch_store_open() (batch_store.c)
 *    picks it from the DSN's scheme ("sqlite:PATH", "postgres://…" or
 *    "postgresql://…").
 *  - Each backend's handle starts with a struct fg_batch_store (ops, the
 *    last error text, the calls_elsewhere flag); every op keeps the
 *    contract batch_store.h states for the function of the same name, and
 *    writes its error text into base.err before returning -1. */
#ifndef FRUGAL_BATCH_STORE_OPS_H
#define FRUGAL_BATCH_STORE_OPS_H

#include "batch_store.h"

struct fg_batch_store {
    const struct fg_batch_store_ops *ops;
    char err[256];
    bool calls_elsewhere; /* fg_batch_store_calls_elsewhere */
};

struct fg_batch_store_ops {
    const char *scheme;
    int (*open)(const char *dsn, struct fg_batch_store **out, char *err, size_t errlen);
    void (*close)(struct fg_batch_store *s);
    int (*file_put)(struct fg_batch_store *s, const struct fg_bfile *f, const void *data,
                    size_t len);
    int (*file_get)(struct fg_batch_store *s, const char *id, struct fg_bfile *f, char **data,
                    size_t *len);
    int (*file_piece)(struct fg_batch_store *s, const char *id, int64_t seq, char **data,
                      size_t *len);
    int (*file_delete)(struct fg_batch_store *s, const char *id);
    int (*files_expire)(struct fg_batch_store *s, int64_t now);
    int (*chunks_sweep)(struct fg_batch_store *s, int max);
    int (*upload_begin)(struct fg_batch_store *s, const struct fg_bfile *f);
    int (*upload_chunk)(struct fg_batch_store *s, const char *id, int64_t seq, const void *data,
                        size_t len);
    int (*upload_commit)(struct fg_batch_store *s, const struct fg_bfile *f);
    int (*upload_abort)(struct fg_batch_store *s, const char *id);
    int (*file_list)(struct fg_batch_store *s, const char *owner, const char *purpose,
                     const char *after, bool desc, int limit, fg_bfile_cb cb, void *arg);
    int (*batch_create)(struct fg_batch_store *s, const struct fg_batch *b,
                        const struct fg_bline_in *lines, size_t n);
    int (*batch_begin)(struct fg_batch_store *s, const struct fg_batch *b);
    int (*batch_add)(struct fg_batch_store *s, const char *id, int64_t first,
                     const struct fg_bline_in *lines, size_t n);
    int (*batch_commit)(struct fg_batch_store *s, const struct fg_batch *b);
    int (*batch_abort)(struct fg_batch_store *s, const char *id);
    int (*batches_sweep)(struct fg_batch_store *s, int max, int64_t now);
    int (*batch_get)(struct fg_batch_store *s, const char *id, struct fg_batch *b);
    int (*batch_list)(struct fg_batch_store *s, const char *owner, const char *dialect,
                      const char *after, const char *before, int limit, fg_batch_cb cb, void *arg);
    int (*batch_active)(struct fg_batch_store *s, fg_batch_cb cb, void *arg);
    int (*batch_status)(struct fg_batch_store *s, const char *id, const char *status, int64_t now);
    int (*batch_files)(struct fg_batch_store *s, const char *id, const char *output_file_id,
                       const char *error_file_id);
    int (*batch_delete)(struct fg_batch_store *s, const char *id);
    int (*lines)(struct fg_batch_store *s, const char *batch_id, const char *state, int64_t from,
                 int limit, fg_bline_cb cb, void *arg);
    int (*planned)(struct fg_batch_store *s, const char *batch_id, bool local, int64_t from,
                   int limit, fg_bline_cb cb, void *arg);
    int (*job_lines)(struct fg_batch_store *s, const char *job_id, fg_bline_cb cb, void *arg);
    int (*line_plan)(struct fg_batch_store *s, const char *batch_id, int64_t idx, const char *model,
                     const char *plan);
    int (*lines_done)(struct fg_batch_store *s, const char *batch_id, const struct fg_bline_done *d,
                      size_t n, struct fg_record *const *recs, size_t nrecs);
    int (*line_replan)(struct fg_batch_store *s, const char *batch_id, int64_t idx,
                       const char *plan, struct fg_record *const *recs, size_t nrecs);
    int (*lines_finish_rest)(struct fg_batch_store *s, const char *batch_id,
                             enum fg_line_outcome outcome);
    int64_t (*lines_count)(struct fg_batch_store *s, const char *batch_id, const char *state);
    int64_t (*planned_held)(struct fg_batch_store *s, const char *batch_id);
    int (*lines_hold)(struct fg_batch_store *s, const char *batch_id, const int64_t *idx,
                      const int64_t *amount, size_t n, int64_t at_ms);
    int (*holds)(struct fg_batch_store *s, const char *batch_id, fg_bhold_cb cb, void *arg);
    int (*job_create)(struct fg_batch_store *s, const struct fg_bjob *j, const int64_t *idx,
                      size_t n);
    int (*job_update)(struct fg_batch_store *s, const struct fg_bjob *j);
    int (*jobs)(struct fg_batch_store *s, const char *batch_id, fg_bjob_cb cb, void *arg);
    int (*job_release)(struct fg_batch_store *s, const char *job_id);
    int (*defer_add)(struct fg_batch_store *s, const struct fg_djob *j, const struct fg_dline *l,
                     size_t n, const char *me, int64_t lease_ms);
    int (*defer_claim)(struct fg_batch_store *s, const char *me, int64_t lease_ms, fg_djob_cb cb,
                       void *arg);
    int (*defer_lines)(struct fg_batch_store *s, const char *remote_id, fg_dline_cb cb, void *arg);
    int (*defer_line_end)(struct fg_batch_store *s, const char *remote_id, int64_t idx);
    int (*defer_job_end)(struct fg_batch_store *s, const char *remote_id);
    int (*defer_release)(struct fg_batch_store *s, const char *me);
    /* NULL: one process owns the store (no other holder to answer) */
    int (*defer_answer)(struct fg_batch_store *s, const char *remote_id, int64_t idx,
                        const char *me, const char *answer, size_t len);
    int (*defer_take)(struct fg_batch_store *s, const char *remote_id, const char *me,
                      fg_dtake_cb cb, void *arg);
    int (*defer_sweep)(struct fg_batch_store *s, fg_dsweep_cb cb, void *arg);
    /* NULL: one process owns the store (every claim is granted) */
    int (*claim)(struct fg_batch_store *s, const char *batch_id, const char *me, int64_t lease_ms);
    int (*claims_renew)(struct fg_batch_store *s, const char *me, int64_t lease_ms);
    /* NULL: planned(local) (one process runs every line) */
    int (*lines_claim)(struct fg_batch_store *s, const char *batch_id, const char *me, int64_t from,
                       int limit, int64_t lease_ms, fg_bline_cb cb, void *arg);
};

/* For lines_done: recs without those tied to lines that were done
 * already (fresh[i] false for d[i]), in order, into out (room for nrecs).
 * Their count. */
size_t fg_batch_store_recs_fresh(const struct fg_bline_done *d, size_t n, const bool *fresh,
                                 struct fg_record *const *recs, size_t nrecs,
                                 struct fg_record **out);

extern const struct fg_batch_store_ops fg_batch_store_sqlite;
extern const struct fg_batch_store_ops fg_batch_store_pg;

#endif
