/* Tests for strict base64url: the RFC 4648 vectors, round trips at every
 * length, and each form the decoder must refuse. */
#include "test.h"

#include "util/base64.h"
#include "util/error.h"

static int decode(const char *in, uint8_t *out, size_t cap, size_t *n)
{
    return base64url_decode(in, strlen(in), out, cap, n);
}

TEST(encodes_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const encoded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[16];
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        size_t n = base64url_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof out);
        CHECK_STR(out, encoded[i]);
        CHECK_INT(n, strlen(encoded[i]));
        CHECK_INT(base64url_encoded_len(strlen(plain[i])), strlen(encoded[i]));
    }
}

TEST(decodes_rfc4648_vectors)
{
    static const char *const encoded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    uint8_t out[16];
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        size_t n = 99;
        CHECK_INT(decode(encoded[i], out, sizeof out, &n), 0);
        CHECK_INT(n, strlen(plain[i]));
        CHECK_MEM(out, plain[i], n);
    }
}

TEST(uses_the_url_alphabet)
{
    static const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    char text[8];
    uint8_t back[4];
    size_t n;
    base64url_encode(bytes, sizeof bytes, text, sizeof text);
    CHECK_STR(text, "-_-_");
    CHECK_INT(decode("-_-_", back, sizeof back, &n), 0);
    CHECK_INT(n, 3);
    CHECK_MEM(back, bytes, 3);
}

TEST(round_trips_every_length_and_byte)
{
    uint8_t data[256], back[256];
    char text[400];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(255 - i);
    for (size_t len = 0; len <= sizeof data; len++) {
        size_t chars = base64url_encode(data, len, text, sizeof text), n = 0;
        CHECK_INT(chars, base64url_encoded_len(len));
        CHECK_INT(base64url_decode(text, chars, back, sizeof back, &n), 0);
        CHECK_INT(n, len);
        CHECK_MEM(back, data, len);
    }
}

TEST(rejects_padding)
{
    uint8_t out[16];
    size_t n;
    CHECK_INT(decode("Zg==", out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
    CHECK_INT(decode("Zm8=", out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
}

TEST(rejects_the_standard_alphabet)
{
    uint8_t out[16];
    size_t n;
    CHECK_INT(decode("+/+/", out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
    CHECK_INT(decode("Zm9/", out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
}

TEST(rejects_whitespace_and_other_bytes)
{
    static const char *const bad[] = {"Zm9v ", " Zm9v", "Zm\n9v", "Zm9.", "Zm9\x80", "Zm!v"};
    uint8_t out[16];
    size_t n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(decode(bad[i], out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
    CHECK_INT(base64url_decode("Zm\0v", 4, out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
}

TEST(rejects_a_length_of_one_mod_four)
{
    uint8_t out[16];
    size_t n;
    CHECK_INT(decode("Z", out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
    CHECK_INT(decode("Zm9vY", out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
}

TEST(rejects_nonzero_trailing_bits)
{
    uint8_t out[16];
    size_t n;
    /* "Zg" is "f"; "Zh" carries the same byte with a stray low bit. */
    CHECK_INT(decode("Zh", out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
    CHECK_INT(decode("Zm9", out, sizeof out, &n), CHAT_E_INVALID_REQUEST);
    CHECK_INT(decode("Zm8", out, sizeof out, &n), 0);
}

TEST(decode_reports_a_short_output_buffer)
{
    uint8_t out[6];
    size_t n;
    CHECK_INT(decode("Zm9vYmFy", out, 5, &n), CHAT_E_TOO_BIG);
    CHECK_INT(decode("Zm9vYmFy", out, 6, &n), 0);
    CHECK_INT(n, 6);
}

TEST(encode_reports_a_short_output_buffer)
{
    char out[8] = "xxxxxxx";
    CHECK_INT(base64url_encode((const uint8_t *)"foobar", 6, out, 8), 0);
    CHECK_STR(out, "");
    char fits[9];
    CHECK_INT(base64url_encode((const uint8_t *)"foobar", 6, fits, sizeof fits), 8);
    CHECK_STR(fits, "Zm9vYmFy");
}
