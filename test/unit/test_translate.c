/* Unit tests for OpenAI ⇄ Anthropic translation: requests, responses,
 * streams and error bodies, with fixtures shaped like the spec examples
 * (shared/spec/providers.md sections 1 and 3).
 *
 * Fixtures are written with single quotes for readability; Q() turns them
 * into JSON (so fixture text avoids apostrophes; \\' gives an escaped quote). */
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

/* ------------------------------------------------------------ helpers */

static const char *Q(const char *s)
{
    static char buf[16][16384];
    static int k;
    char *b = buf[k++ % 16];
    size_t n = strlen(s);
    assert_true(n < sizeof buf[0]);
    for (size_t i = 0; i <= n; i++)
        b[i] = s[i] == '\'' ? '"' : s[i];
    return b;
}

/* Walk "a.0.b" through objects and arrays. */
static json_t *jp(json_t *v, const char *path)
{
    char seg[64];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(seg, sizeof seg, "%.*s", (int)n, path);
        if (json_is_array(v))
            v = json_array_get(v, strtoul(seg, NULL, 10));
        else
            v = json_object_get(v, seg);
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

static bool has_warning(const struct fg_translate_warnings *w, const char *needle)
{
    for (int i = 0; i < w->n; i++)
        if (strstr(w->msg[i], needle))
            return true;
    return false;
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
        fail_msg("fixture is not JSON: %s (%s)", b, j.err);
    char *out = NULL;
    size_t len = 0;
    r.rc = fn(&j, o, &out, &len, &r.w, &r.e);
    if (r.rc == 0) {
        assert_non_null(out);
        assert_int_equal(len, strlen(out));
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

static const struct fg_translate_opts an_new = {"claude-haiku-4-5", "2026-10-21", 8192, true};
static const struct fg_translate_opts an_old = {"claude-haiku-4-5", "2023-06-01", 8192, true};
static const struct fg_translate_opts an_nonnative = {"claude-3-haiku", "2023-06-01", 4096, false};
static const struct fg_translate_opts oa_opts = {"gpt-4o-mini", NULL, 0, true};

static struct req_result oa2an(const char *body, const struct fg_translate_opts *o)
{
    return run_req(fg_translate_request_oa_to_an, body, o);
}

static struct req_result an2oa(const char *body)
{
    return run_req(fg_translate_request_an_to_oa, body, &oa_opts);
}

static void expect_400(struct req_result r, const char *param)
{
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.e.param, param);
    assert_true(strlen(r.e.msg) > 20); /* says why */
}

/* ------------------------------------------------ requests: OpenAI → Anthropic */

static void oa_system_developer_and_merging(void **state)
{
    struct req_result r =
        oa2an("{'model':'claude-haiku','messages':["
              "{'role':'system','content':'You are terse.'},"
              "{'role':'developer','content':[{'type':'text','text':'Answer in French.'}]},"
              "{'role':'user','content':'Hi'},"
              "{'role':'user','content':[{'type':'text','text':'How are you?'}]},"
              "{'role':'assistant','content':'Bien.'},"
              "{'role':'system','content':'Be nice.'},"
              "{'role':'user','content':'Merci'}]}",
              &an_new);
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "model"), "claude-haiku-4-5");
    assert_int_equal(ji(r.out, "max_tokens"), 8192);
    json_t *sys = jp(r.out, "system");
    assert_int_equal(json_array_size(sys), 3);
    assert_string_equal(js(sys, "0.text"), "You are terse.");
    assert_string_equal(js(sys, "1.text"), "Answer in French.");
    assert_string_equal(js(sys, "2.text"), "Be nice.");
    assert_true(has_warning(&r.w, "moved into"));
    json_t *m = jp(r.out, "messages");
    assert_int_equal(json_array_size(m), 3); /* user, assistant, user */
    assert_string_equal(js(m, "0.role"), "user");
    assert_int_equal(json_array_size(jp(m, "0.content")), 2);
    assert_string_equal(js(m, "0.content.1.text"), "How are you?");
    assert_string_equal(js(m, "1.role"), "assistant");
    assert_string_equal(js(m, "1.content.0.text"), "Bien.");
    assert_string_equal(js(m, "2.content.0.text"), "Merci");
    json_decref(r.out);
}

static void oa_tool_call_round_trip(void **state)
{
    struct req_result r = oa2an(
        "{'model':'m','messages':["
        "{'role':'user','content':'Weather in Oslo and Rome?'},"
        "{'role':'assistant','content':null,'tool_calls':["
        "{'id':'call_9f2','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Oslo\\'}'}},"
        "{'id':'call.x/1','type':'function','function':{'name':'get_weather','arguments':''}}]},"
        "{'role':'tool','tool_call_id':'call_9f2','content':'12 C, rain'},"
        "{'role':'tool','tool_call_id':'call.x/1','content':[{'type':'text','text':'20 C'}]},"
        "{'role':'user','content':'Thanks, and tomorrow?'}],"
        "'tools':[{'type':'function','function':{'name':'get_weather','description':'Current weather',"
        "'parameters':{'type':'object','properties':{'city':{'type':'string'}},'required':['city']},'strict':true}}],"
        "'tool_choice':'auto','parallel_tool_calls':false}",
        &an_new);
    assert_int_equal(r.rc, 0);
    json_t *m = jp(r.out, "messages");
    assert_int_equal(json_array_size(m), 3);
    assert_string_equal(js(m, "1.content.0.type"), "tool_use");
    assert_string_equal(js(m, "1.content.0.id"), "call_9f2");
    assert_string_equal(js(m, "1.content.0.input.city"), "Oslo");
    assert_string_equal(js(m, "1.content.1.id"), "call_2ex_2f1"); /* sanitized */
    assert_true(json_is_object(jp(m, "1.content.1.input")));
    /* both tool results and the user text in one user turn, results first */
    assert_string_equal(js(m, "2.role"), "user");
    assert_int_equal(json_array_size(jp(m, "2.content")), 3);
    assert_string_equal(js(m, "2.content.0.type"), "tool_result");
    assert_string_equal(js(m, "2.content.0.tool_use_id"), "call_9f2");
    assert_string_equal(js(m, "2.content.0.content"), "12 C, rain");
    assert_string_equal(js(m, "2.content.1.tool_use_id"), "call_2ex_2f1");
    assert_string_equal(js(m, "2.content.1.content.0.text"), "20 C");
    assert_string_equal(js(m, "2.content.2.text"), "Thanks, and tomorrow?");
    /* tools */
    assert_string_equal(js(r.out, "tools.0.name"), "get_weather");
    assert_string_equal(js(r.out, "tools.0.input_schema.properties.city.type"), "string");
    assert_true(json_is_true(jp(r.out, "tools.0.strict")));
    assert_string_equal(js(r.out, "tool_choice.type"), "auto");
    assert_true(json_is_true(jp(r.out, "tool_choice.disable_parallel_tool_use")));
    json_decref(r.out);

    r = oa2an(
        "{'model':'m','messages':[{'role':'user','content':'x'},{'role':'assistant','content':null,"
        "'tool_calls':[{'id':'c1','type':'function','function':{'name':'f','arguments':'[1]'}}]},"
        "{'role':'tool','tool_call_id':'c1','content':'ok'}]}",
        &an_new);
    expect_400(r, "messages[1].tool_calls[0].function.arguments");
}

static const char *tools_fixture =
    "'tools':[{'type':'function','function':{'name':'a','parameters':{'type':'object','properties':{}}}},"
    "{'type':'function','function':{'name':'b'}}]";

static json_t *oa_choice(const char *choice, const char *extra)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{'model':'m','messages':[{'role':'user','content':'x'}],%s,"
             "'tool_choice':%s%s}",
             tools_fixture, choice, extra);
    struct req_result r = oa2an(body, &an_new);
    assert_int_equal(r.rc, 0);
    return r.out;
}

