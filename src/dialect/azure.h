/* azure.h — Azure OpenAI (`type: azure_openai`): OpenAI's wire dialect at
 * Azure's URLs, with Azure's key header.
 *
 * Contract:
 *  - An Azure resource serves model-scoped endpoints under a deployment
 *    name, every URL carries the provider's api-version, and the key goes
 *    in an `api-key` header (never as a bearer token):
 *      chat        {base}/openai/deployments/{deployment}/chat/completions?api-version=V
 *      embeddings  {base}/openai/deployments/{deployment}/embeddings?api-version=V
 *      responses   {base}/openai/responses?api-version=V  (body model = deployment)
 *      files, batches, stored responses: {base}/openai/...?api-version=V
 *    (the AzureOpenAI client of the openai SDK builds the same URLs).
 *  - The functions here only format text: they read the provider's config
 *    (immutable) and write caller-owned buffers or arena strings, so they
 *    are thread-safe.  Non-Azure providers get their URL unchanged (plus the
 *    query) and a bearer token, so callers need not branch. */
#ifndef FRUGAL_AZURE_H
#define FRUGAL_AZURE_H

#include "arena.h"
#include "config.h"
#include "endpoint.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* Is p an Azure OpenAI provider? */
bool fg_azure_is(const struct fg_provider_cfg *p);

/* The URL of inference endpoint ep on Azure provider p for deployment dep,
 * in the arena (as the OpenAI adapter's paths: endpoints other than
 * embeddings and the Responses ones are Chat Completions). */
const char *fg_azure_url(struct fg_arena *a, const struct fg_provider_cfg *p, const char *dep,
                         enum fg_endpoint ep);

/* url with the client's query (NULL: none) and, on Azure, the api-version
 * appended: "url?query&api-version=V", in the arena. */
const char *fg_azure_query(struct fg_arena *a, const struct fg_provider_cfg *p, const char *url,
                           const char *query);

/* Is path (an OpenAI path without /v1: "/audio/speech") one Azure serves
 * per deployment ({base}/openai/deployments/{deployment}{path}), as the
 * AzureOpenAI client's list has it (completions, audio, images, batches)? */
bool fg_azure_deployment_path(const char *path);

/* The provider key header: `api-key: KEY` on Azure, else
 * `Authorization: Bearer KEY` (nothing without a key); appended to h. */
struct curl_slist *fg_azure_auth_header(const struct fg_provider_cfg *p, struct curl_slist *h);

#endif
