/* translate_req_rs.c — an OpenAI Responses request → a Chat Completions
 * request (a Responses client calling a Chat-Completions-only provider),
 * and, through that, → an Anthropic Messages request.
 * Wire reference: shared/spec/providers-2.md sections 1.2, 1.3 and 2.1.
 *
 * Responses → Anthropic is built as Responses → Chat → Anthropic: the
 * Chat → Anthropic walk (translate_req_oa.c) already keeps or refuses every
 * Chat field with care (system lifting, tool-result folding, forced tools
 * for schemas, effort), and a second copy of it would drift.  This file
 * refuses what Chat cannot carry (server state, hosted tools, file ids),
 * so what reaches the second step always has a Chat meaning; a 400 from
 * that step has its param renamed to the Responses spelling. */
#include "translate_internal.h"

#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rs2oa {
    const struct fg_translate_opts *o;
    struct fg_translate_warnings *w;
    struct fg_err *e;
    json_t *in;   /* the client's Responses body */
    json_t *out;  /* the Chat body being built */
    json_t *msgs; /* Chat messages */
};

static bool str_is(const char *s, const char *v)
{
    return s && !strcmp(s, v);
}

/* ------------------------------------------------------------ content */

static int image_part(struct rs2oa *t, const json_t *p, const char *path, json_t *parts)
{
    const char *url = tr_str(p, "image_url"), *detail = tr_str(p, "detail");
    if (!url)
        return tr_bad(t->e, path,
                      "%s: an input_image by file_id cannot be translated (file ids belong to "
                      "the provider that stored the file); send image_url (https or a data URL).",
                      path);
    json_t *iu = json_pack("{s:s}", "url", url);
    if (str_is(detail, "low") || str_is(detail, "high") || str_is(detail, "auto"))
        json_object_set_new(iu, "detail", json_string(detail));
    json_array_append_new(parts, json_pack("{s:s, s:o}", "type", "image_url", "image_url", iu));
    return 0;
}

static int file_part(struct rs2oa *t, const json_t *p, const char *path, json_t *parts)
{
    const char *data = tr_str(p, "file_data"), *name = tr_str(p, "filename");
    if (!data)
        return tr_bad(t->e, path,
                      "%s: an input_file by file_id or file_url cannot be translated; send "
                      "file_data (base64 or a data URL).",
                      path);
    json_t *f = json_pack("{s:s}", "file_data", data);
    if (name)
        json_object_set_new(f, "filename", json_string(name));
    json_array_append_new(parts, json_pack("{s:s, s:o}", "type", "file", "file", f));
    return 0;
}

/* One content part of an input message → Chat parts. */
static int one_part(struct rs2oa *t, const json_t *p, const char *path, json_t *parts)
{
    if (json_is_string(p)) {
        json_array_append_new(parts, json_pack("{s:s, s:O}", "type", "text", "text", p));
        return 0;
    }
    const char *ty = tr_str(p, "type");
    const char *text = str_is(ty, "refusal") ? tr_str(p, "refusal") : tr_str(p, "text");
    if ((str_is(ty, "input_text") || str_is(ty, "output_text") || str_is(ty, "text") ||
         str_is(ty, "refusal")) &&
        text) {
        json_array_append_new(parts, json_pack("{s:s, s:s}", "type", "text", "text", text));
        return 0;
    }
    if (str_is(ty, "input_image"))
        return image_part(t, p, path, parts);
    if (str_is(ty, "input_file"))
        return file_part(t, p, path, parts);
    return tr_bad(t->e, path, "%s: a content part of type '%s' cannot be translated.", path,
                  ty ? ty : "(none)");
}

/* A message's content (string or parts) as Chat content: a string stays a
 * string; assistant and system turns are text only in Chat. */
