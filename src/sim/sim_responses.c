/* sim_responses.c — the OpenAI Responses API of the simulated provider
 * (wire reference: shared/spec/providers-2.md section 1).
 *
 * A create request is turned into the Chat Completions body it means
 * (instructions, the stored conversation of previous_response_id, the input
 * items, flat function tools, text.format) and answered by the same code as
 * chat (sim_openai_answer: same text, tool choice, schema values, prompt
 * cache); the answer is rendered as a Response object or as its event
 * stream, in the documented order with sequence numbers.  Responses created
 * with store (the default) are kept in memory, bounded (SIM_RS_MAX, the
 * oldest dropped first), for retrieve, delete, input_items, cancel and
 * previous_response_id.  background: true answers "queued"; the response
 * is complete from the first retrieve on, and cancel before that cancels it.
 *
 * Not simulated: hosted tools, reasoning items, conversations, streaming
 * retrieve (?stream=true), include[], truncation. */
#include "sim_internal.h"

#include "sim_batch_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_RS_MAX 4096

struct rs_entry {
    char *id;      /* NULL: free slot */
    json_t *resp;  /* the Response as retrieve returns it */
    json_t *done;  /* background: the completed Response, until retrieved */
    json_t *items; /* input items, with ids */
    json_t *convo; /* chat messages up to and including this answer */
};

struct sim_responses {
    struct rs_entry e[SIM_RS_MAX];
    size_t next;
};

struct sim_responses *sim_responses_new(void)
{
    return fg_xcalloc(1, sizeof(struct sim_responses));
}

static void entry_clear(struct rs_entry *x)
{
    free(x->id);
    json_decref(x->resp);
    json_decref(x->done);
    json_decref(x->items);
    json_decref(x->convo);
    memset(x, 0, sizeof *x);
}

void sim_responses_free(struct sim_responses *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < SIM_RS_MAX; i++)
        entry_clear(&s->e[i]);
    free(s);
}

int sim_responses_owns(const char *path)
{
    return !strcmp(path, "/v1/responses") || !strncmp(path, "/v1/responses/", 14);
}

static struct rs_entry *find(struct sim_responses *s, const char *id)
{
    for (size_t i = 0; id && i < SIM_RS_MAX; i++)
        if (s->e[i].id && !strcmp(s->e[i].id, id))
            return &s->e[i];
    return NULL;
}

/* ---- input → chat messages ------------------------------------------------- */

static const char *str_or(const json_t *o, const char *k, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : dflt;
}

/* Text parts (input_text, output_text) joined; a string as it is. */
static char *parts_text(struct fg_arena *a, const json_t *content)
{
    if (json_is_string(content))
        return fg_arena_strdup(a, json_string_value(content));
    struct sim_buf b = {0};
    size_t i;
    json_t *p;
    json_array_foreach(content, i, p)
    {
        const char *t = json_string_value(json_object_get(p, "text"));
        if (!t)
            continue;
        if (b.len)
            sim_buf_add(&b, "\n", 1);
        sim_buf_adds(&b, t);
    }
    char *s = fg_arena_strndup(a, b.p ? b.p : "", b.len);
    sim_buf_free(&b);
    return s;
}

const char *sim_responses_user_text(struct fg_arena *a, const json_t *body)
{
    const json_t *in = json_object_get(body, "input");
    if (json_is_string(in))
        return json_string_value(in);
    for (size_t i = json_array_size(in); i-- > 0;) {
        const json_t *it = json_array_get(in, i);
        const char *role = json_string_value(json_object_get(it, "role"));
        if (role && !strcmp(role, "user"))
            return parts_text(a, json_object_get(it, "content"));
    }
    return "";
}

static int bad(struct sim_ctx *c, struct sim_reply *r, int status, const char *param,
               const char *msg)
{
    sim_openai_error(c, r, status, "invalid_request_error", param, NULL, msg);
    return -1;
}

