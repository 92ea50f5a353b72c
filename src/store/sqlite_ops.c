/* The ops of the SQLite engine: PING, AUTH, PROFILE, REVALIDATE, DM_SEND and
 * HISTORY, each run inside the batch's transaction (sqlite.c), with the
 * caches they keep: profiles for DMs and conversation ids per user pair. */
#include "store/sqlite_engine.h"
#include "store/store.h"

#include "util/error.h"
#include "util/idmap.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* How long a user's profile (username, display name, picture), as DMs show
 * the sender, is reused before it is read again. The engine does not see
 * PFP_CACHE_DURATION_MS; a few seconds keep a renamed user's messages right
 * soon enough. Whether the user exists is read for every DM regardless. */
#define PROFILE_CACHE_TTL_MS 5000
#define PROFILE_CACHE_MAX 16384
/* Conversation ids per user pair; the map starts over when it is full. */
#define CONVERSATION_CACHE_MAX 65536

/* A cached profile: copies of the strings, NULL when absent. */
struct profile {
    int64_t fetched_ms; /* monotonic */
    char *username;
    char *display_name;
    char *profile_picture;
};

/* ---------------------------------------------------------------------------
 * Profiles: read from users_auth + user_profile_info, and cached for DMs
 * ------------------------------------------------------------------------- */

/* Fills user from users_auth + user_profile_info; CHAT_E_USER_NOT_FOUND
 * when there is no such user. */
static int fetch_user(struct engine *e, int64_t user_id, struct store_user *user)
{
    sqlite3_stmt *s = e->stmts[STMT_USER];
    sqlite3_bind_int64(s, 1, user_id);
    int rc = sqlite_stmt_step(e, s);
    if (rc > 0) {
        user->user_id = sqlite3_column_int64(s, 0);
        rc = sqlite_row_read_user_strings(s, 1, user);
    } else if (rc == 0) {
        rc = CHAT_E_USER_NOT_FOUND;
    }
    sqlite3_reset(s);
    return rc;
}

static void profile_free(struct profile *p)
{
    if (!p) return;
    free(p->username);
    free(p->display_name);
    free(p->profile_picture);
    free(p);
}

void sqlite_profiles_clear(struct engine *e)
{
    struct idmap *m = &e->profiles;
    for (size_t i = 0; m->slots && i <= m->mask; i++)
        if (m->slots[i].key) profile_free(m->slots[i].value);
    idmap_free(m);
}

/* Copies a string that may be NULL; false when out of memory. */
static bool copy_text(const char *from, char **to)
{
    *to = from ? strdup(from) : NULL;
    return !from || *to;
}

/* Keeps a copy of a profile just read (or refreshes the one kept). A cache
 * that cannot grow is simply not used. */
static void profile_remember(struct engine *e, const struct store_user *user)
{
    if (user->user_id <= 0) return;
    struct profile *p = calloc(1, sizeof *p);
    if (!p || !copy_text(user->username, &p->username) ||
        !copy_text(user->display_name, &p->display_name) ||
        !copy_text(user->profile_picture, &p->profile_picture)) {
        profile_free(p);
        return;
    }
    p->fetched_ms = e->batch_mono_ms;
    if (e->profiles.count >= PROFILE_CACHE_MAX) sqlite_profiles_clear(e);
    profile_free(idmap_remove(&e->profiles, (uint64_t)user->user_id));
    if (idmap_put(&e->profiles, (uint64_t)user->user_id, p) != 0) profile_free(p);
}

/* A user's profile for a DM: the cached one while it is fresh, else read
 * (USER_NOT_FOUND when the user is gone). The caller has checked, in this
 * transaction, that the user exists. */
static int profile_for_dm(struct engine *e, int64_t user_id, struct store_user *user)
{
    const struct profile *p = user_id > 0 ? idmap_get(&e->profiles, (uint64_t)user_id) : NULL;
    if (p && e->batch_mono_ms - p->fetched_ms < PROFILE_CACHE_TTL_MS) {
        user->user_id = user_id;
        if (copy_text(p->username, &user->username) &&
            copy_text(p->display_name, &user->display_name) &&
            copy_text(p->profile_picture, &user->profile_picture))
            return 0;
        return CHAT_E_NOMEM; /* the op's results are cleared by the caller */
    }
    int rc = fetch_user(e, user_id, user);
    if (rc == 0) profile_remember(e, user);
    return rc;
}

