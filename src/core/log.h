/* log.h — leveled logging to stderr, one line per event, thread-safe.
 *
 * Contract: never pass a secret; every line is redacted anyway (redact.h:
 * registered keys, Bearer tokens, key headers and query parameters,
 * sk-/fk- shaped tokens become "[REDACTED]").  fg_log_redact() returns a
 * printable stand-in for a key ("sk-…abcd" style: first 3 + last 4 chars
 * at most).
 * Every line is also escaped (fg_log_escape) after redaction, so text a
 * client controls (model names, field names, paths) can neither forge a
 * line of its own nor send terminal escapes: one event, one line. */
#ifndef FRUGAL_LOG_H
#define FRUGAL_LOG_H

#include <stddef.h>

enum fg_log_level { FG_LOG_DEBUG, FG_LOG_INFO, FG_LOG_WARN, FG_LOG_ERROR };

void fg_log_set_level(enum fg_log_level lvl);
enum fg_log_level fg_log_level_from_str(const char *s); /* default INFO */
void fg_log(enum fg_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fg_debug(...) fg_log(FG_LOG_DEBUG, __VA_ARGS__)
#define fg_info(...) fg_log(FG_LOG_INFO, __VA_ARGS__)
#define fg_warn(...) fg_log(FG_LOG_WARN, __VA_ARGS__)
#define fg_error(...) fg_log(FG_LOG_ERROR, __VA_ARGS__)

/* Copies n bytes of in to out (cap > 0, always NUL-terminated), writing
 * newline, CR and tab as \n \r \t, other C0 controls and DEL as \xHH,
 * and the UTF-8 C1 controls U+0080..U+009F as \u00HH; an escape is never
 * cut in half.  Returns the length written. */
size_t fg_log_escape(const char *in, size_t n, char *out, size_t cap);

/* Writes a redacted form of `secret` into out (always NUL-terminated). */
const char *fg_log_redact(const char *secret, char *out, size_t outlen);

#endif
