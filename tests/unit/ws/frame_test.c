/* Tests for src/ws/frame.c. Every decoder case runs twice, once with the whole input at hand and
 * once fed one byte at a time (a growing prefix: nothing may be consumed or changed until a frame
 * is complete, and an error must show as soon as the bytes that prove it have arrived). */
#include "test.h"

#include "ws/frame.h"
#include "ws/utf8.h"

#include <stdio.h>
#include <stdlib.h>

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

#define DEFAULT_MAX 65536

/* ---------------------------------------------------------------------------------------------
 * Building client input */

struct stream {
    uint8_t *bytes;
    size_t len;
    size_t cap;
};

enum frame_flags { UNMASKED = 1, LEN16 = 2, LEN64 = 4 };

static void stream_put(struct stream *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->bytes = realloc(s->bytes, s->cap);
        if (!s->bytes) abort();
    }
    if (n) memcpy(s->bytes + s->len, p, n);
    s->len += n;
}

static void stream_free(struct stream *s)
{
    free(s->bytes);
    *s = (struct stream){0};
}

/* Appends one client frame: first is FIN | RSV bits | opcode; the payload is masked with a key
 * that changes from frame to frame, unless flags has UNMASKED. LEN16/LEN64 force a longer length
 * encoding than needed (or a 16/64-bit length where it is needed). */
