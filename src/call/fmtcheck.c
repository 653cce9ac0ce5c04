/* fmtcheck.c — see fmtcheck.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "fmtcheck.h"

#include "arena.h"
#include "assert.h"
#include "schema.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fg_fmtcheck {
    pcre2_code *re;
    struct fg_schema *schema;
};

struct fg_fmtcheck *fg_fmtcheck_new(const char *pattern, const char *schema_json, char *err,
                                    size_t errlen)
{
    FG_ASSERT(!pattern != !schema_json);
    struct fg_fmtcheck *f = fg_xcalloc(1, sizeof *f);
    if (pattern) {
        int ec;
        PCRE2_SIZE off;
        f->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_MULTILINE, &ec, &off, NULL);
        if (!f->re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(err, errlen, "invalid pattern: %s at offset %zu", (const char *)msg,
                     (size_t)off);
            free(f);
            return NULL;
        }
    } else if (!(f->schema = fg_schema_compile(schema_json, strlen(schema_json), err, errlen))) {
        free(f);
        return NULL;
    }
    return f;
}

void fg_fmtcheck_free(struct fg_fmtcheck *f)
{
    if (!f)
        return;
    pcre2_code_free(f->re);
    fg_schema_free(f->schema);
    free(f);
}

bool fg_fmtcheck_text(const struct fg_fmtcheck *f, const char *text, size_t len, char *why,
                      size_t whylen)
{
    char dummy[8];
    if (!why)
        why = dummy, whylen = sizeof dummy;
    if (f->schema) {
        struct fg_schema_error e;
        int rc = fg_schema_validate(f->schema, text, len, &e);
        if (rc == 0)
            return true;
        snprintf(why, whylen, rc == -2 ? "not JSON: %s" : "%s: %s", rc == -2 ? e.msg : e.path,
                 e.msg);
        return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(f->re, NULL);
    int rc = md ? pcre2_match(f->re, (PCRE2_SPTR)text, len, 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    if (rc >= 0)
        return true;
    snprintf(why, whylen,
             rc == PCRE2_ERROR_NOMATCH ? "the pattern is not found"
                                       : "the pattern could not be matched (error %d)",
             rc);
    return false;
}

/* answer_text collects in two passes: sizes, then decoded bytes. */
struct text_acc {
    const struct fg_json *j;
    char *buf;
    size_t cap, used, parts;
};

static void acc_text(void *arg, int str)
{
    struct text_acc *a = arg;
    size_t n;
    a->parts++;
    if (!a->buf) {
        fg_json_raw_str(a->j, str, &n);
        a->cap += n; /* the raw length bounds the decoded one */
        return;
    }
    long w = fg_json_str(a->j, str, a->buf + a->used, a->cap - a->used);
    a->used += w > 0 ? (size_t)w : 0;
}

bool fg_fmtcheck_answer(const struct fg_fmtcheck *f, const struct fg_dialect_ops *ops,
                        const struct fg_json *j, int resp, char *why, size_t whylen)
{
    struct text_acc a = {.j = j, .cap = 1};
    ops->answer_text(j, resp, acc_text, &a);
    if (a.parts == 0)
        return true; /* no text (a tool call): nothing to check */
    a.buf = fg_xmalloc(a.cap);
    a.buf[0] = '\0';
    a.parts = 0;
    ops->answer_text(j, resp, acc_text, &a);
    bool ok = fg_fmtcheck_text(f, a.buf, a.used, why, whylen);
    free(a.buf);
    return ok;
}
