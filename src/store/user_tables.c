/* The user service's tables, created the way that service lays them out in
 * SQLite (times as ISO-8601 UTC text), so chatctl and the tests can stand in
 * for it. */
#include "store/user_tables.h"

#include "util/error.h"

#include <stdio.h>

static const char user_tables_sql[] =
    "CREATE TABLE IF NOT EXISTS users_auth ("
    "  user_id INTEGER PRIMARY KEY,"
    "  username TEXT NOT NULL UNIQUE,"
    "  created_at TEXT NOT NULL);"

    "CREATE TABLE IF NOT EXISTS user_profile_info ("
    "  user_id INTEGER PRIMARY KEY REFERENCES users_auth (user_id) ON DELETE CASCADE,"
    "  display_name TEXT,"
    "  profile_picture TEXT);"

    "CREATE TABLE IF NOT EXISTS jwt_revocation ("
    "  jti TEXT PRIMARY KEY,"
    "  revoked_at TEXT NOT NULL,"
    "  expires_at TEXT);"

    "CREATE TABLE IF NOT EXISTS blocked_relationships ("
    "  blocker_user_id INTEGER NOT NULL,"
    "  blocked_user_id INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (blocker_user_id, blocked_user_id));"
    "CREATE INDEX IF NOT EXISTS idx_blocked_relationships"
    "  ON blocked_relationships (blocker_user_id, blocked_user_id);"

    "CREATE TABLE IF NOT EXISTS user_follows ("
    "  follower_id INTEGER NOT NULL,"
    "  followee_id INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (follower_id, followee_id));"
    "CREATE INDEX IF NOT EXISTS idx_user_follows ON user_follows (follower_id, followee_id);";

int store_user_tables_create_sqlite(sqlite3 *db, char *err, size_t errlen)
{
    char *message = NULL;
    if (sqlite3_exec(db, user_tables_sql, NULL, NULL, &message) == SQLITE_OK) return 0;
    snprintf(err, errlen, "creating the user-service tables: %s",
             message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    return CHAT_E_IO;
}
