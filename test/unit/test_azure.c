/* test_azure.c — Azure OpenAI's URLs and key header (dialect/azure.h) and
 * the content-filter readers (dialect/cfilter.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "arena.h"
#include "azure.h"
#include "cfilter.h"
#include "json.h"
#include "sse.h"

static struct fg_provider_cfg azure(void)
{
    struct fg_provider_cfg p;
    memset(&p, 0, sizeof p);
    p.type = FG_PROV_AZURE;
    p.base_url = "https://team.openai.azure.com";
    p.api_version = "2024-10-21";
    p.api_key = "sk-az";
    return p;
}

static void urls(void **state)
{
    (void)state;
    struct fg_provider_cfg p = azure();
    struct fg_arena a;
    fg_arena_init(&a);
    assert_string_equal(fg_azure_url(&a, &p, "dep", FG_EP_CHAT),
                        "https://team.openai.azure.com/openai/deployments/dep/chat/completions"
                        "?api-version=2024-10-21");
    /* a translated Messages call goes to Chat Completions, as the OpenAI adapter's path */
    assert_string_equal(fg_azure_url(&a, &p, "dep", FG_EP_MESSAGES),
                        fg_azure_url(&a, &p, "dep", FG_EP_CHAT));
    assert_string_equal(fg_azure_url(&a, &p, "e", FG_EP_EMBEDDINGS),
                        "https://team.openai.azure.com/openai/deployments/e/embeddings"
                        "?api-version=2024-10-21");
    assert_string_equal(fg_azure_url(&a, &p, "dep", FG_EP_RESPONSES),
                        "https://team.openai.azure.com/openai/responses?api-version=2024-10-21");
    assert_string_equal(fg_azure_query(&a, &p, "u/files", NULL), "u/files?api-version=2024-10-21");
    assert_string_equal(fg_azure_query(&a, &p, "u/files", "limit=2"),
                        "u/files?limit=2&api-version=2024-10-21");
    struct fg_provider_cfg o = p;
    o.type = FG_PROV_OPENAI;
    assert_string_equal(fg_azure_query(&a, &o, "u/files", NULL), "u/files");
    assert_string_equal(fg_azure_query(&a, &o, "u/files", "limit=2"), "u/files?limit=2");
    assert_true(fg_azure_deployment_path("/audio/speech"));
    assert_false(fg_azure_deployment_path("/files"));
    assert_false(fg_azure_deployment_path("/audio/speech/x"));
    fg_arena_free(&a);
}

static void key_header(void **state)
{
    (void)state;
    struct fg_provider_cfg p = azure();
    struct curl_slist *h = fg_azure_auth_header(&p, NULL);
    assert_string_equal(h->data, "api-key: sk-az");
    assert_null(h->next);
    curl_slist_free_all(h);
    p.type = FG_PROV_OPENAI;
    h = fg_azure_auth_header(&p, NULL);
    assert_string_equal(h->data, "Authorization: Bearer sk-az");
    curl_slist_free_all(h);
    p.api_key = NULL;
    assert_null(fg_azure_auth_header(&p, NULL));
}

static bool answer(const char *s)
{
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, s, strlen(s)), 0);
    bool r = fg_cfilter_answer(&j);
    fg_json_free(&j);
    return r;
}

static bool error(const char *s)
{
    struct fg_json j = {0};
    assert_int_equal(fg_json_parse(&j, s, strlen(s)), 0);
    bool r = fg_cfilter_error(&j);
    fg_json_free(&j);
    return r;
}

static bool event(const char *data)
{
    struct fg_sse_event e;
    memset(&e, 0, sizeof e);
    e.data = data;
    e.data_len = strlen(data);
    return fg_cfilter_event(&e);
}

static void content_filter(void **state)
{
    (void)state;
    assert_true(answer("{\"choices\":[{\"finish_reason\":\"content_filter\"}]}"));
    assert_true(answer("{\"choices\":[{\"finish_reason\":\"stop\"},{\"finish_reason\":"
                       "\"content_filter\"}]}"));
    assert_false(answer("{\"choices\":[{\"finish_reason\":\"stop\",\"content_filter_results\":"
                        "{\"hate\":{\"filtered\":false}}}]}"));
    assert_true(answer("{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
                       "\"content_filter\"}}"));
    assert_false(answer("{\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}"));
    assert_false(answer("[1,2]"));
    assert_true(error("{\"error\":{\"code\":\"content_filter\",\"param\":\"prompt\"}}"));
    assert_false(error("{\"error\":{\"code\":\"rate_limit_exceeded\"}}"));
    assert_false(error("{\"error\":\"content_filter\"}"));
    assert_true(event("{\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}"));
    /* the results every Azure chunk may carry are not a filtered end */
    assert_false(event("{\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":null,"
                       "\"content_filter_results\":{\"hate\":{\"filtered\":false}}}]}"));
    assert_true(event("{\"type\":\"response.incomplete\",\"response\":{\"incomplete_details\":"
                      "{\"reason\":\"content_filter\"}}}"));
    assert_false(event(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(urls),
        cmocka_unit_test(key_header),
        cmocka_unit_test(content_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
