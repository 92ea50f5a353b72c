/* The SQLite engine of the store: one writer connection, owned by the
 * storage thread, in WAL mode with synchronous=FULL, every statement prepared
 * once. A batch is one IMMEDIATE transaction and a single commit (one fsync)
 * covers every op of it; an op's failure stays its own (see "Batches").
 *
 * What keeps the write path short:
 * - checkpoints never run inside a commit: a checkpointer thread with its own
 *   connection copies the WAL back into the database (see "Checkpoints");
 * - a DM costs two statements: one SELECT makes every check (users exist,
 *   reply target, blocks, follow) and the INSERT itself detects a resend
 *   (ON CONFLICT DO NOTHING); the conversation's updated_at/last_message_id
 *   are written once per batch, not once per message;
 * - conversation ids per user pair are cached (they never change once made),
 *   and so are the profiles (username, display name, picture) that DMs carry,
 *   for PROFILE_CACHE_TTL_MS. Relationships, revocations and whether a user
 *   exists are always read from the database: a block or unfollow written by
 *   the user service takes effect with the next batch;
 * - reads come from a large page cache, not pread; SQLite's allocation
 *   statistics (a global mutex per malloc) are off. */
#include "store/sqlite_schema.h"
#include "store/store.h"

#include "util/clock.h"
#include "util/error.h"
#include "util/idmap.h"
#include "util/log.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The user service and chatctl write the same file; a writer waits this long
 * for them before its batch fails as unavailable. */
#define SQLITE_BUSY_TIMEOUT_MS 5000

/* The page cache of the writer, KiB; it grows only as pages are used. */
#define SQLITE_CACHE_KIB (32 * 1024)

/* Checkpoints. The writer's commit hook wakes the checkpointer once this many
 * WAL frames (pages) wait to be copied back. A checkpoint copies each page
 * once however many frames hold it, so a longer interval copies less (8000
 * copied 2.4 times fewer pages than 2000 at 10,000 DMs/s), but each one then
 * ends with a larger sync of the database file, which the writer's WAL sync
 * queues behind: 8000 doubled the p99 delivery latency at 10,000 DMs/s. */
#define CKPT_WAKE_FRAMES 2000
/* A PASSIVE checkpoint copies what was committed before it started; it is
 * repeated (at most CKPT_PASSES times) while the writer committed more than
 * this meanwhile, so that what is left for a RESTART is small. */
#define CKPT_CATCH_UP_FRAMES 64
#define CKPT_PASSES 4
/* Past this many frames the checkpointer makes the WAL start over from its
 * beginning: a RESTART checkpoint holds the write lock while it copies the
 * few frames the PASSIVE ones left and syncs the database file, so the
 * writer waits that long once per ~CKPT_RESTART_FRAMES frames. It waits at
 * most CKPT_RESTART_WAIT_MS for the writer to finish its batch, else tries
 * again at the next wake-up. */
#define CKPT_RESTART_FRAMES 6144
#define CKPT_RESTART_WAIT_MS 50
/* The hard bound: a writer that finds this many frames in the WAL (the
 * checkpointer starved or failing) checkpoints inside its commit hook, as
 * SQLite's own auto-checkpoint would. With 4 KiB pages the WAL file stays
 * under 64 MiB plus one batch (measured under saturating load: ~32-50 MiB,
 * RESTART at 6144 frames plus what is written while it waits for the write
 * lock), unless another process holds a read transaction open for long
 * (nothing can then be copied past its snapshot). */
#define CKPT_HARD_FRAMES 16384
/* A WAL that grew past this is cut back to it when it starts over. */
#define SQLITE_WAL_SIZE_LIMIT (CKPT_HARD_FRAMES * 4096LL)

/* How long a user's profile (username, display name, picture), as DMs show
 * the sender, is reused before it is read again. The engine does not see
 * PFP_CACHE_DURATION_MS; a few seconds keep a renamed user's messages right
 * soon enough. Whether the user exists is read for every DM regardless. */
