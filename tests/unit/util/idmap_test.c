/* Tests for the id → pointer hash map, including deletion in long probe runs. */
#include "test.h"
#include "util/idmap.h"

#include <stdint.h>

TEST(idmap_put_get_remove)
{
    struct idmap m;
    idmap_init(&m);
    CHECK(idmap_get(&m, 1) == NULL);
    for (uintptr_t i = 1; i <= 10000; i++) CHECK_INT(idmap_put(&m, i, (void *)(i * 2)), 0);
    CHECK_INT(m.count, 10000);
    for (uintptr_t i = 1; i <= 10000; i++) CHECK(idmap_get(&m, i) == (void *)(i * 2));
    for (uintptr_t i = 1; i <= 10000; i += 2) CHECK(idmap_remove(&m, i) == (void *)(i * 2));
    CHECK_INT(m.count, 5000);
    for (uintptr_t i = 1; i <= 10000; i++)
        CHECK(idmap_get(&m, i) == ((i % 2) ? NULL : (void *)(i * 2)));
    CHECK(idmap_remove(&m, 3) == NULL);
    idmap_free(&m);
}

TEST(idmap_replace_keeps_count)
{
    struct idmap m;
    idmap_init(&m);
    CHECK_INT(idmap_put(&m, 42, (void *)1), 0);
    CHECK_INT(idmap_put(&m, 42, (void *)2), 0);
    CHECK_INT(m.count, 1);
    CHECK(idmap_get(&m, 42) == (void *)2);
    idmap_free(&m);
}

TEST(idmap_random_churn_matches_reference)
{
    enum { N = 512 };
    void *reference[N] = {0};
    struct idmap m;
    idmap_init(&m);
    uint64_t seed = 12345;
    for (int step = 0; step < 200000; step++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t key = (seed >> 33) % N + 1;
        if ((seed >> 20) & 1) {
            CHECK_INT(idmap_put(&m, key, (void *)(uintptr_t)step), 0);
            reference[key - 1] = (void *)(uintptr_t)step;
        } else {
            CHECK(idmap_remove(&m, key) == reference[key - 1]);
            reference[key - 1] = NULL;
        }
    }
    for (uint64_t k = 1; k <= N; k++) CHECK(idmap_get(&m, k) == reference[k - 1]);
    idmap_free(&m);
}
