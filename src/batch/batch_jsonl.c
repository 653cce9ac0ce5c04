/* batch_jsonl.c — see batch_jsonl.h. */
#include "batch_jsonl.h"

#include "arena.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void line_err(struct fg_batch_jsonl *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void line_err(struct fg_batch_jsonl *j, const char *fmt, ...)
{
    if (j->n_errors < FG_BATCH_JSONL_REPORTED) {
        char m[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m, sizeof m, fmt, ap);
        va_end(ap);
        snprintf(j->msg[j->n_errors], sizeof j->msg[0], "line %zu: %s", j->lineno, m);
    }
    j->n_errors++;
}

/* Check one request body the way the endpoint would, shallowly. */
static const char *check_chat_body(json_t *body, bool responses)
{
    if (!json_is_object(body))
        return responses ? "\"body\" must be a JSON object (the /v1/responses request)"
                         : "\"body\" must be a JSON object (the /v1/chat/completions request)";
    if (!json_is_string(json_object_get(body, "model")))
        return "\"body.model\" must be a string";
    if (responses) {
        json_t *in = json_object_get(body, "input");
        if (!json_is_string(in) && !json_is_array(in))
            return "\"body.input\" must be a string or an array of input items";
        if (json_is_true(json_object_get(body, "stream")))
            return "\"body.stream\" must not be true in a batch";
        return NULL;
    }
    json_t *m = json_object_get(body, "messages");
    if (!json_is_array(m) || json_array_size(m) == 0)
        return "\"body.messages\" must be a non-empty array";
    if (json_is_true(json_object_get(body, "stream")))
        return "\"body.stream\" must not be true in a batch";
    return NULL;
}

/* Check one embeddings request body the same way. */
static const char *check_embeddings_body(json_t *body)
{
    if (!json_is_object(body))
        return "\"body\" must be a JSON object (the /v1/embeddings request)";
    if (!json_is_string(json_object_get(body, "model")))
        return "\"body.model\" must be a string";
    json_t *in = json_object_get(body, "input");
    if (!json_is_string(in) && !(json_is_array(in) && json_array_size(in) > 0))
        return "\"body.input\" must be a string or a non-empty array";
    return NULL;
}

bool fg_batch_jsonl_endpoint_ok(const char *url)
{
    return url && (!strcmp(url, "/v1/chat/completions") || !strcmp(url, "/v1/embeddings") ||
                   !strcmp(url, "/v1/responses"));
}

/* What is wrong with a parsed line (NULL: nothing); why is scratch. */
static const char *check_object(struct fg_batch_jsonl *j, json_t *v, char *why, size_t n)
{
    json_t *cid = json_object_get(v, "custom_id");
    const char *method = json_string_value(json_object_get(v, "method"));
    const char *url = json_string_value(json_object_get(v, "url"));
    if (!json_is_string(cid) || !*json_string_value(cid))
        return "\"custom_id\" must be a non-empty string";
    if (strlen(json_string_value(cid)) > 64)
        return "\"custom_id\" is longer than 64 characters";
    if (json_object_get(j->seen, json_string_value(cid))) {
        snprintf(why, n, "duplicate custom_id \"%.60s\"", json_string_value(cid));
        return why;
    }
    if (!method || strcmp(method, "POST"))
        return "\"method\" must be \"POST\"";
    if (!fg_batch_jsonl_endpoint_ok(url))
        return "\"url\" must be \"/v1/chat/completions\", \"/v1/responses\" or "
               "\"/v1/embeddings\" (the batch endpoints frugal runs)";
    if (j->endpoint && strcmp(url, j->endpoint)) {
        snprintf(why, n, "\"url\" must be the batch's endpoint (\"%s\")", j->endpoint);
        return why;
    }
    if (j->url[0] && strcmp(url, j->url)) {
        snprintf(why, n, "\"url\" must be \"%s\" like the lines before it", j->url);
        return why;
    }
    snprintf(j->url, sizeof j->url, "%s", url);
    json_t *body = json_object_get(v, "body");
    const char *bad = !strcmp(url, "/v1/embeddings")
                          ? check_embeddings_body(body)
                          : check_chat_body(body, !strcmp(url, "/v1/responses"));
    if (!bad)
        json_object_set_new(j->seen, json_string_value(cid), json_true());
    return bad;
}

