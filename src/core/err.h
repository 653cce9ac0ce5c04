/* err.h — the error struct every fallible function fills.
 *
 * Contract: functions return 0 on success and a negative value on failure,
 * filling a caller-provided struct fg_err.  The API layer renders it in the
 * caller's dialect (OpenAI or Anthropic).  `type` is a dialect-neutral class
 * (FG_E_*), mapped to each dialect's error type string at render time.
 * Messages never contain secrets: fg_err_set() redacts the message and the
 * param it is given (redact.h), since both may echo client input. */
#ifndef FRUGAL_ERR_H
#define FRUGAL_ERR_H

#include <stdarg.h>

enum fg_err_class {
    FG_E_NONE = 0,
    FG_E_INVALID,     /* 400 malformed / missing / wrong type */
    FG_E_AUTH,        /* 401 */
    FG_E_PERMISSION,  /* 403 */
    FG_E_NOT_FOUND,   /* 404 unknown model, path */
    FG_E_METHOD,      /* 405 */
    FG_E_TOO_LARGE,   /* 413 */
    FG_E_RATE_LIMIT,  /* 429 */
    FG_E_INTERNAL,    /* 500 */
    FG_E_UPSTREAM,    /* 502 bad gateway: reset, refused, malformed */
    FG_E_UNAVAILABLE, /* 503 shutting down, overloaded */
    FG_E_TIMEOUT,     /* 504 upstream timeout */
};

struct fg_err {
    int status; /* HTTP status to return */
    enum fg_err_class cls;
    char param[64]; /* offending field ("messages[0].role"), or "" */
    char code[48];  /* machine code ("model_not_found"), or "" */
    char msg[400];
};

/* Fill e: its class (and so status), the offending param, the machine
 * `code` ("model_not_found"; NULL for none) and the message; returns -1 so
 * callers can `return fg_err_set(...)`. */
int fg_err_set(struct fg_err *e, enum fg_err_class cls, const char *param, const char *code,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

int fg_err_status_of(enum fg_err_class cls);
void fg_err_clear(struct fg_err *e);

#endif