/* One input item as a chat message (NULL: nothing to say, e.g. reasoning). */
static json_t *item_message(struct sim_ctx *c, const json_t *it)
{
    const char *type = json_string_value(json_object_get(it, "type"));
    const char *role = json_string_value(json_object_get(it, "role"));
    if (role && (!type || !strcmp(type, "message")))
        return json_pack("{s:s,s:s}", "role", role, "content",
                         parts_text(c->arena, json_object_get(it, "content")));
    if (type && !strcmp(type, "function_call"))
        return json_pack("{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role", "assistant", "content",
                         "tool_calls", "id", str_or(it, "call_id", ""), "type", "function",
                         "function", "name", str_or(it, "name", ""), "arguments",
                         str_or(it, "arguments", "{}"));
    if (type && !strcmp(type, "function_call_output")) {
        const json_t *o = json_object_get(it, "output");
        return json_pack("{s:s,s:s,s:s}", "role", "tool", "tool_call_id", str_or(it, "call_id", ""),
                         "content",
                         json_is_string(o) ? json_string_value(o) : parts_text(c->arena, o));
    }
    return NULL;
}

/* The input as items with ids (what input_items lists) and as chat
 * messages appended to msgs; 0 or -1 after an error reply. */
static int read_input(struct sim_ctx *c, const json_t *b, json_t *items, json_t *msgs,
                      struct sim_reply *r)
{
    const json_t *in = json_object_get(b, "input");
    if (json_is_string(in)) {
        json_array_append_new(items,
                              json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s}]}", "id",
                                        fg_arena_printf(c->arena, "msg_in_%s_0", c->id), "type",
                                        "message", "status", "completed", "role", "user", "content",
                                        "type", "input_text", "text", json_string_value(in)));
        json_array_append_new(
            msgs, json_pack("{s:s,s:s}", "role", "user", "content", json_string_value(in)));
        return 0;
    }
    if (in && !json_is_array(in))
        return bad(c, r, 400, "input", "Invalid type for 'input': expected a string or an array.");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (!json_is_object(it))
            return bad(c, r, 400, fg_arena_printf(c->arena, "input[%zu]", i),
                       fg_arena_printf(c->arena,
                                       "Invalid type for 'input[%zu]': expected an "
                                       "object.",
                                       i));
        const char *type = json_string_value(json_object_get(it, "type"));
        if (!type && !json_object_get(it, "role"))
            return bad(
                c, r, 400, fg_arena_printf(c->arena, "input[%zu]", i),
                fg_arena_printf(c->arena, "Missing required parameter: 'input[%zu].type'.", i));
        json_t *copy = json_deep_copy(it);
        if (!json_object_get(copy, "id"))
            json_object_set_new(copy, "id",
                                json_string(fg_arena_printf(c->arena, "msg_in_%s_%zu", c->id, i)));
        if (!type)
            json_object_set_new(copy, "type", json_string("message"));
        json_array_append_new(items, copy);
        json_t *m = item_message(c, it);
        if (m)
            json_array_append_new(msgs, m);
    }
    return 0;
}

/* Flat function tools → chat tools. */
static json_t *chat_tools(const json_t *tools)
{
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        if (!type || strcmp(type, "function"))
            continue;
        json_t *fn = json_pack("{s:O?}", "name", json_object_get(t, "name"));
        if (json_object_get(t, "parameters"))
            json_object_set(fn, "parameters", json_object_get(t, "parameters"));
        if (json_object_get(t, "description"))
            json_object_set(fn, "description", json_object_get(t, "description"));
        json_array_append_new(out, json_pack("{s:s,s:o}", "type", "function", "function", fn));
    }
    return out;
}

static json_t *chat_tool_choice(const json_t *tc)
{
    if (json_is_string(tc))
        return json_incref((json_t *)tc);
    const char *type = json_string_value(json_object_get(tc, "type"));
    if (type && !strcmp(type, "function"))
        return json_pack("{s:s,s:{s:O?}}", "type", "function", "function", "name",
                         json_object_get(tc, "name"));
    if (type && !strcmp(type, "allowed_tools")) {
        json_t *tools = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(tc, "tools"), i, t)
            json_array_append_new(tools, json_pack("{s:s,s:{s:O?}}", "type", "function", "function",
                                                   "name", json_object_get(t, "name")));
        return json_pack("{s:s,s:{s:O?,s:o}}", "type", "allowed_tools", "allowed_tools", "mode",
                         json_object_get(tc, "mode"), "tools", tools);
    }
    return NULL;
}

