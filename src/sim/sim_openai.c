/* sim_openai.c — the OpenAI Chat Completions dialect of the simulated
 * provider: request validation with OpenAI's error shapes, the canonical
 * prompt (tools, response_format schema, messages) for usage and automatic
 * prefix caching, and the response object / chunk stream exactly as the
 * wire spec (sections 1.4-1.6) shows them.
 *
 * Pure: reads the parsed body and the sim context, fills a struct sim_reply.
 * Not simulated: n > 1, logprobs, audio, refusals, custom tools. */
#include "sim_internal.h"

#include <stdio.h>
#include <string.h>

/* Everything the response depends on, extracted once. */
struct oa_req {
    const char *model;
    int stream, include_usage;
    long max_tokens; /* -1: none */
    const char *stops[4];
    size_t nstops;
    const char *user_text; /* last user message */
    int last_is_user;      /* the last message is a user message */
    const char *service_tier;
};

struct oa_answer {
    const char *text; /* NULL with a tool call */
    size_t len;
    const char *tool_name, *tool_id, *tool_args;
    enum sim_end end;
    size_t out_tokens;
};

/* ---- errors --------------------------------------------------------------- */

void sim_openai_error(struct sim_ctx *c, struct sim_reply *r, int status, const char *type,
                      const char *param, const char *code, const char *msg)
{
    json_t *e = json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", msg, "type", type, "param",
                          param, "code", code);
    sim_reply_json(c->arena, r, status, e);
    json_decref(e);
}

static int invalid(struct sim_ctx *c, struct sim_reply *r, const char *param, const char *code,
                   const char *msg)
{
    sim_openai_error(c, r, 400, "invalid_request_error", param, code, msg);
    return -1;
}

/* "a string", "an integer", ...: the wording of OpenAI's type errors. */
static const char *a_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a decimal";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int wrong_type(struct sim_ctx *c, struct sim_reply *r, const char *param,
                      const char *expected, const json_t *v)
{
    const char *m =
        fg_arena_printf(c->arena, "Invalid type for '%s': expected %s, but got %s instead.", param,
                        expected, a_type(v));
    return invalid(c, r, param, "invalid_type", m);
}

static int missing(struct sim_ctx *c, struct sim_reply *r, const char *param)
{
    const char *m = fg_arena_printf(c->arena, "Missing required parameter: '%s'.", param);
    return invalid(c, r, param, "missing_required_parameter", m);
}

/* ---- validation ------------------------------------------------------------ */

static int valid_role(const char *role)
{
    static const char *const roles[] = {"system",   "assistant", "user",
                                        "function", "tool",      "developer"};
    for (size_t i = 0; role && i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i]) == 0)
            return 1;
    return 0;
}

static int check_message(struct sim_ctx *c, struct sim_reply *r, const json_t *m, size_t i)
{
    const char *at = fg_arena_printf(c->arena, "messages[%zu]", i);
    if (!json_is_object(m))
        return wrong_type(c, r, at, "an object", m);
    const json_t *role = json_object_get(m, "role");
    if (!role)
        return missing(c, r, fg_arena_printf(c->arena, "%s.role", at));
    if (!valid_role(json_string_value(role))) {
        const char *msg = fg_arena_printf(
            c->arena,
            "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', "
            "'function', 'tool', and 'developer'.",
            json_is_string(role) ? json_string_value(role) : sim_json_dump(c->arena, role));
        return invalid(c, r, fg_arena_printf(c->arena, "%s.role", at), "invalid_value", msg);
    }
    const char *rs = json_string_value(role);
    const json_t *content = json_object_get(m, "content");
    int is_assistant = strcmp(rs, "assistant") == 0;
    if (!content && !is_assistant)
        return missing(c, r, fg_arena_printf(c->arena, "%s.content", at));
    if (content && !json_is_string(content) && !json_is_array(content) &&
        !(is_assistant && json_is_null(content)))
        return wrong_type(c, r, fg_arena_printf(c->arena, "%s.content", at),
                          "one of a string or array of objects", content);
    if (strcmp(rs, "tool") == 0 && !json_is_string(json_object_get(m, "tool_call_id")))
        return missing(c, r, fg_arena_printf(c->arena, "%s.tool_call_id", at));
    return 0;
}

