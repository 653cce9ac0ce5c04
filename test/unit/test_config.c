/* test_config.c — unit tests for config.c: the YAML loader and the
 * built-in defaults.  Every error test asserts the exact report lines
 * ("FILE:LINE: KEY: message"), since `frugal check` shows them verbatim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "affinity.h"
#include "config.h"
#include "period.h"
#include "price.h"

/* ---------- helpers ---------- */

static char g_path[64]; /* the temp file of the last load_text() */

/* Writes <yaml> to a fresh temp file and loads it. */
static int load_text(const char *yaml, struct fg_config **cfg, struct fg_config_errlist *errs)
{
    snprintf(g_path, sizeof g_path, "/tmp/frugal_test_config_XXXXXX");
    int fd = mkstemp(g_path);
    assert_true(fd >= 0);
    size_t n = strlen(yaml);
    assert_int_equal(write(fd, yaml, n), (ssize_t)n);
    close(fd);
    int rc = fg_config_load(g_path, cfg, errs);
    unlink(g_path);
    return rc;
}

/* Asserts <errs> is exactly <want> (NULL-terminated), each expected line
 * given without the leading "FILE:"; prints all lines on mismatch. */
static void check_errors(const struct fg_config_errlist *errs, const char *file,
                         const char *const *want)
{
    size_t n = 0;
    char buf[1024];
    while (want[n])
        n++;
    if (errs->n != n)
        for (size_t i = 0; i < errs->n; i++)
            print_message("  got: %s\n", errs->lines[i]);
    assert_int_equal(errs->n, n);
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "%s:%s", file, want[i]);
        assert_string_equal(errs->lines[i], buf);
    }
}

#define EXPECT_ERRORS(errs, ...)                                                                   \
    check_errors((errs), g_path, (const char *const[]){__VA_ARGS__, NULL})

/* Loads <yaml>, which must fail with exactly the given errors. */
#define EXPECT_LOAD_ERRORS(yaml, ...)                                                              \
    do {                                                                                           \
        struct fg_config *c_ = (struct fg_config *)1;                                              \
        struct fg_config_errlist e_ = {0};                                                         \
        assert_int_equal(load_text((yaml), &c_, &e_), -1);                                         \
        assert_null(c_);                                                                           \
        EXPECT_ERRORS(&e_, __VA_ARGS__);                                                           \
        fg_config_errlist_free(&e_);                                                               \
    } while (0)