/* The Chat Completions body this create request means (new reference). */
static json_t *chat_body(const json_t *b, const json_t *msgs)
{
    json_t *cb = json_pack("{s:O,s:O}", "model", json_object_get(b, "model"), "messages", msgs);
    const json_t *tools = json_object_get(b, "tools");
    if (json_array_size(tools))
        json_object_set_new(cb, "tools", chat_tools(tools));
    json_t *tc = chat_tool_choice(json_object_get(b, "tool_choice"));
    if (tc)
        json_object_set_new(cb, "tool_choice", tc);
    const json_t *fmt = json_object_get(json_object_get(b, "text"), "format");
    const char *ft = json_string_value(json_object_get(fmt, "type"));
    if (ft && !strcmp(ft, "json_schema"))
        json_object_set_new(cb, "response_format",
                            json_pack("{s:s,s:{s:O?,s:O?}}", "type", "json_schema", "json_schema",
                                      "name", json_object_get(fmt, "name"), "schema",
                                      json_object_get(fmt, "schema")));
    else if (ft && !strcmp(ft, "json_object"))
        json_object_set_new(cb, "response_format", json_pack("{s:s}", "type", "json_object"));
    const json_t *mot = json_object_get(b, "max_output_tokens");
    if (json_is_integer(mot))
        json_object_set(cb, "max_completion_tokens", (json_t *)mot);
    return cb;
}

/* ---- the Response ------------------------------------------------------------ */

static json_t *usage(const struct sim_oa_answer *a)
{
    return json_pack("{s:I,s:{s:I,s:i},s:I,s:{s:i},s:I}", "input_tokens", (json_int_t)a->prompt,
                     "input_tokens_details", "cached_tokens", (json_int_t)a->cached,
                     "cache_write_tokens", 0, "output_tokens", (json_int_t)a->out_tokens,
                     "output_tokens_details", "reasoning_tokens", 0, "total_tokens",
                     (json_int_t)(a->prompt + a->out_tokens));
}

static const char *msg_id(struct sim_ctx *c)
{
    return fg_arena_printf(c->arena, "msg_sim_%s", c->id);
}
static const char *fc_id(struct sim_ctx *c)
{
    return fg_arena_printf(c->arena, "fc_sim_%s", c->id);
}
static const char *call_id(struct sim_ctx *c)
{
    return fg_arena_printf(c->arena, "call_sim_%s", c->id);
}

static json_t *text_part(const char *text)
{
    return json_pack("{s:s,s:s,s:[],s:[]}", "type", "output_text", "text", text, "annotations",
                     "logprobs");
}

/* The output item of this answer; `done` false gives its "added" form. */
static json_t *output_item(struct sim_ctx *c, const struct sim_oa_answer *a, int done)
{
    if (a->tool_name)
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "function_call", "id", fc_id(c),
                         "call_id", call_id(c), "name", a->tool_name, "arguments",
                         done ? a->tool_args : "", "status", done ? "completed" : "in_progress");
    json_t *content = done ? json_pack("[o]", text_part(a->text)) : json_array();
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "type", "message", "id", msg_id(c), "status",
                     !done                      ? "in_progress"
                     : a->end == SIM_END_LENGTH ? "incomplete"
                                                : "completed",
                     "role", "assistant", "content", content);
}

/* The request's value for k (new reference), or `dflt` (stolen) when absent. */
static json_t *echo(const json_t *b, const char *k, json_t *dflt)
{
    const json_t *v = json_object_get(b, k);
    if (!v)
        return dflt;
    json_decref(dflt);
    return json_incref((json_t *)v);
}

/* A Response object echoing the request; status and output filled by the
 * caller. */
