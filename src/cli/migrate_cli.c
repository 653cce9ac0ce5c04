/* migrate_cli.c — `frugal migrate` (migrate_cli.h). */
#include "migrate_cli.h"

#include "batch_store_pg.h"
#include "config.h"
#include "keystore.h"
#include "keystore_pg.h"
#include "learn_store_pg.h"
#include "ledger.h"
#include "pgdb.h"
#include "price.h"
#include "store.h"
#include "store_pg.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define COPY_GROUP 1000 /* rows per transaction when copying a ledger */

static int usage_error(const char *msg)
{
    fprintf(stderr,
            "frugal migrate: %s\n"
            "usage: frugal migrate [-c FILE] [--check] [--copy-from sqlite:PATH]\n",
            msg);
    return 2;
}

/* Apply or count the components' migrations (the batch store's when it is
 * in Postgres: bdsn, else NULL); prints one line each. */
static int migrate_all(const char *dsn, const char *bdsn, bool apply, int *pending_total)
{
    char err[600];
    int pl = 0, pk = 0, pb = 0, pr = 0;
    if (fg_store_pg_migrate(dsn, apply, &pl, err, sizeof err) < 0 ||
        fg_keystore_pg_migrate(dsn, apply, &pk, err, sizeof err) < 0 ||
        fg_learn_store_pg_migrate(dsn, apply, &pr, err, sizeof err) < 0 ||
        (bdsn && fg_batch_store_pg_migrate(bdsn, apply, &pb, err, sizeof err) < 0)) {
        fprintf(stderr, "frugal migrate: %s\n", err);
        return -1;
    }
    const char *verb = apply ? "applied" : "pending";
    printf("ledger: %d migration(s) %s\nkeys: %d migration(s) %s\nrouting: %d migration(s) %s\n",
           pl, verb, pk, verb, pr, verb);
    if (bdsn)
        printf("batches: %d migration(s) %s\n", pb, verb);
    *pending_total = pl + pk + pb + pr;
    return 0;
}

struct copy_ctx {
    struct fg_store *to;
    struct fg_record *group[COPY_GROUP];
    size_t n;
    long long copied;
    int64_t cost;
    char err[600];
    int failed;
};

static int flush(struct copy_ctx *x)
{
    int rc = x->n ? x->to->ops->write(x->to, x->group, x->n, x->err, sizeof x->err) : 0;
    for (size_t i = 0; i < x->n; i++)
        fg_ledger_record_free(x->group[i]);
    if (rc == 0)
        x->copied += (long long)x->n;
    x->n = 0;
    if (rc != 0)
        x->failed = 1;
    return rc;
}

static int copy_row(void *arg, const struct fg_record *r)
{
    struct copy_ctx *x = arg;
    x->group[x->n++] = fg_ledger_record_copy(r);
    x->cost += r->cost_pico;
    return x->n == COPY_GROUP ? flush(x) : 0;
}

static int copy_calls(const char *from, struct fg_store *to)
{
    struct fg_store *src = NULL;
    static struct copy_ctx x; /* 8 KB of pointers: not on the stack */
    memset(&x, 0, sizeof x);
    x.to = to;
    if (fg_store_open(from, &src, x.err, sizeof x.err) < 0) {
        fprintf(stderr, "frugal migrate: %s\n", x.err);
        return -1;
    }
    char serr[600];
    int rc = src->ops->scan(src, INT64_MIN, INT64_MAX, copy_row, &x, serr, sizeof serr);
    if (rc == 0 && !x.failed)
        flush(&x);
    for (size_t i = 0; i < x.n; i++)
        fg_ledger_record_free(x.group[i]);
    fg_store_close(src);
    if (rc < 0 || x.failed) {
        fprintf(stderr, "frugal migrate: copying calls: %s\n", rc < 0 ? serr : x.err);
        return -1;
    }
    char usd[40];
    printf("calls: %lld row(s) copied ($%s; rows already there are kept once)\n", x.copied,
           fg_price_usd(x.cost, usd, sizeof usd));
    return 0;
}

struct resp_ctx {
    struct fg_store *to;
    int copied, kept, failed;
    char err[600];
};

static int copy_response(void *arg, const char *id, const struct fg_store_response *r)
{
    struct resp_ctx *x = arg;
    int rc = x->to->ops->response_put(x->to, id, r, x->err, sizeof x->err);
    if (rc < 0)
        x->failed = 1;
    else if (rc)
        x->copied++;
    else
        x->kept++;
    return x->failed;
}

