/* batch_remote.c — see batch_remote.h. */
#include "batch_remote.h"

#include "azure.h"
#include "vec.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>

#define BEARER_SINCE "2026-10-21"

struct buf {
    char *p;
    size_t n, cap;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
    struct buf *b = arg;
    size_t n = sz * nm;
    FG_VEC_RESERVE(b->p, b->n + n + 1, b->cap);
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static struct curl_slist *auth_headers(const struct fg_remote *r, struct curl_slist *h)
{
    const char *key = r->provider->api_key;
    char line[600];
    if (r->dialect == FG_DIALECT_ANTHROPIC) {
        const char *ver =
            r->provider->anthropic_version ? r->provider->anthropic_version : BEARER_SINCE;
        snprintf(line, sizeof line, "anthropic-version: %s", ver);
        h = curl_slist_append(h, line);
        if (key && strcmp(ver, BEARER_SINCE) < 0) {
            snprintf(line, sizeof line, "x-api-key: %s", key);
            h = curl_slist_append(h, line);
            return h;
        }
    }
    return fg_azure_auth_header(r->provider, h); /* Azure's api-key, else a bearer token */
}

/* base + the formatted path, plus Azure's api-version (azure.h). */
static void url_at(const struct fg_remote *r, char *url, size_t n, const char *fmt, ...)
{
    char path[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    if (fg_azure_is(r->provider))
        snprintf(url, n, "%s%s%capi-version=%s", r->openai_base, path,
                 strchr(path, '?') ? '&' : '?', r->provider->api_version);
    else
        snprintf(url, n, "%s%s", r->openai_base, path);
}

/* Shutdown must not wait for a slow provider: curl asks here often. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const _Atomic bool *abort = arg;
    return abort && atomic_load(abort) ? 1 : 0;
}

/* One request; returns the HTTP status (0 on a transport error, err set). */
static long http(const struct fg_remote *r, const char *method, const char *url, const char *json,
                 size_t json_len, curl_mime *mime, struct buf *out, char *err, size_t errlen)
{
    CURL *e = curl_easy_init();
    if (!e) {
        snprintf(err, errlen, "curl_easy_init failed");
        return 0;
    }
    struct curl_slist *h = auth_headers(r, NULL);
    h = curl_slist_append(h, "Expect:");
    if (json)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)r->provider->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)r->abort);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (mime)
        curl_easy_setopt(e, CURLOPT_MIMEPOST, mime);
    else if (json) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)json_len);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(method, "GET") && strcmp(method, "POST"))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    long status = 0;
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK)
        snprintf(err, errlen, "%s %s: %s", method, url, curl_easy_strerror(rc));
    else
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return status;
}

static void status_err(long status, const struct buf *b, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: HTTP %ld: %.200s", what, status, b->p ? b->p : "");
}

static json_t *load(const struct buf *b)
{
    return b->p ? json_loadb(b->p, b->n, 0, NULL) : NULL;
}

/* ---- submit ------------------------------------------------------------ */

static const char *endpoint_of(const struct fg_remote *r)
{
    /* the three endpoints a provider batch can run (batch_api.c checks) */
    const char *ep = "/v1/chat/completions";
    if (r->endpoint &&
        (!strcmp(r->endpoint, "/v1/embeddings") || !strcmp(r->endpoint, "/v1/responses")))
        ep = r->endpoint;
    /* Azure names them without the /v1 (its batch docs: "/chat/completions") */
    return fg_azure_is(r->provider) ? ep + 3 : ep;
}

static char *openai_jsonl(const struct fg_remote *r, const struct fg_batch_remote_req *reqs,
                          size_t n, size_t *len)
{
    struct buf b = {0};
    for (size_t i = 0; i < n; i++) {
        char head[160];
        int k = snprintf(head, sizeof head,
                         "{\"custom_id\":\"l%lld\",\"method\":\"POST\","
                         "\"url\":\"%s\",\"body\":",
                         (long long)reqs[i].idx, endpoint_of(r));
        if (!on_data(head, 1, (size_t)k, &b) ||
            !on_data((char *)reqs[i].body, 1, reqs[i].len, &b) || !on_data("}\n", 1, 2, &b)) {
            free(b.p);
            return NULL;
        }
    }
    *len = b.n;
    return b.p;
}

