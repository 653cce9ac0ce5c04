/* spoolspend.h — what the calls in this process's ledger spool cost.
 *
 * The records a server store (Postgres) could not take wait in the spool
 * (spool.h) until it is back.  Shared budget counters rebuilt from that
 * store (Redis restarted empty: keys/keyreg.c seed_if_lost) must count
 * them too, or a key could spend its budget again.  This is their spend,
 * per (key_id, tags, UTC day), kept by the ledger's writer as records go
 * into the spool and come out of it.
 *
 * Contract:
 *  - One mutex, held by the caller around every other call here
 *    (fg_spoolspend_lock): the writer holds it from a replayed group's
 *    store write to its removal here, and a reader holds it from the
 *    store's spend read to this one (ledger.h fg_ledger_spend_since), so
 *    a record is counted by the store or by this summary, never by both
 *    or neither.
 *  - fg_spoolspend_since() calls cb with the summed costs of the records
 *    at or after since_ms, once per (key_id, tags) and day (a caller adds
 *    them up), where since_ms is a UTC day's start (budget periods start
 *    at one): exact.
 *  - Memory: owned here, one entry per (key_id, tags, day) with a
 *    non-zero count; fg_spoolspend_reset() frees all (ledger stop). */
#ifndef FRUGAL_SPOOLSPEND_H
#define FRUGAL_SPOOLSPEND_H

#include "ledger.h"

#include <stdint.h>

void fg_spoolspend_lock(void);
void fg_spoolspend_unlock(void);
/* A record went into the spool / came out of it (written to the store). */
void fg_spoolspend_add(const struct fg_record *r);
void fg_spoolspend_sub(const struct fg_record *r);
int fg_spoolspend_since(int64_t since_ms,
                        int (*cb)(void *arg, const char *key_id, const char *tags, int64_t cost),
                        void *arg);
void fg_spoolspend_reset(void);

#endif
