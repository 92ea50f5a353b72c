/* Encoders for what the server sends (protocol §2, §3, §6, §7): the common
 * start of every reply and event, error replies, and the user and message
 * objects. Output goes through a json_writer into a caller's buffer. */
#ifndef CHATD_PROTO_EVENT_H
#define CHATD_PROTO_EVENT_H

#include "proto/json_writer.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Opens the object and writes "type" and, when request_id is non-empty,
 * "requestId". The caller adds its fields and closes the object. */
void event_begin(json_writer *w, const char *type, const char *request_id);

/* A whole error reply: {"type":"error","requestId"?,"code","message"} plus
 * "retryAfterMs" when retry_after_ms > 0. */
int event_error(buf *out, const char *request_id, int err, int64_t retry_after_ms);

/* A user object (the `sender` shape of §6): userId, username, displayName,
 * profilePicture. */
void event_user(json_writer *w, const struct store_user *user);

/* A message object (§6) with its decrypted content (NULL when deleted). */
void event_message(json_writer *w, const struct store_message *m, const char *content,
                   size_t content_len);

#endif
