/* The process-wide map from a user to the loops holding that user's
 * connections. Sharded by user id, each shard under its own mutex held for a
 * few instructions, so there is no global lock on the deliver path. Each
 * loop keeps its own lock-free map from user to connections (loop.h); this
 * registry only says which loops to hand an event to. */
#ifndef CHATD_NET_REGISTRY_H
#define CHATD_NET_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

struct registry;

/* A registry for `loops` loops (at most 64). NULL when out of memory. */
struct registry *registry_new(int loops);
void registry_free(struct registry *r);

/* Counts a new authenticated connection of user_id on loop. Returns 0 (and
 * *first tells whether the user had no connection before), CHAT_E_TOO_MANY_SESSIONS
 * when the user already holds max_per_user connections, or CHAT_E_NOMEM. */
int registry_add(struct registry *r, int64_t user_id, int loop, int max_per_user, bool *first);

/* Forgets one connection of user_id on loop; true when it was the last. */
bool registry_remove(struct registry *r, int64_t user_id, int loop);

/* The loops (bit i = loop i) that hold at least one connection of user_id. */
uint64_t registry_loops(struct registry *r, int64_t user_id);

#endif
