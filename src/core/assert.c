/* assert.c — see assert.h. */
#include "assert.h"

#include <stdio.h>
#include <stdlib.h>

void fg_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    /* stderr is unbuffered: the line is out before abort() */
    fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", file, line, func, expr);
    abort();
}
