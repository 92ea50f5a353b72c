/* HS256 JWT verification and signing: see jwt.h. The order of the checks is
 * the point: bound the length, split, check the header's algorithm, check the
 * signature, and only then read the payload's claims. */
#include "auth/jwt.h"

#include "util/base64.h"
#include "util/error.h"
#include "util/wipe.h"

#include <jansson.h>
#include <math.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdlib.h>
#include <string.h>

#define JWT_MAC_BYTES SHA256_DIGEST_SIZE
/* The decoded size of the longest segment a token of JWT_MAX_TOKEN_BYTES can
 * hold. */
#define JWT_SEGMENT_MAX (JWT_MAX_TOKEN_BYTES / 4 * 3)

/* ---- helpers ------------------------------------------------------------- */

/* HMAC-SHA256 of data[0..n) under the secret. 0, or CHAT_E_INVALID_REQUEST
 * for an empty secret. */
static int jwt_hmac_sha256(const uint8_t *secret, size_t secret_len, const void *data, size_t n,
                           uint8_t mac[JWT_MAC_BYTES])
{
    if (!secret || secret_len == 0) return CHAT_E_INVALID_REQUEST;
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, secret_len, secret);
    hmac_sha256_update(&ctx, n, data);
    hmac_sha256_digest(&ctx, JWT_MAC_BYTES, mac);
    wipe_secret(&ctx, sizeof ctx); /* its states are derived from the secret */
    return 0;
}

/* Decodes one base64url segment and parses it as a JSON object. RFC 7515 §4:
 * "JWS parsers MUST either reject JWSs with duplicate Header Parameter names
 * or use a JSON parser that returns only the lexically last duplicate member
 * name"; we reject, in the header and the claims alike. Returns a new
 * reference the caller releases, or NULL. */
static json_t *jwt_decode_object(const char *segment, size_t len)
{
    uint8_t text[JWT_SEGMENT_MAX];
    size_t n;
    if (base64url_decode(segment, len, text, sizeof text, &n) != 0) return NULL;
    json_t *value = json_loadb((const char *)text, n, JSON_REJECT_DUPLICATES, NULL);
    if (value && !json_is_object(value)) {
        json_decref(value);
        return NULL;
    }
    return value;
}

static bool jwt_string_equals(const json_t *value, const char *expected)
{
    size_t n = strlen(expected);
    return json_is_string(value) && json_string_length(value) == n &&
           memcmp(json_string_value(value), expected, n) == 0;
}

/* ---- the three segments -------------------------------------------------- */

struct jwt_segments {
    const char *header, *payload, *signature;
    size_t header_len, payload_len, signature_len;
    size_t signed_len; /* "header.payload", the bytes the signature covers */
};

/* RFC 7515 §7.1: a compact JWS is exactly three dot-separated parts. */
static int jwt_split(const char *token, size_t len, struct jwt_segments *s)
{
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    if (!dot1) return CHAT_E_INVALID_TOKEN;
    const char *dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) return CHAT_E_INVALID_TOKEN;

    s->header = token;
    s->header_len = (size_t)(dot1 - token);
    s->payload = dot1 + 1;
    s->payload_len = (size_t)(dot2 - s->payload);
    s->signature = dot2 + 1;
    s->signature_len = (size_t)(end - s->signature);
    s->signed_len = (size_t)(dot2 - token);
    if (s->header_len == 0 || s->payload_len == 0 || s->signature_len == 0)
        return CHAT_E_INVALID_TOKEN;
    return 0;
}

/* RFC 8725 §3.1: accept exactly the one algorithm we use, never "none" or a
 * case variant. RFC 7515 §4.1.11: a "crit" header names extensions we would
 * have to understand, and we understand none. kid, jku and x5u are ignored:
 * the key is ours, never fetched. */
static int jwt_check_header(const struct jwt_segments *s)
{
    json_t *header = jwt_decode_object(s->header, s->header_len);
    if (!header) return CHAT_E_INVALID_TOKEN;
    const json_t *typ = json_object_get(header, "typ");
    bool ok = jwt_string_equals(json_object_get(header, "alg"), "HS256") &&
              !json_object_get(header, "crit") && (!typ || json_is_string(typ));
    json_decref(header);
    return ok ? 0 : CHAT_E_INVALID_TOKEN;
}

