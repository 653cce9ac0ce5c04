/* replay_rs.c — a complete Response replayed as its stream (replay_rs.h). */
#include "replay_rs.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

struct rs_replay {
    struct evbuffer *out;
    json_int_t seq;
};

/* One event; steals data, adds type and sequence_number. */
static void emit(struct rs_replay *s, const char *type, json_t *data)
{
    if (!data)
        abort(); /* json_pack of our own well-formed formats fails only on OOM */
    json_object_set_new(data, "type", json_string(type));
    json_object_set_new(data, "sequence_number", json_integer(s->seq++));
    char *d = json_dumps(data, DUMP_FLAGS);
    if (!d)
        abort();
    evbuffer_add_printf(s->out, "event: %s\ndata: %s\n\n", type, d);
    free(d);
    json_decref(data);
}

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : dflt;
}

/* The Response as it looked before any output: in progress, no usage. */
static json_t *opening(const json_t *r)
{
    json_t *x = json_deep_copy(r);
    json_object_set_new(x, "status", json_string("in_progress"));
    json_object_set_new(x, "output", json_array());
    json_object_set_new(x, "usage", json_null());
    return x;
}

static json_t *where(const char *item_id, size_t index)
{
    return json_pack("{s:s, s:I}", "item_id", item_id, "output_index", (json_int_t)index);
}

/* A message part: added (empty), the whole text as one delta, done. */
static void part(struct rs_replay *s, const char *item_id, size_t index, size_t k, const json_t *p)
{
    bool refusal = !strcmp(str_or(p, "type", ""), "refusal");
    const char *text = str_or(p, refusal ? "refusal" : "text", "");
    json_t *empty = refusal ? json_pack("{s:s, s:s}", "type", "refusal", "refusal", "")
                            : json_pack("{s:s, s:s, s:[], s:[]}", "type", "output_text", "text", "",
                                        "annotations", "logprobs");
    json_t *d = where(item_id, index);
    json_object_set_new(d, "content_index", json_integer((json_int_t)k));
    json_t *added = json_deep_copy(d);
    json_object_set_new(added, "part", empty);
    emit(s, "response.content_part.added", added);
    json_t *delta = json_deep_copy(d), *done = json_deep_copy(d);
    json_object_set_new(delta, "delta", json_string(text));
    json_object_set_new(done, refusal ? "refusal" : "text", json_string(text));
    if (!refusal) {
        json_object_set_new(delta, "logprobs", json_array());
        json_object_set_new(done, "logprobs", json_array());
    }
    emit(s, refusal ? "response.refusal.delta" : "response.output_text.delta", delta);
    emit(s, refusal ? "response.refusal.done" : "response.output_text.done", done);
    json_object_set_new(d, "part", json_deep_copy(p));
    emit(s, "response.content_part.done", d);
}

static void item(struct rs_replay *s, size_t index, const json_t *it)
{
    const char *type = str_or(it, "type", ""), *id = str_or(it, "id", "");
    bool msg = !strcmp(type, "message"), fc = !strcmp(type, "function_call");
    json_t *first = json_deep_copy(it);
    if (msg || fc)
        json_object_set_new(first, "status", json_string("in_progress"));
    if (msg)
        json_object_set_new(first, "content", json_array());
    if (fc)
        json_object_set_new(first, "arguments", json_string(""));
    emit(s, "response.output_item.added",
         json_pack("{s:I, s:o}", "output_index", (json_int_t)index, "item", first));
    if (msg) {
        size_t k;
        const json_t *p;
        json_array_foreach(json_object_get(it, "content"), k, p) part(s, id, index, k, p);
    } else if (fc) {
        const char *args = str_or(it, "arguments", "");
        json_t *d = where(id, index);
        json_object_set_new(d, "delta", json_string(args));
        emit(s, "response.function_call_arguments.delta", d);
        d = where(id, index);
        json_object_set_new(d, "arguments", json_string(args));
        json_object_set_new(d, "name", json_string(str_or(it, "name", "")));
        emit(s, "response.function_call_arguments.done", d);
    }
    emit(s, "response.output_item.done",
         json_pack("{s:I, s:O}", "output_index", (json_int_t)index, "item", it));
}

int fg_replay_rs(const json_t *r, struct evbuffer *out)
{
    const json_t *output = json_object_get(r, "output");
    if (strcmp(str_or(r, "object", ""), "response") || !json_is_array(output))
        return -1;
    struct rs_replay s = {.out = out};
    emit(&s, "response.created", json_pack("{s:o}", "response", opening(r)));
    emit(&s, "response.in_progress", json_pack("{s:o}", "response", opening(r)));
    size_t i;
    const json_t *it;
    json_array_foreach(output, i, it) item(&s, i, it);
    const char *status = str_or(r, "status", "completed");
    const char *end = !strcmp(status, "incomplete") ? "response.incomplete"
                      : !strcmp(status, "failed")   ? "response.failed"
                                                    : "response.completed";
    emit(&s, end, json_pack("{s:O}", "response", r));
    return 0;
}