static json_t *response_shell(struct sim_ctx *c, const json_t *b, const char *id)
{
    const char *tier = json_string_value(json_object_get(b, "service_tier"));
    int flex = tier && !strcmp(tier, "flex"); /* the tier served, as OpenAI reports it */
    json_t *r = json_pack(
        "{s:s,s:s,s:I,s:s,s:n,s:n,s:n,s:o,s:o,s:s,s:[],s:b,s:o,s:o,s:o,s:s,s:b,s:f,s:o,s:o,"
        "s:f,s:s,s:n,s:n,s:o,s:b,s:n}",
        "id", id, "object", "response", "created_at", (json_int_t)c->created, "status",
        "in_progress", "error", "incomplete_details", "completed_at", "instructions",
        echo(b, "instructions", json_null()), "max_output_tokens",
        echo(b, "max_output_tokens", json_null()), "model",
        json_string_value(json_object_get(b, "model")), "output", "parallel_tool_calls",
        !json_is_false(json_object_get(b, "parallel_tool_calls")), "previous_response_id",
        echo(b, "previous_response_id", json_null()), "reasoning",
        echo(b, "reasoning", json_pack("{s:n,s:n}", "effort", "summary")), "text",
        echo(b, "text",
             json_pack("{s:{s:s},s:s}", "format", "type", "text", "verbosity", "medium")),
        "service_tier", flex ? "flex" : "default", "store",
        !json_is_false(json_object_get(b, "store")), "temperature", 1.0, "tool_choice",
        echo(b, "tool_choice", json_string("auto")), "tools", echo(b, "tools", json_array()),
        "top_p", 1.0, "truncation", "disabled", "usage", "user", "metadata",
        echo(b, "metadata", json_object()), "background",
        json_is_true(json_object_get(b, "background")), "access_programs");
    return r;
}

/* The shell completed with this answer (new reference). */
static json_t *complete(struct sim_ctx *c, json_t *shell, const struct sim_oa_answer *a)
{
    json_t *r = json_deep_copy(shell);
    int cut = a->end == SIM_END_LENGTH;
    json_object_set_new(r, "status", json_string(cut ? "incomplete" : "completed"));
    json_object_set_new(r, "incomplete_details",
                        cut ? json_pack("{s:s}", "reason", "max_output_tokens") : json_null());
    json_object_set_new(r, "completed_at", cut ? json_null() : json_integer(c->created));
    json_object_set_new(r, "output", json_pack("[o]", output_item(c, a, 1)));
    json_object_set_new(r, "usage", usage(a));
    return r;
}

/* ---- the stream --------------------------------------------------------------- */

struct seq {
    struct sim_ctx *c;
    struct sim_reply *r;
    int n;
};

/* One event: payload gets type and sequence_number; `v` is stolen. */
static void emit(struct seq *s, const char *type, json_t *v)
{
    json_t *e = json_pack("{s:s,s:i}", "type", type, "sequence_number", s->n++);
    json_object_update(e, v);
    json_decref(v);
    sim_events_push(s->c->arena, &s->r->events,
                    sim_sse(s->c->arena, type, sim_json_dump(s->c->arena, e)));
    json_decref(e);
}

static void stream_text(struct seq *s, const struct sim_oa_answer *a)
{
    const char *id = msg_id(s->c);
    emit(s, "response.content_part.added",
         json_pack("{s:s,s:i,s:i,s:o}", "item_id", id, "output_index", 0, "content_index", 0,
                   "part", text_part("")));
    for (size_t off = 0, end; off < a->len; off = end) {
        end = sim_next_words(a->text, a->len, off, 3);
        emit(s, "response.output_text.delta",
             json_pack("{s:s,s:i,s:i,s:s%,s:[]}", "item_id", id, "output_index", 0, "content_index",
                       0, "delta", a->text + off, end - off, "logprobs"));
    }
    emit(s, "response.output_text.done",
         json_pack("{s:s,s:i,s:i,s:s,s:[]}", "item_id", id, "output_index", 0, "content_index", 0,
                   "text", a->text, "logprobs"));
    emit(s, "response.content_part.done",
         json_pack("{s:s,s:i,s:i,s:o}", "item_id", id, "output_index", 0, "content_index", 0,
                   "part", text_part(a->text)));
}

