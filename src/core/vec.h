/* vec.h — growable arrays, and the allocation policy they belong to.
 *
 * Policy (the whole tree follows it):
 *  - Request data lives in the per-request arena (arena.h) and is never
 *    freed one piece at a time.
 *  - Everything else is allocated with fg_xmalloc/fg_xcalloc/fg_xrealloc/
 *    fg_xstrdup (arena.h), which abort on OOM, and has one named owner (a
 *    struct field or a static, documented where it is declared) that frees it.
 *  - No raw realloc(): a failed realloc leaks the old block and leaves a NULL
 *    that is written through.  scripts/check-src.sh bans it outside arena.c.
 *  - A growing array is a pointer, a length and a capacity; FG_VEC_RESERVE
 *    grows it (at least doubling, so pushing is amortised O(1)) and never
 *    fails.  Parallel arrays that share one capacity use fg_vec_next_cap()
 *    once, then FG_VEC_RESIZE on each.
 * Sizes are checked for overflow: a count whose size overflows size_t is a
 * bug upstream of here and aborts like OOM. */
#ifndef FRUGAL_VEC_H
#define FRUGAL_VEC_H

#include <stddef.h>

/* The capacity to grow to for `need` items: max(need, 2*cap, 8). */
size_t fg_vec_next_cap(size_t cap, size_t need);
/* fg_xrealloc(p, n * elem), aborting if the product overflows. */
void *fg_vec_resize(void *p, size_t n, size_t elem);

/* p = realloc'ed to hold n items of *p. */
#define FG_VEC_RESIZE(p, n) ((p) = fg_vec_resize((p), (n), sizeof *(p)))

/* Make p (capacity cap, an lvalue of any integer type) hold at least need
 * items; cap is updated.  The contents up to the old capacity are kept. */
#define FG_VEC_RESERVE(p, need, cap)                                                               \
    do {                                                                                           \
        if ((size_t)(need) > (size_t)(cap)) {                                                      \
            size_t fg_vec_nc_ = fg_vec_next_cap((size_t)(cap), (need));                            \
            FG_VEC_RESIZE(p, fg_vec_nc_);                                                          \
            (cap) = fg_vec_nc_;                                                                    \
        }                                                                                          \
    } while (0)

/* Append v to p[len] (growing as needed); len is incremented. */
#define FG_VEC_PUSH(p, len, cap, v)                                                                \
    do {                                                                                           \
        FG_VEC_RESERVE(p, (size_t)(len) + 1, cap);                                                 \
        (p)[(len)++] = (v);                                                                        \
    } while (0)

#endif