static int openai_submit(const struct fg_remote *r, const char *job_id,
                         const struct fg_batch_remote_req *reqs, size_t n, char *remote_id,
                         size_t idn, char *file_id, size_t fidn, char *err, size_t errlen)
{
    size_t len = 0;
    char *jsonl = openai_jsonl(r, reqs, n, &len);
    if (!jsonl) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    CURL *dummy = curl_easy_init();
    curl_mime *mime = curl_mime_init(dummy);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "purpose");
    curl_mime_data(part, "batch", CURL_ZERO_TERMINATED);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "file");
    curl_mime_filename(part, "frugal-batch.jsonl");
    curl_mime_type(part, "application/jsonl");
    curl_mime_data(part, jsonl, len);
    char url[1024];
    url_at(r, url, sizeof url, "/files");
    struct buf out = {0};
    long st = http(r, "POST", url, NULL, 0, mime, &out, err, errlen);
    curl_mime_free(mime);
    curl_easy_cleanup(dummy);
    free(jsonl);
    json_t *j = load(&out);
    const char *fid = json_string_value(json_object_get(j, "id"));
    int rc = -1;
    if (st != 200 || !fid) {
        if (st)
            status_err(st, &out, "uploading the batch file", err, errlen);
        goto done;
    }
    snprintf(file_id, fidn, "%s", fid);
    json_t *req =
        json_pack("{s:s, s:s, s:s, s:{s:s}}", "input_file_id", fid, "endpoint", endpoint_of(r),
                  "completion_window", "24h", "metadata", "frugal_job", job_id);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    url_at(r, url, sizeof url, "/batches");
    free(out.p);
    out = (struct buf){0};
    st = http(r, "POST", url, body, strlen(body), NULL, &out, err, errlen);
    free(body);
    json_decref(j);
    j = load(&out);
    const char *bid = json_string_value(json_object_get(j, "id"));
    if (st != 200 || !bid) {
        if (st)
            status_err(st, &out, "creating the batch", err, errlen);
        goto done;
    }
    snprintf(remote_id, idn, "%s", bid);
    rc = 0;
done:
    json_decref(j);
    free(out.p);
    return rc;
}

static int anthropic_submit(const struct fg_remote *r, const struct fg_batch_remote_req *reqs,
                            size_t n, char *remote_id, size_t idn, char *err, size_t errlen)
{
    struct buf b = {0};
    on_data("{\"requests\":[", 1, 13, &b);
    for (size_t i = 0; i < n; i++) {
        char head[64];
        int k = snprintf(head, sizeof head, "%s{\"custom_id\":\"l%lld\",\"params\":", i ? "," : "",
                         (long long)reqs[i].idx);
        on_data(head, 1, (size_t)k, &b);
        on_data((char *)reqs[i].body, 1, reqs[i].len, &b);
        on_data("}", 1, 1, &b);
    }
    if (!on_data("]}", 1, 2, &b)) {
        free(b.p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/messages/batches", r->anthropic_base);
    struct buf out = {0};
    long st = http(r, "POST", url, b.p, b.n, NULL, &out, err, errlen);
    free(b.p);
    json_t *j = load(&out);
    const char *bid = json_string_value(json_object_get(j, "id"));
    int rc = -1;
    if (st == 200 && bid) {
        snprintf(remote_id, idn, "%s", bid);
        rc = 0;
    } else if (st) {
        status_err(st, &out, "creating the message batch", err, errlen);
    }
    json_decref(j);
    free(out.p);
    return rc;
}

int fg_batch_remote_submit(const struct fg_remote *r, const char *job_id,
                           const struct fg_batch_remote_req *reqs, size_t n, char *remote_id,
                           size_t idn, char *remote_file_id, size_t fidn, char *err, size_t errlen)
{
    if (r->dialect == FG_DIALECT_OPENAI)
        return openai_submit(r, job_id, reqs, n, remote_id, idn, remote_file_id, fidn, err, errlen);
    if (fidn)
        remote_file_id[0] = '\0';
    return anthropic_submit(r, reqs, n, remote_id, idn, err, errlen);
}

/* ---- poll --------------------------------------------------------------- */

static int64_t idx_of(const char *custom_id)
{
    if (!custom_id || custom_id[0] != 'l')
        return -1;
    char *end;
    long long v = strtoll(custom_id + 1, &end, 10);
    return *end || v < 0 ? -1 : (int64_t)v;
}

static void emit(fg_batch_remote_result_cb cb, void *arg, int64_t idx, const char *kind, int status,
                 json_t *body, const char *request_id)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct fg_batch_remote_result res = {idx,       kind, status, text, text ? strlen(text) : 0,
                                         request_id};
    cb(arg, &res);
    free(text);
}

typedef void (*line_fn)(json_t *l, fg_batch_remote_result_cb cb, void *arg);

/* Each JSON line of a JSONL body (lines that don't parse are skipped). */
static void each_line(const struct buf *b, line_fn fn, fg_batch_remote_result_cb cb, void *arg)
{
    for (size_t off = 0; off < b->n;) {
        char *nl = memchr(b->p + off, '\n', b->n - off);
        size_t end = nl ? (size_t)(nl - b->p) : b->n;
        json_t *l = json_loadb(b->p + off, end - off, 0, NULL);
        if (l)
            fn(l, cb, arg);
        json_decref(l);
        off = end + 1;
    }
}

/* One OpenAI output/error file line. */
static void openai_line(json_t *l, fg_batch_remote_result_cb cb, void *arg)
{
    int64_t idx = idx_of(json_string_value(json_object_get(l, "custom_id")));
    if (idx < 0)
        return;
    json_t *resp = json_object_get(l, "response");
    json_t *error = json_object_get(l, "error");
    if (json_is_object(resp)) {
        int st = (int)json_integer_value(json_object_get(resp, "status_code"));
        emit(cb, arg, idx, st >= 200 && st < 300 ? "succeeded" : "errored", st,
             json_object_get(resp, "body"), json_string_value(json_object_get(resp, "request_id")));
        return;
    }
    const char *code = json_string_value(json_object_get(error, "code"));
    if (code && !strcmp(code, "batch_expired"))
        emit(cb, arg, idx, "expired", 0, NULL, NULL);
    else if (code && !strcmp(code, "batch_cancelled"))
        emit(cb, arg, idx, "canceled", 0, NULL, NULL);
    else {
        json_t *body = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message",
                                 json_string_value(json_object_get(error, "message"))
                                     ? json_string_value(json_object_get(error, "message"))
                                     : "the provider could not run this request",
                                 "type", "server_error", "param", "code", code ? code : "");
        emit(cb, arg, idx, "errored", 500, body, NULL);
        json_decref(body);
    }
}

