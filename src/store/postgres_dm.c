/* The DM path of the PostgreSQL engine. A run of consecutive DMs in a batch
 * goes as one call of chat_dm_send_many, its parameters as arrays (the
 * sealed contents as a binary bytea[]), and comes back as one row per DM.
 * Ahead of the batch, chat_dm_prepare makes the conversations the DMs will
 * need, for pairs this connection does not know to have one yet. */
#include "store/postgres.h"

#include "util/error.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds of the parameter buffers: a batch is at most STORE_BATCH_MAX DMs of
 * at most a frame each. */
#define PG_DM_TEXT_MAX (4u << 20)
#define PG_DM_CONTENTS_MAX (64u << 20)

#define PG_BYTEA_OID 17

void pg_dm_init(struct pg_dm *dm)
{
    memset(dm, 0, sizeof *dm);
    buf *texts[] = {&dm->senders, &dm->recipients, &dm->reply_tos,
                    &dm->key_ids, &dm->client_ids, &dm->rate_limited};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) buf_init(texts[i], PG_DM_TEXT_MAX);
    buf_init(&dm->contents, PG_DM_CONTENTS_MAX);
}

void pg_dm_free(struct pg_dm *dm)
{
    buf *all[] = {&dm->senders,    &dm->recipients,   &dm->reply_tos, &dm->key_ids,
                  &dm->client_ids, &dm->rate_limited, &dm->contents};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) buf_free(all[i]);
    free(dm->pairs);
    dm->pairs = NULL;
}

bool pg_dm_sendable(const struct store_op *op)
{
    return op->kind == STORE_OP_DM_SEND && op->dm_send.ciphertext &&
           op->dm_send.ciphertext_len > 0 && op->dm_send.ciphertext_len <= INT_MAX;
}

size_t pg_dm_run(struct store_op *const *ops, size_t n)
{
    size_t run = 0;
    while (run < n && pg_dm_sendable(ops[run])) run++;
    return run ? run : 1;
}

/* ---------------------------------------------------------------------------
 * Array literals
 * ------------------------------------------------------------------------- */

/* Starts a text array literal. */
static void array_open(buf *b)
{
    buf_reset(b);
    buf_append_byte(b, '{');
}

/* Appends one element (NULL: an SQL NULL), quoted, '"' and '\' escaped. */
static int array_text(buf *b, size_t index, const char *text)
{
    int rc = index ? buf_append_byte(b, ',') : 0;
    if (!text) return rc ? rc : buf_append_str(b, "NULL");
    if (rc == 0) rc = buf_append_byte(b, '"');
    for (const char *p = text; *p && rc == 0; p++) {
        if (*p == '"' || *p == '\\') rc = buf_append_byte(b, '\\');
        if (rc == 0) rc = buf_append_byte(b, (uint8_t)*p);
    }
    return rc ? rc : buf_append_byte(b, '"');
}

static int array_int(buf *b, size_t index, int64_t value, bool null)
{
    if (null) return buf_printf(b, "%sNULL", index ? "," : "");
    return buf_printf(b, "%s%" PRId64, index ? "," : "", value);
}

/* Ends the literal and its C string. */
static int array_close(buf *b)
{
    int rc = buf_append_byte(b, '}');
    return rc ? rc : buf_append_byte(b, '\0');
}

static int put_be32(buf *b, uint32_t value)
{
    uint32_t be = htonl(value);
    return buf_append(b, &be, sizeof be);
}

/* The contents as a binary one-dimensional bytea[]: no hex round trip. */
static int contents_array(buf *b, struct store_op *const *ops, size_t n)
{
    buf_reset(b);
    int rc = put_be32(b, 1);          /* dimensions */
    if (rc == 0) rc = put_be32(b, 0); /* no NULL element */
    if (rc == 0) rc = put_be32(b, PG_BYTEA_OID);
    if (rc == 0) rc = put_be32(b, (uint32_t)n);
    if (rc == 0) rc = put_be32(b, 1); /* lower bound */
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = put_be32(b, (uint32_t)ops[i]->dm_send.ciphertext_len);
        if (rc == 0) rc = buf_append(b, ops[i]->dm_send.ciphertext, ops[i]->dm_send.ciphertext_len);
    }
    return b->len > INT_MAX ? CHAT_E_TOO_BIG : rc;
}

