/* The chat-owned schema of the PostgreSQL engine: numbered migrations of
 * tables, indexes and the chat_* functions that each store op calls, applied
 * once per database under an advisory lock. */
#ifndef CHATD_STORE_POSTGRES_SCHEMA_H
#define CHATD_STORE_POSTGRES_SCHEMA_H

#include <libpq-fe.h>
#include <stddef.h>

/* The user-service tables chatd reads (protocol §11), in one string for
 * messages: "users_auth, user_profile_info, ...". */
extern const char store_postgres_user_tables_list[];

/* Checks that the user-service tables exist (chatd never creates them),
 * then, holding the migration advisory lock, applies every migration newer
 * than what schema_migrations records, each in its own transaction. Several
 * chatd starting at once wait for each other. Returns 0, or a CHAT_E_* code
 * with a sentence in err (also when a newer chatd migrated the database). */
int store_postgres_migrate(PGconn *conn, char *err, size_t errlen);

/* The version the newest migration brings the schema to. */
int store_postgres_schema_version(void);

#endif
