/* offq.c — see offq.h.  A mutex-protected FIFO of jobs, a few pool
 * threads, done callbacks posted back to the job's worker loop (the shape
 * of readq.c). */
#include "offq.h"

#include "arena.h"
#include "assert.h"
#include "json.h"
#include "log.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFFQ_MAX_THREADS 8

struct job {
    struct job *next, *prev; /* the queue, then the posted list */
    struct fg_worker *w;
    struct fg_edge_req *req;
    fg_offq_work work;
    fg_offq_done done;
    fg_offq_abandon abandon;
    void *arg;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t threads[OFFQ_MAX_THREADS];
    int nthreads;
    bool running, stop;
    struct job *head, *tail; /* waiting for a pool thread */
    struct job *posted;      /* worked, done not run yet */
    void (*tstate_free)(void *);
} g_offq = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

bool fg_offq_active(void)
{
    return g_offq.running;
}

/* On the job's worker loop: its done, then the job is over. */
static void on_loop(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    pthread_mutex_lock(&g_offq.mu);
    if (j->prev)
        j->prev->next = j->next;
    else
        g_offq.posted = j->next;
    if (j->next)
        j->next->prev = j->prev;
    pthread_mutex_unlock(&g_offq.mu);
    struct fg_worker *w = j->w;
    j->done(w, j->req, j->arg);
    free(j);
    FG_ASSERT(w->inflight > 0);
    w->inflight--;
    if (w->on_call_ended)
        w->on_call_ended(w);
}

static void *pool_main(void *arg)
{
    void *tstate = NULL;
    pthread_mutex_lock(&g_offq.mu);
    for (;;) {
        while (!g_offq.head && !g_offq.stop)
            pthread_cond_wait(&g_offq.cv, &g_offq.mu);
        if (!g_offq.head)
            break; /* stopping, nothing left */
        struct job *j = g_offq.head;
        g_offq.head = j->next;
        if (!g_offq.head)
            g_offq.tail = NULL;
        pthread_mutex_unlock(&g_offq.mu);
        j->work(&tstate, j->arg);
        pthread_mutex_lock(&g_offq.mu);
        /* on the posted list before the post: done may run at once */
        j->prev = NULL;
        j->next = g_offq.posted;
        if (j->next)
            j->next->prev = j;
        g_offq.posted = j;
        if (event_base_once(j->w->base, -1, EV_TIMEOUT, on_loop, j, NULL) < 0)
            fg_error("offq: cannot post a reply to worker %d", j->w->index); /* freed at stop */
    }
    pthread_mutex_unlock(&g_offq.mu);
    if (g_offq.tstate_free && tstate)
        g_offq.tstate_free(tstate);
    fg_json_thread_cleanup();
    fg_arena_thread_cleanup();
    return NULL;
}

int fg_offq_start(int nthreads, void (*tstate_free)(void *), char *err, size_t errlen)
{
    FG_ASSERT(!g_offq.running && nthreads > 0);
    if (nthreads > OFFQ_MAX_THREADS)
        nthreads = OFFQ_MAX_THREADS;
    g_offq.stop = false;
    g_offq.tstate_free = tstate_free;
    for (g_offq.nthreads = 0; g_offq.nthreads < nthreads; g_offq.nthreads++)
        if (pthread_create(&g_offq.threads[g_offq.nthreads], NULL, pool_main, NULL) != 0) {
            snprintf(err, errlen, "cannot start the off-loop request threads");
            g_offq.running = g_offq.nthreads > 0;
            fg_offq_stop();
            return -1;
        }
    g_offq.running = true;
    return 0;
}

void fg_offq_submit(struct fg_worker *w, struct fg_edge_req *req, fg_offq_work work,
                    fg_offq_done done, fg_offq_abandon abandon, void *arg)
{
    FG_ASSERT(g_offq.running);
    struct job *j = fg_xcalloc(1, sizeof *j);
    j->w = w;
    j->req = req;
    j->work = work;
    j->done = done;
    j->abandon = abandon;
    j->arg = arg;
    w->inflight++; /* a drain waits for the answer */
    pthread_mutex_lock(&g_offq.mu);
    if (g_offq.tail)
        g_offq.tail->next = j;
    else
        g_offq.head = j;
    g_offq.tail = j;
    pthread_cond_signal(&g_offq.cv);
    pthread_mutex_unlock(&g_offq.mu);
}

void fg_offq_stop(void)
{
    if (!g_offq.running)
        return;
    pthread_mutex_lock(&g_offq.mu);
    g_offq.stop = true;
    pthread_cond_broadcast(&g_offq.cv);
    pthread_mutex_unlock(&g_offq.mu);
    for (int i = 0; i < g_offq.nthreads; i++)
        pthread_join(g_offq.threads[i], NULL);
    g_offq.nthreads = 0;
    g_offq.running = false;
    /* the loops are gone: dones that never ran (their events die with the
     * bases, their requests with the edges) */
    for (struct job *j = g_offq.posted, *next; j; j = next) {
        next = j->next;
        j->abandon(j->arg);
        free(j);
    }
    g_offq.posted = NULL;
}
