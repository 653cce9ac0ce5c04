/* endpoint.h — the inference endpoints frugal serves.
 *
 * A dialect-level fact (each dialect maps an endpoint to its own upstream
 * path, provider.h), so it lives below call/: the call records which one it
 * is serving, the dialect adapters turn it into a path and a validation
 * rule. */
#ifndef FRUGAL_ENDPOINT_H
#define FRUGAL_ENDPOINT_H

enum fg_endpoint {
    FG_EP_CHAT,
    FG_EP_MESSAGES,
    FG_EP_COUNT_TOKENS,
    FG_EP_EMBEDDINGS,        /* POST /v1/embeddings (embed.h) */
    FG_EP_PASSTHRU,          /* any other OpenAI path (passthru.h) */
    FG_EP_RESPONSES,         /* POST /v1/responses */
    FG_EP_RESP_INPUT_TOKENS, /* POST /v1/responses/input_tokens (free, like count_tokens) */
    FG_EP_COUNT
};

#endif
