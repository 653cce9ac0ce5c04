/* fuzz_sse_openai_rs.c — a Chat Completions upstream stream translated to
 * Responses events for a Responses client (see fuzz_sse.h). */
#include "fuzz_sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_sse_one(FG_DIALECT_OPENAI, FG_DIALECT_RESPONSES, data, size);
}
