/* The bare relay: a minimal WebSocket chat relay on epoll that does the same
 * socket work as chatd -- one read and two writes per direct message (the
 * recipient's delivery, the sender's ack), and later one write per group
 * delivery -- and nothing else: no JSON library, no token verification, no
 * storage.
 *
 * It is a measuring instrument, not a product. Design §4 compares chatd with
 * it as "the limit this machine puts on any chat server"; so it trusts its
 * input, speaks only the protocol subset that tools/bench sends, and has no
 * feature whose cost chatd would not also pay for the same socket work.
 *
 * Threads: one epoll loop per thread, each with its own SO_REUSEPORT
 * listener. A user's connections may sit on several loops; a loop writes to
 * its own sockets only, and hands a frame for another loop's sockets to that
 * loop's inbox (a mutex-guarded byte queue plus an eventfd), flushed once per
 * epoll round so that one lock and one wake-up carry a batch. */
#include "sha1.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Every buffer has a bound, and these are all of them. */
#define MAX_THREADS 64
#define MAX_PAYLOAD (64 * 1024)        /* one client frame; larger closes the connection */
#define MAX_HEADER 8192                /* the HTTP upgrade request */
#define READ_BUF (256 * 1024)          /* one per loop, not per connection */
#define WRITE_BUF (MAX_PAYLOAD + 1024) /* one outgoing frame: a payload's pieces + fixed text */
#define MAX_SEND_QUEUE (4 << 20)       /* unsent bytes per connection before it is dropped */
#define MAX_INBOX (64 << 20)           /* bytes waiting in one loop's inbox */
#define MAX_EVENTS 256
#define TOKEN_PAYLOAD_MAX 2048 /* decoded JWT payload bytes read */

/* ------------------------------------------------------------------ types */

enum kind { KIND_LISTENER, KIND_INBOX, KIND_CONN };

/* What epoll_event.data.ptr points at: a listener, an inbox or a conn. */
struct handle {
    int kind;
    int fd;
};

/* One client. Idle, it holds this struct and nothing else: partial input and
 * unsent output are allocated only while they exist. */
struct conn {
    struct handle h;
    bool upgraded;
    bool closing;       /* failed: no more writes; epoll reports the hang-up */
    bool want_out;      /* EPOLLOUT is registered */
    bool dirty;         /* --batch-writes: on the loop's list to flush this round */
    uint32_t in_len;    /* bytes in `in` */
    uint32_t out_start; /* first unsent byte in `out` */
    uint32_t out_end;
    uint32_t out_cap;
    int64_t user_id;          /* 0 until authenticated */
    long slot;                /* the user's slot in the user table, -1 until authenticated */
    struct conn *prev, *next; /* the same user's connections on this loop */
    char *in;
    char *out;
};

/* A growable byte queue of delivery records: {int64 user, uint32 len, frame}. */
struct records {
    char *data;
    size_t len, cap;
};

struct loop {
    int index;
    int epfd;
    struct handle listener;
    struct handle inbox_event; /* eventfd: "your inbox was empty and is not" */
    pthread_mutex_t inbox_lock;
    struct records inbox;               /* guarded by inbox_lock; filled by other loops */
    struct records drained;             /* the inbox taken out from under the lock */
    struct records staged[MAX_THREADS]; /* for other loops, flushed once per round */
    uint64_t messages;                  /* this loop's share of message ids */
    uint64_t inbox_dropped;
    struct conn **dirty; /* --batch-writes: connections with output this round */
    size_t dirty_len, dirty_cap;
    char *read_buf;
    char *message_buf; /* one message object, shared by the ack and the delivery */
    char *write_buf;   /* one outgoing frame, header room at the front */
    pthread_t thread;
};

/* ------------------------------------------------------------------ state */

static int thread_count;
/* --batch-writes: gather a connection's frames and send them once per epoll
 * round instead of one send() per frame. Off by default, because chatd
 * writes each frame as it is made; on, it shows what corking would buy. */
static bool batch_writes;
static struct loop loops[MAX_THREADS];

