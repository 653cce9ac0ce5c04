/* replay.h — a complete answer replayed as the stream its dialect sends.
 *
 * A stored JSON response body of a dialect → the SSE frames a streaming
 * client of that dialect expects, so a streaming client can be answered
 * from a response-cache entry that only has the JSON form (respcache.h).
 *
 * Contract:
 *  - OpenAI Chat Completions: data-only chunks (role, content, refusal,
 *    tool calls, finish_reason), the usage chunk when include_usage, and
 *    "data: [DONE]".
 *  - Anthropic Messages: "event: X\ndata: {...}\n\n" message_start,
 *    content_block_start/delta/stop per block (text_delta; tool_use with
 *    input_json_delta of the JSON input; thinking_delta + signature_delta;
 *    other blocks whole in their start), message_delta with stop_reason and
 *    usage, message_stop (include_usage does not apply).
 *  - Returns 0, or -1 with nothing appended when r is not a response of
 *    that dialect.  Pure: reads r, appends to out; thread-safe. */
#ifndef FRUGAL_REPLAY_H
#define FRUGAL_REPLAY_H

#include <jansson.h>
#include <stdbool.h>

struct evbuffer;

int fg_replay_openai(const json_t *r, bool include_usage, struct evbuffer *out);
int fg_replay_anthropic(const json_t *r, bool include_usage, struct evbuffer *out);

#endif
