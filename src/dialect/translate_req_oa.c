/* translate_req_oa.c — an OpenAI Chat Completions request → an Anthropic
 * Messages request (an OpenAI client calling an Anthropic model).
 * Wire reference: shared/spec/providers.md sections 1.1-1.3, 3.1-3.3, 6.
 *
 * The walk: top-level scalars, then messages (system/developer lifted into
 * `system`, tool results folded into user turns, same-role turns merged
 * because Anthropic wants alternation), then tools / tool_choice /
 * response_format together (they interact: a forced tool stands in for a
 * JSON schema on models without native structured output). */
#include "translate_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct oa2an {
    const struct fg_translate_opts *o;
    struct fg_translate_warnings *w;
    struct fg_err *e;
    json_t *in;     /* the client's body */
    json_t *out;    /* the upstream body being built */
    json_t *system; /* text blocks */
    json_t *msgs;   /* Anthropic turns */
    json_t *oc;     /* output_config, NULL until needed */
};

static const char *an_version(const struct fg_translate_opts *o)
{
    return o && o->anthropic_version ? o->anthropic_version : TR_AN_DEFAULT_VERSION;
}

static json_t *output_config(struct oa2an *t)
{
    if (!t->oc)
        t->oc = json_object();
    return t->oc;
}

/* ------------------------------------------------------------ content parts */

/* "data:MT;base64,DATA" → media type into mt, *data to DATA; false if not. */
static bool data_url(const char *url, char *mt, size_t n, const char **data)
{
    if (strncmp(url, "data:", 5) != 0)
        return false;
    const char *b64 = strstr(url, ";base64,");
    if (!b64)
        return false;
    const char *semi = strchr(url + 5, ';');
    snprintf(mt, n, "%.*s", (int)(semi - (url + 5)), url + 5);
    *data = b64 + 8;
    return true;
}

static bool anthropic_image_type(const char *mt)
{
    return !strcmp(mt, "image/jpeg") || !strcmp(mt, "image/png") || !strcmp(mt, "image/gif") ||
           !strcmp(mt, "image/webp");
}

/* OpenAI's explicit prompt_cache_breakpoint → Anthropic cache_control: both
 * mark the end of a reusable prefix (cost only, not meaning). */
static void cache_mark(const json_t *part, json_t *blk)
{
    const json_t *bp = json_object_get(part, "prompt_cache_breakpoint");
    if (!json_is_object(bp))
        return;
    const char *ttl = tr_str(bp, "ttl");
    json_t *cc = json_pack("{s:s}", "type", "ephemeral");
    if (ttl && !strcmp(ttl, "12h"))
        json_object_set_new(cc, "ttl", json_string("1h"));
    json_object_set_new(blk, "cache_control", cc);
}

static int image_block(struct oa2an *t, const json_t *part, const char *path, json_t **blk)
{
    const json_t *iu = json_object_get(part, "image_url");
    const char *url = json_is_string(iu) ? json_string_value(iu) : tr_str(iu, "url");
    char p[128], mt[64];
    const char *data;
    snprintf(p, sizeof p, "%s.image_url.url", path);
    if (!url)
        return tr_bad(t->e, p, "%s: missing image URL.", p);
    const char *detail = tr_str(iu, "detail");
    if (detail && strcmp(detail, "auto") != 0)
        tr_warn(t->w, "image_url.detail '%s' dropped: Anthropic has no image detail setting",
                detail);
    if (data_url(url, mt, sizeof mt, &data)) {
        if (!anthropic_image_type(mt))
            return tr_bad(t->e, p,
                          "%s: image type '%s' is not accepted by Anthropic models "
                          "(jpeg, png, gif, webp).",
                          p, mt);
        *blk = json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "image", "source", "type", "base64",
                         "media_type", mt, "data", data);
    } else if (!strncmp(url, "https://", 8) || !strncmp(url, "http://", 7)) {
        *blk =
            json_pack("{s:s, s:{s:s, s:s}}", "type", "image", "source", "type", "url", "url", url);
    } else {
        return tr_bad(t->e, p, "%s: expected an http(s) URL or a base64 data URL.", p);
    }
    return 0;
}

