/* Direct messages (protocol §7): send_private_message and get_messages.
 * Content is sealed with AES-256-GCM on the loop before it goes to the store,
 * and opened on the loop when history comes back; the sender's id is the
 * associated data, so a sealed row moved to another sender fails to open. */
#include "chat/handlers.h"
#include "chat/rate_limit.h"
#include "chat/request.h"
#include "crypto/aead.h"
#include "net/conn.h"
#include "net/server.h"
#include "proto/event.h"
#include "util/error.h"
#include "util/frame.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define HISTORY_DEFAULT_LIMIT 50
#define CLIENT_MESSAGE_ID_CHARS 64 /* code points (protocol §7) */

static void aad_for_sender(int64_t sender_id, uint8_t aad[8])
{
    for (int i = 0; i < 8; i++) aad[i] = (uint8_t)((uint64_t)sender_id >> (56 - 8 * i));
}

/* Opens m's content into a new buffer (*out, caller frees); NULL content
 * for a deleted message or one that fails to open (logged). */
static void message_open(const struct config *cfg, const struct store_message *m, char **out,
                         size_t *len)
{
    *out = NULL;
    *len = 0;
    if (m->deleted || !m->ciphertext || m->ciphertext_len < AEAD_OVERHEAD) return;
    size_t n = m->ciphertext_len - AEAD_OVERHEAD;
    char *plain = malloc(n + 1);
    uint8_t aad[8];
    aad_for_sender(m->sender_id, aad);
    if (!plain || aead_open(&cfg->keys, m->key_id, aad, sizeof aad, m->ciphertext,
                            m->ciphertext_len, (uint8_t *)plain) != 0) {
        log_error("message %lld: content does not open (key %u)", (long long)m->message_id,
                  m->key_id);
        free(plain);
        return;
    }
    plain[n] = 0;
    *out = plain;
    *len = n;
}

/* ---------------------------------------------------------------- send */

/* Writes {"type":"new_message","requestId"?,"message":…,"duplicate"?} around
 * an already-encoded message object. */
static int write_new_message(buf *out, const char *request_id, const buf *message, bool duplicate)
{
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "new_message", request_id);
    jw_key(&w, "message");
    jw_raw(&w, (const char *)message->data, message->len);
    if (duplicate) {
        jw_key(&w, "duplicate");
        jw_bool(&w, true);
    }
    jw_object_end(&w);
    return jw_finish(&w);
}

static void give_back_rate_slot(struct chat_request *r)
{
    if (!r->rate_taken_ms) return;
    rate_limit_release(r->conn->loop->server->rate_limit, r->conn->user_id, r->rate_taken_ms);
    r->rate_taken_ms = 0;
}

static void resume_send_private_message(struct chat_request *r)
{
    struct conn *c = r->conn;
    struct server *s = c->loop->server;
    struct store_op *op = r->op;
    const struct store_message *m = &op->dm_send.message;

    if (op->status || op->dm_send.duplicate) give_back_rate_slot(r);
    if (op->status == CHAT_E_RATE_LIMITED) {
        buf *out = chat_scratch(c);
        if (event_error(out, r->request_id, op->status, r->retry_after_ms) == 0) chat_send(c, out);
        return;
    }
    if (op->status) return chat_send_error(c, r->request_id, op->status);

    char *stored = NULL;
    size_t stored_len = 0;
    if (op->dm_send.duplicate) message_open(&s->config, m, &stored, &stored_len);
    buf *message = chat_message_scratch(c);
    json_writer w;
    jw_init(&w, message);
    if (op->dm_send.duplicate)
        event_message(&w, m, stored, stored_len);
    else
        event_message(&w, m, r->content, r->content_len);
    free(stored);
    if (jw_finish(&w) != 0) return chat_send_error(c, r->request_id, CHAT_E_INTERNAL);

    buf *out = chat_scratch(c);
    if (op->dm_send.duplicate) {
        /* Already stored and delivered: answer the sender alone. */
        if (write_new_message(out, r->request_id, message, true) == 0) chat_send(c, out);
        return;
    }
    atomic_fetch_add_explicit(&s->stats.messages_stored, 1, memory_order_relaxed);
    /* One serialization for every other connection of both users. */
    if (write_new_message(out, NULL, message, false) == 0) {
        struct frame *event = frame_text(out->data, out->len);
        if (event) {
            server_deliver(s, c->loop, m->recipient_id, event, 0);
            server_deliver(s, c->loop, m->sender_id, event, c->id);
            if (!r->request_id[0]) conn_send(c, event);
            frame_unref(event);
        }
    }
    if (r->request_id[0]) {
        out = chat_scratch(c);
        if (write_new_message(out, r->request_id, message, false) == 0) chat_send(c, out);
    }
}

