/* azure_in.c — see azure_in.h. */
#include "azure_in.h"

#include <stdio.h>
#include <string.h>

#define PREFIX "/openai/"
#define DEPS "/openai/deployments/"

bool fg_azure_in_path(const char *path)
{
    return path && !strncmp(path, PREFIX, strlen(PREFIX));
}

/* A deployment as Azure names them (and as frugal's model names usually
 * are): no slash, no escape, nothing a log or a header could misread. */
static bool plain_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:", s[i]))
            return false;
    return true;
}

int fg_azure_in_map(const char *path, enum fg_endpoint *ep, char *dep, size_t n)
{
    if (!fg_azure_in_path(path) || n == 0)
        return -1;
    dep[0] = '\0';
    if (!strcmp(path, PREFIX "responses")) {
        *ep = FG_EP_RESPONSES;
        return 0;
    }
    if (strncmp(path, DEPS, strlen(DEPS)))
        return -1;
    const char *d = path + strlen(DEPS), *slash = strchr(d, '/');
    if (!slash || !plain_name(d, (size_t)(slash - d)) || (size_t)(slash - d) >= n)
        return -1;
    if (!strcmp(slash, "/chat/completions"))
        *ep = FG_EP_CHAT;
    else if (!strcmp(slash, "/embeddings"))
        *ep = FG_EP_EMBEDDINGS;
    else
        return -1;
    snprintf(dep, n, "%.*s", (int)(slash - d), d);
    return 0;
}
