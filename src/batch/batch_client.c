/* batch_client.c — see batch_client.h. */
#include "batch_client.h"

#include "api.h"
#include "assert.h"
#include "auth.h"
#include "batch_mailbox.h"
#include "batch_plan.h"
#include "batch_store.h"
#include "call.h"
#include "keyreg.h"
#include "provider.h"
#include "relay.h"
#include "runtime.h"
#include "vec.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TAKE_UP_WAIT_MS 5000 /* how long free() waits for posted lines */

struct hdr {
    char *name, *value;
};

/* One line: posted by the executor, run by a worker, handed back. */
struct job {
    struct fg_batch_client *bc;
    struct fg_worker *w;
    char *line, *body;
    size_t len;
    void *tag;
    /* the answer, written on the worker thread until the call ends */
    int status;
    struct evbuffer *out;
    struct hdr *h;
    size_t nh, hcap;
    struct fg_batch_client_result res; /* filled when the call ends */
    struct job *next;                  /* bc->done */
};

struct fg_batch_client {
    struct fg_app *app;
    const struct fg_dialect_ops *in;
    enum fg_endpoint ep;
    bool plan;
    char owner[48];
    char tags[201]; /* the batch's x-frugal-tags, or "" */
    unsigned next_worker;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    struct job *done, **done_tail; /* ended, not yet taken */
    size_t unstarted;              /* posted, not yet taken up by a worker */
    size_t running;                /* posted and not yet ended */
    bool abandoned;                /* the executor is leaving: ended jobs free themselves */
    bool detached;                 /* the executor has left: the last ended job frees bc */
};

/* ---- the client (worker thread) ------------------------------------------ */

static void add_header(void *ctx, const char *name, const char *value)
{
    struct job *j = ctx;
    struct hdr h = {fg_xstrdup(name), fg_xstrdup(value)};
    FG_VEC_PUSH(j->h, j->nh, j->hcap, h);
}

static void remove_header(void *ctx, const char *name)
{
    struct job *j = ctx;
    size_t k = 0;
    for (size_t i = 0; i < j->nh; i++) {
        if (!strcasecmp(j->h[i].name, name)) {
            free(j->h[i].name);
            free(j->h[i].value);
        } else {
            j->h[k++] = j->h[i];
        }
    }
    j->nh = k;
}

static const char *find_header(void *ctx, const char *name)
{
    struct job *j = ctx;
    for (size_t i = 0; i < j->nh; i++)
        if (!strcasecmp(j->h[i].name, name))
            return j->h[i].value;
    return NULL;
}

static void clear_headers(void *ctx)
{
    struct job *j = ctx;
    for (size_t i = 0; i < j->nh; i++) {
        free(j->h[i].name);
        free(j->h[i].value);
    }
    j->nh = 0;
}

static void send_whole(void *ctx, int status, struct evbuffer *body)
{
    struct job *j = ctx;
    FG_DASSERT(j->status == 0); /* a call answers once */
    j->status = status;
    if (body)
        evbuffer_add_buffer(j->out, body);
}

static void start(void *ctx, int status)
{
    struct job *j = ctx;
    j->status = status;
}

/* Nothing waits for a peer: chunks are kept, the backlog is always 0, so
 * the relay never pauses and `drained` is never needed. */
static void chunk(void *ctx, struct evbuffer *data, void (*drained)(void *arg), void *arg)
{
    struct job *j = ctx;
    evbuffer_add_buffer(j->out, data);
}

static size_t backlog(void *ctx)
{
    return 0;
}

static void end(void *ctx)
{
}

static void job_free(struct job *j)
{
    clear_headers(j);
    free(j->h);
    if (j->out)
        evbuffer_free(j->out);
    free(j->res.body);
    free(j->line);
    free(j->body);
    free(j);
}

static void bc_destroy(struct fg_batch_client *bc)
{
    pthread_mutex_destroy(&bc->mu);
    pthread_cond_destroy(&bc->cv);
    free(bc);
}

/* The line's call ended (or never started): its result goes to the
 * executor, or nowhere when the executor abandoned it. */
