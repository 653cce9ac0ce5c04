/* sim_anthropic.c — the Anthropic Messages dialect of the simulated
 * provider: header and body validation with Anthropic's error shape, the
 * canonical prompt cut into blocks with cache_control breakpoints (tools ->
 * system -> messages; top-level cache_control = last block), the Message
 * object with every key SDK 1.x declares, and the named-event SSE stream
 * (sections 3.4-3.6, 3.8 and 4 of the wire spec).
 *
 * Pure: reads the parsed body and the sim context, fills a struct sim_reply.
 * Not simulated: thinking, server tools, citations, refusals, diagnostics. */
#include "sim_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct an_req {
    const char *model;
    int stream;
    long max_tokens;
    const char *stops[16];
    size_t nstops;
    const char *user_text; /* last user message */
    int plain_user_last;   /* last message is a user turn, not a tool result */
};

/* The answer: an optional text block, then an optional tool_use block. */
struct an_answer {
    const char *text; /* NULL: no text block */
    size_t len;
    const char *tool_name, *tool_id;
    json_t *tool_input; /* owned */
    const char *tool_json;
    enum sim_end end;
    const char *stop_seq;
    size_t out_tokens;
};

/* ---- errors ------------------------------------------------------------------ */

void sim_anthropic_error(struct sim_ctx *c, struct sim_reply *r, int status, const char *type,
                         const char *msg)
{
    json_t *e = json_pack("{s:s,s:{s:s,s:s},s:n}", "type", "error", "error", "type", type,
                          "message", msg, "request_id");
    sim_reply_json(c->arena, r, status, e);
    json_decref(e);
}

static int invalid(struct sim_ctx *c, struct sim_reply *r, const char *msg)
{
    sim_anthropic_error(c, r, 400, "invalid_request_error", msg);
    return -1;
}

static int invalidf(struct sim_ctx *c, struct sim_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalidf(struct sim_ctx *c, struct sim_reply *r, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return invalid(c, r, msg);
}

/* ---- validation ---------------------------------------------------------------- */

static int dated(const char *v)
{
    /* YYYY-MM-DD: every version the API has shipped looks like this. */
    if (!v || strlen(v) != 10 || v[4] != '-' || v[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)v[i]))
            return 0;
    return 1;
}

static int check_content(struct sim_ctx *c, struct sim_reply *r, const json_t *content, size_t i)
{
    if (!content)
        return invalidf(c, r, "messages.%zu.content: Field required", i);
    if (json_is_string(content))
        return 0;
    if (!json_is_array(content))
        return invalidf(c, r, "messages.%zu.content: Input should be a valid list", i);
    size_t j;
    json_t *blk;
    json_array_foreach(content, j, blk)
    {
        if (!json_is_string(json_object_get(blk, "type")))
            return invalidf(c, r, "messages.%zu.content.%zu.type: Field required", i, j);
    }
    return 0;
}

static int check_messages(struct sim_ctx *c, struct sim_reply *r, const json_t *msgs)
{
    if (!msgs)
        return invalid(c, r, "messages: Field required");
    if (!json_is_array(msgs))
        return invalid(c, r, "messages: Input should be a valid list");
    if (!json_array_size(msgs))
        return invalid(c, r, "messages: at least one message is required");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (!json_is_object(m))
            return invalidf(c, r, "messages.%zu: Input should be a valid dictionary", i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role)
            return invalidf(c, r, "messages.%zu.role: Field required", i);
        if (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system"))
            return invalidf(c, r, "messages.%zu.role: Input should be 'user' or 'assistant'", i);
        if (check_content(c, r, json_object_get(m, "content"), i))
            return -1;
    }
    return 0;
}

