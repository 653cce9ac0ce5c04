/* arena.c — see arena.h. */
#include "arena.h"

#include "assert.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fg_arena_block {
    struct fg_arena_block *next;
    size_t cap;
    _Alignas(16) char data[];
};

#define ARENA_BLOCK 8192
#define ARENA_CACHE 16

/* Each thread keeps a few standard blocks: a request's first block is
 * recycled instead of going back to malloc, which for 8 KB chunks would
 * consolidate the heap on every request. */
static _Thread_local struct fg_arena_block *cache;
static _Thread_local int cached;

static struct fg_arena_block *block_get(size_t cap)
{
    if (cap == ARENA_BLOCK && cache) {
        struct fg_arena_block *b = cache;
        cache = b->next;
        cached--;
        return b;
    }
    struct fg_arena_block *b = fg_xmalloc(sizeof *b + cap);
    b->cap = cap;
    return b;
}

static void block_put(struct fg_arena_block *b)
{
    FG_DASSERT(cached >= 0 && cached <= ARENA_CACHE);
    if (b->cap == ARENA_BLOCK && cached < ARENA_CACHE) {
        b->next = cache;
        cache = b;
        cached++;
    } else {
        free(b);
    }
}

void fg_arena_thread_cleanup(void)
{
    while (cache) {
        struct fg_arena_block *b = cache;
        cache = b->next;
        free(b);
    }
    cached = 0;
}

static void oom(size_t n)
{
    fprintf(stderr, "frugal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *fg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *fg_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        oom(n * m);
    return p;
}

void *fg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *fg_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = fg_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void fg_arena_init(struct fg_arena *a)
{
    memset(a, 0, sizeof *a);
}

void *fg_arena_alloc(struct fg_arena *a, size_t n)
{
    FG_ASSERT(n <= SIZE_MAX - 15); /* a size this large is a caller's overflow */
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->used + n > a->cap) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        struct fg_arena_block *b = block_get(cap);
        b->next = a->head;
        a->head = b;
        a->cur = b->data;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->cur + a->used;
    a->used += n;
    FG_DASSERT(a->used <= a->cap && ((uintptr_t)p & 15) == 0);
    return p;
}

char *fg_arena_strndup(struct fg_arena *a, const char *s, size_t n)
{
    char *p = fg_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *fg_arena_strdup(struct fg_arena *a, const char *s)
{
    return fg_arena_strndup(a, s, strlen(s));
}

char *fg_arena_printf(struct fg_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = fg_arena_alloc(a, (size_t)(n < 0 ? 0 : n) + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void fg_arena_free(struct fg_arena *a)
{
    struct fg_arena_block *b = a->head;
    while (b) {
        struct fg_arena_block *n = b->next;
        block_put(b);
        b = n;
    }
    memset(a, 0, sizeof *a);
}
