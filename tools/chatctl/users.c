/* chatctl's commands on users and their relationships: the writes the user
 * service would make to users_auth, user_profile_info, user_follows and
 * blocked_relationships. */
#include "chatctl.h"

#include "store/user_tables.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Turns a failed write into chatctl's error line and undoes the open
 * transaction, if any; 0 when rc is SQLITE_OK. */
static int write_status(sqlite3 *db, int rc, const char *what)
{
    if (rc == SQLITE_OK) return 0;
    int status = chatctl_fail_sql(db, what);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return status;
}

/* ---------------------------------------------------------------------------
 * init
 * ------------------------------------------------------------------------- */

int chatctl_init(int argc, char **argv)
{
    if (chatctl_parse(argc, argv, NULL, 0, NULL, 0) != 0) return 1;
    sqlite3 *db;
    if (chatctl_db_open(&db, true) != 0) return 1;
    /* the mode chatd uses; set here too so a fresh file starts in it */
    int status = write_status(db, chatctl_sql(db, "PRAGMA journal_mode = WAL"), "switching to WAL");
    char err[256];
    if (status == 0 && store_user_tables_create_sqlite(db, err, sizeof err) != 0)
        status = chatctl_fail("%s", err);
    sqlite3_close(db);
    return status;
}

/* ---------------------------------------------------------------------------
 * user add / user del / profile set
 * ------------------------------------------------------------------------- */

/* What chat mentions can name (protocol §7: [A-Za-z0-9_.-]{1,32}); all
 * digits would read as a user id wherever chatctl takes USER. */
static bool username_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 32 || strspn(name, "0123456789") == len) return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

/* Inserts the user and its profile in one transaction; *id is the wanted id
 * (0: the next free one) and becomes the id given. An empty string stores
 * NULL. */
static int user_insert(sqlite3 *db, const char *name, int64_t *id, const char *display_name,
                       const char *picture)
{
    if (chatctl_sql(db, "BEGIN IMMEDIATE") != SQLITE_OK)
        return chatctl_fail_sql(db, "starting a transaction");
    int rc = chatctl_sql(db,
                         "INSERT INTO users_auth (user_id, username, created_at)"
                         " VALUES (nullif(%lld, 0), %Q, " CHATCTL_SQL_NOW ")",
                         (long long)*id, name);
    if (rc != SQLITE_OK) {
        int code = sqlite3_extended_errcode(db), status;
        if (code == SQLITE_CONSTRAINT_UNIQUE)
            status = chatctl_fail("username '%s' is taken", name);
        else if (code == SQLITE_CONSTRAINT_PRIMARYKEY)
            status = chatctl_fail("user id %" PRId64 " is taken", *id);
        else
            status = chatctl_fail_sql(db, "adding the user");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return status;
    }
    *id = sqlite3_last_insert_rowid(db);
    rc = chatctl_sql(db,
                     "INSERT INTO user_profile_info (user_id, display_name, profile_picture)"
                     " VALUES (%lld, nullif(%Q, ''), nullif(%Q, '')); COMMIT",
                     (long long)*id, display_name, picture);
    return write_status(db, rc, "adding the profile");
}

int chatctl_user_add(int argc, char **argv)
{
    const char *name;
    struct chatctl_option options[] = {
        {"--id", NULL}, {"--display-name", NULL}, {"--picture", NULL}};
    if (chatctl_parse(argc, argv, &name, 1, options, 3) != 0) return 1;
    int64_t id = 0;
    if (options[0].value && (!chatctl_parse_int64(options[0].value, &id) || id <= 0))
        return chatctl_fail("--id must be a positive integer");
    if (!username_valid(name))
        return chatctl_fail("a username is 1 to 32 of A-Z a-z 0-9 _ . - and not only digits");
    sqlite3 *db;
    if (chatctl_db_open(&db, false) != 0) return 1;
    int status = user_insert(db, name, &id, options[1].value, options[2].value);
    if (status == 0) printf("%" PRId64 "\n", id);
    sqlite3_close(db);
    return status;
}

/* Prints the user's id and username on one line each; exit 1 when unknown. */
int chatctl_user_show(int argc, char **argv)
{
    const char *user;
    if (chatctl_parse(argc, argv, &user, 1, NULL, 0) != 0) return 1;
    sqlite3 *db;
    if (chatctl_db_open(&db, false) != 0) return 1;
    int64_t id;
    char *username = NULL;
    int status = chatctl_find_user(db, user, &id, &username);
    if (status == 0) printf("%" PRId64 "\n%s\n", id, username);
    free(username);
    sqlite3_close(db);
    return status;
}