static void job_end(struct job *j)
{
    struct fg_batch_client_result *r = &j->res;
    r->tag = j->tag;
    r->status = j->status;
    const char *id = find_header(j, "x-frugal-request-id");
    snprintf(r->request_id, sizeof r->request_id, "%s", id ? id : "");
    size_t n = j->out ? evbuffer_get_length(j->out) : 0;
    if (n) {
        r->body = fg_xmalloc(n + 1);
        evbuffer_remove(j->out, r->body, n);
        r->body[n] = '\0';
        r->len = n;
    }
    if (j->out)
        evbuffer_free(j->out); /* on the thread that made it */
    j->out = NULL;
    clear_headers(j);
    struct fg_batch_client *bc = j->bc;
    pthread_mutex_lock(&bc->mu);
    FG_ASSERT(bc->running > 0);
    bc->running--;
    if (bc->abandoned) {
        /* while the executor still waits in fg_batch_client_free it is the
         * one to free bc (it sees running reach 0): freeing it here too
         * was a double free (ASan, pgbatch e2e) */
        bool last = bc->detached && bc->running == 0 && bc->unstarted == 0;
        pthread_mutex_unlock(&bc->mu);
        job_free(j);
        if (last)
            bc_destroy(bc);
        return;
    }
    j->next = NULL;
    *bc->done_tail = j;
    bc->done_tail = &j->next;
    pthread_cond_broadcast(&bc->cv);
    pthread_mutex_unlock(&bc->mu);
}

static void release(void *ctx)
{
    job_end(ctx);
}

/* The line's ledger records (client.h): named after the line and attempt,
 * and put in its mailbox, where the executor takes them to commit with the
 * line's result (batch_mailbox.h). */
static void record_id(void *ctx, int attempt, char *out)
{
    struct job *j = ctx;
    fg_batch_mailbox_record_id(j->line, attempt, out);
}

static void record(void *ctx, struct fg_record *r, bool final)
{
    struct job *j = ctx;
    fg_batch_mailbox_put(j->line, r, final);
}

static int plan(void *ctx, struct fg_call *c)
{
    return fg_batch_plan_reply(c);
}

static const struct fg_client_ops batch_ops = {
    .add_header = add_header,
    .remove_header = remove_header,
    .find_header = find_header,
    .clear_headers = clear_headers,
    .send = send_whole,
    .start = start,
    .chunk = chunk,
    .backlog = backlog,
    .end = end,
    .release = release,
    .record_id = record_id,
    .record = record,
    .plan = plan,
};

/* The owner can no longer call (a revoked or expired key): the 401 an HTTP
 * call gets, before any call exists (so without a request id). */
static void refused(struct job *j, const struct fg_err *e)
{
    struct evbuffer *b = evbuffer_new();
    j->bc->in->error_body(e, b);
    send_whole(j, e->status, b);
    evbuffer_free(b);
    job_end(j);
}

/* On the worker's loop: the line becomes a call of this worker. */
static void job_run(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    struct fg_batch_client *bc = j->bc;
    pthread_mutex_lock(&bc->mu);
    bc->unstarted--;
    bool abandoned = bc->abandoned;
    pthread_cond_broadcast(&bc->cv);
    pthread_mutex_unlock(&bc->mu);
    j->out = evbuffer_new();
    if (abandoned || j->w->draining) {
        job_end(j); /* status 0: the line runs again later */
        return;
    }
    struct fg_principal p;
    struct fg_err e;
    if (fg_auth_owner(bc->owner, &p, &e) < 0) {
        refused(j, &e);
        return;
    }
    struct fg_call *c = fg_call_new(j->w);
    /* the executor planned the line on the boot config (batch_exec.h) */
    fg_call_use_snap(c, &j->w->app->boot);
    c->client = (struct fg_client){.ops = &batch_ops, .ctx = j};
    c->in = bc->in;
    c->endpoint = bc->ep;
    c->who.key_id = fg_arena_strdup(&c->arena, p.key_id);
    c->who.vkey = p.vkey;
    fg_call_set_batch_line(c, j->line, bc->plan);
    c->rq.tags_header = bc->tags[0] ? fg_arena_strdup(&c->arena, bc->tags) : NULL;
    fg_keyreg_call_tags(&c->arena, c->who.vkey, c->who.key_id, c->rq.tags_header, &c->who.tags);
    c->raw = j->body; /* the job outlives the call: it ends in release() */
    c->raw_len = j->len;
    fg_api_run_call(c);
}