/* ---------------------------------------------------------------------------
 * chat_dm_send_many
 * ------------------------------------------------------------------------- */

static int dm_arrays(struct pg_dm *dm, struct store_op *const *ops, size_t n)
{
    buf *texts[] = {&dm->senders, &dm->recipients, &dm->reply_tos,
                    &dm->key_ids, &dm->client_ids, &dm->rate_limited};
    for (size_t i = 0; i < 6; i++) array_open(texts[i]);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct store_op *op = ops[i];
        const char *client_id = op->dm_send.client_message_id;
        rc = array_int(&dm->senders, i, op->dm_send.sender_id, false);
        if (rc == 0) rc = array_int(&dm->recipients, i, op->dm_send.recipient_id, false);
        if (rc == 0)
            rc = array_int(&dm->reply_tos, i, op->dm_send.reply_to_id, !op->dm_send.reply_to_id);
        if (rc == 0) rc = array_int(&dm->key_ids, i, op->dm_send.key_id, false);
        if (rc == 0) rc = array_text(&dm->client_ids, i, client_id[0] ? client_id : NULL);
        if (rc == 0)
            rc = buf_printf(&dm->rate_limited, "%s%c", i ? "," : "",
                            op->dm_send.rate_limited ? 't' : 'f');
    }
    for (size_t i = 0; i < 6 && rc == 0; i++) rc = array_close(texts[i]);
    return rc ? rc : contents_array(&dm->contents, ops, n);
}

enum pg_send pg_dm_send(PGconn *conn, struct pg_dm *dm, struct store_op *const *ops, size_t n)
{
    int rc = dm_arrays(dm, ops, n);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) ops[i]->status = rc == CHAT_E_NOMEM ? rc : CHAT_E_INTERNAL;
        return PG_NOT_SENT;
    }
    const char *values[7] = {
        (const char *)dm->senders.data,      (const char *)dm->recipients.data,
        (const char *)dm->reply_tos.data,    (const char *)dm->key_ids.data,
        (const char *)dm->contents.data,     (const char *)dm->client_ids.data,
        (const char *)dm->rate_limited.data,
    };
    int lengths[7] = {0, 0, 0, 0, (int)dm->contents.len, 0, 0};
    int formats[7] = {0, 0, 0, 0, 1, 0, 0};
    return pg_send_prepared(conn, PG_STMT_DM_SEND_MANY, 7, values, lengths, formats);
}

/* A fresh message: the row holds everything but the content, which is the
 * op's own (not sent back over the wire). */
static int dm_copy_content(struct store_op *op)
{
    struct store_message *m = &op->dm_send.message;
    if (!(m->ciphertext = malloc(op->dm_send.ciphertext_len))) return CHAT_E_NOMEM;
    memcpy(m->ciphertext, op->dm_send.ciphertext, op->dm_send.ciphertext_len);
    m->ciphertext_len = op->dm_send.ciphertext_len;
    return 0;
}

/* One row into its op; the recipient is read for a fresh message only (a
 * duplicate is answered to the sender alone). */
static int dm_read_row(struct store_op *op, const PGresult *res, int row,
                       const struct pg_message_columns *c)
{
    int status = pg_row_status(res, row, c->status, c->error, "dm_send");
    if (status != 0) return status;
    struct store_message *m = &op->dm_send.message;
    m->sender_id = op->dm_send.sender_id;
    op->dm_send.duplicate = pg_cell_bool(res, row, c->duplicate);
    int rc = pg_cells_message(res, row, c, m);
    if (rc != 0 || op->dm_send.duplicate) return rc;
    op->dm_send.recipient.user_id = op->dm_send.recipient_id;
    rc = pg_cells_user(res, row, c->recipient, &op->dm_send.recipient);
    return rc ? rc : dm_copy_content(op);
}

