/* The parts of chatctl that its commands share. chatctl stands in for the
 * user service during development and tests: it writes the user-service
 * tables (protocol §11) of the database DATABASE_URL names (SQLite or
 * PostgreSQL), and mints the tokens that service would issue. */
#ifndef CHATD_TOOLS_CHATCTL_H
#define CHATD_TOOLS_CHATCTL_H

#include <libpq-fe.h>
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

/* ---------------------------------------------------------------------------
 * The database, on either engine
 * ------------------------------------------------------------------------- */

/* A connection to the database DATABASE_URL names: exactly one of sqlite
 * and pg is set. error holds the last failure as one line. */
struct chatctl_db {
    sqlite3 *sqlite;
    PGconn *pg;
    char error[512];
    bool missing_table;    /* the last failure named a table that does not exist */
    bool unique_violation; /* the last failure was a UNIQUE / PRIMARY KEY clash */
};

/* One statement with $1..$n text parameters, the same SQL text on both
 * engines (SQLite reads $n as named parameters).
 *   types: one letter per parameter, NULL for all '-': 'i' BIGINT, 't'
 *          TIMESTAMPTZ (ISO-8601 text), 's' TEXT, '-' whatever PostgreSQL
 *          infers. SQLite binds 'i' as an integer and the others as text.
 *   params[i]: the text of $i+1, NULL for SQL NULL.
 *   row: out, the first ncols cells of the first row, malloc'd (NULL for SQL
 *        NULL); chatctl_query_clear frees them.
 *   changes: out, rows inserted, updated or deleted. */
#define CHATCTL_QUERY_PARAMS 8
#define CHATCTL_QUERY_CELLS 4
struct chatctl_query {
    const char *sql;
    const char *types;
    const char *params[CHATCTL_QUERY_PARAMS];
    int nparams;
    int ncols;
    char *row[CHATCTL_QUERY_CELLS];
    long long changes;
};

enum { CHATCTL_ERROR = -1, CHATCTL_DONE = 0, CHATCTL_ROW = 1 };

/* Connects to the database DATABASE_URL names (default
 * sqlite:./data/chat.db); create_dir makes a SQLite file's directory first
 * (chatctl init). 0, or 1 after printing why. chatctl_disconnect closes. */
int chatctl_connect(struct chatctl_db *db, bool create_dir);
void chatctl_disconnect(struct chatctl_db *db);

/* Runs q: CHATCTL_ROW (q->row filled), CHATCTL_DONE (no row), or
 * CHATCTL_ERROR (db->error says why). */
int chatctl_run(struct chatctl_db *db, struct chatctl_query *q);

/* Frees the cells of q->row. */
void chatctl_query_clear(struct chatctl_query *q);

/* Runs a statement without parameters (BEGIN, COMMIT...): 0, or CHATCTL_ERROR. */
int chatctl_run_sql(struct chatctl_db *db, const char *sql);

/* A write transaction: SQLite takes the write lock at once (BEGIN
 * IMMEDIATE). 0, or CHATCTL_ERROR. chatctl_rollback ignores failures. */
int chatctl_begin(struct chatctl_db *db);
int chatctl_commit(struct chatctl_db *db);
void chatctl_rollback(struct chatctl_db *db);

/* Prints db->error as chatctl's one line after what, with a hint when the
 * user-service tables are missing; returns 1. */
int chatctl_fail_db(struct chatctl_db *db, const char *what);

/* Finds a user by numeric id or by username. On success *user_id is set and,
 * when username is not NULL, *username is a malloc'd copy the caller frees.
 * 0, or 1 after printing "unknown user". */
int chatctl_lookup_user(struct chatctl_db *db, const char *arg, int64_t *user_id, char **username);

/* The current time as the user service writes it: 2024-05-01T12:00:00.000Z */
void chatctl_iso_now(char out[32]);

/* ---------------------------------------------------------------------------
 * SQLite only: kept for commands not yet written for both engines
 * ------------------------------------------------------------------------- */

/* Opens the database DATABASE_URL names (default sqlite:./data/chat.db);
 * create_dir makes its directory first (chatctl init). 0, or 1 after
 * printing why (a PostgreSQL URL is refused). The caller closes *db with
 * sqlite3_close. */
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
int chatctl_bench_users(int argc, char **argv);

#endif