static int check_optional(struct sim_ctx *c, struct sim_reply *r, const json_t *b)
{
    const json_t *sys = json_object_get(b, "system");
    if (sys && !json_is_string(sys) && !json_is_array(sys))
        return invalid(c, r, "system: Input should be a valid string");
    const json_t *tools = json_object_get(b, "tools");
    if (tools && !json_is_array(tools))
        return invalid(c, r, "tools: Input should be a valid list");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        if (!json_is_string(json_object_get(t, "name")))
            return invalidf(c, r, "tools.%zu.name: Field required", i);
    }
    const json_t *stops = json_object_get(b, "stop_sequences");
    if (stops && !json_is_array(stops))
        return invalid(c, r, "stop_sequences: Input should be a valid list");
    const json_t *stream = json_object_get(b, "stream");
    if (stream && !json_is_boolean(stream))
        return invalid(c, r, "stream: Input should be a valid boolean");
    return 0;
}

static int validate(struct sim_ctx *c, const json_t *b, struct sim_reply *r, int count_only)
{
    if (!c->anthropic_version)
        return invalid(c, r, "anthropic-version: header is required");
    if (!dated(c->anthropic_version))
        return invalidf(c, r, "anthropic-version: \"%s\" is not a valid version",
                        c->anthropic_version);
    if (!json_is_object(b))
        return invalid(c, r,
                       "There was an error parsing the body of your request: "
                       "expected a JSON object.");
    const json_t *model = json_object_get(b, "model");
    if (!model)
        return invalid(c, r, "model: Field required");
    if (!json_is_string(model))
        return invalid(c, r, "model: Input should be a valid string");
    const json_t *mt = json_object_get(b, "max_tokens");
    if (!count_only && !mt)
        return invalid(c, r, "max_tokens: Field required");
    if (!count_only && !json_is_integer(mt))
        return invalid(c, r, "max_tokens: Input should be a valid integer");
    if (!count_only && json_integer_value(mt) < 0)
        return invalid(c, r, "max_tokens: Input should be greater than or equal to 0");
    if (check_messages(c, r, json_object_get(b, "messages")))
        return -1;
    return check_optional(c, r, b);
}

/* ---- canonical prompt ------------------------------------------------------------- */

static int cc_ttl(const json_t *holder)
{
    const json_t *cc = json_object_get(holder, "cache_control");
    if (!json_is_object(cc))
        return 0;
    const char *ttl = json_string_value(json_object_get(cc, "ttl"));
    return ttl && strcmp(ttl, "1h") == 0 ? 3600 : 300;
}

/* Canonical text of one content block: what the model reads, so a string
 * content and a one-text-block content hash the same. */
static const char *str_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

static const char *block_text(struct fg_arena *a, const json_t *blk)
{
    const char *type = json_string_value(json_object_get(blk, "type"));
    if (!json_is_object(blk) || !type)
        return sim_json_dump(a, blk);
    if (!strcmp(type, "text"))
        return str_or(json_string_value(json_object_get(blk, "text")), "");
    if (!strcmp(type, "thinking"))
        return str_or(json_string_value(json_object_get(blk, "thinking")), "");
    if (!strcmp(type, "tool_use"))
        return fg_arena_printf(a, "%s%s",
                               str_or(json_string_value(json_object_get(blk, "name")), ""),
                               sim_json_dump(a, json_object_get(blk, "input")));
    if (!strcmp(type, "tool_result")) {
        const json_t *content = json_object_get(blk, "content");
        if (json_is_string(content) || !content)
            return str_or(json_string_value(content), "");
        struct sim_buf b = {0};
        size_t i;
        json_t *sub;
        json_array_foreach(content, i, sub) sim_buf_adds(&b, block_text(a, sub));
        const char *s = fg_arena_strndup(a, b.p ? b.p : "", b.len);
        sim_buf_free(&b);
        return s;
    }
    return sim_json_dump_nocc(a, blk);
}

static void add_json_block(struct fg_arena *a, struct sim_prompt *p, const json_t *v, const char *s)
{
    const char *text = s ? s : sim_json_dump_nocc(a, v);
    sim_prompt_add_block(p, text, strlen(text), cc_ttl(v));
}

