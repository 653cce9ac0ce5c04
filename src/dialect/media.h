/* media.h — what the images and documents of a request may cost, for
 * admission's worst case.
 *
 * Providers bill an image by its pixels and a PDF by its pages, not by the
 * bytes of the request, so a 90-byte image URL can cost thousands of
 * tokens.  Contract (no I/O, nothing is ever fetched):
 *  - fg_media_scan() finds every image and document in a request body of
 *    either dialect: OpenAI image_url / input_image parts and file /
 *    input_file parts, Anthropic image and document blocks (base64, url or
 *    file sources), wherever they sit in messages or system (tool results
 *    and document content included).  An image's size is read only from a
 *    data: URL's or base64 source's own bytes: the PNG, JPEG, GIF or WebP
 *    header, decoded from the base64; anything else (a URL, a file id, an
 *    unknown format) counts as the largest image.  Documents always count
 *    at the maximum pages (a PDF's page tree can hide in compressed
 *    streams, so no page count read from it is trustworthy).
 *  - fg_media_tokens() is the most input tokens the provider may bill for
 *    them on a model (upstream id, dialect), with the providers' documented
 *    formulas and caps (/work/shared/spec/providers-2.md §5): OpenAI tile
 *    models (base + tiles × tile, 512-px tiles after fitting 2048² and a
 *    768-px short side; `low` = base), patch models (32-px patches × the
 *    model's multiplier, up to its cap), Anthropic (w·h/750 up to 1,600, or
 *    28-px patches up to 4,800 on the high-resolution models; 4,600 per
 *    PDF page).  Unknown models get the largest of their dialect.
 *  - data_bytes: the base64 bytes of scanned items, which the text
 *    estimate counted as prompt text although providers do not bill them
 *    as text (admission takes them out again).
 * Items beyond FG_MEDIA_MAX are counted at the maximum. */
#ifndef FRUGAL_MEDIA_H
#define FRUGAL_MEDIA_H

#include "config.h"
#include "json.h"

#include <stdint.h>

#define FG_MEDIA_MAX 64

enum fg_media_kind { FG_MEDIA_IMAGE, FG_MEDIA_DOCUMENT };
enum fg_media_detail { FG_DETAIL_AUTO, FG_DETAIL_LOW, FG_DETAIL_HIGH, FG_DETAIL_ORIGINAL };

struct fg_media_item {
    uint8_t kind, detail;
    uint32_t w, h; /* pixels; 0 = unknown (count the maximum) */
};

struct fg_media {
    int n;            /* items described in item[] */
    int64_t extra[2]; /* further items by kind, each at the maximum */
    int64_t data_bytes;
    struct fg_media_item item[FG_MEDIA_MAX];
};

void fg_media_scan(const struct fg_json *body, struct fg_media *m);
/* Most tokens the items may cost on `model` served in dialect d. */
int64_t fg_media_tokens(const struct fg_media *m, const char *model, enum fg_dialect d);
/* Pixel size of an image from its base64 bytes (no "data:" prefix):
 * true with *w, *h for a PNG, JPEG, GIF or WebP header. */
bool fg_media_image_size(const char *b64, size_t n, uint32_t *w, uint32_t *h);

#endif