static int openai_file_lines(const struct fg_remote *r, const char *file_id,
                             fg_batch_remote_result_cb cb, void *arg, char *err, size_t errlen)
{
    if (!file_id)
        return 0;
    char url[1024];
    url_at(r, url, sizeof url, "/files/%s/content", file_id);
    struct buf out = {0};
    long st = http(r, "GET", url, NULL, 0, NULL, &out, err, errlen);
    if (st != 200) {
        if (st)
            status_err(st, &out, "downloading batch results", err, errlen);
        free(out.p);
        return -1;
    }
    each_line(&out, openai_line, cb, arg);
    free(out.p);
    return 0;
}

static int openai_poll(const struct fg_remote *r, const char *id, enum fg_batch_remote_state *state,
                       fg_batch_remote_result_cb cb, void *arg, char *err, size_t errlen)
{
    char url[1024];
    url_at(r, url, sizeof url, "/batches/%s", id);
    struct buf out = {0};
    long st = http(r, "GET", url, NULL, 0, NULL, &out, err, errlen);
    json_t *j = load(&out);
    int rc = -1;
    const char *status = json_string_value(json_object_get(j, "status"));
    if (st == 404) {
        *state = FG_REMOTE_GONE;
        rc = 0;
    } else if (st != 200 || !status) {
        if (st)
            status_err(st, &out, "polling the batch", err, errlen);
    } else if (strcmp(status, "completed") && strcmp(status, "failed") &&
               strcmp(status, "expired") && strcmp(status, "cancelled")) {
        *state = FG_REMOTE_RUNNING;
        rc = 0;
    } else if (!strcmp(status, "failed")) {
        /* the provider refused the file: every request errors with why */
        *state = FG_REMOTE_ENDED;
        json_t *errors = json_object_get(json_object_get(j, "errors"), "data");
        json_t *first = json_array_get(errors, 0);
        const char *msg = json_string_value(json_object_get(first, "message"));
        snprintf(err, errlen, "the provider failed the batch: %s", msg ? msg : "no reason given");
        rc = -2;
    } else {
        *state = FG_REMOTE_ENDED;
        rc = openai_file_lines(r, json_string_value(json_object_get(j, "output_file_id")), cb, arg,
                               err, errlen);
        if (rc == 0)
            rc = openai_file_lines(r, json_string_value(json_object_get(j, "error_file_id")), cb,
                                   arg, err, errlen);
    }
    json_decref(j);
    free(out.p);
    return rc;
}