static int file_block(struct oa2an *t, const json_t *part, const char *path, json_t **blk)
{
    const json_t *f = json_object_get(part, "file");
    char p[128], mt[64];
    const char *data;
    if (tr_has(f, "file_id")) {
        snprintf(p, sizeof p, "%s.file.file_id", path);
        return tr_bad(t->e, p,
                      "%s: OpenAI file ids name files stored at OpenAI and cannot be "
                      "sent to an Anthropic model; send the file inline as file_data.",
                      p);
    }
    snprintf(p, sizeof p, "%s.file.file_data", path);
    const char *fd = tr_str(f, "file_data");
    if (!fd || !data_url(fd, mt, sizeof mt, &data))
        return tr_bad(t->e, p, "%s: expected a base64 data URL (data:application/pdf;base64,...).",
                      p);
    if (strcmp(mt, "application/pdf") != 0)
        return tr_bad(t->e, p, "%s: Anthropic models accept PDF documents only, not '%s'.", p, mt);
    *blk = json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "document", "source", "type", "base64",
                     "media_type", mt, "data", data);
    if (tr_str(f, "filename"))
        json_object_set_new(*blk, "title", json_string(tr_str(f, "filename")));
    return 0;
}

/* One OpenAI content part → at most one Anthropic block (*blk NULL when the
 * part carries nothing: Anthropic rejects empty text blocks). */
static int part_block(struct oa2an *t, const json_t *part, const char *path, json_t **blk)
{
    const char *type = tr_str(part, "type");
    char p[128];
    *blk = NULL;
    if (!type || !strcmp(type, "text") || !strcmp(type, "refusal")) {
        const char *txt = tr_str(part, type && !strcmp(type, "refusal") ? "refusal" : "text");
        if (txt && *txt)
            *blk = json_pack("{s:s, s:s}", "type", "text", "text", txt);
    } else if (!strcmp(type, "image_url")) {
        if (image_block(t, part, path, blk) < 0)
            return -1;
    } else if (!strcmp(type, "file")) {
        if (file_block(t, part, path, blk) < 0)
            return -1;
    } else if (!strcmp(type, "input_audio")) {
        snprintf(p, sizeof p, "%s.input_audio", path);
        return tr_bad(t->e, p, "%s: Anthropic models do not accept audio input.", p);
    } else {
        snprintf(p, sizeof p, "%s.type", path);
        return tr_bad(t->e, p, "%s: content part type '%s' cannot be sent to an Anthropic model.",
                      p, type);
    }
    if (*blk)
        cache_mark(part, *blk);
    return 0;
}

/* A message's `content` (string, array of parts, or null) → blocks appended. */
static int content_blocks(struct oa2an *t, const json_t *m, size_t i, json_t *blocks)
{
    const json_t *c = json_object_get(m, "content");
    if (json_is_string(c)) {
        if (json_string_length(c))
            json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "text", "text", c));
        return 0;
    }
    size_t k;
    json_t *part;
    json_array_foreach(c, k, part)
    {
        char path[80];
        json_t *blk;
        snprintf(path, sizeof path, "messages[%zu].content[%zu]", i, k);
        if (part_block(t, part, path, &blk) < 0)
            return -1;
        if (blk)
            json_array_append_new(blocks, blk);
    }
    return 0;
}

/* ---------------------------------------------------------------- messages */

static bool is_tool_result(const json_t *blk)
{
    const char *ty = tr_str(blk, "type");
    return ty && !strcmp(ty, "tool_result");
}

/* Append blocks as a turn, merging into the previous turn of the same role
 * (Anthropic wants alternation).  In a user turn, tool_result blocks go
 * first: they must answer the preceding assistant tool_use right away.
 * Steals blocks. */
static void add_turn(struct oa2an *t, const char *role, json_t *blocks)
{
    size_t n = json_array_size(t->msgs);
    json_t *last = n ? json_array_get(t->msgs, n - 1) : NULL;
    if (!json_array_size(blocks)) {
        json_decref(blocks);
        return;
    }
    if (!last || strcmp(tr_str(last, "role"), role) != 0) {
        json_array_append_new(t->msgs, json_pack("{s:s, s:o}", "role", role, "content", blocks));
        return;
    }
    json_t *dst = json_object_get(last, "content");
    size_t lead = 0, k;
    json_t *b;
    while (lead < json_array_size(dst) && is_tool_result(json_array_get(dst, lead)))
        lead++;
    json_array_foreach(blocks, k, b)
    {
        if (is_tool_result(b))
            json_array_insert(dst, lead++, b);
        else
            json_array_append(dst, b);
    }
    json_decref(blocks);
}

