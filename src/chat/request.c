/* Requests awaiting the store, and reply helpers: see request.h. */
#include "chat/request.h"

#include "net/conn.h"
#include "net/server.h"
#include "proto/event.h"
#include "util/clock.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

struct chat_request *chat_request_new(struct conn *c, enum store_op_kind kind,
                                      const char *request_id, chat_resume_fn resume)
{
    struct chat_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->op = store_op_new(kind);
    if (!r->op) {
        free(r);
        return NULL;
    }
    r->conn = c;
    r->resume = resume;
    size_t id_len = strnlen(request_id, sizeof r->request_id - 1); /* bounded by proto_request_id */
    memcpy(r->request_id, request_id, id_len);
    r->request_id[id_len] = 0;
    conn_request_begin(c);
    return r;
}

void chat_request_free(struct chat_request *r)
{
    struct conn *c = r->conn;
    store_op_free(r->op);
    free(r->content);
    free(r);
    conn_request_end(c);
}

/* On the loop: answer the client, unless it left meanwhile. */
static void chat_request_run(struct inbox_item *item, struct loop *loop)
{
    struct chat_request *r = (struct chat_request *)item;
    loop->now_ms = (int64_t)uv_now(&loop->uv);
    server_stats_store_latency(&loop->server->stats, clock_monotonic_us() - r->submitted_us);
    if (conn_is_open(r->conn)) r->resume(r);
    chat_request_free(r);
}

/* On the storage thread: hand the request back to its connection's loop. */
static void chat_request_done(struct store_op *op)
{
    struct chat_request *r = op->owner;
    loop_post(r->conn->loop, &r->item);
}

void chat_request_submit(struct chat_request *r)
{
    r->item.run = chat_request_run;
    r->submitted_us = clock_monotonic_us();
    r->op->done = chat_request_done;
    r->op->owner = r;
    store_submit(r->conn->loop->server->store, r->op);
}

buf *chat_scratch(struct conn *c)
{
    buf *b = &c->loop->scratch;
    buf_reset(b);
    return b;
}

buf *chat_message_scratch(struct conn *c)
{
    buf *b = &c->loop->message_scratch;
    buf_reset(b);
    return b;
}

void chat_send(struct conn *c, buf *out)
{
    conn_send_text(c, out->data, out->len);
    buf_reset(out);
}

void chat_send_error(struct conn *c, const char *request_id, int err)
{
    buf *out = chat_scratch(c);
    if (event_error(out, request_id, err, 0) == 0) chat_send(c, out);
}
