/* respmap.h — the in-memory cache of stored Responses' state.
 *
 * Contract: a process-wide map (thread-safe: one mutex), in memory and
 * bounded: FG_RESPMAP_MAX entries, the oldest forgotten first, and at most
 * FG_RESPMAP_DATA_MAX bytes of replay data (the oldest entries' data is
 * dropped first, their ids kept).  It caches what the store's `responses`
 * table holds (respstate.h): the store is the source of truth (another
 * replica may have written a row this one never saw); this cache spares
 * the hot path a store read and covers the ledger's write delay (a row is
 * in the store some tens of ms after its answer).  Ids: up to
 * FG_RESPMAP_ID_MAX characters of [A-Za-z0-9_-], others are refused.  The
 * map is allocated on first use and freed by fg_respmap_reset(). */
#ifndef FRUGAL_RESPMAP_H
#define FRUGAL_RESPMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_RESPMAP_MAX 32768
#define FG_RESPMAP_ID_MAX 96
#define FG_RESPMAP_DATA_MAX (64u << 20)

/* One stored Response as the call path knows it. */
struct fg_respmap_entry {
    char id[FG_RESPMAP_ID_MAX + 1];       /* frugal's id (the client's) */
    char owner[48];                       /* key id that created it */
    char upstream[FG_RESPMAP_ID_MAX + 1]; /* the provider's id, "" when none */
    char prev[FG_RESPMAP_ID_MAX + 1];     /* the response it continues, "" */
    int provider_index;                   /* the provider account holding `upstream` */
    int64_t expires_ms;                   /* unix ms, 0 = never */
    bool deleted;                         /* a tombstone (fg_respmap_forget) */
    int64_t vouched_ms; /* monotonic ms this process made it or last read it from the store */
    char *data;         /* replay JSON (respstate.h), or NULL */
    size_t data_len;
};

/* Is this a well-formed response id (n bytes)? */
bool fg_respmap_id_ok(const char *id, size_t n);
/* Remember e (its data is copied); false when its id is not well-formed. */
bool fg_respmap_put(const struct fg_respmap_entry *e);
/* Copy the entry of `id` into out; with want_data, out->data is a malloc'd
 * copy for the caller to free (NULL when not kept), else NULL (data_len
 * still says how much is kept).  False when unknown. */
bool fg_respmap_get(const char *id, struct fg_respmap_entry *out, bool want_data);
/* `id` was deleted: a tombstone stays (get answers it with .deleted), so
 * that a store row whose delete is still queued is not read back. */
void fg_respmap_forget(const char *id);
/* The store confirmed `id` at monotonic ms `now` (its vouched_ms). */
void fg_respmap_vouch(const char *id, int64_t now);
/* Forget everything and free the map (shutdown, tests). */
void fg_respmap_reset(void);

#endif