static int content_of(struct rs2oa *t, const json_t *c, const char *path, bool text_only,
                      json_t **out)
{
    *out = NULL;
    if (json_is_string(c)) {
        *out = json_incref((json_t *)c);
        return 0;
    }
    if (!json_is_array(c))
        return tr_bad(t->e, path, "%s: expected a string or an array of content parts.", path);
    json_t *parts = json_array();
    size_t k;
    json_t *p;
    char pp[96];
    json_array_foreach(c, k, p)
    {
        snprintf(pp, sizeof pp, "%s[%zu]", path, k);
        const char *ty = tr_str(p, "type");
        if (text_only && (str_is(ty, "input_image") || str_is(ty, "input_file"))) {
            json_decref(parts);
            return tr_bad(t->e, pp, "%s: only text can be sent in this role's message.", pp);
        }
        if (one_part(t, p, pp, parts) < 0) {
            json_decref(parts);
            return -1;
        }
    }
    if (!text_only) {
        *out = parts;
        return 0;
    }
    /* assistant/system text parts joined: the widest Chat support */
    size_t n = 0, at = 0;
    json_array_foreach(parts, k, p) n += strlen(tr_str(p, "text"));
    char *s = fg_xmalloc(n + 1);
    json_array_foreach(parts, k, p)
    {
        size_t l = strlen(tr_str(p, "text"));
        memcpy(s + at, tr_str(p, "text"), l);
        at += l;
    }
    s[at] = '\0';
    *out = json_string(s);
    free(s);
    json_decref(parts);
    return 0;
}

/* ------------------------------------------------------------- items */

static json_t *last_assistant(struct rs2oa *t)
{
    json_t *m = json_array_get(t->msgs, json_array_size(t->msgs) - 1);
    return str_is(tr_str(m, "role"), "assistant") ? m : NULL;
}

static int message_item(struct rs2oa *t, const json_t *it, const char *path)
{
    const char *role = tr_str(it, "role");
    if (!str_is(role, "user") && !str_is(role, "assistant") && !str_is(role, "system") &&
        !str_is(role, "developer"))
        return tr_bad(t->e, path, "%s: role '%s' is not a Responses message role.", path,
                      role ? role : "(none)");
    char cp[96];
    snprintf(cp, sizeof cp, "%s.content", path);
    json_t *content;
    if (content_of(t, json_object_get(it, "content"), cp, !str_is(role, "user"), &content) < 0)
        return -1;
    /* "developer" is OpenAI-only; "system" is what every Chat server reads */
    json_array_append_new(t->msgs, json_pack("{s:s, s:o}", "role",
                                             str_is(role, "developer") ? "system" : role, "content",
                                             content));
    return 0;
}

/* Consecutive function_call items are one assistant turn's tool_calls. */
static int call_item(struct rs2oa *t, const json_t *it, const char *path)
{
    const char *id = tr_str(it, "call_id"), *name = tr_str(it, "name");
    const char *args = tr_str(it, "arguments");
    if (!id || !name || !args)
        return tr_bad(t->e, path, "%s: a function_call item needs call_id, name and arguments.",
                      path);
    json_t *call = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function", "function",
                             "name", name, "arguments", args);
    json_t *m = last_assistant(t);
    if (!m) {
        m = json_pack("{s:s, s:n}", "role", "assistant", "content");
        json_array_append_new(t->msgs, m);
    }
    json_t *calls = json_object_get(m, "tool_calls");
    if (!calls) {
        calls = json_array();
        json_object_set_new(m, "tool_calls", calls);
    }
    json_array_append_new(calls, call);
    return 0;
}

static int output_item(struct rs2oa *t, const json_t *it, const char *path)
{
    const char *id = tr_str(it, "call_id");
    const json_t *o = json_object_get(it, "output");
    if (!id || !o)
        return tr_bad(t->e, path, "%s: a function_call_output item needs call_id and output.",
                      path);
    char op[96];
    snprintf(op, sizeof op, "%s.output", path);
    json_t *content;
    if (content_of(t, o, op, true, &content) < 0)
        return -1;
    json_array_append_new(t->msgs, json_pack("{s:s, s:s, s:o}", "role", "tool", "tool_call_id", id,
                                             "content", content));
    return 0;
}

