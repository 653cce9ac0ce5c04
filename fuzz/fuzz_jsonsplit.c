/* fuzz_jsonsplit.c — the incremental {"requests": [...]} splitter
 * (src/core/jsonsplit.c, the streamed Message Batches create).
 *
 * Input: the body.  It is pushed in pieces whose sizes come from its own
 * bytes, and whole: both runs must give the same elements and verdict.
 * Against jansson's parse of the whole body (duplicate keys refused):
 * when the splitter accepts and every element parses alone, the whole
 * body parses to {"requests": those elements} (or {}); when the whole body
 * parses to an object whose only member is a "requests" array (or to {}),
 * the splitter accepts it with the same elements.  No crash, leak or UB;
 * the element buffer never grows past its bound. */
#include "fuzz.h"
#include "jsonsplit.h"

#include <jansson.h>

#define MAX_ELEM 4096

struct got {
    json_t *elems; /* each element parsed alone; null when it does not parse */
    char *spans;   /* the spans, each followed by \n */
    size_t nspans, cap;
};

static int on_elem(void *arg, size_t i, const char *p, size_t n)
{
    struct got *g = arg;
    FUZZ_CHECK(n > 0 && n <= MAX_ELEM, "element %zu of %zu bytes", i, n);
    FUZZ_CHECK(i == json_array_size(g->elems), "element %zu out of order", i);
    json_t *v = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    json_array_append_new(g->elems, v ? v : json_null());
    if (g->nspans + n + 1 > g->cap) {
        g->cap = (g->nspans + n + 1) * 2;
        char *np = malloc(g->cap);
        if (g->nspans)
            memcpy(np, g->spans, g->nspans);
        free(g->spans);
        g->spans = np;
    }
    memcpy(g->spans + g->nspans, p, n);
    g->nspans += n;
    g->spans[g->nspans++] = '\n';
    return v ? 0 : 1; /* as batch_mcreate: a request that is not JSON stops it */
}

static int run(const char *body, size_t len, bool pieces, struct got *g,
               enum fg_jsonsplit_code *code)
{
    memset(g, 0, sizeof *g);
    g->elems = json_array();
    struct fg_jsonsplit js;
    fg_jsonsplit_init(&js, "requests", MAX_ELEM, on_elem, g);
    int rc = 0;
    for (size_t at = 0; !rc && at < len;) {
        size_t k = pieces ? 1 + (unsigned char)body[at] % 61 : len;
        if (k > len - at)
            k = len - at;
        rc = fg_jsonsplit_push(&js, body + at, k);
        at += k;
    }
    if (!rc)
        rc = fg_jsonsplit_finish(&js);
    FUZZ_CHECK(js.capbuf <= MAX_ELEM, "buffer of %zu bytes", js.capbuf);
    FUZZ_CHECK(memchr(js.err, 0, sizeof js.err), "error not terminated");
    *code = js.code;
    fg_jsonsplit_free(&js);
    return rc;
}

static void got_free(struct got *g)
{
    json_decref(g->elems);
    free(g->spans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1); /* exact size: reads past it are caught */
    if (size)
        memcpy(body, data, size);
    struct got a, b;
    enum fg_jsonsplit_code ca, cb;
    int ra = run(body, size, false, &a, &ca);
    int rb = run(body, size, true, &b, &cb);
    FUZZ_CHECK(ra == rb && ca == cb, "whole rc %d code %d, pieces rc %d code %d", ra, ca, rb, cb);
    FUZZ_CHECK(a.nspans == b.nspans && (!a.nspans || !memcmp(a.spans, b.spans, a.nspans)),
               "different elements when pushed in pieces");
    json_t *whole = json_loadb(body, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *reqs = json_object_get(whole, "requests");
    bool shape = json_is_object(whole) && (json_object_size(whole) == 0 ||
                                           (json_object_size(whole) == 1 && json_is_array(reqs)));
    if (ra == 0) {
        FUZZ_CHECK(whole, "the splitter accepts what jansson refuses");
        FUZZ_CHECK(shape, "accepted a body of another shape");
        FUZZ_CHECK(json_array_size(a.elems) == json_array_size(reqs) &&
                       (!reqs || json_equal(a.elems, reqs)),
                   "elements differ from jansson's");
    } else if (shape) {
        /* elements over MAX_ELEM are the only refusal of a well-formed body */
        FUZZ_CHECK(ca == FG_JSONSPLIT_E_BIG, "refused a well-formed body: code %d", ca);
    }
    json_decref(whole);
    got_free(&a);
    got_free(&b);
    free(body);
    return 0;
}
