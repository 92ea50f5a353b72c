/* AES-256-GCM sealing of stored content under a keyring: see aead.h.
 *
 * Each thread keeps one EVP_CIPHER_CTX bound to AES-256-GCM for its whole
 * life. Binding the cipher is what allocates in OpenSSL 3; re-initialising an
 * already bound context with only a key and a nonce does not, so after the
 * first call on a thread sealing and opening allocate nothing. */
#include "crypto/aead.h"

#include "util/error.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
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
            OPENSSL_cleanse(out, AEAD_KEY_BYTES);
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

/* ---- the per-thread cipher context ------------------------------------- */

static pthread_once_t aead_once = PTHREAD_ONCE_INIT;
static pthread_key_t aead_ctx_key; /* its destructor frees a thread's context at thread exit */
static bool aead_ctx_key_ready;
static _Thread_local EVP_CIPHER_CTX *aead_ctx;

static void aead_ctx_destroy(void *ctx)
{
    EVP_CIPHER_CTX_free(ctx);
}

static void aead_ctx_key_create(void)
{
    aead_ctx_key_ready = pthread_key_create(&aead_ctx_key, aead_ctx_destroy) == 0;
}

/* This thread's context, bound to AES-256-GCM, or NULL when OpenSSL fails. */
static EVP_CIPHER_CTX *aead_thread_ctx(void)
{
    if (aead_ctx) return aead_ctx;
    if (pthread_once(&aead_once, aead_ctx_key_create) != 0 || !aead_ctx_key_ready) return NULL;

    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) return NULL;
    if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), NULL, NULL, 1, NULL) != 1 ||
        pthread_setspecific(aead_ctx_key, ctx) != 0) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    aead_ctx = ctx;
    return ctx;
}

/* ---- seal and open ----------------------------------------------------- */

int aead_seal(const struct aead_keyring *ring, const uint8_t *aad, size_t aad_len,
              const uint8_t *plain, size_t n, uint8_t *out, uint32_t *key_id)
{
    const struct aead_key *k = aead_keyring_find(ring, ring->current_id);
    if (!k) return CHAT_E_INTERNAL;
    if (n > INT_MAX || aad_len > INT_MAX) return CHAT_E_TOO_BIG;
    EVP_CIPHER_CTX *ctx = aead_thread_ctx();
    if (!ctx) goto fail;

    uint8_t *nonce = out, *cipher = out + AEAD_NONCE_BYTES, *tag = cipher + n;
    int len;
    /* NIST SP 800-38D §8.2.2: random 96-bit nonces keep the chance of a repeat
     * negligible for up to 2^32 messages under one key. */
    if (RAND_bytes(nonce, AEAD_NONCE_BYTES) != 1) goto fail;
    if (EVP_CipherInit_ex2(ctx, NULL, k->key, nonce, 1, NULL) != 1) goto fail;
    if (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aad_len) != 1) goto fail;
    if (n > 0 && EVP_CipherUpdate(ctx, cipher, &len, plain, (int)n) != 1) goto fail;
    if (EVP_CipherFinal_ex(ctx, tag, &len) != 1) goto fail; /* GCM writes nothing here */
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_BYTES, tag) != 1) goto fail;
    *key_id = k->id;
    return 0;

fail:
    /* Leave no stale entry on this thread's OpenSSL error queue, where the TLS
     * code of the same loop would read it as its own. */
    ERR_clear_error();
    return CHAT_E_INTERNAL;
}

int aead_open(const struct aead_keyring *ring, uint32_t key_id, const uint8_t *aad, size_t aad_len,
              const uint8_t *sealed, size_t sealed_len, uint8_t *out)
{
    const struct aead_key *k = aead_keyring_find(ring, key_id);
    if (!k || sealed_len < AEAD_OVERHEAD) return CHAT_E_INTERNAL;
    size_t n = sealed_len - AEAD_OVERHEAD;
    if (n > INT_MAX || aad_len > INT_MAX) return CHAT_E_TOO_BIG;
    EVP_CIPHER_CTX *ctx = aead_thread_ctx();
    if (!ctx) goto fail;

    const uint8_t *nonce = sealed, *cipher = sealed + AEAD_NONCE_BYTES;
    uint8_t tag[AEAD_TAG_BYTES];
    memcpy(tag, cipher + n, AEAD_TAG_BYTES); /* the ctrl call takes a non-const pointer */
    int len;
    if (EVP_CipherInit_ex2(ctx, NULL, k->key, nonce, 0, NULL) != 1) goto fail;
    if (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aad_len) != 1) goto fail;
    if (n > 0 && EVP_CipherUpdate(ctx, out, &len, cipher, (int)n) != 1) goto wipe;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_BYTES, tag) != 1) goto wipe;
    if (EVP_CipherFinal_ex(ctx, tag, &len) != 1) goto wipe; /* checks the tag, writes nothing */
    return 0;

wipe:
    /* The plaintext was written before the tag was checked: never hand back
     * unauthenticated bytes. */
    OPENSSL_cleanse(out, n);
fail:
    ERR_clear_error();
    return CHAT_E_INTERNAL;
}
