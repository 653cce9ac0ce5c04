/* fuzz_sse_openai.c — an OpenAI upstream stream: sse.c in random chunkings,
 * oa classify, translation to Anthropic frames (see fuzz_sse.h). */
#include "fuzz_sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_sse_one(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, data, size);
}
