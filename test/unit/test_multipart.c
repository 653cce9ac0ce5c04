/* test_multipart.c — the multipart/form-data parser: the bodies the openai
 * Node SDK (7.57.0) really sends for files.create (captured with a node http
 * server: toFile() goes through undici's FormData, fs.createReadStream()
 * through the SDK's own chunked encoder), boundary and line-ending
 * variants, parameter decoding, every error class, and bounds: each parse
 * runs on an exact-size heap copy so ASan sees any read past the end. */
#include <setjmp.h>
#include <stdarg.h>
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

static int run(struct res *r, const char *ct, const char *body, size_t len, size_t max)
{
    free(r->copy);
    memset(r, 0, sizeof *r);
    r->copy = malloc(len ? len : 1);
    memcpy(r->copy, body, len);
    r->n = fg_multipart_parse(ct, r->copy, len, r->p, max, r->err, sizeof r->err);
    if (r->n < 0)
        assert_true(strlen(r->err) > 10);
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