static int system_msg(struct oa2an *t, const json_t *m, size_t i, bool late)
{
    const json_t *c = json_object_get(m, "content");
    size_t k;
    json_t *part;
    if (late)
        tr_warn(t->w,
                "messages[%zu]: %s message after the conversation start moved into "
                "Anthropic's top-level system prompt",
                i, tr_str(m, "role"));
    if (json_is_string(c)) {
        if (json_string_length(c))
            json_array_append_new(t->system, json_pack("{s:s, s:O}", "type", "text", "text", c));
        return 0;
    }
    json_array_foreach(c, k, part)
    {
        const char *ty = tr_str(part, "type");
        char p[128];
        snprintf(p, sizeof p, "messages[%zu].content[%zu]", i, k);
        if (ty && strcmp(ty, "text") != 0)
            return tr_bad(t->e, p, "%s: Anthropic system prompts take text only, not '%s'.", p, ty);
        const char *txt = tr_str(part, "text");
        if (txt && *txt) {
            json_t *blk = json_pack("{s:s, s:s}", "type", "text", "text", txt);
            cache_mark(part, blk);
            json_array_append_new(t->system, blk);
        }
    }
    return 0;
}

/* tool_calls[k].function.arguments (a JSON string) → the tool_use input object. */
static int tool_input(struct oa2an *t, const json_t *fn, const char *p, json_t **input)
{
    const char *args = tr_str(fn, "arguments");
    if (!args || !*args) {
        *input = json_object();
        return 0;
    }
    *input = json_loads(args, JSON_DECODE_ANY, NULL);
    if (!json_is_object(*input)) {
        json_decref(*input);
        return tr_bad(t->e, p, "%s: must be a JSON object to become an Anthropic tool_use input.",
                      p);
    }
    return 0;
}

static int tool_use_blocks(struct oa2an *t, const json_t *m, size_t i, json_t *blocks)
{
    size_t k;
    json_t *tc;
    json_array_foreach(json_object_get(m, "tool_calls"), k, tc)
    {
        char p[128];
        const json_t *fn = json_object_get(tc, "function");
        const char *ty = tr_str(tc, "type");
        snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu]", i, k);
        if ((ty && strcmp(ty, "function") != 0) || !json_is_object(fn))
            return tr_bad(t->e, p,
                          "%s: only function tool calls can be sent to an Anthropic "
                          "model (custom tools take free text, Anthropic tools JSON).",
                          p);
        if (!tr_str(tc, "id") || !tr_str(fn, "name"))
            return tr_bad(t->e, p, "%s: a tool call needs an id and a function name.", p);
        json_t *input;
        snprintf(p, sizeof p, "messages[%zu].tool_calls[%zu].function.arguments", i, k);
        if (tool_input(t, fn, p, &input) < 0)
            return -1;
        json_array_append_new(blocks, json_pack("{s:s, s:o, s:s, s:o}", "type", "tool_use", "id",
                                                tr_tool_id(tr_str(tc, "id"), "call"), "name",
                                                tr_str(fn, "name"), "input", input));
    }
    return 0;
}

static int assistant_msg(struct oa2an *t, const json_t *m, size_t i)
{
    json_t *blocks = json_array();
    char p[128];
    if (tr_has(m, "audio") || tr_has(m, "function_call")) {
        json_decref(blocks);
        snprintf(p, sizeof p, "messages[%zu].%s", i,
                 tr_has(m, "audio") ? "audio" : "function_call");
        return tr_bad(t->e, p,
                      "%s: has no Anthropic equivalent (audio replies and the "
                      "deprecated function_call are not translated).",
                      p);
    }
    const char *refusal = tr_str(m, "refusal");
    if (content_blocks(t, m, i, blocks) < 0 || tool_use_blocks(t, m, i, blocks) < 0) {
        json_decref(blocks);
        return -1;
    }
    if (refusal && *refusal) /* what the assistant said, as text */
        json_array_insert_new(blocks, 0, json_pack("{s:s, s:s}", "type", "text", "text", refusal));
    add_turn(t, "assistant", blocks);
    return 0;
}

