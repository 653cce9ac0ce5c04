/* batch_mailbox.c — see batch_mailbox.h.  A short list under one mutex:
 * it holds only the records of lines in flight (bounded by the executor's
 * concurrency), so linear scans are fine. */
#include "batch_mailbox.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ABANDON_MS 60000

struct slot {
    struct slot *next;
    char line[96];
    struct fg_record *r;
    bool final;
    int64_t put_ms;
};

static pthread_mutex_t g_mailbox_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_mailbox_cv = PTHREAD_COND_INITIALIZER;
static struct slot *g_mailbox_head, **g_mailbox_tail = &g_mailbox_head;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under g_mailbox_mu: give abandoned records to the ledger. */
static void expire_locked(int64_t now)
{
    for (struct slot **pp = &g_mailbox_head; *pp;) {
        struct slot *s = *pp;
        if (now - s->put_ms < ABANDON_MS) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        fg_ledger_submit(s->r);
        free(s);
    }
    g_mailbox_tail = &g_mailbox_head;
    while (*g_mailbox_tail)
        g_mailbox_tail = &(*g_mailbox_tail)->next;
}

void fg_batch_mailbox_put(const char *line, struct fg_record *r, bool final)
{
    struct slot *s = calloc(1, sizeof *s);
    if (!s) {
        fg_ledger_submit(r);
        return;
    }
    snprintf(s->line, sizeof s->line, "%s", line);
    s->r = r;
    s->final = final;
    s->put_ms = now_ms();
    pthread_mutex_lock(&g_mailbox_mu);
    expire_locked(s->put_ms);
    *g_mailbox_tail = s;
    g_mailbox_tail = &s->next;
    pthread_cond_broadcast(&g_mailbox_cv);
    pthread_mutex_unlock(&g_mailbox_mu);
}

static bool has_final_locked(const char *line)
{
    for (struct slot *s = g_mailbox_head; s; s = s->next)
        if (s->final && !strcmp(s->line, line))
            return true;
    return false;
}

size_t fg_batch_mailbox_take(const char *line, struct fg_record **out, size_t max, int wait_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&g_mailbox_mu);
    while (!has_final_locked(line))
        if (pthread_cond_timedwait(&g_mailbox_cv, &g_mailbox_mu, &until) != 0)
            break;
    size_t n = 0;
    if (has_final_locked(line)) {
        for (struct slot **pp = &g_mailbox_head; *pp;) {
            struct slot *s = *pp;
            if (strcmp(s->line, line) || n == max) {
                pp = &s->next;
                continue;
            }
            *pp = s->next;
            out[n++] = s->r;
            free(s);
        }
        g_mailbox_tail = &g_mailbox_head;
        while (*g_mailbox_tail)
            g_mailbox_tail = &(*g_mailbox_tail)->next;
    }
    pthread_mutex_unlock(&g_mailbox_mu);
    return n;
}

void fg_batch_mailbox_flush(void)
{
    pthread_mutex_lock(&g_mailbox_mu);
    while (g_mailbox_head) {
        struct slot *s = g_mailbox_head;
        g_mailbox_head = s->next;
        fg_ledger_submit(s->r);
        free(s);
    }
    g_mailbox_tail = &g_mailbox_head;
    pthread_mutex_unlock(&g_mailbox_mu);
}

void fg_batch_mailbox_record_id(const char *line, int attempt, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t x = 0xcbf29ce484222325ULL;
    for (const char *p = line; *p; p++)
        x = (x ^ (unsigned char)*p) * 0x100000001b3ULL;
    x = (x ^ (uint64_t)attempt) * 0x100000001b3ULL;
    memcpy(out, "frb_", 4);
    for (int i = 0; i < 16; i++)
        out[4 + i] = hex[(x >> (60 - 4 * i)) & 15];
    out[20] = '\0';
}
