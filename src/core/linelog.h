/* linelog.h — an append-only file of whole lines, written by a thread of its own.
 *
 * Contract:
 *  - The struct lives where its owner puts it (static storage for a
 *    process-wide log), so that fg_linelog_reopen() may be called from a
 *    signal handler at any time, even around open and close.
 *  - fg_linelog_open() opens PATH (O_WRONLY|O_APPEND|O_CREAT, mode 0640),
 *    or standard output when path is NULL, and starts the writer thread.
 *  - fg_linelog_put() copies one complete line (ending in '\n', at most
 *    FG_LINELOG_LINE_MAX bytes) into a bounded in-memory queue and returns:
 *    it never waits for the disk, only for a memcpy under a mutex, so an
 *    event loop may call it.  The writer writes what is queued with one
 *    write() per round (O_APPEND, one writer): lines are never cut or
 *    interleaved.  A line that finds the queue at its limit
 *    (FG_LINELOG_QUEUE_BYTES) is dropped and counted, never blocked on;
 *    the writer reports drops as a warning (at most one per 10 s).
 *  - fg_linelog_reopen() is async-signal-safe (an atomic store and
 *    sem_post): the writer closes the file and opens PATH again before
 *    its next write (logrotate: rename, SIGHUP, the new file gets what
 *    follows; lines queued before the reopen may land in either file, none
 *    is lost).  Standard output is never reopened.  If PATH cannot be
 *    opened, the old file stays in use and a warning says why.
 *  - fg_linelog_close() writes everything queued, joins the writer and
 *    closes the file; the struct may be opened again afterwards.  Call it
 *    once every thread that puts has stopped (a put racing it is dropped,
 *    but must not still be entering the mutex when it is destroyed).
 * Ownership: the queue's buffers and the path belong to the struct between
 * open and close. */
#ifndef FRUGAL_LINELOG_H
#define FRUGAL_LINELOG_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_LINELOG_LINE_MAX 8192
#define FG_LINELOG_QUEUE_BYTES (4u << 20)

struct fg_linelog {
    _Atomic bool on;                   /* between open and close: reopen may post */
    _Atomic bool reopen;               /* asked for, not done yet */
    sem_t wake;                        /* work for the writer (lines, reopen, stop) */
    pthread_mutex_t mu;                /* guards buf/len, stopping and the counters */
    char *buf, *spare;                 /* lines queued; the writer's buffer */
    size_t len;                        /* bytes queued */
    bool stopping;                     /* close asked: write what is queued, then end */
    char *path;                        /* NULL: standard output */
    int fd;                            /* the writer's only */
    pthread_t thread;                  /* the writer */
    uint64_t written, dropped, failed; /* lines; failed = write errors */
};

struct fg_linelog_stats {
    uint64_t written, dropped, failed;
};

/* 0, or -1 with err (the file cannot be opened). */
int fg_linelog_open(struct fg_linelog *l, const char *path, char *err, size_t errlen);
/* Queue one line (see above); false when it was dropped or l is closed. */
bool fg_linelog_put(struct fg_linelog *l, const char *line, size_t n);
void fg_linelog_reopen(struct fg_linelog *l);
void fg_linelog_stats(struct fg_linelog *l, struct fg_linelog_stats *s);
void fg_linelog_close(struct fg_linelog *l);

#endif
