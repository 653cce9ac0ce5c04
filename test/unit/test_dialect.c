/* test_dialect.c — unit tests for the dialect interface (provider.h): every
 * op that reads answers, streams and requests, as tables over the three
 * adapters (Chat Completions, Messages, Responses), plus the table lookups
 * and translate.h's pair entry points.  What used to be FG_DIALECT_*
 * branches in call/, ledger/ and batch/ is checked here per adapter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "translate.h"

#define OA (&fg_provider_openai)
#define AN (&fg_provider_anthropic)
#define RS (&fg_provider_responses)

static void parse(struct fg_json *j, const char *s)
{
    assert_int_equal(fg_json_parse(j, s, strlen(s)), 0);
}

static struct fg_sse_event ev(const char *name, const char *data)
{
    struct fg_sse_event e = {.event = name ? name : "",
                             .event_len = name ? strlen(name) : 0,
                             .data = data,
                             .data_len = strlen(data)};
    e.raw = e.data, e.raw_len = e.data_len;
    return e;
}

static void table_lookups(void **state)
{
    (void)state;
    const struct fg_dialect_ops *all[] = {OA, AN, RS};
    for (size_t i = 0; i < 3; i++)
        assert_ptr_equal(fg_provider_at(i), all[i]);
    assert_null(fg_provider_at(3));
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(fg_provider_ops(all[i]->shape), all[i]);
        /* every adapter fills every op */
        const struct fg_dialect_ops *d = all[i];
        assert_non_null(d->validate), assert_non_null(d->wants_json);
        assert_non_null(d->requested_schema), assert_non_null(d->answer_slot);
        assert_non_null(d->error_body), assert_non_null(d->stream_error);
        assert_non_null(d->classify), assert_non_null(d->path);
        assert_non_null(d->upstream_headers), assert_non_null(d->forward_headers);
        assert_non_null(d->request_id_header), assert_non_null(d->usage);
        assert_non_null(d->answer_text), assert_non_null(d->shortfall);
        assert_non_null(d->stream_read), assert_non_null(d->held_look);
        assert_non_null(d->model_entry), assert_non_null(d->model_list);
        assert_non_null(d->req.messages), assert_non_null(d->req.cache_mark);
        assert_true(d->cache.granule > 0);
        assert_non_null(d->name), assert_non_null(d->title);
    }
    assert_ptr_equal(fg_provider_named("anthropic"), AN);
    assert_ptr_equal(fg_provider_named("openai"), OA);
    assert_ptr_equal(fg_provider_named("something-else"), OA);
    assert_ptr_equal(fg_provider_named(NULL), OA);
    /* a Responses client stays a Responses call on an OpenAI provider */
    assert_ptr_equal(fg_provider_for(RS, FG_DIALECT_OPENAI, true), RS);
    assert_ptr_equal(fg_provider_for(RS, FG_DIALECT_ANTHROPIC, true), AN);
    assert_ptr_equal(fg_provider_for(OA, FG_DIALECT_ANTHROPIC, true), AN);
    assert_ptr_equal(fg_provider_for(AN, FG_DIALECT_OPENAI, true), OA);
    assert_ptr_equal(fg_provider_for(NULL, FG_DIALECT_OPENAI, true), OA);
    /* a Chat-Completions-only provider: a Responses call is translated */
    assert_ptr_equal(fg_provider_for(RS, FG_DIALECT_OPENAI, false), OA);
    assert_ptr_equal(fg_provider_for(OA, FG_DIALECT_OPENAI, false), OA);
    assert_int_equal(RS->dialect, FG_DIALECT_OPENAI);
    assert_int_equal(RS->shape, FG_DIALECT_RESPONSES);
}

