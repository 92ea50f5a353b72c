/* Tests for the sliding-window send limit. */
#include "test.h"
#include "chat/rate_limit.h"

TEST(rate_limit_allows_n_per_window_then_refuses)
{
    struct rate_limit *rl = rate_limit_new(3, 1000);
    int64_t retry = 0;
    CHECK(rate_limit_acquire(rl, 7, 100, &retry));
    CHECK(rate_limit_acquire(rl, 7, 200, &retry));
    CHECK(rate_limit_acquire(rl, 7, 300, &retry));
    CHECK(!rate_limit_acquire(rl, 7, 400, &retry));
    CHECK_INT(retry, 700);                          /* the send at 100 leaves the window at 1100 */
    CHECK(rate_limit_acquire(rl, 8, 400, &retry));  /* other users are separate */
    CHECK(rate_limit_acquire(rl, 7, 1100, &retry)); /* sliding, not fixed */
    CHECK(!rate_limit_acquire(rl, 7, 1150, &retry));
    rate_limit_free(rl);
}

TEST(rate_limit_release_gives_the_slot_back)
{
    struct rate_limit *rl = rate_limit_new(2, 1000);
    int64_t retry = 0;
    CHECK(rate_limit_acquire(rl, 1, 10, &retry));
    CHECK(rate_limit_acquire(rl, 1, 20, &retry));
    CHECK(!rate_limit_acquire(rl, 1, 30, &retry));
    rate_limit_release(rl, 1, 20);
    CHECK(rate_limit_acquire(rl, 1, 40, &retry));
    CHECK(!rate_limit_acquire(rl, 1, 50, &retry));
    CHECK_INT(retry, 960);
    rate_limit_free(rl);
}

TEST(rate_limit_sweeps_idle_users)
{
    struct rate_limit *rl = rate_limit_new(1, 100);
    int64_t retry = 0;
    for (int64_t user = 1; user <= 200000; user++)
        CHECK(rate_limit_acquire(rl, user, user, &retry));
    CHECK(!rate_limit_acquire(rl, 200000, 200000, &retry));
    rate_limit_free(rl);
}

TEST(rate_limit_ring_grows_with_use)
{
    struct rate_limit *rl = rate_limit_new(100, 1000);
    int64_t retry = 0;
    for (int64_t t = 0; t < 100; t++) CHECK(rate_limit_acquire(rl, 5, t, &retry));
    CHECK(!rate_limit_acquire(rl, 5, 100, &retry));
    CHECK_INT(retry, 900);
    rate_limit_release(rl, 5, 50);
    CHECK(rate_limit_acquire(rl, 5, 101, &retry));
    CHECK(!rate_limit_acquire(rl, 5, 102, &retry));
    CHECK(rate_limit_acquire(rl, 5, 1000, &retry)); /* the send at 0 has left */
    rate_limit_free(rl);
}
