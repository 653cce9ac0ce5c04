/* respmap.h — which provider and which key created each stored Response.
 *
 * Contract: a process-wide map (thread-safe: one mutex), in memory and
 * bounded: FG_RESPMAP_MAX entries, the oldest forgotten first.  The call
 * path records every Response a provider stores (relay.c); the
 * stored-response endpoints (responses_api.h) read it, and fall back on the
 * ledger's copy when an id is not here.  Ids are what the provider spelled:
 * up to FG_RESPMAP_ID_MAX characters of [A-Za-z0-9_-], others are refused.
 * The map is allocated on first use and freed by fg_respmap_reset(). */
#ifndef FRUGAL_RESPMAP_H
#define FRUGAL_RESPMAP_H

#include <stdbool.h>
#include <stddef.h>

#define FG_RESPMAP_MAX 65536
#define FG_RESPMAP_ID_MAX 96

/* Is this a well-formed response id (n bytes)? */
bool fg_respmap_id_ok(const char *id, size_t n);
/* Response `id` (n bytes) was created by key `owner` on provider
 * `provider_index`; false when the id is not well-formed. */
bool fg_respmap_remember(const char *id, size_t n, const char *owner, int provider_index);
/* The provider index of `id` with its owner copied to owner[on], or -1
 * when unknown. */
int fg_respmap_get(const char *id, char *owner, size_t on);
void fg_respmap_forget(const char *id);
/* Forget everything and free the map (shutdown, tests). */
void fg_respmap_reset(void);

#endif
