/* batch_jsonl.h — validating an OpenAI batch input file (JSONL, one
 * request per line) line by line, fed in pieces of any size: a whole file
 * at once (POST /v1/batches reading a stored file) or an upload's bytes as
 * they stream in (batch_upload.h).
 *
 * Contract:
 *  - Lines end with LF (a CR and other trailing whitespace are ignored);
 *    blank lines are skipped; the last line needs no LF.  A line split
 *    across feeds is carried in a buffer the checker owns (as long as the
 *    longest such line; freed by fg_batch_jsonl_free).  With a max_line
 *    bound (fg_batch_jsonl_max_line), a longer line is an error and is
 *    not kept: the carry never grows past the bound.
 *  - Each line must be a JSON object with a non-empty custom_id of at most
 *    64 characters, unique in the file; method "POST"; url one of the batch
 *    endpoints frugal runs, the same on every line, and the batch's
 *    endpoint when one was given; a body the endpoint would take
 *    (shallowly: model, messages / input, no stream).
 *  - Errors are counted; the first FG_BATCH_JSONL_REPORTED are kept, each
 *    naming its line ("line 3: ...").  More than max_lines requests is an
 *    error on the line past it, and checking stops there.
 *  - fn (may be NULL) gets each valid line's parsed JSON (borrowed for the
 *    call) and its line number. */
#ifndef FRUGAL_BATCH_JSONL_H
#define FRUGAL_BATCH_JSONL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FG_BATCH_JSONL_REPORTED 5

typedef void (*fg_batch_jsonl_fn)(void *arg, size_t lineno, json_t *line);

struct fg_batch_jsonl {
    char msg[FG_BATCH_JSONL_REPORTED][200];
    int n_errors;
    size_t n_lines; /* requests (non-blank lines) */
    char url[32];   /* the first valid line's url: every line must name the same */
    /* private */
    const char *endpoint;
    size_t max_lines, lineno, max_line;
    bool stopped, skipping; /* skipping: the rest of a line over max_line */
    json_t *seen;           /* custom_ids */
    fg_batch_jsonl_fn fn;
    void *arg;
    char *carry; /* a line's start, waiting for its end */
    size_t ncarry, capcarry;
};

/* endpoint: the batch's, which every line's url must name; NULL (an
 * upload, before any batch) = any endpoint frugal runs. */
void fg_batch_jsonl_init(struct fg_batch_jsonl *j, size_t max_lines, const char *endpoint,
                         fg_batch_jsonl_fn fn, void *arg);
/* Lines over max_bytes (0: no bound) are errors, not kept. */
void fg_batch_jsonl_max_line(struct fg_batch_jsonl *j, size_t max_bytes);
void fg_batch_jsonl_feed(struct fg_batch_jsonl *j, const char *p, size_t n);
/* The input ended: the last line, if it has no LF. */
void fg_batch_jsonl_end(struct fg_batch_jsonl *j);
void fg_batch_jsonl_free(struct fg_batch_jsonl *j);
/* "The batch file has N invalid lines: line 3: ...; line 7: ..." */
void fg_batch_jsonl_report(const struct fg_batch_jsonl *j, char *out, size_t n);
/* Whether url is a batch endpoint frugal runs. */
bool fg_batch_jsonl_endpoint_ok(const char *url);

#endif
