/* One generator thread: an epoll loop over its share of the connections.
 * Each connection walks connect → HTTP upgrade → authenticate → ready; the
 * scenario (scenario.c) then sends. Frames queued for a connection during one
 * loop iteration go out together in one send() at the end of it; replies are
 * read into the thread's one read buffer and scanned in place. */
#include "bench.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define LOOP_EVENTS 512
#define LOOP_MAX_WAIT_NS 100000000LL /* re-check phase deadlines at least this often */
#define HTTP_HEAD_MAX 8192

static uint8_t timer_marker; /* epoll data of the thread's timerfd */

static bool in_window(const struct bench_run *run, int64_t now)
{
    return now >= run->t_start && now < run->t_end;
}

/* ---------------------------------------------------------------------------
 * Ending a connection
 * ------------------------------------------------------------------------- */

static void conn_close(struct bench_thread *t, struct bench_conn *c)
{
    if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    t->inflight_total -= c->inflight;
    c->inflight = 0;
    c->state = CONN_DONE;
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = 0;
    free(c->carry);
    c->carry = NULL;
    c->carry_len = c->carry_cap = 0;
}

/* Counts why c ended (a setup failure before it was ready, an error of the
 * run after) and closes it. */
static void conn_fail(struct bench_thread *t, struct bench_conn *c, const char *reason)
{
    if (c->state == CONN_DONE) return;
    if (c->state < CONN_READY) {
        t->stats.connect_failed++;
        t->in_progress--;
        bench_count(&t->stats.connect_failures, reason, strlen(reason), 1);
    } else {
        bench_count(&t->stats.errors, reason, strlen(reason), 1);
        t->stats.unanswered += c->inflight; /* lost with the connection */
    }
    conn_close(t, c);
}

static void conn_fail_errno(struct bench_thread *t, struct bench_conn *c, const char *what, int err)
{
    char reason[BENCH_COUNTER_NAME];
    const char *name = strerrorname_np(err);
    snprintf(reason, sizeof reason, "%s:%s", what, name ? name : "?");
    conn_fail(t, c, reason);
}

/* ---------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------- */

void bench_conn_mark_dirty(struct bench_thread *t, struct bench_conn *c)
{
    if (c->dirty) return;
    c->dirty = true;
    t->dirty[t->ndirty++] = c;
}

/* Room for n more bytes at the end of c's output, moving what is unsent to
 * the front if that makes room; NULL when the bound is reached. */
static uint8_t *conn_reserve(struct bench_conn *c, size_t n)
{
    if (!c->out) return NULL;
    if (c->out_cap - c->out_len >= n) return c->out + c->out_len;
    if (c->out_off) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    return c->out_cap - c->out_len >= n ? c->out + c->out_len : NULL;
}

static bool conn_queue_frame(struct bench_thread *t, struct bench_conn *c, uint8_t opcode,
                             const void *payload, size_t len)
{
    uint8_t *dst = conn_reserve(c, len + 14);
    if (!dst) return false;
    c->out_len += (uint32_t)bench_frame_build(dst, opcode, payload, len, c->mask);
    bench_conn_mark_dirty(t, c);
    return true;
}

static void conn_want_write(struct bench_thread *t, struct bench_conn *c, bool want)
{
    if (want == c->want_write) return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = want;
}

/* Sends what is queued; when the socket is full the rest waits for EPOLLOUT. */
static void conn_flush(struct bench_thread *t, struct bench_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            conn_fail_errno(t, c, "send", errno);
            return;
        }
        t->stats.writes++;
        t->stats.bytes_out += (uint64_t)n;
        c->out_off += (uint32_t)n;
    }
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
    conn_want_write(t, c, c->out_len > 0);
}

static void flush_dirty(struct bench_thread *t)
{
    for (uint32_t i = 0; i < t->ndirty; i++) {
        struct bench_conn *c = t->dirty[i];
        c->dirty = false;
        if (c->fd >= 0 && !c->want_write) conn_flush(t, c);
    }
    t->ndirty = 0;
}