/* Loads <yaml>, which must succeed; returns the config. */
static struct fg_config *load_ok(const char *yaml)
{
    struct fg_config *cfg = NULL;
    struct fg_config_errlist errs = {0};
    int rc = load_text(yaml, &cfg, &errs);
    for (size_t i = 0; i < errs.n; i++)
        print_message("  unexpected: %s\n", errs.lines[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.n, 0);
    assert_non_null(cfg);
    fg_config_errlist_free(&errs);
    return cfg;
}

static int clean_env(void **state)
{
    static const char *const vars[] = {
        "OPENAI_API_KEY",    "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
        "FRUGAL_MASTER_KEY", "FRUGAL_LISTEN",     "FRUGAL_TEST_KEY", "FRUGAL_TEST_UNSET",
        "FRUGAL_TEST_EMPTY", "FRUGAL_TEST_URL",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    return 0;
}

/* ---------- the DESIGN.md example ---------- */

/* Lines 1-24 of the DESIGN.md example, verbatim. */
#define DESIGN_HEAD                                                                                \
    "server:\n"                                                                                    \
    "  listen: 127.0.0.1:4000        # default\n"                                                  \
    "  workers: 0                    # 0 = one per core\n"                                         \
    "  master_key: env:FRUGAL_MASTER_KEY   # optional; when set, clients must send it\n"           \
    "storage: sqlite:frugal.db       # embedded default; later also postgres://...\n"              \
    "providers:\n"                                                                                 \
    "  - name: openai\n"                                                                           \
    "    type: openai                # openai | anthropic | sim\n"                                 \
    "    base_url: https://api.openai.com/v1\n"                                                    \
    "    api_key: env:OPENAI_API_KEY\n"                                                            \
    "    batch: provider             # provider (its batch API, 50% off) | local\n"                \
    "  - name: anthropic\n"                                                                        \
    "    type: anthropic\n"                                                                        \
    "    base_url: https://api.anthropic.com\n"                                                    \
    "    api_key: env:ANTHROPIC_API_KEY\n"                                                         \
    "models:                         # names clients send; price in USD per 1M tokens,\n"          \
    "                                # same field names as ../shared/data/prices.json\n"           \
    "  - name: gpt-4o-mini\n"                                                                      \
    "    provider: openai\n"                                                                       \
    "    model: gpt-4o-mini          # upstream id, defaults to name\n"                            \
    "    price: {input: 0.15, cache_read: 0.075, output: 0.60, batch_input: 0.075, "               \
    "batch_output: 0.30}\n"                                                                        \
    "  - name: claude-haiku-4-5\n"                                                                 \
    "    provider: anthropic\n"                                                                    \
    "    price: {input: 1.00, cache_read: 0.10, cache_write_5m: 1.25, "                            \
    "cache_write_1h: 2.00, output: 5.00}\n"

/* Lines 25-35 of the DESIGN.md example, verbatim. */
#define DESIGN_TAIL                                                                                \
    "routes:                         # virtual models\n"                                           \
    "  - name: auto\n"                                                                             \
    "    cheap: gpt-4o-mini\n"                                                                     \
    "    frontier: gpt-4o\n"                                                                       \
    "    threshold: 0.5\n"                                                                         \
    "    escalate_on: [invalid_schema, truncated, refusal, empty]\n"                               \
    "fallbacks:                      # tried in order on 429/5xx/timeouts after retries\n"         \
    "  gpt-4o: [claude-sonnet-5]\n"                                                                \
    "prompt_caching: {auto_breakpoints: true, ttl: 5m, openai_cache_key: true}\n"                  \
    "response_cache: {enabled: true, ttl: 1h}\n"                                                   \
    "structured_output: {validate: true, retries: 1}\n"

/* The models the example's route and fallback name, which it omits. */
#define DESIGN_EXTRA_MODELS                                                                        \
    "  - {name: gpt-4o, provider: openai}\n"                                                       \
    "  - {name: claude-sonnet-5, provider: anthropic}\n"

static void set_design_env(void)
{
    setenv("OPENAI_API_KEY", "sk-openai-test", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant-test", 1);
    setenv("FRUGAL_MASTER_KEY", "master-secret", 1);
}

static void test_design_example_loads(void **state)
{
    set_design_env();
    struct fg_config *c = load_ok(DESIGN_HEAD DESIGN_EXTRA_MODELS DESIGN_TAIL);

    assert_false(c->builtin);
    assert_string_equal(c->path, g_path);
    assert_string_equal(c->server.listen, "127.0.0.1:4000");
    assert_int_equal(c->server.workers, 0);
    assert_string_equal(c->server.master_key, "master-secret");
    assert_int_equal(c->server.max_body_bytes, 32u << 20);
    assert_int_equal(c->server.client_timeout_ms, 120000);
    assert_int_equal(c->server.stream_idle_timeout_ms, 300000);
    assert_int_equal(c->server.shutdown_grace_ms, 10000);
    assert_string_equal(c->server.log_level, "info");
    /* a relative sqlite path is next to the config file (/tmp here) */
    char *tmp = realpath("/tmp", NULL), want[128];
    snprintf(want, sizeof want, "sqlite:%s/frugal.db", tmp);
    free(tmp);
    assert_string_equal(c->storage, want);

    assert_int_equal(c->n_providers, 2);
    const struct fg_provider_cfg *p = &c->providers[0];
    assert_string_equal(p->name, "openai");
    assert_int_equal(p->type, FG_PROV_OPENAI);
    assert_string_equal(p->base_url, "https://api.openai.com/v1");
    assert_string_equal(p->api_key, "sk-openai-test");
    assert_string_equal(p->batch, "provider");
    assert_string_equal(p->anthropic_version, "2026-10-21");
    assert_int_equal(p->timeout_ms, 600000);
    assert_int_equal(p->connect_timeout_ms, 5000);
    assert_int_equal(p->line, 7);
    p = &c->providers[1];
    assert_string_equal(p->name, "anthropic");
    assert_int_equal(p->type, FG_PROV_ANTHROPIC);
    assert_string_equal(p->base_url, "https://api.anthropic.com");
    assert_string_equal(p->api_key, "sk-ant-test");
    assert_int_equal(p->line, 12);

    assert_int_equal(c->n_models, 4);
    const struct fg_model_cfg *m = &c->models[0];
    assert_string_equal(m->name, "gpt-4o-mini");
    assert_string_equal(m->provider, "openai");
    assert_string_equal(m->model, "gpt-4o-mini");
    assert_int_equal(m->provider_index, 0);
    assert_int_equal(m->dialect, FG_DIALECT_OPENAI);
    assert_int_equal(m->line, 18);
    assert_int_equal(m->max_output_tokens, 0);
    assert_int_equal(m->price.input, 150000);
    assert_int_equal(m->price.cache_read, 75000);
    assert_int_equal(m->price.output, 600000);
    assert_int_equal(m->price.batch_input, 75000);
    assert_int_equal(m->price.batch_output, 300000);
    assert_int_equal(m->price.cache_write_5m, -1);
    assert_int_equal(m->price.cache_write_1h, -1);
    m = &c->models[1];
    assert_string_equal(m->name, "claude-haiku-4-5");
    assert_string_equal(m->model, "claude-haiku-4-5"); /* defaults to name */
    assert_int_equal(m->provider_index, 1);
    assert_int_equal(m->dialect, FG_DIALECT_ANTHROPIC);
    assert_int_equal(m->price.input, 1000000);
    assert_int_equal(m->price.cache_read, 100000);
    assert_int_equal(m->price.cache_write_5m, 1250000);
    assert_int_equal(m->price.cache_write_1h, 2000000);
    assert_int_equal(m->price.output, 5000000);
    assert_int_equal(m->price.batch_input, -1);
    assert_int_equal(m->price.batch_output, -1);
    assert_int_equal(c->models[3].provider_index, 1);

    assert_int_equal(c->n_routes, 1);
    const struct fg_route_cfg *r = &c->routes[0];
    assert_string_equal(r->name, "auto");
    assert_string_equal(r->cheap, "gpt-4o-mini");
    assert_string_equal(r->frontier, "gpt-4o");
    assert_true(r->threshold == 0.5);
    assert_int_equal(r->n_escalate_on, 4);
    assert_string_equal(r->escalate_on[0], "invalid_schema");
    assert_string_equal(r->escalate_on[3], "empty");
    assert_int_equal(r->line, 28);

    assert_int_equal(c->n_fallbacks, 1);
    assert_string_equal(c->fallbacks[0].model, "gpt-4o");
    assert_int_equal(c->fallbacks[0].n_to, 1);
    assert_string_equal(c->fallbacks[0].to[0], "claude-sonnet-5");
    assert_int_equal(c->fallbacks[0].line, 34);

    assert_true(c->prompt_caching.auto_breakpoints);
    assert_int_equal(c->prompt_caching.ttl_seconds, 300);
    assert_true(c->prompt_caching.openai_cache_key);
    assert_true(c->response_cache.enabled);
    assert_int_equal(c->response_cache.ttl_seconds, 3600);
    assert_true(c->structured_output.validate);
    assert_int_equal(c->structured_output.retries, 1);

    assert_ptr_equal(fg_config_model(c, "claude-haiku-4-5"), &c->models[1]);
    assert_null(fg_config_model(c, "auto"));
    assert_null(fg_config_model(c, NULL));
    assert_ptr_equal(fg_config_provider(c, "anthropic"), &c->providers[1]);
    assert_null(fg_config_provider(c, "sim"));
    assert_ptr_equal(fg_config_route(c, "auto"), &c->routes[0]);
    assert_null(fg_config_route(c, "gpt-4o"));
    fg_config_free(c);
}

/* The example as printed names gpt-4o and claude-sonnet-5 without
 * defining them: exactly those references are reported. */
static void test_design_example_verbatim_references(void **state)
{
    set_design_env();
    EXPECT_LOAD_ERRORS(DESIGN_HEAD DESIGN_TAIL, "28: routes[0].frontier: unknown model \"gpt-4o\"",
                       "32: fallbacks.gpt-4o: unknown model \"gpt-4o\"",
                       "32: fallbacks.gpt-4o[0]: unknown model \"claude-sonnet-5\"");
}

/* ---------- error reporting ---------- */

static void test_unknown_nested_key(void **state)
{
    EXPECT_LOAD_ERRORS("providers:\n"
                       "  - name: s\n"
                       "    type: sim\n"
                       "models:\n"
                       "  - name: m\n"
                       "    provider: s\n"
                       "    price:\n"
                       "      input: 1\n"
                       "      inptu: 2\n"
                       "  - name: n\n"
                       "    provider: s\n"
                       "    price: {output: 1, cache_write: 2}\n"
                       "colour: blue\n",
                       "9: models[0].price.inptu: unknown key",
                       "12: models[1].price.cache_write: unknown key", "13: colour: unknown key");
}

static void test_many_errors_all_reported(void **state)
{
    EXPECT_LOAD_ERRORS(
        "server:\n"
        "  listen: localhost\n"
        "  workers: four\n"
        "  tls: true\n"
        "providers:\n"
        "  - name: p\n"
        "    type: openai\n"
        "    api_key: env:FRUGAL_TEST_UNSET\n"
        "    batch: sometimes\n"
        "models:\n"
        "  - provider: p\n"
        "    price: {input: -1, output: 0.1234567}\n"
        "response_cache: {enabled: yes, ttl: 5 minutes}\n",
        "2: server.listen: expected host:port, e.g. 127.0.0.1:4000",
        "3: server.workers: expected an integer, got \"four\"", "4: server.tls: unknown key",
        "8: providers[0].api_key: environment variable FRUGAL_TEST_UNSET is not set",
        "9: providers[0].batch: must be provider or local",
        "11: models[0].name: missing required key",
        "12: models[0].price.input: must not be negative (got \"-1\")",
        "12: models[0].price.output: more than 6 decimal places (prices are exact to "
        "0.000001 USD) (got \"0.1234567\")",
        "13: response_cache.enabled: expected true or false, got \"yes\"",
        "13: response_cache.ttl: expected a duration like 30s, 5m, 1h or a number of "
        "seconds (got \"5 minutes\")");
}

/* responses: false marks a Chat-Completions-only provider (default true). */
static void test_provider_responses(void **state)
{
    struct fg_config *c = load_ok("providers:\n"
                                  "  - {name: o, type: openai}\n"
                                  "  - {name: chat, type: openai, responses: false}\n"
                                  "  - {name: s, type: sim, responses: false}\n");
    assert_true(c->providers[0].responses);
    assert_false(c->providers[1].responses);
    assert_false(c->providers[2].responses);
    fg_config_free(c);
    EXPECT_LOAD_ERRORS(
        "providers:\n"
        "  - {name: o, type: openai, responses: sometimes}\n"
        "  - name: a\n"
        "    type: anthropic\n"
        "    responses: false\n",
        "2: providers[0].responses: expected true or false, got \"sometimes\"",
        "5: providers[1].responses: applies to OpenAI-dialect providers; an anthropic "
        "provider has no Responses API (Responses calls to its models are always "
        "translated)");
}

/* type: azure_openai: a resource endpoint, an api_version and deployment
 * names (defaulting to the model's upstream id), all checked. */
static void test_provider_azure(void **state)
{
    struct fg_config *c = load_ok("providers:\n"
                                  "  - name: az\n"
                                  "    type: azure_openai\n"
                                  "    base_url: https://team.openai.azure.com/\n"
                                  "    api_version: 2024-10-21\n"
                                  "  - {name: az2, type: azure_openai, base_url: 'http://h', "
                                  "api_version: v1}\n"
                                  "models:\n"
                                  "  - {name: gpt-4o-mini, provider: az, deployment: team-mini,\n"
                                  "     deployments: [{provider: az2}, {provider: az2, deployment: "
                                  "other}]}\n"
                                  "  - {name: gpt-4o, provider: az, model: gpt-4o-2024-11-20}\n");
    assert_int_equal(c->providers[0].type, FG_PROV_AZURE);
    assert_string_equal(c->providers[0].base_url, "https://team.openai.azure.com");
    assert_string_equal(c->providers[0].api_version, "2024-10-21");
    assert_int_equal(c->models[0].dialect, FG_DIALECT_OPENAI);
    assert_string_equal(c->models[0].deployment, "team-mini");
    assert_string_equal(c->models[0].deployments[0].deployment, "team-mini");
    assert_string_equal(c->models[0].deployments[1].deployment, "other");
    assert_string_equal(c->models[1].deployment, "gpt-4o-2024-11-20"); /* the upstream id */
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("providers:\n"
                       "  - {name: az, type: azure_openai}\n"
                       "  - {name: o, type: openai, api_version: 2024-10-21}\n"
                       "  - {name: b, type: azure_openai, base_url: 'http://h', "
                       "api_version: '2024&x=1'}\n"
                       "models:\n"
                       "  - {name: m, provider: o, deployment: d}\n"
                       "  - {name: n, provider: az, deployment: 'a/b'}\n",
                       "2: providers[0].base_url: missing required key (an azure_openai "
                       "provider's resource endpoint, e.g. https://NAME.openai.azure.com)",
                       "2: providers[0].api_version: missing required key (e.g. 2024-10-21)",
                       "3: providers[1].api_version: applies to azure_openai providers only",
                       "4: providers[2].api_version: must be letters, digits, '-', '_' or '.' "
                       "(it goes into every URL)",
                       "6: models[0].deployment: applies to models on azure_openai providers only",
                       "7: models[1].deployment: must be an Azure deployment name: letters, "
                       "digits, '-', '_' or '.' (got \"a/b\")");
}

static void test_env_values(void **state)
{
    setenv("FRUGAL_TEST_KEY", "sk-from-env", 1);
    setenv("FRUGAL_TEST_URL", "http://127.0.0.1:9000/v1//", 1);
    struct fg_config *c = load_ok("providers:\n"
                                  "  - name: o\n"
                                  "    type: openai\n"
                                  "    api_key: env:FRUGAL_TEST_KEY\n"
                                  "    base_url: env:FRUGAL_TEST_URL\n"
                                  "  - name: s\n"
                                  "    type: sim\n");
    assert_string_equal(c->providers[0].api_key, "sk-from-env");
    assert_string_equal(c->providers[0].base_url, "http://127.0.0.1:9000/v1");
    assert_null(c->providers[1].api_key);
    assert_null(c->providers[1].base_url); /* in-process sim */
    assert_null(c->server.master_key);
    fg_config_free(c);

    setenv("FRUGAL_TEST_EMPTY", "", 1);
    EXPECT_LOAD_ERRORS("server:\n"
                       "  master_key: env:FRUGAL_TEST_EMPTY\n"
                       "providers:\n"
                       "  - name: o\n"
                       "    type: openai\n"
                       "    api_key: \"\"\n"
                       "  - name: a\n"
                       "    type: anthropic\n"
                       "    api_key: env:FRUGAL_TEST_UNSET\n"
                       "    base_url: env:9BAD\n"
                       "  - name: s\n"
                       "    type: sim\n"
                       "    base_url: ftp://example.com\n",
                       "2: server.master_key: environment variable FRUGAL_TEST_EMPTY is empty",
                       "6: providers[0].api_key: must not be empty",
                       "9: providers[1].api_key: environment variable FRUGAL_TEST_UNSET is "
                       "not set",
                       "10: providers[1].base_url: invalid environment variable name \"9BAD\"",
                       "13: providers[2].base_url: must start with http:// or https://");
}

/* server.public_url: the base of every URL frugal hands out. */
static void test_public_url(void **state)
{
    struct fg_config *c = load_ok("server:\n"
                                  "  listen: 127.0.0.1:4000\n");
    assert_null(c->server.public_url); /* path-relative URLs then */
    fg_config_free(c);
    c = load_ok("server:\n"
                "  public_url: https://gw.example.com/llm//\n");
    assert_string_equal(c->server.public_url, "https://gw.example.com/llm");
    fg_config_free(c);
    c = load_ok("server:\n"
                "  public_url: http://[::1]:4000/\n");
    assert_string_equal(c->server.public_url, "http://[::1]:4000");
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("server:\n"
                       "  public_url: gw.example.com\n",
                       "2: server.public_url: must start with http:// or https://");
    EXPECT_LOAD_ERRORS("server:\n"
                       "  public_url: https:///v1\n",
                       "2: server.public_url: URL has no host");
    EXPECT_LOAD_ERRORS("server:\n"
                       "  public_url: https://gw.example.com/?x=1\n",
                       "2: server.public_url: must not have a query (?) or fragment (#): URLs "
                       "are appended to it");
    EXPECT_LOAD_ERRORS("server:\n"
                       "  public_url: \"https://gw.example.com/#top\"\n",
                       "2: server.public_url: must not have a query (?) or fragment (#): URLs "
                       "are appended to it");
    EXPECT_LOAD_ERRORS("server:\n"
                       "  public_url: \"https://gw.example.com/a b\"\n",
                       "2: server.public_url: must be a plain URL (no spaces, quotes or control "
                       "characters)");
    EXPECT_LOAD_ERRORS("server:\n"
                       "  public_url: https://user:pw@gw.example.com\n",
                       "2: server.public_url: must not carry credentials (user:password@)");
}

/* redis: and budgets: (shared budgets across replicas, issue #19). */
static void test_redis(void **state)
{
    struct fg_config *c = load_ok("server:\n"
                                  "  listen: 127.0.0.1:4000\n");
    assert_null(c->redis);
    assert_string_equal(c->budgets.on_store_down, "fail_closed");
    assert_int_equal(c->budgets.lease_seconds, 3600);
    fg_config_free(c);
    setenv("FRUGAL_TEST_REDIS", "redis://:pw-7f3a@10.0.0.5:6380/1", 1);
    c = load_ok("redis: env:FRUGAL_TEST_REDIS\n"
                "budgets: {on_store_down: local, lease: 20m}\n");
    assert_string_equal(c->redis, "redis://:pw-7f3a@10.0.0.5:6380/1");
    assert_string_equal(c->budgets.on_store_down, "local");
    assert_int_equal(c->budgets.lease_seconds, 1200);
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("redis: http://10.0.0.5\n"
                       "budgets: {on_store_down: maybe, lease: 0, other: 1}\n",
                       "1: redis: must be redis://host[:port][/db] (a password goes before the "
                       "host: :PASSWORD@)",
                       "2: budgets.on_store_down: must be fail_closed or local",
                       "2: budgets.lease: must be positive (got \"0\")",
                       "2: budgets.other: unknown key");
    EXPECT_LOAD_ERRORS("redis: \"redis://:pw@\"\n", "1: redis: has no host (redis://host:port)");
}

static void test_wrong_types(void **state)
{
    EXPECT_LOAD_ERRORS("server: [127.0.0.1]\n"
                       "providers:\n"
                       "  name: openai\n"
                       "models:\n"
                       "  - name: m\n"
                       "    provider: [a, b]\n"
                       "  - just-a-string\n"
                       "routes: {}\n"
                       "structured_output: {validate: 1, retries: 99}\n"
                       "prompt_caching: {auto_breakpoints: {x: 1}}\n",
                       "1: server: expected a mapping, got a sequence",
                       "3: providers: expected a sequence, got a mapping",
                       "6: models[0].provider: expected a string, got a sequence",
                       "7: models[1]: expected a mapping, got a scalar",
                       "8: routes: expected a sequence, got a mapping",
                       "9: structured_output.validate: expected true or false, got \"1\"",
                       "9: structured_output.retries: must be between 0 and 10",
                       "10: prompt_caching.auto_breakpoints: expected true or false, got a "
                       "mapping");
    EXPECT_LOAD_ERRORS("server:\n"
                       "  workers: -1\n"
                       "  client_timeout_ms: 1.5\n"
                       "  shutdown_grace_ms: -5\n"
                       "  max_body_bytes: 10 parsecs\n"
                       "  log_level: verbose\n",
                       "2: server.workers: must be between 0 and 1024",
                       "3: server.client_timeout_ms: expected an integer, got \"1.5\"",
                       "4: server.shutdown_grace_ms: must be >= 0",
                       "5: server.max_body_bytes: expected a size like 1048576, 512KB or 32MB "
                       "(got \"10 parsecs\")",
                       "6: server.log_level: must be debug, info, warn or error");
}

/* routes[].learn: judge and budget required, the judge a configured model,
 * sample a ratio (shadow evaluation, learn_shadow.h). */
static void test_route_learn(void **state)
{
    struct fg_config *c = load_ok("providers:\n"
                                  "  - {name: sim, type: sim}\n"
                                  "models:\n"
                                  "  - {name: a, provider: sim}\n"
                                  "  - {name: b, provider: sim}\n"
                                  "routes:\n"
                                  "  - name: auto\n"
                                  "    cheap: a\n"
                                  "    frontier: b\n"
                                  "    learn: {sample: 0.25, judge: b, budget_usd_per_day: 2.5}\n"
                                  "  - {name: plain, cheap: a, frontier: b}\n"
                                  "  - name: own\n"
                                  "    cheap: a\n"
                                  "    frontier: b\n"
                                  "    learn: {judge: b, budget_usd_per_day: 1, retrain_every: 7,"
                                  " store_prompts: true, min_labels: 20}\n"
                                  "    quality_target: 0.9\n");
    assert_int_equal(c->routes[0].learn.retrain_every, 50); /* the default */
    assert_false(c->routes[0].learn.store_prompts);         /* features only by default */
    assert_int_equal(c->routes[2].learn.retrain_every, 7);
    assert_true(c->routes[2].learn.store_prompts);
    /* quality_target from the route's own labels: no label file needed */
    assert_float_equal(c->routes[2].quality_target, 0.9, 1e-12);
    assert_int_equal(c->routes[2].learn.min_labels, 20);
    assert_int_equal(c->routes[0].learn.min_labels, 50); /* the default */
    assert_float_equal(c->routes[0].learn.sample, 0.25, 1e-12);
    assert_string_equal(c->routes[0].learn.judge, "b");
    assert_int_equal(c->routes[0].learn.budget_micro, 2500000);
    assert_null(c->routes[1].learn.judge); /* off unless configured */
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("providers:\n"
                       "  - {name: sim, type: sim}\n"
                       "models:\n"
                       "  - {name: a, provider: sim}\n"
                       "routes:\n"
                       "  - {name: r1, cheap: a, frontier: a, learn: {sample: 2, judge: z, "
                       "budget_usd_per_day: -1}}\n"
                       "  - {name: r2, cheap: a, frontier: a, learn: {sample: 0.1, store: 1}}\n"
                       "  - {name: r3, cheap: a, frontier: a, learn: {judge: a, "
                       "budget_usd_per_day: 1, retrain_every: 0, min_labels: 0}}\n",
                       "6: routes[0].learn.sample: expected a number between 0 and 1, got \"2\"",
                       "6: routes[0].learn.budget_usd_per_day: must not be negative (got \"-1\")",
                       "6: routes[0].learn.judge: unknown model \"z\"",
                       "7: routes[1].learn.store: unknown key",
                       "7: routes[1].learn.judge: missing required key",
                       "7: routes[1].learn.budget_usd_per_day: missing required key",
                       "8: routes[2].learn.retrain_every: must be between 1 and 1000000",
                       "8: routes[2].learn.min_labels: must be between 1 and 1000000");
}

static void test_bad_references_and_duplicates(void **state)
{
    EXPECT_LOAD_ERRORS(
        "providers:\n"
        "  - {name: openai, type: openai}\n"
        "  - {name: openai, type: azure}\n"
        "models:\n"
        "  - {name: a, provider: openai}\n"
        "  - {name: b, provider: nowhere}\n"
        "  - {name: a, provider: openai}\n"
        "routes:\n"
        "  - {name: auto, cheap: a, frontier: c, threshold: 2, escalate_on: [slow]}\n"
        "  - {name: a, cheap: a, frontier: b}\n"
        "  - {name: r2, cheap: a}\n"
        "fallbacks:\n"
        "  a: [b, z, a]\n"
        "  y: [a]\n",
        "3: providers[1].type: must be openai, anthropic, azure_openai or sim (got \"azure\")",
        "3: providers[1].name: duplicate provider name \"openai\" (first "
        "defined on line 2)",
        "6: models[1].provider: unknown provider \"nowhere\"",
        "7: models[2].name: duplicate model name \"a\" (first defined on line 5)",
        "9: routes[0].threshold: expected a number between 0 and 1, got \"2\"",
        "9: routes[0].escalate_on[0]: must be invalid_schema, truncated, "
        "refusal, empty, format or retry (got \"slow\")",
        "9: routes[0].frontier: unknown model \"c\"",
        "10: routes[1].name: \"a\" is already a model name (line 5)",
        "11: routes[2].frontier: missing required key", "13: fallbacks.a[1]: unknown model \"z\"",
        "13: fallbacks.a[2]: a model cannot fall back to itself",
        "14: fallbacks.y: unknown model \"y\"");
}

static void test_missing_required_keys(void **state)
{
    EXPECT_LOAD_ERRORS(
        "providers:\n"
        "  - base_url: https://x.example\n"
        "  - name:\n"
        "    type: sim\n"
        "models:\n"
        "  - model: upstream\n"
        "routes:\n"
        "  - threshold: 0.2\n",
        "2: providers[0].type: missing required key", "2: providers[0].name: missing required key",
        "3: providers[1].name: missing required key", "6: models[0].name: missing required key",
        "6: models[0].provider: missing required key", "8: routes[0].name: missing required key",
        "8: routes[0].cheap: missing required key", "8: routes[0].frontier: missing required key");
}

/* ---------- prices ---------- */

static void test_prices_exact(void **state)
{
    struct fg_config *c =
        load_ok("providers: [{name: s, type: sim}]\n"
                "models:\n"
                "  - name: m\n"
                "    provider: s\n"
                "    price: {input: 2, output: 0.000001, cache_read: \"3.5\", cache_write_5m: 0,\n"
                "            cache_write_1h: 0.1500000, batch_input: 1234567.654321,\n"
                "            batch_output: .5}\n");
    const struct fg_price *p = &c->models[0].price;
    assert_int_equal(p->input, 2000000);
    assert_int_equal(p->output, 1);
    assert_int_equal(p->cache_read, 3500000);
    assert_int_equal(p->cache_write_5m, 0);
    assert_int_equal(p->cache_write_1h, 150000); /* trailing zeros lose nothing */
    assert_int_equal(p->batch_input, INT64_C(1234567654321));
    assert_int_equal(p->batch_output, 500000);
    fg_config_free(c);
}

static void test_prices_rejected(void **state)
{
    EXPECT_LOAD_ERRORS(
        "providers: [{name: s, type: sim}]\n"
        "models:\n"
        "  - name: m\n"
        "    provider: s\n"
        "    price:\n"
        "      input: 1e-1\n"
        "      output: 0.0000001\n"
        "      cache_read: free\n"
        "      cache_write_5m: .inf\n"
        "      cache_write_1h: 99999999999999999999\n"
        "      batch_input: [1]\n",
        "6: models[0].price.input: scientific notation is not supported; write a plain "
        "decimal like 0.15 (got \"1e-1\")",
        "7: models[0].price.output: more than 6 decimal places (prices are exact to "
        "0.000001 USD) (got \"0.0000001\")",
        "8: models[0].price.cache_read: expected a decimal number like 0.15 (got \"free\")",
        "9: models[0].price.cache_write_5m: expected a decimal number like 0.15 (got "
        "\".inf\")",
        "10: models[0].price.cache_write_1h: number too large (got "
        "\"99999999999999999999\")",
        "11: models[0].price.batch_input: expected a number, got a sequence");
}

/* models[].price_schedule: UTC windows, the call's start deciding; a
 * window past midnight belongs to the weekday it starts on. */
static void test_price_schedule(void **state)
{
    (void)state;
    struct fg_config *c =
        load_ok("providers: [{name: s, type: sim}]\n"
                "models:\n"
                "  - name: m\n"
                "    provider: s\n"
                "    price: {input: 0.30, cache_read: 0.006, output: 1.20}\n"
                "    price_schedule:\n"
                "      - {from: \"16:30\", to: \"00:30\", price: {input: 0.15, output: 0.60}}\n"
                "      - {from: \"06:00\", to: \"10:00\", days: [mon, tue], price: {output: 2}}\n");
    const struct fg_model_cfg *m = &c->models[0];
    assert_int_equal(m->n_schedule, 2);
    assert_int_equal(m->schedule[0].from_min, 16 * 60 + 30);
    assert_int_equal(m->schedule[0].to_min, 30);
    assert_int_equal(m->schedule[0].days, 0x7f);
    assert_int_equal(m->schedule[1].days, (1u << 1) | (1u << 2));
    /* 2026-12-07 is a Monday; 1796601600000 = 2026-12-07T00:00:00Z */
    const int64_t mon = INT64_C(1796601600000), H = 3600000, M = 60000;
    static const struct {
        int64_t at;
        int64_t input, output;
    } cases[] = {
        {0, 150000, 600000},       /* 00:00 Monday: Sunday's window runs on */
        {29 * M, 150000, 600000},  /* 00:29 */
        {30 * M, 300000, 1200000}, /* 00:30: back to the model's price */
        {7 * H, 300000, 2000000},  /* 07:00 Monday: the weekday window */
        {10 * H, 300000, 1200000}, /* 10:00: its end is not in it */
        {16 * H + 29 * M, 300000, 1200000},
        {16 * H + 30 * M, 150000, 600000},
        {23 * H + 59 * M, 150000, 600000},
        {3 * 24 * H + 7 * H, 300000, 1200000}, /* Thursday 07:00: not its day */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_price p;
        assert_true(fg_price_at(m, mon + cases[i].at, &p));
        assert_int_equal(p.input, cases[i].input);
        assert_int_equal(p.output, cases[i].output);
        assert_int_equal(p.cache_read, 6000); /* fields no window sets stay */
    }
    assert_string_equal(c->models[0].name, "m");
    fg_config_free(c);
    /* a window after midnight on a day the window does not start */
    c = load_ok("providers: [{name: s, type: sim}]\n"
                "models:\n"
                "  - name: m\n"
                "    provider: s\n"
                "    price: {input: 1, output: 1}\n"
                "    price_schedule:\n"
                "      - {from: \"22:00\", to: \"02:00\", days: [sun], price: {input: 0.5}}\n");
    struct fg_price p;
    assert_true(fg_price_at(&c->models[0], mon + 1 * H, &p)); /* Monday 01:00: Sunday's */
    assert_int_equal(p.input, 500000);
    assert_true(fg_price_at(&c->models[0], mon + 23 * H, &p)); /* Monday 23:00: no */
    assert_int_equal(p.input, 1000000);
    assert_true(fg_price_at(&c->models[0], mon - 1 * H, &p)); /* Sunday 23:00 */
    assert_int_equal(p.input, 500000);
    fg_config_free(c);
}

static void test_price_schedule_rejected(void **state)
{
    (void)state;
    EXPECT_LOAD_ERRORS(
        "providers: [{name: s, type: sim}]\n"
        "models:\n"
        "  - name: m\n"
        "    provider: s\n"
        "    price_schedule:\n"
        "      - {from: \"25:00\", to: \"4pm\", price: {input: 1}}\n"
        "      - {from: \"10:00\", to: \"10:00\", price: {input: 1}}\n"
        "      - {from: \"01:00\", to: \"24:00\", days: [monday], price: {}}\n"
        "      - {to: \"02:00\", price: {input: 1}, when: now}\n"
        "      - {from: \"24:00\", to: \"01:00\", price: {input: -1}}\n"
        "      - {from: \"01:00\", to: \"02:00\", days: []}\n",
        "6: models[0].price_schedule[0].from: must be between 00:00 and 23:59",
        "6: models[0].price_schedule[0].to: expected a UTC time of day like 16:30",
        "7: models[0].price_schedule[1]: from and to are the same time: the window would be "
        "empty (a whole day is from 00:00 to 24:00)",
        "8: models[0].price_schedule[2].days[0]: expected one of sun, mon, tue, wed, thu, fri, "
        "sat",
        "8: models[0].price_schedule[2].price: must set at least one price field",
        "9: models[0].price_schedule[3].when: unknown key",
        "9: models[0].price_schedule[3].from: missing required key",
        "10: models[0].price_schedule[4].from: must be between 00:00 and 23:59",
        "10: models[0].price_schedule[4].price.input: must not be negative (got \"-1\")",
        "11: models[0].price_schedule[5].price: missing required key",
        "11: models[0].price_schedule[5].days: must name at least one weekday (omit it for "
        "every day)");
}

/* providers[].cost: a server priced by the hour. */
static void test_provider_cost(void **state)
{
    (void)state;
    struct fg_config *c = load_ok("providers:\n"
                                  "  - name: gpu\n"
                                  "    type: openai\n"
                                  "    base_url: http://127.0.0.1:9/v1\n"
                                  "    cost: {per_hour_usd: 2.49, max_concurrency: 64}\n"
                                  "  - {name: api, type: openai, base_url: http://127.0.0.1:9/v1}\n"
                                  "models:\n"
                                  "  - {name: q, provider: gpu}\n");
    assert_int_equal(c->providers[0].cost.per_hour_micro, 2490000);
    assert_int_equal(c->providers[0].cost.max_concurrency, 64);
    assert_int_equal(c->providers[1].cost.per_hour_micro, -1); /* priced by the token */
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("providers:\n"
                       "  - name: gpu\n"
                       "    type: openai\n"
                       "    base_url: http://127.0.0.1:9/v1\n"
                       "    cost:\n"
                       "      per_hour_usd: -1\n"
                       "      max_concurrency: 0\n"
                       "      gpus: 8\n"
                       "  - name: gpu2\n"
                       "    type: openai\n"
                       "    base_url: http://127.0.0.1:9/v1\n"
                       "    cost: {max_concurrency: 4}\n"
                       "models:\n"
                       "  - {name: q, provider: gpu}\n",
                       "6: providers[0].cost.per_hour_usd: must not be negative (got \"-1\")",
                       "7: providers[0].cost.max_concurrency: must be between 1 and 100000",
                       "8: providers[0].cost.gpus: unknown key",
                       "12: providers[1].cost.per_hour_usd: missing required key");
}

/* Tag budgets: "k=v": USD/period, exact pico-USD. */
static void test_tag_budgets(void **state)
{
    struct fg_config *c = load_ok("tag_budgets:\n"
                                  "  team=search: 100/month\n"
                                  "  env=prod: \"$0.25/day\"\n");
    assert_int_equal(c->n_tag_budgets, 2);
    assert_string_equal(c->tag_budgets[0].tag, "team=search");
    assert_int_equal(c->tag_budgets[0].limit_pico, 100000000000000LL);
    assert_int_equal(c->tag_budgets[0].period, FG_PERIOD_MONTH);
    assert_string_equal(c->tag_budgets[1].tag, "env=prod");
    assert_int_equal(c->tag_budgets[1].limit_pico, 250000000000LL);
    assert_int_equal(c->tag_budgets[1].period, FG_PERIOD_DAY);
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("tag_budgets:\n"
                       "  team: 5/day\n"
                       "  a=1,b=2: 5/day\n"
                       "  env=dev: 5/week\n"
                       "  env=x: [1]\n",
                       "2: tag_budgets.team: a tag budget's key is one tag, k=v",
                       "3: tag_budgets.a=1,b=2: a tag budget's key is one tag, k=v",
                       "4: tag_budgets.env=dev: expected USD/period, e.g. 100/month or "
                       "5.50/day (got \"5/week\")",
                       "5: tag_budgets.env=x: expected USD/period (e.g. 100/month), got a "
                       "sequence");
}

/* Alerts, the gateway budget and soft tag budgets. */
static void test_alerts_gateway_budget(void **state)
{
    struct fg_config *c = load_ok("alerts:\n"
                                  "  webhook: https://hooks.example.com/frugal\n"
                                  "  at: [0.5, 0.9, 1.0, 1.5]\n"
                                  "gateway_budget: {usd: 250, period: day, soft: true}\n"
                                  "tag_budgets:\n"
                                  "  team=a: {budget: 5/day, soft: true}\n"
                                  "  team=b: 5/month\n");
    assert_string_equal(c->alerts.webhook, "https://hooks.example.com/frugal");
    assert_int_equal(c->alerts.n_at, 4);
    assert_true(c->alerts.at[0] == 0.5 && c->alerts.at[3] == 1.5);
    assert_int_equal(c->gateway_budget.limit_pico, 250000000000000LL);
    assert_int_equal(c->gateway_budget.period, FG_PERIOD_DAY);
    assert_true(c->gateway_budget.soft);
    assert_true(c->tag_budgets[0].soft);
    assert_int_equal(c->tag_budgets[0].limit_pico, 5000000000000LL);
    assert_false(c->tag_budgets[1].soft);
    fg_config_free(c);
    /* defaults: no webhook, 80% and 100%, no gateway budget */
    c = load_ok("alerts:\n  webhook: http://10.0.0.5:9000/x\n");
    assert_int_equal(c->alerts.n_at, 2);
    assert_true(c->alerts.at[0] == 0.8 && c->alerts.at[1] == 1.0);
    assert_int_equal(c->gateway_budget.limit_pico, 0);
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("alerts:\n"
                       "  webhook: ftp://x/y\n"
                       "  at: [0.9, 0.5, 0, x]\n"
                       "gateway_budget: {usd: -3, period: week, color: red}\n"
                       "tag_budgets:\n"
                       "  team=a: {soft: maybe}\n",
                       "2: alerts.webhook: must be an http:// or https:// URL",
                       "3: alerts.at[1]: thresholds must be in increasing order",
                       "3: alerts.at[2]: expected a fraction of the budget above 0 and at most 10 "
                       "(got \"0\")",
                       "3: alerts.at[3]: expected a fraction of the budget above 0 and at most 10 "
                       "(got \"x\")",
                       "4: gateway_budget: unknown key 'color' (usd, period, soft)",
                       "4: gateway_budget.period: must be day or month (got \"week\")",
                       "6: tag_budgets.team=a.soft: expected true or false, got \"maybe\"",
                       "6: tag_budgets.team=a: missing 'budget' (USD/period, e.g. 100/month)");
    EXPECT_LOAD_ERRORS("alerts: {at: [1.0]}\ngateway_budget: {period: day}\n",
                       "1: alerts.webhook: missing: the URL alerts are POSTed to",
                       "2: gateway_budget.usd: missing: the gateway's spend limit in USD");
    EXPECT_LOAD_ERRORS("alerts: {webhook: \"http://\"}\n",
                       "1: alerts.webhook: has no host (http://host[:port]/path)");
}

/* ---------- server, providers, models: values and defaults ---------- */

static void test_values_and_defaults(void **state)
{
    struct fg_config *c = load_ok(
        "server:\n"
        "  listen: \"[::1]:4100\"\n"
        "  workers: 8\n"
        "  max_body_bytes: 1MB\n"
        "  client_timeout_ms: 1000\n"
        "  stream_idle_timeout_ms: 2000\n"
        "  shutdown_grace_ms: 0\n"
        "  log_level: debug\n"
        "storage: \"sqlite::memory:\"\n"
        "providers:\n"
        "  - name: o\n"
        "    type: openai\n"
        "  - name: a\n"
        "    type: anthropic\n"
        "    base_url: https://proxy.example/anthropic///\n"
        "    anthropic_version: 2023-06-01\n"
        "    timeout_ms: 30000\n"
        "    connect_timeout_ms: 250\n"
        "    batch: local\n"
        "  - name: s\n"
        "    type: sim\n"
        "models:\n"
        "  - {name: fast, provider: o, model: gpt-4o-mini-2024-07-18, max_output_tokens: 100}\n"
        "  - {name: claude-x, provider: s}\n"
        "  - {name: other, provider: s}\n"
        "  - {name: plays-claude, provider: s, dialect: anthropic}\n"
        "  - {name: claude-as-openai, provider: s, dialect: openai}\n"
        "  - {name: h, provider: a, dialect: anthropic}\n"
        "routes:\n"
        "  - {name: r, cheap: fast, frontier: h}\n"
        "prompt_caching: {ttl: 1h}\n"
        "response_cache: {ttl: 30s}\n"
        "structured_output: {validate: false, retries: 0}\n");
    assert_string_equal(c->server.listen, "[::1]:4100");
    assert_int_equal(c->server.workers, 8);
    assert_int_equal(c->server.max_body_bytes, 1u << 20);
    assert_int_equal(c->server.client_timeout_ms, 1000);
    assert_int_equal(c->server.stream_idle_timeout_ms, 2000);
    assert_int_equal(c->server.shutdown_grace_ms, 0);
    assert_string_equal(c->server.log_level, "debug");
    assert_string_equal(c->storage, "sqlite::memory:");

    assert_string_equal(c->providers[0].base_url, "https://api.openai.com/v1");
    assert_null(c->providers[0].api_key);
    const struct fg_provider_cfg *a = &c->providers[1];
    assert_string_equal(a->base_url, "https://proxy.example/anthropic");
    assert_string_equal(a->anthropic_version, "2023-06-01");
    assert_int_equal(a->timeout_ms, 30000);
    assert_int_equal(a->connect_timeout_ms, 250);
    assert_string_equal(a->batch, "local");
    assert_int_equal(c->providers[2].type, FG_PROV_SIM);
    assert_null(c->providers[2].base_url);

    assert_string_equal(c->models[0].model, "gpt-4o-mini-2024-07-18");
    assert_int_equal(c->models[0].max_output_tokens, 100);
    assert_int_equal(c->models[0].dialect, FG_DIALECT_OPENAI);
    assert_int_equal(c->models[1].dialect, FG_DIALECT_ANTHROPIC); /* claude* on sim */
    assert_int_equal(c->models[1].provider_index, 2);
    assert_int_equal(c->models[2].dialect, FG_DIALECT_OPENAI);
    assert_int_equal(c->models[3].dialect, FG_DIALECT_ANTHROPIC);
    assert_int_equal(c->models[4].dialect, FG_DIALECT_OPENAI);
    assert_int_equal(c->models[5].dialect, FG_DIALECT_ANTHROPIC);
    assert_true(c->routes[0].threshold == -1);
    assert_int_equal(c->routes[0].n_escalate_on, 0);

    assert_true(c->prompt_caching.auto_breakpoints);
    assert_int_equal(c->prompt_caching.ttl_seconds, 3600);
    assert_false(c->response_cache.enabled);
    assert_int_equal(c->response_cache.ttl_seconds, 30);
    assert_false(c->structured_output.validate);
    assert_int_equal(c->structured_output.retries, 0);
    fg_config_free(c);
}

static void test_sizes_and_durations(void **state)
{
    static const struct {
        const char *text;
        size_t bytes;
    } sizes[] = {
        {"4096", 4096}, {"64KiB", 65536}, {"2 mb", 2u << 20}, {"1g", 1u << 30}, {"7B", 7},
    };
    static const struct {
        const char *text;
        int secs;
    } ttls[] = {
        {"300", 300}, {"30s", 30}, {"5m", 300}, {"1h", 3600}, {"2d", 172800},
    };
    char yaml[256];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintf(yaml, sizeof yaml, "server: {max_body_bytes: %s}\n", sizes[i].text);
        struct fg_config *c = load_ok(yaml);
        assert_int_equal(c->server.max_body_bytes, sizes[i].bytes);
        fg_config_free(c);
    }
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
        snprintf(yaml, sizeof yaml, "response_cache: {ttl: %s}\n", ttls[i].text);
        struct fg_config *c = load_ok(yaml);
        assert_int_equal(c->response_cache.ttl_seconds, ttls[i].secs);
        fg_config_free(c);
    }
    EXPECT_LOAD_ERRORS("prompt_caching: {ttl: 0}\n"
                       "response_cache: {ttl: 1.5h}\n"
                       "server: {max_body_bytes: 0}\n",
                       "1: prompt_caching.ttl: must be positive (got \"0\")",
                       "2: response_cache.ttl: expected a duration like 30s, 5m, 1h or a "
                       "number of seconds (got \"1.5h\")",
                       "3: server.max_body_bytes: must be positive (got \"0\")");
}

/* responses: defaults (store, 30 days, 4 MiB) and every key read. */
static void test_responses_section(void **state)
{
    struct fg_config *c = load_ok("server: {workers: 1}\n");
    assert_true(c->responses.store);
    assert_int_equal(c->responses.retention_seconds, 30 * 86400);
    assert_int_equal(c->responses.max_bytes, 4u << 20);
    fg_config_free(c);
    c = load_ok("responses: {store: false, retention: 12h, max_bytes: 1MB}\n");
    assert_false(c->responses.store);
    assert_int_equal(c->responses.retention_seconds, 12 * 3600);
    assert_int_equal(c->responses.max_bytes, 1u << 20);
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("responses: {store: maybe, keep: 1}\n",
                       "1: responses.store: expected true or false, got \"maybe\"",
                       "1: responses.keep: unknown key");
}

/* deferral: its defaults, durations, selectors and bounds; models[].flex. */
static void test_deferral_section(void **state)
{
    struct fg_config *c = load_ok("server: {workers: 1}\n");
    assert_int_equal(c->deferral.window_ms, 2000);
    assert_int_equal(c->deferral.min_deadline_s, 60);
    assert_int_equal(c->deferral.max_deadline_s, 540);
    assert_int_equal(c->deferral.n_defer_for, 0);
    fg_config_free(c);
    c = load_ok(
        "deferral: {window_ms: 500, min_deadline: 2m, max_deadline: 5m,\n"
        "  defer_for: ['key:nightly', 'tag:team=etl']}\n"
        "providers: [{name: sim, type: sim}]\n"
        "models: [{name: a, provider: sim, model: gpt-4o, flex: true},\n"
        "  {name: b, provider: sim, model: gpt-5, flex: false}, {name: c, provider: sim}]\n");
    assert_int_equal(c->deferral.window_ms, 500);
    assert_int_equal(c->deferral.min_deadline_s, 120);
    assert_int_equal(c->deferral.max_deadline_s, 300);
    assert_int_equal(c->deferral.n_defer_for, 2);
    assert_string_equal(c->deferral.defer_for[1], "tag:team=etl");
    assert_int_equal(c->models[0].flex, 1);
    assert_int_equal(c->models[1].flex, -1);
    assert_int_equal(c->models[2].flex, 0);
    fg_config_free(c);
    EXPECT_LOAD_ERRORS(
        "deferral: {min_deadline: 10m, max_deadline: 5m}\n",
        "1: deferral.min_deadline: 600s is longer than deferral.max_deadline (300s): "
        "no call could go into a batch");
    EXPECT_LOAD_ERRORS("deferral: {max_deadline: 2h}\n",
                       "1: deferral.max_deadline: at most 1h: a client holding its request open "
                       "longer is not waiting (got 7200s)");
    EXPECT_LOAD_ERRORS("deferral: {window_ms: 0, defer_for: [bob], later: 1}\n",
                       "1: deferral.window_ms: must be between 1 and 600000",
                       "1: deferral.later: unknown key",
                       "1: deferral.defer_for[0]: must be \"key:ID_OR_NAME\" or \"tag:k=v\" "
                       "(got \"bob\")");
    EXPECT_LOAD_ERRORS("providers: [{name: sim, type: sim}]\n"
                       "models: [{name: a, provider: sim, flex: sometimes}]\n",
                       "2: models[0].flex: must be true or false (got \"sometimes\")");
}

static void test_listen_validation(void **state)
{
    static const struct {
        const char *listen, *msg;
    } bad[] = {
        {"127.0.0.1:65536", "port must be a number between 0 and 65535"},
        {"host:http", "port must be a number between 0 and 65535"},
        {"\"::1:4000\"", "IPv6 addresses must be in brackets, e.g. [::1]:4000"},
        {"\":4000\"", "host is empty (use 0.0.0.0:PORT for all interfaces)"},
        {"\"[::1]4000\"", "expected [IPv6-address]:port, e.g. [::1]:4000"},
        {"4000", "expected host:port, e.g. 127.0.0.1:4000"},
    };
    char yaml[128], want[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, "server:\n  listen: %s\n", bad[i].listen);
        snprintf(want, sizeof want, "2: server.listen: %s", bad[i].msg);
        EXPECT_LOAD_ERRORS(yaml, want);
    }
    struct fg_config *c = load_ok("server: {listen: \"0.0.0.0:65535\"}\n");
    assert_string_equal(c->server.listen, "0.0.0.0:65535");
    fg_config_free(c);
}

