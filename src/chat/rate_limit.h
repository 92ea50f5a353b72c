/* The send rate limit (protocol §7): at most N sends per sliding window per
 * user, shared by all of the user's connections on every loop. Sharded by
 * user, each shard under a short mutex. A send takes its slot before it goes
 * to the store and gives it back when it turns out not to count (an error, or
 * a duplicate clientMessageId). */
#ifndef CHATD_CHAT_RATE_LIMIT_H
#define CHATD_CHAT_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct rate_limit;

struct rate_limit *rate_limit_new(int messages, int64_t window_ms);
void rate_limit_free(struct rate_limit *rl);

/* Takes a slot for user_id at now_ms (monotonic). True when allowed; false
 * when the window is full, with *retry_after_ms set to when a slot frees. */
bool rate_limit_acquire(struct rate_limit *rl, int64_t user_id, int64_t now_ms,
                        int64_t *retry_after_ms);

/* Gives back the slot taken at taken_ms by rate_limit_acquire. */
void rate_limit_release(struct rate_limit *rl, int64_t user_id, int64_t taken_ms);

#endif
