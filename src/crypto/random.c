/* Random bytes and UUIDs from OpenSSL's RAND_bytes: see random.h. */
#include "crypto/random.h"

#include "util/error.h"

#include <limits.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int random_bytes(void *out, size_t n)
{
    uint8_t *p = out;
    /* RAND_bytes takes an int count, so larger requests go in slices. */
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1) return CHAT_E_INTERNAL;
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

void random_uuid(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];

    if (random_bytes(b, sizeof b) != 0) {
        fprintf(stderr, "chatd: the random generator failed; stopping\n");
        abort();
    }
    /* RFC 9562 §5.4: version 4 in the high nibble of octet 6, variant 10xx in
     * the high bits of octet 8. */
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);

    size_t n = 0;
    for (size_t i = 0; i < sizeof b; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[n++] = '-';
        out[n++] = hex[b[i] >> 4];
        out[n++] = hex[b[i] & 15];
    }
    out[n] = '\0';
}