static void add_frame_raw(struct stream *s, uint8_t first, const void *payload, size_t n, int flags)
{
    uint8_t header[14];
    size_t h = 0;
    uint8_t mask_bit = (flags & UNMASKED) ? 0 : 0x80;
    header[h++] = first;
    if (n <= 125 && !(flags & (LEN16 | LEN64))) {
        header[h++] = (uint8_t)(mask_bit | n);
    } else if (n <= 0xFFFF && !(flags & LEN64)) {
        header[h++] = mask_bit | 126;
        header[h++] = (uint8_t)(n >> 8);
        header[h++] = (uint8_t)n;
    } else {
        header[h++] = mask_bit | 127;
        for (int i = 0; i < 8; i++) header[h++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    uint8_t key[4] = {(uint8_t)(0x37 + s->len), 0xfa, (uint8_t)(0x21 ^ s->len), 0x3d};
    if (mask_bit) {
        memcpy(header + h, key, 4);
        h += 4;
    }
    stream_put(s, header, h);
    size_t start = s->len;
    stream_put(s, payload, n);
    if (mask_bit)
        for (size_t i = 0; i < n; i++) s->bytes[start + i] ^= key[i % 4];
}

static void add_frame(struct stream *s, uint8_t first, const char *payload)
{
    add_frame_raw(s, first, payload, strlen(payload), 0);
}

/* A close frame with a code and a reason. */
static void add_close(struct stream *s, uint16_t code, const char *reason)
{
    uint8_t payload[2 + 125];
    size_t n = strlen(reason);
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    memcpy(payload + 2, reason, n);
    add_frame_raw(s, FIN | WS_OP_CLOSE, payload, 2 + n, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Running the decoder */

#define MAX_EVENTS 32

struct recorded {
    enum ws_event_type type;
    uint8_t *data;
    size_t len;
    uint16_t close_code;
    bool compressed;
};

struct result {
    int rc;
    size_t error_at; /* bytes of input at hand when the error was reported */
    size_t consumed; /* bytes consumed in all */
    size_t count;
    struct recorded events[MAX_EVENTS];
};

static void result_free(struct result *r)
{
    for (size_t i = 0; i < r->count; i++) free(r->events[i].data);
}

static void record(int line, struct result *r, const ws_event *ev)
{
    if (ev->type == WS_EVENT_NONE) return;
    if (r->count == MAX_EVENTS) {
        test_fail(__FILE__, line, "too many events");
        return;
    }
    struct recorded *e = &r->events[r->count++];
    e->type = ev->type;
    e->len = ev->len;
    e->data = malloc(ev->len + 1);
    if (!e->data) abort();
    if (ev->len) memcpy(e->data, ev->data, ev->len);
    e->close_code = ev->close_code;
    e->compressed = ev->compressed;
}

struct options {
    size_t max_message;
    bool allow_rsv1;
};

static void decoder_start(ws_decoder *d, const struct options *o)
{
    ws_decoder_init(d, o->max_message);
    d->allow_rsv1 = o->allow_rsv1;
}

/* The whole input at hand: decode frame after frame until an error or an incomplete tail. */
static void run_whole(int line, const struct options *o, const struct stream *s, struct result *r)
{
    ws_decoder d;
    decoder_start(&d, o);
    uint8_t *copy = malloc(s->len ? s->len : 1);
    if (!copy) abort();
    memcpy(copy, s->bytes, s->len);
    size_t off = 0;
    while (off < s->len) {
        size_t consumed = 99;
        ws_event ev;
        r->rc = ws_decode(&d, copy + off, s->len - off, &consumed, &ev);
        if (r->rc != 0) {
            r->error_at = s->len;
            if (consumed != 0 || ev.type != WS_EVENT_NONE)
                test_fail(__FILE__, line, "error with consumed %zu, event %d", consumed, ev.type);
            break;
        }
        if (consumed == 0) break;
        record(line, r, &ev);
        off += consumed;
    }
    r->consumed = off;
    ws_decoder_free(&d);
    free(copy);
}

/* One byte at a time. Small inputs get an exact-size copy of the unconsumed bytes for each call,
 * so that the sanitizer sees any read past them, and are checked to be unchanged by a call that
 * consumed nothing. */
static void run_bytewise(int line, const struct options *o, const struct stream *s,
                         struct result *r)
{
    bool small = s->len <= 4096;
    ws_decoder d;
    decoder_start(&d, o);
    uint8_t *big = small ? NULL : malloc(s->len);
    size_t off = 0;
    for (size_t have = 1; have <= s->len; have++) {
        size_t n = have - off;
        uint8_t *window;
        if (small) {
            window = malloc(n);
            if (!window) abort();
            memcpy(window, s->bytes + off, n);
        } else {
            big[have - 1] = s->bytes[have - 1];
            window = big + off;
        }
        size_t consumed = 99;
        ws_event ev;
        r->rc = ws_decode(&d, window, n, &consumed, &ev);
        if (r->rc != 0) {
            r->error_at = have;
            if (consumed != 0 || ev.type != WS_EVENT_NONE)
                test_fail(__FILE__, line, "error with consumed %zu, event %d", consumed, ev.type);
        } else if (consumed == 0) {
            if (ev.type != WS_EVENT_NONE) test_fail(__FILE__, line, "event without a frame");
            if (small && memcmp(window, s->bytes + off, n) != 0)
                test_fail(__FILE__, line, "input changed at %zu bytes without a frame", have);
        } else {
            /* The frame became complete with the byte just added, and not before. */
            if (consumed != n)
                test_fail(__FILE__, line, "consumed %zu of %zu at %zu bytes", consumed, n, have);
            record(line, r, &ev);
            off += consumed;
        }
        if (small) free(window);
        if (r->rc != 0) break;
    }
    r->consumed = off;
    ws_decoder_free(&d);
    free(big);
}

/* What a test expects: a list of events ended by END. */
struct expect {
    enum ws_event_type type;
    const char *data;
    size_t len;
    uint16_t close_code;
    bool compressed;
};

#define EV_TEXT(s)                                                                                 \
    {                                                                                              \
        WS_EVENT_TEXT, s, sizeof s - 1, 0, false                                                   \
    }
#define EV_DEFLATED(s)                                                                             \
    {                                                                                              \
        WS_EVENT_TEXT, s, sizeof s - 1, 0, true                                                    \
    }
#define EV_PING(s)                                                                                 \
    {                                                                                              \
        WS_EVENT_PING, s, sizeof s - 1, 0, false                                                   \
    }
#define EV_PONG(s)                                                                                 \
    {                                                                                              \
        WS_EVENT_PONG, s, sizeof s - 1, 0, false                                                   \
    }
#define EV_CLOSE(code, s)                                                                          \
    {                                                                                              \
        WS_EVENT_CLOSE, s, sizeof s - 1, code, false                                               \
    }
#define END                                                                                        \
    {                                                                                              \
        WS_EVENT_NONE, NULL, 0, 0, false                                                           \
    }

static void compare(int line, const char *mode, const struct result *r, const struct stream *s,
                    int rc, long error_at, const struct expect *want)
{
    if (r->rc != rc) test_fail(__FILE__, line, "%s: rc %d, expected %d", mode, r->rc, rc);
    if (rc != 0 && error_at >= 0 && r->error_at != (size_t)error_at)
        test_fail(__FILE__, line, "%s: error at %zu bytes, expected %ld", mode, r->error_at,
                  error_at);
    if (rc == 0 && r->consumed != s->len)
        test_fail(__FILE__, line, "%s: consumed %zu of %zu", mode, r->consumed, s->len);
    size_t n = 0;
    while (want[n].type != WS_EVENT_NONE) n++;
    if (r->count != n) {
        test_fail(__FILE__, line, "%s: %zu events, expected %zu", mode, r->count, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct recorded *got = &r->events[i];
        const struct expect *e = &want[i];
        if (got->type != e->type || got->len != e->len || memcmp(got->data, e->data, e->len) != 0 ||
            got->compressed != e->compressed ||
            (e->type == WS_EVENT_CLOSE && got->close_code != e->close_code))
            test_fail(__FILE__, line,
                      "%s: event %zu is type %d len %zu code %u compressed %d \"%.*s\"", mode, i,
                      got->type, got->len, got->close_code, got->compressed,
                      (int)(got->len > 60 ? 60 : got->len), (const char *)got->data);
    }
}

/* Runs the input both ways and checks the outcome: rc, and for an error the number of bytes at
 * hand when it was reported one byte at a time (-1: not checked), and the events before it. */
static void expect_stream(int line, const struct options *o, const struct stream *s, int rc,
                          long error_at, const struct expect *want)
{
    struct result whole = {0}, bytewise = {0};
    run_whole(line, o, s, &whole);
    compare(line, "whole", &whole, s, rc, -1, want);
    run_bytewise(line, o, s, &bytewise);
    compare(line, "bytewise", &bytewise, s, rc, error_at, want);
    result_free(&whole);
    result_free(&bytewise);
}

static const struct options defaults = {DEFAULT_MAX, false};
static const struct options deflate = {DEFAULT_MAX, true};

#define EXPECT_WITH(o, s, rc, at, ...)                                                             \
    do {                                                                                           \
        const struct expect want_[] = {__VA_ARGS__};                                               \
        expect_stream(__LINE__, (o), (s), (rc), (at), want_);                                      \
    } while (0)
#define EXPECT(s, rc, at, ...) EXPECT_WITH(&defaults, s, rc, at, __VA_ARGS__)

/* ---------------------------------------------------------------------------------------------
 * Data frames */

TEST(single_text_frame)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_TEXT, "Hello");
    EXPECT(&s, 0, -1, EV_TEXT("Hello"), END);
    stream_free(&s);
}

TEST(empty_text_frame)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_TEXT, "");
    EXPECT(&s, 0, -1, EV_TEXT(""), END);
    stream_free(&s);
}

TEST(empty_input_consumes_nothing)
{
    ws_decoder d;
    ws_decoder_init(&d, DEFAULT_MAX);
    uint8_t byte = 0;
    size_t consumed = 99;
    ws_event ev;
    CHECK_INT(ws_decode(&d, &byte, 0, &consumed, &ev), 0);
    CHECK_INT(consumed, 0);
    CHECK_INT(ev.type, WS_EVENT_NONE);
    ws_decoder_free(&d);
}

TEST(several_frames_in_one_buffer)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_TEXT, "{\"type\":\"ping\"}");
    add_frame(&s, FIN | WS_OP_PING, "p1");
    add_frame(&s, FIN | WS_OP_TEXT, "second");
    add_frame(&s, FIN | WS_OP_PONG, "");
    add_frame(&s, FIN | WS_OP_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    add_close(&s, 1000, "done");
    EXPECT(&s, 0, -1, EV_TEXT("{\"type\":\"ping\"}"), EV_PING("p1"), EV_TEXT("second"), EV_PONG(""),
           EV_TEXT("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), EV_CLOSE(1000, "done"), END);
    stream_free(&s);
}

TEST(incomplete_tail_is_left)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_TEXT, "one");
    add_frame(&s, FIN | WS_OP_TEXT, "two");
    struct result r = {0};
    struct stream cut = {s.bytes, s.len - 1, s.cap};
    run_whole(__LINE__, &defaults, &cut, &r);
    CHECK_INT(r.rc, 0);
    CHECK_INT(r.count, 1);
    CHECK_INT(r.consumed, 2 + 4 + 3);
    result_free(&r);
    stream_free(&s);
}