static int one_item(struct rs2oa *t, const json_t *it, size_t i)
{
    char path[48];
    snprintf(path, sizeof path, "input[%zu]", i);
    const char *ty = tr_str(it, "type");
    if (!json_is_object(it))
        return tr_bad(t->e, path, "%s: expected an input item object.", path);
    if (!ty || str_is(ty, "message"))
        return message_item(t, it, path);
    if (str_is(ty, "function_call"))
        return call_item(t, it, path);
    if (str_is(ty, "function_call_output"))
        return output_item(t, it, path);
    if (str_is(ty, "reasoning")) {
        /* encrypted reasoning is readable only by the model that wrote it */
        tr_warn(t->w, "reasoning items dropped: they do not cross providers");
        return 0;
    }
    if (str_is(ty, "item_reference"))
        return tr_bad(t->e, path,
                      "%s: item_reference needs the provider's stored items; send the item "
                      "itself when the model is not on OpenAI's Responses API.",
                      path);
    return tr_bad(t->e, path,
                  "%s: an input item of type '%s' cannot be translated for a model that is not "
                  "on OpenAI's Responses API.",
                  path, ty);
}

static int input(struct rs2oa *t)
{
    const char *instr = tr_str(t->in, "instructions");
    if (instr)
        json_array_append_new(t->msgs, json_pack("{s:s, s:s}", "role", "system", "content", instr));
    const json_t *in = json_object_get(t->in, "input");
    if (json_is_string(in)) {
        json_array_append_new(t->msgs, json_pack("{s:s, s:O}", "role", "user", "content", in));
        return 0;
    }
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it) if (one_item(t, it, i) < 0) return -1;
    if (!json_array_size(t->msgs))
        return tr_bad(t->e, "input", "input: the request has no input to send.");
    return 0;
}

/* ------------------------------------------------------------- tools */

static int one_tool(struct rs2oa *t, const json_t *tool, size_t k, json_t *out)
{
    char path[32];
    snprintf(path, sizeof path, "tools[%zu]", k);
    const char *ty = tr_str(tool, "type"), *name = tr_str(tool, "name");
    if (!str_is(ty, "function"))
        return tr_bad(t->e, path,
                      "%s: the built-in tool '%s' is served only by OpenAI's Responses API; "
                      "this model's provider has no such tool (frugal never drops a tool "
                      "silently). Remove it or use a model on OpenAI's Responses API.",
                      path, ty ? ty : "(none)");
    if (!name)
        return tr_bad(t->e, path, "%s: a function tool needs a name.", path);
    json_t *fn = json_pack("{s:s}", "name", name);
    const json_t *v;
    if ((v = json_object_get(tool, "description")) && json_is_string(v))
        json_object_set(fn, "description", (json_t *)v);
    if ((v = json_object_get(tool, "parameters")) && json_is_object(v))
        json_object_set(fn, "parameters", (json_t *)v);
    else
        json_object_set_new(fn, "parameters",
                            json_pack("{s:s, s:{}}", "type", "object", "properties"));
    if ((v = json_object_get(tool, "strict")) && json_is_boolean(v))
        json_object_set(fn, "strict", (json_t *)v);
    json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", fn));
    return 0;
}

static json_t *fn_ref(const char *name)
{
    return json_pack("{s:s, s:{s:s}}", "type", "function", "function", "name", name);
}

static int allowed(struct rs2oa *t, const json_t *tc, json_t **choice)
{
    const char *mode = tr_str(tc, "mode");
    json_t *refs = json_array();
    size_t k;
    json_t *r;
    json_array_foreach(json_object_get(tc, "tools"), k, r)
    {
        if (!str_is(tr_str(r, "type"), "function") || !tr_str(r, "name")) {
            json_decref(refs);
            return tr_bad(t->e, "tool_choice.tools",
                          "tool_choice.tools[%zu]: only function tools can be allowed when the "
                          "model is not on OpenAI's Responses API.",
                          k);
        }
        json_array_append_new(refs, fn_ref(tr_str(r, "name")));
    }
    *choice = json_pack("{s:s, s:{s:s, s:o}}", "type", "allowed_tools", "allowed_tools", "mode",
                        str_is(mode, "required") ? "required" : "auto", "tools", refs);
    return 0;
}

static int tool_choice(struct rs2oa *t)
{
    const json_t *tc = json_object_get(t->in, "tool_choice");
    const char *s = json_string_value(tc), *ty = tr_str(tc, "type");
    json_t *choice = NULL;
    if (!tc || json_is_null(tc))
        return 0;
    if (str_is(s, "none") || str_is(s, "auto") || str_is(s, "required"))
        choice = json_string(s);
    else if (str_is(ty, "function") && tr_str(tc, "name"))
        choice = fn_ref(tr_str(tc, "name"));
    else if (str_is(ty, "allowed_tools")) {
        if (allowed(t, tc, &choice) < 0)
            return -1;
    } else
        return tr_bad(t->e, "tool_choice",
                      "tool_choice: '%s' names a tool only OpenAI's Responses API has; it "
                      "cannot be translated for this model.",
                      ty  ? ty
                      : s ? s
                          : "?");
    json_object_set_new(t->out, "tool_choice", choice);
    return 0;
}

