/* test_multipart.c — the multipart/form-data parser: the bodies the openai
 * Node SDK (7.57.0) really sends for files.create (captured with a node http
 * server: toFile() goes through undici's FormData, fs.createReadStream()
 * through the SDK's own chunked encoder), boundary and line-ending
 * variants, parameter decoding, every error class, and bounds: each parse
 * runs on an exact-size heap copy so ASan sees any read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "multipart.h"

#define LINE                                                                                       \
    "{\"custom_id\":\"r1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{"        \
    "\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}}\n"

/* files.create({file: await toFile(Buffer, 'requests.jsonl'), purpose: 'batch'}) */
static const char *sdk_tofile_ct = "multipart/form-data; boundary=----formdata-undici-041332442617";
static const char *sdk_tofile =
    "------formdata-undici-041332442617\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"requests.jsonl\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n" LINE "\r\n"
    "------formdata-undici-041332442617\r\n"
    "Content-Disposition: form-data; name=\"purpose\"\r\n"
    "\r\n"
    "batch\r\n"
    "------formdata-undici-041332442617--\r\n";

/* files.create({file: fs.createReadStream('/tmp/cap/req.jsonl'), purpose: 'batch'}) */
static const char *sdk_stream_ct = "multipart/form-data; boundary=openai-nn4f34hfq4h";
static const char *sdk_stream =
    "--openai-nn4f34hfq4h\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"req.jsonl\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n" LINE "\r\n"
    "--openai-nn4f34hfq4h\r\n"
    "Content-Disposition: form-data; name=\"purpose\"\r\n"
    "\r\n"
    "batch\r\n"
    "--openai-nn4f34hfq4h--\r\n";

/* toFile(Buffer, 'we"ird name.jsonl'): WHATWG FormData percent-encodes the quote */
static const char *sdk_quote_ct = "multipart/form-data; boundary=----formdata-undici-093640656295";
static const char *sdk_quote =
    "------formdata-undici-093640656295\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"we%22ird name.jsonl\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n" LINE "\r\n"
    "------formdata-undici-093640656295\r\n"
    "Content-Disposition: form-data; name=\"purpose\"\r\n"
    "\r\n"
    "batch\r\n"
    "------formdata-undici-093640656295--\r\n";

#define MAXP 8

struct res {
    struct fg_mp_part p[MAXP];
    int n;
    char err[160];
    char *copy; /* the exact-size body the parts point into */
};

/* ---- the push API, checked against the whole-body parse ------------------------ */

/* What a stream delivered: parts, their data concatenated. */
struct got {
    struct fg_mp_part p[MAXP];
    size_t off[MAXP];
    size_t n;
    char *data;
    size_t len, cap;
    bool in_part;
};

static int got_part(void *arg, const struct fg_mp_part *p)
{
    struct got *g = arg;
    assert_false(g->in_part);
    assert_true(g->n < MAXP);
    assert_null(p->data);
    g->p[g->n] = *p;
    g->off[g->n] = g->len;
    g->in_part = true;
    return 0;
}

static int got_data(void *arg, const char *p, size_t n)
{
    struct got *g = arg;
    assert_true(g->in_part);
    assert_true(n > 0);
    if (g->len + n > g->cap) {
        g->cap = (g->len + n) * 2;
        g->data = realloc(g->data, g->cap);
    }
    memcpy(g->data + g->len, p, n);
    g->len += n;
    return 0;
}

static int got_end(void *arg)
{
    struct got *g = arg;
    assert_true(g->in_part);
    g->p[g->n].len = g->len - g->off[g->n];
    g->n++;
    g->in_part = false;
    return 0;
}

