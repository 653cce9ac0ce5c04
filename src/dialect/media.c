/* media.c — see media.h. */
#include "media.h"

#include "assert.h"
#include "price.h"

#include <math.h>
#include <string.h>

/* ---- base64, read at any byte offset (no copy of the payload) --------- */

struct b64 {
    const char *s;
    size_t n;
};

static int b64v(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decoded bytes [off, off + len) into out; false past the end or on a
 * character that is not base64 (whitespace, JSON escapes: the caller then
 * counts the largest image). */
static bool b64_at(const struct b64 *b, size_t off, uint8_t *out, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        size_t q = (off + k) / 3 * 4, r = (off + k) % 3;
        if (q + r + 1 >= b->n)
            return false;
        int c0 = b64v((unsigned char)b->s[q + r]), c1 = b64v((unsigned char)b->s[q + r + 1]);
        if (c0 < 0 || c1 < 0)
            return false;
        out[k] = (uint8_t)((c0 << (2 + 2 * r)) | (c1 >> (4 - 2 * r)));
    }
    return true;
}

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}
static uint32_t le24(const uint8_t *p)
{
    return le16(p) | (uint32_t)p[2] << 16;
}
static uint32_t be32(const uint8_t *p)
{
    return be16(p) << 16 | be16(p + 2);
}

/* ---- image headers ------------------------------------------------------ */

static bool png_size(const struct b64 *b, uint32_t *w, uint32_t *h)
{
    uint8_t x[24];
    if (!b64_at(b, 0, x, sizeof x) || memcmp(x, "\x89PNG\r\n\x1a\n", 8) ||
        memcmp(x + 12, "IHDR", 4))
        return false;
    *w = be32(x + 16);
    *h = be32(x + 20);
    return true;
}

/* The first frame's SOF, walking the segments (APPn/EXIF thumbnails are
 * skipped by their lengths, so a thumbnail's size is never taken). */
static bool jpeg_size(const struct b64 *b, uint32_t *w, uint32_t *h)
{
    uint8_t x[9];
    if (!b64_at(b, 0, x, 2) || x[0] != 0xff || x[1] != 0xd8)
        return false;
    size_t off = 2;
    for (int seg = 0; seg < 512; seg++) {
        if (!b64_at(b, off, x, 2) || x[0] != 0xff)
            return false;
        uint8_t m = x[1];
        if (m == 0xff) { /* fill byte */
            off++;
            continue;
        }
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd8)) { /* no length */
            off += 2;
            continue;
        }
        if (m == 0xd9 || m == 0xda || !b64_at(b, off + 2, x, 7))
            return false; /* image data before any frame */
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            *h = be16(x + 3);
            *w = be16(x + 5);
            return *w && *h; /* height 0: defined later (DNL) */
        }
        if (be16(x) < 2)
            return false;
        off += 2 + be16(x);
    }
    return false;
}

/* The logical screen, grown to the first frame's extent (a frame may be
 * larger than the screen it claims). */
static bool gif_size(const struct b64 *b, uint32_t *w, uint32_t *h)
{
    uint8_t x[13];
    if (!b64_at(b, 0, x, sizeof x) || memcmp(x, "GIF8", 4))
        return false;
    *w = le16(x + 6);
    *h = le16(x + 8);
    size_t off = 13 + ((x[10] & 0x80) ? 3u << ((x[10] & 7) + 1) : 0);
    for (int blocks = 0; blocks < 4096; blocks++) {
        uint8_t c;
        if (!b64_at(b, off, &c, 1))
            return false;
        if (c == 0x2c) { /* image descriptor */
            if (!b64_at(b, off + 1, x, 8))
                return false;
            uint32_t fw = le16(x) + le16(x + 4), fh = le16(x + 2) + le16(x + 6);
            *w = fw > *w ? fw : *w;
            *h = fh > *h ? fh : *h;
            return *w && *h;
        }
        if (c != 0x21) /* only extensions come before it */
            return false;
        off += 2; /* introducer, label, sub-blocks */
        for (uint8_t len = 1; len && blocks < 4096; blocks++, off += len + 1u)
            if (!b64_at(b, off, &len, 1))
                return false;
    }
    return false;
}

