/* store.c — picks the storage backend from the DSN (see store.h). */
#include "store.h"

#include "pgdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct fg_store_ops *const backends[] = {&fg_store_sqlite, &fg_store_pg};

int fg_store_open(const char *dsn, struct fg_store **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        const char *sch = backends[i]->scheme;
        if (!strncmp(dsn, sch, strlen(sch)))
            return backends[i]->open(dsn, out, err, errlen);
    }
    /* never the whole DSN: it may carry a password */
    snprintf(err, errlen,
             "storage '%.*s:…': no backend for this scheme (this build has sqlite: and "
             "postgres://)",
             (int)strcspn(dsn, ":"), dsn);
    return -1;
}

void fg_store_close(struct fg_store *s)
{
    if (s)
        s->ops->close(s);
}

int fg_store_spend_since(void *src, int64_t since_ms, fg_store_spend_cb cb, void *arg, char *err,
                         size_t errlen)
{
    struct fg_store *s = src;
    return s->ops->spend_since(s, since_ms, cb, arg, err, errlen);
}

bool fg_store_missing(const char *dsn, char *path, size_t n)
{
    if (strncmp(dsn, "sqlite:", 7))
        return false;
    const char *db = dsn + 7;
    char cwd[2048];
    if (db[0] != '/' && db[0] != ':' && strncmp(db, "file:", 5) && getcwd(cwd, sizeof cwd))
        snprintf(path, n, "%s/%s", cwd, db); /* say where it was looked for */
    else
        snprintf(path, n, "%s", db);
    return db[0] != ':' && strncmp(db, "file:", 5) && access(db, F_OK) != 0;
}

const char *fg_store_label(const char *dsn, char *buf, size_t n)
{
    if (!strncmp(dsn, "sqlite:", 7))
        snprintf(buf, n, "%s", dsn);
    else if (fg_pgdb_is_dsn(dsn))
        fg_pgdb_label(dsn, buf, n);
    else
        snprintf(buf, n, "%.*s…", (int)strcspn(dsn, ":"), dsn);
    return buf;
}

void fg_store_response_free(struct fg_store_response *r)
{
    if (!r)
        return;
    free(r->key_id);
    free(r->provider);
    free(r->upstream_id);
    free(r->prev_id);
    free(r->data);
    memset(r, 0, sizeof *r);
}

/* Upper bounds of the latency histogram's buckets, ms (store.h). */
const int64_t fg_rollup_lat_le_ms[FG_ROLLUP_LAT_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, FG_ROLLUP_LAT_INF};

/* The router's reason texts (call/relay.c, call/pipeline.c), store.h. */
const struct fg_rollup_esc fg_rollup_esc[FG_ROLLUP_ESC_REASONS] = {
    {"empty", "cheap answer empty:", "esc_empty"},
    {"refusal", "cheap answer refusal:", "esc_refusal"},
    {"truncated", "cheap answer truncated:", "esc_truncated"},
    {"invalid_schema", "cheap answer invalid_schema:", "esc_invalid_schema"},
    {"retry", "client retry", "esc_retry"},
};

int fg_store_esc_reason(const char *route, const char *route_reason)
{
    if (!route || strcmp(route, "escalated"))
        return -1;
    for (int i = 0; route_reason && i < FG_ROLLUP_ESC_REASONS; i++)
        if (!strncmp(route_reason, fg_rollup_esc[i].prefix, strlen(fg_rollup_esc[i].prefix)))
            return i;
    return FG_ROLLUP_ESC_REASONS;
}

/* call/admit.c's refusal texts (store.h). */
const struct fg_rollup_refusal fg_rollup_refusal[FG_ROLLUP_REFUSALS] = {
    {"rate_limit",
     {"Rate limit reached for key '", "Rate limit: this call may use up to "},
     "refused_rate_limit"},
    {"budget", {"Budget exceeded: the ", NULL}, "refused_budget"},
};

int fg_store_refusal_kind(int64_t status, const char *error)
{
    if (status != 429 || !error)
        return -1;
    for (int i = 0; i < FG_ROLLUP_REFUSALS; i++)
        for (int k = 0; k < 2 && fg_rollup_refusal[i].prefix[k]; k++)
            if (!strncmp(error, fg_rollup_refusal[i].prefix[k],
                         strlen(fg_rollup_refusal[i].prefix[k])))
                return i;
    return -1;
}