/* ---------------------------------------------------------------------------
 * PING, AUTH, PROFILE
 * ------------------------------------------------------------------------- */

static int op_ping(struct engine *e)
{
    return sqlite_stmt_run(e, STMT_PING);
}

/* Fills op->auth.following with the ids the user follows, blocks excluded. */
static int fetch_following(struct engine *e, struct store_op *op)
{
    sqlite3_stmt *s = e->stmts[STMT_FOLLOWING];
    size_t cap = 0;
    int rc;
    sqlite3_bind_int64(s, 1, op->auth.user_id);
    while ((rc = sqlite_stmt_step(e, s)) > 0) {
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
    int rc = sqlite_stmt_step(e, s);
    sqlite3_reset(s);
    if (rc < 0) return rc;
    if (rc > 0) return CHAT_E_TOKEN_REVOKED;
    rc = fetch_user(e, op->auth.user_id, &op->auth.user);
    if (rc == 0) profile_remember(e, &op->auth.user);
    if (rc == 0) rc = fetch_following(e, op);
    return rc;
}

static int op_profile(struct engine *e, struct store_op *op)
{
    int rc = fetch_user(e, op->profile.user_id, &op->profile.user);
    if (rc == 0) profile_remember(e, &op->profile.user);
    return rc;
}

static int op_revalidate(struct engine *e, struct store_op *op)
{
    for (size_t i = 0; i < op->revalidate.count; i++) {
        struct store_session *session = &op->revalidate.sessions[i];
        sqlite3_bind_text(e->stmts[STMT_REVOKED], 1, session->jti, -1, SQLITE_STATIC);
        int revoked = sqlite_row_exists(e, STMT_REVOKED);
        sqlite3_bind_int64(e->stmts[STMT_USER_EXISTS], 1, session->user_id);
        int exists = revoked == 0 ? sqlite_row_exists(e, STMT_USER_EXISTS) : 1;
        if (revoked < 0 || exists < 0) return revoked < 0 ? revoked : exists;
        session->status = revoked ? CHAT_E_TOKEN_REVOKED : exists ? 0 : CHAT_E_USER_NOT_FOUND;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Conversations, and the cache of their ids
 * ------------------------------------------------------------------------- */

/* The cache key of a pair, or 0 when the ids do not fit (then nothing is
 * cached for it). */
static uint64_t pair_key(int64_t a, int64_t b)
{
    int64_t lo = a < b ? a : b, hi = a < b ? b : a;
    if (lo <= 0 || hi > (int64_t)UINT32_MAX) return 0;
    return (uint64_t)lo << 32 | (uint64_t)hi;
}

static void conversation_remember(struct engine *e, int64_t a, int64_t b, int64_t conversation_id)
{
    uint64_t key = pair_key(a, b);
    if (key == 0 || conversation_id <= 0) return;
    if (e->conversations.count >= CONVERSATION_CACHE_MAX) idmap_free(&e->conversations);
    idmap_put(&e->conversations, key, (void *)(uintptr_t)conversation_id); /* best effort */
}

/* The conversation of two users, or 0 in *conversation_id when none. */
static int conversation_find(struct engine *e, int64_t a, int64_t b, int64_t *conversation_id)
{
    uint64_t key = pair_key(a, b);
    uintptr_t cached = key ? (uintptr_t)idmap_get(&e->conversations, key) : 0;
    if (cached) {
        *conversation_id = (int64_t)cached;
        return 0;
    }
    sqlite3_stmt *s = e->stmts[STMT_CONVERSATION_FIND];
    sqlite3_bind_int64(s, 1, a < b ? a : b);
    sqlite3_bind_int64(s, 2, a < b ? b : a);
    int rc = sqlite_stmt_step(e, s);
    *conversation_id = rc > 0 ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc > 0) conversation_remember(e, a, b, *conversation_id);
    return rc < 0 ? rc : 0;
}

/* Makes the pair's conversation. Not cached here: the caller does it once
 * the op that made it has succeeded. */
static int conversation_create(struct engine *e, int64_t a, int64_t b, int64_t now_ms,
                               int64_t *conversation_id)
{
    sqlite3_stmt *s = e->stmts[STMT_CONVERSATION_INSERT];
    sqlite3_bind_int64(s, 1, a < b ? a : b);
    sqlite3_bind_int64(s, 2, a < b ? b : a);
    sqlite3_bind_int64(s, 3, now_ms);
    int rc = sqlite_stmt_step(e, s);
    sqlite3_reset(s);
    *conversation_id = sqlite3_last_insert_rowid(e->db);
    return rc < 0 ? rc : 0;
}

/* CHAT_E_NOT_FOUND unless user_id is one of the conversation's two users. */
static int conversation_check_member(struct engine *e, int64_t conversation_id, int64_t user_id)
{
    sqlite3_stmt *s = e->stmts[STMT_CONVERSATION_USERS];
    sqlite3_bind_int64(s, 1, conversation_id);
    int rc = sqlite_stmt_step(e, s);
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
    int rc = sqlite_stmt_step(e, s);
    if (rc > 0) {
        rc = sqlite_row_read_message(s, &op->dm_send.message);
        op->dm_send.duplicate = rc == 0;
    }
    sqlite3_reset(s);
    return rc;
}

/* Every check but the resend one, with one statement, answered in the
 * documented order: recipient exists, not oneself, reply target in this
 * conversation, no block either way, sender follows recipient, not rate
 * limited, sender still exists. */
static int dm_check(struct engine *e, const struct store_op *op, int64_t conversation_id)
{
    sqlite3_stmt *s = e->stmts[STMT_DM_CHECK];
    sqlite3_bind_int64(s, 1, op->dm_send.sender_id);
    sqlite3_bind_int64(s, 2, op->dm_send.recipient_id);
    if (op->dm_send.reply_to_id == 0)
        sqlite3_bind_null(s, 3);
    else
        sqlite3_bind_int64(s, 3, op->dm_send.reply_to_id);
    sqlite3_bind_int64(s, 4, conversation_id);
    int rc = sqlite_stmt_step(e, s);
    if (rc > 0) {
        if (!sqlite3_column_int(s, 0))
            rc = CHAT_E_USER_NOT_FOUND;
        else if (op->dm_send.sender_id == op->dm_send.recipient_id)
            rc = CHAT_E_INVALID_REQUEST;
        else if (!sqlite3_column_int(s, 1))
            rc = CHAT_E_NOT_FOUND;
        else if (sqlite3_column_int(s, 2))
            rc = CHAT_E_BLOCKED;
        else if (!sqlite3_column_int(s, 3))
            rc = CHAT_E_NOT_FOLLOWING;
        else if (op->dm_send.rate_limited)
            rc = CHAT_E_RATE_LIMITED;
        else if (!sqlite3_column_int(s, 4))
            rc = CHAT_E_USER_NOT_FOUND;
        else
            rc = 0;
    } else if (rc == 0) {
        rc = CHAT_E_INTERNAL; /* a SELECT without FROM always has its row */
    }
    sqlite3_reset(s);
    return rc;
}

/* Fills the result from the inputs before the row is written, so that
 * nothing can fail once it is: the row holds nothing else but its id. */
static int dm_fill_message(struct engine *e, struct store_op *op, int64_t conversation_id,
                           int64_t now_ms)
{
    struct store_message *message = &op->dm_send.message;
    message->conversation_id = conversation_id;
    message->sender_id = op->dm_send.sender_id;
    message->recipient_id = op->dm_send.recipient_id;
    message->reply_to_id = op->dm_send.reply_to_id;
    message->created_at_ms = now_ms;
    message->key_id = op->dm_send.key_id;
    int rc = profile_for_dm(e, op->dm_send.sender_id, &message->sender);
    if (rc == 0) rc = profile_for_dm(e, op->dm_send.recipient_id, &op->dm_send.recipient);
    if (rc != 0) return rc;
    message->ciphertext = malloc(op->dm_send.ciphertext_len);
    if (!message->ciphertext) return CHAT_E_NOMEM;
    memcpy(message->ciphertext, op->dm_send.ciphertext, op->dm_send.ciphertext_len);
    message->ciphertext_len = op->dm_send.ciphertext_len;
    if (op->dm_send.client_message_id[0] == '\0') return 0;
    message->client_message_id =
        strndup(op->dm_send.client_message_id, STORE_CLIENT_MESSAGE_ID_MAX);
    return message->client_message_id ? 0 : CHAT_E_NOMEM;
}

/* Inserts the row; *inserted is false when the sender already stored a
 * message with this client id (nothing was written). */
static int dm_insert_row(struct engine *e, struct store_op *op, int64_t conversation_id,
                         int64_t now_ms, bool *inserted)
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
    int rc = sqlite_stmt_step(e, s);
    sqlite3_reset(s);
    *inserted = rc >= 0 && sqlite3_changes(e->db) > 0;
    if (*inserted) op->dm_send.message.message_id = sqlite3_last_insert_rowid(e->db);
    return rc < 0 ? rc : 0;
}

/* The first DM of a pair makes its conversation. Two writes: a savepoint
 * undoes the conversation when the insert fails or finds a resend. */
static int dm_insert_first(struct engine *e, struct store_op *op, int64_t now_ms,
                           int64_t *conversation_id, bool *inserted)
{
    *inserted = false;
    int rc = sqlite_stmt_run(e, STMT_SAVEPOINT);
    if (rc != 0) return rc;
    rc = conversation_create(e, op->dm_send.sender_id, op->dm_send.recipient_id, now_ms,
                             conversation_id);
    if (rc == 0) {
        op->dm_send.message.conversation_id = *conversation_id;
        rc = dm_insert_row(e, op, *conversation_id, now_ms, inserted);
    }
    if (rc != 0 || !*inserted) sqlite_stmt_run(e, STMT_ROLLBACK_TO);
    int released = sqlite_stmt_run(e, STMT_RELEASE);
    if (rc == 0 && released != 0) {
        *inserted = false;
        rc = released;
    }
    if (rc == 0 && *inserted)
        conversation_remember(e, op->dm_send.sender_id, op->dm_send.recipient_id, *conversation_id);
    return rc;
}

/* A failed check does not stand when the DM is a resend: the stored message
 * answers it (store.h: the resend check comes first). */
static int dm_failed(struct engine *e, struct store_op *op, int status)
{
    store_op_clear_results(op);
    if (op->dm_send.client_message_id[0] == '\0') return status;
    int rc = dm_find_duplicate(e, op);
    if (rc != 0) return rc;
    return op->dm_send.duplicate ? 0 : status;
}

static int op_dm_send(struct engine *e, struct store_op *op, int64_t now_ms)
{
    int64_t sender_id = op->dm_send.sender_id, recipient_id = op->dm_send.recipient_id;
    if (!op->dm_send.ciphertext || op->dm_send.ciphertext_len == 0 ||
        op->dm_send.ciphertext_len > INT_MAX)
        return CHAT_E_INVALID_REQUEST;

    int64_t conversation_id = 0;
    int rc = 0;
    if (sender_id != recipient_id)
        rc = conversation_find(e, sender_id, recipient_id, &conversation_id);
    if (rc == 0) rc = dm_check(e, op, conversation_id);
    if (rc == 0) rc = dm_fill_message(e, op, conversation_id, now_ms);
    if (rc != 0) return dm_failed(e, op, rc);

    bool inserted;
    if (conversation_id != 0)
        rc = dm_insert_row(e, op, conversation_id, now_ms, &inserted);
    else
        rc = dm_insert_first(e, op, now_ms, &conversation_id, &inserted);
    if (rc != 0) return rc;
    if (!inserted) { /* a resend after all: answer with the stored message */
        store_op_clear_results(op);
        rc = dm_find_duplicate(e, op);
        return rc != 0 ? rc : op->dm_send.duplicate ? 0 : CHAT_E_INTERNAL;
    }
    return 0;
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
    int exists = sqlite_row_exists(e, STMT_USER_EXISTS);
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
    while ((rc = sqlite_stmt_step(e, s)) > 0) {
        if (op->history.count == limit) {
            op->history.has_more = true;
            rc = 0;
            break;
        }
        /* counted first, so a half-read message is freed with the rest */
        rc = sqlite_row_read_message(s, &op->history.messages[op->history.count++]);
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
 * Running one op
 * ------------------------------------------------------------------------- */

/* Runs one op. No savepoint is needed around it: only the first DM of a pair
 * writes twice (and takes its own savepoint); every other op writes at most
 * one row with one statement, which SQLite undoes by itself when it fails,
 * and prepares its results before that write so that nothing fails after
 * it. */
int sqlite_op_run(struct engine *e, struct store_op *op, int64_t now_ms)
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
