/* fuzz_multipart.c — multipart/form-data parsing (src/multipart.c, the
 * batch and files uploads).  Built only when src/multipart.c exists.
 *
 * API (src/multipart.h): fg_multipart_parse() returns the number of parts
 * filled (>= 0) or a negative value with err set.
 * Input: the Content-Type header value up to the first newline, then the
 * body.  Invariants: no crash, leak or UB; on success every part's data
 * lies inside the body and its name, filename and content type are
 * NUL-terminated within their arrays; on failure the error is a
 * NUL-terminated message.
 * The push API (fg_multipart_stream) gets the same body cut into pieces whose
 * sizes come from the body's own bytes, then whole: it must agree with
 * fg_multipart_parse (same outcome, same parts, same data bytes) unless it
 * refused a part header block over its window. */
#include "fuzz.h"
#include "multipart.h"

#define MAX_PARTS 16

struct got {
    struct fg_mp_part p[MAX_PARTS];
    size_t off[MAX_PARTS], n, len;
    char *data; /* the parts' data, concatenated (at most the body's size) */
};

static int got_part(void *arg, const struct fg_mp_part *p)
{
    struct got *g = arg;
    FUZZ_CHECK(g->n < MAX_PARTS, "more parts than allowed");
    g->p[g->n] = *p;
    g->off[g->n] = g->len;
    return 0;
}

static int got_data(void *arg, const char *p, size_t n)
{
    struct got *g = arg;
    FUZZ_CHECK(n > 0, "empty data piece");
    memcpy(g->data + g->len, p, n);
    g->len += n;
    return 0;
}

static int got_end(void *arg)
{
    struct got *g = arg;
    g->p[g->n].len = g->len - g->off[g->n];
    g->n++;
    return 0;
}

static struct fg_multipart_stream g_stream;

/* Stream body in pieces (step 0: sizes from the bytes; else one piece) and
 * compare with the whole-body result n / parts. */
static void stream_compare(const char *ct, const char *body, size_t blen, int n,
                           const struct fg_mp_part *parts, int step)
{
    struct got g = {.data = malloc(blen ? blen : 1)};
    struct fg_multipart_stream_cbs cb = {got_part, got_data, got_end, &g};
    int rc = fg_multipart_stream_init(&g_stream, ct, MAX_PARTS, &cb);
    for (size_t at = 0; !rc && at < blen;) {
        size_t k = step ? blen : 1 + (unsigned char)body[at] % 97;
        if (k > blen - at)
            k = blen - at;
        rc = fg_multipart_stream_push(&g_stream, body + at, k);
        at += k;
    }
    if (!rc)
        rc = fg_multipart_stream_finish(&g_stream);
    if (!g_stream.head_overflow) {
        int sn = rc ? -1 : (int)g.n;
        FUZZ_CHECK((sn < 0) == (n < 0) && (n < 0 || sn == n), "stream %d parts, whole body %d", sn,
                   n);
        for (int i = 0; i < n && sn == n; i++) {
            FUZZ_CHECK(!strcmp(g.p[i].name, parts[i].name) &&
                           !strcmp(g.p[i].filename, parts[i].filename) &&
                           !strcmp(g.p[i].ctype, parts[i].ctype) &&
                           g.p[i].has_filename == parts[i].has_filename,
                       "part %d headers differ", i);
            FUZZ_CHECK(
                g.p[i].len == parts[i].len &&
                    (!parts[i].len || !memcmp(g.data + g.off[i], parts[i].data, parts[i].len)),
                "part %d data differs", i);
        }
    }
    free(g.data);
}

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
    stream_compare(ct, body, blen, n, parts, 0);
    stream_compare(ct, body, blen, n, parts, 1);
    free(ct);
    free(body);
    return 0;
}