static int jwt_check_signature(const struct jwt_verifier *v, const char *token,
                               const struct jwt_segments *s)
{
    uint8_t given[JWT_MAC_BYTES], expected[JWT_MAC_BYTES];
    size_t given_len;
    if (base64url_decode(s->signature, s->signature_len, given, sizeof given, &given_len) != 0 ||
        given_len != sizeof given)
        return CHAT_E_INVALID_TOKEN;
    if (jwt_hmac_sha256(v->secret, v->secret_len, token, s->signed_len, expected) != 0)
        return CHAT_E_INVALID_TOKEN; /* no usable secret */
    return memeql_sec(given, expected, sizeof given) ? 0 : CHAT_E_INVALID_TOKEN;
}

/* ---- claims -------------------------------------------------------------- */

/* A NumericDate (RFC 7519 §2) as whole seconds, saturating at the int64
 * limits. A fractional value rounds toward the stricter side: down for exp,
 * up for nbf and iat. */
static int64_t jwt_seconds(const json_t *value, bool round_up)
{
    if (json_is_integer(value)) return json_integer_value(value);
    double d = json_real_value(value);
    d = round_up ? ceil(d) : floor(d);
    if (d >= 9223372036854775807.0) return INT64_MAX; /* 2^63 as a double */
    if (d <= -9223372036854775807.0) return INT64_MIN;
    return (int64_t)d;
}

/* Whether t lies more than the leeway after now, without overflowing. */
static bool jwt_after_leeway(int64_t t, int64_t now)
{
    return t > INT64_MIN + JWT_LEEWAY_S && t - JWT_LEEWAY_S > now;
}

/* 1 to 19 decimal digits with a value from 1 to INT64_MAX; no sign, no
 * spaces. */
static int jwt_parse_user_id(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (len == 0 || len > 19) return CHAT_E_INVALID_TOKEN;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return CHAT_E_INVALID_TOKEN;
        int digit = s[i] - '0';
        if (v > (INT64_MAX - digit) / 10) return CHAT_E_INVALID_TOKEN;
        v = v * 10 + digit;
    }
    if (v == 0) return CHAT_E_INVALID_TOKEN;
    *out = v;
    return 0;
}

/* protocol §4: userId, or sub when userId is absent (a userId of the wrong
 * type is not rescued by sub); a decimal string or a positive integer. */
static int jwt_read_user_id(const json_t *payload, int64_t *out)
{
    const json_t *id = json_object_get(payload, "userId");
    if (!id) id = json_object_get(payload, "sub");
    if (json_is_integer(id)) {
        json_int_t v = json_integer_value(id);
        if (v < 1) return CHAT_E_INVALID_TOKEN;
        *out = v;
        return 0;
    }
    if (json_is_string(id))
        return jwt_parse_user_id(json_string_value(id), json_string_length(id), out);
    return CHAT_E_INVALID_TOKEN;
}

static int jwt_read_jti(const json_t *jti, char out[JWT_JTI_MAX + 1])
{
    if (!json_is_string(jti)) return CHAT_E_INVALID_TOKEN;
    size_t n = json_string_length(jti);
    if (n == 0 || n > JWT_JTI_MAX) return CHAT_E_INVALID_TOKEN;
    memcpy(out, json_string_value(jti), n);
    out[n] = '\0';
    return 0;
}

/* RFC 7519 §4.1.3: aud is one string or an array of strings, and we must be
 * among them. */
static bool jwt_audience_matches(const json_t *aud, const char *expected)
{
    if (json_is_string(aud)) return jwt_string_equals(aud, expected);
    if (!json_is_array(aud)) return false;
    bool found = false;
    for (size_t i = 0; i < json_array_size(aud); i++) {
        const json_t *item = json_array_get(aud, i);
        if (!json_is_string(item)) return false;
        if (jwt_string_equals(item, expected)) found = true;
    }
    return found;
}

/* Reads and checks every claim; expiry last, so that an expired token is
 * reported as such only when nothing else is wrong with it. */
