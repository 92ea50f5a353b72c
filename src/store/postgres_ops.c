/* The per-op halves of the PostgreSQL engine: the parameters each op sends
 * to its chat_* function and the rows it reads back. Parameters go as text,
 * except the sealed content (binary bytea); results come back as text, with
 * bytea in hex (the session sets bytea_output). */
#include "store/postgres.h"

#include "util/error.h"
#include "util/log.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_INT_TEXT 24 /* an int64 in decimal, with its sign and NUL */

const char *const pg_stmt_name[PG_STMT_COUNT] = {
#define PG_STMT_NAME(id, name, sql) name,
    PG_STATEMENTS(PG_STMT_NAME)
#undef PG_STMT_NAME
};

const char *const pg_stmt_sql[PG_STMT_COUNT] = {
#define PG_STMT_SQL(id, name, sql) sql,
    PG_STATEMENTS(PG_STMT_SQL)
#undef PG_STMT_SQL
};

/* ---------------------------------------------------------------------------
 * Reading cells
 * ------------------------------------------------------------------------- */

/* The status strings the functions return are the protocol's error codes
 * (util/error.h), or "ok". */
static int status_code(const char *status)
{
    if (strcmp(status, "ok") == 0) return 0;
    for (int code = CHAT_ERROR_FIRST_ + 1; code < CHAT_ERROR_LAST_; code++)
        if (strcmp(chat_error_code(code), status) == 0) return code;
    return CHAT_E_INTERNAL;
}

int pg_row_status(const PGresult *res, int row, int status_col, int error_col, const char *what)
{
    if (status_col < 0) return CHAT_E_INTERNAL;
    int status = status_code(PQgetvalue(res, row, status_col));
    if ((status == CHAT_E_INTERNAL || status == CHAT_E_UNAVAILABLE) && error_col >= 0)
        log_warn("store: postgres: %s: %s", what, PQgetvalue(res, row, error_col));
    return status;
}

/* The status of row 0 of a function's result. */
static int first_status(const PGresult *res, const char *what)
{
    return pg_row_status(res, 0, PQfnumber(res, "status"), PQfnumber(res, "error"), what);
}

