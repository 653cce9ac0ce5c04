/* Unit tests for OpenAI Responses → Chat Completions / Anthropic Messages
 * translation: requests, answers and streams (shared/spec/providers-2.md
 * sections 1 and 2).  Streams are checked the way the SDK's ResponseStream
 * checks them (one response id, output_index = items so far, item ids,
 * content_part.added before deltas, strictly increasing sequence_number,
 * the final event holding every item).
 *
 * Fixtures use single quotes; Q() turns them into JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

static const char *Q(const char *s)
{
    static char buf[8][16384];
    static int k;
    char *b = buf[k++ % 8];
    size_t n = strlen(s);
    assert_true(n < sizeof buf[0]);
    for (size_t i = 0; i <= n; i++)
        b[i] = s[i] == '\'' ? '"' : s[i];
    return b;
}

static json_t *jp(json_t *v, const char *path)
{
    char seg[64];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(seg, sizeof seg, "%.*s", (int)n, path);
        v = json_is_array(v) ? json_array_get(v, strtoul(seg, NULL, 10)) : json_object_get(v, seg);
        path += n + (path[n] == '.');
    }
    return v;
}

static const char *js(json_t *v, const char *path)
{
    return json_string_value(jp(v, path));
}

static long long ji(json_t *v, const char *path)
{
    json_t *x = jp(v, path);
    assert_true(json_is_integer(x));
    return json_integer_value(x);
}

typedef int (*req_fn)(const struct fg_json *, const struct fg_translate_opts *, char **, size_t *,
                      struct fg_translate_warnings *, struct fg_err *);

struct req_result {
    int rc;
    json_t *out;
    struct fg_translate_warnings w;
    struct fg_err e;
};

static struct req_result run_req(req_fn fn, const char *body, const struct fg_translate_opts *o)
{
    struct req_result r = {0};
    struct fg_json j = {0};
    const char *b = Q(body);
    if (fg_json_parse(&j, b, strlen(b)) != 0)
        fail_msg("fixture is not JSON: %s", b);
    char *out = NULL;
    size_t len = 0;
    r.rc = fn(&j, o, &out, &len, &r.w, &r.e);
    if (r.rc == 0) {
        assert_non_null(out);
        r.out = json_loads(out, 0, NULL);
        assert_non_null(r.out);
    } else {
        assert_null(out);
        assert_int_equal(r.e.status, 400);
    }
    free(out);
    fg_json_free(&j);
    return r;
}

static const struct fg_translate_opts oa_opts = {"llama-3-70b", NULL, 0, true};
static const struct fg_translate_opts an_native = {"claude-haiku-4-5", "2026-10-21", 8192, true};
static const struct fg_translate_opts an_tool = {"claude-3-haiku", "2023-06-01", 4096, false};

static struct req_result rs2oa(const char *body)
{
    return run_req(fg_translate_request_rs_to_oa, body, &oa_opts);
}

static struct req_result rs2an(const char *body, const struct fg_translate_opts *o)
{
    return run_req(fg_translate_request_rs_to_an, body, o);
}

static bool has_warning(const struct fg_translate_warnings *w, const char *needle)
{
    for (int i = 0; i < w->n; i++)
        if (strstr(w->msg[i], needle))
            return true;
    return false;
}

static void expect_400(const char *body, const char *param, const char *says)
{
    struct req_result r = rs2oa(body);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.e.param, param);
    if (!strstr(r.e.msg, says))
        fail_msg("message for %s does not say '%s': %s", param, says, r.e.msg);
    /* the same refusal whatever the target */
    r = rs2an(body, &an_native);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.e.param, param);
}

/* ------------------------------------------------ requests → Chat */

static void req_chat_scalars(void **state)
{
    struct req_result r =
        rs2oa("{'model':'m','input':'Hi','instructions':'Be brief.','max_output_tokens':50,"
              "'temperature':0.5,'top_p':0.9,'reasoning':{'effort':'low','summary':'auto'},"
              "'metadata':{'k':'v'},'user':'u1','store':true,'stream':true,"
              "'text':{'verbosity':'low'},'include':['reasoning.encrypted_content']}");
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "model"), "llama-3-70b");
    assert_string_equal(js(r.out, "messages.0.role"), "system");
    assert_string_equal(js(r.out, "messages.0.content"), "Be brief.");
    assert_string_equal(js(r.out, "messages.1.role"), "user");
    assert_string_equal(js(r.out, "messages.1.content"), "Hi");
    assert_int_equal(ji(r.out, "max_completion_tokens"), 50);
    assert_true(json_real_value(jp(r.out, "temperature")) == 0.5);
    assert_string_equal(js(r.out, "reasoning_effort"), "low");
    assert_string_equal(js(r.out, "metadata.k"), "v");
    assert_string_equal(js(r.out, "user"), "u1");
    assert_string_equal(js(r.out, "verbosity"), "low");
    assert_true(json_is_true(jp(r.out, "stream")));
    assert_true(json_is_true(jp(r.out, "stream_options.include_usage")));
    assert_null(jp(r.out, "store")); /* the conversation state is frugal's */
    assert_null(jp(r.out, "include"));
    assert_null(jp(r.out, "input"));
    assert_true(has_warning(&r.w, "reasoning.summary"));
    assert_true(has_warning(&r.w, "include"));
    json_decref(r.out);
}