/* The user table: open addressing, fixed capacity, never shrinks. A slot is
 * thread_count + 1 words: the user id (0 = empty, claimed with a CAS), then
 * for each loop the head of that loop's list of the user's connections.
 * Only loop t writes column t; other loops read it only to learn whether
 * loop t has any connection of the user (a hint: a race with a connect or a
 * close loses one delivery, as it would in any server).
 *
 * The hash is the id itself: benchmark ids are dense, so the slots in use
 * are dense too and the table costs RSS only for the users that exist. */
static _Atomic uintptr_t *user_table;
static size_t user_mask;
static size_t user_stride;

static _Atomic uintptr_t *user_slot(long slot)
{
    return user_table + (size_t)slot * user_stride;
}

/* The slot of user id, claiming an empty one if insert; -1 if absent/full. */
static long users_find(int64_t id, bool insert)
{
    if (id <= 0) return -1;
    for (size_t i = 0, at = (size_t)id & user_mask; i <= user_mask;
         i++, at = (at + 1) & user_mask) {
        _Atomic uintptr_t *s = user_slot((long)at);
        uintptr_t key = atomic_load_explicit(s, memory_order_acquire);
        if (key == (uintptr_t)id) return (long)at;
        if (key != 0) continue;
        if (!insert) return -1;
        uintptr_t empty = 0;
        if (atomic_compare_exchange_strong(s, &empty, (uintptr_t)id)) return (long)at;
        if (empty == (uintptr_t)id) return (long)at; /* another loop claimed it for us */
    }
    return -1;
}

static struct conn *users_head(long slot, int loop_index)
{
    _Atomic uintptr_t *column = user_slot(slot) + 1 + loop_index;
    return (struct conn *)atomic_load_explicit(column, memory_order_relaxed);
}

static void users_set_head(long slot, int loop_index, struct conn *c)
{
    _Atomic uintptr_t *column = user_slot(slot) + 1 + loop_index;
    atomic_store_explicit(column, (uintptr_t)c, memory_order_relaxed);
}

/* ------------------------------------------------------------------ output */

static void conn_fail(struct conn *c)
{
    /* shutdown() makes epoll report EPOLLHUP, and the loop frees c there:
     * the conn may be a recipient in the middle of someone else's event. */
    c->closing = true;
    shutdown(c->h.fd, SHUT_RDWR);
}

static void conn_watch_output(struct loop *l, struct conn *c, bool on)
{
    if (c->want_out == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->h.fd, &ev);
    c->want_out = on;
}

static void conn_mark_dirty(struct loop *l, struct conn *c)
{
    if (c->dirty) return;
    if (l->dirty_len == l->dirty_cap) {
        size_t cap = l->dirty_cap ? 2 * l->dirty_cap : 1024;
        struct conn **grown = realloc(l->dirty, cap * sizeof *grown);
        if (!grown) return conn_fail(c);
        l->dirty = grown;
        l->dirty_cap = cap;
    }
    l->dirty[l->dirty_len++] = c;
    c->dirty = true;
}

/* Writes straight to the socket when nothing is queued (the common case
 * costs one send() and no allocation); queues what the socket refuses. With
 * --batch-writes, queues everything for the end of the round instead. */
static void conn_write(struct loop *l, struct conn *c, const char *p, size_t n)
{
    if (c->closing) return;
    if (c->out_end == c->out_start && !batch_writes) {
        ssize_t w = send(c->h.fd, p, n, MSG_NOSIGNAL);
        if (w == (ssize_t)n) return;
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) return conn_fail(c);
            w = 0;
        }
        p += w;
        n -= (size_t)w;
    }
    size_t queued = c->out_end - c->out_start;
    if (queued + n > MAX_SEND_QUEUE) return conn_fail(c); /* slow consumer */
    if (c->out_start > 0) {
        memmove(c->out, c->out + c->out_start, queued);
        c->out_start = 0;
        c->out_end = (uint32_t)queued;
    }
    if (queued + n > c->out_cap) {
        size_t cap = c->out_cap ? 2 * (size_t)c->out_cap : 4096;
        while (cap < queued + n) cap *= 2;
        char *grown = realloc(c->out, cap);
        if (!grown) return conn_fail(c);
        c->out = grown;
        c->out_cap = (uint32_t)cap;
    }
    memcpy(c->out + queued, p, n);
    c->out_end = (uint32_t)(queued + n);
    if (batch_writes && !c->want_out)
        conn_mark_dirty(l, c);
    else
        conn_watch_output(l, c, true);
}

