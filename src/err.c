/* err.c — see err.h. */
#include "err.h"

#include <stdio.h>
#include <string.h>

int fg_err_status_of(enum fg_err_class cls)
{
    switch (cls) {
    case FG_E_NONE: return 200;
    case FG_E_INVALID: return 400;
    case FG_E_AUTH: return 401;
    case FG_E_PERMISSION: return 403;
    case FG_E_NOT_FOUND: return 404;
    case FG_E_METHOD: return 405;
    case FG_E_TOO_LARGE: return 413;
    case FG_E_RATE_LIMIT: return 429;
    case FG_E_INTERNAL: return 500;
    case FG_E_UPSTREAM: return 502;
    case FG_E_UNAVAILABLE: return 503;
    case FG_E_TIMEOUT: return 504;
    }
    return 500;
}

int fg_err_set(struct fg_err *e, enum fg_err_class cls, const char *param,
               const char *fmt, ...)
{
    if (!e)
        return -1;
    e->cls = cls;
    e->status = fg_err_status_of(cls);
    e->code[0] = '\0';
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void fg_err_clear(struct fg_err *e)
{
    memset(e, 0, sizeof *e);
}
