/* A connection's output: frames go straight to the socket with
 * uv_try_write when nothing is queued (the common case costs no allocation);
 * what the socket does not take waits in a queue of frame references,
 * written with one uv_write at a time, bounded by MAX_SEND_QUEUE_BYTES. */
#include "net/conn.h"

#include "net/loop.h"
#include "net/server.h"
#include "util/frame.h"
#include "util/log.h"
#include "ws/deflate.h"

#include <string.h>

#include <stdlib.h>

#define WRITE_BATCH 16        /* queued frames gathered into one uv_write */
#define DEFLATE_THRESHOLD 256 /* smaller payloads go out uncompressed */

static void conn_flush(struct conn *c);

static void out_node_free(struct out_node *node)
{
    frame_unref(node->frame);
    free(node);
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
        out_node_free(node);
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

static void conn_queue_append(struct conn *c, struct frame *f, uint32_t offset)
{
    struct out_node *node = malloc(sizeof *node);
    if (!node) {
        conn_close(c, 1011, "out of memory");
        return;
    }
    node->next = NULL;
    node->frame = frame_ref(f);
    node->offset = offset;
    if (c->out_tail)
        c->out_tail->next = node;
    else
        c->out_head = node;
    c->out_tail = node;
    c->out_bytes += f->len - offset;
}

void conn_output_enqueue(struct conn *c, struct frame *f)
{
    if (c->state == CONN_CLOSED) return;
    uint32_t offset = 0;
    if (!c->out_head) {
        uv_buf_t b = uv_buf_init((char *)f->data, f->len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == (int)f->len) return conn_output_drained(c);
        if (n < 0 && n != UV_EAGAIN) {
            /* the peer is gone; the read side will see it too */
            c->shutdown_after_flush = false;
            return;
        }
        offset = n > 0 ? (uint32_t)n : 0;
    }
    conn_queue_append(c, f, offset);
    if (c->state == CONN_OPEN && c->out_bytes > c->loop->server->config.max_send_queue_bytes)
        return conn_slow_consumer(c);
    if (!c->writing) conn_flush(c);
}

/* The compressed form of text frame f for window bits, from the loop's
 * one-entry cache: an event fanned out to many connections of a loop is
 * compressed once. NULL when f is not worth compressing or compression
 * failed (f then goes out as it is: compression is per message). */
static struct frame *deflated_variant(struct loop *loop, struct frame *f, int bits)
{
    if (loop->deflate_source == f && loop->deflate_source_bits == bits) return loop->deflate_result;
    size_t header = f->len > 1 && (f->data[1] & 0x7f) == 127   ? 10
                    : f->len > 1 && (f->data[1] & 0x7f) == 126 ? 4
                                                               : 2;
    if ((f->data[0] & 0x0f) != WS_OP_TEXT || f->len - header < DEFLATE_THRESHOLD) return NULL;
    if (!loop->deflate) {
        loop->deflate = malloc(sizeof *loop->deflate);
        if (!loop->deflate) return NULL;
        ws_deflate_ctx_init(loop->deflate);
    }
    struct frame *result = NULL;
    if (ws_deflate_message(loop->deflate, bits, f->data + header, f->len - header,
                           &loop->deflated) == 0 &&
        loop->deflated.len < f->len - header) {
        uint8_t head[WS_MAX_HEADER];
        size_t head_len = ws_frame_header(head, WS_OP_TEXT, loop->deflated.len, true);
        result = malloc(sizeof *result + head_len + loop->deflated.len);
        if (result) {
            atomic_init(&result->refs, 1);
            result->len = (uint32_t)(head_len + loop->deflated.len);
            memcpy(result->data, head, head_len);
            memcpy(result->data + head_len, loop->deflated.data, loop->deflated.len);
        }
    }
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
        out_node_free(node);
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
