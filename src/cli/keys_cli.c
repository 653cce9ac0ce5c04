/* keys_cli.c — see keys_cli.h. */
#include "keys_cli.h"

#include "config.h"
#include "keys.h"
#include "keystore.h"
#include "shared_redis.h"
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
    "usage: frugal keys create --name NAME [--budget USD/day|USD/month] [--rpm N] [--tpm N]\n"
    "                          [--models a,b,route] [--tags k=v,k=v] [--expires DATE|30d]\n"
    "                          [--soft] [--allow-unpriced] [--json] [-c FILE]\n"
    "       frugal keys list [--json] [-c FILE]\n"
    "       frugal keys revoke ID|NAME|KEY [-c FILE]\n";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, "frugal keys: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

/* `--name VALUE` or `--name=VALUE` at argv[*i]: *val set, *i advanced. */
static int opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n])
        return 0;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

static int parse_count(const char *name, const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : -1;
    if (!v || errno || *end || end == v || n < 0)
        return usage_error("%s needs a whole number >= 0", name);
    *out = n;
    return 0;
}

static int open_store(const struct fg_config *cfg, struct fg_keystore **s)
{
    char err[512];
    if (fg_keystore_open(cfg->storage, s, err, sizeof err) < 0) {
        fprintf(stderr, "frugal keys: %s\n", err);
        return -1;
    }
    return 0;
}

/* list and revoke only read what exists: never create an empty database. */
static int open_existing(const struct fg_config *cfg, struct fg_keystore **s)
{
    char db[4096];
    if (fg_store_missing(cfg->storage, db, sizeof db)) {
        fprintf(stderr,
                "frugal keys: no database at %s (storage: from %s), so no keys.  Pass "
                "the gateway's config with -c (a relative sqlite: path is resolved against "
                "the config file's directory)\n",
                db, cfg->path ? cfg->path : "the built-in defaults, relative to this directory");
        return -1;
    }
    return open_store(cfg, s);
}

static void warn_no_master(const struct fg_config *cfg)
{
    if (!cfg->server.master_key)
        fprintf(stderr,
                "frugal keys: warning: server.master_key is not set in %s: the gateway is "
                "single-tenant and lets every caller in as anonymous, ignoring virtual keys, "
                "until a master key is configured\n",
                cfg->path ? cfg->path : "the built-in defaults");
}

static int create(const struct fg_config *cfg, int argc, char **argv)
{
    struct fg_key_opts o = {0};
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--allow-unpriced"))
            o.allow_unpriced = true;
        else if (!strcmp(argv[i], "--soft"))
            o.soft = true; /* the budget alerts but never refuses */
        else if (opt(argc, argv, &i, "-c", &v) || opt(argc, argv, &i, "--config", &v))
            continue;
        else if (opt(argc, argv, &i, "--name", &v))
            o.name = v;
        else if (opt(argc, argv, &i, "--budget", &v))
            o.budget = v;
        else if (opt(argc, argv, &i, "--models", &v))
            o.models = v;
        else if (opt(argc, argv, &i, "--tags", &v))
            o.tags = v;
        else if (opt(argc, argv, &i, "--expires", &v))
            o.expires = v;
        else if (opt(argc, argv, &i, "--rpm", &v)) {
            if (parse_count("--rpm", v, &o.rpm))
                return 2;
        } else if (opt(argc, argv, &i, "--tpm", &v)) {
            if (parse_count("--tpm", v, &o.tpm))
                return 2;
        } else
            return usage_error("unknown argument '%s'", argv[i]);
        if (!v && strcmp(argv[i], "--json") && strcmp(argv[i], "--allow-unpriced") &&
            strcmp(argv[i], "--soft"))
            return usage_error("%s needs a value", argv[i]);
    }
    char err[300], secret[FG_KEY_SECRET_MAX];
    struct fg_key k;
    int64_t now = now_ms();
    if (fg_keys_new(&o, cfg, now, &k, secret, err, sizeof err) < 0)
        return usage_error("%s", err);
    warn_no_master(cfg);
    if (k.expires && k.expires_ms <= now)
        fprintf(stderr, "frugal keys: warning: the key expires in the past; it is created "
                        "expired\n");
    struct fg_keystore *s;
    if (open_store(cfg, &s) < 0)
        return 1;
    int rc = s->ops->put(s, &k, err, sizeof err);
    fg_keystore_close(s);
    if (rc < 0) {
        fprintf(stderr, "frugal keys: %s\n", err);
        return 1;
    }
    if (json) {
        json_t *j = fg_keys_json(&k, now);
        json_object_set_new(j, "key", json_string(secret));
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
    } else {
        char usd[32];
        printf("key:     %s\n", secret);
        printf("id:      %s\n", k.id);
        printf("name:    %s\n", k.name);
        if (k.budget)
            printf("budget:  $%s per %s (UTC)%s\n", fg_keys_usd(k.budget, usd, sizeof usd),
                   fg_period_name(k.budget_period),
                   k.budget_soft ? ", soft (alerts, never refuses)" : "");
        if (k.rpm)
            printf("rpm:     %lld\n", (long long)k.rpm);
        if (k.tpm)
            printf("tpm:     %lld\n", (long long)k.tpm);
        if (k.models[0])
            printf("models:  %s\n", k.models);
        if (k.tags[0])
            printf("tags:    %s\n", k.tags);
        if (k.allow_unpriced)
            printf(
                "unpriced: allowed (paths frugal cannot price may be called despite the budget)\n");
        if (k.expires) {
            char t[40];
            printf("expires: %s\n", fg_period_rfc3339(k.expires_ms, t, sizeof t));
        }
        printf("Store the key now: frugal keeps only its hash and cannot show it again.\n");
    }
    memset(secret, 0, sizeof secret);
    return fflush(stdout) ? 1 : 0;
}