static int check_limit(struct sim_ctx *c, struct sim_reply *r, const json_t *b, const char *key)
{
    const json_t *v = json_object_get(b, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return wrong_type(c, r, key, "an integer", v);
    if (json_integer_value(v) < 1) {
        const char *m = fg_arena_printf(c->arena,
                                        "Invalid '%s': integer below minimum value. Expected a "
                                        "value >= 1, but got %lld instead.",
                                        key, (long long)json_integer_value(v));
        return invalid(c, r, key, "integer_below_min_value", m);
    }
    return 0;
}

static int check_tools(struct sim_ctx *c, struct sim_reply *r, const json_t *tools)
{
    if (!tools || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return wrong_type(c, r, "tools", "an array", tools);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *at = fg_arena_printf(c->arena, "tools[%zu]", i);
        if (!json_is_object(t))
            return wrong_type(c, r, at, "an object", t);
        const char *type = json_string_value(json_object_get(t, "type"));
        if (type && strcmp(type, "custom") == 0)
            continue;
        const json_t *fn = json_object_get(t, "function");
        if (!json_is_object(fn))
            return missing(c, r, fg_arena_printf(c->arena, "%s.function", at));
        if (!json_is_string(json_object_get(fn, "name")))
            return missing(c, r, fg_arena_printf(c->arena, "%s.function.name", at));
    }
    return 0;
}

static int check_stop(struct sim_ctx *c, struct sim_reply *r, const json_t *stop)
{
    if (!stop || json_is_null(stop) || json_is_string(stop))
        return 0;
    if (!json_is_array(stop))
        return wrong_type(c, r, "stop", "one of a string or array of strings", stop);
    size_t i;
    json_t *s;
    json_array_foreach(stop, i, s)
    {
        if (!json_is_string(s))
            return wrong_type(c, r, fg_arena_printf(c->arena, "stop[%zu]", i), "a string", s);
    }
    if (json_array_size(stop) > 4)
        return invalid(c, r, "stop", "array_above_max_length",
                       "Invalid 'stop': array too long. Expected an array with maximum length "
                       "4.");
    return 0;
}

static int validate(struct sim_ctx *c, const json_t *b, struct sim_reply *r)
{
    if (!json_is_object(b))
        return invalid(c, r, NULL, NULL,
                       "We could not parse the JSON body of your request. (HINT: This likely "
                       "means you aren't using your HTTP library correctly. The OpenAI API "
                       "expects a JSON payload, but what was sent was not valid JSON.)");
    const json_t *model = json_object_get(b, "model");
    if (!model)
        return invalid(c, r, NULL, NULL, "you must provide a model parameter");
    if (!json_is_string(model))
        return wrong_type(c, r, "model", "a string", model);
    const json_t *msgs = json_object_get(b, "messages");
    if (!msgs)
        return missing(c, r, "messages");
    if (!json_is_array(msgs))
        return wrong_type(c, r, "messages", "an array", msgs);
    if (!json_array_size(msgs))
        return invalid(c, r, "messages", "empty_array",
                       "Invalid 'messages': empty array. Expected an array with minimum length "
                       "1, but got an empty array instead.");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (check_message(c, r, m, i))
            return -1;
    }
    const json_t *stream = json_object_get(b, "stream");
    if (stream && !json_is_boolean(stream) && !json_is_null(stream))
        return wrong_type(c, r, "stream", "a boolean", stream);
    /* OpenAI: stream_options only with stream: true (providers.md) */
    const json_t *so = json_object_get(b, "stream_options");
    if (so && !json_is_null(so) && !json_is_true(stream))
        return invalid(c, r, "stream_options", NULL,
                       "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
    if (check_limit(c, r, b, "max_tokens") || check_limit(c, r, b, "max_completion_tokens"))
        return -1;
    return check_tools(c, r, json_object_get(b, "tools")) ||
           check_stop(c, r, json_object_get(b, "stop"));
}

/* ---- request facts and canonical prompt ------------------------------------ */

/* Text of a content value: the string, or text parts joined by newlines;
 * non-text parts as their JSON (so they still count and still hash). */
static void content_text(struct fg_arena *a, const json_t *content, struct sim_buf *out,
                         int text_only)
{
    if (json_is_string(content)) {
        sim_buf_adds(out, json_string_value(content));
        return;
    }
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *t = json_string_value(json_object_get(part, "text"));
        if (!t && text_only)
            continue;
        if (out->len)
            sim_buf_add(out, "\n", 1);
        sim_buf_adds(out, t ? t : sim_json_dump(a, part));
    }
}