static void req_chat_items(void **state)
{
    struct req_result r = rs2oa(
        "{'model':'m','input':["
        "{'role':'developer','content':'Rules.'},"
        "{'type':'message','role':'user','content':[{'type':'input_text','text':'Look:'},"
        "{'type':'input_image','image_url':'https://x/a.png','detail':'low'},"
        "{'type':'input_file','file_data':'data:application/pdf;base64,QUJD','filename':'a.pdf'}]},"
        "{'type':'reasoning','id':'rs_1','summary':[],'encrypted_content':'zzz'},"
        "{'type':'message','role':'assistant','content':[{'type':'output_text','text':'Let me '},"
        "{'type':'output_text','text':'check.'}]},"
        "{'type':'function_call','call_id':'call_A','name':'f','arguments':'{}'},"
        "{'type':'function_call','call_id':'call_B','name':'g','arguments':'{\\'x\\':1}'},"
        "{'type':'function_call_output','call_id':'call_A','output':'1'},"
        "{'type':'function_call_output','call_id':'call_B','output':[{'type':'input_text','text':'2'}]}]}");
    assert_int_equal(r.rc, 0);
    json_t *m = jp(r.out, "messages");
    assert_int_equal(json_array_size(m), 5);
    assert_string_equal(js(m, "0.role"), "system");
    assert_string_equal(js(m, "1.content.0.type"), "text");
    assert_string_equal(js(m, "1.content.1.image_url.url"), "https://x/a.png");
    assert_string_equal(js(m, "1.content.1.image_url.detail"), "low");
    assert_string_equal(js(m, "1.content.2.file.filename"), "a.pdf");
    /* the assistant text and both calls are one turn */
    assert_string_equal(js(m, "2.role"), "assistant");
    assert_string_equal(js(m, "2.content"), "Let me check.");
    assert_string_equal(js(m, "2.tool_calls.0.id"), "call_A");
    assert_string_equal(js(m, "2.tool_calls.1.function.name"), "g");
    assert_string_equal(js(m, "2.tool_calls.1.function.arguments"), "{\"x\":1}");
    assert_string_equal(js(m, "3.role"), "tool");
    assert_string_equal(js(m, "3.tool_call_id"), "call_A");
    assert_string_equal(js(m, "4.content"), "2");
    assert_true(has_warning(&r.w, "reasoning items dropped"));
    json_decref(r.out);
}

static void req_chat_tools(void **state)
{
    const char *tools = "'tools':[{'type':'function','name':'f','description':'d','strict':true,"
                        "'parameters':{'type':'object','properties':{}}},"
                        "{'type':'function','name':'g'}]";
    char body[1024];
    snprintf(body, sizeof body, "{'model':'m','input':'x',%s,'parallel_tool_calls':false}", tools);
    struct req_result r = rs2oa(body);
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "tools.0.type"), "function");
    assert_string_equal(js(r.out, "tools.0.function.name"), "f");
    assert_string_equal(js(r.out, "tools.0.function.description"), "d");
    assert_true(json_is_true(jp(r.out, "tools.0.function.strict")));
    assert_string_equal(js(r.out, "tools.1.function.parameters.type"), "object");
    assert_true(json_is_false(jp(r.out, "parallel_tool_calls")));
    json_decref(r.out);
    const char *choices[][2] = {{"'none'", "none"}, {"'required'", "required"}, {"'auto'", "auto"}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(body, sizeof body, "{'model':'m','input':'x',%s,'tool_choice':%s}", tools,
                 choices[i][0]);
        r = rs2oa(body);
        assert_int_equal(r.rc, 0);
        assert_string_equal(js(r.out, "tool_choice"), choices[i][1]);
        json_decref(r.out);
    }
    snprintf(body, sizeof body,
             "{'model':'m','input':'x',%s,'tool_choice':{'type':'function','name':'g'}}", tools);
    r = rs2oa(body);
    assert_string_equal(js(r.out, "tool_choice.function.name"), "g");
    json_decref(r.out);
    snprintf(body, sizeof body,
             "{'model':'m','input':'x',%s,'tool_choice':{'type':'allowed_tools','mode':'required',"
             "'tools':[{'type':'function','name':'f'}]}}",
             tools);
    r = rs2oa(body);
    assert_string_equal(js(r.out, "tool_choice.type"), "allowed_tools");
    assert_string_equal(js(r.out, "tool_choice.allowed_tools.mode"), "required");
    assert_string_equal(js(r.out, "tool_choice.allowed_tools.tools.0.function.name"), "f");
    json_decref(r.out);
    /* through to Anthropic: allowed_tools filters, required is "any" */
    r = rs2an(body, &an_native);
    assert_int_equal(r.rc, 0);
    assert_int_equal(json_array_size(jp(r.out, "tools")), 1);
    assert_string_equal(js(r.out, "tools.0.name"), "f");
    assert_string_equal(js(r.out, "tool_choice.type"), "any");
    json_decref(r.out);
}

static void req_chat_text_format(void **state)
{
    struct req_result r = rs2oa("{'model':'m','input':'x','text':{'format':{'type':'json_schema',"
                                "'name':'person','strict':true,'schema':{'type':'object'}}}}");
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "response_format.type"), "json_schema");
    assert_string_equal(js(r.out, "response_format.json_schema.name"), "person");
    assert_true(json_is_true(jp(r.out, "response_format.json_schema.strict")));
    assert_string_equal(js(r.out, "response_format.json_schema.schema.type"), "object");
    json_decref(r.out);
    r = rs2oa("{'model':'m','input':'x','text':{'format':{'type':'json_object'}}}");
    assert_string_equal(js(r.out, "response_format.type"), "json_object");
    json_decref(r.out);
    r = rs2oa("{'model':'m','input':'x','text':{'format':{'type':'text'}}}");
    assert_null(jp(r.out, "response_format"));
    json_decref(r.out);
}

