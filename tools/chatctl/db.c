/* chatctl's plumbing: argument parsing, error lines, and the database
 * connection with the lookups every command needs. */
#include "chatctl.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* The file named by DATABASE_URL, or NULL after printing why there is none. */
static const char *database_path(void)
{
    const char *url = getenv("DATABASE_URL");
    if (!url || !*url) url = CHATCTL_DEFAULT_DATABASE_URL;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        chatctl_fail("PostgreSQL support is not built yet");
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
    const char *path = database_path();
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
