/* batch_store.c — see batch_store.h: the backend is chosen at open from the
 * DSN's scheme (batch_store_ops.h); everything else is handed to it. */
#include "batch_store.h"
#include "batch_store_ops.h"

#include "pgdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int fg_batch_store_open(const char *dsn, struct fg_batch_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!strncmp(dsn, "sqlite:", 7))
        return fg_batch_store_sqlite.open(dsn, out, err, errlen);
    if (fg_pgdb_is_dsn(dsn))
        return fg_batch_store_pg.open(dsn, out, err, errlen);
    snprintf(err, errlen, "batch storage must be sqlite:PATH or postgres://…");
    return -1;
}

const char *fg_batch_store_errmsg(struct fg_batch_store *s)
{
    return s->err;
}

void fg_batch_store_calls_elsewhere(struct fg_batch_store *s)
{
    s->calls_elsewhere = true;
}

void fg_batch_store_new_id(const char *prefix, char *out, size_t n)
{
    unsigned char r[12];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k > 0)
            got += (size_t)k;
    }
    int w = snprintf(out, n, "%s", prefix);
    for (size_t i = 0; i < sizeof r && w + 2 < (int)n; i++)
        w += snprintf(out + w, n - (size_t)w, "%02x", r[i]);
}

size_t fg_batch_store_recs_fresh(const struct fg_bline_done *d, size_t n, const bool *fresh,
                                 struct fg_record *const *recs, size_t nrecs,
                                 struct fg_record **out)
{
    size_t k = 0;
    for (size_t r = 0; r < nrecs; r++) {
        bool keep = true;
        for (size_t i = 0; i < n && keep; i++)
            keep = fresh[i] || !(r >= d[i].rec_first && r < d[i].rec_first + d[i].nrec);
        if (keep)
            out[k++] = recs[r];
    }
    return k;
}

const char *fg_batch_store_outcome_name(enum fg_line_outcome o)
{
    static const char *const names[] = {"succeeded", "errored", "canceled", "expired"};
    return names[o];
}

enum fg_line_outcome fg_batch_store_outcome_parse(const char *s)
{
    if (!s)
        return FG_LINE_ERRORED;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, fg_batch_store_outcome_name((enum fg_line_outcome)i)))
            return (enum fg_line_outcome)i;
    return FG_LINE_ERRORED;
}

void fg_batch_store_batch_clear(struct fg_batch *b)
{
    free(b->metadata);
    free(b->errors);
    free(b->tags);
    memset(b, 0, sizeof *b);
}

void fg_batch_store_line_clear(struct fg_bline *l)
{
    free(l->body);
    free(l->plan);
    free(l->result);
    memset(l, 0, sizeof *l);
}

/* ---- handed to the backend ---- */

void fg_batch_store_close(struct fg_batch_store *s)
{
    if (s)
        s->ops->close(s);
}

int fg_batch_store_file_put(struct fg_batch_store *s, const struct fg_bfile *f, const void *data,
                            size_t len)
{
    return s->ops->file_put(s, f, data, len);
}

int fg_batch_store_file_get(struct fg_batch_store *s, const char *id, struct fg_bfile *f,
                            char **data, size_t *len)
{
    return s->ops->file_get(s, id, f, data, len);
}

int fg_batch_store_file_piece(struct fg_batch_store *s, const char *id, int64_t seq, char **data,
                              size_t *len)
{
    return s->ops->file_piece(s, id, seq, data, len);
}

int fg_batch_store_file_delete(struct fg_batch_store *s, const char *id)
{
    return s->ops->file_delete(s, id);
}

int fg_batch_store_files_expire(struct fg_batch_store *s, int64_t now)
{
    return s->ops->files_expire(s, now);
}

int fg_batch_store_chunks_sweep(struct fg_batch_store *s, int max)
{
    return s->ops->chunks_sweep(s, max);
}

int fg_batch_store_upload_begin(struct fg_batch_store *s, const struct fg_bfile *f)
{
    return s->ops->upload_begin(s, f);
}

int fg_batch_store_upload_chunk(struct fg_batch_store *s, const char *id, int64_t seq,
                                const void *data, size_t len)
{
    return s->ops->upload_chunk(s, id, seq, data, len);
}

int fg_batch_store_upload_commit(struct fg_batch_store *s, const struct fg_bfile *f)
{
    return s->ops->upload_commit(s, f);
}

