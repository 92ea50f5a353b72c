/* Cryptographically strong random bytes and random (version 4) UUIDs, drawn
 * from the kernel's getrandom(2) through a small per-thread buffer. */
#ifndef CHATD_CRYPTO_RANDOM_H
#define CHATD_CRYPTO_RANDOM_H

#include <stddef.h>

/* Fills out[0..n) with random bytes. 0, or CHAT_E_INTERNAL when the generator
 * fails (out is then unusable). */
int random_bytes(void *out, size_t n);

/* Writes a random UUID (RFC 9562 version 4) in lowercase, e.g.
 * "3f2b0c1e-9a4d-4c8b-b1e2-7d5f6a8c9e0b", NUL-terminated. A generator failure
 * aborts the process: a predictable id would be worse than stopping. */
void random_uuid(char out[37]);

#endif
