/* Tests for AES-256-GCM at rest: round trips, tampering, key ids, rotation,
 * the keyring's rules, and the GCM specification's Test Case 16 to pin the
 * cipher itself. */
#include "test.h"

#include "crypto/aead.h"
#include "util/error.h"

#include <pthread.h>
#include <stdio.h>

static const char key1_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char key2_hex[] = "FFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100";

static void ring_with_key1(struct aead_keyring *ring)
{
    uint8_t key[AEAD_KEY_BYTES];
    memset(ring, 0, sizeof *ring);
    CHECK_INT(aead_key_parse_hex(key1_hex, key), 0);
    CHECK_INT(aead_keyring_add(ring, 1, key), 0);
}

static void hex_to_bytes(const char *hex, uint8_t *out)
{
    for (size_t i = 0; hex[2 * i]; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

TEST(parses_hex_keys)
{
    uint8_t key[AEAD_KEY_BYTES];
    CHECK_INT(aead_key_parse_hex(key1_hex, key), 0);
    CHECK_INT(key[0], 0x00);
    CHECK_INT(key[31], 0x1f);
    CHECK_INT(aead_key_parse_hex(key2_hex, key), 0);
    CHECK_INT(key[0], 0xff);
}

TEST(rejects_bad_hex_keys)
{
    uint8_t key[AEAD_KEY_BYTES];
    char bad[65];
    memcpy(bad, key1_hex, sizeof bad);
    bad[10] = 'g';
    CHECK_INT(aead_key_parse_hex(bad, key), CHAT_E_CONFIG);
    CHECK_INT(aead_key_parse_hex("00ff", key), CHAT_E_CONFIG);
    CHECK_INT(aead_key_parse_hex("", key), CHAT_E_CONFIG);
    CHECK_INT(aead_key_parse_hex(NULL, key), CHAT_E_CONFIG);
    char longer[67];
    snprintf(longer, sizeof longer, "%s00", key1_hex);
    CHECK_INT(aead_key_parse_hex(longer, key), CHAT_E_CONFIG);
}

TEST(round_trips)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    static const char text[] = "hello, encrypted world";
    uint8_t sealed[sizeof text + AEAD_OVERHEAD], plain[sizeof text];
    uint32_t id = 0;
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)text, sizeof text, sealed, &id), 0);
    CHECK_INT(id, 1);
    CHECK(memcmp(sealed + 12, text, sizeof text) != 0);
    CHECK_INT(aead_open(&ring, id, NULL, 0, sealed, sizeof sealed, plain), 0);
    CHECK_MEM(plain, text, sizeof text);
}

TEST(round_trips_empty_content_with_aad)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    static const uint8_t aad[] = "message 42";
    uint8_t sealed[AEAD_OVERHEAD];
    uint32_t id;
    CHECK_INT(aead_seal(&ring, aad, sizeof aad, NULL, 0, sealed, &id), 0);
    CHECK_INT(aead_open(&ring, id, aad, sizeof aad, sealed, sizeof sealed, NULL), 0);
    CHECK_INT(aead_open(&ring, id, NULL, 0, sealed, sizeof sealed, NULL), CHAT_E_INTERNAL);
}

TEST(nonces_differ_between_seals)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    uint8_t a[4 + AEAD_OVERHEAD], b[4 + AEAD_OVERHEAD];
    uint32_t id;
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)"same", 4, a, &id), 0);
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)"same", 4, b, &id), 0);
    CHECK(memcmp(a, b, 12) != 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

TEST(tampering_anywhere_is_detected)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    static const char text[] = "do not touch";
    uint8_t sealed[sizeof text + AEAD_OVERHEAD], plain[sizeof text];
    uint32_t id;
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)text, sizeof text, sealed, &id), 0);
    for (size_t i = 0; i < sizeof sealed; i++) {
        sealed[i] ^= 0x01;
        memset(plain, 0x55, sizeof plain);
        CHECK_INT(aead_open(&ring, id, NULL, 0, sealed, sizeof sealed, plain), CHAT_E_INTERNAL);
        /* Unauthenticated plaintext is never handed back. */
        for (size_t j = 0; j < sizeof plain; j++) CHECK(plain[j] == 0 || plain[j] == 0x55);
        sealed[i] ^= 0x01;
    }
    CHECK_INT(aead_open(&ring, id, NULL, 0, sealed, sizeof sealed, plain), 0);
}

