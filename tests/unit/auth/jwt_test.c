/* Tests for HS256 JWT verification (protocol §4): what is accepted, the
 * leeway edges, and every rejection, each its own test. Well-formed tokens are
 * minted with jwt_sign_hs256; malformed ones are assembled here from
 * hand-written segments and signed with nettle's HMAC directly, so that the
 * defect under test is the only thing wrong with them. */
#include "test.h"

#include "auth/jwt.h"
#include "util/base64.h"
#include "util/error.h"

#include <nettle/hmac.h>
#include <stdio.h>
#include <stdlib.h>

#define NOW 1700000000LL
#define HS256_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD_CLAIMS "\"jti\":\"j-1\",\"exp\":1700003600"

static const char secret[] = "a shared secret of more than 32 bytes";
static const struct jwt_verifier verifier = {(const uint8_t *)secret, sizeof secret - 1, NULL,
                                             NULL};

/* ---- helpers ------------------------------------------------------------- */

static char forged[4 * JWT_MAX_TOKEN_BYTES];

/* "h64.p64.sig" with an HS256 signature over "h64.p64", in a static buffer. */
static const char *forge_segments(const char *h64, const char *p64)
{
    struct hmac_sha256_ctx hmac;
    uint8_t mac[SHA256_DIGEST_SIZE];
    int n = snprintf(forged, sizeof forged, "%s.%s", h64, p64);
    hmac_sha256_set_key(&hmac, sizeof secret - 1, (const uint8_t *)secret);
    hmac_sha256_update(&hmac, (size_t)n, (const uint8_t *)forged);
    hmac_sha256_digest(&hmac, sizeof mac, mac);
    forged[n++] = '.';
    base64url_encode(mac, sizeof mac, forged + n, sizeof forged - (size_t)n);
    return forged;
}

/* A correctly signed token with any header and payload text. */
static const char *forge(const char *header, const char *payload)
{
    static char h64[2 * JWT_MAX_TOKEN_BYTES], p64[2 * JWT_MAX_TOKEN_BYTES];
    base64url_encode((const uint8_t *)header, strlen(header), h64, sizeof h64);
    base64url_encode((const uint8_t *)payload, strlen(payload), p64, sizeof p64);
    return forge_segments(h64, p64);
}

static int verify_at(const struct jwt_verifier *v, const char *token, int64_t now,
                     struct jwt_claims *claims)
{
    return jwt_verify(v, token, strlen(token), now, claims);
}

static int verify(const char *token)
{
    struct jwt_claims claims;
    return verify_at(&verifier, token, NOW, &claims);
}

/* Signs payload with jwt_sign_hs256 and verifies it under v at NOW. */
static int verify_payload_with(const struct jwt_verifier *v, const char *payload,
                               struct jwt_claims *claims)
{
    char *token = NULL;
    CHECK_INT(jwt_sign_hs256((const uint8_t *)secret, sizeof secret - 1, payload, &token), 0);
    if (!token) return CHAT_E_NOMEM;
    int rc = verify_at(v, token, NOW, claims);
    free(token);
    return rc;
}

static int verify_payload(const char *payload)
{
    struct jwt_claims claims;
    return verify_payload_with(&verifier, payload, &claims);
}

/* A payload with the given userId/sub JSON text (or none when NULL). */
static int verify_user(const char *user_id, const char *sub)
{
    char payload[512];
    int n = snprintf(payload, sizeof payload, "{" GOOD_CLAIMS);
    if (user_id) n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"userId\":%s", user_id);
    if (sub) n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"sub\":%s", sub);
    snprintf(payload + n, sizeof payload - (size_t)n, "}");
    return verify_payload(payload);
}

/* A payload whose exp/iat/nbf are NOW plus the given offsets. */
static int verify_times(long long exp, const char *extra_name, long long extra,
                        struct jwt_claims *claims)
{
    char payload[256];
    int n = snprintf(payload, sizeof payload, "{\"userId\":\"7\",\"jti\":\"t\",\"exp\":%lld",
                     NOW + exp);
    if (extra_name)
        n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"%s\":%lld", extra_name,
                      NOW + extra);
    snprintf(payload + n, sizeof payload - (size_t)n, "}");
    return verify_payload_with(&verifier, payload, claims);
}

