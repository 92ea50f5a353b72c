/* The parts of chatctl that its commands share. chatctl stands in for the
 * user service during development and tests: it writes the user-service
 * tables (protocol §11) of the database DATABASE_URL names, and mints the
 * tokens that service would issue. */
#ifndef CHATD_TOOLS_CHATCTL_H
#define CHATD_TOOLS_CHATCTL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The current time as the user service writes it (ISO-8601 UTC text), for
 * SQL that goes through chatctl_sql (hence the doubled percent signs). */
#define CHATCTL_SQL_NOW "strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now')"

/* A "--name VALUE" option a command accepts; value stays NULL when absent. */
struct chatctl_option {
    const char *name;
    const char *value;
};

/* Prints "chatctl: <message>" on stderr and returns 1 (the exit status). */
int chatctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Splits argv[0..argc) into exactly npositional positional arguments and
 * the options listed. 0, or 1 after printing what was wrong. */
int chatctl_parse(int argc, char **argv, const char **positional, int npositional,
                  struct chatctl_option *options, size_t noptions);

/* Parses a whole decimal integer (an optional '-' and digits). */
bool chatctl_parse_int64(const char *text, int64_t *out);

/* Opens the database DATABASE_URL names (default sqlite:./data/chat.db);
 * create_dir makes its directory first (chatctl init). 0, or 1 after
 * printing why. The caller closes *db with sqlite3_close. */
int chatctl_db_open(sqlite3 **db, bool create_dir);

/* Runs SQL built by sqlite3_mprintf rules (%Q quotes a string, %lld for
 * ids). Returns the SQLite result code; prints nothing. */
int chatctl_sql(sqlite3 *db, const char *fmt, ...);

/* Reports the last SQLite error as chatctl's one line, with a hint when the
 * user-service tables are missing; returns 1. */
int chatctl_fail_sql(sqlite3 *db, const char *what);

/* Finds a user by numeric id or by username. On success *user_id is set and,
 * when username is not NULL, *username is a malloc'd copy the caller frees.
 * 0, or 1 after printing "unknown user". */
int chatctl_find_user(sqlite3 *db, const char *arg, int64_t *user_id, char **username);

/* The commands: each gets the arguments after its own words and returns the
 * exit status. */
int chatctl_init(int argc, char **argv);
int chatctl_user_add(int argc, char **argv);
int chatctl_user_del(int argc, char **argv);
int chatctl_user_show(int argc, char **argv);
int chatctl_profile_set(int argc, char **argv);
int chatctl_follow(int argc, char **argv);
int chatctl_unfollow(int argc, char **argv);
int chatctl_block(int argc, char **argv);
int chatctl_unblock(int argc, char **argv);
int chatctl_token(int argc, char **argv);
int chatctl_revoke(int argc, char **argv);

#endif