TEST(fragmented_message)
{
    struct stream s = {0};
    add_frame(&s, WS_OP_TEXT, "Hel");
    add_frame(&s, WS_OP_CONTINUATION, "lo ");
    add_frame(&s, WS_OP_CONTINUATION, "");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "world");
    add_frame(&s, FIN | WS_OP_TEXT, "next");
    EXPECT(&s, 0, -1, EV_TEXT("Hello world"), EV_TEXT("next"), END);
    stream_free(&s);
}

TEST(fragmented_empty_message)
{
    struct stream s = {0};
    add_frame(&s, WS_OP_TEXT, "");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "");
    EXPECT(&s, 0, -1, EV_TEXT(""), END);
    stream_free(&s);
}

/* "Control frames (see Section 5.5) MAY be injected in the middle of a fragmented message." */
TEST(fragmentation_with_interleaved_control_frames)
{
    struct stream s = {0};
    add_frame(&s, WS_OP_TEXT, "Hel");
    add_frame(&s, FIN | WS_OP_PING, "are you there");
    add_frame(&s, WS_OP_CONTINUATION, "lo ");
    add_frame(&s, FIN | WS_OP_PONG, "pong");
    add_frame(&s, FIN | WS_OP_PING, "");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "world");
    add_close(&s, 1001, "");
    EXPECT(&s, 0, -1, EV_PING("are you there"), EV_PONG("pong"), EV_PING(""),
           EV_TEXT("Hello world"), EV_CLOSE(1001, ""), END);
    stream_free(&s);
}

TEST(close_in_the_middle_of_a_fragmented_message)
{
    struct stream s = {0};
    add_frame(&s, WS_OP_TEXT, "Hel");
    add_close(&s, 1000, "bye");
    EXPECT(&s, 0, -1, EV_CLOSE(1000, "bye"), END);
    stream_free(&s);
}

/* The reassembly buffer exists only while a fragmented message is in progress: it is freed by
 * the call after the one that handed the message out. */
TEST(reassembly_buffer_is_freed_after_the_message)
{
    struct stream s = {0};
    add_frame(&s, WS_OP_TEXT, "Hel");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "lo");
    ws_decoder d;
    ws_decoder_init(&d, DEFAULT_MAX);
    size_t consumed;
    ws_event ev;
    CHECK(d.message.data == NULL);
    CHECK_INT(ws_decode(&d, s.bytes, s.len, &consumed, &ev), 0);
    CHECK_INT(ev.type, WS_EVENT_NONE);
    CHECK(d.message.data != NULL);
    size_t off = consumed;
    CHECK_INT(ws_decode(&d, s.bytes + off, s.len - off, &consumed, &ev), 0);
    CHECK_INT(ev.type, WS_EVENT_TEXT);
    CHECK_INT(ev.len, 5);
    CHECK_MEM(ev.data, "Hello", 5);
    CHECK(ev.data == d.message.data);
    CHECK_INT(ws_decode(&d, s.bytes + s.len, 0, &consumed, &ev), 0);
    CHECK(d.message.data == NULL);
    ws_decoder_free(&d);
    stream_free(&s);
}