static void stream_call(struct seq *s, const struct sim_oa_answer *a)
{
    const char *id = fc_id(s->c), *args = a->tool_args;
    size_t len = strlen(args);
    for (size_t off = 0, end; off < len; off = end) {
        end = sim_next_bytes(args, len, off, 24);
        emit(s, "response.function_call_arguments.delta",
             json_pack("{s:s,s:i,s:s%}", "item_id", id, "output_index", 0, "delta", args + off,
                       end - off));
    }
    emit(s, "response.function_call_arguments.done",
         json_pack("{s:s,s:i,s:s,s:s}", "item_id", id, "output_index", 0, "name", a->tool_name,
                   "arguments", args));
}

static void stream_reply(struct sim_ctx *c, json_t *shell, json_t *final,
                         const struct sim_oa_answer *a, struct sim_reply *r)
{
    struct seq s = {c, r, 0};
    r->status = 200;
    r->stream = 1;
    r->content_type = "text/event-stream";
    emit(&s, "response.created", json_pack("{s:O}", "response", shell));
    emit(&s, "response.in_progress", json_pack("{s:O}", "response", shell));
    emit(&s, "response.output_item.added",
         json_pack("{s:i,s:o}", "output_index", 0, "item", output_item(c, a, 0)));
    if (a->tool_name)
        stream_call(&s, a);
    else
        stream_text(&s, a);
    emit(&s, "response.output_item.done",
         json_pack("{s:i,s:o}", "output_index", 0, "item", output_item(c, a, 1)));
    emit(&s, a->end == SIM_END_LENGTH ? "response.incomplete" : "response.completed",
         json_pack("{s:O}", "response", final));
}

/* ---- create -------------------------------------------------------------------- */

static int validate(struct sim_ctx *c, const json_t *b, struct sim_reply *r)
{
    if (!json_is_object(b))
        return bad(c, r, 400, NULL, "We could not parse the JSON body of your request.");
    if (!json_is_string(json_object_get(b, "model")))
        return bad(c, r, 400, "model", "Missing required parameter: 'model'.");
    const json_t *st = json_object_get(b, "stream");
    if (st && !json_is_boolean(st) && !json_is_null(st))
        return bad(c, r, 400, "stream", "Invalid type for 'stream': expected a boolean.");
    const json_t *mot = json_object_get(b, "max_output_tokens");
    if (mot && !json_is_null(mot) && (!json_is_integer(mot) || json_integer_value(mot) < 16))
        return bad(c, r, 400, "max_output_tokens",
                   "Invalid 'max_output_tokens': integer below minimum value. Expected a value "
                   ">= 16.");
    if (!json_object_get(b, "input") && !json_object_get(b, "previous_response_id"))
        return bad(c, r, 400, "input", "Missing required parameter: 'input'.");
    return 0;
}

/* The conversation this request continues (chat messages) plus its input;
 * instructions first and never inherited.  0 or -1 after replying. */
static int conversation(struct sim_responses *s, struct sim_ctx *c, const json_t *b, json_t *items,
                        json_t *msgs, json_t **history, struct sim_reply *r)
{
    const char *prev = json_string_value(json_object_get(b, "previous_response_id"));
    struct rs_entry *p = prev ? find(s, prev) : NULL;
    if (prev && !p)
        return bad(c, r, 400, "previous_response_id",
                   fg_arena_printf(c->arena, "Previous response with id '%s' not found.", prev));
    const char *ins = json_string_value(json_object_get(b, "instructions"));
    if (ins)
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "developer", "content", ins));
    *history = json_array();
    if (p)
        json_array_extend(*history, p->convo);
    json_array_extend(msgs, *history);
    json_t *mine = json_array();
    int rc = read_input(c, b, items, mine, r);
    json_array_extend(msgs, mine);
    json_array_extend(*history, mine);
    json_decref(mine);
    return rc;
}

