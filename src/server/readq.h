/* readq.h — the spend map (GET /frugal/spend) read off the worker loops,
 * for a server storage (postgres://), where a query is a network round
 * trip that must never block a loop.
 *
 * Contract:
 *  - fg_readq_start() starts one reader thread with its own store and key
 *    store handles when the storage is not SQLite (an embedded WAL read is
 *    microseconds: those stay on the loop, api.c); fg_readq_active() says
 *    whether it runs.
 *  - fg_readq_spend() is called on worker w's loop with a request it owns
 *    and validated options (o->key_id is copied): the job counts as in
 *    flight on w (w->inflight), so a drain waits for its answer.  The
 *    reader runs the report and posts the reply back to w's loop
 *    (event_base_once), which sends it (200 with the map, or 500
 *    storage_error) and ends the job there.
 *  - fg_readq_stop() is called after the worker threads are joined and
 *    before their bases are freed (server.c fg_server_join): it stops the
 *    reader and frees the jobs whose reply never ran (a grace period cut
 *    them; their requests die with the edge).
 *  - Ownership: a job is malloc'd by fg_readq_spend and freed by its reply
 *    or by fg_readq_stop; the JSON map belongs to the job. */
#ifndef FRUGAL_READQ_H
#define FRUGAL_READQ_H

#include "provider.h"
#include "report.h"
#include "runtime.h"

#include <stdbool.h>

struct fg_edge_req;

int fg_readq_start(const struct fg_config *cfg, char *err, size_t errlen);
bool fg_readq_active(void);
void fg_readq_spend(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                    const struct fg_report_opts *o);
void fg_readq_stop(void);

#endif
