/* The SQLite engine of the store: one connection, owned by the storage
 * thread, in WAL mode with synchronous=FULL, every statement prepared once.
 * A batch is one IMMEDIATE transaction with a savepoint per op, so one op's
 * failure stays its own and a single commit (one fsync) covers them all. */
#include "store/sqlite_schema.h"
#include "store/store.h"

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The user service and chatctl write the same file; a writer waits this long
 * for them before its batch fails as unavailable. */
#define SQLITE_BUSY_TIMEOUT_MS 5000

/* ---------------------------------------------------------------------------
 * Statements, prepared once at open
 * ------------------------------------------------------------------------- */

#define USER_SELECT                                                                                \
    "SELECT u.user_id, u.username, p.display_name, p.profile_picture FROM users_auth u"            \
    " LEFT JOIN user_profile_info p ON p.user_id = u.user_id"

/* Column order is what row_read_message expects. */
#define MESSAGE_SELECT                                                                             \
    "SELECT m.message_id, m.conversation_id, m.group_id, m.sender_id, m.recipient_id,"             \
    " m.reply_to_id, m.created_at, m.edited_at, m.deleted_at, m.key_id, m.content,"                \
    " m.client_message_id, u.username, p.display_name, p.profile_picture"                          \
    " FROM private_messages m"                                                                     \
    " LEFT JOIN users_auth u ON u.user_id = m.sender_id"                                           \
    " LEFT JOIN user_profile_info p ON p.user_id = m.sender_id"

#define SQLITE_STATEMENTS(X)                                                                       \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT op")                                                                   \
    X(RELEASE, "RELEASE op")                                                                       \
    X(ROLLBACK_TO, "ROLLBACK TO op")                                                               \
    /* reads a page of the file, which SELECT 1 would not */                                       \
    X(PING, "SELECT max(version) FROM schema_migrations")                                          \
    X(USER, USER_SELECT " WHERE u.user_id = ?1")                                                   \
    X(REVOKED, "SELECT 1 FROM jwt_revocation WHERE jti = ?1")                                      \
    X(USER_EXISTS, "SELECT 1 FROM users_auth WHERE user_id = ?1")                                  \
    /* whom ?1 follows, with no block either way (online_users, presence) */                      \
    X(FOLLOWING,                                                                                   \
      "SELECT f.followee_id FROM user_follows f WHERE f.follower_id = ?1"                          \
      " AND NOT EXISTS (SELECT 1 FROM blocked_relationships b"                                     \
      "   WHERE (b.blocker_user_id = ?1 AND b.blocked_user_id = f.followee_id)"                    \
      "      OR (b.blocker_user_id = f.followee_id AND b.blocked_user_id = ?1))")                  \
    X(DM_DUPLICATE, MESSAGE_SELECT " WHERE m.sender_id = ?1 AND m.client_message_id = ?2")         \
    X(DM_RELATIONS,                                                                                \
      "SELECT EXISTS (SELECT 1 FROM blocked_relationships"                                         \
      "                WHERE blocker_user_id = ?1 AND blocked_user_id = ?2)"                       \
      "    OR EXISTS (SELECT 1 FROM blocked_relationships"                                         \
      "                WHERE blocker_user_id = ?2 AND blocked_user_id = ?1),"                      \
      " EXISTS (SELECT 1 FROM user_follows WHERE follower_id = ?1 AND followee_id = ?2)")          \
    X(DM_REPLY, "SELECT 1 FROM private_messages WHERE message_id = ?1 AND conversation_id = ?2")   \
    X(DM_INSERT,                                                                                   \
      "INSERT INTO private_messages (conversation_id, sender_id, recipient_id, content, key_id,"   \
      " client_message_id, reply_to_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")      \
    X(CONVERSATION_FIND,                                                                           \
      "SELECT conversation_id FROM conversations WHERE user_a = ?1 AND user_b = ?2")               \
    X(CONVERSATION_USERS, "SELECT user_a, user_b FROM conversations WHERE conversation_id = ?1")   \
    X(CONVERSATION_INSERT, "INSERT INTO conversations (user_a, user_b, created_at, updated_at) "   \
                           "VALUES (?1, ?2, ?3, ?3)")                                              \
    X(CONVERSATION_TOUCH,                                                                          \
      "UPDATE conversations SET updated_at = ?2, last_message_id = ?3 WHERE conversation_id = ?1") \
    X(HISTORY,                                                                                     \
      MESSAGE_SELECT " WHERE m.conversation_id = ?1 AND m.message_id < ?2"                         \
                     " AND NOT EXISTS (SELECT 1 FROM message_deletions d"                          \
                     "                 WHERE d.message_id = m.message_id AND d.user_id = ?3)"      \
                     " ORDER BY m.message_id DESC LIMIT ?4")

