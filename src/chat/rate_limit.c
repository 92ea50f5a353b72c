/* Sliding-window send limits: see rate_limit.h. Each user with recent sends
 * has a ring of the times of its last N sends; a send is allowed when the
 * oldest of them has left the window. Users idle for a whole window are
 * swept out as their shard grows. */
#include "chat/rate_limit.h"

#include "util/idmap.h"

#include <pthread.h>
#include <stdlib.h>

#define RATE_SHARDS 64
#define RATE_SWEEP_EVERY 1024 /* new users per shard between sweeps */

/* The ring grows with the sends actually inside the window (up to the
 * limit), so a generous limit costs memory only to users who use it. */
struct rate_window {
    int64_t last_ms; /* the newest send, for sweeping */
    int count;       /* sends in the ring */
    int head;        /* index of the oldest */
    int capacity;
    int64_t *sent_ms;
};

struct rate_shard {
    pthread_mutex_t lock;
    struct idmap users;
    int added_since_sweep;
} __attribute__((aligned(64)));

struct rate_limit {
    int messages;
    int64_t window_ms;
    struct rate_shard shards[RATE_SHARDS];
};

struct rate_limit *rate_limit_new(int messages, int64_t window_ms)
{
    struct rate_limit *rl = calloc(1, sizeof *rl);
    if (!rl) return NULL;
    rl->messages = messages;
    rl->window_ms = window_ms;
    for (int i = 0; i < RATE_SHARDS; i++) {
        pthread_mutex_init(&rl->shards[i].lock, NULL);
        idmap_init(&rl->shards[i].users);
    }
    return rl;
}

static void window_free(struct rate_window *w)
{
    if (!w) return;
    free(w->sent_ms);
    free(w);
}

static void shard_clear(struct rate_shard *shard)
{
    struct idmap *m = &shard->users;
    for (size_t i = 0; m->slots && i <= m->mask; i++) window_free(m->slots[i].value);
    idmap_free(m);
}

void rate_limit_free(struct rate_limit *rl)
{
    if (!rl) return;
    for (int i = 0; i < RATE_SHARDS; i++) {
        shard_clear(&rl->shards[i]);
        pthread_mutex_destroy(&rl->shards[i].lock);
    }
    free(rl);
}

/* Drops the sends that have left the window. */
static void window_expire(struct rate_limit *rl, struct rate_window *w, int64_t now_ms)
{
    while (w->count > 0 && w->sent_ms[w->head] <= now_ms - rl->window_ms) {
        w->head = (w->head + 1) % w->capacity;
        w->count--;
    }
}

/* Removes users with no send inside the window. O(shard size), run rarely. */
static void shard_sweep(struct rate_limit *rl, struct rate_shard *shard, int64_t now_ms)
{
    struct idmap *m = &shard->users;
    for (size_t i = 0; m->slots && i <= m->mask;) {
        struct rate_window *w = m->slots[i].value;
        if (m->slots[i].key && w->last_ms <= now_ms - rl->window_ms) {
            idmap_remove(m, m->slots[i].key); /* shifts a later entry into slot i */
            window_free(w);
            continue;
        }
        i++;
    }
    shard->added_since_sweep = 0;
}

static struct rate_window *window_of(struct rate_limit *rl, struct rate_shard *shard,
                                     int64_t user_id, int64_t now_ms)
{
    struct rate_window *w = idmap_get(&shard->users, (uint64_t)user_id);
    if (w) return w;
    if (++shard->added_since_sweep >= RATE_SWEEP_EVERY) shard_sweep(rl, shard, now_ms);
    w = calloc(1, sizeof *w);
    if (w && idmap_put(&shard->users, (uint64_t)user_id, w) != 0) {
        free(w);
        w = NULL;
    }
    return w;
}

/* Makes room for one more send: doubles the ring, oldest first. */
static bool window_grow(struct rate_window *w, int limit)
{
    if (w->count < w->capacity) return true;
    int capacity = w->capacity ? w->capacity * 2 : 4;
    if (capacity > limit) capacity = limit;
    int64_t *ring = malloc(sizeof *ring * (size_t)capacity);
    if (!ring) return false;
    for (int i = 0; i < w->count; i++) ring[i] = w->sent_ms[(w->head + i) % w->capacity];
    free(w->sent_ms);
    w->sent_ms = ring;
    w->capacity = capacity;
    w->head = 0;
    return true;
}

bool rate_limit_acquire(struct rate_limit *rl, int64_t user_id, int64_t now_ms,
                        int64_t *retry_after_ms)
{
    struct rate_shard *shard = &rl->shards[(uint64_t)user_id % RATE_SHARDS];
    bool allowed = false;
    pthread_mutex_lock(&shard->lock);
    struct rate_window *w = window_of(rl, shard, user_id, now_ms);
    if (!w) goto out; /* out of memory: refuse rather than go unlimited */
    window_expire(rl, w, now_ms);
    if (w->count < rl->messages) {
        if (!window_grow(w, rl->messages)) {
            w = NULL; /* out of memory: refuse rather than go unlimited */
            goto out;
        }
        w->sent_ms[(w->head + w->count) % w->capacity] = now_ms;
        w->count++;
        w->last_ms = now_ms;
        allowed = true;
    } else {
        *retry_after_ms = w->sent_ms[w->head] + rl->window_ms - now_ms;
    }
out:
    pthread_mutex_unlock(&shard->lock);
    if (!allowed && !w) *retry_after_ms = 1000;
    return allowed;
}

void rate_limit_release(struct rate_limit *rl, int64_t user_id, int64_t taken_ms)
{
    struct rate_shard *shard = &rl->shards[(uint64_t)user_id % RATE_SHARDS];
    pthread_mutex_lock(&shard->lock);
    struct rate_window *w = idmap_get(&shard->users, (uint64_t)user_id);
    if (w && w->count > 0) {
        /* Remove the newest entry with that time, shifting newer ones down. */
        for (int i = w->count - 1; i >= 0; i--) {
            int at = (w->head + i) % w->capacity;
            if (w->sent_ms[at] != taken_ms) continue;
            for (int j = i; j < w->count - 1; j++)
                w->sent_ms[(w->head + j) % w->capacity] =
                    w->sent_ms[(w->head + j + 1) % w->capacity];
            w->count--;
            break;
        }
    }
    pthread_mutex_unlock(&shard->lock);
}