const char *sim_openai_last_user_text(struct fg_arena *a, const json_t *body)
{
    const json_t *msgs = json_object_get(body, "messages");
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "user") == 0) {
            struct sim_buf b = {0};
            content_text(a, json_object_get(m, "content"), &b, 1);
            char *s = fg_arena_strndup(a, b.p ? b.p : "", b.len);
            sim_buf_free(&b);
            return s;
        }
    }
    return "";
}

void sim_openai_prompt(struct fg_arena *a, const json_t *body, struct sim_prompt *p)
{
    /* Order as OpenAI renders it: tools and schemas before the messages,
     * which is why changing a tool breaks the whole cached prefix. */
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "tools"), i, v)
    {
        const char *s = sim_json_dump(a, v);
        sim_prompt_add_block(p, s, strlen(s), 0);
    }
    const json_t *rf = json_object_get(body, "response_format");
    if (json_is_object(json_object_get(rf, "json_schema"))) {
        const char *s = sim_json_dump(a, json_object_get(rf, "json_schema"));
        sim_prompt_add_block(p, s, strlen(s), 0);
    }
    json_array_foreach(json_object_get(body, "messages"), i, v)
    {
        struct sim_buf b = {0};
        sim_prompt_add_header(p, json_string_value(json_object_get(v, "role")));
        content_text(a, json_object_get(v, "content"), &b, 0);
        const json_t *calls = json_object_get(v, "tool_calls");
        if (calls)
            sim_buf_adds(&b, sim_json_dump(a, calls));
        sim_prompt_add_block(p, b.p ? b.p : "", b.len, 0);
        sim_buf_free(&b);
    }
}

static void parse_req(struct sim_ctx *c, const json_t *b, struct oa_req *q)
{
    memset(q, 0, sizeof *q);
    q->model = json_string_value(json_object_get(b, "model"));
    q->stream = json_is_true(json_object_get(b, "stream"));
    q->include_usage =
        q->stream &&
        json_is_true(json_object_get(json_object_get(b, "stream_options"), "include_usage"));
    const json_t *mt = json_object_get(b, "max_completion_tokens");
    if (!json_is_integer(mt))
        mt = json_object_get(b, "max_tokens");
    q->max_tokens = json_is_integer(mt) ? (long)json_integer_value(mt) : -1;
    const json_t *stop = json_object_get(b, "stop");
    if (json_is_string(stop))
        q->stops[q->nstops++] = json_string_value(stop);
    for (size_t i = 0; i < json_array_size(stop) && q->nstops < 4; i++)
        q->stops[q->nstops++] = json_string_value(json_array_get(stop, i));
    q->user_text = sim_openai_last_user_text(c->arena, b);
    const json_t *msgs = json_object_get(b, "messages");
    const json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *role = json_string_value(json_object_get(last, "role"));
    q->last_is_user = role && strcmp(role, "user") == 0;
    /* The tier actually used: "fast" is reported as "priority". */
    const char *tier = json_string_value(json_object_get(b, "service_tier"));
    q->service_tier = "default";
    if (tier && (!strcmp(tier, "flex") || !strcmp(tier, "priority") || !strcmp(tier, "scale")))
        q->service_tier = tier;
    else if (tier && !strcmp(tier, "fast"))
        q->service_tier = "priority";
}

/* ---- the answer ----------------------------------------------------------------- */

static const json_t *find_function(const json_t *tools, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const json_t *fn = json_object_get(t, "function");
        const char *n = json_string_value(json_object_get(fn, "name"));
        if (n && (!name || strcmp(n, name) == 0))
            return fn;
    }
    return NULL;
}

/* The function to call, or NULL for a text answer.  "auto" calls a tool
 * only when the user's latest turn names it, so agent loops end after the
 * tool result comes back. */