static void test_dialect_on_real_provider(void **state)
{
    EXPECT_LOAD_ERRORS("providers: [{name: o, type: openai}]\n"
                       "models:\n"
                       "  - name: m\n"
                       "    provider: o\n"
                       "    dialect: anthropic\n"
                       "  - {name: n, provider: o, dialect: grpc}\n",
                       "5: models[0].dialect: provider \"o\" is not a sim provider; its type "
                       "fixes the dialect",
                       "6: models[1].dialect: must be openai or anthropic (got \"grpc\")");
}

static void test_deployments_and_affinity_margin(void **state)
{
    struct fg_config *c =
        load_ok("providers: [{name: east, type: sim}, {name: west, type: sim}]\n"
                "models:\n"
                "  - name: m\n"
                "    provider: east\n"
                "    model: up-m\n"
                "    deployments: [{provider: west}, {provider: west, model: m2}]\n");
    assert_int_equal(c->prompt_caching.affinity_margin, FG_CONFIG_AFFINITY_MARGIN);
    assert_int_equal(c->models[0].n_deployments, 2);
    assert_int_equal(c->models[0].deployments[0].provider_index, 1);
    assert_string_equal(c->models[0].deployments[0].model, "up-m");
    assert_string_equal(c->models[0].deployments[1].model, "m2");
    fg_config_free(c);
    c = load_ok("prompt_caching: {affinity_margin: 0}\n");
    assert_int_equal(c->prompt_caching.affinity_margin, 0);
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("prompt_caching: {affinity_margin: -1}\n",
                       "1: prompt_caching.affinity_margin: must be between 0 and 1000000");
    /* the model's own provider plus 31 more at most */
    char yaml[2048] = "providers: [{name: p, type: sim}]\nmodels:\n  - name: m\n    provider: p\n"
                      "    deployments:\n";
    for (int i = 0; i < FG_AFFINITY_MAX_DEPLOYMENTS; i++)
        strcat(yaml, "      - {provider: p}\n");
    EXPECT_LOAD_ERRORS(yaml, "6: models[0].deployments: at most 31 deployments besides the "
                             "model's own provider (got 32)");
}

