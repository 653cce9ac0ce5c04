/* batch_download.c — see batch_download.h. */
#include "batch_download.h"

#include "arena.h"
#include "batch_store.h"
#include "edge.h"
#include "log.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct download {
    struct fg_edge_req *req;
    struct fg_batch_store *s;
    char id[40];
    int64_t seq, bytes, sent;
    bool ended;
};

static void finish(struct download *d)
{
    if (d->ended)
        return;
    d->ended = true;
    fg_edge_req_on_gone(d->req, NULL, NULL);
    if (d->sent != d->bytes)
        fg_error("file %s: download ended after %lld of %lld bytes (%s)", d->id, (long long)d->sent,
                 (long long)d->bytes,
                 fg_edge_req_gone(d->req) ? "the client went away" : fg_batch_store_errmsg(d->s));
    fg_edge_stream_end(d->req); /* the terminal call: d (in its arena) goes with it */
}

static void free_piece(const void *data, size_t len, void *arg)
{
    (void)len, (void)arg;
    free((void *)data);
}

static void on_drained(struct fg_edge_req *r, void *arg);

/* Read and queue pieces until the client is FG_BATCH_DOWNLOAD_QUEUED
 * behind, then wait for it to drain. */
static void pump(struct download *d)
{
    while (fg_edge_queued(d->req) < FG_BATCH_DOWNLOAD_QUEUED) {
        char *p = NULL;
        size_t n = 0;
        int rc = fg_batch_store_file_piece(d->s, d->id, d->seq, &p, &n);
        if (rc <= 0) {
            finish(d);
            return;
        }
        d->seq++;
        d->sent += (int64_t)n;
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_reference(b, p, n, free_piece, NULL);
        int wrc = fg_edge_stream_write_buf(d->req, b);
        evbuffer_free(b);
        if (wrc < 0) {
            finish(d);
            return;
        }
    }
    fg_edge_on_drained(d->req, FG_BATCH_DOWNLOAD_QUEUED / 2, on_drained, d);
}

static void on_drained(struct fg_edge_req *r, void *arg)
{
    (void)r;
    pump(arg);
}

static void on_gone(struct fg_edge_req *r, void *arg)
{
    (void)r;
    finish(arg);
}

void fg_batch_download_start(struct fg_edge_req *req, struct fg_batch_store *s, const char *id,
                             int64_t bytes)
{
    struct download *d = fg_arena_alloc(fg_edge_req_arena(req), sizeof *d);
    memset(d, 0, sizeof *d);
    d->req = req;
    d->s = s;
    d->bytes = bytes;
    snprintf(d->id, sizeof d->id, "%s", id);
    fg_edge_resp_header(req, "Content-Type", "application/octet-stream");
    fg_edge_req_on_gone(req, on_gone, d);
    fg_edge_stream_start(req, 200);
    pump(d);
}
