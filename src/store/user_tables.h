/* The user service's tables (protocol §11) as SQLite DDL, for development and
 * tests only: chatd never creates them, chatctl init and the tests do. */
#ifndef CHATD_STORE_USER_TABLES_H
#define CHATD_STORE_USER_TABLES_H

#include <sqlite3.h>
#include <stddef.h>

/* Creates users_auth, user_profile_info, jwt_revocation,
 * blocked_relationships and user_follows with the seed's indexes; tables that
 * exist are left alone. Returns 0, or CHAT_E_IO with a sentence in err. */
int store_user_tables_create_sqlite(sqlite3 *db, char *err, size_t errlen);

#endif
