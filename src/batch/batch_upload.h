/* batch_upload.h — POST /v1/files, streamed: the multipart body is parsed
 * as it arrives (multipart.h push API), the file part's bytes go to the
 * batch store in chunks (batch_store.h fg_batch_store_upload_*) and its
 * JSONL lines are checked as they pass (batch_jsonl.h); the upload is
 * never held whole in memory.
 *
 * Contract (a worker's thread; batch_api.c calls both):
 *  - fg_batch_upload_head() runs at the request's head, before any body
 *    byte (api.h's head hook): authenticates (401 in the OpenAI dialect),
 *    checks the Content-Type (400), then takes the body (its own sink and
 *    end callback).  Returns as that hook does: 1 answered, 2 taken.
 *  - While the body streams: the file part's bytes past
 *    batches.max_file_bytes → 413 at once; a malformed multipart body →
 *    400 at once (unless those were the body's last bytes: then the answer
 *    waits for the request hook, the connection kept); a storage failure →
 *    500.  An early answer ends the request (the edge closes the
 *    connection after it).  Lines are checked as they pass; after the
 *    first bad line nothing more is written.
 *  - fg_batch_upload_end() runs in the request hook: the same checks and
 *    answers as the whole-body upload had (multipart, the 'file' and
 *    'purpose' fields, line errors naming up to five lines, an empty file,
 *    expires_after), then the file is committed (visible) and its object
 *    returned.
 *  - However the request ends (an answer, the peer gone, a deadline, the
 *    worker shutting down) an upload not committed is deleted with its
 *    chunks: no partial file is left behind.
 *  - Memory per upload: the parser's window (multipart.h), one chunk
 *    buffer (FG_BATCH_UPLOAD_CHUNK, less for a smaller declared length)
 *    and the line being checked (a line over server.max_body_bytes is an
 *    error, not kept); that much (at most the declared length) is booked
 *    against server.max_body_bytes_in_flight at the head (503
 *    server_busy over it) and given back when the request ends. */
#ifndef FRUGAL_BATCH_UPLOAD_H
#define FRUGAL_BATCH_UPLOAD_H

#include "auth.h"

/* The store's write unit: one row and one short statement per chunk, so
 * the worker's loop is never held by a write longer than one chunk's. */
#define FG_BATCH_UPLOAD_CHUNK (1u << 20)

struct fg_batch_store;
struct fg_edge_req;
struct fg_worker;

int fg_batch_upload_head(struct fg_worker *w, struct fg_batch_store *s, struct fg_edge_req *req);
/* The request hook's part; p is the principal fg_api_handle authenticated. */
void fg_batch_upload_end(struct fg_worker *w, struct fg_edge_req *req,
                         const struct fg_principal *p);

#endif