/* Sends what is queued; once it is all gone, frees the queue (kept with
 * --batch-writes, which refills it every round). */
static void conn_writable(struct loop *l, struct conn *c)
{
    ssize_t w = send(c->h.fd, c->out + c->out_start, c->out_end - c->out_start, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) return conn_fail(c);
        w = 0;
    }
    c->out_start += (uint32_t)w;
    if (c->out_start < c->out_end) return conn_watch_output(l, c, true);
    c->out_start = c->out_end = 0;
    if (!batch_writes) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    conn_watch_output(l, c, false);
}

static void flush_dirty(struct loop *l)
{
    for (size_t i = 0; i < l->dirty_len; i++) {
        struct conn *c = l->dirty[i];
        if (!c) continue; /* freed this round */
        c->dirty = false;
        if (!c->closing && c->out_end > c->out_start) conn_writable(l, c);
    }
    l->dirty_len = 0;
}

/* Server frames are unmasked (RFC 6455 §5.1). The payload already sits at
 * buf + 10; the header goes right before it. Returns the frame's start. */
static char *ws_frame(char *buf, size_t payload_len, int opcode, size_t *frame_len)
{
    uint8_t h[10];
    size_t hn;
    h[0] = (uint8_t)(0x80 | opcode);
    if (payload_len < 126) {
        h[1] = (uint8_t)payload_len;
        hn = 2;
    } else if (payload_len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(payload_len >> 8);
        h[3] = (uint8_t)payload_len;
        hn = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)payload_len >> (56 - 8 * i));
        hn = 10;
    }
    memcpy(buf + 10 - hn, h, hn);
    *frame_len = hn + payload_len;
    return buf + 10 - hn;
}

/* ------------------------------------------------------------------ delivery */

static void records_append(struct records *r, int64_t user, const char *frame, size_t n)
{
    size_t need = r->len + sizeof user + sizeof(uint32_t) + n;
    if (need > r->cap) {
        size_t cap = r->cap ? r->cap : 64 * 1024;
        while (cap < need) cap *= 2;
        char *grown = realloc(r->data, cap);
        if (!grown) return;
        r->data = grown;
        r->cap = cap;
    }
    uint32_t len = (uint32_t)n;
    memcpy(r->data + r->len, &user, sizeof user);
    memcpy(r->data + r->len + sizeof user, &len, sizeof len);
    memcpy(r->data + r->len + sizeof user + sizeof len, frame, n);
    r->len = need;
}

/* Writes frame to every connection of the user in `slot`, except `except`:
 * this loop's directly, other loops' through their inboxes. */
static void deliver(struct loop *l, long slot, int64_t user, const char *frame, size_t n,
                    const struct conn *except)
{
    if (slot < 0) return;
    for (int t = 0; t < thread_count; t++) {
        struct conn *c = users_head(slot, t);
        if (!c) continue;
        if (t != l->index) {
            records_append(&l->staged[t], user, frame, n);
            continue;
        }
        for (; c; c = c->next)
            if (c != except) conn_write(l, c, frame, n);
    }
}

/* Hands each loop its batch: one lock and at most one eventfd write per
 * target per epoll round. */
