/* fuzz_reqhead.c — reqhead.c on arbitrary bytes.
 *
 * Invariants: the parser reads only inside the input (ASan, on an exact
 * copy); on success every span lies inside the input, the path is a prefix
 * of the target, a Content-Length is at most 18 digits and chunked never
 * comes with one; on failure it names why. */
#include "fuzz.h"
#include "reqhead.h"

static int inside(struct fg_span s, const char *b, size_t n)
{
    return !s.n || (s.p >= b && s.p + s.n <= b + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *b = malloc(size ? size : 1);
    memcpy(b, data, size);
    struct fg_reqhead h;
    if (fg_reqhead_parse(b, size, &h) == 0) {
        FUZZ_CHECK(inside(h.method, b, size) && inside(h.target, b, size) &&
                       inside(h.path, b, size) && inside(h.authorization, b, size) &&
                       inside(h.api_key, b, size),
                   "a span outside the input");
        FUZZ_CHECK(h.path.p == h.target.p && h.path.n <= h.target.n, "path not in target");
        FUZZ_CHECK(h.method.n > 0 && h.target.n > 0, "empty method or target");
        FUZZ_CHECK(!(h.chunked && h.has_length), "chunked with a length");
        FUZZ_CHECK(h.length < 1000000000000000000ull, "length over 18 digits");
        FUZZ_CHECK(!fg_reqhead_span_is(h.method, "CONNECT"), "CONNECT accepted");
    } else {
        FUZZ_CHECK(h.err && *h.err, "a failure without a reason");
    }
    free(b);
    return 0;
}