TEST(single_frame_data_points_into_the_input)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_TEXT, "abc");
    ws_decoder d;
    ws_decoder_init(&d, DEFAULT_MAX);
    size_t consumed;
    ws_event ev;
    CHECK_INT(ws_decode(&d, s.bytes, s.len, &consumed, &ev), 0);
    CHECK(ev.data == s.bytes + 6);
    CHECK_MEM(s.bytes + 6, "abc", 3); /* unmasked in place */
    CHECK(d.message.data == NULL);
    ws_decoder_free(&d);
    stream_free(&s);
}

TEST(free_in_the_middle_of_a_message_and_zeroed_decoder)
{
    struct stream s = {0};
    add_frame(&s, WS_OP_TEXT, "partial");
    ws_decoder d;
    ws_decoder_init(&d, DEFAULT_MAX);
    size_t consumed;
    ws_event ev;
    CHECK_INT(ws_decode(&d, s.bytes, s.len, &consumed, &ev), 0);
    CHECK(d.message.data != NULL);
    ws_decoder_free(&d); /* the sanitizer reports a leak otherwise */
    CHECK(d.message.data == NULL);
    ws_decoder zeroed = {0};
    ws_decoder_free(&zeroed);
    stream_free(&s);
}

TEST(binary_frame_closes_1003)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_BINARY, "\x01\x02");
    EXPECT(&s, -1003, 1, END);
    stream_free(&s);

    add_frame(&s, WS_OP_BINARY, "first fragment");
    EXPECT(&s, -1003, 1, END);
    stream_free(&s);

    add_frame(&s, FIN | WS_OP_TEXT, "ok");
    add_frame(&s, FIN | WS_OP_BINARY, "");
    EXPECT(&s, -1003, 9, EV_TEXT("ok"), END);
    stream_free(&s);
}

/* ---------------------------------------------------------------------------------------------
 * Protocol errors (1002) */

/* "The server MUST close the connection upon receiving a frame that is not masked." */
TEST(unmasked_frame)
{
    struct stream s = {0};
    add_frame_raw(&s, FIN | WS_OP_TEXT, "hello", 5, UNMASKED);
    EXPECT(&s, -1002, 2, END);
    stream_free(&s);

    add_frame_raw(&s, FIN | WS_OP_PING, "", 0, UNMASKED);
    EXPECT(&s, -1002, 2, END);
    stream_free(&s);
}

TEST(reserved_bits)
{
    static const uint8_t bits[] = {RSV1, RSV2, RSV3, RSV1 | RSV2, RSV2 | RSV3};
    for (size_t i = 0; i < sizeof bits; i++) {
        struct stream s = {0};
        add_frame(&s, FIN | bits[i] | WS_OP_TEXT, "x");
        EXPECT(&s, -1002, 1, END);
        /* permessage-deflate defines RSV1 only */
        if (bits[i] != RSV1) EXPECT_WITH(&deflate, &s, -1002, 1, END);
        stream_free(&s);
    }
}

TEST(reserved_opcodes)
{
    static const uint8_t opcodes[] = {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof opcodes; i++) {
        struct stream s = {0};
        add_frame(&s, FIN | opcodes[i], "");
        EXPECT(&s, -1002, 1, END);
        stream_free(&s);
        /* also in the middle of a fragmented message */
        add_frame(&s, WS_OP_TEXT, "a");
        add_frame(&s, opcodes[i], "b");
        EXPECT(&s, -1002, 8, END);
        stream_free(&s);
    }
}

/* "Control frames themselves MUST NOT be fragmented." */
TEST(fragmented_control_frames)
{
    static const uint8_t opcodes[] = {WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
    for (size_t i = 0; i < sizeof opcodes; i++) {
        struct stream s = {0};
        add_frame(&s, opcodes[i], "");
        EXPECT(&s, -1002, 1, END);
        stream_free(&s);
    }
}

/* "All control frames MUST have a payload length of 125 bytes or less" */
TEST(control_payload_over_125)
{
    char payload[127];
    memset(payload, 'p', sizeof payload);
    static const uint8_t opcodes[] = {WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
    for (size_t i = 0; i < sizeof opcodes; i++) {
        struct stream s = {0};
        add_frame_raw(&s, FIN | opcodes[i], payload, 126, 0);
        EXPECT(&s, -1002, 2, END);
        stream_free(&s);
        /* even a small payload announced with a 16-bit length */
        add_frame_raw(&s, FIN | opcodes[i], "\x03\xe8", 2, LEN16);
        EXPECT(&s, -1002, 2, END);
        stream_free(&s);
    }
    struct stream s = {0};
    add_frame_raw(&s, FIN | WS_OP_PING, payload, 125, 0);
    struct expect want[] = {{WS_EVENT_PING, payload, 125, 0, false}, END};
    expect_stream(__LINE__, &defaults, &s, 0, -1, want);
    stream_free(&s);
}

TEST(continuation_with_nothing_to_continue)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_CONTINUATION, "orphan");
    EXPECT(&s, -1002, 1, END);
    stream_free(&s);

    add_frame(&s, WS_OP_CONTINUATION, "orphan");
    EXPECT(&s, -1002, 1, END);
    stream_free(&s);

    /* after a message that has ended */
    add_frame(&s, WS_OP_TEXT, "a");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "b");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "c");
    EXPECT(&s, -1002, 15, EV_TEXT("ab"), END);
    stream_free(&s);

    /* after a single-frame message */
    add_frame(&s, FIN | WS_OP_TEXT, "a");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "b");
    EXPECT(&s, -1002, 8, EV_TEXT("a"), END);
    stream_free(&s);
}

