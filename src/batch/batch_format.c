/* batch_format.c — see batch_format.h. */
#include "batch_format.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static json_t *ts_or_null(int64_t t)
{
    return t ? json_integer(t) : json_null();
}

static json_t *rfc_or_null(int64_t t)
{
    char buf[32];
    if (!t)
        return json_null();
    fg_batch_format_rfc3339(t, buf, sizeof buf);
    return json_string(buf);
}

void fg_batch_format_rfc3339(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *parsed_or_null(const char *text)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

json_t *fg_batch_format_file(const struct fg_bfile *f)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:o, s:n}", "id", f->id, "object", "file",
                     "bytes", (json_int_t)f->bytes, "created_at", (json_int_t)f->created_at,
                     "filename", f->filename, "purpose", f->purpose, "status", "processed",
                     "expires_at", ts_or_null(f->expires_at), "status_details");
}

bool fg_batch_format_final(const char *s)
{
    return !strcmp(s, "completed") || !strcmp(s, "failed") || !strcmp(s, "expired") ||
           !strcmp(s, "cancelled");
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *fg_batch_format_openai_batch(const struct fg_batch *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(b->id));
    json_object_set_new(o, "object", json_string("batch"));
    json_object_set_new(o, "endpoint", json_string(b->endpoint));
    json_object_set_new(o, "errors", parsed_or_null(b->errors));
    json_object_set_new(o, "input_file_id", json_string(b->input_file_id));
    json_object_set_new(o, "completion_window", json_string("24h"));
    json_object_set_new(o, "status",
                        json_string(!strcmp(b->status, "expiring") ? "in_progress" : b->status));
    json_object_set_new(o, "output_file_id", str_or_null(b->output_file_id));
    json_object_set_new(o, "error_file_id", str_or_null(b->error_file_id));
    json_object_set_new(o, "created_at", json_integer(b->created_at));
    json_object_set_new(o, "in_progress_at", ts_or_null(b->in_progress_at));
    json_object_set_new(o, "expires_at", ts_or_null(b->expires_at));
    json_object_set_new(o, "finalizing_at", ts_or_null(b->finalizing_at));
    json_object_set_new(o, "completed_at", ts_or_null(b->completed_at));
    json_object_set_new(o, "failed_at", ts_or_null(b->failed_at));
    json_object_set_new(o, "expired_at",
                        ts_or_null(!strcmp(b->status, "expired") ? b->expired_at : 0));
    json_object_set_new(o, "cancelling_at", ts_or_null(b->cancelling_at));
    json_object_set_new(o, "cancelled_at", ts_or_null(b->cancelled_at));
    json_object_set_new(o, "request_counts",
                        json_pack("{s:I, s:I, s:I}", "total", (json_int_t)b->total, "completed",
                                  (json_int_t)b->n_succeeded, "failed",
                                  (json_int_t)(b->n_errored + b->n_expired + b->n_canceled)));
    json_object_set_new(o, "metadata", parsed_or_null(b->metadata));
    json_object_set_new(o, "usage",
                        json_pack("{s:I, s:{s:I}, s:I, s:{s:I}, s:I}", "input_tokens",
                                  (json_int_t)b->in_tokens, "input_tokens_details", "cached_tokens",
                                  (json_int_t)b->cached_tokens, "output_tokens",
                                  (json_int_t)b->out_tokens, "output_tokens_details",
                                  "reasoning_tokens", (json_int_t)b->reasoning_tokens,
                                  "total_tokens", (json_int_t)(b->in_tokens + b->out_tokens)));
    return o;
}

static const char *anthropic_status(const char *s)
{
    if (fg_batch_format_final(s))
        return "ended";
    return !strcmp(s, "cancelling") ? "canceling" : "in_progress";
}

