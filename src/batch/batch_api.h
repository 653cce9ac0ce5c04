/* batch_api.h — the Files, Batches and Message Batches endpoints.
 *
 *   OpenAI:    POST/GET /v1/files, GET/DELETE /v1/files/{id},
 *              GET /v1/files/{id}/content,
 *              POST/GET /v1/batches, GET /v1/batches/{id},
 *              POST /v1/batches/{id}/cancel
 *   Anthropic: POST/GET /v1/messages/batches, GET/DELETE
 *              /v1/messages/batches/{id}, GET .../{id}/results,
 *              POST .../{id}/cancel
 *
 * Contract: with a SQLite batch store handlers run on the worker's loop
 * and use the worker's own handle; with a Postgres one (a network round
 * trip per query, seconds for POST /v1/batches over a big file) they run
 * on the off-loop pool (server/offq.h, started by
 * fg_batch_api_offloop_start), each pool thread with its own handle, and
 * answer back on the loop; the request's parts they read (query
 * parameters, body, the caller's tags, config values) are copied on the
 * loop first.  Left on the loop: the streamed bodies of POST /v1/files and
 * POST /v1/messages/batches (their heads open the worker's handle and
 * write each 1 MiB chunk or group there) and a file's content download
 * (read a piece at a time through the worker's handle).  Handlers never
 * wait on a provider:
 * creating a batch stores it and wakes the executor (batch_exec.h), which
 * does all the work.  Every object belongs to the key that created it; other
 * keys get 404 (existence is not revealed), admin principals see all.
 * Inputs are validated before anything is stored; errors name the offending
 * field or line, in the endpoint's dialect. */
#ifndef FRUGAL_BATCH_API_H
#define FRUGAL_BATCH_API_H

#include "api.h"

#include <stddef.h>

struct fg_config;

/* The endpoint set the daemon adds to the HTTP edge (server/api.h
 * fg_api_add_routes); its per-worker state is the worker's batch store
 * handle, opened at its first request. */
extern const struct fg_api_routes fg_batch_api_routes;
/* A Postgres batch store: start the off-loop pool (before any request;
 * fg_server_join stops it).  0 (nothing to start for SQLite), or -1. */
int fg_batch_api_offloop_start(const struct fg_config *cfg, char *err, size_t errlen);

#endif