/* ---- accepted ------------------------------------------------------------ */

TEST(accepts_user_id_string)
{
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&verifier,
                                  "{\"userId\":\"42\",\"jti\":\"j-1\",\"exp\":1700003600,"
                                  "\"iat\":1700000000}",
                                  &c),
              0);
    CHECK_INT(c.user_id, 42);
    CHECK_STR(c.jti, "j-1");
    CHECK_INT(c.exp, 1700003600);
    CHECK(c.has_iat);
    CHECK_INT(c.iat, 1700000000);
    CHECK(!c.has_nbf);
}

TEST(accepts_user_id_number)
{
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&verifier, "{\"userId\":42," GOOD_CLAIMS "}", &c), 0);
    CHECK_INT(c.user_id, 42);
}

TEST(accepts_sub_string_when_user_id_is_absent)
{
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&verifier, "{\"sub\":\"314\"," GOOD_CLAIMS "}", &c), 0);
    CHECK_INT(c.user_id, 314);
}

TEST(accepts_sub_number_when_user_id_is_absent)
{
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&verifier, "{\"sub\":314," GOOD_CLAIMS "}", &c), 0);
    CHECK_INT(c.user_id, 314);
}

TEST(user_id_wins_over_sub)
{
    struct jwt_claims c;
    CHECK_INT(
        verify_payload_with(&verifier, "{\"sub\":\"1\",\"userId\":\"2\"," GOOD_CLAIMS "}", &c), 0);
    CHECK_INT(c.user_id, 2);
}

TEST(accepts_the_largest_user_id)
{
    struct jwt_claims c;
    CHECK_INT(
        verify_payload_with(&verifier, "{\"userId\":\"9223372036854775807\"," GOOD_CLAIMS "}", &c),
        0);
    CHECK(c.user_id == INT64_MAX);
    CHECK_INT(
        verify_payload_with(&verifier, "{\"userId\":9223372036854775807," GOOD_CLAIMS "}", &c), 0);
    CHECK(c.user_id == INT64_MAX);
}

TEST(accepts_real_numeric_dates)
{
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&verifier,
                                  "{\"userId\":\"1\",\"jti\":\"r\",\"exp\":1700003600.5,"
                                  "\"nbf\":1699999999.25,\"iat\":1.6999999e9}",
                                  &c),
              0);
    CHECK_INT(c.exp, 1700003600); /* rounded down */
    CHECK_INT(c.nbf, 1700000000); /* rounded up */
    CHECK_INT(c.iat, 1699999900);
    CHECK(c.has_nbf && c.has_iat);
}

TEST(accepts_exp_29_seconds_ago_within_leeway)
{
    struct jwt_claims c;
    CHECK_INT(verify_times(-29, NULL, 0, &c), 0);
}

TEST(expires_exp_30_seconds_ago)
{
    struct jwt_claims c;
    CHECK_INT(verify_times(-30, NULL, 0, &c), CHAT_E_TOKEN_EXPIRED);
    /* The claims are still filled, for the log line. */
    CHECK_INT(c.user_id, 7);
    CHECK_INT(c.exp, NOW - 30);
}

TEST(expires_long_expired_token)
{
    struct jwt_claims c;
    CHECK_INT(verify_times(-86400, NULL, 0, &c), CHAT_E_TOKEN_EXPIRED);
}

TEST(accepts_nbf_30_seconds_ahead)
{
    struct jwt_claims c;
    CHECK_INT(verify_times(3600, "nbf", 30, &c), 0);
    CHECK(c.has_nbf);
    CHECK_INT(c.nbf, NOW + 30);
}

TEST(rejects_nbf_31_seconds_ahead)
{
    struct jwt_claims c;
    CHECK_INT(verify_times(3600, "nbf", 31, &c), CHAT_E_INVALID_TOKEN);
}