/* ---------- YAML-level problems ---------- */

static void test_syntax_error_line(void **state)
{
    EXPECT_LOAD_ERRORS("server:\n"
                       "  listen: 127.0.0.1:4000\n"
                       " workers: 2\n",
                       "3: (syntax): did not find expected key (while parsing a block mapping "
                       "on line 1)");
    EXPECT_LOAD_ERRORS("models:\n"
                       "  - name: a\n"
                       "    price: {input: 1\n"
                       "  - name: b\n",
                       "4: (syntax): did not find expected ',' or '}' (while parsing a flow "
                       "mapping on line 3)");
}

static void test_yaml_structure_errors(void **state)
{
    EXPECT_LOAD_ERRORS("", "1: (root): the file is empty");
    EXPECT_LOAD_ERRORS("- a\n", "1: (root): expected a mapping, got a sequence");
    EXPECT_LOAD_ERRORS("server:\n"
                       "  workers: 1\n"
                       "  workers: 2\n",
                       "3: server.workers: duplicate key");
    EXPECT_LOAD_ERRORS("storage: &s sqlite:a.db\n"
                       "server:\n"
                       "  log_level: *s\n",
                       "3: (syntax): aliases (*name) are not supported");
    /* a second document is fatal: nothing after it is checked */
    EXPECT_LOAD_ERRORS("storage: mysql://x\n---\nstorage: sqlite:x\n",
                       "2: (syntax): only one YAML document is allowed");
    EXPECT_LOAD_ERRORS("storage: mysql://x\n", "1: storage: must be sqlite:PATH or postgres://…");
}

