/* translate_req_an.c — an Anthropic Messages request → an OpenAI Chat
 * Completions request (an Anthropic client calling an OpenAI model).
 * Wire reference: shared/spec/providers.md sections 1.1-1.3, 3.1-3.3, 6.
 *
 * Anthropic puts tool results inside user turns; OpenAI wants one
 * role:"tool" message per result right after the assistant's tool_calls,
 * so a user turn becomes its tool messages first, then a user message with
 * whatever else it held. */
#include "translate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct an2oa {
    const struct fg_translate_opts *o;
    struct fg_translate_warnings *w;
    struct fg_err *e;
    json_t *in, *out;
    json_t *msgs; /* OpenAI messages */
};

/* cache_control is pure cost (OpenAI caches prefixes by itself): one note. */
static void cache_note(struct an2oa *t, const json_t *blk)
{
    if (json_object_get(blk, "cache_control"))
        tr_warn(t->w, "cache_control dropped: OpenAI caches prompt prefixes automatically");
}

/* ------------------------------------------------------------------ blocks */

static json_t *text_part(const char *s)
{
    return json_pack("{s:s, s:s}", "type", "text", "text", s);
}

static json_t *data_url(const char *mt, const char *data)
{
    size_t n = strlen(mt) + strlen(data) + 16;
    char *s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "data:%s;base64,%s", mt, data);
    json_t *r = json_string(s);
    free(s);
    return r;
}

static int image_part(struct an2oa *t, const json_t *blk, const char *p, json_t **part)
{
    const json_t *src = json_object_get(blk, "source");
    const char *ty = tr_str(src, "type");
    if (ty && !strcmp(ty, "base64") && tr_str(src, "media_type") && tr_str(src, "data")) {
        *part = json_pack("{s:s, s:{s:o}}", "type", "image_url", "image_url", "url",
                          data_url(tr_str(src, "media_type"), tr_str(src, "data")));
    } else if (ty && !strcmp(ty, "url") && tr_str(src, "url")) {
        *part = json_pack("{s:s, s:{s:s}}", "type", "image_url", "image_url", "url",
                          tr_str(src, "url"));
    } else {
        return tr_bad(t->e, p,
                      "%s.source: only base64 and URL images can be sent to an OpenAI "
                      "model (Anthropic file ids are not portable).",
                      p);
    }
    return 0;
}

static int document_part(struct an2oa *t, const json_t *blk, const char *p, json_t **part)
{
    const json_t *src = json_object_get(blk, "source");
    const char *ty = tr_str(src, "type"), *mt = tr_str(src, "media_type");
    if (!ty || strcmp(ty, "base64") != 0 || !mt || strcmp(mt, "application/pdf") != 0 ||
        !tr_str(src, "data"))
        return tr_bad(t->e, p,
                      "%s.source: only base64 PDF documents can be sent to an OpenAI "
                      "model (text, content, URL and file sources have no faithful "
                      "OpenAI form).",
                      p);
    if (tr_has(blk, "citations") || tr_has(blk, "context"))
        tr_warn(t->w, "document citations/context dropped: OpenAI file parts have neither");
    const char *title = tr_str(blk, "title");
    *part =
        json_pack("{s:s, s:{s:s, s:o}}", "type", "file", "file", "filename",
                  title ? title : "document.pdf", "file_data", data_url(mt, tr_str(src, "data")));
    return 0;
}

/* A user-side block (text, image, document) → an OpenAI content part. */
static int user_part(struct an2oa *t, const json_t *blk, const char *p, json_t **part)
{
    const char *ty = tr_str(blk, "type");
    cache_note(t, blk);
    *part = NULL;
    if (ty && !strcmp(ty, "text")) {
        if (tr_has(blk, "citations"))
            tr_warn(t->w, "text block citations dropped: OpenAI has no citations");
        *part = text_part(tr_str(blk, "text") ? tr_str(blk, "text") : "");
        return 0;
    }
    if (ty && !strcmp(ty, "image"))
        return image_part(t, blk, p, part);
    if (ty && !strcmp(ty, "document"))
        return document_part(t, blk, p, part);
    return tr_bad(t->e, p, "%s: content block type '%s' cannot be sent to an OpenAI model.", p,
                  ty ? ty : "?");
}