static bool webp_size(const struct b64 *b, uint32_t *w, uint32_t *h)
{
    uint8_t x[30];
    if (!b64_at(b, 0, x, sizeof x) || memcmp(x, "RIFF", 4) || memcmp(x + 8, "WEBP", 4))
        return false;
    if (!memcmp(x + 12, "VP8X", 4)) {
        *w = 1 + le24(x + 24);
        *h = 1 + le24(x + 27);
    } else if (!memcmp(x + 12, "VP8 ", 4) && x[23] == 0x9d && x[24] == 0x01 && x[25] == 0x2a) {
        *w = le16(x + 26) & 0x3fff;
        *h = le16(x + 28) & 0x3fff;
    } else if (!memcmp(x + 12, "VP8L", 4) && x[20] == 0x2f) {
        uint32_t bits = le16(x + 21) | (uint32_t)le16(x + 23) << 16;
        *w = 1 + (bits & 0x3fff);
        *h = 1 + ((bits >> 14) & 0x3fff);
    } else {
        return false;
    }
    return *w && *h;
}

bool fg_media_image_size(const char *s, size_t n, uint32_t *w, uint32_t *h)
{
    struct b64 b = {s, n};
    *w = *h = 0;
    if (png_size(&b, w, h) || jpeg_size(&b, w, h) || gif_size(&b, w, h) || webp_size(&b, w, h))
        return *w && *h;
    *w = *h = 0;
    return false;
}

/* ---- finding the items -------------------------------------------------- */

static void add(struct fg_media *m, enum fg_media_kind kind, enum fg_media_detail detail,
                uint32_t w, uint32_t h)
{
    if (m->n == FG_MEDIA_MAX) {
        m->extra[kind]++;
        return;
    }
    m->item[m->n++] = (struct fg_media_item){(uint8_t)kind, (uint8_t)detail, w, h};
}

static enum fg_media_detail detail_of(const struct fg_json *j, int v)
{
    if (fg_json_str_eq(j, v, "low"))
        return FG_DETAIL_LOW;
    if (fg_json_str_eq(j, v, "high"))
        return FG_DETAIL_HIGH;
    if (fg_json_str_eq(j, v, "original"))
        return FG_DETAIL_ORIGINAL;
    return FG_DETAIL_AUTO;
}

static void count_data(struct fg_media *m, const struct fg_json *j, int v)
{
    size_t n;
    if (fg_json_type(j, v) == FG_J_STR && fg_json_raw_str(j, v, &n))
        m->data_bytes += (int64_t)n;
}

/* An image given as string v: base64 itself (bare) or a URL, of which only
 * a data: URL's own bytes say its size. */
static void image(struct fg_media *m, const struct fg_json *j, int v, bool bare,
                  enum fg_media_detail detail)
{
    uint32_t w = 0, h = 0;
    size_t n;
    if (fg_json_type(j, v) == FG_J_STR) {
        const char *s = fg_json_raw_str(j, v, &n);
        count_data(m, j, v);
        if (!bare) {
            const char *comma = n > 5 && !memcmp(s, "data:", 5) ? memchr(s, ',', n) : NULL;
            bool b64 = comma && comma - s >= 12 && !memcmp(comma - 7, ";base64", 7);
            if (b64) {
                n -= (size_t)(comma + 1 - s);
                s = comma + 1;
            } else {
                n = 0;
            }
        }
        if (n)
            fg_media_image_size(s, n, &w, &h);
    }
    add(m, FG_MEDIA_IMAGE, detail, w, h);
}

