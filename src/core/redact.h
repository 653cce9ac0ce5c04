/* redact.h — keeping secrets out of log lines and error messages.
 *
 * Contract: fg_redact() copies text, replacing every secret it recognises
 * with "[REDACTED]":
 *  - the strings registered with fg_redact_add_secret() (provider keys and
 *    the master key, registered at startup) wherever they occur, and a text
 *    that ends in the first 8 or more bytes of one (a line cut inside a key);
 *  - the credential after "Bearer " (any case);
 *  - the value of an Authorization, Proxy-Authorization, x-api-key, api-key
 *    or x-goog-api-key header ("name: value", "name=value", JSON
 *    "name": "value"), the auth scheme word ("Bearer", "Basic") kept;
 *  - the value of a key, api_key, apikey, api-key, x-api-key,
 *    access_token, token, password, secret or client_secret query parameter
 *    (after '?', '&' or ';'), and of JSON members or name=value pairs with
 *    those names (and master_key);
 *  - the password of a URL's userinfo (scheme://user:PASSWORD@host);
 *  - tokens shaped like keys: "sk-", "sk-ant-", "fk-" followed by at least
 *    6 of [A-Za-z0-9_-], not preceded by such a character.
 * Unquoted header values shorter than 6 bytes are left alone, so
 * placeholders in messages ("x-api-key: KEY") read as written.
 * Redaction is repeated until the text no longer changes, so redacting a
 * result again changes nothing.
 * Replaced spans never contain '"', '\\', whitespace or control bytes and
 * the replacement has none, so redacting JSON text leaves valid JSON.
 *
 * fg_redact() works like snprintf: it writes at most cap-1 bytes and a NUL
 * (cap may be 0 with out NULL) and returns the length of the whole result.
 * Thread safety: secrets are registered by one thread at a time (startup,
 * then the config reloader) and fg_redact() may run meanwhile; fg_redact()
 * is then safe on any thread.  Every log line (log.c), error message
 * (err.c) and config error (config.c) goes through here. */
#ifndef FRUGAL_REDACT_H
#define FRUGAL_REDACT_H

#include <stddef.h>

#define FG_REDACTED "[REDACTED]"

/* Remember an exact secret (copied); strings under 6 bytes are ignored. */
void fg_redact_add_secret(const char *secret);
/* Forget every registered secret (tests, shutdown). */
void fg_redact_clear(void);

size_t fg_redact(const char *in, size_t n, char *out, size_t cap);
/* The same into a malloc'd NUL-terminated copy; *out_len gets its length. */
char *fg_redact_dup(const char *in, size_t n, size_t *out_len);

#endif
