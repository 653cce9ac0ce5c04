/* fuzz_sse_anthropic_rs.c — an Anthropic upstream stream translated to
 * Responses events for a Responses client (see fuzz_sse.h). */
#include "fuzz_sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_sse_one(FG_DIALECT_ANTHROPIC, FG_DIALECT_RESPONSES, data, size);
}
