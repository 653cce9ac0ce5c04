/* spool.h — the ledger's local append-only file for the records a server
 * store (Postgres) could not take while it was unreachable.
 *
 * Contract:
 *  - Used by the ledger's writer thread only (one thread; no locking).
 *  - fg_spool_append() writes records at the end of the file, in order,
 *    with one write(2) per group: a committed append survives kill -9 (it
 *    is in the OS before the call returns; no fsync, as the SQLite ledger's
 *    synchronous=NORMAL).  Each record is framed (magic, length, body,
 *    FNV-1a of the body), so a record torn by a crash mid-append is found
 *    and dropped at the tail, never misread.
 *  - Replay, oldest first: fg_spool_read() hands out up to max records
 *    from the replay cursor (copies the caller frees), fg_spool_consume()
 *    moves the cursor past them once the store took them; when the cursor
 *    reaches the end the file is emptied.  A crash between the store's
 *    commit and consume replays those records again: the store keeps a
 *    record written twice once (store.h write), so no row is lost and none
 *    lands twice.
 *  - fg_spool_open() finds the records a previous process left (depth). */
#ifndef FRUGAL_SPOOL_H
#define FRUGAL_SPOOL_H

#include "ledger.h"

#include <stddef.h>
#include <stdint.h>

struct fg_spool;

int fg_spool_open(const char *path, struct fg_spool **out, char *err, size_t errlen);
void fg_spool_close(struct fg_spool *s);
/* 0, or -1 with err (nothing appended: the file is cut back). */
int fg_spool_append(struct fg_spool *s, struct fg_record *const *recs, size_t n, char *err,
                    size_t errlen);
/* Up to max records after the cursor into out: the count (0 at the end).
 * err is "" unless a damaged record was found (only damage from outside
 * can make one): the file is cut there and err says how much was lost. */
long fg_spool_read(struct fg_spool *s, struct fg_record **out, size_t max, char *err,
                   size_t errlen);
/* The records of the last fg_spool_read are in the store: move past them. */
void fg_spool_consume(struct fg_spool *s);
/* Every record not yet replayed, oldest first, to cb (a copy, freed after
 * it returns; nothing moves): 0, cb's non-zero answer, or -1 at damage. */
int fg_spool_scan(struct fg_spool *s, int (*cb)(void *arg, const struct fg_record *r), void *arg);
/* Records in the file not yet replayed. */
uint64_t fg_spool_depth(const struct fg_spool *s);

#endif
