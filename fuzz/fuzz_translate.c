/* fuzz_translate.c — translate*.c both ways on arbitrary documents:
 * requests (after the same checks the API layer makes), responses, forced
 * structured-output tools and error bodies.
 *
 * Invariants: no crash, leak or UB; a translated request is valid JSON that
 * validates as a request of the target dialect and names the upstream
 * model; a refused one names its field (400, param set); a translated
 * response is valid JSON or a 502; a translated error is valid JSON in the
 * client's error shape with an error status. */
#include "fuzz.h"
#include "provider.h"
#include "translate.h"

#include <event2/buffer.h>

static const char *const read_keys[] = {
    "model",          "stream", "messages", "max_tokens", "max_completion_tokens",
    "stream_options", "system", "tools",    NULL};

static int validates(const struct fg_json *j, enum fg_dialect d, struct fg_err *err)
{
    return fg_provider_ops(d)->validate(j, d == FG_DIALECT_OPENAI ? FG_EP_CHAT : FG_EP_MESSAGES,
                                        err) == 0;
}

static void request(const struct fg_json *j, enum fg_dialect from, uint32_t bits)
{
    const char *why;
    struct fg_err e;
    if (fg_json_type(j, 0) != FG_J_OBJ || fg_json_check_keys(j, 0, read_keys, &why) ||
        !validates(j, from, &e))
        return;
    struct fg_translate_opts o = {
        .upstream_model = "upstream-model",
        .anthropic_version = bits & 1 ? "2023-06-01" : "2026-10-21",
        .default_max_tokens = bits & 2 ? 0 : 4096,
        .native_structured = bits & 4,
    };
    struct fg_translate_warnings w = {0};
    char *out = NULL, tool[72];
    size_t n = 0;
    enum fg_dialect to = from == FG_DIALECT_OPENAI ? FG_DIALECT_ANTHROPIC : FG_DIALECT_OPENAI;
    fg_err_clear(&e);
    int rc = fg_translate_request(from, to, j, &o, &out, &n, &w, &e);
    if (from == FG_DIALECT_OPENAI)
        (void)fg_translate_forced_tool(j, &o, tool, sizeof tool);
    FUZZ_CHECK(w.n >= 0 && w.n <= 8, "warnings");
    if (rc < 0) {
        FUZZ_CHECK(e.status >= 400 && e.msg[0], "refusal without a reason");
        FUZZ_CHECK(!out, "output on failure");
        return;
    }
    struct fg_json t = {0};
    FUZZ_CHECK(out && fg_json_parse(&t, out, n) == 0, "translated request is not JSON: %.*s",
               (int)(n > 300 ? 300 : n), out ? out : "");
    struct fg_err ve;
    FUZZ_CHECK(validates(&t, to, &ve), "translated request does not validate: %s: %.*s", ve.msg,
               (int)(n > 300 ? 300 : n), out);
    FUZZ_CHECK(fg_json_str_eq(&t, fg_json_get(&t, 0, "model"), "upstream-model"), "model");
    fg_json_free(&t);
    free(out);
}

static void response(const struct fg_json *j, uint32_t bits)
{
    struct evbuffer *out = evbuffer_new();
    struct fg_err e;
    for (int k = 0; k < 3; k++) {
        fg_err_clear(&e);
        /* through the pair table, as the relay and the batch executor call it */
        enum fg_dialect from = k == 1 ? FG_DIALECT_OPENAI : FG_DIALECT_ANTHROPIC;
        enum fg_dialect to = k == 1 ? FG_DIALECT_ANTHROPIC : FG_DIALECT_OPENAI;
        const char *forced = k == 2 && (bits & 8) ? "json_answer" : NULL;
        int rc = fg_translate_response(from, to, j, "client-model", forced, out, &e);
        size_t n = evbuffer_get_length(out);
        if (rc == 0)
            FUZZ_CHECK(fuzz_json_ok((const char *)evbuffer_pullup(out, -1), n),
                       "translated response is not JSON");
        else
            FUZZ_CHECK(e.status == 502, "a malformed answer is a 502, got %d", e.status);
        evbuffer_drain(out, n);
    }
    evbuffer_free(out);
}

static void error_body(const uint8_t *data, size_t size, uint32_t bits)
{
    struct evbuffer *out = evbuffer_new();
    static const int statuses[] = {200, 302, 400, 401, 404, 413, 429, 500, 503, 529};
    int status = statuses[bits % (sizeof statuses / sizeof statuses[0])];
    for (int d = 0; d < 2; d++) {
        enum fg_dialect from = (enum fg_dialect)d, to = (enum fg_dialect) !d;
        int st = fg_translate_error(from, to, status, (const char *)data, size, out);
        size_t n = evbuffer_get_length(out);
        const char *s = (const char *)evbuffer_pullup(out, -1);
        FUZZ_CHECK(st >= 400, "error status %d", st);
        FUZZ_CHECK(n && fuzz_json_ok(s, n), "translated error is not JSON: %.*s",
                   (int)(n > 200 ? 200 : n), s ? s : "");
        evbuffer_drain(out, n);
    }
    evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rng r = fuzz_seed(&data, &size, 1);
    uint32_t bits = fuzz_next(&r);
    error_body(data, size, bits);
    struct fg_json j = {0};
    if (fg_json_parse(&j, (const char *)data, size) == 0) {
        request(&j, FG_DIALECT_OPENAI, bits);
        request(&j, FG_DIALECT_ANTHROPIC, bits);
        response(&j, bits);
    }
    fg_json_free(&j);
    return 0;
}
