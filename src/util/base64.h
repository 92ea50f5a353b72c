/* Strict base64url (RFC 4648 §5) without padding, as JWTs use it: the decoder
 * accepts only the canonical encoding of each byte string, so one token has
 * exactly one spelling. */
#ifndef CHATD_UTIL_BASE64_H
#define CHATD_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Decodes in[0..len) into out[0..out_cap) and stores the byte count in
 * *out_len. Accepts only [A-Za-z0-9_-]: no padding, no whitespace, no '+' or
 * '/'. Rejects a length that leaves one character over (len % 4 == 1) and a
 * final character whose unused low bits are not zero. Returns 0,
 * CHAT_E_INVALID_REQUEST for malformed input, or CHAT_E_TOO_BIG (checked
 * first, nothing written) when out_cap is smaller than the decoded size. */
int base64url_decode(const char *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);

/* The number of characters base64url_encode writes for len bytes, without the
 * terminating NUL. */
size_t base64url_encoded_len(size_t len);

/* Encodes in[0..len) into out and NUL-terminates it. Returns the number of
 * characters written (not counting the NUL), or 0 with out set to "" (when
 * out_cap > 0) if out_cap < base64url_encoded_len(len) + 1. */
size_t base64url_encode(const uint8_t *in, size_t len, char *out, size_t out_cap);

#endif
