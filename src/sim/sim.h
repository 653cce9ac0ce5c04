/* sim.h — the built-in simulated provider ("frugal sim", `type: sim`).
 *
 * An HTTP server (libevent evhttp) that speaks both dialects the way the real
 * providers do, deterministically, for demos, tests and benchmarks:
 *   POST /v1/chat/completions        OpenAI Chat Completions (+ stream)
 *   POST /v1/messages                Anthropic Messages (+ stream, both
 *                                    anthropic-version 2023-06-01 / 2026-10-21)
 *   POST /v1/messages/count_tokens   Anthropic token count
 *   GET  /v1/models, GET /healthz
 * and, in memory for the life of the process (sim_batch_internal.h):
 *   POST /v1/files (multipart: file, purpose, expires_after[...]),
 *   GET /v1/files (after, limit, order, purpose), GET /v1/files/{id},
 *   GET /v1/files/{id}/content, DELETE /v1/files/{id}
 *   POST /v1/batches {input_file_id, endpoint "/v1/chat/completions",
 *   completion_window "24h", metadata}, GET /v1/batches/{id},
 *   POST /v1/batches/{id}/cancel, GET /v1/batches (after, limit)
 *   POST /v1/messages/batches {requests:[{custom_id, params}]},
 *   GET /v1/messages/batches/{id}, GET .../{id}/results (JSONL, once
 *   ended), POST .../{id}/cancel, DELETE .../{id} (once ended),
 *   GET /v1/messages/batches (after_id, before_id, limit)
 * A batch line gets exactly the answer the same request gets in real time
 * (same handler, same prompt cache; no streaming), in the provider's batch
 * line shape: OpenAI output / error files (status validating -> in_progress
 * -> completed, failed on invalid input lines, expired, cancelling ->
 * cancelled), Anthropic results with usage.service_tier "batch"
 * (in_progress -> ended, canceling -> ended), RFC 3339 times and an
 * absolute results_url.  Line i of n is done at created + delay*(i+1)/n.
 * Answers are a deterministic function of the request.  Usage comes from a
 * token estimate (~4 bytes per token of the canonical prompt text).  Prompt
 * caching is accounted like the providers: OpenAI automatic prefix caching
 * from 1,024 tokens in 128-token steps; Anthropic cache_control breakpoints
 * (incl. top-level), write then read within the TTL, per-model minimum
 * lengths.  response_format json_schema / output_config.format / forced
 * tool_choice produce output that satisfies the schema.  Tools + auto
 * tool_choice: the sim calls the first tool when the last user text asks
 * for it (contains the tool's name).
 *
 * Fault injection, for tests: directives in the text of the LAST user
 * message, or in the request header `x-sim-fault` (same syntax), e.g.
 *   "#sim:status=503"        reply with that HTTP status and a provider-shaped
 *                            error body in the request's dialect
 *   "#sim:delay_ms=1500"     wait before the response headers
 *   "#sim:cut_after=3"       streaming: close the connection after N events,
 *                            without the terminator (no [DONE]/message_stop)
 *   "#sim:stall_ms=2000"     streaming: pause this long after the first event
 *   "#sim:invalid_json"      200 with a body that is not JSON (stream: a data
 *                            line that is not JSON)
 *   "#sim:reset"             close the connection without any response
 *   "#sim:tokens=N"          produce N output tokens (default: short answer)
 *   "#sim:say=WORD"          answer exactly WORD (letters, digits, '_'), e.g.
 *                            a judge's verdict "A", "B" or "tie"
 *   "#sim:event_delay_ms=N"  streaming: sleep N ms between events
 *   "#sim:bad_schema"        answer a requested JSON schema with prose (an
 *                            answer that fails its schema, for tests)
 *   "#sim:bad_usage"         report an absurd usage count (output tokens
 *                            -99999999999), real time and in batches, to
 *                            test that frugal does not bill it
 *   "#sim:echo_auth"         reply 401 with an error message that quotes the
 *                            API key the request carried (x-api-key, else
 *                            Authorization without "Bearer "), real time and
 *                            in batches, to test that frugal redacts it
 *   "#sim:batch_delay_ms=N"  batches: the last line is done N ms after creation
 *                            (default 300; the max over the batch's lines
 *                            and the create request's x-sim-fault header)
 *   "#sim:flex_busy[=N]"     OpenAI requests with service_tier "flex": the first
 *                            N with the same body (every one without =N) are
 *                            refused 429 code resource_unavailable, as OpenAI
 *                            does when flex capacity is short (not billed)
 *   "#sim:batch_expire"      batches: the batch expires at created + delay;
 *                            lines not done strictly before (at least the
 *                            last one) expire
 * `frugal sim --say-table FILE` answers from a table instead (sim_say.h):
 * a request whose last user text contains an entry's "match" gets exactly
 * its "say" (bench/routing.mjs: a data set's label as a judge's verdict).
 * Several may be combined: "#sim:status=429 #sim:delay_ms=10".
 * Inside a batch a line's own "#sim:status=N" makes that line an error
 * result in the provider's shape, so does "#sim:echo_auth" (quoting the key
 * of the request that first sees the line done), and "#sim:tokens=N" and
 * "#sim:bad_usage" apply; the transport faults (delay, stall, cut, reset, invalid_json) do
 * not.  On the files and
 * batch endpoints themselves only the x-sim-fault header counts (status,
 * delay_ms, reset, invalid_json).
 *
 * Ownership: fg_sim_start() returns a handle owning its thread, event base
 * and listener; fg_sim_stop() joins and frees everything (stored files and
 * batches included). */
#ifndef FRUGAL_SIM_H
#define FRUGAL_SIM_H

#include <stddef.h>

struct fg_sim;

/* Start a sim server on `listen` ("127.0.0.1:0" picks a free port) on its
 * own thread.  On success writes "http://127.0.0.1:PORT" into base_url.
 * With a non-empty `secret` every endpoint but /healthz answers 401 (in its
 * dialect) unless the caller sends it as its API key ("Authorization:
 * Bearer SECRET" or "x-api-key: SECRET"): the gateway's in-process sim is
 * reachable on loopback by any local user, and only frugal has the secret. */
int fg_sim_start(const char *listen, const char *secret, struct fg_sim **out, char *base_url,
                 size_t base_url_len);
void fg_sim_stop(struct fg_sim *sim);

/* `frugal sim [--listen ADDR] [--secret-env NAME] [--say-table FILE]`: run
 * in the foreground until SIGINT/SIGTERM; open to any caller unless a
 * secret is given (the variable named by --secret-env, else
 * FRUGAL_SIM_SECRET); --say-table loads sim_say.h's table (a bad file is
 * exit status 1 with its line named).  Returns a process exit status. */
int fg_sim_main(int argc, char **argv);

#endif