static void req_refused(void **state)
{
    expect_400("{'model':'m','input':'x','previous_response_id':'resp_1'}", "previous_response_id",
               "input items");
    expect_400("{'model':'m','input':'x','conversation':'conv_1'}", "conversation", "state");
    expect_400("{'model':'m','input':'x','background':true}", "background", "background");
    expect_400("{'model':'m','input':'x','prompt':{'id':'p'}}", "prompt", "prompt");
    expect_400("{'model':'m','input':'x','top_logprobs':3}", "top_logprobs", "log prob");
    expect_400("{'model':'m','input':'x','tools':[{'type':'function','name':'f'},"
               "{'type':'web_search'}]}",
               "tools[1]", "web_search");
    expect_400("{'model':'m','input':'x','tools':[{'type':'mcp','server_label':'s'}]}", "tools[0]",
               "'mcp'");
    expect_400("{'model':'m','input':'x','tools':[{'type':'function','name':'f'}],"
               "'tool_choice':{'type':'file_search'}}",
               "tool_choice", "file_search");
    expect_400("{'model':'m','input':[{'role':'user','content':[{'type':'input_image',"
               "'file_id':'file-1'}]}]}",
               "input[0].content[0]", "file_id");
    expect_400("{'model':'m','input':[{'role':'user','content':[{'type':'input_file',"
               "'file_url':'https://x/a.pdf'}]}]}",
               "input[0].content[0]", "file_data");
    expect_400("{'model':'m','input':[{'type':'item_reference','id':'msg_1'}]}", "input[0]",
               "item_reference");
    expect_400("{'model':'m','input':[{'type':'web_search_call','id':'ws_1'}]}", "input[0]",
               "web_search_call");
    expect_400("{'model':'m','input':[{'type':'function_call','name':'f'}]}", "input[0]",
               "call_id");
    expect_400("{'model':'m','input':[{'role':'critic','content':'x'}]}", "input[0]", "critic");
    expect_400("{'model':'m','input':[{'role':'assistant','content':[{'type':'input_image',"
               "'image_url':'https://x'}]}]}",
               "input[0].content[0]", "only text");
    expect_400("{'model':'m','input':[]}", "input", "no input");
    expect_400("{'model':'m','input':'x','text':{'format':{'type':'yaml'}}}", "text.format.type",
               "yaml");
}

/* ------------------------------------------------ requests → Anthropic */

static void req_anthropic(void **state)
{
    struct req_result r = rs2an(
        "{'model':'claude','instructions':'Sys.','max_output_tokens':300,"
        "'reasoning':{'effort':'high'},'input':[{'role':'user','content':'Weather?'},"
        "{'type':'function_call','call_id':'call_1','name':'w','arguments':'{\\'c\\':\\'Oslo\\'}'},"
        "{'type':'function_call_output','call_id':'call_1','output':'4C'}],"
        "'tools':[{'type':'function','name':'w','parameters':{'type':'object'}}],"
        "'parallel_tool_calls':false,'text':{'format':{'type':'json_schema','name':'a',"
        "'schema':{'type':'object'}}}}",
        &an_native);
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "model"), "claude-haiku-4-5");
    assert_int_equal(ji(r.out, "max_tokens"), 300);
    assert_string_equal(js(r.out, "system.0.text"), "Sys.");
    assert_string_equal(js(r.out, "messages.1.content.0.type"), "tool_use");
    assert_string_equal(js(r.out, "messages.1.content.0.input.c"), "Oslo");
    assert_string_equal(js(r.out, "messages.2.content.0.type"), "tool_result");
    assert_string_equal(js(r.out, "messages.2.content.0.tool_use_id"), "call_1");
    assert_string_equal(js(r.out, "tools.0.name"), "w");
    assert_true(json_is_true(jp(r.out, "tool_choice.disable_parallel_tool_use")));
    assert_string_equal(js(r.out, "output_config.effort"), "high");
    assert_string_equal(js(r.out, "output_config.format.type"), "json_schema");
    json_decref(r.out);
    /* no max_output_tokens: the model's limit (Anthropic requires one) */
    r = rs2an("{'model':'claude','input':'x'}", &an_native);
    assert_int_equal(ji(r.out, "max_tokens"), 8192);
    json_decref(r.out);
}

static void req_anthropic_forced_tool(void **state)
{
    const char *body = "{'model':'claude','input':'x','text':{'format':{'type':'json_schema',"
                       "'name':'my person','schema':{'type':'object'}}}}";
    struct req_result r = rs2an(body, &an_tool);
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "tools.0.name"), "my_person");
    assert_string_equal(js(r.out, "tool_choice.name"), "my_person");
    json_decref(r.out);
    /* the pipeline asks the same question of the Responses body */
    struct fg_json j = {0};
    const char *b = Q(body);
    assert_int_equal(fg_json_parse(&j, b, strlen(b)), 0);
    char name[80];
    assert_true(fg_translate_forced_tool(&j, &an_tool, name, sizeof name));
    assert_string_equal(name, "my_person");
    assert_false(fg_translate_forced_tool(&j, &an_native, name, sizeof name));
    fg_json_free(&j);
    /* a schema as a forced tool would shut out the client's tools: refused,
     * named in the Responses spelling */
    r = rs2an("{'model':'claude','input':'x','tools':[{'type':'function','name':'f'}],"
              "'text':{'format':{'type':'json_schema','name':'a','schema':{'type':'object'}}}}",
              &an_tool);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.e.param, "text.format");
}

/* ------------------------------------------------ answers */

