/* test_assert.c — FG_ASSERT aborts with the place and the expression in
 * every build; a true condition costs nothing visible. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "assert.h"

static int checked(int v)
{
    FG_ASSERT(v >= 0);
    FG_DASSERT(v < 100);
    return v * 2;
}

static void true_condition_passes(void **state)
{
    assert_int_equal(checked(21), 42);
}

/* The child breaks the invariant; the parent reads what it printed. */
static void false_condition_aborts_naming_it(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        signal(SIGABRT, SIG_DFL);
        checked(-1);
        _exit(0);
    }
    close(fds[1]);
    char buf[512] = {0};
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    assert_non_null(strstr(buf, "test_assert.c:"));
    assert_non_null(strstr(buf, "checked: assertion failed: v >= 0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(true_condition_passes),
        cmocka_unit_test(false_condition_aborts_naming_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
