/* test_media.c — image sizes from base64 headers, the providers' formulas
 * and caps per model, and finding every image/document form in a body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
#include "media.h"

#define PNG_64x48 "iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetIAAAAAElFTkSuQmCC"
#define PNG_4000x3000 "iVBORw0KGgoAAAANSUhEUgAAD6AAAAu4CAIAAAB619CwAAAAAElFTkSuQmCC"
#define JPEG_1024x768                                                                              \
    "/9j/4AAQSkZJRgABAQAAAQABAAD/4QAWRXhpZgAAAAAAAAAAAAAAAAAAAAD/wAALCAMABAABAREA/9k="
#define GIF_10x10_FRAME_3000x20 "R0lGODlhCgAKAIAAAAAAAAAAACH5BAAAAAAALAAAAAC4CxQAAAICRAEAOw=="
#define WEBP_X_800x600 "UklGRh4AAABXRUJQVlA4WAoAAAAAAAAAHwMAVwIA"
#define WEBP_L_300x200 "UklGRh4AAABXRUJQVlA4TAoAAAAvK8ExAAAAAAAA"
#define WEBP_VP8_640x480 "UklGRh4AAABXRUJQVlA4IAoAAAAAAACdASqAAuABAAAAAA=="

static void sizes_from_headers(void **state)
{
    struct {
        const char *b64;
        uint32_t w, h;
    } ok[] = {
        {PNG_64x48, 64, 48},          {PNG_4000x3000, 4000, 3000},
        {JPEG_1024x768, 1024, 768},   {GIF_10x10_FRAME_3000x20, 3000, 20},
        {WEBP_X_800x600, 800, 600},   {WEBP_L_300x200, 300, 200},
        {WEBP_VP8_640x480, 640, 480},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint32_t w, h;
        assert_true(fg_media_image_size(ok[i].b64, strlen(ok[i].b64), &w, &h));
        assert_int_equal(w, ok[i].w);
        assert_int_equal(h, ok[i].h);
    }
    /* not an image, cut short, or not plain base64: unknown */
    const char *bad[] = {"",
                         "aGVsbG8gd29ybGQ=",
                         "iVBORw0KGgo",
                         "/9j/4AAQ",
                         "iVBORw0K\\/GgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetI",
                         "R0lGODlhCgAKAIAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t w = 1, h = 1;
        assert_false(fg_media_image_size(bad[i], strlen(bad[i]), &w, &h));
    }
}

static struct fg_media scan(const char *doc)
{
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, doc, strlen(doc)), 0);
    struct fg_media m;
    fg_media_scan(&j, &m);
    fg_json_free(&j);
    return m;
}