TEST(wrong_aad_is_detected)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    uint8_t sealed[3 + AEAD_OVERHEAD], plain[3];
    uint32_t id;
    CHECK_INT(aead_seal(&ring, (const uint8_t *)"a", 1, (const uint8_t *)"abc", 3, sealed, &id), 0);
    CHECK_INT(aead_open(&ring, id, (const uint8_t *)"b", 1, sealed, sizeof sealed, plain),
              CHAT_E_INTERNAL);
    CHECK_INT(aead_open(&ring, id, (const uint8_t *)"a", 1, sealed, sizeof sealed, plain), 0);
}

TEST(unknown_key_id_fails)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    uint8_t sealed[3 + AEAD_OVERHEAD], plain[3];
    uint32_t id;
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)"abc", 3, sealed, &id), 0);
    CHECK_INT(aead_open(&ring, 7, NULL, 0, sealed, sizeof sealed, plain), CHAT_E_INTERNAL);
}

TEST(wrong_key_fails)
{
    struct aead_keyring ring;
    uint8_t key[AEAD_KEY_BYTES];
    ring_with_key1(&ring);
    CHECK_INT(aead_key_parse_hex(key2_hex, key), 0);
    CHECK_INT(aead_keyring_add(&ring, 2, key), 0);
    uint8_t sealed[3 + AEAD_OVERHEAD], plain[3];
    uint32_t id;
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)"abc", 3, sealed, &id), 0);
    CHECK_INT(id, 1);
    CHECK_INT(aead_open(&ring, 2, NULL, 0, sealed, sizeof sealed, plain), CHAT_E_INTERNAL);
}

TEST(short_input_fails)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    uint8_t sealed[AEAD_OVERHEAD] = {0}, plain[1];
    CHECK_INT(aead_open(&ring, 1, NULL, 0, sealed, AEAD_OVERHEAD - 1, plain), CHAT_E_INTERNAL);
    CHECK_INT(aead_open(&ring, 1, NULL, 0, sealed, 0, plain), CHAT_E_INTERNAL);
}

TEST(rotation_keeps_old_content_readable)
{
    struct aead_keyring ring;
    uint8_t key2[AEAD_KEY_BYTES];
    ring_with_key1(&ring);
    uint8_t old[3 + AEAD_OVERHEAD], fresh[3 + AEAD_OVERHEAD], plain[3];
    uint32_t old_id, fresh_id;
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)"old", 3, old, &old_id), 0);

    CHECK_INT(aead_key_parse_hex(key2_hex, key2), 0);
    CHECK_INT(aead_keyring_add(&ring, 2, key2), 0);
    CHECK_INT(ring.current_id, 1); /* adding does not switch */
    ring.current_id = 2;
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)"new", 3, fresh, &fresh_id), 0);
    CHECK_INT(old_id, 1);
    CHECK_INT(fresh_id, 2);

    CHECK_INT(aead_open(&ring, old_id, NULL, 0, old, sizeof old, plain), 0);
    CHECK_MEM(plain, "old", 3);
    CHECK_INT(aead_open(&ring, fresh_id, NULL, 0, fresh, sizeof fresh, plain), 0);
    CHECK_MEM(plain, "new", 3);
    CHECK_INT(aead_open(&ring, 1, NULL, 0, fresh, sizeof fresh, plain), CHAT_E_INTERNAL);
}

TEST(keyring_refuses_duplicates_and_overflow)
{
    struct aead_keyring ring;
    uint8_t key[AEAD_KEY_BYTES] = {0};
    memset(&ring, 0, sizeof ring);
    for (uint32_t id = 10; id < 10 + AEAD_MAX_KEYS; id++)
        CHECK_INT(aead_keyring_add(&ring, id, key), 0);
    CHECK_INT(ring.current_id, 10);
    CHECK_INT(aead_keyring_add(&ring, 99, key), CHAT_E_CONFIG);
    memset(&ring, 0, sizeof ring);
    CHECK_INT(aead_keyring_add(&ring, 3, key), 0);
    CHECK_INT(aead_keyring_add(&ring, 3, key), CHAT_E_CONFIG);
    CHECK_INT(ring.count, 1);
}

TEST(seal_without_a_current_key_fails)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    ring.current_id = 5;
    uint8_t sealed[1 + AEAD_OVERHEAD];
    uint32_t id;
    CHECK_INT(aead_seal(&ring, NULL, 0, (const uint8_t *)"x", 1, sealed, &id), CHAT_E_INTERNAL);
}

