/* The user service's tables (protocol §11) as PostgreSQL DDL, for
 * development and tests only: chatd never creates them, chatctl init and the
 * tests do. */
#ifndef CHATD_STORE_POSTGRES_USER_TABLES_H
#define CHATD_STORE_POSTGRES_USER_TABLES_H

#include <libpq-fe.h>
#include <stddef.h>

/* The DDL itself (several statements), also printed in docs/database.md. */
extern const char store_postgres_user_tables_sql[];

/* Creates users_auth, user_profile_info, jwt_revocation,
 * blocked_relationships and user_follows with the seed's indexes; tables that
 * exist are left alone. Returns 0, or CHAT_E_IO with a sentence in err. */
int store_user_tables_create_postgres(PGconn *conn, char *err, size_t errlen);

#endif
