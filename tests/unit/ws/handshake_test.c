/* Tests for src/ws/handshake.c: the RFC 6455 example, more known accept values, and the keys that
 * must be refused (wrong length, characters outside the standard alphabet, bad padding, and
 * encodings of other than 16 bytes). */
#include "test.h"

#include "ws/handshake.h"

static bool key_valid(const char *key)
{
    return ws_handshake_key_valid(key, strlen(key));
}

static void check_accept(int line, const char *key, const char *expected)
{
    char out[WS_ACCEPT_LEN + 1];
    memset(out, '#', sizeof out);
    ws_handshake_accept(key, strlen(key), out);
    if (strlen(out) != WS_ACCEPT_LEN || strcmp(out, expected) != 0)
        test_fail(__FILE__, line, "accept for %s is %.29s, expected %s", key, out, expected);
}

/* RFC 6455 §1.3: "the server would concatenate the string "258EAFA5-E914-47DA-95CA-
 * C5AB0DC85B11" [...] the value "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" would be returned in the
 * |Sec-WebSocket-Accept| header field." */
TEST(rfc_example)
{
    CHECK(key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    check_accept(__LINE__, "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(more_accept_values)
{
    /* values computed independently (Python hashlib + base64) */
    check_accept(__LINE__, "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    check_accept(__LINE__, "AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
    check_accept(__LINE__, "/////////////////////w==", "XXpj4jYzLM2yUE0C7TIgMwTQh2g=");
}

TEST(valid_keys)
{
    CHECK(key_valid("x3JJHMbDL1EzLkh9GBhXDw=="));
    CHECK(key_valid("AAAAAAAAAAAAAAAAAAAAAA=="));
    CHECK(key_valid("/////////////////////w=="));
    CHECK(key_valid("+/+/+/+/+/+/+/+/+/+/+w=="));
    CHECK(key_valid("0123456789abcdefABCDEQ=="));
}

TEST(wrong_length)
{
    CHECK(!key_valid(""));
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZQ="));   /* 23 */
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZQ===")); /* 25 */
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZQ"));    /* no padding */
    CHECK(!key_valid(" dGhlIHNhbXBsZSBub25jZQ==")); /* untrimmed */
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZQ== "));
    /* the length given is what counts, not the NUL */
    CHECK(!ws_handshake_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 23));
    CHECK(ws_handshake_key_valid("dGhlIHNhbXBsZSBub25jZQ==xyz", 24));
}

TEST(bad_characters)
{
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZ-==")); /* base64url */
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZ_=="));
    CHECK(!key_valid("dGhlIHNhbX-sZSBub25jZQ=="));
    CHECK(!key_valid("dGhlIHNhbXBsZSBub2 jZQ==")); /* space */
    CHECK(!key_valid("dGhlIHNhbXBsZSBub2!jZQ=="));
    CHECK(!key_valid("dGhlIHNhbXBsZSBub2.jZQ=="));
    CHECK(!key_valid("d=hlIHNhbXBsZSBub25jZQ==")); /* padding inside */
    CHECK(!ws_handshake_key_valid("dGhlIHNhbXBsZSBu\0"
                                  "25jZQ==",
                                  24));
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZ\xc3\xa9="));
}

TEST(decodes_to_other_than_16_bytes)
{
    CHECK(!key_valid("AAAAAAAAAAAAAAAAAAAA"));                         /* 15 bytes */
    CHECK(!key_valid("AAAAAAAAAAAAAAAAAAAA===="));                     /* 15 bytes, padded to 24 */
    CHECK(!key_valid("AAAAAAAAAAAAAAAAAAAAAAA="));                     /* 17 bytes */
    CHECK(!key_valid("AAAAAAAAAAAAAAAAAAAAAAAA"));                     /* 18 bytes */
    CHECK(!key_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")); /* 32 bytes */
}

TEST(bad_padding)
{
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZQ=A"));
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZQA="));
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZ==="));
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZQ.."));
    /* non-canonical: the unused low bits of the last character are not zero */
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZR=="));
    CHECK(!key_valid("dGhlIHNhbXBsZSBub25jZf=="));
    CHECK(!key_valid("/////////////////////9=="));
}
