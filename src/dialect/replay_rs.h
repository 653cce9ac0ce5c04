/* replay_rs.h — a complete Response object replayed as the Responses API's
 * stream.
 *
 * For a client that asked for a stream of a call whose answer arrived whole
 * (a provider that answered JSON to stream: true). Not used by the response
 * cache: a Responses answer carries its own response id.
 *
 * Contract:
 *  - Events (each "event: T\ndata: {...type, sequence_number...}"), numbered
 *    from 0: response.created and response.in_progress (status in_progress,
 *    no output, no usage); per output item output_item.added (a message with
 *    no content, a function call with empty arguments, any other item
 *    whole), for a message per part content_part.added, one
 *    output_text.delta / refusal.delta with the whole text, .done and
 *    content_part.done; for a function call one function_call_arguments
 *    .delta and .done; output_item.done with the item as stored; then
 *    response.completed, response.incomplete or response.failed (by status)
 *    with the whole Response.
 *  - Returns 0, or -1 with nothing appended when r is not a Response
 *    (object "response" with an output array).  Pure; thread-safe. */
#ifndef FRUGAL_REPLAY_RS_H
#define FRUGAL_REPLAY_RS_H

#include <jansson.h>

struct evbuffer;

int fg_replay_rs(const json_t *r, struct evbuffer *out);

#endif