/* Every form of both dialects is found; sizes only from data. */
static void finds_every_form(void **state)
{
    struct fg_media m = scan(
        "{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/a.png\",\"detail\":\"low\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64," PNG_64x48 "\"}},"
        "{\"type\":\"image_url\",\"image_url\":\"data:image/jpeg;base64," JPEG_1024x768 "\"},"
        "{\"type\":\"input_image\",\"image_url\":\"https://x/b.png\",\"detail\":\"high\"},"
        "{\"type\":\"file\",\"file\":{\"file_data\":\"data:application/pdf;base64,JVBERi0=\"}},"
        "{\"type\":\"text\",\"text\":\"image_url\"}]},"
        "{\"role\":\"user\",\"content\":["
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/webp\",\"data\":\"" WEBP_X_800x600
        "\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/c.png\"}},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"file\",\"file_id\":\"f\"}}]},"
        "{\"type\":\"document\",\"source\":{\"type\":\"url\",\"url\":\"https://x/d.pdf\"}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"hi\"}}]}]}");
    assert_int_equal(m.n, 9);
    assert_int_equal(m.extra[0] + m.extra[1], 0);
    const struct {
        int kind, detail;
        uint32_t w, h;
    } want[] = {
        {FG_MEDIA_IMAGE, FG_DETAIL_LOW, 0, 0},       {FG_MEDIA_IMAGE, FG_DETAIL_AUTO, 64, 48},
        {FG_MEDIA_IMAGE, FG_DETAIL_AUTO, 1024, 768}, {FG_MEDIA_IMAGE, FG_DETAIL_HIGH, 0, 0},
        {FG_MEDIA_DOCUMENT, FG_DETAIL_AUTO, 0, 0},   {FG_MEDIA_IMAGE, FG_DETAIL_AUTO, 800, 600},
        {FG_MEDIA_IMAGE, FG_DETAIL_AUTO, 0, 0},      {FG_MEDIA_IMAGE, FG_DETAIL_AUTO, 0, 0},
        {FG_MEDIA_DOCUMENT, FG_DETAIL_AUTO, 0, 0},
    };
    for (int i = 0; i < 9; i++) {
        assert_int_equal(m.item[i].kind, want[i].kind);
        assert_int_equal(m.item[i].detail, want[i].detail);
        assert_int_equal(m.item[i].w, want[i].w);
        assert_int_equal(m.item[i].h, want[i].h);
    }
    assert_true(m.data_bytes > (int64_t)strlen(PNG_64x48 JPEG_1024x768 WEBP_X_800x600));
    /* more than FG_MEDIA_MAX items: the rest counted, each at the maximum */
    char *big = malloc(1 << 16);
    size_t o = (size_t)snprintf(big, 1 << 16, "{\"messages\":[{\"role\":\"user\",\"content\":[");
    for (int i = 0; i < FG_MEDIA_MAX + 5; i++)
        o += (size_t)snprintf(big + o, (1 << 16) - o,
                              "%s{\"type\":\"image_url\",\"image_url\":"
                              "{\"url\":\"https://x/%d\"}}",
                              i ? "," : "", i);
    snprintf(big + o, (1 << 16) - o, "]}]}");
    m = scan(big);
    free(big);
    assert_int_equal(m.n, FG_MEDIA_MAX);
    assert_int_equal(m.extra[FG_MEDIA_IMAGE], 5);
    assert_int_equal(fg_media_tokens(&m, "gpt-4o", FG_DIALECT_OPENAI), (FG_MEDIA_MAX + 5) * 1445LL);
}

static int64_t one(const char *model, enum fg_dialect d, int kind, int detail, uint32_t w,
                   uint32_t h)
{
    struct fg_media m = {.n = 1};
    m.item[0] = (struct fg_media_item){(uint8_t)kind, (uint8_t)detail, w, h};
    return fg_media_tokens(&m, model, d);
}

