/* err.c — see err.h. */
#include "err.h"

#include "redact.h"

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

int fg_err_set(struct fg_err *e, enum fg_err_class cls, const char *param, const char *code,
               const char *fmt, ...)
{
    if (!e)
        return -1;
    e->cls = cls;
    e->status = fg_err_status_of(cls);
    /* codes are ours (literals), never client input: copied as they are */
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");

    const char *p = param ? param : "";
    fg_redact(p, strlen(p), e->param, sizeof e->param);
    /* messages echo client input (names, values): redacted (redact.h) */
    char raw[sizeof e->msg + 200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
    fg_redact(raw, len, e->msg, sizeof e->msg);
    return -1;
}

void fg_err_clear(struct fg_err *e)
{
    memset(e, 0, sizeof *e);
}