enum stmt_id {
#define STMT_ENUM(name, sql) STMT_##name,
    SQLITE_STATEMENTS(STMT_ENUM)
#undef STMT_ENUM
        STMT_COUNT
};

static const char *const stmt_sql[STMT_COUNT] = {
#define STMT_SQL(name, sql) sql,
    SQLITE_STATEMENTS(STMT_SQL)
#undef STMT_SQL
};

struct engine {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT];
};

/* ---------------------------------------------------------------------------
 * Stepping and reading rows
 * ------------------------------------------------------------------------- */

/* Maps a failed SQLite call to the store's codes: anything that says the
 * file cannot be used right now is "unavailable" (the client may retry). */
static int status_from_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
        return CHAT_E_UNAVAILABLE;
    case SQLITE_NOMEM:
        return CHAT_E_NOMEM;
    default:
        return CHAT_E_INTERNAL;
    }
}

/* Steps s once: 1 for a row, 0 when done, or a negative CHAT_E_* code. The
 * caller resets s when it has read what it needs. */
static int stmt_step(struct engine *e, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    log_warn("store: sqlite: %s (%s)", sqlite3_errmsg(e->db), sqlite3_sql(s));
    return status_from_sqlite(rc);
}

/* Runs a statement whose rows, if any, do not matter. */
static int stmt_run(struct engine *e, enum stmt_id id)
{
    sqlite3_stmt *s = e->stmts[id];
    int rc = stmt_step(e, s);
    sqlite3_reset(s);
    return rc < 0 ? rc : 0;
}

/* Copies a TEXT column into *out (caller frees); NULL stays NULL. */
static int column_text(sqlite3_stmt *s, int col, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(s, col) == SQLITE_NULL) return 0;
    const unsigned char *text = sqlite3_column_text(s, col);
    size_t len = (size_t)sqlite3_column_bytes(s, col);
    if (!text || !(*out = malloc(len + 1))) return CHAT_E_NOMEM;
    memcpy(*out, text, len + 1);
    return 0;
}

/* Copies a BLOB column into *out (caller frees); NULL stays NULL. */
static int column_blob(sqlite3_stmt *s, int col, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (sqlite3_column_type(s, col) == SQLITE_NULL) return 0;
    const void *blob = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (!(*out = malloc(n ? n : 1))) return CHAT_E_NOMEM;
    if (n) memcpy(*out, blob, n);
    *len = n;
    return 0;
}

/* Reads username, display_name, profile_picture from columns col..col+2. */
static int row_read_user_strings(sqlite3_stmt *s, int col, struct store_user *user)
{
    int rc = column_text(s, col, &user->username);
    if (rc == 0) rc = column_text(s, col + 1, &user->display_name);
    if (rc == 0) rc = column_text(s, col + 2, &user->profile_picture);
    return rc;
}

/* Reads a row of MESSAGE_SELECT. On failure the caller clears message. */
static int row_read_message(sqlite3_stmt *s, struct store_message *message)
{
    message->message_id = sqlite3_column_int64(s, 0);
    message->conversation_id = sqlite3_column_int64(s, 1); /* NULL reads as 0 */
    message->group_id = sqlite3_column_int64(s, 2);
    message->sender_id = sqlite3_column_int64(s, 3);
    message->recipient_id = sqlite3_column_int64(s, 4);
    message->reply_to_id = sqlite3_column_int64(s, 5);
    message->created_at_ms = sqlite3_column_int64(s, 6);
    message->edited_at_ms = sqlite3_column_int64(s, 7);
    message->deleted = sqlite3_column_type(s, 8) != SQLITE_NULL;
    message->key_id = (uint32_t)sqlite3_column_int64(s, 9);
    message->sender.user_id = message->sender_id;
    int rc = column_blob(s, 10, &message->ciphertext, &message->ciphertext_len);
    if (rc == 0) rc = column_text(s, 11, &message->client_message_id);
    if (rc == 0) rc = row_read_user_strings(s, 12, &message->sender);
    return rc;
}