json_t *fg_batch_format_anthropic_batch(const struct fg_batch *b, const char *base_url)
{
    bool ended = fg_batch_format_final(b->status);
    int64_t ended_at = b->completed_at   ? b->completed_at
                       : b->cancelled_at ? b->cancelled_at
                       : b->expired_at   ? b->expired_at
                                         : b->failed_at;
    /* counts other than processing stay 0 until the batch ends */
    int64_t processing = ended ? 0 : b->total;
    json_t *counts = json_pack("{s:I, s:I, s:I, s:I, s:I}", "processing", (json_int_t)processing,
                               "succeeded", (json_int_t)(ended ? b->n_succeeded : 0), "errored",
                               (json_int_t)(ended ? b->n_errored : 0), "canceled",
                               (json_int_t)(ended ? b->n_canceled : 0), "expired",
                               (json_int_t)(ended ? b->n_expired : 0));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(b->id));
    json_object_set_new(o, "type", json_string("message_batch"));
    json_object_set_new(o, "processing_status", json_string(anthropic_status(b->status)));
    json_object_set_new(o, "request_counts", counts);
    json_object_set_new(o, "created_at", rfc_or_null(b->created_at));
    json_object_set_new(o, "expires_at", rfc_or_null(b->expires_at));
    json_object_set_new(o, "ended_at", ended ? rfc_or_null(ended_at) : json_null());
    json_object_set_new(o, "cancel_initiated_at", rfc_or_null(b->cancelling_at));
    json_object_set_new(o, "archived_at", json_null());
    if (ended) {
        char url[512];
        snprintf(url, sizeof url, "%s/v1/messages/batches/%s/results", base_url, b->id);
        json_object_set_new(o, "results_url", json_string(url));
    } else {
        json_object_set_new(o, "results_url", json_null());
    }
    return o;
}

static void dump_line(json_t *v, struct evbuffer *out)
{
    char *s = json_dumps(v, JSON_COMPACT);
    if (s) {
        evbuffer_add(out, s, strlen(s));
        evbuffer_add(out, "\n", 1);
        free(s);
    }
    json_decref(v);
}

void fg_batch_format_openai_line(const struct fg_bline *l, struct evbuffer *out)
{
    char id[40];
    snprintf(id, sizeof id, "batch_req_%06lld", (long long)l->idx);
    json_t *v;
    if (l->outcome == FG_LINE_SUCCEEDED || l->outcome == FG_LINE_ERRORED) {
        json_t *resp =
            json_pack("{s:i, s:s, s:o}", "status_code", l->status_code ? l->status_code : 500,
                      "request_id", l->request_id, "body", parsed_or_null(l->result));
        v = json_pack("{s:s, s:s, s:o, s:n}", "id", id, "custom_id", l->custom_id, "response", resp,
                      "error");
    } else {
        bool expired = l->outcome == FG_LINE_EXPIRED;
        json_t *err = json_pack(
            "{s:s, s:s}", "code", expired ? "batch_expired" : "batch_cancelled", "message",
            expired ? "This request could not be executed before the completion window expired."
                    : "This request was not executed because the batch was cancelled.");
        v = json_pack("{s:s, s:s, s:n, s:o}", "id", id, "custom_id", l->custom_id, "response",
                      "error", err);
    }
    dump_line(v, out);
}

void fg_batch_format_anthropic_line(const struct fg_bline *l, struct evbuffer *out)
{
    json_t *res;
    switch (l->outcome) {
    case FG_LINE_SUCCEEDED:
        res = json_pack("{s:s, s:o}", "type", "succeeded", "message", parsed_or_null(l->result));
        break;
    case FG_LINE_ERRORED:
        res = json_pack("{s:s, s:o}", "type", "errored", "error", parsed_or_null(l->result));
        break;
    case FG_LINE_CANCELED: res = json_pack("{s:s}", "type", "canceled"); break;
    default: res = json_pack("{s:s}", "type", "expired"); break;
    }
    dump_line(json_pack("{s:s, s:o}", "custom_id", l->custom_id, "result", res), out);
}
