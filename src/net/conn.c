/* Connection lifecycle on its loop: accept, the HTTP head and upgrade, the
 * WebSocket read path, deadlines from the loop's timing wheel, and the
 * closing handshake. Output queueing lives in conn_output.c. */
#include "net/conn.h"

#include "chat/session.h"
#include "http/endpoints.h"
#include "http/request.h"
#include "http/response.h"
#include "http/upgrade.h"
#include "net/ip_limit.h"
#include "net/loop.h"
#include "net/server.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/frame.h"
#include "util/log.h"
#include "ws/deflate.h"
#include "ws/utf8.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The whole request head must arrive within this, and within AUTH_TIMEOUT_MS
 * when that is shorter: a client has that long to authenticate anyway. */
#define HTTP_HEAD_TIMEOUT_MS 10000
#define CLOSE_LINGER_MS 2000  /* after our close frame, wait this long for the peer */
#define CONN_MAX_IN_FLIGHT 32 /* requests awaiting the store before reading pauses */
#define HTTP_RESPONSE_MAX 4096

/* ---------------------------------------------------------------- refs */

void conn_ref(struct conn *c)
{
    c->refs++;
}

void conn_unref(struct conn *c)
{
    if (--c->refs > 0) return;
    ws_decoder_free(&c->decoder);
    free(c->http);
    free(c->pending_in);
    free(c->jti);
    free(c);
}

bool conn_is_open(const struct conn *c)
{
    return c->state == CONN_OPEN;
}

/* ---------------------------------------------------------------- deadlines */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t conn_head_deadline(const struct conn *c)
{
    return c->opened_ms + min64(HTTP_HEAD_TIMEOUT_MS, c->loop->server->config.auth_timeout_ms);
}

static int64_t conn_next_deadline(const struct conn *c)
{
    const struct config *cfg = &c->loop->server->config;
    switch (c->state) {
    case CONN_HTTP:
        return conn_head_deadline(c);
    case CONN_OPEN: {
        int64_t next = min64(c->last_frame_ms + 2 * cfg->heartbeat_interval_ms,
                             c->last_ping_ms + cfg->heartbeat_interval_ms);
        if (!c->user_id) return min64(next, c->opened_ms + cfg->auth_timeout_ms);
        next = min64(next, c->last_message_ms + cfg->idle_timeout_ms);
        return min64(next, c->token_exp_ms);
    }
    case CONN_CLOSING:
        return c->close_deadline_ms;
    case CONN_CLOSED:
        break;
    }
    return INT64_MAX;
}

void conn_schedule(struct conn *c)
{
    if (c->state == CONN_CLOSED) return;
    timer_wheel_schedule(c->loop->wheel, &c->timer, conn_next_deadline(c));
}

static void conn_send_ping(struct conn *c)
{
    struct frame *f = frame_new(WS_OP_PING, NULL, 0);
    if (!f) return;
    conn_send(c, f);
    frame_unref(f);
}

/* Called by the loop's wheel when the connection's earliest deadline is due. */
void conn_on_timer(struct timer_entry *e, void *arg)
{
    struct conn *c = (struct conn *)((char *)e - offsetof(struct conn, timer));
    const struct config *cfg = &c->loop->server->config;
    int64_t now = c->loop->now_ms;

    switch (c->state) {
    case CONN_HTTP:
        if (now >= conn_head_deadline(c)) return conn_abort(c);
        break;
    case CONN_OPEN:
        if (now - c->last_frame_ms >= 2 * cfg->heartbeat_interval_ms) {
            log_debug("conn %llx: no frame for two heartbeats, dropping",
                      (unsigned long long)c->id);
            return conn_abort(c);
        }
        if (!c->user_id && !c->authenticating && now >= c->opened_ms + cfg->auth_timeout_ms)
            return conn_close(c, 4000, "authentication timeout");
        if (c->user_id && now - c->last_message_ms >= cfg->idle_timeout_ms)
            return conn_close(c, 4002, "idle timeout");
        if (c->user_id && now >= c->token_exp_ms) return session_on_token_expired(c);
        if (now - c->last_ping_ms >= cfg->heartbeat_interval_ms) {
            c->last_ping_ms = now;
            conn_send_ping(c);
        }
        break;
    case CONN_CLOSING:
        if (now >= c->close_deadline_ms) return conn_abort(c);
        break;
    case CONN_CLOSED:
        return;
    }
    conn_schedule(c);
}

/* ---------------------------------------------------------------- closing */

static void on_closed(uv_handle_t *handle)
{
    conn_unref((struct conn *)handle->data);
}

