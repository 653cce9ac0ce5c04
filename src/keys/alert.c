/* alert.c — see alert.h.
 *
 * One thread owns everything after the queue: the budgets to read again,
 * the alerts waiting to be (re)sent and the curl handle.  The request path
 * touches only the queue (g_alert.mu) and a budget's atomic flags. */
#include "alert.h"

#include "arena.h"
#include "assert.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "vec.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct pending {
    char *body; /* owned */
    int tries;  /* made so far */
    int64_t due_ms;
    char what[120]; /* for the log */
};

struct again {
    struct fg_budget *b;
    int64_t due_ms;
};

static struct {
    _Atomic int on; /* the thread runs: touches queue */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct fg_budget *head; /* queued budgets (b->alert.next), under mu */
    pthread_t thread;
    /* the thread's own */
    char *webhook;
    double at[FG_ALERT_MAX_AT];
    int n_at;
    struct again *again;
    size_t n_again, cap_again;
    struct pending *out;
    size_t n_out, cap_out;
} g_alert = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- the request path's side ---- */

static void enqueue(struct fg_budget *b)
{
    if (atomic_exchange(&b->alert.queued, 1))
        return; /* already waiting for the thread */
    pthread_mutex_lock(&g_alert.mu);
    b->alert.next = g_alert.head;
    g_alert.head = b;
    pthread_cond_signal(&g_alert.cv);
    pthread_mutex_unlock(&g_alert.mu);
}

void fg_alert_touch(struct fg_budget *b)
{
    if (!atomic_load_explicit(&g_alert.on, memory_order_relaxed) || !b->kind)
        return;
    enqueue(b);
}

void fg_alert_refused(struct fg_budget *b)
{
    if (!atomic_load_explicit(&g_alert.on, memory_order_relaxed) || !b->kind)
        return;
    atomic_store(&b->alert.refused, 1);
    enqueue(b);
}

/* ---- the scan ---- */

/* spent >= at x limit, exactly: the threshold in thousandths */
static bool crossed(int64_t spent, int64_t limit, double at)
{
    int64_t permille = llround(at * 1000);
    return (__int128)spent * 1000 >= (__int128)permille * limit;
}

int fg_alert_scan(struct fg_budget *b, const double *at, int n_at, bool refused, int64_t now_ms,
                  fg_alert_emit_fn emit, void *arg)
{
    FG_ASSERT(n_at >= 0 && n_at <= FG_ALERT_MAX_AT && b->kind);
    /* every threshold of this period sent: nothing to read until it ends */
    unsigned all = n_at ? (1u << n_at) - 1 : 0;
    if ((b->alert.done & all) == all && b->alert.period && now_ms < b->alert.resets_at)
        return 0;
    struct fg_alert_event e = {.b = b, .refused = false, .when_ms = now_ms};
    fg_budget_get(b, now_ms, &e.v);
    if (b->alert.period != e.v.period_start) { /* a new period: nothing sent in it yet */
        b->alert.period = e.v.period_start;
        b->alert.resets_at = e.v.resets_at;
        b->alert.done = 0;
    }
    struct fg_shared *s = fg_shared_process();
    int sent = 0;
    for (int i = 0; i < n_at; i++) {
        bool by_refusal = refused && llround(at[i] * 1000) == 1000;
        if (b->alert.done & (1u << i))
            continue;
        if (!crossed(e.v.spent, e.v.limit, at[i]) && !by_refusal)
            continue;
        char name[200];
        snprintf(name, sizeof name, "alert:%.120s:%lld:%lld", b->ctr.name,
                 (long long)e.v.period_start, (long long)llround(at[i] * 1000));
        /* a mark outlives its period by a day (clock skew between replicas) */
        int64_t ttl = e.v.resets_at - now_ms + 86400000LL;
        int r = s->ops->mark_once(s, name, ttl > 0 ? ttl : 86400000LL, now_ms);
        if (r < 0)
            return -1; /* the store is down: scanned again later */
        b->alert.done |= 1u << i;
        if (r == 0)
            continue; /* sent by this process earlier or by another replica */
        e.at = at[i];
        e.refused = by_refusal && !crossed(e.v.spent, e.v.limit, at[i]);
        emit(arg, &e);
        sent++;
    }
    return sent;
}

static json_t *usd(int64_t pico)
{
    char b[40];
    return json_string(fg_keys_usd(pico, b, sizeof b));
}