static json_t *run_resp(int which, const char *body, const char *forced, int want_rc)
{
    struct fg_json j = {0};
    const char *b = Q(body);
    assert_int_equal(fg_json_parse(&j, b, strlen(b)), 0);
    struct evbuffer *out = evbuffer_new();
    struct fg_err e = {0};
    int rc = which ? fg_translate_response_an_to_rs(&j, "my-model", forced, out, &e)
                   : fg_translate_response_oa_to_rs(&j, "my-model", out, &e);
    assert_int_equal(rc, want_rc);
    json_t *doc = NULL;
    if (rc == 0) {
        doc = json_loadb((const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out), 0, NULL);
        assert_non_null(doc);
        /* every key the SDK's Response type requires */
        static const char *const keys[] = {"id",
                                           "object",
                                           "created_at",
                                           "model",
                                           "output",
                                           "error",
                                           "incomplete_details",
                                           "instructions",
                                           "metadata",
                                           "parallel_tool_calls",
                                           "temperature",
                                           "top_p",
                                           "tool_choice",
                                           "tools",
                                           "access_programs",
                                           "status"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (!json_object_get(doc, keys[i]))
                fail_msg("Response lacks %s", keys[i]);
        assert_string_equal(js(doc, "object"), "response");
        assert_string_equal(js(doc, "model"), "my-model");
    } else {
        assert_int_equal(e.status, 502);
    }
    evbuffer_free(out);
    fg_json_free(&j);
    return doc;
}

static void resp_from_chat(void **state)
{
    json_t *d = run_resp(
        0,
        "{'id':'chatcmpl-abc','object':'chat.completion','created':1767000000,'model':'x',"
        "'choices':[{'index':0,'message':{'role':'assistant','content':'Hi there',"
        "'tool_calls':[{'id':'call_1','type':'function','function':{'name':'f','arguments':'{}'}}]},"
        "'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':100,'completion_tokens':20,"
        "'total_tokens':120,'prompt_tokens_details':{'cached_tokens':60},"
        "'completion_tokens_details':{'reasoning_tokens':5}}}",
        NULL, 0);
    assert_string_equal(js(d, "id"), "resp_abc");
    assert_string_equal(js(d, "status"), "completed");
    assert_true(json_is_null(jp(d, "incomplete_details")));
    assert_int_equal(ji(d, "created_at"), 1767000000);
    assert_string_equal(js(d, "output.0.type"), "message");
    assert_string_equal(js(d, "output.0.content.0.type"), "output_text");
    assert_string_equal(js(d, "output.0.content.0.text"), "Hi there");
    assert_true(strlen(js(d, "output.0.id")) > 4);
    assert_string_equal(js(d, "output.1.type"), "function_call");
    assert_string_equal(js(d, "output.1.call_id"), "call_1");
    assert_string_equal(js(d, "output.1.name"), "f");
    assert_string_equal(js(d, "output.1.arguments"), "{}");
    assert_string_equal(js(d, "output.1.status"), "completed");
    assert_int_equal(ji(d, "usage.input_tokens"), 100);
    assert_int_equal(ji(d, "usage.input_tokens_details.cached_tokens"), 60);
    assert_int_equal(ji(d, "usage.input_tokens_details.cache_write_tokens"), 0);
    assert_int_equal(ji(d, "usage.output_tokens"), 20);
    assert_int_equal(ji(d, "usage.output_tokens_details.reasoning_tokens"), 5);
    assert_int_equal(ji(d, "usage.total_tokens"), 120);
    json_decref(d);
    d = run_resp(0,
                 "{'id':'c','choices':[{'index':0,'message':{'role':'assistant','content':'cut'},"
                 "'finish_reason':'length'}]}",
                 NULL, 0);
    assert_string_equal(js(d, "status"), "incomplete");
    assert_string_equal(js(d, "incomplete_details.reason"), "max_output_tokens");
    assert_string_equal(js(d, "output.0.status"), "incomplete");
    assert_true(json_is_null(jp(d, "usage")));
    json_decref(d);
    d = run_resp(0,
                 "{'id':'c','choices':[{'index':0,'message':{'role':'assistant','content':null,"
                 "'refusal':'No.'},'finish_reason':'content_filter'}]}",
                 NULL, 0);
    assert_string_equal(js(d, "incomplete_details.reason"), "content_filter");
    assert_string_equal(js(d, "output.0.content.0.type"), "refusal");
    assert_string_equal(js(d, "output.0.content.0.refusal"), "No.");
    json_decref(d);
    run_resp(0, "{'id':'c','choices':[]}", NULL, -1);
    run_resp(0, "{'id':'c','choices':[{'message':{'tool_calls':[{'function':{'name':'f'}}]}}]}",
             NULL, -1);
}

static void resp_from_anthropic(void **state)
{
    json_t *d = run_resp(
        1,
        "{'id':'msg_01','type':'message','role':'assistant','model':'c','content':["
        "{'type':'thinking','thinking':'hmm','signature':'s'},{'type':'text','text':'Sure.'},"
        "{'type':'tool_use','id':'toolu_1','name':'w','input':{'c':'Oslo'}}],"
        "'stop_reason':'tool_use','usage':{'input_tokens':10,'cache_read_input_tokens':100,"
        "'cache_creation_input_tokens':5,'output_tokens':30}}",
        NULL, 0);
    assert_string_equal(js(d, "id"), "resp_msg_01");
    assert_string_equal(js(d, "status"), "completed");
    assert_string_equal(js(d, "output.0.content.0.text"), "Sure.");
    assert_string_equal(js(d, "output.1.call_id"), "toolu_1");
    assert_string_equal(js(d, "output.1.arguments"), "{\"c\":\"Oslo\"}");
    /* Responses input_tokens include cache reads and writes */
    assert_int_equal(ji(d, "usage.input_tokens"), 115);
    assert_int_equal(ji(d, "usage.input_tokens_details.cached_tokens"), 100);
    assert_int_equal(ji(d, "usage.input_tokens_details.cache_write_tokens"), 5);
    assert_int_equal(ji(d, "usage.output_tokens"), 30);
    assert_int_equal(ji(d, "usage.total_tokens"), 145);
    json_decref(d);
    d = run_resp(1,
                 "{'id':'m','content':[{'type':'text','text':'cut'}],'stop_reason':'max_tokens',"
                 "'usage':{'input_tokens':1,'output_tokens':2}}",
                 NULL, 0);
    assert_string_equal(js(d, "incomplete_details.reason"), "max_output_tokens");
    json_decref(d);
    d = run_resp(1, "{'id':'m','content':[],'stop_reason':'refusal'}", NULL, 0);
    assert_string_equal(js(d, "incomplete_details.reason"), "content_filter");
    assert_string_equal(js(d, "output.0.content.0.type"), "refusal");
    json_decref(d);
    /* a forced tool standing in for a schema: the answer is the JSON text */
    d = run_resp(1,
                 "{'id':'m','content':[{'type':'tool_use','id':'t','name':'person',"
                 "'input':{'n':1}}],'stop_reason':'tool_use'}",
                 "person", 0);
    assert_string_equal(js(d, "status"), "completed");
    assert_string_equal(js(d, "output.0.content.0.text"), "{\"n\":1}");
    assert_int_equal(json_array_size(jp(d, "output")), 1);
    json_decref(d);
    run_resp(1, "{'id':'m'}", NULL, -1);
    run_resp(1, "[1,2]", NULL, -1);
}

/* ------------------------------------------------ streams */

struct rs_view {
    json_t *ev[128];
    char type[128][64];
    int n;
    char text[512], args[512], refusal[128];
    json_t *final; /* the terminal event's response */
    const char *final_type;
    bool error;
};

static void view_free(struct rs_view *v)
{
    for (int i = 0; i < v->n; i++)
        json_decref(v->ev[i]);
}

static int view_cb(void *arg, const struct fg_sse_event *ev)
{
    struct rs_view *v = arg;
    assert_true(v->n < 128);
    assert_true(ev->event_len > 0);
    json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);
    assert_non_null(d);
    snprintf(v->type[v->n], sizeof v->type[0], "%.*s", (int)ev->event_len, ev->event);
    assert_string_equal(js(d, "type"), v->type[v->n]); /* the name is the type */
    assert_int_equal(ji(d, "sequence_number"), v->n);  /* 0, 1, 2, ... */
    v->ev[v->n++] = d;
    return 0;
}