static void oa_tool_choice_variants(void **state)
{
    json_t *o = oa_choice("'none'", "");
    assert_string_equal(js(o, "tool_choice.type"), "none");
    assert_string_equal(js(o, "tools.1.input_schema.type"), "object"); /* no parameters */
    json_decref(o);
    o = oa_choice("'auto'", "");
    assert_null(jp(o, "tool_choice")); /* Anthropic's default */
    json_decref(o);
    o = oa_choice("'required'", ",'parallel_tool_calls':false");
    assert_string_equal(js(o, "tool_choice.type"), "any");
    assert_true(json_is_true(jp(o, "tool_choice.disable_parallel_tool_use")));
    json_decref(o);
    o = oa_choice("{'type':'function','function':{'name':'b'}}", "");
    assert_string_equal(js(o, "tool_choice.type"), "tool");
    assert_string_equal(js(o, "tool_choice.name"), "b");
    json_decref(o);
    o = oa_choice("{'type':'allowed_tools','allowed_tools':{'mode':'required','tools':"
                  "[{'type':'function','function':{'name':'b'}}]}}",
                  "");
    assert_int_equal(json_array_size(jp(o, "tools")), 1);
    assert_string_equal(js(o, "tools.0.name"), "b");
    assert_string_equal(js(o, "tool_choice.type"), "any");
    json_decref(o);
    struct req_result r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],"
                                "'tools':[{'type':'custom','custom':{'name':'sql'}}]}",
                                &an_new);
    expect_400(r, "tools[0]");
}

static void oa_images_and_files(void **state)
{
    struct req_result r = oa2an(
        "{'model':'m','messages':[{'role':'user','content':["
        "{'type':'text','text':'Describe'},"
        "{'type':'image_url','image_url':{'url':'https://x/y.png','detail':'low'}},"
        "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0K'}},"
        "{'type':'file','file':{'filename':'a.pdf','file_data':'data:application/pdf;base64,JVBERi0x'}}]}]}",
        &an_new);
    assert_int_equal(r.rc, 0);
    json_t *c = jp(r.out, "messages.0.content");
    assert_string_equal(js(c, "1.type"), "image");
    assert_string_equal(js(c, "1.source.type"), "url");
    assert_string_equal(js(c, "1.source.url"), "https://x/y.png");
    assert_string_equal(js(c, "2.source.type"), "base64");
    assert_string_equal(js(c, "2.source.media_type"), "image/png");
    assert_string_equal(js(c, "2.source.data"), "iVBORw0K");
    assert_string_equal(js(c, "3.type"), "document");
    assert_string_equal(js(c, "3.source.media_type"), "application/pdf");
    assert_string_equal(js(c, "3.source.data"), "JVBERi0x");
    assert_string_equal(js(c, "3.title"), "a.pdf");
    assert_true(has_warning(&r.w, "detail"));
    json_decref(r.out);

    expect_400(oa2an("{'model':'m','messages':[{'role':'user','content':[{'type':'file','file':"
                     "{'file_id':'file-abc'}}]}]}",
                     &an_new),
               "messages[0].content[0].file.file_id");
    expect_400(
        oa2an("{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a'},"
              "{'type':'input_audio','input_audio':{'data':'AAA','format':'wav'}}]}]}",
              &an_new),
        "messages[0].content[1].input_audio");
    expect_400(oa2an("{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
                     "'image_url':{'url':'data:image/bmp;base64,Qk0='}}]}]}",
                     &an_new),
               "messages[0].content[0].image_url.url");
}

static void oa_stop_and_max_tokens(void **state)
{
    struct req_result r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],"
                                "'stop':'END','max_tokens':100,'stream':true,"
                                "'stream_options':{'include_usage':true}}",
                                &an_new);
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "stop_sequences.0"), "END");
    assert_int_equal(ji(r.out, "max_tokens"), 100);
    assert_true(json_is_true(jp(r.out, "stream")));
    assert_null(jp(r.out, "stream_options"));
    assert_int_equal(r.w.n, 0);
    json_decref(r.out);

    r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],'stop':['a','b'],"
              "'max_completion_tokens':50,'max_tokens':100}",
              &an_new);
    assert_int_equal(json_array_size(jp(r.out, "stop_sequences")), 2);
    assert_int_equal(ji(r.out, "max_tokens"), 50);
    json_decref(r.out);

    struct fg_translate_opts unknown = {"m", "2026-10-21", 0, true};
    r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}]}", &unknown);
    assert_int_equal(ji(r.out, "max_tokens"), 4096);
    assert_true(has_warning(&r.w, "max_tokens"));
    json_decref(r.out);
}

static void oa_sampling_by_version(void **state)
{
    const char *body = "{'model':'m','messages':[{'role':'user','content':'x'}],"
                       "'temperature':0.5,'top_p':0.9}";
    struct req_result r = oa2an(body, &an_new);
    assert_int_equal(r.rc, 0);
    assert_null(jp(r.out, "temperature"));
    assert_null(jp(r.out, "top_p"));
    assert_true(has_warning(&r.w, "temperature dropped"));
    assert_true(has_warning(&r.w, "top_p dropped"));
    json_decref(r.out);

    r = oa2an(body, &an_old);
    assert_int_equal(r.rc, 0);
    assert_true(json_real_value(jp(r.out, "temperature")) == 0.5);
    assert_true(json_real_value(jp(r.out, "top_p")) == 0.9);
    assert_int_equal(r.w.n, 0);
    json_decref(r.out);

    expect_400(oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],'temperature':1.5}",
                     &an_old),
               "temperature");
    /* on the new version the field is dropped before its value matters */
    r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],'temperature':1.5}",
              &an_new);
    assert_int_equal(r.rc, 0);
    json_decref(r.out);
}

static void oa_metadata_and_user(void **state)
{
    struct req_result r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],"
                                "'user':'u-42','metadata':{'team':'a'}}",
                                &an_new);
    assert_string_equal(js(r.out, "metadata.user_id"), "u-42");
    assert_null(jp(r.out, "metadata.team"));
    assert_true(has_warning(&r.w, "metadata dropped"));
    json_decref(r.out);
    r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],"
              "'user':'old','safety_identifier':'sid-1'}",
              &an_new);
    assert_string_equal(js(r.out, "metadata.user_id"), "sid-1");
    assert_true(has_warning(&r.w, "user dropped"));
    json_decref(r.out);
}

static void oa_reasoning_effort(void **state)
{
    struct req_result r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],"
                                "'reasoning_effort':'medium'}",
                                &an_new);
    assert_string_equal(js(r.out, "output_config.effort"), "medium");
    json_decref(r.out);
    r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],"
              "'reasoning_effort':'minimal'}",
              &an_new);
    assert_null(jp(r.out, "output_config"));
    assert_true(has_warning(&r.w, "reasoning_effort 'minimal' dropped"));
    json_decref(r.out);
}

static const char *schema_body =
    "{'model':'m','messages':[{'role':'user','content':'Invoice?'}],"
    "'response_format':{'type':'json_schema','json_schema':{'name':'invoice v2','strict':true,"
    "'schema':{'type':'object','properties':{'total':{'type':'number'}},'required':['total'],"
    "'additionalProperties':false}}}}";