static int tool_msg(struct oa2an *t, const json_t *m, size_t i)
{
    char p[128];
    snprintf(p, sizeof p, "messages[%zu].tool_call_id", i);
    if (!tr_str(m, "tool_call_id"))
        return tr_bad(t->e, p, "%s: a tool message needs the id of the call it answers.", p);
    json_t *res = json_pack("{s:s, s:o}", "type", "tool_result", "tool_use_id",
                            tr_tool_id(tr_str(m, "tool_call_id"), "call"));
    const json_t *c = json_object_get(m, "content");
    if (json_is_array(c)) {
        json_t *blocks = json_array();
        if (content_blocks(t, m, i, blocks) < 0) {
            json_decref(blocks);
            json_decref(res);
            return -1;
        }
        json_object_set_new(res, "content", blocks);
    } else if (json_is_string(c) && json_string_length(c)) {
        json_object_set(res, "content", (json_t *)c);
    }
    add_turn(t, "user", json_pack("[o]", res));
    return 0;
}

static int user_msg(struct oa2an *t, const json_t *m, size_t i)
{
    json_t *blocks = json_array();
    if (content_blocks(t, m, i, blocks) < 0) {
        json_decref(blocks);
        return -1;
    }
    add_turn(t, "user", blocks);
    return 0;
}

static int one_message(struct oa2an *t, const json_t *m, size_t i, bool *started)
{
    const char *role = tr_str(m, "role");
    char p[128];
    if (!role)
        role = "";
    if (!strcmp(role, "system") || !strcmp(role, "developer"))
        return system_msg(t, m, i, *started);
    *started = true;
    if (tr_has(m, "name"))
        tr_warn(t->w, "messages[].name dropped: Anthropic messages have no participant names");
    if (!strcmp(role, "user"))
        return user_msg(t, m, i);
    if (!strcmp(role, "assistant"))
        return assistant_msg(t, m, i);
    if (!strcmp(role, "tool"))
        return tool_msg(t, m, i);
    snprintf(p, sizeof p, "messages[%zu].role", i);
    return tr_bad(t->e, p,
                  "%s: role '%s' cannot be sent to an Anthropic model (the deprecated "
                  "function role is not translated; use tool).",
                  p, role);
}

static int messages(struct oa2an *t)
{
    const json_t *msgs = json_object_get(t->in, "messages");
    size_t i;
    json_t *m;
    bool started = false;
    json_array_foreach(msgs, i, m) if (one_message(t, m, i, &started) < 0) return -1;
    size_t n = json_array_size(t->msgs);
    const json_t *last = n ? json_array_get(t->msgs, n - 1) : NULL;
    if (last && !strcmp(tr_str(last, "role"), "assistant")) {
        /* Anthropic would continue that text (a prefill) instead of answering */
        return tr_bad(t->e, "messages",
                      "messages: the conversation ends with an assistant "
                      "message, which an Anthropic model reads as a prefill to continue rather "
                      "than a turn to answer.");
    }
    return 0;
}

/* ------------------------------------------------------ tools & structure */

static int one_tool(struct oa2an *t, const json_t *tool, size_t k, json_t *tools)
{
    char p[128];
    const char *ty = tr_str(tool, "type");
    const json_t *fn = json_object_get(tool, "function");
    snprintf(p, sizeof p, "tools[%zu]", k);
    if ((ty && strcmp(ty, "function") != 0) || !json_is_object(fn) || !tr_str(fn, "name"))
        return tr_bad(t->e, p,
                      "%s: only function tools can be sent to an Anthropic model "
                      "(custom tools take free text, Anthropic tools JSON).",
                      p);
    json_t *schema = json_object_get(fn, "parameters");
    if (schema && !json_is_object(schema))
        return tr_bad(t->e, p, "%s.function.parameters: must be a JSON Schema object.", p);
    const char *st = tr_str(schema, "type");
    if (st && strcmp(st, "object") != 0)
        return tr_bad(t->e, p,
                      "%s.function.parameters: Anthropic tool inputs must be objects "
                      "(type \"object\").",
                      p);
    json_t *out = json_pack("{s:s}", "name", tr_str(fn, "name"));
    if (tr_str(fn, "description"))
        json_object_set(out, "description", json_object_get(fn, "description"));
    json_object_set_new(out, "input_schema",
                        schema ? json_deep_copy(schema)
                               : json_pack("{s:s, s:{}}", "type", "object", "properties"));
    if (!st)
        json_object_set_new(json_object_get(out, "input_schema"), "type", json_string("object"));
    if (json_is_true(json_object_get(fn, "strict")))
        json_object_set_new(out, "strict", json_true());
    json_array_append_new(tools, out);
    return 0;
}

