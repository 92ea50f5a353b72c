/* Internal to the PostgreSQL engine: the statements every connection
 * prepares, the per-op halves (postgres_ops.c: the parameters an op sends,
 * the row it reads back), and the DM path (postgres_dm.c: runs of DMs in one
 * statement, conversations made ahead of a batch). postgres.c owns the
 * connections, the pipeline and the transactions. */
#ifndef CHATD_STORE_POSTGRES_H
#define CHATD_STORE_POSTGRES_H

#include "store/store.h"
#include "util/buf.h"

#include <libpq-fe.h>

/* X(ID, prepared name, SQL). Each op is one statement: a chat_* function
 * (postgres_schema.c) that does its checks and writes in one call; a run of
 * consecutive DMs is one statement too (chat_dm_send_many). */
#define PG_STATEMENTS(X)                                                                           \
    X(BEGIN, "begin", "BEGIN")                                                                     \
    X(COMMIT, "commit", "COMMIT")                                                                  \
    X(ROLLBACK, "rollback", "ROLLBACK")                                                            \
    X(PING, "ping", "SELECT max(version) FROM schema_migrations")                                  \
    X(AUTH, "auth", "SELECT * FROM chat_auth($1::bigint, $2::text)")                               \
    X(PROFILE, "profile", "SELECT * FROM chat_profile($1::bigint)")                                \
    X(DM_PREPARE, "dm_prepare", "SELECT * FROM chat_dm_prepare($1::bigint[], $2::bigint[])")       \
    X(DM_SEND_MANY, "dm_send_many",                                                                \
      "SELECT * FROM chat_dm_send_many($1::bigint[], $2::bigint[], $3::bigint[], $4::integer[],"   \
      " $5::bytea[], $6::text[], $7::boolean[])")                                                  \
    X(HISTORY, "history",                                                                          \
      "SELECT * FROM chat_history($1::bigint, $2::bigint, $3::bigint, $4::bigint, $5::integer)")   \
    X(REVALIDATE, "revalidate", "SELECT * FROM chat_revalidate($1::bigint[], $2::text[])")

enum pg_stmt {
#define PG_STMT_ENUM(id, name, sql) PG_STMT_##id,
    PG_STATEMENTS(PG_STMT_ENUM)
#undef PG_STMT_ENUM
        PG_STMT_COUNT
};

extern const char *const pg_stmt_name[PG_STMT_COUNT];
extern const char *const pg_stmt_sql[PG_STMT_COUNT];

/* What a send did. */
enum pg_send {
    PG_SENT,     /* one statement is in the pipeline: read one result for it */
    PG_NOT_SENT, /* nothing to ask the database: the ops' statuses are final */
    PG_SEND_FAILED,
};

/* ---------------------------------------------------------------------------
 * Single ops (postgres_ops.c)
 * ------------------------------------------------------------------------- */

/* The statement op runs. */
enum pg_stmt pg_op_statement(const struct store_op *op);

/* Puts op's statement into conn's pipeline (PQsendQueryPrepared). Not for
 * DMs, which travel in runs (pg_dm_send). */
enum pg_send pg_op_send(PGconn *conn, struct store_op *op);

/* Reads the result of op's statement into op and returns its status (0 or a
 * CHAT_E_* code). The results stay tentative until the batch commits. */
int pg_op_read(struct store_op *op, const PGresult *res);

/* ---------------------------------------------------------------------------
 * Reading results (postgres_ops.c): column numbers found once per result
 * ------------------------------------------------------------------------- */

/* The columns of a message row (chat_history, chat_dm_send_many); -1 for a
 * column the result does not have. */
struct pg_message_columns {
    int status, error, ord, duplicate;
    int message_id, conversation_id, sender_id, recipient_id, reply_to_id;
    int created_at_ms, edited_at_ms, deleted, key_id, content, client_message_id;
    int sender[3], recipient[3]; /* username, display name, picture */
};

void pg_message_columns_find(const PGresult *res, struct pg_message_columns *c);

/* Reads a message row; message and sender strings are malloc'd into m (the
 * caller clears m, also on failure). sender_id is left alone when the
 * result has no such column. */
int pg_cells_message(const PGresult *res, int row, const struct pg_message_columns *c,
                     struct store_message *m);

/* The status of a row (0 or a CHAT_E_* code), logging the error text of an
 * internal or unavailable one with what. */
int pg_row_status(const PGresult *res, int row, int status_col, int error_col, const char *what);

int64_t pg_cell_int(const PGresult *res, int row, int col); /* NULL reads as 0 */
bool pg_cell_bool(const PGresult *res, int row, int col);   /* NULL reads as false */

/* Copies a text cell into *out (caller frees); NULL stays NULL. */
int pg_cell_text(const PGresult *res, int row, int col, char **out);

/* The three strings of a user from cols (username, display name, picture). */
int pg_cells_user(const PGresult *res, int row, const int cols[3], struct store_user *user);

enum pg_send pg_send_prepared(PGconn *conn, enum pg_stmt stmt, int n, const char *const *values,
                              const int *lengths, const int *formats);

/* ---------------------------------------------------------------------------
 * DMs (postgres_dm.c)
 * ------------------------------------------------------------------------- */

/* The DM pairs a connection knows to have a conversation: direct-mapped, a
 * pair that loses its slot only costs one more chat_dm_prepare row. */
#define PG_PAIR_SLOTS 4096

struct pg_pair {
    int64_t a, b; /* a < b; 0, 0 for an empty slot */
};

/* A connection's reusable buffers for the array parameters of
 * chat_dm_prepare and chat_dm_send_many, and its pair cache. */
struct pg_dm {
    struct pg_pair *pairs; /* PG_PAIR_SLOTS of them, allocated on first use */
    buf senders, recipients, reply_tos, key_ids, client_ids, rate_limited;
    buf contents; /* binary bytea[] */
};

void pg_dm_init(struct pg_dm *dm);
void pg_dm_free(struct pg_dm *dm);

/* A DM with content (one without is an invalid request, never sent). */
bool pg_dm_sendable(const struct store_op *op);

/* How many of ops[0..n) (n >= 1) go in the next statement: the run of
 * consecutive sendable DMs at ops[0], or 1. */
size_t pg_dm_run(struct store_op *const *ops, size_t n);

/* Queues chat_dm_prepare for the DMs of ops[0..n) whose conversation is not
 * known to exist, followed by a sync (a transaction of its own). PG_NOT_SENT
 * when every DM's conversation is known. */
enum pg_send pg_dm_prepare_send(PGconn *conn, struct pg_dm *dm, struct store_op *const *ops,
                                size_t n);

/* Remembers the pairs chat_dm_prepare's result says are ready. */
void pg_dm_prepare_read(struct pg_dm *dm, const PGresult *res);

/* Queues chat_dm_send_many for the run ops[0..n) (all DMs with content). */
enum pg_send pg_dm_send(PGconn *conn, struct pg_dm *dm, struct store_op *const *ops, size_t n);

/* Sets each op's status and results from chat_dm_send_many's rows. */
void pg_dm_read(struct store_op *const *ops, size_t n, const PGresult *res);

#endif