#define PROFILE_CACHE_TTL_MS 5000
#define PROFILE_CACHE_MAX 16384
/* Conversation ids per user pair; the map starts over when it is full. */
#define CONVERSATION_CACHE_MAX 65536

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
    /* whom ?1 follows, with no block either way (online_users, presence) */                       \
    X(FOLLOWING, "SELECT f.followee_id FROM user_follows f WHERE f.follower_id = ?1"               \
                 " AND NOT EXISTS (SELECT 1 FROM blocked_relationships b"                          \
                 "   WHERE (b.blocker_user_id = ?1 AND b.blocked_user_id = f.followee_id)"         \
                 "      OR (b.blocker_user_id = f.followee_id AND b.blocked_user_id = ?1))")       \
    X(DM_DUPLICATE, MESSAGE_SELECT " WHERE m.sender_id = ?1 AND m.client_message_id = ?2")         \
    /* every check of a DM in one row, in the columns dm_check reads:                              \
     * ?1 sender, ?2 recipient, ?3 reply target or NULL, ?4 the pair's                             \
     * conversation (0: none) */                                                                   \
    X(DM_CHECK,                                                                                    \
      "SELECT EXISTS (SELECT 1 FROM users_auth WHERE user_id = ?2),"                               \
      " ?3 IS NULL OR EXISTS (SELECT 1 FROM private_messages"                                      \
      "                       WHERE message_id = ?3 AND conversation_id = ?4),"                    \
      " EXISTS (SELECT 1 FROM blocked_relationships"                                               \
      "         WHERE blocker_user_id = ?1 AND blocked_user_id = ?2)"                              \
      "  OR EXISTS (SELECT 1 FROM blocked_relationships"                                           \
      "             WHERE blocker_user_id = ?2 AND blocked_user_id = ?1),"                         \
      " EXISTS (SELECT 1 FROM user_follows WHERE follower_id = ?1 AND followee_id = ?2),"          \
      " EXISTS (SELECT 1 FROM users_auth WHERE user_id = ?1)")                                     \
    /* a resend (same sender and client id) inserts nothing: changes() is 0 */                     \
    X(DM_INSERT,                                                                                   \
      "INSERT INTO private_messages (conversation_id, sender_id, recipient_id, content, key_id,"   \
      " client_message_id, reply_to_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"       \
      " ON CONFLICT DO NOTHING")                                                                   \
    X(CONVERSATION_FIND,                                                                           \
      "SELECT conversation_id FROM conversations WHERE user_a = ?1 AND user_b = ?2")               \
    X(CONVERSATION_USERS, "SELECT user_a, user_b FROM conversations WHERE conversation_id = ?1")   \
    X(CONVERSATION_INSERT, "INSERT INTO conversations (user_a, user_b, created_at, updated_at) "   \
                           "VALUES (?1, ?2, ?3, ?3)")                                              \
    /* ?2: {"<conversation id>": <its newest message id>, ...}, one statement                      \
     * for every conversation a batch wrote to */                                                  \
    X(CONVERSATION_TOUCH,                                                                          \
      "UPDATE conversations SET updated_at = ?1, last_message_id = t.value"                        \
      " FROM json_each(?2) AS t WHERE conversations.conversation_id = CAST(t.key AS INTEGER)")     \
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

/* The checkpointer: a thread with its own connection to the same file. The
 * writer's commit hook wakes it; it never holds up a commit except for the
 * short RESTART described above. */
struct checkpointer {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool wanted;   /* guarded by lock */
    bool stopping; /* guarded by lock */
    bool started;
    int64_t busy_deadline_us; /* its busy handler gives up then (checkpointer thread only) */
    /* What the last checkpoint left: (WAL generation << 32) | frames copied.
     * Written by the checkpointer, read by the writer's hook. */
    atomic_uint_fast64_t progress;
};

/* A conversation whose updated_at / last_message_id the batch moves. */
struct touch {
    int64_t conversation_id;
    int64_t message_id;
};

/* A cached profile: copies of the strings, NULL when absent. */
struct profile {
    int64_t fetched_ms; /* monotonic */
    char *username;
    char *display_name;
    char *profile_picture;
};