/* A list of parts → the message content: a string when it is one text. */
static json_t *content_of(json_t *parts)
{
    if (json_array_size(parts) == 1 && !strcmp(tr_str(json_array_get(parts, 0), "type"), "text")) {
        json_t *s = json_incref(json_object_get(json_array_get(parts, 0), "text"));
        json_decref(parts);
        return s;
    }
    return parts;
}

/* ----------------------------------------------------------- tool results */

static int result_parts(struct an2oa *t, const json_t *blk, const char *p, json_t *parts)
{
    const json_t *c = json_object_get(blk, "content");
    size_t k;
    json_t *x;
    if (json_is_string(c)) {
        json_array_append_new(parts, text_part(json_string_value(c)));
        return 0;
    }
    json_array_foreach(c, k, x)
    {
        const char *ty = tr_str(x, "type");
        cache_note(t, x);
        if (!ty || strcmp(ty, "text") != 0)
            return tr_bad(t->e, p,
                          "%s.content.%zu: OpenAI tool messages carry text only; a "
                          "'%s' block in a tool result cannot be sent.",
                          p, k, ty ? ty : "?");
        json_array_append_new(parts, text_part(tr_str(x, "text") ? tr_str(x, "text") : ""));
    }
    return 0;
}

static int tool_message(struct an2oa *t, const json_t *blk, const char *p)
{
    if (!tr_str(blk, "tool_use_id"))
        return tr_bad(t->e, p, "%s.tool_use_id: Field required", p);
    json_t *parts = json_array();
    if (result_parts(t, blk, p, parts) < 0) {
        json_decref(parts);
        return -1;
    }
    if (json_is_true(json_object_get(blk, "is_error"))) {
        /* OpenAI has no error flag on tool results: say it in the text */
        tr_warn(t->w, "tool_result is_error sent as an \"Error: \" prefix on the tool message");
        json_t *first = json_array_get(parts, 0);
        char *s = NULL;
        if (first && asprintf(&s, "Error: %s", tr_str(first, "text")) >= 0)
            json_object_set_new(first, "text", json_string(s));
        else if (!first)
            json_array_append_new(parts, text_part("Error"));
        free(s);
    }
    if (!json_array_size(parts))
        json_array_append_new(parts, text_part(""));
    cache_note(t, blk);
    json_array_append_new(t->msgs, json_pack("{s:s, s:O, s:o}", "role", "tool", "tool_call_id",
                                             json_object_get(blk, "tool_use_id"), "content",
                                             content_of(parts)));
    return 0;
}

/* ---------------------------------------------------------------- messages */

static int user_turn(struct an2oa *t, const json_t *m, size_t i)
{
    const json_t *c = json_object_get(m, "content");
    if (json_is_string(c)) {
        json_array_append_new(t->msgs, json_pack("{s:s, s:O}", "role", "user", "content", c));
        return 0;
    }
    json_t *parts = json_array();
    size_t k;
    json_t *blk;
    json_array_foreach(c, k, blk)
    {
        char p[128];
        json_t *part;
        snprintf(p, sizeof p, "messages.%zu.content.%zu", i, k);
        const char *ty = tr_str(blk, "type");
        int r = ty && !strcmp(ty, "tool_result") ? tool_message(t, blk, p)
                                                 : user_part(t, blk, p, &part);
        if (r < 0) {
            json_decref(parts);
            return -1;
        }
        if (!(ty && !strcmp(ty, "tool_result")))
            json_array_append_new(parts, part);
    }
    /* tool messages went first (they must follow the assistant's calls) */
    if (json_array_size(parts))
        json_array_append_new(
            t->msgs, json_pack("{s:s, s:o}", "role", "user", "content", content_of(parts)));
    else
        json_decref(parts);
    return 0;
}

static int tool_call(struct an2oa *t, const json_t *blk, const char *p, json_t *calls)
{
    const char *id = tr_str(blk, "id"), *name = tr_str(blk, "name");
    if (!id || !name)
        return tr_bad(t->e, p, "%s: a tool_use block needs an id and a name.", p);
    const json_t *input = json_object_get(blk, "input");
    char *args = input ? json_dumps(input, TR_DUMP_FLAGS) : NULL;
    json_array_append_new(calls,
                          json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function",
                                    "function", "name", name, "arguments", args ? args : "{}"));
    free(args);
    return 0;
}

