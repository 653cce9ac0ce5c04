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
 *  - The batch executor calls the gateway over loopback on behalf of a
 *    batch's owner: it sends FG_AUTH_INTERNAL_HEADER with the process's
 *    secret (fg_auth_internal_secret) and FG_AUTH_OWNER_HEADER with the
 *    owner's key id; such a request is that owner, never admin unless the
 *    owner is; an owner that is a virtual key brings that key's allow-list,
 *    tags and limits (401 if it was revoked or expired since).  The secret
 *    is random per process and never logged.
 *  - key_id is what the ledger records (calls.key_id) and what files and
 *    batches store as their owner.  A principal lives on the stack or in a
 *    call's arena; nothing in it needs freeing. */
#ifndef FRUGAL_AUTH_H
#define FRUGAL_AUTH_H

#include <stdbool.h>

struct evhttp_request;
struct fg_worker;
struct fg_dialect_ops;
struct fg_vkey;

#define FG_AUTH_INTERNAL_HEADER "x-frugal-internal"
#define FG_AUTH_OWNER_HEADER "x-frugal-owner"

struct fg_principal {
    char key_id[48];      /* "master" | "anonymous" | a virtual key id */
    bool admin;           /* sees all owners' objects */
    bool internal;        /* a batch line run by the executor */
    struct fg_vkey *vkey; /* the virtual key (keyreg.h), or NULL */
};

/* 0 with *p filled, or -1 after replying 401. */
int fg_auth_request(struct fg_worker *w, struct evhttp_request *req, const struct fg_dialect_ops *d,
                    struct fg_principal *p);

/* Whether p may see an object owned by `owner`. */
bool fg_auth_principal_owns(const struct fg_principal *p, const char *owner);

/* The per-process secret for loopback calls (64 hex chars). */
const char *fg_auth_internal_secret(void);

/* Constant-time string equality (no early exit on the first difference). */
bool fg_auth_equal(const char *a, const char *b);

#endif
