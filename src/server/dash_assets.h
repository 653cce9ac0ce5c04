/* dash_assets.h — the spend dashboard's files, embedded in the binary.
 *
 * Contract: the table is generated at build time by scripts/embed-ui.sh from
 * ui/ (the page, its script and style) and the charting library installed
 * from npm into ui/node_modules (pinned in ui/package-lock.json, never
 * committed): build/gen/dash_assets.c.  Read-only, process lifetime. */
#ifndef FRUGAL_DASH_ASSETS_H
#define FRUGAL_DASH_ASSETS_H

#include <stddef.h>

struct fg_dash_asset {
    const char *name; /* "index.html", "app.js", "uPlot.min.js"… */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

extern const struct fg_dash_asset fg_dash_assets[];
extern const size_t fg_dash_assets_count;

#endif