int fg_batch_store_upload_abort(struct fg_batch_store *s, const char *id)
{
    return s->ops->upload_abort(s, id);
}

int fg_batch_store_file_list(struct fg_batch_store *s, const char *owner, const char *purpose,
                             const char *after, bool desc, int limit, fg_bfile_cb cb, void *arg)
{
    return s->ops->file_list(s, owner, purpose, after, desc, limit, cb, arg);
}

int fg_batch_store_batch_create(struct fg_batch_store *s, const struct fg_batch *b,
                                const struct fg_bline_in *lines, size_t n)
{
    return s->ops->batch_create(s, b, lines, n);
}

int fg_batch_store_batch_begin(struct fg_batch_store *s, const struct fg_batch *b)
{
    return s->ops->batch_begin(s, b);
}

int fg_batch_store_batch_add(struct fg_batch_store *s, const char *id, int64_t first,
                             const struct fg_bline_in *lines, size_t n)
{
    return s->ops->batch_add(s, id, first, lines, n);
}

int fg_batch_store_batch_commit(struct fg_batch_store *s, const struct fg_batch *b)
{
    return s->ops->batch_commit(s, b);
}

int fg_batch_store_batch_abort(struct fg_batch_store *s, const char *id)
{
    return s->ops->batch_abort(s, id);
}

int fg_batch_store_batches_sweep(struct fg_batch_store *s, int max, int64_t now)
{
    return s->ops->batches_sweep(s, max, now);
}

int fg_batch_store_batch_get(struct fg_batch_store *s, const char *id, struct fg_batch *b)
{
    return s->ops->batch_get(s, id, b);
}

int fg_batch_store_batch_list(struct fg_batch_store *s, const char *owner, const char *dialect,
                              const char *after, const char *before, int limit, fg_batch_cb cb,
                              void *arg)
{
    return s->ops->batch_list(s, owner, dialect, after, before, limit, cb, arg);
}

int fg_batch_store_batch_active(struct fg_batch_store *s, fg_batch_cb cb, void *arg)
{
    return s->ops->batch_active(s, cb, arg);
}

int fg_batch_store_batch_status(struct fg_batch_store *s, const char *id, const char *status,
                                int64_t now)
{
    return s->ops->batch_status(s, id, status, now);
}

int fg_batch_store_batch_files(struct fg_batch_store *s, const char *id, const char *output_file_id,
                               const char *error_file_id)
{
    return s->ops->batch_files(s, id, output_file_id, error_file_id);
}

int fg_batch_store_batch_delete(struct fg_batch_store *s, const char *id)
{
    return s->ops->batch_delete(s, id);
}

int fg_batch_store_lines(struct fg_batch_store *s, const char *batch_id, const char *state,
                         int64_t from, int limit, fg_bline_cb cb, void *arg)
{
    return s->ops->lines(s, batch_id, state, from, limit, cb, arg);
}

int fg_batch_store_planned(struct fg_batch_store *s, const char *batch_id, bool local, int64_t from,
                           int limit, fg_bline_cb cb, void *arg)
{
    return s->ops->planned(s, batch_id, local, from, limit, cb, arg);
}

int fg_batch_store_job_lines(struct fg_batch_store *s, const char *job_id, fg_bline_cb cb,
                             void *arg)
{
    return s->ops->job_lines(s, job_id, cb, arg);
}

int fg_batch_store_line_plan(struct fg_batch_store *s, const char *batch_id, int64_t idx,
                             const char *model, const char *plan)
{
    return s->ops->line_plan(s, batch_id, idx, model, plan);
}

int fg_batch_store_lines_done(struct fg_batch_store *s, const char *batch_id,
                              const struct fg_bline_done *d, size_t n,
                              struct fg_record *const *recs, size_t nrecs)
{
    return s->ops->lines_done(s, batch_id, d, n, recs, nrecs);
}

int fg_batch_store_line_replan(struct fg_batch_store *s, const char *batch_id, int64_t idx,
                               const char *plan, struct fg_record *const *recs, size_t nrecs)
{
    return s->ops->line_replan(s, batch_id, idx, plan, recs, nrecs);
}

int fg_batch_store_lines_finish_rest(struct fg_batch_store *s, const char *batch_id,
                                     enum fg_line_outcome outcome)
{
    return s->ops->lines_finish_rest(s, batch_id, outcome);
}

