/* Sec-WebSocket-Key validation and Sec-WebSocket-Accept computation (RFC 6455 §4.2.1, §4.2.2),
 * with nettle's SHA-1 and base64 encoder. */
#include "ws/handshake.h"

#include <assert.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <string.h>

/* "the server has to take the value (as present in the header field, e.g., the base64-encoded
 * [RFC4648] version minus any leading and trailing whitespace) and concatenate this with the
 * Globally Unique Identifier (GUID, [RFC4122]) "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" in string
 * form" */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The accept value is the padded base64 of a SHA-1 digest. */
static_assert(BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) == WS_ACCEPT_LEN, "accept length");

/* The value of a character of the standard base64 alphabet (RFC 4648 §4), or -1. */
static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool ws_handshake_key_valid(const char *key, size_t len)
{
    /* "A |Sec-WebSocket-Key| header field with a base64-encoded (see Section 4 of [RFC4648])
     * value that, when decoded, is 16 bytes in length." 16 bytes encode as 22 characters and
     * "==": 128 bits in 22 six-bit characters leave the last character's 4 low bits unused, and
     * RFC 4648 §3.5 lets a decoder reject the encodings where they are not zero, so that every
     * key has one spelling. */
    if (len != WS_KEY_LEN) return false;
    for (size_t i = 0; i < WS_KEY_LEN - 2; i++)
        if (base64_value(key[i]) < 0) return false;
    if (key[WS_KEY_LEN - 2] != '=' || key[WS_KEY_LEN - 1] != '=') return false;
    return (base64_value(key[WS_KEY_LEN - 3]) & 0x0F) == 0;
}

void ws_handshake_accept(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
    /* "A SHA-1 hash (160 bits) [FIPS.180-3], base64-encoded (see Section 4 of [RFC4648]), of
     * this concatenation is then returned in the server's handshake." */
    assert(len == WS_KEY_LEN);
    struct sha1_ctx sha1;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&sha1);
    sha1_update(&sha1, WS_KEY_LEN, (const uint8_t *)key);
    sha1_update(&sha1, sizeof ws_guid - 1, (const uint8_t *)ws_guid);
    sha1_digest(&sha1, sizeof digest, digest);
    base64_encode_raw(out, sizeof digest, digest); /* padded, not NUL-terminated */
    out[WS_ACCEPT_LEN] = '\0';
}