static void flush_staged(struct loop *l)
{
    for (int t = 0; t < thread_count; t++) {
        struct records *s = &l->staged[t];
        if (s->len == 0) continue;
        struct loop *to = &loops[t];
        pthread_mutex_lock(&to->inbox_lock);
        bool was_empty = to->inbox.len == 0;
        size_t need = to->inbox.len + s->len;
        if (need > to->inbox.cap && need <= MAX_INBOX) {
            size_t cap = to->inbox.cap * 2 > need ? to->inbox.cap * 2 : need;
            char *grown = realloc(to->inbox.data, cap);
            if (grown) {
                to->inbox.data = grown;
                to->inbox.cap = cap;
            }
        }
        if (need <= to->inbox.cap) {
            memcpy(to->inbox.data + to->inbox.len, s->data, s->len);
            to->inbox.len = need;
        } else {
            to->inbox_dropped++; /* the target loop is MAX_INBOX behind */
        }
        pthread_mutex_unlock(&to->inbox_lock);
        s->len = 0;
        if (was_empty) {
            uint64_t one = 1;
            ssize_t ignored = write(to->inbox_event.fd, &one, sizeof one);
            (void)ignored;
        }
    }
}

static void drain_inbox(struct loop *l)
{
    uint64_t count;
    ssize_t ignored = read(l->inbox_event.fd, &count, sizeof count);
    (void)ignored;
    pthread_mutex_lock(&l->inbox_lock);
    struct records taken = l->inbox;
    l->inbox = l->drained;
    l->inbox.len = 0;
    pthread_mutex_unlock(&l->inbox_lock);

    for (size_t at = 0; at < taken.len;) {
        int64_t user;
        uint32_t n;
        memcpy(&user, taken.data + at, sizeof user);
        memcpy(&n, taken.data + at + sizeof user, sizeof n);
        at += sizeof user + sizeof n;
        long slot = users_find(user, false);
        if (slot >= 0)
            for (struct conn *c = users_head(slot, l->index); c; c = c->next)
                conn_write(l, c, taken.data + at, n);
        at += n;
    }
    taken.len = 0;
    l->drained = taken;
}

/* ------------------------------------------------------------------ JSON scanning */

/* Finds "key": and returns its value's span: a string's inside (escapes
 * left as they are, which is what an echo wants) or a bare token such as a
 * number. No JSON library: the first occurrence wins, which is right for
 * the flat requests tools/bench sends. Returns false if absent. */
static bool json_field(const char *p, size_t n, const char *key, const char **value, size_t *len,
                       bool *is_string)
{
    char pattern[32];
    size_t kn = strlen(key);
    pattern[0] = '"';
    memcpy(pattern + 1, key, kn);
    pattern[kn + 1] = '"';
    const char *end = p + n;
    const char *at = memmem(p, n, pattern, kn + 2);
    if (!at) return false;
    at += kn + 2;
    while (at < end && (*at == ' ' || *at == ':' || *at == '\t' || *at == '\n' || *at == '\r'))
        at++;
    if (at >= end) return false;
    *is_string = *at == '"';
    if (*is_string) {
        const char *s = ++at;
        while (at < end && *at != '"') at += *at == '\\' ? 2 : 1;
        if (at >= end) return false;
        *value = s;
        *len = (size_t)(at - s);
        return true;
    }
    const char *s = at;
    while (at < end && *at != ',' && *at != '}' && *at != ' ') at++;
    *value = s;
    *len = (size_t)(at - s);
    return true;
}

/* A positive decimal id, as a string or a number; 0 if anything else. */
static int64_t json_id(const char *p, size_t n, const char *key)
{
    const char *v;
    size_t len;
    bool is_string;
    if (!json_field(p, n, key, &v, &len, &is_string) || len == 0 || len > 18) return 0;
    int64_t id = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        id = id * 10 + (v[i] - '0');
    }
    return id;
}

