/* A connection's session: the dispatcher from request type to handler, and
 * what happens when the connection opens, its token runs out, or it goes. */
#include "chat/session.h"

#include "chat/handlers.h"
#include "chat/request.h"
#include "crypto/random.h"
#include "net/conn.h"
#include "net/deliver.h"
#include "net/registry.h"
#include "net/server.h"
#include "proto/event.h"
#include "proto/request.h"
#include "util/error.h"

#include <string.h>

static const struct {
    const char *type;
    chat_handler_fn handler;
} handlers[] = {
    {"authenticate", chat_authenticate},
    {"ping", chat_ping},
    {"send_private_message", chat_send_private_message},
    {"get_messages", chat_get_messages},
    {"get_user_profile", chat_get_user_profile},
};

static chat_handler_fn handler_for(const char *type)
{
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(handlers[i].type, type) == 0) return handlers[i].handler;
    return NULL;
}

void session_on_open(struct conn *c)
{
    random_uuid(c->client_id);
}

void session_on_text(struct conn *c, const uint8_t *text, size_t len)
{
    cJSON *request = NULL;
    const char *type;
    char request_id[PROTO_REQUEST_ID_BYTES];
    bool has_nul;
    int err = proto_parse(text, len, &request, &has_nul);
    if (err) return chat_send_error(c, "", err);
    err = proto_request_id(request, request_id);
    if (err) {
        chat_send_error(c, "", err);
        goto out;
    }
    err = proto_type(request, &type);
    if (err) {
        chat_send_error(c, request_id, err);
        goto out;
    }
    chat_handler_fn handler = handler_for(type);
    if (has_nul) { /* protocol §4: a NUL in a token makes it invalid */
        if (handler == chat_authenticate && !c->user_id)
            chat_authenticate_refuse(c, request_id, CHAT_E_INVALID_TOKEN);
        else
            chat_send_error(c, request_id, CHAT_E_INVALID_REQUEST);
        goto out;
    }
    /* protocol §3: before authentication every other type is refused */
    if (!c->user_id && handler != chat_authenticate) {
        chat_send_error(c, request_id, CHAT_E_NOT_AUTHENTICATED);
        goto out;
    }
    if (!handler) {
        chat_send_error(c, request_id, CHAT_E_UNKNOWN_TYPE);
        goto out;
    }
    handler(c, request, request_id);
out:
    cJSON_Delete(request);
}

void session_on_token_expired(struct conn *c)
{
    session_end(c, "token_expired");
}

void session_on_close(struct conn *c)
{
    if (!c->user_id) return;
    deliver_detach(c);
    registry_remove(c->loop->server->registry, c->user_id, c->loop->index);
}
