/* arena.h — per-request bump allocator.
 *
 * Contract: everything allocated from an arena lives until fg_arena_reset()
 * or fg_arena_free(); individual frees don't exist.  The first block is
 * embedded so a small request allocates once.  Allocation aborts on OOM
 * (like redis' zmalloc): a gateway that cannot allocate 4 KB cannot answer. */
#ifndef FRUGAL_ARENA_H
#define FRUGAL_ARENA_H

#include <stddef.h>

struct fg_arena_block;

struct fg_arena {
    struct fg_arena_block *head;
    size_t used, cap;
    char *cur;
};

void fg_arena_init(struct fg_arena *a);
void *fg_arena_alloc(struct fg_arena *a, size_t n); /* 16-byte aligned */
char *fg_arena_strdup(struct fg_arena *a, const char *s);
char *fg_arena_strndup(struct fg_arena *a, const char *s, size_t n);
char *fg_arena_printf(struct fg_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fg_arena_free(struct fg_arena *a);
/* Free the calling thread's cache of recycled blocks (at thread exit). */
void fg_arena_thread_cleanup(void);

/* Allocation helpers that abort on OOM, for owners outside arenas. */
void *fg_xmalloc(size_t n);
void *fg_xcalloc(size_t n, size_t m);
void *fg_xrealloc(void *p, size_t n);
char *fg_xstrdup(const char *s);

#endif
