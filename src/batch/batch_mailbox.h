/* batch_mailbox.h — ledger records of batch lines, handed to the executor.
 *
 * A batch line run locally goes through the normal pipeline in-process;
 * its records (one per attempt) must be committed in the same transaction
 * as the line's result, so a crash can neither lose nor double its cost.
 * The line's client (batch_client.c) puts them here instead of the ledger queue; the executor
 * takes them once the line's final record has arrived.
 *
 * Ownership: a record put here belongs to the mailbox until taken; taken
 * records belong to the taker (fg_ledger_record_free).  Thread-safe (one mutex).
 * Records nobody takes within a minute are handed to the ledger queue (the
 * executor gave up on that line; the money must still be recorded). */
#ifndef FRUGAL_BATCH_MAILBOX_H
#define FRUGAL_BATCH_MAILBOX_H

#include "ledger.h"

#include <stdbool.h>
#include <stddef.h>

void fg_batch_mailbox_put(const char *line, struct fg_record *r, bool final);
/* Wait up to wait_ms for the final record of `line`; on success move up to
 * max of its records (oldest first) into out and return how many; 0 when
 * the final record did not arrive in time (nothing is taken then). */
size_t fg_batch_mailbox_take(const char *line, struct fg_record **out, size_t max, int wait_ms);
/* The ledger id of a batch line's record ("frb_" + 16 hex, NUL; out ≥ 21):
 * a function of the line and the attempt, so a line run again replaces. */
void fg_batch_mailbox_record_id(const char *line, int attempt, char *out);
/* Hand everything left to the ledger (shutdown). */
void fg_batch_mailbox_flush(void);

#endif
