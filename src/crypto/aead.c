/* AES-256-GCM sealing of stored content under a keyring, with nettle: see
 * aead.h.
 *
 * Expanding a key (the AES schedule and GCM's 4 KiB table of multiples of its
 * hash key) costs more than sealing a short message with it, so each thread
 * keeps the context of the last key it used and expands again only when the
 * key changes. Sealing and opening allocate nothing. */
#include "crypto/aead.h"

#include "crypto/random.h"
#include "util/error.h"
#include "util/wipe.h"

#include <limits.h>
#include <nettle/gcm.h>
#include <nettle/memops.h>
#include <stdbool.h>
#include <string.h>

/* ---- keyring ----------------------------------------------------------- */

static int aead_hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int aead_key_parse_hex(const char *hex, uint8_t out[AEAD_KEY_BYTES])
{
    if (!hex || strlen(hex) != 2 * AEAD_KEY_BYTES) return CHAT_E_CONFIG;
    for (size_t i = 0; i < AEAD_KEY_BYTES; i++) {
        int hi = aead_hex_value(hex[2 * i]), lo = aead_hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            wipe_secret(out, AEAD_KEY_BYTES);
            return CHAT_E_CONFIG;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static const struct aead_key *aead_keyring_find(const struct aead_keyring *ring, uint32_t id)
{
    for (size_t i = 0; i < ring->count; i++)
        if (ring->keys[i].id == id) return &ring->keys[i];
    return NULL;
}

int aead_keyring_add(struct aead_keyring *ring, uint32_t id, const uint8_t key[AEAD_KEY_BYTES])
{
    if (ring->count == AEAD_MAX_KEYS || aead_keyring_find(ring, id)) return CHAT_E_CONFIG;
    if (ring->count == 0) ring->current_id = id;
    ring->keys[ring->count].id = id;
    memcpy(ring->keys[ring->count].key, key, AEAD_KEY_BYTES);
    ring->count++;
    return 0;
}

/* ---- the per-thread expanded key --------------------------------------- */

static _Thread_local struct {
    bool ready;
    uint8_t key[AEAD_KEY_BYTES];
    struct gcm_aes256_ctx gcm;
} aead_cache;

/* This thread's GCM context, set up for key and ready for a nonce. */
static struct gcm_aes256_ctx *aead_context(const uint8_t key[AEAD_KEY_BYTES])
{
    if (!aead_cache.ready || !memeql_sec(aead_cache.key, key, AEAD_KEY_BYTES)) {
        gcm_aes256_set_key(&aead_cache.gcm, key);
        memcpy(aead_cache.key, key, AEAD_KEY_BYTES);
        aead_cache.ready = true;
    }
    return &aead_cache.gcm;
}

/* ---- seal and open ----------------------------------------------------- */

/* aead.h promises CHAT_E_TOO_BIG past INT_MAX bytes, far below GCM's own
 * limit of 2^36 - 32 bytes of content per nonce. */
static bool aead_too_big(size_t aad_len, size_t n)
{
    return n > INT_MAX || aad_len > INT_MAX;
}

int aead_seal(const struct aead_keyring *ring, const uint8_t *aad, size_t aad_len,
              const uint8_t *plain, size_t n, uint8_t *out, uint32_t *key_id)
{
    const struct aead_key *k = aead_keyring_find(ring, ring->current_id);
    if (!k) return CHAT_E_INTERNAL;
    if (aead_too_big(aad_len, n)) return CHAT_E_TOO_BIG;

    uint8_t *nonce = out, *cipher = out + AEAD_NONCE_BYTES, *tag = cipher + n;
    /* NIST SP 800-38D §8.2.2: random 96-bit nonces keep the chance of a repeat
     * negligible for up to 2^32 messages under one key. */
    if (random_bytes(nonce, AEAD_NONCE_BYTES) != 0) return CHAT_E_INTERNAL;
    struct gcm_aes256_ctx *gcm = aead_context(k->key);
    gcm_aes256_set_iv(gcm, AEAD_NONCE_BYTES, nonce);
    gcm_aes256_update(gcm, aad_len, aad);
    gcm_aes256_encrypt(gcm, n, cipher, plain);
    gcm_aes256_digest(gcm, AEAD_TAG_BYTES, tag);
    *key_id = k->id;
    return 0;
}

int aead_open(const struct aead_keyring *ring, uint32_t key_id, const uint8_t *aad, size_t aad_len,
              const uint8_t *sealed, size_t sealed_len, uint8_t *out)
{
    const struct aead_key *k = aead_keyring_find(ring, key_id);
    if (!k || sealed_len < AEAD_OVERHEAD) return CHAT_E_INTERNAL;
    size_t n = sealed_len - AEAD_OVERHEAD;
    if (aead_too_big(aad_len, n)) return CHAT_E_TOO_BIG;

    const uint8_t *nonce = sealed, *cipher = sealed + AEAD_NONCE_BYTES, *tag = cipher + n;
    uint8_t expected[AEAD_TAG_BYTES];
    struct gcm_aes256_ctx *gcm = aead_context(k->key);
    gcm_aes256_set_iv(gcm, AEAD_NONCE_BYTES, nonce);
    gcm_aes256_update(gcm, aad_len, aad);
    gcm_aes256_decrypt(gcm, n, out, cipher);
    gcm_aes256_digest(gcm, AEAD_TAG_BYTES, expected);
    if (memeql_sec(expected, tag, AEAD_TAG_BYTES)) return 0;
    /* The plaintext was written before the tag was checked: never hand back
     * unauthenticated bytes. */
    wipe_secret(out, n);
    return CHAT_E_INTERNAL;
}
