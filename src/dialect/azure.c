/* azure.c — see azure.h. */
#include "azure.h"

#include "assert.h"

#include <stdio.h>
#include <string.h>

bool fg_azure_is(const struct fg_provider_cfg *p)
{
    return p && p->type == FG_PROV_AZURE;
}

const char *fg_azure_url(struct fg_arena *a, const struct fg_provider_cfg *p, const char *dep,
                         enum fg_endpoint ep)
{
    FG_ASSERT(fg_azure_is(p) && p->base_url && p->api_version);
    /* config checked both names to be URL-safe tokens (config.c) */
    /* as the OpenAI adapter's paths: every other endpoint (a translated
     * Messages call) is Chat Completions */
    switch (ep) {
    case FG_EP_EMBEDDINGS:
        return fg_arena_printf(a, "%s/openai/deployments/%s/embeddings?api-version=%s", p->base_url,
                               dep, p->api_version);
    case FG_EP_RESPONSES:
        return fg_arena_printf(a, "%s/openai/responses?api-version=%s", p->base_url,
                               p->api_version);
    case FG_EP_RESP_INPUT_TOKENS:
        return fg_arena_printf(a, "%s/openai/responses/input_tokens?api-version=%s", p->base_url,
                               p->api_version);
    default:
        return fg_arena_printf(a, "%s/openai/deployments/%s/chat/completions?api-version=%s",
                               p->base_url, dep, p->api_version);
    }
}

const char *fg_azure_query(struct fg_arena *a, const struct fg_provider_cfg *p, const char *url,
                           const char *query)
{
    bool q = query && *query, v = fg_azure_is(p);
    return fg_arena_printf(a, "%s%s%s%s%s", url, q || v ? "?" : "", q ? query : "",
                           q && v ? "&api-version="
                           : v    ? "api-version="
                                  : "",
                           v ? p->api_version : "");
}

bool fg_azure_deployment_path(const char *path)
{
    static const char *const scoped[] = {
        "/completions",        "/chat/completions", "/embeddings",         "/audio/transcriptions",
        "/audio/translations", "/audio/speech",     "/images/generations", "/images/edits"};
    for (size_t i = 0; path && i < sizeof scoped / sizeof scoped[0]; i++)
        if (!strcmp(path, scoped[i]))
            return true;
    return false;
}

struct curl_slist *fg_azure_auth_header(const struct fg_provider_cfg *p, struct curl_slist *h)
{
    if (!p->api_key)
        return h;
    char line[600];
    if (fg_azure_is(p))
        snprintf(line, sizeof line, "api-key: %s", p->api_key);
    else
        snprintf(line, sizeof line, "Authorization: Bearer %s", p->api_key);
    return curl_slist_append(h, line);
}
