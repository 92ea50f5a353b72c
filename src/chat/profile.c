/* ping and get_user_profile: the requests that only read. */
#include "chat/handlers.h"
#include "chat/request.h"
#include "net/conn.h"
#include "proto/event.h"
#include "util/clock.h"
#include "util/error.h"

void chat_ping(struct conn *c, const cJSON *request, const char *request_id)
{
    buf *out = chat_scratch(c);
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "pong", request_id);
    jw_key(&w, "ts");
    jw_int(&w, clock_wall_ms());
    jw_object_end(&w);
    if (jw_finish(&w) == 0) chat_send(c, out);
}

static void resume_get_user_profile(struct chat_request *r)
{
    if (r->op->status) return chat_send_error(r->conn, r->request_id, r->op->status);
    buf *out = chat_scratch(r->conn);
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "user_profile", r->request_id);
    jw_key(&w, "user");
    event_user(&w, &r->op->profile.user);
    jw_object_end(&w);
    if (jw_finish(&w) == 0) chat_send(r->conn, out);
}

void chat_get_user_profile(struct conn *c, const cJSON *request, const char *request_id)
{
    int64_t user_id;
    int err = proto_id(request, "userId", true, &user_id);
    if (err) return chat_send_error(c, request_id, err);
    struct chat_request *r =
        chat_request_new(c, STORE_OP_PROFILE, request_id, resume_get_user_profile);
    if (!r) return chat_send_error(c, request_id, CHAT_E_UNAVAILABLE);
    r->op->profile.user_id = user_id;
    chat_request_submit(r);
}
