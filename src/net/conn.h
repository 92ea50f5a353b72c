/* A client connection, owned by one loop for its whole life: the HTTP
 * handshake, the WebSocket stream, its output queue, its deadlines, and the
 * session state the chat layer keeps on it. Everything here runs on the
 * owning loop's thread; other threads reach a connection only through
 * server_deliver. */
#ifndef CHATD_NET_CONN_H
#define CHATD_NET_CONN_H

#include "net/timer_wheel.h"
#include "ws/frame.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct loop;
struct frame;
struct http_request;

enum conn_state {
    CONN_HTTP,    /* reading the request head */
    CONN_OPEN,    /* WebSocket open */
    CONN_CLOSING, /* our close frame (or HTTP answer) is queued; no more input is handled */
    CONN_CLOSED,  /* uv_close called; waiting for the last reference */
};

struct out_node {
    struct out_node *next;
    struct frame *frame;
    uint32_t offset; /* bytes of frame already written */
};

struct conn {
    uv_tcp_t tcp; /* first: libuv hands back &tcp */
    struct loop *loop;
    uint64_t id; /* unique in the process: loop index in the top byte */
    enum conn_state state;
    int refs; /* the loop's own plus one per request awaiting the store */
    struct conn *next_in_loop, *prev_in_loop;

    struct http_request *http; /* only while reading the request head */
    ws_decoder decoder;
    uint8_t *pending_in; /* unparsed input (a partial frame); NULL while idle */
    uint32_t pending_len, pending_cap;

    struct out_node *out_head, *out_tail;
    uint32_t out_bytes;
    uint16_t writing; /* nodes in the uv_write in flight */
    bool dirty;       /* on the loop's list of connections to write this iteration */
    struct conn *next_dirty;
    bool shutdown_after_flush;
    bool counted;         /* holds a MAX_CONNECTIONS slot and an ip slot */
    bool deflate;         /* permessage-deflate negotiated */
    uint8_t deflate_bits; /* the window our compressor may use with this peer */
    uint64_t ip_key;

    struct timer_entry timer;
    int64_t opened_ms, last_frame_ms, last_message_ms, last_ping_ms, close_deadline_ms;
    uint16_t in_flight; /* requests waiting for the store */
    bool read_paused;   /* too many requests in flight: reading stopped */

    /* session (chat layer) */
    int64_t user_id;      /* 0 until authenticated */
    int64_t token_exp_ms; /* wall clock, leeway included */
    bool authenticating;
    char client_id[37];
    char *jti;                                /* the token's id, for revocation checks (owned) */
    struct conn *next_of_user, *prev_of_user; /* this loop's connections of user_id */
};

/* Accepts a connection from the loop's listener. */
void conn_accept(struct loop *loop);

/* Queues a frame for the socket; the loop writes it at the end of this
 * iteration, with whatever else the connection queued (conn_output.c).
 * Takes its own reference; the caller keeps its own. A connection whose queue
 * passes MAX_SEND_QUEUE_BYTES is closed with 4004. */
void conn_send(struct conn *c, struct frame *f);

/* Sends text[0..len) as one text frame. */
void conn_send_text(struct conn *c, const void *text, size_t len);

/* Starts the closing handshake with code and reason, after what is queued. */
void conn_close(struct conn *c, uint16_t code, const char *reason);

/* A request of c now waits for the store (holds a reference and counts
 * toward the in-flight bound that pauses reading), and its end. */
void conn_request_begin(struct conn *c);
void conn_request_end(struct conn *c);

void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* True while the connection can still take output and requests. */
bool conn_is_open(const struct conn *c);

/* Runs the connection's deadlines (timer wheel callback). */
void conn_on_timer(struct timer_entry *e, void *arg);

/* Re-arms the connection's timer at its earliest deadline. */
void conn_schedule(struct conn *c);

/* ---- between conn.c and conn_output.c only ---- */

/* Closes the socket now, without a closing handshake; safe to call twice. */
void conn_abort(struct conn *c);

/* Queues f whatever the state (the close frame and HTTP answers use it). */
void conn_output_enqueue(struct conn *c, struct frame *f);
/* Drops everything queued (the connection is going away). */
void conn_output_discard(struct conn *c);
/* The queue has just become empty. */
void conn_output_drained(struct conn *c);

#endif
