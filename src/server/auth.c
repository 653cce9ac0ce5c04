/* auth.c — see auth.h. */
#include "auth.h"

#include "err.h"
#include "keyreg.h"
#include "reply.h"
#include "server.h"

#include "edge.h"
#include "edgeq.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

bool fg_auth_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static const char *client_key(struct fg_edge_req *h)
{
    const char *v = fg_edgeq_header(h, "authorization");
    if (v && !strncasecmp(v, "Bearer ", 7))
        return v + 7;
    v = fg_edgeq_header(h, "x-api-key");
    /* Azure's header (the AzureOpenAI SDK client, azure_in.h) */
    return v ? v : fg_edgeq_header(h, "api-key");
}

static int deny(struct fg_edge_req *req, const struct fg_dialect_ops *d, const char *code,
                const char *msg)
{
    struct fg_err e;
    fg_err_set(&e, FG_E_AUTH, NULL, code, "%s", msg);
    fg_reply_error(req, d, &e);
    return -1;
}

static int refuse(struct fg_err *e, const char *code, const char *msg)
{
    return fg_err_set(e, FG_E_AUTH, NULL, code, "%s", msg);
}

static void set_id(struct fg_principal *p, const char *id, bool admin)
{
    snprintf(p->key_id, sizeof p->key_id, "%s", id);
    p->admin = admin;
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A virtual key's state → its principal, or -1 with the 401 naming the
 * problem in e. */
static int key_state(enum fg_key_state st, struct fg_vkey *v, struct fg_principal *p,
                     struct fg_err *e)
{
    char msg[300], at[40];
    struct fg_key k;
    if (v)
        fg_keyreg_vkey_get(v, &k);
    switch (st) {
    case FG_KEY_OK:
        set_id(p, v->k.id, false);
        p->vkey = v;
        return 0;
    case FG_KEY_REVOKED:
        snprintf(msg, sizeof msg, "This API key (%s, '%.100s') was revoked at %s.", k.id, k.name,
                 fg_period_rfc3339(k.revoked_ms, at, sizeof at));
        return refuse(e, "key_revoked", msg);
    case FG_KEY_EXPIRED:
        snprintf(msg, sizeof msg, "This API key (%s, '%.100s') expired at %s.", k.id, k.name,
                 fg_period_rfc3339(k.expires_ms, at, sizeof at));
        return refuse(e, "key_expired", msg);
    default:
        return refuse(e, "invalid_api_key",
                      "Invalid API key: the key sent is neither this gateway's key nor one of "
                      "its virtual keys.");
    }
}

/* The same, answered to req on failure. */
static int virtual_key(struct fg_edge_req *req, const struct fg_dialect_ops *d,
                       enum fg_key_state st, struct fg_vkey *v, struct fg_principal *p)
{
    struct fg_err e;
    if (key_state(st, v, p, &e) == 0)
        return 0;
    fg_reply_error(req, d, &e);
    return -1;
}

int fg_auth_owner(const char *owner, struct fg_principal *p, struct fg_err *e)
{
    memset(p, 0, sizeof *p);
    if (!owner || !*owner || strlen(owner) >= sizeof p->key_id)
        return refuse(e, "invalid_api_key", "Invalid owner.");
    bool builtin = !strcmp(owner, "master") || !strcmp(owner, "anonymous");
    if (!builtin) {
        struct fg_vkey *v;
        enum fg_key_state st = fg_keyreg_by_id(owner, wall_ms(), &v);
        /* an owner unknown to the registry keeps its id, with no limits */
        if (st != FG_KEY_UNKNOWN && key_state(st, v, p, e) < 0)
            return -1;
    }
    set_id(p, owner, builtin);
    return 0;
}

int fg_auth_request(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                    struct fg_principal *p)
{
    struct fg_edge_req *h = req;
    memset(p, 0, sizeof *p);
    const char *want = w->app->cfg->server.master_key;
    if (!want) {
        set_id(p, "anonymous", true);
        return 0;
    }
    const char *got = client_key(h);
    if (!got || !*got)
        return deny(req, d, "missing_api_key",
                    "Missing API key: send the frugal key as 'Authorization: Bearer KEY' "
                    "or 'x-api-key: KEY'.");
    if (fg_auth_equal(got, want)) {
        set_id(p, "master", true);
        return 0;
    }
    struct fg_vkey *v = NULL;
    enum fg_key_state st =
        fg_keys_format_ok(got) ? fg_keyreg_auth(got, wall_ms(), &v) : FG_KEY_UNKNOWN;
    return virtual_key(req, d, st, v, p);
}

bool fg_auth_principal_owns(const struct fg_principal *p, const char *owner)
{
    return p->admin || (owner && !strcmp(p->key_id, owner));
}
