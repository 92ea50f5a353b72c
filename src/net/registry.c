/* Sharded user → loops registry: see registry.h. */
#include "net/registry.h"

#include "util/error.h"
#include "util/idmap.h"

#include <pthread.h>
#include <stdlib.h>

#define REGISTRY_SHARDS 64

struct registry_entry {
    int total;
    uint64_t loop_mask;
    uint16_t per_loop[]; /* connections of this user on each loop */
};

struct registry_shard {
    pthread_mutex_t lock;
    struct idmap users; /* user id → struct registry_entry */
} __attribute__((aligned(64)));

struct registry {
    int loops;
    struct registry_shard shards[REGISTRY_SHARDS];
};

static struct registry_shard *shard_of(struct registry *r, int64_t user_id)
{
    return &r->shards[(uint64_t)user_id % REGISTRY_SHARDS];
}

struct registry *registry_new(int loops)
{
    if (loops < 1 || loops > 64) return NULL;
    struct registry *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->loops = loops;
    for (int i = 0; i < REGISTRY_SHARDS; i++) {
        pthread_mutex_init(&r->shards[i].lock, NULL);
        idmap_init(&r->shards[i].users);
    }
    return r;
}

void registry_free(struct registry *r)
{
    if (!r) return;
    for (int i = 0; i < REGISTRY_SHARDS; i++) {
        struct idmap *m = &r->shards[i].users;
        for (size_t s = 0; m->slots && s <= m->mask; s++) free(m->slots[s].value);
        idmap_free(m);
        pthread_mutex_destroy(&r->shards[i].lock);
    }
    free(r);
}

int registry_add(struct registry *r, int64_t user_id, int loop, int max_per_user, bool *first)
{
    struct registry_shard *shard = shard_of(r, user_id);
    int err = 0;
    pthread_mutex_lock(&shard->lock);
    struct registry_entry *e = idmap_get(&shard->users, (uint64_t)user_id);
    if (!e) {
        e = calloc(1, sizeof *e + sizeof e->per_loop[0] * (size_t)r->loops);
        if (!e || idmap_put(&shard->users, (uint64_t)user_id, e) != 0) {
            free(e);
            err = CHAT_E_NOMEM;
            goto out;
        }
    }
    if (e->total >= max_per_user) {
        err = CHAT_E_TOO_MANY_SESSIONS;
        goto out;
    }
    *first = e->total == 0;
    e->total++;
    e->per_loop[loop]++;
    e->loop_mask |= 1ULL << loop;
out:
    pthread_mutex_unlock(&shard->lock);
    return err;
}

bool registry_remove(struct registry *r, int64_t user_id, int loop)
{
    struct registry_shard *shard = shard_of(r, user_id);
    bool last = false;
    pthread_mutex_lock(&shard->lock);
    struct registry_entry *e = idmap_get(&shard->users, (uint64_t)user_id);
    if (e && e->per_loop[loop] > 0) {
        e->total--;
        if (--e->per_loop[loop] == 0) e->loop_mask &= ~(1ULL << loop);
        if (e->total == 0) {
            idmap_remove(&shard->users, (uint64_t)user_id);
            free(e);
            last = true;
        }
    }
    pthread_mutex_unlock(&shard->lock);
    return last;
}

uint64_t registry_loops(struct registry *r, int64_t user_id)
{
    struct registry_shard *shard = shard_of(r, user_id);
    pthread_mutex_lock(&shard->lock);
    struct registry_entry *e = idmap_get(&shard->users, (uint64_t)user_id);
    uint64_t mask = e ? e->loop_mask : 0;
    pthread_mutex_unlock(&shard->lock);
    return mask;
}