/* The checks of the SDK's ResponseStream, and the reassembled answer. */
static void view_check(struct rs_view *v)
{
    assert_true(v->n >= 3);
    assert_string_equal(v->type[0], "response.created");
    assert_string_equal(v->type[1], "response.in_progress");
    const char *rid = js(v->ev[0], "response.id");
    assert_non_null(rid);
    assert_memory_equal(rid, "resp_", 5);
    json_t *items = json_array(); /* added items, by output_index */
    int open_parts = 0;
    for (int i = 2; i < v->n; i++) {
        json_t *d = v->ev[i];
        const char *t = v->type[i];
        if (jp(d, "response"))
            assert_string_equal(js(d, "response.id"), rid);
        if (!strcmp(t, "response.output_item.added")) {
            assert_int_equal(ji(d, "output_index"), (long long)json_array_size(items));
            assert_true(strlen(js(d, "item.id")) > 0);
            if (!strcmp(js(d, "item.type"), "function_call"))
                assert_true(strlen(js(d, "item.call_id")) > 0);
            json_array_append(items, jp(d, "item"));
        } else if (jp(d, "item_id")) {
            json_t *it = json_array_get(items, (size_t)ji(d, "output_index"));
            assert_non_null(it);
            assert_string_equal(js(d, "item_id"), js(it, "id"));
        }
        if (!strcmp(t, "response.content_part.added"))
            open_parts++;
        if (!strcmp(t, "response.content_part.done"))
            open_parts--;
        if (!strcmp(t, "response.output_text.delta")) {
            assert_int_equal(open_parts, 1);
            strcat(v->text, js(d, "delta"));
        }
        if (!strcmp(t, "response.refusal.delta"))
            strcat(v->refusal, js(d, "delta"));
        if (!strcmp(t, "response.function_call_arguments.delta"))
            strcat(v->args, js(d, "delta"));
        if (!strcmp(t, "error"))
            v->error = true;
        if (!strcmp(t, "response.completed") || !strcmp(t, "response.incomplete") ||
            !strcmp(t, "response.failed")) {
            assert_int_equal(i, v->n - 1); /* nothing after the end */
            v->final = jp(d, "response");
            v->final_type = t;
        }
    }
    assert_non_null(v->final);
    if (!strcmp(v->final_type, "response.failed")) {
        json_decref(items); /* a failed answer is left as it was cut */
        return;
    }
    assert_int_equal(open_parts, 0);
    /* the final response holds every added item, done */
    assert_int_equal(json_array_size(jp(v->final, "output")), json_array_size(items));
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it)
    {
        json_t *fin = json_array_get(jp(v->final, "output"), k);
        assert_string_equal(js(fin, "id"), js(it, "id"));
    }
    json_decref(items);
}

struct feed {
    struct fg_translate_stream *s;
    struct evbuffer *out;
    int rc;
};

static int feed_cb(void *arg, const struct fg_sse_event *ev)
{
    struct feed *f = arg;
    if (fg_translate_stream_event(f->s, ev, f->out) < 0)
        f->rc = -1;
    return 0;
}

