/* upcaps.c — see upcaps.h. */
#include "upcaps.h"

#include "failover.h"

#include <stdatomic.h>
#include <string.h>

static atomic_bool no_stream_usage[FG_FAILOVER_MAX_PROVIDERS];

bool fg_upcaps_refuses_stream_usage(long status, const char *body, size_t len)
{
    static const char name[] = "stream_options";
    return (status == 400 || status == 422) && body &&
           memmem(body, len, name, sizeof name - 1) != NULL;
}

bool fg_upcaps_no_stream_usage(int i)
{
    return i >= 0 && i < FG_FAILOVER_MAX_PROVIDERS &&
           atomic_load_explicit(&no_stream_usage[i], memory_order_relaxed);
}

void fg_upcaps_set_no_stream_usage(int i)
{
    if (i >= 0 && i < FG_FAILOVER_MAX_PROVIDERS)
        atomic_store_explicit(&no_stream_usage[i], true, memory_order_relaxed);
}