static void oa_response_format(void **state)
{
    struct req_result r = oa2an(schema_body, &an_new);
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "output_config.format.type"), "json_schema");
    assert_string_equal(js(r.out, "output_config.format.schema.properties.total.type"), "number");
    assert_null(jp(r.out, "tools"));
    json_decref(r.out);

    /* no native support: a forced tool named after the schema */
    r = oa2an(schema_body, &an_nonnative);
    assert_int_equal(r.rc, 0);
    assert_null(jp(r.out, "output_config"));
    assert_string_equal(js(r.out, "tools.0.name"), "invoice_v2");
    assert_string_equal(js(r.out, "tools.0.input_schema.required.0"), "total");
    assert_string_equal(js(r.out, "tool_choice.type"), "tool");
    assert_string_equal(js(r.out, "tool_choice.name"), "invoice_v2");
    json_decref(r.out);
    struct fg_json j = {0};
    const char *b = Q(schema_body);
    char name[80];
    assert_int_equal(fg_json_parse(&j, b, strlen(b)), 0);
    assert_true(fg_translate_forced_tool(&j, &an_nonnative, name, sizeof name));
    assert_string_equal(name, "invoice_v2");
    assert_false(fg_translate_forced_tool(&j, &an_new, name, sizeof name));
    fg_json_free(&j);

    const char *jo = "{'model':'m','messages':[{'role':'user','content':'JSON please'}],"
                     "'response_format':{'type':'json_object'}}";
    r = oa2an(jo, &an_new);
    assert_string_equal(js(r.out, "output_config.format.schema.type"), "object");
    json_decref(r.out);
    r = oa2an(jo, &an_nonnative);
    assert_string_equal(js(r.out, "tools.0.name"), "json_output");
    assert_string_equal(js(r.out, "tools.0.input_schema.type"), "object");
    assert_string_equal(js(r.out, "tool_choice.name"), "json_output");
    json_decref(r.out);

    /* a forced tool would silence the client's own tools */
    char body[2048];
    snprintf(body, sizeof body,
             "{'model':'m','messages':[{'role':'user','content':'x'}],%s,"
             "'response_format':{'type':'json_object'}}",
             tools_fixture);
    expect_400(oa2an(body, &an_nonnative), "response_format");
}

static void oa_meaning_cannot_be_kept(void **state)
{
    const char *base = "{'model':'m','messages':[{'role':'user','content':'x'}],";
    static const struct {
        const char *field, *param;
    } cases[] = {
        {"'n':2}", "n"},
        {"'logprobs':true}", "logprobs"},
        {"'top_logprobs':3}", "top_logprobs"},
        {"'audio':{'voice':'alloy','format':'mp3'}}", "audio"},
        {"'modalities':['text','audio']}", "modalities"},
        {"'prediction':{'type':'content','content':'x'}}", "prediction"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "%s%s", base, cases[i].field);
        expect_400(oa2an(body, &an_new), cases[i].param);
    }
    /* n:1 and logprobs:false keep their meaning */
    struct req_result r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],"
                                "'n':1,'logprobs':false,'frequency_penalty':0}",
                                &an_new);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.w.n, 0);
    json_decref(r.out);
    r = oa2an("{'model':'m','messages':[{'role':'user','content':'x'}],'seed':7}", &an_new);
    assert_true(has_warning(&r.w, "seed dropped"));
    json_decref(r.out);
    /* a trailing assistant turn would become a prefill */
    expect_400(oa2an("{'model':'m','messages':[{'role':'user','content':'x'},"
                     "{'role':'assistant','content':'partial'}]}",
                     &an_new),
               "messages");
}

/* ------------------------------------------------ requests: Anthropic → OpenAI */

static void an_messages_and_tools(void **state)
{
    struct req_result r = an2oa(
        "{'model':'claude','max_tokens':1024,"
        "'system':[{'type':'text','text':'Be brief.','cache_control':{'type':'ephemeral'}}],"
        "'messages':["
        "{'role':'user','content':'Weather in Oslo?'},"
        "{'role':'assistant','content':[{'type':'text','text':'Checking.'},"
        "{'type':'tool_use','id':'toolu_01A','name':'get_weather','input':{'city':'Oslo'}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_01A','content':'12 C'},"
        "{'type':'tool_result','tool_use_id':'toolu_01B','is_error':true,'content':[{'type':'text','text':'timeout'}]},"
        "{'type':'text','text':'And Rome?'}]}],"
        "'tools':[{'name':'get_weather','description':'Current weather','input_schema':"
        "{'type':'object','properties':{'city':{'type':'string'}},'required':['city']}}],"
        "'tool_choice':{'type':'any','disable_parallel_tool_use':true}}");
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "model"), "gpt-4o-mini");
    assert_int_equal(ji(r.out, "max_completion_tokens"), 1024);
    json_t *m = jp(r.out, "messages");
    assert_int_equal(json_array_size(m), 6);
    assert_string_equal(js(m, "0.role"), "system");
    assert_string_equal(js(m, "0.content"), "Be brief.");
    assert_string_equal(js(m, "1.content"), "Weather in Oslo?");
    assert_string_equal(js(m, "2.role"), "assistant");
    assert_string_equal(js(m, "2.content"), "Checking.");
    assert_string_equal(js(m, "2.tool_calls.0.id"), "toolu_01A");
    assert_string_equal(js(m, "2.tool_calls.0.type"), "function");
    assert_string_equal(js(m, "2.tool_calls.0.function.name"), "get_weather");
    json_t *args = json_loads(js(m, "2.tool_calls.0.function.arguments"), 0, NULL);
    assert_string_equal(js(args, "city"), "Oslo");
    json_decref(args);
    assert_string_equal(js(m, "3.role"), "tool");
    assert_string_equal(js(m, "3.tool_call_id"), "toolu_01A");
    assert_string_equal(js(m, "3.content"), "12 C");
    assert_string_equal(js(m, "4.tool_call_id"), "toolu_01B");
    assert_string_equal(js(m, "4.content"), "Error: timeout");
    assert_string_equal(js(m, "5.role"), "user");
    assert_string_equal(js(m, "5.content"), "And Rome?");
    assert_true(has_warning(&r.w, "is_error"));
    assert_true(has_warning(&r.w, "cache_control"));
    assert_string_equal(js(r.out, "tools.0.type"), "function");
    assert_string_equal(js(r.out, "tools.0.function.parameters.properties.city.type"), "string");
    assert_string_equal(js(r.out, "tool_choice"), "required");
    assert_true(json_is_false(jp(r.out, "parallel_tool_calls")));
    json_decref(r.out);
}