TEST(accepts_iat_30_seconds_ahead)
{
    struct jwt_claims c;
    CHECK_INT(verify_times(3600, "iat", 30, &c), 0);
}

TEST(rejects_iat_31_seconds_ahead)
{
    struct jwt_claims c;
    CHECK_INT(verify_times(3600, "iat", 31, &c), CHAT_E_INVALID_TOKEN);
}

TEST(not_yet_valid_wins_over_expired)
{
    struct jwt_claims c;
    CHECK_INT(verify_times(-3600, "nbf", 3600, &c), CHAT_E_INVALID_TOKEN);
}

TEST(accepts_any_typ_string)
{
    CHECK_INT(
        verify(forge("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", "{\"userId\":1," GOOD_CLAIMS "}")),
        0);
    CHECK_INT(verify(forge("{\"alg\":\"HS256\"}", "{\"userId\":1," GOOD_CLAIMS "}")), 0);
}

TEST(ignores_kid_jku_x5u)
{
    CHECK_INT(verify(forge("{\"alg\":\"HS256\",\"kid\":\"k1\",\"jku\":\"https://evil/jwks\","
                           "\"x5u\":\"https://evil/cert\"}",
                           "{\"userId\":1," GOOD_CLAIMS "}")),
              0);
}

TEST(accepts_jti_of_255_bytes)
{
    char payload[512], jti[256];
    memset(jti, 'j', 255);
    jti[255] = '\0';
    snprintf(payload, sizeof payload, "{\"userId\":1,\"exp\":1700003600,\"jti\":\"%s\"}", jti);
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&verifier, payload, &c), 0);
    CHECK_STR(c.jti, jti);
}

/* A token exactly JWT_MAX_TOKEN_BYTES long passes; one byte more does not. */
TEST(size_limit_is_exactly_8_kib)
{
    static char payload[JWT_MAX_TOKEN_BYTES];
    bool hit_limit = false, hit_over = false;
    for (size_t pad = 6000; pad < 6200 && !(hit_limit && hit_over); pad++) {
        int n = snprintf(payload, sizeof payload, "{\"userId\":1," GOOD_CLAIMS ",\"pad\":\"");
        memset(payload + n, 'p', pad);
        snprintf(payload + n + pad, sizeof payload - (size_t)n - pad, "\"}");
        char *token = NULL;
        CHECK_INT(jwt_sign_hs256((const uint8_t *)secret, sizeof secret - 1, payload, &token), 0);
        struct jwt_claims c;
        size_t len = strlen(token);
        if (len == JWT_MAX_TOKEN_BYTES) {
            hit_limit = true;
            CHECK_INT(jwt_verify(&verifier, token, len, NOW, &c), 0);
        } else if (len == JWT_MAX_TOKEN_BYTES + 1) {
            hit_over = true;
            CHECK_INT(jwt_verify(&verifier, token, len, NOW, &c), CHAT_E_INVALID_TOKEN);
        }
        free(token);
    }
    CHECK(hit_limit);
    CHECK(hit_over);
}

/* ---- size, NUL, segments ------------------------------------------------- */

/* Design §2: libjwt crashed on a 12 MiB token; this one is refused before
 * any decoding. */
TEST(rejects_a_12_mib_token)
{
    size_t len = 12u * 1024 * 1024;
    char *token = malloc(len);
    CHECK(token != NULL);
    if (!token) return;
    memset(token, 'a', len);
    token[100] = '.';
    token[len - 100] = '.';
    struct jwt_claims c;
    CHECK_INT(jwt_verify(&verifier, token, len, NOW, &c), CHAT_E_INVALID_TOKEN);
    free(token);
}

