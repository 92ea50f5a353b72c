/* The chat-owned tables of the SQLite engine and the numbered migrations that
 * create them. Applied versions are recorded in schema_migrations, so a
 * migration runs once per database file, whichever chatd opens it first. */
#include "store/sqlite_schema.h"

#include "util/error.h"

#include <stdio.h>

/* ---------------------------------------------------------------------------
 * Migrations. Never edit one that has shipped: append a new one.
 * ------------------------------------------------------------------------- */

/* Version 1: the seed's chat tables. Times are INTEGER Unix epoch
 * milliseconds. The user-service tables (users_auth, user_follows, ...) are
 * not ours and are not referenced by foreign keys: the user service must
 * stay free to delete its rows. */
static const char migration_1[] =
    /* A DM conversation between two users, stored once with user_a < user_b.
     * last_read_a / last_read_b: the newest message each side has read. */
    "CREATE TABLE conversations ("
    "  conversation_id INTEGER PRIMARY KEY,"
    "  user_a INTEGER NOT NULL,"
    "  user_b INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  last_message_id INTEGER,"
    "  last_read_a INTEGER,"
    "  last_read_b INTEGER,"
    "  CHECK (user_a < user_b),"
    "  UNIQUE (user_a, user_b));"
    "CREATE INDEX idx_conversations_user_b ON conversations (user_b);"

    "CREATE TABLE group_chats ("
    "  group_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  description TEXT,"
    "  owner_id INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  last_message_id INTEGER);"

    /* The seed's index name is kept although it repeats the primary key:
     * the PostgreSQL schema is shared and named the same way. */
    "CREATE TABLE group_members ("
    "  group_id INTEGER NOT NULL REFERENCES group_chats (group_id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL,"
    "  role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),"
    "  joined_at INTEGER NOT NULL,"
    "  last_read_message_id INTEGER,"
    "  PRIMARY KEY (group_id, user_id));"
    "CREATE INDEX idx_group_members_both ON group_members (group_id, user_id);"
    "CREATE INDEX idx_group_members_user ON group_members (user_id);"

    /* DMs and group messages alike. AUTOINCREMENT: an id is never handed out
     * twice, even after the newest row is removed (clients keep ids). content
     * is sealed (nonce|ciphertext|tag) and NULL once deleted for everyone. */
    "CREATE TABLE private_messages ("
    "  message_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  conversation_id INTEGER REFERENCES conversations (conversation_id) ON DELETE CASCADE,"
    "  group_id INTEGER REFERENCES group_chats (group_id) ON DELETE CASCADE,"
    "  sender_id INTEGER NOT NULL,"
    "  recipient_id INTEGER,"
    "  content BLOB,"
    "  key_id INTEGER NOT NULL DEFAULT 0,"
    "  client_message_id TEXT,"
    "  reply_to_id INTEGER REFERENCES private_messages (message_id) ON DELETE SET NULL,"
    "  is_announcement INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  edited_at INTEGER,"
    "  deleted_at INTEGER,"
    "  CHECK ((conversation_id IS NULL) <> (group_id IS NULL)));"
    "CREATE UNIQUE INDEX idx_private_messages_client_id"
    "  ON private_messages (sender_id, client_message_id) WHERE client_message_id IS NOT NULL;"
    "CREATE INDEX idx_conversation_messages"
    "  ON private_messages (conversation_id, message_id) WHERE conversation_id IS NOT NULL;"
    "CREATE INDEX idx_group_messages"
    "  ON private_messages (group_id, message_id) WHERE group_id IS NOT NULL;"

    /* "Delete for me": the message stays, this reader no longer sees it. */
    "CREATE TABLE message_deletions ("
    "  message_id INTEGER NOT NULL REFERENCES private_messages (message_id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL,"
    "  deleted_at INTEGER NOT NULL,"
    "  PRIMARY KEY (message_id, user_id)) WITHOUT ROWID;"

    "CREATE TABLE message_reactions ("
    "  message_id INTEGER NOT NULL REFERENCES private_messages (message_id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL,"
    "  emoji TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (message_id, emoji, user_id)) WITHOUT ROWID;"

    "CREATE TABLE user_status ("
    "  user_id INTEGER PRIMARY KEY,"
    "  last_seen INTEGER,"
    "  updated_at INTEGER NOT NULL);";

