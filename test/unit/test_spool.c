/* test_spool.c — the ledger's spool file (spool.c): records come back
 * whole and in order, consumed records are not read again, a reopened
 * spool finds what a previous process left, a torn tail (a crash
 * mid-append) is cut without losing the whole records before it, and a
 * damaged record stops the replay there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "spool.h"

static struct fg_record *rec(int i)
{
    struct fg_record *r = fg_ledger_record_new(256);
    snprintf(r->id, sizeof r->id, "frg_spool_%06d", i);
    r->ts_ms = 1796601600000LL + i;
    r->key_id = fg_ledger_record_str(r, "key_x");
    r->tags = fg_ledger_record_str(r, "");
    r->model = fg_ledger_record_str(r, "gpt-4o-mini");
    r->error = i % 3 ? NULL : fg_ledger_record_str(r, "bytes \x01\xff and \"quotes\"");
    r->stream = i % 2;
    r->status = 200 + i % 3;
    r->cost_pico = 1000000LL * i;
    r->buster_pico = -5;          /* negative survives */
    r->saved_flex_pico = 7LL * i; /* an integer after the strings */
    r->tok.output = i;
    snprintf(r->prefix_fp, sizeof r->prefix_fp, "%016x", i);
    return r;
}

static char path[64];

static int setup(void **state)
{
    snprintf(path, sizeof path, "/tmp/frugal_test_spool_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

static struct fg_spool *open_spool(void)
{
    struct fg_spool *s = NULL;
    char err[256];
    if (fg_spool_open(path, &s, err, sizeof err) < 0)
        fail_msg("open: %s", err);
    return s;
}

static void append_range(struct fg_spool *s, int from, int to)
{
    struct fg_record *v[64] = {0};
    char err[256];
    int n = 0;
    for (int i = from; i < to; i++)
        v[n++] = rec(i);
    assert_int_equal(fg_spool_append(s, v, (size_t)n, err, sizeof err), 0);
    for (int i = 0; i < n; i++)
        fg_ledger_record_free(v[i]);
}

/* Read everything after the cursor, checking ids from..; returns count. */
static int read_all(struct fg_spool *s, int from, bool consume)
{
    struct fg_record *v[7];
    char err[256];
    int seen = 0;
    long n;
    while ((n = fg_spool_read(s, v, 7, err, sizeof err)) > 0) {
        for (long i = 0; i < n; i++) {
            struct fg_record *want = rec(from + seen);
            assert_string_equal(v[i]->id, want->id);
            assert_int_equal(v[i]->ts_ms, want->ts_ms);
            assert_string_equal(v[i]->key_id, "key_x");
            assert_string_equal(v[i]->tags, "");
            assert_null(v[i]->upstream_model);
            if (want->error)
                assert_string_equal(v[i]->error, want->error);
            else
                assert_null(v[i]->error);
            assert_int_equal(v[i]->stream, want->stream);
            assert_int_equal(v[i]->status, want->status);
            assert_int_equal(v[i]->cost_pico, want->cost_pico);
            assert_int_equal(v[i]->buster_pico, -5);
            assert_int_equal(v[i]->saved_flex_pico, want->saved_flex_pico);
            assert_int_equal(v[i]->tok.output, want->tok.output);
            assert_string_equal(v[i]->prefix_fp, want->prefix_fp);
            fg_ledger_record_free(want);
            fg_ledger_record_free(v[i]);
            seen++;
        }
        if (!consume)
            break;
        fg_spool_consume(s);
    }
    assert_string_equal(err, "");
    return seen;
}

static void records_come_back_in_order(void **state)
{
    struct fg_spool *s = open_spool();
    assert_int_equal(fg_spool_depth(s), 0);
    append_range(s, 0, 20);
    append_range(s, 20, 30);
    assert_int_equal(fg_spool_depth(s), 30);
    /* read without consuming: the same records again (the store refused) */
    assert_int_equal(read_all(s, 0, false), 7);
    assert_int_equal(read_all(s, 0, true), 30);
    assert_int_equal(fg_spool_depth(s), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0); /* emptied once all was taken */
    fg_spool_close(s);
}

static void a_reopened_spool_finds_what_was_left(void **state)
{
    struct fg_spool *s = open_spool();
    append_range(s, 0, 10);
    struct fg_record *v[4];
    char err[256];
    assert_int_equal(fg_spool_read(s, v, 4, err, sizeof err), 4);
    for (int i = 0; i < 4; i++)
        fg_ledger_record_free(v[i]);
    /* not consumed: a crash before the store's answer replays them */
    fg_spool_close(s);
    s = open_spool();
    assert_int_equal(fg_spool_depth(s), 10);
    assert_int_equal(read_all(s, 0, true), 10);
    fg_spool_close(s);
}

static void a_torn_tail_is_cut(void **state)
{
    struct fg_spool *s = open_spool();
    append_range(s, 0, 5);
    fg_spool_close(s);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* a crash mid-append: half of a sixth frame */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "FGS1\x40\x00\x00\x00partial", 15), 15);
    close(fd);
    s = open_spool();
    assert_int_equal(fg_spool_depth(s), 5);
    append_range(s, 5, 8); /* appends after the cut */
    assert_int_equal(read_all(s, 0, true), 8);
    fg_spool_close(s);
}

