/* A hash map from 64-bit ids (never 0) to pointers: open addressing with
 * linear probing and backward-shift deletion, so lookups touch one or two
 * cache lines and deletions leave no tombstones. Not thread-safe: each user
 * owns its map (a loop, or a registry shard under its lock). */
#ifndef CHATD_UTIL_IDMAP_H
#define CHATD_UTIL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
    uint64_t key; /* 0: empty */
    void *value;
};

struct idmap {
    struct idmap_slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
};

void idmap_init(struct idmap *m);
void idmap_free(struct idmap *m); /* frees the table, not the values */

void *idmap_get(const struct idmap *m, uint64_t key);

/* Sets key → value (replacing any old value). 0 or CHAT_E_NOMEM. */
int idmap_put(struct idmap *m, uint64_t key, void *value);

/* Removes key; returns its value or NULL when absent. */
void *idmap_remove(struct idmap *m, uint64_t key);

#endif
