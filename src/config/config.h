/* config.h — frugal's configuration: YAML file or built-in defaults.
 *
 * Contract:
 *  - fg_config_load() parses a YAML file (libyaml) into a struct fg_config.
 *    Every problem found is appended to `errs` as "FILE:LINE: KEY: message"
 *    (KEY is the dotted path, e.g. "providers[1].api_key"); loading goes on
 *    after an error so `frugal check` reports all of them.  Returns 0 when
 *    there are no errors, -1 otherwise (then *out is NULL).
 *  - Unknown keys are errors.  `env:NAME` values are read from the
 *    environment; an unset variable is an error naming NAME.
 *  - A file replaces the built-in defaults entirely (no built-in models
 *    are added to it); `frugal check` refuses, and `serve` warns about, a
 *    file that configures no models or routes.
 *  - A relative `storage: sqlite:PATH` in a file is resolved against the
 *    file's directory (cfg->storage is then absolute), so every command
 *    given the same file finds the same database; with the built-in
 *    defaults it is relative to the current directory.
 *  - fg_config_defaults() builds the built-in configuration used when no
 *    file is given: real providers when OPENAI_API_KEY / ANTHROPIC_API_KEY
 *    are set, the simulated provider otherwise, under realistic model names.
 *  - The returned config is owned by the caller; free with fg_config_free().
 *    It is immutable after load and shared read-only by all worker threads.
 *
 * Prices are exact integers: micro-USD per 1M tokens (USD/1M × 10^6), parsed
 * from the decimal text without floating point; -1 means "not set". */
#ifndef FRUGAL_CONFIG_H
#define FRUGAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FG_PROV_AZURE: Azure OpenAI (`azure_openai`), OpenAI's wire dialect at
 * Azure's paths (/openai/deployments/{deployment}/...?api-version=V) with
 * the `api-key` header (dialect/azure.h). */
enum fg_provider_type { FG_PROV_OPENAI, FG_PROV_ANTHROPIC, FG_PROV_SIM, FG_PROV_AZURE };
/* FG_DIALECT_RESPONSES names a request *body shape* (OpenAI's Responses
 * API) for the modules that read bodies (prefix, attrib, router, response
 * cache); it is never a provider's wire dialect, which stays OpenAI. */
enum fg_dialect { FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, FG_DIALECT_RESPONSES };

struct fg_price {
    int64_t input, output, cache_read, cache_write_5m, cache_write_1h, batch_input,
        batch_output; /* micro-USD per 1M tokens, -1 unset */
};

/* One window of a model's price_schedule: from its start (UTC) the
 * window's price fields replace the model's own.  The call's start time
 * decides; a window whose `to` is not after its `from` runs past midnight
 * and belongs to the weekday it starts on. */
struct fg_price_window {
    int from_min, to_min;  /* minutes of the UTC day: from 0..1439, to 1..1440 */
    unsigned days;         /* bit d set (0 = Sunday): starts on that weekday */
    struct fg_price price; /* -1 fields: the model's own */
    int line;
};

struct fg_provider_cfg {
    char *name;
    enum fg_provider_type type;
    char *base_url;          /* no trailing slash; NULL for sim = in-process */
    char *api_key;           /* resolved secret; NULL if none */
    char *batch;             /* "provider" | "local" (default "provider") */
    char *anthropic_version; /* version used for requests frugal builds itself
                                (default "2026-10-21") */
    char *api_version;       /* azure_openai: the api-version query parameter
                                every call carries (required); else NULL */
    int timeout_ms;          /* whole upstream call, non-streaming (default 600000) */
    int connect_timeout_ms;  /* default 5000 */
    /* serves OpenAI's Responses API (/v1/responses); false: Chat Completions
     * only, and Responses calls to its models are translated (default true) */
    bool responses;
    /* cost: {per_hour_usd, max_concurrency}: a server of one's own, priced
     * by the hour, its calls paying shares of it (call/selfhost.h);
     * per_hour_micro -1 = priced by the token as usual */
    struct {
        int64_t per_hour_micro; /* micro-USD per hour */
        int max_concurrency;    /* calls it serves at once (utilisation) */
    } cost;
    int line; /* line in the config file, 0 for defaults */
};

