/* gate.c — see gate.h. */
#include "gate.h"

#include "api.h"
#include "assert.h"
#include "auth.h"
#include "keyreg.h"
#include "keys.h"
#include "provider.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

static _Atomic uint64_t g_in_flight;
static _Atomic uint64_t g_freed; /* large bodies dropped since the last trim */

const struct fg_dialect_ops *fg_gate_dialect(const struct fg_reqhead *h)
{
    if (h->anthropic || (h->path.n >= 12 && !memcmp(h->path.p, "/v1/messages", 12)))
        return &fg_provider_anthropic;
    return &fg_provider_openai;
}

/* The body cap of a path and the config key that sets it. */
static uint64_t body_cap(const struct fg_config *cfg, const struct fg_reqhead *h, const char **key)
{
    bool post = fg_reqhead_span_is(h->method, "POST");
    *key = "batches.max_file_bytes";
    if (post && fg_reqhead_span_is(h->path, "/v1/files"))
        return (uint64_t)cfg->batches.max_file_bytes + (64u << 10); /* multipart framing */
    if (post && fg_reqhead_span_is(h->path, "/v1/messages/batches"))
        return cfg->batches.max_file_bytes;
    *key = "server.max_body_bytes";
    return cfg->server.max_body_bytes;
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The caller's credentials as auth.c will judge them; NULL = allowed, else
 * the 401 code. */
static const char *auth_problem(const struct fg_config *cfg, const struct fg_reqhead *h)
{
    const char *master = cfg->server.master_key;
    if (!master)
        return NULL;
    char key[300];
    struct fg_span k = h->authorization;
    if (k.n >= 7 && !strncasecmp(k.p, "Bearer ", 7)) {
        k.p += 7;
        k.n -= 7;
    } else {
        k = h->api_key;
    }
    while (k.n && *k.p == ' ')
        k.p++, k.n--;
    if (!k.n)
        return "missing_api_key";
    if (k.n >= sizeof key)
        return "invalid_api_key";
    memcpy(key, k.p, k.n);
    key[k.n] = '\0';
    if (fg_auth_equal(key, master))
        return NULL;
    struct fg_vkey *v = NULL;
    enum fg_key_state st =
        fg_keys_format_ok(key) ? fg_keyreg_auth(key, wall_ms(), &v) : FG_KEY_UNKNOWN;
    return st == FG_KEY_OK        ? NULL
           : st == FG_KEY_REVOKED ? "key_revoked"
           : st == FG_KEY_EXPIRED ? "key_expired"
                                  : "invalid_api_key";
}

static void refuse(struct fg_gate_verdict *v, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void refuse(struct fg_gate_verdict *v, int status, const char *code, const char *fmt, ...)
{
    v->status = status;
    v->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->msg, sizeof v->msg, fmt, ap);
    va_end(ap);
}

void fg_gate_check(const struct fg_config *cfg, const struct fg_reqhead *h,
                   struct fg_gate_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->d = fg_gate_dialect(h);
    const char *cap_key;
    v->body_cap = body_cap(cfg, h, &cap_key);
    bool large = h->chunked || h->length > FG_GATE_SMALL_BODY;
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)(h->path.n < 255 ? h->path.n : 255), h->path.p);
    if (large && !fg_api_known_path(path)) {
        refuse(v, 404, "unknown_url", "Unknown path: %.200s is not an endpoint of this gateway.",
               path);
        return;
    }
    const char *why = large ? auth_problem(cfg, h) : NULL;
    if (why && !strcmp(why, "missing_api_key")) {
        refuse(v, 401, why,
               "Missing API key: send the frugal key as 'Authorization: Bearer "
               "KEY' or 'x-api-key: KEY'.");
        return;
    }
    if (why && !strcmp(why, "invalid_api_key")) {
        refuse(v, 401, why,
               "Invalid API key: the key sent is neither this gateway's key nor "
               "one of its virtual keys.");
        return;
    }
    if (why) {
        refuse(v, 401, why, "This API key was %s.",
               !strcmp(why, "key_revoked") ? "revoked" : "expired");
        return;
    }
    if (h->has_length && h->length > v->body_cap)
        refuse(v, 413, "request_too_large",
               "Request body is %llu bytes, over the gateway's limit of %llu bytes for %.*s "
               "(%s); nothing was read.",
               (unsigned long long)h->length, (unsigned long long)v->body_cap,
               (int)(h->path.n > 100 ? 100 : h->path.n), h->path.p, cap_key);
}

bool fg_gate_reserve(uint64_t n, uint64_t limit)
{
    uint64_t cur = atomic_load(&g_in_flight);
    do {
        if (cur + n > limit && n)
            return false;
    } while (!atomic_compare_exchange_weak(&g_in_flight, &cur, cur + n));
    return true;
}

void fg_gate_release(uint64_t n)
{
    uint64_t was = atomic_fetch_sub(&g_in_flight, n);
    FG_ASSERT(was >= n);
    (void)was;
}

uint64_t fg_gate_in_flight(void)
{
    return atomic_load(&g_in_flight);
}

void fg_gate_trim(uint64_t freed)
{
    /* malloc_trim walks every arena: worth it only after tens of MB */
    if (atomic_fetch_add(&g_freed, freed) + freed >= (uint64_t)FG_GATE_TRIM_BYTES) {
        atomic_store(&g_freed, 0);
        malloc_trim(0);
    }
}