static void add_messages(struct fg_arena *a, const json_t *msgs, struct sim_prompt *p)
{
    size_t i, j;
    json_t *m, *blk;
    json_array_foreach(msgs, i, m)
    {
        const json_t *content = json_object_get(m, "content");
        sim_prompt_add_header(p, json_string_value(json_object_get(m, "role")));
        if (json_is_string(content)) {
            const char *s = json_string_value(content);
            sim_prompt_add_block(p, s, strlen(s), 0);
        }
        json_array_foreach(content, j, blk) add_json_block(a, p, blk, block_text(a, blk));
    }
}

int sim_anthropic_prompt(struct fg_arena *a, const json_t *body, struct sim_prompt *p, char *err,
                         size_t errlen)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "tools"), i, v) add_json_block(a, p, v, NULL);
    const json_t *sys = json_object_get(body, "system");
    if (json_is_string(sys))
        sim_prompt_add_block(p, json_string_value(sys), strlen(json_string_value(sys)), 0);
    json_array_foreach(sys, i, v) add_json_block(a, p, v, block_text(a, v));
    add_messages(a, json_object_get(body, "messages"), p);
    /* Automatic caching: the top-level marker lands on the last block and
     * takes one of the four slots unless that block already has one. */
    int top = cc_ttl(body);
    if (top && p->nblocks && !p->block_ttl[p->nblocks - 1]) {
        p->block_ttl[p->nblocks - 1] = top;
        p->nbreakpoints++;
    }
    if (p->nbreakpoints > 4) {
        snprintf(err, errlen, "A maximum of 4 blocks with cache_control may be provided. Found %d.",
                 p->nbreakpoints);
        return -1;
    }
    return 0;
}

/* ---- request facts ------------------------------------------------------------------ */

/* Text blocks of a message content joined by newlines (tool results are
 * not the user's words). */
static const char *user_text(struct fg_arena *a, const json_t *content, int *has_tool_result)
{
    if (json_is_string(content))
        return json_string_value(content);
    struct sim_buf b = {0};
    size_t i;
    json_t *blk;
    json_array_foreach(content, i, blk)
    {
        const char *type = json_string_value(json_object_get(blk, "type"));
        const char *t = json_string_value(json_object_get(blk, "text"));
        if (type && !strcmp(type, "tool_result"))
            *has_tool_result = 1;
        if (!type || strcmp(type, "text") || !t)
            continue;
        if (b.len)
            sim_buf_add(&b, "\n", 1);
        sim_buf_adds(&b, t);
    }
    const char *s = fg_arena_strndup(a, b.p ? b.p : "", b.len);
    sim_buf_free(&b);
    return s;
}

const char *sim_anthropic_last_user_text(struct fg_arena *a, const json_t *body)
{
    const json_t *msgs = json_object_get(body, "messages");
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        int tr = 0;
        if (role && !strcmp(role, "user"))
            return user_text(a, json_object_get(m, "content"), &tr);
    }
    return "";
}

static void parse_req(struct sim_ctx *c, const json_t *b, struct an_req *q)
{
    memset(q, 0, sizeof *q);
    q->model = json_string_value(json_object_get(b, "model"));
    q->stream = json_is_true(json_object_get(b, "stream"));
    q->max_tokens = (long)json_integer_value(json_object_get(b, "max_tokens"));
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(b, "stop_sequences"), i, s)
    {
        if (json_is_string(s) && q->nstops < sizeof q->stops / sizeof q->stops[0])
            q->stops[q->nstops++] = json_string_value(s);
    }
    q->user_text = sim_anthropic_last_user_text(c->arena, b);
    const json_t *msgs = json_object_get(b, "messages");
    const json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *role = json_string_value(json_object_get(last, "role"));
    int tr = 0;
    user_text(c->arena, json_object_get(last, "content"), &tr);
    q->plain_user_last = role && !strcmp(role, "user") && !tr;
}

/* ---- the answer ----------------------------------------------------------------------- */

static const json_t *find_tool(const json_t *tools, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *n = json_string_value(json_object_get(t, "name"));
        /* Server tools (versioned "type", no input_schema) are not ours to call. */
        if (n && json_object_get(t, "input_schema") && (!name || !strcmp(n, name)))
            return t;
    }
    return NULL;
}

