/* fuzz_sse_anthropic.c — an Anthropic upstream stream: sse.c in random
 * chunkings, an classify, translation to OpenAI chunks, with and without a
 * forced structured-output tool (see fuzz_sse.h). */
#include "fuzz_sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_sse_one(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, data, size);
}
