/* httpclient.h — a call's client (call/client.h) over a request of the
 * gateway's HTTP edge (edge.h).
 *
 * Contract (worker thread):
 *  - fg_httpclient_attach(c, r) makes r (handed to the edge's request
 *    hook) the client of the new call c (fg_call_new): its context lives in
 *    c's arena, and from then on every answer of the call goes to r
 *    through c->client.  The call owns r until it is released.
 *  - The edge tells it when the peer goes away (fg_edge_req_on_gone); it
 *    then calls fg_call_client_gone().  The edge never frees r under the
 *    call: r's head, body and arena stay valid until release.
 *  - The terminal edge call (fg_edge_reply_buf for send(), fg_edge_stream_end
 *    for end()) is made at release, because it frees r's body and arena,
 *    which the call borrows (c->raw) until fg_call_finish() is done with
 *    them.  A call released without an answer gets a 500 (or, peer gone,
 *    the terminal call that frees r).
 *  - fg_httpclient_req(c): the request behind a call with an HTTP client
 *    (readable until the call is released, whether or not its peer is
 *    still there), else NULL.  Answers go through c->client, never to it
 *    directly. */
#ifndef FRUGAL_HTTPCLIENT_H
#define FRUGAL_HTTPCLIENT_H

struct fg_call;
struct fg_edge_req;

void fg_httpclient_attach(struct fg_call *c, struct fg_edge_req *r);
struct fg_edge_req *fg_httpclient_req(const struct fg_call *c);

#endif