static int tools(struct oa2an *t, json_t *tools_out)
{
    size_t k;
    json_t *tool;
    json_array_foreach(json_object_get(t->in, "tools"), k,
                       tool) if (one_tool(t, tool, k, tools_out) < 0) return -1;
    return 0;
}

/* allowed_tools restricts which tools may be called: keep only those. */
static int allowed_tools(struct oa2an *t, const json_t *tc, json_t *tools_out, json_t **choice)
{
    const json_t *at = json_object_get(tc, "allowed_tools");
    const char *mode = tr_str(at, "mode");
    size_t k = 0;
    while (k < json_array_size(tools_out)) {
        const char *name = tr_str(json_array_get(tools_out, k), "name");
        bool keep = false;
        size_t a;
        json_t *ref;
        json_array_foreach(json_object_get(at, "tools"), a, ref)
        {
            const char *rn = tr_str(json_object_get(ref, "function"), "name");
            keep |= rn && !strcmp(rn, name);
        }
        if (keep)
            k++;
        else
            json_array_remove(tools_out, k);
    }
    *choice = json_pack("{s:s}", "type", mode && !strcmp(mode, "required") ? "any" : "auto");
    return 0;
}

static int tool_choice(struct oa2an *t, json_t *tools_out, json_t **choice)
{
    const json_t *tc = json_object_get(t->in, "tool_choice");
    const char *s = json_string_value(tc);
    const char *ty = tr_str(tc, "type");
    *choice = NULL;
    if (!tc || json_is_null(tc) || (s && !strcmp(s, "auto")))
        return 0;
    if (s && !strcmp(s, "none"))
        *choice = json_pack("{s:s}", "type", "none");
    else if (s && !strcmp(s, "required"))
        *choice = json_pack("{s:s}", "type", "any");
    else if (ty && !strcmp(ty, "function") && tr_str(json_object_get(tc, "function"), "name"))
        *choice = json_pack("{s:s, s:s}", "type", "tool", "name",
                            tr_str(json_object_get(tc, "function"), "name"));
    else if (ty && !strcmp(ty, "allowed_tools"))
        return allowed_tools(t, tc, tools_out, choice);
    else
        return tr_bad(t->e, "tool_choice",
                      "tool_choice: this choice cannot be sent to an "
                      "Anthropic model (custom tools are not translated).");
    return 0;
}

/* The forced tool's name: json_schema.name made a valid tool name. */
static bool forced_name(const json_t *in, const struct fg_translate_opts *o, char *name, size_t n)
{
    const json_t *rf = json_object_get(in, "response_format");
    const char *ty = tr_str(rf, "type");
    if (!ty || (o && o->native_structured) || n < 2 ||
        (strcmp(ty, "json_schema") != 0 && strcmp(ty, "json_object") != 0))
        return false;
    const char *src = tr_str(json_object_get(rf, "json_schema"), "name");
    if (!src || !*src || !strcmp(ty, "json_object"))
        src = "json_output";
    size_t k = 0;
    for (; src[k] && k < 64 && k + 1 < n; k++) {
        unsigned char c = (unsigned char)src[k];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        name[k] = ok ? (char)c : '_';
    }
    name[k] = '\0';
    return true;
}

bool fg_translate_forced_tool(const struct fg_json *body, const struct fg_translate_opts *o,
                              char *name, size_t n)
{
    json_t *in = tr_load(body, 0);
    /* a Responses body asks in text.format (flat): the same question */
    json_t *rf = json_is_object(in) && !json_object_get(in, "response_format")
                     ? tr_rs_response_format(json_object_get(json_object_get(in, "text"), "format"))
                     : NULL;
    if (rf)
        json_object_set_new(in, "response_format", rf);
    bool r = forced_name(in, o, name, n);
    json_decref(in);
    return r;
}