/* Push body cut at the offsets cuts[0..ncuts) (ascending); the outcome. */
static int stream_run(const char *ct, const char *body, size_t len, size_t max, const size_t *cuts,
                      size_t ncuts, struct got *g)
{
    static struct fg_multipart_stream s; /* 32 KiB: not on the stack */
    memset(g, 0, sizeof *g);
    struct fg_multipart_stream_cbs cb = {got_part, got_data, got_end, g};
    if (fg_multipart_stream_init(&s, ct, max, &cb) < 0)
        return -1;
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        /* an exact-size copy of each piece, so ASan sees a read past it */
        char *piece = malloc(to - at ? to - at : 1);
        memcpy(piece, body + at, to - at);
        int rc = fg_multipart_stream_push(&s, piece, to - at);
        free(piece);
        if (rc)
            return rc;
        at = to;
    }
    int rc = fg_multipart_stream_finish(&s);
    if (rc == -1)
        assert_true(strlen(s.err) > 10);
    return rc ? rc : (int)g->n;
}

/* The stream agrees with the whole-body parse r (n parts or -1). */
static void stream_agrees(const struct res *r, const char *ct, size_t len, size_t max,
                          const size_t *cuts, size_t ncuts)
{
    struct got g;
    int n = stream_run(ct, r->copy, len, max, cuts, ncuts, &g);
    if (n != r->n)
        fail_msg("stream %d parts, whole body %d (%s), %zu cuts from %zu", n, r->n, r->err, ncuts,
                 ncuts ? cuts[0] : 0);
    for (int i = 0; i < n; i++) {
        assert_string_equal(g.p[i].name, r->p[i].name);
        assert_string_equal(g.p[i].filename, r->p[i].filename);
        assert_string_equal(g.p[i].ctype, r->p[i].ctype);
        assert_int_equal(g.p[i].has_filename, r->p[i].has_filename);
        assert_int_equal(g.p[i].len, r->p[i].len);
        if (r->p[i].len)
            assert_memory_equal(g.data + g.off[i], r->p[i].data, r->p[i].len);
    }
    free(g.data);
}

static bool every_split = true; /* off for the mass mutation test */

/* Whole, byte by byte, and (every_split) cut once at every offset and
 * twice at every pair of offsets of a short body. */