/* Closes the socket now, without a closing handshake. */
void conn_abort(struct conn *c)
{
    if (c->state == CONN_CLOSED) return;
    struct server *s = c->loop->server;
    bool was_websocket = c->counted;
    c->state = CONN_CLOSED;
    timer_wheel_cancel(c->loop->wheel, &c->timer);
    if (was_websocket) {
        session_on_close(c);
        ip_limit_release(s->ip_limit, c->ip_key);
        atomic_fetch_sub(&s->stats.connections, 1);
        c->counted = false;
    }
    conn_output_discard(c);
    if (c->next_in_loop) c->next_in_loop->prev_in_loop = c->prev_in_loop;
    if (c->prev_in_loop)
        c->prev_in_loop->next_in_loop = c->next_in_loop;
    else
        c->loop->conns = c->next_in_loop;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    free(req);
    if (status < 0) conn_abort(c);
    /* else: keep reading (and discarding) until the peer closes or the
     * linger deadline passes, so our last bytes are not lost to a reset */
    conn_unref(c);
}

/* Everything queued has been written: if the connection is closing, send
 * FIN now. Called by the output code. */
void conn_output_drained(struct conn *c)
{
    if (!c->shutdown_after_flush || c->state == CONN_CLOSED) return;
    c->shutdown_after_flush = false;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req) return conn_abort(c);
    req->data = c;
    conn_ref(c);
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_unref(c);
        conn_abort(c);
    }
}

static void conn_begin_closing(struct conn *c)
{
    c->state = CONN_CLOSING;
    c->shutdown_after_flush = true;
    c->close_deadline_ms = c->loop->now_ms + CLOSE_LINGER_MS;
    conn_schedule(c);
}

void conn_close(struct conn *c, uint16_t code, const char *reason)
{
    if (c->state == CONN_HTTP) return conn_abort(c);
    if (c->state != CONN_OPEN) return;
    conn_begin_closing(c);
    uint8_t bytes[2 + WS_MAX_CONTROL_PAYLOAD];
    size_t len = ws_close_frame(bytes, code, reason ? reason : "");
    struct frame *f = frame_raw(bytes, len);
    if (!f) return conn_abort(c);
    conn_output_enqueue(c, f);
    frame_unref(f);
}

/* Answers a plain HTTP request (or refuses an upgrade) and closes. */
static void conn_http_answer(struct conn *c, buf *response)
{
    conn_begin_closing(c);
    struct frame *f = frame_raw(response->data, response->len);
    buf_free(response);
    if (!f) return conn_abort(c);
    conn_output_enqueue(c, f);
    frame_unref(f);
}

static void conn_http_error(struct conn *c, int status)
{
    buf response;
    buf_init(&response, HTTP_RESPONSE_MAX);
    const char *extra = status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL;
    const char *reason = http_status_reason(status);
    http_response_write(&response, status, "text/plain", extra, reason, strlen(reason), false);
    conn_http_answer(c, &response);
}

/* ---------------------------------------------------------------- upgrade */

static void conn_upgrade(struct conn *c)
{
    struct server *s = c->loop->server;
    char accept[WS_ACCEPT_LEN + 1];
    int status = http_upgrade_check(c->http, s->config.allowed_origins, accept);
    if (status != 101) return conn_http_error(c, status);

    if (atomic_fetch_add(&s->stats.connections, 1) >= s->config.max_connections) {
        atomic_fetch_sub(&s->stats.connections, 1);
        return conn_http_error(c, 503);
    }
    struct sockaddr_storage peer;
    int peer_len = sizeof peer;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &peer_len) != 0) {
        atomic_fetch_sub(&s->stats.connections, 1);
        return conn_abort(c);
    }
    c->ip_key = ip_limit_key(s->ip_limit, &peer);
    if (!ip_limit_acquire(s->ip_limit, c->ip_key, s->config.max_connections_per_ip)) {
        atomic_fetch_sub(&s->stats.connections, 1);
        return conn_http_error(c, 429);
    }
    c->counted = true;

    struct ws_deflate_params deflate;
    char extension[WS_DEFLATE_RESPONSE_MAX];
    bool offered = c->http->ws_extensions[0] && !c->http->ws_extensions_too_long;
    if (!offered ||
        !ws_deflate_negotiate(c->http->ws_extensions, &deflate, extension, sizeof extension))
        deflate.enabled = false;
    c->deflate = deflate.enabled;
    c->deflate_bits = deflate.enabled ? deflate.server_window_bits : 0;

    buf response;
    buf_init(&response, HTTP_RESPONSE_MAX);
    http_response_upgrade(&response, accept, c->deflate ? extension : NULL);
    struct frame *f = frame_raw(response.data, response.len);
    buf_free(&response);
    free(c->http);
    c->http = NULL;
    if (!f) return conn_abort(c);

    c->state = CONN_OPEN;
    ws_decoder_init(&c->decoder, s->config.max_frame_bytes);
    c->decoder.allow_rsv1 = c->deflate;
    c->last_frame_ms = c->last_ping_ms = c->loop->now_ms;
    conn_output_enqueue(c, f);
    frame_unref(f);
    session_on_open(c);
    conn_schedule(c);
}

