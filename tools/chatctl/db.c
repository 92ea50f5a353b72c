/* chatctl's plumbing: argument parsing, error lines, and the database
 * connection (SQLite or PostgreSQL, one SQL text for both) with the lookups
 * every command needs. */
#include "chatctl.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CHATCTL_DEFAULT_DATABASE_URL "sqlite:./data/chat.db"
#define CHATCTL_BUSY_TIMEOUT_MS 5000

/* ---------------------------------------------------------------------------
 * Errors and arguments
 * ------------------------------------------------------------------------- */

int chatctl_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("chatctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static struct chatctl_option *find_option(struct chatctl_option *options, size_t noptions,
                                          const char *name)
{
    for (size_t i = 0; i < noptions; i++)
        if (strcmp(options[i].name, name) == 0) return &options[i];
    return NULL;
}

int chatctl_parse(int argc, char **argv, const char **positional, int npositional,
                  struct chatctl_option *options, size_t noptions)
{
    int count = 0;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            struct chatctl_option *option = find_option(options, noptions, argv[i]);
            if (!option) return chatctl_fail("unknown option %s (chatctl help)", argv[i]);
            if (i + 1 == argc) return chatctl_fail("%s needs a value", argv[i]);
            option->value = argv[++i];
        } else if (count == npositional) {
            return chatctl_fail("unexpected argument '%s' (chatctl help)", argv[i]);
        } else {
            positional[count++] = argv[i];
        }
    }
    if (count < npositional) return chatctl_fail("missing arguments (chatctl help)");
    return 0;
}

bool chatctl_parse_int64(const char *text, int64_t *out)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (digits[0] < '0' || digits[0] > '9') return false;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    *out = value;
    return true;
}

/* ---------------------------------------------------------------------------
 * The database
 * ------------------------------------------------------------------------- */

/* Creates every missing directory above path (mkdir -p of its dirname). */
static int make_parent_dirs(const char *path)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return chatctl_fail("database path is too long");
    for (char *slash = strchr(dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return chatctl_fail("cannot create %s: %s", dir, strerror(errno));
        *slash = '/';
    }
    return 0;
}

static const char *database_url(void)
{
    const char *url = getenv("DATABASE_URL");
    return url && *url ? url : CHATCTL_DEFAULT_DATABASE_URL;
}

static bool is_postgres(const char *url)
{
    return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

/* The file named by DATABASE_URL, or NULL after printing why there is none
 * (postgres_ok: a PostgreSQL URL is not an error, the result is NULL). */
static const char *database_path(bool postgres_ok)
{
    const char *url = database_url();
    if (is_postgres(url)) {
        if (!postgres_ok) chatctl_fail("this command does not support PostgreSQL yet");
        return NULL;
    }
    if (strncmp(url, "sqlite:", 7) != 0 || url[7] == '\0') {
        chatctl_fail("DATABASE_URL must be sqlite:<path> or postgres://...");
        return NULL;
    }
    const char *path = url + 7;
    return strncmp(path, "//", 2) == 0 ? path + 2 : path;
}

int chatctl_db_open(sqlite3 **db, bool create_dir)
{
    *db = NULL;
    const char *path = database_path(false);
    if (!path) return 1;
    if (create_dir && make_parent_dirs(path) != 0) return 1;
    int flags = SQLITE_OPEN_READWRITE | (create_dir ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        chatctl_fail("cannot open %s: %s%s", path, *db ? sqlite3_errmsg(*db) : "out of memory",
                     create_dir ? "" : " (chatctl init creates it)");
        sqlite3_close(*db);
        *db = NULL;
        return 1;
    }
    /* chatd writes the same file; wait for it rather than fail */
    sqlite3_busy_timeout(*db, CHATCTL_BUSY_TIMEOUT_MS);
    chatctl_sql(*db, "PRAGMA foreign_keys = ON");
    return 0;
}

int chatctl_sql(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (!sql) return SQLITE_NOMEM;
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_free(sql);
    return rc;
}

int chatctl_fail_sql(sqlite3 *db, const char *what)
{
    const char *message = sqlite3_errmsg(db);
    bool missing = strncmp(message, "no such table", 13) == 0;
    return chatctl_fail("%s: %s%s", what, message, missing ? " (run chatctl init first)" : "");
}

int chatctl_find_user(sqlite3 *db, const char *arg, int64_t *user_id, char **username)
{
    int64_t id = 0;
    bool numeric = chatctl_parse_int64(arg, &id) && id > 0;
    const char *sql = numeric ? "SELECT user_id, username FROM users_auth WHERE user_id = ?1"
                              : "SELECT user_id, username FROM users_auth WHERE username = ?1";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return chatctl_fail_sql(db, "looking up a user");
    if (numeric)
        sqlite3_bind_int64(s, 1, id);
    else
        sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int status = 0;
    if (rc == SQLITE_ROW) {
        *user_id = sqlite3_column_int64(s, 0);
        if (username) *username = strdup((const char *)sqlite3_column_text(s, 1));
        if (username && !*username) status = chatctl_fail("out of memory");
    } else if (rc == SQLITE_DONE) {
        status = chatctl_fail("unknown user '%s'", arg);
    } else {
        status = chatctl_fail_sql(db, "looking up a user");
    }
    sqlite3_finalize(s);
    return status;
}

/* ---------------------------------------------------------------------------
 * Either engine
 * ------------------------------------------------------------------------- */

void chatctl_iso_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static int connect_postgres(struct chatctl_db *db, const char *url)
{
    /* before the URL, so that the URL may override it */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {"5", "chatctl", url, NULL};
    db->pg = PQconnectdbParams(keys, values, 1);
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) {
        const char *message = db->pg ? PQerrorMessage(db->pg) : "out of memory";
        chatctl_fail("cannot connect to PostgreSQL: %.*s", (int)strcspn(message, "\n"), message);
        chatctl_disconnect(db);
        return 1;
    }
    /* CREATE ... IF NOT EXISTS would print a notice per existing table */
    PQclear(PQexec(db->pg, "SET client_min_messages = warning"));
    return 0;
}