struct engine {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT];
    int64_t busy_since_us; /* the writer's busy handler: when the wait began */

    /* The WAL as the writer's commit hook sees it: the frames in it after
     * the last commit, and a generation counted up each time it started over
     * (read by the checkpointer). */
    int wal_frames;
    bool wal_over_bound; /* past CKPT_HARD_FRAMES (warned once) */
    atomic_uint wal_generation;
    struct checkpointer ckpt;

    int64_t batch_mono_ms;      /* monotonic time of the running batch */
    struct idmap profiles;      /* user id → struct profile */
    struct idmap conversations; /* (user_a << 32 | user_b) → conversation id */
    struct touch touches[STORE_BATCH_MAX];
    size_t touch_count;
    char touch_json[STORE_BATCH_MAX * 44 + 2]; /* "id":id, per conversation */
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

/* ---------------------------------------------------------------------------
 * Profiles: read from users_auth + user_profile_info, and cached for DMs
 * ------------------------------------------------------------------------- */

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

static void profile_free(struct profile *p)
{
    if (!p) return;
    free(p->username);
    free(p->display_name);
    free(p->profile_picture);
    free(p);
}

static void profiles_clear(struct engine *e)
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
    if (e->profiles.count >= PROFILE_CACHE_MAX) profiles_clear(e);
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
        int revoked = row_exists(e, STMT_REVOKED);
        sqlite3_bind_int64(e->stmts[STMT_USER_EXISTS], 1, session->user_id);
        int exists = revoked == 0 ? row_exists(e, STMT_USER_EXISTS) : 1;
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
    int rc = stmt_step(e, s);
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

static int touch_order(const void *x, const void *y)
{
    const struct touch *a = x, *b = y;
    if (a->conversation_id != b->conversation_id)
        return a->conversation_id < b->conversation_id ? -1 : 1;
    return (a->message_id > b->message_id) - (a->message_id < b->message_id);
}

/* Writes v in decimal at p; returns the end. */
static char *put_int(char *p, int64_t v)
{
    char digits[24];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do digits[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0) *p++ = '-';
    while (n) *p++ = digits[--n];
    return p;
}

/* Sets updated_at and last_message_id of every conversation the batch wrote
 * to, to the batch's time and its newest message there: one statement for
 * the whole batch, given the pairs as a JSON object. */
static int conversations_touch(struct engine *e, int64_t now_ms)
{
    size_t n = e->touch_count;
    if (n == 0) return 0;
    qsort(e->touches, n, sizeof e->touches[0], touch_order);
    char *p = e->touch_json;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && e->touches[i + 1].conversation_id == e->touches[i].conversation_id)
            continue; /* the last of a run holds the newest message */
        if (p != e->touch_json + 1) *p++ = ',';
        *p++ = '"';
        p = put_int(p, e->touches[i].conversation_id);
        *p++ = '"';
        *p++ = ':';
        p = put_int(p, e->touches[i].message_id);
    }
    *p++ = '}';
    sqlite3_stmt *s = e->stmts[STMT_CONVERSATION_TOUCH];
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_text(s, 2, e->touch_json, (int)(p - e->touch_json), SQLITE_STATIC);
    int rc = stmt_step(e, s);
    sqlite3_reset(s);
    e->touch_count = 0;
    return rc < 0 ? rc : 0;
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
    int rc = stmt_step(e, s);
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
    int rc = stmt_step(e, s);
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
    int rc = stmt_run(e, STMT_SAVEPOINT);
    if (rc != 0) return rc;
    rc = conversation_create(e, op->dm_send.sender_id, op->dm_send.recipient_id, now_ms,
                             conversation_id);
    if (rc == 0) {
        op->dm_send.message.conversation_id = *conversation_id;
        rc = dm_insert_row(e, op, *conversation_id, now_ms, inserted);
    }
    if (rc != 0 || !*inserted) stmt_run(e, STMT_ROLLBACK_TO);
    int released = stmt_run(e, STMT_RELEASE);
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
    e->touches[e->touch_count++] = (struct touch){.conversation_id = conversation_id,
                                                  .message_id = op->dm_send.message.message_id};
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

