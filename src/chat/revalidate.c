/* Ends sessions whose token was revoked or whose user was deleted after they
 * authenticated (protocol §3: within REVOCATION_CHECK_MS). Each loop, on its
 * own timer, sends the store the (user, jti) of its authenticated
 * connections in chunks; those that come back invalid get session_ended and
 * close 4003. A few indexed lookups per connection per interval, off the
 * loops. */
#include "chat/session.h"

#include "chat/request.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/server.h"
#include "proto/event.h"
#include "util/error.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define REVALIDATE_CHUNK 512 /* sessions per store op */

struct revalidate_request {
    struct inbox_item item;
    struct loop *loop;
    struct store_op *op;
};

void session_end(struct conn *c, const char *reason)
{
    buf *out = chat_scratch(c);
    json_writer w;
    jw_init(&w, out);
    event_begin(&w, "session_ended", NULL);
    jw_key(&w, "reason");
    jw_string(&w, reason);
    jw_object_end(&w);
    if (jw_finish(&w) == 0) chat_send(c, out);
    conn_close(c, 4003, "session ended");
}

/* The open connection of user_id with id conn_id on this loop, if any. */
static struct conn *find_session(struct loop *loop, int64_t user_id, uint64_t conn_id)
{
    for (struct conn *c = idmap_get(&loop->local_users, (uint64_t)user_id); c; c = c->next_of_user)
        if (c->id == conn_id) return c;
    return NULL;
}

static void revalidate_run(struct inbox_item *item, struct loop *loop)
{
    struct revalidate_request *r = (struct revalidate_request *)item;
    loop->now_ms = (int64_t)uv_now(&loop->uv);
    if (r->op->status == 0) {
        for (size_t i = 0; i < r->op->revalidate.count; i++) {
            const struct store_session *s = &r->op->revalidate.sessions[i];
            if (!s->status) continue;
            struct conn *c = find_session(loop, s->user_id, s->conn_id);
            if (!c || !conn_is_open(c)) continue;
            log_info("conn %llx: user %lld %s, ending the session", (unsigned long long)c->id,
                     (long long)s->user_id,
                     s->status == CHAT_E_TOKEN_REVOKED ? "token revoked" : "deleted");
            session_end(c, s->status == CHAT_E_TOKEN_REVOKED ? "token_revoked" : "user_deleted");
        }
    }
    store_op_free(r->op);
    free(r);
}

static void revalidate_done(struct store_op *op)
{
    struct revalidate_request *r = op->owner;
    loop_post(r->loop, &r->item);
}

static void revalidate_submit(struct loop *loop, struct store_op *op)
{
    struct revalidate_request *r = malloc(sizeof *r);
    if (!r) {
        store_op_free(op);
        return;
    }
    r->item.run = revalidate_run;
    r->loop = loop;
    r->op = op;
    op->done = revalidate_done;
    op->owner = r;
    store_submit(loop->server->store, op);
}

void session_revalidate_loop(struct loop *loop)
{
    struct store_op *op = NULL;
    for (struct conn *c = loop->conns; c; c = c->next_in_loop) {
        if (!c->user_id || !c->jti || !conn_is_open(c)) continue;
        if (!op) {
            op = store_op_new(STORE_OP_REVALIDATE);
            if (op)
                op->revalidate.sessions = calloc(REVALIDATE_CHUNK, sizeof(struct store_session));
            if (!op || !op->revalidate.sessions) {
                store_op_free(op);
                return;
            }
        }
        struct store_session *s = &op->revalidate.sessions[op->revalidate.count];
        s->jti = strdup(c->jti);
        if (!s->jti) break;
        s->conn_id = c->id;
        s->user_id = c->user_id;
        if (++op->revalidate.count == REVALIDATE_CHUNK) {
            revalidate_submit(loop, op);
            op = NULL;
        }
    }
    if (op && op->revalidate.count)
        revalidate_submit(loop, op);
    else
        store_op_free(op);
}
