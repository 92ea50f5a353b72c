/* Worker event loops: see loop.h. Each runs on its own thread with its own
 * listening socket on the shared port (SO_REUSEPORT lets the kernel spread
 * new connections over the loops). */
#include "net/loop.h"

#include "chat/session.h"
#include "net/conn.h"
#include "net/server.h"
#include "util/error.h"
#include "util/frame.h"
#include "ws/deflate.h"
#include "util/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096
#define DRAIN_TIMEOUT_MS 5000
#define LOOP_REPLY_MAX                                                                             \
    (16u << 20) /* a history page of 100 long messages fits */ /* after SIGTERM, how long pending  \
                                                                  output may take */

/* ---------------------------------------------------------------- inbox */

static void on_inbox(uv_async_t *handle)
{
    struct loop *loop = handle->data;
    loop->now_ms = (int64_t)uv_now(&loop->uv);
    struct mpsc_node *node;
    while ((node = mpsc_pop(&loop->inbox))) {
        struct inbox_item *item = (struct inbox_item *)node;
        item->run(item, loop);
    }
}

void loop_post(struct loop *loop, struct inbox_item *item)
{
    mpsc_push(&loop->inbox, &item->node);
    uv_async_send(&loop->inbox_wakeup);
}

struct ws_deflate_ctx *loop_deflate_ctx(struct loop *loop)
{
    if (!loop->deflate) {
        loop->deflate = malloc(sizeof *loop->deflate);
        if (loop->deflate) ws_deflate_ctx_init(loop->deflate);
    }
    return loop->deflate;
}

/* ---------------------------------------------------------------- ticks */

/* The drain is over (every connection closed, or time ran out). */
static void loop_drained(struct loop *loop)
{
    for (struct conn *c = loop->conns; c;) {
        struct conn *next = c->next_in_loop;
        conn_abort(c);
        c = next;
    }
    loop->draining = false;
    atomic_store(&loop->drained, true);
}

static void on_tick(uv_timer_t *timer)
{
    struct loop *loop = timer->data;
    loop->now_ms = (int64_t)uv_now(&loop->uv);
    timer_wheel_advance(loop->wheel, loop->now_ms, conn_on_timer, loop);
    if (loop->draining && (!loop->conns || loop->now_ms >= loop->drain_deadline_ms))
        loop_drained(loop);
}

static void on_check(uv_check_t *check)
{
    loop_write_dirty(check->data);
}

static void on_revalidate(uv_timer_t *timer)
{
    struct loop *loop = timer->data;
    if (!loop->draining && !atomic_load(&loop->drained)) session_revalidate_loop(loop);
}

/* ---------------------------------------------------------------- accept */

static void on_connection(uv_stream_t *listener, int status)
{
    struct loop *loop = listener->data;
    if (status < 0) {
        log_warn("accept failed: %s", uv_strerror(status));
        return;
    }
    loop->now_ms = (int64_t)uv_now(&loop->uv);
    conn_accept(loop);
}

/* A listening socket on addr with SO_REUSEPORT, so each loop has its own. */
static int listen_socket(const struct sockaddr *addr)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    socklen_t len =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, addr, len) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* ---------------------------------------------------------------- life */