/* A bounded appender for the few events the relay writes. */
struct out {
    char *p, *end;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if ((size_t)(o->end - o->p) < n) {
        o->overflow = true;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_id(struct out *o, uint64_t v)
{
    char digits[24];
    size_t i = sizeof digits;
    do digits[--i] = (char)('0' + v % 10);
    while (v /= 10);
    put(o, digits + i, sizeof digits - i);
}

/* Writes "key":"<value>" (the value is raw JSON string text), or "key":null. */
static void put_string_field(struct out *o, const char *key, const char *v, size_t n, bool present)
{
    put_str(o, key);
    if (!present) return put_str(o, "null");
    put(o, "\"", 1);
    put(o, v, n);
    put(o, "\"", 1);
}

/* ------------------------------------------------------------------ requests */

static void send_text(struct loop *l, struct conn *c, const struct out *o)
{
    if (o->overflow) return;
    size_t frame_len;
    char *frame = ws_frame(l->write_buf, (size_t)(o->p - (l->write_buf + 10)), 1, &frame_len);
    conn_write(l, c, frame, frame_len);
}

static struct out event_begin(struct loop *l)
{
    return (struct out){.p = l->write_buf + 10, .end = l->write_buf + WRITE_BUF};
}

static void users_remove(struct loop *l, struct conn *c)
{
    if (c->slot < 0) return;
    if (c->prev)
        c->prev->next = c->next;
    else
        users_set_head(c->slot, l->index, c->next);
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->slot = -1;
}

/* authenticate: the userId claim of the token's payload, read WITHOUT
 * verifying the signature (the relay measures sockets, not HMAC). */
static void handle_authenticate(struct loop *l, struct conn *c, const char *p, size_t n)
{
    const char *token, *request_id;
    size_t token_len, request_id_len;
    bool is_string;
    bool has_request_id =
        json_field(p, n, "requestId", &request_id, &request_id_len, &is_string) && is_string;
    int64_t user = 0;
    if (json_field(p, n, "token", &token, &token_len, &is_string)) {
        const char *dot1 = memchr(token, '.', token_len);
        const char *dot2 =
            dot1 ? memchr(dot1 + 1, '.', (size_t)(token + token_len - dot1 - 1)) : NULL;
        if (dot2) {
            char claims[TOKEN_PAYLOAD_MAX];
            size_t cn = base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), (uint8_t *)claims,
                                         sizeof claims);
            user = json_id(claims, cn, "userId");
            if (!user) user = json_id(claims, cn, "sub");
        }
    }

    struct out o = event_begin(l);
    if (!user) {
        put_str(&o, "{\"type\":\"auth_error\",\"code\":\"invalid_token\"}");
        return send_text(l, c, &o);
    }
    long slot = users_find(user, true);
    if (slot < 0) {
        put_str(&o, "{\"type\":\"auth_error\",\"code\":\"unavailable\"}"); /* table full */
        return send_text(l, c, &o);
    }
    users_remove(l, c);
    c->user_id = user;
    c->slot = slot;
    c->next = users_head(slot, l->index);
    if (c->next) c->next->prev = c;
    users_set_head(slot, l->index, c);

    put_str(&o, "{\"type\":\"auth_success\",");
    if (has_request_id) {
        put_string_field(&o, "\"requestId\":", request_id, request_id_len, true);
        put(&o, ",", 1);
    }
    put_str(&o, "\"userId\":\"");
    put_id(&o, (uint64_t)user);
    put_str(&o, "\",\"username\":\"u");
    put_id(&o, (uint64_t)user);
    put_str(&o, "\",\"clientId\":\"x\",\"expiresAt\":\"2099-01-01T00:00:00.000Z\"}");
    send_text(l, c, &o);
}

/* send_private_message: one message object, written twice -- to the
 * recipient's connections (and the sender's others, as chatd does) without
 * requestId, then to the sender with it. */
