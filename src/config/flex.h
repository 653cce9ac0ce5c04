/* flex.h — which models OpenAI serves on its flex processing tier.
 *
 * Contract: a model fact, like its price: the built-in price row's `flex`
 * field (data/prices.json → price_table.c, price.h).  Flex is OpenAI's
 * `service_tier: "flex"`: batch rates (the model's batch prices, 50% of
 * standard, cache reads halved as well), answered synchronously, possibly
 * refused for capacity (providers-2.md section 7).  A configured model's
 * `flex: true | false` decides; otherwise its price row (looked up by
 * upstream id, then name; a dated snapshot counts as its undated row).
 * A model with no price row is not flex unless configured so.  Only
 * OpenAI-dialect models can be flex.  Pure, any thread. */
#ifndef FRUGAL_FLEX_H
#define FRUGAL_FLEX_H

#include "config.h"

#include <stdbool.h>

/* Does the built-in price row of this model id say flex? */
bool fg_flex_builtin(const char *model);
/* Does configured model m take service_tier "flex"? */
bool fg_flex_capable(const struct fg_model_cfg *m);

#endif