/* 1 when the statement id yields a row for the bound value, 0 when not. */
static int row_exists(struct engine *e, enum stmt_id id)
{
    sqlite3_stmt *s = e->stmts[id];
    int rc = stmt_step(e, s);
    sqlite3_reset(s);
    return rc;
}

/* Fills user from users_auth + user_profile_info; CHAT_E_USER_NOT_FOUND
 * when there is no such user. */
static int fetch_user(struct engine *e, int64_t user_id, struct store_user *user)
{
    sqlite3_stmt *s = e->stmts[STMT_USER];
    sqlite3_bind_int64(s, 1, user_id);
    int rc = stmt_step(e, s);
    if (rc > 0) {
        user->user_id = sqlite3_column_int64(s, 0);
        rc = row_read_user_strings(s, 1, user);
    } else if (rc == 0) {
        rc = CHAT_E_USER_NOT_FOUND;
    }
    sqlite3_reset(s);
    return rc;
}

/* ---------------------------------------------------------------------------
 * PING, AUTH, PROFILE
 * ------------------------------------------------------------------------- */

static int op_ping(struct engine *e)
{
    return stmt_run(e, STMT_PING);
}

/* Fills op->auth.following with the ids the user follows, blocks excluded. */
static int fetch_following(struct engine *e, struct store_op *op)
{
    sqlite3_stmt *s = e->stmts[STMT_FOLLOWING];
    size_t cap = 0;
    int rc;
    sqlite3_bind_int64(s, 1, op->auth.user_id);
    while ((rc = stmt_step(e, s)) > 0) {
        if (op->auth.following_count == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *grown = realloc(op->auth.following, cap * sizeof *grown);
            if (!grown) {
                rc = CHAT_E_NOMEM;
                break;
            }
            op->auth.following = grown;
        }
        op->auth.following[op->auth.following_count++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_reset(s);
    return rc < 0 ? rc : 0;
}

/* A jti in jwt_revocation is revoked whatever its expires_at says: the
 * token's own exp is what bounds its life, not the revocation row. */
static int op_auth(struct engine *e, struct store_op *op)
{
    sqlite3_stmt *s = e->stmts[STMT_REVOKED];
    sqlite3_bind_text(s, 1, op->auth.jti, (int)strnlen(op->auth.jti, STORE_JTI_MAX), SQLITE_STATIC);
    int rc = stmt_step(e, s);
    sqlite3_reset(s);
    if (rc < 0) return rc;
    if (rc > 0) return CHAT_E_TOKEN_REVOKED;
    rc = fetch_user(e, op->auth.user_id, &op->auth.user);
    if (rc == 0) rc = fetch_following(e, op);
    return rc;
}

static int op_profile(struct engine *e, struct store_op *op)
{
    return fetch_user(e, op->profile.user_id, &op->profile.user);
}

static int op_revalidate(struct engine *e, struct store_op *op)
{
    for (size_t i = 0; i < op->revalidate.count; i++) {
        struct store_session *session = &op->revalidate.sessions[i];
        sqlite3_bind_text(e->stmts[STMT_REVOKED], 1, session->jti, -1, SQLITE_STATIC);
        int revoked = row_exists(e, STMT_REVOKED);
        sqlite3_bind_int64(e->stmts[STMT_USER_EXISTS], 1, session->user_id);
        int exists = revoked == 0 ? row_exists(e, STMT_USER_EXISTS) : 1;
        if (revoked < 0 || exists < 0) return revoked < 0 ? revoked : exists;
        session->status = revoked ? CHAT_E_TOKEN_REVOKED : exists ? 0 : CHAT_E_USER_NOT_FOUND;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Conversations
 * ------------------------------------------------------------------------- */

/* The conversation of two users, or 0 in *conversation_id when none. */
static int conversation_find(struct engine *e, int64_t a, int64_t b, int64_t *conversation_id)
{
    sqlite3_stmt *s = e->stmts[STMT_CONVERSATION_FIND];
    sqlite3_bind_int64(s, 1, a < b ? a : b);
    sqlite3_bind_int64(s, 2, a < b ? b : a);
    int rc = stmt_step(e, s);
    *conversation_id = rc > 0 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc < 0 ? rc : 0;
}

static int conversation_create(struct engine *e, int64_t a, int64_t b, int64_t now_ms,
                               int64_t *conversation_id)
{
    sqlite3_stmt *s = e->stmts[STMT_CONVERSATION_INSERT];
    sqlite3_bind_int64(s, 1, a < b ? a : b);
    sqlite3_bind_int64(s, 2, a < b ? b : a);
    sqlite3_bind_int64(s, 3, now_ms);
    int rc = stmt_step(e, s);
    sqlite3_reset(s);
    *conversation_id = sqlite3_last_insert_rowid(e->db);
    return rc < 0 ? rc : 0;
}

/* CHAT_E_NOT_FOUND unless user_id is one of the conversation's two users. */
static int conversation_check_member(struct engine *e, int64_t conversation_id, int64_t user_id)
{
    sqlite3_stmt *s = e->stmts[STMT_CONVERSATION_USERS];
    sqlite3_bind_int64(s, 1, conversation_id);
    int rc = stmt_step(e, s);
    if (rc > 0) {
        bool member =
            sqlite3_column_int64(s, 0) == user_id || sqlite3_column_int64(s, 1) == user_id;
        rc = member ? 0 : CHAT_E_NOT_FOUND;
    } else if (rc == 0) {
        rc = CHAT_E_NOT_FOUND;
    }
    sqlite3_reset(s);
    return rc;
}

/* ---------------------------------------------------------------------------
 * DM_SEND: the checks in the order store.h gives, then the insert
 * ------------------------------------------------------------------------- */

/* An earlier message of the sender with the same client_message_id becomes
 * the result (duplicate set); no id means no check. */
static int dm_find_duplicate(struct engine *e, struct store_op *op)
{
    const char *client_id = op->dm_send.client_message_id;
    if (client_id[0] == '\0') return 0;
    sqlite3_stmt *s = e->stmts[STMT_DM_DUPLICATE];
    sqlite3_bind_int64(s, 1, op->dm_send.sender_id);
    sqlite3_bind_text(s, 2, client_id, (int)strnlen(client_id, STORE_CLIENT_MESSAGE_ID_MAX),
                      SQLITE_STATIC);
    int rc = stmt_step(e, s);
    if (rc > 0) {
        rc = row_read_message(s, &op->dm_send.message);
        op->dm_send.duplicate = rc == 0;
    }
    sqlite3_reset(s);
    return rc;
}

static int dm_check_reply(struct engine *e, int64_t reply_to_id, int64_t conversation_id)
{
    if (conversation_id == 0) return CHAT_E_NOT_FOUND;
    sqlite3_stmt *s = e->stmts[STMT_DM_REPLY];
    sqlite3_bind_int64(s, 1, reply_to_id);
    sqlite3_bind_int64(s, 2, conversation_id);
    int rc = stmt_step(e, s);
    sqlite3_reset(s);
    if (rc < 0) return rc;
    return rc > 0 ? 0 : CHAT_E_NOT_FOUND;
}

/* A block either way, then whether the sender follows the recipient. */
static int dm_check_relations(struct engine *e, int64_t sender_id, int64_t recipient_id)
{
    sqlite3_stmt *s = e->stmts[STMT_DM_RELATIONS];
    sqlite3_bind_int64(s, 1, sender_id);
    sqlite3_bind_int64(s, 2, recipient_id);
    int rc = stmt_step(e, s);
    if (rc > 0) {
        if (sqlite3_column_int(s, 0))
            rc = CHAT_E_BLOCKED;
        else if (!sqlite3_column_int(s, 1))
            rc = CHAT_E_NOT_FOLLOWING;
        else
            rc = 0;
    } else if (rc == 0) {
        rc = CHAT_E_INTERNAL; /* a SELECT without FROM always has its row */
    }
    sqlite3_reset(s);
    return rc;
}

static int dm_insert_row(struct engine *e, struct store_op *op, int64_t conversation_id,
                         int64_t now_ms, int64_t *message_id)
{
    const char *client_id = op->dm_send.client_message_id;
    sqlite3_stmt *s = e->stmts[STMT_DM_INSERT];
    sqlite3_bind_int64(s, 1, conversation_id);
    sqlite3_bind_int64(s, 2, op->dm_send.sender_id);
    sqlite3_bind_int64(s, 3, op->dm_send.recipient_id);
    sqlite3_bind_blob(s, 4, op->dm_send.ciphertext, (int)op->dm_send.ciphertext_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, op->dm_send.key_id);
    if (client_id[0] == '\0')
        sqlite3_bind_null(s, 6);
    else
        sqlite3_bind_text(s, 6, client_id, (int)strnlen(client_id, STORE_CLIENT_MESSAGE_ID_MAX),
                          SQLITE_STATIC);
    if (op->dm_send.reply_to_id == 0)
        sqlite3_bind_null(s, 7);
    else
        sqlite3_bind_int64(s, 7, op->dm_send.reply_to_id);
    sqlite3_bind_int64(s, 8, now_ms);
    int rc = stmt_step(e, s);
    sqlite3_reset(s);
    *message_id = sqlite3_last_insert_rowid(e->db);
    return rc < 0 ? rc : 0;
}

static int dm_touch_conversation(struct engine *e, int64_t conversation_id, int64_t now_ms,
                                 int64_t message_id)
{
    sqlite3_stmt *s = e->stmts[STMT_CONVERSATION_TOUCH];
    sqlite3_bind_int64(s, 1, conversation_id);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_int64(s, 3, message_id);
    int rc = stmt_step(e, s);
    sqlite3_reset(s);
    return rc < 0 ? rc : 0;
}

/* Fills the result from the inputs: the row just written holds nothing else.
 * The sender was filled before the insert. */
static int dm_fill_message(struct store_op *op, int64_t conversation_id, int64_t message_id,
                           int64_t now_ms)
{
    struct store_message *message = &op->dm_send.message;
    message->message_id = message_id;
    message->conversation_id = conversation_id;
    message->sender_id = op->dm_send.sender_id;
    message->recipient_id = op->dm_send.recipient_id;
    message->reply_to_id = op->dm_send.reply_to_id;
    message->created_at_ms = now_ms;
    message->key_id = op->dm_send.key_id;
    message->ciphertext = malloc(op->dm_send.ciphertext_len);
    if (!message->ciphertext) return CHAT_E_NOMEM;
    memcpy(message->ciphertext, op->dm_send.ciphertext, op->dm_send.ciphertext_len);
    message->ciphertext_len = op->dm_send.ciphertext_len;
    if (op->dm_send.client_message_id[0] == '\0') return 0;
    message->client_message_id =
        strndup(op->dm_send.client_message_id, STORE_CLIENT_MESSAGE_ID_MAX);
    return message->client_message_id ? 0 : CHAT_E_NOMEM;
}

static int dm_insert(struct engine *e, struct store_op *op, int64_t conversation_id, int64_t now_ms)
{
    int rc = 0;
    if (conversation_id == 0)
        rc = conversation_create(e, op->dm_send.sender_id, op->dm_send.recipient_id, now_ms,
                                 &conversation_id);
    int64_t message_id = 0;
    if (rc == 0) rc = dm_insert_row(e, op, conversation_id, now_ms, &message_id);
    if (rc == 0) rc = dm_touch_conversation(e, conversation_id, now_ms, message_id);
    if (rc == 0) rc = dm_fill_message(op, conversation_id, message_id, now_ms);
    return rc;
}

static int op_dm_send(struct engine *e, struct store_op *op, int64_t now_ms)
{
    int64_t sender_id = op->dm_send.sender_id, recipient_id = op->dm_send.recipient_id;
    if (!op->dm_send.ciphertext || op->dm_send.ciphertext_len == 0 ||
        op->dm_send.ciphertext_len > INT_MAX)
        return CHAT_E_INVALID_REQUEST;

    int rc = dm_find_duplicate(e, op);
    if (rc != 0 || op->dm_send.duplicate) return rc;
    rc = fetch_user(e, recipient_id, &op->dm_send.recipient);
    if (rc != 0) return rc;
    if (sender_id == recipient_id) return CHAT_E_INVALID_REQUEST;
    int64_t conversation_id;
    rc = conversation_find(e, sender_id, recipient_id, &conversation_id);
    if (rc == 0 && op->dm_send.reply_to_id != 0)
        rc = dm_check_reply(e, op->dm_send.reply_to_id, conversation_id);
    if (rc == 0) rc = dm_check_relations(e, sender_id, recipient_id);
    if (rc == 0 && op->dm_send.rate_limited) rc = CHAT_E_RATE_LIMITED;
    if (rc == 0) rc = fetch_user(e, sender_id, &op->dm_send.message.sender);
    if (rc == 0) rc = dm_insert(e, op, conversation_id, now_ms);
    return rc;
}

/* ---------------------------------------------------------------------------
 * HISTORY
 * ------------------------------------------------------------------------- */

/* Sets history.conversation_id from with_user_id, or checks that the reader
 * belongs to the one given. */
static int history_resolve(struct engine *e, struct store_op *op)
{
    if (op->history.conversation_id != 0)
        return conversation_check_member(e, op->history.conversation_id, op->history.user_id);
    if (op->history.with_user_id == 0) return CHAT_E_INVALID_REQUEST;
    /* protocol §5: the target must exist before anything else is said */
    sqlite3_bind_int64(e->stmts[STMT_USER_EXISTS], 1, op->history.with_user_id);
    int exists = row_exists(e, STMT_USER_EXISTS);
    if (exists <= 0) return exists < 0 ? exists : CHAT_E_USER_NOT_FOUND;
    return conversation_find(e, op->history.user_id, op->history.with_user_id,
                             &op->history.conversation_id);
}

static void history_reverse(struct store_message *messages, size_t count)
{
    for (size_t i = 0, j = count; i + 1 < j; i++, j--) {
        struct store_message tmp = messages[i];
        messages[i] = messages[j - 1];
        messages[j - 1] = tmp;
    }
}

/* Reads limit + 1 rows newest first: the extra row only says has_more. */
static int history_read_page(struct engine *e, struct store_op *op)
{
    size_t limit = (size_t)op->history.limit;
    op->history.messages = calloc(limit, sizeof *op->history.messages);
    if (!op->history.messages) return CHAT_E_NOMEM;
    sqlite3_stmt *s = e->stmts[STMT_HISTORY];
    sqlite3_bind_int64(s, 1, op->history.conversation_id);
    sqlite3_bind_int64(s, 2, op->history.before_id > 0 ? op->history.before_id : INT64_MAX);
    sqlite3_bind_int64(s, 3, op->history.user_id);
    sqlite3_bind_int64(s, 4, (int64_t)limit + 1);
    int rc;
    while ((rc = stmt_step(e, s)) > 0) {
        if (op->history.count == limit) {
            op->history.has_more = true;
            rc = 0;
            break;
        }
        /* counted first, so a half-read message is freed with the rest */
        rc = row_read_message(s, &op->history.messages[op->history.count++]);
        if (rc != 0) break;
    }
    sqlite3_reset(s);
    history_reverse(op->history.messages, op->history.count);
    return rc;
}

static int op_history(struct engine *e, struct store_op *op)
{
    if (op->history.limit < 1 || op->history.limit > STORE_HISTORY_MAX)
        return CHAT_E_INVALID_REQUEST;
    int rc = history_resolve(e, op);
    if (rc != 0 || op->history.conversation_id == 0) return rc;
    return history_read_page(e, op);
}

/* ---------------------------------------------------------------------------
 * Batches
 * ------------------------------------------------------------------------- */

static int run_op(struct engine *e, struct store_op *op, int64_t now_ms)
{
    switch (op->kind) {
    case STORE_OP_PING:
        return op_ping(e);
    case STORE_OP_AUTH:
        return op_auth(e, op);
    case STORE_OP_PROFILE:
        return op_profile(e, op);
    case STORE_OP_REVALIDATE:
        return op_revalidate(e, op);
    case STORE_OP_DM_SEND:
        return op_dm_send(e, op, now_ms);
    case STORE_OP_HISTORY:
        return op_history(e, op);
    }
    return CHAT_E_INTERNAL;
}

/* Runs op inside its own savepoint: when it fails, its writes are undone
 * and the rest of the batch goes on. */
static int run_op_in_savepoint(struct engine *e, struct store_op *op, int64_t now_ms)
{
    int rc = stmt_run(e, STMT_SAVEPOINT);
    if (rc != 0) return rc;
    rc = run_op(e, op, now_ms);
    if (rc != 0) stmt_run(e, STMT_ROLLBACK_TO);
    int released = stmt_run(e, STMT_RELEASE);
    return rc != 0 ? rc : released;
}

/* Nothing of the batch is durable: no op may report success or results. */
static void fail_batch(struct store_op **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_op_clear_results(ops[i]);
        ops[i]->status = CHAT_E_UNAVAILABLE;
    }
}

static void engine_run_batch(void *state, struct store_op **ops, size_t n)
{
    struct engine *e = state;
    int64_t now_ms = clock_wall_ms();
    if (stmt_run(e, STMT_BEGIN) != 0) {
        fail_batch(ops, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ops[i]->status = run_op_in_savepoint(e, ops[i], now_ms);
        if (ops[i]->status != 0) store_op_clear_results(ops[i]);
        /* An I/O error or a full disk makes SQLite roll the whole
         * transaction back: what earlier ops did is gone too. */
        if (sqlite3_get_autocommit(e->db)) {
            fail_batch(ops, n);
            return;
        }
    }
    if (stmt_run(e, STMT_COMMIT) != 0) {
        stmt_run(e, STMT_ROLLBACK);
        fail_batch(ops, n);
    }
}

static bool engine_ping(void *state)
{
    return op_ping(state) == 0;
}

/* ---------------------------------------------------------------------------
 * Opening and closing
 * ------------------------------------------------------------------------- */

/* "sqlite:<path>"; "sqlite://<path>" is read the same way. */
static const char *url_path(const char *url)
{
    const char *path = url + strlen("sqlite:");
    return strncmp(path, "//", 2) == 0 ? path + 2 : path;
}

static int set_wal(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    /* an in-memory database (tests of other layers) has no WAL to switch to */
    bool ok = mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0);
    if (!ok)
        snprintf(err, errlen, "cannot switch the database to WAL mode: %s",
                 mode ? mode : sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return ok ? 0 : CHAT_E_IO;
}

static int configure(sqlite3 *db, char *err, size_t errlen)
{
    /* The timeout first: switching to WAL may wait for another process. */
    sqlite3_busy_timeout(db, SQLITE_BUSY_TIMEOUT_MS);
    int rc = set_wal(db, err, errlen);
    if (rc != 0) return rc;
    if (sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot configure the database: %s", sqlite3_errmsg(db));
        return CHAT_E_IO;
    }
    return 0;
}

static int prepare_all(struct engine *e, char *err, size_t errlen)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(e->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &e->stmts[i],
                               NULL) == SQLITE_OK)
            continue;
        const char *message = sqlite3_errmsg(e->db);
        bool missing = strncmp(message, "no such table", 13) == 0;
        snprintf(err, errlen, "%s%s", message,
                 missing ? " (the user service's tables are missing: chatctl init creates them)"
                         : "");
        return CHAT_E_CONFIG;
    }
    return 0;
}

static void engine_close(void *state)
{
    struct engine *e = state;
    if (!e) return;
    for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(e->stmts[i]);
    sqlite3_close(e->db);
    free(e);
}

static int engine_open(void **state, const char *url, char *err, size_t errlen)
{
    *state = NULL;
    struct engine *e = calloc(1, sizeof *e);
    if (!e) return CHAT_E_NOMEM;
    const char *path = url_path(url);
    int rc = CHAT_E_CONFIG;
    if (path[0] == '\0') {
        snprintf(err, errlen, "DATABASE_URL names no file (sqlite:<path>)");
        goto fail;
    }
    rc = CHAT_E_IO;
    /* NOMUTEX: only the storage thread ever uses this connection. */
    if (sqlite3_open_v2(path, &e->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 e->db ? sqlite3_errmsg(e->db) : "out of memory");
        goto fail;
    }
    rc = configure(e->db, err, errlen);
    if (rc == 0) rc = store_sqlite_migrate(e->db, err, errlen);
    if (rc == 0) rc = prepare_all(e, err, errlen);
    if (rc != 0) goto fail;
    *state = e;
    return 0;

fail:
    engine_close(e);
    return rc;
}

/* One connection: SQLite has one writer at a time, and group commit already
 * gives that writer whole batches. */
const struct store_engine store_engine_sqlite = {
    .name = "sqlite",
    .max_connections = 1,
    .batch_max = STORE_BATCH_MAX,
    .open = engine_open,
    .run_batch = engine_run_batch,
    .ping = engine_ping,
    .close = engine_close,
};