static int forced_tool(struct oa2an *t, const json_t *schema, const char *desc, json_t *tools_out,
                       json_t **choice)
{
    char name[72];
    const char *ty = tr_str(schema, "type");
    forced_name(t->in, t->o, name, sizeof name);
    if (json_array_size(tools_out) && !(*choice && !strcmp(tr_str(*choice, "type"), "none")))
        return tr_bad(t->e, "response_format",
                      "response_format: this Anthropic model has no "
                      "native structured output, so the schema is sent as a forced tool, which "
                      "would stop the model from calling your tools; send tools and "
                      "response_format in separate requests, or use a model with native "
                      "structured output.");
    if (ty && strcmp(ty, "object") != 0)
        return tr_bad(t->e, "response_format.json_schema.schema",
                      "response_format.json_schema."
                      "schema: the root must be an object to be sent as an Anthropic tool input.");
    json_t *tool = json_pack("{s:s, s:s, s:O}", "name", name, "description",
                             desc ? desc : "Give the final answer as this tool's input.",
                             "input_schema", schema);
    json_array_append_new(tools_out, tool);
    json_decref(*choice);
    *choice =
        json_pack("{s:s, s:s, s:b}", "type", "tool", "name", name, "disable_parallel_tool_use", 1);
    return 0;
}

static int response_format(struct oa2an *t, json_t *tools_out, json_t **choice)
{
    const json_t *rf = json_object_get(t->in, "response_format");
    const char *ty = tr_str(rf, "type");
    if (!ty || !strcmp(ty, "text"))
        return 0;
    json_t *open = json_pack("{s:s}", "type", "object");
    const json_t *js = json_object_get(rf, "json_schema");
    const json_t *schema = open;
    const char *desc = NULL;
    int r = 0;
    if (!strcmp(ty, "json_schema")) {
        if (json_is_object(json_object_get(js, "schema")))
            schema = json_object_get(js, "schema");
        desc = tr_str(js, "description");
    } else if (strcmp(ty, "json_object") != 0) {
        r = tr_bad(t->e, "response_format.type",
                   "response_format.type: '%s' cannot be sent to "
                   "an Anthropic model.",
                   ty);
    }
    if (r == 0 && t->o->native_structured)
        json_object_set_new(output_config(t), "format",
                            json_pack("{s:s, s:O}", "type", "json_schema", "schema", schema));
    else if (r == 0)
        r = forced_tool(t, schema, desc, tools_out, choice);
    json_decref(open);
    return r;
}

static int tools_and_choice(struct oa2an *t)
{
    json_t *tools_out = json_array(), *choice = NULL;
    if (tools(t, tools_out) < 0 || tool_choice(t, tools_out, &choice) < 0 ||
        response_format(t, tools_out, &choice) < 0) {
        json_decref(tools_out);
        json_decref(choice);
        return -1;
    }
    if (!json_array_size(tools_out)) {
        /* tool_choice means nothing without tools */
        json_decref(tools_out);
        json_decref(choice);
        return 0;
    }
    const char *ct = choice ? tr_str(choice, "type") : "auto";
    if (json_is_false(json_object_get(t->in, "parallel_tool_calls")) && strcmp(ct, "none") != 0) {
        if (!choice)
            choice = json_pack("{s:s}", "type", "auto");
        json_object_set_new(choice, "disable_parallel_tool_use", json_true());
    }
    json_object_set_new(t->out, "tools", tools_out);
    if (choice)
        json_object_set_new(t->out, "tool_choice", choice);
    return 0;
}

/* ----------------------------------------------------------- top-level fields */

typedef int (*field_fn)(struct oa2an *t, const char *key, json_t *v);

static int f_done(struct oa2an *t, const char *key, json_t *v)
{
    return 0; /* handled in its own step */
}

static int f_copy(struct oa2an *t, const char *key, json_t *v)
{
    json_object_set(t->out, key, v);
    return 0;
}

static int f_drop(struct oa2an *t, const char *key, json_t *v)
{
    tr_warn(t->w, "%s dropped: no Anthropic equivalent", key);
    return 0;
}