char *fg_alert_body(const struct fg_alert_event *e)
{
    const struct fg_budget *b = e->b;
    char start[40], resets[40], when[40];
    fg_period_rfc3339(e->v.period_start, start, sizeof start);
    fg_period_rfc3339(e->v.resets_at, resets, sizeof resets);
    fg_period_rfc3339(e->when_ms, when, sizeof when);
    json_t *j = json_object();
    json_object_set_new(j, "what", json_string("budget_threshold"));
    json_object_set_new(j, "budget", json_string(b->kind));
    json_object_set_new(j, "id", json_string(b->id ? b->id : ""));
    json_object_set_new(j, "name", json_string(b->name ? b->name : ""));
    json_object_set_new(j, "threshold", json_real(e->at));
    json_object_set_new(j, "spent_usd", usd(e->v.spent));
    json_object_set_new(j, "limit_usd", usd(e->v.limit));
    json_object_set_new(j, "period", json_string(fg_period_name(e->v.period)));
    json_object_set_new(j, "period_start", json_string(start));
    json_object_set_new(j, "resets_at", json_string(resets));
    json_object_set_new(j, "soft", json_boolean(b->soft));
    json_object_set_new(j, "refused", json_boolean(e->refused));
    json_object_set_new(j, "when", json_string(when));
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    FG_ASSERT(s);
    return s;
}

/* ---- the thread ---- */

static void queue_send(void *arg, const struct fg_alert_event *e)
{
    (void)arg;
    struct pending p = {.body = fg_alert_body(e), .tries = 0, .due_ms = 0};
    snprintf(p.what, sizeof p.what, "%s '%.60s' at %g%%", e->b->kind, e->b->name ? e->b->name : "",
             e->at * 100);
    FG_VEC_PUSH(g_alert.out, g_alert.n_out, g_alert.cap_out, p);
}

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * n;
}

/* One POST: 0 delivered (2xx), else -1 with why. */
static int post(CURL *h, const char *body, char *why, size_t whylen)
{
    struct curl_slist *hd = curl_slist_append(NULL, "content-type: application/json");
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, g_alert.webhook);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "frugal-alerts");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* the operator's URL, not another */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, whylen, "HTTP %ld", status);
        return -1;
    }
    return 0;
}

