/* fuzz_attrib.c — attrib.c's request features and bloat measure on
 * arbitrary documents: the last user turn's head/tail buffer (any number of
 * text parts of any length, strings or parts) and the answer-text scan.
 *
 * Invariants: no access outside any buffer (ASan/UBSan); bloat never
 * exceeds the text's length; the verdicts are the same however often they
 * are asked (fg_attrib_simple / _wants_structured agree with
 * fg_attrib_features). */
#include "attrib.h"
#include "fuzz.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t bloat = fg_attrib_bloat((const char *)data, size);
    FUZZ_CHECK(bloat <= size, "bloat %zu > %zu", bloat, size);
    struct fg_json j = {0};
    if (fg_json_parse(&j, (const char *)data, size) == 0) {
        for (int d = 0; d < 2; d++) {
            bool simple, structured;
            fg_attrib_features(&j, (enum fg_dialect)d, &simple, &structured);
            FUZZ_CHECK(simple == fg_attrib_simple(&j, (enum fg_dialect)d), "simple");
            FUZZ_CHECK(structured == fg_attrib_wants_structured(&j, (enum fg_dialect)d),
                       "wants_structured");
        }
    }
    fg_json_free(&j);
    return 0;
}
