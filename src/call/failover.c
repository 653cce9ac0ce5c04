/* failover.c — see failover.h. */
#include "failover.h"

#include "assert.h"
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool fg_failover_retriable(long status, CURLcode res)
{
    if (res != CURLE_OK)
        return res == CURLE_OPERATION_TIMEDOUT || res == CURLE_COULDNT_CONNECT ||
               res == CURLE_COULDNT_RESOLVE_HOST || res == CURLE_GOT_NOTHING ||
               res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR || res == CURLE_PARTIAL_FILE;
    return status == 408 || status == 409 || status == 429 || (status >= 500 && status != 501);
}

/* retry-after as delta seconds or an HTTP date; -1 when absent/unreadable. */
static long parse_retry_after(const char *v, int64_t now_ms)
{
    if (!v || !*v)
        return -1;
    char *end;
    double s = strtod(v, &end);
    if (end != v && *end == '\0')
        return s >= 0 ? (long)(s * 1000) : -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        return -1;
    int64_t at = (int64_t)timegm(&tm) * 1000;
    return at > now_ms ? (long)(at - now_ms) : 0;
}

long fg_failover_delay_ms(int attempt, const char *retry_after, const char *retry_after_ms,
                          uint64_t rnd, int64_t now_ms)
{
    if (retry_after_ms && *retry_after_ms) {
        char *end;
        double ms = strtod(retry_after_ms, &end);
        if (end != retry_after_ms && ms >= 0)
            return (long)ms;
    }
    long ra = parse_retry_after(retry_after, now_ms);
    if (ra >= 0)
        return ra;
    long base = 250L << (attempt < 6 ? attempt : 6);
    return base + (long)(rnd % (uint64_t)(base / 4 + 1));
}

static struct {
    pthread_mutex_t mu;
    int failures[FG_FAILOVER_MAX_PROVIDERS];
    int64_t opened_ms[FG_FAILOVER_MAX_PROVIDERS]; /* 0 = closed */
    bool trial[FG_FAILOVER_MAX_PROVIDERS];        /* half-open trial in flight */
} g_failover = {.mu = PTHREAD_MUTEX_INITIALIZER};

static enum fg_failover_breaker_state state_locked(int i, int64_t now)
{
    FG_DASSERT(i >= 0 && i < FG_FAILOVER_MAX_PROVIDERS);
    /* a half-open trial exists only while the breaker is open */
    FG_DASSERT(!g_failover.trial[i] || g_failover.opened_ms[i]);

    if (!g_failover.opened_ms[i])

        return FG_BREAKER_CLOSED;
    return now - g_failover.opened_ms[i] < FG_BREAKER_OPEN_MS ? FG_BREAKER_OPEN
                                                              : FG_BREAKER_HALF_OPEN;
}

enum fg_failover_breaker_state fg_failover_breaker_state(int idx, int64_t now_ms)
{
    if (idx < 0 || idx >= FG_FAILOVER_MAX_PROVIDERS)
        return FG_BREAKER_CLOSED;
    pthread_mutex_lock(&g_failover.mu);
    enum fg_failover_breaker_state s = state_locked(idx, now_ms);
    pthread_mutex_unlock(&g_failover.mu);
    return s;
}

bool fg_failover_breaker_allows(int idx, int64_t now_ms)
{
    if (idx < 0 || idx >= FG_FAILOVER_MAX_PROVIDERS)
        return true;
    pthread_mutex_lock(&g_failover.mu);
    enum fg_failover_breaker_state s = state_locked(idx, now_ms);
    bool ok = s == FG_BREAKER_CLOSED || (s == FG_BREAKER_HALF_OPEN && !g_failover.trial[idx]);
    if (s == FG_BREAKER_HALF_OPEN && ok)
        g_failover.trial[idx] = true; /* one trial at a time */
    pthread_mutex_unlock(&g_failover.mu);
    return ok;
}

void fg_failover_breaker_record(int idx, bool ok, int64_t now_ms)
{
    if (idx < 0 || idx >= FG_FAILOVER_MAX_PROVIDERS)
        return;
    pthread_mutex_lock(&g_failover.mu);
    enum fg_failover_breaker_state s = state_locked(idx, now_ms);
    g_failover.trial[idx] = false;
    if (ok) {
        g_failover.failures[idx] = 0;
        g_failover.opened_ms[idx] = 0;
    } else if (s == FG_BREAKER_HALF_OPEN || ++g_failover.failures[idx] >= FG_BREAKER_FAILURES) {
        g_failover.opened_ms[idx] = now_ms;
        g_failover.failures[idx] = 0;
    }
    pthread_mutex_unlock(&g_failover.mu);
}

const struct fg_model_cfg *fg_failover_next(const struct fg_config *cfg, const char *origin,
                                            int *pos, int64_t now_ms)
{
    for (size_t i = 0; origin && i < cfg->n_fallbacks; i++) {
        const struct fg_fallback_cfg *f = &cfg->fallbacks[i];
        if (strcmp(f->model, origin))
            continue;
        while ((size_t)*pos < f->n_to) {
            const struct fg_model_cfg *m = fg_config_model(cfg, f->to[(*pos)++]);
            if (m && fg_failover_breaker_allows(m->provider_index, now_ms))
                return m;
        }
    }
    return NULL;
}

void fg_failover_breaker_reset(void)
{
    pthread_mutex_lock(&g_failover.mu);
    memset(g_failover.failures, 0, sizeof g_failover.failures);
    memset(g_failover.opened_ms, 0, sizeof g_failover.opened_ms);
    memset(g_failover.trial, 0, sizeof g_failover.trial);
    pthread_mutex_unlock(&g_failover.mu);
}
