/* fuzz_media.c — media.c on arbitrary bytes: image headers decoded from
 * base64 at any offset (PNG, JPEG segment walks, GIF blocks, WebP chunks)
 * and the image/document scan of a request body.
 *
 * Invariants: no access outside the input (ASan/UBSan, no overflow in the
 * token arithmetic); a size read from a header never costs more than the
 * model's maximum for an image of unknown size (what a URL reserves). */
#include "fuzz.h"
#include "json.h"
#include "media.h"

static const struct {
    const char *model;
    enum fg_dialect d;
} models[] = {
    {"gpt-4o", FG_DIALECT_OPENAI},
    {"gpt-4o-mini", FG_DIALECT_OPENAI},
    {"gpt-5.4", FG_DIALECT_OPENAI},
    {"gpt-5.6", FG_DIALECT_OPENAI},
    {"nobody-knows", FG_DIALECT_OPENAI},
    {"claude-haiku-4-5", FG_DIALECT_ANTHROPIC},
    {"claude-opus-4-7", FG_DIALECT_ANTHROPIC},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t w, h;
    if (fg_media_image_size((const char *)data, size, &w, &h)) {
        FUZZ_CHECK(w && h, "a size of 0");
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
            for (int detail = 0; detail < 4; detail++) {
                struct fg_media known = {.n = 1}, url = {.n = 1};
                known.item[0] = (struct fg_media_item){FG_MEDIA_IMAGE, (uint8_t)detail, w, h};
                url.item[0] = (struct fg_media_item){FG_MEDIA_IMAGE, (uint8_t)detail, 0, 0};
                int64_t a = fg_media_tokens(&known, models[i].model, models[i].d);
                int64_t b = fg_media_tokens(&url, models[i].model, models[i].d);
                FUZZ_CHECK(a > 0 && a <= b, "%s: %ux%u costs %lld, the maximum %lld",
                           models[i].model, w, h, (long long)a, (long long)b);
            }
        }
    }
    struct fg_json j = {0};
    if (fg_json_parse(&j, (const char *)data, size) == 0) {
        struct fg_media m;
        fg_media_scan(&j, &m);
        FUZZ_CHECK(m.n >= 0 && m.n <= FG_MEDIA_MAX && m.data_bytes <= (int64_t)size, "scan");
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
            FUZZ_CHECK(fg_media_tokens(&m, models[i].model, models[i].d) >= 0, "tokens");
    }
    fg_json_free(&j);
    return 0;
}