/* {"type":"send_private_message","requestId":"<seq>","recipientId":"<peer>",
 *  "clientMessageId":"<run>-<conn>-<seq>","content":"t=<ns> xxx…"} with the
 * content padded to --size bytes. The payload is written to the thread's
 * scratch, then masked into the output in one pass. */
#define PUT(lit) (memcpy(p + n, lit, sizeof(lit) - 1), n += sizeof(lit) - 1)
bool bench_conn_send_dm(struct bench_thread *t, struct bench_conn *c, int64_t now)
{
    const struct bench_run *run = t->run;
    if (c->state != CONN_READY) return false;
    uint8_t *dst = conn_reserve(c, (size_t)run->opt.size + 256 + 14);
    if (!dst) return false;
    char *p = (char *)t->scratch;
    size_t n = 0;
    uint64_t seq = ++c->seq;
    PUT("{\"type\":\"send_private_message\",\"requestId\":\"");
    n += bench_u64_format(p + n, seq);
    PUT("\",\"recipientId\":\"");
    n += bench_u64_format(p + n, (uint64_t)c->peer_id);
    PUT("\",\"clientMessageId\":\"");
    memcpy(p + n, run->run_id, 12);
    n += 12;
    p[n++] = '-';
    n += bench_u64_format(p + n, c->index);
    p[n++] = '-';
    n += bench_u64_format(p + n, seq);
    PUT("\",\"content\":\"");
    size_t content = n;
    PUT("t=");
    /* read the clock again: now is when the loop woke, and a batch of events
     * may have taken a while since */
    n += bench_u64_format(p + n, (uint64_t)bench_now_ns());
    p[n++] = ' ';
    size_t want = (size_t)run->opt.size;
    if (n - content < want) {
        memset(p + n, 'x', want - (n - content));
        n = content + want;
    }
    PUT("\"}");
    c->out_len += (uint32_t)bench_frame_build(dst, 0x1, (const uint8_t *)p, n, c->mask);
    c->inflight++;
    t->inflight_total++;
    if (in_window(run, now)) t->stats.sent++;
    bench_conn_mark_dirty(t, c);
    return true;
}
#undef PUT

/* Protocol §3: clients send {"type":"ping"} every 30 s, or the server
 * closes them after IDLE_TIMEOUT_MS. Connections that do not send messages
 * get one per --ping-interval, spread evenly over the interval. */
static void ping_quiet_connections(struct bench_thread *t, int64_t begin, int64_t now)
{
    static const char ping[] = "{\"type\":\"ping\"}";
    double interval = t->run->opt.ping_interval;
    if (interval <= 0 || !t->nconns) return;
    uint64_t due = (uint64_t)((double)(now - begin) / (interval * 1e9) * t->nconns);
    for (; t->pinged < due; t->pinged++) {
        struct bench_conn *c = &t->conns[t->pinged % t->nconns];
        if (c->state == CONN_READY && !c->sender)
            conn_queue_frame(t, c, 0x1, ping, sizeof ping - 1);
    }
}

/* ---------------------------------------------------------------------------
 * Setup: connect, upgrade, authenticate
 * ------------------------------------------------------------------------- */

static void conn_start(struct bench_thread *t, struct bench_conn *c, int64_t now)
{
    const struct bench_options *o = &t->run->opt;
    t->in_progress++;
    c->state = CONN_CONNECTING;
    c->start_ns = now;
    if (!t->stats.first_start_ns) t->stats.first_start_ns = now;
    c->out = malloc(c->out_cap);
    if (!c->out) return conn_fail(t, c, "out_of_memory");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return conn_fail_errno(t, c, "socket", errno);
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* the port is chosen at connect(), per destination: more than 64k
     * connections over a few source addresses */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + c->index % (uint32_t)o->source_ips);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0)
        return conn_fail_errno(t, c, "bind", errno);
    struct sockaddr_in dst = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port), .sin_addr = o->addr};
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS)
        return conn_fail_errno(t, c, "connect", errno);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return conn_fail_errno(t, c, "epoll", errno);
    c->want_write = true;
}