/* Object i of a message tree, if it is an image or document part. */
static void part(struct fg_media *m, const struct fg_json *j, int i)
{
    int t = fg_json_get(j, i, "type");
    if (fg_json_type(j, t) != FG_J_STR)
        return;
    if (fg_json_str_eq(j, t, "image_url")) { /* OpenAI */
        int v = fg_json_get(j, i, "image_url");
        int url = fg_json_type(j, v) == FG_J_STR ? v : fg_json_get(j, v, "url");
        image(m, j, url, false, detail_of(j, fg_json_get(j, v, "detail")));
    } else if (fg_json_str_eq(j, t, "input_image")) {
        image(m, j, fg_json_get(j, i, "image_url"), false,
              detail_of(j, fg_json_get(j, i, "detail")));
    } else if (fg_json_str_eq(j, t, "image")) { /* Anthropic */
        int src = fg_json_get(j, i, "source");
        bool b64 = fg_json_str_eq(j, fg_json_get(j, src, "type"), "base64");
        image(m, j, b64 ? fg_json_get(j, src, "data") : -1, true, FG_DETAIL_AUTO);
    } else if (fg_json_str_eq(j, t, "document")) {
        int src = fg_json_get(j, i, "source"), st = fg_json_get(j, src, "type");
        /* plain-text documents are text (counted as such); a content
         * document's images are parts of their own */
        if (fg_json_str_eq(j, st, "text") || fg_json_str_eq(j, st, "content"))
            return;
        count_data(m, j, fg_json_get(j, src, "data"));
        add(m, FG_MEDIA_DOCUMENT, FG_DETAIL_AUTO, 0, 0);
    } else if ((fg_json_str_eq(j, t, "file") && fg_json_get(j, i, "file") >= 0) ||
               fg_json_str_eq(j, t, "input_file")) {
        /* (an Anthropic source {"type":"file","file_id"} is not a part) */
        int f = fg_json_get(j, i, "file");
        count_data(m, j, fg_json_get(j, f >= 0 ? f : i, "file_data"));
        add(m, FG_MEDIA_DOCUMENT, FG_DETAIL_AUTO, 0, 0);
    }
}

void fg_media_scan(const struct fg_json *body, struct fg_media *m)
{
    m->n = 0;
    m->extra[0] = m->extra[1] = 0;
    m->data_bytes = 0;
    const char *roots[] = {"messages", "system"};
    for (int r = 0; r < 2; r++) {
        int root = fg_json_get(body, 0, roots[r]);
        if (root < 0)
            continue;
        /* every object of the subtree, in one linear pass over its tokens */
        for (uint32_t i = (uint32_t)root; i < body->t[root].next; i++)
            if (fg_json_type(body, (int)i) == FG_J_OBJ)
                part(m, body, (int)i);
    }
}

/* ---- what they may cost ------------------------------------------------- */

enum family { TILE, PATCH };

/* OpenAI models (providers-2.md §5).  Tile: base, tile.  Patch: the
 * multiplier in thousandths (the larger of the current and older
 * documented values) and the cap per detail (0 = no cap). */
struct profile {
    const char *prefix;
    enum family fam;
    int base, tile, mult;
    int64_t cap, cap_low, cap_high;
};

static const struct profile openai_models[] = {
    {"gpt-4o-mini", TILE, 2833, 5667, 0, 0, 0, 0},
    {"gpt-4o", TILE, 85, 170, 0, 0, 0, 0},
    {"chatgpt-4o", TILE, 85, 170, 0, 0, 0, 0},
    {"gpt-4.1-mini", PATCH, 0, 0, 1620, 9954, 9954, 9954},
    {"gpt-4.1-nano", PATCH, 0, 0, 2460, 3779, 3779, 3779},
    {"gpt-4.1", TILE, 85, 170, 0, 0, 0, 0},
    /* auto = original on gpt-5.6: no patch budget, only the pixel limit */
    {"gpt-5.6", PATCH, 0, 0, 1200, 0, 308, 3000},
    {"gpt-5.5", PATCH, 0, 0, 1200, 12000, 308, 12000},
    {"gpt-5.4", PATCH, 0, 0, 1200, 12000, 12000, 12000},
    {"gpt-5.2", PATCH, 0, 0, 1200, 7373, 7373, 7373},
    {"gpt-5-mini", PATCH, 0, 0, 1620, 2489, 2489, 2489},
    {"gpt-5-nano", PATCH, 0, 0, 2460, 3779, 3779, 3779},
    {"gpt-5.1", TILE, 70, 140, 0, 0, 0, 0},
    {"gpt-5", TILE, 70, 140, 0, 0, 0, 0},
    {"o1", TILE, 75, 150, 0, 0, 0, 0},
    {"o3", TILE, 75, 150, 0, 0, 0, 0},
    {"o4-mini", PATCH, 0, 0, 1720, 2642, 2642, 2642},
};

