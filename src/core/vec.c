/* vec.c — growable-array helpers (vec.h). */
#include "vec.h"

#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static _Noreturn void overflow(size_t n, size_t elem)
{
    fprintf(stderr, "frugal: array size overflow (%zu x %zu bytes)\n", n, elem);
    abort();
}

size_t fg_vec_next_cap(size_t cap, size_t need)
{
    size_t n = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (n < 8)
        n = 8;
    return n < need ? need : n;
}

void *fg_vec_resize(void *p, size_t n, size_t elem)
{
    if (elem && n > SIZE_MAX / elem)
        overflow(n, elem);
    return fg_xrealloc(p, n * elem);
}
