/* A connection's output, corked per loop iteration: frames are queued as
 * references to shared frames, and the loop's check handle, which runs after
 * the iteration's I/O callbacks, writes each connection's queue with one
 * writev (uv_try_write). A client that sent four requests in one read gets
 * its four replies in one system call. What the socket does not take is
 * written with uv_write, one at a time, bounded by MAX_SEND_QUEUE_BYTES.
 * Queue nodes come from a per-loop free list, so queueing allocates nothing
 * in the steady state. */
#include "net/conn.h"

#include "net/loop.h"
#include "net/server.h"
#include "util/frame.h"
#include "util/log.h"
#include "ws/deflate.h"

#include <stdlib.h>

#define WRITE_BATCH 64        /* queued frames gathered into one writev */
#define DEFLATE_THRESHOLD 256 /* smaller payloads go out uncompressed */
#define FREE_NODES_MAX 4096   /* nodes a loop keeps for re-use */

static void conn_flush(struct conn *c);

static struct out_node *node_get(struct loop *loop)
{
    struct out_node *node = loop->free_nodes;
    if (!node) return malloc(sizeof *node);
    loop->free_nodes = node->next;
    loop->free_node_count--;
    return node;
}

static void node_put(struct loop *loop, struct out_node *node)
{
    frame_unref(node->frame);
    if (loop->free_node_count >= FREE_NODES_MAX) {
        free(node);
        return;
    }
    node->next = loop->free_nodes;
    loop->free_nodes = node;
    loop->free_node_count++;
}

void loop_free_nodes(struct loop *loop)
{
    while (loop->free_nodes) {
        struct out_node *next = loop->free_nodes->next;
        free(loop->free_nodes);
        loop->free_nodes = next;
    }
    loop->free_node_count = 0;
}

void conn_output_discard(struct conn *c)
{
    /* Nodes inside a uv_write in flight stay: its callback frees them. */
    struct out_node *kept_tail = NULL;
    struct out_node **link = &c->out_head;
    for (uint16_t i = 0; i < c->writing && *link; i++) {
        kept_tail = *link;
        link = &(*link)->next;
    }
    struct out_node *node = *link;
    *link = NULL;
    c->out_tail = kept_tail;
    while (node) {
        struct out_node *next = node->next;
        c->out_bytes -= node->frame->len - node->offset;
        node_put(c->loop, node);
        node = next;
    }
}

/* The queue passed its bound: keep only what is already being written, and
 * close with 4004 behind it. Nothing else in the process slows down. */
static void conn_slow_consumer(struct conn *c)
{
    log_info("conn %llx: send queue over %zu bytes, closing (slow consumer)",
             (unsigned long long)c->id, c->loop->server->config.max_send_queue_bytes);
    conn_output_discard(c);
    conn_close(c, 4004, "slow consumer");
}

/* Puts c on its loop's list of connections to write at the end of the
 * iteration, holding a reference until then. */
static void conn_mark_dirty(struct conn *c)
{
    if (c->dirty || c->writing) return;
    c->dirty = true;
    c->next_dirty = c->loop->dirty;
    c->loop->dirty = c;
    conn_ref(c);
}

void conn_output_enqueue(struct conn *c, struct frame *f)
{
    if (c->state == CONN_CLOSED) return;
    struct out_node *node = node_get(c->loop);
    if (!node) return conn_abort(c);
    node->next = NULL;
    node->frame = frame_ref(f);
    node->offset = 0;
    if (c->out_tail)
        c->out_tail->next = node;
    else
        c->out_head = node;
    c->out_tail = node;
    c->out_bytes += f->len;
    if (c->state == CONN_OPEN && c->out_bytes > c->loop->server->config.max_send_queue_bytes)
        return conn_slow_consumer(c);
    conn_mark_dirty(c);
}

/* Drops the first `written` bytes of the queue, freeing whole nodes. */
static void conn_output_advance(struct conn *c, size_t written)
{
    c->out_bytes -= (uint32_t)written;
    while (written > 0 && c->out_head) {
        struct out_node *node = c->out_head;
        size_t left = node->frame->len - node->offset;
        if (written < left) {
            node->offset += (uint32_t)written;
            return;
        }
        written -= left;
        c->out_head = node->next;
        if (!c->out_head) c->out_tail = NULL;
        node_put(c->loop, node);
    }
}

