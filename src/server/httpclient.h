/* httpclient.h — a call's client (call/client.h) over an HTTP request of
 * the edge (today libevent's evhttp).
 *
 * Contract (worker thread):
 *  - fg_httpclient_attach(c, req) makes req the client of the new call c
 *    (fg_call_new): its context lives in c's arena, and from then on every
 *    answer of the call goes to req through c->client.
 *  - It watches the connection: when the peer goes away (the connection
 *    closed or failed; for calls that outlive CLOSE_WATCH_DELAY_MS, an
 *    EV_CLOSED watcher notices a hang-up at once, since evhttp does not
 *    read while a request is handled) it calls fg_call_client_gone().
 *  - When the connection failed on its own, libevent leaves the unfinished
 *    request to us: it is kept (the call's body lives in it) and freed
 *    when the call is released.
 *  - fg_httpclient_req(c): the request behind a call with an HTTP client
 *    whose peer is still there, else NULL (for server/ code only). */
#ifndef FRUGAL_HTTPCLIENT_H
#define FRUGAL_HTTPCLIENT_H

struct fg_call;
struct evhttp_request;

void fg_httpclient_attach(struct fg_call *c, struct evhttp_request *req);
struct evhttp_request *fg_httpclient_req(const struct fg_call *c);

#endif