static void conn_on_head(struct conn *c)
{
    if (http_upgrade_requested(c->http)) return conn_upgrade(c);
    struct server *s = c->loop->server;
    struct endpoint_status status = {
        .uptime_s = (c->loop->now_ms - s->started_ms) / 1000,
        .connections = atomic_load(&s->stats.connections),
        .ready = store_ready(s->store),
        .workers = s->loop_count,
        .messages_stored = atomic_load(&s->stats.messages_stored),
        .deliveries = atomic_load(&s->stats.deliveries),
        .auth_failures = atomic_load(&s->stats.auth_failures),
        .latency_bounds = server_latency_bounds,
        .latency_bucket_count = SERVER_LATENCY_BUCKETS,
        .latency_count = atomic_load(&s->stats.store_latency_count),
        .latency_sum_s = (double)atomic_load(&s->stats.store_latency_sum_us) / 1e6,
    };
    _Static_assert(SERVER_LATENCY_BUCKETS <= ENDPOINT_LATENCY_BUCKETS_MAX, "histogram too wide");
    for (int i = 0; i < SERVER_LATENCY_BUCKETS; i++)
        status.latency_buckets[i] = atomic_load(&s->stats.store_latency[i]);
    buf response;
    buf_init(&response, HTTP_RESPONSE_MAX);
    http_endpoint_respond(c->http, &status, &response);
    conn_http_answer(c, &response);
}

/* ---------------------------------------------------------------- input */

/* A compressed text message: inflate it (within MAX_FRAME_BYTES), check its
 * UTF-8, which the codec leaves to us for compressed messages, and hand it on. */
static void conn_on_compressed_text(struct conn *c, const ws_event *ev)
{
    struct loop *loop = c->loop;
    struct ws_deflate_ctx *zlib = loop_deflate_ctx(loop);
    if (!zlib) return conn_close(c, WS_CLOSE_SERVER_ERROR, NULL);
    int rc = ws_inflate_message(zlib, ev->data, ev->len, &loop->inflated);
    if (rc == 0 && !ws_utf8_valid(loop->inflated.data, loop->inflated.len))
        rc = -WS_CLOSE_INVALID_DATA;
    if (rc < 0) return conn_close(c, (uint16_t)-rc, NULL);
    session_on_text(c, loop->inflated.data, loop->inflated.len);
}

static void conn_on_ws_event(struct conn *c, const ws_event *ev)
{
    switch (ev->type) {
    case WS_EVENT_TEXT:
        c->last_message_ms = c->loop->now_ms;
        if (ev->compressed)
            conn_on_compressed_text(c, ev);
        else
            session_on_text(c, ev->data, ev->len);
        break;
    case WS_EVENT_PING: {
        /* RFC 6455 §5.5.3: "A Pong frame sent in response to a Ping frame
         * must have identical Application data". */
        struct frame *pong = frame_new(WS_OP_PONG, ev->data, ev->len);
        if (pong) {
            conn_send(c, pong);
            frame_unref(pong);
        }
        break;
    }
    case WS_EVENT_CLOSE:
        /* Echo the peer's code; 1005 means it sent none, and 1005 must
         * never appear on the wire. */
        conn_close(c, ev->close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : ev->close_code, "");
        break;
    case WS_EVENT_PONG:
    case WS_EVENT_NONE:
        break;
    }
}

/* Handles as much of data[0..len) as forms complete units; returns the bytes
 * used. Stops early when too many requests wait for the store. */