void chat_send_private_message(struct conn *c, const cJSON *request, const char *request_id)
{
    struct server *s = c->loop->server;
    int64_t recipient_id, reply_to_id;
    const char *content;
    size_t content_len;
    char client_message_id[STORE_CLIENT_MESSAGE_ID_MAX + 1];
    int err = proto_id(request, "recipientId", true, &recipient_id);
    if (!err) err = proto_content(request, s->config.max_message_length, &content, &content_len);
    if (!err)
        err = proto_short_string(request, "clientMessageId", CLIENT_MESSAGE_ID_CHARS,
                                 client_message_id);
    if (!err) err = proto_id(request, "replyToId", false, &reply_to_id);
    if (!err && recipient_id == c->user_id) err = CHAT_E_INVALID_REQUEST; /* no self-DM */
    if (err) return chat_send_error(c, request_id, err);

    struct chat_request *r =
        chat_request_new(c, STORE_OP_DM_SEND, request_id, resume_send_private_message);
    if (!r) return chat_send_error(c, request_id, CHAT_E_UNAVAILABLE);
    struct store_op *op = r->op;
    op->dm_send.sender_id = c->user_id;
    op->dm_send.recipient_id = recipient_id;
    op->dm_send.reply_to_id = reply_to_id;
    memcpy(op->dm_send.client_message_id, client_message_id, strlen(client_message_id) + 1);

    r->content = malloc(content_len + 1);
    op->dm_send.ciphertext = malloc(content_len + AEAD_OVERHEAD);
    if (!r->content || !op->dm_send.ciphertext) goto fail;
    memcpy(r->content, content, content_len + 1);
    r->content_len = content_len;
    uint8_t aad[8];
    aad_for_sender(c->user_id, aad);
    if (aead_seal(&s->config.keys, aad, sizeof aad, (const uint8_t *)content, content_len,
                  op->dm_send.ciphertext, &op->dm_send.key_id) != 0)
        goto fail;
    op->dm_send.ciphertext_len = content_len + AEAD_OVERHEAD;

    /* The limit is checked last (protocol §5 order): the store reports
     * rate_limited only when every other check passed. */
    int64_t now = c->loop->now_ms;
    if (rate_limit_acquire(s->rate_limit, c->user_id, now, &r->retry_after_ms))
        r->rate_taken_ms = now ? now : 1;
    else
        op->dm_send.rate_limited = true;
    chat_request_submit(r);
    return;
fail:
    chat_request_free(r);
    chat_send_error(c, request_id, CHAT_E_INTERNAL);
}

/* ---------------------------------------------------------------- history */

static void resume_get_messages(struct chat_request *r)
{
    struct conn *c = r->conn;
    const struct config *cfg = &c->loop->server->config;
    struct store_op *op = r->op;
    if (op->status) return chat_send_error(c, r->request_id, op->status);

    buf *out = chat_scratch(c);
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "messages", r->request_id);
    jw_key(&w, "conversationId");
    jw_id(&w, op->history.conversation_id);
    jw_key(&w, "messages");
    jw_array_begin(&w);
    for (size_t i = 0; i < op->history.count; i++) {
        char *content;
        size_t len;
        message_open(cfg, &op->history.messages[i], &content, &len);
        event_message(&w, &op->history.messages[i], content, len);
        free(content);
    }
    jw_array_end(&w);
    jw_key(&w, "hasMore");
    jw_bool(&w, op->history.has_more);
    jw_object_end(&w);
    if (jw_finish(&w) != 0) return chat_send_error(c, r->request_id, CHAT_E_INTERNAL);
    chat_send(c, out);
}

void chat_get_messages(struct conn *c, const cJSON *request, const char *request_id)
{
    int64_t conversation_id, with_user_id, group_id, before_id;
    int limit;
    int err = proto_id(request, "conversationId", false, &conversation_id);
    if (!err) err = proto_id(request, "withUserId", false, &with_user_id);
    if (!err) err = proto_id(request, "groupId", false, &group_id);
    if (!err) err = proto_id(request, "beforeId", false, &before_id);
    if (!err) err = proto_limit(request, HISTORY_DEFAULT_LIMIT, STORE_HISTORY_MAX, &limit);
    if (!err && !conversation_id && !with_user_id && !group_id) err = CHAT_E_INVALID_REQUEST;
    if (err) return chat_send_error(c, request_id, err);
    /* Groups are not built yet: no group exists to read. */
    if (group_id) return chat_send_error(c, request_id, CHAT_E_NOT_FOUND);

    struct chat_request *r = chat_request_new(c, STORE_OP_HISTORY, request_id, resume_get_messages);
    if (!r) return chat_send_error(c, request_id, CHAT_E_UNAVAILABLE);
    r->op->history.user_id = c->user_id;
    r->op->history.conversation_id = conversation_id;
    r->op->history.with_user_id = with_user_id;
    r->op->history.before_id = before_id;
    r->op->history.limit = limit;
    chat_request_submit(r);
}