static int tools(struct rs2oa *t)
{
    const json_t *in = json_object_get(t->in, "tools");
    if (!json_array_size(in))
        return 0;
    json_t *out = json_array();
    json_object_set_new(t->out, "tools", out);
    size_t k;
    json_t *tool;
    json_array_foreach(in, k, tool) if (one_tool(t, tool, k, out) < 0) return -1;
    if (tool_choice(t) < 0)
        return -1;
    const json_t *ptc = json_object_get(t->in, "parallel_tool_calls");
    if (json_is_boolean(ptc))
        json_object_set(t->out, "parallel_tool_calls", (json_t *)ptc);
    return 0;
}

/* ---------------------------------------------------- text.format etc. */

json_t *tr_rs_response_format(const json_t *fmt)
{
    const char *ty = tr_str(fmt, "type");
    if (str_is(ty, "json_object"))
        return json_pack("{s:s}", "type", "json_object");
    if (!str_is(ty, "json_schema"))
        return NULL;
    json_t *js = json_pack("{s:s}", "name", tr_str(fmt, "name") ? tr_str(fmt, "name") : "output");
    static const char *const keep[] = {"schema", "strict", "description"};
    for (size_t i = 0; i < 3; i++)
        if (tr_has(fmt, keep[i]))
            json_object_set(js, keep[i], json_object_get(fmt, keep[i]));
    return json_pack("{s:s, s:o}", "type", "json_schema", "json_schema", js);
}

static int text_opts(struct rs2oa *t)
{
    const json_t *text = json_object_get(t->in, "text");
    const json_t *fmt = json_object_get(text, "format");
    const char *ty = tr_str(fmt, "type");
    if (fmt && !json_is_null(fmt) && !str_is(ty, "text") && !str_is(ty, "json_object") &&
        !str_is(ty, "json_schema"))
        return tr_bad(t->e, "text.format.type", "text.format.type: '%s' is not a text format.",
                      ty ? ty : "(none)");
    json_t *rf = tr_rs_response_format(fmt);
    if (rf)
        json_object_set_new(t->out, "response_format", rf);
    const char *verb = tr_str(text, "verbosity");
    if (verb && !str_is(verb, "medium"))
        json_object_set_new(t->out, "verbosity", json_string(verb));
    return 0;
}

static int reasoning(struct rs2oa *t)
{
    const json_t *r = json_object_get(t->in, "reasoning");
    const char *effort = tr_str(r, "effort");
    if (effort)
        json_object_set_new(t->out, "reasoning_effort", json_string(effort));
    if (tr_str(r, "summary") || tr_str(r, "generate_summary"))
        tr_warn(t->w, "reasoning.summary dropped: only OpenAI's Responses API returns summaries");
    return 0;
}

/* ------------------------------------------------------ top-level keys */

static int refuse_state(struct rs2oa *t, const char *key)
{
    return tr_bad(t->e, key,
                  "%s: server-side conversation state is only available when the model is on "
                  "OpenAI's Responses API; send the earlier turns as input items instead.",
                  key);
}

