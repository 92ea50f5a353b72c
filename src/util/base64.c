/* Strict base64url encoding and decoding: see base64.h. */
#include "util/base64.h"

#include "util/error.h"

static const char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c, or -1 when c is outside the base64url alphabet. */
static int base64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int base64url_decode(const char *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    /* RFC 4648 §4: a final quantum is 2 or 3 characters (8 or 16 bits); a
     * single leftover character cannot carry a whole byte. */
    if (len % 4 == 1) return CHAT_E_INVALID_REQUEST;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > out_cap) return CHAT_E_TOO_BIG;

    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64url_value((unsigned char)in[i]);
        if (v < 0) return CHAT_E_INVALID_REQUEST;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* RFC 4648 §3.5: the pad bits of the last character must be zero, or
     * several spellings would decode to the same bytes. */
    if (acc != 0) return CHAT_E_INVALID_REQUEST;
    *out_len = n;
    return 0;
}

size_t base64url_encoded_len(size_t len)
{
    static const size_t tail[3] = {0, 2, 3};
    return len / 3 * 4 + tail[len % 3];
}

size_t base64url_encode(const uint8_t *in, size_t len, char *out, size_t out_cap)
{
    size_t need = base64url_encoded_len(len);
    if (out_cap == 0) return 0;
    if (need >= out_cap) {
        out[0] = '\0';
        return 0;
    }
    size_t n = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[n++] = base64url_alphabet[v >> 18];
        out[n++] = base64url_alphabet[(v >> 12) & 63];
        out[n++] = base64url_alphabet[(v >> 6) & 63];
        out[n++] = base64url_alphabet[v & 63];
    }
    if (i < len) { /* a final group of one or two bytes: two or three characters */
        uint32_t v = (uint32_t)in[i] << 16;
        if (len - i == 2) v |= (uint32_t)in[i + 1] << 8;
        out[n++] = base64url_alphabet[v >> 18];
        out[n++] = base64url_alphabet[(v >> 12) & 63];
        if (len - i == 2) out[n++] = base64url_alphabet[(v >> 6) & 63];
    }
    out[n] = '\0';
    return n;
}