/* The stored Responses (conversation state) not yet expired: without them
 * a conversation started before the move could not be continued. */
static int copy_responses(const char *from, struct fg_store *to)
{
    struct fg_store *src = NULL;
    struct resp_ctx x = {.to = to};
    char err[600];
    if (!to->ops->response_put)
        return 0; /* the destination keeps no conversation state */
    if (fg_store_open(from, &src, err, sizeof err) < 0) {
        fprintf(stderr, "frugal migrate: %s\n", err);
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int rc = src->ops->response_scan
                 ? src->ops->response_scan(src, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                                           copy_response, &x, err, sizeof err)
                 : 0;
    fg_store_close(src);
    if (rc < 0 || x.failed) {
        fprintf(stderr, "frugal migrate: copying responses: %s\n", x.failed ? x.err : err);
        return -1;
    }
    printf("responses: %d copied, %d already there\n", x.copied, x.kept);
    return 0;
}

struct keys_ctx {
    struct fg_keystore *to;
    int copied, skipped, failed;
    char err[600];
};

static int copy_key(void *arg, const struct fg_key *k)
{
    struct keys_ctx *x = arg;
    struct fg_key have;
    int found = x->to->ops->by_hash(x->to, k->hash, &have, x->err, sizeof x->err);
    if (found == 0 && x->to->ops->put(x->to, k, x->err, sizeof x->err) == 0)
        x->copied++;
    else if (found == 1)
        x->skipped++;
    else
        x->failed = 1;
    return x->failed;
}

static int copy_keys(const char *from, const char *to_dsn)
{
    struct fg_keystore *src = NULL;
    struct keys_ctx x = {0};
    int rc = -1;
    char err[600];
    if (fg_keystore_open(from, &src, err, sizeof err) < 0 ||
        fg_keystore_open(to_dsn, &x.to, err, sizeof err) < 0) {
        fprintf(stderr, "frugal migrate: %s\n", err);
        goto out;
    }
    if (src->ops->scan(src, copy_key, &x, err, sizeof err) < 0 || x.failed) {
        fprintf(stderr, "frugal migrate: copying keys: %s\n", x.failed ? x.err : err);
        goto out;
    }
    printf("keys: %d copied, %d already there\n", x.copied, x.skipped);
    rc = 0;
out:
    fg_keystore_close(src);
    fg_keystore_close(x.to);
    return rc;
}

static int copy_from(const struct fg_config *cfg, const char *from)
{
    char path[4096];
    if (fg_store_missing(from, path, sizeof path)) {
        fprintf(stderr, "frugal migrate: --copy-from: no database at %s\n", path);
        return 1;
    }
    struct fg_store *to = NULL;
    char err[600];
    if (fg_store_open(cfg->storage, &to, err, sizeof err) < 0) {
        fprintf(stderr, "frugal migrate: %s\n", err);
        return 1;
    }
    int rc = copy_calls(from, to);
    if (rc == 0)
        rc = copy_responses(from, to);
    fg_store_close(to);
    if (rc == 0)
        rc = copy_keys(from, cfg->storage);
    return rc < 0 ? 1 : 0;
}

int fg_migrate_cli_main(const struct fg_config *cfg, int argc, char **argv)
{
    bool check = false;
    const char *from = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
            i++; /* the caller's */
        else if (!strcmp(argv[i], "--check"))
            check = true;
        else if (!strcmp(argv[i], "--copy-from") && i + 1 < argc)
            from = argv[++i];
        else
            return usage_error(!strcmp(argv[i], "--copy-from") ? "--copy-from needs sqlite:PATH"
                                                               : "unknown option");
    }
    if (check && from)
        return usage_error("--check and --copy-from do not go together");
    if (from && strncmp(from, "sqlite:", 7))
        return usage_error("--copy-from takes sqlite:PATH (the ledger to copy)");
    char label[256];
    fg_store_label(cfg->storage, label, sizeof label);
    if (!fg_pgdb_is_dsn(cfg->storage)) {
        fprintf(stderr,
                "frugal migrate: storage %s is SQLite, which migrates itself when opened; "
                "`frugal migrate` is for a postgres:// storage\n",
                label);
        return 2;
    }
    printf("storage %s\n", label);
    int pending = 0;
    const char *bdsn = fg_config_batch_storage(cfg);
    if (migrate_all(cfg->storage, fg_pgdb_is_dsn(bdsn) ? bdsn : NULL, !check, &pending) < 0)
        return 1;
    if (check)
        return pending ? 1 : 0;
    return from ? copy_from(cfg, from) : 0;
}