static void wire_facts(void **state)
{
    (void)state;
    assert_string_equal(OA->request_id_header, "x-request-id");
    assert_string_equal(RS->request_id_header, "x-request-id");
    assert_string_equal(AN->request_id_header, "request-id");
    assert_string_equal(OA->stream_terminator, "data: [DONE]");
    assert_string_equal(AN->stream_terminator, "event: message_stop");
    assert_null(RS->stream_terminator);
    assert_false(OA->end_event_has_data || AN->end_event_has_data);
    assert_true(RS->end_event_has_data);
    assert_string_equal(OA->path(FG_EP_CHAT), "/chat/completions");
    assert_string_equal(RS->path(FG_EP_RESPONSES), "/responses");
    assert_string_equal(AN->path(FG_EP_MESSAGES), "/v1/messages");
    assert_string_equal(AN->path(FG_EP_COUNT_TOKENS), "/v1/messages/count_tokens");
    assert_null(AN->path(FG_EP_EMBEDDINGS));
    assert_true(OA->stream_usage_opt_in);
    assert_false(AN->stream_usage_opt_in || RS->stream_usage_opt_in);
    assert_true(AN->client_versioned);
    assert_false(OA->client_versioned || RS->client_versioned);
    assert_true(OA->cache.automatic && RS->cache.automatic);
    assert_false(AN->cache.automatic);
    assert_int_equal(OA->cache.granule, 128);
    assert_int_equal(AN->cache.min_tokens, 0); /* by model family */
}

/* Upstream headers: the provider's key in each dialect's form; Anthropic's
 * version follows the client's, else the provider's. */
static char *headers(const struct fg_dialect_ops *d, const char *version, const char *client_ver)
{
    struct fg_provider_cfg p;
    memset(&p, 0, sizeof p);
    p.api_key = "sk-test";
    p.anthropic_version = (char *)version;
    struct curl_slist *h = NULL;
    d->upstream_headers(&p, client_ver, &h);
    static char out[512];
    out[0] = '\0';
    for (struct curl_slist *x = h; x; x = x->next)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s|", x->data);
    curl_slist_free_all(h);
    return out;
}

static void upstream_headers(void **state)
{
    (void)state;
    assert_string_equal(headers(OA, "2026-10-21", NULL), "Authorization: Bearer sk-test|");
    assert_string_equal(headers(RS, "2026-10-21", NULL), "Authorization: Bearer sk-test|");
    assert_string_equal(headers(AN, "2026-10-21", NULL),
                        "anthropic-version: 2026-10-21|Authorization: Bearer sk-test|");
    assert_string_equal(headers(AN, "2026-10-21", "2023-06-01"),
                        "anthropic-version: 2023-06-01|x-api-key: sk-test|");
}

