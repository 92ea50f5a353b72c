/* Counts open WebSocket connections per client address for
 * MAX_CONNECTIONS_PER_IP. Sharded like the registry; touched only when a
 * connection upgrades or closes, never per message. */
#ifndef CHATD_NET_IP_LIMIT_H
#define CHATD_NET_IP_LIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ip_limit;

struct ip_limit *ip_limit_new(void);
void ip_limit_free(struct ip_limit *l);

/* A 64-bit key for the peer address (never 0): the IPv4 address itself, or a
 * keyed hash of an IPv6 address (the key is random per process, so nobody
 * can craft two addresses that share a counter). */
uint64_t ip_limit_key(const struct ip_limit *l, const struct sockaddr_storage *addr);

/* Takes a slot for key unless it already holds max; true when taken. */
bool ip_limit_acquire(struct ip_limit *l, uint64_t key, int max);

/* Gives back a slot taken by ip_limit_acquire. */
void ip_limit_release(struct ip_limit *l, uint64_t key);

#endif
