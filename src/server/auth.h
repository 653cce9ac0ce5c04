/* auth.h — who is calling: the principal behind a request.
 *
 * Contract:
 *  - fg_auth_request() reads the client key (Authorization: Bearer KEY, or
 *    x-api-key: KEY) and fills a struct fg_principal, or replies 401 in
 *    the caller's dialect and returns -1.
 *  - Without a master key configured the gateway is single-tenant: every
 *    caller is "anonymous" and admin, and virtual keys are not consulted.
 *  - The master key is principal "master", admin: it sees every owner's
 *    files, batches and spend.
 *  - A virtual key (keys.h, "fk-…", looked up by hash in keyreg.h) is
 *    principal <its key id>, not admin, with `vkey` pointing at its
 *    registry entry (allow-list, tags, budget, rate limits; valid for the
 *    process's life).  A wrong, revoked or expired key gets 401 naming
 *    which (codes invalid_api_key, key_revoked, key_expired).
 *  - fg_auth_owner() is the principal of a batch's owner, for the lines
 *    the batch executor runs in-process (batch_client.h; no HTTP, no
 *    credentials): that owner, never admin unless the owner is; an owner
 *    that is a virtual key brings that key's allow-list, tags and limits
 *    (-1 with the 401 in e if it was revoked or expired since).  No header
 *    makes an HTTP request act for another owner.
 *  - key_id is what the ledger records (calls.key_id) and what files and
 *    batches store as their owner.  A principal lives on the stack or in a
 *    call's arena; nothing in it needs freeing. */
#ifndef FRUGAL_AUTH_H
#define FRUGAL_AUTH_H

#include <stdbool.h>

struct fg_edge_req;
struct fg_worker;
struct fg_dialect_ops;
struct fg_vkey;

struct fg_principal {
    char key_id[48];      /* "master" | "anonymous" | a virtual key id */
    bool admin;           /* sees all owners' objects */
    struct fg_vkey *vkey; /* the virtual key (keyreg.h), or NULL */
};

/* 0 with *p filled, or -1 after replying 401. */
int fg_auth_request(struct fg_worker *w, struct fg_edge_req *req, const struct fg_dialect_ops *d,
                    struct fg_principal *p);

struct fg_err;
/* 0 with *p filled, or -1 with e set (see above). */
int fg_auth_owner(const char *owner, struct fg_principal *p, struct fg_err *e);

/* Whether p may see an object owned by `owner`. */
bool fg_auth_principal_owns(const struct fg_principal *p, const char *owner);

/* Constant-time string equality (no early exit on the first difference). */
bool fg_auth_equal(const char *a, const char *b);

#endif
