/* One event loop per worker thread. A loop owns its connections for their
 * whole life, a timing wheel for their deadlines, one read buffer shared by
 * all of them, a map from user to its local connections, and an inbox through
 * which other threads hand it work (events to deliver, store results). */
#ifndef CHATD_NET_LOOP_H
#define CHATD_NET_LOOP_H

#include "net/timer_wheel.h"
#include "util/buf.h"
#include "util/idmap.h"
#include "util/mpsc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct server;
struct frame;
struct ws_deflate_ctx;
struct loop;

/* Work handed to a loop from any thread. run executes on the loop's thread
 * and owns the item from then on. */
struct inbox_item {
    struct mpsc_node node;
    void (*run)(struct inbox_item *item, struct loop *loop);
};

struct loop {
    uv_loop_t uv;
    int index;
    struct server *server;
    uv_thread_t thread;
    uv_tcp_t listener;
    uv_async_t inbox_wakeup;
    struct mpsc_queue inbox;
    uv_check_t flush;   /* after each iteration's I/O: write what was queued */
    struct conn *dirty; /* connections with output queued this iteration */
    struct out_node *free_nodes;
    size_t free_node_count;
    uv_timer_t tick;
    uv_timer_t revalidate; /* REVOCATION_CHECK_MS */
    struct timer_wheel *wheel;
    uint8_t *read_buf; /* one per loop: connections keep no buffer while idle */
    size_t read_buf_size;
    struct idmap local_users; /* user id → first struct conn of that user on this loop */
    uint64_t next_conn_serial;
    int64_t now_ms;      /* monotonic, refreshed each tick and each read */
    struct conn *conns;  /* every open connection (for shutdown) */
    buf scratch;         /* where replies are built, one at a time */
    buf message_scratch; /* a message object several replies embed */
    /* permessage-deflate: the loop's zlib streams (made on first use), the
     * inflated message being handled, and the last frame compressed, since
     * an event fanned out goes to many connections in a row. */
    struct ws_deflate_ctx *deflate;
    buf inflated;
    buf deflated;
    struct frame *deflate_source;
    int deflate_source_bits;
    struct frame *deflate_result;
    bool draining;
    atomic_bool drained;
    int64_t drain_deadline_ms;
};

/* Prepares loop index of server and binds its listener (SO_REUSEPORT, so
 * every loop accepts on the same port). 0 or a CHAT_E_* code. */
int loop_init(struct loop *loop, struct server *server, int index, const struct sockaddr *addr);

/* Starts the loop's thread. */
int loop_start(struct loop *loop);

/* Asks the loop to stop accepting and to close every connection with 1001
 * once its pending output is written; loop_is_drained tells when that is done
 * (or its time ran out and the rest were cut). The loop keeps running its
 * inbox, so store results still arrive. */
void loop_drain(struct loop *loop);
bool loop_is_drained(struct loop *loop);

/* Stops the loop (after the store is closed: nothing posts any more) and
 * waits for its thread. */
void loop_stop_and_join(struct loop *loop);

/* Frees what loop_init allocated, after loop_stop_and_join. */
void loop_destroy(struct loop *loop);

/* Writes the output every connection queued during this iteration
 * (conn_output.c; the loop's check handle calls it). */
void loop_write_dirty(struct loop *loop);

/* The loop's zlib streams, made on first use; NULL when out of memory. */
struct ws_deflate_ctx *loop_deflate_ctx(struct loop *loop);

/* Frees the loop's spare output-queue nodes. */
void loop_free_nodes(struct loop *loop);

/* Hands item to loop from any thread; it runs on the loop soon after. */
void loop_post(struct loop *loop, struct inbox_item *item);

#endif