/* ---- list ---- */

struct listing {
    json_t *keys; /* array of key JSON */
    int64_t now;
};

static int collect(void *arg, const struct fg_key *k)
{
    struct listing *l = arg;
    json_t *j = fg_keys_json(k, l->now);
    if (k->budget) {
        json_object_set_new(j, "_budget_pico", json_integer(k->budget));
        json_object_set_new(j, "_period", json_integer(k->budget_period));
    }
    json_array_append_new(l->keys, j);
    return 0;
}

struct spend_ctx {
    json_t *keys;
    enum fg_period period;
};

/* Add a spend group's cost to its key if the key's budget is per this period. */
static int add_spend(void *arg, const char *key_id, const char *tags, int64_t cost)
{
    struct spend_ctx *c = arg;
    size_t i;
    json_t *j;
    json_array_foreach(c->keys, i, j)
    {
        if (!key_id || strcmp(key_id, json_string_value(json_object_get(j, "id"))))
            continue;
        if (json_integer_value(json_object_get(j, "_period")) != c->period)
            continue;
        json_t *s = json_object_get(j, "_spent_pico");
        json_object_set_new(j, "_spent_pico", json_integer(json_integer_value(s) + cost));
    }
    return 0;
}

/* The spend of each budgeted key this period, from the ledger. */
static int spend_of_keys(struct fg_store *s, json_t *keys, int64_t now)
{
    char err[512], usd[32], t[40];
    enum fg_period ps[] = {FG_PERIOD_DAY, FG_PERIOD_MONTH};
    for (int p = 0; p < 2; p++) {
        struct spend_ctx c = {keys, ps[p]};
        if (s->ops->spend_since(s, fg_period_start(ps[p], now), add_spend, &c, err, sizeof err) <
            0) {
            fprintf(stderr, "frugal keys: %s\n", err);
            return -1;
        }
    }
    size_t i;
    json_t *j;
    json_array_foreach(keys, i, j)
    {
        json_t *lim = json_object_get(j, "_budget_pico");
        json_t *u = json_object();
        if (lim) {
            enum fg_period per = (enum fg_period)json_integer_value(json_object_get(j, "_period"));
            int64_t spent = json_integer_value(json_object_get(j, "_spent_pico"));
            json_object_set_new(u, "budget",
                                json_pack("{s:s, s:s, s:s, s:s}", "limit_usd",
                                          fg_keys_usd(json_integer_value(lim), usd, sizeof usd),
                                          "spent_usd", fg_keys_usd(spent, t, sizeof t), "period",
                                          fg_period_name(per), "resets_at", ""));
            json_object_set_new(
                json_object_get(u, "budget"), "resets_at",
                json_string(fg_period_rfc3339(fg_period_next(per, now), t, sizeof t)));
        } else {
            json_object_set_new(u, "budget", json_null());
        }
        json_object_set_new(j, "usage", u);
        json_object_del(j, "_budget_pico");
        json_object_del(j, "_period");
        json_object_del(j, "_spent_pico");
    }
    return 0;
}