int chatctl_connect(struct chatctl_db *db, bool create_dir)
{
    memset(db, 0, sizeof *db);
    const char *url = database_url();
    if (is_postgres(url)) return connect_postgres(db, url);
    return chatctl_db_open(&db->sqlite, create_dir);
}

void chatctl_disconnect(struct chatctl_db *db)
{
    if (db->sqlite) sqlite3_close(db->sqlite);
    if (db->pg) PQfinish(db->pg);
    db->sqlite = NULL;
    db->pg = NULL;
}

void chatctl_query_clear(struct chatctl_query *q)
{
    for (int i = 0; i < CHATCTL_QUERY_CELLS; i++) {
        free(q->row[i]);
        q->row[i] = NULL;
    }
}

/* Copies the first q->ncols cells of a row; NULL cells stay NULL. */
static int copy_cells(struct chatctl_db *db, struct chatctl_query *q, const char *const *cells)
{
    for (int i = 0; i < q->ncols && i < CHATCTL_QUERY_CELLS; i++) {
        if (!cells[i]) continue;
        if (!(q->row[i] = strdup(cells[i]))) {
            snprintf(db->error, sizeof db->error, "out of memory");
            return CHATCTL_ERROR;
        }
    }
    return CHATCTL_ROW;
}

static int sqlite_failure(struct chatctl_db *db)
{
    const char *message = sqlite3_errmsg(db->sqlite);
    int code = sqlite3_extended_errcode(db->sqlite);
    snprintf(db->error, sizeof db->error, "%s", message);
    db->missing_table = strncmp(message, "no such table", 13) == 0;
    db->unique_violation = code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY;
    return CHATCTL_ERROR;
}

static void sqlite_bind(sqlite3_stmt *s, const struct chatctl_query *q)
{
    for (int i = 0; i < q->nparams; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%d", i + 1);
        int index = sqlite3_bind_parameter_index(s, name);
        int64_t number;
        if (index <= 0) continue;
        if (!q->params[i])
            sqlite3_bind_null(s, index);
        else if (q->types && q->types[i] == 'i' && chatctl_parse_int64(q->params[i], &number))
            sqlite3_bind_int64(s, index, number);
        else
            sqlite3_bind_text(s, index, q->params[i], -1, SQLITE_STATIC);
    }
}

static int run_sqlite(struct chatctl_db *db, struct chatctl_query *q)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->sqlite, q->sql, -1, &s, NULL) != SQLITE_OK)
        return sqlite_failure(db);
    sqlite_bind(s, q);
    int rc = sqlite3_step(s), status = CHATCTL_DONE;
    if (rc == SQLITE_ROW) {
        const char *cells[CHATCTL_QUERY_CELLS] = {NULL};
        for (int i = 0; i < q->ncols && i < CHATCTL_QUERY_CELLS; i++)
            cells[i] = (const char *)sqlite3_column_text(s, i);
        status = copy_cells(db, q, cells);
        /* RETURNING: the write is done once the statement has run out */
        while (status == CHATCTL_ROW && (rc = sqlite3_step(s)) == SQLITE_ROW) continue;
        if (rc != SQLITE_DONE && status == CHATCTL_ROW) status = sqlite_failure(db);
    } else if (rc != SQLITE_DONE) {
        status = sqlite_failure(db);
    }
    q->changes = sqlite3_changes(db->sqlite);
    sqlite3_finalize(s);
    return status;
}