static void conn_connected(struct bench_thread *t, struct bench_conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err) return conn_fail_errno(t, c, "connect", err);
    const struct bench_run *run = t->run;
    memcpy(c->out, run->upgrade_request, run->upgrade_len);
    c->out_len = (uint32_t)run->upgrade_len;
    c->state = CONN_UPGRADING;
    conn_flush(t, c);
}

/* The 101 answer: returns the head's length, 0 while it is incomplete, or
 * -1 after failing the connection. */
static long conn_upgrade_response(struct bench_thread *t, struct bench_conn *c, const uint8_t *p,
                                  size_t n)
{
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) {
        if (n <= HTTP_HEAD_MAX) return 0;
        conn_fail(t, c, "http_head_too_long");
        return -1;
    }
    if (n < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0) {
        conn_fail(t, c, "http_bad_status_line");
        return -1;
    }
    if (memcmp(p + 9, "101", 3) != 0) {
        char reason[16];
        snprintf(reason, sizeof reason, "http_%.3s", (const char *)p + 9);
        conn_fail(t, c, reason);
        return -1;
    }
    size_t head = (size_t)(end - p) + 4;
    const struct bench_run *run = t->run;
    if (!memmem(p, head, run->expected_accept, strlen(run->expected_accept))) {
        conn_fail(t, c, "http_bad_accept");
        return -1;
    }
    uint32_t user = (uint32_t)(c->user_id - run->opt.first_user);
    c->state = CONN_AUTHENTICATING;
    if (!conn_queue_frame(t, c, 0x1, run->auth_payloads[user], run->auth_lengths[user])) {
        conn_fail(t, c, "auth_frame_too_big");
        return -1;
    }
    return (long)head;
}

/* ---------------------------------------------------------------------------
 * Input
 * ------------------------------------------------------------------------- */

static void count_code(struct bench_counters *counters, const char *prefix,
                       const struct bench_reply *r)
{
    char name[BENCH_COUNTER_NAME];
    int len = snprintf(name, sizeof name, "%s%.*s", prefix, r->code ? (int)r->code_len : 7,
                       r->code ? (const char *)r->code : "unknown");
    bench_count(counters, name, len < (int)sizeof name ? (size_t)len : sizeof name - 1, 1);
}

static void conn_reply_done(struct bench_thread *t, struct bench_conn *c, int64_t now)
{
    if (c->inflight) {
        c->inflight--;
        t->inflight_total--;
    }
    bench_scenario_on_reply(t, c, now);
}

static void on_text(struct bench_thread *t, struct bench_conn *c, const uint8_t *p, size_t n,
                    int64_t now)
{
    struct bench_reply r;
    bench_reply_classify(p, n, &r);
    bool counted = in_window(t->run, now);
    switch (r.type) {
    case REPLY_NEW_MESSAGE:
        if (r.has_request_id) {
            if (counted) {
                t->stats.acked++;
                t->stats.duplicates += r.duplicate;
                if (r.sent_ns) bench_hist_record(&t->stats.ack, now - r.sent_ns);
            }
            conn_reply_done(t, c, now);
        } else if (counted) {
            t->stats.delivered++;
            if (r.sent_ns) bench_hist_record(&t->stats.delivery, now - r.sent_ns);
        }
        break;
    case REPLY_ERROR:
        /* counted whenever they come, warm-up included: a rate limit that
         * only bites during warm-up is still worth seeing */
        count_code(&t->stats.errors, "", &r);
        if (counted) t->stats.error_replies++;
        if (r.has_request_id) conn_reply_done(t, c, now);
        break;
    case REPLY_AUTH_SUCCESS:
        if (c->state != CONN_AUTHENTICATING) break;
        c->state = CONN_READY;
        t->in_progress--;
        t->stats.connect_ok++;
        t->stats.last_ready_ns = now;
        bench_hist_record(&t->stats.connect, now - c->start_ns);
        bench_scenario_on_ready(t, c);
        break;
    case REPLY_AUTH_ERROR: {
        char name[BENCH_COUNTER_NAME];
        snprintf(name, sizeof name, "auth_%.*s", r.code ? (int)r.code_len : 7,
                 r.code ? (const char *)r.code : "unknown");
        conn_fail(t, c, name);
        break;
    }
    case REPLY_SESSION_ENDED:
        count_code(&t->stats.errors, "session_ended_", &r);
        break;
    case REPLY_OTHER: /* online_users, user_online, pong, … */
        break;
    }
}

