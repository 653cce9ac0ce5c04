/* upcaps.c — see upcaps.h. */
#include "upcaps.h"

#include "failover.h"

#include <stdatomic.h>
#include <string.h>

static atomic_uint lacks[FG_FAILOVER_MAX_PROVIDERS];

static const struct {
    enum fg_upcap cap;
    const char *member;
} members[] = {
    {FG_UPCAP_STREAM_USAGE, "stream_options"},
    {FG_UPCAP_CACHE_KEY, "prompt_cache_key"},
};

unsigned fg_upcaps_refused(unsigned added, long status, const char *body, size_t len)
{
    unsigned r = 0;
    if ((status != 400 && status != 422) || !body)
        return 0;
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        if ((added & members[i].cap) &&
            memmem(body, len, members[i].member, strlen(members[i].member)))
            r |= members[i].cap;
    return r;
}

bool fg_upcaps_lacks(int i, enum fg_upcap cap)
{
    return i >= 0 && i < FG_FAILOVER_MAX_PROVIDERS &&
           (atomic_load_explicit(&lacks[i], memory_order_relaxed) & (unsigned)cap);
}

void fg_upcaps_mark(int i, unsigned caps)
{
    if (i >= 0 && i < FG_FAILOVER_MAX_PROVIDERS)
        atomic_fetch_or_explicit(&lacks[i], caps, memory_order_relaxed);
}

const char *fg_upcaps_names(unsigned caps)
{
    switch (caps) {
    case FG_UPCAP_STREAM_USAGE: return "stream_options";
    case FG_UPCAP_CACHE_KEY: return "prompt_cache_key";
    default: return "stream_options and prompt_cache_key";
    }
}
