/* Tests for random bytes and version-4 UUIDs: shape, version and variant
 * bits, that two draws differ, and that draws larger than the per-thread
 * buffer or straddling its refills are filled completely. */
#include "test.h"

#include "crypto/random.h"

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

TEST(random_bytes_fills_the_buffer)
{
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
    CHECK_INT(random_bytes(a, sizeof a), 0);
    CHECK_INT(random_bytes(b, sizeof b), 0);
    /* 2^-256 odds of a false failure. */
    CHECK(memcmp(a, zero, sizeof a) != 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

TEST(random_bytes_accepts_zero_length)
{
    CHECK_INT(random_bytes(NULL, 0), 0);
}

/* Whether some 8-byte run of buf[0..n) is zero: 2^-64 odds per run for
 * random bytes, certain for a part left unwritten. */
static bool has_zero_run(const uint8_t *buf, size_t n)
{
    static const uint8_t zero[8] = {0};
    for (size_t i = 0; i + sizeof zero <= n; i += sizeof zero)
        if (memcmp(buf + i, zero, sizeof zero) == 0) return true;
    return false;
}

TEST(random_bytes_fills_requests_larger_than_the_buffer)
{
    static uint8_t big[100000];
    CHECK_INT(random_bytes(big, sizeof big), 0);
    CHECK(!has_zero_run(big, sizeof big));
}

/* 12-byte draws, as nonces are drawn, across several refills of the 512-byte
 * buffer: each one whole, and no two alike. */
TEST(small_draws_straddle_refills)
{
    uint8_t draws[200][12] = {{0}};
    for (size_t i = 0; i < 200; i++) {
        CHECK_INT(random_bytes(draws[i], sizeof draws[i]), 0);
        CHECK(!has_zero_run(draws[i], 8) && !has_zero_run(draws[i] + 4, 8));
    }
    for (size_t i = 0; i < 200; i++)
        for (size_t j = i + 1; j < 200; j++) CHECK(memcmp(draws[i], draws[j], 12) != 0);
}

TEST(uuid_has_the_v4_shape)
{
    char id[37];
    random_uuid(id);
    CHECK_INT(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            CHECK(id[i] == '-');
        else
            CHECK(is_lower_hex(id[i]));
    }
    CHECK(id[14] == '4');
    CHECK(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

TEST(uuid_variant_bits_hold_every_time)
{
    for (int i = 0; i < 200; i++) {
        char id[37];
        random_uuid(id);
        CHECK(id[14] == '4');
        CHECK(strchr("89ab", id[19]) != NULL);
    }
}

TEST(uuids_differ)
{
    char a[37], b[37];
    random_uuid(a);
    random_uuid(b);
    CHECK(strcmp(a, b) != 0);
}