static void validate_per_endpoint(void **state)
{
    (void)state;
    static const struct {
        const struct fg_dialect_ops *d;
        enum fg_endpoint ep;
        const char *body;
        const char *param; /* NULL: valid */
    } cases[] = {
        {OA, FG_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         NULL},
        {OA, FG_EP_CHAT, "{\"model\":\"m\"}", "messages"},
        {OA, FG_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"boss\"}]}",
         "messages[0].role"},
        {AN, FG_EP_MESSAGES, "{\"model\":\"m\",\"messages\":[]}", "max_tokens"},
        /* count_tokens needs no max_tokens: the endpoint is the op's argument */
        {AN, FG_EP_COUNT_TOKENS, "{\"model\":\"m\",\"messages\":[]}", NULL},
        /* content is a string or a list of blocks, never an object */
        {AN, FG_EP_MESSAGES,
         "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":{"
         "\"type\":\"text\"}}]}",
         "messages.0.content"},
        {AN, FG_EP_MESSAGES,
         "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{"
         "\"type\":\"text\",\"text\":\"x\"}]}]}",
         NULL},
        {RS, FG_EP_RESPONSES, "{\"model\":\"m\",\"input\":\"hi\"}", NULL},
        {RS, FG_EP_RESPONSES, "{\"model\":\"m\",\"input\":5}", "input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_json j = {0};
        struct fg_err e = {0};
        parse(&j, cases[i].body);
        int rc = cases[i].d->validate(&j, cases[i].ep, &e);
        if (!cases[i].param) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(e.param, cases[i].param);
            assert_int_equal(e.status, 400);
        }
        fg_json_free(&j);
    }
}

static void shortfall_table(void **state)
{
    (void)state;
    static const struct {
        const struct fg_dialect_ops *d;
        const char *body;
        const char *why; /* NULL: a real answer */
    } cases[] = {
        {OA, "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"content\":\"hi\"}}]}", NULL},
        {OA, "{\"choices\":[{\"finish_reason\":\"length\",\"message\":{\"content\":\"hi\"}}]}",
         "truncated"},
        {OA, "{\"choices\":[{\"finish_reason\":\"content_filter\",\"message\":{}}]}", "refusal"},
        {OA, "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"refusal\":\"no\"}}]}",
         "refusal"},
        {OA, "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"content\":\"\"}}]}",
         "empty"},
        {OA, "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{}]}}]}", NULL},
        {AN, "{\"stop_reason\":\"end_turn\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}",
         NULL},
        {AN, "{\"stop_reason\":\"max_tokens\",\"content\":[{\"type\":\"text\",\"text\":\"h\"}]}",
         "truncated"},
        {AN, "{\"stop_reason\":\"refusal\",\"content\":[]}", "refusal"},
        {AN, "{\"stop_reason\":\"end_turn\",\"content\":[{\"type\":\"text\",\"text\":\"\"}]}",
         "empty"},
        {AN, "{\"stop_reason\":\"tool_use\",\"content\":[{\"type\":\"tool_use\",\"input\":{}}]}",
         NULL},
        {RS,
         "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":"
         "\"hi\"}]}]}",
         NULL},
        {RS, "{\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"output\":[]}",
         "truncated"},
        {RS, "{\"incomplete_details\":{\"reason\":\"content_filter\"},\"output\":[]}", "refusal"},
        {RS, "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"refusal\"}]}]}",
         "refusal"},
        {RS, "{\"output\":[{\"type\":\"reasoning\"}]}", "empty"},
        {RS, "{\"output\":[{\"type\":\"function_call\",\"arguments\":\"{}\"}]}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_json j = {0};
        parse(&j, cases[i].body);
        const char *why = cases[i].d->shortfall(&j);
        if (cases[i].why)
            assert_string_equal(why, cases[i].why);
        else
            assert_null(why);
        fg_json_free(&j);
    }
}

struct collect {
    const struct fg_json *j;
    char text[256];
};

static void collect_text(void *arg, int str)
{
    struct collect *c = arg;
    size_t n = strlen(c->text);
    if (fg_json_type(c->j, str) == FG_J_STR)
        fg_json_str(c->j, str, c->text + n, sizeof c->text - n);
}

static void answer_text_and_usage(void **state)
{
    (void)state;
    static const struct {
        const struct fg_dialect_ops *d;
        const char *body;
        const char *text;
        int64_t input, output, cache_read;
    } cases[] = {
        {OA,
         "{\"choices\":[{\"message\":{\"content\":\"a\\\"b\"}}],\"usage\":{\"prompt_tokens\":10,"
         "\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":4}}}",
         "a\"b", 6, 3, 4},
        {AN,
         "{\"content\":[{\"type\":\"text\",\"text\":\"one \"},{\"type\":\"tool_use\",\"input\":{}},"
         "{\"type\":\"text\",\"text\":\"two\"}],\"usage\":{\"input_tokens\":6,\"output_tokens\":3,"
         "\"cache_read_input_tokens\":4}}",
         "one two", 6, 3, 4},
        {RS,
         "{\"output\":[{\"type\":\"reasoning\"},{\"type\":\"message\",\"content\":[{\"type\":"
         "\"output_text\",\"text\":\"r\"},{\"type\":\"refusal\",\"refusal\":\"x\"}]}],\"usage\":{"
         "\"input_tokens\":10,\"output_tokens\":3,\"input_tokens_details\":{\"cached_tokens\":4}}}",
         "r", 6, 3, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_json j = {0};
        parse(&j, cases[i].body);
        struct collect c = {.j = &j};
        cases[i].d->answer_text(&j, 0, collect_text, &c);
        assert_string_equal(c.text, cases[i].text);
        struct fg_usage u;
        memset(&u, 0, sizeof u);
        cases[i].d->usage(&j, fg_json_get(&j, 0, "usage"), &u);
        assert_true(u.seen);
        assert_int_equal(u.tok.input, cases[i].input);
        assert_int_equal(u.tok.output, cases[i].output);
        assert_int_equal(u.tok.cache_read, cases[i].cache_read);
        fg_json_free(&j);
    }
    /* an answer nested in a larger document (a ledger log line) */
    struct fg_json j = {0};
    parse(&j, "{\"response\":{\"content\":[{\"type\":\"text\",\"text\":\"deep\"}]}}");
    struct collect c = {.j = &j};
    AN->answer_text(&j, fg_json_get(&j, 0, "response"), collect_text, &c);
    assert_string_equal(c.text, "deep");
    fg_json_free(&j);
}