static void anthropic_line(json_t *l, fg_batch_remote_result_cb cb, void *arg)
{
    int64_t idx = idx_of(json_string_value(json_object_get(l, "custom_id")));
    json_t *res = json_object_get(l, "result");
    const char *type = json_string_value(json_object_get(res, "type"));
    if (idx < 0 || !type)
        return;
    if (!strcmp(type, "succeeded")) {
        json_t *m = json_object_get(res, "message");
        emit(cb, arg, idx, "succeeded", 200, m, json_string_value(json_object_get(m, "id")));
    } else if (!strcmp(type, "errored")) {
        json_t *e = json_object_get(res, "error");
        const char *et = json_string_value(json_object_get(json_object_get(e, "error"), "type"));
        int st = !et                                    ? 500
                 : !strcmp(et, "invalid_request_error") ? 400
                 : !strcmp(et, "authentication_error")  ? 401
                 : !strcmp(et, "permission_error")      ? 403
                 : !strcmp(et, "not_found_error")       ? 404
                 : !strcmp(et, "request_too_large")     ? 413
                 : !strcmp(et, "rate_limit_error")      ? 429
                 : !strcmp(et, "overloaded_error")      ? 529
                                                        : 500;
        emit(cb, arg, idx, "errored", st, e, NULL);
    } else if (!strcmp(type, "canceled")) {
        emit(cb, arg, idx, "canceled", 0, NULL, NULL);
    } else {
        emit(cb, arg, idx, "expired", 0, NULL, NULL);
    }
}

static int anthropic_poll(const struct fg_remote *r, const char *id,
                          enum fg_batch_remote_state *state, fg_batch_remote_result_cb cb,
                          void *arg, char *err, size_t errlen)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/messages/batches/%s", r->anthropic_base, id);
    struct buf out = {0};
    long st = http(r, "GET", url, NULL, 0, NULL, &out, err, errlen);
    json_t *j = load(&out);
    const char *status = json_string_value(json_object_get(j, "processing_status"));
    int rc = -1;
    if (st == 404) {
        *state = FG_REMOTE_GONE;
        rc = 0;
    } else if (st != 200 || !status) {
        if (st)
            status_err(st, &out, "polling the message batch", err, errlen);
    } else if (strcmp(status, "ended")) {
        *state = FG_REMOTE_RUNNING;
        rc = 0;
    } else {
        /* results from the configured base URL, not from results_url */
        snprintf(url, sizeof url, "%s/v1/messages/batches/%s/results", r->anthropic_base, id);
        free(out.p);
        out = (struct buf){0};
        st = http(r, "GET", url, NULL, 0, NULL, &out, err, errlen);
        if (st == 200) {
            *state = FG_REMOTE_ENDED;
            each_line(&out, anthropic_line, cb, arg);
            rc = 0;
        } else if (st) {
            status_err(st, &out, "reading the message batch results", err, errlen);
        }
    }
    json_decref(j);
    free(out.p);
    return rc;
}

int fg_batch_remote_poll(const struct fg_remote *r, const char *remote_id,
                         enum fg_batch_remote_state *state, fg_batch_remote_result_cb cb, void *arg,
                         char *err, size_t errlen)
{
    if (r->dialect == FG_DIALECT_OPENAI)
        return openai_poll(r, remote_id, state, cb, arg, err, errlen);
    return anthropic_poll(r, remote_id, state, cb, arg, err, errlen);
}

int fg_batch_remote_find(const struct fg_remote *r, const char *job_id, char *remote_id, size_t idn,
                         char *err, size_t errlen)
{
    if (r->dialect != FG_DIALECT_OPENAI)
        return 0;
    char url[1024];
    url_at(r, url, sizeof url, "/batches?limit=100");
    struct buf out = {0};
    long st = http(r, "GET", url, NULL, 0, NULL, &out, err, errlen);
    json_t *j = st == 200 ? load(&out) : NULL;
    int rc = 0;
    if (st != 200) {
        if (st)
            status_err(st, &out, "listing batches", err, errlen);
        rc = -1;
    }
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(j, "data"), i, b)
    {
        const char *tag =
            json_string_value(json_object_get(json_object_get(b, "metadata"), "frugal_job"));
        const char *id = json_string_value(json_object_get(b, "id"));
        if (tag && id && !strcmp(tag, job_id)) {
            snprintf(remote_id, idn, "%s", id);
            rc = 1;
            break;
        }
    }
    json_decref(j);
    free(out.p);
    return rc;
}

int fg_batch_remote_cancel(const struct fg_remote *r, const char *remote_id, char *err,
                           size_t errlen)
{
    char url[1024];
    if (r->dialect == FG_DIALECT_OPENAI)
        url_at(r, url, sizeof url, "/batches/%s/cancel", remote_id);
    else
        snprintf(url, sizeof url, "%s/v1/messages/batches/%s/cancel", r->anthropic_base, remote_id);
    struct buf out = {0};
    long st = http(r, "POST", url, NULL, 0, NULL, &out, err, errlen);
    int rc = st == 200 || st == 409 || st == 400 ? 0 : -1; /* already ended: fine */
    if (rc < 0 && st)
        status_err(st, &out, "cancelling the batch", err, errlen);
    free(out.p);
    return rc;
}