/* The tool to call, or NULL.  <forced> tells any/tool (no preamble text)
 * from auto, which answers "when the user's latest turn names the tool". */
static const json_t *pick_tool(const json_t *b, const struct an_req *q, int *forced)
{
    const json_t *tools = json_object_get(b, "tools");
    const json_t *tc = json_object_get(b, "tool_choice");
    const char *type = json_string_value(json_object_get(tc, "type"));
    *forced = 1;
    if (!json_array_size(tools) || (type && !strcmp(type, "none")))
        return NULL;
    if (type && !strcmp(type, "any"))
        return find_tool(tools, NULL);
    if (type && !strcmp(type, "tool"))
        return find_tool(tools, json_string_value(json_object_get(tc, "name")));
    *forced = 0;
    if (!q->plain_user_last)
        return NULL;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        if (json_object_get(t, "input_schema") &&
            sim_tool_mentioned(q->user_text, json_string_value(json_object_get(t, "name"))))
            return t;
    }
    return NULL;
}

/* Structured output schema: output_config.format (GA) or the legacy
 * top-level output_format. */
static const json_t *output_schema(const json_t *b)
{
    const json_t *fmt = json_object_get(json_object_get(b, "output_config"), "format");
    if (!fmt)
        fmt = json_object_get(b, "output_format");
    const char *type = json_string_value(json_object_get(fmt, "type"));
    if (!type || strcmp(type, "json_schema"))
        return NULL;
    const json_t *schema = json_object_get(fmt, "schema");
    return schema ? schema : json_object_get(json_object_get(fmt, "json_schema"), "schema");
}

static void tool_answer(struct sim_ctx *c, const json_t *tool, int forced, struct an_answer *ans)
{
    const json_t *schema = json_object_get(tool, "input_schema");
    ans->tool_input = sim_schema_value(schema, schema);
    if (!json_is_object(ans->tool_input)) {
        json_decref(ans->tool_input);
        ans->tool_input = json_object();
    }
    ans->tool_name = json_string_value(json_object_get(tool, "name"));
    ans->tool_id = fg_arena_printf(c->arena, "toolu_sim_%s", c->id);
    ans->tool_json = sim_json_dump(c->arena, ans->tool_input);
    if (!forced) { /* auto: Claude says what it is about to do */
        ans->text = fg_arena_printf(c->arena, "I'll use the %s tool.", ans->tool_name);
        ans->len = strlen(ans->text);
    }
    ans->end = SIM_END_TOOL;
    ans->out_tokens =
        sim_tokens(ans->len) + sim_tokens(strlen(ans->tool_name) + strlen(ans->tool_json));
}

static void make_answer(struct sim_ctx *c, const json_t *b, const struct an_req *q,
                        struct an_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    if (q->max_tokens == 0) { /* cache pre-warm: no content at all */
        ans->end = SIM_END_LENGTH;
        return;
    }
    int forced;
    const json_t *tool = pick_tool(b, q, &forced);
    if (tool) {
        tool_answer(c, tool, forced, ans);
        return;
    }
    const json_t *schema = c->bad_schema ? NULL : output_schema(b);
    const char *text;
    if (schema) {
        json_t *v = sim_schema_value(schema, schema);
        text = sim_json_dump(c->arena, v);
        json_decref(v);
    } else {
        text = sim_answer(c, q->model, q->user_text);
    }
    ans->len = sim_apply_limits(text, strlen(text), q->stops, q->nstops, q->max_tokens, &ans->end,
                                &ans->stop_seq);
    ans->text = fg_arena_strndup(c->arena, text, ans->len);
    ans->out_tokens = sim_tokens(ans->len);
}

static const char *stop_reason(enum sim_end end)
{
    switch (end) {
    case SIM_END_STOP: return "stop_sequence";
    case SIM_END_LENGTH: return "max_tokens";
    case SIM_END_TOOL: return "tool_use";
    default: return "end_turn";
    }
}

/* ---- response shapes ------------------------------------------------------------------ */