static void handle_private_message(struct loop *l, struct conn *c, const char *p, size_t n)
{
    const char *content, *client_id, *request_id;
    size_t content_len = 0, client_id_len = 0, request_id_len = 0;
    bool is_string;
    int64_t recipient = json_id(p, n, "recipientId");
    bool has_content = json_field(p, n, "content", &content, &content_len, &is_string) && is_string;
    bool has_client_id =
        json_field(p, n, "clientMessageId", &client_id, &client_id_len, &is_string) && is_string;
    bool has_request_id =
        json_field(p, n, "requestId", &request_id, &request_id_len, &is_string) && is_string;

    /* Ids unique across loops without a shared counter. */
    uint64_t message_id = ++l->messages * (uint64_t)thread_count + (uint64_t)l->index;
    struct out m = {.p = l->message_buf, .end = l->message_buf + WRITE_BUF};
    put_str(&m, "{\"messageId\":\"");
    put_id(&m, message_id);
    put_str(&m, "\",\"senderId\":\"");
    put_id(&m, (uint64_t)c->user_id);
    put_str(&m, "\",\"recipientId\":\"");
    put_id(&m, (uint64_t)recipient);
    put_str(&m, "\",");
    put_string_field(&m, "\"content\":", content, content_len, has_content);
    put(&m, ",", 1);
    put_string_field(&m, "\"clientMessageId\":", client_id, client_id_len, has_client_id);
    put(&m, "}", 1);
    if (m.overflow) return;
    size_t message_len = (size_t)(m.p - l->message_buf);

    struct out o = event_begin(l);
    put_str(&o, "{\"type\":\"new_message\",\"message\":");
    put(&o, l->message_buf, message_len);
    put(&o, "}", 1);
    if (!o.overflow) {
        size_t frame_len;
        char *frame = ws_frame(l->write_buf, (size_t)(o.p - (l->write_buf + 10)), 1, &frame_len);
        deliver(l, users_find(recipient, false), recipient, frame, frame_len, NULL);
        deliver(l, c->slot, c->user_id, frame, frame_len, c);
    }

    o = event_begin(l);
    put_str(&o, "{\"type\":\"new_message\",");
    if (has_request_id) {
        put_string_field(&o, "\"requestId\":", request_id, request_id_len, true);
        put(&o, ",", 1);
    }
    put_str(&o, "\"message\":");
    put(&o, l->message_buf, message_len);
    put(&o, "}", 1);
    send_text(l, c, &o);
}

/* send_group_message: not built yet. When groups are benchmarked, the plan
 * is a fixed group of 50 members (e.g. group g = users 50g+1 .. 50g+50):
 * build the new_message frame once, deliver() it to each member -- one
 * write per delivery -- and ack the sender, exactly as for a DM. */
static void handle_group_message(struct loop *l, struct conn *c, const char *p, size_t n)
{
    (void)p, (void)n;
    struct out o = event_begin(l);
    put_str(&o, "{\"type\":\"error\",\"code\":\"not_implemented\"}");
    send_text(l, c, &o);
}

/* {"type":"ping"} (protocol §3: clients send one every 30 s) -> pong. */
static void handle_ping(struct loop *l, struct conn *c, const char *p, size_t n)
{
    const char *request_id;
    size_t request_id_len;
    bool is_string;
    struct out o = event_begin(l);
    put_str(&o, "{\"type\":\"pong\"");
    if (json_field(p, n, "requestId", &request_id, &request_id_len, &is_string) && is_string) {
        put(&o, ",", 1);
        put_string_field(&o, "\"requestId\":", request_id, request_id_len, true);
    }
    put(&o, "}", 1);
    send_text(l, c, &o);
}

static void handle_text(struct loop *l, struct conn *c, const char *p, size_t n)
{
    const char *type;
    size_t len;
    bool is_string;
    if (!json_field(p, n, "type", &type, &len, &is_string) || !is_string) return;
#define IS(name) (len == sizeof name - 1 && memcmp(type, name, len) == 0)
    if (IS("send_private_message"))
        handle_private_message(l, c, p, n);
    else if (IS("authenticate"))
        handle_authenticate(l, c, p, n);
    else if (IS("send_group_message"))
        handle_group_message(l, c, p, n);
    else if (IS("ping"))
        handle_ping(l, c, p, n);
#undef IS
    /* Anything else is ignored: the relay answers only what it measures. */
}

/* ------------------------------------------------------------------ WebSocket input */