static void an_tool_choice_variants(void **state)
{
    static const struct {
        const char *in, *out_str, *out_name;
    } cases[] = {
        {"{'type':'auto'}", "auto", NULL},
        {"{'type':'none'}", "none", NULL},
        {"{'type':'any'}", "required", NULL},
        {"{'type':'tool','name':'f'}", NULL, "f"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{'model':'c','max_tokens':5,'messages':[{'role':'user',"
                 "'content':'x'}],'tools':[{'name':'f','input_schema':{'type':'object'}}],"
                 "'tool_choice':%s}",
                 cases[i].in);
        struct req_result r = an2oa(body);
        assert_int_equal(r.rc, 0);
        if (cases[i].out_str)
            assert_string_equal(js(r.out, "tool_choice"), cases[i].out_str);
        else
            assert_string_equal(js(r.out, "tool_choice.function.name"), cases[i].out_name);
        assert_null(jp(r.out, "parallel_tool_calls"));
        json_decref(r.out);
    }
    expect_400(an2oa("{'model':'c','max_tokens':5,'messages':[{'role':'user','content':'x'}],"
                     "'tools':[{'type':'web_search_20250305','name':'web_search'}]}"),
               "tools.0");
}

static void an_images_and_documents(void **state)
{
    struct req_result r = an2oa(
        "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':["
        "{'type':'image','source':{'type':'base64','media_type':'image/jpeg','data':'/9j/4AAQ'}},"
        "{'type':'image','source':{'type':'url','url':'https://x/y.png'}},"
        "{'type':'document','source':{'type':'base64','media_type':'application/pdf','data':'JVBE'},'title':'r.pdf'},"
        "{'type':'text','text':'Compare'}]}]}");
    assert_int_equal(r.rc, 0);
    json_t *c = jp(r.out, "messages.0.content");
    assert_string_equal(js(c, "0.type"), "image_url");
    assert_string_equal(js(c, "0.image_url.url"), "data:image/jpeg;base64,/9j/4AAQ");
    assert_string_equal(js(c, "1.image_url.url"), "https://x/y.png");
    assert_string_equal(js(c, "2.type"), "file");
    assert_string_equal(js(c, "2.file.filename"), "r.pdf");
    assert_string_equal(js(c, "2.file.file_data"), "data:application/pdf;base64,JVBE");
    assert_string_equal(js(c, "3.text"), "Compare");
    json_decref(r.out);
    expect_400(
        an2oa(
            "{'model':'c','max_tokens':5,'messages':[{'role':'user','content':["
            "{'type':'document','source':{'type':'text','media_type':'text/plain','data':'hi'}}]}]}"),
        "messages.0.content.0");
    expect_400(an2oa("{'model':'c','max_tokens':5,'messages':[{'role':'user','content':["
                     "{'type':'image','source':{'type':'file','file_id':'file_1'}}]}]}"),
               "messages.0.content.0");
}

static void an_parameters(void **state)
{
    struct req_result r = an2oa(
        "{'model':'c','max_tokens':300,'messages':[{'role':'user','content':'x'}],"
        "'stop_sequences':['END'],'temperature':0.2,'top_p':0.8,'top_k':40,"
        "'metadata':{'user_id':'u-7'},'stream':true,"
        "'output_config':{'effort':'xhigh','format':{'type':'json_schema','schema':"
        "{'type':'object','properties':{'a':{'type':'string'}},'required':['a'],'additionalProperties':false}}}}");
    assert_int_equal(r.rc, 0);
    assert_string_equal(js(r.out, "stop.0"), "END");
    assert_true(json_real_value(jp(r.out, "temperature")) == 0.2);
    assert_true(json_real_value(jp(r.out, "top_p")) == 0.8);
    assert_null(jp(r.out, "top_k"));
    assert_true(has_warning(&r.w, "top_k dropped"));
    assert_string_equal(js(r.out, "user"), "u-7");
    assert_true(json_is_true(jp(r.out, "stream")));
    assert_true(json_is_true(jp(r.out, "stream_options.include_usage")));
    assert_string_equal(js(r.out, "reasoning_effort"), "high");
    assert_true(has_warning(&r.w, "'xhigh'"));
    assert_string_equal(js(r.out, "response_format.type"), "json_schema");
    assert_true(json_is_true(jp(r.out, "response_format.json_schema.strict")));
    assert_string_equal(js(r.out, "response_format.json_schema.schema.properties.a.type"),
                        "string");
    json_decref(r.out);

    /* a schema outside the strict subset goes non-strict, with a warning */
    r = an2oa("{'model':'c','max_tokens':3,'messages':[{'role':'user','content':'x'}],"
              "'output_config':{'format':{'type':'json_schema','schema':{'type':'object',"
              "'properties':{'a':{'type':'string'},'b':{'type':'string'}},'required':['a']}}}}");
    assert_true(json_is_false(jp(r.out, "response_format.json_schema.strict")));
    assert_true(has_warning(&r.w, "strict:false"));
    json_decref(r.out);
    expect_400(an2oa("{'model':'c','max_tokens':0,'messages':[{'role':'user','content':'x'}]}"),
               "max_tokens");
}

static void an_meaning_cannot_be_kept(void **state)
{
    expect_400(
        an2oa("{'model':'c','max_tokens':9,'messages':[{'role':'user','content':'x'},"
              "{'role':'assistant','content':[{'type':'thinking','thinking':'hmm','signature':'s'},"
              "{'type':'text','text':'ok'}]},{'role':'user','content':'y'}]}"),
        "messages.1.content.0");
    expect_400(an2oa("{'model':'c','max_tokens':9,'messages':[{'role':'user','content':'x'},"
                     "{'role':'assistant','content':'{'}]}"),
               "messages.1");
    expect_400(an2oa("{'model':'c','max_tokens':9,'messages':[{'role':'user','content':'x'}],"
                     "'stop_sequences':['a','b','c','d','e']}"),
               "stop_sequences");
}

/* --------------------------------------------------------------- responses */

static json_t *run_resp(int which, const char *body, const char *forced)
{
    struct fg_json j = {0};
    struct fg_err e = {0};
    const char *b = Q(body);
    assert_int_equal(fg_json_parse(&j, b, strlen(b)), 0);
    struct evbuffer *out = evbuffer_new();
    int rc = which == 0 ? fg_translate_response_an_to_oa_forced(&j, "my-model", forced, out, &e)
                        : fg_translate_response_oa_to_an(&j, "my-model", out, &e);
    fg_json_free(&j);
    json_t *doc = NULL;
    if (rc == 0) {
        size_t n = evbuffer_get_length(out);
        doc = json_loadb((const char *)evbuffer_pullup(out, -1), n, 0, NULL);
        assert_non_null(doc);
    } else {
        assert_int_equal(e.status, 502);
    }
    evbuffer_free(out);
    return doc;
}

static const char *an_msg_fmt =
    "{'id':'msg_01Xq','type':'message','role':'assistant','model':'claude-sonnet-4-5',"
    "'content':[%s],'stop_reason':'%s','stop_sequence':null,"
    "'usage':{'input_tokens':42,'cache_creation_input_tokens':2100,'cache_read_input_tokens':1000,"
    "'cache_creation':{'ephemeral_5m_input_tokens':2100,'ephemeral_1h_input_tokens':0},"
    "'output_tokens':61,'output_tokens_details':{'thinking_tokens':7}}}";

static json_t *an_resp(const char *content, const char *stop, const char *forced)
{
    char body[4096];
    snprintf(body, sizeof body, an_msg_fmt, content, stop);
    return run_resp(0, body, forced);
}

static void resp_an_to_oa(void **state)
{
    json_t *o =
        an_resp("{'type':'thinking','thinking':'hm','signature':'s'},"
                "{'type':'text','text':'Checking '},{'type':'text','text':'the weather.'},"
                "{'type':'tool_use','id':'toolu_01A','name':'get_weather','input':{'city':'Oslo'}}",
                "tool_use", NULL);
    assert_string_equal(js(o, "id"), "chatcmpl-msg_01Xq");
    assert_string_equal(js(o, "object"), "chat.completion");
    assert_true(json_is_integer(jp(o, "created")));
    assert_string_equal(js(o, "model"), "my-model");
    assert_int_equal(ji(o, "choices.0.index"), 0);
    assert_string_equal(js(o, "choices.0.message.role"), "assistant");
    assert_string_equal(js(o, "choices.0.message.content"), "Checking the weather.");
    assert_true(json_is_null(jp(o, "choices.0.message.refusal")));
    assert_true(json_is_array(jp(o, "choices.0.message.annotations")));
    assert_string_equal(js(o, "choices.0.message.tool_calls.0.id"), "toolu_01A");
    assert_string_equal(js(o, "choices.0.message.tool_calls.0.function.arguments"),
                        "{\"city\":\"Oslo\"}");
    assert_true(json_is_null(jp(o, "choices.0.logprobs")));
    assert_string_equal(js(o, "choices.0.finish_reason"), "tool_calls");
    /* usage in OpenAI's meaning: prompt includes cache reads and writes */
    assert_int_equal(ji(o, "usage.prompt_tokens"), 42 + 1000 + 2100);
    assert_int_equal(ji(o, "usage.completion_tokens"), 61);
    assert_int_equal(ji(o, "usage.total_tokens"), 42 + 1000 + 2100 + 61);
    assert_int_equal(ji(o, "usage.prompt_tokens_details.cached_tokens"), 1000);
    assert_int_equal(ji(o, "usage.prompt_tokens_details.cache_write_tokens"), 2100);
    assert_int_equal(ji(o, "usage.completion_tokens_details.reasoning_tokens"), 7);
    json_decref(o);

    static const struct {
        const char *stop, *finish;
    } reasons[] = {{"end_turn", "stop"},       {"stop_sequence", "stop"},
                   {"max_tokens", "length"},   {"model_context_window_exceeded", "length"},
                   {"tool_use", "tool_calls"}, {"refusal", "content_filter"},
                   {"pause_turn", "stop"}};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        o = an_resp("{'type':'text','text':'x'}", reasons[i].stop, NULL);
        assert_string_equal(js(o, "choices.0.finish_reason"), reasons[i].finish);
        json_decref(o);
    }
    /* refusal: the text moves to message.refusal, content null */
    o = an_resp("{'type':'text','text':'I cannot help with that.'}", "refusal", NULL);
    assert_true(json_is_null(jp(o, "choices.0.message.content")));
    assert_string_equal(js(o, "choices.0.message.refusal"), "I cannot help with that.");
    json_decref(o);
    o = an_resp("", "max_tokens", NULL); /* an empty answer is "", not null */
    assert_string_equal(js(o, "choices.0.message.content"), "");
    json_decref(o);
    o = an_resp("", "refusal", NULL);
    assert_true(strlen(js(o, "choices.0.message.refusal")) > 0);
    json_decref(o);
    /* forced tool: its input is the JSON answer */
    o = an_resp("{'type':'tool_use','id':'toolu_9','name':'invoice','input':{'total':3}}",
                "tool_use", "invoice");
    assert_string_equal(js(o, "choices.0.message.content"), "{\"total\":3}");
    assert_null(jp(o, "choices.0.message.tool_calls"));
    assert_string_equal(js(o, "choices.0.finish_reason"), "stop");
    json_decref(o);
    assert_null(run_resp(0, "{'id':'x','type':'message'}", NULL));
}

static const char *oa_completion_fmt =
    "{'id':'chatcmpl-7Qx1','object':'chat.completion','created':1760000000,'model':'gpt-4.1-mini',"
    "'choices':[{'index':0,'message':%s,'logprobs':null,'finish_reason':%s}],"
    "'usage':{'prompt_tokens':1450,'completion_tokens':22,'total_tokens':1472,"
    "'prompt_tokens_details':{'cached_tokens':1280,'cache_write_tokens':100,'audio_tokens':0},"
    "'completion_tokens_details':{'reasoning_tokens':5}}}";

static json_t *oa_resp(const char *msg, const char *finish)
{
    char body[4096];
    snprintf(body, sizeof body, oa_completion_fmt, msg, finish);
    return run_resp(1, body, NULL);
}

static void resp_oa_to_an(void **state)
{
    json_t *o =
        oa_resp("{'role':'assistant','content':'Let me check.','refusal':null,'tool_calls':["
                "{'id':'call_9f2','type':'function','function':{'name':'get_weather',"
                "'arguments':'{\\'city\\':\\'Oslo\\'}'}}]}",
                "'tool_calls'");
    assert_string_equal(js(o, "id"), "msg_chatcmpl-7Qx1");
    assert_string_equal(js(o, "type"), "message");
    assert_string_equal(js(o, "role"), "assistant");
    assert_string_equal(js(o, "model"), "my-model");
    assert_string_equal(js(o, "content.0.type"), "text");
    assert_string_equal(js(o, "content.0.text"), "Let me check.");
    assert_string_equal(js(o, "content.1.type"), "tool_use");
    assert_string_equal(js(o, "content.1.id"), "call_9f2");
    assert_string_equal(js(o, "content.1.input.city"), "Oslo");
    assert_string_equal(js(o, "stop_reason"), "tool_use");
    static const char *const keys[] = {
        "stop_sequence",         "stop_details",        "container", "diagnostics",
        "usage.server_tool_use", "usage.inference_geo", NULL};
    for (int i = 0; keys[i]; i++)
        assert_true(json_is_null(jp(o, keys[i])));
    /* usage in Anthropic's meaning: input excludes cache reads and writes */
    assert_int_equal(ji(o, "usage.input_tokens"), 1450 - 1280 - 100);
    assert_int_equal(ji(o, "usage.cache_read_input_tokens"), 1280);
    assert_int_equal(ji(o, "usage.cache_creation_input_tokens"), 100);
    assert_int_equal(ji(o, "usage.cache_creation.ephemeral_5m_input_tokens"), 100);
    assert_int_equal(ji(o, "usage.output_tokens"), 22);
    assert_int_equal(ji(o, "usage.output_tokens_details.thinking_tokens"), 5);
    json_decref(o);

    static const struct {
        const char *finish, *stop;
    } reasons[] = {{"'stop'", "end_turn"},
                   {"'length'", "max_tokens"},
                   {"'tool_calls'", "tool_use"},
                   {"'content_filter'", "refusal"}};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        o = oa_resp("{'role':'assistant','content':'x'}", reasons[i].finish);
        assert_string_equal(js(o, "stop_reason"), reasons[i].stop);
        json_decref(o);
    }
    o = oa_resp("{'role':'assistant','content':null,'refusal':'I will not do that.'}", "'stop'");
    assert_string_equal(js(o, "content.0.text"), "I will not do that.");
    assert_string_equal(js(o, "stop_reason"), "refusal");
    assert_string_equal(js(o, "stop_details.type"), "refusal");
    json_decref(o);
    assert_null(
        oa_resp("{'role':'assistant','content':null,'tool_calls':[{'id':'c','type':'function',"
                "'function':{'name':'f','arguments':'not json'}}]}",
                "'tool_calls'"));
    assert_null(run_resp(1, "{'id':'x','choices':[]}", NULL));
}

/* ----------------------------------------------------------------- streams */

struct frames {
    char name[64][32];
    json_t *data[64];
    int n, done;
    enum fg_dialect d;
};

static int frame_cb(void *arg, const struct fg_sse_event *ev)
{
    struct frames *f = arg;
    /* exact framing: Anthropic "event: X\ndata: J\n\n", OpenAI "data: J\n\n" */
    if (f->d == FG_DIALECT_ANTHROPIC) {
        assert_true(ev->raw_len > 7 && !memcmp(ev->raw, "event: ", 7));
        char want[64];
        snprintf(want, sizeof want, "event: %.*s\ndata: ", (int)ev->event_len, ev->event);
        assert_memory_equal(ev->raw, want, strlen(want));
    } else {
        assert_int_equal(ev->event_len, 0);
        assert_memory_equal(ev->raw, "data: ", 6);
    }
    assert_memory_equal(ev->raw + ev->raw_len - 2, "\n\n", 2);
    assert_null(memchr(ev->data, '\n', ev->data_len));
    assert_int_equal(f->done, 0); /* nothing after [DONE] */
    if (ev->data_len == 6 && !memcmp(ev->data, "[DONE]", 6)) {
        f->done++;
        return 0;
    }
    assert_true(f->n < 64);
    snprintf(f->name[f->n], sizeof f->name[0], "%.*s", (int)ev->event_len, ev->event);
    f->data[f->n] = json_loadb(ev->data, ev->data_len, 0, NULL);
    assert_non_null(f->data[f->n]);
    if (f->d == FG_DIALECT_ANTHROPIC) /* the SDK dispatches on the name */
        assert_string_equal(js(f->data[f->n], "type"), f->name[f->n]);
    f->n++;
    return 0;
}

static void frames_parse(struct evbuffer *out, enum fg_dialect d, struct frames *f)
{
    memset(f, 0, sizeof *f);
    f->d = d;
    struct fg_sse p;
    fg_sse_init(&p, 1 << 20);
    size_t n = evbuffer_get_length(out);
    assert_int_equal(fg_sse_feed(&p, (const char *)evbuffer_pullup(out, -1), n, frame_cb, f), 0);
    assert_int_equal(fg_sse_pending(&p), 0);
    fg_sse_free(&p);
}

static void frames_free(struct frames *f)
{
    for (int i = 0; i < f->n; i++)
        json_decref(f->data[i]);
}

struct feed {
    struct fg_translate_stream *s;
    struct evbuffer *out;
    int events;
};

static int feed_cb(void *arg, const struct fg_sse_event *ev)
{
    struct feed *fd = arg;
    size_t before = evbuffer_get_length(fd->out);
    assert_int_equal(fg_translate_stream_event(fd->s, ev, fd->out), 0);
    fd->events++;
    (void)before;
    return 0;
}

/* Feed an upstream SSE fixture event by event; returns the client bytes. */
static struct evbuffer *feed_stream(struct fg_translate_stream *s, const char *sse, bool end,
                                    bool done)
{
    struct feed fd = {s, evbuffer_new(), 0};
    struct fg_sse p;
    fg_sse_init(&p, 1 << 20);
    assert_int_equal(fg_sse_feed(&p, sse, strlen(sse), feed_cb, &fd), 0);
    fg_sse_free(&p);
    if (end)
        fg_translate_stream_end(s, done, fd.out);
    return fd.out;
}

#define AN_EV(name, json) "event: " name "\ndata: " json "\n\n"

/* clang-format off: one SSE event per line, as the provider sends them */
static const char *an_stream_fixture = AN_EV(
    "message_start",
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01Xq\",\"type\":\"message\","
    "\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\",\"content\":[],\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":18,\"cache_creation_input_tokens\":5,"
    "\"cache_read_input_tokens\":100,\"output_tokens\":1}}}")
    AN_EV(
        "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}")
        AN_EV(
            "content_block_delta",
            "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}")
            AN_EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}") AN_EV(
                "content_block_start",
                "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
                AN_EV("ping", "{\"type\":\"ping\"}") AN_EV(
                    "content_block_delta",
                    "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}")
                    AN_EV(
                        "content_block_delta",
                        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}")
                        AN_EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}") AN_EV(
                            "content_block_start",
                            "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"get_weather\",\"input\":{}}}")
                            AN_EV(
                                "content_block_delta",
                                "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Os\"}}")
                                AN_EV(
                                    "content_block_delta",
                                    "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"lo\\\"}\"}}")
                                    AN_EV("content_block_stop",
                                          "{\"type\":\"content_block_stop\",\"index\":2}")
                                        AN_EV(
                                            "message_delta",
                                            "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":34}}")
                                            AN_EV("message_stop", "{\"type\":\"message_stop\"}");
