/* flex.c — see flex.h. */
#include "flex.h"

#include <string.h>

/* Families on OpenAI's flex list (pricing page, "Flex" column); a model
 * matches a family when its id is the family or the family followed by a
 * version ("gpt-5.4", "gpt-5.4-mini") or a date suffix. */
static const char *const families[] = {"o3", "o4-mini", "gpt-5", "gpt-6"};

/* Variants OpenAI does not serve on flex, whatever their family. */
static const char *const excluded[] = {"-chat",          "-pro",   "-search", "-audio", "-realtime",
                                       "-deep-research", "-codex", "ft:",     "o3-mini"};

bool fg_flex_builtin(const char *model)
{
    if (!model)
        return false;
    for (size_t i = 0; i < sizeof excluded / sizeof excluded[0]; i++)
        if (strstr(model, excluded[i]))
            return false;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        size_t n = strlen(families[i]);
        if (!strncmp(model, families[i], n) &&
            (model[n] == '\0' || model[n] == '-' || model[n] == '.'))
            return true;
    }
    return false;
}

bool fg_flex_capable(const struct fg_model_cfg *m)
{
    if (m->dialect != FG_DIALECT_OPENAI || m->flex < 0)
        return false;
    return m->flex > 0 || fg_flex_builtin(m->model) || fg_flex_builtin(m->name);
}