static size_t conn_process(struct conn *c, uint8_t *data, size_t len)
{
    size_t offset = 0;
    if (c->state == CONN_HTTP) {
        int status = http_request_feed(c->http, (const char *)data, len, &offset);
        if (status == HTTP_NEED_MORE) return len;
        if (status != 0) {
            conn_http_error(c, status);
            return len;
        }
        conn_on_head(c);
    }
    while (c->state == CONN_OPEN && offset < len && c->in_flight < CONN_MAX_IN_FLIGHT) {
        size_t used = 0;
        ws_event ev;
        int rc = ws_decode(&c->decoder, data + offset, len - offset, &used, &ev);
        if (rc < 0) {
            conn_close(c, (uint16_t)-rc, NULL);
            return len;
        }
        if (used == 0) break;
        offset += used;
        conn_on_ws_event(c, &ev);
    }
    return c->state == CONN_OPEN ? offset : len;
}

/* Keeps data[used..len) for the next read, in a buffer sized to it. */
static int conn_keep_pending(struct conn *c, const uint8_t *data, size_t used, size_t len)
{
    size_t rest = len - used;
    if (rest == 0) {
        free(c->pending_in);
        c->pending_in = NULL;
        c->pending_len = c->pending_cap = 0;
        return 0;
    }
    if (data == c->pending_in) {
        memmove(c->pending_in, c->pending_in + used, rest);
    } else {
        if (rest > c->pending_cap) {
            uint8_t *grown = realloc(c->pending_in, rest);
            if (!grown) return -1;
            c->pending_in = grown;
            c->pending_cap = (uint32_t)rest;
        }
        memcpy(c->pending_in, data + used, rest);
    }
    c->pending_len = (uint32_t)rest;
    return 0;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
    struct conn *c = handle->data;
    out->base = (char *)c->loop->read_buf;
    out->len = c->loop->read_buf_size;
}

static void conn_consume(struct conn *c, uint8_t *data, size_t len)
{
    size_t used = conn_process(c, data, len);
    if (c->state != CONN_OPEN) used = len;
    if (conn_keep_pending(c, data, used, len) != 0) return conn_abort(c);
    if (c->in_flight >= CONN_MAX_IN_FLIGHT && c->state == CONN_OPEN) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->read_paused = true;
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = stream->data;
    c->loop->now_ms = (int64_t)uv_now(&c->loop->uv);
    if (nread < 0) return conn_abort(c);
    if (nread == 0 || c->state == CONN_CLOSING || c->state == CONN_CLOSED) return;
    c->last_frame_ms = c->loop->now_ms;

    if (!c->pending_len) return conn_consume(c, (uint8_t *)b->base, (size_t)nread);
    /* A partial frame waits: append the read to it. The pending bytes never
     * exceed one frame (the codec refuses a longer one from its header) plus
     * one read, so this stays bounded. */
    size_t total = c->pending_len + (size_t)nread;
    if (total > c->pending_cap) {
        uint8_t *grown = realloc(c->pending_in, total);
        if (!grown) return conn_abort(c);
        c->pending_in = grown;
        c->pending_cap = (uint32_t)total;
    }
    memcpy(c->pending_in + c->pending_len, b->base, (size_t)nread);
    c->pending_len = (uint32_t)total;
    conn_consume(c, c->pending_in, c->pending_len);
}

static void conn_read_start(struct conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) conn_abort(c);
}

void conn_request_begin(struct conn *c)
{
    c->in_flight++;
    conn_ref(c);
}

void conn_request_end(struct conn *c)
{
    c->in_flight--;
    if (c->read_paused && c->state == CONN_OPEN && c->in_flight <= CONN_MAX_IN_FLIGHT / 2) {
        c->read_paused = false;
        if (c->pending_len) conn_consume(c, c->pending_in, c->pending_len);
        if (c->state == CONN_OPEN && !c->read_paused) conn_read_start(c);
    }
    conn_unref(c);
}

/* ---------------------------------------------------------------- accept */

void conn_accept(struct loop *loop)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return;
    if (uv_tcp_init(&loop->uv, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    c->loop = loop;
    c->refs = 1;
    if (uv_accept((uv_stream_t *)&loop->listener, (uv_stream_t *)&c->tcp) != 0 ||
        !(c->http = malloc(sizeof *c->http))) {
        c->state = CONN_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    http_request_init(c->http);
    c->id = ((uint64_t)loop->index << 56) | ++loop->next_conn_serial;
    c->state = CONN_HTTP;
    c->opened_ms = c->last_frame_ms = c->last_message_ms = loop->now_ms;
    timer_entry_init(&c->timer);
    c->next_in_loop = loop->conns;
    if (loop->conns) loop->conns->prev_in_loop = c;
    loop->conns = c;
    uv_tcp_nodelay(&c->tcp, 1);
    conn_schedule(c);
    conn_read_start(c);
}
