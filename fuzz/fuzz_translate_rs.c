/* fuzz_translate_rs.c — translate_req_rs.c and translate_resp_rs.c on
 * arbitrary documents: a Responses request (after the checks the API layer
 * makes) to Chat Completions and to Anthropic, and Chat / Anthropic answers
 * to a Responses object.
 *
 * Invariants: no crash, leak or UB; a translated request is valid JSON that
 * validates as a request of the target dialect and names the upstream
 * model; a refused one is a 400 naming its field; a translated answer is
 * valid JSON with object "response" and an id starting "resp_", or a 502. */
#include "fuzz.h"
#include "provider.h"
#include "translate.h"

#include <event2/buffer.h>

static const char *const read_keys[] = {"model", "stream", "input", "instructions",
                                        "tools", "text",   "store", "max_output_tokens",
                                        NULL};

static void request(const struct fg_json *j, enum fg_dialect to, uint32_t bits)
{
    const char *why;
    struct fg_err e;
    if (fg_json_type(j, 0) != FG_J_OBJ || fg_json_check_keys(j, 0, read_keys, &why) ||
        fg_provider_responses.validate(j, FG_EP_RESPONSES, &e) < 0)
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
    fg_err_clear(&e);
    int rc = fg_translate_request(FG_DIALECT_RESPONSES, to, j, &o, &out, &n, &w, &e);
    (void)fg_translate_forced_tool(j, &o, tool, sizeof tool);
    if (rc < 0) {
        FUZZ_CHECK(e.status == 400 && e.msg[0], "refusal without a reason");
        FUZZ_CHECK(!out, "output on failure");
        return;
    }
    struct fg_json t = {0};
    FUZZ_CHECK(out && fg_json_parse(&t, out, n) == 0, "translated request is not JSON");
    struct fg_err ve;
    enum fg_endpoint ep = to == FG_DIALECT_OPENAI ? FG_EP_CHAT : FG_EP_MESSAGES;
    FUZZ_CHECK(fg_provider_ops(to)->validate(&t, ep, &ve) == 0,
               "translated request does not validate: %s: %.*s", ve.msg, (int)(n > 300 ? 300 : n),
               out);
    FUZZ_CHECK(fg_json_str_eq(&t, fg_json_get(&t, 0, "model"), "upstream-model"), "model");
    fg_json_free(&t);
    free(out);
}

static void response(const struct fg_json *j, uint32_t bits)
{
    struct evbuffer *out = evbuffer_new();
    struct fg_err e;
    for (int d = 0; d < 2; d++) {
        fg_err_clear(&e);
        const char *forced = d == 1 && (bits & 8) ? "json_answer" : NULL;
        int rc = fg_translate_response((enum fg_dialect)d, FG_DIALECT_RESPONSES, j, "client-model",
                                       forced, out, &e);
        size_t n = evbuffer_get_length(out);
        if (rc < 0) {
            FUZZ_CHECK(e.status == 502, "a malformed answer is a 502, got %d", e.status);
        } else {
            struct fg_json r = {0};
            FUZZ_CHECK(fg_json_parse(&r, (const char *)evbuffer_pullup(out, -1), n) == 0,
                       "translated answer is not JSON");
            size_t il = 0;
            int id = fg_json_get(&r, 0, "id");
            const char *s = fg_json_type(&r, id) == FG_J_STR ? fg_json_raw_str(&r, id, &il) : NULL;
            FUZZ_CHECK(s && il > 5 && !memcmp(s, "resp_", 5), "a Response id");
            FUZZ_CHECK(fg_json_str_eq(&r, fg_json_get(&r, 0, "object"), "response"), "object");
            fg_json_free(&r);
        }
        evbuffer_drain(out, n);
    }
    evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rng r = fuzz_seed(&data, &size, 1);
    uint32_t bits = fuzz_next(&r);
    struct fg_json j = {0};
    if (fg_json_parse(&j, (const char *)data, size) == 0) {
        request(&j, FG_DIALECT_OPENAI, bits);
        request(&j, FG_DIALECT_ANTHROPIC, bits);
        response(&j, bits);
    }
    fg_json_free(&j);
    return 0;
}