static const char *str(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "-";
}

static void print_table(json_t *keys)
{
    printf("%-17s %-20s %-8s %-8s %-26s %-7s %-9s %-20s %s\n", "ID", "NAME", "HINT", "STATUS",
           "BUDGET (SPENT)", "RPM", "TPM", "EXPIRES", "MODELS / TAGS");
    size_t i;
    json_t *j;
    json_array_foreach(keys, i, j)
    {
        char budget[64] = "-", rpm[24] = "-", tpm[24] = "-", extra[1600];
        json_t *b = json_object_get(json_object_get(j, "usage"), "budget");
        bool soft = json_is_true(json_object_get(json_object_get(j, "budget"), "soft"));
        if (json_is_object(b))
            snprintf(budget, sizeof budget, "$%s/%s%s ($%s)", str(b, "limit_usd"), str(b, "period"),
                     soft ? " soft" : "", str(b, "spent_usd"));
        if (json_is_integer(json_object_get(j, "rpm")))
            snprintf(rpm, sizeof rpm, "%lld",
                     (long long)json_integer_value(json_object_get(j, "rpm")));
        if (json_is_integer(json_object_get(j, "tpm")))
            snprintf(tpm, sizeof tpm, "%lld",
                     (long long)json_integer_value(json_object_get(j, "tpm")));
        size_t o = 0;
        extra[0] = '\0';
        json_t *m = json_object_get(j, "models"), *x;
        size_t k;
        json_array_foreach(m, k, x) o +=
            (size_t)snprintf(extra + o, o < sizeof extra ? sizeof extra - o : 0, "%s%s",
                             k ? "," : "models=", json_string_value(x));
        const char *tk;
        int first = 1;
        json_object_foreach(json_object_get(j, "tags"), tk, x)
        {
            o += (size_t)snprintf(extra + o, o < sizeof extra ? sizeof extra - o : 0, "%s%s=%s",
                                  first ? (o ? " tags=" : "tags=") : ",", tk, json_string_value(x));
            first = 0;
        }
        printf("%-17s %-20.20s %-8s %-8s %-26s %-7s %-9s %-20s %s\n", str(j, "id"), str(j, "name"),
               str(j, "hint"), str(j, "status"), budget, rpm, tpm, str(j, "expires_at"),
               extra[0] ? extra : "-");
    }
}

