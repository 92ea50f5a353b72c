/* The one error convention of chatd: functions return 0 or a negative code
 * from this table. Each code names the protocol error string it maps to (the
 * "code" field of an error reply, protocol §9) and a default message. */
#ifndef CHATD_UTIL_ERROR_H
#define CHATD_UTIL_ERROR_H

/* X(NAME, protocol code, default message) */
#define CHAT_ERROR_TABLE(X)                                                                        \
    X(INVALID_JSON, "invalid_json", "message is not a JSON object")                                \
    X(UNKNOWN_TYPE, "unknown_type", "unknown message type")                                        \
    X(INVALID_REQUEST, "invalid_request", "invalid request")                                       \
    X(NOT_AUTHENTICATED, "not_authenticated", "authenticate first")                                \
    X(ALREADY_AUTHENTICATED, "already_authenticated", "connection is already authenticated")       \
    X(CONTENT_TOO_LONG, "content_too_long", "content is too long")                                 \
    X(USER_NOT_FOUND, "user_not_found", "user not found")                                          \
    X(NOT_FOUND, "not_found", "not found")                                                         \
    X(FORBIDDEN, "forbidden", "not allowed")                                                       \
    X(BLOCKED, "blocked", "a block exists between these users")                                    \
    X(NOT_FOLLOWING, "not_following", "you must follow this user to message them")                 \
    X(RATE_LIMITED, "rate_limited", "too many messages, slow down")                                \
    X(GROUP_FULL, "group_full", "the group is full")                                               \
    X(TOO_MANY_PINS, "too_many_pins", "too many pinned messages")                                  \
    X(TOO_MANY_REACTIONS, "too_many_reactions", "too many distinct reactions")                     \
    X(UNAVAILABLE, "unavailable", "storage is unavailable, try again")                             \
    X(INTERNAL, "internal", "internal error")                                                      \
    /* authentication failures (auth_error codes, protocol §3) */                                 \
    X(INVALID_TOKEN, "invalid_token", "invalid token")                                             \
    X(TOKEN_EXPIRED, "token_expired", "token expired")                                             \
    X(TOKEN_REVOKED, "token_revoked", "token revoked")                                             \
    X(TOO_MANY_SESSIONS, "too_many_sessions", "too many sessions for this user")                   \
    /* local failures that reach clients as "internal" */                                          \
    X(NOMEM, "internal", "out of memory")                                                          \
    X(IO, "internal", "input/output error")                                                        \
    X(CONFIG, "internal", "invalid configuration")                                                 \
    X(TOO_BIG, "internal", "bound exceeded")

enum chat_error {
    CHAT_OK = 0,
#define CHAT_ERROR_ENUM(name, code, message) CHAT_E_##name,
    CHAT_ERROR_FIRST_ = -1000,
    CHAT_ERROR_TABLE(CHAT_ERROR_ENUM)
#undef CHAT_ERROR_ENUM
        CHAT_ERROR_LAST_
};

/* The protocol error string for err ("internal" for codes outside the table). */
const char *chat_error_code(int err);

/* A short English message for err. */
const char *chat_error_message(int err);

#endif