static Oid postgres_type(const struct chatctl_query *q, int i)
{
    switch (q->types ? q->types[i] : '-') {
    case 'i':
        return 20; /* int8 */
    case 't':
        return 1184; /* timestamptz */
    case 's':
        return 25; /* text */
    default:
        return 0; /* inferred */
    }
}

static int postgres_failure(struct chatctl_db *db, const PGresult *res)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *message = primary ? primary : PQerrorMessage(db->pg);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(db->error, sizeof db->error, "%.*s", (int)strcspn(message, "\n"), message);
    db->missing_table = state && strcmp(state, "42P01") == 0;
    db->unique_violation = state && strcmp(state, "23505") == 0;
    return CHATCTL_ERROR;
}

static int run_postgres(struct chatctl_db *db, struct chatctl_query *q)
{
    Oid types[CHATCTL_QUERY_PARAMS];
    for (int i = 0; i < q->nparams; i++) types[i] = postgres_type(q, i);
    PGresult *res = PQexecParams(db->pg, q->sql, q->nparams, types, q->params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int status = CHATCTL_DONE;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        status = postgres_failure(db, res);
    } else if (st == PGRES_TUPLES_OK && PQntuples(res) > 0) {
        const char *cells[CHATCTL_QUERY_CELLS] = {NULL};
        for (int i = 0; i < q->ncols && i < CHATCTL_QUERY_CELLS && i < PQnfields(res); i++)
            cells[i] = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);
        status = copy_cells(db, q, cells);
    }
    q->changes = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? atoll(PQcmdTuples(res)) : 0;
    PQclear(res);
    return status;
}

int chatctl_run(struct chatctl_db *db, struct chatctl_query *q)
{
    db->error[0] = '\0';
    db->missing_table = db->unique_violation = false;
    if (q->nparams > CHATCTL_QUERY_PARAMS) {
        snprintf(db->error, sizeof db->error, "too many parameters");
        return CHATCTL_ERROR;
    }
    return db->pg ? run_postgres(db, q) : run_sqlite(db, q);
}

int chatctl_run_sql(struct chatctl_db *db, const char *sql)
{
    struct chatctl_query q = {.sql = sql};
    return chatctl_run(db, &q) == CHATCTL_ERROR ? CHATCTL_ERROR : 0;
}

int chatctl_begin(struct chatctl_db *db)
{
    /* chatd and the user service write the same file: take the lock now,
     * so that the busy timeout applies, not a deadlock error later */
    return chatctl_run_sql(db, db->sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
}

int chatctl_commit(struct chatctl_db *db)
{
    return chatctl_run_sql(db, "COMMIT");
}

void chatctl_rollback(struct chatctl_db *db)
{
    if (db->sqlite)
        sqlite3_exec(db->sqlite, "ROLLBACK", NULL, NULL, NULL);
    else
        PQclear(PQexec(db->pg, "ROLLBACK"));
}

int chatctl_fail_db(struct chatctl_db *db, const char *what)
{
    return chatctl_fail("%s: %s%s", what, db->error,
                        db->missing_table ? " (run chatctl init first)" : "");
}

int chatctl_lookup_user(struct chatctl_db *db, const char *arg, int64_t *user_id, char **username)
{
    int64_t id = 0;
    bool numeric = chatctl_parse_int64(arg, &id) && id > 0;
    struct chatctl_query q = {
        .sql = numeric ? "SELECT user_id, username FROM users_auth WHERE user_id = $1"
                       : "SELECT user_id, username FROM users_auth WHERE username = $1",
        .types = numeric ? "i" : "s",
        .params = {arg},
        .nparams = 1,
        .ncols = 2,
    };
    int rc = chatctl_run(db, &q), status = 0;
    if (rc == CHATCTL_ROW) {
        chatctl_parse_int64(q.row[0], user_id);
        if (username) {
            *username = q.row[1];
            q.row[1] = NULL;
        }
    } else if (rc == CHATCTL_DONE) {
        status = chatctl_fail("unknown user '%s'", arg);
    } else {
        status = chatctl_fail_db(db, "looking up a user");
    }
    chatctl_query_clear(&q);
    return status;
}