static void test_missing_file(void **state)
{
    struct fg_config *c = (struct fg_config *)1;
    struct fg_config_errlist e = {0};
    assert_int_equal(fg_config_load("/nonexistent/frugal.yaml", &c, &e), -1);
    assert_null(c);
    check_errors(&e, "/nonexistent/frugal.yaml",
                 (const char *const[]){"0: (file): cannot open: No such file or directory", NULL});
    fg_config_errlist_free(&e);
}

/* ---------- built-in defaults ---------- */

static const char *const all_models[] = {
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "text-embedding-3-small",
    "claude-haiku-4-5",
    "claude-sonnet-4-5",
    "claude-sonnet-4-6",
    "claude-opus-4-5",
};

static struct fg_config *defaults_ok(void)
{
    struct fg_config *c = NULL;
    struct fg_config_errlist e = {0};
    assert_int_equal(fg_config_defaults(&c, &e), 0);
    assert_int_equal(e.n, 0);
    assert_non_null(c);
    return c;
}

static void check_builtin_common(const struct fg_config *c)
{
    assert_true(c->builtin);
    assert_null(c->path);
    assert_int_equal(c->n_models, 12);
    for (size_t i = 0; i < 12; i++) {
        const struct fg_model_cfg *m = fg_config_model(c, all_models[i]);
        assert_non_null(m);
        assert_string_equal(m->model, m->name);
        assert_string_equal(m->provider, c->providers[m->provider_index].name);
        assert_int_equal(m->dialect, i < 8 ? FG_DIALECT_OPENAI : FG_DIALECT_ANTHROPIC);
        assert_int_equal(m->price.input, -1);
        assert_int_equal(m->line, 0);
    }
    assert_int_equal(fg_config_model(c, "gpt-4o-mini")->max_output_tokens, 16384);
    assert_int_equal(fg_config_model(c, "gpt-4.1")->max_output_tokens, 32768);
    assert_int_equal(fg_config_model(c, "gpt-5-nano")->max_output_tokens, 128000);
    assert_int_equal(fg_config_model(c, "claude-sonnet-4-6")->max_output_tokens, 64000);
    const struct fg_route_cfg *r = fg_config_route(c, "auto");
    assert_non_null(r);
    assert_string_equal(r->cheap, "gpt-4o-mini");
    assert_string_equal(r->frontier, "gpt-4o");
    assert_true(r->threshold == -1);
    assert_int_equal(c->n_fallbacks, 0);
    assert_string_equal(c->storage, "sqlite:frugal.db");
    assert_int_equal(c->server.max_body_bytes, 32u << 20);
    assert_int_equal(c->response_cache.ttl_seconds, 3600);
    assert_false(c->response_cache.enabled);
}

