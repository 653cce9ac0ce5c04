/* keys.c — see keys.h. */
#include "keys.h"

#include "arena.h"
#include "config.h"
#include "price.h"
#include "spec.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void random_bytes(unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
}

/* Uniform base62 by rejection: bytes >= 248 are skipped. */
static void random_b62(char *out, size_t n)
{
    unsigned char buf[128];
    size_t have = 0, used = 0;
    for (size_t i = 0; i < n;) {
        if (used == have) {
            random_bytes(buf, sizeof buf);
            have = sizeof buf;
            used = 0;
        }
        unsigned char c = buf[used++];
        if (c < 248)
            out[i++] = b62[c % 62];
    }
    out[n] = '\0';
}

void fg_keys_hash(const char *secret, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

bool fg_keys_format_ok(const char *s)
{
    size_t pl = strlen(FG_KEY_PREFIX);
    if (!s || strncmp(s, FG_KEY_PREFIX, pl) || strlen(s) != pl + FG_KEY_SECRET_CHARS)
        return false;
    for (const char *p = s + pl; *p; p++)
        if (!isalnum((unsigned char)*p))
            return false;
    return true;
}

/* Is name an item of the comma-separated list? */
static bool in_list(const char *list, const char *name, size_t nl)
{
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == nl && !memcmp(p, name, nl))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

bool fg_keys_allows(const struct fg_key *k, const char *name)
{
    return !k->models[0] || (name && in_list(k->models, name, strlen(name)));
}

const char *fg_keys_status(const struct fg_key *k, int64_t now_ms)
{
    if (k->revoked_ms)
        return "revoked";
    if (k->expires && k->expires_ms <= now_ms)
        return "expired";
    return "active";
}

const char *fg_keys_usd(int64_t pico, char *buf, size_t n)
{
    return fg_price_usd(pico, buf, n);
}

static int bad(char *err, size_t n, const char *fmt, const char *what)
{
    snprintf(err, n, fmt, what);
    return -1;
}

static int check_models(const char *list, const struct fg_config *cfg, char *err, size_t n)
{
    for (const char *p = list; cfg && *p;) {
        size_t len = strcspn(p, ",");
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len < 255 ? len : 255), p);
        if (!fg_config_model(cfg, name) && !fg_config_route(cfg, name)) {
            snprintf(err, n, "models: '%s' is neither a configured model nor a route", name);
            return -1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

int fg_keys_new(const struct fg_key_opts *o, const struct fg_config *cfg, int64_t now_ms,
                struct fg_key *k, char secret[FG_KEY_SECRET_MAX], char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    if (!o->name || !*o->name)
        return bad(err, errlen, "%s", "name: required (a label for the key, e.g. the app or team)");
    if (strlen(o->name) >= sizeof k->name || !fg_spec_plain(o->name, strlen(o->name)))
        return bad(err, errlen, "name: '%.60s' must be 1-100 printable characters", o->name);
    snprintf(k->name, sizeof k->name, "%s", o->name);
    if (o->budget && fg_spec_budget(o->budget, &k->budget, &k->budget_period) < 0)
        return bad(err, errlen,
                   "budget: '%.60s' is not USD/period (e.g. 25/month, 0.50/day; at most 6 "
                   "decimals, at most $1000000)",
                   o->budget);
    if (o->rpm < 0 || o->rpm > 1000000000 || o->tpm < 0 || o->tpm > 1000000000000LL)
        return bad(err, errlen, "%s", "rpm/tpm: must be a whole number >= 0");
    k->rpm = o->rpm;
    k->tpm = o->tpm;
    k->allow_unpriced = o->allow_unpriced;
    if (o->soft && !k->budget)
        return bad(err, errlen, "%s", "soft: a soft budget needs a budget (e.g. --budget 10/day)");
    k->budget_soft = o->soft;
    if (o->models && fg_spec_list(o->models, k->models, sizeof k->models) < 0)
        return bad(err, errlen, "models: '%.60s' is not a list of model or route names", o->models);
    if (check_models(k->models, cfg, err, errlen) < 0)
        return -1;
    if (o->tags && fg_spec_tags(o->tags, k->tags, sizeof k->tags) < 0)
        return bad(err, errlen, "tags: '%.60s' is not k=v,k=v", o->tags);
    if (o->expires && fg_spec_expires(o->expires, now_ms, &k->expires_ms) < 0)
        return bad(err, errlen,
                   "expires: '%.60s' is not a date (2026-12-31), an RFC 3339 time, unix "
                   "seconds or a span from now (30d)",
                   o->expires);
    k->expires = o->expires != NULL;
    unsigned char idb[6];
    random_bytes(idb, sizeof idb);
    snprintf(k->id, sizeof k->id, "key_%02x%02x%02x%02x%02x%02x", idb[0], idb[1], idb[2], idb[3],
             idb[4], idb[5]);
    size_t pl = strlen(FG_KEY_PREFIX);
    memcpy(secret, FG_KEY_PREFIX, pl);
    random_b62(secret + pl, FG_KEY_SECRET_CHARS);
    fg_keys_hash(secret, k->hash);
    snprintf(k->hint, sizeof k->hint, "%.*s", (int)pl + 4, secret);
    k->created_ms = now_ms;
    return 0;
}

static json_t *time_or_null(int64_t ms)
{
    char t[40];
    return ms ? json_string(fg_period_rfc3339(ms, t, sizeof t)) : json_null();
}

static json_t *list_json(const char *list, bool tags)
{
    if (!list[0])
        return json_null();
    json_t *out = tags ? json_object() : json_array();
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        char item[1024];
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        char *eq = tags ? strchr(item, '=') : NULL;
        if (eq) {
            *eq = '\0';
            json_object_set_new(out, item, json_string(eq + 1));
        } else if (!tags) {
            json_array_append_new(out, json_string(item));
        }
        p += len + (p[len] == ',');
    }
    return out;
}

json_t *fg_keys_json(const struct fg_key *k, int64_t now_ms)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(k->id));
    json_object_set_new(j, "object", json_string("frugal.key"));
    json_object_set_new(j, "name", json_string(k->name));
    json_object_set_new(j, "hint", json_string(k->hint));
    json_object_set_new(j, "status", json_string(fg_keys_status(k, now_ms)));
    json_object_set_new(j, "created_at", time_or_null(k->created_ms));
    char t[40];
    json_object_set_new(j, "expires_at",
                        k->expires ? json_string(fg_period_rfc3339(k->expires_ms, t, sizeof t))
                                   : json_null());
    json_object_set_new(j, "revoked_at", time_or_null(k->revoked_ms));
    if (k->budget) {
        char usd[32];
        json_t *b = json_pack("{s:s, s:s}", "usd", fg_keys_usd(k->budget, usd, sizeof usd),
                              "period", fg_period_name(k->budget_period));
        if (k->budget_soft) /* only when set: a hard budget reads as before */
            json_object_set_new(b, "soft", json_true());
        json_object_set_new(j, "budget", b);
    } else {
        json_object_set_new(j, "budget", json_null());
    }
    json_object_set_new(j, "rpm", k->rpm ? json_integer(k->rpm) : json_null());
    json_object_set_new(j, "tpm", k->tpm ? json_integer(k->tpm) : json_null());
    json_object_set_new(j, "models", list_json(k->models, false));
    json_object_set_new(j, "tags", list_json(k->tags, true));
    json_object_set_new(j, "allow_unpriced", json_boolean(k->allow_unpriced));
    return j;
}