static const json_t *pick_tool(const json_t *b, const struct oa_req *q)
{
    const json_t *tools = json_object_get(b, "tools");
    const json_t *tc = json_object_get(b, "tool_choice");
    if (!json_array_size(tools))
        return NULL;
    const char *mode = json_string_value(tc);
    if (mode && strcmp(mode, "none") == 0)
        return NULL;
    if (mode && strcmp(mode, "required") == 0)
        return find_function(tools, NULL);
    if (json_is_object(tc)) {
        const char *type = json_string_value(json_object_get(tc, "type"));
        const json_t *fn = json_object_get(tc, "function");
        if (type && strcmp(type, "function") == 0)
            return find_function(tools, json_string_value(json_object_get(fn, "name")));
        const json_t *allowed = json_object_get(tc, "allowed_tools");
        const char *amode = json_string_value(json_object_get(allowed, "mode"));
        if (amode && strcmp(amode, "required") == 0) {
            const json_t *first = json_array_get(json_object_get(allowed, "tools"), 0);
            const json_t *ffn = json_object_get(first, "function");
            return find_function(tools, json_string_value(json_object_get(ffn, "name")));
        }
    }
    if (!q->last_is_user)
        return NULL;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const json_t *fn = json_object_get(t, "function");
        if (sim_tool_mentioned(q->user_text, json_string_value(json_object_get(fn, "name"))))
            return fn;
    }
    return NULL;
}

/* Content text before limits: schema JSON, JSON mode, or prose. */
static const char *raw_text(struct sim_ctx *c, const json_t *b, const struct oa_req *q)
{
    const json_t *rf = json_object_get(b, "response_format");
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (type && strcmp(type, "json_schema") == 0 && !c->bad_schema) {
        const json_t *schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        json_t *v = sim_schema_value(schema, schema);
        const char *s = sim_json_dump(c->arena, v);
        json_decref(v);
        return s;
    }
    const char *prose = sim_answer(c, q->model, q->user_text);
    if (type && strcmp(type, "json_object") == 0) {
        json_t *v = json_pack("{s:s}", "result", prose);
        const char *s = sim_json_dump(c->arena, v);
        json_decref(v);
        return s;
    }
    return prose;
}

static void make_answer(struct sim_ctx *c, const json_t *b, const struct oa_req *q,
                        struct oa_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    const json_t *fn = pick_tool(b, q);
    if (fn) {
        const json_t *params = json_object_get(fn, "parameters");
        json_t *args = params ? sim_schema_value(params, params) : json_object();
        if (!json_is_object(args)) {
            json_decref(args);
            args = json_object();
        }
        ans->tool_name = json_string_value(json_object_get(fn, "name"));
        ans->tool_args = sim_json_dump(c->arena, args);
        ans->tool_id = fg_arena_printf(c->arena, "call_sim_%.12s", c->id);
        ans->end = SIM_END_TOOL;
        ans->out_tokens = sim_tokens(strlen(ans->tool_name) + strlen(ans->tool_args));
        json_decref(args);
        return;
    }
    const char *matched;
    ans->text = raw_text(c, b, q);
    ans->len = sim_apply_limits(ans->text, strlen(ans->text), q->stops, q->nstops, q->max_tokens,
                                &ans->end, &matched);
    if (c->content_filter) {
        /* the filter stops generation a few words in */
        ans->len = sim_next_words(ans->text, ans->len, 0, 3);
        ans->end = SIM_END_FILTER;
    }
    ans->text = fg_arena_strndup(c->arena, ans->text, ans->len);
    ans->out_tokens = sim_tokens(ans->len);
}

static const char *finish_reason(enum sim_end end)
{
    switch (end) {
    case SIM_END_LENGTH: return "length";
    case SIM_END_TOOL: return "tool_calls";
    case SIM_END_FILTER: return "content_filter";
    default: return "stop";
    }
}

/* ---- response shapes --------------------------------------------------------------- */

static json_t *usage(size_t prompt, size_t cached, size_t completion)
{
    return json_pack("{s:I,s:I,s:I,s:{s:I,s:i},s:{s:i,s:i,s:i,s:i}}", "prompt_tokens",
                     (json_int_t)prompt, "completion_tokens", (json_int_t)completion,
                     "total_tokens", (json_int_t)(prompt + completion), "prompt_tokens_details",
                     "cached_tokens", (json_int_t)cached, "audio_tokens", 0,
                     "completion_tokens_details", "reasoning_tokens", 0, "audio_tokens", 0,
                     "accepted_prediction_tokens", 0, "rejected_prediction_tokens", 0);
}