/* Runs one op. No savepoint is needed around it: only the first DM of a pair
 * writes twice (and takes its own savepoint); every other op writes at most
 * one row with one statement, which SQLite undoes by itself when it fails,
 * and prepares its results before that write so that nothing fails after
 * it. */
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

/* Nothing of the batch is durable: no op may report success or results, and
 * conversations the batch made are gone again (so are their cached ids). */
static void fail_batch(struct engine *e, struct store_op **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_op_clear_results(ops[i]);
        ops[i]->status = CHAT_E_UNAVAILABLE;
    }
    idmap_free(&e->conversations);
    e->touch_count = 0;
}

static void engine_run_batch(void *state, struct store_op **ops, size_t n)
{
    struct engine *e = state;
    int64_t now_ms = clock_wall_ms();
    e->batch_mono_ms = clock_monotonic_ms();
    e->touch_count = 0;
    if (stmt_run(e, STMT_BEGIN) != 0) {
        fail_batch(e, ops, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ops[i]->status = run_op(e, ops[i], now_ms);
        if (ops[i]->status != 0) store_op_clear_results(ops[i]);
        /* An I/O error or a full disk makes SQLite roll the whole
         * transaction back: what earlier ops did is gone too. */
        if (sqlite3_get_autocommit(e->db)) {
            fail_batch(e, ops, n);
            return;
        }
    }
    if (conversations_touch(e, now_ms) != 0 || stmt_run(e, STMT_COMMIT) != 0) {
        if (!sqlite3_get_autocommit(e->db)) stmt_run(e, STMT_ROLLBACK);
        fail_batch(e, ops, n);
    }
}

static bool engine_ping(void *state)
{
    return op_ping(state) == 0;
}

/* ---------------------------------------------------------------------------
 * Waiting for locks
 * ------------------------------------------------------------------------- */

static void sleep_us(int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* How long to sleep before the next look at a lock: fine-grained at first,
 * since the checkpointer holds the write lock for a millisecond or so, then
 * coarser for another process's long transaction. */
static int64_t busy_pause_us(int count)
{
    if (count < 40) return 50;
    if (count < 100) return 250;
    return 2000;
}

/* The writer's busy handler: SQLite's busy_timeout with finer sleeps (its
 * own sleeps a whole millisecond first, then more). */
static int writer_busy(void *arg, int count)
{
    struct engine *e = arg;
    int64_t now = clock_monotonic_us();
    if (count == 0) e->busy_since_us = now;
    int64_t left = e->busy_since_us + (int64_t)SQLITE_BUSY_TIMEOUT_MS * 1000 - now;
    if (left <= 0) return 0;
    int64_t pause = busy_pause_us(count);
    sleep_us(pause < left ? pause : left);
    return 1;
}

/* The checkpointer's: it waits for the write lock only until its deadline. */
static int checkpointer_busy(void *arg, int count)
{
    struct checkpointer *c = arg;
    int64_t left = c->busy_deadline_us - clock_monotonic_us();
    if (left <= 0) return 0;
    sleep_us(left < 50 ? left : 50);
    return 1;
}

/* ---------------------------------------------------------------------------
 * Checkpoints
 *
 * SQLite's automatic checkpoint runs inside the commit that takes the WAL past
 * 1000 pages: it copies them into the database file and syncs it while every
 * op of the batch waits for its answer. Here the writer's commit hook only
 * counts the frames and wakes the checkpointer, which copies them with PASSIVE
 * checkpoints on its own connection, concurrently with the writer. When a
 * checkpoint has copied everything, the writer's next transaction starts the
 * WAL over from its beginning by itself; under steady load it rarely finds it
 * so, and the checkpointer then makes it happen with a RESTART checkpoint
 * once the WAL passes CKPT_RESTART_FRAMES. Durability is untouched: commits
 * still sync the WAL (synchronous=FULL), and a checkpoint syncs the database
 * file before the WAL frames it copied may be overwritten.
 * ------------------------------------------------------------------------- */

/* What the last checkpoint copied, tagged with the WAL generation it saw. */
static void checkpoint_publish(struct checkpointer *c, unsigned generation, int copied)
{
    uint64_t value = (uint64_t)generation << 32 | (uint32_t)(copied > 0 ? copied : 0);
    atomic_store(&c->progress, value);
}

/* Frames of the WAL not yet copied back, as the writer sees it after a
 * commit that left `frames` in it. */
static int checkpoint_backlog(struct engine *e, int frames)
{
    uint64_t progress = atomic_load(&e->ckpt.progress);
    unsigned generation = (unsigned)(progress >> 32);
    int copied = (int)(uint32_t)progress;
    if (generation != atomic_load(&e->wal_generation) || copied > frames) return frames;
    return frames - copied;
}

static void checkpointer_wake(struct checkpointer *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->wanted) {
        c->wanted = true;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
}

/* The writer's commit hook (SQLite calls it after every commit, on the
 * storage thread, with the frames now in the WAL). It replaces SQLite's
 * automatic checkpoint. */
static int writer_committed(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct engine *e = arg;
    if (frames < e->wal_frames) atomic_fetch_add(&e->wal_generation, 1); /* started over */
    e->wal_frames = frames;
    if (frames < CKPT_HARD_FRAMES) e->wal_over_bound = false;
    if (frames >= CKPT_HARD_FRAMES) {
        /* The checkpointer is not keeping up: do it here, as SQLite would. */
        int log = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        if (!e->wal_over_bound)
            log_warn("store: sqlite: the WAL reached %d pages; checkpointing in the commit (%s)",
                     frames, rc == SQLITE_OK ? "ok" : sqlite3_errstr(rc));
        e->wal_over_bound = true;
        return SQLITE_OK;
    }
    if (e->ckpt.started && checkpoint_backlog(e, frames) >= CKPT_WAKE_FRAMES)
        checkpointer_wake(&e->ckpt);
    return SQLITE_OK;
}

static void checkpoint_run(struct engine *e)
{
    struct checkpointer *c = &e->ckpt;
    unsigned generation = atomic_load(&e->wal_generation);
    int log = 0, copied = 0, rc = SQLITE_OK;
    for (int pass = 0; pass < CKPT_PASSES; pass++) {
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        if (rc != SQLITE_OK) break;
        checkpoint_publish(c, generation, copied);
        if (log - copied <= CKPT_CATCH_UP_FRAMES) break;
    }
    if (rc == SQLITE_OK && log >= CKPT_RESTART_FRAMES) {
        /* The few frames left are copied under the write lock; the writer's
         * next transaction then starts the WAL over. A busy answer (the
         * writer kept the lock, or another process reads an old snapshot)
         * leaves it for the next wake-up. */
        c->busy_deadline_us = clock_monotonic_us() + CKPT_RESTART_WAIT_MS * 1000;
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, &log, &copied);
        if (rc == SQLITE_OK || rc == SQLITE_BUSY) checkpoint_publish(c, generation, copied);
        if (rc == SQLITE_BUSY) rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_warn("store: sqlite: checkpoint: %s", sqlite3_errmsg(c->db));
}

static void *checkpointer_main(void *arg)
{
    struct engine *e = arg;
    struct checkpointer *c = &e->ckpt;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->wanted && !c->stopping) pthread_cond_wait(&c->wake, &c->lock);
        if (c->stopping) break;
        c->wanted = false;
        pthread_mutex_unlock(&c->lock);
        checkpoint_run(e);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void checkpointer_stop(struct engine *e)
{
    struct checkpointer *c = &e->ckpt;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stopping = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        c->started = false;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

/* Opens the checkpointer's connection and starts its thread. The writer
 * still works without it (its hook then checkpoints at CKPT_HARD_FRAMES),
 * so only opening the file can fail. */
static int checkpointer_start(struct engine *e, const char *path, char *err, size_t errlen)
{
    struct checkpointer *c = &e->ckpt;
    atomic_init(&c->progress, 0);
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s for checkpoints: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        return CHAT_E_IO;
    }
    sqlite3_busy_handler(c->db, checkpointer_busy, c);
    c->busy_deadline_us = clock_monotonic_us() + (int64_t)SQLITE_BUSY_TIMEOUT_MS * 1000;
    /* FULL: a checkpoint syncs the database file before the WAL frames it
     * copied can be overwritten. The read opens the WAL for this connection. */
    if (sqlite3_exec(c->db, "PRAGMA synchronous = FULL; SELECT count(*) FROM sqlite_master", NULL,
                     NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure the checkpoint connection: %s",
                 sqlite3_errmsg(c->db));
        return CHAT_E_IO;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) return CHAT_E_NOMEM;
    if (pthread_cond_init(&c->wake, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        return CHAT_E_NOMEM;
    }
    if (pthread_create(&c->thread, NULL, checkpointer_main, e) != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        snprintf(err, errlen, "cannot start the checkpoint thread");
        return CHAT_E_NOMEM;
    }
    c->started = true;
    return 0;
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

/* Switches to WAL; *wal is false for an in-memory database (tests of other
 * layers), which has no WAL to switch to. */
static int set_wal(sqlite3 *db, bool *wal, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    *wal = mode && strcmp(mode, "wal") == 0;
    bool ok = *wal || (mode && strcmp(mode, "memory") == 0);
    if (!ok)
        snprintf(err, errlen, "cannot switch the database to WAL mode: %s",
                 mode ? mode : sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return ok ? 0 : CHAT_E_IO;
}

static int configure(struct engine *e, bool *wal, char *err, size_t errlen)
{
    /* The busy handler first: switching to WAL may wait for another process. */
    sqlite3_busy_handler(e->db, writer_busy, e);
    int rc = set_wal(e->db, wal, err, errlen);
    if (rc != 0) return rc;
    /* synchronous=FULL: a commit (an ack) survives power loss. The rest
     * saves system calls: a page cache that holds the working set (so pages
     * are neither read again with pread nor looked up in the WAL) and
     * temporary tables in memory. No memory mapping, on purpose: in WAL mode
     * SQLite does not keep mapped pages in its cache, so every access to one
     * looks the page up in the WAL index again; measured with callgrind, a DM
     * cost 8% more instructions with mmap_size = 256 MiB than with the large
     * cache alone, and the cache already removes the reads. */
    char pragmas[320];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
             " PRAGMA cache_size = -%d; PRAGMA mmap_size = 0; PRAGMA journal_size_limit = %lld",
             SQLITE_CACHE_KIB, (long long)SQLITE_WAL_SIZE_LIMIT);
    if (sqlite3_exec(e->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure the database: %s", sqlite3_errmsg(e->db));
        return CHAT_E_IO;
    }
    /* Replaces SQLite's automatic checkpoint (see "Checkpoints"). */
    if (*wal) sqlite3_wal_hook(e->db, writer_committed, e);
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
    /* The checkpointer's connection first: the last connection to close
     * checkpoints what is left and removes the WAL. */
    checkpointer_stop(e);
    for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(e->stmts[i]);
    sqlite3_close(e->db);
    profiles_clear(e);
    idmap_free(&e->conversations);
    free(e);
}

/* Runs once, before any storage thread. SQLite keeps allocation statistics
 * behind a global mutex on every malloc and free unless told not to (about a
 * tenth of the instructions of a DM, measured with callgrind); nothing here
 * reads them. Only possible before SQLite initializes: when something in the
 * process already used it (a test's own connection), it stays as it is. */
static int engine_setup(const char *url, char *err, size_t errlen)
{
    (void)url;
    (void)err;
    (void)errlen;
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return 0;
}

static int engine_open(void **state, const char *url, char *err, size_t errlen)
{
    *state = NULL;
    struct engine *e = calloc(1, sizeof *e);
    if (!e) return CHAT_E_NOMEM;
    idmap_init(&e->profiles);
    idmap_init(&e->conversations);
    atomic_init(&e->wal_generation, 0);
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
    bool wal = false;
    rc = configure(e, &wal, err, errlen);
    if (rc == 0) rc = store_sqlite_migrate(e->db, err, errlen);
    if (rc == 0) rc = prepare_all(e, err, errlen);
    if (rc == 0 && wal) rc = checkpointer_start(e, path, err, errlen);
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
    .setup = engine_setup,
    .open = engine_open,
    .run_batch = engine_run_batch,
    .ping = engine_ping,
    .close = engine_close,
};