static int scalars(struct rs2oa *t)
{
    static const char *const copied[] = {
        "temperature",      "top_p",        "metadata", "user", "safety_identifier",
        "prompt_cache_key", "service_tier", NULL};
    static const char *const dropped[] = {"store",
                                          "include",
                                          "stream_options",
                                          "max_tool_calls",
                                          "truncation",
                                          "prompt_cache_retention",
                                          NULL};
    if (tr_has(t->in, "previous_response_id"))
        return refuse_state(t, "previous_response_id");
    if (tr_has(t->in, "conversation"))
        return refuse_state(t, "conversation");
    if (json_is_true(json_object_get(t->in, "background")))
        return tr_bad(t->e, "background",
                      "background: background responses are only available on OpenAI's "
                      "Responses API.");
    if (tr_has(t->in, "prompt"))
        return tr_bad(t->e, "prompt",
                      "prompt: stored prompt templates live at OpenAI; they cannot be sent to "
                      "this model.");
    int64_t n;
    if (tr_int(t->in, "top_logprobs", &n) && n > 0)
        return tr_bad(t->e, "top_logprobs",
                      "top_logprobs: log probabilities cannot be kept through translation.");
    for (int i = 0; copied[i]; i++)
        if (tr_has(t->in, copied[i]))
            json_object_set(t->out, copied[i], json_object_get(t->in, copied[i]));
    for (int i = 0; dropped[i]; i++)
        if (tr_has(t->in, dropped[i]) && strcmp(dropped[i], "store") != 0)
            tr_warn(t->w, "%s dropped: a Responses-only option", dropped[i]);
    if (tr_int(t->in, "max_output_tokens", &n))
        json_object_set_new(t->out, "max_completion_tokens", json_integer(n));
    if (json_is_true(json_object_get(t->in, "stream"))) {
        json_object_set_new(t->out, "stream", json_true());
        /* the usage that ends a Responses stream comes from this chunk */
        json_object_set_new(t->out, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    return 0;
}

static int build(struct rs2oa *t)
{
    const char *model = t->o->upstream_model ? t->o->upstream_model : tr_str(t->in, "model");
    json_object_set_new(t->out, "model", json_string(model ? model : ""));
    if (scalars(t) < 0 || input(t) < 0 || tools(t) < 0 || text_opts(t) < 0 || reasoning(t) < 0)
        return -1;
    json_object_set(t->out, "messages", t->msgs);
    return 0;
}

/* The Chat body as a jansson tree (NULL with e filled). */
static json_t *to_chat(const struct fg_json *body, const struct fg_translate_opts *o,
                       struct fg_translate_warnings *w, struct fg_err *e)
{
    static const struct fg_translate_opts none = {0};
    struct rs2oa t = {.o = o ? o : &none, .w = w, .e = e};
    t.in = tr_load(body, 0);
    if (!json_is_object(t.in)) {
        json_decref(t.in);
        tr_bad(e, "", "The request body could not be read for translation.");
        return NULL;
    }
    t.out = json_object();
    t.msgs = json_array();
    if (build(&t) < 0) {
        json_decref(t.out);
        t.out = NULL;
    }
    json_decref(t.in);
    json_decref(t.msgs);
    return t.out;
}

int fg_translate_request_rs_to_oa(const struct fg_json *body, const struct fg_translate_opts *o,
                                  char **out, size_t *out_len, struct fg_translate_warnings *w,
                                  struct fg_err *e)
{
    *out = NULL;
    json_t *chat = to_chat(body, o, w, e);
    if (!chat)
        return -1;
    *out = json_dumps(chat, TR_DUMP_FLAGS);
    *out_len = *out ? strlen(*out) : 0;
    json_decref(chat);
    return *out ? 0 : tr_bad(e, "", "The request could not be translated.");
}

/* A Chat param named by the second step, in the Responses spelling. */
static void rename_param(struct fg_err *e)
{
    static const struct {
        const char *chat, *rs;
    } map[] = {
        {"response_format.json_schema.schema", "text.format.schema"},
        {"response_format", "text.format"},
        {"max_completion_tokens", "max_output_tokens"},
        {"reasoning_effort", "reasoning.effort"},
        {"messages", "input"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strncmp(e->param, map[i].chat, strlen(map[i].chat))) {
            snprintf(e->param, sizeof e->param, "%s", map[i].rs);
            return;
        }
}

int fg_translate_request_rs_to_an(const struct fg_json *body, const struct fg_translate_opts *o,
                                  char **out, size_t *out_len, struct fg_translate_warnings *w,
                                  struct fg_err *e)
{
    *out = NULL;
    char *chat = NULL;
    size_t n = 0;
    if (fg_translate_request_rs_to_oa(body, o, &chat, &n, w, e) < 0)
        return -1;
    struct fg_json j = {0};
    int r = fg_json_parse(&j, chat, n) < 0
                ? tr_bad(e, "", "The request could not be translated.")
                : fg_translate_request_oa_to_an(&j, o, out, out_len, w, e);
    if (r < 0)
        rename_param(e);
    fg_json_free(&j);
    free(chat);
    return r;
}
