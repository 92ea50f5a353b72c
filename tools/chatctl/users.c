/* chatctl's commands on users and their relationships: the writes the user
 * service would make to users_auth, user_profile_info, user_follows and
 * blocked_relationships, in SQL that reads the same on SQLite and
 * PostgreSQL. */
#include "chatctl.h"

#include "store/postgres_user_tables.h"
#include "store/user_tables.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Turns a failed write into chatctl's error line and undoes the open
 * transaction, if any; 0 when rc is not CHATCTL_ERROR. */
static int write_status(struct chatctl_db *db, int rc, const char *what)
{
    if (rc != CHATCTL_ERROR) return 0;
    int status = chatctl_fail_db(db, what);
    chatctl_rollback(db);
    return status;
}

/* Runs sql with the given text parameters (ids and times typed by types). */
static int write_sql(struct chatctl_db *db, const char *sql, const char *types, const char *a,
                     const char *b, const char *c)
{
    struct chatctl_query q = {
        .sql = sql, .types = types, .params = {a, b, c}, .nparams = types ? (int)strlen(types) : 0};
    int rc = chatctl_run(db, &q);
    chatctl_query_clear(&q);
    return rc;
}

/* ---------------------------------------------------------------------------
 * init
 * ------------------------------------------------------------------------- */

int chatctl_init(int argc, char **argv)
{
    if (chatctl_parse(argc, argv, NULL, 0, NULL, 0) != 0) return 1;
    struct chatctl_db db;
    if (chatctl_connect(&db, true) != 0) return 1;
    char err[256];
    int status = 0, rc;
    if (db.pg) {
        rc = store_user_tables_create_postgres(db.pg, err, sizeof err);
    } else {
        /* the mode chatd uses; set here too so a fresh file starts in it */
        status = write_status(&db, chatctl_run_sql(&db, "PRAGMA journal_mode = WAL"),
                              "switching to WAL");
        rc = status == 0 ? store_user_tables_create_sqlite(db.sqlite, err, sizeof err) : 0;
    }
    if (rc != 0) status = chatctl_fail("%s", err);
    chatctl_disconnect(&db);
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

/* The users_auth row: *id is the wanted id (0: the next free one) and
 * becomes the id given. On PostgreSQL an explicit id moves the identity
 * sequence past it, so later automatic ids do not collide. */
static int user_insert_auth(struct chatctl_db *db, const char *name, int64_t *id)
{
    char id_text[24], now[32];
    snprintf(id_text, sizeof id_text, "%" PRId64, *id);
    chatctl_iso_now(now);
    struct chatctl_query q = {.ncols = 1};
    if (*id == 0) {
        q.sql = "INSERT INTO users_auth (username, created_at) VALUES ($1, $2) RETURNING user_id";
        q.types = "st";
        q.params[0] = name, q.params[1] = now, q.nparams = 2;
    } else {
        q.sql = "INSERT INTO users_auth (user_id, username, created_at) VALUES ($1, $2, $3)"
                " RETURNING user_id";
        q.types = "ist";
        q.params[0] = id_text, q.params[1] = name, q.params[2] = now, q.nparams = 3;
    }
    int rc = chatctl_run(db, &q);
    if (rc == CHATCTL_ROW) chatctl_parse_int64(q.row[0], id);
    chatctl_query_clear(&q);
    if (rc == CHATCTL_ROW && db->pg && q.nparams == 3)
        rc = chatctl_run_sql(db, "SELECT setval(pg_get_serial_sequence('users_auth', 'user_id'),"
                                 " (SELECT max(user_id) FROM users_auth))");
    return rc;
}

/* Inserts the user and its profile in one transaction. An empty string
 * stores NULL. */
static int user_insert(struct chatctl_db *db, const char *name, int64_t *id,
                       const char *display_name, const char *picture)
{
    if (chatctl_begin(db) != 0) return chatctl_fail_db(db, "starting a transaction");
    int64_t wanted = *id;
    if (user_insert_auth(db, name, id) == CHATCTL_ERROR) {
        int status;
        if (db->unique_violation && strstr(db->error, "username"))
            status = chatctl_fail("username '%s' is taken", name);
        else if (db->unique_violation)
            status = chatctl_fail("user id %" PRId64 " is taken", wanted);
        else
            status = chatctl_fail_db(db, "adding the user");
        chatctl_rollback(db);
        return status;
    }
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, *id);
    int rc = write_sql(db,
                       "INSERT INTO user_profile_info (user_id, display_name, profile_picture)"
                       " VALUES ($1, nullif($2, ''), nullif($3, ''))",
                       "iss", id_text, display_name, picture);
    if (rc != CHATCTL_ERROR) rc = chatctl_commit(db);
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
    struct chatctl_db db;
    if (chatctl_connect(&db, false) != 0) return 1;
    int status = user_insert(&db, name, &id, options[1].value, options[2].value);
    if (status == 0) printf("%" PRId64 "\n", id);
    chatctl_disconnect(&db);
    return status;
}

/* Prints the user's id and username on one line each; exit 1 when unknown. */
int chatctl_user_show(int argc, char **argv)
{
    const char *user;
    if (chatctl_parse(argc, argv, &user, 1, NULL, 0) != 0) return 1;
    struct chatctl_db db;
    if (chatctl_connect(&db, false) != 0) return 1;
    int64_t id;
    char *username = NULL;
    int status = chatctl_lookup_user(&db, user, &id, &username);
    if (status == 0) printf("%" PRId64 "\n%s\n", id, username);
    free(username);
    chatctl_disconnect(&db);
    return status;
}

