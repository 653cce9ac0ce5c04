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
 * Contract: handlers run on a worker thread, read and write the batch
 * store through the worker's own handle, and never wait on a provider:
 * creating a batch stores it and wakes the executor (batch_exec.h), which
 * does all the work.  Every object belongs to the key that created it; other
 * keys get 404 (existence is not revealed), admin principals see all.
 * Inputs are validated before anything is stored; errors name the offending
 * field or line, in the endpoint's dialect. */
#ifndef FRUGAL_BATCH_API_H
#define FRUGAL_BATCH_API_H

#include "api.h"

/* The endpoint set the daemon adds to the HTTP edge (server/api.h
 * fg_api_add_routes); its per-worker state is the worker's batch store
 * handle, opened at its first request. */
extern const struct fg_api_routes fg_batch_api_routes;

#endif