static json_t *answer_message(const struct sim_oa_answer *a, const char *cid)
{
    if (a->tool_name)
        return json_pack("{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role", "assistant", "content",
                         "tool_calls", "id", cid, "type", "function", "function", "name",
                         a->tool_name, "arguments", a->tool_args);
    return json_pack("{s:s,s:s}", "role", "assistant", "content", a->text);
}

static struct rs_entry *slot(struct sim_responses *s)
{
    struct rs_entry *x = &s->e[s->next];
    s->next = (s->next + 1) % SIM_RS_MAX;
    entry_clear(x);
    return x;
}

static void create(struct sim_responses *s, struct sim_ctx *c, const json_t *b, struct sim_reply *r)
{
    if (validate(c, b, r))
        return;
    json_t *items = json_array(), *msgs = json_array(), *history = NULL;
    if (conversation(s, c, b, items, msgs, &history, r) < 0)
        goto done;
    json_t *cb = chat_body(b, msgs);
    struct sim_oa_answer a;
    sim_openai_answer(c, cb, &a);
    json_decref(cb);
    const char *id = fg_arena_printf(c->arena, "resp_sim_%s", c->id);
    json_t *shell = response_shell(c, b, id);
    json_t *final = complete(c, shell, &a);
    int background = json_is_true(json_object_get(b, "background"));
    if (!json_is_false(json_object_get(b, "store"))) {
        struct rs_entry *x = slot(s);
        x->id = fg_xstrdup(id);
        x->items = json_incref(items);
        json_array_append_new(history, answer_message(&a, call_id(c)));
        x->convo = json_incref(history);
        if (background && !json_is_true(json_object_get(b, "stream"))) {
            x->resp = json_deep_copy(shell);
            json_object_set_new(x->resp, "status", json_string("queued"));
            x->done = json_incref(final);
        } else {
            x->resp = json_incref(final);
        }
    }
    if (json_is_true(json_object_get(b, "stream"))) {
        stream_reply(c, shell, final, &a, r);
    } else if (background) {
        json_t *q = json_deep_copy(shell);
        json_object_set_new(q, "status", json_string("queued"));
        sim_reply_json(c->arena, r, 200, q);
        json_decref(q);
    } else {
        sim_reply_json(c->arena, r, 200, final);
    }
    sim_reply_header(r, "x-request-id", fg_arena_printf(c->arena, "req_sim_%s", c->id));
    json_decref(shell);
    json_decref(final);
done:
    json_decref(items);
    json_decref(msgs);
    json_decref(history);
}

/* POST /v1/responses/input_tokens: the prompt's tokens, nothing recorded. */
static void input_tokens(struct sim_responses *s, struct sim_ctx *c, const json_t *b,
                         struct sim_reply *r)
{
    if (!json_is_object(b))
        return (void)bad(c, r, 400, NULL, "We could not parse the JSON body of your request.");
    json_t *items = json_array(), *msgs = json_array(), *history = NULL;
    if (conversation(s, c, b, items, msgs, &history, r) == 0) {
        json_t *cb = chat_body(b, msgs);
        struct sim_prompt p = {0};
        sim_openai_prompt(c->arena, cb, &p);
        json_t *out = json_pack("{s:s,s:I}", "object", "response.input_tokens", "input_tokens",
                                (json_int_t)sim_prompt_tokens(&p));
        sim_prompt_free(&p);
        sim_reply_json(c->arena, r, 200, out);
        json_decref(out);
        json_decref(cb);
    }
    json_decref(items);
    json_decref(msgs);
    json_decref(history);
}

/* ---- stored responses ------------------------------------------------------------ */

static void not_found(struct sim_ctx *c, struct sim_reply *r, const char *id)
{
    sim_openai_error(c, r, 404, "invalid_request_error", NULL, NULL,
                     fg_arena_printf(c->arena, "Response with id '%s' not found.", id));
}

static const char *query_value(struct sim_ctx *c, const char *q, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            const char *v = p + kl + 1, *e = strchr(v, '&');
            return fg_arena_strndup(c->arena, v, e ? (size_t)(e - v) : strlen(v));
        }
        p = strchr(p, '&');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

