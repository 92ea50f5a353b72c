/* Wiping secrets (keys, the .env text, HMAC states, handed-out random bytes)
 * from memory once they are no longer needed. */
#ifndef CHATD_UTIL_WIPE_H
#define CHATD_UTIL_WIPE_H

#include <stddef.h>
#include <string.h>

/* Zeroes p[0..n) with explicit_bzero, which the compiler may not drop as a
 * dead store. An empty range may be NULL: glibc declares explicit_bzero's
 * pointer nonnull even for a zero length. */
static inline void wipe_secret(void *p, size_t n)
{
    if (n > 0) explicit_bzero(p, n);
}

#endif