/* The meter's view of stream events: usage objects, text, the usage-only
 * chunk; events with nothing to read are not parsed. */
static void stream_read_table(void **state)
{
    (void)state;
    static const struct {
        const struct fg_dialect_ops *d;
        const char *name, *data;
        bool want_text;
        bool read;             /* stream_read returned true */
        const char *text;      /* text found ("" none) */
        int64_t input, output; /* -1: no usage */
        bool usage_only;
    } cases[] = {
        {OA, NULL, "{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}", false, false, "", -1, -1,
         false},
        {OA, NULL, "{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}", true, true, "hi", -1, -1,
         false},
        {OA, NULL, "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}",
         false, true, "", 5, 2, true},
        {OA, NULL,
         "{\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}",
         false, true, "", 5, 2, false},
        {AN, "message_start", "{\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}",
         false, true, "", 5, 1, false},
        {AN, "message_delta", "{\"usage\":{\"output_tokens\":7}}", false, true, "", 0, 7, false},
        {AN, "content_block_delta", "{\"delta\":{\"type\":\"text_delta\",\"text\":\"t\"}}", false,
         false, "", -1, -1, false},
        {AN, "content_block_delta", "{\"delta\":{\"type\":\"text_delta\",\"text\":\"t\"}}", true,
         true, "t", -1, -1, false},
        {AN, "content_block_delta",
         "{\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\"}}", true, true,
         "{\"a", -1, -1, false},
        {RS, "response.output_text.delta", "{\"delta\":\"x\"}", true, true, "x", -1, -1, false},
        {RS, NULL, "{\"type\":\"response.output_text.delta\",\"delta\":\"y\"}", true, true, "y", -1,
         -1, false},
        {RS, "response.completed",
         "{\"response\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":4}}}", false, true, "", 9,
         4, false},
        {RS, "response.created", "{\"response\":{}}", true, false, "", -1, -1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_json j = {0};
        struct fg_sse_event e = ev(cases[i].name, cases[i].data);
        struct fg_stream_read r = {.usage = -1, .text = {-1, -1}};
        bool read = cases[i].d->stream_read(&e, cases[i].want_text, &j, &r);
        assert_int_equal(read, cases[i].read);
        struct collect c = {.j = &j};
        if (read)
            for (int k = 0; k < 2; k++)
                if (r.text[k] >= 0)
                    collect_text(&c, r.text[k]);
        assert_string_equal(c.text, cases[i].text);
        if (cases[i].input < 0) {
            assert_int_equal(r.usage, -1);
        } else {
            struct fg_usage u;
            memset(&u, 0, sizeof u);
            cases[i].d->usage(&j, r.usage, &u);
            assert_int_equal(u.tok.input, cases[i].input);
            assert_int_equal(u.tok.output, cases[i].output);
        }
        assert_int_equal(r.usage_only, cases[i].usage_only);
        fg_json_free(&j);
    }
}

/* A held stream's events: content starts the answer, unless a refusal or
 * a cut was seen first. */
