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

/* The common case (a ledger row's ~35 integers, a Redis admission's ~30):
 * count the digits, then write them in place, two at a time. */
size_t fg_decimal_u64(char *out, uint64_t v)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
    size_t n = 1;
    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    char *w = out + n;
    while (v >= 100) {
        const char *d = pairs + 2 * (v % 100);
        v /= 100;
        *--w = d[1];
        *--w = d[0];
    }
    if (v >= 10) {
        *--w = pairs[2 * v + 1];
        *--w = pairs[2 * v];
    } else {
        *--w = (char)('0' + v);
    }
    FG_DASSERT(w == out && n <= FG_DECIMAL_MAX);
    return n;
}

size_t fg_decimal_i64(char *out, int64_t v)
{
    if (v >= 0)
        return fg_decimal_u64(out, (uint64_t)v);
    out[0] = '-'; /* 0 - (uint64_t)v: INT64_MIN has no positive int64_t */
    return 1 + fg_decimal_u64(out + 1, 0 - (uint64_t)v);
}