static void stream_check(const struct res *r, const char *ct, size_t len, size_t max)
{
    stream_agrees(r, ct, len, max, NULL, 0);
    size_t *cuts = malloc((len ? len : 1) * sizeof *cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    stream_agrees(r, ct, len, max, cuts, len ? len - 1 : 0);
    free(cuts);
    if (!every_split)
        return;
    for (size_t i = 0; i <= len; i++) {
        stream_agrees(r, ct, len, max, &i, 1);
        for (size_t j = i; len <= 200 && j <= len; j++) {
            size_t two[2] = {i, j};
            stream_agrees(r, ct, len, max, two, 2);
        }
    }
}

static int run(struct res *r, const char *ct, const char *body, size_t len, size_t max)
{
    free(r->copy);
    memset(r, 0, sizeof *r);
    r->copy = malloc(len ? len : 1);
    memcpy(r->copy, body, len);
    r->n = fg_multipart_parse(ct, r->copy, len, r->p, max, r->err, sizeof r->err);
    if (r->n < 0)
        assert_true(strlen(r->err) > 10);
    stream_check(r, ct, len, max);
    return r->n;
}

static int runs(struct res *r, const char *ct, const char *body)
{
    return run(r, ct, body, strlen(body), MAXP);
}

static void assert_data(const struct fg_mp_part *p, const char *want)
{
    assert_int_equal(p->len, strlen(want));
    assert_memory_equal(p->data, want, p->len);
}

static void assert_error(const char *ct, const char *body, const char *needle)
{
    struct res r = {0};
    assert_int_equal(runs(&r, ct, body), -1);
    if (!strstr(r.err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", r.err, needle);
    free(r.copy);
}

/* ---- what the SDK sends -------------------------------------------------------- */

static void check_sdk_upload(const char *ct, const char *body, const char *filename)
{
    struct res r = {0};
    assert_int_equal(runs(&r, ct, body), 2);
    const struct fg_mp_part *f = fg_multipart_find(r.p, r.n, "file");
    assert_non_null(f);
    assert_string_equal(f->filename, filename);
    assert_true(f->has_filename);
    assert_string_equal(f->ctype, "application/octet-stream");
    assert_data(f, LINE); /* the file's own trailing newline is data */
    const struct fg_mp_part *pu = fg_multipart_find(r.p, r.n, "purpose");
    assert_non_null(pu);
    assert_string_equal(pu->filename, "");
    assert_false(pu->has_filename);
    assert_string_equal(pu->ctype, "");
    assert_data(pu, "batch");
    assert_null(fg_multipart_find(r.p, r.n, "missing"));
    assert_null(fg_multipart_find(r.p, r.n, NULL));
    free(r.copy);
}

static void test_sdk_bodies(void **state)
{
    check_sdk_upload(sdk_tofile_ct, sdk_tofile, "requests.jsonl");
    check_sdk_upload(sdk_stream_ct, sdk_stream, "req.jsonl");
    check_sdk_upload(sdk_quote_ct, sdk_quote, "we%22ird name.jsonl");
}

/* ---- variants ---------------------------------------------------------------------- */

static void test_boundary_forms(void **state)
{
    struct res r = {0};
    const char *body = "--a b:c\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--a b:c--";
    assert_int_equal(runs(&r, "multipart/form-data; boundary=\"a b:c\"", body), 1);
    assert_string_equal(r.p[0].name, "x"); /* token value */
    assert_data(&r.p[0], "1");
    /* case-insensitive type and parameter name, other parameters around */
    const char *b2 = "--XyZ\r\ncontent-disposition: FORM-DATA; NAME=\"y\"\r\n\r\n22\r\n--XyZ--\r\n";
    assert_int_equal(runs(&r, "  Multipart/Form-Data ; charset=utf-8; BOUNDARY=XyZ;", b2), 1);
    assert_string_equal(r.p[0].name, "y");
    assert_data(&r.p[0], "22");
    /* the boundary is case-sensitive: "--xyz" is data, so no close delimiter */
    const char *b3 = "--XyZ\r\nContent-Disposition: form-data; name=y\r\n\r\n--xyz--\r\n";
    assert_int_equal(runs(&r, "multipart/form-data; boundary=XyZ", b3), -1);
    free(r.copy);
}

static void test_line_endings_and_framing(void **state)
{
    struct res r = {0};
    /* preamble, bare LF everywhere, transport padding, epilogue */
    const char *lf = "This is the preamble.\n--b  \t\n"
                     "Content-Disposition: form-data; name=\"a\"\n"
                     "X-Ignored: yes\n\n"
                     "line1\nline2\n"
                     "--b\n"
                     "Content-Disposition: form-data; name=\"b\"\n\n"
                     "\n--b--\nepilogue --b\n";
    assert_int_equal(runs(&r, "multipart/form-data; boundary=b", lf), 2);
    assert_data(&r.p[0], "line1\nline2");
    assert_data(&r.p[1], ""); /* empty value */
    /* mixed: CRLF delimiters, data containing CR and LF and a near-boundary */
    const char *mixed = "\r\n--b\r\n"
                        "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
                        "x\r\n-b\r\n--bb is not it?\r\n"
                        "--b--";
    assert_int_equal(runs(&r, "multipart/form-data; boundary=b", mixed), -1);
    assert_non_null(strstr(r.err, "unexpected"));
    const char *mixed2 = "--b\r\n"
                         "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
                         "x\r\n-b\r\n--c\r\n\r\n"
                         "--b--";
    assert_int_equal(runs(&r, "multipart/form-data; boundary=b", mixed2), 1);
    assert_data(&r.p[0], "x\r\n-b\r\n--c\r\n");
    /* an empty form */
    assert_int_equal(runs(&r, "multipart/form-data; boundary=b", "--b--\r\n"), 0);
    /* binary data with NUL bytes */
    static const char bin[] =
        "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\""
        "\r\n\r\n\0\x01\xff\0\r\n--b--\r\n";
    assert_int_equal(run(&r, "multipart/form-data; boundary=b", bin, sizeof bin - 1, MAXP), 1);
    assert_int_equal(r.p[0].len, 4);
    assert_memory_equal(r.p[0].data, "\0\x01\xff\0", 4);
    free(r.copy);
}

static void test_filenames(void **state)
{
    struct res r = {0};
    const char *ct = "multipart/form-data; boundary=b";
    runs(
        &r, ct,
        "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\\\"b\\\\c.txt\"\r\n"
        "\r\n1\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"g\"; filename*=UTF-8''caf%C3%A9%20x.jsonl\r\n"
        "\r\n2\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"h\"; filename=\"plain.txt\"; "
        "filename*=utf-8''other.txt\r\n\r\n3\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"i\"; filename=\"\"\r\n"
        "Content-Type:  text/plain; charset=utf-8  \r\n\r\n4\r\n"
        "--b\r\nContent-Disposition: form-data; filename*=iso-8859-1'en'%E9; name=\"j\"; "
        "size=3\r\n\r\n5\r\n"
        "--b--\r\n");
    assert_int_equal(r.n, 5);
    assert_string_equal(r.p[0].filename, "a\"b\\c.txt");
    assert_string_equal(r.p[1].filename, "caf\xc3\xa9 x.jsonl");
    assert_string_equal(r.p[2].filename, "plain.txt"); /* filename wins over filename* */
    assert_string_equal(r.p[3].filename, "");
    assert_true(r.p[3].has_filename);
    assert_string_equal(r.p[3].ctype, "text/plain; charset=utf-8");
    assert_string_equal(r.p[4].name, "j");
    assert_string_equal(r.p[4].filename, "\xc3\xa9");
    free(r.copy);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_errors(void **state)
{
    const char *ct = "multipart/form-data; boundary=b";
    const char *ok = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b--\r\n";
    assert_error(NULL, ok, "no Content-Type");
    assert_error("application/json", ok, "not multipart/form-data");
    assert_error("multipart/form-datax; boundary=b", ok, "not multipart/form-data");
    assert_error("multipart/mixed; boundary=b", ok, "not multipart/form-data");
    assert_error("multipart/form-data", ok, "no boundary");
    assert_error("multipart/form-data; charset=utf-8", ok, "no boundary");
    assert_error("multipart/form-data; boundary=", ok, "malformed");
    assert_error("multipart/form-data; boundary=\"unterminated", ok, "malformed");
    assert_error("multipart/form-data; boundary=b; boundary=c", ok, "more than one boundary");
    assert_error("multipart/form-data; boundary=\"a \"", ok, "1 to 70");
    assert_error("multipart/form-data; boundary=\"a\\\"b\"", ok, "does not allow");
    char longb[128] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    assert_error(longb, ok, "1 to 70");

    assert_error(ct, "", "no multipart boundary delimiter");
    assert_error(ct, "just text, no parts", "no multipart boundary delimiter");
    assert_error(ct, "--b\r\n\r\nv\r\n--b--\r\n", "no Content-Disposition");
    assert_error(ct, "--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--\r\n",
                 "no Content-Disposition");
    assert_error(ct, "--b\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--b--",
                 "not form-data");
    assert_error(ct, "--b\r\nContent-Disposition: form-data; filename=x\r\n\r\nv\r\n--b--",
                 "no name");
    assert_error(ct, "--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nv\r\n--b--",
                 "repeats");
    assert_error(ct,
                 "--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: "
                 "form-data; name=a\r\n\r\nv\r\n--b--",
                 "more than one Content-Disposition");
    assert_error(ct, "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--b--",
                 "malformed Content-Disposition");
    assert_error(ct,
                 "--b\r\nContent-Disposition: form-data; name=a\r\n\tfilename=x\r\n\r\nv\r\n--b--",
                 "folded");
    assert_error(ct, "--b\r\nContent-Disposition: form-data; name=a\r\nbogus\r\n\r\nv\r\n--b--",
                 "without a name and a colon");
    assert_error(ct,
                 "--b\r\nContent-Disposition: form-data; name=a; filename*=koi8-r''x\r\n\r\n"
                 "v\r\n--b--",
                 "filename*");
    assert_error(ct,
                 "--b\r\nContent-Disposition: form-data; name=a; filename*=utf-8''%4\r\n\r\n"
                 "v\r\n--b--",
                 "filename*");
    assert_error(ct, "--b\r\nContent-Disposition: form-data; name=a", "not terminated by a blank");
    assert_error(ct, "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue",
                 "not terminated by a boundary");
    assert_error(ct, "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue\r\n--b",
                 "without its close delimiter");
    assert_error(ct, "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue\r\n--b\r\n",
                 "not terminated by a blank");
    assert_error(ct, "--bx\r\n", "unexpected");

    /* field sizes: 63 fits, 64 does not */
    char buf[2048];
    char name[80];
    memset(name, 'n', 63);
    name[63] = '\0';
    snprintf(buf, sizeof buf,
             "--b\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\nv\r\n--b--", name);
    struct res r = {0};
    assert_int_equal(runs(&r, ct, buf), 1);
    assert_string_equal(r.p[0].name, name);
    strcat(name, "n");
    snprintf(buf, sizeof buf,
             "--b\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\nv\r\n--b--", name);
    assert_error(ct, buf, "field name longer than 63");
    char fn[300];
    memset(fn, 'f', 256);
    fn[256] = '\0';
    snprintf(buf, sizeof buf,
             "--b\r\nContent-Disposition: form-data; name=a; filename=\"%s\"\r\n\r\nv\r\n--b--",
             fn);
    assert_error(ct, buf, "filename longer than 255");
    char ctype[200];
    memset(ctype, 'c', 128);
    ctype[128] = '\0';
    snprintf(buf, sizeof buf,
             "--b\r\nContent-Disposition: form-data; name=a\r\nContent-Type: %s\r\n\r\nv\r\n--b--",
             ctype);
    assert_error(ct, buf, "Content-Type longer than 127");

    /* too many parts */
    assert_int_equal(run(&r, sdk_tofile_ct, sdk_tofile, strlen(sdk_tofile), 1), -1);
    assert_non_null(strstr(r.err, "too many parts"));
    assert_int_equal(run(&r, sdk_tofile_ct, sdk_tofile, strlen(sdk_tofile), 2), 2);
    free(r.copy);

    /* a zero-size error buffer is fine */
    struct fg_mp_part p[1];
    assert_int_equal(fg_multipart_parse("text/plain", "x", 1, p, 1, NULL, 0), -1);
}

/* ---- bounds ---------------------------------------------------------------------------------- */

/* Every truncation of a valid body must fail cleanly (the close delimiter
 * is the last thing), and every single-byte corruption must either parse or
 * fail: ASan checks that nothing is read outside the exact-size copy. */
static void test_truncations_and_corruptions(void **state)
{
    const char *bodies[] = {sdk_tofile, sdk_stream};
    const char *cts[] = {sdk_tofile_ct, sdk_stream_ct};
    struct res r = {0};
    every_split = false; /* whole and byte by byte for each of ~5000 bodies */
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(bodies[k]);
        size_t close_end = len - 2; /* before the final CRLF (epilogue) */
        for (size_t cut = 0; cut < len; cut++) {
            int n = run(&r, cts[k], bodies[k], cut, MAXP);
            if (cut < close_end)
                assert_int_equal(n, -1);
            else
                assert_int_equal(n, 2);
        }
        char *mut = malloc(len);
        static const char repl[] = {'\0', '\r', '\n', '-', '"', ';', ' ', 'x'};
        for (size_t i = 0; i < len; i++) {
            for (size_t j = 0; j < sizeof repl; j++) {
                memcpy(mut, bodies[k], len);
                mut[i] = repl[j];
                int n = run(&r, cts[k], mut, len, MAXP);
                assert_true(n >= -1 && n <= MAXP);
                for (int q = 0; q < n; q++) {
                    assert_true(r.p[q].data >= r.copy);
                    assert_true(r.p[q].data + r.p[q].len <= r.copy + len);
                }
            }
        }
        free(mut);
    }
    every_split = true;
    free(r.copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdk_bodies),
        cmocka_unit_test(test_boundary_forms),
        cmocka_unit_test(test_line_endings_and_framing),
        cmocka_unit_test(test_filenames),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_truncations_and_corruptions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
