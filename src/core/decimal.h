/* decimal.h — integers written in decimal without printf, for the hot path
 * (a response head, a ledger amount): snprintf's format parsing cost more
 * than the rest of the write.
 *
 * Contract: pure functions, no state, callable from any thread.  Nothing is
 * NUL-terminated: the caller places the digits and keeps the length. */
#ifndef FRUGAL_DECIMAL_H
#define FRUGAL_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* Room for any uint64_t in decimal (20 digits). */
#define FG_DECIMAL_MAX 20

/* Write v in decimal at out (FG_DECIMAL_MAX bytes of room); returns the
 * number of digits written (1 for 0). */
size_t fg_decimal_u64(char *out, uint64_t v);

/* Write v in decimal at out, left-padded with zeros to at least width
 * digits (width <= FG_DECIMAL_MAX); returns the digits written. */
size_t fg_decimal_u64_pad(char *out, uint64_t v, size_t width);

/* Room for any int64_t in decimal (a sign and 19 digits). */
#define FG_DECIMAL_I64_MAX 20

/* Write v in decimal at out (FG_DECIMAL_I64_MAX bytes of room), with a
 * leading '-' when negative; returns the bytes written. */
size_t fg_decimal_i64(char *out, int64_t v);

#endif