/* Another place serving the same model (a second key, region or account):
 * new prefixes (and calls without one) go to the deployment with the fewest
 * calls in flight, cache affinity keeps a known prefix on the one that holds
 * its cache unless that one is overloaded by prompt_caching.affinity_margin
 * or its circuit breaker is open (affinity.h).  At most 31 per model. */
#define FG_CONFIG_MAX_DEPLOYMENTS 32 /* the model's own provider + 31 */
/* Default prompt_caching.affinity_margin: a prefix leaves the deployment
 * holding its cache only when that one has more than this many calls in
 * flight beyond the least-loaded deployment (one cache miss, then the new
 * deployment holds the prefix too). */
#define FG_CONFIG_AFFINITY_MARGIN 8
struct fg_deployment {
    char *provider;
    char *model;      /* upstream id, defaults to the model's */
    char *deployment; /* azure_openai: the Azure deployment name (defaults to
                         the model's deployment, else `model`); else NULL */
    int provider_index;
    int line;
};

struct fg_model_cfg {
    char *name;                       /* what clients send */
    char *provider;                   /* provider name */
    char *model;                      /* upstream id (defaults to name) */
    char *deployment;                 /* azure_openai provider: the Azure deployment
                                         name in its URLs and bodies (defaults to
                                         model); else NULL */
    enum fg_dialect dialect;          /* wire dialect upstream: from the provider's
                                type; for sim: `dialect:` key or claude-* */
    struct fg_price price;            /* config override; -1 fields fall back to the
                                built-in table */
    int max_output_tokens;            /* 0 = unknown */
    struct fg_price_window *schedule; /* price_schedule: first matching window wins */
    size_t n_schedule;
    int flex;                          /* flex tier (flex.h): 1 yes, -1 no, 0 = the
                                          built-in list decides */
    int provider_index;                /* resolved index into cfg->providers */
    struct fg_deployment *deployments; /* extra deployments (the model's own
                                           provider/model is the first one) */
    size_t n_deployments;
    int line;
};

enum fg_cold_start {
    FG_COLD_CLASSIFIER, /* the generic weights decide everywhere (default) */
    FG_COLD_FRONTIER,   /* unsure calls go to the frontier model */
    FG_COLD_CHEAP,      /* unsure calls go to the cheap model */
};

struct fg_route_cfg {
    char *name, *cheap, *frontier;
    double threshold;        /* classifier score at or above which a call goes
                                to the frontier model; -1 (default) = the
                                weights' recommended operating point */
    double frontier_share;   /* if set (>= 0): pick the threshold that sends
                                this share of traffic to frontier (the weights'
                                threshold table); -1 = use threshold */
    char *weights;           /* classifier weights file; NULL = the built-in
                                data/router-weights.frw */
    double quality_target;   /* if set (> 0): the threshold is the cheapest
                                operating point whose one-sided 90% Wilson
                                lower bound on the route's held-out labels
                                meets it (route/optpoint.h); -1 = unset */
    int cold_start;          /* enum fg_cold_start: who decides where the
                                generic weights are not confident, until
                                the route has labels of its own */
    char *labels;            /* the route's held-out label file (JSON lines,
                                route/route_labels.h) for quality_target */
    bool frontier_on_tools;  /* calls with tools go to frontier */
    bool frontier_on_images; /* calls with images go to frontier */
    char **escalate_on;      /* invalid_schema|truncated|refusal|empty|format|retry */
    char *format_pattern;    /* format: a PCRE2 pattern (multiline) the answer
                                text must contain, or NULL */
    char *format_schema;     /* format: a JSON Schema (JSON text) the answer
                                must satisfy, or NULL */
    int format_line;         /* line of format: in the config file */
    size_t n_escalate_on;
    /* operator rules: calls of these keys or carrying these tags go to a
     * tier ("key:ID_OR_NAME" | "tag:k=v"); frontier_for is checked first */
    char **frontier_for;
    size_t n_frontier_for;
    char **cheap_for;
    size_t n_cheap_for;
    /* shadow evaluation (`learn:`, server/learn_shadow.h); on when judge is set */
    struct {
        double sample;        /* share of the route's calls evaluated (0..1) */
        char *judge;          /* configured model that compares the answers */
        int64_t budget_micro; /* learning spend per UTC day, micro-USD */
        int retrain_every;    /* fit again after this many new labels (50) */
        int min_labels;       /* own labels that end cold_start and set
                                 quality_target's point (50; learn_point.h) */
        bool store_prompts;   /* keep the prompt text with each label */
        int line;
    } learn;
    int line;
};

