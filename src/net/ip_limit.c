/* Per-address connection counting: see ip_limit.h. */
#include "net/ip_limit.h"

#include "crypto/random.h"
#include "util/hash.h"
#include "util/idmap.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define IP_LIMIT_SHARDS 16

struct ip_limit_shard {
    pthread_mutex_t lock;
    struct idmap counts; /* key → count, stored in the pointer */
} __attribute__((aligned(64)));

struct ip_limit {
    uint64_t hash_key[2];
    struct ip_limit_shard shards[IP_LIMIT_SHARDS];
};

struct ip_limit *ip_limit_new(void)
{
    struct ip_limit *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    random_bytes(l->hash_key, sizeof l->hash_key);
    for (int i = 0; i < IP_LIMIT_SHARDS; i++) {
        pthread_mutex_init(&l->shards[i].lock, NULL);
        idmap_init(&l->shards[i].counts);
    }
    return l;
}

void ip_limit_free(struct ip_limit *l)
{
    if (!l) return;
    for (int i = 0; i < IP_LIMIT_SHARDS; i++) {
        idmap_free(&l->shards[i].counts);
        pthread_mutex_destroy(&l->shards[i].lock);
    }
    free(l);
}

uint64_t ip_limit_key(const struct ip_limit *l, const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
        return (uint64_t)ntohl(v4->sin_addr.s_addr) | (1ULL << 40);
    }
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
    uint64_t halves[2];
    memcpy(halves, &v6->sin6_addr, sizeof halves);
    uint64_t h = hash_u64(halves[0] ^ l->hash_key[0]);
    h = hash_u64(h ^ halves[1] ^ l->hash_key[1]);
    return h | (1ULL << 63);
}

static struct ip_limit_shard *shard_of(struct ip_limit *l, uint64_t key)
{
    return &l->shards[hash_u64(key) % IP_LIMIT_SHARDS];
}

bool ip_limit_acquire(struct ip_limit *l, uint64_t key, int max)
{
    struct ip_limit_shard *shard = shard_of(l, key);
    pthread_mutex_lock(&shard->lock);
    uintptr_t count = (uintptr_t)idmap_get(&shard->counts, key);
    bool taken = (int)count < max && idmap_put(&shard->counts, key, (void *)(count + 1)) == 0;
    pthread_mutex_unlock(&shard->lock);
    return taken;
}

void ip_limit_release(struct ip_limit *l, uint64_t key)
{
    struct ip_limit_shard *shard = shard_of(l, key);
    pthread_mutex_lock(&shard->lock);
    uintptr_t count = (uintptr_t)idmap_get(&shard->counts, key);
    if (count <= 1)
        idmap_remove(&shard->counts, key);
    else
        idmap_put(&shard->counts, key, (void *)(count - 1));
    pthread_mutex_unlock(&shard->lock);
}