TEST(rejects_a_nul_byte)
{
    char token[1024];
    const char *good = forge(HS256_HEADER, "{\"userId\":1," GOOD_CLAIMS "}");
    size_t len = strlen(good);
    struct jwt_claims c;
    CHECK_INT(verify(good), 0);
    memcpy(token, good, len + 1);
    CHECK_INT(jwt_verify(&verifier, token, len + 1, NOW, &c), CHAT_E_INVALID_TOKEN);
    token[5] = '\0';
    CHECK_INT(jwt_verify(&verifier, token, len, NOW, &c), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_an_empty_token)
{
    struct jwt_claims c;
    CHECK_INT(jwt_verify(&verifier, "", 0, NOW, &c), CHAT_E_INVALID_TOKEN);
    CHECK_INT(jwt_verify(&verifier, NULL, 0, NOW, &c), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_two_segments)
{
    const char *good = forge(HS256_HEADER, "{\"userId\":1," GOOD_CLAIMS "}");
    char token[1024];
    snprintf(token, sizeof token, "%s", good);
    *strrchr(token, '.') = '\0';
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_four_segments)
{
    const char *good = forge(HS256_HEADER, "{\"userId\":1," GOOD_CLAIMS "}");
    char token[1024];
    snprintf(token, sizeof token, "%s.", good);
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
    snprintf(token, sizeof token, "%s.e30", good);
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_empty_header_segment)
{
    CHECK_INT(verify(forge_segments("", "eyJ1c2VySWQiOjF9")), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_empty_payload_segment)
{
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiJ9", "")), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_empty_signature_segment)
{
    const char *good = forge(HS256_HEADER, "{\"userId\":1," GOOD_CLAIMS "}");
    char token[1024];
    snprintf(token, sizeof token, "%s", good);
    strrchr(token, '.')[1] = '\0';
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(".."), CHAT_E_INVALID_TOKEN);
}

/* ---- base64url strictness ------------------------------------------------ */

TEST(rejects_padding_in_header)
{
    /* {"alg":"HS256"} encodes to 20 characters; the same with a trailing
     * space to 22, which a padding encoder would round up with "==". */
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiJ9IA==",
                                    "eyJ1c2VySWQiOjEsImp0aSI6ImoiLCJleHAiOjE3MDAwMDM2MDB9")),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiJ9IA",
                                    "eyJ1c2VySWQiOjEsImp0aSI6ImoiLCJleHAiOjE3MDAwMDM2MDB9")),
              0);
}

TEST(rejects_padding_in_payload)
{
    /* {"userId":1,"jti":"j","exp":1700003600} plus a space: 40 bytes, 54
     * characters, 56 when padded. */
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiJ9",
                                    "eyJ1c2VySWQiOjEsImp0aSI6ImoiLCJleHAiOjE3MDAwMDM2MDB9IA==")),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiJ9",
                                    "eyJ1c2VySWQiOjEsImp0aSI6ImoiLCJleHAiOjE3MDAwMDM2MDB9IA")),
              0);
}

TEST(rejects_padding_in_signature)
{
    const char *good = forge(HS256_HEADER, "{\"userId\":1," GOOD_CLAIMS "}");
    char token[1024];
    snprintf(token, sizeof token, "%s=", good);
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_the_standard_base64_alphabet)
{
    /* {"alg":"HS256","kid":"~~~"} and {"alg":"HS256","kid":"???"}: base64url
     * spells them with '-' and '_' where standard base64 has '+' and '/'. */
    const char *p64 = "eyJ1c2VySWQiOjEsImp0aSI6ImoiLCJleHAiOjE3MDAwMDM2MDB9";
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiIsImtpZCI6In5-fiJ9", p64)), 0);
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiIsImtpZCI6In5+fiJ9", p64)),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiIsImtpZCI6Ij8_PyJ9", p64)), 0);
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiIsImtpZCI6Ij8/PyJ9", p64)),
              CHAT_E_INVALID_TOKEN);
}

TEST(rejects_whitespace_in_a_segment)
{
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiJ9 ",
                                    "eyJ1c2VySWQiOjEsImp0aSI6ImoiLCJleHAiOjE3MDAwMDM2MDB9")),
              CHAT_E_INVALID_TOKEN);
}

TEST(rejects_a_segment_length_of_one_mod_four)
{
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiJ9A",
                                    "eyJ1c2VySWQiOjEsImp0aSI6ImoiLCJleHAiOjE3MDAwMDM2MDB9")),
              CHAT_E_INVALID_TOKEN);
}