static int assistant_block(struct an2oa *t, const json_t *blk, const char *p, json_t *texts,
                           json_t *calls)
{
    const char *ty = tr_str(blk, "type");
    cache_note(t, blk);
    if (ty && !strcmp(ty, "text")) {
        const char *s = tr_str(blk, "text");
        if (s && *s)
            json_array_append_new(texts, text_part(s));
        return 0;
    }
    if (ty && !strcmp(ty, "tool_use"))
        return tool_call(t, blk, p, calls);
    if (ty && (!strcmp(ty, "thinking") || !strcmp(ty, "redacted_thinking")))
        return tr_bad(t->e, p,
                      "%s: Anthropic thinking blocks cannot be replayed to an OpenAI "
                      "model (their signature only verifies on Anthropic); remove them "
                      "from the history.",
                      p);
    return tr_bad(t->e, p, "%s: content block type '%s' cannot be sent to an OpenAI model.", p,
                  ty ? ty : "?");
}

static int assistant_turn(struct an2oa *t, const json_t *m, size_t i)
{
    const json_t *c = json_object_get(m, "content");
    if (json_is_string(c)) {
        json_array_append_new(t->msgs, json_pack("{s:s, s:O}", "role", "assistant", "content", c));
        return 0;
    }
    json_t *texts = json_array(), *calls = json_array();
    size_t k;
    json_t *blk;
    json_array_foreach(c, k, blk)
    {
        char p[128];
        snprintf(p, sizeof p, "messages.%zu.content.%zu", i, k);
        if (assistant_block(t, blk, p, texts, calls) < 0) {
            json_decref(texts);
            json_decref(calls);
            return -1;
        }
    }
    bool has_text = json_array_size(texts) > 0;
    json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content",
                            has_text ? content_of(texts) : json_null());
    if (!has_text)
        json_decref(texts);
    if (json_array_size(calls))
        json_object_set_new(msg, "tool_calls", calls);
    else
        json_decref(calls);
    json_array_append_new(t->msgs, msg);
    return 0;
}

/* System content (string or text blocks) → an OpenAI system message.
 * Newer Anthropic models accept role "system" mid-conversation too; OpenAI
 * takes system messages anywhere.  path names the field for errors. */
static int system_content(struct an2oa *t, const json_t *c, const char *path)
{
    if (json_is_string(c)) {
        json_array_append_new(t->msgs, json_pack("{s:s, s:O}", "role", "system", "content", c));
        return 0;
    }
    json_t *parts = json_array();
    size_t k;
    json_t *blk;
    json_array_foreach(c, k, blk)
    {
        char p[128];
        json_t *part;
        const char *ty = tr_str(blk, "type");
        snprintf(p, sizeof p, "%s.%zu", path, k);
        if (!ty || strcmp(ty, "text") != 0) {
            json_decref(parts);
            return tr_bad(t->e, p, "%s: system content must be text, not '%s'.", p, ty ? ty : "?");
        }
        user_part(t, blk, p, &part);
        json_array_append_new(parts, part);
    }
    if (json_array_size(parts))
        json_array_append_new(
            t->msgs, json_pack("{s:s, s:o}", "role", "system", "content", content_of(parts)));
    else
        json_decref(parts);
    return 0;
}

static int system_turn(struct an2oa *t, const json_t *m, size_t i)
{
    char p[80];
    snprintf(p, sizeof p, "messages.%zu.content", i);
    return system_content(t, json_object_get(m, "content"), p);
}

static int top_system(struct an2oa *t)
{
    const json_t *s = json_object_get(t->in, "system");
    if (!s || json_is_null(s))
        return 0;
    return system_content(t, s, "system");
}