static void ws_unmask(char *p, size_t n, const uint8_t key[4])
{
    uint64_t k8;
    uint8_t k[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    memcpy(&k8, k, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= k8;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++) p[i] ^= (char)key[i & 3];
}

/* Consumes whole frames from p[0..n); returns the bytes used. Continuation
 * frames are not handled: tools/bench never fragments, so a fragment closes
 * the connection rather than pretend. */
static size_t ws_consume(struct loop *l, struct conn *c, char *p, size_t n)
{
    size_t used = 0;
    while (!c->closing && n - used >= 2) {
        uint8_t *f = (uint8_t *)p + used;
        size_t avail = n - used;
        int fin = f[0] & 0x80, opcode = f[0] & 0x0f, masked = f[1] & 0x80;
        uint64_t len = f[1] & 0x7f;
        size_t header = 2;
        if (len == 126) {
            if (avail < 4) break;
            len = (uint64_t)f[2] << 8 | f[3];
            header = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | f[2 + i];
            header = 10;
        }
        if (len > MAX_PAYLOAD || !fin || opcode == 0) {
            conn_fail(c);
            break;
        }
        const uint8_t *key = f + header;
        if (masked) header += 4;
        if (avail < header + len) break;
        char *payload = (char *)f + header;
        if (masked) ws_unmask(payload, len, key);
        used += header + len;

        if (opcode == 1) {
            handle_text(l, c, payload, len);
        } else if (opcode == 9 || opcode == 8) {
            /* Ping -> pong with the same payload; close -> close echoing the
             * status code (RFC 6455 §5.5.1), then hang up. */
            size_t echo = opcode == 8 ? (len >= 2 ? 2 : 0) : (len <= 125 ? len : 0);
            memcpy(l->write_buf + 10, payload, echo);
            size_t frame_len;
            char *frame = ws_frame(l->write_buf, echo, opcode == 9 ? 10 : 8, &frame_len);
            conn_write(l, c, frame, frame_len);
            if (opcode == 8) conn_fail(c);
        }
        /* Binary frames and pongs are ignored. */
    }
    return used;
}

/* ------------------------------------------------------------------ HTTP upgrade */

/* Answers any request with 101 if it carries Sec-WebSocket-Key (the path is
 * not checked: /ws or not, the relay rejects nothing it can answer). */
static size_t http_consume(struct loop *l, struct conn *c, char *p, size_t n)
{
    char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) {
        if (n >= MAX_HEADER) conn_fail(c);
        return 0;
    }
    const char *key = NULL;
    size_t key_len = 0;
    for (char *line = memchr(p, '\n', (size_t)(end - p)); line && line < end;
         line = memchr(line, '\n', (size_t)(end - line))) {
        line++;
        if ((size_t)(end - line) > 18 && strncasecmp(line, "sec-websocket-key:", 18) == 0) {
            key = line + 18;
            while (*key == ' ') key++;
            const char *e = key;
            while (e < end && *e != '\r' && *e != ' ') e++;
            key_len = (size_t)(e - key);
        }
    }
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    if (!key || key_len == 0 || key_len > 64) {
        static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        conn_write(l, c, bad, sizeof bad - 1);
        conn_fail(c);
        return n;
    }
    /* RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). */
    char joined[64 + sizeof guid];
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, guid, sizeof guid - 1);
    uint8_t digest[20];
    sha1(joined, key_len + sizeof guid - 1, digest);
    char accept[32];
    base64_encode(digest, sizeof digest, accept);

    struct out o = {.p = l->write_buf, .end = l->write_buf + WRITE_BUF};
    put_str(&o, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
    put_str(&o, accept);
    put_str(&o, "\r\n\r\n");
    conn_write(l, c, l->write_buf, (size_t)(o.p - l->write_buf));
    c->upgraded = true;
    return (size_t)(end + 4 - p);
}

/* ------------------------------------------------------------------ the loop */

static void conn_free(struct loop *l, struct conn *c)
{
    if (c->dirty)
        for (size_t i = 0; i < l->dirty_len; i++)
            if (l->dirty[i] == c) l->dirty[i] = NULL;
    users_remove(l, c);
    close(c->h.fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* One read per readable event into the loop's buffer, behind whatever
 * partial frame the connection kept from last time. */
static void conn_readable(struct loop *l, struct conn *c)
{
    size_t have = c->in_len;
    if (have) memcpy(l->read_buf, c->in, have);
    ssize_t r = recv(c->h.fd, l->read_buf + have, READ_BUF - have, 0);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        return conn_free(l, c);
    }
    have += (size_t)r;
    size_t used = 0;
    if (!c->upgraded) used = http_consume(l, c, l->read_buf, have);
    if (c->upgraded) used += ws_consume(l, c, l->read_buf + used, have - used);
    if (c->closing) return; /* freed when epoll reports the hang-up */

    size_t rest = have - used;
    if (rest == 0) {
        free(c->in);
        c->in = NULL;
    } else {
        char *kept = realloc(c->in, rest);
        if (!kept) return conn_fail(c);
        c->in = kept;
        memcpy(c->in, l->read_buf + used, rest);
    }
    c->in_len = (uint32_t)rest;
}

static void accept_all(struct loop *l)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(l->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or EMFILE: the backlog waits */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->h = (struct handle){KIND_CONN, fd};
        c->slot = -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
        }
    }
}