int64_t pg_cell_int(const PGresult *res, int row, int col)
{
    if (col < 0 || PQgetisnull(res, row, col)) return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool pg_cell_bool(const PGresult *res, int row, int col)
{
    return col >= 0 && !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

int pg_cell_text(const PGresult *res, int row, int col, char **out)
{
    *out = NULL;
    if (col < 0 || PQgetisnull(res, row, col)) return 0;
    *out = strdup(PQgetvalue(res, row, col));
    return *out ? 0 : CHAT_E_NOMEM;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a bytea cell in hex output ("\x0a1b…") into *out (caller frees,
 * also on failure); NULL stays NULL. */
static int cell_bytea(const PGresult *res, int row, int col, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (col < 0 || PQgetisnull(res, row, col)) return 0;
    const char *text = PQgetvalue(res, row, col);
    size_t hex_len = (size_t)PQgetlength(res, row, col);
    if (hex_len < 2 || text[0] != '\\' || text[1] != 'x' || hex_len % 2 != 0)
        return CHAT_E_INTERNAL;
    size_t n = (hex_len - 2) / 2;
    if (!(*out = malloc(n ? n : 1))) return CHAT_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(text[2 + 2 * i]), lo = hex_value(text[3 + 2 * i]);
        if (hi < 0 || lo < 0) return CHAT_E_INTERNAL;
        (*out)[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n;
    return 0;
}

int pg_cells_user(const PGresult *res, int row, const int cols[3], struct store_user *user)
{
    int rc = pg_cell_text(res, row, cols[0], &user->username);
    if (rc == 0) rc = pg_cell_text(res, row, cols[1], &user->display_name);
    if (rc == 0) rc = pg_cell_text(res, row, cols[2], &user->profile_picture);
    return rc;
}

/* Column numbers of the user strings named prefix + the three names. */
static void user_columns_find(const PGresult *res, const char *const names[3], int cols[3])
{
    for (int i = 0; i < 3; i++) cols[i] = PQfnumber(res, names[i]);
}

static const char *const user_names[3] = {"username", "display_name", "profile_picture"};
static const char *const sender_names[3] = {"sender_username", "sender_display_name",
                                            "sender_picture"};
static const char *const recipient_names[3] = {"recipient_username", "recipient_display_name",
                                               "recipient_picture"};

void pg_message_columns_find(const PGresult *res, struct pg_message_columns *c)
{
    c->status = PQfnumber(res, "status");
    c->error = PQfnumber(res, "error");
    c->ord = PQfnumber(res, "ord");
    c->duplicate = PQfnumber(res, "duplicate");
    c->message_id = PQfnumber(res, "message_id");
    c->conversation_id = PQfnumber(res, "conversation_id");
    c->sender_id = PQfnumber(res, "sender_id");
    c->recipient_id = PQfnumber(res, "recipient_id");
    c->reply_to_id = PQfnumber(res, "reply_to_id");
    c->created_at_ms = PQfnumber(res, "created_at_ms");
    c->edited_at_ms = PQfnumber(res, "edited_at_ms");
    c->deleted = PQfnumber(res, "deleted");
    c->key_id = PQfnumber(res, "key_id");
    c->content = PQfnumber(res, "content");
    c->client_message_id = PQfnumber(res, "client_message_id");
    user_columns_find(res, sender_names, c->sender);
    user_columns_find(res, recipient_names, c->recipient);
}

int pg_cells_message(const PGresult *res, int row, const struct pg_message_columns *c,
                     struct store_message *m)
{
    m->message_id = pg_cell_int(res, row, c->message_id);
    m->conversation_id = pg_cell_int(res, row, c->conversation_id);
    if (c->sender_id >= 0) m->sender_id = pg_cell_int(res, row, c->sender_id);
    m->recipient_id = pg_cell_int(res, row, c->recipient_id);
    m->reply_to_id = pg_cell_int(res, row, c->reply_to_id);
    m->created_at_ms = pg_cell_int(res, row, c->created_at_ms);
    m->edited_at_ms = pg_cell_int(res, row, c->edited_at_ms);
    m->deleted = pg_cell_bool(res, row, c->deleted);
    m->key_id = (uint32_t)pg_cell_int(res, row, c->key_id);
    m->sender.user_id = m->sender_id;
    int rc = cell_bytea(res, row, c->content, &m->ciphertext, &m->ciphertext_len);
    if (rc == 0) rc = pg_cell_text(res, row, c->client_message_id, &m->client_message_id);
    if (rc == 0) rc = pg_cells_user(res, row, c->sender, &m->sender);
    return rc;
}

enum pg_send pg_send_prepared(PGconn *conn, enum pg_stmt stmt, int n, const char *const *values,
                              const int *lengths, const int *formats)
{
    return PQsendQueryPrepared(conn, pg_stmt_name[stmt], n, values, lengths, formats, 0)
               ? PG_SENT
               : PG_SEND_FAILED;
}

/* ---------------------------------------------------------------------------
 * PING, AUTH, PROFILE
 * ------------------------------------------------------------------------- */

static enum pg_send send_auth(PGconn *conn, const struct store_op *op)
{
    char user[PG_INT_TEXT];
    snprintf(user, sizeof user, "%" PRId64, op->auth.user_id);
    const char *values[2] = {user, op->auth.jti};
    return pg_send_prepared(conn, PG_STMT_AUTH, 2, values, NULL, NULL);
}

/* "{1,2,3}" into a malloc'd array (caller frees, also on failure). */
static int parse_id_array(const char *text, int64_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (text[0] != '{' || strcmp(text, "{}") == 0) return text[0] == '{' ? 0 : CHAT_E_INTERNAL;
    size_t cap = 1;
    for (const char *p = text; *p; p++) cap += *p == ',';
    if (!(*out = malloc(cap * sizeof **out))) return CHAT_E_NOMEM;
    const char *p = text + 1;
    while (*p && *p != '}') {
        char *end;
        int64_t value = strtoll(p, &end, 10);
        if (end == p || *count == cap) return CHAT_E_INTERNAL;
        (*out)[(*count)++] = value;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

static int read_auth(struct store_op *op, const PGresult *res)
{
    int status = first_status(res, "auth");
    if (status != 0) return status;
    op->auth.user.user_id = op->auth.user_id;
    int cols[3];
    user_columns_find(res, user_names, cols);
    int rc = pg_cells_user(res, 0, cols, &op->auth.user);
    int col = PQfnumber(res, "following");
    if (rc == 0 && !PQgetisnull(res, 0, col))
        rc =
            parse_id_array(PQgetvalue(res, 0, col), &op->auth.following, &op->auth.following_count);
    return rc;
}

static enum pg_send send_profile(PGconn *conn, const struct store_op *op)
{
    char user[PG_INT_TEXT];
    snprintf(user, sizeof user, "%" PRId64, op->profile.user_id);
    const char *values[1] = {user};
    return pg_send_prepared(conn, PG_STMT_PROFILE, 1, values, NULL, NULL);
}

static int read_profile(struct store_op *op, const PGresult *res)
{
    int status = first_status(res, "profile");
    if (status != 0) return status;
    op->profile.user.user_id = op->profile.user_id;
    int cols[3];
    user_columns_find(res, user_names, cols);
    return pg_cells_user(res, 0, cols, &op->profile.user);
}

/* ---------------------------------------------------------------------------
 * HISTORY
 * ------------------------------------------------------------------------- */

static enum pg_send send_history(PGconn *conn, const struct store_op *op)
{
    char reader[PG_INT_TEXT], conversation[PG_INT_TEXT], with[PG_INT_TEXT], before[PG_INT_TEXT],
        limit[PG_INT_TEXT];
    snprintf(reader, sizeof reader, "%" PRId64, op->history.user_id);
    snprintf(conversation, sizeof conversation, "%" PRId64, op->history.conversation_id);
    snprintf(with, sizeof with, "%" PRId64, op->history.with_user_id);
    snprintf(before, sizeof before, "%" PRId64, op->history.before_id);
    snprintf(limit, sizeof limit, "%d", op->history.limit);
    const char *values[5] = {
        reader,
        op->history.conversation_id ? conversation : NULL,
        op->history.with_user_id ? with : NULL,
        op->history.before_id > 0 ? before : NULL,
        limit,
    };
    return pg_send_prepared(conn, PG_STMT_HISTORY, 5, values, NULL, NULL);
}

/* Rows come newest first; the page is handed back oldest first. */
static void history_reverse(struct store_message *messages, size_t count)
{
    for (size_t i = 0, j = count; i + 1 < j; i++, j--) {
        struct store_message tmp = messages[i];
        messages[i] = messages[j - 1];
        messages[j - 1] = tmp;
    }
}

static int read_history(struct store_op *op, const PGresult *res)
{
    struct pg_message_columns c;
    pg_message_columns_find(res, &c);
    int rows = PQntuples(res);
    for (int row = 0; row < rows; row++) {
        int status = pg_row_status(res, row, c.status, c.error, "history");
        if (status != 0) return status;
    }
    op->history.conversation_id = pg_cell_int(res, 0, c.conversation_id);
    if (c.message_id < 0 || PQgetisnull(res, 0, c.message_id)) return 0; /* no message */
    size_t limit = (size_t)op->history.limit;
    op->history.messages = calloc(limit, sizeof *op->history.messages);
    if (!op->history.messages) return CHAT_E_NOMEM;
    int rc = 0;
    for (int row = 0; row < rows && rc == 0; row++) {
        if (op->history.count == limit) {
            op->history.has_more = true;
            break;
        }
        /* counted first, so a half-read message is freed with the rest */
        rc = pg_cells_message(res, row, &c, &op->history.messages[op->history.count++]);
    }
    history_reverse(op->history.messages, op->history.count);
    return rc;
}

/* ---------------------------------------------------------------------------
 * REVALIDATE
 * ------------------------------------------------------------------------- */

/* Builds the two array literals: "{1,2}" and "{"jti-a","jti-b"}" with '"'
 * and '\' escaped. The caller frees both. */
static int revalidate_arrays(const struct store_op *op, char **ids, char **jtis)
{
    size_t count = op->revalidate.count, ids_cap = 2 + count * PG_INT_TEXT, jtis_cap = 3;
    for (size_t i = 0; i < count; i++) {
        const char *jti = op->revalidate.sessions[i].jti;
        jtis_cap += 3 + 2 * (jti ? strlen(jti) : 0);
    }
    *ids = malloc(ids_cap);
    *jtis = malloc(jtis_cap);
    if (!*ids || !*jtis) return CHAT_E_NOMEM;
    size_t a = 0, b = 0;
    (*ids)[a++] = '{';
    (*jtis)[b++] = '{';
    for (size_t i = 0; i < count; i++) {
        const struct store_session *s = &op->revalidate.sessions[i];
        a += (size_t)snprintf(*ids + a, ids_cap - a, "%s%" PRId64, i ? "," : "", s->user_id);
        if (i) (*jtis)[b++] = ',';
        (*jtis)[b++] = '"';
        for (const char *p = s->jti ? s->jti : ""; *p; p++) {
            if (*p == '"' || *p == '\\') (*jtis)[b++] = '\\';
            (*jtis)[b++] = *p;
        }
        (*jtis)[b++] = '"';
    }
    snprintf(*ids + a, ids_cap - a, "}");
    (*jtis)[b++] = '}';
    (*jtis)[b] = '\0';
    return 0;
}

static enum pg_send send_revalidate(PGconn *conn, struct store_op *op)
{
    if (op->revalidate.count == 0) {
        op->status = 0;
        return PG_NOT_SENT;
    }
    char *ids = NULL, *jtis = NULL;
    enum pg_send sent = PG_NOT_SENT;
    op->status = revalidate_arrays(op, &ids, &jtis);
    if (op->status == 0) {
        const char *values[2] = {ids, jtis};
        sent = pg_send_prepared(conn, PG_STMT_REVALIDATE, 2, values, NULL, NULL);
    }
    free(ids);
    free(jtis);
    return sent;
}

static int read_revalidate(struct store_op *op, const PGresult *res)
{
    int rows = PQntuples(res), status_col = PQfnumber(res, "status");
    int error_col = PQfnumber(res, "error"), ord_col = PQfnumber(res, "ord");
    for (int row = 0; row < rows; row++) {
        int status = pg_row_status(res, row, status_col, error_col, "revalidate");
        int64_t ord = pg_cell_int(res, row, ord_col);
        if (ord < 1 || (size_t)ord > op->revalidate.count) return status ? status : CHAT_E_INTERNAL;
        op->revalidate.sessions[ord - 1].status = status;
    }
    return rows == (int)op->revalidate.count ? 0 : CHAT_E_INTERNAL;
}

/* ---------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------- */

enum pg_stmt pg_op_statement(const struct store_op *op)
{
    switch (op->kind) {
    case STORE_OP_PING:
        return PG_STMT_PING;
    case STORE_OP_AUTH:
        return PG_STMT_AUTH;
    case STORE_OP_PROFILE:
        return PG_STMT_PROFILE;
    case STORE_OP_DM_SEND:
        return PG_STMT_DM_SEND_MANY;
    case STORE_OP_HISTORY:
        return PG_STMT_HISTORY;
    case STORE_OP_REVALIDATE:
        return PG_STMT_REVALIDATE;
    }
    return PG_STMT_PING;
}

enum pg_send pg_op_send(PGconn *conn, struct store_op *op)
{
    switch (op->kind) {
    case STORE_OP_PING:
        return pg_send_prepared(conn, PG_STMT_PING, 0, NULL, NULL, NULL);
    case STORE_OP_AUTH:
        return send_auth(conn, op);
    case STORE_OP_PROFILE:
        return send_profile(conn, op);
    case STORE_OP_DM_SEND: /* one with content travels in a run (pg_dm_send) */
        op->status = CHAT_E_INVALID_REQUEST;
        return PG_NOT_SENT;
    case STORE_OP_HISTORY:
        return send_history(conn, op);
    case STORE_OP_REVALIDATE:
        return send_revalidate(conn, op);
    }
    op->status = CHAT_E_INTERNAL;
    return PG_NOT_SENT;
}

int pg_op_read(struct store_op *op, const PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return CHAT_E_INTERNAL;
    if (op->kind == STORE_OP_PING) return 0;
    if (op->kind != STORE_OP_REVALIDATE && PQntuples(res) < 1) return CHAT_E_INTERNAL;
    switch (op->kind) {
    case STORE_OP_PING:
        return 0;
    case STORE_OP_AUTH:
        return read_auth(op, res);
    case STORE_OP_PROFILE:
        return read_profile(op, res);
    case STORE_OP_DM_SEND:
        break;
    case STORE_OP_HISTORY:
        return read_history(op, res);
    case STORE_OP_REVALIDATE:
        return read_revalidate(op, res);
    }
    return CHAT_E_INTERNAL;
}