static int messages(struct an2oa *t)
{
    size_t i;
    json_t *m;
    const json_t *msgs = json_object_get(t->in, "messages");
    json_array_foreach(msgs, i, m)
    {
        const char *role = tr_str(m, "role");
        int r = !role                        ? -1
                : !strcmp(role, "assistant") ? assistant_turn(t, m, i)
                : !strcmp(role, "system")    ? system_turn(t, m, i)
                                             : user_turn(t, m, i);
        if (r < 0)
            return t->e->msg[0] ? -1 : tr_bad(t->e, "messages", "messages.%zu.role: missing.", i);
    }
    size_t n = json_array_size(msgs);
    const char *last = n ? tr_str(json_array_get(msgs, n - 1), "role") : NULL;
    if (last && !strcmp(last, "assistant")) {
        char p[80];
        snprintf(p, sizeof p, "messages.%zu", n - 1);
        return tr_bad(t->e, p,
                      "%s: a final assistant turn is a prefill for the model to "
                      "continue; OpenAI models cannot continue a prefill.",
                      p);
    }
    return 0;
}

/* ------------------------------------------------------------------ tools */

static int one_tool(struct an2oa *t, const json_t *tool, size_t k, json_t *out)
{
    const char *ty = tr_str(tool, "type");
    char p[80];
    snprintf(p, sizeof p, "tools.%zu", k);
    if (ty && strcmp(ty, "custom") != 0)
        return tr_bad(t->e, p, "%s: Anthropic server tool '%s' has no OpenAI equivalent.", p, ty);
    if (!tr_str(tool, "name"))
        return tr_bad(t->e, p, "%s.name: Field required", p);
    json_t *fn = json_pack("{s:s}", "name", tr_str(tool, "name"));
    if (tr_str(tool, "description"))
        json_object_set(fn, "description", json_object_get(tool, "description"));
    const json_t *schema = json_object_get(tool, "input_schema");
    if (schema)
        json_object_set(fn, "parameters", (json_t *)schema);
    if (json_is_true(json_object_get(tool, "strict")))
        json_object_set_new(fn, "strict", json_true());
    static const char *const extra[] = {"defer_loading", "input_examples", "eager_input_streaming",
                                        "allowed_callers", NULL};
    for (int x = 0; extra[x]; x++)
        if (tr_has(tool, extra[x]))
            tr_warn(t->w, "tools[].%s dropped: no OpenAI equivalent", extra[x]);
    cache_note(t, tool);
    json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", fn));
    return 0;
}

static int tool_choice(struct an2oa *t)
{
    const json_t *tc = json_object_get(t->in, "tool_choice");
    const char *ty = tr_str(tc, "type");
    if (!ty)
        return 0;
    json_t *c = !strcmp(ty, "auto")   ? json_string("auto")
                : !strcmp(ty, "any")  ? json_string("required")
                : !strcmp(ty, "none") ? json_string("none")
                : !strcmp(ty, "tool") && tr_str(tc, "name")
                    ? json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name",
                                tr_str(tc, "name"))
                    : NULL;
    if (!c)
        return tr_bad(t->e, "tool_choice.type",
                      "tool_choice.type: '%s' cannot be sent to an "
                      "OpenAI model.",
                      ty);
    json_object_set_new(t->out, "tool_choice", c);
    if (json_is_true(json_object_get(tc, "disable_parallel_tool_use")) && strcmp(ty, "none") != 0)
        json_object_set_new(t->out, "parallel_tool_calls", json_false());
    return 0;
}

static int tools(struct an2oa *t)
{
    const json_t *in = json_object_get(t->in, "tools");
    if (!json_array_size(in))
        return 0; /* tool_choice means nothing without tools */
    json_t *out = json_array();
    size_t k;
    json_t *tool;
    json_array_foreach(in, k, tool) if (one_tool(t, tool, k, out) < 0)
    {
        json_decref(out);
        return -1;
    }
    json_object_set_new(t->out, "tools", out);
    return tool_choice(t);
}

/* ------------------------------------------------------ structured output */

/* OpenAI strict mode needs every object closed and every property
 * required; Anthropic's native format does not. */