static void *loop_run(void *arg)
{
    struct loop *l = arg;
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(l->epfd, events, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            struct handle *h = events[i].data.ptr;
            if (h->kind == KIND_LISTENER) {
                accept_all(l);
                continue;
            }
            if (h->kind == KIND_INBOX) {
                drain_inbox(l);
                continue;
            }
            struct conn *c = (struct conn *)h;
            uint32_t e = events[i].events;
            if (c->closing || (e & (EPOLLHUP | EPOLLERR))) {
                conn_free(l, c);
                continue;
            }
            if (e & EPOLLOUT) conn_writable(l, c);
            if (e & EPOLLIN) conn_readable(l, c);
        }
        flush_dirty(l);
        flush_staged(l);
    }
    return NULL;
}

/* ------------------------------------------------------------------ start-up */

static int listen_on(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int loop_init(struct loop *l, int index, const char *host, int port)
{
    l->index = index;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->listener = (struct handle){KIND_LISTENER, listen_on(host, port)};
    l->inbox_event = (struct handle){KIND_INBOX, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    l->read_buf = malloc(READ_BUF);
    l->message_buf = malloc(WRITE_BUF);
    l->write_buf = malloc(WRITE_BUF);
    pthread_mutex_init(&l->inbox_lock, NULL);
    if (l->epfd < 0 || l->listener.fd < 0 || l->inbox_event.fd < 0 || !l->read_buf ||
        !l->message_buf || !l->write_buf)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->listener};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->listener.fd, &ev) != 0) return -1;
    ev.data.ptr = &l->inbox_event;
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->inbox_event.fd, &ev);
}

static void usage(void)
{
    fprintf(stderr, "usage: relay [--host 127.0.0.1] [--port 9100] [--threads N]"
                    " [--max-users 65536]\n"
                    "             [--batch-writes]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 9100;
    long max_users = 65536;
    thread_count = (int)sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--batch-writes") == 0) {
            batch_writes = true;
            continue;
        }
        if (i + 1 >= argc) usage();
        const char *value = argv[++i];
        if (strcmp(name, "--host") == 0)
            host = value;
        else if (strcmp(name, "--port") == 0)
            port = atoi(value);
        else if (strcmp(name, "--threads") == 0)
            thread_count = atoi(value);
        else if (strcmp(name, "--max-users") == 0)
            max_users = atol(value);
        else
            usage();
    }
    if (thread_count < 1 || thread_count > MAX_THREADS || port < 1 || port > 65535 || max_users < 1)
        usage();
    signal(SIGPIPE, SIG_IGN);

    /* At most half full, so probes stay short. */
    size_t slots = 1;
    while (slots < (size_t)max_users * 2) slots *= 2;
    user_mask = slots - 1;
    user_stride = 1 + (size_t)thread_count;
    user_table = calloc(slots * user_stride, sizeof *user_table);
    if (!user_table) {
        fprintf(stderr, "relay: no memory for %ld users\n", max_users);
        return 1;
    }
    for (int i = 0; i < thread_count; i++) {
        if (loop_init(&loops[i], i, host, port) != 0) {
            fprintf(stderr, "relay: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
            return 1;
        }
    }
    fprintf(stderr, "relay: listening on %s:%d with %d threads%s\n", host, port, thread_count,
            batch_writes ? ", batched writes" : "");
    for (int i = 1; i < thread_count; i++)
        pthread_create(&loops[i].thread, NULL, loop_run, &loops[i]);
    loop_run(&loops[0]);
    return 0;
}
