/* alog.h — the access log: one JSON line per call, from its ledger record.
 *
 * Contract:
 *  - fg_alog_open(spec) with spec "off" or NULL (nothing is written),
 *    "stdout", or a file path (config `log: {access: ...}`); -1 with err
 *    when the file cannot be opened.  Lines go through a linelog
 *    (linelog.h): a writer thread, a bounded queue, never a wait for the
 *    disk on the caller's thread, whole lines only.
 *  - fg_ledger_submit() formats every record it is given (any thread,
 *    fg_alog_format) and puts the line (fg_alog_put) once the ledger's
 *    queue has taken the record: a call's record becomes one line; a
 *    record that is not a call (self-hosted idle time, a stored
 *    Response's deletion) none.  Records that reach the store another way
 *    (a batch line's, committed with the line's result in the same
 *    transaction, batch_exec.c) are given to fg_alog_record() once
 *    committed.  So a line exists exactly for each call the ledger
 *    records: calls
 *    answered or refused after authentication (budget and rate limits,
 *    429s, errors, client gone = 499), cache hits, embeddings, passed-
 *    through paths, each attempt of a failed-over or escalated call (its
 *    linked_id names the one before), shadow evaluations (route
 *    "routing_eval") and batch lines (batch_id set, written when the
 *    line's result is committed).  A request refused before a key is
 *    known (401) is not a call: it has no line.
 *  - A line never holds a prompt, an answer, an error message (a
 *    provider's may quote the prompt) or a secret: its text fields are
 *    ids, names from the config, and the model name the client asked for
 *    and the path of a passed-through call — client text, so redacted
 *    (redact.h), cut to FG_ALOG_TEXT_MAX bytes and JSON-escaped with
 *    every control character (C0, DEL, C1) and invalid UTF-8 escaped.
 *  - fg_alog_reopen() is async-signal-safe: SIGHUP's handler calls it, the
 *    writer thread reopens the file (logrotate).
 *  - fg_alog_close() writes what is queued and closes; after every thread
 *    that submits records has stopped (the daemon closes it after the
 *    ledger).
 * The line's fields are listed in README ("Access log"). */
#ifndef FRUGAL_ALOG_H
#define FRUGAL_ALOG_H

#include "ledger.h"

#include <stdbool.h>
#include <stddef.h>

#define FG_ALOG_TEXT_MAX 128
#define FG_ALOG_LINE_MAX 4096

int fg_alog_open(const char *spec, char *err, size_t errlen);
bool fg_alog_on(void);
/* A record committed to the store without the ledger's queue: its line. */
void fg_alog_record(const struct fg_record *r);
/* One line from fg_alog_format; a no-op while off. */
void fg_alog_put(const char *line, size_t n);
void fg_alog_reopen(void);
void fg_alog_close(void);
/* /metrics: lines written, dropped, lost to write errors (a metrics source,
 * metrics.h; added by the daemon when the access log is on). */
struct evbuffer;
void fg_alog_metrics(struct evbuffer *o);

/* The record's line (ending in '\n') into out; its length, or 0 when r is
 * not a call.  Pure; cap >= FG_ALOG_LINE_MAX always fits. */
size_t fg_alog_format(const struct fg_record *r, char *out, size_t cap);

#endif