static bool strict_ok(const json_t *s)
{
    if (!json_is_object(s))
        return true;
    const json_t *props = json_object_get(s, "properties");
    const char *ty = tr_str(s, "type");
    if ((ty && !strcmp(ty, "object")) || props) {
        if (!json_is_false(json_object_get(s, "additionalProperties")) ||
            json_array_size(json_object_get(s, "required")) != json_object_size(props))
            return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)props, k, v) if (!strict_ok(v)) return false;
    static const char *const subs[] = {"items", "$defs", "definitions", "anyOf", NULL};
    for (int i = 0; subs[i]; i++) {
        const json_t *x = json_object_get(s, subs[i]);
        size_t n;
        json_t *y;
        if (json_is_array(x)) {
            json_array_foreach(x, n, y) if (!strict_ok(y)) return false;
        } else if (!strcmp(subs[i], "items")) {
            if (!strict_ok(x))
                return false;
        } else {
            json_object_foreach((json_t *)x, k, v) if (!strict_ok(v)) return false;
        }
    }
    return true;
}

static int format(struct an2oa *t, const json_t *fmt, const char *param)
{
    const char *ty = tr_str(fmt, "type");
    const json_t *schema = json_object_get(fmt, "schema");
    if (!ty || strcmp(ty, "json_schema") != 0 || !json_is_object(schema))
        return tr_bad(t->e, param,
                      "%s: only {type:\"json_schema\", schema} can be sent to an "
                      "OpenAI model.",
                      param);
    if (!t->o->native_structured)
        return tr_bad(t->e, param,
                      "%s: the OpenAI model has no structured output "
                      "(response_format json_schema).",
                      param);
    bool strict = strict_ok(schema);
    if (!strict)
        tr_warn(t->w, "response_format sent with strict:false: the schema is outside OpenAI's "
                      "strict subset, so conformance is not guaranteed");
    json_object_set_new(t->out, "response_format",
                        json_pack("{s:s, s:{s:s, s:O, s:b}}", "type", "json_schema", "json_schema",
                                  "name", "response", "schema", schema, "strict", strict));
    return 0;
}

static int effort(struct an2oa *t, const char *s)
{
    if (!s)
        return 0;
    if (!strcmp(s, "xhigh") || !strcmp(s, "max")) {
        tr_warn(t->w, "output_config.effort '%s' sent as reasoning_effort 'high'", s);
        s = "high";
    } else if (strcmp(s, "low") != 0 && strcmp(s, "medium") != 0 && strcmp(s, "high") != 0) {
        return tr_bad(t->e, "output_config.effort",
                      "output_config.effort: '%s' has no OpenAI "
                      "equivalent.",
                      s);
    }
    json_object_set_new(t->out, "reasoning_effort", json_string(s));
    return 0;
}

static int output_config(struct an2oa *t)
{
    const json_t *oc = json_object_get(t->in, "output_config");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)oc, k, v)
    {
        if (json_is_null(v))
            continue;
        int r = !strcmp(k, "effort")   ? effort(t, json_string_value(v))
                : !strcmp(k, "format") ? format(t, v, "output_config.format")
                                       : (tr_warn(t->w,
                                                  "output_config.%s dropped: no OpenAI "
                                                  "equivalent",
                                                  k),
                                          0);
        if (r < 0)
            return -1;
    }
    /* the pre-GA beta spelling */
    const json_t *legacy = json_object_get(t->in, "output_format");
    if (tr_has(t->in, "output_format") && !json_object_get(t->out, "response_format"))
        return format(t, legacy, "output_format");
    return 0;
}

/* ------------------------------------------------------------- top level */

typedef int (*field_fn)(struct an2oa *t, const char *key, json_t *v);

static int f_done(struct an2oa *t, const char *key, json_t *v)
{
    return 0;
}

static int f_copy(struct an2oa *t, const char *key, json_t *v)
{
    json_object_set(t->out, key, v);
    return 0;
}

static int f_drop(struct an2oa *t, const char *key, json_t *v)
{
    tr_warn(t->w, "%s dropped: no OpenAI equivalent", key);
    return 0;
}

static int f_refuse(struct an2oa *t, const char *key, json_t *v)
{
    return tr_bad(t->e, key,
                  "%s: has no OpenAI equivalent, so the request's meaning cannot be "
                  "kept on an OpenAI model.",
                  key);
}

static int f_stop(struct an2oa *t, const char *key, json_t *v)
{
    if (json_array_size(v) > 4)
        return tr_bad(t->e, key,
                      "stop_sequences: OpenAI accepts at most 4 stop sequences, "
                      "got %zu.",
                      json_array_size(v));
    if (json_array_size(v))
        json_object_set(t->out, "stop", v);
    return 0;
}

