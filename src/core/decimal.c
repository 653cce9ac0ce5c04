/* decimal.c — see decimal.h. */
#include "decimal.h"

#include "assert.h"

#include <string.h>

size_t fg_decimal_u64_pad(char *out, uint64_t v, size_t width)
{
    FG_ASSERT(width <= FG_DECIMAL_MAX);
    char tmp[FG_DECIMAL_MAX];
    size_t n = 0;
    do { /* least significant digit first, into the end of tmp */
        tmp[FG_DECIMAL_MAX - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[FG_DECIMAL_MAX - 1 - n++] = '0';
    FG_DASSERT(n <= FG_DECIMAL_MAX);
    memcpy(out, tmp + FG_DECIMAL_MAX - n, n);
    return n;
}

size_t fg_decimal_u64(char *out, uint64_t v)
{
    return fg_decimal_u64_pad(out, v, 1);
}

size_t fg_decimal_i64(char *out, int64_t v)
{
    if (v >= 0)
        return fg_decimal_u64(out, (uint64_t)v);
    out[0] = '-'; /* 0 - (uint64_t)v: INT64_MIN has no positive int64_t */
    return 1 + fg_decimal_u64(out + 1, 0 - (uint64_t)v);
}
