/* authenticate (protocol §3, §4): the token is verified on the loop (HMAC,
 * claims), then the store checks revocation and that the user exists; only
 * then is the connection registered under its user. */
#include "chat/handlers.h"
#include "chat/request.h"
#include "net/conn.h"
#include "net/deliver.h"
#include "net/registry.h"
#include "net/server.h"
#include "proto/event.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

/* Sends auth_error and closes with 4001. */
void chat_authenticate_refuse(struct conn *c, const char *request_id, int err)
{
    struct server *s = c->loop->server;
    atomic_fetch_add_explicit(&s->stats.auth_failures, 1, memory_order_relaxed);
    buf *out = chat_scratch(c);
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "auth_error", request_id);
    jw_key(&w, "code");
    jw_string(&w, chat_error_code(err));
    jw_key(&w, "message");
    jw_string(&w, chat_error_message(err));
    jw_object_end(&w);
    if (jw_finish(&w) == 0) chat_send(c, out);
    conn_close(c, 4001, "authentication failed");
}

static void auth_success(struct conn *c, const char *request_id, const char *username,
                         int64_t exp_s)
{
    buf *out = chat_scratch(c);
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "auth_success", request_id);
    jw_key(&w, "userId");
    jw_id(&w, c->user_id);
    jw_key(&w, "username");
    jw_string(&w, username ? username : "");
    jw_key(&w, "clientId");
    jw_string(&w, c->client_id);
    jw_key(&w, "expiresAt");
    jw_time_ms(&w, exp_s * 1000);
    jw_object_end(&w);
    if (jw_finish(&w) == 0) chat_send(c, out);
}

/* online_users (protocol §3): whom the user follows, online now, no block. */
static void send_online_users(struct conn *c, const struct store_op *op)
{
    struct registry *registry = c->loop->server->registry;
    buf *out = chat_scratch(c);
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "online_users", NULL);
    jw_key(&w, "userIds");
    jw_array_begin(&w);
    for (size_t i = 0; i < op->auth.following_count; i++)
        if (registry_loops(registry, op->auth.following[i])) jw_id(&w, op->auth.following[i]);
    jw_array_end(&w);
    jw_object_end(&w);
    if (jw_finish(&w) == 0) chat_send(c, out);
}

static void resume_authenticate(struct chat_request *r)
{
    struct conn *c = r->conn;
    struct server *s = c->loop->server;
    struct store_op *op = r->op;
    c->authenticating = false;
    if (op->status) return chat_authenticate_refuse(c, r->request_id, op->status);

    bool first = false;
    int err = registry_add(s->registry, op->auth.user_id, c->loop->index,
                           s->config.max_connections_per_user, &first);
    if (err) return chat_authenticate_refuse(c, r->request_id, err);
    c->user_id = op->auth.user_id;
    c->jti = strdup(op->auth.jti); /* NULL only leaves the session unchecked */
    if (deliver_attach(c) != 0) {
        conn_close(c, 1011, "out of memory");
        return;
    }
    /* The token ends at exp plus the leeway, on the wall clock; the loop's
     * deadlines run on the monotonic clock. */
    int64_t end_wall_ms = (r->token_exp_s + JWT_LEEWAY_S) * 1000;
    c->token_exp_ms = c->loop->now_ms + (end_wall_ms - clock_wall_ms());
    c->last_message_ms = c->loop->now_ms;
    auth_success(c, r->request_id, op->auth.user.username, r->token_exp_s);
    send_online_users(c, op);
    log_debug("conn %llx authenticated as user %lld", (unsigned long long)c->id,
              (long long)c->user_id);
    conn_schedule(c);
}

void chat_authenticate(struct conn *c, const cJSON *request, const char *request_id)
{
    if (c->user_id || c->authenticating)
        return chat_send_error(c, request_id, CHAT_E_ALREADY_AUTHENTICATED);
    const cJSON *token;
    if (proto_field(request, "token", &token) != 0 || !cJSON_IsString(token))
        return chat_authenticate_refuse(c, request_id, CHAT_E_INVALID_TOKEN);

    struct jwt_claims claims;
    int err = jwt_verify(&c->loop->server->jwt, token->valuestring, strlen(token->valuestring),
                         clock_wall_ms() / 1000, &claims);
    if (err) return chat_authenticate_refuse(c, request_id, err);

    struct chat_request *r = chat_request_new(c, STORE_OP_AUTH, request_id, resume_authenticate);
    if (!r) return chat_authenticate_refuse(c, request_id, CHAT_E_UNAVAILABLE);
    r->op->auth.user_id = claims.user_id;
    snprintf(r->op->auth.jti, sizeof r->op->auth.jti, "%s", claims.jti);
    r->token_exp_s = claims.exp;
    c->authenticating = true;
    chat_request_submit(r);
}