static void test_defaults_without_keys(void **state)
{
    struct fg_config *c = defaults_ok();
    check_builtin_common(c);
    assert_int_equal(c->n_providers, 1);
    assert_string_equal(c->providers[0].name, "sim");
    assert_int_equal(c->providers[0].type, FG_PROV_SIM);
    assert_null(c->providers[0].base_url);
    assert_null(c->providers[0].api_key);
    assert_string_equal(fg_config_model(c, "claude-opus-4-5")->provider, "sim");
    assert_string_equal(c->server.listen, "127.0.0.1:4000");
    assert_null(c->server.master_key);
    fg_config_free(c);
}

static void test_defaults_openai_key_only(void **state)
{
    setenv("OPENAI_API_KEY", "sk-live-openai", 1);
    setenv("OPENAI_BASE_URL", "http://localhost:9999/v1/", 1);
    setenv("ANTHROPIC_API_KEY", "", 1); /* empty counts as unset */
    struct fg_config *c = defaults_ok();
    check_builtin_common(c);
    assert_int_equal(c->n_providers, 2);
    assert_string_equal(c->providers[0].name, "openai");
    assert_int_equal(c->providers[0].type, FG_PROV_OPENAI);
    assert_string_equal(c->providers[0].api_key, "sk-live-openai");
    assert_string_equal(c->providers[0].base_url, "http://localhost:9999/v1");
    assert_string_equal(c->providers[1].name, "sim");
    assert_string_equal(fg_config_model(c, "gpt-5")->provider, "openai");
    assert_int_equal(fg_config_model(c, "claude-haiku-4-5")->provider_index, 1);
    fg_config_free(c);
}