static json_t *usage(const struct sim_anth_usage *u, size_t out)
{
    return json_pack("{s:I,s:I,s:I,s:{s:I,s:I},s:I,s:{s:i},s:n,s:s,s:s,s:n}", "input_tokens",
                     (json_int_t)u->input, "cache_creation_input_tokens",
                     (json_int_t)(u->write_5m + u->write_1h), "cache_read_input_tokens",
                     (json_int_t)u->read, "cache_creation", "ephemeral_5m_input_tokens",
                     (json_int_t)u->write_5m, "ephemeral_1h_input_tokens", (json_int_t)u->write_1h,
                     "output_tokens", (json_int_t)out, "output_tokens_details", "thinking_tokens",
                     0, "server_tool_use", "service_tier", "standard", "speed", "standard",
                     "inference_geo");
}

/* #sim:bad_usage: the count a broken provider once sent. */
#define SIM_BAD_COUNT (-99999999999LL)

static json_t *usage_for(const struct sim_ctx *c, const struct sim_anth_usage *u, size_t out)
{
    json_t *v = usage(u, out);
    if (c->bad_usage)
        json_object_set_new(v, "output_tokens", json_integer(SIM_BAD_COUNT));
    return v;
}

/* The Message object; <content> is stolen; NULL <stop> is null. */
static json_t *message(struct sim_ctx *c, const struct an_req *q, json_t *content, const char *stop,
                       const char *stop_seq, json_t *usage_obj)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s?,s:s?,s:n,s:n,s:n,s:o}", "id",
                     fg_arena_printf(c->arena, "msg_sim_%s", c->id), "type", "message", "role",
                     "assistant", "model", q->model, "content", content, "stop_reason", stop,
                     "stop_sequence", stop_seq, "stop_details", "container", "diagnostics", "usage",
                     usage_obj);
}

static json_t *tool_block(const struct an_answer *ans, json_t *input)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:{s:s}}", "type", "tool_use", "id", ans->tool_id, "name",
                     ans->tool_name, "input", input, "caller", "type", "direct");
}

static void body_reply(struct sim_ctx *c, const struct an_req *q, const struct an_answer *ans,
                       const struct sim_anth_usage *u, struct sim_reply *r)
{
    json_t *content = json_array();
    if (ans->text)
        json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", ans->text));
    if (ans->tool_name)
        json_array_append_new(content, tool_block(ans, json_incref(ans->tool_input)));
    json_t *msg = message(c, q, content, stop_reason(ans->end), ans->stop_seq,
                          usage_for(c, u, ans->out_tokens));
    sim_reply_json(c->arena, r, 200, msg);
    json_decref(msg);
}

/* One named event; <data> is stolen. */
static void push_event(struct sim_ctx *c, struct sim_reply *r, const char *name, json_t *data)
{
    sim_events_push(c->arena, &r->events, sim_sse(c->arena, name, sim_json_dump(c->arena, data)));
    json_decref(data);
}

static void push_ping(struct sim_ctx *c, struct sim_reply *r)
{
    push_event(c, r, "ping", json_pack("{s:s}", "type", "ping"));
}

static void push_delta(struct sim_ctx *c, struct sim_reply *r, int idx, const char *dtype,
                       const char *key, const char *piece)
{
    push_event(c, r, "content_block_delta",
               json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_delta", "index", idx,
                         "delta", "type", dtype, key, piece));
}

static void push_start(struct sim_ctx *c, struct sim_reply *r, int idx, json_t *block)
{
    push_event(c, r, "content_block_start",
               json_pack("{s:s,s:i,s:o}", "type", "content_block_start", "index", idx,
                         "content_block", block));
    if (idx == 0) /* where the API sends its first ping */
        push_ping(c, r);
}

static void push_stop(struct sim_ctx *c, struct sim_reply *r, int idx)
{
    push_event(c, r, "content_block_stop",
               json_pack("{s:s,s:i}", "type", "content_block_stop", "index", idx));
}

