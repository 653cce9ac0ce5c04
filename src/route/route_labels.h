/* route_labels.h — a route's labels from a file, scored by its classifier,
 * as fg_optpoint labels.
 *
 * Contract: a label file is JSON lines; each line has the call's text as
 * "prompt" (scored with the route's weights, one user turn) or an already
 * computed "score", and the label as "cheap_ok" (true: the cheap answer was
 * no worse than the frontier's) or, for the routing data set's rows,
 * "weak_suffices".  Blank lines are skipped; any other line is an error
 * "<path>:<line>: <what is missing>".  The file is one label source among
 * others: the result is a plain malloc'd array that fg_optpoint_pick takes,
 * whatever produced it. */
#ifndef FRUGAL_ROUTE_LABELS_H
#define FRUGAL_ROUTE_LABELS_H

#include "optpoint.h"
#include "router.h"

#include <stddef.h>

/* Load path; r may be NULL when every line carries "score".  On success
 * *out (free()) holds *n labels and 0 is returned; -1 with err set. */
int fg_route_labels_load(const char *path, const struct fg_router *r,
                         struct fg_optpoint_label **out, size_t *n, char *err, size_t errlen);

#endif