TEST(new_message_while_fragmented)
{
    struct stream s = {0};
    add_frame(&s, WS_OP_TEXT, "first");
    add_frame(&s, FIN | WS_OP_TEXT, "second");
    EXPECT(&s, -1002, 12, END);
    stream_free(&s);

    add_frame(&s, WS_OP_TEXT, "first");
    add_frame(&s, FIN | WS_OP_BINARY, "second");
    EXPECT(&s, -1002, 12, END);
    stream_free(&s);
}

/* "If 127, the following 8 bytes interpreted as a 64-bit unsigned integer (the most significant
 * bit MUST be 0) are the payload length." */
TEST(length_with_top_bit_set)
{
    struct stream s = {0};
    static const uint8_t frame[] = {FIN | WS_OP_TEXT,
                                    0x80 | 127,
                                    0x80,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    5,
                                    1,
                                    2,
                                    3,
                                    4,
                                    'h',
                                    'e',
                                    'l',
                                    'l',
                                    'o'};
    stream_put(&s, frame, sizeof frame);
    EXPECT(&s, -1002, 10, END);
    stream_free(&s);

    static const uint8_t all_ones[] = {
        FIN | WS_OP_TEXT, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    stream_put(&s, all_ones, sizeof all_ones);
    EXPECT(&s, -1002, 10, END);
    stream_free(&s);
}

TEST(non_minimal_length_is_accepted)
{
    struct stream s = {0};
    add_frame_raw(&s, FIN | WS_OP_TEXT, "hi", 2, LEN16);
    add_frame_raw(&s, FIN | WS_OP_TEXT, "there", 5, LEN64);
    add_frame_raw(&s, WS_OP_TEXT, "a", 1, LEN64);
    add_frame_raw(&s, FIN | WS_OP_CONTINUATION, "b", 1, LEN16);
    EXPECT(&s, 0, -1, EV_TEXT("hi"), EV_TEXT("there"), EV_TEXT("ab"), END);
    stream_free(&s);
}

/* ---------------------------------------------------------------------------------------------
 * Close frames */

TEST(close_without_payload_reports_1005)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_CLOSE, "");
    EXPECT(&s, 0, -1, EV_CLOSE(1005, ""), END);
    stream_free(&s);
}

TEST(close_with_code_and_reason)
{
    struct stream s = {0};
    add_close(&s, 1000, "");
    EXPECT(&s, 0, -1, EV_CLOSE(1000, ""), END);
    stream_free(&s);

    add_close(&s, 4001, "bye \xe2\x82\xac");
    EXPECT(&s, 0, -1, EV_CLOSE(4001, "bye \xe2\x82\xac"), END);
    stream_free(&s);

    char reason[124];
    memset(reason, 'r', 123);
    reason[123] = 0;
    add_close(&s, 1001, reason);
    struct expect want[] = {{WS_EVENT_CLOSE, reason, 123, 1001, false}, END};
    expect_stream(__LINE__, &defaults, &s, 0, -1, want);
    stream_free(&s);
}

TEST(close_payload_of_one_byte)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_CLOSE, "\x03");
    EXPECT(&s, -1002, 7, END);
    stream_free(&s);
}

TEST(close_codes)
{
    static const uint16_t valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const uint16_t invalid[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                                       1016, 1100, 2000, 2999, 5000, 5001, 65535};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        struct stream s = {0};
        add_close(&s, valid[i], "why");
        struct expect want[] = {{WS_EVENT_CLOSE, "why", 3, valid[i], false}, END};
        expect_stream(__LINE__, &defaults, &s, 0, -1, want);
        stream_free(&s);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        struct stream s = {0};
        add_close(&s, invalid[i], "");
        EXPECT(&s, -1002, 8, END);
        stream_free(&s);
    }
}

TEST(close_reason_invalid_utf8)
{
    struct stream s = {0};
    add_close(&s, 1000, "bad \xed\xa0\x80 reason");
    EXPECT(&s, -1007, -1, END);
    stream_free(&s);

    add_close(&s, 1000, "cut \xe2\x82");
    EXPECT(&s, -1007, -1, END);
    stream_free(&s);
}

/* ---------------------------------------------------------------------------------------------
 * Lengths and the message bound (1009) */