static int stream_blocks(struct sim_ctx *c, const struct an_answer *ans, struct sim_reply *r)
{
    int idx = 0;
    if (ans->text) {
        push_start(c, r, idx, json_pack("{s:s,s:s}", "type", "text", "text", ""));
        for (size_t off = 0, end; off < ans->len; off = end) {
            end = sim_next_words(ans->text, ans->len, off, 3);
            push_delta(c, r, idx, "text_delta", "text",
                       fg_arena_strndup(c->arena, ans->text + off, end - off));
        }
        push_stop(c, r, idx++);
    }
    if (ans->tool_name) {
        push_start(c, r, idx, tool_block(ans, json_object()));
        size_t len = strlen(ans->tool_json);
        for (size_t off = 0, end; off < len; off = end) {
            end = sim_next_bytes(ans->tool_json, len, off, 24);
            push_delta(c, r, idx, "input_json_delta", "partial_json",
                       fg_arena_strndup(c->arena, ans->tool_json + off, end - off));
        }
        push_stop(c, r, idx++);
    }
    return idx;
}

static void stream_reply(struct sim_ctx *c, const struct an_req *q, const struct an_answer *ans,
                         const struct sim_anth_usage *u, struct sim_reply *r)
{
    r->status = 200;
    r->stream = 1;
    r->content_type = "text/event-stream";
    push_event(c, r, "message_start",
               json_pack("{s:s,s:o}", "type", "message_start", "message",
                         message(c, q, json_array(), NULL, NULL, usage(u, 1))));
    if (stream_blocks(c, ans, r) == 0)
        push_ping(c, r);
    /* message_delta usage is cumulative: totals, never increments. */
    push_event(c, r, "message_delta",
               json_pack("{s:s,s:{s:s,s:s?,s:n,s:n},s:{s:I,s:I,s:I,s:I}}", "type", "message_delta",
                         "delta", "stop_reason", stop_reason(ans->end), "stop_sequence",
                         ans->stop_seq, "stop_details", "container", "usage", "input_tokens",
                         (json_int_t)u->input, "cache_creation_input_tokens",
                         (json_int_t)(u->write_5m + u->write_1h), "cache_read_input_tokens",
                         (json_int_t)u->read, "output_tokens",
                         c->bad_usage ? (json_int_t)SIM_BAD_COUNT : (json_int_t)ans->out_tokens));
    push_event(c, r, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

/* Validate and build the prompt; 0 or -1 with the error reply filled. */
static int prepare(struct sim_ctx *c, const json_t *b, struct sim_reply *r, int count_only,
                   struct sim_prompt *p)
{
    char err[160];
    memset(p, 0, sizeof *p);
    if (validate(c, b, r, count_only))
        return -1;
    if (sim_anthropic_prompt(c->arena, b, p, err, sizeof err)) {
        sim_prompt_free(p);
        return invalid(c, r, fg_arena_strdup(c->arena, err));
    }
    return 0;
}

void sim_anthropic_messages(struct sim_ctx *c, const json_t *b, struct sim_reply *r)
{
    struct sim_prompt p;
    if (prepare(c, b, r, 0, &p) == 0) {
        struct an_req q;
        struct sim_anth_usage u;
        struct an_answer ans;
        parse_req(c, b, &q);
        sim_anthropic_cache(c->cache, q.model, &p, c->now_ms, &u);
        sim_prompt_free(&p);
        make_answer(c, b, &q, &ans);
        if (q.stream)
            stream_reply(c, &q, &ans, &u, r);
        else
            body_reply(c, &q, &ans, &u, r);
        json_decref(ans.tool_input);
    }
    sim_reply_header(r, "request-id", fg_arena_printf(c->arena, "req_sim_%s", c->id));
}

void sim_anthropic_count_tokens(struct sim_ctx *c, const json_t *b, struct sim_reply *r)
{
    struct sim_prompt p;
    if (prepare(c, b, r, 1, &p) == 0) {
        json_t *v = json_pack("{s:I}", "input_tokens", (json_int_t)sim_prompt_tokens(&p));
        sim_prompt_free(&p);
        sim_reply_json(c->arena, r, 200, v);
        json_decref(v);
    }
    sim_reply_header(r, "request-id", fg_arena_printf(c->arena, "req_sim_%s", c->id));
}
