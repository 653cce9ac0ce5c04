/* fuzz_config.c — the YAML config loader (config.c) on arbitrary text.
 *
 * Invariants: no crash, leak or UB; a load either succeeds with a config
 * and no error lines, or fails with at least one "FILE:LINE: KEY: message"
 * line and no config. */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fg_config *cfg = NULL;
    struct fg_config_errlist errs = {0};
    int rc = fg_config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, &errs);
    if (rc == 0) {
        FUZZ_CHECK(cfg && errs.n == 0, "loaded with %zu errors", errs.n);
        for (size_t i = 0; i < cfg->n_models; i++)
            FUZZ_CHECK(cfg->models[i].provider_index >= 0 &&
                           (size_t)cfg->models[i].provider_index < cfg->n_providers,
                       "model %zu has no provider", i);
    } else {
        FUZZ_CHECK(!cfg && errs.n > 0, "failed without an error line");
        for (size_t i = 0; i < errs.n; i++)
            FUZZ_CHECK(!strncmp(errs.lines[i], "fuzz.yaml:", 10), "%s", errs.lines[i]);
    }
    fg_config_free(cfg);
    fg_config_errlist_free(&errs);
    return 0;
}
