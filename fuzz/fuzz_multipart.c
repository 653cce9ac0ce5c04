/* fuzz_multipart.c — multipart/form-data parsing (src/multipart.c, the
 * batch and files uploads).  Built only when src/multipart.c exists.
 *
 * API (src/multipart.h): fg_multipart_parse() returns the number of parts
 * filled (>= 0) or a negative value with err set.
 * Input: the Content-Type header value up to the first newline, then the
 * body.  Invariants: no crash, leak or UB; on success every part's data
 * lies inside the body and its name, filename and content type are
 * NUL-terminated within their arrays; on failure the error is a
 * NUL-terminated message. */
#include "fuzz.h"
#include "multipart.h"

#define MAX_PARTS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ctl = nl ? (size_t)(nl - data) : size;
    char *ct = malloc(ctl + 1);
    memcpy(ct, data, ctl);
    ct[ctl] = '\0';
    size_t blen = nl ? size - ctl - 1 : 0;
    /* a copy of exactly the body's size, so reads past it are caught */
    char *body = malloc(blen ? blen : 1);
    if (blen)
        memcpy(body, nl + 1, blen);
    struct fg_mp_part parts[MAX_PARTS];
    memset(parts, 0x5a, sizeof parts);
    char err[200];
    memset(err, 0x5a, sizeof err);
    int n = fg_multipart_parse(ct, body, blen, parts, MAX_PARTS, err, sizeof err);
    if (n >= 0) {
        FUZZ_CHECK(n <= MAX_PARTS, "%d parts", n);
        for (int i = 0; i < n; i++) {
            const struct fg_mp_part *p = &parts[i];
            FUZZ_CHECK(memchr(p->name, 0, sizeof p->name) &&
                           memchr(p->filename, 0, sizeof p->filename) &&
                           memchr(p->ctype, 0, sizeof p->ctype),
                       "part %d strings", i);
            FUZZ_CHECK(p->len == 0 || (p->data >= body && p->data + p->len <= body + blen),
                       "part %d data outside the body", i);
        }
    } else {
        FUZZ_CHECK(memchr(err, 0, sizeof err), "error message not terminated");
    }
    free(ct);
    free(body);
    return 0;
}