/* The profile row goes with the user (ON DELETE CASCADE); follows and blocks
 * name the user without a foreign key, so they go explicitly. */
static int user_delete(struct chatctl_db *db, int64_t id)
{
    static const char *const statements[] = {
        "DELETE FROM user_follows WHERE follower_id = $1 OR followee_id = $1",
        "DELETE FROM blocked_relationships WHERE blocker_user_id = $1 OR blocked_user_id = $1",
        "DELETE FROM users_auth WHERE user_id = $1",
    };
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    int rc = chatctl_begin(db);
    for (size_t i = 0; rc != CHATCTL_ERROR && i < 3; i++)
        rc = write_sql(db, statements[i], "i", id_text, NULL, NULL);
    if (rc != CHATCTL_ERROR) rc = chatctl_commit(db);
    return write_status(db, rc, "deleting the user");
}

int chatctl_user_del(int argc, char **argv)
{
    const char *user;
    if (chatctl_parse(argc, argv, &user, 1, NULL, 0) != 0) return 1;
    struct chatctl_db db;
    if (chatctl_connect(&db, false) != 0) return 1;
    int64_t id;
    int status = chatctl_lookup_user(&db, user, &id, NULL);
    if (status == 0) status = user_delete(&db, id);
    chatctl_disconnect(&db);
    return status;
}

/* Sets the fields given and leaves the others; "" clears a field. */
static int profile_update(struct chatctl_db *db, int64_t id, const char *display_name,
                          const char *picture)
{
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    struct chatctl_query q = {
        .sql = "UPDATE user_profile_info SET"
               " display_name = CASE WHEN $2 = '1' THEN nullif($3, '') ELSE display_name END,"
               " profile_picture = CASE WHEN $4 = '1' THEN nullif($5, '') ELSE profile_picture END"
               " WHERE user_id = $1",
        .types = "isssss",
        .params = {id_text, display_name ? "1" : "0", display_name, picture ? "1" : "0", picture},
        .nparams = 5,
    };
    int rc = chatctl_begin(db);
    if (rc != CHATCTL_ERROR)
        rc = write_sql(db,
                       "INSERT INTO user_profile_info (user_id) VALUES ($1)"
                       " ON CONFLICT (user_id) DO NOTHING",
                       "i", id_text, NULL, NULL);
    if (rc != CHATCTL_ERROR) rc = chatctl_run(db, &q);
    if (rc != CHATCTL_ERROR) rc = chatctl_commit(db);
    return write_status(db, rc, "updating the profile");
}

int chatctl_profile_set(int argc, char **argv)
{
    const char *user;
    struct chatctl_option options[] = {{"--display-name", NULL}, {"--picture", NULL}};
    if (chatctl_parse(argc, argv, &user, 1, options, 2) != 0) return 1;
    if (!options[0].value && !options[1].value)
        return chatctl_fail("give --display-name or --picture (or both)");
    struct chatctl_db db;
    if (chatctl_connect(&db, false) != 0) return 1;
    int64_t id;
    int status = chatctl_lookup_user(&db, user, &id, NULL);
    if (status == 0) status = profile_update(&db, id, options[0].value, options[1].value);
    chatctl_disconnect(&db);
    return status;
}

/* ---------------------------------------------------------------------------
 * follow / unfollow / block / unblock: all idempotent
 * ------------------------------------------------------------------------- */

/* Resolves A and B, then runs sql with their ids ($1, $2) and the time ($3). */
static int relation(int argc, char **argv, const char *verb, const char *sql)
{
    const char *names[2];
    if (chatctl_parse(argc, argv, names, 2, NULL, 0) != 0) return 1;
    struct chatctl_db db;
    if (chatctl_connect(&db, false) != 0) return 1;
    int64_t a, b;
    int status = chatctl_lookup_user(&db, names[0], &a, NULL);
    if (status == 0) status = chatctl_lookup_user(&db, names[1], &b, NULL);
    if (status == 0 && a == b) status = chatctl_fail("a user cannot %s themselves", verb);
    if (status == 0) {
        char a_text[24], b_text[24], now[32];
        snprintf(a_text, sizeof a_text, "%" PRId64, a);
        snprintf(b_text, sizeof b_text, "%" PRId64, b);
        chatctl_iso_now(now);
        /* a statement without $3 has two parameters */
        const char *types = strstr(sql, "$3") ? "iit" : "ii";
        status = write_status(&db, write_sql(&db, sql, types, a_text, b_text, now), verb);
    }
    chatctl_disconnect(&db);
    return status;
}

int chatctl_follow(int argc, char **argv)
{
    return relation(argc, argv, "follow",
                    "INSERT INTO user_follows (follower_id, followee_id, created_at)"
                    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING");
}

int chatctl_unfollow(int argc, char **argv)
{
    return relation(argc, argv, "unfollow",
                    "DELETE FROM user_follows WHERE follower_id = $1 AND followee_id = $2");
}

int chatctl_block(int argc, char **argv)
{
    return relation(
        argc, argv, "block",
        "INSERT INTO blocked_relationships (blocker_user_id, blocked_user_id, created_at)"
        " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING");
}

int chatctl_unblock(int argc, char **argv)
{
    return relation(argc, argv, "unblock",
                    "DELETE FROM blocked_relationships"
                    " WHERE blocker_user_id = $1 AND blocked_user_id = $2");
}
