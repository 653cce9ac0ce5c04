/* fuzz_redact.c — redact.c on arbitrary text.
 *
 * Invariants: the returned length is the output's; the output never holds
 * a registered secret; redacting again changes nothing; a valid JSON
 * input stays valid JSON; a cut output buffer holds a prefix of the whole
 * result. */
#include "fuzz.h"
#include "redact.h"

static const char *const secrets[] = {"provider-secret-0123", "sk-ant-registered-key",
                                      "MASTER_key_42x"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
            fg_redact_add_secret(secrets[i]);
        init = 1;
    }
    const char *in = (const char *)data;
    size_t n;
    char *out = fg_redact_dup(in, size, &n);
    /* the input may hold NULs: the output then does too, so compare lengths */
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        FUZZ_CHECK(!memmem(out, n, secrets[i], strlen(secrets[i])), "secret %zu kept", i);
    size_t m;
    char *again = fg_redact_dup(out, n, &m);
    FUZZ_CHECK(m == n && !memcmp(again, out, n), "not idempotent: %.*s -> %.*s", (int)n, out,
               (int)m, again);
    if (fuzz_json_ok(in, size))
        FUZZ_CHECK(fuzz_json_ok(out, n), "JSON broken: %.*s", (int)n, out);
    char small[32];
    size_t k = fg_redact(in, size, small, sizeof small);
    FUZZ_CHECK(k == n && !memcmp(small, out, n < sizeof small - 1 ? n : sizeof small - 1),
               "cut output differs");
    free(again);
    free(out);
    return 0;
}