/* Handles every complete frame of p[0..n); returns the bytes used. */
static size_t conn_frames(struct bench_thread *t, struct bench_conn *c, uint8_t *p, size_t n,
                          int64_t now)
{
    size_t used = 0;
    while (used < n && c->state != CONN_DONE) {
        struct bench_frame f;
        enum bench_frame_result r = bench_frame_parse(p + used, n - used, &f);
        if (r == FRAME_INCOMPLETE) break;
        if (r == FRAME_BAD || !f.fin) {
            conn_fail(t, c, r == FRAME_BAD ? "bad_frame" : "fragmented_frame");
            break;
        }
        used += f.total;
        t->stats.frames_in++;
        switch (f.opcode) {
        case 0x1:
            on_text(t, c, f.payload, f.len, now);
            break;
        case 0x9: /* ping → pong with the same payload (RFC 6455 §5.5.3) */
            if (!conn_queue_frame(t, c, 0xA, f.payload, f.len))
                bench_count(&t->stats.errors, "pong_not_sent", 13, 1);
            break;
        case 0xA:
            break;
        case 0x8: {
            char reason[24];
            unsigned code = f.len >= 2 ? (unsigned)f.payload[0] << 8 | f.payload[1] : 1005;
            snprintf(reason, sizeof reason, "close_%u", code);
            conn_fail(t, c, reason);
            break;
        }
        default:
            conn_fail(t, c, "unexpected_opcode");
        }
    }
    return used;
}

/* Keeps p[0..n), the start of a frame still arriving, for the next read. */
static void conn_keep(struct bench_thread *t, struct bench_conn *c, const uint8_t *p, size_t n)
{
    if (n > c->carry_cap) {
        /* sized to need, in 4 KiB steps: most partial frames are small */
        size_t cap = (n + 4095) & ~(size_t)4095;
        uint8_t *grown = realloc(c->carry, cap);
        if (!grown) return conn_fail(t, c, "out_of_memory");
        c->carry = grown;
        c->carry_cap = (uint32_t)cap;
    }
    memmove(c->carry, p, n);
    c->carry_len = (uint32_t)n;
}

static void conn_readable(struct bench_thread *t, struct bench_conn *c, int64_t now)
{
    uint8_t *p = t->rbuf;
    size_t have = c->carry_len;
    if (have) memcpy(p, c->carry, have);
    ssize_t got = recv(c->fd, p + have, BENCH_READ_BUFFER - have, 0);
    if (got == 0) return conn_fail(t, c, "closed_by_server");
    if (got < 0) {
        if (errno != EAGAIN && errno != EINTR) conn_fail_errno(t, c, "recv", errno);
        return;
    }
    t->stats.bytes_in += (uint64_t)got;
    size_t n = have + (size_t)got;
    size_t used = 0;
    if (c->state == CONN_UPGRADING) {
        long head = conn_upgrade_response(t, c, p, n);
        if (head < 0) return;
        if (head == 0) return conn_keep(t, c, p, n);
        used = (size_t)head;
    }
    used += conn_frames(t, c, p + used, n - used, now);
    if (c->state == CONN_DONE) return;
    if (used < n)
        conn_keep(t, c, p + used, n - used);
    else
        c->carry_len = 0;
}