static char *pattern(size_t n)
{
    char *p = malloc(n + 1);
    if (!p) abort();
    for (size_t i = 0; i < n; i++) p[i] = (char)('a' + i % 26);
    p[n] = 0;
    return p;
}

static void expect_one_text(int line, const struct options *o, size_t n, int flags)
{
    char *payload = pattern(n);
    struct stream s = {0};
    add_frame_raw(&s, FIN | WS_OP_TEXT, payload, n, flags);
    struct expect want[] = {{WS_EVENT_TEXT, payload, n, 0, false}, END};
    expect_stream(line, o, &s, 0, -1, want);
    stream_free(&s);
    free(payload);
}

TEST(lengths_7_16_64_bit)
{
    expect_one_text(__LINE__, &defaults, 125, 0); /* 7-bit */
    expect_one_text(__LINE__, &defaults, 126, 0); /* 16-bit */
    expect_one_text(__LINE__, &defaults, 65535, 0);
    expect_one_text(__LINE__, &defaults, 65536, 0); /* 64-bit, exactly MAX_FRAME_BYTES */
    struct options large = {1 << 20, false};
    expect_one_text(__LINE__, &large, 100000, 0);
}

TEST(frame_over_max_detected_from_the_header)
{
    struct options small = {10, false};
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_TEXT, "0123456789");
    EXPECT_WITH(&small, &s, 0, -1, EV_TEXT("0123456789"), END);
    stream_free(&s);

    add_frame(&s, FIN | WS_OP_TEXT, "0123456789a");
    EXPECT_WITH(&small, &s, -1009, 2, END);
    stream_free(&s);

    /* 16-bit and 64-bit lengths: reported once the length is known, before the mask key */
    char *payload = pattern(65537);
    add_frame_raw(&s, FIN | WS_OP_TEXT, payload, 200, 0);
    EXPECT_WITH(&small, &s, -1009, 4, END);
    stream_free(&s);

    add_frame_raw(&s, FIN | WS_OP_TEXT, payload, 65537, 0);
    EXPECT(&s, -1009, 10, END);
    stream_free(&s);

    /* a non-final fragment too */
    add_frame(&s, WS_OP_TEXT, "0123456789a");
    EXPECT_WITH(&small, &s, -1009, 2, END);
    stream_free(&s);
    free(payload);
}

TEST(reassembled_message_over_max)
{
    struct options small = {10, false};
    struct stream s = {0};
    add_frame(&s, WS_OP_TEXT, "01234");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "56789");
    EXPECT_WITH(&small, &s, 0, -1, EV_TEXT("0123456789"), END);
    stream_free(&s);

    add_frame(&s, WS_OP_TEXT, "01234");
    add_frame(&s, WS_OP_CONTINUATION, "5678");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "9a");
    EXPECT_WITH(&small, &s, -1009, 11 + 10 + 2, END);
    stream_free(&s);

    /* control frames between fragments do not count */
    add_frame(&s, WS_OP_TEXT, "01234");
    add_frame(&s, FIN | WS_OP_PING, "0123456789");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "56789");
    EXPECT_WITH(&small, &s, 0, -1, EV_PING("0123456789"), EV_TEXT("0123456789"), END);
    stream_free(&s);

    /* at the default bound: two 40000-byte fragments */
    char *payload = pattern(40000);
    add_frame_raw(&s, WS_OP_TEXT, payload, 40000, 0);
    add_frame_raw(&s, FIN | WS_OP_CONTINUATION, payload, 40000, 0);
    EXPECT(&s, -1009, 40008 + 4, END);
    stream_free(&s);
    free(payload);
}

/* ---------------------------------------------------------------------------------------------
 * UTF-8 (1007) */

TEST(invalid_utf8_in_a_single_frame_fails_fast)
{
    /* Autobahn 6.3.1: the surrogate's second byte is at payload offset 12, so the error shows
     * when 6 + 13 bytes have arrived, long before the frame is complete. */
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_TEXT,
              "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
              "edited, and a lot more text after it");
    EXPECT(&s, -1007, 19, END);
    stream_free(&s);

    static const char *const bad[] = {"\xff",         "\xc0\xaf",
                                      "\xe0\x80\xaf", "\xf4\x90\x80\x80",
                                      "\xed\xbf\xbf", "\xf8\x88\x80\x80\x80",
                                      "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        add_frame(&s, FIN | WS_OP_TEXT, bad[i]);
        EXPECT(&s, -1007, -1, END);
        stream_free(&s);
    }
}

TEST(text_ending_mid_character)
{
    struct stream s = {0};
    add_frame(&s, FIN | WS_OP_TEXT, "ok \xe2\x82");
    EXPECT(&s, -1007, 11, END);
    stream_free(&s);

    add_frame(&s, WS_OP_TEXT, "ok \xe2");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "\x82");
    EXPECT(&s, -1007, 10 + 7, END);
    stream_free(&s);
}

TEST(invalid_utf8_in_a_large_frame_fails_fast)
{
    char *payload = pattern(60000);
    payload[1000] = '\xff';
    struct stream s = {0};
    add_frame_raw(&s, FIN | WS_OP_TEXT, payload, 60000, 0);
    EXPECT(&s, -1007, 8 + 1001, END);
    stream_free(&s);
    free(payload);
}

