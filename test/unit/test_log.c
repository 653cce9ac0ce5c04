/* test_log.c — unit tests for log.c: whatever text a log line carries
 * (client-controlled model names, paths, field names), the line stays one
 * line and carries no raw control byte; redaction still applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "redact.h"

static char *esc(const char *in, size_t cap)
{
    static char out[512];
    assert_true(cap <= sizeof out);
    fg_log_escape(in, strlen(in), out, cap);
    return out;
}

static void escapes_controls(void **state)
{
    (void)state;
    assert_string_equal(esc("plain text, UTF-8 caf\xc3\xa9 \xe2\x80\xa6 ok", 512),
                        "plain text, UTF-8 caf\xc3\xa9 \xe2\x80\xa6 ok");
    assert_string_equal(esc("a\nb\rc\td", 512), "a\\nb\\rc\\td");
    assert_string_equal(esc("\x1b[31mred\x1b[0m\x07\x7f", 512), "\\x1b[31mred\\x1b[0m\\x07\\x7f");
    /* U+009B (CSI) as UTF-8, and U+0085 (NEL): C1 controls */
    assert_string_equal(esc("x\xc2\x9b"
                            "2Jy\xc2\x85z",
                            512),
                        "x\\u009b2Jy\\u0085z");
    /* U+00A0 and other Latin-1 letters are text */
    assert_string_equal(esc("\xc2\xa0\xc3\xbc", 512), "\xc2\xa0\xc3\xbc");
}

static void never_half_an_escape(void **state)
{
    (void)state;
    char out[8];
    size_t n = fg_log_escape("ab\ncd", 5, out, 4); /* room for 3 bytes */
    assert_int_equal(n, 2);
    assert_string_equal(out, "ab");
    n = fg_log_escape("a\x1b", 2, out, 5); /* "a" + 4-byte escape won't fit */
    assert_string_equal(out, "a");
    assert_int_equal(n, 1);
    n = fg_log_escape("a\x1b", 2, out, 6);
    assert_string_equal(out, "a\\x1b");
}

/* fg_log() itself, stderr captured: a forged line stays inside the real one. */
static void log_line_is_one_line(void **state)
{
    (void)state;
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), 2);
    fg_redact_add_secret("sk-unit-logsecret-0001");
    fg_warn("unknown model '%s'",
            "x'\n2026-01-01T00:00:00.000Z error forged sk-unit-logsecret-0001 \x1b]0;pwn\x07");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[1024];
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, tmp);
    fclose(tmp);
    buf[n] = '\0';
    fg_redact_clear();
    assert_non_null(strstr(buf, " warn unknown model 'x'\\n2026-01-01T00:00:00.000Z error forged "
                                "[REDACTED] \\x1b]0;pwn\\x07'\n"));
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1); /* one line */
    assert_null(strchr(buf, '\x1b'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes_controls),
        cmocka_unit_test(never_half_an_escape),
        cmocka_unit_test(log_line_is_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