/* clang-format on */

/* Reassemble an OpenAI client's view of a stream. */
struct oa_view {
    char text[256], args[256], tool_id[64], tool_name[64], finish[32], id[64];
    int role_chunks, usage_chunks, tool_calls;
    json_t *usage;
};

static void oa_reassemble(struct frames *f, struct oa_view *v)
{
    memset(v, 0, sizeof *v);
    for (int i = 0; i < f->n; i++) {
        json_t *c = f->data[i];
        assert_string_equal(js(c, "object"), "chat.completion.chunk");
        assert_string_equal(js(c, "model"), "my-model");
        if (i == 0)
            snprintf(v->id, sizeof v->id, "%s", js(c, "id"));
        assert_string_equal(js(c, "id"), v->id); /* same id on every chunk */
        if (json_array_size(jp(c, "choices")) == 0) {
            v->usage_chunks++;
            v->usage = jp(c, "usage");
            continue;
        }
        json_t *d = jp(c, "choices.0.delta");
        v->role_chunks += js(d, "role") != NULL;
        if (js(d, "content"))
            strcat(v->text, js(d, "content"));
        json_t *tc = jp(d, "tool_calls.0");
        if (tc) {
            assert_int_equal(ji(tc, "index"), 0);
            if (js(tc, "id")) {
                v->tool_calls++;
                snprintf(v->tool_id, sizeof v->tool_id, "%s", js(tc, "id"));
                snprintf(v->tool_name, sizeof v->tool_name, "%s", js(tc, "function.name"));
            }
            strcat(v->args, js(tc, "function.arguments"));
        }
        if (js(c, "choices.0.finish_reason"))
            snprintf(v->finish, sizeof v->finish, "%s", js(c, "choices.0.finish_reason"));
    }
}