static int64_t backoff(int tries)
{
    int64_t ms = FG_ALERT_BACKOFF_MS;
    for (int i = 1; i < tries && ms < FG_ALERT_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < FG_ALERT_BACKOFF_MAX_MS ? ms : FG_ALERT_BACKOFF_MAX_MS;
}

/* Send what is due; keep what is to be retried. */
static void send_due(CURL *h, int64_t now)
{
    size_t keep = 0;
    for (size_t i = 0; i < g_alert.n_out; i++) {
        struct pending *p = &g_alert.out[i];
        if (p->due_ms > now) {
            g_alert.out[keep++] = *p;
            continue;
        }
        char why[200];
        p->tries++;
        if (post(h, p->body, why, sizeof why) == 0) {
            fg_info("alerts: sent the alert for %s", p->what);
            free(p->body);
        } else if (p->tries >= FG_ALERT_TRIES) {
            fg_error("alerts: gave up on the alert for %s after %d tries: %s", p->what, p->tries,
                     why);
            free(p->body);
        } else {
            fg_warn("alerts: the webhook refused the alert for %s (%s); retrying in %lld ms",
                    p->what, why, (long long)backoff(p->tries));
            p->due_ms = wall_ms() + backoff(p->tries);
            g_alert.out[keep++] = *p;
        }
    }
    g_alert.n_out = keep;
}

static void scan_one(struct fg_budget *b, bool refused, int64_t now)
{
    if (fg_alert_scan(b, g_alert.at, g_alert.n_at, refused, now, queue_send, NULL) < 0) {
        if (refused)
            atomic_store(&b->alert.refused, 1); /* not lost: the store comes back */
    }
}

/* Read b again at due_ms (once, after its latest touch). */
static void again_at(struct fg_budget *b, int64_t due_ms)
{
    for (size_t i = 0; i < g_alert.n_again; i++)
        if (g_alert.again[i].b == b) {
            g_alert.again[i].due_ms = due_ms;
            return;
        }
    struct again a = {b, due_ms};
    FG_VEC_PUSH(g_alert.again, g_alert.n_again, g_alert.cap_again, a);
}

/* Scan what was queued, then what is due to be read again. */
static void scan_all(int64_t now)
{
    pthread_mutex_lock(&g_alert.mu);
    struct fg_budget *q = g_alert.head;
    g_alert.head = NULL;
    pthread_mutex_unlock(&g_alert.mu);
    while (q) {
        struct fg_budget *b = q;
        q = b->alert.next;
        b->alert.next = NULL;
        atomic_store(&b->alert.queued, 0); /* a touch from now on queues it again */
        bool refused = atomic_exchange(&b->alert.refused, 0);
        scan_one(b, refused, now);
        again_at(b, now + FG_ALERT_RECHECK_MS);
    }
    size_t keep = 0;
    for (size_t i = 0; i < g_alert.n_again; i++) {
        struct again a = g_alert.again[i];
        if (a.due_ms > now) {
            g_alert.again[keep++] = a;
            continue;
        }
        scan_one(a.b, atomic_exchange(&a.b->alert.refused, 0), now);
    }
    g_alert.n_again = keep;
}

static int64_t next_due(int64_t now)
{
    int64_t due = now + 1000;
    for (size_t i = 0; i < g_alert.n_again; i++)
        if (g_alert.again[i].due_ms < due)
            due = g_alert.again[i].due_ms;
    for (size_t i = 0; i < g_alert.n_out; i++)
        if (g_alert.out[i].due_ms < due)
            due = g_alert.out[i].due_ms;
    return due;
}

static void wait_until(int64_t due, bool for_queue)
{
    struct timespec ts = {.tv_sec = due / 1000, .tv_nsec = (due % 1000) * 1000000};
    pthread_mutex_lock(&g_alert.mu);
    while (!g_alert.stop && (for_queue ? !g_alert.head : true) && wall_ms() < due)
        if (pthread_cond_timedwait(&g_alert.cv, &g_alert.mu, &ts) != 0)
            break; /* the deadline */
    pthread_mutex_unlock(&g_alert.mu);
}

static void *run(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    FG_ASSERT(h);
    for (;;) {
        int64_t start = wall_ms();
        scan_all(start);
        send_due(h, wall_ms());
        /* passes at most every FG_ALERT_PASS_MS: a busy budget is read once
         * a pass however many calls charged it, so reads stay bounded by
         * the budgets in use, not by the calls */
        wait_until(start + FG_ALERT_PASS_MS, false);
        wait_until(next_due(wall_ms()), true);
        pthread_mutex_lock(&g_alert.mu);
        bool stop = g_alert.stop;
        pthread_mutex_unlock(&g_alert.mu);
        if (stop)
            break;
    }
    /* at shutdown: what crossed is sent once more, not retried */
    scan_all(wall_ms() + FG_ALERT_RECHECK_MS);
    for (size_t i = 0; i < g_alert.n_out; i++)
        g_alert.out[i].tries = FG_ALERT_TRIES - 1, g_alert.out[i].due_ms = 0;
    send_due(h, wall_ms());
    curl_easy_cleanup(h);
    return NULL;
}

int fg_alert_start(const struct fg_config *cfg, char *err, size_t errlen)
{
    if (!cfg->alerts.webhook)
        return 0;
    FG_ASSERT(!atomic_load(&g_alert.on) && cfg->alerts.n_at <= FG_ALERT_MAX_AT);
    g_alert.webhook = fg_xstrdup(cfg->alerts.webhook);
    g_alert.n_at = cfg->alerts.n_at;
    memcpy(g_alert.at, cfg->alerts.at, sizeof g_alert.at);
    g_alert.stop = false;
    /* the wait is on wall-clock deadlines */
    pthread_cond_init(&g_alert.cv, NULL);
    atomic_store(&g_alert.on, 1);
    if (pthread_create(&g_alert.thread, NULL, run, NULL) != 0) {
        atomic_store(&g_alert.on, 0);
        pthread_cond_destroy(&g_alert.cv);
        free(g_alert.webhook);
        g_alert.webhook = NULL;
        snprintf(err, errlen, "alerts: cannot start the alert thread");
        return -1;
    }
    fg_info("alerts: budget alerts at %d threshold(s) go to the configured webhook", g_alert.n_at);
    return 0;
}

void fg_alert_stop(void)
{
    if (!atomic_load(&g_alert.on))
        return;
    pthread_mutex_lock(&g_alert.mu);
    g_alert.stop = true;
    pthread_cond_signal(&g_alert.cv);
    pthread_mutex_unlock(&g_alert.mu);
    pthread_join(g_alert.thread, NULL);
    atomic_store(&g_alert.on, 0);
    pthread_cond_destroy(&g_alert.cv);
    for (struct fg_budget *b = g_alert.head; b; b = b->alert.next)
        atomic_store(&b->alert.queued, 0);
    g_alert.head = NULL;
    free(g_alert.again);
    free(g_alert.out);
    free(g_alert.webhook);
    g_alert.again = NULL;
    g_alert.out = NULL;
    g_alert.webhook = NULL;
    g_alert.n_again = g_alert.cap_again = g_alert.n_out = g_alert.cap_out = 0;
}
