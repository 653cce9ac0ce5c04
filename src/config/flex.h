/* flex.h — which models OpenAI serves on its flex processing tier.
 *
 * Contract: a model fact, like its price (price.h).  Flex is OpenAI's
 * `service_tier: "flex"`: batch rates (the model's batch prices, 50% of
 * standard, cache reads halved as well), answered synchronously, possibly
 * refused for capacity (providers-2.md section 7).  A configured model's
 * `flex: true | false` decides; otherwise the built-in list below, by the
 * upstream model id (a dated snapshot counts as its family).  Only
 * OpenAI-dialect models can be flex.  Pure, any thread. */
#ifndef FRUGAL_FLEX_H
#define FRUGAL_FLEX_H

#include "config.h"

#include <stdbool.h>

/* The built-in list: o3, o4-mini and the GPT-5 era chat models (not the
 * -chat-latest aliases, -pro, search, audio or realtime variants). */
bool fg_flex_builtin(const char *model);
/* Does configured model m take service_tier "flex"? */
bool fg_flex_capable(const struct fg_model_cfg *m);

#endif