static void stream_an_to_oa(void **state)
{
    struct fg_translate_stream *s =
        fg_translate_stream_new(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, "my-model", true);
    struct evbuffer *out = feed_stream(s, an_stream_fixture, true, true);
    struct frames f;
    struct oa_view v;
    frames_parse(out, FG_DIALECT_OPENAI, &f);
    oa_reassemble(&f, &v);
    assert_int_equal(f.done, 1);
    assert_string_equal(v.id, "chatcmpl-msg_01Xq");
    assert_int_equal(v.role_chunks, 1);
    assert_string_equal(v.text, "Hello");
    assert_int_equal(v.tool_calls, 1);
    assert_string_equal(v.tool_id, "toolu_01A");
    assert_string_equal(v.tool_name, "get_weather");
    assert_string_equal(v.args, "{\"city\": \"Oslo\"}");
    assert_string_equal(v.finish, "tool_calls");
    assert_int_equal(v.usage_chunks, 1);
    assert_int_equal(ji(v.usage, "prompt_tokens"), 18 + 5 + 100);
    assert_int_equal(ji(v.usage, "prompt_tokens_details.cached_tokens"), 100);
    assert_int_equal(ji(v.usage, "prompt_tokens_details.cache_write_tokens"), 5);
    assert_int_equal(ji(v.usage, "completion_tokens"), 34);
    /* the usage chunk is the last one before [DONE]; others say usage: null */
    assert_int_equal(json_array_size(jp(f.data[f.n - 1], "choices")), 0);
    assert_true(json_is_null(jp(f.data[0], "usage")));
    assert_true(fg_translate_stream_closed(s));
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);

    /* without include_usage: no usage chunk, no usage key */
    s = fg_translate_stream_new(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, "my-model", false);
    out = feed_stream(s, an_stream_fixture, true, true);
    frames_parse(out, FG_DIALECT_OPENAI, &f);
    oa_reassemble(&f, &v);
    assert_int_equal(v.usage_chunks, 0);
    for (int i = 0; i < f.n; i++)
        assert_null(jp(f.data[i], "usage"));
    assert_string_equal(v.text, "Hello");
    assert_int_equal(f.done, 1);
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);
}

static void stream_an_to_oa_errors_and_cuts(void **state)
{
    /* clang-format off: one SSE event per line, as the provider sends them */
    const char *err_stream = AN_EV(
        "message_start",
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"usage\":{\"input_tokens\":3}}}")
        AN_EV(
            "content_block_start",
            "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
            AN_EV(
                "content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}")
                AN_EV(
                    "error",
                    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}");
    /* clang-format on */
    struct fg_translate_stream *s =
        fg_translate_stream_new(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, "my-model", true);
    struct evbuffer *out = feed_stream(s, err_stream, true, false);
    struct frames f;
    frames_parse(out, FG_DIALECT_OPENAI, &f);
    assert_int_equal(f.done, 0); /* an error, not a normal end */
    json_t *last = f.data[f.n - 1];
    assert_string_equal(js(last, "error.message"), "Overloaded");
    assert_string_equal(js(last, "error.type"), "server_error");
    assert_string_equal(js(last, "error.code"), "overloaded_error");
    assert_int_equal(f.n, 3); /* role, "Hi", error: end() added nothing */
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);

    /* cut after the text: an error event, never [DONE] */
    /* clang-format off: one SSE event per line, as the provider sends them */
    const char *cut =
        AN_EV("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_3\"}}") AN_EV(
            "content_block_start",
            "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
            AN_EV(
                "content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Par\"}}");
    /* clang-format on */
    s = fg_translate_stream_new(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, "my-model", true);
    out = feed_stream(s, cut, true, false);
    frames_parse(out, FG_DIALECT_OPENAI, &f);
    assert_int_equal(f.done, 0);
    assert_non_null(js(f.data[f.n - 1], "error.message"));
    assert_string_equal(js(f.data[f.n - 1], "error.type"), "server_error");
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);

    /* a malformed event is reported to the caller */
    s = fg_translate_stream_new(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, "my-model", false);
    struct fg_sse_event ev = {"content_block_delta", 19, "{not json", 9, "", 0};
    out = evbuffer_new();
    assert_int_equal(fg_translate_stream_event(s, &ev, out), -1);
    struct fg_err e = {0};
    fg_err_set(&e, FG_E_UPSTREAM, NULL, NULL, "upstream sent a malformed event");
    fg_translate_stream_fail(s, &e, out);
    fg_translate_stream_end(s, false, out); /* no second error */
    frames_parse(out, FG_DIALECT_OPENAI, &f);
    assert_int_equal(f.n, 1);
    assert_string_equal(js(f.data[0], "error.message"), "upstream sent a malformed event");
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);
}

