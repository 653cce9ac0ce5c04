/* shared.c — see shared.h: the process's instance and values. */
#include "shared.h"

#include "arena.h"
#include "assert.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static struct fg_shared mem = {.ops = &fg_shared_mem_ops};
static struct fg_shared *_Atomic g_shared_process = &mem;

struct fg_shared *fg_shared_process(void)
{
    return atomic_load_explicit(&g_shared_process, memory_order_acquire);
}

void fg_shared_process_set(struct fg_shared *s)
{
    atomic_store_explicit(&g_shared_process, s ? s : &mem, memory_order_release);
}

void fg_shared_counter_init(struct fg_shared_counter *c, const char *name, int64_t span,
                            int64_t keep_ms, struct fg_shared_cell *cells, int ncell)
{
    FG_ASSERT(span >= 1 && keep_ms > 0 && cells && ncell >= 1 && ncell <= FG_SHARED_MAX_SPAN);
    if (name)
        snprintf(c->name, sizeof c->name, "%s", name);
    c->span = span;
    c->keep_ms = keep_ms;
    c->cell = cells;
    c->ncell = ncell;
    struct fg_shared *s = fg_shared_process();
    s->ops->counter_reset(s, c);
}

struct fg_shared_loop *fg_shared_loop_open(struct event_base *base)
{
    struct fg_shared *s = fg_shared_process();
    return s->ops->loop_open ? s->ops->loop_open(s, base) : NULL;
}

void fg_shared_loop_close(struct fg_shared_loop *l)
{
    struct fg_shared *s = fg_shared_process();
    if (l && s->ops->loop_close)
        s->ops->loop_close(l);
}

uint64_t fg_shared_lease_new(void)
{
    /* unique across replicas without coordination: 64 random bits */
    uint64_t x = 0;
    while (x == 0)
        if (getrandom(&x, sizeof x, 0) != sizeof x)
            x = 0;
    return x;
}

/* ---------------------------------------------------------------- values */

struct fg_shared_val {
    atomic_uint ref;
    size_t n;
    _Alignas(16) unsigned char data[]; /* aligned: callers lay out headers in it */
};

struct fg_shared_val *fg_shared_val_new(size_t n, void **data)
{
    struct fg_shared_val *v = fg_xmalloc(sizeof *v + n);
    atomic_init(&v->ref, 1);
    v->n = n;
    *data = v->data;
    return v;
}

const void *fg_shared_val_data(const struct fg_shared_val *v, size_t *n)
{
    if (n)
        *n = v->n;
    return v->data;
}

struct fg_shared_val *fg_shared_val_ref(struct fg_shared_val *v)
{
    if (v)
        atomic_fetch_add_explicit(&v->ref, 1, memory_order_relaxed);
    return v;
}

void fg_shared_val_release(struct fg_shared_val *v)
{
    if (!v)
        return;
    unsigned was = atomic_fetch_sub_explicit(&v->ref, 1, memory_order_acq_rel);
    FG_ASSERT(was > 0); /* released more often than referenced */
    if (was == 1)
        free(v);
}