/* One line, without its LF. */
static void one_line(struct fg_batch_jsonl *j, const char *s, size_t l)
{
    j->lineno++;
    while (l && (s[l - 1] == '\r' || isspace((unsigned char)s[l - 1])))
        l--;
    if (l == 0 || j->stopped)
        return;
    if (++j->n_lines > j->max_lines) {
        line_err(j, "more than %zu requests in one file", j->max_lines);
        j->stopped = true;
        return;
    }
    json_error_t je;
    json_t *v = json_loadb(s, l, JSON_REJECT_DUPLICATES, &je);
    char why[200];
    const char *bad = NULL;
    if (!v) {
        snprintf(why, sizeof why, "not valid JSON (%s)", je.text);
        bad = why;
    } else if (!json_is_object(v)) {
        bad = "must be a JSON object";
    } else {
        bad = check_object(j, v, why, sizeof why);
    }
    if (bad)
        line_err(j, "%s", bad);
    else if (j->fn)
        j->fn(j->arg, j->lineno, v);
    json_decref(v);
}

void fg_batch_jsonl_init(struct fg_batch_jsonl *j, size_t max_lines, const char *endpoint,
                         fg_batch_jsonl_fn fn, void *arg)
{
    memset(j, 0, sizeof *j);
    j->max_lines = max_lines;
    j->endpoint = endpoint;
    j->fn = fn;
    j->arg = arg;
    j->seen = json_object();
}

void fg_batch_jsonl_max_line(struct fg_batch_jsonl *j, size_t max_bytes)
{
    j->max_line = max_bytes;
}

static void carry_add(struct fg_batch_jsonl *j, const char *p, size_t n)
{
    if (j->ncarry + n > j->capcarry) {
        size_t cap = j->capcarry ? j->capcarry : 4096;
        while (cap < j->ncarry + n)
            cap *= 2;
        if (j->max_line && cap > j->max_line)
            cap = j->max_line; /* the bound is never passed (feed) */
        j->carry = fg_xrealloc(j->carry, cap);
        j->capcarry = cap;
    }
    memcpy(j->carry + j->ncarry, p, n);
    j->ncarry += n;
}

void fg_batch_jsonl_feed(struct fg_batch_jsonl *j, const char *p, size_t n)
{
    while (n && !j->stopped) {
        const char *nl = memchr(p, '\n', n);
        size_t l = nl ? (size_t)(nl - p) : n;
        if (!j->skipping && j->max_line && j->ncarry + l > j->max_line) {
            j->lineno++;
            j->n_lines++;
            line_err(j,
                     "longer than %zu bytes, the most a request body may be "
                     "(server.max_body_bytes)",
                     j->max_line);
            j->ncarry = 0;
            j->skipping = true;
        }
        if (j->skipping) {
            if (!nl)
                return;
            j->skipping = false;
            p = nl + 1;
            n -= l + 1;
            continue;
        }
        if (!nl) {
            carry_add(j, p, n);
            return;
        }
        if (j->ncarry) {
            carry_add(j, p, l);
            one_line(j, j->carry, j->ncarry);
            j->ncarry = 0;
        } else {
            one_line(j, p, l);
        }
        p = nl + 1;
        n -= l + 1;
    }
}

void fg_batch_jsonl_end(struct fg_batch_jsonl *j)
{
    if (j->ncarry)
        one_line(j, j->carry, j->ncarry);
    j->ncarry = 0;
    j->skipping = false;
}

void fg_batch_jsonl_free(struct fg_batch_jsonl *j)
{
    json_decref(j->seen);
    free(j->carry);
    j->seen = NULL;
    j->carry = NULL;
    j->ncarry = j->capcarry = 0;
}

void fg_batch_jsonl_report(const struct fg_batch_jsonl *j, char *msg, size_t cap)
{
    int n = snprintf(msg, cap, "The batch file has %d invalid line%s: ", j->n_errors,
                     j->n_errors == 1 ? "" : "s");
    for (int i = 0; i < j->n_errors && i < FG_BATCH_JSONL_REPORTED && n < (int)cap; i++)
        n += snprintf(msg + n, cap - (size_t)n, "%s%s", i ? "; " : "", j->msg[i]);
    if (j->n_errors > FG_BATCH_JSONL_REPORTED && n < (int)cap)
        snprintf(msg + n, cap - (size_t)n, "; ...");
}