/* A blob sealed by chatd when it was built on OpenSSL 3 (b458a55), as
 * src/chat/dm.c seals a DM: key id 3, the sender id 4242 as 8 big-endian bytes
 * of AAD. Stored messages must stay readable whatever library does the
 * sealing. aead_seal draws its own nonce, so only the opening side can be
 * pinned to these bytes; the round trips above tie sealing to it. */
TEST(opens_content_sealed_by_the_openssl_build)
{
    static const char key_hex[] =
        "5a1e0c3b9d2f47e8a61b0f92c4d37e58b2a9f06d13c84e7f2b95a0d6c1e3f478";
    static const char sealed_hex[] =
        "fc1594c71f90239d52af8505"
        "9b979c371c0a89913e21fb3a4321c4f49d881d61503a6697e4fb5bba37545269"
        "e3f7a62650a3f7f8cfcce4ba6a"
        "2dae56a1c98ba19f946cc9a7d3859663";
    static const char text[] = "Stored under OpenSSL; read back under nettle.";
    static const uint8_t aad[8] = {0, 0, 0, 0, 0, 0, 0x10, 0x92}; /* 4242 */
    struct aead_keyring ring;
    uint8_t key[AEAD_KEY_BYTES], sealed[sizeof text - 1 + AEAD_OVERHEAD], plain[sizeof text - 1];
    memset(&ring, 0, sizeof ring);
    CHECK_INT(aead_key_parse_hex(key_hex, key), 0);
    CHECK_INT(aead_keyring_add(&ring, 3, key), 0);
    hex_to_bytes(sealed_hex, sealed);
    CHECK_INT(aead_open(&ring, 3, aad, sizeof aad, sealed, sizeof sealed, plain), 0);
    CHECK_MEM(plain, text, sizeof plain);
    static const uint8_t other_sender[8] = {0, 0, 0, 0, 0, 0, 0x10, 0x93};
    CHECK_INT(aead_open(&ring, 3, other_sender, sizeof aad, sealed, sizeof sealed, plain),
              CHAT_E_INTERNAL);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", Test Case 16
 * (AES-256, 96-bit IV, 60-byte plaintext, 20-byte AAD), laid out as a sealed
 * blob: IV || ciphertext || tag. */
TEST(opens_gcm_spec_test_case_16)
{
    static const char key_hex[] =
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    static const char sealed_hex[] =
        "cafebabefacedbaddecaf888"
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b";
    static const char aad_hex[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    static const char plain_hex[] =
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    struct aead_keyring ring;
    uint8_t key[AEAD_KEY_BYTES], sealed[88], aad[20], expected[60], plain[60];
    memset(&ring, 0, sizeof ring);
    CHECK_INT(aead_key_parse_hex(key_hex, key), 0);
    CHECK_INT(aead_keyring_add(&ring, 16, key), 0);
    hex_to_bytes(sealed_hex, sealed);
    hex_to_bytes(aad_hex, aad);
    hex_to_bytes(plain_hex, expected);
    CHECK_INT(aead_open(&ring, 16, aad, sizeof aad, sealed, sizeof sealed, plain), 0);
    CHECK_MEM(plain, expected, sizeof plain);
    sealed[87] ^= 0x80;
    CHECK_INT(aead_open(&ring, 16, aad, sizeof aad, sealed, sizeof sealed, plain), CHAT_E_INTERNAL);
}

static void *seal_open_in_thread(void *arg)
{
    const struct aead_keyring *ring = arg;
    uint8_t sealed[5 + AEAD_OVERHEAD], plain[5];
    uint32_t id;
    int failures = 0;
    for (int i = 0; i < 100; i++) {
        failures += aead_seal(ring, NULL, 0, (const uint8_t *)"hello", 5, sealed, &id) != 0;
        failures += aead_open(ring, id, NULL, 0, sealed, sizeof sealed, plain) != 0;
        failures += memcmp(plain, "hello", 5) != 0;
    }
    return failures ? arg : NULL;
}

/* Each thread expands the key into a context of its own. */
TEST(works_from_several_threads)
{
    struct aead_keyring ring;
    ring_with_key1(&ring);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        CHECK_INT(pthread_create(&threads[i], NULL, seal_open_in_thread, &ring), 0);
    for (int i = 0; i < 4; i++) {
        void *result;
        CHECK_INT(pthread_join(threads[i], &result), 0);
        CHECK(result == NULL);
    }
}