/* #sim:bad_usage: the count a broken provider once sent. */
#define SIM_BAD_COUNT (-99999999999LL)

static json_t *usage_for(const struct sim_ctx *c, size_t prompt, size_t cached, size_t completion)
{
    json_t *u = usage(prompt, cached, completion);
    if (c->bad_usage)
        json_object_set_new(u, "completion_tokens", json_integer(SIM_BAD_COUNT));
    return u;
}

static json_t *tool_call(const struct oa_answer *ans, const char *args)
{
    return json_pack("{s:i,s:s,s:s,s:{s:s,s:s}}", "index", 0, "id", ans->tool_id, "type",
                     "function", "function", "name", ans->tool_name, "arguments", args);
}

static void body_reply(struct sim_ctx *c, const struct oa_req *q, const struct oa_answer *ans,
                       size_t prompt, size_t cached, struct sim_reply *r)
{
    json_t *msg =
        json_pack("{s:s,s:o,s:n,s:[]}", "role", "assistant", "content",
                  ans->text ? json_string(ans->text) : json_null(), "refusal", "annotations");
    if (ans->tool_name) {
        json_t *call = tool_call(ans, ans->tool_args);
        json_object_del(call, "index"); /* only deltas carry an index */
        json_object_set_new(msg, "tool_calls", json_pack("[o]", call));
    }
    json_t *resp =
        json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n,s:s}],s:s,s:s}", "id",
                  fg_arena_printf(c->arena, "chatcmpl-sim-%s", c->id), "object", "chat.completion",
                  "created", (json_int_t)c->created, "model", q->model, "choices", "index", 0,
                  "message", msg, "logprobs", "finish_reason", finish_reason(ans->end),
                  "service_tier", q->service_tier, "system_fingerprint", "fp_sim");
    sim_flavour_usage(sim_flavour_of(q->model), resp, usage_for(c, prompt, cached, ans->out_tokens),
                      prompt, cached, ans->out_tokens);
    if (c->azure) {
        json_object_set_new(resp, "prompt_filter_results", sim_azure_prompt_results());
        json_object_set_new(json_array_get(json_object_get(resp, "choices"), 0),
                            "content_filter_results",
                            sim_azure_choice_results(ans->end == SIM_END_FILTER));
    }
    sim_reply_json(c->arena, r, 200, resp);
    json_decref(resp);
}

/* One chunk frame; <delta> is stolen, NULL <finish> is null. */
static void push_chunk(struct sim_ctx *c, const struct oa_req *q, struct sim_reply *r,
                       json_t *delta, const char *finish)
{
    json_t *ch =
        json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:[{s:i,s:o,s:n,s:s?}]}", "id",
                  fg_arena_printf(c->arena, "chatcmpl-sim-%s", c->id), "object",
                  "chat.completion.chunk", "created", (json_int_t)c->created, "model", q->model,
                  "service_tier", q->service_tier, "system_fingerprint", "fp_sim", "choices",
                  "index", 0, "delta", delta, "logprobs", "finish_reason", finish);
    if (q->include_usage)
        json_object_set_new(ch, "usage", json_null());
    if (c->azure && finish) /* Azure annotates what it let through */
        json_object_set_new(json_array_get(json_object_get(ch, "choices"), 0),
                            "content_filter_results",
                            sim_azure_choice_results(!strcmp(finish, "content_filter")));
    sim_events_push(c->arena, &r->events, sim_sse(c->arena, NULL, sim_json_dump(c->arena, ch)));
    json_decref(ch);
}

static void stream_pieces(struct sim_ctx *c, const struct oa_req *q, const struct oa_answer *ans,
                          struct sim_reply *r)
{
    if (ans->tool_name) {
        json_t *first = tool_call(ans, "");
        push_chunk(c, q, r, json_pack("{s:[o]}", "tool_calls", first), NULL);
        const char *s = ans->tool_args;
        size_t len = strlen(s);
        for (size_t off = 0, end; off < len; off = end) {
            end = sim_next_bytes(s, len, off, 24);
            char *piece = fg_arena_strndup(c->arena, s + off, end - off);
            push_chunk(c, q, r,
                       json_pack("{s:[{s:i,s:{s:s}}]}", "tool_calls", "index", 0, "function",
                                 "arguments", piece),
                       NULL);
        }
        return;
    }
    for (size_t off = 0, end; off < ans->len; off = end) {
        end = sim_next_words(ans->text, ans->len, off, 3);
        char *piece = fg_arena_strndup(c->arena, ans->text + off, end - off);
        push_chunk(c, q, r, json_pack("{s:s}", "content", piece), NULL);
    }
}