static uint32_t fnv(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* A frame an older frugal wrote ends after its strings (30 integers, 19
 * strings, no saved_flex_pico): it reads back, with 0 there. */
static void a_frame_from_before_the_extra_integers_reads(void **state)
{
    unsigned char body[30 * 8 + 19 * 4 + 16];
    size_t n = 0;
    int64_t ints[30] = {1796601600000LL, 0, 0, 200};
    memcpy(body, ints, sizeof ints);
    n += sizeof ints;
    for (int i = 0; i < 19; i++) {
        uint32_t len = i == 0 ? 12 : 0xffffffffu;
        memcpy(body + n, &len, 4);
        n += 4;
        if (i == 0) {
            memcpy(body + n, "frg_oldframe", 12);
            n += 12;
        }
    }
    uint32_t head[2] = {0x31534746u, (uint32_t)n}, sum = fnv(body, n);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, head, 8), 8);
    assert_int_equal(write(fd, body, n), (ssize_t)n);
    assert_int_equal(write(fd, &sum, 4), 4);
    close(fd);
    struct fg_spool *s = open_spool();
    struct fg_record *v[2];
    char err[256];
    assert_int_equal(fg_spool_read(s, v, 2, err, sizeof err), 1);
    assert_string_equal(v[0]->id, "frg_oldframe");
    assert_int_equal(v[0]->status, 200);
    assert_int_equal(v[0]->saved_flex_pico, 0);
    fg_ledger_record_free(v[0]);
    fg_spool_close(s);
}

static void a_damaged_record_stops_the_replay(void **state)
{
    struct fg_spool *s = open_spool();
    append_range(s, 0, 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    off_t one = st.st_size; /* where the second frame starts */
    append_range(s, 1, 4);
    /* damage the second frame's body after open checked it */
    int fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "X", 1, one + 40), 1);
    close(fd);
    struct fg_record *v[8];
    char err[256];
    assert_int_equal(fg_spool_read(s, v, 8, err, sizeof err), 1);
    assert_non_null(strstr(err, "damaged record"));
    fg_ledger_record_free(v[0]);
    fg_spool_consume(s);
    assert_int_equal(fg_spool_depth(s), 0);
    fg_spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(records_come_back_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reopened_spool_finds_what_was_left, setup, teardown),
        cmocka_unit_test_setup_teardown(a_torn_tail_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(a_damaged_record_stops_the_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(a_frame_from_before_the_extra_integers_reads, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