/* Feed an upstream fixture, end it (done or cut), parse the client side. */
static int run_stream(enum fg_dialect from, const char *sse, int end, struct rs_view *v)
{
    struct fg_translate_stream *s =
        fg_translate_stream_new(from, FG_DIALECT_RESPONSES, "my-model", false);
    assert_non_null(s);
    struct feed f = {s, evbuffer_new(), 0};
    struct fg_sse p;
    fg_sse_init(&p, 1 << 20);
    if (*sse)
        assert_int_equal(fg_sse_feed(&p, sse, strlen(sse), feed_cb, &f), 0);
    fg_sse_free(&p);
    if (end >= 0)
        fg_translate_stream_end(s, end == 1, f.out);
    else {
        struct fg_err e = {.status = 504};
        snprintf(e.msg, sizeof e.msg, "upstream timed out");
        fg_translate_stream_fail(s, &e, f.out);
    }
    assert_true(fg_translate_stream_closed(s));
    size_t n = evbuffer_get_length(f.out);
    memset(v, 0, sizeof *v);
    fg_sse_init(&p, 1 << 20);
    assert_int_equal(fg_sse_feed(&p, (const char *)evbuffer_pullup(f.out, -1), n, view_cb, v), 0);
    assert_int_equal(fg_sse_pending(&p), 0);
    fg_sse_free(&p);
    evbuffer_free(f.out);
    fg_translate_stream_free(s);
    return f.rc;
}

#define OA(json) "data: " json "\n\n"
#define AN(name, json) "event: " name "\ndata: " json "\n\n"

/* clang-format off */
static const char *chat_fixture =
    OA("{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}")
    OA("{\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}")
    OA("{\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}")
    OA("{\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"\"}}]}}]}")
    OA("{\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"c\\\":\"}}]}}]}")
    OA("{\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}")
    OA("{\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"function\":{\"name\":\"v\",\"arguments\":\"{}\"}}]}}]}")
    OA("{\"id\":\"chatcmpl-9\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}")
    OA("{\"id\":\"chatcmpl-9\",\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":9,\"total_tokens\":59,\"prompt_tokens_details\":{\"cached_tokens\":40}}}");

static const char *an_fixture =
    AN("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_7\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":18,\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}")
    AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}")
    AN("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
    AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
    AN("ping", "{\"type\":\"ping\"}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"you\"}}")
    AN("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}")
    AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"w\",\"input\":{}}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"c\\\":\"}}")
    AN("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"2}\"}}")
    AN("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}")
    AN("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":34}}")
    AN("message_stop", "{\"type\":\"message_stop\"}");
/* clang-format on */

static void stream_from_chat(void **state)
{
    struct rs_view v;
    assert_int_equal(run_stream(FG_DIALECT_OPENAI, chat_fixture, 1, &v), 0);
    view_check(&v);
    assert_string_equal(v.final_type, "response.completed");
    assert_string_equal(js(v.final, "id"), "resp_9");
    assert_string_equal(js(v.final, "model"), "my-model");
    assert_string_equal(js(v.final, "status"), "completed");
    assert_string_equal(v.text, "Hello");
    assert_string_equal(v.args, "{\"c\":1}{}");
    json_t *out = jp(v.final, "output");
    assert_int_equal(json_array_size(out), 3);
    assert_string_equal(js(out, "0.content.0.text"), "Hello");
    assert_string_equal(js(out, "1.call_id"), "call_1");
    assert_string_equal(js(out, "1.arguments"), "{\"c\":1}");
    assert_string_equal(js(out, "2.name"), "v");
    assert_int_equal(ji(v.final, "usage.input_tokens"), 50);
    assert_int_equal(ji(v.final, "usage.input_tokens_details.cached_tokens"), 40);
    assert_int_equal(ji(v.final, "usage.output_tokens"), 9);
    /* the order the SDK expects for a text item */
    const char *want[] = {"response.output_item.added", "response.content_part.added",
                          "response.output_text.delta", "response.output_text.delta",
                          "response.output_text.done",  "response.content_part.done",
                          "response.output_item.done",  "response.output_item.added"};
    for (int i = 0; i < 8; i++)
        assert_string_equal(v.type[2 + i], want[i]);
    view_free(&v);
}

/* Two calls whose arguments arrive interleaved: both stay open, each gets
 * its own deltas, and both are in the final response in order. */
static void stream_from_chat_interleaved_calls(void **state)
{
    struct rs_view v;
    /* clang-format off */
    const char *sse =
        OA("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":\"}}]}}]}")
        OA("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"y\\\":\"}}]}}]}")
        OA("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}")
        OA("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"2}\"}}]},\"finish_reason\":\"tool_calls\"}]}");
    /* clang-format on */
    assert_int_equal(run_stream(FG_DIALECT_OPENAI, sse, 1, &v), 0);
    view_check(&v);
    assert_string_equal(v.final_type, "response.completed");
    assert_string_equal(js(v.final, "output.0.call_id"), "call_a");
    assert_string_equal(js(v.final, "output.0.arguments"), "{\"x\":1}");
    assert_string_equal(js(v.final, "output.1.call_id"), "call_b");
    assert_string_equal(js(v.final, "output.1.arguments"), "{\"y\":2}");
    view_free(&v);
}