static int f_stream(struct an2oa *t, const char *key, json_t *v)
{
    if (!json_is_true(v))
        return 0;
    /* the usage chunk carries the counts the Anthropic client needs */
    json_object_set_new(t->out, "stream", json_true());
    json_object_set_new(t->out, "stream_options", json_pack("{s:b}", "include_usage", 1));
    return 0;
}

static int f_metadata(struct an2oa *t, const char *key, json_t *v)
{
    if (tr_str(v, "user_id"))
        json_object_set(t->out, "user", json_object_get(v, "user_id"));
    return 0;
}

static int f_thinking(struct an2oa *t, const char *key, json_t *v)
{
    const char *ty = tr_str(v, "type");
    if (ty && strcmp(ty, "disabled") != 0)
        tr_warn(t->w, "thinking dropped: OpenAI reasoning models think on their own "
                      "(output_config.effort maps to reasoning_effort)");
    return 0;
}

static int f_service_tier(struct an2oa *t, const char *key, json_t *v)
{
    const char *s = json_string_value(v);
    if (s && !strcmp(s, "standard_only")) {
        json_object_set_new(t->out, key, json_string("default"));
        return 0;
    }
    return f_copy(t, key, v);
}

static int f_cache(struct an2oa *t, const char *key, json_t *v)
{
    cache_note(t, t->in);
    return 0;
}

static const struct {
    const char *key;
    field_fn fn;
} fields[] = {
    {"model", f_done},          {"messages", f_done},      {"system", f_done},
    {"max_tokens", f_done},     {"tools", f_done},         {"tool_choice", f_done},
    {"output_config", f_done},  {"output_format", f_done}, {"stream", f_stream},
    {"stop_sequences", f_stop}, {"temperature", f_copy},   {"top_p", f_copy},
    {"metadata", f_metadata},   {"thinking", f_thinking},  {"service_tier", f_service_tier},
    {"cache_control", f_cache}, {"mcp_servers", f_refuse},
};

static int scalar_fields(struct an2oa *t)
{
    const char *key;
    json_t *v;
    json_object_foreach(t->in, key, v)
    {
        if (json_is_null(v))
            continue;
        field_fn fn = f_drop;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (!strcmp(fields[i].key, key))
                fn = fields[i].fn;
        if (fn(t, key, v) < 0)
            return -1;
    }
    return 0;
}

static int build(struct an2oa *t)
{
    const char *model = t->o->upstream_model ? t->o->upstream_model : tr_str(t->in, "model");
    int64_t mt = -1;
    json_object_set_new(t->out, "model", json_string(model ? model : ""));
    if (top_system(t) < 0 || messages(t) < 0)
        return -1;
    json_object_set(t->out, "messages", t->msgs);
    if (tr_int(t->in, "max_tokens", &mt) && mt == 0)
        return tr_bad(t->e, "max_tokens",
                      "max_tokens: 0 (a cache pre-warm) has no OpenAI "
                      "equivalent.");
    if (mt > 0)
        json_object_set_new(t->out, "max_completion_tokens", json_integer(mt));
    if (tools(t) < 0 || output_config(t) < 0 || scalar_fields(t) < 0)
        return -1;
    return 0;
}

int fg_translate_request_an_to_oa(const struct fg_json *body, const struct fg_translate_opts *o,
                                  char **out, size_t *out_len, struct fg_translate_warnings *w,
                                  struct fg_err *e)
{
    static const struct fg_translate_opts none = {.native_structured = true};
    struct an2oa t = {.o = o ? o : &none, .w = w, .e = e};
    *out = NULL;
    e->msg[0] = '\0';
    t.in = tr_load(body, 0);
    if (!json_is_object(t.in)) {
        json_decref(t.in);
        return tr_bad(e, "", "The request body could not be read for translation.");
    }
    t.out = json_object();
    t.msgs = json_array();
    int r = build(&t);
    if (r == 0) {
        *out = json_dumps(t.out, TR_DUMP_FLAGS);
        *out_len = *out ? strlen(*out) : 0;
    }
    json_decref(t.in);
    json_decref(t.out);
    json_decref(t.msgs);
    return r;
}