struct fg_fallback_cfg {
    char *model;
    char **to;
    size_t n_to;
    int line;
};

/* A budget on every call carrying a tag (`tag_budgets:` "k=v": USD/period). */
struct fg_tag_budget_cfg {
    char *tag; /* "k=v" */
    int64_t limit_pico;
    int period; /* enum fg_period (period.h) */
    bool soft;  /* alerts only, never refuses (`{budget: 5/day, soft: true}`) */
    int line;
};

/* Budget alerts (`alerts:`, keys/alert.h). */
#define FG_ALERT_MAX_AT 8
struct fg_alerts_cfg {
    char *webhook;              /* http(s) URL the operator named, or NULL: no alerts */
    double at[FG_ALERT_MAX_AT]; /* thresholds, fractions of a limit, ascending */
    int n_at;                   /* default 2: 0.8 and 1.0 */
};

/* `gateway_budget: {usd, period, soft}`: the whole gateway's spend. */
struct fg_gateway_budget_cfg {
    int64_t limit_pico; /* 0 = none */
    int period;         /* enum fg_period */
    bool soft;          /* alerts only, never refuses */
};

struct fg_server_cfg {
    char *listen;               /* "127.0.0.1:4000" */
    int workers;                /* 0 = one per core */
    char *master_key;           /* NULL = no auth */
    size_t max_body_bytes;      /* default 33554432 (32 MiB) */
    int client_timeout_ms;      /* idle read/write on client sockets, default 120000 */
    int stream_idle_timeout_ms; /* max silence from upstream mid-stream, default 300000 */
    int shutdown_grace_ms;      /* SIGTERM drain bound, default 10000 */
    int upstream_retries;       /* retries on 429/5xx/timeouts/resets before the
                                model's fallbacks, default 2 */
    char *log_level;            /* debug|info|warn|error, default info */
    /* limits (see conn.h and api.c) */
    size_t max_header_bytes;    /* request line + headers, default 65536 (431 above) */
    int max_header_fields;      /* header fields of a request, default 100 (431 above) */
    int max_json_depth;         /* body nesting, default 64 (<= 512) */
    int max_messages;           /* messages per request, default 10000 */
    int max_connections;        /* open client connections, all workers, default 8192 */
    int max_connections_per_ip; /* per client address, default 512; 0 = no cap */
    int header_timeout_ms;      /* request line + headers must arrive within this, default 10000 */
    int body_timeout_ms;        /* the body within this after the headers, default 60000 */
    int header_timeout_busy_ms; /* header_timeout_ms while over 3/4 of max_connections
                                   are open, default 1000 */
    size_t max_body_bytes_in_flight; /* request bodies being received, all workers,
                                        default 268435456 (256 MiB) or the largest
                                        path cap if larger (gate.h) */
    char *public_url;                /* where clients reach frugal ("https://gw.example.com" or
                                with a path prefix; no trailing slash, no query or
                                fragment): the base of every URL frugal hands out.
                                NULL: path-relative URLs, never the request's Host */
};

struct fg_config {
    char *path;   /* file loaded, or NULL for built-in defaults */
    bool builtin; /* true when from fg_config_defaults() */
    struct fg_server_cfg server;
    char *storage; /* default "sqlite:frugal.db"; absolute when from a file */
    char *spool;   /* with a server storage: the ledger's spool file while it
                      is unreachable (default frugal-ledger.spool next to the
                      config file; spool.h) */