static void stream_from_chat_ends(void **state)
{
    struct rs_view v;
    /* truncated by the output limit: response.incomplete */
    assert_int_equal(
        run_stream(FG_DIALECT_OPENAI,
                   OA("{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ab\"}}]}")
                       OA("{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
                          "\"length\"}]}") OA("[DONE]"),
                   1, &v),
        0);
    view_check(&v);
    assert_string_equal(v.final_type, "response.incomplete");
    assert_string_equal(js(v.final, "incomplete_details.reason"), "max_output_tokens");
    view_free(&v);
    /* a refusal */
    assert_int_equal(
        run_stream(FG_DIALECT_OPENAI,
                   OA("{\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":"
                      "\"No.\"},\"finish_reason\":\"content_filter\"}]}"),
                   1, &v),
        0);
    view_check(&v);
    assert_string_equal(v.refusal, "No.");
    assert_string_equal(js(v.final, "output.0.content.0.type"), "refusal");
    view_free(&v);
    /* cut: never a clean completion */
    assert_int_equal(
        run_stream(FG_DIALECT_OPENAI,
                   OA("{\"id\":\"c3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ab\"}}]}"),
                   0, &v),
        0);
    view_check(&v);
    assert_true(v.error);
    assert_string_equal(v.final_type, "response.failed");
    assert_string_equal(js(v.final, "status"), "failed");
    assert_string_equal(js(v.final, "error.code"), "upstream_reset");
    view_free(&v);
    /* an upstream error chunk */
    assert_int_equal(
        run_stream(FG_DIALECT_OPENAI,
                   OA("{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}"), 1, &v),
        0);
    view_check(&v);
    assert_string_equal(v.final_type, "response.failed");
    assert_string_equal(js(v.ev[2], "message"), "overloaded");
    view_free(&v);
    /* the caller's failure (timeout) */
    assert_int_equal(run_stream(FG_DIALECT_OPENAI, "", -1, &v), 0);
    view_check(&v);
    assert_string_equal(js(v.ev[2], "message"), "upstream timed out");
    view_free(&v);
    /* malformed chunks and a call without a name are refused */
    assert_int_equal(run_stream(FG_DIALECT_OPENAI, OA("{not json"), 0, &v), -1);
    view_free(&v);
    assert_int_equal(
        run_stream(FG_DIALECT_OPENAI,
                   OA("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
                      "[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}}]}"),
                   0, &v),
        -1);
    view_free(&v);
}

static void stream_from_anthropic(void **state)
{
    struct rs_view v;
    assert_int_equal(run_stream(FG_DIALECT_ANTHROPIC, an_fixture, 1, &v), 0);
    view_check(&v);
    assert_string_equal(v.final_type, "response.completed");
    assert_string_equal(js(v.final, "id"), "resp_msg_7");
    assert_string_equal(v.text, "Hi you");
    assert_string_equal(v.args, "{\"c\":2}");
    assert_string_equal(js(v.final, "output.1.call_id"), "toolu_1");
    assert_int_equal(ji(v.final, "usage.input_tokens"), 123);
    assert_int_equal(ji(v.final, "usage.input_tokens_details.cached_tokens"), 100);
    assert_int_equal(ji(v.final, "usage.input_tokens_details.cache_write_tokens"), 5);
    assert_int_equal(ji(v.final, "usage.output_tokens"), 34);
    view_free(&v);
    /* cut after the text began: error + failed */
    char cut[2048];
    const char *p =
        strstr(an_fixture,
               "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}");
    assert_non_null(p);
    snprintf(cut, sizeof cut, "%.*s", (int)(p - an_fixture), an_fixture);
    assert_int_equal(run_stream(FG_DIALECT_ANTHROPIC, cut, 0, &v), 0);
    view_check(&v);
    assert_true(v.error);
    assert_string_equal(v.final_type, "response.failed");
    view_free(&v);
    /* an upstream error event */
    assert_int_equal(
        run_stream(FG_DIALECT_ANTHROPIC,
                   AN("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\","
                                       "\"content\":[],\"usage\":{\"input_tokens\":1}}}")
                       AN("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                                   "\"message\":\"Overloaded\"}}"),
                   1, &v),
        0);
    view_check(&v);
    assert_true(v.error);
    assert_string_equal(v.final_type, "response.failed");
    view_free(&v);
    /* max_tokens: incomplete */
    assert_int_equal(
        run_stream(FG_DIALECT_ANTHROPIC,
                   AN("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\","
                                       "\"content\":[],\"usage\":{\"input_tokens\":1}}}")
                       AN("content_block_start",
                          "{\"type\":\"content_block_start\",\"index\":0,"
                          "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
                           AN("content_block_delta",
                              "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                              "\"text_delta\",\"text\":\"x\"}}")
                               AN("message_delta", "{\"type\":\"message_delta\",\"delta\":{"
                                                   "\"stop_reason\":\"max_tokens\"},\"usage\":{"
                                                   "\"output_tokens\":1}}")
                                   AN("message_stop", "{\"type\":\"message_stop\"}"),
                   1, &v),
        0);
    view_check(&v);
    assert_string_equal(v.final_type, "response.incomplete");
    assert_string_equal(js(v.final, "output.0.status"), "incomplete");
    view_free(&v);
}

/* An upstream error message longer than frugal keeps is cut at a whole
 * UTF-8 character: the error event stays JSON with its message. */
static void stream_error_message_cut_in_a_character(void **state)
{
    char msg[1024] = "", sse[1200];
    for (int i = 0; i < 300; i++)
        strcat(msg, "\xc3\xa9"); /* é: 600 bytes, more than an error keeps */
    snprintf(sse, sizeof sse, OA("{\"error\":{\"message\":\"%s\",\"type\":\"server_error\"}}"),
             msg);
    struct rs_view v;
    assert_int_equal(run_stream(FG_DIALECT_OPENAI, sse, 1, &v), 0);
    view_check(&v);
    assert_string_equal(v.type[2], "error");
    const char *m = js(v.ev[2], "message");
    assert_non_null(m);
    assert_true(strlen(m) > 300 && strlen(m) % 2 == 0);
    assert_string_equal(js(v.final, "error.message"), m);
    view_free(&v);
}

static void stream_forced_tool(void **state)
{
    struct fg_translate_stream *s =
        fg_translate_stream_new(FG_DIALECT_ANTHROPIC, FG_DIALECT_RESPONSES, "m", false);
    fg_translate_stream_forced_tool(s, "person");
    struct feed f = {s, evbuffer_new(), 0};
    const char *sse =
        AN("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],"
                            "\"usage\":{\"input_tokens\":1}}}")
            AN("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                                      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\","
                                      "\"name\":\"person\",\"input\":{}}}")
                AN("content_block_delta",
                   "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                   "\"input_json_delta\",\"partial_json\":\"{\\\"n\\\":1}\"}}")
                    AN("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                                        "\"tool_use\"},\"usage\":{\"output_tokens\":3}}")
                        AN("message_stop", "{\"type\":\"message_stop\"}");
    struct fg_sse p;
    fg_sse_init(&p, 1 << 20);
    assert_int_equal(fg_sse_feed(&p, sse, strlen(sse), feed_cb, &f), 0);
    fg_sse_free(&p);
    fg_translate_stream_end(s, true, f.out);
    struct rs_view v = {0};
    fg_sse_init(&p, 1 << 20);
    fg_sse_feed(&p, (const char *)evbuffer_pullup(f.out, -1), evbuffer_get_length(f.out), view_cb,
                &v);
    fg_sse_free(&p);
    view_check(&v);
    assert_string_equal(v.text, "{\"n\":1}");
    assert_string_equal(js(v.final, "status"), "completed");
    assert_string_equal(js(v.final, "output.0.type"), "message");
    view_free(&v);
    evbuffer_free(f.out);
    fg_translate_stream_free(s);
}

/* The Response repeats the request's fields, as OpenAI's do. */
static void response_echoes_request(void **state)
{
    const char *req = Q("{'model':'m','input':'x','instructions':'Be brief.','temperature':0.5,"
                        "'tools':[{'type':'function','name':'f'}],'tool_choice':'required',"
                        "'metadata':{'k':'v'},'max_output_tokens':9,'stream':true,'top_p':null}");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s",
                        Q("{'id':'resp_1','object':'response','instructions':null,"
                          "'temperature':null,'top_p':null,'metadata':{}}"));
    fg_translate_rs_echo(req, strlen(req), b);
    json_t *d = json_loadb((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b), 0, NULL);
    assert_string_equal(js(d, "instructions"), "Be brief.");
    assert_true(json_real_value(jp(d, "temperature")) == 0.5);
    assert_true(json_is_null(jp(d, "top_p")));
    assert_string_equal(js(d, "tools.0.name"), "f");
    assert_string_equal(js(d, "tool_choice"), "required");
    assert_string_equal(js(d, "metadata.k"), "v");
    assert_int_equal(ji(d, "max_output_tokens"), 9);
    assert_null(jp(d, "stream"));
    assert_null(jp(d, "input"));
    assert_string_equal(js(d, "id"), "resp_1");
    json_decref(d);
    evbuffer_free(b);
    /* and so does every response object of a stream */
    struct fg_translate_stream *s =
        fg_translate_stream_new(FG_DIALECT_OPENAI, FG_DIALECT_RESPONSES, "m", false);
    fg_translate_stream_request(s, req, strlen(req));
    struct feed f = {s, evbuffer_new(), 0};
    struct fg_sse p;
    fg_sse_init(&p, 1 << 20);
    assert_int_equal(fg_sse_feed(&p, chat_fixture, strlen(chat_fixture), feed_cb, &f), 0);
    fg_sse_free(&p);
    fg_translate_stream_end(s, true, f.out);
    struct rs_view v = {0};
    fg_sse_init(&p, 1 << 20);
    fg_sse_feed(&p, (const char *)evbuffer_pullup(f.out, -1), evbuffer_get_length(f.out), view_cb,
                &v);
    fg_sse_free(&p);
    view_check(&v);
    assert_string_equal(js(v.ev[0], "response.instructions"), "Be brief.");
    assert_string_equal(js(v.final, "instructions"), "Be brief.");
    assert_string_equal(js(v.final, "tool_choice"), "required");
    view_free(&v);
    evbuffer_free(f.out);
    fg_translate_stream_free(s);
}

