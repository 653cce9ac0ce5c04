/* readq.c — see readq.h.  A mutex-protected FIFO of jobs, a small pool
 * of reader threads taking from it, replies posted back to the job's
 * worker loop. */
#include "readq.h"

#include "arena.h"
#include "assert.h"
#include "json.h"
#include "keystore.h"
#include "log.h"
#include "reply.h"
#include "store.h"

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
    struct job *next, *prev; /* the queue, then the posted list */
    struct fg_worker *w;
    struct fg_edge_req *req;
    const struct fg_dialect_ops *d;
    fg_readq_fn fn;
    void *arg;        /* fn's, freed with the job */
    json_t *out;      /* the answer, or NULL with code and err */
    const char *code; /* storage_unavailable | storage_error */
    char err[300];
};

/* One reader thread and the handles only it uses. */
struct reader {
    pthread_t thread;
    struct fg_store *store;
    struct fg_keystore *keystore;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop;
    struct job *head, *tail; /* waiting for a reader */
    struct job *posted;      /* answered, reply not run yet */
    char *dsn;
    int nreaders; /* started */
    struct reader readers[FG_READQ_READERS];
} g_readq = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The reader running on this thread (NULL on any other thread). */
static _Thread_local struct reader *t_reader;

bool fg_readq_active(void)
{
    return g_readq.running;
}

/* On the job's worker loop: the answer, then the job is over. */
static void reply(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    pthread_mutex_lock(&g_readq.mu);
    if (j->prev)
        j->prev->next = j->next;
    else
        g_readq.posted = j->next;
    if (j->next)
        j->next->prev = j->prev;
    pthread_mutex_unlock(&g_readq.mu);
    if (j->out) {
        fg_reply_json_value(j->req, 200, j->out, FG_REPORT_JSON_FLAGS);
    } else {
        struct fg_err e;
        fg_err_set(&e, FG_E_INTERNAL, NULL, j->code, "%s", j->err);
        fg_reply_error(j->req, j->d, &e);
    }
    struct fg_worker *w = j->w;
    json_decref(j->out);
    free(j->arg);
    free(j);
    FG_ASSERT(w->inflight > 0);
    w->inflight--;
    if (w->on_call_ended)
        w->on_call_ended(w);
}

struct fg_keystore *fg_readq_keystore(char *err, size_t errlen)
{
    struct reader *r = t_reader;
    FG_ASSERT(r); /* only a job's fn, on its reader, asks */
    if (!r->keystore && fg_keystore_open(g_readq.dsn, &r->keystore, err, errlen) < 0)
        return NULL;
    return r->keystore;
}

/* Handles are opened on first use and again after a failure. */
static void run(struct reader *r, struct job *j)
{
    j->code = "storage_unavailable";
    if (!r->store && fg_store_open(g_readq.dsn, &r->store, j->err, sizeof j->err) < 0)
        return;
    j->code = "storage_error";
    struct fg_readq_handles h = {.store = r->store};
    if (j->fn(&h, j->arg, &j->out, j->err, sizeof j->err) < 0) {
        json_decref(j->out);
        j->out = NULL;
    }
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    t_reader = r;
    pthread_mutex_lock(&g_readq.mu);
    for (;;) {
        while (!g_readq.head && !g_readq.stop)
            pthread_cond_wait(&g_readq.cv, &g_readq.mu);
        if (!g_readq.head)
            break; /* stopping, nothing left */
        struct job *j = g_readq.head;
        g_readq.head = j->next;
        if (!g_readq.head)
            g_readq.tail = NULL;
        pthread_mutex_unlock(&g_readq.mu);
        run(r, j);
        pthread_mutex_lock(&g_readq.mu);
        /* on the posted list before the post: the reply may run at once */
        j->prev = NULL;
        j->next = g_readq.posted;
        if (j->next)
            j->next->prev = j;
        g_readq.posted = j;
        if (event_base_once(j->w->base, -1, EV_TIMEOUT, reply, j, NULL) < 0)
            fg_error("readq: cannot post a reply to worker %d", j->w->index); /* freed at stop */
    }
    pthread_mutex_unlock(&g_readq.mu);
    fg_store_close(r->store);
    fg_keystore_close(r->keystore);
    r->store = NULL;
    r->keystore = NULL;
    t_reader = NULL;
    fg_json_thread_cleanup();
    fg_arena_thread_cleanup();
    return NULL;
}

static void join_readers(void)
{
    pthread_mutex_lock(&g_readq.mu);
    g_readq.stop = true;
    pthread_cond_broadcast(&g_readq.cv);
    pthread_mutex_unlock(&g_readq.mu);
    for (int i = 0; i < g_readq.nreaders; i++)
        pthread_join(g_readq.readers[i].thread, NULL);
    g_readq.nreaders = 0;
}

int fg_readq_start(const struct fg_config *cfg, char *err, size_t errlen)
{
    FG_ASSERT(!g_readq.running && g_readq.nreaders == 0);
    g_readq.dsn = fg_xstrdup(cfg->storage);
    g_readq.stop = false;
    for (int i = 0; i < FG_READQ_READERS; i++) {
        struct reader *r = &g_readq.readers[i];
        memset(r, 0, sizeof *r);
        if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
            snprintf(err, errlen, "cannot start the store reader threads");
            join_readers();
            free(g_readq.dsn);
            g_readq.dsn = NULL;
            return -1;
        }
        g_readq.nreaders++;
    }
    g_readq.running = true;
    return 0;
}

void fg_readq_submit(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                     fg_readq_fn fn, void *arg)
{
    FG_ASSERT(g_readq.running);
    struct job *j = fg_xcalloc(1, sizeof *j);
    j->w = w;
    j->req = req;
    j->d = d;
    j->fn = fn;
    j->arg = arg;
    w->inflight++; /* a drain waits for the answer */
    pthread_mutex_lock(&g_readq.mu);
    if (g_readq.tail)
        g_readq.tail->next = j;
    else
        g_readq.head = j;
    g_readq.tail = j;
    pthread_cond_signal(&g_readq.cv);
    pthread_mutex_unlock(&g_readq.mu);
}

struct spend_arg {
    struct fg_report_opts o;
    char key[48];
};

/* On a reader: the spend map; by key, its rows named from the keys
 * table (keystore.h). */
static int spend_fn(struct fg_readq_handles *h, void *arg, json_t **out, char *err, size_t errlen)
{
    struct spend_arg *a = arg;
    if (a->o.by && !strcmp(a->o.by, "key")) {
        if (!(a->o.key_names_src = fg_readq_keystore(err, errlen)))
            return -1;
        a->o.key_names = fg_keystore_names;
    }
    return fg_report_spend(h->store, &a->o, out, err, errlen);
}

void fg_readq_spend(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                    const struct fg_report_opts *o)
{
    struct spend_arg *a = fg_xcalloc(1, sizeof *a);
    a->o = *o;
    if (o->key_id) {
        snprintf(a->key, sizeof a->key, "%s", o->key_id);
        a->o.key_id = a->key;
    }
    fg_readq_submit(w, req, d, spend_fn, a);
}

void fg_readq_stop(void)
{
    if (!g_readq.running)
        return;
    join_readers();
    g_readq.running = false;
    /* the loops are gone: replies that never ran (their events die with
     * the bases, their requests with the edges) */
    for (struct job *j = g_readq.posted, *next; j; j = next) {
        next = j->next;
        json_decref(j->out);
        free(j->arg);
        free(j);
    }
    g_readq.posted = NULL;
    free(g_readq.dsn);
    g_readq.dsn = NULL;
}
