/* sse.c — see sse.h.  Events are located by scanning for a blank line;
 * only complete events are decoded, so a chunk boundary anywhere (even in
 * the middle of "\r\n") is safe. */
#include "sse.h"

#include "arena.h"
#include "assert.h"

#include <stdlib.h>
#include <string.h>

void fg_sse_init(struct fg_sse *p, size_t max_event)
{
    memset(p, 0, sizeof *p);
    p->max_event = max_event;
}

void fg_sse_free(struct fg_sse *p)
{
    free(p->buf);
    free(p->data);
    memset(p, 0, sizeof *p);
}

size_t fg_sse_pending(const struct fg_sse *p)
{
    return p->len;
}

/* Length of the event at s (through its blank line), or 0 if incomplete. */
static size_t event_end(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n')
            continue;
        size_t j = i + 1;
        if (j < n && s[j] == '\n')
            return j + 1;
        if (j + 1 < n && s[j] == '\r' && s[j + 1] == '\n')
            return j + 2;
    }
    return 0;
}

static void data_append(struct fg_sse *p, const char *s, size_t n)
{
    if (p->dlen + n + 2 > p->dcap) {
        p->dcap = (p->dlen + n + 2) * 2;
        p->data = fg_xrealloc(p->data, p->dcap);
    }
    memcpy(p->data + p->dlen, s, n);
    p->dlen += n;
    FG_DASSERT(p->dlen < p->dcap);
    p->data[p->dlen] = '\0';
}

/* Decode one complete event's lines into ev. */
static void decode(struct fg_sse *p, const char *s, size_t n, struct fg_sse_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->event = "";
    ev->raw = s;
    ev->raw_len = n;
    p->dlen = 0;
    int ndata = 0;
    size_t i = 0;
    while (i < n) {
        const char *line = s + i;
        const char *nl = memchr(line, '\n', n - i);
        size_t ll = nl ? (size_t)(nl - line) : n - i;
        i += ll + 1;
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (ll == 0 || line[0] == ':')
            continue;
        const char *colon = memchr(line, ':', ll);
        size_t fl = colon ? (size_t)(colon - line) : ll;
        const char *v = colon ? colon + 1 : line + ll;
        size_t vl = colon ? ll - fl - 1 : 0;
        if (vl && *v == ' ') {
            v++;
            vl--;
        }
        if (fl == 5 && !memcmp(line, "event", 5)) {
            ev->event = v;
            ev->event_len = vl;
        } else if (fl == 4 && !memcmp(line, "data", 4)) {
            if (ndata++)
                data_append(p, "\n", 1);
            data_append(p, v, vl);
        }
    }
    ev->data = p->data ? p->data : "";
    ev->data_len = p->dlen;
}

int fg_sse_feed(struct fg_sse *p, const char *bytes, size_t n, fg_sse_cb cb, void *arg)
{
    if (p->len + n > p->cap) {
        p->cap = (p->len + n) * 2 + 256;
        p->buf = fg_xrealloc(p->buf, p->cap);
    }
    memcpy(p->buf + p->len, bytes, n);
    p->len += n;
    size_t off = 0;
    int rc = 0;
    while (off < p->len) {
        size_t e = event_end(p->buf + off, p->len - off);
        if (!e)
            break;
        struct fg_sse_event ev;
        FG_DASSERT(e <= p->len - off);
        decode(p, p->buf + off, e, &ev);
        off += e;
        p->events++;
        if (cb(arg, &ev) < 0) {
            rc = -1;
            break;
        }
    }
    FG_ASSERT(off <= p->len && p->len <= p->cap);
    memmove(p->buf, p->buf + off, p->len - off);

    p->len -= off;
    if (rc == 0 && p->max_event && p->len > p->max_event)
        return -1;
    return rc;
}