int64_t fg_batch_store_lines_count(struct fg_batch_store *s, const char *batch_id,
                                   const char *state)
{
    return s->ops->lines_count(s, batch_id, state);
}

int64_t fg_batch_store_planned_held(struct fg_batch_store *s, const char *batch_id)
{
    return s->ops->planned_held(s, batch_id);
}

int fg_batch_store_lines_hold(struct fg_batch_store *s, const char *batch_id, const int64_t *idx,
                              const int64_t *amount, size_t n, int64_t at_ms)
{
    return s->ops->lines_hold(s, batch_id, idx, amount, n, at_ms);
}

int fg_batch_store_holds(struct fg_batch_store *s, const char *batch_id, fg_bhold_cb cb, void *arg)
{
    return s->ops->holds(s, batch_id, cb, arg);
}

int fg_batch_store_job_create(struct fg_batch_store *s, const struct fg_bjob *j, const int64_t *idx,
                              size_t n)
{
    return s->ops->job_create(s, j, idx, n);
}

int fg_batch_store_job_update(struct fg_batch_store *s, const struct fg_bjob *j)
{
    return s->ops->job_update(s, j);
}

int fg_batch_store_jobs(struct fg_batch_store *s, const char *batch_id, fg_bjob_cb cb, void *arg)
{
    return s->ops->jobs(s, batch_id, cb, arg);
}

int fg_batch_store_claim(struct fg_batch_store *s, const char *batch_id, const char *me,
                         int64_t lease_ms)
{
    return s->ops->claim ? s->ops->claim(s, batch_id, me, lease_ms) : 1;
}

int fg_batch_store_claims_renew(struct fg_batch_store *s, const char *me, int64_t lease_ms)
{
    return s->ops->claims_renew ? s->ops->claims_renew(s, me, lease_ms) : 0;
}

int fg_batch_store_lines_claim(struct fg_batch_store *s, const char *batch_id, const char *me,
                               int64_t from, int limit, int64_t lease_ms, fg_bline_cb cb, void *arg)
{
    if (!s->ops->lines_claim)
        return s->ops->planned(s, batch_id, true, from, limit, cb, arg);
    return s->ops->lines_claim(s, batch_id, me, from, limit, lease_ms, cb, arg);
}

int fg_batch_store_job_release(struct fg_batch_store *s, const char *job_id)
{
    return s->ops->job_release(s, job_id);
}

int fg_batch_store_defer_add(struct fg_batch_store *s, const struct fg_djob *j,
                             const struct fg_dline *l, size_t n, const char *me, int64_t lease_ms)
{
    return s->ops->defer_add(s, j, l, n, me, lease_ms);
}

int fg_batch_store_defer_claim(struct fg_batch_store *s, const char *me, int64_t lease_ms,
                               fg_djob_cb cb, void *arg)
{
    return s->ops->defer_claim(s, me, lease_ms, cb, arg);
}

int fg_batch_store_defer_lines(struct fg_batch_store *s, const char *remote_id, fg_dline_cb cb,
                               void *arg)
{
    return s->ops->defer_lines(s, remote_id, cb, arg);
}

int fg_batch_store_defer_line_end(struct fg_batch_store *s, const char *remote_id, int64_t idx)
{
    return s->ops->defer_line_end(s, remote_id, idx);
}

int fg_batch_store_defer_job_end(struct fg_batch_store *s, const char *remote_id)
{
    return s->ops->defer_job_end(s, remote_id);
}

int fg_batch_store_defer_release(struct fg_batch_store *s, const char *me)
{
    return s->ops->defer_release(s, me);
}

int fg_batch_store_defer_answer(struct fg_batch_store *s, const char *remote_id, int64_t idx,
                                const char *me, const char *answer, size_t len)
{
    return s->ops->defer_answer ? s->ops->defer_answer(s, remote_id, idx, me, answer, len) : 0;
}

int fg_batch_store_defer_take(struct fg_batch_store *s, const char *remote_id, const char *me,
                              fg_dtake_cb cb, void *arg)
{
    return s->ops->defer_take ? s->ops->defer_take(s, remote_id, me, cb, arg) : 0;
}

int fg_batch_store_defer_sweep(struct fg_batch_store *s, fg_dsweep_cb cb, void *arg)
{
    return s->ops->defer_sweep ? s->ops->defer_sweep(s, cb, arg) : 0;
}
