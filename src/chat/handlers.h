/* The request handlers of the chat domain, one per request type, called by
 * the dispatcher in session.c with the parsed request of an authenticated
 * connection (authenticate excepted). */
#ifndef CHATD_CHAT_HANDLERS_H
#define CHATD_CHAT_HANDLERS_H

#include <cjson/cJSON.h>

struct conn;

typedef void (*chat_handler_fn)(struct conn *c, const cJSON *request, const char *request_id);

/* Refuses an authenticate with auth_error code err, then closes with 4001. */
void chat_authenticate_refuse(struct conn *c, const char *request_id, int err);
void chat_authenticate(struct conn *c, const cJSON *request, const char *request_id);
void chat_ping(struct conn *c, const cJSON *request, const char *request_id);
void chat_get_user_profile(struct conn *c, const cJSON *request, const char *request_id);
void chat_send_private_message(struct conn *c, const cJSON *request, const char *request_id);
void chat_get_messages(struct conn *c, const cJSON *request, const char *request_id);

#endif
