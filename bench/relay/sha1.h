/* SHA-1 and base64, just enough to compute Sec-WebSocket-Accept (RFC 6455
 * §4.2.2) without linking a crypto library. Pure functions, no I/O. */
#ifndef RELAY_SHA1_H
#define RELAY_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 20-byte SHA-1 digest of data[0..len) to out. */
void sha1(const void *data, size_t len, uint8_t out[20]);

/* Writes the padded base64 of data[0..len) and a NUL to out, which must hold
 * 4 * ((len + 2) / 3) + 1 bytes; returns the length without the NUL. */
size_t base64_encode(const uint8_t *data, size_t len, char *out);

/* Decodes base64url (RFC 4648 §5, padding optional) into out, at most cap
 * bytes; characters outside the alphabet end the input. Returns the number
 * of bytes written. */
size_t base64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
