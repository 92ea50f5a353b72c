/* The cryptographic half of the WebSocket opening handshake, as pure functions: checking a
 * client's Sec-WebSocket-Key and computing the Sec-WebSocket-Accept that answers it. The HTTP
 * side (methods, headers, status codes) lives in src/http/. */
#ifndef CHATD_WS_HANDSHAKE_H
#define CHATD_WS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#define WS_KEY_LEN 24    /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

/* True when key[0..len) is exactly 16 bytes in canonical base64: 24 characters of the standard
 * alphabet, the last two '=' padding, and the unused low bits of the last data character zero.
 * The caller trims surrounding whitespace from the header value first. */
bool ws_handshake_key_valid(const char *key, size_t len);

/* out receives the 28-character Sec-WebSocket-Accept value and a NUL. key is one that
 * ws_handshake_key_valid accepted. */
void ws_handshake_accept(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

#endif
