/* test_keys.c — virtual keys: secret format and hashing, option parsing,
 * allow-lists, tag merging, UTC period alignment (day and month rollover),
 * and the keys table round trip through the SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "keyreg.h"
#include "keys.h"
#include "spec.h"
#include "period.h"
#include "keystore.h"
#include "store.h"

/* 2026-11-26T13:04:00Z */
#define T0 1795698240000LL

static void hash_is_sha256_hex(void **state)
{
    char h[65];
    fg_keys_hash("abc", h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    fg_keys_hash("", h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void new_key_format(void **state)
{
    struct fg_key_opts o = {.name = "search team"};
    struct fg_key a, b;
    char sa[FG_KEY_SECRET_MAX], sb[FG_KEY_SECRET_MAX], err[300], h[65];
    assert_int_equal(fg_keys_new(&o, NULL, T0, &a, sa, err, sizeof err), 0);
    assert_int_equal(fg_keys_new(&o, NULL, T0, &b, sb, err, sizeof err), 0);
    /* fk- + 43 base62 characters */
    assert_int_equal(strlen(sa), 3 + FG_KEY_SECRET_CHARS);
    assert_memory_equal(sa, "fk-", 3);
    for (const char *p = sa + 3; *p; p++)
        assert_true(isalnum((unsigned char)*p));
    assert_true(fg_keys_format_ok(sa));
    /* only the hash is kept, and it is the secret's */
    fg_keys_hash(sa, h);
    assert_string_equal(a.hash, h);
    assert_null(strstr(a.hash, sa + 3));
    /* the hint is the prefix and 4 characters */
    assert_int_equal(strlen(a.hint), 7);
    assert_memory_equal(a.hint, sa, 7);
    /* id: key_ + 12 hex */
    assert_int_equal(strlen(a.id), 16);
    assert_memory_equal(a.id, "key_", 4);
    for (const char *p = a.id + 4; *p; p++)
        assert_true(isxdigit((unsigned char)*p) && !isupper((unsigned char)*p));
    /* fresh randomness each time */
    assert_string_not_equal(sa, sb);
    assert_string_not_equal(a.id, b.id);
    assert_string_not_equal(a.hash, b.hash);
    assert_string_equal(a.name, "search team");
    assert_int_equal(a.created_ms, T0);
    assert_int_equal(a.budget, 0);
    assert_false(a.expires);
}

static void format_check(void **state)
{
    assert_false(fg_keys_format_ok(NULL));
    assert_false(fg_keys_format_ok(""));
    assert_false(fg_keys_format_ok("sk-abc"));
    assert_false(fg_keys_format_ok("fk-short"));
    char s[64] = "fk-";
    memset(s + 3, 'a', FG_KEY_SECRET_CHARS);
    s[3 + FG_KEY_SECRET_CHARS] = '\0';
    assert_true(fg_keys_format_ok(s));
    s[10] = '-';
    assert_false(fg_keys_format_ok(s));
    s[10] = 'a';
    s[3 + FG_KEY_SECRET_CHARS] = 'a'; /* one too long */
    s[4 + FG_KEY_SECRET_CHARS] = '\0';
    assert_false(fg_keys_format_ok(s));
}

static void budgets_parse_exactly(void **state)
{
    int64_t pico;
    enum fg_period p;
    assert_int_equal(fg_spec_budget("10/month", &pico, &p), 0);
    assert_int_equal(pico, 10000000000000LL);
    assert_int_equal(p, FG_PERIOD_MONTH);
    assert_int_equal(fg_spec_budget("$0.50/day", &pico, &p), 0);
    assert_int_equal(pico, 500000000000LL);
    assert_int_equal(p, FG_PERIOD_DAY);
    assert_int_equal(fg_spec_budget("0.000300/daily", &pico, &p), 0);
    assert_int_equal(pico, 300000000LL);
    assert_int_equal(fg_spec_budget("25", &pico, &p), 0); /* per month */
    assert_int_equal(pico, 25000000000000LL);
    assert_int_equal(p, FG_PERIOD_MONTH);
    assert_int_equal(fg_spec_budget("1000000/month", &pico, &p), 0);
    const char *bad[] = {
        "",        "0", "0/day", "-1/day", "1/week", "1.0000001/day", "abc", "1000000.01/month",
        "1e3/day", ".", "10/",   NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(fg_spec_budget(bad[i], &pico, &p), -1);
}

static void options_validate(void **state)
{
    struct fg_key k;
    char s[FG_KEY_SECRET_MAX], err[300];
    struct fg_key_opts o = {.name = "a",
                            .budget = "5/day",
                            .rpm = 60,
                            .tpm = 1000,
                            .models = " gpt-4o-mini , auto,",
                            .tags = "team=search, env=prod",
                            .expires = "30d"};
    assert_int_equal(fg_keys_new(&o, NULL, T0, &k, s, err, sizeof err), 0);
    assert_string_equal(k.models, "gpt-4o-mini,auto");
    assert_string_equal(k.tags, "team=search,env=prod");
    assert_int_equal(k.expires_ms, T0 + 30 * 86400000LL);
    assert_int_equal(k.budget, 5000000000000LL);
    assert_int_equal(k.rpm, 60);
    /* expires: a date is that day's start, UTC */
    o.expires = "2026-12-31";
    assert_int_equal(fg_keys_new(&o, NULL, T0, &k, s, err, sizeof err), 0);
    assert_int_equal(k.expires_ms, 1798675200000LL);
    /* the epoch is a time like any other, not "never" */
    const char *epoch[] = {"1970-01-01", "0", "1970-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof epoch / sizeof epoch[0]; i++) {
        o.expires = epoch[i];
        assert_int_equal(fg_keys_new(&o, NULL, T0, &k, s, err, sizeof err), 0);
        assert_true(k.expires);
        assert_int_equal(k.expires_ms, 0);
        assert_string_equal(fg_keys_status(&k, T0), "expired");
    }
    struct fg_key_opts bad[] = {
        {.name = NULL},
        {.name = ""},
        {.name = "a", .budget = "x"},
        {.name = "a", .tags = "novalue"},
        {.name = "a", .tags = "=v"},
        {.name = "a", .expires = "soon"},
        {.name = "a", .rpm = -1},
        {.name = "bad\nname"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(fg_keys_new(&bad[i], NULL, T0, &k, s, err, sizeof err), -1);
        assert_true(err[0] != '\0');
    }
    /* with a config, models must exist */
    struct fg_config *cfg = NULL;
    struct fg_config_errlist errs = {0};
    assert_int_equal(fg_config_defaults(&cfg, &errs), 0);
    struct fg_key_opts m = {.name = "a", .models = "gpt-4o-mini,auto"};
    assert_int_equal(fg_keys_new(&m, cfg, T0, &k, s, err, sizeof err), 0);
    m.models = "gpt-4o-mini,nope";
    assert_int_equal(fg_keys_new(&m, cfg, T0, &k, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "'nope'"));
    fg_config_free(cfg);
    fg_config_errlist_free(&errs);
}

static void allow_lists(void **state)
{
    struct fg_key k = {0};
    assert_true(fg_keys_allows(&k, "anything")); /* no list: any model */
    snprintf(k.models, sizeof k.models, "gpt-4o-mini,auto");
    assert_true(fg_keys_allows(&k, "gpt-4o-mini"));
    assert_true(fg_keys_allows(&k, "auto"));
    assert_false(fg_keys_allows(&k, "gpt-4o"));
    assert_false(fg_keys_allows(&k, "gpt-4o-min"));
    assert_false(fg_keys_allows(&k, "auto2"));
    assert_false(fg_keys_allows(&k, ""));
    assert_false(fg_keys_allows(&k, NULL));
}

static void status_and_json(void **state)
{
    struct fg_key k = {.id = "key_0123456789ab",
                       .name = "n",
                       .hint = "fk-abcd",
                       .hash = "secret-hash",
                       .created_ms = T0,
                       .budget = 2500000000000LL,
                       .budget_period = FG_PERIOD_DAY,
                       .models = "a,b",
                       .tags = "team=x"};
    assert_string_equal(fg_keys_status(&k, T0), "active");
    k.expires_ms = 0; /* without `expires`, no expiry applies */
    assert_string_equal(fg_keys_status(&k, T0), "active");
    k.expires = true;
    assert_string_equal(fg_keys_status(&k, T0), "expired");
    k.expires_ms = T0 + 1;
    assert_string_equal(fg_keys_status(&k, T0), "active");
    assert_string_equal(fg_keys_status(&k, T0 + 1), "expired");
    k.revoked_ms = T0;
    assert_string_equal(fg_keys_status(&k, T0), "revoked");
    json_t *j = fg_keys_json(&k, T0);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_null(strstr(s, "secret-hash")); /* never the hash */
    assert_non_null(strstr(s, "\"budget\":{\"period\":\"day\",\"usd\":\"2.500000\"}"));
    assert_non_null(strstr(s, "\"models\":[\"a\",\"b\"]"));
    assert_non_null(strstr(s, "\"tags\":{\"team\":\"x\"}"));
    assert_non_null(strstr(s, "\"revoked_at\":\"2026-11-26T13:04:00Z\""));
    free(s);
    json_decref(j);
}

static void tags_merge(void **state)
{
    struct fg_arena a;
    fg_arena_init(&a);
    assert_string_equal(fg_keys_tags_merge(&a, NULL, NULL), "");
    assert_string_equal(fg_keys_tags_merge(&a, "", "x=1, y=2"), "x=1, y=2"); /* as sent */
    assert_string_equal(fg_keys_tags_merge(&a, "team=a", NULL), "team=a");
    assert_string_equal(fg_keys_tags_merge(&a, "team=a,env=p", "x=1, team=b ,y=2,"),
                        "team=a,env=p,x=1,y=2"); /* the key's own tag wins */
    assert_string_equal(fg_keys_tags_merge(&a, "team=a", " , "), "team=a");
    fg_arena_free(&a);
}

/* One resolution per call: what the ledger records and what budgets and
 * routing rules may trust. */
static void call_tags_resolved_once(void **state)
{
    struct fg_arena a;
    fg_arena_init(&a);
    struct fg_vkey v;
    memset(&v, 0, sizeof v);
    snprintf(v.k.tags, sizeof v.k.tags, "team=support");
    struct fg_call_tags t;
    /* a virtual key: its header is recorded after its own tags, the key's
     * value winning a name it sets; only its own tags are charged */
    fg_keyreg_call_tags(&a, &v, "key_1", "team=research, project=apollo", &t);
    assert_string_equal(t.recorded, "team=support,project=apollo");
    assert_string_equal(t.charged, "team=support");
    /* the master key and a gateway without keys label their own calls */
    fg_keyreg_call_tags(&a, NULL, "master", "team=research", &t);
    assert_string_equal(t.recorded, "team=research");
    assert_string_equal(t.charged, "team=research");
    fg_keyreg_call_tags(&a, NULL, "anonymous", NULL, &t);
    assert_string_equal(t.recorded, "");
    assert_string_equal(t.charged, "");
    /* an owner unknown to the registry (batch_exec over loopback): no charge */
    fg_keyreg_call_tags(&a, NULL, "key_gone", "team=research", &t);
    assert_string_equal(t.recorded, "team=research");
    assert_null(t.charged);
    fg_arena_free(&a);
}

static void periods_align_utc(void **state)
{
    /* 2026-11-26T13:04:00Z */
    assert_int_equal(fg_period_start(FG_PERIOD_DAY, T0), 1795651200000LL);
    assert_int_equal(fg_period_next(FG_PERIOD_DAY, T0), 1795737600000LL);
    assert_int_equal(fg_period_start(FG_PERIOD_MONTH, T0), 1793491200000LL);
    assert_int_equal(fg_period_next(FG_PERIOD_MONTH, T0), 1796083200000LL);
    /* the period's first ms belongs to it, the last ms before the next too */
    assert_int_equal(fg_period_start(FG_PERIOD_DAY, 1795651200000LL), 1795651200000LL);
    assert_int_equal(fg_period_start(FG_PERIOD_DAY, 1795651200000LL - 1),
                     1795651200000LL - 86400000);
    /* year rollover: 2026-12-31T23:59:59.999Z → January 2027 next */
    assert_int_equal(fg_period_start(FG_PERIOD_MONTH, 1798761599999LL), 1796083200000LL);
    assert_int_equal(fg_period_next(FG_PERIOD_MONTH, 1798761599999LL), 1798761600000LL);
    assert_int_equal(fg_period_next(FG_PERIOD_DAY, 1798761599999LL), 1798761600000LL);
    assert_int_equal(fg_period_start(FG_PERIOD_MONTH, 1798761600000LL), 1798761600000LL);
    /* leap February 2028 */
    assert_int_equal(fg_period_start(FG_PERIOD_MONTH, 1835438400000LL), 1832976000000LL);
    assert_int_equal(fg_period_next(FG_PERIOD_MONTH, 1835438400000LL), 1835481600000LL);
    /* before the epoch, division floors */
    assert_int_equal(fg_period_start(FG_PERIOD_DAY, -3600000LL), -86400000LL);
    assert_int_equal(fg_period_start(FG_PERIOD_MONTH, -3600000LL), -2678400000LL);
    assert_int_equal(fg_period_next(FG_PERIOD_MONTH, -3600000LL), 0);
    char b[40];
    assert_string_equal(fg_period_rfc3339(T0, b, sizeof b), "2026-11-26T13:04:00Z");
    assert_string_equal(fg_period_rfc3339(1798761599999LL, b, sizeof b), "2026-12-31T23:59:59Z");
    assert_string_equal(fg_period_rfc3339(-3600000LL, b, sizeof b), "1969-12-31T23:00:00Z");
    enum fg_period p;
    assert_int_equal(fg_period_parse("day", &p), 0);
    assert_int_equal(p, FG_PERIOD_DAY);
    assert_int_equal(fg_period_parse("monthly", &p), 0);
    assert_int_equal(p, FG_PERIOD_MONTH);
    assert_int_equal(fg_period_parse("week", &p), -1);
}

/* ---- keys table round trip ---- */

struct seen {
    struct fg_key k[4];
    int n;
};

static int collect(void *arg, const struct fg_key *k)
{
    struct seen *s = arg;
    if (s->n < 4)
        s->k[s->n++] = *k;
    return 0;
}

struct sums {
    int64_t total, of_a;
};

static int sum(void *arg, const char *key_id, const char *tags, int64_t cost)
{
    struct sums *s = arg;
    s->total += cost;
    if (key_id && !strcmp(key_id, "key_aaaaaaaaaaaa"))
        s->of_a += cost;
    return 0;
}

static void store_round_trip(void **state)
{
    char dir[] = "/tmp/frugal-keys-XXXXXX", dsn[128], err[300];
    assert_non_null(mkdtemp(dir));
    snprintf(dsn, sizeof dsn, "sqlite:%s/k.db", dir);
    struct fg_store *s;
    assert_int_equal(fg_store_open(dsn, &s, err, sizeof err), 0);
    struct fg_keystore *ks; /* the keys table is the key store's (keystore.h) */
    assert_int_equal(fg_keystore_open(dsn, &ks, err, sizeof err), 0);
    struct fg_key a = {.id = "key_aaaaaaaaaaaa",
                       .name = "a",
                       .hash = "h1",
                       .hint = "fk-aaaa",
                       .created_ms = T0,
                       .budget = 7,
                       .budget_period = FG_PERIOD_DAY,
                       .rpm = 3,
                       .models = "gpt-4o-mini",
                       .tags = "team=x"};
    struct fg_key b = {.id = "key_bbbbbbbbbbbb",
                       .name = "b",
                       .hash = "h2",
                       .hint = "fk-bbbb",
                       .created_ms = T0 + 1,
                       .expires_ms = T0 + 5,
                       .expires = true};
    struct fg_key e = {.id = "key_eeeeeeeeeeee",
                       .name = "e",
                       .hash = "h3",
                       .hint = "fk-eeee",
                       .created_ms = T0 + 2,
                       .expires_ms = 0,
                       .expires = true};
    assert_int_equal(ks->ops->put(ks, &a, err, sizeof err), 0);
    assert_int_equal(ks->ops->put(ks, &b, err, sizeof err), 0);
    assert_int_equal(ks->ops->put(ks, &e, err, sizeof err), 0);
    /* a hash is unique */
    struct fg_key dup = b;
    snprintf(dup.id, sizeof dup.id, "key_cccccccccccc");
    assert_int_equal(ks->ops->put(ks, &dup, err, sizeof err), -1);
    assert_int_equal(ks->ops->revoke(ks, "key_bbbbbbbbbbbb", T0 + 2, err, sizeof err), 1);
    assert_int_equal(ks->ops->revoke(ks, "key_bbbbbbbbbbbb", T0 + 3, err, sizeof err), 0);
    assert_int_equal(ks->ops->revoke(ks, "key_nope", T0 + 3, err, sizeof err), 0);
    struct seen seen = {0};
    assert_int_equal(ks->ops->scan(ks, collect, &seen, err, sizeof err), 0);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.k[0].id, a.id);
    assert_false(seen.k[0].expires); /* never, stored as NULL */
    assert_true(seen.k[2].expires);  /* the epoch survives the store */
    assert_int_equal(seen.k[2].expires_ms, 0);
    assert_string_equal(seen.k[0].models, "gpt-4o-mini");
    assert_string_equal(seen.k[0].tags, "team=x");
    assert_int_equal(seen.k[0].budget, 7);
    assert_int_equal(seen.k[0].budget_period, FG_PERIOD_DAY);
    assert_int_equal(seen.k[0].rpm, 3);
    assert_int_equal(seen.k[0].revoked_ms, 0);
    assert_int_equal(seen.k[1].revoked_ms, T0 + 2);
    assert_int_equal(seen.k[1].expires_ms, T0 + 5);
    assert_true(seen.k[1].expires);
    /* spend per key since a time, from the calls table */
    struct fg_record *r[3];
    const char *ids[] = {"key_aaaaaaaaaaaa", "key_aaaaaaaaaaaa", "key_bbbbbbbbbbbb"};
    int64_t ts[] = {T0 - 10, T0, T0 + 10}, cost[] = {100, 200, 400};
    for (int i = 0; i < 3; i++) {
        r[i] = fg_ledger_record_new(64);
        memset(r[i], 0, sizeof *r[i]);
        snprintf(r[i]->id, sizeof r[i]->id, "frg_%d", i);
        r[i]->ts_ms = ts[i];
        r[i]->key_id = ids[i];
        r[i]->tags = "";
        r[i]->cost_pico = cost[i];
    }
    assert_int_equal(s->ops->write(s, r, 3, err, sizeof err), 0);
    struct sums su = {0};
    assert_int_equal(s->ops->spend_since(s, T0, sum, &su, err, sizeof err), 0);
    assert_int_equal(su.total, 600);
    assert_int_equal(su.of_a, 200);
    for (int i = 0; i < 3; i++)
        fg_ledger_record_free(r[i]);
    fg_keystore_close(ks);
    fg_store_close(s);
    char path[160];
    const char *ext[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/k.db%s", dir, ext[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* The registry finds a key made behind its back (by `frugal keys create`'s
 * own store handle) on the first call, by hash, even right after a wrong
 * key was looked up; the store's key_by_hash finds a key by its hash. */
static void registry_finds_new_keys_at_once(void **state)
{
    char dir[] = "/tmp/frugal-keyreg-XXXXXX", yaml[256], err[300];
    assert_non_null(mkdtemp(dir));
    snprintf(yaml, sizeof yaml,
             "storage: sqlite:%s/k.db\nproviders: [{name: s, type: sim}]\n"
             "models: [{name: gpt-4o-mini, provider: s}]\n",
             dir);
    struct fg_config *cfg = NULL;
    struct fg_config_errlist errs = {0};
    assert_int_equal(fg_config_load_buffer("k.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
    struct fg_store *ledger; /* budgets start from the ledger's spend (keyreg.h) */
    assert_int_equal(fg_store_open(cfg->storage, &ledger, err, sizeof err), 0);
    struct fg_keyreg_spend spend = {fg_store_spend_since, ledger, false};
    assert_int_equal(fg_keyreg_start(cfg, &spend, err, sizeof err), 0);

    struct fg_keystore *cli;
    assert_int_equal(fg_keystore_open(cfg->storage, &cli, err, sizeof err), 0);
    struct fg_key_opts o = {.name = "fresh"};
    struct fg_key k, got;
    char secret[FG_KEY_SECRET_MAX], wrong[FG_KEY_SECRET_MAX];
    struct fg_vkey *v;
    /* a wrong key first (it used to block re-reads for a second) */
    assert_int_equal(fg_keys_new(&o, cfg, T0, &k, wrong, err, sizeof err), 0);
    assert_int_equal(fg_keyreg_auth(wrong, T0, &v), FG_KEY_UNKNOWN);
    /* a key created now works at once */
    assert_int_equal(fg_keys_new(&o, cfg, T0, &k, secret, err, sizeof err), 0);
    assert_int_equal(cli->ops->put(cli, &k, err, sizeof err), 0);
    assert_int_equal(cli->ops->by_hash(cli, k.hash, &got, err, sizeof err), 1);
    assert_string_equal(got.id, k.id);
    assert_int_equal(fg_keyreg_auth(secret, T0, &v), FG_KEY_OK);
    assert_string_equal(v->k.id, k.id);
    char h[65];
    fg_keys_hash("fk-nothing", h);
    assert_int_equal(cli->ops->by_hash(cli, h, &got, err, sizeof err), 0);
    fg_keystore_close(cli);
    fg_keyreg_stop();
    fg_store_close(ledger); /* the registry's until it stops */
    fg_config_free(cfg);
    char path[128];
    snprintf(path, sizeof path, "%s/k.db", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/k.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/k.db-shm", dir);
    unlink(path);
    rmdir(dir);
}

/* A database from before the epoch could be an expiry: its 0s meant
 * "never" and still do after the upgrade; new epoch expiries stay. */
static void legacy_never_is_kept(void **state)
{
    char dir[] = "/tmp/frugal-keys-XXXXXX", path[128], dsn[160], err[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/old.db", dir);
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "CREATE TABLE keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,"
            " hint TEXT, created_ms INTEGER NOT NULL, expires_ms INTEGER, revoked_ms INTEGER,"
            " budget_pico INTEGER, budget_period TEXT, rpm INTEGER, tpm INTEGER, models TEXT,"
            " tags TEXT);"
            "INSERT INTO keys VALUES ('key_000000000001','old','h1','fk-a',1,0,0,0,NULL,0,0,'','');"
            "INSERT INTO keys VALUES ('key_000000000002','dated','h2','fk-b',2,5000,0,0,NULL,0,0,'','');",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    for (int round = 0; round < 2; round++) { /* the rewrite happens once */
        struct fg_keystore *s;
        assert_int_equal(fg_keystore_open(dsn, &s, err, sizeof err), 0);
        if (round == 0) {
            struct fg_key e = {.id = "key_000000000003",
                               .name = "epoch",
                               .hash = "h3",
                               .created_ms = 3,
                               .expires = true,
                               .expires_ms = 0};
            assert_int_equal(s->ops->put(s, &e, err, sizeof err), 0);
        }
        struct seen seen = {0};
        assert_int_equal(s->ops->scan(s, collect, &seen, err, sizeof err), 0);
        assert_int_equal(seen.n, 3);
        assert_false(seen.k[0].expires);
        assert_true(seen.k[1].expires);
        assert_int_equal(seen.k[1].expires_ms, 5000);
        assert_true(seen.k[2].expires);
        assert_int_equal(seen.k[2].expires_ms, 0);
        fg_keystore_close(s);
    }
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_is_sha256_hex),
        cmocka_unit_test(new_key_format),
        cmocka_unit_test(format_check),
        cmocka_unit_test(budgets_parse_exactly),
        cmocka_unit_test(options_validate),
        cmocka_unit_test(allow_lists),
        cmocka_unit_test(status_and_json),
        cmocka_unit_test(tags_merge),
        cmocka_unit_test(call_tags_resolved_once),
        cmocka_unit_test(periods_align_utc),
        cmocka_unit_test(store_round_trip),
        cmocka_unit_test(registry_finds_new_keys_at_once),
        cmocka_unit_test(legacy_never_is_kept),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fg_arena_thread_cleanup();
    return rc;
}
