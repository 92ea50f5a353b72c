/* Internal to the SQLite engine of the store: the statements, the engine's
 * state, and the few functions one of its files calls in another. sqlite.c
 * opens and closes the engine, steps statements, reads rows and runs batches;
 * sqlite_ops.c runs the ops; sqlite_checkpoint.c copies the WAL back and
 * waits for locks. Nothing outside src/store/sqlite*.c includes this. */
#ifndef CHATD_STORE_SQLITE_ENGINE_H
#define CHATD_STORE_SQLITE_ENGINE_H

#include "store/store.h"
#include "util/idmap.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The hard bound on the WAL (the rest of the checkpoint tuning is in
 * sqlite_checkpoint.c): a writer that finds this many frames in the WAL (the
 * checkpointer starved or failing) checkpoints inside its commit hook, as
 * SQLite's own auto-checkpoint would (and waits for a checkpointer that is
 * copying). With 4 KiB pages the WAL file stays under 192 MiB plus one batch
 * (in steady use about 96 MiB: RESTART at CKPT_RESTART_FRAMES), unless
 * another process holds a read transaction open for long (nothing can then be
 * copied past its snapshot). */
#define CKPT_HARD_FRAMES 49152
/* A WAL that grew past this is cut back to it when it starts over. */
#define SQLITE_WAL_SIZE_LIMIT (CKPT_HARD_FRAMES * 4096LL)

/* ---------------------------------------------------------------------------
 * Statements, prepared once at open
 * ------------------------------------------------------------------------- */

#define USER_SELECT                                                                                \
    "SELECT u.user_id, u.username, p.display_name, p.profile_picture FROM users_auth u"            \
    " LEFT JOIN user_profile_info p ON p.user_id = u.user_id"

/* Column order is what sqlite_row_read_message expects. */
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
    X(CONVERSATION_INSERT,                                                                         \
      "INSERT INTO conversations (user_a, user_b, created_at) VALUES (?1, ?2, ?3)")                \
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

/* The checkpointer: a thread with its own connection to the same file. The
 * writer's commit hook wakes it; it never holds up a commit except for the
 * short RESTART (see CKPT_RESTART_FRAMES in sqlite_checkpoint.c). */
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
};

/* sqlite.c: stepping and reading rows. */
int sqlite_stmt_step(struct engine *e, sqlite3_stmt *s);
int sqlite_stmt_run(struct engine *e, enum stmt_id id);
int sqlite_row_read_user_strings(sqlite3_stmt *s, int col, struct store_user *user);
int sqlite_row_read_message(sqlite3_stmt *s, struct store_message *message);
int sqlite_row_exists(struct engine *e, enum stmt_id id);

/* sqlite_ops.c: one op, and the profile cache. */
int sqlite_op_run(struct engine *e, struct store_op *op, int64_t now_ms);
void sqlite_profiles_clear(struct engine *e);

/* sqlite_checkpoint.c: the writer's busy handler and commit hook, and the
 * checkpointer's life. */
int sqlite_writer_busy(void *arg, int count);
int sqlite_writer_committed(void *arg, sqlite3 *db, const char *name, int frames);
int sqlite_checkpointer_start(struct engine *e, const char *path, char *err, size_t errlen);
void sqlite_checkpointer_stop(struct engine *e);

#endif
