/* keys_api.h — the admin HTTP API for virtual keys, master key only.
 *
 * Contract (worker thread): fg_keys_api_handle() answers every path under
 * /frugal/keys for an authenticated principal:
 *    POST   /frugal/keys               create; JSON body {name, budget
 *                                       ("25/month" or a USD number = per
 *                                       month), rpm, tpm, models (array or
 *                                       "a,b"), tags (object or "k=v,k=v"),
 *                                       expires}; 201 with the key's JSON
 *                                       and its secret in "key" (shown once)
 *    GET    /frugal/keys               {"object":"list","data":[key…]}
 *    GET    /frugal/keys/{id}          one key with its live usage
 *    POST   /frugal/keys/{id}/revoke   revoke (idempotent); the key's JSON
 *    DELETE /frugal/keys/{id}          the same
 * A principal that is not admin (a virtual key) gets 403, errors come in
 * the caller's dialect; secrets and hashes never appear in a listing.
 * Writes go through the key registry (keyreg.h), which stores them. */
#ifndef FRUGAL_KEYS_API_H
#define FRUGAL_KEYS_API_H

struct fg_worker;
struct fg_edge_req;
struct fg_dialect_ops;
struct fg_principal;

void fg_keys_api_handle(struct fg_worker *w, struct fg_edge_req *req,
                        const struct fg_dialect_ops *d, const struct fg_principal *p,
                        const char *path);

#endif