static void stream_an_to_oa_forced_tool(void **state)
{
    /* clang-format off: one SSE event per line, as the provider sends them */
    const char *sse = AN_EV(
        "message_start",
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_4\",\"usage\":{\"input_tokens\":3}}}")
        AN_EV(
            "content_block_start",
            "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"invoice\",\"input\":{}}}")
            AN_EV(
                "content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"total\\\":\"}}")
                AN_EV(
                    "content_block_delta",
                    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"3}\"}}")
                    AN_EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}") AN_EV(
                        "message_delta",
                        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}")
                        AN_EV("message_stop", "{\"type\":\"message_stop\"}");
    /* clang-format on */
    struct fg_translate_stream *s =
        fg_translate_stream_new(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, "my-model", false);
    fg_translate_stream_forced_tool(s, "invoice");
    struct evbuffer *out = feed_stream(s, sse, true, true);
    struct frames f;
    struct oa_view v;
    frames_parse(out, FG_DIALECT_OPENAI, &f);
    oa_reassemble(&f, &v);
    assert_string_equal(v.text, "{\"total\":3}");
    assert_int_equal(v.tool_calls, 0);
    assert_string_equal(v.finish, "stop");
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);
}

#define OA_EV(json) "data: " json "\n\n"
#define OA_HEAD                                                                                    \
    "\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"gpt-4o\""

static const char *oa_stream_fixture = OA_EV(
    "{" OA_HEAD
    ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}")
    OA_EV(
        "{" OA_HEAD
        ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}")
        OA_EV(
            "{" OA_HEAD
            ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":null}],\"usage\":null}")
            OA_EV(
                "{" OA_HEAD
                ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}],\"usage\":null}")
                OA_EV(
                    "{" OA_HEAD
                    ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},\"finish_reason\":null}],\"usage\":null}")
                    OA_EV(
                        "{" OA_HEAD
                        ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Oslo\\\"}\"}}]},\"finish_reason\":null}],\"usage\":null}")
                        OA_EV(
                            "{" OA_HEAD
                            ",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call.2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}],\"usage\":null}")
                            OA_EV(
                                "{" OA_HEAD
                                ",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":null}")
                                OA_EV(
                                    "{" OA_HEAD
                                    ",\"choices\":[],\"usage\":{\"prompt_tokens\":1500,\"completion_tokens\":20,\"total_tokens\":1520,\"prompt_tokens_details\":{\"cached_tokens\":1280},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}")
                                    OA_EV("[DONE]");

struct an_view {
    char text[256], args[4][128], ids[4][64], names[4][64], stop[32];
    int starts, stops, blocks, msg_start, msg_delta, msg_stop;
    json_t *start_usage, *delta_usage;
};

static void an_reassemble(struct frames *f, struct an_view *v)
{
    memset(v, 0, sizeof *v);
    int open = -1;
    for (int i = 0; i < f->n; i++) {
        json_t *d = f->data[i];
        const char *n = f->name[i];
        if (!strcmp(n, "message_start")) {
            assert_int_equal(i, 0);
            v->msg_start++;
            v->start_usage = jp(d, "message.usage");
            static const char *const keys[] = {
                "id",        "type",        "role",          "model",
                "content",   "stop_reason", "stop_sequence", "stop_details",
                "container", "diagnostics", "usage",         NULL};
            for (int k = 0; keys[k]; k++)
                assert_non_null(json_object_get(jp(d, "message"), keys[k]));
        } else if (!strcmp(n, "content_block_start")) {
            assert_int_equal(open, -1); /* one block open at a time */
            open = (int)ji(d, "index");
            assert_int_equal(open, v->blocks++);
            json_t *cb = jp(d, "content_block");
            if (!strcmp(js(cb, "type"), "tool_use")) {
                snprintf(v->ids[open], 64, "%s", js(cb, "id"));
                snprintf(v->names[open], 64, "%s", js(cb, "name"));
            }
        } else if (!strcmp(n, "content_block_delta")) {
            int ix = (int)ji(d, "index");
            assert_int_equal(ix, open);
            if (js(d, "delta.text"))
                strcat(v->text, js(d, "delta.text"));
            else
                strcat(v->args[ix], js(d, "delta.partial_json"));
        } else if (!strcmp(n, "content_block_stop")) {
            assert_int_equal(ji(d, "index"), open);
            open = -1;
            v->stops++;
        } else if (!strcmp(n, "message_delta")) {
            assert_int_equal(open, -1);
            v->msg_delta++;
            snprintf(v->stop, sizeof v->stop, "%s", js(d, "delta.stop_reason"));
            v->delta_usage = jp(d, "usage");
        } else if (!strcmp(n, "message_stop")) {
            assert_int_equal(i, f->n - 1);
            v->msg_stop++;
        }
    }
}

static void stream_oa_to_an(void **state)
{
    struct fg_translate_stream *s =
        fg_translate_stream_new(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, "my-model", false);
    struct evbuffer *out = feed_stream(s, oa_stream_fixture, true, true);
    struct frames f;
    struct an_view v;
    frames_parse(out, FG_DIALECT_ANTHROPIC, &f);
    an_reassemble(&f, &v);
    assert_int_equal(v.msg_start, 1);
    assert_string_equal(js(f.data[0], "message.id"), "msg_chatcmpl-1");
    assert_string_equal(js(f.data[0], "message.model"), "my-model");
    assert_int_equal(ji(v.start_usage, "input_tokens"), 0);
    assert_string_equal(v.text, "Hi there");
    assert_int_equal(v.blocks, 3);
    assert_int_equal(v.stops, 3);
    assert_string_equal(v.ids[1], "call_1");
    assert_string_equal(v.names[1], "get_weather");
    assert_string_equal(v.args[1], "{\"city\":\"Oslo\"}");
    assert_string_equal(v.ids[2], "call_2e2");
    assert_string_equal(v.args[2], "{}");
    assert_int_equal(v.msg_delta, 1);
    assert_string_equal(v.stop, "tool_use");
    assert_int_equal(ji(v.delta_usage, "input_tokens"), 1500 - 1280);
    assert_int_equal(ji(v.delta_usage, "cache_read_input_tokens"), 1280);
    assert_int_equal(ji(v.delta_usage, "cache_creation_input_tokens"), 0);
    assert_int_equal(ji(v.delta_usage, "output_tokens"), 20);
    assert_int_equal(v.msg_stop, 1);
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);

    /* without a usage chunk the message still closes at [DONE] */
    const char *plain = OA_EV(
        "{" OA_HEAD
        ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":null}]}")
        OA_EV("{" OA_HEAD ",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}")
            OA_EV("[DONE]");
    s = fg_translate_stream_new(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, "my-model", false);
    out = feed_stream(s, plain, true, true);
    frames_parse(out, FG_DIALECT_ANTHROPIC, &f);
    an_reassemble(&f, &v);
    assert_string_equal(v.text, "ok");
    assert_string_equal(v.stop, "max_tokens");
    assert_int_equal(v.msg_stop, 1);
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);
}