static void list_items(struct sim_ctx *c, struct rs_entry *x, const char *query,
                       struct sim_reply *r)
{
    const char *order = query_value(c, query, "order");
    const char *lim = query_value(c, query, "limit");
    const char *after = query_value(c, query, "after");
    long limit = 20;
    if (lim && sim_parse_limit(lim, 1, 100, &limit) < 0)
        return (void)bad(c, r, 400, "limit", "Invalid 'limit': expected an integer from 1 to 100.");
    int asc = order && !strcmp(order, "asc");
    size_t n = json_array_size(x->items);
    json_t *data = json_array();
    int started = after == NULL, more = 0;
    for (size_t k = 0; k < n; k++) {
        const json_t *it = json_array_get(x->items, asc ? k : n - 1 - k);
        const char *id = json_string_value(json_object_get(it, "id"));
        if (!started) {
            started = id && !strcmp(id, after);
            continue;
        }
        if ((long)json_array_size(data) == limit) {
            more = 1;
            break;
        }
        json_array_append(data, (json_t *)it);
    }
    size_t m = json_array_size(data);
    json_t *out =
        json_pack("{s:s,s:o,s:O?,s:O?,s:b}", "object", "list", "data", data, "first_id",
                  m ? json_object_get(json_array_get(data, 0), "id") : NULL, "last_id",
                  m ? json_object_get(json_array_get(data, m - 1), "id") : NULL, "has_more", more);
    sim_reply_json(c->arena, r, 200, out);
    json_decref(out);
}

static void cancel(struct sim_ctx *c, struct rs_entry *x, struct sim_reply *r)
{
    if (!json_is_true(json_object_get(x->resp, "background")))
        return (void)bad(c, r, 400, NULL,
                         "Only responses created with background=true can be cancelled.");
    if (x->done) { /* still queued: it never runs */
        json_decref(x->done);
        x->done = NULL;
        json_object_set_new(x->resp, "status", json_string("cancelled"));
    }
    sim_reply_json(c->arena, r, 200, x->resp);
}

void sim_responses_handle(struct sim_responses *s, struct sim_ctx *c, const struct sim_http *h,
                          const json_t *body, struct sim_reply *r)
{
    const char *path = h->path;
    if (!strcmp(path, "/v1/responses") && h->method == SIM_POST)
        return create(s, c, body, r);
    if (!strcmp(path, "/v1/responses/input_tokens") && h->method == SIM_POST)
        return input_tokens(s, c, body, r);
    const char *rest = path + 14, *slash = strchr(rest, '/');
    char *id = fg_arena_strndup(c->arena, rest, slash ? (size_t)(slash - rest) : strlen(rest));
    const char *tail = slash ? slash : "";
    int known = !strcmp(path, "/v1/responses") || !strcmp(tail, "") ||
                !strcmp(tail, "/input_items") || !strcmp(tail, "/cancel");
    int method_ok = !strcmp(tail, "")          ? (h->method == SIM_GET || h->method == SIM_DELETE)
                    : !strcmp(tail, "/cancel") ? h->method == SIM_POST
                    : !strcmp(tail, "/input_items") ? h->method == SIM_GET
                                                    : 0;
    if (!known || !method_ok || !strcmp(path, "/v1/responses"))
        return sim_batch_bad_route(c, SIM_OPENAI, h, known, r);
    struct rs_entry *x = find(s, id);
    if (!x)
        return not_found(c, r, id);
    if (!strcmp(tail, "/input_items"))
        return list_items(c, x, h->query, r);
    if (!strcmp(tail, "/cancel"))
        return cancel(c, x, r);
    if (h->method == SIM_DELETE) {
        json_t *out =
            json_pack("{s:s,s:s,s:b}", "id", id, "object", "response.deleted", "deleted", 1);
        sim_reply_json(c->arena, r, 200, out);
        json_decref(out);
        entry_clear(x);
        return;
    }
    if (x->done) { /* a background response has run by the time anyone looks */
        json_decref(x->resp);
        x->resp = x->done;
        x->done = NULL;
    }
    sim_reply_json(c->arena, r, 200, x->resp);
}