/* Sampling knobs whose default means "unset": only warn when set. */
static int f_drop_nonzero(struct oa2an *t, const char *key, json_t *v)
{
    if ((json_is_number(v) && json_number_value(v) != 0) ||
        (json_is_object(v) && json_object_size(v)))
        return f_drop(t, key, v);
    return 0;
}

static int f_sampling(struct oa2an *t, const char *key, json_t *v)
{
    const char *ver = an_version(t->o);
    if (strcmp(ver, TR_AN_NO_SAMPLING_SINCE) >= 0) {
        tr_warn(t->w, "%s dropped: Anthropic API version %s has no sampling parameters", key, ver);
        return 0;
    }
    if (!json_is_number(v))
        return tr_bad(t->e, key, "Invalid type for '%s': expected a number.", key);
    if (!strcmp(key, "temperature") && json_number_value(v) > 1.0)
        return tr_bad(t->e, key,
                      "temperature: %g is above 1, the Anthropic maximum (OpenAI's "
                      "scale is 0-2, Anthropic's 0-1; frugal does not rescale it).",
                      json_number_value(v));
    return f_copy(t, key, v);
}

static int f_n(struct oa2an *t, const char *key, json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) > 1)
        return tr_bad(t->e, "n",
                      "n: Anthropic models return one completion per request; n=%lld "
                      "cannot be kept (send separate requests).",
                      (long long)json_integer_value(v));
    return 0;
}

static int f_logprobs(struct oa2an *t, const char *key, json_t *v)
{
    if (json_is_false(v) || (json_is_integer(v) && json_integer_value(v) == 0))
        return 0;
    return tr_bad(t->e, key, "%s: Anthropic models do not return token log probabilities.", key);
}

static int f_refuse(struct oa2an *t, const char *key, json_t *v)
{
    return tr_bad(t->e, key,
                  "%s: has no Anthropic equivalent, so the request's meaning cannot "
                  "be kept on an Anthropic model.",
                  key);
}

static int f_modalities(struct oa2an *t, const char *key, json_t *v)
{
    size_t k;
    json_t *x;
    json_array_foreach(v, k, x) if (
        json_is_string(x) &&
        !strcmp(json_string_value(x),
                "audio")) return tr_bad(t->e, key,
                                        "modalities: Anthropic models cannot answer with audio.");
    return 0;
}

static int f_stop(struct oa2an *t, const char *key, json_t *v)
{
    json_t *seqs = json_array();
    if (json_is_string(v)) {
        json_array_append(seqs, v);
    } else {
        size_t k;
        json_t *x;
        json_array_foreach(v, k, x) if (json_is_string(x)) json_array_append(seqs, x);
    }
    if (json_array_size(seqs))
        json_object_set(t->out, "stop_sequences", seqs);
    json_decref(seqs);
    return 0;
}

static int f_stream(struct oa2an *t, const char *key, json_t *v)
{
    if (json_is_true(v))
        json_object_set_new(t->out, "stream", json_true());
    return 0;
}

static int f_effort(struct oa2an *t, const char *key, json_t *v)
{
    const char *s = json_string_value(v);
    static const char *const kept[] = {"low", "medium", "high", "xhigh", "max", NULL};
    for (int i = 0; s && kept[i]; i++)
        if (!strcmp(s, kept[i])) {
            json_object_set_new(output_config(t), "effort", json_string(s));
            return 0;
        }
    if (s && (!strcmp(s, "minimal") || !strcmp(s, "none"))) {
        tr_warn(t->w, "reasoning_effort '%s' dropped: Anthropic's lowest effort is 'low'", s);
        return 0;
    }
    return tr_bad(t->e, key, "reasoning_effort: '%s' has no Anthropic equivalent.", s ? s : "?");
}

static int f_service_tier(struct oa2an *t, const char *key, json_t *v)
{
    const char *s = json_string_value(v);
    if (s && !strcmp(s, "auto"))
        return f_copy(t, key, v);
    if (s && !strcmp(s, "default")) {
        json_object_set_new(t->out, key, json_string("standard_only"));
        return 0;
    }
    return f_drop(t, key, v);
}