static void stream_reply(struct sim_ctx *c, const struct oa_req *q, const struct oa_answer *ans,
                         size_t prompt, size_t cached, struct sim_reply *r)
{
    r->status = 200;
    r->stream = 1;
    r->content_type = "text/event-stream";
    if (sim_flavour_of(q->model) == SIM_FLAVOUR_DEEPSEEK) /* as DeepSeek under load */
        sim_events_push(c->arena, &r->events, ": keep-alive\n\n");
    if (c->azure) { /* Azure's stream opens with the prompt's filter results */
        json_t *pf =
            json_pack("{s:s,s:s,s:i,s:s,s:[],s:o}", "id", "", "object", "", "created", 0, "model",
                      "", "choices", "prompt_filter_results", sim_azure_prompt_results());
        sim_events_push(c->arena, &r->events, sim_sse(c->arena, NULL, sim_json_dump(c->arena, pf)));
        json_decref(pf);
    }
    json_t *role = json_pack("{s:s,s:o,s:n}", "role", "assistant", "content",
                             ans->tool_name ? json_null() : json_string(""), "refusal");
    push_chunk(c, q, r, role, NULL);
    stream_pieces(c, q, ans, r);
    push_chunk(c, q, r, json_object(), finish_reason(ans->end));
    enum sim_flavour f = sim_flavour_of(q->model);
    /* Groq and llama-server send their counts whether asked or not */
    if ((q->include_usage && f != SIM_FLAVOUR_NONE) || f == SIM_FLAVOUR_GROQ ||
        f == SIM_FLAVOUR_LLAMACPP) {
        json_t *u =
            json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:[]}", "id",
                      fg_arena_printf(c->arena, "chatcmpl-sim-%s", c->id), "object",
                      "chat.completion.chunk", "created", (json_int_t)c->created, "model", q->model,
                      "service_tier", q->service_tier, "system_fingerprint", "fp_sim", "choices");
        sim_flavour_usage(f, u, usage_for(c, prompt, cached, ans->out_tokens), prompt, cached,
                          ans->out_tokens);
        sim_events_push(c->arena, &r->events, sim_sse(c->arena, NULL, sim_json_dump(c->arena, u)));
        json_decref(u);
    }
    sim_events_push(c->arena, &r->events, "data: [DONE]\n\n");
}

void sim_openai_chat(struct sim_ctx *c, const json_t *b, struct sim_reply *r)
{
    if (validate(c, b, r))
        return;
    struct oa_req q;
    parse_req(c, b, &q);
    struct sim_prompt p = {0};
    sim_openai_prompt(c->arena, b, &p);
    size_t prompt = sim_prompt_tokens(&p);
    size_t cached = sim_openai_cache(c->cache, q.model, &p, c->now_ms);
    sim_prompt_free(&p);
    struct oa_answer ans;
    make_answer(c, b, &q, &ans);
    if (q.stream)
        stream_reply(c, &q, &ans, prompt, cached, r);
    else
        body_reply(c, &q, &ans, prompt, cached, r);
    sim_reply_header(r, "x-request-id", fg_arena_printf(c->arena, "req_sim_%s", c->id));
}

void sim_openai_answer(struct sim_ctx *c, const json_t *b, struct sim_oa_answer *out)
{
    struct oa_req q;
    parse_req(c, b, &q);
    struct sim_prompt p = {0};
    sim_openai_prompt(c->arena, b, &p);
    out->prompt = sim_prompt_tokens(&p);
    out->cached = sim_openai_cache(c->cache, q.model, &p, c->now_ms);
    sim_prompt_free(&p);
    struct oa_answer ans;
    make_answer(c, b, &q, &ans);
    out->text = ans.text;
    out->len = ans.len;
    out->tool_name = ans.tool_name;
    out->tool_args = ans.tool_args;
    out->end = ans.end;
    out->out_tokens = ans.out_tokens;
}