static int jwt_read_claims(const struct jwt_verifier *v, const json_t *payload, int64_t now_s,
                           struct jwt_claims *c)
{
    const json_t *exp = json_object_get(payload, "exp");
    const json_t *iat = json_object_get(payload, "iat");
    const json_t *nbf = json_object_get(payload, "nbf");
    if (!json_is_number(exp) || (iat && !json_is_number(iat)) || (nbf && !json_is_number(nbf)))
        return CHAT_E_INVALID_TOKEN;
    if (jwt_read_jti(json_object_get(payload, "jti"), c->jti) != 0 ||
        jwt_read_user_id(payload, &c->user_id) != 0)
        return CHAT_E_INVALID_TOKEN;
    if (v->issuer && !jwt_string_equals(json_object_get(payload, "iss"), v->issuer))
        return CHAT_E_INVALID_TOKEN;
    if (v->audience && !jwt_audience_matches(json_object_get(payload, "aud"), v->audience))
        return CHAT_E_INVALID_TOKEN;

    c->exp = jwt_seconds(exp, false);
    c->has_iat = iat != NULL;
    c->iat = iat ? jwt_seconds(iat, true) : 0;
    c->has_nbf = nbf != NULL;
    c->nbf = nbf ? jwt_seconds(nbf, true) : 0;
    /* RFC 7519 §4.1.5: not accepted before nbf; a token issued in the future
     * is as suspect. Both allow JWT_LEEWAY_S of clock skew. */
    if ((c->has_nbf && jwt_after_leeway(c->nbf, now_s)) ||
        (c->has_iat && jwt_after_leeway(c->iat, now_s)))
        return CHAT_E_INVALID_TOKEN;
    /* RFC 7519 §4.1.4: not accepted on or after exp (plus the leeway). */
    if (c->exp <= INT64_MAX - JWT_LEEWAY_S && c->exp + JWT_LEEWAY_S <= now_s)
        return CHAT_E_TOKEN_EXPIRED;
    return 0;
}

/* ---- public -------------------------------------------------------------- */

int jwt_verify(const struct jwt_verifier *v, const char *token, size_t len, int64_t now_s,
               struct jwt_claims *claims)
{
    struct jwt_segments s;
    memset(claims, 0, sizeof *claims);
    /* protocol §4: the size is bounded before a single byte is decoded. */
    if (!token || len > JWT_MAX_TOKEN_BYTES || memchr(token, '\0', len))
        return CHAT_E_INVALID_TOKEN;
    int rc = jwt_split(token, len, &s);
    if (rc == 0) rc = jwt_check_header(&s);
    if (rc == 0) rc = jwt_check_signature(v, token, &s);
    if (rc != 0) return rc;

    /* Only now, with the signature good, is the payload worth reading. */
    json_t *payload = jwt_decode_object(s.payload, s.payload_len);
    if (!payload) return CHAT_E_INVALID_TOKEN;
    rc = jwt_read_claims(v, payload, now_s, claims);
    json_decref(payload);
    if (rc != 0 && rc != CHAT_E_TOKEN_EXPIRED) memset(claims, 0, sizeof *claims);
    return rc;
}

int jwt_sign_hs256(const uint8_t *secret, size_t secret_len, const char *payload_json, char **out)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    *out = NULL;
    if (!payload_json) return CHAT_E_INVALID_REQUEST;

    size_t payload_len = strlen(payload_json);
    size_t cap = base64url_encoded_len(sizeof header - 1) + base64url_encoded_len(payload_len) +
                 base64url_encoded_len(JWT_MAC_BYTES) + 3; /* two dots and the NUL */
    char *token = malloc(cap);
    if (!token) return CHAT_E_NOMEM;

    size_t n = base64url_encode((const uint8_t *)header, sizeof header - 1, token, cap);
    token[n++] = '.';
    n += base64url_encode((const uint8_t *)payload_json, payload_len, token + n, cap - n);
    uint8_t mac[JWT_MAC_BYTES];
    int rc = jwt_hmac_sha256(secret, secret_len, token, n, mac);
    if (rc != 0) {
        free(token);
        return rc;
    }
    token[n++] = '.';
    base64url_encode(mac, sizeof mac, token + n, cap - n);
    *out = token;
    return 0;
}