static void held_look_table(void **state)
{
    (void)state;
    static const struct {
        const struct fg_dialect_ops *d;
        const char *name, *data;
        const char *why;
        bool content;
    } cases[] = {
        {OA, NULL, "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", NULL,
         false},
        {OA, NULL, "{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}", NULL, true},
        {OA, NULL, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"c\"}]}}]}", NULL, true},
        {OA, NULL, "{\"choices\":[{\"delta\":{\"refusal\":\"No\"}}]}", "refusal", false},
        {OA, NULL, "{\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}", "truncated",
         false},
        {OA, NULL, "{\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}", "refusal",
         false},
        {AN, "content_block_delta", "{\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}", NULL,
         true},
        {AN, "content_block_start", "{\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\"}}",
         NULL, true},
        {AN, "message_delta", "{\"delta\":{\"stop_reason\":\"refusal\"}}", "refusal", false},
        {AN, "message_delta", "{\"delta\":{\"stop_reason\":\"max_tokens\"}}", "truncated", false},
        {AN, "message_start", "{\"message\":{\"content\":[]}}", NULL, false},
        {RS, "response.output_text.delta",
         "{\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}", NULL, true},
        {RS, "response.output_text.delta",
         "{\"type\":\"response.output_text.delta\",\"delta\":\"\"}", NULL, false},
        {RS, "response.refusal.delta", "{\"type\":\"response.refusal.delta\",\"delta\":\"No\"}",
         "refusal", false},
        {RS, "response.output_item.added",
         "{\"type\":\"response.output_item.added\",\"item\":{\"type\":\"function_call\"}}", NULL,
         true},
        {RS, "response.incomplete",
         "{\"type\":\"response.incomplete\",\"response\":{\"incomplete_details\":{\"reason\":"
         "\"max_output_tokens\"}}}",
         "truncated", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_sse_event e = ev(cases[i].name, cases[i].data);
        const char *why = NULL;
        bool content = false;
        cases[i].d->held_look(&e, &why, &content);
        if (cases[i].why)
            assert_string_equal(why, cases[i].why);
        else
            assert_null(why);
        assert_int_equal(content, cases[i].content);
    }
    /* a refusal seen first: later content does not start the answer */
    struct fg_sse_event e = ev(NULL, "{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}");
    const char *why = "refusal";
    bool content = false;
    OA->held_look(&e, &why, &content);
    assert_false(content);
    assert_string_equal(why, "refusal");
}

/* Where each dialect keeps what the router, busters, admission, structured
 * output and the caches read. */
static void request_shape_table(void **state)
{
    (void)state;
    static const struct {
        const struct fg_dialect_ops *d;
        const char *body;
        bool wants_json, any_object, tool;
        const char *schema; /* raw JSON of the schema, NULL: none */
    } cases[] = {
        {OA,
         "{\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"type\":"
         "\"object\"}}}}",
         true, false, false, "{\"type\":\"object\"}"},
        {OA, "{\"response_format\":{\"type\":\"json_object\"}}", true, true, false, NULL},
        {OA, "{\"response_format\":{\"type\":\"text\"}}", false, false, false, NULL},
        {AN,
         "{\"output_config\":{\"format\":{\"type\":\"json_schema\",\"schema\":{\"type\":"
         "\"array\"}}}}",
         true, false, false, "{\"type\":\"array\"}"},
        {AN,
         "{\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\"},\"tools\":[{\"name\":\"g\"},{"
         "\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}}]}",
         false, false, true, "{\"type\":\"object\"}"},
        {RS, "{\"text\":{\"format\":{\"type\":\"json_schema\",\"schema\":{\"type\":\"string\"}}}}",
         true, false, false, "{\"type\":\"string\"}"},
        {RS, "{\"text\":{\"format\":{\"type\":\"json_object\"}}}", true, true, false, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fg_json j = {0};
        parse(&j, cases[i].body);
        assert_int_equal(cases[i].d->wants_json(&j), cases[i].wants_json);
        bool any = false;
        int tool = -1;
        int s = cases[i].d->requested_schema(&j, &any, &tool);
        assert_int_equal(any, cases[i].any_object);
        assert_int_equal(tool >= 0, cases[i].tool);
        if (tool >= 0)
            assert_true(fg_json_str_eq(&j, tool, "f"));
        if (cases[i].schema) {
            assert_true(s >= 0);
            size_t n = j.t[s].end - j.t[s].start;
            assert_int_equal(n, strlen(cases[i].schema));
            assert_memory_equal(j.src + j.t[s].start, cases[i].schema, n);
        } else {
            assert_int_equal(s, -1);
        }
        fg_json_free(&j);
    }
    assert_string_equal(OA->req.messages, "messages");
    assert_string_equal(AN->req.messages, "messages");
    assert_string_equal(RS->req.messages, "input");
    assert_null(OA->req.system);
    assert_string_equal(AN->req.system, "system");
    assert_string_equal(RS->req.system, "instructions");
    assert_true(OA->req.system_leads);
    assert_false(AN->req.system_leads);
    assert_true(RS->req.items);
    assert_false(OA->req.items || AN->req.items);
    assert_null(AN->req.n);
    assert_string_equal(OA->req.n, "n");
    assert_string_equal(AN->req.cache_mark, "cache_control");
    assert_string_equal(OA->req.out_limit_add, "max_completion_tokens");
    assert_null(AN->req.out_limit_add);
    assert_null(RS->req.out_limit_add);
    assert_false(RS->req.stream_buffering);
    assert_null(OA->cacheable);
    struct fg_json j = {0};
    parse(&j, "{\"store\":false}");
    assert_true(RS->cacheable(&j, false));
    assert_false(RS->cacheable(&j, true));
    fg_json_free(&j);
    parse(&j, "{\"store\":false,\"previous_response_id\":\"r\"}");
    assert_false(RS->cacheable(&j, false));
    fg_json_free(&j);
}

static void answer_slots(void **state)
{
    (void)state;
    static const struct {
        const struct fg_dialect_ops *d;
        const char *body;
        bool tool;
        const char *key; /* NULL: no slot */
        bool truncated;
    } cases[] = {
        {OA, "{\"choices\":[{\"finish_reason\":\"length\",\"message\":{\"content\":\"{\"}}]}",
         false, "content", true},
        {OA, "{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"no\"}}]}", false, NULL,
         false},
        {AN, "{\"stop_reason\":\"end_turn\",\"content\":[{\"type\":\"text\",\"text\":\"{}\"}]}",
         false, "text", false},
        {AN, "{\"stop_reason\":\"tool_use\",\"content\":[{\"type\":\"tool_use\",\"input\":{}}]}",
         true, "input", false},
        {AN, "{\"stop_reason\":\"refusal\",\"content\":[]}", false, NULL, false},
        {RS,
         "{\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"output\":[{\"type\":"
         "\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"{\"}]}]}",
         false, "text", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *r = json_loads(cases[i].body, 0, NULL);
        assert_non_null(r);
        const char *key = NULL;
        bool truncated = false;
        json_t *slot = cases[i].d->answer_slot(r, cases[i].tool, &key, &truncated);
        if (cases[i].key) {
            assert_non_null(slot);
            assert_string_equal(key, cases[i].key);
            assert_non_null(json_object_get(slot, key));
        } else {
            assert_null(slot);
        }
        assert_int_equal(truncated, cases[i].truncated);
        json_decref(r);
    }
}

static void model_lists(void **state)
{
    (void)state;
    const struct fg_dialect_ops *all[] = {OA, AN, RS};
    for (size_t i = 0; i < 3; i++) {
        json_t *data = json_array();
        json_array_append_new(data, all[i]->model_entry("m1", "p"));
        json_array_append_new(data, all[i]->model_entry("m2", "p"));
        json_t *l = all[i]->model_list(data);
        json_t *d = json_object_get(l, "data");
        assert_int_equal(json_array_size(d), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "id")), "m2");
        if (all[i] == AN) {
            assert_string_equal(json_string_value(json_object_get(l, "last_id")), "m2");
            assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "type")),
                                "model");
        } else {
            assert_string_equal(json_string_value(json_object_get(l, "object")), "list");
            assert_string_equal(
                json_string_value(json_object_get(json_array_get(d, 0), "owned_by")), "p");
        }
        json_decref(l);
    }
}