TEST(rejects_nonzero_trailing_bits_in_signature)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *good = forge(HS256_HEADER, "{\"userId\":1," GOOD_CLAIMS "}");
    char token[1024];
    snprintf(token, sizeof token, "%s", good);
    CHECK_INT(verify(token), 0);
    /* 32 bytes take 43 characters; the last carries 2 bits and 4 zero bits.
     * Setting one of those makes a spelling that a lax decoder would accept. */
    char *last = token + strlen(token) - 1;
    size_t value = (size_t)(strchr(alphabet, *last) - alphabet);
    *last = alphabet[value | 1];
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_nonzero_trailing_bits_in_payload)
{
    /* "IA" is the trailing space; "IB" spells the same byte with a stray low
     * bit set. */
    CHECK_INT(verify(forge_segments("eyJhbGciOiJIUzI1NiJ9",
                                    "eyJ1c2VySWQiOjEsImp0aSI6ImoiLCJleHAiOjE3MDAwMDM2MDB9IB")),
              CHAT_E_INVALID_TOKEN);
}

/* ---- header -------------------------------------------------------------- */

static const char *const any_payload = "{\"userId\":1," GOOD_CLAIMS "}";

TEST(rejects_alg_none)
{
    CHECK_INT(verify(forge("{\"alg\":\"none\"}", any_payload)), CHAT_E_INVALID_TOKEN);
    /* The classic unsigned form, with nothing after the last dot. */
    char token[512], h64[64], p64[256];
    base64url_encode((const uint8_t *)"{\"alg\":\"none\"}", 14, h64, sizeof h64);
    base64url_encode((const uint8_t *)any_payload, strlen(any_payload), p64, sizeof p64);
    snprintf(token, sizeof token, "%s.%s.", h64, p64);
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_alg_lowercase_hs256)
{
    CHECK_INT(verify(forge("{\"alg\":\"hs256\"}", any_payload)), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_alg_hs512)
{
    /* A genuine HS512 token under the same secret. */
    char h64[64], p64[256], token[1024];
    struct hmac_sha512_ctx hmac;
    uint8_t mac[SHA512_DIGEST_SIZE];
    base64url_encode((const uint8_t *)"{\"alg\":\"HS512\"}", 15, h64, sizeof h64);
    base64url_encode((const uint8_t *)any_payload, strlen(any_payload), p64, sizeof p64);
    int n = snprintf(token, sizeof token, "%s.%s", h64, p64);
    hmac_sha512_set_key(&hmac, sizeof secret - 1, (const uint8_t *)secret);
    hmac_sha512_update(&hmac, (size_t)n, (const uint8_t *)token);
    hmac_sha512_digest(&hmac, sizeof mac, mac);
    token[n++] = '.';
    base64url_encode(mac, sizeof mac, token + n, sizeof token - (size_t)n);
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
    /* ...and an HS256 signature under an HS512 header. */
    CHECK_INT(verify(forge("{\"alg\":\"HS512\"}", any_payload)), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_alg_rs256)
{
    CHECK_INT(verify(forge("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", any_payload)),
              CHAT_E_INVALID_TOKEN);
}

TEST(rejects_alg_with_extra_text)
{
    CHECK_INT(verify(forge("{\"alg\":\"HS256 \"}", any_payload)), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("{\"alg\":\"HS2\"}", any_payload)), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_missing_alg)
{
    CHECK_INT(verify(forge("{\"typ\":\"JWT\"}", any_payload)), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("{}", any_payload)), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_non_string_alg)
{
    CHECK_INT(verify(forge("{\"alg\":256}", any_payload)), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("{\"alg\":[\"HS256\"]}", any_payload)), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("{\"alg\":null}", any_payload)), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_crit_header)
{
    CHECK_INT(verify(forge("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", any_payload)),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("{\"alg\":\"HS256\",\"crit\":[]}", any_payload)), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_non_string_typ)
{
    CHECK_INT(verify(forge("{\"alg\":\"HS256\",\"typ\":1}", any_payload)), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("{\"alg\":\"HS256\",\"typ\":null}", any_payload)), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_duplicate_keys_in_header)
{
    CHECK_INT(verify(forge("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", any_payload)),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("{\"alg\":\"none\",\"alg\":\"HS256\"}", any_payload)),
              CHAT_E_INVALID_TOKEN);
}

