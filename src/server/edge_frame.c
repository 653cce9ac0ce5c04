/* edge_frame.c — see edge_frame.h. */
#include "edge_frame.h"

#include "assert.h"

#include <string.h>
#include <strings.h>

enum { H_LINE_START, H_IN_LINE, H_AFTER_CR };

void fg_edge_frame_head_init(struct fg_edge_frame_head *s)
{
    memset(s, 0, sizeof *s);
}

const char *fg_edge_frame_head_scan(struct fg_edge_frame_head *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n') {
            if (s->st != H_AFTER_CR)
                return "a line of the request head ends in a bare LF";
            if (s->line_used)
                s->in_head = true;
            s->st = H_LINE_START;
            s->line_used = false;
        } else if (s->st == H_AFTER_CR) {
            return "a CR in the request head is not followed by LF";
        } else if (c == '\r') {
            s->st = H_AFTER_CR;
        } else {
            if (s->st == H_LINE_START && s->in_head && (c == ' ' || c == '\t'))
                return "a header line starts with whitespace (obs-fold)";
            s->st = H_IN_LINE;
            s->line_used = true;
        }
    }
    return NULL;
}

enum { C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_LAST_CR, C_LAST_LF, C_DONE };

void fg_edge_frame_chunk_init(struct fg_edge_frame_chunk *s)
{
    memset(s, 0, sizeof *s);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One byte of a size line (size, extension, CRLF). */
static const char *size_byte(struct fg_edge_frame_chunk *s, unsigned char c)
{
    if (++s->linelen > FG_EDGE_FRAME_EXT_MAX + 20)
        return "a chunk size line is too long";
    if (s->st == C_SIZE) {
        int v = hexval(c);
        if (v >= 0) {
            if (++s->digits > 15)
                return "a chunk size has more than 15 hex digits";
            s->left = s->left * 16 + (uint64_t)v;
            return NULL;
        }
        if (!s->digits)
            return "a chunk size is not a hex number";
        if (c == ';')
            s->st = C_EXT;
        else if (c == '\r')
            s->st = C_SIZE_LF;
        else
            return "a chunk size is followed by something other than ';' or CRLF";
        return NULL;
    }
    /* C_EXT: visible ASCII, SP and HTAB only, up to CR */
    if (c == '\r')
        s->st = C_SIZE_LF;
    else if (!(c == '\t' || (c >= 0x20 && c < 0x7f)))
        return "a chunk extension has a control byte";
    return NULL;
}

/* One framing byte outside the size line and the data. */
static const char *frame_byte(struct fg_edge_frame_chunk *s, unsigned char c)
{
    switch (s->st) {
    case C_SIZE_LF:
        if (c != '\n')
            return "a chunk size line does not end in CRLF";
        s->st = s->left ? C_DATA : C_LAST_CR;
        return NULL;
    case C_DATA_CR:
        if (c != '\r')
            return "chunk data is not followed by CRLF";
        s->st = C_DATA_LF;
        return NULL;
    case C_DATA_LF:
        if (c != '\n')
            return "chunk data is not followed by CRLF";
        s->st = C_SIZE;
        s->digits = s->linelen = 0;
        s->left = 0;
        return NULL;
    case C_LAST_CR:
        if (c != '\r')
            return "trailer fields after a chunked body are not accepted";
        s->st = C_LAST_LF;
        return NULL;
    case C_LAST_LF:
        if (c != '\n')
            return "the last chunk does not end in CRLF";
        s->st = C_DONE;
        return NULL;
    default: return "bytes after the end of a chunked body";
    }
}

const char *fg_edge_frame_chunk_scan(struct fg_edge_frame_chunk *s, const char *p, size_t n,
                                     size_t *used, bool *done)
{
    size_t i = 0;
    const char *err = NULL;
    while (i < n && s->st != C_DONE && !err) {
        if (s->st == C_DATA) {
            size_t k = n - i < s->left ? n - i : (size_t)s->left;
            s->left -= k;
            i += k;
            if (!s->left)
                s->st = C_DATA_CR;
            continue;
        }
        unsigned char c = (unsigned char)p[i++];
        err = s->st == C_SIZE || s->st == C_EXT ? size_byte(s, c) : frame_byte(s, c);
    }
    FG_DASSERT(i <= n);
    *used = i;
    *done = s->st == C_DONE;
    return err;
}

bool fg_edge_frame_token(const char *p, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c && strchr("!#$%&'*+-.^_`|~", c));
        if (!ok)
            return false;
    }
    return true;
}

size_t fg_edge_frame_origin(const char *p, size_t n)
{
    size_t at;
    if (n >= 7 && !strncasecmp(p, "http://", 7))
        at = 7;
    else if (n >= 8 && !strncasecmp(p, "https://", 8))
        at = 8;
    else
        return 0;
    const char *slash = memchr(p + at, '/', n - at);
    return slash ? (size_t)(slash - p) : n; /* no path: refused by the check */
}

const char *fg_edge_frame_target(const char *p, size_t n)
{
    /* absolute-form (RFC 9112 3.2.2: a server must accept it): its authority
     * is ignored, like Host for routing; the path is judged as origin-form */
    size_t o = fg_edge_frame_origin(p, n);
    for (size_t i = 0; i < o; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return "the request target has a byte outside visible ASCII";
    p += o;
    n -= o;
    if (!n || p[0] != '/')
        return "the request target is not a path (authority-form and '*' are not "
               "accepted)";
    if (n > 1 && p[1] == '/')
        return "the request target starts with '//'";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f)
            return "the request target has a byte outside visible ASCII";
        if (c == '#')
            return "the request target has a fragment";
    }
    return NULL;
}