static int list(const struct fg_config *cfg, int argc, char **argv)
{
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!opt(argc, argv, &i, "-c", &v) && !opt(argc, argv, &i, "--config", &v))
            return usage_error("unknown argument '%s'", argv[i]);
    }
    struct fg_keystore *s;
    if (open_existing(cfg, &s) < 0)
        return 1;
    char err[512];
    struct listing l = {json_array(), now_ms()};
    int rc = s->ops->scan(s, collect, &l, err, sizeof err);
    fg_keystore_close(s);
    struct fg_store *ledger = NULL;
    if (rc == 0)
        rc = fg_store_open(cfg->storage, &ledger, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "frugal keys: %s\n", err);
    else
        rc = spend_of_keys(ledger, l.keys, l.now); /* each key's usage: the ledger's */
    fg_store_close(ledger);
    if (rc == 0 && json) {
        json_dumpf(l.keys, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else if (rc == 0) {
        print_table(l.keys);
    }
    json_decref(l.keys);
    return rc < 0 ? 1 : fflush(stdout) ? 1 : 0;
}

/* ---- revoke ---- */

/* Gateways sharing a Redis check a key's version there at admission
 * (shared_redis.h): bump it, so every replica refuses the key on its next
 * call, and the registry's version, so each re-reads its table. */
static void tell_replicas(const struct fg_config *cfg, const char *id)
{
    if (!cfg->redis)
        return;
    if (!strncmp(cfg->redis, "env:", 4)) {
        fprintf(stderr,
                "frugal keys: redis is %s, which is not set: running gateways learn of "
                "the revocation from the database only\n",
                cfg->redis);
        return;
    }
    struct fg_shared *r;
    char err[200], name[80];
    struct fg_shared_redis_opts o = {0};
    if (fg_shared_redis_open(cfg->redis, &o, &r, err, sizeof err) < 0) {
        fprintf(stderr, "frugal keys: %s\n", err);
        return;
    }
    snprintf(name, sizeof name, "key:%s", id);
    if (!r->ops->version_bump(r, name) || !r->ops->version_bump(r, "keys"))
        fprintf(stderr, "frugal keys: could not tell the gateways through Redis; they learn of "
                        "the revocation from the database only\n");
    fg_shared_redis_close(r);
}

struct find {
    const char *want;
    char hash[65]; /* when `want` is a secret: its hash, else "" */
    struct fg_key hit;
    int n_id, n_name;
    char names[400];
};

static int find_key(void *arg, const struct fg_key *k)
{
    struct find *f = arg;
    if (!strcmp(k->id, f->want) || (f->hash[0] && !strcmp(k->hash, f->hash))) {
        f->hit = *k;
        f->n_id++;
    } else if (!f->n_id && !k->revoked_ms && !strcmp(k->name, f->want)) {
        if (!f->n_name++)
            f->hit = *k;
        size_t o = strlen(f->names);
        snprintf(f->names + o, sizeof f->names - o, "%s%s", o ? ", " : "", k->id);
    }
    return 0;
}

static int revoke(const struct fg_config *cfg, int argc, char **argv)
{
    const char *target = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (opt(argc, argv, &i, "-c", &v) || opt(argc, argv, &i, "--config", &v))
            continue;
        if (target || argv[i][0] == '-')
            return usage_error("unexpected argument '%s'", argv[i]);
        target = argv[i];
    }
    if (!target)
        return usage_error("%s", "revoke needs a key id, a key's name or the key itself");
    struct fg_keystore *s;
    if (open_existing(cfg, &s) < 0)
        return 1;
    char err[512], t[4200];
    struct find f = {.want = target};
    bool secret = fg_keys_format_ok(target);
    if (secret) /* people revoke the key they hold: match it by its hash */
        fg_keys_hash(target, f.hash);
    int rc = s->ops->scan(s, find_key, &f, err, sizeof err);
    if (rc == 0 && !f.n_id && f.n_name > 1) {
        fprintf(stderr, "frugal keys: %d active keys are named '%s' (%s): revoke by id\n", f.n_name,
                target, f.names);
        rc = 1;
    } else if (rc == 0 && !f.n_id && !f.n_name && secret) {
        fprintf(stderr, "frugal keys: no key in %s matches the key %.7s… given\n",
                fg_store_label(cfg->storage, t, sizeof t), target);
        rc = 1;
    } else if (rc == 0 && !f.n_id && !f.n_name) {
        fprintf(stderr, "frugal keys: no key with id or name '%s' in %s\n", target,
                fg_store_label(cfg->storage, t, sizeof t));
        rc = 1;
    } else if (rc == 0 && f.hit.revoked_ms) {
        printf("%s ('%s') was already revoked at %s\n", f.hit.id, f.hit.name,
               fg_period_rfc3339(f.hit.revoked_ms, t, sizeof t));
    } else if (rc == 0) {
        int64_t now = now_ms();
        rc = s->ops->revoke(s, f.hit.id, now, err, sizeof err);
        if (rc >= 0)
            tell_replicas(cfg, f.hit.id);
        if (rc >= 0) {
            printf("revoked %s ('%s') at %s; a running gateway refuses it within seconds\n",
                   f.hit.id, f.hit.name, fg_period_rfc3339(now, t, sizeof t));
            rc = 0;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "frugal keys: %s\n", err);
        rc = 1;
    }
    fg_keystore_close(s);
    return rc;
}

int fg_keys_cli_main(const struct fg_config *cfg, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(usage_text, sub ? stdout : stderr);
        return sub ? 0 : 2;
    }
    if (!strcmp(sub, "create"))
        return create(cfg, argc, argv);
    if (!strcmp(sub, "list"))
        return list(cfg, argc, argv);
    if (!strcmp(sub, "revoke"))
        return revoke(cfg, argc, argv);
    return usage_error("unknown subcommand '%s' (create, list or revoke)", sub);
}
