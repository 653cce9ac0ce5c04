/* reqhead.c — see reqhead.h. */
#include "reqhead.h"

#include <string.h>

bool fg_reqhead_span_is(struct fg_span s, const char *lit)
{
    return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}