/* Writes as much of the queue as the socket takes now; the rest goes to a
 * uv_write. */
static void conn_write_queue(struct conn *c)
{
    while (c->out_head && c->state != CONN_CLOSED) {
        uv_buf_t bufs[WRITE_BATCH];
        unsigned count = 0;
        size_t total = 0;
        for (struct out_node *n = c->out_head; n && count < WRITE_BATCH; n = n->next) {
            bufs[count] =
                uv_buf_init((char *)n->frame->data + n->offset, n->frame->len - n->offset);
            total += bufs[count++].len;
        }
        int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, count);
        if (n == UV_EAGAIN) n = 0;
        if (n < 0) return conn_abort(c);
        conn_output_advance(c, (size_t)n);
        if ((size_t)n < total) return conn_flush(c);
    }
    if (c->state != CONN_CLOSED) conn_output_drained(c);
}

void loop_write_dirty(struct loop *loop)
{
    while (loop->dirty) {
        struct conn *c = loop->dirty;
        loop->dirty = c->next_dirty;
        c->next_dirty = NULL;
        c->dirty = false;
        if (!c->writing) conn_write_queue(c);
        conn_unref(c);
    }
}

/* The compressed form of text frame f for window bits, from the loop's
 * one-entry cache: an event fanned out to many connections of a loop is
 * compressed once. NULL when f is not worth compressing or compression
 * failed (f then goes out as it is: compression is per message). */
static struct frame *deflated_variant(struct loop *loop, struct frame *f, int bits)
{
    if (loop->deflate_source == f && loop->deflate_source_bits == bits) return loop->deflate_result;
    size_t len;
    const uint8_t *payload = frame_payload(f, &len);
    if (frame_opcode(f) != WS_OP_TEXT || len < DEFLATE_THRESHOLD) return NULL;
    struct ws_deflate_ctx *zlib = loop_deflate_ctx(loop);
    if (!zlib) return NULL;
    struct frame *result = NULL;
    if (ws_deflate_message(zlib, bits, payload, len, &loop->deflated) == 0 &&
        loop->deflated.len < len)
        result = frame_deflated(loop->deflated.data, loop->deflated.len);
    frame_unref(loop->deflate_source);
    frame_unref(loop->deflate_result);
    loop->deflate_source = frame_ref(f);
    loop->deflate_source_bits = bits;
    loop->deflate_result = result;
    return result;
}

void conn_send(struct conn *c, struct frame *f)
{
    if (c->state != CONN_OPEN) return;
    struct frame *packed = c->deflate ? deflated_variant(c->loop, f, c->deflate_bits) : NULL;
    conn_output_enqueue(c, packed ? packed : f);
}

void conn_send_text(struct conn *c, const void *text, size_t len)
{
    if (c->state != CONN_OPEN) return;
    struct frame *f = frame_text(text, len);
    if (!f) return conn_close(c, 1011, "out of memory");
    conn_send(c, f);
    frame_unref(f);
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    free(req);
    for (uint16_t i = 0; i < c->writing && c->out_head; i++) {
        struct out_node *node = c->out_head;
        c->out_head = node->next;
        if (!c->out_head) c->out_tail = NULL;
        c->out_bytes -= node->frame->len - node->offset;
        node_put(c->loop, node);
    }
    c->writing = 0;
    if (status < 0 || c->state == CONN_CLOSED) {
        conn_abort(c);
        conn_unref(c);
        return;
    }
    if (c->out_head)
        conn_flush(c);
    else
        conn_output_drained(c);
    conn_unref(c);
}

static void conn_flush(struct conn *c)
{
    uv_buf_t bufs[WRITE_BATCH];
    uint16_t count = 0;
    for (struct out_node *n = c->out_head; n && count < WRITE_BATCH; n = n->next)
        bufs[count++] = uv_buf_init((char *)n->frame->data + n->offset, n->frame->len - n->offset);
    uv_write_t *req = malloc(sizeof *req);
    if (!req) return conn_close(c, 1011, "out of memory");
    req->data = c;
    c->writing = count;
    conn_ref(c);
    if (uv_write(req, (uv_stream_t *)&c->tcp, bufs, count, on_write) != 0) {
        c->writing = 0;
        free(req);
        conn_unref(c);
    }
}
