/* Verification of the HS256 JSON Web Tokens the user service issues
 * (protocol §4), strict in the manner of RFC 8725: one algorithm, canonical
 * base64url, no duplicate keys, the signature checked in constant time before
 * the payload is read. Signing is here too, for chatctl and the tests. */
#ifndef CHATD_AUTH_JWT_H
#define CHATD_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_TOKEN_BYTES 8192
#define JWT_JTI_MAX 255
#define JWT_LEEWAY_S 30

/* What a token must satisfy. The verifier keeps the pointers, it does not copy
 * what they point to. */
struct jwt_verifier {
    const uint8_t *secret;
    size_t secret_len;
    const char *issuer;   /* NULL: not checked */
    const char *audience; /* NULL: not checked */
};

struct jwt_claims {
    int64_t user_id;
    char jti[JWT_JTI_MAX + 1];
    int64_t exp; /* seconds; a fractional exp is rounded down */
    int64_t iat; /* seconds, rounded up; meaningful when has_iat */
    int64_t nbf; /* seconds, rounded up; meaningful when has_nbf */
    bool has_iat;
    bool has_nbf;
};

/* Verifies token[0..len) at time now_s (Unix seconds). Returns 0 with *claims
 * filled; CHAT_E_TOKEN_EXPIRED when the token is valid but exp + JWT_LEEWAY_S
 * <= now_s (*claims is filled then too, for logging); CHAT_E_INVALID_TOKEN for
 * every other defect (*claims is zeroed). Decodes into stack buffers; the only
 * heap use is jansson's parse trees (freed before return). */
int jwt_verify(const struct jwt_verifier *v, const char *token, size_t len, int64_t now_s,
               struct jwt_claims *claims);

/* Signs payload_json (the text of a JSON object, signed as given and not
 * checked, so tests can sign malformed payloads) with HS256 under the header
 * {"alg":"HS256","typ":"JWT"}. On success *out is a malloc'd NUL-terminated
 * "header.payload.signature" the caller frees. 0, CHAT_E_INVALID_REQUEST (no
 * payload, or an empty secret) or CHAT_E_NOMEM. */
int jwt_sign_hs256(const uint8_t *secret, size_t secret_len, const char *payload_json, char **out);

#endif
