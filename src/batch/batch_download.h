/* batch_download.h — GET /v1/files/{id}/content, streamed: the stored file
 * goes to the client piece by piece (batch_store.h
 * fg_batch_store_file_piece), never held whole.
 *
 * Contract (a worker's thread; batch_api.c calls it from the request hook
 * once the file was found and its owner checked):
 *  - The answer is a 200 stream (application/octet-stream, chunked
 *    transfer coding) of the file's bytes in order.
 *  - Backpressure: pieces are read while fewer than
 *    FG_BATCH_DOWNLOAD_QUEUED bytes wait for the client, then reading
 *    waits for the edge's drained callback; so a download holds at most
 *    that much plus one piece, whatever the file's size and the client's
 *    speed.
 *  - The peer gone: the stream ends at once (nothing more is read).  A
 *    storage error or the file deleted mid-way ends the stream early and
 *    logs it (the bytes sent so far are all the client gets; HTTP/1.1
 *    chunked framing has no way to say "failed" after the 200). */
#ifndef FRUGAL_BATCH_DOWNLOAD_H
#define FRUGAL_BATCH_DOWNLOAD_H

#include <stdint.h>

#define FG_BATCH_DOWNLOAD_QUEUED (2u << 20)

struct fg_batch_store;
struct fg_edge_req;

void fg_batch_download_start(struct fg_edge_req *req, struct fg_batch_store *s, const char *id,
                             int64_t bytes);

#endif