/* A cached answer replayed as a stream ends with the dialect's terminator
 * (the relay puts the cost comment before it); a body of another dialect
 * is refused with nothing written. */
static void replay_table(void **state)
{
    (void)state;
    static const struct {
        const struct fg_dialect_ops *d;
        const char *body, *other;
    } cases[] = {
        {OA,
         "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\",\"choices\":[{"
         "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":"
         "\"stop\"}]}",
         "{\"type\":\"message\",\"content\":[]}"},
        {AN,
         "{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[{"
         "\"type\":\"text\",\"text\":\"hi\"}],\"stop_reason\":\"end_turn\",\"usage\":{"
         "\"input_tokens\":1,\"output_tokens\":1}}",
         "{\"choices\":[]}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct fg_dialect_ops *d = cases[i].d;
        assert_non_null(d->replay);
        struct evbuffer *b = evbuffer_new();
        json_t *r = json_loads(cases[i].body, 0, NULL);
        assert_int_equal(d->replay(r, false, b), 0);
        json_decref(r);
        size_t n = evbuffer_get_length(b), tl = strlen(d->stream_terminator);
        const char *s = (const char *)evbuffer_pullup(b, -1);
        assert_true(n > tl + 2 && !memcmp(s + n - 2, "\n\n", 2));
        /* the last frame starts with the terminator line */
        size_t last = 0;
        for (size_t k = 0; k + 2 < n; k++)
            if (s[k] == '\n' && s[k + 1] == '\n')
                last = k + 2;
        assert_memory_equal(s + last, d->stream_terminator, tl);
        assert_non_null(memmem(s, n, "hi", 2));
        evbuffer_drain(b, n);
        r = json_loads(cases[i].other, 0, NULL);
        assert_int_equal(d->replay(r, false, b), -1);
        assert_int_equal(evbuffer_get_length(b), 0);
        json_decref(r);
        evbuffer_free(b);
    }
    assert_null(RS->replay); /* streamed Responses calls are not cached */
}

/* translate.h's pair entry points: a response goes back along its
 * request's row, and an untranslated pair is an internal error. */
static void translate_pairs(void **state)
{
    (void)state;
    assert_true(fg_translate_has(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC));
    assert_true(fg_translate_has(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI));
    assert_true(fg_translate_has(FG_DIALECT_RESPONSES, FG_DIALECT_ANTHROPIC));
    assert_true(fg_translate_has(FG_DIALECT_RESPONSES, FG_DIALECT_OPENAI));
    assert_false(fg_translate_has(FG_DIALECT_OPENAI, FG_DIALECT_RESPONSES));
    assert_false(fg_translate_has(FG_DIALECT_OPENAI, FG_DIALECT_OPENAI));

    struct fg_translate_opts o = {.upstream_model = "up", .default_max_tokens = 100};
    struct fg_json j = {0};
    struct fg_err e = {0};
    char *out = NULL;
    size_t n = 0;
    parse(&j, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assert_int_equal(
        fg_translate_request(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, &j, &o, &out, &n, NULL, &e),
        0);
    assert_non_null(strstr(out, "\"max_tokens\":100")); /* Anthropic's required field */
    free(out);
    out = NULL;
    assert_int_equal(fg_translate_request(FG_DIALECT_ANTHROPIC, FG_DIALECT_RESPONSES, &j, &o, &out,
                                          &n, NULL, &e),
                     -1);
    assert_null(out);
    assert_int_equal(e.status, 500);
    fg_json_free(&j);

    struct evbuffer *b = evbuffer_new();
    parse(&j, "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up\","
              "\"content\":[{\"type\":\"text\",\"text\":\"hello\"}],\"stop_reason\":\"end_turn\","
              "\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}");
    memset(&e, 0, sizeof e);
    assert_int_equal(
        fg_translate_response(FG_DIALECT_ANTHROPIC, FG_DIALECT_OPENAI, &j, "asked", NULL, b, &e),
        0);
    evbuffer_add(b, "", 1);
    const char *s = (const char *)evbuffer_pullup(b, -1);
    assert_non_null(strstr(s, "\"choices\"")); /* an OpenAI answer */
    assert_non_null(strstr(s, "hello"));
    fg_json_free(&j);
    evbuffer_drain(b, evbuffer_get_length(b));

    parse(&j, "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":\"up\",\"choices\":[{"
              "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"yo\"},"
              "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,"
              "\"completion_tokens\":1,\"total_tokens\":4}}");
    assert_int_equal(
        fg_translate_response(FG_DIALECT_OPENAI, FG_DIALECT_ANTHROPIC, &j, "asked", NULL, b, &e),
        0);
    evbuffer_add(b, "", 1);
    s = (const char *)evbuffer_pullup(b, -1);
    assert_non_null(strstr(s, "\"type\":\"message\"")); /* an Anthropic answer */
    assert_non_null(strstr(s, "yo"));
    fg_json_free(&j);
    evbuffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_lookups),       cmocka_unit_test(wire_facts),
        cmocka_unit_test(upstream_headers),    cmocka_unit_test(validate_per_endpoint),
        cmocka_unit_test(shortfall_table),     cmocka_unit_test(answer_text_and_usage),
        cmocka_unit_test(stream_read_table),   cmocka_unit_test(held_look_table),
        cmocka_unit_test(request_shape_table), cmocka_unit_test(answer_slots),
        cmocka_unit_test(model_lists),         cmocka_unit_test(replay_table),
        cmocka_unit_test(translate_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