static void test_defaults_both_keys(void **state)
{
    setenv("OPENAI_API_KEY", "sk-live-openai", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant-live", 1);
    setenv("FRUGAL_MASTER_KEY", "mk", 1);
    setenv("FRUGAL_LISTEN", "[::1]:4100", 1);
    struct fg_config *c = defaults_ok();
    check_builtin_common(c);
    assert_int_equal(c->n_providers, 2);
    assert_string_equal(c->providers[0].base_url, "https://api.openai.com/v1");
    assert_string_equal(c->providers[1].name, "anthropic");
    assert_int_equal(c->providers[1].type, FG_PROV_ANTHROPIC);
    assert_string_equal(c->providers[1].api_key, "sk-ant-live");
    assert_string_equal(c->providers[1].base_url, "https://api.anthropic.com");
    assert_string_equal(c->providers[1].anthropic_version, "2026-10-21");
    assert_null(fg_config_provider(c, "sim"));
    assert_string_equal(fg_config_model(c, "claude-opus-4-5")->provider, "anthropic");
    assert_string_equal(c->server.master_key, "mk");
    assert_string_equal(c->server.listen, "[::1]:4100");
    fg_config_free(c);
}

static void test_defaults_bad_env(void **state)
{
    setenv("FRUGAL_LISTEN", "nope", 1);
    setenv("FRUGAL_MASTER_KEY", "", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant", 1);
    setenv("ANTHROPIC_BASE_URL", "api.anthropic.com", 1);
    struct fg_config *c = (struct fg_config *)1;
    struct fg_config_errlist e = {0};
    assert_int_equal(fg_config_defaults(&c, &e), -1);
    assert_null(c);
    check_errors(&e, "(built-in)",
                 (const char *const[]){
                     "0: FRUGAL_MASTER_KEY: environment variable FRUGAL_MASTER_KEY is empty",
                     "0: FRUGAL_LISTEN: expected host:port, e.g. 127.0.0.1:4000",
                     "0: ANTHROPIC_BASE_URL: must start with http:// or https://", NULL});
    fg_config_errlist_free(&e);
}

static void test_errlist(void **state)
{
    struct fg_config_errlist l = {0};
    fg_config_errlist_add(&l, "%s:%d: %s", "f", 3, "x");
    fg_config_errlist_add(&l, "second");
    assert_int_equal(l.n, 2);
    assert_string_equal(l.lines[0], "f:3: x");
    assert_string_equal(l.lines[1], "second");
    fg_config_errlist_free(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.lines);
    fg_config_free(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, clean_env, clean_env)

/* ---------- storage: a relative sqlite path is next to the config file ---------- */

static void test_storage_anchored_to_config_dir(void **state)
{
    char *tmp = realpath("/tmp", NULL), want[160];
    struct fg_config *c = load_ok("storage: sqlite:data/ledger.db\n");
    snprintf(want, sizeof want, "sqlite:%s/data/ledger.db", tmp);
    assert_string_equal(c->storage, want);
    fg_config_free(c);
    c = load_ok("storage: sqlite:/var/lib/frugal/f.db\n"); /* absolute: as written */
    assert_string_equal(c->storage, "sqlite:/var/lib/frugal/f.db");
    fg_config_free(c);
    c = load_ok("storage: \"sqlite::memory:\"\n"); /* not a file */
    assert_string_equal(c->storage, "sqlite::memory:");
    fg_config_free(c);
    free(tmp);
}

/* log.access: off by default; off and stdout as written; a relative path
 * next to the config file, like a relative sqlite: path. */
static void test_access_log(void **state)
{
    (void)state;
    char *tmp = realpath("/tmp", NULL), want[160];
    struct fg_config *c = load_ok("storage: sqlite:x.db\n");
    assert_null(c->log.access);
    fg_config_free(c);
    c = load_ok("log: {access: off}\n");
    assert_string_equal(c->log.access, "off");
    fg_config_free(c);
    c = load_ok("log: {access: stdout}\n");
    assert_string_equal(c->log.access, "stdout");
    fg_config_free(c);
    c = load_ok("log: {access: logs/access.log}\n");
    snprintf(want, sizeof want, "%s/logs/access.log", tmp);
    assert_string_equal(c->log.access, want);
    fg_config_free(c);
    c = load_ok("log: {access: /var/log/frugal/access.log}\n");
    assert_string_equal(c->log.access, "/var/log/frugal/access.log");
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("log: {acces: x}\n", "1: log.acces: unknown key");
    EXPECT_LOAD_ERRORS("log: {access: [a]}\n", "1: log.access: expected a string, got a sequence");
    free(tmp);
}

/* A server storage: batches in the same database by default (one config
 * for every replica), or in batches.storage (a SQLite file anchored like a
 * relative sqlite: path, or another postgres:// database); the ledger's
 * spool in a local file. */
static void test_postgres_storage_batches_and_spool(void **state)
{
    char *tmp = realpath("/tmp", NULL), want[160];
    struct fg_config *c = load_ok("storage: postgres://u:pw@db/frugal\n");
    assert_string_equal(fg_config_batch_storage(c), "postgres://u:pw@db/frugal");
    snprintf(want, sizeof want, "%s/frugal-ledger.spool", tmp);
    assert_string_equal(c->spool, want);
    fg_config_free(c);
    c = load_ok("storage: postgresql:///frugal?host=/run/pg\nspool: /var/spool/f.spool\n"
                "batches: {storage: sqlite:b/batches.db}\n");
    snprintf(want, sizeof want, "sqlite:%s/b/batches.db", tmp);
    assert_string_equal(fg_config_batch_storage(c), want);
    assert_string_equal(c->spool, "/var/spool/f.spool");
    fg_config_free(c);
    c = load_ok("storage: sqlite:x.db\n"); /* SQLite: batches in the ledger's file */
    assert_string_equal(fg_config_batch_storage(c), c->storage);
    fg_config_free(c);
    c = load_ok("storage: postgres://db/x\nbatches: {storage: postgres://db/x}\n");
    assert_string_equal(fg_config_batch_storage(c), "postgres://db/x");
    fg_config_free(c);
    EXPECT_LOAD_ERRORS("batches: {storage: mysql://db/x}\n",
                       "1: batches.storage: must be sqlite:PATH or postgres://…");
    /* a URL libpq cannot read is refused at load, without echoing it */
    EXPECT_LOAD_ERRORS("storage: postgres://u:Secret-Pw-1@db/x?bogus=1\n",
                       "1: storage: is not a URL libpq accepts (a malformed host or port, or an "
                       "unknown query parameter)");
    free(tmp);
}

/* env: secrets are needed only by commands that use them */
static void test_no_secrets_flag(void **state)
{
    const char *yaml = "providers: [{name: o, type: openai, api_key: env:FG_TEST_UNSET_KEY}]\n"
                       "models: [{name: gpt-4o-mini, provider: o}]\n";
    struct fg_config *c = NULL;
    struct fg_config_errlist errs = {0};
    assert_int_equal(load_text(yaml, &c, &errs), -1); /* serve: an error naming it */
    assert_non_null(strstr(errs.lines[0], "FG_TEST_UNSET_KEY is not set"));
    fg_config_errlist_free(&errs);
    snprintf(g_path, sizeof g_path, "/tmp/frugal_test_config_XXXXXX");
    int fd = mkstemp(g_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    assert_int_equal(fg_config_load_opts(g_path, FG_CONFIG_NO_SECRETS, &c, &errs), 0);
    unlink(g_path);
    assert_int_equal(errs.n, 0);
    assert_string_equal(c->providers[0].api_key, "env:FG_TEST_UNSET_KEY"); /* unresolved */
    fg_config_free(c);
}

/* ---------- limits (server.*): defaults, values, bounds, from a buffer ---------- */

static void test_limits(void **state)
{
    struct fg_config *c = load_ok("providers: [{name: s, type: sim}]\n");
    assert_int_equal(c->server.max_header_bytes, 64u << 10);
    assert_int_equal(c->server.max_header_fields, 100);
    assert_int_equal(c->server.max_json_depth, 64);
    assert_int_equal(c->server.max_messages, 10000);
    assert_int_equal(c->server.max_connections, 8192);
    assert_int_equal(c->server.max_connections_per_ip, 512);
    assert_int_equal(c->server.header_timeout_ms, 10000);
    assert_int_equal(c->server.body_timeout_ms, 60000);
    fg_config_free(c);

    c = load_ok("server:\n"
                "  max_header_bytes: 8KB\n"
                "  max_header_fields: 20\n"
                "  max_json_depth: 10\n"
                "  max_messages: 3\n"
                "  max_connections: 100\n"
                "  max_connections_per_ip: 0\n"
                "  header_timeout_ms: 500\n"
                "  body_timeout_ms: 700\n"
                "providers: [{name: s, type: sim}]\n");
    assert_int_equal(c->server.max_header_bytes, 8u << 10);
    assert_int_equal(c->server.max_header_fields, 20);
    assert_int_equal(c->server.max_json_depth, 10);
    assert_int_equal(c->server.max_messages, 3);
    assert_int_equal(c->server.max_connections, 100);
    assert_int_equal(c->server.max_connections_per_ip, 0);
    assert_int_equal(c->server.header_timeout_ms, 500);
    assert_int_equal(c->server.body_timeout_ms, 700);
    fg_config_free(c);

    EXPECT_LOAD_ERRORS("server:\n"
                       "  max_json_depth: 513\n"
                       "  max_messages: 0\n"
                       "  max_connections: 0\n"
                       "  max_connections_per_ip: -1\n"
                       "  header_timeout_ms: 0\n"
                       "  body_timeout_ms: soon\n"
                       "  max_header_bytes: 0\n"
                       "  max_header_fields: 0\n",
                       "2: server.max_json_depth: must be between 1 and 512",
                       "3: server.max_messages: must be >= 1",
                       "4: server.max_connections: must be between 1 and 1000000",
                       "5: server.max_connections_per_ip: must be between 0 and 1000000",
                       "6: server.header_timeout_ms: must be >= 1",
                       "7: server.body_timeout_ms: expected an integer, got \"soon\"",
                       "8: server.max_header_bytes: must be positive (got \"0\")",
                       "9: server.max_header_fields: must be between 1 and 10000");

    /* the same loader from memory, errors named after the given file */
    struct fg_config_errlist errs = {0};
    const char *yaml = "server: {max_messages: 7}\nproviders: [{name: s, type: sim}]\n";
    assert_int_equal(fg_config_load_buffer("mem.yaml", yaml, strlen(yaml), &c, &errs), 0);
    assert_int_equal(c->server.max_messages, 7);
    assert_string_equal(c->path, "mem.yaml");
    fg_config_free(c);
    yaml = "server: {max_messages: x}\n";
    assert_int_equal(fg_config_load_buffer("mem.yaml", yaml, strlen(yaml), &c, &errs), -1);
    assert_null(c);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.lines[0], "mem.yaml:1: server.max_messages: expected an integer, "
                                       "got \"x\"");
    fg_config_errlist_free(&errs);
    assert_int_equal(fg_config_load_buffer("empty.yaml", NULL, 0, &c, &errs), -1);
    assert_string_equal(errs.lines[0], "empty.yaml:1: (root): the file is empty");
    fg_config_errlist_free(&errs);
}

/* A config error never prints a key, even one pasted where a number goes. */
static void test_errors_redact_keys(void **state)
{
    EXPECT_LOAD_ERRORS("server:\n"
                       "  workers: sk-ant-api03-abcdefghijklmnop\n",
                       "2: server.workers: expected an integer, got \"[REDACTED]\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_route_learn),
        T(test_design_example_loads),
        T(test_design_example_verbatim_references),
        T(test_unknown_nested_key),
        T(test_many_errors_all_reported),
        T(test_provider_responses),
        T(test_provider_azure),
        T(test_env_values),
        T(test_public_url),
        T(test_redis),
        T(test_wrong_types),
        T(test_bad_references_and_duplicates),
        T(test_missing_required_keys),
        T(test_prices_exact),
        T(test_prices_rejected),
        T(test_price_schedule),
        T(test_price_schedule_rejected),
        T(test_provider_cost),
        T(test_tag_budgets),
        T(test_alerts_gateway_budget),
        T(test_values_and_defaults),
        T(test_sizes_and_durations),
        T(test_responses_section),
        T(test_deferral_section),
        T(test_listen_validation),
        T(test_dialect_on_real_provider),
        T(test_deployments_and_affinity_margin),
        T(test_syntax_error_line),
        T(test_yaml_structure_errors),
        T(test_missing_file),
        T(test_defaults_without_keys),
        T(test_defaults_openai_key_only),
        T(test_defaults_both_keys),
        T(test_defaults_bad_env),
        T(test_errlist),
        T(test_storage_anchored_to_config_dir),
        T(test_postgres_storage_batches_and_spool),
        T(test_access_log),
        T(test_no_secrets_flag),
        T(test_limits),
        T(test_errors_redact_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
