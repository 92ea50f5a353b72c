/* The chat-owned schema of the SQLite engine, as numbered migrations. */
#ifndef CHATD_STORE_SQLITE_SCHEMA_H
#define CHATD_STORE_SQLITE_SCHEMA_H

#include <sqlite3.h>
#include <stddef.h>

/* Applies, in one transaction, every migration newer than what the
 * schema_migrations table records. Returns 0, or a CHAT_E_* code with a
 * sentence in err (also when the file was migrated by a newer chatd). */
int store_sqlite_migrate(sqlite3 *db, char *err, size_t errlen);

/* The version the newest migration brings the schema to. */
int store_sqlite_schema_version(void);

#endif