/* Valid multi-byte text split into fragments at every byte position, and into three at every
 * pair of positions. */
TEST(utf8_split_across_fragments_everywhere)
{
    static const char *const texts[] = {
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", /* κόσμε */
        "\xe2\x82\xac",                                 /* € */
        "a\xf0\x9d\x84\x9e\x62",                        /* a𝄞b */
        "\xf4\x8f\xbf\xbf\xef\xbf\xbf\xc2\x80",         /* U+10FFFF U+FFFF U+0080 */
    };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        const char *text = texts[t];
        size_t n = strlen(text);
        struct expect want[] = {{WS_EVENT_TEXT, text, n, 0, false}, END};
        for (size_t i = 0; i <= n; i++) {
            struct stream s = {0};
            add_frame_raw(&s, WS_OP_TEXT, text, i, 0);
            add_frame_raw(&s, FIN | WS_OP_CONTINUATION, text + i, n - i, 0);
            expect_stream(__LINE__, &defaults, &s, 0, -1, want);
            stream_free(&s);
            for (size_t j = i; j <= n; j++) {
                add_frame_raw(&s, WS_OP_TEXT, text, i, 0);
                add_frame_raw(&s, FIN | WS_OP_PING, "", 0, 0);
                add_frame_raw(&s, WS_OP_CONTINUATION, text + i, j - i, 0);
                add_frame_raw(&s, FIN | WS_OP_CONTINUATION, text + j, n - j, 0);
                struct expect want3[] = {
                    {WS_EVENT_PING, "", 0, 0, false}, {WS_EVENT_TEXT, text, n, 0, false}, END};
                expect_stream(__LINE__, &defaults, &s, 0, -1, want3);
                stream_free(&s);
            }
        }
    }
}

/* Invalid text split into two fragments at every position: the error is reported as soon as the
 * offending byte has arrived, whichever fragment carries it, and before the last fragment. */
TEST(invalid_utf8_split_across_fragments_everywhere)
{
    static const struct {
        const char *text;
        size_t bad; /* index of the first byte that makes it invalid */
    } cases[] = {
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
         "edited",
         12},
        {"ab\xf4\x90\x80\x80", 3},
        {"\xe0\x80\xaf", 1},
        {"\xc0\x80", 0},
        {"x\xf0\x9d\x84\x9e\xff", 5},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *text = cases[c].text;
        size_t n = strlen(text);
        for (size_t i = 0; i <= n; i++) {
            struct stream s = {0};
            add_frame_raw(&s, WS_OP_TEXT, text, i, 0);
            size_t second = s.len;
            add_frame_raw(&s, WS_OP_CONTINUATION, text + i, n - i, 0);
            add_frame(&s, FIN | WS_OP_CONTINUATION, "never reached");
            /* where the offending byte sits in the stream: both headers are 6 bytes */
            size_t at = cases[c].bad < i ? 6 + cases[c].bad : second + 6 + (cases[c].bad - i);
            EXPECT(&s, -1007, (long)at + 1, END);
            stream_free(&s);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * RSV1 (permessage-deflate) */

TEST(rsv1_marks_a_compressed_message)
{
    struct stream s = {0};
    /* Not UTF-8, and not checked: the caller inflates and validates. */
    add_frame(&s, FIN | RSV1 | WS_OP_TEXT, "\xf2\x48\xcd\xc9\xc9\x07\xff");
    add_frame(&s, FIN | WS_OP_TEXT, "plain");
    EXPECT_WITH(&deflate, &s, 0, -1, EV_DEFLATED("\xf2\x48\xcd\xc9\xc9\x07\xff"), EV_TEXT("plain"),
                END);
    EXPECT(&s, -1002, 1, END);
    stream_free(&s);

    add_frame(&s, RSV1 | WS_OP_TEXT, "\xf2\x48\xcd");
    add_frame(&s, FIN | WS_OP_PING, "");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "\xc9\xc9\x07\xff");
    add_frame(&s, WS_OP_TEXT, "\xce");
    add_frame(&s, FIN | WS_OP_CONTINUATION, "\xba");
    EXPECT_WITH(&deflate, &s, 0, -1, EV_PING(""), EV_DEFLATED("\xf2\x48\xcd\xc9\xc9\x07\xff"),
                EV_TEXT("\xce\xba"), END);
    stream_free(&s);

    /* uncompressed text is still checked when deflate is on */
    add_frame(&s, FIN | WS_OP_TEXT, "\xff");
    EXPECT_WITH(&deflate, &s, -1007, 7, END);
    stream_free(&s);
}

/* RFC 7692 §6: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control frames and
 * non-first fragments of a data message." */
TEST(rsv1_only_on_the_first_frame_of_a_data_message)
{
    struct stream s = {0};
    add_frame(&s, RSV1 | WS_OP_TEXT, "a");
    add_frame(&s, FIN | RSV1 | WS_OP_CONTINUATION, "b");
    EXPECT_WITH(&deflate, &s, -1002, 8, END);
    stream_free(&s);

    static const uint8_t controls[] = {WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE};
    for (size_t i = 0; i < sizeof controls; i++) {
        add_frame(&s, FIN | RSV1 | controls[i], "");
        EXPECT_WITH(&deflate, &s, -1002, 1, END);
        stream_free(&s);
    }

    add_frame(&s, FIN | RSV1 | WS_OP_BINARY, "");
    EXPECT_WITH(&deflate, &s, -1003, 1, END);
    stream_free(&s);
}

/* ---------------------------------------------------------------------------------------------
 * Encoder */

TEST(frame_header_sizes)
{
    uint8_t h[WS_MAX_HEADER];
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 0, false), 2);
    CHECK_MEM(h, "\x81\x00", 2);
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 125, false), 2);
    CHECK_MEM(h, "\x81\x7d", 2);
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 126, false), 4);
    CHECK_MEM(h, "\x81\x7e\x00\x7e", 4);
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 65535, false), 4);
    CHECK_MEM(h, "\x81\x7e\xff\xff", 4);
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 65536, false), 10);
    CHECK_MEM(h, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, (size_t)0x7fffffff, false), 10);
    CHECK_MEM(h, "\x81\x7f\x00\x00\x00\x00\x7f\xff\xff\xff", 10);
}

