/* provider.c — the dialect table and helpers the adapters share. */
#include "provider.h"

#include "assert.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Indexed by body shape: adding a dialect adds its adapter here. */
static const struct fg_dialect_ops *const by_shape[] = {
    [FG_DIALECT_OPENAI] = &fg_provider_openai,
    [FG_DIALECT_ANTHROPIC] = &fg_provider_anthropic,
    [FG_DIALECT_RESPONSES] = &fg_provider_responses,
};

const struct fg_dialect_ops *fg_provider_ops(enum fg_dialect shape)
{
    FG_ASSERT((size_t)shape < sizeof by_shape / sizeof by_shape[0]);
    FG_DASSERT(by_shape[shape]->shape == shape);
    return by_shape[shape];
}

const struct fg_dialect_ops *fg_provider_at(size_t i)
{
    return i < sizeof by_shape / sizeof by_shape[0] ? by_shape[i] : NULL;
}

const struct fg_dialect_ops *fg_provider_named(const char *name)
{
    for (size_t i = 0; name && i < sizeof by_shape / sizeof by_shape[0]; i++)
        if (by_shape[i]->dialect == by_shape[i]->shape && !strcmp(by_shape[i]->name, name))
            return by_shape[i];
    return &fg_provider_openai;
}

const struct fg_dialect_ops *fg_provider_for(const struct fg_dialect_ops *in, enum fg_dialect wire,
                                             bool responses_api)
{
    /* a client's own shape stays when the provider speaks its wire dialect
     * (and, for Responses, serves that API) */
    if (in && in->dialect == wire && (in->shape != FG_DIALECT_RESPONSES || responses_api))
        return in;
    return fg_provider_ops(wire);
}

struct curl_slist *fg_provider_header_add(struct curl_slist *h, const char *name, const char *value)
{
    char line[1024];
    snprintf(line, sizeof line, "%s: %s", name, value);
    return curl_slist_append(h, line);
}

void fg_provider_text_parts(const struct fg_json *j, int content, void (*fn)(void *arg, int str),
                            void *arg)
{
    if (fg_json_type(j, content) == FG_J_STR) {
        fn(arg, content);
        return;
    }
    for (int p = fg_json_child(j, content); p >= 0; p = fg_json_sibling(j, content, p)) {
        int t = fg_json_get(j, p, "type"), x = fg_json_get(j, p, "text");
        if (fg_json_type(j, p) == FG_J_STR)
            fn(arg, p);
        else if ((t < 0 || fg_json_str_eq(j, t, "text") || fg_json_str_eq(j, t, "output_text")) &&
                 fg_json_type(j, x) == FG_J_STR)
            fn(arg, x);
    }
}

bool fg_provider_has_text(const struct fg_sse_event *ev, const char *s)
{
    return memmem(ev->data, ev->data_len, s, strlen(s)) != NULL;
}

/* Providers send compact JSON; a space after the colon is tolerated. */
bool fg_provider_nonempty_str(const struct fg_sse_event *ev, const char *key)
{
    size_t kl = strlen(key);
    const char *p = ev->data, *end = ev->data + ev->data_len;
    while ((p = memmem(p, (size_t)(end - p), key, kl))) {
        p += kl;
        while (p < end && *p == ' ')
            p++;
        if (p + 1 < end && *p == '"' && p[1] != '"')
            return true;
    }
    return false;
}

int fg_provider_usage_at(const struct fg_dialect_ops *d, const struct fg_json *j, int root)
{
    return d->usage_at ? d->usage_at(j, root) : fg_json_get(j, root, "usage");
}