    char *redis; /* redis://[:password@]host[:port][/db] shared by replicas, or NULL */
    struct {
        char *access; /* the access log (alog.h): "off" (default), "stdout" or a
                         file path (absolute when from a file) */
    } log;
    struct {
        char *on_store_down; /* "fail_closed" (default) | "local": Redis unreachable */
        int lease_seconds;   /* a call's budget hold expires after this (default 1h) */
    } budgets;
    struct fg_provider_cfg *providers;
    size_t n_providers;
    struct fg_model_cfg *models;
    size_t n_models;
    struct fg_route_cfg *routes;
    size_t n_routes;
    struct fg_fallback_cfg *fallbacks;
    size_t n_fallbacks;
    struct fg_tag_budget_cfg *tag_budgets;
    size_t n_tag_budgets;
    struct fg_alerts_cfg alerts;
    struct fg_gateway_budget_cfg gateway_budget;
    struct {
        bool auto_breakpoints;
        int ttl_seconds;
        bool openai_cache_key;
        int affinity_margin; /* a prefix leaves the deployment holding its cache
                                 when that one has more than this many calls in
                                 flight beyond the least-loaded deployment
                                 (default FG_CONFIG_AFFINITY_MARGIN) */
    } prompt_caching;
    struct {
        bool enabled;
        int ttl_seconds;
        size_t max_bytes;    /* LRU bound, default 64 MiB */
        bool shared;         /* false: entries are partitioned per client key */
        bool allow_sampling; /* also cache calls with temperature > 0 */
    } response_cache;
    struct {
        bool store;            /* keep what replays a conversation (respstate.h), default true */
        int retention_seconds; /* how long a stored response lives, default 30 days */
        size_t max_bytes;      /* cap per stored response, default 4 MiB */
    } responses;
    struct {
        bool validate; /* check answers against the requested schema */
        bool repair;   /* strip fences/prose, close truncated objects when safe */
        int retries;   /* retries on the same model after a failed check */
        char *stream;  /* "validate_at_end" (stream through, error event on
                                 failure) | "buffer" (validate, then stream) */
    } structured_output;
    struct {
        int window_seconds;    /* completion window: unfinished lines expire after
                                 it (default 24h, the providers' window) */
        int poll_ms;           /* first provider poll after submission (default
                                 1000); then x1.5 per poll up to poll_max_ms */
        int poll_max_ms;       /* default 60000 */
        int local_concurrency; /* lines in flight per batch in local mode (8) */
        int local_rps;         /* local-mode line starts per second, 0 = unbounded */
        size_t max_file_bytes; /* upload limit (default 200 MiB, OpenAI's) */
        int max_lines;         /* lines per batch (default 50,000) */
        int retention_days;    /* files expire after (default 30) */
        char *storage;         /* sqlite:PATH or postgres://… of files and
                                 batches; NULL: `storage` when SQLite */
        int lease_ms;          /* a shared (Postgres) batch store: how long a
                                 replica's claim on a batch lasts unrenewed
                                 (default 20000; renewed every tick) */
    } batches;
    struct {
        int window_ms;      /* deferred calls collected into one provider batch (2000) */
        int min_deadline_s; /* shortest deadline worth a provider batch (60) */
        int max_deadline_s; /* cap of any deadline (540: the SDKs give up at 600) */
        char **defer_for;   /* "key:ID_OR_NAME" | "tag:k=v": calls deferred without
                               the header, with the deadline max_deadline */
        size_t n_defer_for;
    } deferral;
};

/* Growable list of error lines; owned by the caller. */
struct fg_config_errlist {
    char **lines;
    size_t n;
};
void fg_config_errlist_add(struct fg_config_errlist *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fg_config_errlist_free(struct fg_config_errlist *l);

int fg_config_load(const char *path, struct fg_config **out, struct fg_config_errlist *errs);
/* As fg_config_load; flags FG_CONFIG_NO_SECRETS: an unset `env:` variable
 * is no error and the value stays the literal "env:NAME" (for commands that
 * only read storage: report, keys). */
#define FG_CONFIG_NO_SECRETS 1
int fg_config_load_opts(const char *path, int flags, struct fg_config **out,
                        struct fg_config_errlist *errs);
/* As fg_config_load, from YAML text in memory; `name` is the file name used
 * in messages (and in cfg->path). */
int fg_config_load_buffer(const char *name, const char *buf, size_t len, struct fg_config **out,
                          struct fg_config_errlist *errs);
int fg_config_defaults(struct fg_config **out, struct fg_config_errlist *errs);
void fg_config_free(struct fg_config *cfg);
/* Where files and batches are kept: batches.storage (sqlite:PATH or
 * postgres://…), else `storage` (the ledger's database, either kind). */
const char *fg_config_batch_storage(const struct fg_config *c);

/* Lookups; NULL when absent.  Linear scans are fine: called once per
 * request on a handful of entries (a hash would pay off past ~50 models). */
const struct fg_model_cfg *fg_config_model(const struct fg_config *c, const char *name);
const struct fg_provider_cfg *fg_config_provider(const struct fg_config *c, const char *name);
const struct fg_route_cfg *fg_config_route(const struct fg_config *c, const char *name);

#endif
