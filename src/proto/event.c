/* Server message encoders: see event.h. */
#include "proto/event.h"

#include "util/error.h"

void event_begin(json_writer *w, const char *type, const char *request_id)
{
    jw_object_begin(w);
    jw_key(w, "type");
    jw_string(w, type);
    if (request_id && request_id[0]) {
        jw_key(w, "requestId");
        jw_string(w, request_id);
    }
}

int event_error(buf *out, const char *request_id, int err, int64_t retry_after_ms)
{
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "error", request_id);
    jw_key(&w, "code");
    jw_string(&w, chat_error_code(err));
    jw_key(&w, "message");
    jw_string(&w, chat_error_message(err));
    if (retry_after_ms > 0) {
        jw_key(&w, "retryAfterMs");
        jw_int(&w, retry_after_ms);
    }
    jw_object_end(&w);
    return jw_finish(&w);
}

void event_user(json_writer *w, const struct store_user *user)
{
    jw_object_begin(w);
    jw_key(w, "userId");
    jw_id(w, user->user_id);
    jw_key(w, "username");
    jw_string(w, user->username);
    jw_key(w, "displayName");
    jw_string(w, user->display_name);
    jw_key(w, "profilePicture");
    jw_string(w, user->profile_picture);
    jw_object_end(w);
}

void event_message(json_writer *w, const struct store_message *m, const char *content,
                   size_t content_len)
{
    jw_object_begin(w);
    jw_key(w, "messageId");
    jw_id(w, m->message_id);
    jw_key(w, "conversationId");
    jw_id(w, m->conversation_id);
    jw_key(w, "groupId");
    jw_id(w, m->group_id);
    jw_key(w, "senderId");
    jw_id(w, m->sender_id);
    jw_key(w, "sender");
    event_user(w, &m->sender);
    jw_key(w, "recipientId");
    jw_id(w, m->recipient_id);
    jw_key(w, "content");
    if (content && !m->deleted)
        jw_string_n(w, content, content_len);
    else
        jw_null(w);
    jw_key(w, "clientMessageId");
    jw_string(w, m->client_message_id);
    jw_key(w, "replyToId");
    jw_id(w, m->reply_to_id);
    jw_key(w, "mentions");
    jw_array_begin(w);
    jw_array_end(w);
    jw_key(w, "isAnnouncement");
    jw_bool(w, false);
    jw_key(w, "createdAt");
    jw_time_ms(w, m->created_at_ms);
    jw_key(w, "editedAt");
    jw_time_ms(w, m->edited_at_ms);
    jw_key(w, "deleted");
    jw_bool(w, m->deleted);
    jw_key(w, "reactions");
    jw_object_begin(w);
    jw_object_end(w);
    jw_key(w, "pinned");
    jw_bool(w, false);
    jw_object_end(w);
}
