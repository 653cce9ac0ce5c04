/* linelog.c — see linelog.h. */
#include "linelog.h"

#include "assert.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Writes all n bytes (a short write continues; EINTR retries).  0 or -1. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static size_t count_lines(const char *p, size_t n)
{
    size_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
        k++;
    return k;
}

/* Writer thread only: the file renamed away is closed, PATH opened anew. */
static void do_reopen(struct fg_linelog *l)
{
    if (!l->path)
        return;
    int fd = open_path(l->path);
    if (fd < 0) {
        fg_warn("access log: cannot reopen %s: %s (still writing to the old file)", l->path,
                strerror(errno));
        return;
    }
    close(l->fd);
    l->fd = fd;
}

/* Writer thread: a drop since the last report, at most one warning per 10 s
 * (and the last count when the log closes). */
static void report_drops(struct fg_linelog *l, uint64_t *reported, int64_t *at, bool last)
{
    pthread_mutex_lock(&l->mu);
    uint64_t dropped = l->dropped;
    pthread_mutex_unlock(&l->mu);
    int64_t now = mono_s();
    if (dropped == *reported || (!last && now - *at < 10))
        return;
    fg_warn("access log: %llu lines dropped so far (the file could not keep up)",
            (unsigned long long)dropped);
    *reported = dropped;
    *at = now;
}

static void *writer_main(void *arg)
{
    struct fg_linelog *l = arg;
    uint64_t reported = 0;
    int64_t reported_at = 0;
    bool failing = false;
    for (;;) {
        while (sem_wait(&l->wake) < 0 && errno == EINTR)
            ;
        pthread_mutex_lock(&l->mu);
        char *out = l->buf; /* swap: producers fill the other buffer meanwhile */
        size_t n = l->len;
        l->buf = l->spare;
        l->spare = out;
        l->len = 0;
        bool stop = l->stopping;
        pthread_mutex_unlock(&l->mu);
        if (atomic_exchange(&l->reopen, false))
            do_reopen(l);
        if (n) {
            size_t lines = count_lines(out, n);
            int rc = write_all(l->fd, out, n);
            if (rc < 0 && !failing)
                fg_warn("access log: write failed: %s (lines are lost until it works again)",
                        strerror(errno));
            failing = rc < 0;
            pthread_mutex_lock(&l->mu);
            if (rc < 0)
                l->failed += lines;
            else
                l->written += lines;
            pthread_mutex_unlock(&l->mu);
        }
        report_drops(l, &reported, &reported_at, stop);
        if (stop) /* puts stop before `stopping` is set: nothing can follow */
            break;
    }
    return NULL;
}

int fg_linelog_open(struct fg_linelog *l, const char *path, char *err, size_t errlen)
{
    FG_ASSERT(!atomic_load(&l->on));
    int fd = path ? open_path(path) : dup(STDOUT_FILENO);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path ? path : "standard output",
                 strerror(errno));
        return -1;
    }
    l->fd = fd;
    l->path = path ? strdup(path) : NULL;
    l->buf = malloc(FG_LINELOG_QUEUE_BYTES);
    l->spare = malloc(FG_LINELOG_QUEUE_BYTES);
    FG_ASSERT(l->buf && l->spare && (!path || l->path));
    l->len = 0;
    l->stopping = false;
    l->written = l->dropped = l->failed = 0;
    atomic_store(&l->reopen, false);
    pthread_mutex_init(&l->mu, NULL);
    sem_init(&l->wake, 0, 0);
    if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
        snprintf(err, errlen, "cannot start the access log's writer thread");
        sem_destroy(&l->wake);
        pthread_mutex_destroy(&l->mu);
        free(l->buf);
        free(l->spare);
        free(l->path);
        close(fd);
        return -1;
    }
    atomic_store(&l->on, true);
    return 0;
}

bool fg_linelog_put(struct fg_linelog *l, const char *line, size_t n)
{
    FG_DASSERT(n > 0 && n <= FG_LINELOG_LINE_MAX && line[n - 1] == '\n');
    if (!atomic_load_explicit(&l->on, memory_order_acquire))
        return false;
    pthread_mutex_lock(&l->mu);
    if (l->stopping) { /* a put racing close: too late for the file */
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    if (l->len + n > FG_LINELOG_QUEUE_BYTES) {
        l->dropped++;
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    bool was_empty = l->len == 0;
    memcpy(l->buf + l->len, line, n);
    l->len += n;
    pthread_mutex_unlock(&l->mu);
    if (was_empty) /* else the writer has a wake-up pending for it */
        sem_post(&l->wake);
    return true;
}

void fg_linelog_reopen(struct fg_linelog *l)
{
    /* async-signal-safe: atomics and sem_post only */
    if (!atomic_load(&l->on))
        return;
    atomic_store(&l->reopen, true);
    sem_post(&l->wake);
}

void fg_linelog_stats(struct fg_linelog *l, struct fg_linelog_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!atomic_load(&l->on))
        return;
    pthread_mutex_lock(&l->mu);
    s->written = l->written;
    s->dropped = l->dropped;
    s->failed = l->failed;
    pthread_mutex_unlock(&l->mu);
}

void fg_linelog_close(struct fg_linelog *l)
{
    if (!atomic_load(&l->on))
        return;
    atomic_store(&l->on, false); /* no new put, no new reopen */
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_mutex_unlock(&l->mu);
    sem_post(&l->wake);
    pthread_join(l->thread, NULL);
    /* a signal handler that read `on` just before only posts the
     * semaphore: glibc's sem_destroy leaves it usable memory, and the
     * struct outlives the log */
    sem_destroy(&l->wake);
    pthread_mutex_destroy(&l->mu);
    close(l->fd);
    l->fd = -1;
    free(l->buf);
    free(l->spare);
    free(l->path);
    l->buf = l->spare = l->path = NULL;
}
