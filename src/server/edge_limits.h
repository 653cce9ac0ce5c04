/* edge_limits.h — connection counts shared by the edges (edge.h) of one
 * process: all connections together and per client address.
 *
 * Contract: fg_edge_limits_new(max, per_ip) (per_ip 0 = no cap); thread-safe
 * (the total is an atomic, the address table is under a mutex).
 * fg_edge_limits_take() books one connection of address ip (16 bytes,
 * IPv4 mapped into IPv6) and returns 0, or 1 when the total is at max, 2
 * when ip is at per_ip (nothing booked).  fg_edge_limits_put() gives one
 * back.  Free after every edge using it. */
#ifndef FRUGAL_EDGE_LIMITS_H
#define FRUGAL_EDGE_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

struct fg_edge_limits;

struct fg_edge_limits *fg_edge_limits_new(int max, int per_ip);
void fg_edge_limits_free(struct fg_edge_limits *l);
int fg_edge_limits_take(struct fg_edge_limits *l, const uint8_t ip[16]);
void fg_edge_limits_put(struct fg_edge_limits *l, const uint8_t ip[16]);
int fg_edge_limits_count(struct fg_edge_limits *l);
/* Over 3/4 of max open (never with max 0 = no cap). */
bool fg_edge_limits_busy(struct fg_edge_limits *l);

#endif
