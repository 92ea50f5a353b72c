/* Random bytes and UUIDs from the kernel's getrandom(2): see random.h.
 *
 * Small draws (the 12-byte nonce of every sealed DM, a UUID per connection)
 * are served from a 512-byte per-thread buffer, refilled with one getrandom
 * call when it runs dry, so that a loop sealing thousands of messages a
 * second makes one system call per 42 nonces instead of one each. Each byte
 * leaves the buffer once: it is wiped as it is handed out, so no draw repeats
 * another's bytes and no consumed secret lingers in the buffer.
 *
 * Buffering is safe only because no process using it forks: a child would
 * inherit a copy of the buffer and hand out the same bytes as its parent
 * (the same nonces under the same key). chatd starts its threads and never
 * forks; chatctl and bench do not fork either. Anything that comes to fork
 * after drawing must empty the buffer in the child first. */
#include "crypto/random.h"

#include "util/error.h"
#include "util/wipe.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RANDOM_POOL_BYTES 512

static _Thread_local uint8_t random_pool[RANDOM_POOL_BYTES];
static _Thread_local size_t random_pool_left; /* unused bytes, at the end of the pool */

/* Fills out[0..n) straight from the kernel. getrandom may return fewer bytes
 * than asked (a signal during a large request) or fail with EINTR; both are
 * retried. */
static int random_fill(uint8_t *out, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return CHAT_E_INTERNAL;
        }
        out += got;
        n -= (size_t)got;
    }
    return 0;
}

int random_bytes(void *out, size_t n)
{
    uint8_t *p = out;
    if (n > RANDOM_POOL_BYTES) return random_fill(p, n);
    while (n > 0) {
        if (random_pool_left == 0) {
            if (random_fill(random_pool, RANDOM_POOL_BYTES) != 0) return CHAT_E_INTERNAL;
            random_pool_left = RANDOM_POOL_BYTES;
        }
        size_t take = n < random_pool_left ? n : random_pool_left;
        uint8_t *from = random_pool + RANDOM_POOL_BYTES - random_pool_left;
        memcpy(p, from, take);
        wipe_secret(from, take);
        random_pool_left -= take;
        p += take;
        n -= take;
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
