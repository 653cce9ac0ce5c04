/* azure_in.h — Azure-shaped inbound URLs: clients built on the openai SDK's
 * AzureOpenAI client (or Azure's REST shape) pointed at frugal.
 *
 * Contract:
 *  - POST /openai/deployments/{deployment}/chat/completions and
 *    .../embeddings are frugal's /v1/chat/completions and /v1/embeddings
 *    with the URL's deployment as the model (it names a configured model
 *    or route, as a body's "model" does; the body's own "model" is
 *    replaced by it upstream, as Azure ignores it); POST /openai/responses
 *    is /v1/responses (the model is in the body, as on Azure).  The
 *    api-version query parameter is accepted and not needed.
 *  - The client's key may come in Azure's `api-key` header (auth.c).
 *  - Anything else under /openai/ is a 404 in OpenAI's shape naming the
 *    supported paths; a deployment that is not a plain name is one too.
 *  - Stateless; the mapping reads only its arguments. */
#ifndef FRUGAL_AZURE_IN_H
#define FRUGAL_AZURE_IN_H

#include "endpoint.h"

#include <stdbool.h>
#include <stddef.h>

/* Is path under Azure's /openai/ prefix? */
bool fg_azure_in_path(const char *path);

/* Map an Azure path: 0 with *ep and the deployment (dep, "" when the model
 * is in the body) filled, or -1 when frugal serves no such path. */
int fg_azure_in_map(const char *path, enum fg_endpoint *ep, char *dep, size_t n);

#endif