/* An OpenAI model the table does not know: the largest bounded cap
 * documented (gpt-4o-mini's 48,169) for every image. */
#define OPENAI_UNKNOWN_IMAGE 48169
#define OPENAI_PDF_PAGES 100 /* unknown page count */
#define OPENAI_PDF_TEXT_PER_PAGE 1000
#define PATCH_MAX_SIDE 65535 /* gpt-5.6 original: the pixel limit */
#define TILE_MAX 8

static const struct profile *openai_profile(const char *model)
{
    if (!strncmp(model, "ft:", 3))
        model += 3;
    for (size_t i = 0; i < sizeof openai_models / sizeof openai_models[0]; i++) {
        size_t l = strlen(openai_models[i].prefix);
        if (!strncmp(model, openai_models[i].prefix, l) && (model[l] == '\0' || model[l] == '-'))
            return &openai_models[i];
    }
    return NULL;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t tile_tokens(const struct profile *p, const struct fg_media_item *it)
{
    if (it->detail == FG_DETAIL_LOW)
        return p->base;
    if (!it->w || !it->h)
        return p->base + TILE_MAX * (int64_t)p->tile;
    /* fit 2048², then a short side over 768 down to 768; never enlarged.
     * Rounding up keeps this an upper bound. */
    double w = it->w, h = it->h, big = w > h ? w : h;
    if (big > 2048)
        w *= 2048 / big, h *= 2048 / big;
    double small = w < h ? w : h;
    if (small > 768)
        w *= 768 / small, h *= 768 / small;
    int64_t tiles = (int64_t)ceil(w / 512 - 1e-9) * (int64_t)ceil(h / 512 - 1e-9);
    return p->base + (tiles < TILE_MAX ? tiles : TILE_MAX) * (int64_t)p->tile;
}

static int64_t patch_tokens(const struct profile *p, const struct fg_media_item *it)
{
    int64_t cap = it->detail == FG_DETAIL_LOW    ? p->cap_low
                  : it->detail == FG_DETAIL_HIGH ? p->cap_high
                                                 : p->cap;
    int64_t w = it->w ? it->w : PATCH_MAX_SIDE, h = it->h ? it->h : PATCH_MAX_SIDE;
    if (!cap) { /* no patch budget: only the pixel limit bounds it */
        w = w < PATCH_MAX_SIDE ? w : PATCH_MAX_SIDE;
        h = h < PATCH_MAX_SIDE ? h : PATCH_MAX_SIDE;
    }
    int64_t patches = ceil_div(w, 32) * ceil_div(h, 32);
    int64_t t = ceil_div(patches * p->mult, 1000);
    return cap && t > cap ? cap : t;
}

static int64_t openai_item(const struct profile *p, const struct fg_media_item *it)
{
    if (it->kind == FG_MEDIA_DOCUMENT) {
        /* extracted text plus one page image at the default detail (high
         * on gpt-5.6, low before), for the most pages */
        struct fg_media_item page = {
            FG_MEDIA_IMAGE, p && !strcmp(p->prefix, "gpt-5.6") ? FG_DETAIL_HIGH : FG_DETAIL_LOW, 0,
            0};
        return OPENAI_PDF_PAGES * (OPENAI_PDF_TEXT_PER_PAGE + openai_item(p, &page));
    }
    if (!p)
        return OPENAI_UNKNOWN_IMAGE;
    return p->fam == TILE ? tile_tokens(p, it) : patch_tokens(p, it);
}

/* Anthropic's high-resolution image tier: Opus 4.7+, Sonnet 5+, Haiku 5.5+,
 * Fable, Mythos, and (to be safe) any model not known to be older. */
static bool claude_hires(const char *m)
{
    if (strstr(m, "fable") || strstr(m, "mythos"))
        return true;
    if (!strncmp(m, "claude-3", 8) || !strncmp(m, "claude-4-", 9) || !strncmp(m, "claude-2", 8))
        return false;
    static const struct {
        const char *fam;
        int major, minor;
    } tier[] = {{"claude-opus-", 4, 7}, {"claude-sonnet-", 5, 0}, {"claude-haiku-", 5, 5}};
    for (size_t i = 0; i < sizeof tier / sizeof tier[0]; i++) {
        size_t l = strlen(tier[i].fam);
        if (strncmp(m, tier[i].fam, l))
            continue;
        const char *p = m + l;
        int major = 0, minor = 0;
        while (*p >= '0' && *p <= '9')
            major = major * 10 + (*p++ - '0');
        if (*p == '-' && p[1] >= '0' && p[1] <= '9' && (p[2] < '0' || p[2] > '9'))
            minor = p[1] - '0'; /* one digit: a date suffix is not a minor */
        return major > tier[i].major || (major == tier[i].major && minor >= tier[i].minor);
    }
    return true;
}

#define CLAUDE_IMAGE 1600
#define CLAUDE_IMAGE_HIRES 4800
#define CLAUDE_PDF_PAGE 4600
#define CLAUDE_PDF_PAGES 100 /* 600 on 1M-context models */

static int64_t anthropic_item(const char *model, const struct fg_media_item *it)
{
    if (it->kind == FG_MEDIA_DOCUMENT) {
        const struct fg_builtin_price *b = fg_price_lookup(model);
        int pages = b && b->max_input_tokens >= 1000000 ? 600 : CLAUDE_PDF_PAGES;
        return (int64_t)pages * CLAUDE_PDF_PAGE;
    }
    bool hi = claude_hires(model);
    int64_t cap = hi ? CLAUDE_IMAGE_HIRES : CLAUDE_IMAGE;
    if (!it->w || !it->h)
        return cap;
    int64_t t =
        hi ? ceil_div(it->w, 28) * ceil_div(it->h, 28) + 3 : ceil_div((int64_t)it->w * it->h, 750);
    return t < cap ? t : cap;
}

#define SIDE_MAX (1u << 20) /* far past every provider's limit: the caps apply */

int64_t fg_media_tokens(const struct fg_media *m, const char *model, enum fg_dialect d)
{
    const struct profile *p = d == FG_DIALECT_OPENAI ? openai_profile(model) : NULL;
    int64_t sum = 0;
    FG_ASSERT(m->n >= 0 && m->n <= FG_MEDIA_MAX);
    for (int i = 0; i < m->n; i++) {
        struct fg_media_item it = m->item[i]; /* products stay far from overflow */
        it.w = it.w > SIDE_MAX ? SIDE_MAX : it.w;
        it.h = it.h > SIDE_MAX ? SIDE_MAX : it.h;
        int64_t t = d == FG_DIALECT_OPENAI ? openai_item(p, &it) : anthropic_item(model, &it);
        sum += t;
    }
    for (int k = 0; k < 2; k++) { /* items not described: each at its kind's maximum */
        if (!m->extra[k])
            continue;
        struct fg_media_item it = {(uint8_t)k, FG_DETAIL_AUTO, 0, 0};
        sum += m->extra[k] *
               (d == FG_DIALECT_OPENAI ? openai_item(p, &it) : anthropic_item(model, &it));
    }
    return sum;
}