TEST(rejects_header_that_is_not_an_object)
{
    CHECK_INT(verify(forge("[\"HS256\"]", any_payload)), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("\"HS256\"", any_payload)), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_header_that_is_not_json)
{
    CHECK_INT(verify(forge("{alg:HS256}", any_payload)), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify(forge("{\"alg\":\"HS256\"} x", any_payload)), CHAT_E_INVALID_TOKEN);
}

/* ---- signature ----------------------------------------------------------- */

TEST(rejects_a_wrong_secret)
{
    static const char other[] = "another secret of more than 32 bytes";
    const struct jwt_verifier v = {(const uint8_t *)other, sizeof other - 1, NULL, NULL};
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&v, any_payload, &c), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_an_empty_verifier_secret)
{
    const struct jwt_verifier v = {(const uint8_t *)"", 0, NULL, NULL};
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&v, any_payload, &c), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_a_truncated_signature)
{
    const char *good = forge(HS256_HEADER, any_payload);
    char token[1024];
    snprintf(token, sizeof token, "%s", good);
    token[strlen(token) - 3] = '\0'; /* 40 characters: 30 bytes */
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_a_lengthened_signature)
{
    const char *good = forge(HS256_HEADER, any_payload);
    char token[1024];
    snprintf(token, sizeof token, "%sAAAA", good);
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_a_swapped_payload)
{
    char first[1024];
    snprintf(first, sizeof first, "%s", forge(HS256_HEADER, "{\"userId\":1," GOOD_CLAIMS "}"));
    const char *second = forge(HS256_HEADER, "{\"userId\":2," GOOD_CLAIMS "}");
    /* The payload of the second under the signature of the first. */
    char token[1024];
    const char *p2 = strchr(second, '.') + 1;
    const char *sig1 = strrchr(first, '.');
    int n = snprintf(token, sizeof token, "%.*s.", (int)(strchr(first, '.') - first), first);
    snprintf(token + n, sizeof token - (size_t)n, "%.*s%s", (int)(strrchr(second, '.') - p2), p2,
             sig1);
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

/* The signature is checked before the payload is read: an expired token with
 * a bad signature is invalid, not expired. */
TEST(checks_the_signature_before_the_claims)
{
    const char *good = forge(HS256_HEADER, "{\"userId\":1,\"jti\":\"j\",\"exp\":1}");
    char token[1024];
    snprintf(token, sizeof token, "%s", good);
    CHECK_INT(verify(token), CHAT_E_TOKEN_EXPIRED);
    char *sig = strrchr(token, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    CHECK_INT(verify(token), CHAT_E_INVALID_TOKEN);
}

/* ---- payload shape ------------------------------------------------------- */

TEST(rejects_payload_array)
{
    CHECK_INT(verify_payload("[{\"userId\":1," GOOD_CLAIMS "}]"), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_payload_string)
{
    CHECK_INT(verify_payload("\"userId\""), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_payload("42"), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_payload_that_is_not_json)
{
    CHECK_INT(verify_payload("{\"userId\":1,"), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_payload("{\"userId\":1," GOOD_CLAIMS "}{}"), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_payload(""), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_duplicate_keys_in_payload)
{
    CHECK_INT(verify_payload("{\"userId\":1,\"userId\":2," GOOD_CLAIMS "}"), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_payload("{\"userId\":1," GOOD_CLAIMS ",\"exp\":1800000000}"),
              CHAT_E_INVALID_TOKEN);
}

/* ---- exp, iat, nbf ------------------------------------------------------- */

TEST(rejects_missing_exp)
{
    CHECK_INT(verify_payload("{\"userId\":1,\"jti\":\"j\"}"), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_string_exp)
{
    CHECK_INT(verify_payload("{\"userId\":1,\"jti\":\"j\",\"exp\":\"1700003600\"}"),
              CHAT_E_INVALID_TOKEN);
}

TEST(rejects_boolean_exp)
{
    CHECK_INT(verify_payload("{\"userId\":1,\"jti\":\"j\",\"exp\":true}"), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_null_exp)
{
    CHECK_INT(verify_payload("{\"userId\":1,\"jti\":\"j\",\"exp\":null}"), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_non_number_iat)
{
    CHECK_INT(verify_payload("{\"userId\":1," GOOD_CLAIMS ",\"iat\":\"1700000000\"}"),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_payload("{\"userId\":1," GOOD_CLAIMS ",\"iat\":null}"), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_non_number_nbf)
{
    CHECK_INT(verify_payload("{\"userId\":1," GOOD_CLAIMS ",\"nbf\":\"1700000000\"}"),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_payload("{\"userId\":1," GOOD_CLAIMS ",\"nbf\":false}"), CHAT_E_INVALID_TOKEN);
}

TEST(survives_extreme_numeric_dates)
{
    struct jwt_claims c;
    CHECK_INT(verify_payload_with(&verifier, "{\"userId\":1,\"jti\":\"j\",\"exp\":1e300}", &c), 0);
    CHECK(c.exp == INT64_MAX);
    CHECK_INT(verify_payload_with(&verifier,
                                  "{\"userId\":1,\"jti\":\"j\",\"exp\":9223372036854775807}", &c),
              0);
    CHECK_INT(verify_payload_with(&verifier,
                                  "{\"userId\":1,\"jti\":\"j\",\"exp\":-9223372036854775807}", &c),
              CHAT_E_TOKEN_EXPIRED);
    CHECK_INT(verify_payload_with(
                  &verifier, "{\"userId\":1," GOOD_CLAIMS ",\"nbf\":-9223372036854775807}", &c),
              0);
    CHECK_INT(verify_payload_with(&verifier, "{\"userId\":1," GOOD_CLAIMS ",\"iat\":1e300}", &c),
              CHAT_E_INVALID_TOKEN);
}

/* ---- jti ----------------------------------------------------------------- */

TEST(rejects_missing_jti)
{
    CHECK_INT(verify_payload("{\"userId\":1,\"exp\":1700003600}"), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_empty_jti)
{
    CHECK_INT(verify_payload("{\"userId\":1,\"jti\":\"\",\"exp\":1700003600}"),
              CHAT_E_INVALID_TOKEN);
}

TEST(rejects_non_string_jti)
{
    CHECK_INT(verify_payload("{\"userId\":1,\"jti\":12,\"exp\":1700003600}"), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_payload("{\"userId\":1,\"jti\":null,\"exp\":1700003600}"),
              CHAT_E_INVALID_TOKEN);
}

TEST(rejects_jti_of_256_bytes)
{
    char payload[512], jti[257];
    memset(jti, 'j', 256);
    jti[256] = '\0';
    snprintf(payload, sizeof payload, "{\"userId\":1,\"exp\":1700003600,\"jti\":\"%s\"}", jti);
    CHECK_INT(verify_payload(payload), CHAT_E_INVALID_TOKEN);
}

/* ---- userId and sub ------------------------------------------------------ */

TEST(rejects_malformed_user_id_strings)
{
    static const char *const bad[] = {
        "\"0\"",
        "\"-1\"",
        "\"+1\"",
        "\" 1\"",
        "\"1 \"",
        "\"\"",
        "\"1a\"",
        "\"0x1\"",
        "\"1.0\"",
        "\"1e3\"",
        "\"00\"",
        "\"12345678901234567890\"", /* 20 digits */
        "\"9223372036854775808\"",  /* INT64_MAX + 1 */
        "\"99999999999999999999\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = verify_user(bad[i], NULL);
        if (rc != CHAT_E_INVALID_TOKEN) test_fail(__FILE__, __LINE__, "userId %s accepted", bad[i]);
    }
}

TEST(rejects_non_positive_user_id_numbers)
{
    CHECK_INT(verify_user("0", NULL), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_user("-5", NULL), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_real_user_id)
{
    CHECK_INT(verify_user("1.0", NULL), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_user("1e3", NULL), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_user_id_of_another_type_even_with_sub)
{
    static const char *const bad[] = {"true", "false", "null", "{}", "[1]", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = verify_user(bad[i], "\"42\"");
        if (rc != CHAT_E_INVALID_TOKEN) test_fail(__FILE__, __LINE__, "userId %s accepted", bad[i]);
    }
}

TEST(rejects_malformed_user_id_even_with_sub)
{
    CHECK_INT(verify_user("\"abc\"", "\"42\""), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_missing_user_id_and_sub)
{
    CHECK_INT(verify_user(NULL, NULL), CHAT_E_INVALID_TOKEN);
}

TEST(rejects_malformed_sub)
{
    static const char *const bad[] = {"\"user-42\"", "\"\"", "0", "-1", "true", "null", "4.2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = verify_user(NULL, bad[i]);
        if (rc != CHAT_E_INVALID_TOKEN) test_fail(__FILE__, __LINE__, "sub %s accepted", bad[i]);
    }
}

/* ---- issuer and audience ------------------------------------------------- */

static const struct jwt_verifier strict = {(const uint8_t *)secret, sizeof secret - 1,
                                           "https://users.example", "chat"};

static int verify_strict(const char *iss_aud)
{
    char payload[512];
    struct jwt_claims c;
    snprintf(payload, sizeof payload, "{\"userId\":1," GOOD_CLAIMS "%s}", iss_aud);
    return verify_payload_with(&strict, payload, &c);
}

TEST(accepts_matching_issuer_and_audience)
{
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example\",\"aud\":\"chat\""), 0);
}

TEST(rejects_wrong_or_missing_issuer)
{
    CHECK_INT(verify_strict(",\"iss\":\"https://evil.example\",\"aud\":\"chat\""),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example/\",\"aud\":\"chat\""),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_strict(",\"aud\":\"chat\""), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_strict(",\"iss\":[\"https://users.example\"],\"aud\":\"chat\""),
              CHAT_E_INVALID_TOKEN);
}

TEST(accepts_audience_within_an_array)
{
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example\",\"aud\":[\"web\",\"chat\"]"), 0);
}

TEST(rejects_wrong_or_missing_audience)
{
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example\",\"aud\":\"web\""),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example\""), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example\",\"aud\":[]"), CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example\",\"aud\":[\"web\"]"),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example\",\"aud\":[\"chat\",7]"),
              CHAT_E_INVALID_TOKEN);
    CHECK_INT(verify_strict(",\"iss\":\"https://users.example\",\"aud\":{\"chat\":1}"),
              CHAT_E_INVALID_TOKEN);
}

TEST(ignores_issuer_and_audience_when_not_configured)
{
    CHECK_INT(verify_payload("{\"userId\":1," GOOD_CLAIMS ",\"iss\":7,\"aud\":false}"), 0);
}

/* ---- signing ------------------------------------------------------------- */

TEST(sign_produces_the_expected_header)
{
    char *token = NULL;
    CHECK_INT(jwt_sign_hs256((const uint8_t *)secret, sizeof secret - 1, "{}", &token), 0);
    CHECK(token && strncmp(token, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.", 41) == 0);
    CHECK_INT(strlen(token), 41 + 43);
    free(token);
}

TEST(sign_refuses_an_empty_secret)
{
    char untouched = 0, *token = &untouched;
    CHECK_INT(jwt_sign_hs256((const uint8_t *)"", 0, "{}", &token), CHAT_E_INVALID_REQUEST);
    CHECK(token == NULL);
    CHECK_INT(jwt_sign_hs256((const uint8_t *)secret, sizeof secret - 1, NULL, &token),
              CHAT_E_INVALID_REQUEST);
}