/* The providers' documented numbers (providers-2.md §5). */
static void formulas_and_caps(void **state)
{
    const enum fg_dialect OA = FG_DIALECT_OPENAI, AN = FG_DIALECT_ANTHROPIC;
    const int I = FG_MEDIA_IMAGE, D = FG_MEDIA_DOCUMENT;
    const int AUTO = FG_DETAIL_AUTO, LOW = FG_DETAIL_LOW, HIGH = FG_DETAIL_HIGH;
    /* tile models: unknown size = the max; low = base; OpenAI's examples */
    assert_int_equal(one("gpt-4o", OA, I, AUTO, 0, 0), 1445);
    assert_int_equal(one("gpt-4o-2024-08-06", OA, I, LOW, 0, 0), 85);
    assert_int_equal(one("gpt-4o", OA, I, HIGH, 1024, 1024), 765);  /* 768² → 4 tiles */
    assert_int_equal(one("gpt-4o", OA, I, HIGH, 2048, 4096), 1105); /* 768×1536 → 6 */
    assert_int_equal(one("gpt-4o", OA, I, AUTO, 512, 512), 255);    /* one tile */
    assert_int_equal(one("gpt-4o", OA, I, AUTO, 64, 48), 255);      /* never enlarged */
    assert_int_equal(one("gpt-4o-mini", OA, I, AUTO, 0, 0), 48169);
    assert_int_equal(one("gpt-5", OA, I, AUTO, 0, 0), 1190);
    assert_int_equal(one("gpt-5.1-codex", OA, I, AUTO, 0, 0), 1190);
    assert_int_equal(one("o3", OA, I, AUTO, 0, 0), 1275);
    assert_int_equal(one("ft:gpt-4o-mini-2024-07-18", OA, I, AUTO, 0, 0), 48169);
    /* patch models: capped; a small image costs its patches */
    assert_int_equal(one("gpt-5.4", OA, I, AUTO, 0, 0), 12000);
    assert_int_equal(one("gpt-5.4-mini", OA, I, AUTO, 64, 64), 5); /* 4 × 1.2 */
    assert_int_equal(one("gpt-5.2", OA, I, AUTO, 0, 0), 7373);
    assert_int_equal(one("gpt-5-mini", OA, I, AUTO, 0, 0), 2489);
    assert_int_equal(one("o4-mini", OA, I, AUTO, 0, 0), 2642);
    assert_int_equal(one("gpt-5.6", OA, I, HIGH, 0, 0), 3000);
    assert_int_equal(one("gpt-5.6", OA, I, LOW, 0, 0), 308);
    /* gpt-5.6 auto = original: no patch budget, the pixel limit only */
    assert_int_equal(one("gpt-5.6-sol", OA, I, AUTO, 0, 0), 2048LL * 2048 * 12 / 10 + 1);
    assert_int_equal(one("gpt-5.6", OA, I, AUTO, 3200, 320), 100 * 10 * 12 / 10);
    /* unknown OpenAI model: the largest bounded cap */
    assert_int_equal(one("gpt-5.3-codex", OA, I, AUTO, 10, 10), 48169);
    /* PDFs: 100 pages of text + a page image at the default detail */
    assert_int_equal(one("gpt-4o", OA, D, AUTO, 0, 0), 100 * (1000 + 85));
    assert_int_equal(one("gpt-5.6", OA, D, AUTO, 0, 0), 100 * (1000 + 3000));
    /* Anthropic: w·h/750 up to 1,600; the high-resolution tier up to 4,800 */
    assert_int_equal(one("claude-haiku-4-5", AN, I, AUTO, 0, 0), 1600);
    assert_int_equal(one("claude-haiku-4-5-20251001", AN, I, AUTO, 1000, 1000), 1334);
    assert_int_equal(one("claude-sonnet-4-5", AN, I, AUTO, 4000, 3000), 1600);
    assert_int_equal(one("claude-3-7-sonnet-20250219", AN, I, AUTO, 0, 0), 1600);
    assert_int_equal(one("claude-opus-4-20250514", AN, I, AUTO, 0, 0), 1600);
    assert_int_equal(one("claude-opus-4-6", AN, I, AUTO, 0, 0), 1600);
    assert_int_equal(one("claude-opus-4-7", AN, I, AUTO, 0, 0), 4800);
    assert_int_equal(one("claude-opus-4-7", AN, I, AUTO, 280, 280), 103);
    assert_int_equal(one("claude-sonnet-5", AN, I, AUTO, 0, 0), 4800);
    assert_int_equal(one("claude-fable-5", AN, I, AUTO, 0, 0), 4800);
    assert_int_equal(one("claude-someday-9", AN, I, AUTO, 0, 0), 4800);
    /* PDFs: 4,600 a page, 100 pages (600 on 1M-context models) */
    assert_int_equal(one("claude-haiku-4-5", AN, D, AUTO, 0, 0), 460000);
    assert_int_equal(one("claude-opus-4-7", AN, D, AUTO, 0, 0), 600 * 4600);
    /* absurd sizes saturate at the caps, no overflow */
    assert_int_equal(one("gpt-5.4", OA, I, AUTO, 4000000000u, 4000000000u), 12000);
    assert_int_equal(one("claude-haiku-4-5", AN, I, AUTO, 4000000000u, 4000000000u), 1600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes_from_headers),
        cmocka_unit_test(finds_every_form),
        cmocka_unit_test(formulas_and_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
