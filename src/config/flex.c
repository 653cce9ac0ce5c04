/* flex.c — see flex.h. */
#include "flex.h"

#include "price.h"

bool fg_flex_builtin(const char *model)
{
    if (!model)
        return false;
    const struct fg_builtin_price *b = fg_price_lookup(model);
    return b && b->flex && b->provider == FG_DIALECT_OPENAI;
}

bool fg_flex_capable(const struct fg_model_cfg *m)
{
    if (m->dialect != FG_DIALECT_OPENAI || m->flex < 0)
        return false;
    return m->flex > 0 || fg_flex_builtin(m->model) || fg_flex_builtin(m->name);
}