static void pairs_registered(void **state)
{
    assert_true(fg_translate_has(FG_DIALECT_RESPONSES, FG_DIALECT_ANTHROPIC));
    assert_true(fg_translate_has(FG_DIALECT_RESPONSES, FG_DIALECT_OPENAI));
    assert_false(fg_translate_has(FG_DIALECT_OPENAI, FG_DIALECT_RESPONSES));
    struct fg_json j = {0};
    const char *b = Q("{'id':'c','choices':[{'index':0,'message':{'content':'x'}}]}");
    assert_int_equal(fg_json_parse(&j, b, strlen(b)), 0);
    struct evbuffer *out = evbuffer_new();
    struct fg_err e = {0};
    assert_int_equal(
        fg_translate_response(FG_DIALECT_OPENAI, FG_DIALECT_RESPONSES, &j, "m", NULL, out, &e), 0);
    assert_non_null(strstr((const char *)evbuffer_pullup(out, -1), "\"object\":\"response\""));
    evbuffer_free(out);
    fg_json_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(req_chat_scalars),
        cmocka_unit_test(req_chat_items),
        cmocka_unit_test(req_chat_tools),
        cmocka_unit_test(req_chat_text_format),
        cmocka_unit_test(req_refused),
        cmocka_unit_test(req_anthropic),
        cmocka_unit_test(req_anthropic_forced_tool),
        cmocka_unit_test(resp_from_chat),
        cmocka_unit_test(resp_from_anthropic),
        cmocka_unit_test(stream_from_chat),
        cmocka_unit_test(stream_from_chat_interleaved_calls),
        cmocka_unit_test(stream_from_chat_ends),
        cmocka_unit_test(stream_from_anthropic),
        cmocka_unit_test(stream_error_message_cut_in_a_character),
        cmocka_unit_test(stream_forced_tool),
        cmocka_unit_test(response_echoes_request),
        cmocka_unit_test(pairs_registered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