void pg_dm_read(struct store_op *const *ops, size_t n, const PGresult *res)
{
    for (size_t i = 0; i < n; i++) ops[i]->status = CHAT_E_INTERNAL; /* until its row comes */
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return;
    struct pg_message_columns c;
    pg_message_columns_find(res, &c);
    for (int row = 0; row < PQntuples(res); row++) {
        int64_t ord = pg_cell_int(res, row, c.ord);
        if (ord < 1 || (uint64_t)ord > n) continue;
        struct store_op *op = ops[ord - 1];
        store_op_clear_results(op);
        op->status = dm_read_row(op, res, row, &c);
    }
}

/* ---------------------------------------------------------------------------
 * Conversations made ahead of a batch (chat_dm_prepare)
 * ------------------------------------------------------------------------- */

static struct pg_pair *pair_slot(struct pg_dm *dm, int64_t x, int64_t y)
{
    uint64_t a = (uint64_t)(x < y ? x : y), b = (uint64_t)(x < y ? y : x);
    uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ b * 0xC2B2AE3D27D4EB4FULL;
    return &dm->pairs[(h >> 40) % PG_PAIR_SLOTS];
}

static bool pair_known(struct pg_dm *dm, int64_t x, int64_t y)
{
    const struct pg_pair *slot = pair_slot(dm, x, y);
    return slot->a == (x < y ? x : y) && slot->b == (x < y ? y : x);
}

/* A DM that will get as far as its insert needs a conversation; one that
 * fails early (rate limited, to oneself, no content) does not. */
static bool dm_wants_pair(const struct store_op *op)
{
    return pg_dm_sendable(op) && !op->dm_send.rate_limited &&
           op->dm_send.sender_id != op->dm_send.recipient_id;
}

enum pg_send pg_dm_prepare_send(PGconn *conn, struct pg_dm *dm, struct store_op *const *ops,
                                size_t n)
{
    if (!dm->pairs && !(dm->pairs = calloc(PG_PAIR_SLOTS, sizeof *dm->pairs)))
        return PG_NOT_SENT; /* chat_dm_send_many makes them instead */
    array_open(&dm->senders);
    array_open(&dm->recipients);
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct store_op *op = ops[i];
        if (!dm_wants_pair(op) || pair_known(dm, op->dm_send.sender_id, op->dm_send.recipient_id))
            continue;
        rc = array_int(&dm->senders, count, op->dm_send.sender_id, false);
        if (rc == 0) rc = array_int(&dm->recipients, count, op->dm_send.recipient_id, false);
        count++;
    }
    if (rc == 0) rc = array_close(&dm->senders);
    if (rc == 0) rc = array_close(&dm->recipients);
    if (rc != 0 || count == 0) return PG_NOT_SENT;
    const char *values[2] = {(const char *)dm->senders.data, (const char *)dm->recipients.data};
    if (pg_send_prepared(conn, PG_STMT_DM_PREPARE, 2, values, NULL, NULL) != PG_SENT ||
        !PQpipelineSync(conn))
        return PG_SEND_FAILED;
    return PG_SENT;
}

void pg_dm_prepare_read(struct pg_dm *dm, const PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *message = PQresultErrorMessage(res);
        log_warn("store: postgres: dm_prepare: %.*s", (int)strcspn(message, "\n"), message);
        return;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        if (!pg_cell_bool(res, row, 2)) continue;
        int64_t x = pg_cell_int(res, row, 0), y = pg_cell_int(res, row, 1);
        struct pg_pair *slot = pair_slot(dm, x, y);
        slot->a = x < y ? x : y;
        slot->b = x < y ? y : x;
    }
}