TEST(frame_header_opcodes_and_rsv1)
{
    uint8_t h[WS_MAX_HEADER];
    CHECK_INT(ws_frame_header(h, WS_OP_TEXT, 5, true), 2);
    CHECK_MEM(h, "\xc1\x05", 2);
    ws_frame_header(h, WS_OP_PING, 0, false);
    CHECK_INT(h[0], 0x89);
    ws_frame_header(h, WS_OP_PONG, 3, false);
    CHECK_MEM(h, "\x8a\x03", 2);
    ws_frame_header(h, WS_OP_CLOSE, 2, false);
    CHECK_MEM(h, "\x88\x02", 2);
}

/* Turns a server frame into the client frame that says the same (mask bit, zero key), so the
 * decoder can read it back. Only for payloads of up to 125 bytes. */
static void add_as_client_frame(struct stream *s, const uint8_t *frame, size_t n)
{
    add_frame_raw(s, frame[0], frame + 2, n - 2, 0);
}

TEST(close_frame)
{
    uint8_t out[2 + WS_MAX_CONTROL_PAYLOAD];
    CHECK_INT(ws_close_frame(out, 1000, "bye"), 7);
    CHECK_MEM(out,
              "\x88\x05\x03\xe8"
              "bye",
              7);
    CHECK_INT(ws_close_frame(out, 4002, NULL), 4);
    CHECK_MEM(out, "\x88\x02\x0f\xa2", 4);
    CHECK_INT(ws_close_frame(out, 1001, ""), 4);
    CHECK_MEM(out, "\x88\x02\x03\xe9", 4);

    struct stream s = {0};
    size_t n = ws_close_frame(out, 1000, "bye");
    add_as_client_frame(&s, out, n);
    EXPECT(&s, 0, -1, EV_CLOSE(1000, "bye"), END);
    stream_free(&s);
}

TEST(close_frame_truncation)
{
    uint8_t out[2 + WS_MAX_CONTROL_PAYLOAD];
    char reason[300];

    /* ASCII: cut to 123 bytes, the frame is 127 */
    memset(reason, 'x', 200);
    reason[200] = 0;
    CHECK_INT(ws_close_frame(out, 1008, reason), 127);
    CHECK_INT(out[1], 125);
    CHECK_MEM(out + 4, reason, 123);

    /* exactly 123 bytes fit */
    reason[123] = 0;
    CHECK_INT(ws_close_frame(out, 1008, reason), 127);

    /* a 3-byte character that straddles the limit goes whole */
    static const struct {
        size_t ascii;
        const char *tail;
        size_t expected_reason;
    } cases[] = {
        {120, "\xe2\x82\xac", 123},     /* fits exactly */
        {121, "\xe2\x82\xac", 121},     /* one byte over */
        {122, "\xe2\x82\xac", 122},     /* two bytes over */
        {120, "\xf0\x9f\x91\x8d", 120}, /* 4-byte emoji one over */
        {119, "\xf0\x9f\x91\x8d", 123}, /* 4-byte emoji fits */
        {121, "\xc2\xb5\xc2\xb5", 123}, /* ends on a boundary */
        {0,
         "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
         "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
         "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
         "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
         "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
         "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
         123}, /* 42 x 3 bytes = 126: 41 fit */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(reason, 'y', cases[i].ascii);
        memcpy(reason + cases[i].ascii, cases[i].tail, strlen(cases[i].tail) + 1);
        size_t n = ws_close_frame(out, 1000, reason);
        if (n != 4 + cases[i].expected_reason)
            test_fail(__FILE__, __LINE__, "case %zu: %zu bytes", i, n);
        CHECK_INT(out[1], n - 2);
        CHECK(ws_utf8_valid(out + 4, n - 4));
        CHECK_MEM(out + 4, reason, n - 4);

        /* what the decoder reads back */
        struct stream s = {0};
        add_as_client_frame(&s, out, n);
        struct expect want[] = {{WS_EVENT_CLOSE, reason, n - 4, 1000, false}, END};
        expect_stream(__LINE__, &defaults, &s, 0, -1, want);
        stream_free(&s);
    }
}
