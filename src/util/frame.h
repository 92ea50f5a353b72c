/* Ref-counted, already-framed WebSocket messages. An event is serialized and
 * framed once; every connection it goes to, on any loop, holds a reference to
 * the same bytes until its socket has taken them. */
#ifndef CHATD_UTIL_FRAME_H
#define CHATD_UTIL_FRAME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct frame {
    atomic_uint refs;
    uint32_t len;   /* bytes in data: frame header + payload */
    uint8_t data[]; /* the whole frame as it goes on the wire */
};

/* A text frame carrying payload[0..len) (copied), with one reference held by
 * the caller. NULL when out of memory. */
struct frame *frame_text(const void *payload, size_t len);

/* A frame of any opcode (ping, pong, close): same rules as frame_text. */
struct frame *frame_new(int opcode, const void *payload, size_t len);

/* A text frame whose payload[0..len) is a permessage-deflate compressed
 * message (RSV1 set): same rules as frame_text. */
struct frame *frame_deflated(const void *payload, size_t len);

/* The payload of a frame made by frame_new/frame_text/frame_deflated, and its
 * opcode. */
const uint8_t *frame_payload(const struct frame *f, size_t *len);
int frame_opcode(const struct frame *f);

/* Raw bytes for the socket (an HTTP answer): same rules as frame_text. */
struct frame *frame_raw(const void *bytes, size_t len);

static inline struct frame *frame_ref(struct frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

/* Drops one reference; frees the frame with the last. Accepts NULL. */
void frame_unref(struct frame *f);

#endif