const char *fg_keys_tags_merge(struct fg_arena *a, const char *key_tags, const char *header)
{
    if (!key_tags || !key_tags[0])
        return header ? fg_arena_strndup(a, header, strnlen(header, 512)) : "";
    size_t kl = strlen(key_tags), hl = header ? strnlen(header, 512) : 0;
    char *out = fg_arena_alloc(a, kl + hl + 2);
    memcpy(out, key_tags, kl + 1);
    size_t o = kl;
    for (const char *p = header; p && p < header + hl;) {
        p += strspn(p, " ,");
        if (p >= header + hl)
            break;
        size_t len = strcspn(p, ",");
        if (p + len > header + hl)
            len = (size_t)(header + hl - p);
        size_t t = len;
        while (t && p[t - 1] == ' ')
            t--;
        const char *eq = t ? memchr(p, '=', t) : NULL;
        size_t klen = eq ? (size_t)(eq - p) : t;
        /* the key's own tag keys win */
        bool taken = false;
        for (const char *q = key_tags; t && *q && !taken;) {
            size_t ql = strcspn(q, ",");
            const char *qe = memchr(q, '=', ql);
            size_t qk = qe ? (size_t)(qe - q) : ql;
            taken = qk == klen && !memcmp(q, p, klen);
            q += ql + (q[ql] == ',');
        }
        if (t && !taken) {
            out[o++] = ',';
            memcpy(out + o, p, t);
            o += t;
            out[o] = '\0';
        }
        p += len;
    }
    return out;
}