/* ---- the executor's side --------------------------------------------------- */

struct fg_batch_client *fg_batch_client_new(struct fg_app *app, const struct fg_batch *b, bool plan)
{
    struct fg_batch_client *bc = fg_xcalloc(1, sizeof *bc);
    bc->app = app;
    bc->plan = plan;
    /* the endpoint a line of this batch calls */
    if (!strcmp(b->dialect, "anthropic")) {
        bc->in = &fg_provider_anthropic;
        bc->ep = FG_EP_MESSAGES;
    } else if (!strcmp(b->endpoint, "/v1/embeddings")) {
        bc->in = &fg_provider_openai;
        bc->ep = FG_EP_EMBEDDINGS;
    } else if (!strcmp(b->endpoint, "/v1/responses")) {
        bc->in = &fg_provider_responses;
        bc->ep = FG_EP_RESPONSES;
    } else {
        bc->in = &fg_provider_openai;
        bc->ep = FG_EP_CHAT;
    }
    snprintf(bc->owner, sizeof bc->owner, "%s", b->owner);
    snprintf(bc->tags, sizeof bc->tags, "%s", b->tags ? b->tags : "");
    pthread_mutex_init(&bc->mu, NULL);
    pthread_cond_init(&bc->cv, NULL);
    bc->done_tail = &bc->done;
    return bc;
}

void fg_batch_client_start(struct fg_batch_client *bc, const char *line, const char *body,
                           size_t len, void *tag)
{
    struct job *j = fg_xcalloc(1, sizeof *j);
    j->bc = bc;
    j->w = &bc->app->workers[bc->next_worker++ % (unsigned)bc->app->nworkers];
    j->line = fg_xstrdup(line);
    j->body = fg_xmalloc(len + 1);
    memcpy(j->body, body, len);
    j->body[len] = '\0';
    j->len = len;
    j->tag = tag;
    pthread_mutex_lock(&bc->mu);
    bc->running++;
    bc->unstarted++;
    pthread_mutex_unlock(&bc->mu);
    struct timeval now = {0, 0};
    if (event_base_once(j->w->base, -1, EV_TIMEOUT, job_run, j, &now) < 0) {
        pthread_mutex_lock(&bc->mu);
        bc->unstarted--;
        pthread_mutex_unlock(&bc->mu);
        job_end(j); /* status 0: tried again later */
    }
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L)
        ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

bool fg_batch_client_wait(struct fg_batch_client *bc, int wait_ms,
                          struct fg_batch_client_result *out)
{
    struct timespec ts;
    deadline_in(&ts, wait_ms);
    pthread_mutex_lock(&bc->mu);
    while (!bc->done && pthread_cond_timedwait(&bc->cv, &bc->mu, &ts) == 0)
        ;
    struct job *j = bc->done;
    if (j) {
        bc->done = j->next;
        if (!bc->done)
            bc->done_tail = &bc->done;
    }
    pthread_mutex_unlock(&bc->mu);
    if (!j)
        return false;
    *out = j->res;
    j->res.body = NULL; /* the caller's now */
    job_free(j);
    return true;
}

void fg_batch_client_free(struct fg_batch_client *bc)
{
    if (!bc)
        return;
    struct timespec ts;
    deadline_in(&ts, TAKE_UP_WAIT_MS);
    pthread_mutex_lock(&bc->mu);
    bc->abandoned = true;
    while (bc->unstarted && pthread_cond_timedwait(&bc->cv, &bc->mu, &ts) == 0)
        ;
    struct job *d = bc->done;
    bc->done = NULL;
    bool last = bc->running == 0 && bc->unstarted == 0;
    bc->detached = true; /* from here the last job to end frees bc */
    pthread_mutex_unlock(&bc->mu);
    while (d) {
        struct job *next = d->next;
        job_free(d);
        d = next;
    }
    if (last)
        bc_destroy(bc);
}
