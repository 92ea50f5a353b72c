/* A 64-bit integer mixer (splitmix64's finalizer): spreads consecutive ids
 * and addresses over a whole hash table. Not keyed; add a secret to the input
 * where an attacker chooses the keys. */
#ifndef CHATD_UTIL_HASH_H
#define CHATD_UTIL_HASH_H

#include <stdint.h>

static inline uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
