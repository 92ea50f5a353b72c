/* Encryption of stored message content: AES-256-GCM with a fresh random
 * 12-byte nonce per message and a 16-byte tag, under a keyring so old keys
 * stay readable after a rotation. A sealed blob is nonce || ciphertext || tag;
 * the id of the key that sealed it is kept beside it by the caller. */
#ifndef CHATD_CRYPTO_AEAD_H
#define CHATD_CRYPTO_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_BYTES 32
#define AEAD_NONCE_BYTES 12
#define AEAD_TAG_BYTES 16
#define AEAD_OVERHEAD 28 /* 12-byte nonce + 16-byte tag */
#define AEAD_MAX_KEYS 16

struct aead_key {
    uint32_t id;
    uint8_t key[AEAD_KEY_BYTES];
};

/* A fixed-size set of keys; plain data, zero-initialize it before use. New
 * content is sealed with the key whose id is current_id; any key in the ring
 * opens what it sealed. */
struct aead_keyring {
    struct aead_key keys[AEAD_MAX_KEYS];
    size_t count;
    uint32_t current_id;
};

/* Parses exactly 64 hex digits (either case) into a key. 0 or CHAT_E_CONFIG. */
int aead_key_parse_hex(const char *hex, uint8_t out[AEAD_KEY_BYTES]);

/* Copies key into the ring under id. The first key added to an empty ring
 * becomes current; set ring->current_id to seal with another. 0, or
 * CHAT_E_CONFIG when id is already present or the ring is full. */
int aead_keyring_add(struct aead_keyring *ring, uint32_t id, const uint8_t key[AEAD_KEY_BYTES]);

/* Seals plain[0..n) with the current key: out needs n + AEAD_OVERHEAD bytes;
 * *key_id receives the key used. aad (may be NULL when aad_len is 0) is
 * authenticated, not stored: aead_open must be given the same bytes. 0, or
 * CHAT_E_INTERNAL when the current key is missing or the random generator
 * fails, or CHAT_E_TOO_BIG past INT_MAX bytes. Allocation-free. */
int aead_seal(const struct aead_keyring *ring, const uint8_t *aad, size_t aad_len,
              const uint8_t *plain, size_t n, uint8_t *out, uint32_t *key_id);

/* Opens sealed[0..sealed_len) with the key named by key_id: out needs
 * sealed_len - AEAD_OVERHEAD bytes. CHAT_E_INTERNAL on a bad tag (out is then
 * zeroed), an unknown key or input shorter than AEAD_OVERHEAD. */
int aead_open(const struct aead_keyring *ring, uint32_t key_id, const uint8_t *aad, size_t aad_len,
              const uint8_t *sealed, size_t sealed_len, uint8_t *out);

#endif