static void stream_oa_to_an_errors_and_cuts(void **state)
{
    const char *err = OA_EV(
        "{" OA_HEAD
        ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}")
        OA_EV(
            "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}");
    struct fg_translate_stream *s =
        fg_translate_stream_new(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, "my-model", false);
    struct evbuffer *out = feed_stream(s, err, true, false);
    struct frames f;
    frames_parse(out, FG_DIALECT_ANTHROPIC, &f);
    assert_string_equal(f.name[f.n - 1], "error");
    assert_string_equal(js(f.data[f.n - 1], "error.type"), "rate_limit_error");
    assert_string_equal(js(f.data[f.n - 1], "error.message"), "Rate limit reached");
    for (int i = 0; i < f.n; i++)
        assert_string_not_equal(f.name[i], "message_stop");
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);

    /* cut mid-answer (done=false): an error event, no message_stop */
    const char *cut = OA_EV(
        "{" OA_HEAD
        ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"},\"finish_reason\":null}]}");
    s = fg_translate_stream_new(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, "my-model", false);
    out = feed_stream(s, cut, true, false);
    frames_parse(out, FG_DIALECT_ANTHROPIC, &f);
    assert_string_equal(f.name[f.n - 1], "error");
    assert_string_equal(js(f.data[f.n - 1], "error.type"), "api_error");
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);

    /* done=true without [DONE] seen: the message is closed properly */
    s = fg_translate_stream_new(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, "my-model", false);
    out = feed_stream(s, cut, true, true);
    struct an_view v;
    frames_parse(out, FG_DIALECT_ANTHROPIC, &f);
    an_reassemble(&f, &v);
    assert_string_equal(v.text, "Par");
    assert_string_equal(v.stop, "end_turn");
    assert_int_equal(v.msg_stop, 1);
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);

    /* an OpenAI refusal delta becomes text with stop_reason refusal */
    const char *refusal = OA_EV(
        "{" OA_HEAD
        ",\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"No.\"},\"finish_reason\":null}]}")
        OA_EV("{" OA_HEAD ",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}")
            OA_EV("[DONE]");
    s = fg_translate_stream_new(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, "my-model", false);
    out = feed_stream(s, refusal, true, true);
    frames_parse(out, FG_DIALECT_ANTHROPIC, &f);
    an_reassemble(&f, &v);
    assert_string_equal(v.text, "No.");
    assert_string_equal(v.stop, "refusal");
    frames_free(&f);
    evbuffer_free(out);
    fg_translate_stream_free(s);
    assert_null(fg_translate_stream_new(FG_DIALECT_OPENAI, FG_DIALECT_OPENAI, "m", false));
}

/* ----------------------------------------------------------------- errors */

static json_t *run_err(enum fg_dialect from, enum fg_dialect to, int status, const char *body,
                       int *out_status)
{
    struct evbuffer *out = evbuffer_new();
    const char *b = Q(body);
    *out_status = fg_translate_error(from, to, status, b, strlen(b), out);
    json_t *doc =
        json_loadb((const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out), 0, NULL);
    assert_non_null(doc);
    evbuffer_free(out);
    return doc;
}

/* A provider's error message longer than frugal keeps, cut inside a UTF-8
 * character, still makes a JSON error body (was an empty body). */
static void error_body_cut_in_a_character(void **state)
{
    char msg[700] = "", body[800];
    for (int i = 0; i < 300; i++)
        strcat(msg, "\xc3\xa9");
    for (int d = 0; d < 2; d++) {
        if (d == 0)
            snprintf(body, sizeof body, "{\"error\":{\"message\":\"%s\",\"type\":\"x\"}}", msg);
        else
            snprintf(body, sizeof body,
                     "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"%s\"}}",
                     msg);
        struct evbuffer *out = evbuffer_new();
        enum fg_dialect from = d ? FG_DIALECT_ANTHROPIC : FG_DIALECT_OPENAI;
        enum fg_dialect to = d ? FG_DIALECT_OPENAI : FG_DIALECT_ANTHROPIC;
        assert_int_equal(fg_translate_error(from, to, 500, body, strlen(body), out), 500);
        json_t *doc =
            json_loadb((const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out), 0, NULL);
        assert_non_null(doc);
        assert_true(strlen(js(doc, "error.message")) > 300);
        json_decref(doc);
        evbuffer_free(out);
    }
}

static void error_bodies(void **state)
{
    int st;
    json_t *d = run_err(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, 429,
                        "{'error':{'message':'Rate limit reached for gpt-4o','type':'requests',"
                        "'param':null,'code':'rate_limit_exceeded'}}",
                        &st);
    assert_int_equal(st, 429);
    assert_string_equal(js(d, "type"), "error");
    assert_string_equal(js(d, "error.type"), "rate_limit_error");
    assert_string_equal(js(d, "error.message"), "Rate limit reached for gpt-4o");
    assert_true(json_is_null(jp(d, "request_id")));
    json_decref(d);

    d = run_err(
        FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, 400,
        "{'type':'error','error':{'type':'invalid_request_error','message':'max_tokens: too big'},"
        "'request_id':'req_1'}",
        &st);
    assert_int_equal(st, 400);
    assert_string_equal(js(d, "error.type"), "invalid_request_error");
    assert_string_equal(js(d, "error.message"), "max_tokens: too big");
    assert_true(json_is_null(jp(d, "error.param")));
    json_decref(d);

    d = run_err(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, 529,
                "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}", &st);
    assert_int_equal(st, 529);
    assert_string_equal(js(d, "error.type"), "server_error");
    assert_string_equal(js(d, "error.code"), "overloaded_error");
    json_decref(d);

    d = run_err(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, 503,
                "{'error':{'message':'Slow down','type':'server_error','param':null,'code':null}}",
                &st);
    assert_int_equal(st, 503);
    assert_string_equal(js(d, "error.type"), "overloaded_error");
    json_decref(d);

    d = run_err(
        FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, 400,
        "{'error':{'message':'bad','type':'invalid_request_error','param':'messages','code':'invalid_value'}}",
        &st);
    assert_string_equal(js(d, "error.type"), "invalid_request_error");
    assert_string_equal(js(d, "error.details.error_code"), "invalid_value");
    json_decref(d);

    /* not JSON: described, status kept */
    d = run_err(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, 502, "<html>Bad Gateway</html>", &st);
    assert_int_equal(st, 502);
    assert_string_equal(js(d, "error.type"), "server_error");
    assert_non_null(strstr(js(d, "error.message"), "Bad Gateway"));
    json_decref(d);
    d = run_err(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, 200, "", &st);
    assert_int_equal(st, 502);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oa_system_developer_and_merging),
        cmocka_unit_test(oa_tool_call_round_trip),
        cmocka_unit_test(oa_tool_choice_variants),
        cmocka_unit_test(oa_images_and_files),
        cmocka_unit_test(oa_stop_and_max_tokens),
        cmocka_unit_test(oa_sampling_by_version),
        cmocka_unit_test(oa_metadata_and_user),
        cmocka_unit_test(oa_reasoning_effort),
        cmocka_unit_test(oa_response_format),
        cmocka_unit_test(oa_meaning_cannot_be_kept),
        cmocka_unit_test(an_messages_and_tools),
        cmocka_unit_test(an_tool_choice_variants),
        cmocka_unit_test(an_images_and_documents),
        cmocka_unit_test(an_parameters),
        cmocka_unit_test(an_meaning_cannot_be_kept),
        cmocka_unit_test(resp_an_to_oa),
        cmocka_unit_test(resp_oa_to_an),
        cmocka_unit_test(stream_an_to_oa),
        cmocka_unit_test(stream_an_to_oa_errors_and_cuts),
        cmocka_unit_test(stream_an_to_oa_forced_tool),
        cmocka_unit_test(stream_oa_to_an),
        cmocka_unit_test(stream_oa_to_an_errors_and_cuts),
        cmocka_unit_test(error_bodies),
        cmocka_unit_test(error_body_cut_in_a_character),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
