/* reload_diff.h — what a reloaded config changes, for the reload's log
 * line and reply (reload.h).
 *
 * Contract: fg_reload_diff_changes() compares the running config (cur)
 * with the new one by name: models, providers and routes added, removed or
 * changed, models whose effective price changed (config over the built-in
 * table, price_schedule included), and the per-call settings sections that
 * changed; it fills out (a JSON object it adds arrays to) and appends the
 * one-line summary to sum.  fg_reload_diff_restart() lists, against the
 * config the process started with (boot), the settings that only a restart
 * applies and that differ (out["restart_needed"]: [{key, running, message}],
 * never a secret's value), appending to sum too; it returns how many. */
#ifndef FRUGAL_RELOAD_DIFF_H
#define FRUGAL_RELOAD_DIFF_H

#include "config.h"

#include <jansson.h>
#include <stddef.h>

void fg_reload_diff_changes(const struct fg_config *cur, const struct fg_config *next, json_t *out,
                            char *sum, size_t n);
int fg_reload_diff_restart(const struct fg_config *boot, const struct fg_config *next, json_t *out,
                           char *sum, size_t n);

#endif
