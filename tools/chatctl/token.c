/* chatctl's token commands: minting the HS256 JWT the user service would
 * issue at login, and revoking one by its jti. */
#include "chatctl.h"

#include "auth/jwt.h"
#include "crypto/random.h"
#include "proto/json_writer.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_DEFAULT_TTL_S 3600
#define TOKEN_MAX_TTL_S (10LL * 365 * 24 * 3600)
#define TOKEN_PAYLOAD_MAX 1024

static bool jti_valid(const char *jti)
{
    size_t len = strlen(jti);
    return len > 0 && len <= JWT_JTI_MAX;
}

/* The claims chatd reads (protocol §4): userId as a string, as the user
 * service writes it. */
static int token_payload(buf *out, int64_t user_id, const char *username, const char *jti,
                         int64_t ttl_s)
{
    int64_t now_s = clock_wall_ms() / 1000;
    json_writer w;
    jw_init(&w, out);
    jw_object_begin(&w);
    jw_key(&w, "userId");
    jw_id(&w, user_id);
    jw_key(&w, "username");
    jw_string(&w, username);
    jw_key(&w, "jti");
    jw_string(&w, jti);
    jw_key(&w, "iat");
    jw_int(&w, now_s);
    jw_key(&w, "exp");
    jw_int(&w, now_s + ttl_s);
    jw_object_end(&w);
    return jw_finish(&w);
}

/* Signs the payload with JWT_SECRET and prints the token. */
static int token_print(const buf *payload)
{
    const char *secret = getenv("JWT_SECRET");
    char *token = NULL;
    if (jwt_sign_hs256((const uint8_t *)secret, strlen(secret), (const char *)payload->data,
                       &token) != 0)
        return chatctl_fail("signing the token failed");
    puts(token);
    free(token);
    return 0;
}

/* --ttl may be zero or negative: an already expired token, for tests. */
int chatctl_token(int argc, char **argv)
{
    const char *user;
    struct chatctl_option options[] = {{"--ttl", NULL}, {"--jti", NULL}};
    if (chatctl_parse(argc, argv, &user, 1, options, 2) != 0) return 1;
    int64_t ttl = TOKEN_DEFAULT_TTL_S;
    if (options[0].value && (!chatctl_parse_int64(options[0].value, &ttl) ||
                             ttl > TOKEN_MAX_TTL_S || ttl < -TOKEN_MAX_TTL_S))
        return chatctl_fail("--ttl must be a whole number of seconds, at most ten years");
    char uuid[37];
    const char *jti = options[1].value;
    if (jti && !jti_valid(jti)) return chatctl_fail("--jti must be 1 to %d bytes", JWT_JTI_MAX);
    if (!jti) {
        random_uuid(uuid);
        jti = uuid;
    }
    const char *secret = getenv("JWT_SECRET");
    if (!secret || strlen(secret) < CONFIG_JWT_SECRET_MIN)
        return chatctl_fail("JWT_SECRET must be set, at least %d bytes", CONFIG_JWT_SECRET_MIN);

    struct chatctl_db db;
    if (chatctl_connect(&db, false) != 0) return 1;
    int64_t user_id;
    char *username = NULL;
    int status = chatctl_lookup_user(&db, user, &user_id, &username);
    chatctl_disconnect(&db);
    if (status != 0) return status;

    buf payload;
    buf_init(&payload, TOKEN_PAYLOAD_MAX);
    if (token_payload(&payload, user_id, username, jti, ttl) != 0)
        status = chatctl_fail("building the token payload failed");
    else
        status = token_print(&payload);
    buf_free(&payload);
    free(username);
    return status;
}

/* Revoked for good: expires_at stays NULL, and chatd treats any listed jti
 * as revoked. */
int chatctl_revoke(int argc, char **argv)
{
    const char *jti;
    if (chatctl_parse(argc, argv, &jti, 1, NULL, 0) != 0) return 1;
    if (!jti_valid(jti)) return chatctl_fail("a jti is 1 to %d bytes", JWT_JTI_MAX);
    struct chatctl_db db;
    if (chatctl_connect(&db, false) != 0) return 1;
    char now[32];
    chatctl_iso_now(now);
    struct chatctl_query q = {
        .sql = "INSERT INTO jwt_revocation (jti, revoked_at, expires_at)"
               " VALUES ($1, $2, NULL) ON CONFLICT (jti) DO NOTHING",
        .types = "st",
        .params = {jti, now},
        .nparams = 2,
    };
    int status = 0;
    if (chatctl_run(&db, &q) == CHATCTL_ERROR) status = chatctl_fail_db(&db, "revoking the token");
    chatctl_disconnect(&db);
    return status;
}