/* The profile row goes with the user (ON DELETE CASCADE); follows and blocks
 * name the user without a foreign key, so they go explicitly. */
int chatctl_user_del(int argc, char **argv)
{
    const char *user;
    if (chatctl_parse(argc, argv, &user, 1, NULL, 0) != 0) return 1;
    sqlite3 *db;
    if (chatctl_db_open(&db, false) != 0) return 1;
    int64_t id;
    int status = chatctl_find_user(db, user, &id, NULL);
    if (status == 0) {
        int rc =
            chatctl_sql(db,
                        "BEGIN IMMEDIATE;"
                        "DELETE FROM user_follows WHERE follower_id = %lld OR followee_id = %lld;"
                        "DELETE FROM blocked_relationships WHERE blocker_user_id = %lld OR "
                        "blocked_user_id = %lld;"
                        "DELETE FROM users_auth WHERE user_id = %lld;"
                        "COMMIT",
                        (long long)id, (long long)id, (long long)id, (long long)id, (long long)id);
        status = write_status(db, rc, "deleting the user");
    }
    sqlite3_close(db);
    return status;
}

/* Sets the fields given and leaves the others; "" clears a field. */
int chatctl_profile_set(int argc, char **argv)
{
    const char *user;
    struct chatctl_option options[] = {{"--display-name", NULL}, {"--picture", NULL}};
    if (chatctl_parse(argc, argv, &user, 1, options, 2) != 0) return 1;
    if (!options[0].value && !options[1].value)
        return chatctl_fail("give --display-name or --picture (or both)");
    sqlite3 *db;
    if (chatctl_db_open(&db, false) != 0) return 1;
    int64_t id;
    int status = chatctl_find_user(db, user, &id, NULL);
    if (status == 0) {
        int rc = chatctl_sql(
            db,
            "INSERT INTO user_profile_info (user_id) VALUES (%lld) ON CONFLICT (user_id) DO "
            "NOTHING;"
            "UPDATE user_profile_info SET"
            " display_name = CASE WHEN %d THEN nullif(%Q, '') ELSE display_name END,"
            " profile_picture = CASE WHEN %d THEN nullif(%Q, '') ELSE profile_picture END"
            " WHERE user_id = %lld",
            (long long)id, options[0].value != NULL, options[0].value, options[1].value != NULL,
            options[1].value, (long long)id);
        status = write_status(db, rc, "updating the profile");
    }
    sqlite3_close(db);
    return status;
}

/* ---------------------------------------------------------------------------
 * follow / unfollow / block / unblock: all idempotent
 * ------------------------------------------------------------------------- */

/* Resolves A and B, then runs sql with their ids (%lld, %lld). */
static int relation(int argc, char **argv, const char *verb, const char *sql)
{
    const char *names[2];
    if (chatctl_parse(argc, argv, names, 2, NULL, 0) != 0) return 1;
    sqlite3 *db;
    if (chatctl_db_open(&db, false) != 0) return 1;
    int64_t a, b;
    int status = chatctl_find_user(db, names[0], &a, NULL);
    if (status == 0) status = chatctl_find_user(db, names[1], &b, NULL);
    if (status == 0 && a == b) status = chatctl_fail("a user cannot %s themselves", verb);
    if (status == 0)
        status = write_status(db, chatctl_sql(db, sql, (long long)a, (long long)b), verb);
    sqlite3_close(db);
    return status;
}

int chatctl_follow(int argc, char **argv)
{
    return relation(argc, argv, "follow",
                    "INSERT INTO user_follows (follower_id, followee_id, created_at)"
                    " VALUES (%lld, %lld, " CHATCTL_SQL_NOW ") ON CONFLICT DO NOTHING");
}

int chatctl_unfollow(int argc, char **argv)
{
    return relation(argc, argv, "unfollow",
                    "DELETE FROM user_follows WHERE follower_id = %lld AND followee_id = %lld");
}

int chatctl_block(int argc, char **argv)
{
    return relation(
        argc, argv, "block",
        "INSERT INTO blocked_relationships (blocker_user_id, blocked_user_id, created_at)"
        " VALUES (%lld, %lld, " CHATCTL_SQL_NOW ") ON CONFLICT DO NOTHING");
}

int chatctl_unblock(int argc, char **argv)
{
    return relation(argc, argv, "unblock",
                    "DELETE FROM blocked_relationships"
                    " WHERE blocker_user_id = %lld AND blocked_user_id = %lld");
}