/* Conversations and groups no longer carry their newest message: keeping
 * last_message_id / updated_at current cost every batch one UPDATE per
 * conversation it wrote to (13% of a DM's storage instructions, callgrind)
 * and a dirty page per conversation in the WAL. The newest message of a
 * conversation is the top of idx_conversation_messages, as on PostgreSQL. */
static const char migration_2[] = "ALTER TABLE conversations DROP COLUMN updated_at;"
                                  "ALTER TABLE conversations DROP COLUMN last_message_id;"
                                  "ALTER TABLE group_chats DROP COLUMN last_message_id;";

static const struct {
    int version;
    const char *sql;
} migrations[] = {
    {1, migration_1},
    {2, migration_2},
};

#define MIGRATION_COUNT ((int)(sizeof migrations / sizeof migrations[0]))

int store_sqlite_schema_version(void)
{
    return migrations[MIGRATION_COUNT - 1].version;
}

/* ---------------------------------------------------------------------------
 * Applying them
 * ------------------------------------------------------------------------- */

static int schema_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK) return 0;
    snprintf(err, errlen, "%s: %s", what, message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    return CHAT_E_IO;
}

/* Reads the newest applied version (0 on a fresh file). */
static int schema_current_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1,
                                &stmt, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(stmt, 0);
    else
        snprintf(err, errlen, "reading schema_migrations: %s", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : CHAT_E_IO;
}

static int schema_apply(sqlite3 *db, int index, char *err, size_t errlen)
{
    char what[64];
    snprintf(what, sizeof what, "migration %d", migrations[index].version);
    int rc = schema_exec(db, migrations[index].sql, what, err, errlen);
    if (rc != 0) return rc;

    sqlite3_stmt *stmt = NULL;
    int src = sqlite3_prepare_v2(db,
                                 "INSERT INTO schema_migrations (version, applied_at)"
                                 " VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                                 -1, &stmt, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int(stmt, 1, migrations[index].version);
        src = sqlite3_step(stmt);
    }
    if (src != SQLITE_DONE) snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return src == SQLITE_DONE ? 0 : CHAT_E_IO;
}

static int schema_apply_pending(sqlite3 *db, char *err, size_t errlen)
{
    int current = 0;
    int rc = schema_current_version(db, &current, err, errlen);
    if (rc != 0) return rc;
    if (current > store_sqlite_schema_version()) {
        snprintf(err, errlen, "the database schema is at version %d, newer than this chatd (%d)",
                 current, store_sqlite_schema_version());
        return CHAT_E_CONFIG;
    }
    for (int i = 0; i < MIGRATION_COUNT && rc == 0; i++) {
        if (migrations[i].version > current) rc = schema_apply(db, i, err, errlen);
    }
    return rc;
}

int store_sqlite_migrate(sqlite3 *db, char *err, size_t errlen)
{
    /* IMMEDIATE: two processes opening a fresh file must not both migrate. */
    int rc = schema_exec(db, "BEGIN IMMEDIATE", "starting the migration", err, errlen);
    if (rc != 0) return rc;
    rc = schema_exec(db,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "  version INTEGER PRIMARY KEY,"
                     "  applied_at TEXT NOT NULL)",
                     "creating schema_migrations", err, errlen);
    if (rc == 0) rc = schema_apply_pending(db, err, errlen);
    if (rc == 0) rc = schema_exec(db, "COMMIT", "committing the migration", err, errlen);
    if (rc != 0) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