static const struct {
    const char *key;
    field_fn fn;
} fields[] = {
    {"model", f_done},
    {"messages", f_done},
    {"max_tokens", f_done},
    {"max_completion_tokens", f_done},
    {"tools", f_done},
    {"tool_choice", f_done},
    {"parallel_tool_calls", f_done},
    {"response_format", f_done},
    {"user", f_done},
    {"safety_identifier", f_done},
    {"stream_options", f_done}, /* usage streaming is the translator's business */
    {"stream", f_stream},
    {"stop", f_stop},
    {"temperature", f_sampling},
    {"top_p", f_sampling},
    {"n", f_n},
    {"logprobs", f_logprobs},
    {"top_logprobs", f_logprobs},
    {"reasoning_effort", f_effort},
    {"service_tier", f_service_tier},
    {"modalities", f_modalities},
    {"audio", f_refuse},
    {"prediction", f_refuse},
    {"functions", f_refuse},
    {"function_call", f_refuse},
    {"web_search_options", f_refuse},
    {"moderation", f_refuse},
    {"frequency_penalty", f_drop_nonzero},
    {"presence_penalty", f_drop_nonzero},
    {"logit_bias", f_drop_nonzero},
};

static int scalar_fields(struct oa2an *t)
{
    const char *key;
    json_t *v;
    json_object_foreach(t->in, key, v)
    {
        if (json_is_null(v))
            continue; /* null is OpenAI's "unset" */
        field_fn fn = f_drop;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (!strcmp(fields[i].key, key))
                fn = fields[i].fn;
        if (fn(t, key, v) < 0)
            return -1;
    }
    return 0;
}

static void max_tokens(struct oa2an *t)
{
    int64_t v;
    if (tr_int(t->in, "max_completion_tokens", &v) || tr_int(t->in, "max_tokens", &v)) {
        json_object_set_new(t->out, "max_tokens", json_integer(v));
        return;
    }
    v = t->o->default_max_tokens;
    if (v <= 0) {
        v = TR_FALLBACK_MAX_TOKENS;
        tr_warn(t->w,
                "max_tokens set to %d: Anthropic requires it and the model's output limit "
                "is unknown",
                TR_FALLBACK_MAX_TOKENS);
    }
    json_object_set_new(t->out, "max_tokens", json_integer(v));
}

/* OpenAI's end-user id (safety_identifier, or the older user) → metadata.user_id. */
static void user_id(struct oa2an *t)
{
    const char *sid = tr_str(t->in, "safety_identifier"), *user = tr_str(t->in, "user");
    if (sid && user && strcmp(sid, user) != 0)
        tr_warn(t->w, "user dropped: safety_identifier is sent as Anthropic metadata.user_id");
    const char *id = sid ? sid : user;
    if (id)
        json_object_set_new(t->out, "metadata", json_pack("{s:s}", "user_id", id));
}

static int build(struct oa2an *t)
{
    const char *model = t->o->upstream_model ? t->o->upstream_model : tr_str(t->in, "model");
    json_object_set_new(t->out, "model", json_string(model ? model : ""));
    max_tokens(t);
    if (messages(t) < 0)
        return -1;
    if (json_array_size(t->system))
        json_object_set(t->out, "system", t->system);
    json_object_set(t->out, "messages", t->msgs);
    if (tools_and_choice(t) < 0 || scalar_fields(t) < 0)
        return -1;
    user_id(t);
    if (t->oc)
        json_object_set(t->out, "output_config", t->oc);
    return 0;
}

int fg_translate_request_oa_to_an(const struct fg_json *body, const struct fg_translate_opts *o,
                                  char **out, size_t *out_len, struct fg_translate_warnings *w,
                                  struct fg_err *e)
{
    static const struct fg_translate_opts none = {0};
    struct oa2an t = {.o = o ? o : &none, .w = w, .e = e};
    *out = NULL;
    t.in = tr_load(body, 0);
    if (!json_is_object(t.in)) {
        json_decref(t.in);
        return tr_bad(e, "", "The request body could not be read for translation.");
    }
    t.out = json_object();
    t.system = json_array();
    t.msgs = json_array();
    int r = build(&t);
    if (r == 0) {
        *out = json_dumps(t.out, TR_DUMP_FLAGS);
        *out_len = *out ? strlen(*out) : 0;
    }
    json_decref(t.in);
    json_decref(t.out);
    json_decref(t.system);
    json_decref(t.msgs);
    json_decref(t.oc);
    return r;
}