int loop_init(struct loop *loop, struct server *server, int index, const struct sockaddr *addr)
{
    memset(loop, 0, sizeof *loop);
    loop->index = index;
    loop->server = server;
    loop->read_buf_size = server->config.max_frame_bytes + 2 * WS_MAX_HEADER + 4;
    if (loop->read_buf_size < 16384) loop->read_buf_size = 16384;
    loop->read_buf = malloc(loop->read_buf_size);
    loop->wheel = malloc(sizeof *loop->wheel);
    if (!loop->read_buf || !loop->wheel) return CHAT_E_NOMEM;
    idmap_init(&loop->local_users);
    buf_init(&loop->scratch, LOOP_REPLY_MAX);
    buf_init(&loop->message_scratch, LOOP_REPLY_MAX);
    buf_init(&loop->inflated, server->config.max_frame_bytes);
    buf_init(&loop->deflated, LOOP_REPLY_MAX);
    mpsc_init(&loop->inbox);
    if (uv_loop_init(&loop->uv) != 0) return CHAT_E_INTERNAL;
    loop->now_ms = (int64_t)uv_now(&loop->uv);
    timer_wheel_init(loop->wheel, loop->now_ms);

    int fd = listen_socket(addr);
    if (fd < 0) {
        log_error("cannot listen on port %d: %s", server->port, strerror(-fd));
        return CHAT_E_IO;
    }
    uv_tcp_init(&loop->uv, &loop->listener);
    loop->listener.data = loop;
    int rc = uv_tcp_open(&loop->listener, fd);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&loop->listener, LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        log_error("cannot listen: %s", uv_strerror(rc));
        return CHAT_E_IO;
    }
    uv_async_init(&loop->uv, &loop->inbox_wakeup, on_inbox);
    loop->inbox_wakeup.data = loop;
    uv_check_init(&loop->uv, &loop->flush);
    loop->flush.data = loop;
    uv_check_start(&loop->flush, on_check);
    uv_timer_init(&loop->uv, &loop->tick);
    loop->tick.data = loop;
    uv_timer_start(&loop->tick, on_tick, TIMER_WHEEL_TICK_MS, TIMER_WHEEL_TICK_MS);
    uv_timer_init(&loop->uv, &loop->revalidate);
    loop->revalidate.data = loop;
    uint64_t every = (uint64_t)server->config.revocation_check_ms;
    uv_timer_start(&loop->revalidate, on_revalidate, every, every);
    return 0;
}

static void loop_thread(void *arg)
{
    struct loop *loop = arg;
    char name[16]; /* what top -H and perf show */
    snprintf(name, sizeof name, "chatd-loop-%d", loop->index);
    pthread_setname_np(pthread_self(), name);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
}

int loop_start(struct loop *loop)
{
    return uv_thread_create(&loop->thread, loop_thread, loop) == 0 ? 0 : CHAT_E_INTERNAL;
}

/* Runs on the loop: stop accepting and start closing every connection. */
static void loop_begin_drain(struct inbox_item *item, struct loop *loop)
{
    free(item);
    loop->draining = true;
    loop->drain_deadline_ms = loop->now_ms + DRAIN_TIMEOUT_MS;
    uv_close((uv_handle_t *)&loop->listener, NULL);
    for (struct conn *c = loop->conns; c;) {
        struct conn *next = c->next_in_loop;
        if (c->state == CONN_OPEN)
            conn_close(c, 1001, "server shutting down");
        else if (c->state == CONN_HTTP)
            conn_abort(c);
        c = next;
    }
}

static void loop_post_call(struct loop *loop, void (*run)(struct inbox_item *, struct loop *))
{
    struct inbox_item *item = malloc(sizeof *item);
    if (!item) abort(); /* shutting down without memory: nothing better to do */
    item->run = run;
    loop_post(loop, item);
}

void loop_drain(struct loop *loop)
{
    loop_post_call(loop, loop_begin_drain);
}

bool loop_is_drained(struct loop *loop)
{
    return atomic_load(&loop->drained);
}

/* Runs on the loop: close the last handles so uv_run returns. */
static void loop_end(struct inbox_item *item, struct loop *loop)
{
    free(item);
    uv_close((uv_handle_t *)&loop->tick, NULL);
    uv_close((uv_handle_t *)&loop->flush, NULL);
    uv_close((uv_handle_t *)&loop->revalidate, NULL);
    uv_close((uv_handle_t *)&loop->inbox_wakeup, NULL);
}

void loop_stop_and_join(struct loop *loop)
{
    loop_post_call(loop, loop_end);
    uv_thread_join(&loop->thread);
}

void loop_destroy(struct loop *loop)
{
    uv_loop_close(&loop->uv);
    idmap_free(&loop->local_users);
    buf_free(&loop->scratch);
    buf_free(&loop->message_scratch);
    loop_free_nodes(loop);
    buf_free(&loop->inflated);
    buf_free(&loop->deflated);
    frame_unref(loop->deflate_source);
    frame_unref(loop->deflate_result);
    if (loop->deflate) ws_deflate_ctx_free(loop->deflate);
    free(loop->deflate);
    free(loop->read_buf);
    free(loop->wheel);
}
