/* The SQLite engine of the store: one writer connection, owned by the
 * storage thread, in WAL mode with synchronous=FULL, every statement prepared
 * once. A batch is one IMMEDIATE transaction and a single commit (one fsync)
 * covers every op of it; an op's failure stays its own (see "Batches" below).
 *
 * What keeps the write path short:
 * - checkpoints never run inside a commit: a checkpointer thread with its own
 *   connection copies the WAL back into the database (sqlite_checkpoint.c);
 * - a DM costs two statements: one SELECT makes every check (users exist,
 *   reply target, blocks, follow) and the INSERT itself detects a resend
 *   (ON CONFLICT DO NOTHING); a conversation row is written once, when it is
 *   made (its newest message is the top of idx_conversation_messages);
 * - conversation ids per user pair are cached (they never change once made),
 *   and so are the profiles (username, display name, picture) that DMs carry,
 *   for PROFILE_CACHE_TTL_MS. Relationships, revocations and whether a user
 *   exists are always read from the database: a block or unfollow written by
 *   the user service takes effect with the next batch;
 * - reads come from a large page cache, not pread; SQLite's allocation
 *   statistics (a global mutex per malloc) are off.
 *
 * This file opens and closes the engine, prepares and steps the statements,
 * reads rows and runs batches; the ops are in sqlite_ops.c, the checkpointer
 * in sqlite_checkpoint.c, and what they share in sqlite_engine.h. */
#include "store/sqlite_engine.h"
#include "store/sqlite_schema.h"
#include "store/store.h"

#include "util/clock.h"
#include "util/error.h"
#include "util/idmap.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The page cache of the writer, KiB; it grows only as pages are used. */
#define SQLITE_CACHE_KIB (32 * 1024)

static const char *const stmt_sql[STMT_COUNT] = {
#define STMT_SQL(name, sql) sql,
    SQLITE_STATEMENTS(STMT_SQL)
#undef STMT_SQL
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
int sqlite_stmt_step(struct engine *e, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    log_warn("store: sqlite: %s (%s)", sqlite3_errmsg(e->db), sqlite3_sql(s));
    return status_from_sqlite(rc);
}

/* Runs a statement whose rows, if any, do not matter. */
int sqlite_stmt_run(struct engine *e, enum stmt_id id)
{
    sqlite3_stmt *s = e->stmts[id];
    int rc = sqlite_stmt_step(e, s);
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
int sqlite_row_read_user_strings(sqlite3_stmt *s, int col, struct store_user *user)
{
    int rc = column_text(s, col, &user->username);
    if (rc == 0) rc = column_text(s, col + 1, &user->display_name);
    if (rc == 0) rc = column_text(s, col + 2, &user->profile_picture);
    return rc;
}

/* Reads a row of MESSAGE_SELECT. On failure the caller clears message. */
int sqlite_row_read_message(sqlite3_stmt *s, struct store_message *message)
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
    if (rc == 0) rc = sqlite_row_read_user_strings(s, 12, &message->sender);
    return rc;
}

/* 1 when the statement id yields a row for the bound value, 0 when not. */
int sqlite_row_exists(struct engine *e, enum stmt_id id)
{
    sqlite3_stmt *s = e->stmts[id];
    int rc = sqlite_stmt_step(e, s);
    sqlite3_reset(s);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Batches
 * ------------------------------------------------------------------------- */

/* Nothing of the batch is durable: no op may report success or results, and
 * conversations the batch made are gone again (so are their cached ids). */
static void fail_batch(struct engine *e, struct store_op **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_op_clear_results(ops[i]);
        ops[i]->status = CHAT_E_UNAVAILABLE;
    }
    idmap_free(&e->conversations);
}

static void engine_run_batch(void *state, struct store_op **ops, size_t n)
{
    struct engine *e = state;
    int64_t now_ms = clock_wall_ms();
    e->batch_mono_ms = clock_monotonic_ms();
    if (sqlite_stmt_run(e, STMT_BEGIN) != 0) {
        fail_batch(e, ops, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ops[i]->status = sqlite_op_run(e, ops[i], now_ms);
        if (ops[i]->status != 0) store_op_clear_results(ops[i]);
        /* An I/O error or a full disk makes SQLite roll the whole
         * transaction back: what earlier ops did is gone too. */
        if (sqlite3_get_autocommit(e->db)) {
            fail_batch(e, ops, n);
            return;
        }
    }
    if (sqlite_stmt_run(e, STMT_COMMIT) != 0) {
        if (!sqlite3_get_autocommit(e->db)) sqlite_stmt_run(e, STMT_ROLLBACK);
        fail_batch(e, ops, n);
    }
}

static bool engine_ping(void *state)
{
    return sqlite_stmt_run(state, STMT_PING) == 0;
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
    sqlite3_busy_handler(e->db, sqlite_writer_busy, e);
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
    /* Replaces SQLite's automatic checkpoint (see sqlite_checkpoint.c). */
    if (*wal) sqlite3_wal_hook(e->db, sqlite_writer_committed, e);
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
    sqlite_checkpointer_stop(e);
    for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(e->stmts[i]);
    sqlite3_close(e->db);
    sqlite_profiles_clear(e);
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
    if (rc == 0 && wal) rc = sqlite_checkpointer_start(e, path, err, errlen);
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