/* ---------------------------------------------------------------------------
 * The loop
 * ------------------------------------------------------------------------- */

/* Waits up to wait_ns for events and handles them; then sends what they
 * queued. */
static void loop_once(struct bench_thread *t, int64_t wait_ns)
{
    struct epoll_event events[LOOP_EVENTS];
    if (wait_ns > LOOP_MAX_WAIT_NS) wait_ns = LOOP_MAX_WAIT_NS;
    int timeout_ms = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000);
    int n = epoll_wait(t->epfd, events, LOOP_EVENTS, timeout_ms);
    int64_t now = bench_now_ns();
    for (int i = 0; i < n; i++) {
        if (events[i].data.ptr == &timer_marker) {
            uint64_t expirations;
            if (read(t->timerfd, &expirations, sizeof expirations) < 0) continue;
            if (t->sending) bench_scenario_on_tick(t, now);
            continue;
        }
        struct bench_conn *c = events[i].data.ptr;
        uint32_t ev = events[i].events;
        if (c->state == CONN_DONE) continue;
        if (c->state == CONN_CONNECTING) {
            conn_connected(t, c);
            continue;
        }
        if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn_readable(t, c, now);
        if ((ev & EPOLLOUT) && c->state != CONN_DONE && c->want_write) {
            conn_flush(t, c);
            if (c->state != CONN_DONE && !c->want_write) bench_scenario_on_writable(t, c, now);
        }
    }
    flush_dirty(t);
}

int bench_thread_add_timer(struct bench_thread *t)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &timer_marker};
    return epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->timerfd, &ev);
}

static void setup_phase(struct bench_thread *t)
{
    const struct bench_run *run = t->run;
    for (;;) {
        int64_t now = bench_now_ns();
        while (t->in_progress < t->concurrency && t->next_start < t->nconns)
            conn_start(t, &t->conns[t->next_start++], now);
        flush_dirty(t);
        if (t->next_start == t->nconns && t->in_progress == 0) return;
        if (now >= run->setup_deadline_ns) break;
        loop_once(t, run->setup_deadline_ns - now);
    }
    for (uint32_t i = 0; i < t->nconns; i++)
        if (t->conns[i].state != CONN_DONE && t->conns[i].state != CONN_READY &&
            t->conns[i].state != CONN_WAITING)
            conn_fail(t, &t->conns[i], "timeout");
    /* never started: counted as failed too, so attempted = ok + failed */
    for (; t->next_start < t->nconns; t->next_start++) {
        t->stats.connect_failed++;
        bench_count(&t->stats.connect_failures, "not_started", 11, 1);
    }
}

void *bench_thread_main(void *arg)
{
    struct bench_thread *t = arg;
    struct bench_run *run = t->run;
    setup_phase(t);
    pthread_barrier_wait(&run->barrier); /* everyone connected */
    pthread_barrier_wait(&run->barrier); /* the main thread set t_start and t_end */

    int64_t now = bench_now_ns(), begin = now;
    bench_scenario_run_begin(t, now);
    flush_dirty(t);
    while ((now = bench_now_ns()) < run->t_end) {
        loop_once(t, run->t_end - now);
        ping_quiet_connections(t, begin, now);
    }
    t->sending = false;
    if (t->timerfd >= 0) {
        close(t->timerfd); /* leaves the epoll set */
        t->timerfd = -1;
    }
    int64_t drain_end = run->t_end + BENCH_DRAIN_NS;
    while (t->inflight_total && (now = bench_now_ns()) < drain_end) loop_once(t, drain_end - now);
    t->stats.unanswered += t->inflight_total;

    pthread_barrier_wait(&run->barrier); /* the main thread reads the server's RSS */
    pthread_barrier_wait(&run->barrier);
    for (uint32_t i = 0; i < t->nconns; i++) conn_close(t, &t->conns[i]);
    return NULL;
}
